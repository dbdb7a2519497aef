"""Running a page's bash blocks as a reader pastes them: the blocks of one section, and a curl for the tests.

The curl stand-in speaks the forms the docs use (``curl -s [-X METHOD] [-d DATA] URL``, 127.0.0.1 only) and is
stricter than ``curl -s``: an HTTP error status exits 22, as ``curl -f`` does, so a refused example fails its test.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path

from .helpers import until

CURL_STAND_IN = """#!{python}
import sys, urllib.error, urllib.request
args, method, data, url = sys.argv[1:], None, None, None
while args:
    arg = args.pop(0)
    if arg == "-s":
        continue
    if arg == "-X":
        method = args.pop(0)
    elif arg == "-d":
        data = args.pop(0).encode()
    elif arg.startswith("http://127.0.0.1:") and url is None:
        url = arg
    else:
        sys.exit(f"curl stand-in: {{arg!r}} is not a form the docs use")
request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        sys.stdout.write(answer.read().decode() + "\\n")
except urllib.error.HTTPError as error:
    sys.stderr.write(f"curl stand-in: {{url}} answered {{error.code}}: {{error.read().decode()}}\\n")
    sys.exit(22)
"""


def section(doc: Path, heading: str) -> str:
    """The text of the ``## heading`` section of ``doc`` (up to the next ``## ``), without the heading."""
    text = doc.read_text()
    marker = f"## {heading}\n"
    assert marker in text, f"{doc.name} has no section {heading!r}"
    return text.split(marker, 1)[1].split("\n## ", 1)[0]


FENCE_TEXT = re.compile(r"```text\n(.*?)```", re.S)
"""A ``text`` block: output a page quotes."""


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def curl_stand_in(directory: Path) -> str:
    """A directory holding the curl stand-in, to put first on ``PATH``."""
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "curl"
    shim.write_text(CURL_STAND_IN.format(python=sys.executable))
    shim.chmod(0o755)
    return str(directory)


def path_with(*directories: str) -> str:
    return os.pathsep.join([*directories, os.environ["PATH"]])


def stop_background(pid: int, timeout: float = 30.0) -> None:
    """``kill %1`` for a job a page started with ``&``, and wait until it is gone.

    The job may have stopped already (a Ctrl-C sent to its shell's process group reaches it too: a background job shares
    the group, and the simulator answers SIGINT). It is not the test's child (its parent, the shell, has exited), so it
    is watched through /proc rather than waited for."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    until(lambda: not running(pid), timeout, what=f"the background job (PID {pid}) to exit after SIGTERM")


def running(pid: int) -> bool:
    """Whether ``pid`` still runs. A zombie does not: an orphan is reparented to PID 1, and in a container PID 1 may
    never reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
