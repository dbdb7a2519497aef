"""What the commands that connect share: the connection options, and the one way to build a BridgeConfig from them.

Precedence, lowest first: pmbridge's defaults, the ``--config`` file (a Freqtrade config), the command line. The
credentials come from the file's ``exchange.key`` / ``exchange.secret`` when set, else from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..bridge import Bridge, SetupFailed
from ..config import BridgeConfig
from ..const import ACCOUNT_TYPES, ENV_API_KEY, ENV_API_SECRET
from ..errors import ConfigError
from .exits import EXIT_FAILURE, signal_exit_code
from .signals import StopSignals

CREDENTIALS_HELP: Final = (
    f"Keys come from {ENV_API_KEY} and {ENV_API_SECRET}, or from exchange.key / exchange.secret of the Freqtrade\n"
    "config given with --config (its pmbridge section and ccxt urls apply too; command-line options win).\n"
    "Read-only permission is enough."
)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--base-url`` and ``--account``: left unset (None) so a config file's values can apply."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="a Freqtrade config JSON file: credentials, ccxt urls and its pmbridge section",
    )
    parser.add_argument("--base-url", help="REST and stream host, e.g. the simulator's http://127.0.0.1:PORT")
    parser.add_argument("--account", choices=ACCOUNT_TYPES, help="account type (default: pm, Portfolio Margin)")


def config_from_args(args: argparse.Namespace, **settings: Any) -> BridgeConfig:
    """The validated config for a command; ``settings`` are further command-line values (None: not given).

    Raises ``ConfigError`` naming the file and key at fault.
    """
    values: dict[str, Any] = {}
    api_key = os.environ.get(ENV_API_KEY, "")
    api_secret = os.environ.get(ENV_API_SECRET, "")
    path: str | None = getattr(args, "config", None)
    if path is not None:
        values, file_key, file_secret = _from_freqtrade_config(path)
        api_key, api_secret = file_key or api_key, file_secret or api_secret
        if not api_key or not api_secret:
            raise ConfigError(
                f"{path}: exchange.key and exchange.secret are empty and {ENV_API_KEY} / {ENV_API_SECRET} are not "
                "set: put a read-only API key and its secret in one of the two places"
            )
    given = {"account": getattr(args, "account", None), "base_url": getattr(args, "base_url", None), **settings}
    values.update({name: value for name, value in given.items() if value is not None})
    try:
        return BridgeConfig.from_mapping(values, api_key=api_key, api_secret=api_secret)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from None


def read_json_file(path: str) -> dict[str, Any]:
    """A Freqtrade config file as Freqtrade reads it (comments and trailing commas allowed when rapidjson is here)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file {path!r} ({exc.strerror or exc}); give the path of a Freqtrade config JSON"
        ) from None
    try:
        data = _loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); fix it (Freqtrade would refuse it too)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a Freqtrade config is a JSON object, got {type(data).__name__}")
    return data


def _loads(text: str) -> Any:
    try:
        import rapidjson  # noqa: PLC0415 - Freqtrade's own parser, installed with it
    except ImportError:
        return json.loads(text)
    return rapidjson.loads(text, parse_mode=rapidjson.PM_COMMENTS | rapidjson.PM_TRAILING_COMMAS)


def _from_freqtrade_config(path: str) -> tuple[dict[str, Any], str, str]:
    """(BridgeConfig settings, key, secret) from a Freqtrade config, read the way the strategy mixin reads it."""
    # pmbridge.freqtrade.settings does not import Freqtrade (the package loads its mixin lazily).
    from ..freqtrade.settings import bridge_values, parse_settings  # noqa: PLC0415 - only with --config

    data = read_json_file(path)
    exchange = data.get("exchange") or {}
    if not isinstance(exchange, Mapping):
        raise ConfigError(f"{path}: exchange must be an object, got {type(exchange).__name__}")
    try:
        values = bridge_values(exchange, parse_settings(data.get("pmbridge")))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return values, str(exchange.get("key") or ""), str(exchange.get("secret") or "")


def host_of(config: BridgeConfig) -> str:
    """How to name the exchange in messages."""
    return config.base_url or "Binance"


class Progress:
    """Plain progress lines on stderr (never on stdout, which carries the result)."""

    def __init__(self, command: str, enabled: bool = True) -> None:
        self.command = command
        self.enabled = enabled

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(f"pmbridge {self.command}: {text}", file=sys.stderr, flush=True)


STOPPED_BY_SIGNAL: Final = "stopped by signal"


def stop_soon(bridge: Bridge, reason: str) -> None:
    """Ask ``bridge`` to stop from a callback (a signal, a timer)."""
    asyncio.ensure_future(bridge.stop(reason))  # noqa: RUF006 - stop() sets the event the caller awaits


async def start_until_signal(bridge: Bridge, signals: StopSignals) -> int | None:
    """Start ``bridge`` with Ctrl-C and SIGTERM (``signals``, running this command) wired to stop it. None once it
    runs; else the exit code to return: the signal's (exits.py) when the user stopped it during start-up, 1 with
    the reason on stderr when it could not start."""
    signals.on_stop = lambda: stop_soon(bridge, STOPPED_BY_SIGNAL)
    try:
        await bridge.start()
    except SetupFailed as exc:
        if bridge.stop_reason == STOPPED_BY_SIGNAL and signals.signum is not None:
            return signal_exit_code(signals.command, signals.signum)  # the user's choice, not a failure
        print(f"pmbridge {signals.command}: could not start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return None
