"""The scenario notebooks: each appends its process name to a marker file, then behaves as asked.

The marker file counts executions (what at-most-once is about); the behaviour is baked into the
notebook's code, so "fixing the notebook" means rewriting the file, as a user would.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.support.notebooks import write_notebook

PARAMETERS = "prcs_nm = ''\nmarker = ''"
APPEND_MARKER = "if marker:\n    with open(marker, 'a') as out:\n        out.write(prcs_nm + '\\n')"

SUCCEED = "result = 6 * 7"
FAIL = "rows = []\nraise ValueError(f'no input rows for {prcs_nm}')"
NAP = "import time\ntime.sleep(15)"  # long enough for a dependant started beside it to ask while it runs
SLEEP = "import time\ntime.sleep(120)"
# The kernel is a child of the Airflow task process that runs papermill: that parent is SIGKILLed, once. The kernel
# runs under its stream's own OS user (llf/runner/kernel_user.py), which may not signal the task: it writes the
# task's pid to `<marker>.killed`, and task_killer, in the test process, kills it.
KILL_TASK_ONCE = (
    "import os, pathlib, time\n"
    "killed_once = pathlib.Path(marker + '.killed')\n"
    "if not killed_once.exists():\n"
    "    killed_once.write_text(str(os.getppid()))\n"
    "    time.sleep(60)"
)


@contextmanager
def task_killer(marker: Path) -> Iterator[None]:
    """While the block runs, SIGKILL the task process whose pid a KILL_TASK_ONCE notebook wrote, once."""
    request = marker.with_name(marker.name + ".killed")
    done = threading.Event()

    def kill_when_asked() -> None:
        while not done.wait(0.1):
            pid = request.read_text().strip() if request.exists() else ""
            if pid:
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
                return

    killer = threading.Thread(target=kill_when_asked, name="task-killer", daemon=True)
    killer.start()
    try:
        yield
    finally:
        done.set()
        killer.join(timeout=5)


def scenario_notebook(path: Path, behaviour: str) -> Path:
    """A notebook at `path` that records its run in `marker`, then runs `behaviour` (one of the above)."""
    return write_notebook(path, APPEND_MARKER, behaviour, parameters=PARAMETERS)


def executions(marker: Path) -> dict[str, int]:
    """How many times each process's notebook ran, from the marker file."""
    lines = marker.read_text().split() if marker.exists() else []
    return {name: lines.count(name) for name in sorted(set(lines))}
