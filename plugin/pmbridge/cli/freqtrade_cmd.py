"""``pmbridge freqtrade ...``: start Freqtrade through pmbridge (needed to trade live on a Portfolio Margin account).

Every argument goes to Freqtrade's own command line, untouched: ``pmbridge freqtrade trade -c config.json`` is
``freqtrade trade -c config.json``, with Freqtrade's Binance exchange running through papi when the config's
``pmbridge.account`` is ``pm`` (and nothing changed otherwise). ``main()`` dispatches it before pmbridge's own parser,
which would not know Freqtrade's options.
"""

from __future__ import annotations

import argparse

EPILOG = """\
Any Freqtrade command works: trade, backtesting, download-data, show-config, ... (see freqtrade --help).
Live trading on a Portfolio Margin account needs this launcher: plain `freqtrade trade` stops at start-up with
Binance's -2015, because Freqtrade's own start-up checks use endpoints PM keys may not call.

examples:
  pmbridge freqtrade trade -c user_data/config.json
  pmbridge freqtrade backtesting -c user_data/config.json --timerange 20260101-
  pmbridge freqtrade show-config -c user_data/config.json

exit codes: Freqtrade's own; 2 when pmbridge refuses to start it (it says why: an invalid pmbridge section, pm on an
exchange other than Binance, pm with isolated margin, a Freqtrade outside the supported range)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="Freqtrade's command and options")


def run(args: argparse.Namespace) -> int:
    from ..freqtrade.launcher import run as launch  # noqa: PLC0415 - imports Freqtrade

    launch(args.arguments)


COMMANDS = {
    "freqtrade": ("run Freqtrade through pmbridge (live on Portfolio Margin needs it)", add_arguments, run),
}
