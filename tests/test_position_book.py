"""PositionBook: the ordering rules of the leverage book, for positions (no exchange: frames and readings by hand)."""

from __future__ import annotations

from decimal import Decimal

from pmbridge import LeverageBook
from pmbridge.book import PositionBook, PositionSnapshot
from pmbridge.events import AccountConfigUpdate, AccountUpdate, OrderUpdate, PositionRow
from pmbridge.models import Position

D = Decimal


def update(e: int, *rows: PositionRow, t: int | None = None, reason: str = "ORDER") -> AccountUpdate:
    return AccountUpdate(e, e - 1 if t is None else t, reason, rows)


def row(amount: str, entry: str = "60000", side: str = "BOTH", symbol: str = "BTCUSDT", **kw: object) -> PositionRow:
    return PositionRow("UM", symbol, side, D(amount), D(entry), D("0"), **kw)  # type: ignore[arg-type]


def reading(*positions: Position, symbols: frozenset[str] | None = None) -> PositionSnapshot:
    return PositionSnapshot(positions, frozenset({"UM"}), symbols)


def position(amount: str, entry: str = "60000", liquidation: str | None = "54000", **kw: object) -> Position:
    return Position(
        "UM",
        "BTCUSDT",
        "BOTH",
        D(amount),
        D(entry),
        liquidation_price=None if liquidation is None else D(liquidation),
        **kw,  # type: ignore[arg-type]
    )


def test_open_change_close_in_order_and_stale_or_duplicate_frames_fire_nothing() -> None:
    book = PositionBook(LeverageBook())
    (opened,) = book.apply(update(10, row("0.010")))
    assert (opened.kind, opened.source, opened.old, opened.position.amount) == ("opened", "stream", None, D("0.010"))
    assert opened.position.liquidation_price is None  # the stream does not carry it
    assert book.apply(update(10, row("0.010"))) == ()  # the same frame again (a rotation overlap)
    assert book.apply(update(9, row("0.5"))) == ()  # older than what the book holds
    (grown,) = book.apply(update(11, row("0.020", "61000")))
    assert (grown.kind, grown.old.amount, grown.position.entry_price) == ("changed", D("0.010"), D("61000"))
    (closed,) = book.apply(update(12, row("0", "0")))
    assert closed.kind == "closed" and not closed.position.is_open
    assert book.open_positions() == () and len(book) == 0
    assert (book.duplicates, book.stale) == (1, 1)


def test_a_reading_corrects_the_book_but_an_event_received_after_its_request_wins() -> None:
    book = PositionBook(LeverageBook())
    book.apply(update(10, row("0.010")))
    mark = book.mark()
    book.apply(update(20, row("0.030")))  # arrives while the reading is in flight
    assert book.apply_snapshot(reading(position("0.010")), requested_at=mark, source="reconcile") == ()
    assert book.get("BTCUSDT").amount == D("0.030") and book.kept_newer == 1
    # A later reading knows better than the stream (a fill lost in a gap), and brings the liquidation price.
    (found,) = book.apply_snapshot(reading(position("0.050")), requested_at=book.mark(), source="reconcile")
    assert (found.kind, found.source, found.position.liquidation_price) == ("changed", "reconcile", D("54000"))
    # A position the reading does not list is flat: closed while the stream was away.
    (gone,) = book.apply_snapshot(reading(), requested_at=book.mark(), source="reconcile")
    assert gone.kind == "closed" and gone.position.amount == 0


def test_a_read_back_covers_only_its_symbols_and_keeps_the_event_floor() -> None:
    book = PositionBook(LeverageBook())
    book.apply(update(10, row("0.010"), row("2", "3000", symbol="ETHUSDT")))
    mark = book.mark()
    read_back = reading(position("0.010"), symbols=frozenset({"BTCUSDT"}))
    # Same amount and entry: no change to announce, only the figures the stream lacks.
    assert book.apply_snapshot(read_back, requested_at=mark, source="readback") == ()
    assert book.get("BTCUSDT").liquidation_price == D("54000")
    assert book.get("ETHUSDT").amount == D(2)  # not covered by a BTC read-back
    assert book.apply(update(9, row("7"))) == ()  # an older frame stays older than the reading's floor


def test_a_reading_takes_a_leverage_event_received_after_its_request_over_its_own() -> None:
    levers = LeverageBook()
    book = PositionBook(levers)
    levers.apply(AccountConfigUpdate("UM", 5, 4, "BTCUSDT", 5, None))
    book.apply(update(10, row("0.010")))
    mark = book.mark()
    levers.apply(AccountConfigUpdate("UM", 20, 19, "BTCUSDT", 10, None))  # the app's 10x, while the read is in flight
    book.refresh_leverage("UM", "BTCUSDT", 10)
    book.apply_snapshot(reading(position("0.010", leverage=5)), requested_at=mark, source="readback")
    assert book.get("BTCUSDT").leverage == 10  # the reading's 5x is as of its request: older
    # Requested after the event, the reading's value stands (the book would be corrected by its next event).
    book.apply_snapshot(reading(position("0.010", leverage=10)), requested_at=book.mark(), source="readback")
    assert book.get("BTCUSDT").leverage == 10


def test_hedge_rows_are_separate_positions() -> None:
    book = PositionBook(LeverageBook())
    changes = book.apply(update(10, row("20", "6563.665", "LONG"), row("-10", "6563.86", "SHORT"), row("0", "0")))
    assert [c.position.side for c in changes] == ["LONG", "SHORT"]
    assert [p.direction for p in book.open_positions("BTCUSDT")] == ["long", "short"]


def test_a_close_by_a_forced_order_is_a_liquidation() -> None:
    book = PositionBook(LeverageBook())
    book.apply(update(10, row("0.010")))
    forced = OrderUpdate(
        "UM",
        20,
        19,
        "BTCUSDT",
        7,
        "autoclose-1596107620040000020",
        "SELL",
        "BOTH",
        "LIQUIDATION",
        "NEW",
        "NEW",
        D(0),
        D(0),
        D(0),
        D(0),
    )
    book.note_order(forced)
    (liquidated,) = book.apply(update(21, row("0", "0")))
    assert liquidated.kind == "liquidated" and liquidated.old.amount == D("0.010")
    book.apply(update(30, row("0.010")))
    (closed,) = book.apply(update(31, row("0", "0")))
    assert closed.kind == "closed"  # the forced order's mark was used up


def test_margin_and_leverage_of_positions() -> None:
    levers = LeverageBook()
    book = PositionBook(levers)
    book.apply(update(10, row("0.010", margin_type="isolated", isolated_wallet=D("60"))))
    (moved,) = book.apply(
        update(11, row("0.010", margin_type="isolated", isolated_wallet=D("80")), reason="MARGIN_TRANSFER")
    )
    assert (moved.kind, moved.reason, moved.position.isolated_margin) == ("changed", "MARGIN_TRANSFER", D("80"))
    book.refresh_leverage("UM", "BTCUSDT", 25)
    assert book.get("BTCUSDT").leverage == 25
    assert book.has_open("UM", "BTCUSDT") and not book.has_open("UM", "ETHUSDT")
