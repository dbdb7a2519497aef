"""Deterministic noise: a 64-bit mix, stable keys from (seed, name) and uniform draws, the same in every process."""

from __future__ import annotations

import functools
import zlib
from typing import Final

_MASK: Final = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stable_key(seed: int, name: str) -> int:
    # Not hash(): str hashes change per process, and the same seed must give the same market every run.
    return _mix((seed & _MASK) ^ (zlib.crc32(name.encode()) << 20))


@functools.lru_cache(maxsize=1 << 16)
def uniform(key: int, index: int) -> float:
    """A deterministic draw in [-1, 1) for (key, index)."""
    return _mix(key ^ _mix(index & _MASK)) / 2**63 - 1.0
