"""The typed errors pmbridge raises. Every message says what was wrong and what to do."""

from __future__ import annotations


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
    """A well-formed frame whose ``e`` is not a known user-stream event type (count it, log once, ignore it)."""

    def __init__(self, event_type: str, value: str) -> None:
        self.event_type = event_type
        super().__init__("e", value, "unknown event type (not part of the Binance user data streams pmbridge knows)")


class PluginError(PMBridgeError):
    """A plugin could not be loaded or does not match the hook specifications."""


class ConfigError(PMBridgeError, ValueError):
    """A configuration value is missing or invalid."""
