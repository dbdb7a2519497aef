from __future__ import annotations

import pytest

# The secrets audit fails any test that lets a credential, listenKey or signature out (tests/secrets_audit.py);
# pytester runs the audit's own proof (tests/test_secrets_audit.py).
pytest_plugins = ("pytester", "tests.secrets_audit")


@pytest.fixture(autouse=True)
def _no_autoloaded_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin installed in the developer's environment must not change what the tests see; tests that exercise
    # entry points clear this themselves.
    monkeypatch.setenv("PMBRIDGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("PMBRIDGE_BLOCK_PLUGINS", raising=False)
