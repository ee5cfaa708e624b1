"""Start `framebridge serve` as a child process on a free loopback port (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from framebridge.protocol.client import Client
from framebridge.protocol.connection import ConnectionInfo
from framebridge.protocol.errors import ServerUnreachable

__all__ = ["Resources", "ServerProcess", "spawn_server"]


@dataclass(frozen=True)
class Resources:
    """What a long-running server holds: the figures that must not grow with the jobs it served."""

    fds: int
    threads: int
    rss_mb: float
    peak_rss_mb: float


@dataclass
class ServerProcess:
    """A running server: its connection file, its log, and clients for it."""

    process: subprocess.Popen
    connection_file: Path
    log_file: Path

    @property
    def connection(self) -> ConnectionInfo:
        return ConnectionInfo.read(self.connection_file)

    def client(self, **options) -> Client:
        return Client(self.connection_file, **options)

    def resources(self) -> Resources:
        """Open file descriptors, threads and resident memory of the server process (Linux ``/proc``)."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        kib = lambda key: int(status[key].split()[0])  # noqa: E731
        return Resources(fds=len(os.listdir(f"/proc/{self.process.pid}/fd")), threads=int(status["Threads"]),
                         rss_mb=kib("VmRSS") / 1024, peak_rss_mb=kib("VmHWM") / 1024)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def spawn_server(directory: Path, *extra_args: str, env: dict[str, str] | None = None,
                 timeout: float = 60.0) -> ServerProcess:
    """Serve on tcp://127.0.0.1:* with a connection file in ``directory``; return once it listens."""
    directory.mkdir(parents=True, exist_ok=True)
    connection_file = directory / "connection.json"
    log_file = directory / "server.log"
    command = [sys.executable, "-m", "framebridge.server", "serve", "--address", "tcp://127.0.0.1:*",
               "--connection-file", str(connection_file), *extra_args]
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "listening on" in log_file.read_text():
            return ServerProcess(process, connection_file, log_file)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise ServerUnreachable(f"the server did not start within {timeout:g} s:\n{log_file.read_text()}")
