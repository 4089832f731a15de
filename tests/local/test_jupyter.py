"""`llf local jupyter`: JupyterLab on the project, on 127.0.0.1 behind a token that no command line shows, its
kernels on the notebook login with the stack's settings, nb.context() from the notebook's parameters cell.

The real JupyterLab and real kernels, against the session's embedded PostgreSQL; the Airflow part of the stack
plays no role in what Jupyter serves, so these tests start JupyterLab with the environment the stack would give."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websocket

from llf import notebook as nb
from llf.local.jupyter import JupyterOptions, JupyterServer, authoring_environment, free_port, start_jupyter
from llf.local.postgres import EmbeddedPostgres

NOTEBOOK = "notebooks/examples/hello.ipynb"
PARAMETERS = 'business_date = "2026-01-31"  # injected by llf at run time\nquestion = "Why?"\nlimit: int = 3\n' \
             "today = dt.date.today()\n"
EXECUTE_TIMEOUT_S = 120


def _make_project(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "llf.toml").write_text("", encoding="utf-8")
    (root / "drafts").mkdir()
    notebook = root / NOTEBOOK
    notebook.parent.mkdir(parents=True)
    notebook.write_text(json.dumps({
        "cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": PARAMETERS,
                   "outputs": [], "execution_count": None}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def stack_env(postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the local stack gives its components (state.json's env): the owner's URL among them."""
    owner = postgres.fresh_database("jupyter")
    lake = tmp_path_factory.mktemp("lake")
    return {"LLF_CONTROL_DB_URL": owner, "LLF_NOTEBOOK_DB_URL": postgres.notebook_url(owner),
            "LLF_UI_DB_URL": postgres.ui_url(owner), "LLF_LAKE_URL": lake.as_uri(),
            "LLF_NOTEBOOKS_DIR": "/set/below", "LLF_LLM_PROVIDER": "ollama",
            "AIRFLOW__CORE__PLUGINS_FOLDER": "/nowhere"}


@pytest.fixture(scope="module")
def served(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    project = _make_project(tmp_path_factory.mktemp("project"))
    options = JupyterOptions(root=project, home=project / ".llf-local" / "jupyter", port=free_port())
    components = {**stack_env, "LLF_NOTEBOOKS_DIR": str(project / "notebooks")}
    server = start_jupyter(options, authoring_environment(components, options.home))
    yield server
    server.stop()


def _execute(server: JupyterServer, code: str) -> str:
    """Run `code` in a kernel Jupyter starts for the project's notebook (REST session + kernel websocket), as
    JupyterLab does when the notebook is opened; its printed output, or the error it raised."""
    api, auth = server.options.url + "/api", {"Authorization": f"token {server.token}"}
    session = httpx.post(f"{api}/sessions", headers=auth, timeout=60, json={
        "path": NOTEBOOK, "name": Path(NOTEBOOK).name, "type": "notebook", "kernel": {"name": "python3"}}).json()
    kernel = session["kernel"]["id"]
    socket = websocket.create_connection(f"ws://127.0.0.1:{server.options.port}/api/kernels/{kernel}/channels",
                                         header=[f"Authorization: token {server.token}"], timeout=EXECUTE_TIMEOUT_S)
    msg_id = uuid.uuid4().hex
    socket.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3", "date": dt.datetime.now(dt.UTC).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    output: list[str] = []
    try:
        while True:
            message = json.loads(socket.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id or message["channel"] != "iopub":
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                output.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)
    finally:
        socket.close()
        httpx.delete(f"{api}/sessions/{session['id']}", headers=auth, timeout=60)


def test_given_jupyter_when_asked_without_the_token_then_refused_and_with_it_the_project_is_at_the_root(
    served: JupyterServer,
) -> None:
    contents = f"{served.options.url}/api/contents"

    refused = httpx.get(contents, timeout=30)
    listed = httpx.get(contents, headers={"Authorization": f"token {served.token}"}, timeout=30)

    assert refused.status_code in (401, 403)
    assert listed.status_code == 200
    assert {"notebooks", "drafts", "llf.toml"} <= {item["name"] for item in listed.json()["content"]}


def test_given_jupyter_then_it_listens_on_127_0_0_1_only(served: JupyterServer) -> None:
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == served.options.port:
                listening.add(address)

    assert listening == {"0100007F"}  # 127.0.0.1, in /proc's byte order; no 0.0.0.0, no ::


def test_given_jupyter_then_its_token_is_in_no_command_line_and_its_config_is_private(served: JupyterServer) -> None:
    command_lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command_lines.append(cmdline.read_bytes())
        except OSError:
            continue

    assert not [line for line in command_lines if served.token.encode() in line]
    config = served.options.home / "config" / "jupyter_server_config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    assert (served.options.home / "runtime").is_dir()  # Jupyter's runtime files in .llf-local/, not in ~


def test_given_a_kernel_of_jupyter_when_nb_sql_asks_who_then_the_notebook_login_answers_not_the_owner(
    served: JupyterServer, stack_env: dict[str, str],
) -> None:
    code = ("import os\nfrom llf import notebook as nb\n"
            "print(nb.sql('select current_user, session_user')[0])\n"
            "print(os.environ['LLF_CONTROL_DB_URL'], os.environ['LLF_LAKE_URL'], os.environ['LLF_LLM_PROVIDER'])\n"
            "print(sorted(name for name in os.environ if name.startswith(('AIRFLOW', 'JUPYTER_TOKEN', 'LLF_UI'))))\n")

    lines = _execute(served, code).splitlines()

    assert lines[0] == "('llf_notebook', 'llf_notebook_login')"
    assert lines[1].split() == [stack_env["LLF_NOTEBOOK_DB_URL"], stack_env["LLF_LAKE_URL"], "ollama"]
    assert lines[2] == "[]"


def test_given_a_kernel_of_jupyter_when_nb_context_and_log_then_the_notebook_s_defaults_and_a_printed_line(
    served: JupyterServer,
) -> None:
    code = ("from llf import notebook as nb\nrun = nb.context()\nprint(run.prcs_nm, run.business_date, run.params)\n"
            "nb.log('trying')\n")

    output = _execute(served, code).splitlines()

    assert output[0] == "interactive 2026-01-31 {'question': 'Why?', 'limit': 3}"
    assert output[1].endswith("] interactive: trying")  # printed only: no run to record it against
    assert len(output) == 2


def test_given_no_notebook_named_when_nb_context_then_an_interactive_one_for_today(monkeypatch) -> None:
    monkeypatch.delenv("LLF_RUN_CONTEXT", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "/no/such/notebook.ipynb")

    run = nb.context()

    assert (run.prcs_nm, run.business_date, run.params) == ("interactive", dt.date.today(), {})


RUN_IN_FOREGROUND = """
import json, sys
from pathlib import Path
from llf.local.jupyter import JupyterOptions, authoring_environment, free_port, run_jupyter
root = Path(sys.argv[1])
options = JupyterOptions(root=root, home=root / ".llf-local" / "jupyter", port=free_port())
components = json.loads(Path(sys.argv[2]).read_text())
sys.exit(run_jupyter(options, authoring_environment(components, options.home), say=print))
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_given_jupyter_in_the_foreground_when_stopped_then_one_line_and_the_token_was_printed_once(
    stack_env: dict[str, str], tmp_path: Path, stop: signal.Signals,
) -> None:
    project = _make_project(tmp_path / "project")
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps(stack_env))
    command = subprocess.Popen([sys.executable, "-u", "-c", RUN_IN_FOREGROUND, str(project), str(env_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert command.stdout is not None
    first = command.stdout.readline()  # once Jupyter answers
    token = first.rsplit("token=", 1)[-1].strip()

    jupyter = _children(command.pid)
    command.send_signal(stop)  # SIGINT: what the terminal's Ctrl-C sends
    rest, errors = command.communicate(timeout=60)

    assert first.startswith(f"JupyterLab on {project}: http://127.0.0.1:") and len(token) == 48
    assert (first + rest).count(token) == 1
    assert rest.splitlines()[-1] == "JupyterLab stopped."
    assert command.returncode == 0
    assert "Traceback" not in errors + rest
    assert jupyter and not [pid for pid in jupyter if Path(f"/proc/{pid}").exists()]  # Jupyter stopped too


def _children(pid: int) -> list[int]:
    """The processes `pid` started and still has, as /proc lists them."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]
