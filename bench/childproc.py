"""A bench role process: the calling script run again with ``--role``, JSON commands on stdin, answers on stdout.

Shared by bench/live.py and bench/soak.py. The child's stderr (its log) goes to a temporary file that errors quote;
closing its stdin tells it to leave its command loop and clean up, so nothing outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from typing import Any

import orjson


class BenchError(RuntimeError):
    """The bench cannot go on; the message says which process and what it last logged."""


class Child:
    def __init__(self, name: str, script: str) -> None:
        self.name = name
        self.script = script
        self.proc: asyncio.subprocess.Process | None = None
        self.errors = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - lives as long as the child

    async def start(self, *args: str) -> None:
        """Run ``script --role *args``."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            self.script,
            "--role",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.errors,
            limit=1 << 27,
        )

    def stderr_text(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def stderr_tail(self) -> str:
        return self.stderr_text()[-2000:]

    async def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.name}: no answer within {timeout} s; its stderr:\n{self.stderr_tail()}") from None
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), 5)
            raise BenchError(f"{self.name} exited (code {code}); its stderr:\n{self.stderr_tail()}")
        message: dict[str, Any] = orjson.loads(line)
        if message.get("ok") is False:
            raise BenchError(f"{self.name} failed: {message['error']}; its stderr:\n{self.stderr_tail()}")
        return message

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(message) + b"\n")

    async def ask(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        self.send({"cmd": cmd, **fields})
        return await self.read(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """EOF on stdin, then wait ``timeout`` s; terminate, then kill, if it does not leave."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                proc.kill()
                await proc.wait()
