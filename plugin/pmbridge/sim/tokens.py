"""Credentials and listen keys the simulator makes up: Binance's 64-character alphanumeric shape, reproducible."""

from __future__ import annotations

import os
import random
import secrets
import string
from collections.abc import Callable
from typing import Final

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
