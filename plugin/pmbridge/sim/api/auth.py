"""API-key and HMAC-SHA256 request signing checks, the way Binance applies them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final
from urllib.parse import parse_qsl

from ..clock import real_ms
from ..errors import BinanceError, missing_param

DEFAULT_RECV_WINDOW_MS: Final = 5000
MAX_RECV_WINDOW_MS: Final = 60000
# Binance tolerates a client clock up to 1 s ahead of its own.
MAX_AHEAD_MS: Final = 1000


def _without_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


def _signature(raw_query: str, raw_body: str) -> str | None:
    for raw in (raw_query, raw_body):
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name == "signature":
                return value
    return None


def check_signed(secret: str, raw_query: str, raw_body: str, params: dict[str, str]) -> None:
    """Timestamp window against the real clock (clients sign with theirs), then the signature with ``secret``.

    Binance signs `totalParams`: the query string, minus the signature, directly followed by the form body.
    """
    timestamp = params.get("timestamp")
    if not timestamp or not timestamp.isdigit():
        raise missing_param("timestamp")
    recv_window_raw = params.get("recvWindow", str(DEFAULT_RECV_WINDOW_MS))
    if not recv_window_raw.isdigit():
        raise missing_param("recvWindow")
    recv_window = int(recv_window_raw)
    if recv_window > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131)
    now = real_ms()
    if int(timestamp) > now + MAX_AHEAD_MS or now - int(timestamp) > recv_window:
        raise BinanceError(-1021)
    given = _signature(raw_query, raw_body)
    if not given:
        raise missing_param("signature")
    total = _without_signature(raw_query) + _without_signature(raw_body)
    expected = hmac.new(secret.encode(), total.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise BinanceError(-1022)
