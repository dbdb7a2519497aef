"""The install docs/freqtrade.md describes works: the wheel its command builds installs into a fresh environment and
runs there, and docs/examples/docker/ installs the same wheel the same way on the Freqtrade release pmbridge is
tested with.

Offline by design (CI has installed the project's dependencies, nothing more): the wheel is built with
``--no-build-isolation`` from the setuptools the ``test`` extra installs, and the fresh environment sees the project
environment's packages through a ``.pth`` file (a ``--system-site-packages`` for a virtualenv), pmbridge's own
editable install left out, so the documented ``pip install`` resolves with ``--no-index``.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from pmbridge.freqtrade.portfolio.compat import TESTED_FREQTRADE

from .doc_shell import bash_blocks, section

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "freqtrade.md"
DOCKER = ROOT / "docs" / "examples" / "docker"
SOURCES = ("pyproject.toml", "entry_points.cfg", "README.md")


def documented_commands() -> tuple[list[str], list[str]]:
    """(the wheel build, the wheel install) of the Install section, as argument lists."""
    commands = [
        shlex.split(line, comments=True)
        for block in bash_blocks(section(DOC, "Install"))
        for line in block.splitlines()
        if line.startswith("pip ")
    ]
    [build] = [c for c in commands if c[:2] == ["pip", "wheel"]]
    [install] = [c for c in commands if c[:2] == ["pip", "install"] and c[-1].startswith("dist/")]
    return build, install


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def requirements(arguments: list[str]) -> list[str]:
    return [a for a in arguments[2:] if not a.startswith("-")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel the documented command builds, from a copy of the checkout (so no build/ lands in the tree)."""
    checkout = tmp_path_factory.mktemp("checkout")
    for name in SOURCES:
        shutil.copy(ROOT / name, checkout / name)
    shutil.copytree(
        ROOT / "plugin" / "pmbridge", checkout / "plugin" / "pmbridge", ignore=shutil.ignore_patterns("__pycache__")
    )
    build, _ = documented_commands()
    assert build == ["pip", "wheel", ".", "--no-deps", "-w", "dist"]
    subprocess.run([sys.executable, "-m", *build, "--no-build-isolation", "-q"], cwd=checkout, check=True, timeout=120)
    [built] = (checkout / "dist").glob("*.whl")
    return built


def test_the_wheel_carries_the_entry_points_and_py_typed(wheel: Path) -> None:
    declared = configparser.ConfigParser()
    declared.read(ROOT / "entry_points.cfg")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        shipped = configparser.ConfigParser()
        shipped.read_string(archive.read(entry_points).decode())
    assert "pmbridge/py.typed" in names
    assert "pmbridge/sim/__main__.py" in names and "pmbridge/freqtrade/launcher.py" in names
    for group in declared.sections():
        shipped_group = dict(shipped[group]) if shipped.has_section(group) else {}
        assert shipped_group == dict(declared[group]), group
    assert shipped["console_scripts"]["pmbridge"] == "pmbridge.cli:main"


def test_the_documented_install_works_in_a_fresh_environment(wheel: Path, tmp_path: Path) -> None:
    _, install = documented_commands()
    [requirement] = requirements(install)
    assert requirement == f"dist/{wheel.name}[freqtrade]", "docs/freqtrade.md names another wheel than the build's"
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=60)
    python = fresh / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The project environment's packages (Freqtrade, ccxt...), without pmbridge's own editable install.
    project = Path(sysconfig.get_paths()["purelib"])
    shared = tmp_path / "project-packages"
    shared.mkdir()
    for entry in project.iterdir():
        if not entry.name.startswith(("pmbridge", "__editable__.pmbridge", "__editable___pmbridge")):
            (shared / entry.name).symlink_to(entry)
    (site / "project-packages.pth").write_text(f"{shared}\n")

    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install[1:], "--no-index", "-q"],
        cwd=wheel.parent.parent,
        check=True,
        timeout=120,
    )
    shown = subprocess.run(
        [fresh / "bin" / "pmbridge", "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert re.search(r"^ +freqtrade +run Freqtrade through pmbridge", shown.stdout, re.M), shown.stdout
    imported = subprocess.run(
        [python, "-c", "import pmbridge, pmbridge.freqtrade; print(pmbridge.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(imported.stdout.strip()).is_relative_to(site), "pmbridge was imported from outside the wheel"


def test_the_dockerfile_installs_the_documented_wheel_on_the_tested_freqtrade() -> None:
    _, install = documented_commands()
    instructions = dockerfile()
    assert instructions[0] == ("FROM", f"freqtradeorg/freqtrade:{TESTED_FREQTRADE[-1]}")
    [copy] = [shlex.split(args) for keyword, args in instructions if keyword == "COPY"]
    [run] = [shlex.split(args) for keyword, args in instructions if keyword == "RUN"]
    assert run[:2] == ["pip", "install"] and set(run[2:]) - set(install[2:]) == {"--user", "--no-cache-dir"}
    assert requirements(run) == requirements(install), "the Dockerfile installs another wheel than docs/freqtrade.md"
    [wheel_file] = requirements(install)
    assert copy[-2:] == [wheel_file.split("[")[0], "dist/"]
    assert ("ENTRYPOINT", '["pmbridge", "freqtrade"]') in instructions


def test_the_compose_file_runs_freqtrades_trade_command() -> None:
    text = (DOCKER / "docker-compose.yml").read_text()
    assert re.search(r"^ +build:\n +context: \.\n +dockerfile: \"\./Dockerfile\"$", text, re.M)
    folded = re.search(r"^ +command: >\n((?: {6}.+\n)+)", text, re.M)
    assert folded is not None
    command = folded[1].split()
    assert command[0] == "trade", "the entrypoint is pmbridge freqtrade: command is Freqtrade's own command line"
    strategy = command[command.index("--strategy") + 1]
    assert (
        f"class {strategy}("
        in (ROOT / "docs" / "examples" / "user_data" / "strategies" / "pmbridge_example.py").read_text()
    )
    assert command[command.index("--config") + 1] == "/freqtrade/user_data/config.json"
