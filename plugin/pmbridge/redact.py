"""Keeping secrets out of every string pmbridge shows: errors, logs, diagnostics.

API keys, secrets, listenKeys and signatures are all long runs of letters and digits (64 characters at Binance), so any
run of 32 or more is masked wherever pmbridge quotes foreign text. Known secret values are masked by name as well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

REDACTED: Final = "**REDACTED**"
_SECRET_LIKE = re.compile(r"[A-Za-z0-9]{32,}")
SECRET_KEYS: Final = frozenset(
    {
        "apikey",
        "api_key",
        "x_mbx_apikey",
        "secret",
        "api_secret",
        "listenkey",
        "listen_key",
        "signature",
        "password",
        "token",
    }
)


def scrub(text: str) -> str:
    """Mask every secret-looking run (32+ letters and digits) in ``text``."""
    return _SECRET_LIKE.sub(REDACTED, text)


def excerpt(value: object, limit: int = 60) -> str:
    """A short, scrubbed ``repr`` of a foreign value, for error messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return scrub(text)


def redact(data: Any) -> Any:
    """A deep copy of ``data`` with secret-named keys masked and secret-looking strings scrubbed (HA-style)."""
    if isinstance(data, Mapping):
        return {
            key: (REDACTED if str(key).lower().replace("-", "_") in SECRET_KEYS and value else redact(value))
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    if isinstance(data, str):
        return scrub(data)
    return data
