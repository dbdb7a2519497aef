"""The plugin manager: loading, validation, isolation, ordering, historic hooks, block lists."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from pmbridge import (
    LeverageBook,
    LeverageChange,
    LeverageRequest,
    PluginError,
    ReconcileReport,
    Shutdown,
    StreamState,
    StreamStateChange,
    create_plugin_manager,
    hookimpl,
)
from pmbridge.models import AccountModeChange, BridgeInfo, DiagnosticsRequest

CHANGE = LeverageChange("UM", "BTCUSDT", 10, 25, "stream", 1700000000000, None, "BTC/USDT:USDT")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:  # no marker needed for pmbridge_ names
        self.calls.append(("leverage", change))

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self.calls.append(("mode", change))

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        self.calls.append(("stream", change))

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        self.calls.append(("reconciled", report))

    def pmbridge_shutdown(self) -> None:  # an implementation may leave the argument out
        self.calls.append(("shutdown", None))


class Exploder:
    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        raise RuntimeError("boom")


def test_builtin_plugins_are_registered_like_any_other() -> None:
    pm = create_plugin_manager()
    names = [row["name"] for row in pm.describe()]
    assert names == ["pmbridge.builtin.logger", "pmbridge.builtin.policy"]
    assert "pmbridge_decide_leverage" in pm.describe()[1]["hooks"]


def test_every_notification_reaches_every_plugin() -> None:
    recorder = Recorder()
    pm = create_plugin_manager(plugins=[recorder])
    mode = AccountModeChange("multi_assets", False, True, "stream", 1)
    state = StreamStateChange(StreamState.CONNECTING, StreamState.CONNECTED, "first snapshot applied", time.time())
    report = ReconcileReport("reconcile", "interval", 3, 10, 0.01, (CHANGE,))
    pm.notify("pmbridge_leverage_changed", CHANGE)
    pm.notify("pmbridge_account_mode_changed", mode)
    pm.notify("pmbridge_stream_state_changed", state)
    pm.notify("pmbridge_reconciled", report)
    pm.notify("pmbridge_shutdown", Shutdown("requested"))
    assert recorder.calls == [
        ("leverage", CHANGE),
        ("mode", mode),
        ("stream", state),
        ("reconciled", report),
        ("shutdown", None),
    ]
    assert state.available and report.drift


def test_a_raising_plugin_is_isolated_logged_by_name_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    before, after = Recorder(), Recorder()
    pm = create_plugin_manager(plugins=[before])
    pm.register(Exploder(), name="exploder")
    pm.register(after)
    with caplog.at_level(logging.ERROR):
        pm.notify("pmbridge_leverage_changed", CHANGE)
        pm.notify("pmbridge_leverage_changed", CHANGE)
    assert before.calls == after.calls == [("leverage", CHANGE)] * 2
    assert pm.errors[("exploder", "pmbridge_leverage_changed")] == 2
    assert pm.error_counts() == {"exploder:pmbridge_leverage_changed": 2}
    assert "plugin 'exploder' raised in pmbridge_leverage_changed" in caplog.text
    assert "RuntimeError: boom" in caplog.text


def test_registering_reads_only_prefixed_attributes() -> None:
    touched: list[str] = []

    class StrategyLike:
        @property
        def dp(self) -> None:
            touched.append("dp")
            raise RuntimeError("a Freqtrade property must never be evaluated by pmbridge")

        @property
        def wallets(self) -> None:
            touched.append("wallets")
            raise RuntimeError("same")

        def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
            touched.append(f"hook {change.new}")

    pm = create_plugin_manager(plugins=[StrategyLike()])
    pm.notify("pmbridge_leverage_changed", CHANGE)
    assert touched == ["hook 25"]


def test_a_misspelled_hook_fails_loudly_naming_plugin_and_fix() -> None:
    class Typo:
        def pmbridge_leverage_chnged(self, change: LeverageChange) -> None: ...

    with pytest.raises(PluginError) as caught:
        create_plugin_manager(plugins=[Typo()])
    message = str(caught.value)
    assert "pmbridge_leverage_chnged" in message
    assert "did you mean 'pmbridge_leverage_changed'?" in message
    assert "Typo" in message or "typo" in message.lower()


def test_optional_unknown_hooks_are_allowed() -> None:
    class Future:
        @hookimpl(optionalhook=True)
        def pmbridge_something_from_the_future(self) -> None: ...

    create_plugin_manager(plugins=[Future()])


def test_wrong_argument_name_is_rejected_with_the_fix() -> None:
    class Wrong:
        def pmbridge_leverage_changed(self, event: object) -> None: ...

    with pytest.raises(PluginError, match=r"event.*docs/hooks.md"):
        create_plugin_manager(plugins=[Wrong()])


def test_hook_wrappers_are_rejected() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def pmbridge_leverage_changed(self, change: LeverageChange) -> Any:
            return (yield)

    with pytest.raises(PluginError, match="does not support hook wrappers"):
        create_plugin_manager(plugins=[Wrapper()])


def request(policy: str, proposed: float = 3, exchange: int | None = 20, max_leverage: float = 10) -> LeverageRequest:
    return LeverageRequest("BTC/USDT:USDT", "BTCUSDT", "UM", proposed, exchange, max_leverage, policy)


def test_builtin_policy_answers_last_and_clamps() -> None:
    pm = create_plugin_manager()
    assert pm.first("pmbridge_decide_leverage", request("follow")) == 10  # exchange 20, clamped to max 10
    assert pm.first("pmbridge_decide_leverage", request("follow", exchange=4)) == 4
    assert pm.first("pmbridge_decide_leverage", request("follow", exchange=None)) == 3  # unknown: keep proposal
    assert pm.first("pmbridge_decide_leverage", request("enforce")) == 3
    assert pm.first("pmbridge_decide_leverage", request("alert", proposed=0.2)) == 1


def test_a_plugin_decides_first_and_a_raising_decider_is_skipped() -> None:
    class Broken:
        @hookimpl(tryfirst=True)
        def pmbridge_decide_leverage(self, request: LeverageRequest) -> float:
            raise ValueError("bad policy")

    class Doge:
        def pmbridge_decide_leverage(self, request: LeverageRequest) -> float | None:
            return 2 if request.symbol.startswith("DOGE/") else None

    pm = create_plugin_manager(plugins=[Doge(), Broken()])
    doge = LeverageRequest("DOGE/USDT:USDT", "DOGEUSDT", "UM", 5, 20, 50, "follow")
    assert pm.first("pmbridge_decide_leverage", doge) == 2
    assert pm.first("pmbridge_decide_leverage", request("follow")) == 10  # Doge passes, built-in answers
    assert sum(pm.errors.values()) == 2


def test_historic_hooks_are_one_shot_and_reach_late_plugins() -> None:
    seen: list[str] = []

    class Early:
        def pmbridge_configure(self, config: BridgeInfo) -> None:
            seen.append(f"early {config.account}")

    class Late:
        def pmbridge_configure(self, config: BridgeInfo) -> None:
            seen.append(f"late {config.account}")

        def pmbridge_ready(self, book: LeverageBook) -> None:
            seen.append(f"ready {len(book)}")

    pm = create_plugin_manager(plugins=[Early()])
    pm.historic("pmbridge_configure", BridgeInfo("pm", None, {}))
    pm.historic("pmbridge_ready", LeverageBook())
    assert seen == ["early pm"]
    pm.register(Late())
    assert seen == ["early pm", "late pm", "ready 0"]
    with pytest.raises(PluginError, match="one-shot"):
        pm.historic("pmbridge_configure", BridgeInfo("pm", None, {}))
    with pytest.raises(PluginError, match="not a historic hook"):
        pm.historic("pmbridge_leverage_changed", CHANGE)


def test_diagnostics_collects_each_plugins_section() -> None:
    class Counter:
        def pmbridge_diagnostics(self, request: DiagnosticsRequest) -> dict[str, int]:
            return {"symbols": len(request.book)}

    class Silent:
        def pmbridge_diagnostics(self) -> None:
            return None

    pm = create_plugin_manager()
    pm.register(Counter(), name="counter")
    pm.register(Silent(), name="silent")
    assert pm.collect("pmbridge_diagnostics", DiagnosticsRequest(LeverageBook())) == [("counter", {"symbols": 0})]


def test_block_list_by_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = create_plugin_manager(block=["pmbridge.builtin.logger"])
    assert [row["name"] for row in pm.describe()] == ["pmbridge.builtin.policy"]
    monkeypatch.setenv("PMBRIDGE_BLOCK_PLUGINS", "pmbridge.builtin.policy, pmbridge.builtin.logger")
    assert create_plugin_manager().describe() == []


def test_import_starts_nothing() -> None:
    code = textwrap.dedent(
        """
        import sys, threading
        before = threading.active_count()
        import pmbridge
        assert threading.active_count() == before, "a thread was started at import"
        assert "ccxt" not in sys.modules, "ccxt (0.7 s, 200k objects) must not be imported by pmbridge's core"
        assert "aiohttp" not in sys.modules
        import pluggy
        for name, module in list(sys.modules.items()):
            if name.startswith("pmbridge"):
                managers = [k for k, v in vars(module).items() if isinstance(v, pluggy.PluginManager)]
                assert not managers, f"global plugin manager in {name}: {managers}"
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
