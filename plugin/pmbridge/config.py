"""BridgeConfig: every setting, validated once, with errors that name the key and say what to do."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs
from attrs import field, frozen

from .const import ACCOUNT_TYPES, ENV_API_KEY, ENV_API_SECRET, AccountType
from .errors import ConfigError
from .redact import REDACTED, excerpt

MINUTE: Final = 60.0
HOUR: Final = 3600.0


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be a positive number of seconds, got {excerpt(value)}")


def _base_url(_instance: object, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url must look like http://127.0.0.1:8765 (scheme and host), got {excerpt(value)}; "
            "leave it out to use Binance's own endpoints"
        )


def _account(_instance: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ACCOUNT_TYPES:
        raise ConfigError(
            f"account must be one of {', '.join(ACCOUNT_TYPES)} (pm is Portfolio Margin), got {excerpt(value)}"
        )


@frozen(kw_only=True)
class BridgeConfig:
    """How the bridge connects and how often it checks. Times are seconds of real time, divided by ``time_scale``.

    ``time_scale`` exists for the simulator's compressed clock (``/_sim/clock``): with 3600, a 25-minute keepalive
    runs every 0.42 s. Leave it at 1 against Binance.
    """

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    account: AccountType = field(default="pm", validator=_account)
    base_url: str | None = field(default=None, validator=_base_url)
    reconcile_interval: float = field(default=15 * MINUTE, validator=_positive)
    keepalive_interval: float = field(default=25 * MINUTE, validator=_positive)
    rotate_after: float = field(default=23 * HOUR, validator=_positive)
    heartbeat: float = field(default=30.0, validator=_positive)
    """Seconds between our own websocket pings; no pong within half of it means the socket is dead."""
    backoff_initial: float = field(default=0.5, validator=_positive)
    backoff_max: float = field(default=60.0, validator=_positive)
    rest_timeout: float = field(default=10.0, validator=_positive)
    time_scale: float = field(default=1.0, validator=_positive)
    plugin_budget: float = field(default=0.1, validator=_positive)
    """Seconds a plugin may spend in one hook call before it is detached to a thread of its own (real time, not
    scaled), and how long a question (``pmbridge_decide_leverage``, diagnostics) waits for a third-party plugin."""
    position_readback: bool = True
    """After a change on a symbol with open positions, read its positions over REST before announcing it (the stream
    carries no liquidation price): one positionRisk read per burst of changes. False announces at once."""
    read_only: bool = False
    """Never write to the exchange: ``Bridge.set_leverage`` raises ``ReadOnly`` instead of sending (a Freqtrade dry
    run sets it). The stream's listenKey calls still run: they change nothing on the account."""
    close_listen_key_on_stop: bool = False
    """The listenKey is shared by every client of the account: closing it kills other bots' streams."""
    ccxt_options: Mapping[str, Any] = field(factory=dict, repr=False)
    """Extra ccxt constructor settings (``urls``, ``options``, ``timeout``...) merged over pmbridge's own."""

    def __attrs_post_init__(self) -> None:
        if not self.api_key or not self.api_secret:
            raise ConfigError(
                f"an API key and secret are required: set {ENV_API_KEY} and {ENV_API_SECRET} "
                "(read-only permission is enough unless the enforce policy sets leverage)"
            )
        if self.keepalive_interval >= 60 * MINUTE:
            raise ConfigError(
                f"keepalive_interval must be under 3600 s (a listenKey dies 60 min after its last keepalive), "
                f"got {self.keepalive_interval}; 1200-1800 is safe"
            )
        if self.backoff_max < self.backoff_initial:
            raise ConfigError("backoff_max must be at least backoff_initial")

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def public(self) -> dict[str, Any]:
        """Every setting, secrets masked: safe for logs, hooks and diagnostics."""
        data = attrs.asdict(self)
        data["api_key"] = data["api_secret"] = REDACTED
        data["ccxt_options"] = sorted(self.ccxt_options)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], **overrides: Any) -> BridgeConfig:
        """Build from a config file section, naming any unknown key (with the closest real one) or wrong type."""
        known = {a.name: a for a in attrs.fields(cls)}
        values = {**data, **overrides}
        for key, value in values.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
                raise ConfigError(f"unknown setting {key!r}{hint}")
            _check_type(key, value, known[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def for_simulator(cls, base_url: str, api_key: str, api_secret: str, **overrides: Any) -> BridgeConfig:
        """Settings for ``pmbridge.sim`` on loopback: quick retries, no reconcile noise (overridable)."""
        settings: dict[str, Any] = {
            "base_url": base_url,
            "reconcile_interval": 3600.0,
            "backoff_initial": 0.05,
            "backoff_max": 0.5,
            "heartbeat": 5.0,
            "rest_timeout": 5.0,
            **overrides,
        }
        return cls.from_mapping(settings, api_key=api_key, api_secret=api_secret)

    @classmethod
    def from_env(cls, **settings: Any) -> BridgeConfig:
        """Credentials from ``PMBRIDGE_API_KEY`` / ``PMBRIDGE_API_SECRET``, the rest from ``settings``."""
        return cls.from_mapping(
            settings, api_key=os.environ.get(ENV_API_KEY, ""), api_secret=os.environ.get(ENV_API_SECRET, "")
        )


# attribute type -> (accepted Python types, how to say it to a person)
_TYPES: Final[dict[str, tuple[tuple[type, ...], str]]] = {
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "a string"),
    "str | None": ((str, type(None)), "a string or null"),
    "AccountType": ((str,), "a string"),
    "Mapping[str, Any]": ((Mapping,), "an object"),
}


def _check_type(key: str, value: Any, attribute: attrs.Attribute[Any]) -> None:
    rule = _TYPES.get(str(attribute.type))
    if rule is None:
        return
    expected, words = rule
    # bool is an int: true must not pass for a number of seconds.
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        shown = REDACTED if key in ("api_key", "api_secret") else excerpt(value)
        raise ConfigError(f"{key} must be {words}, got {shown}")
