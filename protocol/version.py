"""The protocol version, in one place. Minor versions only add fields."""

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 1  # 1.1: buffers may omit their digest on an integrity-protected link
PROTOCOL_VERSION = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"
