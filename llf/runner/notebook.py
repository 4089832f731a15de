"""Executing one notebook with papermill and a real kernel, turning every way it can fail into a clear message."""

from __future__ import annotations

import keyword
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from llf.control.notebooks import bounded_bytes, notebook_problem, resolve_notebook
from llf.control.pins import changed_since_pinned, content_sha256, short
from llf.exceptions import LlfError
from llf.runner.kernel_env import kernel_environment
from llf.runner.kernel_user import KernelUser, hand_over, make_non_dumpable, private_home, without_worker_folders
from llf.runner.timeline import Timeline

log = logging.getLogger(__name__)
KILL_WAIT_SECONDS = 5.0  # a SIGKILLed kernel is gone within milliseconds; past this, something is wrong


class NotebookRejected(LlfError):
    """The notebook cannot be run as registered (path, parameters cell, parameter names)."""


class KernelStopper:
    """Lets another thread stop the kernel of one execution (the run lock's watchdog, when the lock is lost).

    papermill creates the kernel manager deep inside nbclient, in the thread running the notebook. The
    stopper hands nbclient a kernel manager class that registers every manager it creates; stop()
    SIGKILLs their kernels' process groups (each kernel leads its own session, so its children die too).
    nbclient polls the kernel every second, sees it dead and raises DeadKernelError, so execute() returns
    with the notebook saved as far as it ran. A kernel still starting at stop() has no process yet: the
    watchdog calls stop() again at each check, so it is stopped at the next one.
    """

    def __init__(self) -> None:
        self._managers: list[Any] = []
        # reentrant: stop() may run in a signal handler (on_kill) while this thread is inside adopt()
        self._guard = threading.RLock()
        self.reason: str | None = None

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def adopt(self, manager: Any) -> None:
        """Count a kernel manager nbclient just created among those stop() kills."""
        with self._guard:
            self._managers.append(manager)

    def stop(self, reason: str) -> None:
        """Kill the kernels started so far; idempotent, callable from any thread."""
        with self._guard:
            self.reason = self.reason or reason
            for manager in self._managers:
                killed = _kill_kernel(manager)
                if killed is not None:
                    log.warning("kernel %s killed", killed.pid)


def _kill_kernel(manager: Any) -> subprocess.Popen | None:
    """SIGKILL a local kernel's process group, as jupyter_client's own kill does; never our own group.

    Returns the kernel's process when this call killed it; None when it had not started or had ended.
    """
    provisioner = getattr(manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is None or process.poll() is not None:  # not started yet, or already gone (and reaped)
        return None
    group = getattr(provisioner, "pgid", None)
    try:
        if group and group != os.getpgid(0):
            os.killpg(group, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        return None  # it ended meanwhile
    return process


def _kill_and_reap(manager: Any) -> None:
    """End a kernel whose notebook is done at once: SIGKILL, then wait for the process (milliseconds).

    jupyter_client's immediate shutdown kills too, then polls for the end every 0.1 s, which costs
    a task about that much after its last cell; reaped here, its polls find the kernel already gone.
    """
    process = _kill_kernel(manager)
    if process is None:
        return
    try:
        process.wait(timeout=KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("kernel %s not gone %g s after SIGKILL; jupyter_client keeps waiting", process.pid,
                    KILL_WAIT_SECONDS)


@dataclass(frozen=True)
class NotebookOutcome:
    """How an execution ended: `error` is None on success, else the message for the run log."""

    output_notebook: Path
    error: str | None


def resolve(file_path: str, notebooks_dir: Path) -> Path:
    """The notebook to run, confined to the notebooks folder, and runnable as `llf validate` checks it."""
    message, fix = notebook_problem(file_path, notebooks_dir)
    if message:
        raise NotebookRejected(f"{message}. Fix: {fix} (cntl_cfg_sys_file.file_path = {file_path!r})")
    return resolve_notebook(file_path, notebooks_dir)


def pinned_copy(notebook: Path, file_path: str, pin: str | None, scratch: Path) -> Path:
    """The notebook's bytes, read once, checked against its pin and copied into `scratch`: the copy is what
    papermill reads, so what was checked is what runs; a file changed after this read is not run.

    NotebookRejected, before any kernel starts, when the content is not the pinned one (a registered notebook
    edited in JupyterLab since it was pinned). A notebook with no pin (registered before pins) runs, with a
    warning: an upgrade must not stop deployments that have not pinned yet (`llf validate` names them too).
    """
    try:
        content = bounded_bytes(notebook)
    except OSError as error:
        raise NotebookRejected(f"the notebook cannot be read ({type(error).__name__}: {error.strerror or error})") \
            from None
    except ValueError as refused:  # past the bound, or no regular file: the sentence says which
        raise NotebookRejected(str(refused)) from None
    now = content_sha256(content)
    if pin is None:
        log.warning("%s is not pinned: it runs as the file is now (%s); review it, then run `llf pin %s`",
                    file_path, short(now), file_path)
    elif now != pin:
        raise NotebookRejected(changed_since_pinned(file_path, pin, now))
    copy = scratch / "pinned" / notebook.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(content)
    return copy


def parameters_for(notebook: Path, registered: Mapping[str, Any], run_context: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters to inject: every registered param, plus the run-context values the notebook declares.

    Refuses what papermill cannot inject. A registered param the notebook does not declare is a problem
    `llf validate` reports, and its stream is not built; it reaches here only when the notebook changed
    since the last snapshot, and is then injected with a warning (the registration is the user's intent).
    """
    bad_names = [name for name in registered if not str(name).isidentifier() or keyword.iskeyword(name)]
    if bad_names:
        raise NotebookRejected(
            f"params {bad_names} are not valid Python names, so they cannot be injected; "
            "rename them in cntl_cfg_prcs.params"
        )
    declared = papermill.inspect_notebook(str(notebook))
    unknown = sorted(set(registered) - set(declared))
    if unknown:
        log.warning("params %s are not declared in the parameters cell of %s; they are injected anyway",
                    unknown, notebook.name)
    return {**registered, **{name: value for name, value in run_context.items() if name in declared}}


def kernel_manager_class(env: Mapping[str, str], stopper: KernelStopper | None,
                         timeline: Timeline | None = None, ipc_prefix: Path | None = None,
                         user: KernelUser | None = None) -> type:
    """The kernel manager nbclient creates: starts the kernel with `env` rather than this process's environment
    (papermill has no way to pass one), lets `stopper` kill it, and marks its start and stop on `timeline`.

    With `ipc_prefix`, the kernel's channels are Unix sockets named after it instead of TCP ports:
    jupyter_client picks free ports by binding and releasing them, so two kernels starting at once on
    one worker could pick the same port and one died with "ZMQError: Address already in use". Its folder
    holds the connection file too. With `user`, the kernel runs as that user (llf.runner.kernel_user): the
    folder is handed to it (0700: no other stream's user reaches its sockets or its connection file's key) and
    Popen switches the child's groups and uid before exec, through jupyter_client's own launch arguments.
    """
    from jupyter_client import AsyncKernelManager

    transport = {} if ipc_prefix is None else {
        "transport": "ipc", "ip": str(ipc_prefix), "connection_file": str(ipc_prefix.parent / "kernel.json")}

    class LlfKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, **transport})
            if stopper is not None:
                stopper.adopt(self)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            """jupyter_client's hook for launching differently: the connection file is written by now."""
            if user is not None:
                hand_over(Path(self.connection_file), user)
                kw.update(user.popen_arguments())
            await super()._async_launch_kernel(kernel_cmd, **kw)

        # jupyter_client's AsyncKernelManager makes KernelManager's methods coroutines its types do not show.
        async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
            await super().start_kernel(**{**kwargs, "env": dict(env)})
            if timeline is not None:
                timeline.mark("kernel process started")

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
            if timeline is not None:
                timeline.mark("cells ran")
            if now and not restart:
                _kill_and_reap(self)
            await super().shutdown_kernel(now=now, restart=restart)
            if timeline is not None:
                timeline.mark("kernel stopped")

    return LlfKernelManager


def execute(
    notebook: Path,
    output_notebook: Path,
    parameters: Mapping[str, Any],
    *,
    timeout_min: float,
    kernel_env: Mapping[str, str],
    stopper: KernelStopper | None = None,
    timeline: Timeline | None = None,
    cwd: Path | None = None,
    user: KernelUser | None = None,
) -> NotebookOutcome:
    """Run the notebook; the whole run (not each cell) is bounded by `timeout_min`; `stopper` can kill it.

    Once the last cell's outputs are in, the kernel is killed with its process group, not asked to exit:
    a graceful shutdown waits for the kernel, and about one kernel in ten took 2.5 s more to go (then
    SIGTERM, then 5 s SIGKILL). The price: the notebook's atexit hooks do not run (docs, Writing a notebook).
    The kernel runs in `cwd` (default: the notebook's folder), so that a pinned copy (pinned_copy) runs where
    its registered file is, next to the files it opens; with `user`, as that user (llf.runner.kernel_user), its
    HOME and TMPDIR a folder of its own removed with the kernel's sockets.
    """
    deadline = time.monotonic() + timeout_min * 60

    def seconds_left(_cell: object) -> int:
        return max(1, int(deadline - time.monotonic()))

    ready = None if timeline is None else (lambda **_: timeline.mark("kernel ready"))
    make_non_dumpable()  # before any kernel: none, of any user, reads this process's /proc/<pid>/environ
    # a short folder of its own for the kernel's sockets: a Unix socket's path holds at most 107 bytes
    with tempfile.TemporaryDirectory(prefix="llf-k-") as sockets:
        env = kernel_environment(kernel_env)
        if user is not None:
            env = {**without_worker_folders(env), **private_home(Path(sockets), user)}
        manager = kernel_manager_class(env, stopper, timeline, Path(sockets) / "k", user)
        return _run_papermill(notebook, output_notebook, parameters, manager, seconds_left, ready,
                              timeout_min, stopper, cwd or notebook.parent)


def _run_papermill(notebook: Path, output_notebook: Path, parameters: Mapping[str, Any], manager: type,
                   seconds_left: Callable[[object], int], ready: Callable[..., None] | None, timeout_min: float,
                   stopper: KernelStopper | None, cwd: Path) -> NotebookOutcome:
    """papermill's run of the notebook, every way it can end turned into a NotebookOutcome."""
    try:
        papermill.execute_notebook(
            str(notebook), str(output_notebook), parameters=dict(parameters),
            kernel_name="python3", progress_bar=False, cwd=str(cwd),
            timeout_func=seconds_left, kernel_manager_class=manager, on_notebook_start=ready,
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError as error:
        return NotebookOutcome(
            output_notebook, f"{error.ename}: {error.evalue} (cell {error.exec_count}, index {error.cell_index})"
        )
    except (CellTimeoutError, TimeoutError):
        return NotebookOutcome(output_notebook, f"timed out after {timeout_min:g} min; the kernel was stopped")
    except DeadKernelError as error:
        if stopper and stopper.stopped:
            return NotebookOutcome(output_notebook, f"the kernel was stopped: {stopper.reason}")
        return NotebookOutcome(output_notebook, f"DeadKernelError: the kernel died ({error})")
    return NotebookOutcome(output_notebook, None)
