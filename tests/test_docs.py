"""docs/hooks.md stays true: every hook documented with its exact signature, and every hook exercised by a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pmbridge import hookspecs

ROOT = Path(__file__).parent.parent
HEADING = re.compile(r"^## `(pmbridge_\w+)\((.*)\) -> (.+)`$", re.MULTILINE)


def spec_signatures() -> dict[str, str]:
    specs = {}
    for name, function in vars(hookspecs).items():
        if name.startswith("pmbridge_") and callable(function):
            signature = inspect.signature(function)
            params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
            specs[name] = f"{name}({params}) -> {signature.return_annotation}"
    return specs


def documented_signatures() -> dict[str, str]:
    text = (ROOT / "docs" / "hooks.md").read_text()
    return {match[1]: f"{match[1]}({match[2]}) -> {match[3]}" for match in HEADING.finditer(text)}


def test_there_are_hooks_to_document() -> None:
    assert len(spec_signatures()) >= 9


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    specs, documented = spec_signatures(), documented_signatures()
    assert sorted(set(specs) - set(documented)) == [], "undocumented hooks: add a section to docs/hooks.md"
    assert sorted(set(documented) - set(specs)) == [], "docs/hooks.md documents hooks that do not exist"
    for name, signature in specs.items():
        assert documented[name] == signature, f"docs/hooks.md heading for {name} drifted from the spec"


def test_every_hook_is_exercised_by_a_test() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py") if path.name != "test_docs.py")
    untested = [name for name in spec_signatures() if name not in sources]
    assert untested == [], f"hooks no test exercises: {untested}"


def test_every_hook_spec_says_when_it_fires() -> None:
    for name in spec_signatures():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":param" in doc, f"{name} docstring must describe its argument"
        assert len(doc.splitlines()) >= 3, f"{name} docstring must say when it fires"
