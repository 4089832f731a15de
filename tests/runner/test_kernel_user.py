"""A notebook's kernel runs under its stream's own OS user (llf/runner/kernel_user.py): real runs through the runner,
papermill and real kernels, each trying one way out of the tenant's box that worked when the kernel ran as the
worker's user. Each is refused with PermissionError, and the run still ends with its true status."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sysconfig
import threading
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from llf.exceptions import ConfigurationError, ProcessFailed
from llf.runner import kernel_user
from llf.runner.tasks import run_process
from llf.settings import KERNEL_UID_BASE
from tests.runner.conftest import last_message, run_context, statuses
from tests.support.notebooks import write_notebook

# The real switch needs root with the capabilities, and a Python other users can run (a pyenv under a 0700 /root
# is not: `chmod o+x /root` lets them through without letting them list it).
switch = pytest.mark.skipif(kernel_user.isolation_problem() is not None,
                            reason=f"kernels cannot switch users here: {kernel_user.isolation_problem()}")

REFUSED = """
import os
try:
    {exploit}
except PermissionError as refused:
    print('refused:', refused)
else:
    raise AssertionError('not refused: {name}')
"""


@pytest.fixture
def tenant(registry, notebooks_dir, lake_dir, tmp_path, monkeypatch):
    """Stream `a` with group `g`; the worker's state dir (LLF_STATE_DIR) holds a snapshot, as a worker's does."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "snapshot.json").write_text("{}")
    monkeypatch.setenv("LLF_STATE_DIR", str(state))
    stream_id = registry.stream("a")
    return {"id": stream_id, "group": registry.group(stream_id, "g"), "state": state}


def _run_exploit(registry, tenant, notebooks_dir, name: str, exploit: str, **params) -> None:
    write_notebook(notebooks_dir / f"{name}.ipynb", REFUSED.format(exploit=exploit, name=name),
                   parameters="\n".join(f"{key} = ''" for key in params) or "greeting = 'hello'")
    registry.process(tenant["group"], name, notebook=f"{name}.ipynb", params=params)
    run_process(run_context(name, strem_nm="a"))


def _kernelspec_file() -> str:
    return str(Path(KernelSpecManager().get_kernel_spec("python3").resource_dir) / "kernel.json")


EXPLOITS = {
    "parent_environ": "open(f'/proc/{os.getppid()}/environ').read()",
    "init_environ": "open('/proc/1/environ').read()",
    # opened for writing, nothing written: where the switch is missing, these tests must not change the venv
    "kernelspec": "open(kernelspec, 'a').close()",
    "site_packages": "import tempfile; tempfile.TemporaryFile(dir=site_packages).close()",
    "state_dir": "os.listdir(state_dir)",
    "snapshot": "open(os.path.join(state_dir, 'snapshot.json'), 'w').write('planted')",
    "regain_root": "os.setuid(0)",
    "join_root_group": "os.setgroups([0])",
}


@switch
@pytest.mark.parametrize("name", sorted(EXPLOITS))
def test_given_a_notebook_trying_a_way_out_when_it_catches_the_refusal_then_refused_and_the_run_succeeds(
    registry, tenant, notebooks_dir, sql, name
):
    params = {"kernelspec": _kernelspec_file(), "site_packages": sysconfig.get_paths()["purelib"],
              "state_dir": str(tenant["state"])}
    spec_before = Path(params["kernelspec"]).stat().st_mtime_ns

    _run_exploit(registry, tenant, notebooks_dir, name, EXPLOITS[name], **params)

    assert statuses(sql, name) == ["SUCCESS"], last_message(sql, name)
    assert Path(params["kernelspec"]).stat().st_mtime_ns == spec_before
    assert (tenant["state"] / "snapshot.json").read_text() == "{}"


@switch
def test_given_a_notebook_reading_the_workers_environ_without_catching_when_run_then_failed_naming_the_refusal(
    registry, tenant, notebooks_dir, sql
):
    write_notebook(notebooks_dir / "steal.ipynb", "import os\nopen(f'/proc/{os.getppid()}/environ').read()")
    registry.process(tenant["group"], "steal", notebook="steal.ipynb")

    with pytest.raises(ProcessFailed, match="PermissionError"):
        run_process(run_context("steal", strem_nm="a"))

    assert statuses(sql, "steal") == ["FAILED"]
    assert "PermissionError: [Errno 13] Permission denied" in last_message(sql, "steal")


WHO = """
import os
from llf import notebook as nb
nb.lake().put(f'who/{me}', f'{os.getuid()} {os.getgid()} {sorted(os.getgroups())} {os.environ["HOME"]}')
open(os.path.join(os.environ['HOME'], 'cache'), 'w').write('a kernel writes its caches in its HOME')
"""


@switch
def test_given_two_streams_when_each_runs_a_notebook_then_each_kernel_runs_as_its_streams_own_user(
    registry, tenant, notebooks_dir, lake_dir, sql
):
    other = registry.stream("b")
    groups = {"a": tenant["group"], "b": registry.group(other, "g")}
    write_notebook(notebooks_dir / "who.ipynb", WHO, parameters="me = ''")
    for stream, group in groups.items():
        registry.process(group, f"who_{stream}", notebook="who.ipynb", params={"me": stream})

        run_process(run_context(f"who_{stream}", strem_nm=stream))

    seen = {stream: (lake_dir / "streams" / stream / "who" / stream).read_text().split() for stream in groups}
    base = KERNEL_UID_BASE.value()
    assert seen["a"][:2] == [str(base + tenant["id"])] * 2
    assert seen["b"][:2] == [str(base + other)] * 2
    assert seen["a"][2] == seen["b"][2] == "[]"  # no supplementary group at all
    assert seen["a"][3] != seen["b"][3]
    assert (lake_dir / "streams" / "a").stat().st_uid == base + tenant["id"]  # its part of the lake is its own
    assert (lake_dir / "streams").stat().st_uid == os.getuid()  # the rest stays the task's


@switch
def test_given_two_streams_when_a_notebook_writes_into_the_others_part_of_the_folder_lake_then_refused(
    registry, tenant, notebooks_dir, lake_dir, sql
):
    other = registry.stream("b")
    registry.process(registry.group(other, "g"), "b_writes", notebook="b_writes.ipynb")
    write_notebook(notebooks_dir / "b_writes.ipynb", "from llf import notebook as nb\nnb.lake().put('mine.txt', 'b')")
    run_process(run_context("b_writes", strem_nm="b"))
    lake = repr(str(lake_dir))

    _run_exploit(registry, tenant, notebooks_dir, "plant_in_b",
                 f"open({lake} + '/streams/b/mine.txt', 'w').write('a was here')")
    _run_exploit(registry, tenant, notebooks_dir, "plant_at_root", f"open({lake} + '/planted.txt', 'w')")

    assert statuses(sql, "plant_in_b") == statuses(sql, "plant_at_root") == ["SUCCESS"]  # refused, caught
    assert (lake_dir / "streams" / "b" / "mine.txt").read_text() == "b"
    assert not (lake_dir / "planted.txt").exists()


CONNECTION_FILE_OUT = """
import ipykernel, pathlib, time
pathlib.Path(drop).write_text(ipykernel.get_connection_file())
time.sleep(60)
"""


@switch
def test_given_a_live_kernel_of_another_stream_when_a_notebook_opens_its_connection_file_then_refused(
    registry, tenant, notebooks_dir, tmp_path, sql
):
    """Stream b's kernel tells where its connection file is (its HMAC key: code execution in it); a's is refused."""
    drop = tmp_path / "drop"
    drop.mkdir(mode=0o777)
    drop.chmod(0o1777)
    victim = registry.stream("b")
    write_notebook(notebooks_dir / "victim.ipynb", CONNECTION_FILE_OUT, parameters="drop = ''")
    registry.process(registry.group(victim, "g"), "victim", notebook="victim.ipynb",
                     params={"drop": str(drop / "where")}, timeout_min=1)
    running = threading.Thread(target=_run_quietly, args=(run_context("victim", strem_nm="b"),))
    running.start()
    try:
        where = _wait_for(drop / "where")
        _run_exploit(registry, tenant, notebooks_dir, "hijack", "open(connection_file).read()",
                     connection_file=where)
        assert statuses(sql, "hijack") == ["SUCCESS"], last_message(sql, "hijack")
        assert Path(where).exists()  # the file was there, live, when stream a was refused
    finally:
        running.join(timeout=120)


def _run_quietly(context) -> None:
    with contextlib.suppress(ProcessFailed):
        run_process(context)


def _wait_for(path: Path, seconds: float = 60.0) -> str:
    stop = threading.Event()
    for _ in range(int(seconds * 10)):
        if path.exists() and path.read_text():
            return path.read_text()
        stop.wait(0.1)
    raise AssertionError(f"{path} never written")


def test_given_the_switch_off_when_a_notebook_runs_then_it_runs_as_the_worker_and_the_task_log_says_so(
    registry, tenant, notebooks_dir, sql, monkeypatch, caplog
):
    monkeypatch.setenv("LLF_KERNEL_USERS", "off")
    write_notebook(notebooks_dir / "same.ipynb", "import os\nassert os.getuid() == 0, os.getuid()")
    registry.process(tenant["group"], "same", notebook="same.ipynb")

    with caplog.at_level(logging.WARNING):
        run_process(run_context("same", strem_nm="a"))

    assert statuses(sql, "same") == ["SUCCESS"], last_message(sql, "same")
    warnings = [record.getMessage() for record in caplog.records if "not isolated" in record.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "LLF_KERNEL_USERS is off" in warnings[0]
    assert "/proc" in warnings[0]


@switch
def test_given_a_run_under_the_switch_then_the_task_process_is_not_dumpable(registry, tenant, notebooks_dir, sql):
    """A kernel of the worker's own user (the switch off) still cannot read the task's /proc/<pid>/environ."""
    registry.process(tenant["group"], "plain", notebook="plain.ipynb")
    write_notebook(notebooks_dir / "plain.ipynb", "1 + 1")

    run_process(run_context("plain", strem_nm="a"))

    assert kernel_user.dumpable() is False


@switch
def test_given_a_state_dir_then_it_is_closed_to_other_users(registry, tenant, notebooks_dir, sql):
    registry.process(tenant["group"], "plain", notebook="plain.ipynb")
    write_notebook(notebooks_dir / "plain.ipynb", "1 + 1")

    run_process(run_context("plain", strem_nm="a"))

    assert stat.S_IMODE(tenant["state"].stat().st_mode) & 0o007 == 0


# ------------------------------------------------------------------------------------------------------------
# The decision itself, as data (no kernel).

SETUID_SETGID_CHOWN = (1 << 7) | (1 << 6) | (1 << 0) | (1 << 1) | (1 << 5)


@pytest.mark.parametrize(("euid", "capabilities", "expected"), [
    (0, SETUID_SETGID_CHOWN, None),  # None: no problem but the interpreter's, if this machine has one
    (1000, SETUID_SETGID_CHOWN, "runs as uid 1000, not root"),
    (0, 0, "lacks CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_KILL, CAP_SETGID, CAP_SETUID"),
    (0, SETUID_SETGID_CHOWN & ~(1 << 7), "lacks CAP_SETUID"),
])
def test_given_who_the_worker_is_then_isolation_problem_says_why_kernels_cannot_switch(euid, capabilities,
                                                                                      expected):
    problem = kernel_user.isolation_problem(euid=euid, capabilities=capabilities)

    assert problem == kernel_user.interpreter_problem() if expected is None else expected in problem


def test_given_the_switch_off_then_isolation_problem_names_the_setting(monkeypatch):
    monkeypatch.setenv("LLF_KERNEL_USERS", "off")

    assert "LLF_KERNEL_USERS is off" in kernel_user.isolation_problem(euid=0, capabilities=SETUID_SETGID_CHOWN)


def test_given_a_stream_id_past_the_uid_range_then_a_clear_error(monkeypatch):
    monkeypatch.setenv("LLF_KERNEL_UID_BASE", "65000")

    with pytest.raises(ConfigurationError, match="stream 600 .* uid 65600.* LLF_KERNEL_UID_BASE"):
        kernel_user.uid_for(600)


def test_given_a_stream_id_then_uid_and_gid_are_the_base_plus_the_id(monkeypatch):
    monkeypatch.setenv("LLF_KERNEL_UID_BASE", "61000")

    assert kernel_user.uid_for(7) == 61007


def test_given_a_worker_that_cannot_switch_then_kernel_user_for_is_none_and_warns_with_the_reason(monkeypatch, caplog):
    monkeypatch.setattr(kernel_user, "isolation_problem", lambda: "this worker runs as uid 1000, not root")

    with caplog.at_level(logging.WARNING):
        assert kernel_user.kernel_user_for(3) is None

    assert "kernels are not isolated" in caplog.text and "uid 1000" in caplog.text



def test_given_a_folder_closed_to_others_on_the_way_then_it_is_named(tmp_path):
    closed = tmp_path / "closed"
    inner = closed / "bin"
    inner.mkdir(parents=True)
    (inner / "python").write_text("")
    (inner / "python").chmod(0o755)
    closed.chmod(0o700)

    assert kernel_user.closed_to_others(inner / "python") == closed
    closed.chmod(0o711)
    assert kernel_user.closed_to_others(inner / "python") is None
