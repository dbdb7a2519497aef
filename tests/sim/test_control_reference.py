"""The control API's reference stays true: the routes the server registers under /_sim/, ``GET /_sim/``'s listing,
``python -m pmbridge.sim --help`` and docs/simulator.md name the same routes with the same body fields, and every
example on the page runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

from pmbridge.sim import Simulator
from pmbridge.sim.api.control_table import CONTROL_ROUTES, PREFIX

from ..doc_shell import bash_blocks, curl_stand_in, path_with, section

DOC = Path(__file__).parents[2] / "docs" / "simulator.md"
DOC_URL = "http://127.0.0.1:8765"
HEADING = re.compile(r"^### `(GET|POST) (/_sim/\S*)`$", re.M)
FIELD = re.compile(r"^- `(\w+)`( \(required\))?:", re.M)

Route = tuple[str, str]
Fields = list[tuple[str, bool]]


def documented() -> dict[Route, tuple[Fields, list[str]]]:
    """Per ``(method, path)`` heading of the reference: its body fields (name, required) and its bash blocks."""
    parts = HEADING.split(section(DOC, "The control API (`/_sim/...`)"))
    found: dict[Route, tuple[Fields, list[str]]] = {}
    for method, path, text in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        assert (method, path) not in found, f"{method} {path} is documented twice"
        fields = [(name, bool(required)) for name, required in FIELD.findall(text)]
        found[(method, path)] = (fields, bash_blocks(text))
    return found


def table() -> dict[Route, Fields]:
    return {(r.method, r.path): [(f.name, f.required) for f in r.body] for r in CONTROL_ROUTES}


async def test_registered_listed_and_documented_routes_agree(sim: Simulator, http: aiohttp.ClientSession) -> None:
    # The whole application's router, not ControlRoutes' own list: a /_sim/ route registered anywhere else counts.
    assert sim._runner is not None
    registered = {
        (route.method, route.resource.canonical)
        for route in sim._runner.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(PREFIX) and route.method != "HEAD"
    }
    async with http.get(f"{sim.base_url}/_sim/") as answer:
        assert answer.status == 200
        listed = {
            (r["method"], r["path"]): [(f["name"], f["required"]) for f in r["body"]]
            for r in (await answer.json())["routes"]
        }
    docs = {route: fields for route, (fields, _) in documented().items()}
    assert sorted(registered) == sorted(table()), "a /_sim/ route is registered outside CONTROL_ROUTES"
    assert listed == table()
    assert sorted(set(table()) - set(docs)) == [], "undocumented control routes: add them to docs/simulator.md"
    assert sorted(set(docs) - set(table())) == [], "docs/simulator.md documents control routes that do not exist"
    assert list(docs) == list(table()), "docs/simulator.md lists the routes in another order than CONTROL_ROUTES"
    for route, fields in table().items():
        assert docs[route] == fields, f"docs/simulator.md's body fields for {route} drifted from CONTROL_ROUTES"


def test_help_lists_every_route_and_the_port() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pmbridge.sim", "--help"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    for route in CONTROL_ROUTES:
        assert re.search(rf"^  {route.method} +{re.escape(route.path)} ", shown, re.M), route.path
    assert "--port 0, the default, takes a free port" in shown


def test_every_example_runs_as_written(tmp_path: Path) -> None:
    """In page order, against the simulator the page names (``--seed 1``) on a free port instead of 8765."""
    examples = [block for _, blocks in documented().values() for block in blocks]
    assert len(examples) >= len(CONTROL_ROUTES)
    process = subprocess.Popen(
        [sys.executable, "-m", "pmbridge.sim", "--port", "0", "--seed", "1"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        base_url = json.loads(process.stdout.readline())["base_url"]
        env = {**os.environ, "PATH": path_with(curl_stand_in(tmp_path / "shims"))}
        for example in examples:
            assert DOC_URL in example, example
            ran = subprocess.run(
                ["bash", "-e", "-c", example.replace(DOC_URL, base_url)],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert ran.returncode == 0, f"{example}\n{ran.stderr}"
            for line in ran.stdout.splitlines():
                json.loads(line)  # every answer is JSON
    finally:
        process.terminate()
        process.wait(timeout=10)
