"""FreqtradeRuntime: what a started PMBridgeMixin holds (live and dry-run only; never in backtest or hyperopt).

Threads: the bridge runs on its own loop in a daemon thread; hooks fire on pmbridge's hook thread. They are queued
and handed to the strategy on Freqtrade's thread at ``bot_loop_start`` (``drain``), unless ``callbacks: immediate``
(then on the hook thread, where a slow strategy callback is detached like any slow plugin). ``leverage()``
answers from the book without any network call, from whichever thread Freqtrade calls it (bot, API, Telegram).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Final

from ..config import BridgeConfig
from ..manager import PluginManager, create_plugin_manager
from ..models import LeverageRequest
from ..thread import BridgeThread
from .enforcer import Enforcer
from .reporter import Reporter, open_trades
from .scrubbed_clients import scrub_client
from .settings import FreqtradeSettings
from .tap import LeverageTap

log = logging.getLogger("pmbridge.freqtrade")

QUEUE_LIMIT: Final = 10_000
"""Hook calls kept for the strategy between two bot loops; beyond it the oldest are dropped (and counted)."""

NOTIFY_HOOKS: Final = (
    "pmbridge_configure",
    "pmbridge_ready",
    "pmbridge_leverage_changed",
    "pmbridge_position_changed",
    "pmbridge_account_mode_changed",
    "pmbridge_stream_state_changed",
    "pmbridge_reconciled",
    "pmbridge_shutdown",
)


class StrategyRelay:
    """Registered on the bridge: carries every notification hook to the strategy, queued or immediately."""

    def __init__(self, runtime: FreqtradeRuntime) -> None:
        self._runtime = runtime

    def _relay(self, name: str, arg: Any) -> None:
        self._runtime.relay(name, arg)

    def pmbridge_configure(self, config: Any) -> None:
        self._relay("pmbridge_configure", config)

    def pmbridge_ready(self, book: Any) -> None:
        self._relay("pmbridge_ready", book)

    def pmbridge_leverage_changed(self, change: Any) -> None:
        self._relay("pmbridge_leverage_changed", change)

    def pmbridge_position_changed(self, change: Any) -> None:
        self._relay("pmbridge_position_changed", change)

    def pmbridge_account_mode_changed(self, change: Any) -> None:
        self._relay("pmbridge_account_mode_changed", change)

    def pmbridge_stream_state_changed(self, change: Any) -> None:
        self._relay("pmbridge_stream_state_changed", change)

    def pmbridge_reconciled(self, report: Any) -> None:
        self._relay("pmbridge_reconciled", report)

    def pmbridge_shutdown(self, shutdown: Any) -> None:
        self._relay("pmbridge_shutdown", shutdown)


class FreqtradeRuntime:
    def __init__(self, strategy: Any, settings: FreqtradeSettings, config: BridgeConfig, live: bool) -> None:
        self.settings = settings
        self.live = live
        self.margin_mode = str(strategy.config.get("margin_mode") or "")
        self.strategy_pm = PluginManager()  # only the strategy: its hooks, isolated, on the thread that drains
        self.strategy_pm.register(strategy, name=f"strategy:{type(strategy).__name__}")
        self.strategy_pm.check_pending()
        # Drained at each bot loop; while Freqtrade is STOPPED (/stop) no loop runs, so the queue is bounded.
        self.queue: deque[tuple[str, Any, bool]] = deque(maxlen=QUEUE_LIMIT)
        self.dropped = 0
        self.whitelist: frozenset[str] = frozenset(strategy.config.get("exchange", {}).get("pair_whitelist", ()))
        self.wishes: dict[str, float] = {}
        self.trades_checked_at_start = False
        """Whether the open trades were compared with the exchange's first reading (``Reporter.at_start``)."""
        self._dp = getattr(strategy, "dp", None)
        self.dry_run = config.read_only
        """A dry run (the mixin makes its bridge read-only): the enforcer says what it would set back instead."""
        self.enforcer = Enforcer(
            settings, self._bridge, self._target, self._tradeable, self.say, self._call_soon, dry_run=self.dry_run
        )
        self.pm = create_plugin_manager(plugins=(StrategyRelay(self), self.enforcer))
        self.thread = BridgeThread(config, self.pm)
        self.reporter = Reporter(
            self._send, lambda pair: self.settings.for_pair(pair)[0], self._next_entry, live, self.margin_mode
        )
        # Freqtrade's own set_leverage calls (before its entries, DCAs and stoplosses) are this bot's: origin self.
        exchange = getattr(self._dp, "_exchange", None)
        api = getattr(exchange, "_api", None)
        self.tap = LeverageTap(api, self._bridge, self._open_trade_ids, self.say) if live and api is not None else None
        if live:  # Freqtrade's own class: no secret in its errors and DEBUG lines from here on (PMBinance: from start)
            for client in (api, getattr(exchange, "_api_async", None)):
                if client is not None:
                    scrub_client(client)

    # -- lifecycle (Freqtrade's thread) -------------------------------------------------------------------------
    def start(self) -> None:
        if self.tap is not None:
            self.tap.install()
        ready = self.thread.start(self.settings.start_timeout)
        if not ready:
            log.warning(
                "pmbridge: no snapshot within %.0f s; it keeps trying in the background and leverage() "
                "answers from the strategy alone until then",
                self.settings.start_timeout,
            )

    def stop(self) -> None:
        if self.tap is not None:
            self.tap.remove()
        self.thread.stop()
        self.drain()  # the last changes and the shutdown reach the strategy too

    @staticmethod
    def _open_trade_ids(pair: str) -> list[int]:
        return [int(trade.id) for trade in open_trades(pair)]

    def _bridge(self) -> Any:
        return self.thread.bridge

    def _call_soon(self, callback: Any, *args: Any) -> bool:
        return self.thread.call_soon(callback, *args)

    # -- hook relay (bridge thread) -> drain (Freqtrade's thread) ----------------------------------------------
    def relay(self, name: str, arg: Any) -> None:
        immediate = self.settings.callbacks == "immediate"
        if immediate:
            self.strategy_pm.notify(name, arg)
        self._queue((name, arg, not immediate))

    def say(self, text: str) -> None:
        self._queue(("message", text, False))

    def _queue(self, item: tuple[str, Any, bool]) -> None:
        if len(self.queue) == QUEUE_LIMIT:  # the oldest goes: the book holds the truth, leverage() reads it
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "pmbridge: %d hook calls wait for the strategy (is the bot stopped?); dropping the oldest from "
                    "now on. leverage() still answers from the exchange's current values.",
                    QUEUE_LIMIT,
                )
        self.queue.append(item)

    def drain(self) -> None:
        """Deliver queued hooks to the strategy and messages to Freqtrade's RPC, on the calling (bot) thread."""
        # What the book already shows is on its way through the hook thread: let it arrive (bounded, usually µs).
        self.pm.flush(timeout=0.5, include_detached=False)
        if self._dp is not None:
            try:
                self.whitelist = frozenset(self._dp.current_whitelist())
            except Exception:  # before the first pairlist refresh
                log.debug("no whitelist yet", exc_info=True)
        while self.queue:
            name, arg, deliver = self.queue.popleft()
            if name == "message":
                self._send(arg, level=logging.WARNING)
                continue
            if name == "pmbridge_leverage_changed":
                arg = self.reporter.leverage(arg, self.whitelist)
            elif name == "pmbridge_position_changed":
                arg = self.reporter.position(arg)
            elif name == "pmbridge_account_mode_changed":
                self.reporter.mode(arg)
            if deliver:
                self.strategy_pm.notify(name, arg)
        bridge = self.thread.bridge
        if self.thread.ready and self.thread.failure is None and bridge is not None:
            for pair in self.whitelist:  # a snapshot or a new pair may need setting back, not only events
                if self.enforcer.may_act(pair):  # else no wake-up of the bridge's loop for nothing
                    self.thread.call_soon(self.enforcer.check, pair)
            positions = bridge.positions.open_positions()
            if not self.trades_checked_at_start:
                self.trades_checked_at_start = True
                self.reporter.at_start(positions)
            self.reporter.audit(positions)

    def _next_entry(self, pair: str) -> float:
        return self.leverage_for(pair, self.wishes.get(pair, 1.0), 1e9, None, record=False)

    def _send(self, text: str, level: int) -> None:
        log.log(level, "%s", text)
        if self.settings.notify and self._dp is not None:
            try:
                self._dp.send_msg(text, always_send=True)
            except Exception:
                log.debug("send_msg failed", exc_info=True)

    # -- leverage() (any Freqtrade thread) ----------------------------------------------------------------------
    def _tradeable(self, pair: str) -> bool:
        return pair in self.whitelist

    def _target(self, pair: str) -> float | None:
        own = self.settings.for_pair(pair)[1]
        return own if own is not None else self.wishes.get(pair)

    def leverage_for(
        self, pair: str, proposed: float, max_leverage: float, side: str | None, record: bool = True
    ) -> float:
        policy, own, low, high = self.settings.for_pair(pair)
        wish = own if own is not None else proposed
        if record:
            self.wishes[pair] = wish
        ceiling = min(float(max_leverage), high)
        bridge = self.thread.bridge
        book = None if bridge is None else bridge.book
        entry = None if book is None else book.get(pair)
        found = None if book is None or book.symbols is None else book.symbols.exchange_id(pair)
        request = LeverageRequest(
            symbol=pair,
            exchange_symbol=None if found is None else found[1],
            unit=None if found is None else found[0],
            proposed=wish,
            exchange=None if entry is None else entry.leverage,
            max_leverage=ceiling,
            policy=policy,
            side=side,
            followed=None if bridge is None or entry is None else bridge.followed_leverage(pair),
        )
        # The strategy's own pmbridge_decide_leverage first, then installed plugins, the built-in policy last.
        answer = self.strategy_pm.first("pmbridge_decide_leverage", request)
        if answer is None:
            answer = self.pm.first("pmbridge_decide_leverage", request)
        value = float(answer if answer is not None else wish)
        return max(1.0, min(max(value, low), ceiling))
