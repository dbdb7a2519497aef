"""The one simulated account: per-symbol leverage and margin type, account flags, and listen keys."""

from __future__ import annotations

import os
import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from .errors import BinanceError, invalid_leverage
from .markets import Catalogue, Contract, Unit

Account = Literal["pm", "usdm", "coinm"]
ACCOUNTS: Final[tuple[Account, ...]] = ("pm", "usdm", "coinm")
LISTEN_KEY_TTL_MS: Final = 60 * 60 * 1000
DEFAULT_LEVERAGE: Final = 20
_ALNUM: Final = string.ascii_letters + string.digits
TOKEN_LENGTH: Final = 64
MAX_TOKEN_PREFIX: Final = 32
"""At least half of every token stays random."""
ENV_SEED: Final = "PMBRIDGE_SIM_SEED"
ENV_TOKEN_PREFIX: Final = "PMBRIDGE_SIM_TOKEN_PREFIX"


def token_source(seed: int = 0, prefix: str = "") -> Callable[[], str]:
    """64-char alphanumeric tokens (Binance's shape): from the OS by default, reproducible from `seed` when it is
    not 0. `prefix` starts every token, so a test can recognise one wherever it leaked."""
    if prefix and not (prefix.isascii() and prefix.isalnum() and len(prefix) <= MAX_TOKEN_PREFIX):
        raise ValueError(
            f"the token prefix must be 1 to {MAX_TOKEN_PREFIX} ASCII letters and digits (listenKeys and API keys "
            f"are alphanumeric), got {prefix!r}"
        )
    rng: random.Random = secrets.SystemRandom() if seed == 0 else random.Random(seed)
    random_part = TOKEN_LENGTH - len(prefix)
    return lambda: prefix + "".join(rng.choice(_ALNUM) for _ in range(random_part))


def token_settings(seed: int | None = None, prefix: str | None = None) -> tuple[int, str]:
    """The seed and token prefix a simulator uses: the arguments when given, else `PMBRIDGE_SIM_SEED` and
    `PMBRIDGE_SIM_TOKEN_PREFIX`, else 0 (tokens from the OS) and no prefix."""
    if seed is None:
        raw = os.environ.get(ENV_SEED, "").strip()
        try:
            seed = int(raw) if raw else 0
        except ValueError:
            raise ValueError(f"{ENV_SEED} must be an integer (0: tokens from the OS), got {raw!r}") from None
    if prefix is None:
        prefix = os.environ.get(ENV_TOKEN_PREFIX, "").strip()
    return seed, prefix


@dataclass(slots=True)
class ListenKey:
    value: str
    expires_ms: int


class AccountState:
    """Leverage, margin type and flags: the truth that every REST view and every pushed event derives from."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.leverage: dict[str, int] = dict.fromkeys(catalogue.contracts, DEFAULT_LEVERAGE)
        self.margin_type: dict[str, str] = dict.fromkeys(catalogue.contracts, "CROSSED")
        self.multi_assets = False
        self.dual_side_position = False

    def contract(self, symbol: str, unit: Unit | None = None) -> Contract:
        found = self.catalogue.contracts.get(symbol)
        if found is None or (unit is not None and found.unit != unit):
            raise BinanceError(-1121)
        return found

    def set_leverage(self, symbol: str, leverage: object, unit: Unit | None = None) -> Contract:
        """Validate like Binance (unknown symbol -1121, out of bracket range -4028), then apply."""
        contract = self.contract(symbol, unit)
        try:
            value = int(str(leverage))
        except ValueError:
            raise invalid_leverage(leverage) from None
        if not 1 <= value <= contract.max_leverage:
            raise invalid_leverage(leverage)
        self.leverage[symbol] = value
        return contract

    def by_unit(self, table: dict[str, int] | dict[str, str], unit: Unit) -> dict[str, object]:
        contracts = self.catalogue.contracts
        return {s: v for s, v in table.items() if contracts[s].unit == unit}


class ListenKeys:
    """One listen key per account type, living 60 sim-minutes after its last POST/PUT."""

    def __init__(self, new_token: Callable[[], str]) -> None:
        self._new_token = new_token
        self._keys: dict[Account, ListenKey | None] = dict.fromkeys(ACCOUNTS)

    def active(self, account: Account, now_ms: int) -> ListenKey | None:
        key = self._keys[account]
        return key if key is not None and key.expires_ms > now_ms else None

    def create_or_extend(self, account: Account, now_ms: int) -> str:
        key = self.active(account, now_ms)
        if key is None:
            key = ListenKey(self._new_token(), 0)
            self._keys[account] = key
        key.expires_ms = now_ms + LISTEN_KEY_TTL_MS
        return key.value

    def extend(self, account: Account, now_ms: int) -> None:
        key = self.active(account, now_ms)
        if key is None:
            raise BinanceError(-1125)
        key.expires_ms = now_ms + LISTEN_KEY_TTL_MS

    def refresh(self, account: Account, now_ms: int) -> None:
        """Extend the account's current key from ``now_ms`` whether or not its hour is up (used by clock jumps)."""
        key = self._keys[account]
        if key is not None:
            key.expires_ms = now_ms + LISTEN_KEY_TTL_MS

    def kill(self, account: Account) -> str | None:
        key, self._keys[account] = self._keys[account], None
        return key.value if key is not None else None

    def due(self, now_ms: int) -> list[tuple[Account, str]]:
        """Keys whose time is up and that nobody has told their sockets about yet; they are removed."""
        expired: list[tuple[Account, str]] = []
        for account, key in self._keys.items():
            if key is not None and key.expires_ms <= now_ms:
                expired.append((account, key.value))
                self._keys[account] = None
        return expired

    def account_of(self, value: str, now_ms: int) -> Account | None:
        for account in ACCOUNTS:
            key = self.active(account, now_ms)
            if key is not None and secrets.compare_digest(key.value, value):
                return account
        return None
