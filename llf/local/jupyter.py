"""`llf local jupyter`: JupyterLab on the project's folder, its kernels set up as a run's would be on the local stack.

A notebook is written before it is registered; written against the services it will use, it works when it runs.
So the kernels Jupyter starts get what the runner hands a kernel on this stack (llf.runner.kernel_env): the
allowlisted variables of the stack's component environment (the LLM, the lake, the notebooks' folder) and the
notebook login's URL as LLF_CONTROL_DB_URL, never the owner's. Jupyter passes its own environment to every kernel
(with JPY_SESSION_NAME naming the notebook), so the server starts with exactly that environment.

Never a server without a token, never on another interface than 127.0.0.1. The token is generated per start and
travels in a config file only its user can read: not in argv (every local user can read /proc/*/cmdline), not in
the environment (which the kernels inherit). Jupyter's own files (config, runtime, data, IPython's profile) live in
`jupyter/` of the local stack's folder, not in the home folder.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from llf.exceptions import ConfigurationError
from llf.local.private_files import write_private
from llf.runner.kernel_env import kernel_environment

HOST = "127.0.0.1"
DEFAULT_PORT = 8888
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class JupyterOptions:
    """What to serve and where: the project's folder (notebooks/ and drafts/ in it) as Jupyter's root, Jupyter's
    own files in `home`, on 127.0.0.1:`port`."""

    root: Path
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "jupyter.log"


def free_port(preferred: int = DEFAULT_PORT) -> int:
    """`preferred` when nothing listens on it, else a port the system picks: a second `llf local jupyter` (or a
    Jupyter of the user's own) must not stop the first from starting."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise ConfigurationError(f"No free TCP port on {HOST}.")


def stack_environment(state_file: Path) -> dict[str, str]:
    """The environment the local stack gave its Airflow components, as its state.json keeps it: the settings
    every run on this stack has, so the kernels here have the same ones."""
    try:
        return dict(json.loads(state_file.read_text(encoding="utf-8"))["env"])
    except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"No running local stack in {state_file.parent} ({type(error).__name__}): "
                                 "`llf local up` starts one.") from error


def authoring_environment(components: Mapping[str, str], home: Path,
                          base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the Jupyter server, hence of its kernels: what a run's kernel gets on this stack.

    `components` is the environment the local stack gave its Airflow components (state.json); as in a run, the
    kernel keeps the allowlisted variables of the worker's environment (`base`, default this process's, overlaid
    by `components`), and its control DB is the notebook login's URL."""
    notebook_url = components.get("LLF_NOTEBOOK_DB_URL")
    if not notebook_url:
        raise ConfigurationError("The local stack names no notebook login (LLF_NOTEBOOK_DB_URL in its state.json): "
                                 "run `llf local up` again.")
    worker = {**(os.environ if base is None else base), **components}
    return kernel_environment({
        "LLF_CONTROL_DB_URL": notebook_url,
        "LLF_NOTEBOOK_DB_URL": notebook_url,
        "LLF_NOTEBOOKS_DIR": components.get("LLF_NOTEBOOKS_DIR", ""),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }, worker=worker)


def write_config(options: JupyterOptions, token: str) -> Path:
    """Jupyter's server settings, the token among them, in a file of mode 0600 in its config folder."""
    config_dir = options.home / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    options.home.chmod(0o700)
    path = config_dir / "jupyter_server_config.json"
    write_private(path, json.dumps({
        "ServerApp": {"ip": HOST, "port": options.port, "port_retries": 0, "open_browser": False,
                      "root_dir": str(options.root), "allow_remote_access": False,
                      "allow_root": os.geteuid() == 0},  # said by run_jupyter: local mode runs as its user
        "IdentityProvider": {"token": token},
    }, indent=2))
    return path


@dataclass
class JupyterServer:
    """A JupyterLab process this module started, in a session of its own: the terminal's Ctrl-C reaches llf,
    which stops Jupyter with SIGTERM (Jupyter's clean shutdown, kernels included), not Jupyter's y/n prompt."""

    process: subprocess.Popen[bytes]
    options: JupyterOptions
    token: str

    @property
    def login_url(self) -> str:
        return f"{self.options.url}/lab?token={self.token}"

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigurationError(f"JupyterLab stopped at start (exit {self.process.returncode}): "
                                         f"{_tail(self.options.log_file)}")
            try:
                if httpx.get(f"{self.options.url}/api/status", params={"token": self.token}, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise ConfigurationError(f"JupyterLab did not answer on {self.options.url} within {timeout:.0f} s: "
                                 f"{_tail(self.options.log_file)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_jupyter(options: JupyterOptions, env: Mapping[str, str]) -> JupyterServer:
    """JupyterLab on `options`, with `env` as its (and its kernels') environment; returns once it answers."""
    token = secrets.token_hex(24)
    write_config(options, token)
    with options.log_file.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "jupyterlab"], env=dict(env), cwd=options.root,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = JupyterServer(process, options, token)
    try:
        server.wait_ready()
    except BaseException:  # not ready, or stopped while starting: in a session of its own it would outlive us
        server.stop()
        raise
    return server


def run_jupyter(options: JupyterOptions, env: Mapping[str, str], say: Say) -> int:
    """`llf local jupyter` in the foreground: start, print the URL with its token once, serve until Ctrl-C (or
    SIGTERM, SIGHUP). The handlers are in place before Jupyter starts: a stop at any moment ends it with one line."""
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = _serve(options, env, say)
    except KeyboardInterrupt:
        say("JupyterLab stopped.")
        return 0
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    say(f"JupyterLab exited ({code}); its log: {options.log_file}")
    return 0 if code == 0 else 1


def _serve(options: JupyterOptions, env: Mapping[str, str], say: Say) -> int:
    """Start Jupyter, say where it is, and wait for it; stopped whatever interrupts the wait."""
    server = start_jupyter(options, env)
    try:
        say(f"JupyterLab on {options.root}: {server.login_url}")
        say(f"Kernels use the local stack (notebook login, lake, LLM); Jupyter's log: {options.log_file}. "
            "Ctrl-C stops it.")
        if os.geteuid() == 0:
            say("Running as root: these kernels run as root too (a run puts its kernel under its stream's own "
                "user).")
        return server.process.wait()
    except BaseException:
        server.stop()
        raise


def _interrupt(number: int, frame: object) -> None:
    """SIGTERM and SIGHUP (a closed terminal) stop Jupyter as Ctrl-C does: in a session of its own, it would
    otherwise outlive the command that started it."""
    raise KeyboardInterrupt


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
