"""docs/freqtrade.md's "Try it live against the simulator" works as written.

Its commands run through bash in a scratch directory, as a reader pastes them; two substitutions only: ``EXAMPLES``
points at this checkout, and the simulator takes a free port instead of 8765 (the curl lines follow it). The bot it
starts must trade live on the Portfolio Margin account and answer the page's two changes as the page says.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..doc_shell import bash_blocks, curl_stand_in, section, stop_background
from ..helpers import SimProcess, until
from ..secrets_audit import audit_input
from .ft_process import FreqtradeProcess, user_environment

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "freqtrade.md"
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8765"


def walkthrough() -> list[str]:
    return bash_blocks(section(DOC, "Try it live against the simulator"))


def test_the_live_walkthrough_runs_as_written(tmp_path: Path) -> None:
    setup, changes = walkthrough()
    *prepare, start = setup.strip().splitlines()
    assert start == "pmbridge freqtrade trade -c user_data/config.json"
    script = "\n".join(prepare)
    assert "EXAMPLES=~/pmbridge/docs/examples" in script and "--port 8765" in script
    script = script.replace("EXAMPLES=~/pmbridge/docs/examples", f"EXAMPLES={ROOT / 'docs' / 'examples'}")
    script = script.replace("--port 8765", "--port 0") + "\necho $! > sim.pid\n"
    env = {**user_environment(), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if shutil.which("curl") is None:  # a bare CI machine: the page's curl lines run through a stand-in
        env["PATH"] = f"{curl_stand_in(tmp_path / 'shims')}{os.pathsep}{env['PATH']}"
    output = tmp_path / "setup.out"  # a file, not a pipe: the simulator started in the background keeps it open
    with output.open("w") as sink:
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=tmp_path, env=env, stdout=sink, stderr=sink, timeout=120, check=False
        )
    sim_pid = int((tmp_path / "sim.pid").read_text()) if (tmp_path / "sim.pid").exists() else None
    try:
        assert done.returncode == 0 and sim_pid is not None, output.read_text()[-3000:]
        for written in (tmp_path / "sim.json", tmp_path / "user_data" / "config.json"):
            audit_input(written)  # the simulator's keys are in both, as in a reader's
        sim = SimProcess(json.loads((tmp_path / "sim.json").read_text().splitlines()[0]))
        config = json.loads((tmp_path / "user_data" / "config.json").read_text())
        assert (config["dry_run"], config["pmbridge"]["account"]) == (False, "pm")

        bot = FreqtradeProcess([str(BIN / "pmbridge"), *start.split()[1:]], tmp_path, tmp_path / "bot.log")
        try:
            bot.wait_for("Freqtrade's Binance exchange runs through papi (PMBinance, pmbridge.account is pm)", 60)
            bot.wait_for("pmbridge set ETH/USDT:USDT leverage back 20x -> 5x on the exchange (policy enforce)", 30)

            curl = changes.replace(DOC_URL, sim.base_url)
            assert curl != changes
            subprocess.run(["bash", "-e", "-c", curl], cwd=tmp_path, env=env, check=True, timeout=30)
            for said in (
                "ETH/USDT:USDT leverage changed on the exchange 5x -> 10x, not by this bot (source: stream), policy "
                "enforce: the next new trade uses 5x",
                "BTC/USDT:USDT leverage changed on the exchange 20x -> 8x, not by this bot (source: stream), policy "
                "follow: the next new trade uses 8x",
            ):
                bot.wait_for(said, 30)
            # ETH goes back to 5x: pmbridge's set-back, or Freqtrade's own 5x first when an ETH entry comes right then
            until(lambda: sim.account("pm")["leverage"]["UM"]["ETHUSDT"] == 5, 30, what="ETH back at 5x")
            assert sim.account("pm")["leverage"]["UM"]["BTCUSDT"] == 8  # followed, never set back
            private = [c for c in sim.calls() if c.split(" ")[1].startswith("/fapi") and "leverage" in c.lower()]
            assert private == [], private  # every write went to papi
        finally:
            code = bot.stop(signal.SIGINT)  # Ctrl-C, as the page says
        assert code == 130, bot.output[-3000:]
        assert "Traceback" not in bot.log() and " - ERROR - " not in bot.log(), bot.log()[-3000:]
    finally:
        if sim_pid is not None:
            stop_background(sim_pid)
