"""Stopping the local stack's components and starting them again on the same port.

CI at b7295c1 saw `llf local up` (another LLM, so a restart) refuse its own port: the connections the killed
api-server had closed were in TIME-WAIT on it, which a bind without SO_REUSEADDR counts as taken (uvicorn does
not). Stopping also waits for the processes to be gone, and the port check gives them a moment.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from llf.exceptions import ConfigurationError
from llf.local.airflow import free_port, is_alive, stop_components
from llf.local.stack import _check_port_free
from llf.settings import PROJECT_ROOT

# A component that ignores SIGTERM and holds a listening port until it is killed, with a child of its own.
_STUBBORN = """
import signal, socket, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
server = socket.socket(); server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen()
print(child.pid, flush=True)
time.sleep(600)
"""


def test_given_a_component_that_ignores_sigterm_when_stopped_then_it_and_its_child_are_gone_and_its_port_free(
) -> None:
    port = free_port()
    component = subprocess.Popen([sys.executable, "-c", _STUBBORN, str(port)], stdout=subprocess.PIPE,
                                 text=True, start_new_session=True)
    child_pid = int(component.stdout.readline())
    reaper = threading.Thread(target=component.wait, daemon=True)  # as init reaps a detached component
    reaper.start()

    stop_components([component.pid], grace=0.5)

    assert not is_alive(component.pid) and not is_alive(child_pid)
    _check_port_free(port, patience=0)


def test_given_a_port_released_within_the_patience_when_checked_then_it_is_accepted() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    threading.Timer(0.5, holder.close).start()

    _check_port_free(port, patience=10)


def test_given_a_port_held_past_the_patience_when_checked_then_the_error_names_the_port_and_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()

        with pytest.raises(ConfigurationError, match=rf"Port {port} .*LLF_LOCAL_PORT"):
            _check_port_free(port, patience=0.3)

    assert time.monotonic() - started >= 0.3



def test_given_connections_the_stopped_server_closed_in_time_wait_when_checked_then_the_port_is_free() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server closes first: its end of the connection goes to TIME-WAIT on `port`
    client.recv(1)
    client.close()
    listener.close()

    _check_port_free(port, patience=0)


def test_given_no_stack_ever_ran_when_local_stop_then_it_says_nothing_to_stop_and_creates_nothing(tmp_path) -> None:
    """`llf local stop` in a folder where no stack ran must not claim data was kept; LLF_LOCAL_DIR is all it needs,
    so it runs outside any project too."""
    home = tmp_path / "never-started"
    env = {**os.environ, "LLF_LOCAL_DIR": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("LLF_PROJECT_DIR", None)

    done = subprocess.run([sys.executable, "-m", "llf.cli", "local", "stop"], env=env, text=True, cwd=tmp_path,
                          capture_output=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert "Nothing to stop" in done.stdout and str(home) in done.stdout
    assert "Data kept" not in done.stdout
    assert not home.exists()


def test_given_a_stack_folder_with_nothing_running_when_local_stop_then_it_says_so_and_keeps_the_data(
    tmp_path,
) -> None:
    home = tmp_path / "stopped-before"
    home.mkdir()
    env = {**os.environ, "LLF_LOCAL_DIR": str(home)}

    done = subprocess.run([sys.executable, "-m", "llf.cli", "local", "stop"], env=env, text=True,
                          capture_output=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert "Nothing was running." in done.stdout and "Data kept in" in done.stdout
