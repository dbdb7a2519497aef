"""Binance's official Python SDKs judge every user-stream event the simulator pushes (REST: test_conformance.py).

Each SDK's own user-data client connects unchanged: the Portfolio Margin one to ``/pm/stream``, the USDⓈ-M one to
``/market/stream``, ``/public/stream`` and ``/private/stream``, all speaking the combined-stream protocol. A trade's
whole life then runs through the SDK's REST client and the control API, and every event must reach the SDK's
callback as its model (strict, no raw-dict fallback) and carry exactly the keys the model declares.

Where Binance's real events differ from an SDK model the simulator keeps Binance's behaviour, and the difference is
allowed below by name, with its source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from binance_common.utils import resolve_model_from_event
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams import models as pm_events
from binance_sdk_derivatives_trading_usds_futures.websocket_streams import models as um_events
from pydantic import ValidationError

from pmbridge.sim import Simulator

from .sdk_oracle import (
    LIMIT_BUY,
    EventTap,
    Oracle,
    UserStream,
    key_problems,
    oracles,
    scrubbed_sdk_logs,
    stop,
    strict_sdk,
)

EIGHT_HOURS_MS = 8 * 3_600_000
# Keys the models declare that Binance sends only sometimes; where each must appear is asserted in the tests.
SOMETIMES = {
    "ACCOUNT_CONFIG_UPDATE": ("ac", "ai"),  # one of the two: a symbol's leverage, or the multi-assets flag
    # M: amendments only; st: the order a triggered algo order placed (PM); AP, cr: trailing stops only
    "ORDER_TRADE_UPDATE": ("o.M", "o.st", "o.AP", "o.cr"),
    "ACCOUNT_UPDATE": ("a.S",),  # the symbol of a funding settlement
}
# Keys Binance sends that an SDK model does not declare (so the SDK drops them).
BEYOND_MODEL = {
    # The multi-assets flag: documented on the Chinese PM page only (shared/PROTOCOL.md), and pmbridge acts on it.
    ("pm", "ACCOUNT_CONFIG_UPDATE"): ("ai",),
    # The position's margin asset: in real captures (reference/binance_trading.md §3.2).
    ("usdm", "ACCOUNT_UPDATE"): ("a.P[].ma",),
    # The expired key: fapi documents it, and the simulator sends the same frame on every stream.
    ("pm", "listenKeyExpired"): ("listenKey",),
}
EVENTS = {"ACCOUNT_CONFIG_UPDATE", "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE", "ALGO_UPDATE", "listenKeyExpired"}
MODELS = {"pm": pm_events.UserDataStreamEventsResponse, "usdm": um_events.UserDataStreamEventsResponse}


@pytest.fixture
async def sdk(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Oracle, Oracle, EventTap]]:
    tap = strict_sdk(monkeypatch)
    with scrubbed_sdk_logs(), oracles(sim) as (pm, um):
        yield pm, um, tap


def price_at_ratio(sim: Simulator, account: str, ratio: Decimal) -> float:
    """The mark at which the account's maintenance margin is ``ratio`` of its equity, for its one long position in
    the first leverage bracket: equity moves by the position's size, maintenance in proportion to the mark."""
    view = sim.state()["accounts"][account]
    (position,) = view["positions"]
    qty, mark = Decimal(position["amount"]), Decimal(position["mark_price"])
    equity, maintenance = Decimal(view["balances"]["equity"]), Decimal(view["balances"]["maintenance_margin"])
    return round(float(ratio * (equity - qty * mark) / (maintenance / mark - ratio * qty)), 1)


async def trade_lifecycle(sim: Simulator, oracle: Oracle, account: str) -> None:
    """Leverage and multi-assets changes, a fill, a resting order cancelled, a stop triggered and filled, a funding
    settlement: every event of the stream but the risk ones, in the SDK's own REST calls where it has them."""
    pm = account == "pm"
    await sim.set_price("BTCUSDT", 60000)
    await oracle.call("change_um_initial_leverage" if pm else "change_initial_leverage", symbol="BTCUSDT", leverage=10)
    if pm:  # papi has no multi-assets endpoint: the Binance app changes it
        await sim.set_multi_assets(True, "pm")
    else:
        await oracle.call("change_multi_assets_mode", multi_assets_margin="true")
    order, algo = ("new_um_order", "new_um_algo_order") if pm else ("new_order", "new_algo_order")
    await oracle.call(order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=0.5)
    limit = await oracle.call(order, **LIMIT_BUY)
    await oracle.call("cancel_um_order" if pm else "cancel_order", symbol="BTCUSDT", order_id=limit.order_id)
    await oracle.call(algo, **stop("BUY", 0.01, 60500))
    await sim.set_price("BTCUSDT", 60600)
    await sim.set_clock(advance_ms=EIGHT_HOURS_MS, keep_keys=True)  # past a funding time


def conformance(account: str, seen: list[tuple[dict[str, Any], Any]], received: list[Any]) -> list[str]:
    """What is wrong with the events the SDK parsed: raw-dict fallbacks and key mismatches, bar the allowances."""
    problems = []
    for raw, parsed in seen:
        name = raw["e"]
        assert any(parsed is r for r in received), f"{name} never reached the callback"
        inner = parsed.actual_instance
        if isinstance(inner, dict):
            model = resolve_model_from_event(MODELS[account], name)
            why = "the SDK has no model for it"
            if model is not None:
                try:
                    model.model_validate(raw)
                except ValidationError as error:
                    why = " ".join(str(error).split())
            problems.append(f"{name}: the callback got a raw dict, not a model: {why}")
            continue
        absent, extra = SOMETIMES.get(name, ()), ("e", *BEYOND_MODEL.get((account, name), ()))
        problems += [f"{name}: {p}" for p in key_problems(type(inner), raw, absent, extra)]
    return problems


def check_expiry_frame(raw: dict[str, Any], model: Any, account: str) -> None:
    """listenKeyExpired: Binance has been seen sending ``E`` as a string (stream/hub.py), which the SDKs' models
    (``E: StrictInt``) refuse, so the callback gets the raw dict. The simulator keeps Binance's string; this is the
    one place a model is allowed to fail, and it must fail on ``E`` alone."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(raw)
    assert [error["loc"] for error in refused.value.errors()] == [("E",)]
    assert raw["E"].isdigit()
    assert not key_problems(model, raw, extra_ok=("e", *BEYOND_MODEL.get((account, "listenKeyExpired"), ())))


async def test_portfolio_margin_user_stream_conforms(sim: Simulator, sdk: tuple[Oracle, Oracle, EventTap]) -> None:
    pm, _, tap = sdk
    async with UserStream(pm, sim, "pm") as stream:
        await trade_lifecycle(sim, pm, "pm")
        await sim.set_price("BTCUSDT", price_at_ratio(sim, "pm", 1 / Decimal("1.3")))  # uniMMR 1.3
        risk = await tap.wait_for(lambda e: e["e"] == "riskLevelChange")
        assert risk["s"] == "MARGIN_CALL"
        await sim.expire_key("pm")
        expired = await tap.wait_for(lambda e: e["e"] == "listenKeyExpired")
        assert (await stream.streams.list_subscribe())["result"] == [expired["listenKey"]]
        await stream.handle.unsubscribe()
        await stream.subscribed(0)
    events = [(raw, parsed) for raw, parsed in tap.seen if raw["e"] not in ("ALGO_UPDATE", "listenKeyExpired")]
    problems = conformance("pm", events, stream.received)
    assert not problems, "\n".join(problems)
    assert {raw["e"] for raw, _ in tap.seen} == EVENTS | {"riskLevelChange"}
    # The PM SDK never hands ALGO_UPDATE over as a model: its socket loop finds the model by class name, and the
    # class is AlgoOrderUpdate. So the test validates the frames with that class itself, strictly.
    algo = [(raw, parsed) for raw, parsed in tap.seen if raw["e"] == "ALGO_UPDATE"]
    assert all(isinstance(parsed.actual_instance, dict) for _, parsed in algo)
    for raw, _ in algo:
        pm_events.AlgoOrderUpdate.model_validate(raw)
        assert not key_problems(pm_events.AlgoOrderUpdate, raw, extra_ok=("e",))
    assert [raw["ao"]["X"] for raw, _ in algo] == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    check_expiry_frame(expired, pm_events.ListenKeyExpired, "pm")
    assert_sometimes_keys(tap, "pm", algo[-1][0]["ao"]["ai"])


async def test_usdm_user_stream_conforms(sim: Simulator, sdk: tuple[Oracle, Oracle, EventTap]) -> None:
    _, um, tap = sdk
    async with UserStream(um, sim, "usdm") as stream:
        await stream.streams.mark_price_stream(symbol="btcusdt")  # accepted on /market/stream, never pushed
        await trade_lifecycle(sim, um, "usdm")
        await sim.set_price("BTCUSDT", price_at_ratio(sim, "usdm", Decimal("0.9")))  # margin ratio 90 %
        call = await tap.wait_for(lambda e: e["e"] == "MARGIN_CALL")
        assert [row["mt"] for row in call["p"]] == ["CROSSED"]
        await sim.expire_key("usdm")
        expired = await tap.wait_for(lambda e: e["e"] == "listenKeyExpired")
        # list_subscribe asks the SDK's first socket, /market/stream.
        assert (await stream.streams.list_subscribe())["result"] == ["btcusdt@markPrice"]
        await stream.handle.unsubscribe()
        await stream.subscribed(0)
    events = [(raw, parsed) for raw, parsed in tap.seen if raw["e"] != "listenKeyExpired"]
    problems = conformance("usdm", events, stream.received)
    assert not problems, "\n".join(problems)
    assert {raw["e"] for raw, _ in tap.seen} == EVENTS | {"TRADE_LITE", "MARGIN_CALL"}
    algo = [raw["o"]["X"] for raw, _ in tap.seen if raw["e"] == "ALGO_UPDATE"]
    assert algo == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    check_expiry_frame(expired, um_events.ListenKeyExpired, "usdm")
    finished = next(raw for raw, _ in tap.seen if raw["e"] == "ALGO_UPDATE" and raw["o"]["X"] == "FINISHED")
    assert_sometimes_keys(tap, "usdm", finished["o"]["ai"])


def assert_sometimes_keys(tap: EventTap, account: str, triggered_order_id: str) -> None:
    """The keys SOMETIMES lets go missing are there when they should be: both config variants, the funding
    settlement's symbol and (PM only) the strategy type on the updates of the order a triggered stop placed."""
    raws = [raw for raw, _ in tap.seen]
    config = [raw for raw in raws if raw["e"] == "ACCOUNT_CONFIG_UPDATE"]
    assert [(raw.get("ac", {}).get("l"), raw.get("ai", {}).get("j")) for raw in config] == [(10, None), (None, True)]
    funding = [raw for raw in raws if raw["e"] == "ACCOUNT_UPDATE" and raw["a"]["m"] == "FUNDING_FEE"]
    assert [raw["a"]["S"] for raw in funding] == ["BTCUSDT"]
    placed = [raw["o"] for raw in raws if raw["e"] == "ORDER_TRADE_UPDATE" and str(raw["o"]["i"]) == triggered_order_id]
    expected = ["STOP_MARKET"] * len(placed) if account == "pm" else [None] * len(placed)
    assert placed and [o.get("st") for o in placed] == expected
