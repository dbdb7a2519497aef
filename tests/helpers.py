"""Small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def frame(name: str) -> bytes:
    """A documented frame from tests/fixtures/frames, byte for byte."""
    return (FIXTURES / "frames" / f"{name}.json").read_bytes().strip()
