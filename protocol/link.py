"""Which links already protect the integrity of what they carry, so buffers may travel without digests.

A link is integrity-protected when it never leaves the kernel of one machine
(``ipc://``, ``inproc://``, TCP on a loopback address) or runs under CURVE
(every ZeroMQ frame encrypted and authenticated per connection). On such a
link, a signed header and the buffer frames of the same multipart message can
only come together from the peer that signed the header, unchanged; the
argument is written out in ``protocol/README.md`` (Digests).
"""

from __future__ import annotations

from .connection import is_loopback

__all__ = ["DIGESTS_OPTIONAL_SINCE", "integrity_protected"]

# The first protocol version whose receivers accept a buffer without a digest on such a link.
DIGESTS_OPTIONAL_SINCE = (1, 1)


def integrity_protected(address: str, curve: bool) -> bool:
    """True for a link on a loopback or local address, or under CURVE."""
    return curve or is_loopback(address)
