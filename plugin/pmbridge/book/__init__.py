"""The ordered truth the bridge keeps: every symbol's leverage and the account flags (``LeverageBook``), and every
open position (``PositionBook``). One writer (the coordinator's loop), readers on any thread."""

from __future__ import annotations

from .leverage import BookEntry, BookStats, FlagEntry, LeverageBook, Snapshot
from .positions import PositionBook, PositionSnapshot

__all__ = ["BookEntry", "BookStats", "FlagEntry", "LeverageBook", "PositionBook", "PositionSnapshot", "Snapshot"]
