"""Listen keys: one per account, living 60 simulated minutes after its last POST/PUT."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..errors import BinanceError
from ..venue.account import ACCOUNT_TYPES, AccountType

LISTEN_KEY_TTL_MS: Final = 60 * 60 * 1000


@dataclass(slots=True)
class ListenKey:
    value: str
    expires_ms: int


class ListenKeys:
    """One listen key per account (the simulator holds one account per type)."""

    def __init__(self, new_token: Callable[[], str]) -> None:
        self._new_token = new_token
        self._keys: dict[AccountType, ListenKey | None] = dict.fromkeys(ACCOUNT_TYPES)

    def active(self, account: AccountType, now_ms: int) -> ListenKey | None:
        key = self._keys[account]
        return key if key is not None and key.expires_ms > now_ms else None

    def create_or_extend(self, account: AccountType, now_ms: int) -> str:
        key = self.active(account, now_ms)
        if key is None:
            key = ListenKey(self._new_token(), 0)
            self._keys[account] = key
        key.expires_ms = now_ms + LISTEN_KEY_TTL_MS
        return key.value

    def extend(self, account: AccountType, now_ms: int) -> None:
        key = self.active(account, now_ms)
        if key is None:
            raise BinanceError(-1125)
        key.expires_ms = now_ms + LISTEN_KEY_TTL_MS

    def refresh(self, account: AccountType, now_ms: int) -> None:
        """Extend the account's current key from ``now_ms`` whether or not its hour is up (used by clock jumps)."""
        key = self._keys[account]
        if key is not None:
            key.expires_ms = now_ms + LISTEN_KEY_TTL_MS

    def kill(self, account: AccountType) -> str | None:
        key, self._keys[account] = self._keys[account], None
        return key.value if key is not None else None

    def due(self, now_ms: int) -> list[tuple[AccountType, str]]:
        """Keys whose time is up and that nobody has told their sockets about yet; they are removed."""
        expired: list[tuple[AccountType, str]] = []
        for account, key in self._keys.items():
            if key is not None and key.expires_ms <= now_ms:
                expired.append((account, key.value))
                self._keys[account] = None
        return expired

    def account_of(self, value: str, now_ms: int) -> AccountType | None:
        for account in ACCOUNT_TYPES:
            key = self.active(account, now_ms)
            if key is not None and secrets.compare_digest(key.value, value):
                return account
        return None
