"""The ``pmbridge`` section of a Freqtrade config: validated at start, with errors naming ``pmbridge.<key>``."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from attrs import field, frozen

from ..config import BridgeConfig
from ..const import ACCOUNT_TYPES, MAX_LEVERAGE, AccountType
from ..errors import ConfigError
from ..redact import excerpt

Policy = Literal["follow", "enforce", "alert"]
POLICIES: Final = ("follow", "enforce", "alert")
Delivery = Literal["queued", "immediate"]

# Settings passed through to BridgeConfig (docs/configuration.md).
BRIDGE_KEYS: Final = frozenset(
    {
        "base_url",
        "reconcile_interval",
        "keepalive_interval",
        "rotate_after",
        "heartbeat",
        "backoff_initial",
        "backoff_max",
        "rest_timeout",
        "time_scale",
        "close_listen_key_on_stop",
        "position_readback",
    }
)
_SECRET_KEYS: Final = frozenset({"api_key", "api_secret", "key", "secret", "apikey", "password"})


@frozen
class PairSettings:
    policy: Policy | None = None
    leverage: float | None = None
    min_leverage: float | None = None
    max_leverage: float | None = None


@frozen
class FreqtradeSettings:
    enabled: bool = True
    account: AccountType = "pm"
    policy: Policy = "follow"
    leverage: float | None = None
    """The strategy's leverage; None: what the strategy's own ``leverage()`` proposes (see docs/freqtrade.md)."""
    min_leverage: float = 1.0
    max_leverage: float = float(MAX_LEVERAGE)
    pairs: Mapping[str, PairSettings] = field(factory=dict)
    callbacks: Delivery = "queued"
    enforce_max_reverts: int = 3
    enforce_window: float = 600.0
    enforce_min_interval: float = 2.0
    notify: bool = True
    start_timeout: float = 15.0
    backtest_recording: str | None = None
    """A ``pmbridge record`` file: in backtests, ``follow`` answers with the leverage as it was at each candle."""
    bridge: Mapping[str, Any] = field(factory=dict)
    """The BridgeConfig settings given in the section (validated again, with credentials, at start)."""

    def for_pair(self, pair: str) -> tuple[Policy, float | None, float, float]:
        """(policy, leverage, min, max) for a pair: the pair's own setting where given, else the global one."""
        own = self.pairs.get(pair, PairSettings())
        return (
            own.policy or self.policy,
            own.leverage if own.leverage is not None else self.leverage,
            own.min_leverage if own.min_leverage is not None else self.min_leverage,
            own.max_leverage if own.max_leverage is not None else self.max_leverage,
        )


_SCHEMA: Final[dict[str, tuple[tuple[type, ...], str]]] = {
    "enabled": ((bool,), "true or false"),
    "account": ((str,), f"one of {', '.join(ACCOUNT_TYPES)}"),
    "policy": ((str,), f"one of {', '.join(POLICIES)}"),
    "leverage": ((int, float, type(None)), "a number or null"),
    "min_leverage": ((int, float), "a number"),
    "max_leverage": ((int, float), "a number"),
    "pairs": ((Mapping,), "an object of pair -> settings"),
    "callbacks": ((str,), "queued or immediate"),
    "enforce_max_reverts": ((int,), "a whole number"),
    "enforce_window": ((int, float), "a number of seconds"),
    "enforce_min_interval": ((int, float), "a number of seconds"),
    "notify": ((bool,), "true or false"),
    "start_timeout": ((int, float), "a number of seconds"),
    "backtest_recording": ((str, type(None)), "the path of a `pmbridge record` file, or null"),
}
_PAIR_SCHEMA: Final = {key: _SCHEMA[key] for key in ("policy", "leverage", "min_leverage", "max_leverage")}


def _check(path: str, key: str, value: Any, schema: Mapping[str, tuple[tuple[type, ...], str]]) -> None:
    if key.lower() in _SECRET_KEYS:
        raise ConfigError(
            f"{path}{key}: never put secrets in the pmbridge section (it is copied into backtest result files). "
            "pmbridge takes the key and secret from Freqtrade's exchange object in live mode, or from "
            "PMBRIDGE_API_KEY and PMBRIDGE_API_SECRET"
        )
    if key not in schema:
        close = difflib.get_close_matches(key, [*schema, *BRIDGE_KEYS], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{path}{key}: unknown setting{hint} (docs/freqtrade.md lists them all)")
    types, words = schema[key]
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ConfigError(f"{path}{key}: must be {words}, got {excerpt(value)}")


def _leverage_range(path: str, low: float | None, high: float | None) -> None:
    for name, value in (("min_leverage", low), ("max_leverage", high)):
        if value is not None and not 1 <= value <= MAX_LEVERAGE:
            raise ConfigError(f"{path}{name}: must be between 1 and {MAX_LEVERAGE}, got {excerpt(value)}")
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{path}min_leverage ({low}) is above max_leverage ({high})")


def parse_settings(section: Mapping[str, Any] | None) -> FreqtradeSettings:
    """Validate the ``pmbridge`` section (None or missing: every default)."""
    if section is None:
        return FreqtradeSettings()
    if not isinstance(section, Mapping):
        raise ConfigError(f"pmbridge: must be an object, got {excerpt(section)}")
    own: dict[str, Any] = {}
    bridge: dict[str, Any] = {}
    for key, value in section.items():
        if key in BRIDGE_KEYS:
            bridge[key] = value
            continue
        _check("pmbridge.", key, value, _SCHEMA)
        own[key] = value
    if own.get("account", "pm") not in ACCOUNT_TYPES:
        raise ConfigError(f"pmbridge.account: must be one of {', '.join(ACCOUNT_TYPES)}, got {excerpt(own['account'])}")
    if own.get("account") == "coinm":
        # freqtrade/exchange/exchange.py market_is_future: a futures pair must be linear; inverse markets never load.
        raise ConfigError(
            "pmbridge.account: coinm cannot be used with Freqtrade: Freqtrade trades USDⓈ-M (linear) futures only, "
            "never COIN-M (inverse) ones, so no pair of this bot would ever be followed. Set pmbridge.account to usdm "
            "(a USDⓈ-M futures account) or pm (Portfolio Margin); to watch a COIN-M account, run "
            "`pmbridge watch --account coinm`"
        )
    if own.get("policy", "follow") not in POLICIES:
        raise ConfigError(f"pmbridge.policy: unknown policy {excerpt(own['policy'])}; use one of {', '.join(POLICIES)}")
    if own.get("callbacks", "queued") not in ("queued", "immediate"):
        raise ConfigError(f"pmbridge.callbacks: must be queued or immediate, got {excerpt(own['callbacks'])}")
    _leverage_range("pmbridge.", own.get("min_leverage"), own.get("max_leverage"))
    pairs: dict[str, PairSettings] = {}
    for pair, pair_section in own.pop("pairs", {}).items():
        path = f"pmbridge.pairs.{pair}."
        if not isinstance(pair_section, Mapping):
            raise ConfigError(f"{path[:-1]}: must be an object, got {excerpt(pair_section)}")
        for key, value in pair_section.items():
            _check(path, key, value, _PAIR_SCHEMA)
        if pair_section.get("policy", "follow") not in POLICIES:
            raise ConfigError(
                f"{path}policy: unknown policy {excerpt(pair_section['policy'])}; use one of {', '.join(POLICIES)}"
            )
        _leverage_range(path, pair_section.get("min_leverage"), pair_section.get("max_leverage"))
        pairs[pair] = PairSettings(**pair_section)
    return FreqtradeSettings(**own, pairs=pairs, bridge=bridge)


def base_url_from_ccxt(ccxt_options: dict[str, Any]) -> str | None:
    """The host Freqtrade's ccxt is pointed at (e.g. the simulator), so pmbridge's stream follows it."""
    urls = ccxt_options.get("urls", {}).get("api", {})
    for value in urls.values() if isinstance(urls, dict) else ():
        if isinstance(value, str) and value.startswith("http"):
            parts = urlsplit(value)
            if parts.hostname and not parts.hostname.endswith("binance.com"):
                return f"{parts.scheme}://{parts.netloc}"
    return None


def bridge_values(exchange: Mapping[str, Any], settings: FreqtradeSettings) -> dict[str, Any]:
    """BridgeConfig settings (all but credentials) from a Freqtrade exchange section and the pmbridge section.

    ccxt options and URLs come from ``ccxt_config`` and ``ccxt_async_config`` (so pointing Freqtrade at the simulator
    points pmbridge at it too); the host of the stream follows them unless the section sets ``base_url``.
    """
    ccxt_options: dict[str, Any] = {}
    for name in ("ccxt_config", "ccxt_async_config"):
        section = exchange.get(name) or {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"exchange.{name} must be an object, got {type(section).__name__}")
        ccxt_options.update(section)
    values: dict[str, Any] = {"base_url": base_url_from_ccxt(ccxt_options), **settings.bridge}
    values["account"] = settings.account
    if ccxt_options:
        values["ccxt_options"] = ccxt_options
    return values


def check_bridge_settings(exchange: Mapping[str, Any], settings: FreqtradeSettings) -> None:
    """Raise ``ConfigError`` now, naming ``pmbridge.<key>``, for a bridge setting the start would refuse.

    The credentials are only known at start (Freqtrade's exchange object, or the environment), so stand-ins fill them.
    """
    try:
        BridgeConfig.from_mapping(bridge_values(exchange, settings), api_key="-", api_secret="-")
    except ConfigError as exc:
        raise ConfigError(f"pmbridge: {exc}") from None
