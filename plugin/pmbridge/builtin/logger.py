"""Built-in plugin ``pmbridge.builtin.logger``: every change, transition and drift as one log line.

Block it (``PMBRIDGE_BLOCK_PLUGINS=pmbridge.builtin.logger``) to silence pmbridge's own change log.
"""

from __future__ import annotations

import logging

from ..manager import hookimpl
from ..models import AccountModeChange, LeverageChange, ReconcileReport, Shutdown, StreamStateChange

log = logging.getLogger("pmbridge")


@hookimpl(trylast=True)
def pmbridge_leverage_changed(change: LeverageChange) -> None:
    name = change.symbol or change.exchange_symbol
    if change.old is None:
        log.debug("%s leverage %sx (source: %s)", name, change.new, change.source)
    else:
        log.info(
            "%s leverage changed on the exchange %sx -> %sx (source: %s)", name, change.old, change.new, change.source
        )


@hookimpl(trylast=True)
def pmbridge_account_mode_changed(change: AccountModeChange) -> None:
    log.info("account %s changed %s -> %s (source: %s)", change.setting, change.old, change.new, change.source)


@hookimpl(trylast=True)
def pmbridge_stream_state_changed(change: StreamStateChange) -> None:
    # The coordinator logs availability (once lost, once back); every transition is only worth a debug line.
    log.debug("stream %s -> %s: %s", change.old, change.new, change.reason)


@hookimpl(trylast=True)
def pmbridge_reconciled(report: ReconcileReport) -> None:
    if report.first:  # it filled an empty book: nothing could have drifted yet
        log.info(
            "first snapshot (%s): %d symbols, %d entries loaded, %d REST calls, %.0f ms",
            report.trigger,
            report.symbols,
            len(report.changes),
            report.rest_calls,
            report.duration_s * 1000,
        )
        return
    log.log(
        logging.INFO if report.drift else logging.DEBUG,
        "reconciled (%s): %d symbols, %d REST calls, %.0f ms, %d drifted, %d kept newer",
        report.trigger,
        report.symbols,
        report.rest_calls,
        report.duration_s * 1000,
        report.drifted,
        report.kept_newer,
    )


@hookimpl(trylast=True)
def pmbridge_shutdown(shutdown: Shutdown) -> None:
    log.info("bridge stopped: %s", shutdown.reason)
