"""``pmbridge freqtrade <freqtrade arguments...>``: Freqtrade exactly as ``freqtrade <arguments>`` runs it, with
``PMBinance`` bound first when the config's ``pmbridge.account`` is ``pm``.

The config is read the way Freqtrade reads it (its own ``Arguments``, ``load_from_files`` and ``FREQTRADE__...``
environment variables: repeated ``-c``, ``--userdir``, the default ``config.json``, ``add_config_files``, ``-c -``),
then Freqtrade's own ``main()`` takes over: same commands, same output, same exit codes. Anything this step cannot
read (a missing file, bad JSON, ``--help``) is left for Freqtrade to report the way it always does.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from attrs import define, field

from ..errors import ConfigError
from .portfolio.compat import (
    BEYOND_FREQTRADE,
    MIN_FREQTRADE,
    TESTED_FREQTRADE,
    UNTESTED_ENV,
    installed_version,
    version_tuple,
)
from .settings import parse_settings

PM_EXCHANGES = ("binance", "binanceusdm")
EXIT_INTERRUPTED = 130
"""What Freqtrade answers to Ctrl-C (main.py)."""
EXIT_REFUSED = 2
"""Freqtrade's code for an error it explains (an OperationalException)."""


@define
class Decision:
    use_pm: bool
    exchange_name: str = "binance"
    reason: str = ""
    notes: list[str] = field(factory=list)


def read_freqtrade_config(argv: Sequence[str]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The merged config Freqtrade will start from (``Configuration.load_config``'s first steps, without its side
    effects: logging, directories). ``(None, args)`` for a command that reads no config."""
    from freqtrade.commands import Arguments  # noqa: PLC0415 - Freqtrade loads in ~2 s: only when asked for
    from freqtrade.commands.arguments import NO_CONF_ALLOWED  # noqa: PLC0415
    from freqtrade.configuration.environment_vars import environment_vars_to_dict  # noqa: PLC0415
    from freqtrade.configuration.load_config import load_from_files  # noqa: PLC0415
    from freqtrade.misc import deep_merge_dicts  # noqa: PLC0415

    # argparse prints --help and usage errors itself: leave that to Freqtrade's own parse, which comes next.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        args = Arguments(list(argv)).get_parsed_arg()
    files = args.get("config")
    if not files:
        return None, args
    if "-" in files:
        # Freqtrade reads (and closes) stdin for "-": keep a copy so that its own read finds the same config.
        text = sys.stdin.read()
        sys.stdin = io.StringIO(text)
        try:
            config = load_from_files(files)
        finally:
            sys.stdin = io.StringIO(text)
    else:
        config = load_from_files(files)
    if args.get("command") not in NO_CONF_ALLOWED:
        config = deep_merge_dicts(environment_vars_to_dict(), config)
    return config, args


def decide(argv: Sequence[str]) -> Decision:
    """Whether to bind ``PMBinance``. Raises ``ConfigError`` only for pmbridge's own mistakes (an invalid
    ``pmbridge`` section, ``pm`` on an exchange other than Binance, ``pm`` with isolated futures margin)."""
    try:
        config, args = read_freqtrade_config(argv)
    except SystemExit:
        return Decision(False, reason="the arguments stop before a command runs; Freqtrade says why")
    except Exception as exc:  # a missing or invalid config: Freqtrade fails the same way and says so
        return Decision(False, reason=f"the config could not be read here ({type(exc).__name__}); Freqtrade says why")
    if config is None:
        return Decision(False, reason=f"{args.get('command') or 'this command'} reads no config")
    section = config.get("pmbridge")
    account = parse_settings(section).account
    if account != "pm":
        return Decision(False, reason=f"pmbridge.account is {account}")
    name = str((config.get("exchange") or {}).get("name", "")).lower()
    if name not in PM_EXCHANGES:
        raise ConfigError(
            f"pmbridge.account is pm, but exchange.name is {name or 'missing'!r}: Portfolio Margin is a Binance "
            "account; set exchange.name to binance, or pmbridge.account to the account you trade"
        )
    futures = str(config.get("trading_mode") or "").lower() == "futures"
    if futures and str(config.get("margin_mode") or "").lower() == "isolated" and args.get("command") != "show-config":
        # PMBinance refuses it too (it builds no exchange in show-config, which stays usable to look at the config),
        # but inside Freqtrade that is a ConfigurationError, which Freqtrade 2026.9 exits with 0; refused here it is
        # a clear start-up failure with pmbridge's code.
        raise ConfigError(
            'pmbridge.account is pm, but margin_mode is "isolated": a Portfolio Margin account\'s USDⓈ-M positions '
            'are always cross margin. Set "margin_mode": "cross", or pmbridge.account to usdm for a USDⓈ-M futures '
            "account"
        )
    decision = Decision(True, name, "pmbridge.account is pm")
    if not isinstance(section, dict) or "account" not in section:
        decision.notes.append("the config has no pmbridge.account: pmbridge's default, pm, applies")
    return decision


def check_freqtrade_version() -> str | None:
    """A refusal when the installed Freqtrade is outside the supported range, else None."""
    found = installed_version("freqtrade")
    if found == "unknown":
        return "Freqtrade is not installed here: pip install 'pmbridge[freqtrade]'"
    low, beyond = ".".join(map(str, MIN_FREQTRADE)), ".".join(map(str, BEYOND_FREQTRADE))
    supported = f"{low} up to, not including, {beyond}; tested with {', '.join(TESTED_FREQTRADE)}"
    if version_tuple(found) < MIN_FREQTRADE:
        return (
            f"Freqtrade {found} is older than the range pmbridge supports on Portfolio Margin ({supported}): "
            f"upgrade Freqtrade, e.g. pip install -U 'freqtrade>={low},<{beyond}'"
        )
    if version_tuple(found) >= BEYOND_FREQTRADE and os.environ.get(UNTESTED_ENV) != "1":
        return (
            f"Freqtrade {found} is newer than the range pmbridge supports on Portfolio Margin ({supported}): its "
            f"exchange code may have changed under pmbridge's Portfolio Margin overrides. Install a supported "
            f"release (pip install 'freqtrade>={low},<{beyond}'), or, to try this one with small stakes and watch the "
            f"first trades, set {UNTESTED_ENV}=1"
        )
    return None


def run(argv: Sequence[str]) -> NoReturn:
    """Decide, bind if needed, and hand over to Freqtrade's ``main()`` (which always exits)."""
    argv = list(argv)
    try:
        decision = decide(argv)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except ConfigError as exc:
        print(f"pmbridge freqtrade: {exc}", file=sys.stderr)
        sys.exit(EXIT_REFUSED)
    if decision.use_pm:
        refusal = check_freqtrade_version()
        if refusal is not None:
            print(f"pmbridge freqtrade: {refusal}", file=sys.stderr)
            sys.exit(EXIT_REFUSED)
        from .portfolio import install  # noqa: PLC0415 - imports Freqtrade

        bound = install(decision.exchange_name)
        found = installed_version("freqtrade")
        notes = [
            *decision.notes,
            f"Portfolio Margin: Freqtrade's Binance exchange runs through papi ({bound.__name__}, "
            f"{decision.reason}); docs/freqtrade.md lists what it changes",
        ]
        if found not in TESTED_FREQTRADE:
            notes.append(
                f"Freqtrade {found} is not the tested release ({', '.join(TESTED_FREQTRADE)}): watch the first trades"
            )
        bound.pmbridge_notes = tuple(notes)
    from freqtrade.main import main as freqtrade_main  # noqa: PLC0415

    freqtrade_main(argv)
    raise SystemExit(0)  # Freqtrade's main() always exits itself; this is never reached
