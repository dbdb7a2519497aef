"""The examples in docs/ run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.DOTALL)


def test_plugin_guide_example_passes_with_the_shipped_pytest_fixtures(tmp_path: Path) -> None:
    """docs/plugins.md: the plugin module and its test, run by pytest with pmbridge's pytest11 fixtures."""
    blocks = python_blocks("plugins.md")
    module = next(block for block in blocks if block.startswith("# my_notifier.py"))
    test = next(block for block in blocks if "async def test_my_notifier" in block)
    (tmp_path / "my_notifier.py").write_text(module)
    (tmp_path / "test_example.py").write_text(test)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            str(tmp_path / "test_example.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
