"""The one ordering rule of both books: per key, the last writer by (E, T) wins."""

from __future__ import annotations

from typing import Final

NEWER: Final = 1
STALE: Final = 0
DUPLICATE: Final = -1


def order(old_e: int | None, old_t: int | None, new_e: int, new_t: int | None) -> int:
    """Where an event stamped (``new_e``, ``new_t``) stands against the entry's (``old_e``, ``old_t``)."""
    if old_e is None or new_e > old_e:
        return NEWER
    if new_e < old_e:
        return STALE
    # Same E: T decides when both have one; otherwise it is the same frame again.
    if new_t is not None and old_t is not None and new_t != old_t:
        return NEWER if new_t > old_t else STALE
    return DUPLICATE
