"""``pmbridge doctor``: check everything a bridge needs, one verdict and one thing to do per check, then diagnostics."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeVar

import orjson
from attrs import frozen
from rich.console import Console
from rich.markup import escape

from .. import __version__
from ..book import PositionSnapshot, Snapshot
from ..bridge import Bridge
from ..config import BridgeConfig
from ..errors import ConfigError, ExchangeError, PluginError
from ..manager import PluginManager, create_plugin_manager
from ..readings import leverage_snapshot, positions_snapshot
from ..redact import redact
from ..rest import RestClient
from ..symbols import SymbolMap
from .advice import ACCOUNT_WORDS, exchange_advice
from .common import CREDENTIALS_HELP, add_connection_arguments, config_from_args, host_of
from .exits import EXIT_FAILURE, EXIT_OK
from .output import describe
from .signals import StopSignals

T = TypeVar("T")
Status = Literal["ok", "warn", "fail", "skip"]

SKEW_WARN_S: Final = 0.5
RECV_WINDOW_S: Final = 10.0
"""ccxt's binance signs with recvWindow 10000: Binance refuses (-1021) a request stamped further behind its clock."""
AHEAD_LIMIT_S: Final = 1.0
"""Binance refuses (-1021) a request stamped more than 1 s ahead of its clock, whatever the recvWindow."""

EPILOG = f"""\
Checks, in order: the configuration; that the REST host answers, and the local clock against the exchange's
(warn over {SKEW_WARN_S:g} s; fail when Binance would refuse every signed call: more than {AHEAD_LIMIT_S:g} s ahead, or
more than the {RECV_WINDOW_S:g} s recvWindow behind); the credentials (a signed call); the
user-stream permission (a listenKey); the account mode (hedge or one-way, multi-assets); the open positions; the
plugins and their hooks.
Each prints ok, warn, fail (or skip when an earlier failure makes it moot) and what to do. Then a diagnostics dump
to paste into a bug report: secrets, keys and listenKeys are redacted. Read-only: nothing on the account is changed.

{CREDENTIALS_HELP}

examples:
  pmbridge doctor
  pmbridge doctor --config user_data/config.json
  pmbridge doctor --json | jq '.checks[] | select(.status != "ok")'

exit codes: 0 every check ok or warn; 1 any check failed; 2 bad command line; 130 (Ctrl-C) or 143 (SIGTERM)
interrupted: no verdict."""


@frozen
class Check:
    name: str
    status: Status
    message: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


class _FirstAnswer(RestClient):
    """The doctor reports each call's first failure: retrying a refused connection forever would hide it."""

    async def call(self, what: str, method: Callable[..., Awaitable[T]], *args: Any, retry: bool = True) -> T:
        return await super().call(what, method, *args, retry=False)


class Doctor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.checks: list[Check] = []
        self.config: BridgeConfig | None = None
        self.pm: PluginManager | None = None
        self.rest: RestClient | None = None
        self.symbols: SymbolMap | None = None
        self.snapshot: Snapshot | None = None
        self.positions: PositionSnapshot | None = None

    def add(self, name: str, status: Status, message: str) -> None:
        self.checks.append(Check(name, status, message))

    async def run(self) -> dict[str, Any]:
        self.check_configuration()
        if self.config is not None:
            self.rest = _FirstAnswer(self.config)
            try:
                await self.check_exchange(self.config, self.rest)
            finally:
                await self.rest.close()
        self.check_plugins()
        return {"checks": [check.to_json() for check in self.checks], "diagnostics": self.diagnostics()}

    def check_configuration(self) -> None:
        try:
            self.config = config = config_from_args(self.args)
        except ConfigError as exc:
            self.add("configuration", "fail", f"{exc}")
            for name in ("exchange reachable", "clock", "credentials", "user stream", "account mode", "positions"):
                self.add(name, "skip", "not checked: fix the configuration first")
            return
        source = f"--config {self.args.config}" if self.args.config else "the environment"
        self.add(
            "configuration",
            "ok",
            f"{ACCOUNT_WORDS[config.account]} account at {host_of(config)}; credentials from {source}",
        )

    async def check_exchange(self, config: BridgeConfig, rest: RestClient) -> None:
        host = host_of(config)
        started = time.perf_counter()
        try:
            self.symbols = await rest.open()
        except ExchangeError as exc:
            self.add(
                "exchange reachable",
                "fail",
                f"could not load markets from {host}: {exc}. Check the network (proxy, firewall, DNS) and --base-url",
            )
            for name in ("clock", "credentials", "user stream", "account mode", "positions"):
                self.add(name, "skip", f"not checked: {host} is not reachable")
            return
        self.add(
            "exchange reachable",
            "ok",
            f"{host} answered: {len(rest.exchange.markets or {})} markets in {time.perf_counter() - started:.2f} s",
        )
        clock_ok = await self.check_clock(rest)
        await self.check_credentials(config, rest, clock_ok)
        await self.check_user_stream(config, rest)
        self.check_account_mode(config)
        await self.check_positions(config, rest)

    async def check_clock(self, rest: RestClient) -> bool:
        before = time.time()
        try:
            server_ms = await rest.call("read server time", rest.exchange.fetch_time)
        except ExchangeError as exc:
            self.add("clock", "warn", f"could not read the exchange's time ({exc}); the clock was not compared")
            return True
        after = time.time()
        skew = float(server_ms) / 1000.0 - (before + after) / 2
        direction = "behind" if skew > 0 else "ahead of"
        said = f"the local clock is {abs(skew):.3f} s {direction} the exchange's (round trip {after - before:.3f} s)"
        if skew > RECV_WINDOW_S or skew < -AHEAD_LIMIT_S:
            self.add(
                "clock",
                "fail",
                f"{said}: Binance refuses a signed request stamped more than {AHEAD_LIMIT_S:g} s ahead of its clock or "
                f"more than the {RECV_WINDOW_S:g} s recvWindow behind it (-1021). pmbridge measures the offset and "
                "retries, but the bot's own signed calls fail. Sync the clock (e.g. `timedatectl set-ntp true`)",
            )
            return False
        if abs(skew) > SKEW_WARN_S:
            self.add(
                "clock",
                "warn",
                f"{said}: Binance refuses requests more than {AHEAD_LIMIT_S:g} s ahead or {RECV_WINDOW_S:g} s behind; "
                "enable NTP time sync",
            )
        else:
            self.add("clock", "ok", said)
        return True

    async def check_credentials(self, config: BridgeConfig, rest: RestClient, clock_ok: bool) -> None:
        try:
            self.snapshot = await leverage_snapshot(rest)
        except ExchangeError as exc:
            advice = exchange_advice(exc, config.account)
            if exc.code == -1021 and not clock_ok:
                advice += " (see the clock check)"
            self.add("credentials", "fail", f"a signed call failed: {advice}")
            return
        self.add("credentials", "ok", f"signed calls accepted: read {self.snapshot.symbols} symbols' leverage")

    async def check_user_stream(self, config: BridgeConfig, rest: RestClient) -> None:
        try:
            await rest.create_listen_key()  # the key is shared by the account's clients: kept, never closed here
        except ExchangeError as exc:
            if exc.code == -2015:
                message = (
                    "the key may not open a user data stream (-2015 on creating a listenKey): enable the key for "
                    f"{ACCOUNT_WORDS[config.account]} and check its IP whitelist"
                )
            else:
                message = f"could not create a listenKey: {exchange_advice(exc, config.account)}"
            self.add("user stream", "fail", message)
            return
        self.add("user stream", "ok", "a listenKey was created: the key may open the user data stream")

    def check_account_mode(self, config: BridgeConfig) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            self.add("account mode", "skip", "not checked: the snapshot needs working credentials")
            return

        def words(value: bool | None, on: str, off: str) -> str:
            return "unknown" if value is None else (on if value else off)

        position = words(snapshot.dual_side_position, "hedge mode (dual side)", "one-way mode")
        units = ", ".join(f"{len(by_symbol)} {unit}" for unit, by_symbol in snapshot.leverage.items())
        text = f"{position}; multi-assets {words(snapshot.multi_assets, 'on', 'off')}; symbols: {units}"
        if config.account == "coinm":
            text = f"{position}; symbols: {units} (COIN-M has no multi-assets mode)"
        self.add("account mode", "ok", text)

    async def check_positions(self, config: BridgeConfig, rest: RestClient) -> None:
        if self.snapshot is None or self.symbols is None:
            self.add("positions", "skip", "not checked: reading positions needs working credentials")
            return
        try:
            self.positions = await positions_snapshot(rest, self.symbols)
        except ExchangeError as exc:
            advice = exchange_advice(exc, config.account)
            self.add(
                "positions",
                "fail",
                f"could not read the open positions: {advice}. A bridge reads them on every resync and cannot start "
                "without them",
            )
            return
        found = [p for p in self.positions.positions if p.is_open]
        listed = "; ".join(f"{p.symbol or p.exchange_symbol} {describe(p)}" for p in found[:3])
        more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
        self.add("positions", "ok", f"{len(found)} open: {listed}{more}" if found else "no open positions")

    def check_plugins(self) -> None:
        try:
            self.pm = pm = create_plugin_manager()
        except PluginError as exc:
            self.add("plugins", "fail", f"{exc}")
            return
        rows = pm.describe()
        listed = "; ".join(f"{row['name']} ({', '.join(row['hooks']) or 'no hooks'})" for row in rows)
        blocked = pm.blocked()
        text = f"{len(rows)} loaded: {listed}"
        if blocked:
            text += f"; blocked: {', '.join(blocked)}"
        self.add("plugins", "ok", text)

    def diagnostics(self) -> dict[str, Any]:
        versions = {"pmbridge": __version__, "python": platform.python_version(), "platform": platform.platform()}
        try:
            import ccxt  # noqa: PLC0415

            versions["ccxt"] = str(ccxt.__version__)
        except ImportError:  # pragma: no cover - a dependency
            pass
        dump: dict[str, Any]
        if self.config is None:
            dump = redact({"versions": versions, "config": "invalid (see the configuration check)"})
            return dump
        pm = self.pm if self.pm is not None else create_plugin_manager(load_entrypoints=False)
        bridge = Bridge(self.config, pm=pm)
        if self.rest is not None:
            bridge.rest = self.rest  # so the dump counts the doctor's REST calls
        if self.snapshot is not None:
            bridge.book.symbols = self.symbols
            bridge.book.apply_snapshot(self.snapshot, requested_at=bridge.book.mark())
        if self.positions is not None:  # after the leverage: a position without its own takes the symbol's
            bridge.positions.apply_snapshot(self.positions, requested_at=bridge.book.mark())
        dump = redact({"versions": versions, **bridge.diagnostics("doctor")})
        return dump


_STYLE: Final = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def print_report(report: dict[str, Any], console: Console) -> None:
    for check in report["checks"]:
        status = check["status"]
        console.print(
            f"[{_STYLE[status]}]{status:<4}[/]  [bold]{check['name']:<18}[/] {escape(check['message'])}",
            highlight=False,
        )
    console.print("\ndiagnostics (secrets redacted; paste this into a bug report):")
    text = orjson.dumps(report["diagnostics"], option=orjson.OPT_INDENT_2, default=str).decode()
    console.print(text, markup=False, highlight=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    add_connection_arguments(parser)
    parser.add_argument("--json", action="store_true", help='one JSON object: {"checks": [...], "diagnostics": {...}}')


def run(args: argparse.Namespace) -> int:
    return StopSignals("doctor").run(lambda: check_and_report(args))


async def check_and_report(args: argparse.Namespace) -> int:
    """Every check, then the report on stdout; the exit code."""
    report = await Doctor(args).run()
    if args.json:
        print(orjson.dumps(report, default=str).decode(), flush=True)
    else:
        print_report(report, Console(soft_wrap=True))
    failed = any(check["status"] == "fail" for check in report["checks"])
    if failed:
        print("pmbridge doctor: a check failed; its line says what to do", file=sys.stderr)
    return EXIT_FAILURE if failed else EXIT_OK


COMMANDS = {"doctor": ("check config, network, clock, credentials and plugins; dump diagnostics", add_arguments, run)}
