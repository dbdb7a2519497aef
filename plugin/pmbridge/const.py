"""Names and limits shared across pmbridge (no behaviour lives here)."""

from __future__ import annotations

from typing import Final, Literal

Unit = Literal["UM", "CM"]
"""Binance business unit: ``UM`` is USDⓈ-M (linear), ``CM`` is COIN-M (inverse)."""

UNITS: Final = ("UM", "CM")

Source = Literal["stream", "snapshot", "reconcile", "readback"]
"""Where a value came from: a pushed event, the first REST snapshot, drift found by a later snapshot, or the REST read
of a symbol's positions that follows a change on it (which brings what the stream does not carry, such as the
liquidation price)."""

Origin = Literal["self", "external"]
"""Who made a change: this process or its host bot (``self``), or anyone else: the app, another tool (``external``)."""

PositionSide = Literal["BOTH", "LONG", "SHORT"]
"""``BOTH`` in one-way mode; ``LONG`` and ``SHORT`` rows in hedge mode."""

PositionChangeKind = Literal["opened", "changed", "closed", "liquidated"]

AccountType = Literal["pm", "usdm", "coinm"]
ACCOUNT_TYPES: Final = ("pm", "usdm", "coinm")

AccountSetting = Literal["multi_assets", "dual_side_position"]
"""Account-wide flags: multi-assets (union margin) mode, and hedge (dual side) position mode."""

MIN_LEVERAGE: Final = 1
MAX_LEVERAGE: Final = 125
"""Binance's widest leverage range; each symbol's brackets narrow it further."""

HOOK_PREFIX: Final = "pmbridge_"
PLUGIN_GROUP: Final = "pmbridge.plugins"

ENV_DISABLE_AUTOLOAD: Final = "PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK_PLUGINS: Final = "PMBRIDGE_BLOCK_PLUGINS"
ENV_API_KEY: Final = "PMBRIDGE_API_KEY"
ENV_API_SECRET: Final = "PMBRIDGE_API_SECRET"
