"""The runner owns the kernel's life: once the last cell's outputs are in, the kernel is killed, not asked to exit."""

from __future__ import annotations

import json
import time
from pathlib import Path

from llf.runner import notebook as notebook_runner
from llf.runner.timeline import Timeline
from tests.support.notebooks import write_notebook


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its parent (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _gone(pid: int, within: float = 10.0) -> bool:
    """Wait until the process is gone (a SIGKILLed process still needs to be scheduled to die)."""
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_given_a_finished_notebook_then_its_kernel_is_killed_not_asked_to_exit_and_outputs_are_kept(tmp_path):
    pids, atexit_marker = tmp_path / "pids.txt", tmp_path / "atexit.txt"
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        "import atexit, os, pathlib\n"
        f"pathlib.Path({str(pids)!r}).write_text(str(os.getpid()))\n"
        f"atexit.register(lambda: pathlib.Path({str(atexit_marker)!r}).write_text('graceful'))",
        "print('last output')",
    )
    timeline = Timeline()

    outcome = notebook_runner.execute(notebook, tmp_path / "out.ipynb", {}, timeout_min=5, kernel_env={},
                                      timeline=timeline)

    assert outcome.error is None
    assert not _alive(int(pids.read_text()))  # reaped before execute returned
    assert not atexit_marker.exists()  # a graceful shutdown would have run the hook
    last_cell = json.loads(outcome.output_notebook.read_text())["cells"][-1]
    assert "last output" in "".join(last_cell["outputs"][0]["text"])
    steps = [label for label, _ in timeline.phases()]
    assert steps == ["kernel process started", "kernel ready", "cells ran", "kernel stopped"]


def test_given_a_notebook_that_started_a_process_then_it_dies_with_the_kernel(tmp_path):
    pids = tmp_path / "pids.txt"
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        "import pathlib, subprocess\nchild = subprocess.Popen(['sleep', '300'])\n"
        f"pathlib.Path({str(pids)!r}).write_text(str(child.pid))",
    )

    outcome = notebook_runner.execute(notebook, tmp_path / "out.ipynb", {}, timeout_min=5, kernel_env={})

    assert outcome.error is None
    assert _gone(int(pids.read_text()))  # the kernel's process group was killed with it


def test_given_a_failing_cell_then_the_kernel_is_killed_and_the_error_is_reported(tmp_path):
    pids = tmp_path / "pids.txt"
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        f"import os, pathlib\npathlib.Path({str(pids)!r}).write_text(str(os.getpid()))",
        "raise RuntimeError('broken')",
    )

    outcome = notebook_runner.execute(notebook, tmp_path / "out.ipynb", {}, timeout_min=5, kernel_env={})

    assert outcome.error is not None and "RuntimeError: broken" in outcome.error
    assert not _alive(int(pids.read_text()))
    assert outcome.output_notebook.exists()


def test_given_a_notebook_then_its_kernel_listens_on_unix_sockets_not_on_tcp_ports(tmp_path):
    connection = tmp_path / "connection.json"
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        "import pathlib\nfrom ipykernel.connect import get_connection_info\n"
        f"pathlib.Path({str(connection)!r}).write_text(get_connection_info())",
    )

    outcome = notebook_runner.execute(notebook, tmp_path / "out.ipynb", {}, timeout_min=5, kernel_env={})

    assert outcome.error is None
    info = json.loads(connection.read_text())
    assert info["transport"] == "ipc"  # no free port to pick, so no race with kernels starting beside it
    assert not Path(f"{info['ip']}-{info['shell_port']}").exists()  # its socket files went with it
