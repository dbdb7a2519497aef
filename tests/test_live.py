"""The live bridge against the simulator: real ccxt over HTTP, real websockets, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest

from pmbridge import create_plugin_manager
from pmbridge.bridge import Bridge, SetupFailed
from pmbridge.config import BridgeConfig
from pmbridge.models import AccountModeChange, StreamState
from pmbridge.sim import Simulator
from pmbridge.testing import HookRecorder, running_bridge


def book_matches(bridge: Bridge, sim: Simulator) -> bool:
    truth = sim.state()
    for unit in ("UM", "CM"):
        for symbol, leverage in truth["leverage"][unit].items():
            if bridge.book.leverage(symbol, unit) != leverage:
                return False
    return bridge.book.multi_assets == truth["multi_assets"]


async def reconnected(recorder: HookRecorder) -> None:
    """Until the stream has gone down and come back (``available`` alone can still be the old connection)."""

    def back() -> bool:
        states = [c.new for c in recorder.of("pmbridge_stream_state_changed")]
        if StreamState.DISCONNECTED not in states:
            return False
        last_down = len(states) - 1 - states[::-1].index(StreamState.DISCONNECTED)
        return StreamState.CONNECTED in states[last_down:]

    await recorder.wait_for(back, what="the stream to go down and come back")


async def converged(bridge: Bridge, sim: Simulator, recorder: HookRecorder, timeout: float = 5.0) -> None:
    await recorder.wait_for(lambda: book_matches(bridge, sim), timeout, "the book to equal /_sim/state")


async def test_first_snapshot_fills_the_book_and_announces_from_none(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    truth = pmbridge_sim.state()
    changes = pmbridge_recorder.leverage_changes("snapshot")
    assert len(changes) == len(truth["leverage"]["UM"]) + len(truth["leverage"]["CM"])
    assert all(change.old is None for change in changes)
    btc = next(c for c in changes if c.exchange_symbol == "BTCUSDT")
    assert (btc.symbol, btc.unit) == ("BTC/USDT:USDT", "UM")
    assert book_matches(pmbridge_bridge, pmbridge_sim)
    names = [name for name, _ in pmbridge_recorder.calls]
    assert names.index("pmbridge_configure") < names.index("pmbridge_ready") < names.index("pmbridge_reconciled")
    assert pmbridge_bridge.available


async def test_changes_in_the_app_and_through_rest_arrive_from_the_stream(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    await pmbridge_sim.set_leverage("BTCUSDT", 25)  # "in the Binance app"
    change = await pmbridge_recorder.wait_for_leverage("BTCUSDT", 25, "stream")
    assert (change.old, change.symbol, change.unit) == (20, "BTC/USDT:USDT", "UM")
    assert change.event_time is not None
    await pmbridge_bridge.set_leverage("UM", "ETHUSDT", 7)  # through ccxt's REST
    await pmbridge_recorder.wait_for_leverage("ETHUSDT", 7, "stream")
    assert pmbridge_bridge.book.leverage("ETH/USDT:USDT") == 7


async def test_coin_m_symbols_and_multi_assets(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    await pmbridge_sim.set_leverage("BTCUSD_PERP", 11)
    change = await pmbridge_recorder.wait_for_leverage("BTCUSD_PERP", 11, "stream")
    assert (change.unit, change.symbol) == ("CM", "BTC/USD:BTC")
    await pmbridge_sim.set_multi_assets(True)
    mode = await pmbridge_recorder.wait_for(
        lambda: [c for c in pmbridge_recorder.of("pmbridge_account_mode_changed") if c.source == "stream"]
    )
    assert mode == [
        AccountModeChange("multi_assets", False, True, "stream", mode[0].event_time, mode[0].transaction_time)
    ]
    assert pmbridge_bridge.book.multi_assets is True


async def test_change_made_while_the_socket_is_down_is_recovered_by_reconcile(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    await pmbridge_sim.drop()
    await pmbridge_sim.set_leverage("SOLUSDT", 33)  # no socket is open: Binance never redelivers this
    change = await pmbridge_recorder.wait_for_leverage("SOLUSDT", 33)
    assert change.source == "reconcile"
    await converged(pmbridge_bridge, pmbridge_sim, pmbridge_recorder)
    states = [c.new for c in pmbridge_recorder.of("pmbridge_stream_state_changed")]
    assert StreamState.DISCONNECTED in states and states[-1] is StreamState.CONNECTED


async def test_listen_key_expiry_gets_a_new_key_and_resyncs(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    coordinator = pmbridge_bridge.coordinator
    assert coordinator is not None
    await pmbridge_sim.expire_key()
    await reconnected(pmbridge_recorder)
    assert coordinator.stream.key_renewals == 1
    await pmbridge_sim.set_leverage("XRPUSDT", 9)
    assert (await pmbridge_recorder.wait_for_leverage("XRPUSDT", 9)).source == "stream"


async def test_minus_1125_on_keepalive_gets_a_new_key(pmbridge_sim: Simulator) -> None:
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder, keepalive_interval=0.2) as bridge:
        assert bridge.coordinator is not None
        await pmbridge_sim.fail(400, 1, code=-1125, paths=["/papi/v1/listenKey"])
        await reconnected(recorder)
        assert bridge.coordinator.stream.key_renewals >= 1
        await pmbridge_sim.set_leverage("BNBUSDT", 4)
        await recorder.wait_for_leverage("BNBUSDT", 4, "stream")


async def test_stale_and_duplicate_frames_fire_nothing(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    await pmbridge_sim.set_leverage("BTCUSDT", 30)
    latest = await pmbridge_recorder.wait_for_leverage("BTCUSDT", 30, "stream")
    assert latest.event_time is not None
    before = len(pmbridge_recorder.calls)
    stats = pmbridge_bridge.book.stats()
    duplicate = {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "fs": "UM",
        "E": latest.event_time,
        "T": latest.transaction_time,
        "ac": {"s": "BTCUSDT", "l": 30},
    }
    stale = {**duplicate, "E": latest.event_time - 5000, "ac": {"s": "BTCUSDT", "l": 3}}
    await pmbridge_sim.push_frames([duplicate, stale, "{not json", {"e": "BRAND_NEW", "E": 1}])
    await pmbridge_recorder.wait_for(
        lambda: (
            pmbridge_bridge.book.stats().duplicates > stats.duplicates
            and pmbridge_bridge.book.stats().stale > stats.stale
        ),
        what="the duplicate and the stale frame to be counted",
    )
    assert pmbridge_recorder.calls[before:] == []
    assert pmbridge_bridge.book.leverage("BTCUSDT") == 30
    diagnostics = pmbridge_bridge.diagnostics()
    assert diagnostics["stream"]["decode_errors"] == 1
    assert diagnostics["stream"]["unknown_event_types"] == {"BRAND_NEW": 1}


@pytest.mark.parametrize(("status", "code"), [(429, None), (503, None), (400, -1021)])
async def test_rest_storms_are_ridden_out(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, status: int, code: int | None
) -> None:
    await pmbridge_sim.set_leverage("ETHUSDT", 15)  # drift the next reconcile must find
    await pmbridge_sim.fail(status, 3, code=code, retry_after=0.1 if status == 429 else None)
    report = await pmbridge_bridge.reconcile_now()
    assert report.rest_calls == 5 + 3  # five snapshot calls (3 leverage and flags, 2 positions), three retried
    assert pmbridge_bridge.book.leverage("ETHUSDT") == 15


async def test_418_waits_out_the_ban(pmbridge_sim: Simulator, pmbridge_bridge: Bridge) -> None:
    await pmbridge_sim.fail(418, 1, retry_after=1)
    started = time.monotonic()
    await pmbridge_bridge.reconcile_now()
    assert time.monotonic() - started >= 1.0


async def test_bad_credentials_stop_with_a_message_that_says_what_to_check(pmbridge_sim: Simulator) -> None:
    config = BridgeConfig.from_mapping(
        {"base_url": pmbridge_sim.base_url}, api_key=pmbridge_sim.api_key, api_secret="wrong" * 13
    )
    bridge = Bridge(config, pm=create_plugin_manager(load_entrypoints=False))
    with pytest.raises(SetupFailed) as caught:
        await bridge.start(ready_timeout=10)
    message = str(caught.value)
    assert "-1022" in message and "secret" in message
    assert pmbridge_sim.api_key not in message
    config = BridgeConfig.from_mapping(
        {"base_url": pmbridge_sim.base_url}, api_key="X" * 64, api_secret=pmbridge_sim.api_secret
    )
    with pytest.raises(SetupFailed, match="-2015"):
        await Bridge(config, pm=create_plugin_manager(load_entrypoints=False)).start(ready_timeout=10)


async def test_a_thousand_symbols_resync_in_five_calls() -> None:
    async with Simulator(symbols=1000) as sim:
        recorder = HookRecorder()
        async with running_bridge(sim, recorder) as bridge:
            assert len(bridge.book) == len(sim.state()["leverage"]["UM"]) + len(sim.state()["leverage"]["CM"])
            assert len(bridge.book) >= 1000
            report = await bridge.reconcile_now()
            # Leverage and flags (3) and positions, UM and CM (2), whatever the number of symbols.
            assert report.rest_calls == 5
            assert report.symbols >= 1000


async def test_rotation_before_the_24h_cut_loses_nothing_and_repeats_nothing() -> None:
    speed = 14_400.0  # 24 simulated hours in 6 real seconds
    async with Simulator(symbols=8, clock_speed=speed) as sim:
        recorder = HookRecorder()
        async with running_bridge(sim, recorder, time_scale=speed) as bridge:
            coordinator = bridge.coordinator
            assert coordinator is not None
            sent = []
            deadline = time.monotonic() + 8.0  # spans the rotation at 23 simulated hours
            leverage = 1
            while time.monotonic() < deadline:
                leverage = leverage % 40 + 1
                await sim.set_leverage("BTCUSDT", leverage)
                sent.append(leverage)
                await asyncio.sleep(0.05)
            await recorder.wait_for(lambda: bridge.book.leverage("BTCUSDT") == sent[-1], what="the last change")
            assert coordinator.stream.rotations >= 1
            streamed = [c.new for c in recorder.leverage_changes("stream") if c.exchange_symbol == "BTCUSDT"]
            assert streamed == sent, "every change exactly once, in order"
            assert recorder.leverage_changes("reconcile") == []


async def test_idle_account_for_three_simulated_days_still_delivers_the_next_change() -> None:
    speed = 8_640.0  # three simulated days in 30 real seconds
    async with Simulator(symbols=8, clock_speed=speed) as sim:
        recorder = HookRecorder()
        async with running_bridge(sim, recorder, time_scale=speed) as bridge:
            started = sim.state()["time_ms"]
            while sim.state()["time_ms"] - started < 3 * 86_400_000:
                await asyncio.sleep(0.5)
            coordinator = bridge.coordinator
            assert coordinator is not None
            assert coordinator.stream.keepalives > 100 and coordinator.stream.rotations >= 2
            await recorder.wait_for(lambda: bridge.available, what="the stream to be up")
            sent_at = time.monotonic()
            await sim.set_leverage("ETHUSDT", 42)
            await recorder.wait_for_leverage("ETHUSDT", 42, "stream", timeout=1.0)
            assert time.monotonic() - sent_at < 1.0


async def test_secrets_never_reach_diagnostics(pmbridge_sim: Simulator, pmbridge_bridge: Bridge) -> None:
    dump = repr(pmbridge_bridge.diagnostics())
    assert pmbridge_sim.api_key not in dump and pmbridge_sim.api_secret not in dump
    assert "**REDACTED**" in dump


async def test_fixed_cadence_reconcile_is_not_reset_by_pushes(pmbridge_sim: Simulator) -> None:
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder, reconcile_interval=0.4):
        started = time.monotonic()
        leverage = 1
        while time.monotonic() - started < 2.1:  # a push every 50 ms: a resetting timer would never fire
            leverage = leverage % 20 + 1
            await pmbridge_sim.set_leverage("BNBUSDT", leverage)
            await asyncio.sleep(0.05)
        interval = [r for r in recorder.of("pmbridge_reconciled") if r.trigger == "interval"]
        assert 4 <= len(interval) <= 6
        assert all(r.rest_calls == 5 and r.source == "reconcile" for r in interval)
        await recorder.wait_for_leverage("BNBUSDT", leverage)
        assert recorder.leverage_changes("reconcile") == []  # nothing drifted: the stream carried every change


async def test_a_frame_dated_far_ahead_is_dropped_and_cannot_freeze_a_symbol(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder
) -> None:
    # One corrupt digit in E (year 2274): applied, it would make every real BTCUSDT event look stale until restart.
    bogus = {"e": "ACCOUNT_CONFIG_UPDATE", "fs": "UM", "E": 9_611_646_737_479, "T": 1, "ac": {"s": "BTCUSDT", "l": 77}}
    await pmbridge_sim.push_frames([bogus, {**bogus, "E": 2**63 - 1}])
    await pmbridge_sim.set_leverage("BTCUSDT", 3)
    await pmbridge_recorder.wait_for_leverage("BTCUSDT", 3, source="stream")
    await pmbridge_sim.set_leverage("BTCUSDT", 7)
    await pmbridge_recorder.wait_for_leverage("BTCUSDT", 7, source="stream")
    assert 77 not in [c.new for c in pmbridge_recorder.leverage_changes()]
    assert pmbridge_bridge.diagnostics()["stream"]["future_events"] == 2


async def test_a_bug_applying_one_frame_costs_that_frame_not_the_stream(
    pmbridge_sim: Simulator, pmbridge_bridge: Bridge, pmbridge_recorder: HookRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = pmbridge_bridge.book
    real_apply = book.apply
    calls = 0

    def apply_failing_once(event: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the book")
        return real_apply(event)  # type: ignore[arg-type]

    monkeypatch.setattr(book, "apply", apply_failing_once)
    await pmbridge_sim.set_leverage("BTCUSDT", 11)  # lost to the bug
    await pmbridge_sim.set_leverage("ETHUSDT", 12)  # the stream goes on
    await pmbridge_recorder.wait_for_leverage("ETHUSDT", 12, source="stream")
    assert pmbridge_bridge.available
    assert pmbridge_bridge.diagnostics()["stream"]["frame_failures"] == 1
    report = await pmbridge_bridge.reconcile_now()  # and the reconcile restores what the bug cost
    assert [(c.exchange_symbol, c.new) for c in report.changes] == [("BTCUSDT", 11)]


async def test_an_unexpected_error_in_the_stream_stops_the_bridge_visibly(
    pmbridge_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmbridge.stream import UserStream

    async def broken(self: UserStream) -> None:
        raise RuntimeError("a bug in the stream")

    monkeypatch.setattr(UserStream, "run", broken)
    recorder = HookRecorder()
    with pytest.raises(SetupFailed, match="internal error in the user stream: RuntimeError: a bug in the stream"):
        async with running_bridge(pmbridge_sim, recorder):
            pass
    assert [s.reason for s in recorder.of("pmbridge_shutdown")] == [
        "fatal: internal error in the user stream: RuntimeError: a bug in the stream"
    ]


async def test_a_read_only_bridge_writes_nothing(pmbridge_sim: Simulator) -> None:
    """read_only (a Freqtrade dry run sets it): set_leverage is refused before anything is sent."""
    from pmbridge.errors import ReadOnly

    async with running_bridge(pmbridge_sim, read_only=True) as bridge:
        calls_before = bridge.rest.calls
        with pytest.raises(ReadOnly, match=r"set_leverage\(ETHUSDT, 7\) was not sent: this bridge is read-only"):
            await bridge.set_leverage("UM", "ETHUSDT", 7)
        assert bridge.rest.calls == calls_before
        assert bridge.book.leverage("ETHUSDT") == pmbridge_sim.state()["leverage"]["UM"]["ETHUSDT"] != 7
        assert not bridge.intents, "no intent left behind for a write that never happened"
