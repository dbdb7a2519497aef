"""The frame fuzzer shared by ``bench/fuzz.py`` (10^6 frames) and ``tests/test_fuzz.py`` (a fast seeded slice).

``FrameFuzzer(seed)`` yields ``(family, frame)`` pairs: a seeded, structure-aware mutation of the documented frames in
``tests/fixtures/frames/`` and of generated valid ``ACCOUNT_CONFIG_UPDATE`` frames. Families:

- ``corpus``: a documented frame as is.
- ``valid``: a fresh, well-formed ``ACCOUNT_CONFIG_UPDATE`` (PM, USDⓈ-M, COIN-M forms; ``ac``, ``ai``, both, neither;
  numeric strings; the combined-stream envelope), event times moving forward.
- ``adversarial``: decodable but hostile: stale or far-future event times, exact duplicates, equal ``E`` with another
  ``T``, unknown and odd-but-legal symbols, leverage at and past the 1..125 edges, ``fs`` that lies, expired keys.
- ``json``: 1-3 JSON-level edits of a corpus or valid frame: a value of another type, deleted, duplicated or renamed
  keys, huge / negative / float / NaN / Infinity / 400-digit numbers, numeric strings, unicode and lone surrogates,
  nesting up to and past orjson's depth limit, a wrong ``e``, envelopes.
- ``byte``: 1-3 byte-level edits: bit flips, inserted / deleted / duplicated spans, truncation, splicing two frames.
- ``havoc``: JSON-level edits, then several byte-level ones.

``fuzz_bridge`` drives every frame through ``decode()`` (counting ok / DecodeError / anything else) and through a
started bridge's ``Coordinator.on_frame`` (the function the websocket reader calls), then settles the bridge and
checks the book. It lives beside the bench rather than in the package: nothing here is useful to pmbridge's users.
"""

from __future__ import annotations

import asyncio
import itertools
import json.encoder
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, cast

import attrs
import orjson

from pmbridge import (
    AccountConfigUpdate,
    AccountModeChange,
    DecodeError,
    LeverageBook,
    LeverageChange,
    ListenKeyExpired,
    OtherEvent,
    UnknownEventError,
    decode,
)
from pmbridge.bridge import Bridge
from pmbridge.const import MAX_LEVERAGE, MIN_LEVERAGE, AccountSetting
from pmbridge.coordinator import FUTURE_HORIZON_S
from pmbridge.events import AccountUpdate, OrderUpdate, reference_decode

CORPUS_DIR: Final = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "frames"
E_START: Final = 1_700_000_000_000
"""Generated event times start here (Nov 2023) and creep forward: older than anything the simulator stamps now."""
MAX_INT64: Final = 2**63 - 1
SIM_SYMBOLS: Final = (
    # The simulator's perpetuals (its dated contracts change name every quarter, which would make seeds drift).
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "S0001USDT",
    "S0002USDT",
    "BTCUSD_PERP",
    "ETHUSD_PERP",
)
FAMILIES: Final = ("corpus", "valid", "adversarial", "json", "byte", "havoc")
_WEIGHTS: Final = (4, 20, 14, 30, 22, 10)


class Raw(str):
    """A JSON token written verbatim: ``NaN``, ``1e400``, a 400-digit number, a lone-surrogate escape, a deep nest."""

    __slots__ = ()


class Pairs(list[tuple[str, Any]]):
    """A JSON object written from ``(key, value)`` pairs, so that a key can appear twice."""

    __slots__ = ()


_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii
_unicode: Callable[[str], str] = json.encoder.encode_basestring  # keeps lone surrogates as they are


def emit(node: Any, ascii_only: bool = True) -> str:
    """JSON text for ``node`` (plain values, ``Raw`` tokens, ``Pairs`` objects). Lone surrogates survive."""
    kind = type(node)
    if kind is str:
        return _ascii(node) if ascii_only else _unicode(node)
    if kind is Raw:
        return cast(Raw, node)
    if node is None:
        return "null"
    if kind is bool:
        return "true" if node else "false"
    if kind is int or kind is float:
        return repr(node)
    if kind is dict:
        return "{" + ",".join(emit(str(k), ascii_only) + ":" + emit(v, ascii_only) for k, v in node.items()) + "}"
    if kind is Pairs:
        return "{" + ",".join(emit(str(k), ascii_only) + ":" + emit(v, ascii_only) for k, v in node) + "}"
    if kind is list:
        return "[" + ",".join(emit(v, ascii_only) for v in node) + "]"
    raise TypeError(f"cannot emit {kind.__name__}")


def to_bytes(text: str) -> bytes:
    # surrogatepass: a lone surrogate becomes the (invalid) UTF-8 bytes a broken sender would put on the wire.
    return text.encode("utf-8", "surrogatepass")


def load_corpus(directory: Path = CORPUS_DIR) -> list[bytes]:
    frames = [path.read_bytes().strip() for path in sorted(directory.glob("*.json"))]
    if not frames:
        raise FileNotFoundError(f"no *.json frames in {directory}: the fuzzer's corpus is the documented frames")
    return frames


# -- value pools ------------------------------------------------------------------------------------------------
# fmt: off
_NUMBERS: Final[tuple[Any, ...]] = (
    0, -1, 1, 2, 25, 124, 125, 126, 127, 255, 256, -125, 2**31 - 1, 2**31, 2**32, MAX_INT64, MAX_INT64 + 1,
    -(2**63), -(2**63) - 1, 2**64, 10**19, 10**30, 1.0, 25.0, 25.5, -0.0, 1e-300, 1e300,
    Raw("NaN"), Raw("-NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("nan"), Raw("1e400"), Raw("-1e400"),
    Raw("2.5e1"), Raw("25e0"), Raw("1E2"), Raw("-0"), Raw("00"), Raw("025"), Raw("+25"), Raw(".5"), Raw("0x19"),
    Raw("9" * 400), Raw("-" + "9" * 400), Raw("1" + "0" * 5000),
)
_STRINGS: Final[tuple[str, ...]] = (
    "", " ", "25", "025", "0025", " 25", "25 ", "+25", "-25", "0", "126", "1e3", "2.5", "0x19", "25\x00",
    "\u0662\u0665",  # Arabic-Indic 25: str.isdigit() says yes
    "\u00b2",  # superscript two: isdigit() says yes, int() raises
    "\uff11\uff12\uff15",  # fullwidth 125
    "NaN", "true", "null", "9" * 19, "9" * 20, "1611646737479", "9223372036854775807", "9223372036854775808",
    "BTCUSDT", "btcusdt", "BTC/USDT:USDT", "BTC USDT", "BTCUSDT\n", "BTC\u200bUSDT", "BTCUSDT\u202e",
    "\u0411\u0422\u041aUSDT", "\U0001f600USDT", "X" * 40, "X" * 41, "\u00e9" * 5000, "\\", '"',
    "A" * 64,  # secret-shaped: must be masked wherever it is quoted
    "ACCOUNT_CONFIG_UPDATE", "listenKeyExpired", "\ud800", "\udfff", "\ud83d\ude00",
)
_ODD_SYMBOLS: Final = (  # odd but legal for decode(): printable, no spaces, at most 40 characters
    "btcusdt", "BTC/USDT", "\u0411\u0422\u041aUSDT", "1000PEPEUSDT", "X" * 40, "\U0001f600USDT", "A-B",
)
_RAW_STRINGS: Final = (
    Raw('"\\ud800"'), Raw('"\\udc00\\ud800"'), Raw('"\\u0000"'), Raw('"\\x41"'), Raw('"\\'), Raw('"abc'),
    Raw("'BTCUSDT'"), Raw('"\\uZZZZ"'),
)
_EVENT_TYPES: Final[tuple[Any, ...]] = (
    "ACCOUNT_CONFIG_UPDATE", "account_config_update", "ACCOUNT_CONFIG_UPDATE ", "listenKeyExpired",
    "LISTENKEYEXPIRED", "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE", "ALGO_UPDATE", "riskLevelChange",
    "RISK_LEVEL_CHANGE", "liabilityChange", "MARGIN_CALL", "TRADE_LITE", "eventStreamTerminated", "UNKNOWN", "",
    None, 0, True, [], {}, ["ACCOUNT_CONFIG_UPDATE"],
)
_KEYS: Final = ("e", "E", "T", "fs", "ac", "ai", "s", "l", "j", "stream", "data", "listenKey", "x", "", "E ", "AC")
_INTERESTING_BYTES: Final = b'\x00\xff"\\{}[],:0123456789-+.eEnNtf \t\r\n\x7f\x80\xbf\xc0\xc1\xed\xf4\xf5'
_INSERTS: Final = (
    b"null", b"1e999", b"NaN", b"-", b"\\u0000", b"\\ud800",
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate
    b"\xc0\x80",  # overlong NUL
    b"\xef\xbb\xbf",  # byte order mark
    b'"e":"listenKeyExpired",', b'"E":1,', b',"ac":{"s":"BTCUSDT","l":3}', b"[" * 64, b"}" * 8,
)
# fmt: on


def nest(value_json: str, depth: int, rng: random.Random) -> Raw:
    """``value_json`` inside ``depth`` arrays or objects: deep enough to reach orjson's limit (1024) and past it."""
    if rng.random() < 0.5:
        return Raw("[" * depth + value_json + "]" * depth)
    return Raw('{"a":' * depth + value_json + "}" * depth)


class FrameFuzzer:
    """Seeded frame generator: ``fuzzer.frames(n)`` yields ``(family, frame_bytes)``; the same seed, the same frames."""

    def __init__(self, seed: int, corpus: Sequence[bytes] | None = None, symbols: Sequence[str] = SIM_SYMBOLS) -> None:
        self.rng = random.Random(seed)
        self.corpus = list(load_corpus() if corpus is None else corpus)
        self.symbols = tuple(symbols)
        self._corpus_trees = [orjson.loads(raw) for raw in self.corpus]
        self._recent: deque[bytes] = deque(maxlen=256)
        self._clock = E_START
        self._last_e: dict[str, int] = {}
        self._makers: dict[str, Callable[[], bytes]] = {
            "corpus": lambda: self.rng.choice(self.corpus),
            "valid": lambda: to_bytes(emit(self.valid_tree())),
            "adversarial": self.adversarial,
            "json": lambda: self.json_mutation(self.seed_tree(), self.rng.randint(1, 3)),
            "byte": lambda: self.byte_mutation(self.seed_bytes(), self.rng.randint(1, 3)),
            "havoc": lambda: self.byte_mutation(self.json_mutation(self.seed_tree(), 1), self.rng.randint(2, 6)),
        }

    def frames(self, count: int) -> Iterator[tuple[str, bytes]]:
        choices = self.rng.choices
        makers = self._makers
        cumulative = list(itertools.accumulate(_WEIGHTS))
        for _ in range(count):
            family = choices(FAMILIES, cum_weights=cumulative)[0]
            yield family, makers[family]()

    # -- seeds ----------------------------------------------------------------------------------------------
    def seed_tree(self) -> Any:
        if self.rng.random() < 0.5:
            return orjson.loads(orjson.dumps(self.rng.choice(self._corpus_trees)))  # a deep copy, fast
        return self.valid_tree()

    def seed_bytes(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.4:
            return self.rng.choice(self.corpus)
        if roll < 0.6 and self._recent:
            return self.rng.choice(self._recent)
        return to_bytes(emit(self.valid_tree()))

    def _tick(self) -> int:
        self._clock += self.rng.randint(1, 5)
        return self._clock

    def _symbol(self) -> str:
        if self.rng.random() < 0.9:
            return self.rng.choice(self.symbols)
        return self.unknown_symbol()

    def unknown_symbol(self) -> str:
        rng = self.rng
        roll = rng.random()
        base = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(rng.randint(1, 8)))
        if roll < 0.5:
            return base + rng.choice(("USDT", "USDC", "USD_PERP", "USD_250627", "USDT_260925"))
        return rng.choice((*_ODD_SYMBOLS, base))

    # -- valid frames ---------------------------------------------------------------------------------------
    def valid_tree(self, *, event_time: Any = None, symbol: str | None = None) -> dict[str, Any]:
        """A well-formed ACCOUNT_CONFIG_UPDATE: decode() accepts it whatever the draw."""
        rng = self.rng
        e = self._tick() if event_time is None else event_time
        symbol = symbol or self._symbol()
        roll = rng.random()
        frame: dict[str, Any] = {"e": "ACCOUNT_CONFIG_UPDATE"}
        form = rng.random()
        if form < 0.6:  # PM carries fs; usdm and coinm do not
            frame["fs"] = "CM" if symbol.endswith(("USD_PERP", "USD_250627")) else "UM"
        frame["E"] = str(e) if type(e) is int and rng.random() < 0.05 else e
        if rng.random() < 0.9:
            frame["T"] = max(1, e - rng.randint(0, 5)) if type(e) is int else e
        if roll < 0.8:
            leverage: Any = rng.randint(MIN_LEVERAGE, MAX_LEVERAGE)
            frame["ac"] = {"s": symbol, "l": str(leverage) if rng.random() < 0.05 else leverage}
            if type(e) is int:
                self._last_e[symbol] = max(e, self._last_e.get(symbol, 0))
        elif roll < 0.9:
            frame["ai"] = {"j": rng.random() < 0.5}
        elif roll < 0.96:
            frame["ac"] = {"s": symbol, "l": rng.randint(MIN_LEVERAGE, MAX_LEVERAGE)}
            frame["ai"] = {"j": rng.random() < 0.5}
        # else neither ac nor ai: "the configuration changed", a resync
        if rng.random() < 0.05:
            return {"stream": "pm_user_stream", "data": frame}
        return frame

    def adversarial(self) -> bytes:
        """A decodable but hostile frame (or, for leverage past the edges, one that must fail cleanly)."""
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0 and self._recent:  # an exact duplicate, as two overlapping connections deliver
            return rng.choice(self._recent)
        if kind == 1 and self._last_e:  # stale: older than the newest event seen for that symbol
            symbol = rng.choice(list(self._last_e))
            older = max(1, self._last_e[symbol] - rng.choice((1, 2, 1000, 86_400_000, 10**12)))
            return self._remember(self.valid_tree(event_time=older, symbol=symbol))
        if kind == 2 and self._last_e:  # same E, another T
            symbol = rng.choice(list(self._last_e))
            tree = self.valid_tree(event_time=self._last_e[symbol], symbol=symbol)
            tree.get("data", tree)["T"] = rng.choice((1, self._last_e[symbol] + 1, MAX_INT64))
            return self._remember(tree)
        if kind == 3:  # far future: decodes, and is newer than anything real
            # On unknown symbols here: one such frame makes a symbol ignore every later real event (the book keeps
            # the newest E), so the simulated symbols would freeze at once. Digit edits and JSON-level number swaps
            # still reach them within the first thousands of frames (see stream_follow in bench/fuzz.py).
            e = rng.choice((4_102_444_800_000, 10**15, 10**18, MAX_INT64, str(MAX_INT64)))
            return self._remember(self.valid_tree(event_time=e, symbol=self.unknown_symbol()))
        if kind == 4:  # ancient or edge times
            e = rng.choice((1, 2, "1", "0001611646737479", 1_000_000_000, 1_611_646_737_479))
            return self._remember(self.valid_tree(event_time=e))
        if kind == 5:  # an unknown (or odd but legal) symbol
            return self._remember(self.valid_tree(symbol=self.unknown_symbol()))
        if kind == 6:  # leverage at and past the edges
            tree = self.valid_tree()
            data = tree.get("data", tree)
            data["ac"] = {
                "s": self._symbol(),
                "l": rng.choice((1, 125, "1", "125", "0125", 0, 126, -1, 10**30, 2**63, "0", "126", 25.0, True)),
            }
            return self._remember(tree)
        if kind == 7:  # fs that lies or is wrong
            tree = self.valid_tree()
            tree.get("data", tree)["fs"] = rng.choice(("CM", "UM", "um", "XX", "", None, 1))
            return self._remember(tree)
        # listenKeyExpired, as the futures and PM streams send it (E as int or string, key included or not)
        e = self._tick()
        frame: dict[str, Any] = {"e": "listenKeyExpired", "E": rng.choice((e, str(e)))}
        if rng.random() < 0.5:
            frame["listenKey"] = "".join(rng.choice("abcdefghijKLMNOP0123456789") for _ in range(64))
        return self._remember(frame)

    def _remember(self, tree: Any) -> bytes:
        raw = to_bytes(emit(tree))
        self._recent.append(raw)
        return raw

    # -- JSON-level mutations --------------------------------------------------------------------------------
    def weird_value(self, around: Any = None) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return rng.choice(_NUMBERS)
        if roll < 0.65:
            return rng.choice(_STRINGS)
        if roll < 0.72:
            return rng.choice(_RAW_STRINGS)
        if roll < 0.8:
            return rng.choice((None, True, False, [], {}, [1], {"s": "BTCUSDT"}, {"j": True}, {"l": 25}))
        if roll < 0.9 and around is not None:  # the same value one level down
            return rng.choice(([around], {"data": around}, {"s": around, "l": around}))
        depth = rng.choice((2, 16, 128, 500, 900, 990, 1000, 1010, 1020, 1022, 1023, 1024, 1025, 1100, 4000))
        return nest(emit(around if around is not None else 1), depth, rng)

    def json_mutation(self, tree: Any, rounds: int) -> bytes:
        rng = self.rng
        for _ in range(rounds):
            tree = self._mutate_tree(tree)
        return to_bytes(emit(tree, ascii_only=rng.random() < 0.7))

    def _mutate_tree(self, tree: Any) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:  # a wrong e
            target = tree.get("data", tree) if type(tree) is dict else None
            if type(target) is dict:
                target["e"] = rng.choice(_EVENT_TYPES)
            return tree
        if roll < 0.13:  # an envelope (or a broken one)
            return rng.choice(
                (
                    {"stream": "x", "data": tree},
                    {"stream": "x", "data": {"stream": "y", "data": tree}},
                    {"data": tree},
                    {"stream": None, "data": tree, "e": "ACCOUNT_CONFIG_UPDATE"},
                    {"stream": "x", "data": [tree]},
                    {"stream": "x", "data": emit(tree)},  # the inner frame as a JSON string
                )
            )
        if roll < 0.16:  # not an object at all
            return rng.choice(([tree], Raw(emit(tree) + emit(tree)), "frame", 1, None, Raw("")))
        slots = _slots(tree)
        if not slots:
            return tree
        parent, key = rng.choice(slots)
        op = rng.random()
        if type(parent) is dict and op < 0.15:
            del parent[key]
        elif type(parent) is dict and op < 0.27:  # the same key twice, the second value wins in orjson
            pairs = Pairs(parent.items())
            pairs.insert(rng.randrange(len(pairs) + 1), (key, self.weird_value(parent[key])))
            return _replace(tree, parent, pairs)
        elif type(parent) is dict and op < 0.35:  # renamed or extra key
            parent[rng.choice(_KEYS)] = parent.pop(key) if rng.random() < 0.5 else self.weird_value()
        elif op < 0.43 and type(parent) is dict and len(parent) > 1:  # two values swapped
            other = rng.choice(list(parent))
            parent[key], parent[other] = parent[other], parent[key]
        else:
            parent[key] = self.weird_value(parent[key])
        return tree

    # -- byte-level mutations --------------------------------------------------------------------------------
    def byte_mutation(self, raw: bytes, rounds: int) -> bytes:
        rng = self.rng
        data = bytearray(raw)
        for _ in range(rounds):
            size = len(data)
            op = rng.randrange(10)
            at = rng.randrange(size + 1)
            if op == 0 and size:  # flip bits
                for _ in range(rng.randint(1, 4)):
                    data[rng.randrange(size)] ^= 1 << rng.randrange(8)
            elif op == 1 and size:  # an interesting byte
                data[min(at, size - 1)] = rng.choice(_INTERESTING_BYTES)
            elif op == 2:  # random bytes in
                data[at:at] = rng.randbytes(rng.randint(1, 8))
            elif op == 3:  # a token in
                data[at:at] = rng.choice(_INSERTS)
            elif op == 4 and size:  # a span out
                data[at : at + rng.randint(1, max(1, size // 4))] = b""
            elif op == 5 and size:  # a span twice
                end = min(size, at + rng.randint(1, 16))
                data[at:at] = data[at:end]
            elif op == 6:  # truncated
                del data[at:]
            elif op == 7:  # spliced with another frame
                other = self.seed_bytes()
                data = data[:at] + other[rng.randrange(len(other) + 1) :]
            elif op == 8 and size:  # one digit changed, so numbers drift while the frame stays valid JSON
                digits = [i for i, b in enumerate(data) if 48 <= b <= 57]
                if digits:
                    data[rng.choice(digits)] = rng.randrange(48, 58)
            else:  # whitespace or the whole frame twice
                data = data + data if rng.random() < 0.3 else bytearray(b" \t\r\n" + data + b"\n")
        return bytes(data)


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every ``(container, key)`` of a shallow tree (``Raw`` and ``Pairs`` are leaves)."""
    found: list[tuple[Any, Any]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            for key, value in node.items():
                found.append((node, key))
                stack.append(value)
        elif kind is list:
            for index, value in enumerate(node):
                found.append((node, index))
                stack.append(value)
    return found


def _replace(tree: Any, old: Any, new: Any) -> Any:
    if tree is old:
        return new
    for container, key in _slots(tree):
        if container[key] is old:
            container[key] = new
            break
    return tree


# -- driving decode() and the coordinator ------------------------------------------------------------------------
def dated_ahead(event: AccountConfigUpdate, time_scale: float) -> bool:
    """Decodes, but the coordinator drops it as corrupt: dated further ahead than its horizon (a day, scaled)."""
    return event.event_time > (time.time() + FUTURE_HORIZON_S * time_scale) * 1000


def outcome(raw: bytes | str) -> tuple[str, Any]:
    """``(outcome name, event or exception)``; the name is ``exception`` for anything but a DecodeError."""
    try:
        event = decode(raw)
    except UnknownEventError as exc:
        return "unknown_event", exc
    except DecodeError as exc:
        return "decode_error", exc
    except Exception as exc:
        return "exception", exc
    if type(event) is AccountConfigUpdate:
        if event.symbol is not None:
            return ("config_leverage_and_flag" if event.multi_assets is not None else "config_leverage"), event
        return ("config_flag" if event.multi_assets is not None else "config_neither"), event
    if type(event) is ListenKeyExpired:
        return "listen_key_expired", event
    if type(event) is OtherEvent:
        return "other_event", event
    if type(event) is AccountUpdate:
        return "account_update", event
    if type(event) is OrderUpdate:
        return "order_update", event
    return "exception", TypeError(f"decode returned {type(event).__name__}")


OK_OUTCOMES: Final = frozenset(
    {
        "config_leverage",
        "config_leverage_and_flag",
        "config_flag",
        "config_neither",
        "listen_key_expired",
        "other_event",
        "account_update",
        "order_update",
    }
)
APPLIED_OUTCOMES: Final = frozenset({"config_leverage", "config_leverage_and_flag", "config_flag"})
"""Frames the coordinator hands to ``LeverageBook.apply`` (a frame with neither ``ac`` nor ``ai`` asks for a resync)."""


def disagrees_with_reference(raw: bytes | str, name: str, result: Any) -> str | None:
    """How ``decode``'s fast path (events/wire.py) answered ``raw`` differently from the reference decoder, or None.

    The one documented difference is allowed: an unread field holding a number that overflows a double (``1e400``)
    costs the frame on the reference path only."""
    try:
        expected: Any = reference_decode(raw)
    except DecodeError as exc:
        if isinstance(result, DecodeError):
            return None if (type(result), str(result)) == (type(exc), str(exc)) else f"{result!r} != {exc!r}"
        if exc.field == "frame" and "infinity" in str(exc):
            return None
        return f"{name}: {result!r}, reference raised {exc!r}"
    except Exception as exc:
        return f"reference raised {exc!r}"
    if isinstance(result, BaseException):
        return f"raised {result!r}, reference gave {expected!r}"
    if type(result) is not type(expected) or result != expected or repr(result) != repr(expected):
        return f"{result!r} != reference {expected!r}"
    return None


def minimise(raw: bytes, still_fails: Callable[[bytes], bool], budget: int = 20_000) -> bytes:
    """Shrink ``raw`` while ``still_fails`` holds: drop ever smaller chunks (ddmin-style), at most ``budget`` tries."""
    chunk = max(1, len(raw) // 2)
    while chunk >= 1 and budget > 0:
        at, shrunk = 0, False
        while at < len(raw) and budget > 0:
            candidate = raw[:at] + raw[at + chunk :]
            budget -= 1
            if candidate != raw and still_fails(candidate):
                raw, shrunk = candidate, True
            else:
                at += chunk
        if not shrunk:
            chunk //= 2
    return raw


def same_failure(exc: BaseException) -> Callable[[bytes], bool]:
    kind = type(exc)

    def check(candidate: bytes) -> bool:
        name, found = outcome(candidate)
        return name == "exception" and type(found) is kind

    return check


class LastValueRecorder:
    """A plugin that keeps, per symbol and per flag, the last change it was told about (cheap at 10^6 frames)."""

    def __init__(self) -> None:
        self.leverage: dict[tuple[str, str], int] = {}
        self.flags: dict[str, bool] = {}
        self.calls: Counter[str] = Counter()

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.calls["pmbridge_leverage_changed"] += 1
        self.leverage[(change.unit, change.exchange_symbol)] = change.new

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self.calls["pmbridge_account_mode_changed"] += 1
        self.flags[change.setting] = change.new

    def pmbridge_stream_state_changed(self, change: Any) -> None:
        self.calls["pmbridge_stream_state_changed"] += 1

    def pmbridge_reconciled(self, report: Any) -> None:
        self.calls["pmbridge_reconciled"] += 1


class BookReader:
    """A strategy-like plugin: told of a change, it reads the book from inside the hook, by exchange id and by
    unified symbol, as a Freqtrade strategy's ``leverage()`` would (an exception here would show in plugin errors)."""

    def __init__(self) -> None:
        self.book: LeverageBook | None = None
        self.reads = 0

    def pmbridge_ready(self, book: LeverageBook) -> None:
        self.book = book

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if self.book is not None:
            self.book.leverage(change.exchange_symbol, change.unit)
            if change.symbol is not None:
                self.book.leverage(change.symbol)
            self.reads += 1


def check_book(book: LeverageBook, expected_events: int | None = None) -> list[str]:
    """Every invariant the book promises, as a list of violations (empty when all hold)."""
    problems: list[str] = []
    mark = book.mark()
    for (unit, symbol), entry in book.entries().items():
        where = f"{unit}:{symbol!r}"
        if unit not in ("UM", "CM"):
            problems.append(f"{where}: unit {unit!r}")
        if type(symbol) is not str or not 0 < len(symbol) <= 40 or not symbol.isprintable() or " " in symbol:
            problems.append(f"{where}: symbol is not a valid exchange id")
        if type(entry.leverage) is not int or not MIN_LEVERAGE <= entry.leverage <= MAX_LEVERAGE:
            problems.append(f"{where}: leverage {entry.leverage!r} outside {MIN_LEVERAGE}..{MAX_LEVERAGE}")
        for name in ("event_time", "transaction_time"):
            value = getattr(entry, name)
            if value is not None and (type(value) is not int or not 0 < value <= MAX_INT64):
                problems.append(f"{where}: {name} {value!r}")
        if entry.source not in ("stream", "snapshot", "reconcile"):
            problems.append(f"{where}: source {entry.source!r}")
        if type(entry.seq) is not int or not 0 <= entry.seq <= mark:
            problems.append(f"{where}: seq {entry.seq!r} outside 0..{mark}")
    for setting, flag in book.flags().items():
        if type(flag.value) is not bool or flag.source not in ("stream", "snapshot", "reconcile"):
            problems.append(f"flag {setting}: {flag!r}")
    stats = book.stats()
    if stats.symbols != len(book.entries()):
        problems.append(f"stats.symbols {stats.symbols} != {len(book.entries())} entries")
    if stats.stale + stats.duplicates > stats.events:
        problems.append(f"stale {stats.stale} + duplicates {stats.duplicates} > events {stats.events}")
    if min(stats.events, stats.stale, stats.duplicates, stats.snapshots, stats.kept_newer) < 0:
        problems.append(f"negative counter in {stats!r}")
    if expected_events is not None and stats.events != expected_events:
        problems.append(f"book applied {stats.events} events, decode() accepted {expected_events} with content")
    return problems


def hooks_agree(book: LeverageBook, recorder: LastValueRecorder) -> list[str]:
    """What plugins were last told equals what the book holds, symbol by symbol and flag by flag."""
    problems = []
    entries = book.entries()
    for key, entry in entries.items():
        told = recorder.leverage.get(key)
        if told != entry.leverage:
            problems.append(f"{key}: book {entry.leverage}x, plugins last told {told}")
    problems += [f"plugins told about {key}, not in the book" for key in recorder.leverage.keys() - entries.keys()]
    for setting, flag in book.flags().items():
        if recorder.flags.get(setting) != flag.value:
            problems.append(f"flag {setting}: book {flag.value}, plugins last told {recorder.flags.get(setting)}")
    return problems


def differences_from(book: LeverageBook, state: dict[str, Any]) -> list[str]:
    """Where the book differs from a simulator ``state()``: every simulated symbol and both flags."""
    problems = []
    for unit, by_symbol in state["leverage"].items():
        for symbol, leverage in by_symbol.items():
            mine = book.leverage(symbol, unit)
            if mine != leverage:
                problems.append(f"{unit}:{symbol}: book {mine}, exchange {leverage}")
    settings: tuple[AccountSetting, ...] = ("multi_assets", "dual_side_position")
    for setting in settings:
        if book.flag(setting) != state[setting]:
            problems.append(f"{setting}: book {book.flag(setting)}, exchange {state[setting]}")
    return problems


class ErrorLogCounter(logging.Handler):
    """Counts ERROR records (a plugin that raised, a fatal stop): a healthy fuzz run logs none."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(record.getMessage()[:300])


def as_received(raw: bytes) -> str | bytes:
    """What the websocket reader would hand over: text frames arrive as ``str``, anything else as ``bytes``."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


async def fuzz_bridge(
    bridge: Bridge,
    frames: Iterable[tuple[str, bytes]],
    *,
    yield_every: int = 100,
    keep: Callable[[int], bool] | None = None,
    settle_timeout: float = 30.0,
    check_reference: bool = True,
) -> dict[str, Any]:
    """Every frame through ``decode()`` and through ``bridge.coordinator.on_frame``; then settle and report.

    ``bridge`` is a started ``pmbridge.bridge.Bridge`` (its stream connected, so listenKeyExpired and resyncs take
    their real paths). The loop yields every ``yield_every`` frames so resyncs and reconnects make progress in between.
    Frames for which ``keep(index)`` is true are returned in ``sample`` (for the live websocket run).
    """
    coordinator = bridge.coordinator
    assert coordinator is not None, "start() the bridge first"
    on_frame = coordinator.on_frame
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(str(context.get("message"))[:300]))
    outcomes: Counter[str] = Counter()
    families: Counter[str] = Counter()
    by_family: dict[str, Counter[str]] = {name: Counter() for name in FAMILIES}
    failures: list[dict[str, Any]] = []
    crashes: list[dict[str, Any]] = []
    failure_count = crash_count = applied = count = dated = mismatch_count = 0
    mismatches: list[dict[str, Any]] = []
    sample: list[bytes] = []
    started = time.perf_counter()
    try:
        for index, (family, raw) in enumerate(frames):
            count += 1
            name, result = outcome(raw)
            outcomes[name] += 1
            families[family] += 1
            if check_reference:
                differs = disagrees_with_reference(raw, name, result)
                if differs is not None:
                    mismatch_count += 1
                    if len(mismatches) < 5:
                        mismatches.append({"frame": repr(raw[:300]), "difference": differs[:300]})
            by_family[family]["ok" if name in OK_OUTCOMES else name] += 1
            if name in APPLIED_OUTCOMES:
                if dated_ahead(result, bridge.config.time_scale):
                    dated += 1
                else:
                    applied += 1
            elif name == "exception":
                failure_count += 1
                if len(failures) < 5:
                    failures.append(_reproducer(raw, result))
            try:
                on_frame(as_received(raw))
            except Exception as exc:
                crash_count += 1
                if len(crashes) < 5:
                    crashes.append(_reproducer(raw, exc))
            if keep is not None and keep(index):
                sample.append(raw)
            if index % yield_every == 0:
                await asyncio.sleep(0)
        fuzz_s = time.perf_counter() - started
        settled = await settle(bridge, settle_timeout)
    finally:
        loop.set_exception_handler(previous_handler)
    bridge.pm.flush()
    stats = bridge.book.stats()
    return {
        "frames": count,
        "fuzz_s": round(fuzz_s, 3),
        "frames_per_s": round(count / fuzz_s) if fuzz_s else None,
        "outcomes": dict(sorted(outcomes.items())),
        "families": {name: dict(sorted(by_family[name].items())) for name in FAMILIES if families[name]},
        "exceptions_other_than_decode_error": failure_count,
        "fast_path_disagrees_with_reference": mismatch_count,
        "disagreements": mismatches,
        "reproducers": failures,
        "coordinator_crashes": crash_count,
        "crash_reproducers": crashes,
        "loop_errors": loop_errors[:5],
        "loop_error_count": len(loop_errors),
        "settled": settled,
        "dated_ahead": dated,
        "future_events": bridge.coordinator.future_events if bridge.coordinator else 0,
        "applied_expected": applied,
        "book": attrs.asdict(stats),
        "stream": {
            "resyncs": coordinator.resyncs,
            "key_renewals": coordinator.stream.key_renewals,
            "connections": coordinator.stream.connections,
            "decode_errors": coordinator.decode_errors,
            "unknown_event_types": len(coordinator.unknown_event_types),
        },
        "sample": sample,
    }


async def settle(bridge: Bridge, timeout: float) -> bool:
    """Let pending reconnects and resyncs finish, then take one more snapshot (it also drains any buffer)."""
    await asyncio.sleep(0.05)
    deadline = time.monotonic() + timeout
    while not bridge.available:
        if time.monotonic() > deadline or bridge.stop_reason is not None:
            return False
        await asyncio.sleep(0.01)
    await bridge.reconcile_now()
    if bridge.coordinator is not None:  # changes held for a position read-back reach the plugins too
        await bridge.coordinator.readback.settled()
    return bridge.available


def _reproducer(raw: bytes, exc: BaseException) -> dict[str, Any]:
    return {
        "exception": f"{type(exc).__name__}: {str(exc)[:200]}",
        "frame": repr(raw[:300]) + (f" ... ({len(raw)} bytes)" if len(raw) > 300 else ""),
        "minimal": repr(minimise(raw, same_failure(exc))) if isinstance(exc, Exception) else None,
    }
