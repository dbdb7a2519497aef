"""``pmbridge record`` / ``pmbridge replay`` and ``LeverageTimeline``: a real bridge records the simulator, and the
replay must print what that live bridge printed, the timeline must answer as the book stood at each moment, and no
secret may reach the file or any output.

The commands are not wired into the ``pmbridge`` executable yet, so they are driven through their own modules:
``record`` in a real process (``python -c``, so SIGTERM is the real signal path), ``replay`` in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import attrs
import pytest
import requests

from pmbridge.cli import record, replay
from pmbridge.recording import RecordingError
from pmbridge.sim import SimulatorThread
from pmbridge.sim.tokens import token_source
from pmbridge.timeline import LeverageTimeline

from .secrets_audit import audit_secrets

# Distinctive, and shorter than the 32 characters redact.scrub masks on sight: only the by-value masking and the
# fact that the recorder never writes them can keep them out.
API_KEY = "recKEY-distinct-71f3"
API_SECRET = "recSECRET-distinct-9c2e"
SEED = 4242  # the simulator draws its listenKeys from token_source(SEED): every key it can issue is known


def issued_listen_keys(count: int = 100) -> list[str]:
    next_token = token_source(SEED)
    return [next_token() for _ in range(count)]


RECORD_MAIN = (
    "import argparse, sys; from pmbridge.cli import record; p = argparse.ArgumentParser(); "
    "record.add_arguments(p); sys.exit(record.run(p.parse_args(sys.argv[1:])))"
)


def command(module: Any, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    code: int = module.run(parser.parse_args(list(argv)))
    return code


class Lines:
    """JSON lines from a process's stdout, read on a thread so every wait has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._next = 0
        threading.Thread(target=lambda: [self._queue.put(line) for line in stream], daemon=True).start()

    def drain(self, quiet_for: float = 0.2) -> None:
        """Take every line still in flight (the process has exited)."""
        try:
            while True:
                self.seen.append(json.loads(self._queue.get(timeout=quiet_for)))
        except queue.Empty:
            pass

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while self._next < len(self.seen):
                line = self.seen[self._next]
                self._next += 1
                if predicate(line):
                    return line
            try:
                self.seen.append(json.loads(self._queue.get(timeout=max(0.0, deadline - time.monotonic()))))
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {what}; printed so far: {self.seen}") from None


def leverage(symbol: str, new: int) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["kind"] == "leverage" and line["exchange_symbol"] == symbol and line["new"] == new


def position(symbol: str, change: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["kind"] == "position" and line["exchange_symbol"] == symbol and line["change"] == change


READ_BACK: tuple[str, ...] = ("liquidation_price", "mark_price", "unrealized_pnl", "break_even_price", "update_time")
"""What live had from its REST read-back after a change, and a replay (which makes no REST call) cannot have."""


def comparable(line: dict[str, Any]) -> dict[str, Any]:
    """A printed change without the read-back figures (the positions nested in it without theirs, or their source)."""

    def bare(view: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in view.items() if k not in (*READ_BACK, "source")}

    if line["kind"] == "position":
        return {**{k: v for k, v in line.items() if k not in READ_BACK}, "old": line["old"] and bare(line["old"])}
    if line["kind"] == "leverage":
        return {**line, "positions": [bare(p) for p in line["positions"]]}
    return line


def stream_state(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: line["kind"] == "stream" and line["state"] == state


def changes(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["kind"] != "stream"]


@attrs.frozen
class Recorded:
    path: Path
    live: list[dict[str, Any]]
    """What the recording bridge printed (``--json``): the view of a live ``watch``, from the same Printer plugin."""
    stderr: str
    listen_key: str
    """The key the simulator had active at the end, straight from its REST API."""


@pytest.fixture(autouse=True, scope="module")
def _audited_credentials() -> None:
    """This module's own credentials and listenKeys, for the secrets audit to look for everywhere too."""
    keys = {f"listenKey_{number}": key for number, key in enumerate(issued_listen_keys())}
    audit_secrets(api_key=API_KEY, api_secret=API_SECRET, **keys)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One recording of a session on the simulator: snapshot, pushes, an expiry, and a change only reconcile sees."""
    path = tmp_path_factory.mktemp("record") / "account.jsonl"
    env = {**os.environ, "PMBRIDGE_API_KEY": API_KEY, "PMBRIDGE_API_SECRET": API_SECRET}
    # No token prefix: these listenKeys are plain 64-character tokens, known to the audit by value alone.
    with SimulatorThread(symbols=6, api_key=API_KEY, api_secret=API_SECRET, seed=SEED, token_prefix="") as sim:
        process = subprocess.Popen(
            [sys.executable, "-c", RECORD_MAIN, str(path), "--base-url", sim.base_url, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert process.stdout is not None and process.stderr is not None
        live = Lines(process.stdout)
        try:
            live.wait_for(stream_state("connected"), "the first snapshot", timeout=15)
            sim.set_leverage("BTCUSDT", 25)  # "in the Binance app": pushed on the stream
            live.wait_for(leverage("BTCUSDT", 25), "BTCUSDT -> 25x")
            # A trade in the app opens a position; a leverage change applies to it; a later close ends it.
            sim.set_price("BTCUSDT", 60000)
            sim.set_price("ETHUSDT", 3000)
            sim.place_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.500")
            live.wait_for(position("BTCUSDT", "opened"), "the BTCUSDT long to open")
            sim.set_leverage("BTCUSDT", 10)
            live.wait_for(leverage("BTCUSDT", 10), "BTCUSDT -> 10x with the position read back")
            sim.set_multi_assets(True)
            live.wait_for(lambda line: line["kind"] == "multi_assets" and line["new"] is True, "multi-assets on")
            sim.expire_key()  # listenKeyExpired carries the key; the bridge takes a new one and resyncs
            live.wait_for(stream_state("disconnected"), "the expiry")
            live.wait_for(stream_state("connected"), "the resync after the expiry")
            sim.set_leverage("BTCUSD_PERP", 50)
            live.wait_for(leverage("BTCUSD_PERP", 50), "BTCUSD_PERP -> 50x")
            # A change made while the socket is down is never pushed: only the reconcile after the reconnect finds
            # it. The failing listenKey request holds the reconnect back one backoff, so the change always lands first.
            sim.fail(503, 1, paths=["/papi/v1/listenKey"])
            sim.drop()
            sim.set_leverage("ETHUSDT", 40)
            sim.place_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1.000")  # a fill in the gap too
            live.wait_for(leverage("ETHUSDT", 40), "ETHUSDT -> 40x found by reconcile")
            live.wait_for(position("ETHUSDT", "opened"), "the ETHUSDT short found by reconcile")
            sim.close_position("BTCUSDT")
            live.wait_for(position("BTCUSDT", "closed"), "the BTCUSDT long to close")
            listen_key = requests.post(
                f"{sim.base_url}/papi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY}, timeout=5
            ).json()["listenKey"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    live.drain()
    return Recorded(path, live.seen, stderr, listen_key)


def test_replay_prints_what_the_live_bridge_printed(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    assert command(replay, str(recorded.path), "--json", "--speed", "0") == 0
    replayed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Same changes, same order, same sources (snapshot fill, stream pushes, the reconcile that found ETHUSDT).
    # Stream transitions are not recorded, so only the live output has "stream" lines. The one case where sources
    # can differ is a frame received while a resync is in flight: live announces the REST value, then the buffered
    # event; the replay applies the frame in receipt order, so the reconciled book after it agrees and only the
    # stream change shows. Each step of the session waits for the previous one to keep clear of that race.
    # Positions too, but live announced a change on an open position after reading it back over REST (liquidation
    # price, mark price, profit), and a replay makes no REST call: those figures are compared apart, below.
    assert [comparable(line) for line in changes(replayed)] == [comparable(line) for line in changes(recorded.live)]
    assert {(line["kind"], line["source"]) for line in replayed} >= {
        ("leverage", "snapshot"),
        ("leverage", "stream"),
        ("leverage", "reconcile"),
        ("multi_assets", "stream"),
        ("dual_side_position", "snapshot"),
        ("position", "stream"),
        ("position", "reconcile"),
    }
    eth = next(line for line in replayed if line["kind"] == "leverage" and line["new"] == 40)
    assert eth["symbol"] == "ETH/USDT:USDT" and eth["source"] == "reconcile" and eth["old"] == 20
    moved = [
        (line["exchange_symbol"], line["change"], line["source"]) for line in replayed if line["kind"] == "position"
    ]
    assert moved == [
        ("BTCUSDT", "opened", "stream"),
        ("ETHUSDT", "opened", "reconcile"),
        ("BTCUSDT", "closed", "stream"),
    ]
    # The short found by the reconcile comes from the snapshot line: the exchange's figures, exactly as live.
    live_eth, replayed_eth = (next(filter(position("ETHUSDT", "opened"), lines)) for lines in (recorded.live, replayed))
    assert live_eth == replayed_eth and replayed_eth["liquidation_price"] is not None
    # The leverage change on the open long carries it at 10x in both; live with the exchange's liquidation price.
    live_10, replayed_10 = (
        next(line for line in lines if line["kind"] == "leverage" and line["new"] == 10)
        for lines in (recorded.live, replayed)
    )
    assert live_10["positions"][0]["leverage"] == replayed_10["positions"][0]["leverage"] == 10
    assert live_10["positions"][0]["source"] == "readback" and live_10["positions"][0]["liquidation_price"]


def test_no_secret_reaches_the_recording_or_any_output(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    assert command(replay, str(recorded.path), "--speed", "0") == 0  # the text output this time
    out, err = capsys.readouterr()
    text = recorded.path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["pmbridge_recording"] == 1 and records[0]["account"] == "pm"
    expired = [json.loads(r["frame"]) for r in records if "frame" in r and "listenKeyExpired" in r["frame"]]
    assert len(expired) == 1 and expired[0]["listenKey"] == "**REDACTED**"
    issued = issued_listen_keys()
    assert recorded.listen_key in issued  # the seeded source is really where the keys came from
    outputs = {
        "recording": text,
        "record stdout": json.dumps(recorded.live),
        "record stderr": recorded.stderr,
        "replay stdout": out,
        "replay stderr": err,
    }
    for where, content in outputs.items():
        for secret in (API_KEY, API_SECRET, *issued):
            assert secret not in content, f"a secret reached the {where}"


def test_timeline_answers_as_the_book_stood_before_and_after_each_change(recorded: Recorded) -> None:
    timeline = LeverageTimeline.from_recording(recorded.path)
    records = [json.loads(line) for line in recorded.path.read_text().splitlines()]
    first_snapshot = next(r["t"] for r in records if "snapshot" in r)
    assert timeline.leverage_at("BTCUSDT", first_snapshot - 1) is None  # nothing known before the first snapshot
    assert timeline.leverage_at("BTCUSDT", first_snapshot) == 20

    def frame_time(symbol: str, new: int) -> float:
        return next(r["t"] for r in records if "frame" in r and f'"s":"{symbol}","l":{new}' in r["frame"])

    for symbol, unified, old, new in (
        ("BTCUSDT", "BTC/USDT:USDT", 20, 25),
        ("BTCUSD_PERP", "BTC/USD:BTC", 20, 50),
    ):
        at = frame_time(symbol, new)
        assert timeline.leverage_at(symbol, at - 0.001) == old
        assert timeline.leverage_at(symbol, at) == new
        assert timeline.leverage_at(unified, at) == new  # by unified symbol too: the markets are in the recording
    multi_at = next(r["t"] for r in records if "frame" in r and '"ai":{"j":true}' in r["frame"])
    assert timeline.multi_assets_at(multi_at - 0.001) is False
    assert timeline.multi_assets_at(multi_at) is True
    # ETHUSDT changed while the socket was down: the timeline knows it from the reconcile's snapshot line.
    found_at = next(r["t"] for r in records if "snapshot" in r and r["snapshot"]["UM"].get("ETHUSDT") == 40)
    assert timeline.leverage_at("ETH/USDT:USDT", found_at - 0.001) == 20
    assert timeline.leverage_at("ETH/USDT:USDT", found_at) == 40
    assert timeline.leverage_at("ETHUSDT", 1e15) == 40  # after the end: the last value
    assert timeline.leverage_at("NOSUCHUSDT", found_at) is None
    assert timeline.bad_lines == [] and timeline.decode_errors == 0


# -- replay and timeline on hand-made recordings ----------------------------------------------------------------
T0 = 1_700_000_000_000.0


def header() -> str:
    return json.dumps({"pmbridge_recording": 1, "account": "pm", "started": T0})


def frame(t: float, symbol: str, lev: int, event_time: int | None = None) -> str:
    raw = {"e": "ACCOUNT_CONFIG_UPDATE", "fs": "UM", "E": event_time or int(t), "ac": {"s": symbol, "l": lev}}
    return json.dumps({"t": t, "frame": json.dumps(raw)})


def snapshot(t: float, leverage: dict[str, int], multi_assets: bool = False) -> str:
    body = {"UM": leverage, "CM": {}, "multi_assets": multi_assets, "dual_side_position": False}
    return json.dumps({"t": t, "snapshot": body, "source": "snapshot", "trigger": "connect"})


def fill(t: float, amount: str, entry: str = "60000.0") -> str:
    """A Portfolio Margin ACCOUNT_UPDATE: BTCUSDT's one-way position is now ``amount`` (0: closed)."""
    row = {"s": "BTCUSDT", "pa": amount, "ep": entry, "cr": "0", "up": "0", "ps": "BOTH", "bep": entry}
    raw = {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": int(t), "T": int(t), "a": {"m": "ORDER", "B": [], "P": [row]}}
    return json.dumps({"t": t, "frame": json.dumps(raw)})


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("speed", "low", "high"), [("1", 0.8, 1.5), ("4", 0.2, 0.5), ("0", 0.0, 0.15)])
def test_replay_keeps_the_recorded_pace_times_speed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], speed: str, low: float, high: float
) -> None:
    path = write(
        tmp_path / "paced.jsonl",
        header(),
        snapshot(T0, {"BTCUSDT": 20}),
        frame(T0 + 400, "BTCUSDT", 21),
        frame(T0 + 800, "BTCUSDT", 22),
    )
    started = time.monotonic()
    assert command(replay, str(path), "--json", "--speed", speed) == 0
    elapsed = time.monotonic() - started
    assert low <= elapsed < high, f"--speed {speed}: {elapsed:.3f} s for 0.8 s of recording"
    assert [json.loads(line)["new"] for line in capsys.readouterr().out.splitlines()] == [20, False, False, 21, 22]


def test_replay_rejects_a_negative_speed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        command(replay, "any.jsonl", "--speed", "-1")
    assert exc.value.code == 2
    assert "--speed: must be 0 (as fast as possible) or a positive factor" in capsys.readouterr().err


def test_bad_lines_are_named_by_number_and_the_replay_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "damaged.jsonl",
        header(),
        snapshot(T0, {"BTCUSDT": 20}),
        "this is not json",
        json.dumps({"t": "soon", "frame": "{}"}),
        frame(T0 + 10, "BTCUSDT", 25),
        "[1, 2]",
        json.dumps({"t": T0 + 20, "frame": '{"e":"ACCOUNT_CONFIG_UPDATE","E":5,"ac":{"s":"BTCUSDT","l":0}}'}),
        frame(T0 + 30, "ETHUSDT", 30),
        '{"t": 1700000000040.0, "fra',  # cut short when the recorder was killed mid-line
    )
    assert command(replay, str(path), "--json", "--speed", "0") == 1
    out, err = capsys.readouterr()
    news = [(line.get("exchange_symbol"), line["new"]) for line in map(json.loads, out.splitlines())]
    assert news[-2:] == [("BTCUSDT", 25), ("ETHUSDT", 30)]  # the lines after each bad one were still replayed
    assert "line 3: not JSON" in err
    assert "line 4: 't' must be a receive time in ms since the epoch, got 'soon'" in err
    assert "line 6: expected a JSON object, got list" in err
    assert "line 9: not JSON" in err
    assert "line 7: the recorded frame does not decode (ac.l: leverage must be between 1 and 125" in err
    assert "4 bad lines skipped" in err and "1 frames did not decode" in err


def test_a_recording_from_before_positions_were_recorded_still_replays_them_from_its_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Snapshot lines without "positions", as pmbridge wrote them before; its frames always held ACCOUNT_UPDATE.
    path = write(
        tmp_path / "before.jsonl",
        header(),
        snapshot(T0, {"BTCUSDT": 20}),
        fill(T0 + 100, "0.5"),
        snapshot(T0 + 200, {"BTCUSDT": 20}),  # says nothing of positions: the long stays open
        frame(T0 + 300, "BTCUSDT", 10),
        fill(T0 + 400, "0"),
    )
    assert command(replay, str(path), "--json", "--speed", "0") == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    moves = [(line["change"], line["amount"], line["leverage"]) for line in lines if line["kind"] == "position"]
    assert moves == [("opened", "0.5", 20), ("closed", "0", 10)]
    [at_10x] = [line for line in lines if line["kind"] == "leverage" and line["new"] == 10]
    assert [(p["amount"], p["leverage"]) for p in at_10x["positions"]] == [("0.5", 10)]
    assert at_10x["origin"] == "external"
    assert "2 snapshots replayed" in err and "bad lines" not in err


def test_snapshot_lines_with_positions_correct_the_replayed_book_and_a_bad_one_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = {"exchange_symbol": "BTCUSDT", "unit": "UM", "side": "BOTH", "amount": "0.5", "entry_price": "60000.0",
            "leverage": 20, "margin_type": "cross", "liquidation_price": "40198.9"}  # fmt: skip

    def with_positions(t: float, source: str, positions: list[Any]) -> str:
        line = json.loads(snapshot(t, {"BTCUSDT": 20}))
        line["snapshot"]["positions"], line["source"] = positions, source
        return json.dumps(line)

    path = write(
        tmp_path / "positions.jsonl",
        header(),
        with_positions(T0, "snapshot", [long]),
        with_positions(T0 + 100, "reconcile", [{**long, "amount": "a lot"}]),
        with_positions(T0 + 200, "reconcile", []),  # closed while the socket was down
    )
    assert command(replay, str(path), "--json", "--speed", "0") == 1
    out, err = capsys.readouterr()
    moves = [json.loads(line) for line in out.splitlines() if '"position"' in line]
    assert [(m["change"], m["source"], m["liquidation_price"]) for m in moves] == [
        ("opened", "snapshot", "40198.9"),
        ("closed", "reconcile", None),
    ]
    assert moves[1]["old"]["amount"] == "0.5"
    assert "line 3: 'snapshot.positions[0]': 'amount' must be a decimal number as a string, got 'a lot'" in err


def test_a_file_that_is_no_recording_is_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "frames.jsonl", '{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT","l":25}}')
    assert command(replay, str(path), "--speed", "0") == 1
    err = capsys.readouterr().err
    assert "is not a pmbridge recording: it holds raw user-stream frames without a recording's header" in err
    assert "`pmbridge decode FILE` reads those" in err and "Record one with `pmbridge record FILE`" in err
    newer = write(tmp_path / "newer.jsonl", json.dumps({"pmbridge_recording": 2, "account": "pm", "started": T0}))
    assert command(replay, str(newer), "--speed", "0") == 1
    assert "recording format 2 is not one this pmbridge reads" in capsys.readouterr().err
    with pytest.raises(RecordingError, match="cannot open the recording"):
        LeverageTimeline.from_recording(tmp_path / "missing.jsonl")


def test_replay_says_what_an_empty_file_or_watch_output_is_and_what_a_recording_is(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording_is = (
        "A recording is the file `pmbridge record FILE` writes: JSON lines, the header "
        '{"pmbridge_recording": 1, ...} first, then the markets, the raw user-stream frames and the snapshots. '
        "Record one with `pmbridge record FILE`, then replay that file"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert command(replay, str(empty), "--speed", "0") == 1
    err = capsys.readouterr().err
    assert f"pmbridge replay: {str(empty)!r} is not a pmbridge recording: it is empty. {recording_is}" in err
    assert "replayed" not in err  # it used to report "0 frames and 0 snapshots replayed" and exit 0
    # What `pmbridge watch --json` (here `record --json`, the same printer) wrote, fed to replay by mistake.
    watched = write(tmp_path / "watch.jsonl", *(json.dumps(line) for line in recorded.live))
    assert command(replay, str(watched), "--speed", "0") == 1
    err = capsys.readouterr().err
    first_kind = recorded.live[0]["kind"]
    assert (
        f"is not a pmbridge recording: it is what `pmbridge watch --json` prints (its first line is a {first_kind!r}"
        in err
    )
    assert recording_is in err
    assert "'t' must be" not in err and "replayed" not in err


def test_timeline_follows_the_books_order_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ordered.jsonl",
        header(),
        snapshot(T0, {"BTCUSDT": 20}),
        frame(T0 + 100, "BTCUSDT", 30, event_time=3000),
        frame(T0 + 200, "BTCUSDT", 25, event_time=2000),  # a late copy of an older event: stale, ignored
        frame(T0 + 300, "BTCUSDT", 30, event_time=3000),  # the same event again: a duplicate, no change
        json.dumps({"t": T0 + 400, "frame": json.dumps({"e": "ACCOUNT_CONFIG_UPDATE", "E": 4000, "ai": {"j": True}})}),
        snapshot(T0 + 500, {"BTCUSDT": 10}, multi_assets=True),  # drift found by a reconcile
    )
    timeline = LeverageTimeline.from_recording(path)
    assert [timeline.leverage_at("BTCUSDT", T0 + dt) for dt in (-1, 0, 99, 100, 250, 499, 500)] == [
        None,
        20,
        20,
        30,
        30,
        30,
        10,
    ]
    assert [timeline.multi_assets_at(T0 + dt) for dt in (-1, 0, 399, 400)] == [None, False, False, True]
    assert timeline.dual_side_position_at(T0) is False
    assert timeline.leverage_at("BTC/USDT:USDT", T0 + 500) is None  # no markets line: unified names unknown
    assert timeline.start == T0 and timeline.end == T0 + 500
    assert timeline.exchange_symbols() == [("UM", "BTCUSDT")]


# -- the recorder in-process --------------------------------------------------------------------------------------
def test_record_stops_after_duration_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "short.jsonl"
    with SimulatorThread(symbols=4, api_key=API_KEY, api_secret=API_SECRET) as sim:
        monkeypatch.setenv("PMBRIDGE_API_KEY", API_KEY)
        monkeypatch.setenv("PMBRIDGE_API_SECRET", API_SECRET)
        started = time.monotonic()
        assert command(record, str(path), "--base-url", sim.base_url, "--duration", "0.3", "--quiet") == 0
        assert time.monotonic() - started < 10
        _out, err = capsys.readouterr()
        assert "0 frames and 1 snapshots written to" in err and "recorded for 0.3 s" in err
        kinds = [next(iter(json.loads(line))) for line in path.read_text().splitlines()]
        assert kinds == ["pmbridge_recording", "t", "t"]  # header, markets, the first snapshot
        assert command(record, str(path), "--base-url", sim.base_url, "--duration", "0.3") == 2
        assert "exists; pass --force to overwrite it" in capsys.readouterr().err


async def test_the_frame_observer_sees_raw_frames_and_its_errors_never_stop_the_stream(pmbridge_sim: Any) -> None:
    from pmbridge.bridge import Bridge
    from pmbridge.manager import create_plugin_manager
    from pmbridge.testing import HookRecorder, fast_config

    seen: list[tuple[str | bytes, float]] = []

    def observer(raw: str | bytes, received_at: float) -> None:
        seen.append((raw, received_at))
        raise OSError("disk full")

    hooks = HookRecorder()
    pm = create_plugin_manager(load_entrypoints=False)
    bridge = Bridge(fast_config(pmbridge_sim), pm=pm, plugins=(hooks,), frame_observer=observer)
    await bridge.start()
    try:
        await pmbridge_sim.set_leverage("BTCUSDT", 33)
        await hooks.wait_for_leverage("BTCUSDT", 33, source="stream")
        await pmbridge_sim.set_leverage("BTCUSDT", 34)  # the stream is still alive after the observer raised
        await hooks.wait_for_leverage("BTCUSDT", 34, source="stream")
    finally:
        await bridge.stop()
    assert [json.loads(raw)["ac"]["l"] for raw, _at in seen] == [33, 34]
    assert all(abs(at - time.time()) < 5 for _raw, at in seen)
