from __future__ import annotations

import signal

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


def pytest_configure(config: pytest.Config) -> None:
    # A job started with `&` from a script inherits SIGINT ignored, and so would every bot and command the tests
    # start: Freqtrade and pmbridge would never see the Ctrl-C the stop tests send, and each would hang to its kill
    # timeout. The tests' children get the default back (a handler is reset at exec; only "ignored" is inherited).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
