from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_autoloaded_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin installed in the developer's environment must not change what the tests see; tests that exercise
    # entry points clear this themselves.
    monkeypatch.setenv("PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PMBRIDGE_BLOCK_PLUGINS", raising=False)
