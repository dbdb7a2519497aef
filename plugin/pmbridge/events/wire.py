"""The fast path of ``decode``: one msgspec pass from the frame's bytes straight to typed fields.

msgspec reads the ``e`` tag, picks the frame's shape, checks every type and range in C and skips the fields nobody
reads without building them (an order update carries thirty; a frame we only pass on costs little more than finding
its ``e`` and ``E``). What msgspec cannot check (printable text, exact decimals, symbols not seen before) is
checked here, the same way as the reference decoder does.

The contract: for any frame, each shape's ``event()`` returns exactly the event the reference decoder
(``events.reference``) returns, or None, and then the reference decoder answers: it raises the ``DecodeError``
naming the field, or accepts the lenient forms this path leaves to it (numeric strings, numbers for decimals, the
combined-stream envelope, a symbol seen for the first time). One difference is deliberate: a field nobody reads is
skipped unparsed, so a number in it that orjson cannot hold as a double (``1e400``) does not cost the frame, while
the reference decoder refuses the whole frame (``OtherEvent.raw`` then parses it with the standard library). A frame
that is not valid UTF-8 goes to the reference decoder before msgspec sees it: msgspec does not check unread strings.
tests/test_decode_properties.py and bench/fuzz.py hold the two to that contract.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Union

import msgspec

from ..const import MAX_LEVERAGE, MIN_LEVERAGE
from .config import AccountConfigUpdate, ListenKeyExpired
from .fields import _UNIT_CACHE, MAX_INT64, decimal_text, is_text
from .other import ALIASES, OTHER_EVENT_TYPES, OtherEvent
from .reference import Event, reference_decode
from .trading import _MARGIN_TYPES, _MAX_ROWS, AccountUpdate, OrderUpdate, PositionRow

Time = Annotated[int, msgspec.Meta(gt=0, le=MAX_INT64)]
Leverage = Annotated[int, msgspec.Meta(ge=MIN_LEVERAGE, le=MAX_LEVERAGE)]
Hint = Literal["UM", "CM"] | None
OrderId = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT64)]

_new = object.__new__


# ---------------------------------------------------------------------------------------------------------------
# ACCOUNT_CONFIG_UPDATE and listenKeyExpired
# ---------------------------------------------------------------------------------------------------------------
class _Ac(msgspec.Struct, gc=False):
    s: str
    l: Leverage  # noqa: E741 - Binance's key


class _Ai(msgspec.Struct, gc=False):
    j: bool


class _Config(msgspec.Struct, tag_field="e", tag="ACCOUNT_CONFIG_UPDATE", gc=False):
    E: Time
    T: Time | None = None
    fs: Hint = None
    ac: _Ac | None = None
    ai: _Ai | None = None

    def event(self, _frame: object) -> AccountConfigUpdate | None:
        ac, ai = self.ac, self.ai
        multi_assets = None if ai is None else ai.j
        if ac is None:  # no symbol: multi-assets mode, which only exists on USDⓈ-M
            return AccountConfigUpdate(self.fs or "UM", self.E, self.T, None, None, multi_assets)
        unit = _UNIT_CACHE.get(ac.s)  # a symbol seen before was validated then
        if unit is None:
            return None
        return AccountConfigUpdate(unit, self.E, self.T, ac.s, ac.l, multi_assets)


class _KeyExpired(msgspec.Struct, tag_field="e", tag="listenKeyExpired", gc=False):
    E: Time

    def event(self, _frame: object) -> ListenKeyExpired:
        return ListenKeyExpired(self.E)


# ---------------------------------------------------------------------------------------------------------------
# ORDER_TRADE_UPDATE
# ---------------------------------------------------------------------------------------------------------------
class _Order(msgspec.Struct, gc=False):
    s: str
    i: OrderId
    S: str
    o: str
    x: str
    X: str
    c: str = ""
    ps: Literal["BOTH", "LONG", "SHORT"] | None = None
    l: str = "0"  # noqa: E741 - Binance's key
    L: str = "0"
    z: str = "0"
    rp: str = "0"


class _OrderUpdate(msgspec.Struct, tag_field="e", tag="ORDER_TRADE_UPDATE", gc=False):
    E: Time
    o: _Order
    T: Time | None = None
    fs: Hint = None

    def event(self, _frame: object) -> OrderUpdate | None:
        o = self.o
        unit = _UNIT_CACHE.get(o.s)
        client_id = o.c
        if (
            unit is None
            or not (is_text(o.S) and is_text(o.o) and is_text(o.x) and is_text(o.X))
            or not is_text(client_id, allow_empty=True)
        ):
            return None
        last_qty, last_price, filled, pnl = decimal_text(o.l), decimal_text(o.L), decimal_text(o.z), decimal_text(o.rp)
        if last_qty is None or last_price is None or filled is None or pnl is None:
            return None
        event = _new(OrderUpdate)
        fields = event.__dict__
        fields["unit"] = unit
        fields["event_time"] = self.E
        fields["transaction_time"] = self.T
        fields["symbol"] = o.s
        fields["order_id"] = o.i
        fields["client_order_id"] = client_id
        fields["side"] = o.S
        fields["position_side"] = o.ps or "BOTH"
        fields["order_type"] = o.o
        fields["execution"] = o.x
        fields["status"] = o.X
        fields["last_qty"] = last_qty
        fields["last_price"] = last_price
        fields["filled_qty"] = filled
        fields["realized_pnl"] = pnl
        return event


# ---------------------------------------------------------------------------------------------------------------
# ACCOUNT_UPDATE
# ---------------------------------------------------------------------------------------------------------------
class _Row(msgspec.Struct, gc=False):
    s: str
    pa: str
    ep: str = "0"
    up: str = "0"
    ps: Literal["BOTH", "LONG", "SHORT"] | None = None
    bep: str | None = None
    cr: str | None = None
    mt: str | None = None
    iw: str | None = None

    def row(self) -> PositionRow | None:
        unit = _UNIT_CACHE.get(self.s)
        amount, entry, pnl = decimal_text(self.pa), decimal_text(self.ep), decimal_text(self.up)
        if unit is None or amount is None or entry is None or pnl is None:
            return None
        optional: list[Decimal | None] = []
        for value in (self.bep, self.cr, self.iw):
            if value is None:
                optional.append(None)
                continue
            number = decimal_text(value)
            if number is None:
                return None
            optional.append(number)
        margin = self.mt
        if margin is not None:
            margin = _MARGIN_TYPES.get(margin)
            if margin is None:
                return None
        row = _new(PositionRow)
        fields = row.__dict__
        fields["unit"] = unit
        fields["symbol"] = self.s
        fields["side"] = self.ps or "BOTH"
        fields["amount"] = amount
        fields["entry_price"] = entry
        fields["unrealized_pnl"] = pnl
        fields["break_even_price"], fields["realized_pnl"], fields["isolated_wallet"] = optional
        fields["margin_type"] = margin
        return row


class _Account(msgspec.Struct, gc=False):
    m: str = "UNKNOWN"
    P: list[_Row] = []  # msgspec copies a mutable default per instance


class _AccountUpdate(msgspec.Struct, tag_field="e", tag="ACCOUNT_UPDATE", gc=False):
    E: Time
    a: _Account
    T: Time | None = None
    fs: Hint = None

    def event(self, _frame: object) -> AccountUpdate | None:
        body = self.a
        if not is_text(body.m) or len(body.P) > _MAX_ROWS:
            return None
        rows = []
        for wire in body.P:
            row = wire.row()
            if row is None:
                return None
            rows.append(row)
        event = _new(AccountUpdate)
        fields = event.__dict__
        fields["event_time"] = self.E
        fields["transaction_time"] = self.T
        fields["reason"] = body.m
        fields["positions"] = tuple(rows)
        fields["hint"] = self.fs
        return event


# ---------------------------------------------------------------------------------------------------------------
# every other known event: its type and time; the rest is parsed only if someone reads OtherEvent.raw
# ---------------------------------------------------------------------------------------------------------------
def _other(tag: str) -> type[msgspec.Struct]:
    name = ALIASES.get(tag, tag)

    def event(self: Any, frame: bytes | str) -> OtherEvent:
        return OtherEvent(name, self.E, frame)

    return msgspec.defstruct(
        f"_Other_{tag}",
        [("E", Time | None, None)],
        namespace={"event": event},
        tag_field="e",
        tag=tag,
        gc=False,
    )


_SHAPES: Final = (
    _Config,
    _KeyExpired,
    _OrderUpdate,
    _AccountUpdate,
    *(_other(tag) for tag in sorted({*OTHER_EVENT_TYPES, *ALIASES})),
)
_decoder: Final = msgspec.json.Decoder(Union[_SHAPES])  # noqa: UP007 - a union built from a tuple
# Not JSON, not an object of a known shape, not bytes or str, a lone surrogate, nesting too deep: the reference
# decoder says which.
_MISSES: Final = (msgspec.MsgspecError, ValueError, TypeError, RecursionError)


def _is_utf8(frame: bytes) -> bool:
    try:
        frame.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode(frame: bytes | str) -> Event:
    """Decode one user data stream frame (see ``events.decode``): this fast path, else the reference decoder."""
    if type(frame) is bytes:
        # msgspec skips unread strings without checking their UTF-8; such a frame is not JSON (bench/fuzz.py found it).
        if not frame.isascii() and not _is_utf8(frame):
            return reference_decode(frame)
    elif type(frame) is not str:
        return reference_decode(frame)  # bytearray, memoryview, or not a frame at all: the reference says which
    try:
        shape = _decoder.decode(frame)
    except _MISSES:
        return reference_decode(frame)
    event = shape.event(frame)
    return reference_decode(frame) if event is None else event
