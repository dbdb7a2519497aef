"""Recordings of an account's user stream: the file format and its reader (the writer: ``pmbridge.recorder``).

A recording is JSON lines, every time ``t`` a receive time in milliseconds since the epoch (a float)::

    {"pmbridge_recording": 1, "account": "pm", "started": 1700000000000.0, "pmbridge": "0.1.0"}      always first
    {"t": ..., "markets": {"BTC/USDT:USDT": {"id": "BTCUSDT", "swap": true, "future": false, "inverse": false}}}
    {"t": ..., "snapshot": {"UM": {"BTCUSDT": 20}, "CM": {...}, "multi_assets": false, "dual_side_position": false,
     "positions": [{"exchange_symbol": "BTCUSDT", "unit": "UM", "side": "BOTH", "amount": "0.5", ...}]},
     "source": "snapshot", "trigger": "connect"}
    {"t": ..., "frame": "{\\"e\\":\\"ACCOUNT_CONFIG_UPDATE\\",...}"}

``markets`` holds the fields of ccxt's markets that ``SymbolMap.from_ccxt_markets`` reads, so a replay names symbols
the way the live bridge did. A ``snapshot`` line is the books right after a REST reconcile (the snapshot's values, with
any newer event kept, exactly what the live bridge then held): every symbol's leverage, the flags, and every open
position (``pmbridge.views.position_view``). Recordings made before positions were recorded have no ``positions``:
such a line leaves the replayed positions as the frames made them. A ``frame`` is the raw text as received, with every
secret-looking run masked (``listenKeyExpired`` carries the listenKey; a combined-stream envelope names it too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, cast, get_args

import orjson
from attrs import frozen

from .book import PositionSnapshot, Snapshot
from .const import ACCOUNT_TYPES, MAX_LEVERAGE, MIN_LEVERAGE, AccountType, Source, Unit
from .errors import PMBridgeError
from .redact import excerpt
from .symbols import SymbolMap
from .views import position_from_view

__all__ = [
    "FORMAT_VERSION",
    "BadLine",
    "FrameRecord",
    "Header",
    "InvalidLine",
    "MarketsRecord",
    "Record",
    "RecordingError",
    "SnapshotRecord",
    "read_recording",
]

FORMAT_VERSION: Final = 1
"""Unchanged by the positions in snapshot lines: older readers ignore the key, and lines without it still read."""
_ALL_UNITS: Final[frozenset[Unit]] = frozenset({"UM", "CM"})
_SOURCES: Final = frozenset(get_args(Source))


class InvalidLine(ValueError):
    """One line is not a record; the message says what is wrong with it."""


class RecordingError(PMBridgeError):
    """The file is not a recording this pmbridge can read at all (not a single line can be trusted)."""


@frozen(slots=True)
class Header:
    account: AccountType
    started: float
    pmbridge: str | None = None


@frozen(slots=True)
class MarketsRecord:
    t: float
    symbols: SymbolMap


@frozen(slots=True)
class SnapshotRecord:
    t: float
    snapshot: Snapshot
    source: Source
    trigger: str
    positions: PositionSnapshot | None = None
    """Every open position of the book (a full reading: a position not listed is flat); None in a recording made
    before positions were recorded."""


@frozen(slots=True)
class FrameRecord:
    t: float
    frame: str


Record = Header | MarketsRecord | SnapshotRecord | FrameRecord


@frozen(slots=True)
class BadLine:
    """A line that is not a record; ``message`` names the line and what is wrong with it."""

    line: int
    message: str


# -- reading --------------------------------------------------------------------------------------------------
def read_recording(path: str | Path) -> Iterator[tuple[int, Record | BadLine]]:
    """``(line number, record or BadLine)`` for every non-empty line of the recording at ``path``.

    Raises ``RecordingError`` if the file cannot be opened or was written in a format this pmbridge does not know.
    """
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 - closed by the with below, after the generator starts
    except OSError as exc:
        raise RecordingError(f"cannot open the recording {str(path)!r}: {exc.strerror or exc}") from None
    with handle:
        first = True
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = parse_line(raw)
            except InvalidLine as exc:
                if first:
                    raise _not_a_recording(path, _what_it_is(raw, exc)) from None
                yield number, BadLine(number, f"line {number}: {exc}; line skipped")
                continue
            if first and not isinstance(record, Header):
                raise _not_a_recording(path, _what_it_is(raw, None))
            if isinstance(record, Header) and not first:
                yield number, BadLine(number, f"line {number}: a second recording header; line skipped")
                continue
            first = False
            yield number, record
    if first:
        raise _not_a_recording(path, "it is empty")


WHAT_A_RECORDING_IS: Final = (
    "A recording is the file `pmbridge record FILE` writes: JSON lines, the header "
    f'{{"pmbridge_recording": {FORMAT_VERSION}, ...}} first, then the markets, the raw user-stream frames and the '
    "snapshots. Record one with `pmbridge record FILE`, then replay that file"
)
_PRINTED_KINDS: Final = frozenset({"leverage", "position", "multi_assets", "dual_side_position", "stream"})


def _not_a_recording(path: str | Path, what_it_is: str) -> RecordingError:
    return RecordingError(f"{str(path)!r} is not a pmbridge recording: {what_it_is}. {WHAT_A_RECORDING_IS}")


def _what_it_is(first_line: bytes, invalid: InvalidLine | None) -> str:
    """What the first line says the file is: another command's output is named, so the user knows what they have."""
    try:
        data = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return f"its first line is {invalid}" if invalid else "its first line is not JSON"
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "demo":
        return "it is what `pmbridge demo --json` prints"
    if kind in _PRINTED_KINDS:
        return (
            f"it is what `pmbridge watch --json` prints (its first line is a {kind!r} line), the changes as pmbridge "
            "understood them, not the stream they came from"
        )
    if isinstance(data, dict) and {"drift", "changes"} <= data.keys():
        return "it is the report `pmbridge reconcile --json` prints"
    if isinstance(data, dict) and {"checks", "diagnostics"} <= data.keys():
        return "it is the report `pmbridge doctor --json` prints"
    if isinstance(data, dict) and "e" in data:
        return "it holds raw user-stream frames without a recording's header (`pmbridge decode FILE` reads those)"
    if invalid is None:
        return "it starts with a record, not with the header (the beginning of the file is missing)"
    return f"its first line is not the header ({invalid})"


def parse_line(raw: bytes | str) -> Record:
    """One line of a recording; ``InvalidLine`` says what is wrong (``RecordingError`` for an unknown format)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidLine(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InvalidLine(f"expected a JSON object, got {type(data).__name__}")
    if "pmbridge_recording" in data:
        return _header(data)
    t = data.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool) or not t > 0:
        raise InvalidLine(f"'t' must be a receive time in ms since the epoch, got {_short(t)}")
    if "frame" in data:
        frame = data["frame"]
        if not isinstance(frame, str):
            raise InvalidLine(f"'frame' must be the frame's text, got {_short(frame)}")
        return FrameRecord(float(t), frame)
    if "snapshot" in data:
        return _snapshot(float(t), data)
    if "markets" in data:
        markets = data["markets"]
        if not isinstance(markets, dict) or not all(isinstance(m, dict) for m in markets.values()):
            raise InvalidLine("'markets' must map unified symbols to market objects")
        return MarketsRecord(float(t), SymbolMap.from_ccxt_markets(markets))
    raise InvalidLine(f"no 'frame', 'snapshot' or 'markets' in a line with keys {sorted(data)[:6]}")


def _header(data: dict[str, Any]) -> Header:
    version = data["pmbridge_recording"]
    if version != FORMAT_VERSION:
        raise RecordingError(
            f"recording format {_short(version)} is not one this pmbridge reads (it reads {FORMAT_VERSION}); "
            "replay it with the pmbridge version that recorded it, or upgrade pmbridge"
        )
    account, started = data.get("account"), data.get("started")
    if account not in ACCOUNT_TYPES or not isinstance(started, int | float) or isinstance(started, bool):
        raise InvalidLine(
            f"the header needs 'account' (one of {', '.join(ACCOUNT_TYPES)}) and 'started' (ms since the epoch)"
        )
    version_text = data.get("pmbridge")
    return Header(cast(AccountType, account), float(started), version_text if isinstance(version_text, str) else None)


def _snapshot(t: float, data: dict[str, Any]) -> SnapshotRecord:
    body = data["snapshot"]
    if not isinstance(body, dict):
        raise InvalidLine(f"'snapshot' must be an object, got {_short(body)}")
    leverage: dict[Unit, dict[str, int]] = {}
    units: tuple[Unit, ...] = ("UM", "CM")
    for unit in units:
        by_symbol = body.get(unit, {})
        if not isinstance(by_symbol, dict):
            raise InvalidLine(f"'snapshot.{unit}' must map symbols to leverage, got {_short(by_symbol)}")
        for symbol, value in by_symbol.items():
            if type(value) is not int or not MIN_LEVERAGE <= value <= MAX_LEVERAGE:
                raise InvalidLine(f"'snapshot.{unit}.{symbol}' must be a leverage of 1 to 125, got {_short(value)}")
        leverage[unit] = by_symbol
    flags: list[bool | None] = []
    for name in ("multi_assets", "dual_side_position"):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise InvalidLine(f"'snapshot.{name}' must be true, false or null, got {_short(value)}")
        flags.append(value)
    source = data.get("source", "reconcile")
    if source not in _SOURCES or source == "stream":
        raise InvalidLine(f"'source' of a snapshot must be 'snapshot' or 'reconcile', got {_short(source)}")
    trigger = data.get("trigger", "interval")
    if not isinstance(trigger, str):
        raise InvalidLine(f"'trigger' must be a string, got {_short(trigger)}")
    positions = _positions(body.get("positions"), source) if "positions" in body else None
    return SnapshotRecord(t, Snapshot(leverage, flags[0], flags[1]), source, trigger, positions)


def _positions(rows: Any, source: Source) -> PositionSnapshot:
    if not isinstance(rows, list):
        raise InvalidLine(f"'snapshot.positions' must be a list of positions, got {_short(rows)}")
    positions = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidLine(f"'snapshot.positions[{index}]' must be an object, got {_short(row)}")
        try:
            positions.append(position_from_view(row, source))
        except ValueError as exc:
            raise InvalidLine(f"'snapshot.positions[{index}]': {exc}") from None
    # The line lists the whole book, whatever the account type: everything it leaves out is flat.
    return PositionSnapshot(tuple(positions), _ALL_UNITS)


def _short(value: object) -> str:
    return excerpt(value, limit=40)
