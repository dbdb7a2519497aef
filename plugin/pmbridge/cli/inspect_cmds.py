"""Offline commands: ``pmbridge plugins`` (what is loaded) and ``pmbridge decode`` (what a frame means)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
import orjson
from attrs import asdict

from ..errors import DecodeError
from ..events import OtherEvent, decode
from ..manager import create_plugin_manager


def _add_plugins(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n  pmbridge plugins\n  PMBRIDGE_BLOCK_PLUGINS=pmbridge.builtin.logger pmbridge plugins --json\n\n"
        "exit codes: 0 listed; 1 a plugin could not be loaded (the message names it and says why)."
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per plugin")


def _run_plugins(args: argparse.Namespace) -> int:
    pm = create_plugin_manager()
    for row in pm.describe():
        if args.json:
            print(orjson.dumps(row).decode())
        else:
            print(f"{row['name']}  ({row['distribution']})")
            for hook in row["hooks"]:
                print(f"    {hook}")
    for name in pm.blocked():
        if not args.json:
            print(f"{name}  (blocked)")
    return 0


def _add_decode(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Reads one frame per line and prints the decoded event (or the error) as one JSON line each.\n\n"
        "examples:\n"
        '  echo \'{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT","l":25}}\' | pmbridge decode\n'
        "  pmbridge decode frames.jsonl\n\n"
        "exit codes: 0 every frame decoded; 1 any did not; 130 (Ctrl-C) or 143 (SIGTERM) interrupted."
    )
    parser.add_argument(
        "file",
        nargs="?",
        type=argparse.FileType("rb"),
        default=sys.stdin.buffer,
        help="file of frames, one per line (default: standard input)",
    )


def _run_decode(args: argparse.Namespace) -> int:
    failed = False
    for raw_line in args.file:
        line = raw_line.strip()
        if not line:
            continue
        out: dict[str, Any]
        try:
            event = decode(line)
        except DecodeError as exc:
            failed = True
            out = {"error": type(exc).__name__, "field": exc.field, "message": str(exc)}
        else:
            fields = (
                msgspec.structs.asdict(event)
                if isinstance(event, msgspec.Struct)
                else asdict(event, filter=lambda a, _v: a.name != "frame")
            )
            out = {"type": type(event).__name__, **fields}
            if isinstance(event, OtherEvent):
                out["type"] = event.event_type
        print(orjson.dumps(out).decode(), flush=True)
    return 1 if failed else 0


COMMANDS = {
    "plugins": ("list the loaded plugins and the hooks each implements", _add_plugins, _run_plugins),
    "decode": ("decode user-stream frames offline and show what pmbridge understands", _add_decode, _run_decode),
}
