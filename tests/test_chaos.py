"""Chaos: seeded fault schedules against the simulator (``pmbridge.sim.chaos``), and proof that its checks bite.

The CI schedules are seeds 0..len(FAULT_KINDS)-1: each seed focuses on one fault kind, so together they contain every
kind, and the effect counters show each one really happened. ``bench/chaos.py`` runs any number of schedules.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import pmbridge.book
from pmbridge.sim.chaos import (
    EXERCISED_BY,
    FAULT_KINDS,
    GAP_KINDS,
    Announcement,
    ChaosRunner,
    Schedule,
    ScheduleResult,
    TrueValue,
    check_announcements,
    generate,
)
from pmbridge.sim.chaos.steps import (
    CHANGE_KINDS,
    CHAOS_SYMBOLS,
    PLACEMENTS,
    SIM_SYMBOLS,
    DuplicateFrame,
    Pause,
    SetLeverage,
    StaleFrame,
)
from pmbridge.sim.market.catalogue import Catalogue

CI_SEEDS = range(len(FAULT_KINDS))
E1, E2, E3 = 1_700_000_000_001, 1_700_000_000_005, 1_700_000_000_009
TRUTH = [TrueValue(None, None, 20), TrueValue(E1, E1 - 2, 5), TrueValue(E2, E2 - 2, 7), TrueValue(E3, E3 - 2, 20)]


def snapshot(old: int | None, new: int, source: str = "reconcile") -> Announcement:
    return Announcement(source, None, None, old, new)


def pushed(event_ms: int, old: int | None, new: int) -> Announcement:
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


def test_any_fifteen_consecutive_seeds_place_every_change_kind_around_every_gap() -> None:
    wanted = {f"{gap}:{where}:{kind}" for gap in GAP_KINDS for where in PLACEMENTS for kind in CHANGE_KINDS}
    assert len(wanted) == 45
    for start in (0, 1_000, 77_777):
        tags = set().union(*(generate(seed).tags for seed in range(start, start + 15)))
        assert wanted <= tags, sorted(wanted - tags)


def test_the_chaos_symbols_exist_in_the_simulator_with_their_brackets() -> None:
    contracts = Catalogue(SIM_SYMBOLS).contracts
    for unit, symbol, maximum in CHAOS_SYMBOLS:
        assert (contracts[symbol].unit, contracts[symbol].max_leverage) == (unit, maximum)


# -- the checker --------------------------------------------------------------------------------------------------
def test_the_checker_accepts_gaps_skipped_by_a_snapshot() -> None:
    honest = [snapshot(None, 20, "snapshot"), pushed(E1, 20, 5), snapshot(5, 20)]  # 7 was lost in a gap
    assert check_announcements("UM:BTCUSDT", honest, TRUTH) == []
    assert check_announcements("UM:BTCUSDT", [snapshot(None, 20, "snapshot")], TRUTH[:1]) == []


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


def test_threads_do_not_grow_across_schedules(ci_runs: tuple[list[ScheduleResult], list[int]]) -> None:
    _, threads = ci_runs
    assert max(threads) == threads[0], threads
