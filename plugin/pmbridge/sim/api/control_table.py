"""The /_sim control routes as data: each route's method, path, purpose and body fields.

The one table the server registers its control routes from (``ControlRoutes.routes``), ``GET /_sim/`` lists and
``python -m pmbridge.sim --help`` prints; docs/simulator.md's reference is checked against it by the tests.
"""

from __future__ import annotations

import textwrap
from typing import Any, Final

from attrs import frozen

PREFIX: Final = "/_sim/"


@frozen
class BodyField:
    name: str
    means: str
    required: bool = False


@frozen
class ControlRoute:
    method: str
    name: str
    """The path under ``/_sim/`` (``leverage``, ``stats/reset``; empty for the listing) and the handler's name."""
    does: str
    body: tuple[BodyField, ...] = ()

    @property
    def path(self) -> str:
        return PREFIX + self.name

    @property
    def handler(self) -> str:
        """The ``ControlRoutes`` method that serves it: ``_leverage``, ``_stats_reset``, ``_index`` for the listing."""
        return "_" + (self.name or "index").replace("/", "_")

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "does": self.does,
            "body": [{"name": f.name, "required": f.required, "means": f.means} for f in self.body],
        }


def _field(name: str, means: str) -> BodyField:
    return BodyField(name, means, required=True)


ACCOUNT: Final = BodyField("account", "pm, usdm or coinm (default: pm)")
SYMBOL: Final = _field("symbol", "the exchange's symbol, e.g. BTCUSDT (USDⓈ-M) or BTCUSD_PERP (COIN-M)")
POSITION_SIDE: Final = BodyField("position_side", "LONG or SHORT in hedge mode (default: BOTH)")

CONTROL_ROUTES: Final = (
    ControlRoute("GET", "", "this list of control routes, as JSON"),
    # -- the market
    ControlRoute(
        "POST",
        "price",
        "pin a symbol's last and mark price (resting orders, stops and liquidations react at once)",
        (
            SYMBOL,
            BodyField("price", "the price; null hands the symbol back to the price model"),
            BodyField("step", "instead of price: move the current price by this amount"),
            BodyField("path", "instead of price: a list of prices, applied in turn"),
        ),
    ),
    # -- the account owner, in the Binance app
    ControlRoute(
        "POST",
        "leverage",
        "change a symbol's leverage, as in the app",
        (SYMBOL, _field("leverage", "an integer, within the symbol's brackets"), ACCOUNT),
    ),
    ControlRoute(
        "POST",
        "order",
        "place an order, as in the app",
        (
            SYMBOL,
            _field("type", "MARKET or LIMIT"),
            BodyField("side", "BUY (default) or SELL"),
            BodyField("quantity", 'in the contract\'s base asset, e.g. "0.010"'),
            BodyField("price", "LIMIT orders"),
            BodyField("time_in_force", "GTC (default for LIMIT), IOC, FOK, GTX or GTD"),
            BodyField("reduce_only", "true: only reduce a position"),
            POSITION_SIDE,
            ACCOUNT,
        ),
    ),
    ControlRoute(
        "POST",
        "algo_order",
        "place a stop or take-profit (an algo order), as in the app",
        (
            SYMBOL,
            _field("type", "STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET or TRAILING_STOP_MARKET"),
            BodyField("side", "SELL (default) or BUY"),
            BodyField("trigger_price", "the price that triggers it"),
            BodyField("quantity", "how much, unless close_position"),
            BodyField("close_position", "true: close the whole position when triggered"),
            BodyField("price", "STOP and TAKE_PROFIT: the limit price of the placed order"),
            BodyField("working_type", "CONTRACT_PRICE (default, the last price) or MARK_PRICE"),
            BodyField("callback_rate", "TRAILING_STOP_MARKET: the callback, in percent"),
            BodyField("activate_price", "TRAILING_STOP_MARKET: the price that starts the trailing"),
            BodyField("reduce_only", "true: only reduce a position"),
            POSITION_SIDE,
            ACCOUNT,
        ),
    ),
    ControlRoute(
        "POST",
        "cancel",
        "cancel an order or an algo order, as in the app",
        (
            BodyField("order_id", "the order's orderId (give this or algo_id)"),
            BodyField("algo_id", "the algo order's algoId (give this or order_id)"),
            ACCOUNT,
        ),
    ),
    ControlRoute(
        "POST",
        "close_position",
        "close a position with a reduce-only market order, as in the app",
        (SYMBOL, POSITION_SIDE, ACCOUNT),
    ),
    ControlRoute(
        "POST",
        "margin_type",
        "switch a symbol between isolated and cross margin (USDⓈ-M; Portfolio Margin is cross only)",
        (SYMBOL, _field("margin_type", "ISOLATED or CROSSED"), ACCOUNT),
    ),
    ControlRoute(
        "POST",
        "isolated_margin",
        "add margin to an isolated position or remove some",
        (
            SYMBOL,
            _field("amount", "in USDT"),
            _field("add", "true adds, false removes"),
            POSITION_SIDE,
            ACCOUNT,
        ),
    ),
    ControlRoute(
        "POST", "multi_assets", "turn multi-assets mode on or off", (_field("enabled", "true or false"), ACCOUNT)
    ),
    ControlRoute(
        "POST",
        "position_mode",
        "switch between one-way and hedge (dual side) position mode",
        (_field("dual_side", "true: hedge mode, false: one-way"), ACCOUNT),
    ),
    ControlRoute(
        "POST",
        "deposit",
        "move funds into the account, or out of it",
        (
            _field("amount", "positive deposits, negative withdraws"),
            BodyField("asset", "default USDT"),
            ACCOUNT,
        ),
    ),
    # -- the tester
    ControlRoute(
        "POST",
        "clock",
        "speed up the simulated clock or jump it ahead (funding, listenKey expiry, 24 h cuts)",
        (
            BodyField("speed", "simulated seconds per real second"),
            BodyField("advance_ms", "jump ahead by this many milliseconds"),
            BodyField("keep_keys", "true: the jump leaves listenKeys alive, as if kept alive all along"),
        ),
    ),
    ControlRoute("POST", "drop", "close every user-stream socket (clients see a disconnect)"),
    ControlRoute(
        "POST",
        "expire_key",
        "kill the listenKey now, as if its hour ran out",
        (
            BodyField("account", "pm, usdm or coinm (default: every account)"),
            BodyField("announce", "true (default): send listenKeyExpired first; false: the socket goes silent"),
        ),
    ),
    ControlRoute(
        "POST",
        "fail",
        "answer the next REST calls with an error",
        (
            _field("status", "the HTTP status: 429, 418, 5xx, or 400 with a code"),
            _field("count", "how many calls fail (0 disarms)"),
            BodyField("code", "Binance's error code in the body, e.g. -1021"),
            BodyField("retry_after", "seconds, for the Retry-After header of 429 and 418"),
            BodyField("paths", 'only these REST paths fail, e.g. ["/papi/v1/um/symbolConfig"]'),
        ),
    ),
    ControlRoute(
        "POST",
        "latency",
        "delay the next REST answers",
        (_field("ms", "milliseconds"), BodyField("count", "how many answers (default: every one, until ms is 0)")),
    ),
    ControlRoute(
        "POST",
        "frames",
        "push raw frames to every user-stream socket (malformed, duplicate, stale)",
        (_field("frames", "a list: strings go out verbatim, objects as JSON"),),
    ),
    # -- reading the truth
    ControlRoute(
        "GET",
        "state",
        "the truth: leverage, margin types, modes, balances, positions, open orders; every account under accounts",
    ),
    ControlRoute("GET", "history", "every value each leverage, flag and position had, with the E/T it was pushed with"),
    ControlRoute("GET", "stats", "REST calls by endpoint, sockets, frames and request weight"),
    ControlRoute("POST", "stats/reset", "set the counters of GET /_sim/stats back to zero"),
)


def listing() -> dict[str, Any]:
    """What ``GET /_sim/`` answers."""
    return {
        "routes": [route.as_json() for route in CONTROL_ROUTES],
        "body": "a JSON object; a refused action answers Binance's error, as the REST call would",
    }


def help_text(width: int = 116) -> str:
    """The control routes for ``python -m pmbridge.sim --help``: one a line, its body fields under it (``*``:
    required)."""
    column = max(len(route.path) for route in CONTROL_ROUTES) + 9
    lines = []
    for route in CONTROL_ROUTES:
        lines += textwrap.wrap(
            f"{route.method:<4} {route.path:<{column - 7}}{route.does}",
            width,
            initial_indent="  ",
            subsequent_indent=" " * column,
        )
        if route.body:
            fields = ", ".join(f.name + "*" * f.required for f in route.body)
            lines += textwrap.wrap(
                f"body: {fields}", width, initial_indent=" " * column, subsequent_indent=" " * column
            )
    return "\n".join(lines)
