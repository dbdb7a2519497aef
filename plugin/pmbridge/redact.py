"""Keeping secrets out of every string pmbridge shows: errors, logs, diagnostics.

API keys, secrets, listenKeys and signatures are all long runs of letters and digits (64 characters at Binance), so any
run of 32 or more is masked wherever pmbridge quotes foreign text. Known secret values are masked by name and, where
the caller knows them, by value as well. Text is scrubbed before it is cut, never after: a key cut in half is no longer
secret-shaped, and half a key is still half a key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

REDACTED: Final = "**REDACTED**"
SECRET_RUN: Final = 32
"""The shortest run of letters and digits that is masked on sight."""
_SECRET_LIKE = re.compile(rf"[A-Za-z0-9]{{{SECRET_RUN},}}")
_BY_VALUE_MIN: Final = 8
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


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask ``secrets`` by value (a key need not look like one) and every secret-looking run of 32+ letters/digits.

    Values under 8 characters are not masked by value: no exchange issues keys that short, and masking ``"k"`` would
    blank every k of the message.
    """
    for secret in secrets:
        if len(secret) >= _BY_VALUE_MIN:
            text = text.replace(secret, REDACTED)
    return _SECRET_LIKE.sub(REDACTED, text)


def clip(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """``text`` scrubbed and cut to at most ``limit`` characters.

    Scrubbed over a margin past the cut first, so a secret the cut would split is masked whole, not shown in part.
    """
    secrets = tuple(secrets)
    if len(text) <= limit:
        return scrub(text, secrets)
    margin = max((SECRET_RUN, *(len(secret) for secret in secrets)))
    return scrub(text[: limit + margin], secrets)[:limit]


def excerpt(value: object, limit: int = 60) -> str:
    """A short, scrubbed ``repr`` of a foreign value, for error messages.

    A long text or byte string is cut before its ``repr`` (a 4 MB frame is not copied to show 60 characters of it),
    keeping enough past the cut for ``clip`` to see whether a secret crosses it.
    """
    size: int | None = None
    if isinstance(value, str | bytes | bytearray | memoryview):
        size = len(value)
        head = value[: limit + SECRET_RUN]
        value = head if isinstance(head, str | bytes) else bytes(head)
    text = repr(value)
    if len(text) <= limit:
        return scrub(text)
    return f"{clip(text, limit)}... ({len(text) if size is None else size} chars)"


def redact(data: Any) -> Any:
    """A deep copy of ``data`` with secret-named keys masked and secret-looking strings scrubbed (HA-style).

    Keys are scrubbed too: counters keyed by foreign text (unknown event types) must not quote a listenKey.
    """
    if isinstance(data, Mapping):
        return {
            (scrub(key) if isinstance(key, str) else key): (
                REDACTED if str(key).lower().replace("-", "_") in SECRET_KEYS and value else redact(value)
            )
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    if isinstance(data, str):
        return scrub(data)
    return data


class ScrubbingLogger(logging.LoggerAdapter[logging.Logger]):
    """``logger`` with every message scrubbed (``secrets`` by value too) before it is logged.

    For a client that logs what it sends and receives: pmbridge hands one to its ccxt exchange, whose DEBUG lines
    carry each request's URL (the signature, a listenKey) and headers (the API key) and each answer (a new listenKey).
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str] = ()) -> None:
        super().__init__(logger)
        self.secrets = tuple(secrets)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):  # the caller's formatting slip must not fail the request it logs
            text = " ".join(map(str, (msg, *args)))
        kwargs.setdefault("stacklevel", 2)  # the record names the caller's line, not this one
        self.logger.log(level, "%s", scrub(text, self.secrets), **kwargs)
