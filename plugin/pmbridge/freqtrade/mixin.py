"""PMBridgeMixin: one base class that makes a Freqtrade strategy answer ``leverage()`` with the exchange's truth.

    class MyStrategy(PMBridgeMixin, IStrategy):
        def pmbridge_leverage_changed(self, change):     # optional: any pmbridge hook, as a method
            ...

It subclasses IStrategy itself (hyperopt pickles strategies; a plain mixin recurses). In backtesting, hyperopt and
every other run mode it holds plain data only and opens no connection.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from freqtrade.exceptions import OperationalException
from freqtrade.strategy import IStrategy

from ..config import BridgeConfig
from ..const import ENV_API_KEY, ENV_API_SECRET
from ..errors import ConfigError, PMBridgeError
from ..recording import RecordingError
from ..timeline import LeverageTimeline
from .runtime import FreqtradeRuntime
from .settings import FreqtradeSettings, bridge_values, check_bridge_settings, parse_settings

log = logging.getLogger("pmbridge.freqtrade")

TRADING_RUNMODES = ("live", "dry_run")


class PMBridgeConfigError(ConfigError, OperationalException):  # type: ignore[misc]
    """A mistake in the ``pmbridge`` section. An ``OperationalException``, so Freqtrade stops with the message as one
    line and exit code 2, as for its own config mistakes, instead of "Fatal exception!" and a traceback."""


def _runmode(config: dict[str, Any]) -> str:
    mode = config.get("runmode")
    return str(getattr(mode, "value", mode or "other"))


class PMBridgeMixin(IStrategy):  # type: ignore[misc]
    """Keep the strategy in step with the account's leverage and mode. Configure it in the ``pmbridge`` section."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        try:
            self._pmbridge_settings: FreqtradeSettings = parse_settings(config.get("pmbridge"))
            check_bridge_settings(config.get("exchange") or {}, self._pmbridge_settings)
        except ConfigError as exc:
            raise PMBridgeConfigError(str(exc)) from None
        self._pmbridge_runtime: FreqtradeRuntime | None = None
        self._pmbridge_tried = False
        """Started, or said why not: Freqtrade calls both ``ft_bot_start`` and ``bot_start`` (see ``ft_bot_start``)."""
        self._pmbridge_timeline: LeverageTimeline | None = None
        recording = self._pmbridge_settings.backtest_recording
        if recording is not None and _runmode(config) not in TRADING_RUNMODES:
            path = Path(recording)
            if not path.is_absolute():
                path = Path(config.get("user_data_dir") or ".") / path
            try:  # plain lists and dicts: hyperopt can still pickle the strategy
                self._pmbridge_timeline = LeverageTimeline.from_recording(path)
            except RecordingError as exc:
                raise PMBridgeConfigError(f"pmbridge.backtest_recording: {exc}") from None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A user's bot_loop_start that forgets super() must not stop callbacks: drain first, then theirs.
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("bot_loop_start")
        if own is not None and not getattr(own, "_pmbridge_wrapped", False):

            def bot_loop_start(self: PMBridgeMixin, current_time: datetime, **kw: Any) -> None:
                self._pmbridge_drain()
                own(self, current_time, **kw)

            bot_loop_start._pmbridge_wrapped = True  # type: ignore[attr-defined]
            bot_loop_start.__doc__ = own.__doc__
            cls.bot_loop_start = bot_loop_start  # type: ignore[method-assign]

    # -- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def pmbridge(self) -> FreqtradeRuntime | None:
        """The running integration (its ``thread.book`` is the exchange's truth), or None when not connected."""
        return self._pmbridge_runtime

    def bot_start(self, **kwargs: Any) -> None:
        self._pmbridge_start()

    def ft_bot_start(self, **kwargs: Any) -> None:
        super().ft_bot_start(**kwargs)
        self._pmbridge_start()  # a user's bot_start without super() must not silently disable pmbridge

    def ft_bot_cleanup(self) -> None:
        try:
            if self._pmbridge_runtime is not None:
                self._pmbridge_runtime.stop()
                self._pmbridge_runtime = None
            self._pmbridge_tried = False
        finally:
            super().ft_bot_cleanup()

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        self._pmbridge_drain()

    def _pmbridge_drain(self) -> None:
        if self._pmbridge_runtime is not None:
            self._pmbridge_runtime.drain()

    def _pmbridge_start(self) -> None:
        if self._pmbridge_tried or not self._pmbridge_settings.enabled:
            return
        self._pmbridge_tried = True
        mode = _runmode(self.config)
        if mode not in TRADING_RUNMODES:
            log.info("pmbridge: %s mode, no connection (the exchange is only followed live and in dry-run)", mode)
            return
        settings = self._pmbridge_settings
        key, secret = self._pmbridge_credentials()
        if not key or not secret:
            log.warning(
                "pmbridge: no API key, so no user stream: set %s and %s (read-only is enough; Freqtrade removes "
                "the exchange keys in dry-run). leverage() answers from the strategy alone.",
                ENV_API_KEY,
                ENV_API_SECRET,
            )
            return
        try:
            values = bridge_values(self.config.get("exchange", {}), settings)
            if mode != "live" or self.config.get("dry_run", False):
                # As Freqtrade: a dry run never writes to the exchange, whatever the keys allow and whoever asks.
                values["read_only"] = True
            config = BridgeConfig.from_mapping(values, api_key=key, api_secret=secret)
        except ConfigError as exc:
            raise PMBridgeConfigError(f"pmbridge: {exc}") from None
        if settings.account == "pm":
            self._pmbridge_portfolio_notice(mode)
        runtime = FreqtradeRuntime(self, settings, config, live=mode == "live")
        if runtime.dry_run:
            log.info("pmbridge: dry run: %s", _dry_run_notice(settings))
        try:
            runtime.start()
        except PMBridgeError as exc:
            runtime.stop()
            runtime.say(f"pmbridge could not start: {exc}. leverage() answers from the strategy alone.")
            runtime.drain()
            return
        self._pmbridge_runtime = runtime

    def _pmbridge_portfolio_notice(self, mode: str) -> None:
        """On a Portfolio Margin config: say once whether this bot can trade it live (only through the launcher)."""
        from .portfolio import installed  # noqa: PLC0415

        if installed():
            return
        if mode == "live":
            log.error(
                "pmbridge: live mode on a Portfolio Margin account without `pmbridge freqtrade`: Freqtrade's own "
                "Binance exchange cannot trade PM (no papi margin mode, stoplosses polled at the wrong endpoint). "
                "Stop the bot and start it with `pmbridge freqtrade trade ...` (docs/freqtrade.md)"
            )
        else:
            log.warning(
                "pmbridge: dry-run on a Portfolio Margin config. Live trading on PM needs `pmbridge freqtrade trade "
                "...` instead of `freqtrade trade ...` (plain Freqtrade stops at start-up with Binance's -2015); "
                "see docs/freqtrade.md"
            )

    def _pmbridge_credentials(self) -> tuple[str, str]:
        """Live: Freqtrade's exchange object (the strategy's config copy has no keys). Otherwise the environment."""
        api = getattr(getattr(getattr(self, "dp", None), "_exchange", None), "_api", None)
        key = getattr(api, "apiKey", None) or os.environ.get(ENV_API_KEY, "")
        secret = getattr(api, "secret", None) or os.environ.get(ENV_API_SECRET, "")
        return str(key or ""), str(secret or "")

    # -- the answer -------------------------------------------------------------------------------------------
    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The exchange's truth under the policy, clamped to ``max_leverage`` and the caps. No network call.

        To combine with your own logic, compute your leverage and pass it as ``proposed_leverage`` to
        ``super().leverage(...)``: under ``follow`` the exchange's value wins, under ``enforce``/``alert`` yours.
        """
        runtime = self._pmbridge_runtime
        if runtime is not None:
            return runtime.leverage_for(pair, proposed_leverage, max_leverage, side)
        policy, own, low, high = self._pmbridge_settings.for_pair(pair)
        wish = own if own is not None else proposed_leverage
        timeline = self._pmbridge_timeline
        if timeline is not None and policy == "follow":
            then = timeline.leverage_at(pair, current_time.timestamp() * 1000)
            if then is not None:
                wish = then  # what the exchange had at this candle, from the recording
        return max(1.0, min(max(wish, low), high, max_leverage))


def _dry_run_notice(settings: FreqtradeSettings) -> str:
    """The start-up line of a dry run: what would write to the exchange live, and that it will not."""
    enforced = [pair for pair in settings.pairs if settings.for_pair(pair)[0] == "enforce"]
    if settings.policy == "enforce":
        writers = "the enforce policy and the min/max leverage caps"
    elif enforced:
        writers = f"the enforce policy ({', '.join(enforced)}) and the min/max leverage caps"
    else:
        writers = "the min/max leverage caps"
    return (
        f"nothing is written to the exchange (Freqtrade writes nothing in a dry run either): {writers} only say what "
        "they would set back. leverage() answers as in live trading."
    )
