"""Injected failures and latency for the next REST answers: how tests make the exchange misbehave."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from ..errors import BinanceError

_DEFAULT_RETRY_AFTER_S = {429: 1, 418: 2}


@dataclass(slots=True)
class _FailRule:
    status: int
    remaining: int
    code: int | None
    retry_after: float | None
    paths: frozenset[str] | None


class Faults:
    def __init__(self) -> None:
        self._fail: _FailRule | None = None
        self._latency_ms = 0
        self._latency_left: int | None = None
        self.failures_answered: Counter[int] = Counter()
        """Injected failures actually answered, by HTTP status (an armed rule nobody hit counts nothing)."""
        self.delays_applied = 0
        """REST answers actually delayed by ``set_latency``."""

    def fail(
        self,
        status: int,
        count: int,
        code: int | None = None,
        retry_after: float | None = None,
        paths: list[str] | None = None,
    ) -> None:
        """Answer the next ``count`` REST calls (to ``paths`` only, if given) with ``status``; ``count`` 0 disarms.

        ``retry_after`` (seconds) goes out as the ``Retry-After`` header; fractions are allowed so that tests can
        compress a ban, and are written the way Binance writes whole seconds when they are whole."""
        if not 400 <= status <= 599:
            raise ValueError(f"fail status must be an HTTP error status (400-599), got {status}")
        if count < 0:
            raise ValueError(f"fail count must be >= 0, got {count}")
        self._fail = _FailRule(status, count, code, retry_after, frozenset(paths) if paths else None)

    def set_latency(self, ms: int, count: int | None = None) -> None:
        if ms < 0:
            raise ValueError(f"latency must be >= 0 ms, got {ms}")
        self._latency_ms, self._latency_left = ms, count

    def take_latency_s(self) -> float:
        if self._latency_ms <= 0 or self._latency_left == 0:
            return 0.0
        if self._latency_left is not None:
            self._latency_left -= 1
        self.delays_applied += 1
        return self._latency_ms / 1000.0

    def take_failure(self, path: str) -> tuple[BinanceError, dict[str, str]] | None:
        """The error to answer instead of the real one, with its extra headers, or None to answer normally."""
        rule = self._fail
        if rule is None or rule.remaining <= 0 or (rule.paths is not None and path not in rule.paths):
            return None
        rule.remaining -= 1
        self.failures_answered[rule.status] += 1
        headers: dict[str, str] = {}
        if rule.status in (429, 418):
            retry_after = rule.retry_after if rule.retry_after is not None else _DEFAULT_RETRY_AFTER_S[rule.status]
            headers["Retry-After"] = _seconds(retry_after)
            msg = None
            if rule.status == 418:
                banned_until = int(time.time() * 1000 + retry_after * 1000)
                msg = f"Way too many requests; IP(127.0.0.1) banned until {banned_until}. Please use the websocket."
            return BinanceError(rule.code or -1003, msg, rule.status), headers
        if rule.retry_after is not None:
            headers["Retry-After"] = _seconds(rule.retry_after)
        return BinanceError(rule.code or (-1001 if rule.status >= 500 else -1000), None, rule.status), headers


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
