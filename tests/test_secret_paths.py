"""Every error path that could carry a secret, provoked on purpose against the simulator.

The secrets audit (tests/secrets_audit.py) scans what each test makes pmbridge say: logs at DEBUG, exceptions,
diagnostics, command output. The assertions here check what the user must still be told: which code, what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest

from pmbridge.bridge import Bridge, SetupFailed
from pmbridge.config import BridgeConfig
from pmbridge.errors import RequestRejected
from pmbridge.manager import create_plugin_manager
from pmbridge.rest import RestClient
from pmbridge.sim import Simulator
from pmbridge.testing import HookRecorder, running_bridge

from .helpers import simulator_process
from .secrets_audit import SENTINEL, audit_secrets

BIN = Path(sys.executable).parent
WRONG_KEY = SENTINEL + "wrongKey" + "7Hq2xLm9" * 5 + "Pz3Vb"  # Binance's shape: masked on sight
SHORT_KEY = "short-key-1f7e2a"  # no Binance shape: only masking by value can keep it out
SHORT_SECRET = "short-secret-9d3c0b"


@pytest.fixture(autouse=True)
def _audited() -> None:
    audit_secrets(wrong_key=WRONG_KEY, short_key=SHORT_KEY, short_secret=SHORT_SECRET)


async def active_listen_key(sim: Simulator) -> str:
    """The key the bridge streams with: POST answers the account's active key (Binance does the same)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.base_url}/papi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as answer,
    ):
        key: str = (await answer.json())["listenKey"]
    return key


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("wrong", "right", "-2015"), ("short", "right", "-2015"), ("right", "short", "-1022")],
)
async def test_rejected_credentials_stop_start_up_naming_the_code_not_the_credentials(
    pmbridge_sim: Simulator, key: str, secret: str, code: str
) -> None:
    api_key = {"wrong": WRONG_KEY, "short": SHORT_KEY, "right": pmbridge_sim.api_key}[key]
    api_secret = {"short": SHORT_SECRET, "right": pmbridge_sim.api_secret}[secret]
    config = BridgeConfig.for_simulator(pmbridge_sim.base_url, api_key, api_secret)
    with pytest.raises(SetupFailed) as caught:
        await Bridge(config, pm=create_plugin_manager(load_entrypoints=False)).start(ready_timeout=10)
    message = str(caught.value)
    assert code in message and "Check the API key and secret" in message
    assert api_key not in message and api_secret not in message


async def test_frames_that_carry_the_listen_key_are_dropped_without_quoting_it(pmbridge_sim: Simulator) -> None:
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder) as bridge:
        key = await active_listen_key(pmbridge_sim)
        frames: list[Any] = [
            '{"e":"listenKeyExpired","E":"1","listenKey":"' + key,  # cut short: not JSON, the key right at its head
            {"stream": key, "data": ["not an object"]},
            {"e": "listenKeyExpired", "E": key, "listenKey": key},
            {"e": "ACCOUNT_CONFIG_UPDATE", "E": 1, "fs": key, "ac": {"s": "BTCUSDT", "l": 5}},
            {"e": key, "E": 1},  # an unknown event type: counted and logged by name
        ]
        await pmbridge_sim.push_frames(frames)
        coordinator = bridge.coordinator
        assert coordinator is not None
        await recorder.wait_for(lambda: coordinator.decode_errors == 4 and coordinator.unknown_event_types, 5, "drops")
        dump = json.dumps(bridge.diagnostics())
        assert key not in dump and "**REDACTED**" in dump
        assert list(coordinator.unknown_event_types) == ["**REDACTED**"]
        await pmbridge_sim.set_leverage("BTCUSDT", 7)  # the stream went on
        await recorder.wait_for_leverage("BTCUSDT", 7, source="stream")


async def test_a_request_timeout_quoting_the_signed_url_is_logged_scrubbed(
    pmbridge_sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bridge(pmbridge_sim, rest_timeout=0.3) as bridge:
        await pmbridge_sim.set_latency(1000, count=1)  # the next call times out; ccxt's error names its URL
        await bridge.reconcile_now()
    retries = [r.getMessage() for r in caplog.records if "RequestTimeout" in r.getMessage()]
    assert retries and all("signature=**REDACT" in text for text in retries), retries  # the cut may end the mark


async def test_ccxt_errors_quoting_a_short_key_are_masked_by_value(pmbridge_sim: Simulator) -> None:
    rest = RestClient(BridgeConfig.for_simulator(pmbridge_sim.base_url, SHORT_KEY, SHORT_SECRET))

    async def refused() -> None:
        # What ccxt raises for a refused request that echoes it (a proxy, an error page): the URL and the key.
        url = f"http://127.0.0.1/papi/v1/um/account?apiKey={SHORT_KEY}&signature={'ab' * 32}"
        raise ccxt.BadRequest(f'binance GET {url} {{"code":-1100,"msg":"Illegal characters in {SHORT_KEY}"}}')

    with pytest.raises(RequestRejected) as caught:
        await rest.call("read account", refused)
    assert "-1100" in str(caught.value) and "Illegal characters" in str(caught.value)
    assert SHORT_KEY not in str(caught.value)


# -- the command line -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    yield from simulator_process()


def pmbridge(*args: str, key: str, secret: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PMBRIDGE_API_KEY": key, "PMBRIDGE_API_SECRET": secret}
    return subprocess.run(
        [str(BIN / "pmbridge"), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_doctor_with_debug_logging_prints_requests_without_credentials(sim: dict[str, Any]) -> None:
    # -vv: ccxt logs every request with its API-key header and signature, and the listenKey it is answered.
    result = pmbridge("-vv", "doctor", "--base-url", sim["base_url"], key=sim["api_key"], secret=sim["api_secret"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'X-MBX-APIKEY': '**REDACTED**'" in result.stderr and "signature=**REDACTED**" in result.stderr


@pytest.mark.parametrize(
    ("command", "credentials", "words"),
    [
        (("doctor",), ("wrong", "right"), "rejected the API key (-2015"),
        (("doctor", "--json"), ("right", "short"), "the signature is invalid (-1022)"),
        (("reconcile", "--listen", "0"), ("short", "right"), "could not start: create listenKey: Binance rejected"),
        (("watch", "--json"), ("right", "short"), "could not start:"),
        (("record", "account.jsonl"), ("wrong", "right"), "could not start:"),
    ],
)
def test_commands_refused_by_the_exchange_say_why_without_the_credentials(
    sim: dict[str, Any], tmp_path: Path, command: tuple[str, ...], credentials: tuple[str, str], words: str
) -> None:
    choose = {"wrong": WRONG_KEY, "short": SHORT_KEY, "right": sim["api_key"]}
    key = choose[credentials[0]]
    secret = {"short": SHORT_SECRET, "right": sim["api_secret"]}[credentials[1]]
    args = [*command, "--base-url", sim["base_url"]]
    if command[0] == "record":
        args[1] = str(tmp_path / "account.jsonl")
    result = pmbridge(*args, key=key, secret=secret)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert words in result.stdout + result.stderr


def test_decode_names_the_field_of_frames_that_carry_a_key(sim: dict[str, Any]) -> None:
    key = WRONG_KEY  # listenKey-shaped
    frames = "\n".join(
        [
            '{"e":"listenKeyExpired","listenKey":"' + key,
            json.dumps({"e": "listenKeyExpired", "E": key}),
            json.dumps({"e": key}),
        ]
    )
    result = pmbridge("decode", key="", secret="", stdin=frames + "\n")
    assert result.returncode == 1
    fields = [json.loads(line)["field"] for line in result.stdout.splitlines()]
    assert fields == ["frame", "E", "e"]
