"""Fuzzing, the fast slice: 20,000 seeded frames through decode() and a started bridge's frame path.

``bench/fuzz.py`` runs the same generator for 10^6 frames and over a live websocket; this keeps the suite honest
in seconds. The generator lives in ``bench/fuzzlib.py`` (shared with the bench, no part of the package).
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import fuzzlib

from pmbridge.sim import Simulator
from pmbridge.testing import running_bridge

FRAMES = 20_000
SEED = 20_260_601


def test_the_same_seed_gives_the_same_frames() -> None:
    first = list(fuzzlib.FrameFuzzer(SEED).frames(500))
    assert first == list(fuzzlib.FrameFuzzer(SEED).frames(500))
    assert first != list(fuzzlib.FrameFuzzer(SEED + 1).frames(500))


async def test_fuzzed_frames_raise_only_decode_errors_and_never_crash_the_bridge(pmbridge_sim: Simulator) -> None:
    recorder, reader = fuzzlib.LastValueRecorder(), fuzzlib.BookReader()
    async with running_bridge(pmbridge_sim, recorder, reader) as bridge:
        result = await fuzzlib.fuzz_bridge(bridge, fuzzlib.FrameFuzzer(SEED).frames(FRAMES))

        assert result["exceptions_other_than_decode_error"] == 0, result["reproducers"]
        assert result["fast_path_disagrees_with_reference"] == 0, result["disagreements"]
        assert result["coordinator_crashes"] == 0, result["crash_reproducers"]
        assert result["loop_error_count"] == 0, result["loop_errors"]
        assert bridge.pm.error_counts() == {}
        assert result["settled"], "the bridge did not reconnect and resync after the run"
        assert fuzzlib.check_book(bridge.book, result["applied_expected"]) == []
        assert fuzzlib.hooks_agree(bridge.book, recorder) == []
        assert fuzzlib.differences_from(bridge.book, pmbridge_sim.state()) == []

    # The fuzzer really fuzzed: every kind of outcome, many rejects, and frames that were valid but not news.
    outcomes = result["outcomes"]
    accepted = sum(outcomes.get(name, 0) for name in fuzzlib.OK_OUTCOMES)
    assert accepted > 0.2 * FRAMES
    assert outcomes["decode_error"] > 0.3 * FRAMES
    assert all(outcomes.get(name, 0) > 0 for name in (*fuzzlib.OK_OUTCOMES, "unknown_event"))
    assert set(result["families"]) == set(fuzzlib.FAMILIES)
    for family in ("adversarial", "json", "byte", "havoc"):
        assert result["families"][family].get("decode_error", 0) > 0, family
    book, stream = result["book"], result["stream"]
    assert book["stale"] > 100 and book["duplicates"] > 10
    assert book["events"] == result["applied_expected"] > 0.2 * FRAMES
    assert stream["key_renewals"] > 0 and stream["resyncs"] > 1  # listenKeyExpired and "config changed" frames
    assert recorder.calls["pmbridge_leverage_changed"] > 100 and reader.reads > 100
