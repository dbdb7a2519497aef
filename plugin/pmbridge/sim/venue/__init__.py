"""The simulated venue: accounts, orders, matching, positions, margin, funding and liquidation. No HTTP, no sockets."""

from __future__ import annotations

from .account import ACCOUNT_TYPES, Account, AccountType
from .venue import Venue

__all__ = ["ACCOUNT_TYPES", "Account", "AccountType", "Venue"]
