"""`python -m pmbridge.sim`: run the simulator alone; prints one JSON line (how to connect), serves until signalled."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import orjson

from .api.control_table import help_text
from .server import Simulator
from .tokens import token_settings, token_source

EPILOG = """\
The start-up line (JSON, on stdout) holds base_url, the default account's api_key and api_secret, the ccxt_config
that points ccxt at the simulator, and every account's key and secret under accounts.

port: --port 0, the default, takes a free port (base_url names it); the docs use --port 8765.

control API (what the account owner does in the Binance app, and what a tester does to the exchange), under
base_url; bodies are JSON objects (*: a required field); docs/simulator.md has an example of each:
{routes}

example: curl -s -X POST -d '{{"symbol":"BTCUSDT","leverage":10}}' http://127.0.0.1:8765/_sim/leverage"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pmbridge.sim",
        description=__doc__,
        epilog=EPILOG.format(routes=help_text()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--symbols", type=int, default=8, help="number of USDⓈ-M symbols (at least 6)")
    parser.add_argument("--clock-speed", type=float, default=1.0, help="sim seconds per real second")
    parser.add_argument(
        "--seed",
        type=int,
        help="non-zero: reproducible credentials, listen keys and prices (default: $PMBRIDGE_SIM_SEED, else 0)",
    )
    parser.add_argument(
        "--token-prefix",
        metavar="TEXT",
        help="letters and digits that start the API key, the secret and every listenKey, so a leaked one is easy to "
        "find (default: $PMBRIDGE_SIM_TOKEN_PREFIX, else none)",
    )
    args = parser.parse_args(argv)
    try:
        token_source(*token_settings(args.seed, args.token_prefix))
    except ValueError as exc:
        parser.error(str(exc))
    return args


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(symbols=args.symbols, seed=args.seed, clock_speed=args.clock_speed, token_prefix=args.token_prefix)
    await sim.start(port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The only stdout output, and it carries the secret: the launcher needs it, so nothing else is printed.
    sys.stdout.write(orjson.dumps(sim.startup_info()).decode() + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
