"""The typed errors pmbridge raises. Every message says what was wrong and what to do."""

from __future__ import annotations

from .redact import clip


class PMBridgeError(Exception):
    """Base class of every error pmbridge raises on purpose."""


class DecodeError(PMBridgeError, ValueError):
    """A user-stream frame could not be decoded.

    ``field`` is the dotted path of the offending field (``"ac.l"``), or ``"frame"`` when the frame itself is not a
    JSON object; ``value`` is a short, secret-scrubbed excerpt of what was found.
    """

    def __init__(self, field: str, value: str, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason}, got {value}")


class UnknownEventError(DecodeError):
    """A well-formed frame whose ``e`` is not a known user-stream event type (count it, log once, ignore it).

    ``event_type`` is the frame's ``e`` scrubbed and cut to 64 characters: it is logged and counted by name, and a
    junk type must neither quote a listenKey nor grow those counters without bound.
    """

    def __init__(self, event_type: str, value: str) -> None:
        self.event_type = clip(event_type, 64)
        super().__init__("e", value, "unknown event type (not part of the Binance user data streams pmbridge knows)")


class PluginError(PMBridgeError):
    """A plugin could not be loaded or does not match the hook specifications."""


class ConfigError(PMBridgeError, ValueError):
    """A configuration value is missing or invalid."""


class ExchangeError(PMBridgeError):
    """Binance (or the network on the way) refused or failed a REST call.

    ``code`` is Binance's error code when it sent one (``-2015``), ``status`` the HTTP status when known.
    """

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AuthenticationFailed(ExchangeError):
    """-2015 or -1022: the key, its permissions, its IP whitelist or the secret is wrong. Fatal: retrying won't help."""


class RateLimited(ExchangeError):
    """HTTP 429 (or 418, an IP ban): wait ``retry_after`` seconds before the next call."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, code: int | None = None, status: int | None = None):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class ClockSkew(ExchangeError):
    """-1021: our timestamp is outside Binance's recvWindow. Retried after re-measuring the clock offset."""

    retryable = True


class ListenKeyGone(ExchangeError):
    """-1125: the listenKey does not exist any more. A new one must be created."""


class ExchangeUnavailable(ExchangeError):
    """5xx, timeouts, refused connections: the outcome is unknown. Retried with backoff, forever."""

    retryable = True


class ReadOnly(PMBridgeError):
    """A write (``Bridge.set_leverage``) was asked of a read-only bridge (``read_only``: a Freqtrade dry run)."""


class ClientClosed(ExchangeError):
    """The REST client was closed (the bridge is stopping) before or while a call ran. Final: a retry loop that meets
    it ends, since nothing can be sent any more; start a new bridge to connect again."""


class RequestRejected(ExchangeError):
    """Any other Binance error (-4028 invalid leverage, -1121 invalid symbol...): the request itself is wrong."""
