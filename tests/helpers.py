"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
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
