"""A complete Freqtrade strategy using pmbridge (docs/freqtrade.md walks through it).

The one-line change is the base class: ``PMBridgeMixin`` before ``IStrategy``. Everything else is an ordinary
strategy; the ``pmbridge_*`` methods are optional hooks, called on Freqtrade's thread at the start of each loop.
"""

from __future__ import annotations

import logging

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from pmbridge.freqtrade import PMBridgeMixin

log = logging.getLogger(__name__)


class PMBridgeExample(PMBridgeMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    minimal_roi = {"0": 0.5}
    stoploss = -0.25
    startup_candle_count = 20
    process_only_new_candles = False

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=5)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=20)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["ema_fast"] > dataframe["ema_slow"], "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    # -- pmbridge hooks (optional) ------------------------------------------------------------------------------
    def pmbridge_leverage_changed(self, change) -> None:
        if change.old is not None:
            log.info("exchange leverage of %s is now %sx (%s)", change.symbol, change.new, change.source)

    def pmbridge_stream_state_changed(self, change) -> None:
        if change.new == "disconnected":
            log.warning("pmbridge lost the exchange for now (it reconnects and resyncs by itself): %s", change.reason)
