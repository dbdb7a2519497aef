"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pmbridge.redact import ScrubbingLogger

from .secrets_audit import audit_input

FIXTURES = Path(__file__).parent / "fixtures"


def frame(name: str) -> bytes:
    """A documented frame from tests/fixtures/frames, byte for byte."""
    return (FIXTURES / "frames" / f"{name}.json").read_bytes().strip()


def simulator_process(symbols: int = 6) -> Iterator[dict[str, Any]]:
    """``python -m pmbridge.sim`` as a real process; yields its start-up line (base_url, api_key, api_secret...)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pmbridge.sim", "--port", "0", "--symbols", str(symbols)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


class SimProcess:
    """The simulator process (``python -m pmbridge.sim``): its start-up line and its control API (``/_sim/...``:
    prices, the app's leverage, the clock, state, call counts). Its repr names the URL only: a failure report must
    not print the keys the start-up line carries."""

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = info
        self.base_url: str = info["base_url"]
        self.ccxt_config: dict[str, Any] = info["ccxt_config"]

    def __repr__(self) -> str:
        return f"SimProcess({self.base_url})"

    def credentials(self, account: str = "pm") -> tuple[str, str]:
        found = next(a for a in self._info["accounts"] if a["type"] == account)
        return found["api_key"], found["api_secret"]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as answer:
            return json.loads(answer.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def calls(self) -> dict[str, int]:
        """REST calls so far, by ``"METHOD /path"``."""
        calls: dict[str, int] = self.get("/_sim/stats")["rest_calls"]
        return calls

    def account(self, kind: str = "pm") -> dict[str, Any]:
        state: dict[str, Any] = self.get("/_sim/state")["accounts"][kind]
        return state


def ccxt_logger(*secrets: str) -> ScrubbingLogger:
    """For the tests' own ccxt clients (``"logger": ccxt_logger(key, secret)``), as pmbridge's RestClient does: at
    DEBUG ccxt logs every request with its API-key header and signature, which the secrets audit would rightly flag."""
    return ScrubbingLogger(logging.getLogger("ccxt.base.exchange"), secrets)


def until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``predicate`` from a synchronous test (Freqtrade's world) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


def freqtrade_config(sim: dict[str, Any], path: Path, **pmbridge_section: Any) -> Path:
    """A minimal Freqtrade config file whose ccxt and keys point at the simulator ``sim`` (its start-up line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "exchange": {
                    "name": "binance",
                    "key": sim["api_key"],
                    "secret": sim["api_secret"],
                    "ccxt_config": sim["ccxt_config"],
                },
                "pmbridge": pmbridge_section,
            }
        )
    )
    audit_input(path)  # the keys are in it on purpose, as in a user's config
    return path
