"""LeverageBook: ordering by (E, T), snapshots ordered by receipt, counts, and lock-free reads from other threads."""

from __future__ import annotations

import threading
import time

from pmbridge import AccountConfigUpdate, AccountModeChange, LeverageBook, LeverageChange, Snapshot, SymbolMap


def lev(symbol: str, leverage: int, e: int, t: int | None = None, unit: str = "UM") -> AccountConfigUpdate:
    return AccountConfigUpdate(unit, e, t, symbol, leverage, None)  # type: ignore[arg-type]


def multi(value: bool, e: int) -> AccountConfigUpdate:
    return AccountConfigUpdate("UM", e, None, None, None, value)


def test_first_event_is_a_change_from_none() -> None:
    book = LeverageBook()
    assert book.apply(lev("BTCUSDT", 20, 100, 99)) == (LeverageChange("UM", "BTCUSDT", None, 20, "stream", 100, 99),)
    assert book.leverage("BTCUSDT") == 20
    entry = book.get("BTCUSDT")
    assert entry is not None
    assert (entry.leverage, entry.event_time, entry.transaction_time, entry.source) == (20, 100, 99, "stream")


def test_newer_event_changes_older_is_stale_same_is_duplicate() -> None:
    book = LeverageBook()
    book.apply(lev("BTCUSDT", 20, 100))
    assert book.apply(lev("BTCUSDT", 25, 200)) == (LeverageChange("UM", "BTCUSDT", 20, 25, "stream", 200, None),)
    assert book.apply(lev("BTCUSDT", 10, 150)) == ()  # older by E: stale
    assert book.apply(lev("BTCUSDT", 25, 200)) == ()  # the same frame again
    assert book.leverage("BTCUSDT") == 25
    stats = book.stats()
    assert (stats.events, stats.stale, stats.duplicates) == (4, 1, 1)


def test_transaction_time_breaks_event_time_ties() -> None:
    book = LeverageBook()
    book.apply(lev("ETHUSDT", 5, 100, 50))
    assert book.apply(lev("ETHUSDT", 6, 100, 40)) == ()
    assert book.stats().stale == 1
    assert [c.new for c in book.apply(lev("ETHUSDT", 7, 100, 60))] == [7]  # type: ignore[union-attr]


def test_newer_event_with_the_same_value_is_no_change_but_moves_the_floor() -> None:
    book = LeverageBook()
    book.apply(lev("BTCUSDT", 20, 100))
    assert book.apply(lev("BTCUSDT", 20, 300)) == ()
    assert book.apply(lev("BTCUSDT", 50, 200)) == ()  # older than the confirmation at 300
    assert book.leverage("BTCUSDT") == 20


def test_units_are_separate_books() -> None:
    book = LeverageBook()
    book.apply(lev("BTCUSD_PERP", 10, 100, unit="CM"))
    book.apply(lev("BTCUSDT", 30, 100))
    assert book.leverage("BTCUSD_PERP") == 10  # unit from the symbol's shape
    assert book.leverage("BTCUSDT", "UM") == 30
    assert book.get("BTCUSD_PERP", "UM") is None


def test_multi_assets_flag_ordering() -> None:
    book = LeverageBook()
    assert book.apply(multi(True, 100)) == (AccountModeChange("multi_assets", None, True, "stream", 100),)
    assert book.apply(multi(False, 50)) == ()
    assert book.apply(multi(True, 100)) == ()
    assert book.multi_assets is True
    assert book.apply(multi(False, 150)) == (AccountModeChange("multi_assets", True, False, "stream", 150),)


def test_frame_with_both_fills_both() -> None:
    book = LeverageBook()
    changes = book.apply(AccountConfigUpdate("UM", 100, 99, "ETHUSDT", 10, False))
    assert [type(c).__name__ for c in changes] == ["LeverageChange", "AccountModeChange"]


def test_snapshot_fills_and_reports_changes_from_none() -> None:
    book = LeverageBook()
    mark = book.mark()
    snap = Snapshot({"UM": {"BTCUSDT": 20, "ETHUSDT": 10}, "CM": {"BTCUSD_PERP": 5}}, False, True)
    changes = book.apply_snapshot(snap, requested_at=mark)
    assert len(changes) == 5
    assert LeverageChange("CM", "BTCUSD_PERP", None, 5, "snapshot", None) in changes
    assert AccountModeChange("dual_side_position", None, True, "snapshot", None) in changes
    assert book.apply_snapshot(snap, requested_at=book.mark(), source="reconcile") == ()  # no drift, no change


def test_snapshot_never_overwrites_an_event_received_after_it_was_requested() -> None:
    book = LeverageBook()
    book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 20, "ETHUSDT": 10}}), requested_at=book.mark())
    mark = book.mark()  # the REST request goes out here...
    book.apply(lev("BTCUSDT", 50, 1000))  # ...a fresher event arrives while it is in flight...
    book.apply(multi(True, 1001))
    stale_view = Snapshot({"UM": {"BTCUSDT": 20, "ETHUSDT": 12}}, multi_assets=False)
    changes = book.apply_snapshot(stale_view, requested_at=mark, source="reconcile")
    assert changes == (LeverageChange("UM", "ETHUSDT", 10, 12, "reconcile", None),)
    assert book.leverage("BTCUSDT") == 50
    assert book.multi_assets is True
    assert book.stats().kept_newer == 2


def test_snapshot_drift_keeps_the_event_time_floor_so_late_copies_stay_stale() -> None:
    book = LeverageBook()
    book.apply(lev("BTCUSDT", 10, 100))
    # A change to 20 was lost in a gap; reconcile finds it.
    changes = book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 20}}), requested_at=book.mark(), source="reconcile")
    assert changes == (LeverageChange("UM", "BTCUSDT", 10, 20, "reconcile", None),)
    # The old frame replayed by an overlapping connection must not bring 10 back.
    assert book.apply(lev("BTCUSDT", 10, 100)) == ()
    assert book.leverage("BTCUSDT") == 20
    # A genuinely newer event still wins over the snapshot value.
    assert book.apply(lev("BTCUSDT", 30, 101))[0].new == 30  # type: ignore[union-attr]


def test_unified_symbols_with_market_metadata() -> None:
    symbols = SymbolMap([("UM", "BTCUSDT", "BTC/USDT:USDT"), ("CM", "BTCUSD_PERP", "BTC/USD:BTC")])
    book = LeverageBook(symbols)
    (change,) = book.apply(lev("BTCUSDT", 20, 100))
    assert change.symbol == "BTC/USDT:USDT"  # type: ignore[union-attr]
    assert book.leverage("BTC/USDT:USDT") == 20
    assert book.leverage("ETH/USDT:USDT") is None


def test_readers_on_other_threads_never_see_a_torn_entry_nor_block_the_writer() -> None:
    """Real threads: readers hammer get()/entries() while the writer applies; every entry read is self-consistent."""
    book = LeverageBook()
    symbols = [f"S{i:04d}USDT" for i in range(200)]
    stop = threading.Event()
    problems: list[str] = []
    reads = [0, 0]

    def reader(index: int) -> None:
        while not stop.is_set():
            for symbol in symbols[::7]:
                entry = book.get(symbol)
                # The writer always sets leverage = event_time % 100 + 1: a torn entry would break it.
                if entry is not None and entry.leverage != (entry.event_time or 0) % 100 + 1:
                    problems.append(f"torn {symbol}: {entry}")
            for entry in book.entries().values():
                if entry.leverage != (entry.event_time or 0) % 100 + 1:
                    problems.append(f"torn in copy: {entry}")
            reads[index] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    writes = 0
    for e in range(1, 30_001):
        book.apply(lev(symbols[e % len(symbols)], e % 100 + 1, e))
        writes += 1
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    assert problems == []
    assert writes == 30_000 and min(reads) > 0
    assert len(book) == 200
    # Readers never hold a lock the writer needs: 30k applies with two readers spinning stay far below a second each.
    assert elapsed < 30


def test_an_older_snapshot_applied_after_a_newer_one_is_skipped_whole() -> None:
    # Chaos seed 827: a slow manual snapshot (requested first, read False) landed after the reconnect's snapshot
    # (requested later, read True, which only confirmed the book): it must not put the stale False back.
    book = LeverageBook()
    book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 20}}, multi_assets=True), requested_at=book.mark())
    older = book.mark()
    book.apply(lev("ETHUSDT", 5, 10))  # received between the two requests
    newer = book.mark()
    assert book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 20}}, multi_assets=True), requested_at=newer) == ()
    assert book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 7}}, multi_assets=False), requested_at=older) == ()
    assert book.multi_assets is True and book.leverage("BTCUSDT", "UM") == 20
    assert book.stats().superseded == 1


def test_a_newer_snapshot_replaces_what_an_older_one_wrote() -> None:
    book = LeverageBook()
    older = book.mark()
    book.apply(lev("ETHUSDT", 5, 10))
    newer = book.mark()
    book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 7}}), requested_at=older)
    changes = book.apply_snapshot(Snapshot({"UM": {"BTCUSDT": 9}}), requested_at=newer)
    assert [(c.exchange_symbol, c.old, c.new) for c in changes] == [("BTCUSDT", 7, 9)]


def test_the_hot_path_builds_the_same_change_as_the_constructor() -> None:
    """The book builds live changes without attrs' __init__: every field, defaults included, as the constructor."""
    import attrs

    from pmbridge.models import LeverageChange, stream_leverage_change

    fast = stream_leverage_change("UM", "BTCUSDT", 10, 20, 1_700_000_000_000, 1_699_999_999_999, "BTC/USDT:USDT")
    slow = LeverageChange("UM", "BTCUSDT", 10, 20, "stream", 1_700_000_000_000, 1_699_999_999_999, "BTC/USDT:USDT")
    assert fast == slow and repr(fast) == repr(slow)
    for field in attrs.fields(LeverageChange):
        assert getattr(fast, field.name) == getattr(slow, field.name), field.name
    assert set(vars(fast)) == {field.name for field in attrs.fields(LeverageChange)}
    assert attrs.evolve(fast, origin="self").origin == "self"
