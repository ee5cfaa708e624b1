"""FrameBridge server: the ZeroMQ front, the job manager, ops and model backends.

The distribution installs on Python 3.9+ so the client side (``framebridge.protocol``
and the Nuke plugin) fits Nuke 14 and 15; the server itself needs 3.11 and says so.
"""

import sys

if sys.version_info < (3, 11):
    raise ImportError(
        f"the FrameBridge server needs Python 3.11 or newer; this is Python {sys.version.split()[0]}. "
        "Only the client side (framebridge.protocol, the Nuke plugin) runs on 3.9 and 3.10: "
        "run `framebridge serve` from a Python 3.11+ environment"
    )

__version__ = "0.1.0"
