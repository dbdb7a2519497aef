"""The pmbridge hook specifications, grouped by lifecycle.

Naming: ``pmbridge_<noun>_<past participle>`` for things that happened, ``pmbridge_<verb>_<noun>`` for questions.
Every hook takes one frozen object, so a spec can gain fields without breaking a plugin. A plugin may implement a
hook with no argument at all. Hooks are synchronous and must not block: work that needs I/O is scheduled on the
bridge's loop. pmbridge calls each plugin separately: one that raises is logged with its name, counted in the
diagnostics, and the others are still called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .book import LeverageBook
    from .models import (
        AccountModeChange,
        BridgeInfo,
        DiagnosticsRequest,
        LeverageChange,
        LeverageRequest,
        PositionChange,
        ReconcileReport,
        Shutdown,
        StreamStateChange,
    )

hookspec = pluggy.HookspecMarker("pmbridge")

# ---------------------------------------------------------------------------------------------------------------
# 1. Set-up: historic hooks, called once per bridge. A plugin registered later still receives them, at register.
# ---------------------------------------------------------------------------------------------------------------


@hookspec(historic=True)
def pmbridge_configure(config: BridgeInfo) -> None:
    """The bridge's configuration has been validated; nothing is connected yet.

    Called once, before any other hook. Read settings here; do not start I/O.

    :param config: the account type, the base URL and the validated settings, secrets already removed.
    """


@hookspec(historic=True)
def pmbridge_ready(book: LeverageBook) -> None:
    """The first snapshot is in the book: every symbol's leverage and the account flags are known.

    Called once, after the first successful resync and before the first ``pmbridge_reconciled``.

    :param book: the live book. Keep it to read from any thread later; never write to it.
    """


# ---------------------------------------------------------------------------------------------------------------
# 2. Changes: one call per real change. Duplicates, stale frames and no-op snapshots never fire.
# ---------------------------------------------------------------------------------------------------------------


@hookspec
def pmbridge_leverage_changed(change: LeverageChange) -> None:
    """A symbol's leverage changed on the exchange, or became known (``change.old is None``).

    Fired for a pushed ACCOUNT_CONFIG_UPDATE (source ``stream``), for the first snapshot (``snapshot``) and for
    drift found by a later snapshot (``reconcile``), after the book holds the new value.

    :param change: unit, exchange and unified symbol, old and new leverage, source, event and transaction time,
        ``origin`` (``self`` when this process asked for it, ``external`` otherwise) and ``positions``, the symbol's
        open positions read back from the exchange after the change.
    """


@hookspec
def pmbridge_position_changed(change: PositionChange) -> None:
    """A position opened, changed (amount, entry price, margin type or isolated margin), closed or was liquidated.

    Fired for a pushed ACCOUNT_UPDATE (source ``stream``; on a position left open, after its REST read-back, so the
    liquidation price is the exchange's), for the first snapshot (``snapshot``), and for what a later snapshot or a
    read-back found that the stream had not said (``reconcile``, ``readback``), after the position book holds it.

    :param change: the kind (``opened``, ``changed``, ``closed``, ``liquidated``), the position after it and before
        it, the source, the event and transaction time, and the exchange's reason (ORDER, FUNDING_FEE, ...).
    """


@hookspec
def pmbridge_account_mode_changed(change: AccountModeChange) -> None:
    """An account-wide flag changed: multi-assets (union margin) mode, or hedge (dual side) position mode.

    Fired like ``pmbridge_leverage_changed``, after the book holds the new value.

    :param change: the setting (``multi_assets`` or ``dual_side_position``), old and new value, source, times.
    """


# ---------------------------------------------------------------------------------------------------------------
# 3. Connection and reconciliation.
# ---------------------------------------------------------------------------------------------------------------


@hookspec
def pmbridge_stream_state_changed(change: StreamStateChange) -> None:
    """The user data stream changed state (connecting, resyncing, connected, disconnected, stopped).

    Fired on every transition. While the state is not ``connected`` the book may be stale: ``change.available``
    says whether it can be trusted.

    :param change: old and new state, the reason in plain words, and the wall-clock time of the transition.
    """


@hookspec
def pmbridge_reconciled(report: ReconcileReport) -> None:
    """A REST snapshot was taken and compared with the book.

    Fired after every resync: on connect and reconnect, at the fixed reconcile cadence, and on demand. The changes
    it found have already been announced through the change hooks.

    :param report: trigger, REST calls made, symbols seen, duration, the drift found and events kept over it. The
        first snapshot (``report.first``) loads the book from nothing: its ``changes`` are the entries loaded, and
        ``report.drift`` is False.
    """


# ---------------------------------------------------------------------------------------------------------------
# 4. Policy: a question with one answer (firstresult: the first plugin that answers wins).
# ---------------------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def pmbridge_decide_leverage(request: LeverageRequest) -> float | None:
    """Which leverage should the next entry of ``request.symbol`` use?

    Asked by a host (the Freqtrade mixin's ``leverage()``) on the host's own thread; must answer from memory, never
    from the network. Return a number to decide, or None to let the next plugin (and finally the built-in policy)
    decide. The answer is still clamped to ``request.max_leverage`` and the configured caps.

    :param request: the symbol, what the strategy proposes, what the exchange has, the ceiling and the policy.
    """


# ---------------------------------------------------------------------------------------------------------------
# 5. Introspection and tear-down.
# ---------------------------------------------------------------------------------------------------------------


@hookspec
def pmbridge_diagnostics(request: DiagnosticsRequest) -> Mapping[str, Any] | None:
    """A diagnostics dump is being assembled (``pmbridge doctor``, the Freqtrade integration, a support request).

    Return a mapping to add under the plugin's name, or None. Everything returned is redacted before it is shown.

    :param request: the book to read from, and why the dump is taken.
    """


@hookspec
def pmbridge_shutdown(shutdown: Shutdown) -> None:
    """The bridge is stopping; the stream is closed and no hook fires after this one.

    Release what the plugin holds. Called once, also after a fatal error.

    :param shutdown: why the bridge stops.
    """
