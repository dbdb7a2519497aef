"""Chaos: seeded fault schedules against the simulator (``pmbridge.sim.chaos``), and proof that its checks bite.

The CI schedules are seeds 0..len(FAULT_KINDS)-1: each seed focuses on one fault kind, so together they contain every
kind (the position faults included: trades in the app around gaps, duplicate and out-of-order ACCOUNT_UPDATEs), and the
effect counters show each one really happened. ``bench/chaos.py`` runs any number of schedules.
"""

from __future__ import annotations

import asyncio
import random
import threading
from decimal import Decimal

import pytest

import pmbridge.book
from pmbridge.sim.chaos import (
    EXERCISED_BY,
    FAULT_KINDS,
    FLAT,
    GAP_KINDS,
    Announcement,
    ChaosRunner,
    PositionValue,
    Schedule,
    ScheduleResult,
    TrueValue,
    Value,
    check_announcements,
    check_positions,
    generate,
)
from pmbridge.sim.chaos.steps import (
    CHANGE_KINDS,
    CHAOS_SYMBOLS,
    PLACEMENTS,
    SIM_SYMBOLS,
    DuplicateFrame,
    DuplicatePosition,
    Pause,
    SetLeverage,
    StaleFrame,
    StalePosition,
    Trade,
)
from pmbridge.sim.chaos.trades import TRADED, TradePlanner
from pmbridge.sim.market.catalogue import Catalogue

CI_SEEDS = range(len(FAULT_KINDS))
E1, E2, E3 = 1_700_000_000_001, 1_700_000_000_005, 1_700_000_000_009
TRUTH = [TrueValue(None, None, 20), TrueValue(E1, E1 - 2, 5), TrueValue(E2, E2 - 2, 7), TrueValue(E3, E3 - 2, 20)]
LONG, LONGER = PositionValue(Decimal("0.003"), Decimal("60000.1")), PositionValue(Decimal("0.005"), Decimal("60400.1"))
POSITION = [TrueValue(None, None, FLAT), TrueValue(E1, E1 - 2, LONG), TrueValue(E3, E3 - 2, LONGER)]


def snapshot(old: Value | None, new: Value, source: str = "reconcile") -> Announcement:
    return Announcement(source, None, None, old, new)


def pushed(event_ms: int, old: Value | None, new: Value) -> Announcement:
    return Announcement("stream", event_ms, event_ms - 2, old, new)


def own_threads() -> int:
    return sum(not t.name.startswith("asyncio_") for t in threading.enumerate())


@pytest.fixture(scope="module")
def ci_runs() -> tuple[list[ScheduleResult], list[int]]:
    """Every CI schedule, run once, one after another on one loop; and the thread count after each."""

    async def run_all() -> tuple[list[ScheduleResult], list[int]]:
        runner = ChaosRunner()
        results, threads = [], [own_threads()]
        for seed in CI_SEEDS:
            results.append(await runner.run(generate(seed)))
            threads.append(own_threads())
        return results, threads

    return asyncio.run(run_all())


# -- the generator ------------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_printable_schedule() -> None:
    schedule = generate(424_242)
    assert generate(424_242) == schedule
    assert generate(424_243) != schedule
    text = schedule.describe()
    assert text == generate(424_242).describe()
    assert text.splitlines()[0].startswith("chaos schedule seed=424242:")
    assert text.splitlines()[1].startswith("  1. ") and len(text.splitlines()) == len(schedule.steps) + 1


def test_every_fault_kind_is_the_focus_of_one_ci_seed() -> None:
    for seed in CI_SEEDS:
        assert generate(seed).kinds()[FAULT_KINDS[seed % len(FAULT_KINDS)]] > 0, seed
    covered = set().union(*(generate(seed).kinds() for seed in CI_SEEDS))
    assert covered == set(FAULT_KINDS)


def test_any_twenty_consecutive_seeds_place_every_change_kind_around_every_gap() -> None:
    wanted = {f"{gap}:{where}:{kind}" for gap in GAP_KINDS for where in PLACEMENTS for kind in CHANGE_KINDS}
    assert len(wanted) == 60  # trades (fills and ACCOUNT_UPDATEs) before, inside and after every kind of gap too
    for start in (0, 1_000, 77_777):
        tags = set().union(*(generate(seed).tags for seed in range(start, start + 20)))
        assert wanted <= tags, sorted(wanted - tags)


def test_the_chaos_symbols_exist_in_the_simulator_with_their_brackets() -> None:
    contracts = Catalogue(SIM_SYMBOLS).contracts
    for unit, symbol, maximum in CHAOS_SYMBOLS:
        assert (contracts[symbol].unit, contracts[symbol].max_leverage) == (unit, maximum)
    assert {symbol for unit, symbol, _ in CHAOS_SYMBOLS if unit == "UM"} >= set(TRADED)


def test_planned_trades_open_grow_reduce_flip_and_close_orders_the_venue_accepts() -> None:
    planner, contracts = TradePlanner(random.Random(7)), Catalogue(SIM_SYMBOLS).contracts
    intents = set()
    for _ in range(400):
        before = dict(planner.amounts)
        trade = planner.next()
        intents.add(trade.intent)
        filters, amount = contracts[trade.symbol].filters, before[trade.symbol]
        assert trade.quantity > 0 and trade.quantity % filters.step == 0, trade
        if trade.intent in ("reduce", "close"):
            assert trade.quantity <= abs(amount) and amount != 0, trade  # reduce-only: exempt from the notional
        else:
            assert trade.quantity * trade.price >= filters.min_notional, trade
        assert abs(planner.amounts[trade.symbol]) <= TRADED[trade.symbol].cap + max(TRADED[trade.symbol].lots)
    assert intents == {"open", "grow", "reduce", "flip", "close"}


# -- the checker --------------------------------------------------------------------------------------------------
def test_the_checker_accepts_gaps_skipped_by_a_snapshot() -> None:
    honest = [snapshot(None, 20, "snapshot"), pushed(E1, 20, 5), snapshot(5, 20)]  # 7 was lost in a gap
    assert check_announcements("UM:BTCUSDT", honest, TRUTH) == []
    assert check_announcements("UM:BTCUSDT", [snapshot(None, 20, "snapshot")], TRUTH[:1]) == []


def test_the_position_checker_starts_flat_and_accepts_repeats_of_the_current_value() -> None:
    assert check_positions({}, {"BTCUSDT:BOTH": [TrueValue(None, None, FLAT)]}) == []  # never opened, never announced
    honest = [pushed(E1, FLAT, LONG), pushed(E3, LONG, LONGER)]
    assert check_positions({"BTCUSDT:BOTH": honest}, {"BTCUSDT:BOTH": POSITION}) == []
    # The open lost in a gap; a funding fee at E2 repeats the open position (no record of its own), then the rest.
    repeated = [pushed(E2, FLAT, LONG), pushed(E3, LONG, LONGER)]
    assert check_positions({"BTCUSDT:BOTH": repeated}, {"BTCUSDT:BOTH": POSITION}) == []
    assert check_positions({"BTCUSDT:BOTH": [snapshot(FLAT, LONGER)]}, {"BTCUSDT:BOTH": POSITION}) == []


@pytest.mark.parametrize(
    ("announced", "words"),
    [
        ([pushed(E3, FLAT, LONGER), pushed(E1, LONGER, LONG)], "stale"),  # the older update applied after
        ([pushed(E1, FLAT, LONG), pushed(E1, LONG, LONG)], "announces no change"),
        ([pushed(E2, FLAT, LONGER)], "invented: the exchange held"),  # E2 repeats LONG, not LONGER
        ([pushed(E1, FLAT, LONGER)], "invented: the exchange pushed"),
        ([pushed(E1, FLAT, LONG), snapshot(FLAT, LONGER)], "old should be"),  # a move the hooks never heard of
        ([pushed(E1, FLAT, LONG)], "the last announced value is 0.003@60000.1"),
        ([], "the last announced value is flat"),  # a position the hooks never heard of
    ],
)
def test_the_position_checker_names_what_is_wrong(announced: list[Announcement], words: str) -> None:
    problems = check_positions({"BTCUSDT:BOTH": announced}, {"BTCUSDT:BOTH": POSITION})
    assert any(words in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("announced", "words"),
    [
        # E2 is announced, then the older E1 arrives and is announced as if it were news
        ([snapshot(None, 20, "snapshot"), pushed(E2, 20, 7), pushed(E1, 7, 5), pushed(E3, 5, 20)], "stale"),
        # a snapshot that reads 7, then the buffered E1 and E2 drained on top of it (the shape of seed 51)
        ([snapshot(None, 20, "snapshot"), snapshot(20, 7), pushed(E1, 7, 5), pushed(E2, 5, 7)], "stale"),
        ([snapshot(None, 20, "snapshot"), pushed(E1, 20, 5), pushed(E1, 5, 5)], "duplicated"),
        ([snapshot(None, 20, "snapshot"), pushed(E1, 20, 6)], "invented"),  # E1 set 5, not 6
        ([snapshot(None, 20, "snapshot"), pushed(E1 + 1, 20, 5)], "invented"),  # nothing was pushed at E1+1
        ([snapshot(None, 20, "snapshot"), snapshot(20, 9)], "invented"),
        ([snapshot(None, 20, "snapshot"), pushed(E1, 20, 5), pushed(E3, 7, 20)], "old should be"),
        ([snapshot(None, 20, "snapshot"), pushed(E1, 20, 5)], "the last announced value is 5"),
        ([], "never announced"),
    ],
)
def test_the_checker_names_what_is_wrong(announced: list[Announcement], words: str) -> None:
    problems = check_announcements("UM:BTCUSDT", announced, TRUTH)
    assert any(words in problem for problem in problems), problems


async def test_a_book_that_applies_stale_frames_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # A deliberate regression: the book's ordering rule is replaced by "everything is newer". No real part can be
    # made to regress on purpose, so this one seam is patched; the frames, hooks and checks are all real.
    monkeypatch.setattr(pmbridge.book.leverage, "_order", lambda *_: 1)
    steps = (
        SetLeverage("UM", "ETHUSDT", 30),
        Pause(40),
        DuplicateFrame("ETHUSDT", copies=1, envelope=False),
        Pause(20),
        StaleFrame("ETHUSDT", invented=True),
        Pause(40),
    )
    result = await ChaosRunner(settle_timeout=0.5).run(Schedule(seed=900_001, steps=steps))
    assert not result.ok
    text = "\n".join(result.violations)
    assert "invented" in text  # the stale frame's made-up value was announced
    assert "1 out-of-order frames reached the bridge, the book counted 0" in text
    assert "1 duplicate frames reached the bridge, the book counted 0" in text  # re-applied (same value: no hook)
    assert not result.converged  # the book kept the made-up value


async def test_a_position_book_that_applies_stale_updates_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same deliberate regression in the position book: its (E, T) ordering replaced by "everything is newer".
    monkeypatch.setattr(pmbridge.book.positions, "order", lambda *_: 1)
    steps = (
        Trade("BTCUSDT", "BUY", Decimal("0.003"), 60_000, "open"),
        Pause(40),
        Trade("BTCUSDT", "BUY", Decimal("0.002"), 61_000, "grow"),
        Pause(60),
        DuplicatePosition("BTCUSDT", copies=1, envelope=False),
        Pause(20),
        StalePosition("BTCUSDT", invented=False),
        Pause(20),
        StalePosition("BTCUSDT", invented=True),
        Pause(60),
    )
    result = await ChaosRunner(settle_timeout=0.5).run(Schedule(seed=900_002, steps=steps))
    assert not result.ok
    text = "\n".join(result.violations)
    assert "stale: a later value" in text  # the true older amount, announced again from the stream
    assert "invented: the exchange held" in text  # the made-up amount
    assert "2 out-of-order position frames reached the bridge, the book counted 0" in text
    assert "1 duplicate position frames reached the bridge, the book counted 0" in text


# -- seeds that found bugs (each reproduced on the code before its fix; a change to the generator re-deals them) --
@pytest.mark.parametrize(
    "seed",
    [
        # The coordinator applied a snapshot, then drained the events buffered while it was in flight on top of it:
        # hooks saw a stale value and the snapshot's value twice (6 out of 6 runs).
        51,
        # Bridge.stop() left a resync in flight running: it outlived the bridge, retrying a closed client forever.
        75,
        # Two snapshots overlapped and the older reading was applied last, over a value the newer one had confirmed:
        # the book kept a stale multi-assets flag until the next interval reconcile (2 runs out of 3).
        827,
        # A rotation that got a new listenKey (the old one had died silently) was taken for gapless: never resynced.
        # (The other stream.py bug, a rotation's retiring socket outliving stop(), shows up in several CI seeds.)
        191,
        # Found by the position faults (3 runs out of 3 each on the code before the fix):
        # A read-back found the position already moved on (the trade after the one it was reading back for was lost
        # in a gap); the book took it but the hooks were never told, because the read's change of a position with a
        # held change was dropped: the next announcement's old did not match (36), or a close lost in a day-long
        # suspension was never announced at all (139).
        36,
        139,
        # A manual reconcile held up by a 418 had read the positions before a close; a newer resync read them flat
        # and wrote nothing (the book had the position flat too), then the older reading landed and reopened the
        # position: the book never converged and hooks announced a position the exchange had closed.
        168,
    ],
)
async def test_seeds_that_found_bugs(seed: int) -> None:
    result = await ChaosRunner().run(generate(seed))
    assert result.ok, result.violations


# -- the CI schedules ---------------------------------------------------------------------------------------------
def test_ci_schedules_settle_with_every_invariant_intact(ci_runs: tuple[list[ScheduleResult], list[int]]) -> None:
    results, _ = ci_runs
    failed = [r for r in results if not r.ok]
    report = "\n\n".join(f"seed {r.seed}: {'; '.join(r.violations)}\n{generate(r.seed).describe()}" for r in failed)
    assert not failed, f"reproduce with: python bench/chaos.py --schedules 1 --seed <seed>\n{report}"
    assert all(r.converged for r in results)


def test_every_fault_kind_really_happened(ci_runs: tuple[list[ScheduleResult], list[int]]) -> None:
    results, _ = ci_runs
    missing = [
        kind
        for kind in FAULT_KINDS
        if not any(r.kinds.get(kind) and r.effects.get(EXERCISED_BY[kind], 0) > 0 for r in results)
    ]
    assert missing == [], f"scheduled but never took effect: {missing}"
    assert sum(r.effects.get("stale_received", 0) + r.effects.get("duplicate_received", 0) for r in results) > 0
    # Position changes were announced from the stream, and by resyncs that found fills lost in a gap. (A read-back
    # that finds one, the rarer race, is what seeds 36 and 139 below reproduce.)
    for source in ("stream", "reconcile"):
        assert sum(r.effects.get(f"position_changes_from_{source}", 0) for r in results) > 0, source
    tags = set().union(*(generate(seed).tags for seed in CI_SEEDS))
    assert {f"{gap}:inside:trade" for gap in GAP_KINDS} <= tags


def test_threads_do_not_grow_across_schedules(ci_runs: tuple[list[ScheduleResult], list[int]]) -> None:
    _, threads = ci_runs
    assert max(threads) == threads[0], threads
