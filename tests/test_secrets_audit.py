"""The secrets audit (tests/secrets_audit.py) is on in this run, and it fails a test that leaks through any channel.

The proof runs a small suite in a child pytest with the audit loaded the way tests/conftest.py loads it, but with a
sentinel and seed of its own: the leaks it provokes on purpose are unknown to this run's audit, which scans the
child's output like any other.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from pmbridge.sim import Simulator
from pmbridge.sim.tokens import ENV_SEED, ENV_TOKEN_PREFIX

from .secrets_audit import SENTINEL

ROOT = Path(__file__).resolve().parent.parent

LEAKY_SUITE = """
import json, logging, subprocess, sys

import pytest

from pmbridge.bridge import Bridge
from pmbridge.config import BridgeConfig
from pmbridge.errors import ExchangeError
from pmbridge.manager import create_plugin_manager, hookimpl
from pmbridge.sim import Simulator

SIM = Simulator()  # credentials drawn from the child's sentinel and seed, like every simulator of the suite
KEY, SECRET = SIM.api_key, SIM.api_secret


def test_clean():
    logging.getLogger("pmbridge.proof").debug("nothing secret here")
    print("a leverage change: BTCUSDT 20x -> 25x")


def test_debug_log_of_pmbridge():
    logging.getLogger("pmbridge.proof").debug("connecting with %s", KEY)


def test_warning_of_any_logger():
    logging.getLogger("somebody.else").warning("GET /papi/v1/um/account?timestamp=1&signature=" + "ab" * 32)


def test_exception_text_with_a_truncated_secret():
    try:
        raise ExchangeError(f"refused, secret starts {SECRET[:24]}")
    except ExchangeError:
        pass  # caught and never shown: still a leak the moment it was made


def test_stdout_fragment():
    print(f"key tail: {KEY[-14:]}")


def test_output_read_through_capsys(capsys):
    print(SECRET)
    assert capsys.readouterr().out  # consumed by the test: the report would never show it


def test_child_process_output():
    child = subprocess.run([sys.executable, "-c", f"print({KEY[20:40]!r})"], capture_output=True, text=True)
    assert child.returncode == 0


def test_file_under_tmp_path(tmp_path):
    (tmp_path / "dump.json").write_text(json.dumps({"note": SECRET[10:30]}))


def test_diagnostics_dump():
    class Careless:
        @hookimpl
        def pmbridge_diagnostics(self, request):
            return {"debug": SECRET[:20]}  # short enough to escape the shape-based redaction

    config = BridgeConfig.for_simulator("http://127.0.0.1:9", KEY, SECRET)
    Bridge(config, pm=create_plugin_manager(load_entrypoints=False), plugins=(Careless(),)).diagnostics()


def test_a_token_the_audit_does_not_know_by_value():
    logging.getLogger("pmbridge.proof").info("listenKey PMBPROOF" + "Zq9" * 17)
"""

# test -> what its failure must say: the channel, and what leaked (never how many characters: that is the audit's
# business, and a sentinel token's first characters are left to the sentinel search).
CHANNELS = {
    "test_debug_log_of_pmbridge": ("log record DEBUG pmbridge.proof: ", "the whole of simulator token #0"),
    "test_warning_of_any_logger": ("log record WARNING somebody.else: ", "a request signature"),
    "test_exception_text_with_a_truncated_secret": ("exception ExchangeError: ", "fragment of simulator token #1"),
    "test_stdout_fragment": ("captured stdout call: ", "fragment of simulator token #0"),
    "test_output_read_through_capsys": ("stdout read through capsys/capfd: ", "of simulator token #1"),
    "test_child_process_output": ("stdout of `", "fragment of simulator token #0"),
    "test_file_under_tmp_path": ("file test_file_under_tmp_path0/dump.json: ", "fragment of simulator token #1"),
    "test_diagnostics_dump": ("Bridge.diagnostics(): ", "fragment of simulator token #1"),
    "test_a_token_the_audit_does_not_know_by_value": ("log record INFO pmbridge.proof: ", "simulator-token sentinel"),
}


def test_the_audit_is_on_in_this_run(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("pmbridge-secrets-audit")
    simulator = Simulator()  # not started: its credentials are drawn when it is made
    assert simulator.api_key.startswith(SENTINEL) and simulator.api_secret.startswith(SENTINEL)
    assert len(simulator.api_key) == 64 and simulator.api_key.isalnum()  # Binance's shape: redaction by shape applies
    assert simulator.api_key != simulator.api_secret
    for name in ("pmbridge", "ccxt", "aiohttp"):  # their DEBUG records are produced, so they are scanned
        assert logging.getLogger(name).isEnabledFor(logging.DEBUG), name


def test_the_audit_fails_every_leaking_test_and_never_prints_a_secret(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_TOKEN_PREFIX, "PMBPROOF")
    monkeypatch.setenv(ENV_SEED, "7")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeconftest('pytest_plugins = ("tests.secrets_audit",)')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_leaky=LEAKY_SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--show-capture=no", "-rfE")
    output = result.stdout.str()
    # Files are scanned once per test, at teardown: that leak is an error at teardown, the others fail the call.
    assert result.parseoutcomes() == {"passed": 2, "failed": len(CHANNELS) - 1, "errors": 1}, output
    parts = re.split(r"^_{3,} (?:ERROR at teardown of )?(test_\w+) _{3,}$", output, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    for test, (channel, what) in CHANNELS.items():
        outcome = "ERROR" if test == "test_file_under_tmp_path" else "FAILED"
        assert f"{outcome} test_leaky.py::{test}" in output
        finding = f"^  {re.escape(channel)}.*{re.escape(what)}"
        assert re.search(finding, sections[test], re.M), f"{test} should report {channel}...{what}"
    assert "PMBPROOF" not in output, "the audit's own report printed a secret"
    assert "secrets audit: scanned" in output
