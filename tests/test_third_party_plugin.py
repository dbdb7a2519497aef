"""A real third-party plugin distribution, found through importlib.metadata like any installed package."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from pmbridge import LeverageChange, PluginError, create_plugin_manager

CHANGE = LeverageChange("UM", "BTCUSDT", 10, 25, "stream", 1700000000000, None, "BTC/USDT:USDT")


def make_distribution(root: Path, dist: str, module: str, source: str) -> None:
    """Write what pip leaves in site-packages: the module and a dist-info folder with an entry point in our group."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[pmbridge.plugins]\n{dist} = {module}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    importlib.invalidate_caches()
    for name in [name for name in sys.modules if name.startswith("pmbridge_test_")]:
        del sys.modules[name]


def test_installed_plugin_is_discovered_and_called(site: Path) -> None:
    make_distribution(
        site,
        "pmbridge-test-notifier",
        "pmbridge_test_notifier",
        """
        from pmbridge import hookimpl
        received = []

        @hookimpl
        def pmbridge_leverage_changed(change):
            received.append((change.symbol, change.old, change.new))
        """,
    )
    importlib.invalidate_caches()
    pm = create_plugin_manager()
    rows = {row["name"]: row for row in pm.describe()}
    assert rows["pmbridge-test-notifier"]["distribution"] == "pmbridge-test-notifier 1.2.3"
    assert rows["pmbridge-test-notifier"]["hooks"] == ["pmbridge_leverage_changed"]
    pm.notify("pmbridge_leverage_changed", CHANGE)
    assert sys.modules["pmbridge_test_notifier"].received == [("BTC/USDT:USDT", 10, 25)]


def test_installed_plugin_is_skipped_when_autoload_is_off_or_blocked(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_distribution(site, "pmbridge-test-quiet", "pmbridge_test_quiet", "def pmbridge_shutdown(): pass\n")
    importlib.invalidate_caches()
    assert "pmbridge-test-quiet" in {row["name"] for row in create_plugin_manager().describe()}
    assert "pmbridge-test-quiet" not in {
        row["name"] for row in create_plugin_manager(block=["pmbridge-test-quiet"]).describe()
    }
    monkeypatch.setenv("PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "pmbridge-test-quiet" not in {row["name"] for row in create_plugin_manager().describe()}


def test_installed_plugin_with_a_typo_is_rejected_by_name(site: Path) -> None:
    make_distribution(
        site,
        "pmbridge-test-typo",
        "pmbridge_test_typo",
        """
        def pmbridge_leverage_change(change):
            pass
        """,
    )
    importlib.invalidate_caches()
    with pytest.raises(PluginError) as caught:
        create_plugin_manager()
    assert "plugin 'pmbridge-test-typo' implements 'pmbridge_leverage_change'" in str(caught.value)
    assert "did you mean 'pmbridge_leverage_changed'?" in str(caught.value)


def test_installed_plugin_that_fails_to_import_names_the_way_out(site: Path) -> None:
    make_distribution(site, "pmbridge-test-broken", "pmbridge_test_broken", "raise ImportError('needs numpy 9')\n")
    importlib.invalidate_caches()
    with pytest.raises(PluginError) as caught:
        create_plugin_manager()
    message = str(caught.value)
    assert "'pmbridge-test-broken'" in message and "pmbridge-test-broken 1.2.3" in message
    assert "needs numpy 9" in message and "PMBRIDGE_BLOCK_PLUGINS=pmbridge-test-broken" in message
