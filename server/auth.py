"""Who sent each message, the key it is checked and answered with, and which jobs are theirs.

With CURVE, a ZAP handler (pyzmq's ``ThreadAuthenticator``) admits a connection
only from the server's own public key (the owner: local tools using the server's
own file) or an active key of the client registry. ZeroMQ then stamps every
message of that connection with the client's public key as its ``User-Id``, so
the socket thread knows the principal: its messages are verified with its own
signing key, and everything sent to it is signed with that key. Without CURVE
(a loopback server) every peer holds the server's own file and is the owner.

A job belongs to the principal that submitted it; any other principal is told
the job does not exist. Revoking a client refuses its new connections at once
(the registry is re-read on each handshake) and its open ones at the next
:meth:`Gatekeeper.refresh` (the server calls it every second).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import zmq

from framebridge.protocol.buffers import Limits
from framebridge.protocol.connection import ConnectionInfo
from framebridge.protocol.errors import ClientRevoked
from framebridge.protocol.wire import Codec

from .clients import ClientRegistry
from .jobs import Job

__all__ = ["OWNER", "Gatekeeper", "Principal"]

log = logging.getLogger(__name__)

OWNER = "owner"
MAX_PEERS = 4096


@dataclass(frozen=True)
class Principal:
    """The server's owner or one issued client; ``id`` is the client's public key (``"owner"`` for the owner)."""

    id: str
    name: str
    codec: Codec

    @property
    def is_owner(self) -> bool:
        return self.id == OWNER


class Gatekeeper:
    """ZAP admission, per-client codecs, message re-signing and job ownership for one server."""

    def __init__(self, connection: ConnectionInfo, owner_codec: Codec, registry: ClientRegistry | None,
                 limits: Limits):
        self.curve = bool(connection.curve_secret)
        self.owner = Principal(OWNER, OWNER, owner_codec)
        self._owner_public = connection.curve_public.decode() if connection.curve_public else None
        self.registry = registry
        self.limits = limits
        self._lock = threading.Lock()
        self._principals: dict[str, Principal] = {}
        self._active: set[str] = set()
        self._revoked_unhandled: set[str] = set()
        self._peers: OrderedDict[bytes, Principal] = OrderedDict()
        self._owners: dict[str, str] = {}
        self._authenticator: Any = None
        if registry is not None:
            self._sync()
            self._revoked_unhandled.clear()

    def start(self, context: zmq.Context) -> None:
        """Install the ZAP handler on ``context``; call before the CURVE socket binds."""
        if not self.curve:
            return
        from zmq.auth.thread import ThreadAuthenticator

        self._authenticator = ThreadAuthenticator(context, log=log)
        self._authenticator.start()
        self._authenticator.configure_curve_callback("*", credentials_provider=self)

    def stop(self) -> None:
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None

    def callback(self, domain: str, client_key: bytes) -> bool:
        """ZAP: admit the owner's key and the registry's active keys (read fresh for each handshake)."""
        key = client_key.decode("ascii", "replace")
        if key == self._owner_public:
            return True
        with self._lock:
            if self.registry is not None and self.registry.refresh():
                self._sync()
            admitted = key in self._active
        if not admitted:
            log.warning("refused a connection with a key this server did not issue or has revoked: %s", key)
        return admitted

    def refresh(self) -> set[str]:
        """Re-read the registry if its file changed; the ids of principals revoked since the last call.

        A revocation first seen by a handshake (on the ZAP thread) is returned here too.
        """
        if self.registry is None:
            return set()
        with self._lock:
            if self.registry.refresh():
                self._sync()
            revoked, self._revoked_unhandled = self._revoked_unhandled, set()
            return revoked

    def _sync(self) -> None:
        before = self._active
        self._active = {record.public_key for record in self.registry.records.values() if record.active}
        for record in self.registry.records.values():
            known = self._principals.get(record.public_key)
            if known is None:
                # Same link as the owner's: buffers may skip digests exactly where the owner's may (CURVE here).
                codec = Codec(record.key.encode(), limits=self.limits,
                              integrity_protected=self.owner.codec.integrity_protected)
                self._principals[record.public_key] = Principal(record.public_key, record.name, codec)
        revoked = before - self._active
        for key in revoked:
            log.warning("client %s was revoked; its open connections are refused from now on",
                        self._principals[key].name if key in self._principals else key)
        self._revoked_unhandled |= revoked

    def identify(self, identity: bytes, first_frame: Any) -> Principal:
        """The principal that sent a message (its first frame carries the ZAP ``User-Id``)."""
        principal = self.owner
        if self.curve:
            user = first_frame.get("User-Id")
            if user != self._owner_public:
                with self._lock:
                    principal = self._principals.get(user)
                if principal is None:
                    raise ClientRevoked("this client's key is no longer known to the server",
                                        fix="ask the server's owner for a new connection file")
        self._peers[identity] = principal
        self._peers.move_to_end(identity)
        while len(self._peers) > MAX_PEERS:
            self._peers.popitem(last=False)
        return principal

    def check_active(self, principal: Principal) -> None:
        """Raise :class:`ClientRevoked` for a client revoked since its connection opened."""
        if principal.is_owner:
            return
        with self._lock:
            active = principal.id in self._active
        if not active:
            raise ClientRevoked(f"client {principal.name!r} was revoked on this server",
                                fix="ask the server's owner for a new connection file")

    def sign_for(self, identity: bytes, frames: Sequence[Any]) -> list[Any]:
        """``frames`` signed with the key of the principal behind ``identity`` (the owner's when unknown)."""
        principal = self._peers.get(identity, self.owner)
        if principal.is_owner:
            return list(frames)
        tag, header = _bytes(frames[0]), _bytes(frames[2])
        return [frames[0], principal.codec.sign(tag, header), *frames[2:]]

    def may_deliver(self, job_id: str) -> bool:
        """False once the job's owner was revoked: nothing more of it leaves the server."""
        with self._lock:
            owner = self._owners.get(job_id, OWNER)
            return owner == OWNER or owner in self._active

    def claim(self, job_id: str, principal: Principal) -> None:
        self._owners[job_id] = principal.id

    def owns(self, principal: Principal, job_id: str) -> bool:
        return self._owners.get(job_id) == principal.id

    def owner_of(self, job_id: str) -> Principal | None:
        principal_id = self._owners.get(job_id)
        if principal_id == OWNER:
            return self.owner
        with self._lock:
            return self._principals.get(principal_id or "")

    def job_list(self, jobs: Iterable[Job]) -> list[dict[str, Any]]:
        """The owner's view: who owns each job and how far it got, never its frames."""
        listed = []
        for job in jobs:
            owner = self.owner_of(job.id)
            status = job.status()
            listed.append({"id": job.id, "owner": owner.name if owner else "unknown", "op": status.op,
                           "state": status.state, "total": len(status.frames), "received": len(status.received),
                           "done": len(status.done), "failed": sum(len(group["frames"]) for group in status.failed)})
        return listed

    def jobs_of(self, principal_ids: set[str]) -> list[str]:
        return [job_id for job_id, owner in self._owners.items() if owner in principal_ids]

    def forget(self, job_ids: set[str]) -> None:
        for job_id in job_ids:
            self._owners.pop(job_id, None)

    @property
    def job_ids(self) -> set[str]:
        return set(self._owners)


def _bytes(frame: Any) -> bytes:
    return frame.bytes if hasattr(frame, "bytes") else bytes(frame)
