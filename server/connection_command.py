"""`framebridge connection export|list|revoke`: the server owner's tools for issuing client files."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from framebridge.protocol.connection import ConnectionInfo, default_connection_path

from .clients import ClientRegistry

__all__ = ["add_connection_commands", "connection_command"]


def add_connection_commands(commands: argparse._SubParsersAction) -> None:
    connection = commands.add_parser("connection", help="issue, list and revoke client connection files (server side)")
    actions = connection.add_subparsers(dest="action", required=True, help="export, list or revoke")
    server_file = {"type": Path, "default": None,
                   "help": f"the server's own connection file (default {default_connection_path()})"}

    export = actions.add_parser("export", help="write a connection file for one client machine or user")
    export.add_argument("name", help="who the file is for, e.g. anna-workstation (1-64 of A-Z a-z 0-9 _ . @ -)")
    export.add_argument("--host", default=None,
                        help="the name or IP clients reach this server by, e.g. gpu01.studio (default: this machine's name)")
    export.add_argument("--out", type=Path, default=None, help="where to write it (default ./framebridge-NAME.json)")
    export.add_argument("--connection-file", **server_file)

    listing = actions.add_parser("list", help="the clients this server issued, active and revoked")
    listing.add_argument("--connection-file", **server_file)

    revoke = actions.add_parser("revoke", help="refuse a client from now on (no restart needed)")
    revoke.add_argument("name")
    revoke.add_argument("--connection-file", **server_file)


def connection_command(args: argparse.Namespace) -> int:
    server_file = args.connection_file or default_connection_path()
    registry = ClientRegistry.for_server(server_file)
    if args.action == "export":
        client = registry.issue(args.name, ConnectionInfo.read(server_file), args.host)
        out = client.write(args.out or Path(f"framebridge-{args.name}.json"))
        print(f"framebridge: issued client {args.name!r}: {out} (mode 0600, dials {client.address})\n"
              f"  copy it to that machine as ~/.config/framebridge/connection.json (or choose it in the Blender\n"
              f"  add-on preferences / the Nuke node's connection file); it holds no secret of this server's.\n"
              f"  Lost machine: `framebridge connection revoke {args.name}`.")
    elif args.action == "list":
        records = sorted(registry.records.values(), key=lambda record: record.issued_at)
        if not records:
            print(f"framebridge: no clients issued yet ({registry.path})")
        for record in records:
            state = "active" if record.active else f"revoked {_when(record.revoked_at)}"
            print(f"{record.name:<24} {state:<28} issued {_when(record.issued_at)}  {record.address}  "
                  f"key {record.public_key[:8]}...")
    else:
        record = registry.revoke(args.name)
        print(f"framebridge: client {record.name!r} revoked {_when(record.revoked_at)}: new connections are refused "
              "now, open ones within seconds, without a restart")
    return 0


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"
