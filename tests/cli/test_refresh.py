"""`llf refresh`: the DAG files' snapshot cache re-read on demand, so no parse waits for the control DB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from llf.cli import main
from llf.dagbuild.snapshot import CACHE_NAME, refresh_lock


def run_refresh(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": env["LLF_STATE_DIR"]}
    return subprocess.run([sys.executable, "-m", "llf.cli", "refresh"], env={**base, **env}, capture_output=True,
                          text=True, timeout=120)


def test_given_a_new_registration_when_refreshed_then_the_cache_holds_it(control_db_url, registry, tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))
    registry.process(registry.group(registry.stream("s"), "g"), "fresh_process")

    code = main(["refresh"])

    cached = json.loads((tmp_path / "state" / CACHE_NAME).read_text())
    assert code == 0
    assert [p["prcs_nm"] for p in cached["snapshot"]["processes"]] == ["fresh_process"]
    assert "refreshed" in capsys.readouterr().out


def test_given_an_unreachable_database_when_refreshed_then_one_line_exit_2_and_no_password(tmp_path):
    url = "postgresql://llf:s3cret-pw@127.0.0.1:1/cntl"
    env = {"LLF_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = subprocess.run([sys.executable, "-m", "llf.cli", "refresh", "--db-url", url], env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr + done.stdout
    assert "snapshot" in done.stderr.lower()
    assert not (tmp_path / "state" / CACHE_NAME).exists()


def test_given_llf_state_dir_under_a_file_when_refreshed_then_exit_2_naming_llf_state_dir(control_db_url, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")

    done = run_refresh({"LLF_STATE_DIR": str(tmp_path / "a_file" / "state"), "LLF_CONTROL_DB_URL": control_db_url})

    assert done.returncode == 2, done.stdout + done.stderr
    assert "LLF_STATE_DIR" in done.stderr and "Traceback" not in done.stderr
    assert "refreshed" not in done.stdout


def test_given_a_cache_that_cannot_be_written_when_refreshed_then_exit_2_naming_the_path(control_db_url, tmp_path):
    """The cache path taken by a folder: the database is read, the write fails (for root too)."""
    cache = tmp_path / "state" / CACHE_NAME
    cache.mkdir(parents=True)

    done = run_refresh({"LLF_STATE_DIR": str(tmp_path / "state"), "LLF_CONTROL_DB_URL": control_db_url})

    assert done.returncode == 2, done.stdout + done.stderr
    assert str(cache) in done.stderr and "Is a directory" in done.stderr
    assert "refreshed" not in done.stdout


def test_given_another_refresh_holding_the_lock_when_refreshed_then_it_says_so_not_refreshed(
    control_db_url, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "state"
    monkeypatch.setenv("LLF_STATE_DIR", str(folder))

    with refresh_lock(folder) as held:
        assert held
        code = main(["refresh"])

    out = capsys.readouterr().out
    assert code == 0 and "already running" in out and "refreshed" not in out
    assert not (folder / CACHE_NAME).exists()


def test_given_a_parse_checking_the_lock_at_that_instant_when_refreshed_then_it_still_refreshes(
    control_db_url, tmp_path, monkeypatch, capsys
):
    """A parse holds the lock for a moment in refresh_running(): the command waits for it instead of skipping."""
    folder = tmp_path / "state"
    monkeypatch.setenv("LLF_STATE_DIR", str(folder))
    taken, release = threading.Event(), threading.Event()

    def parse_checking() -> None:
        with refresh_lock(folder):
            taken.set()
            release.wait(5)

    checker = threading.Thread(target=parse_checking)
    checker.start()
    taken.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    code = main(["refresh"])
    checker.join()

    assert code == 0 and time.monotonic() - started >= 0.3
    assert Path(folder / CACHE_NAME).exists() and "refreshed" in capsys.readouterr().out


def test_given_db_url_flag_when_refreshed_then_it_reads_that_database_and_leaves_the_environment_alone(
    control_db_url, registry, tmp_path, monkeypatch, capsys
):
    """--db-url is passed down to the refresh, not written into os.environ (where it would outlive the command
    and reach whatever the process starts next); LLF_CONTROL_DB_URL pointing elsewhere does not matter."""
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))
    registry.process(registry.group(registry.stream("s"), "g"), "flagged_process")
    elsewhere = "postgresql://llf@127.0.0.1:9/nowhere"
    monkeypatch.setenv("LLF_CONTROL_DB_URL", elsewhere)

    code = main(["refresh", "--db-url", control_db_url])

    cached = json.loads((tmp_path / "state" / CACHE_NAME).read_text())
    assert code == 0 and "refreshed" in capsys.readouterr().out
    assert [p["prcs_nm"] for p in cached["snapshot"]["processes"]] == ["flagged_process"]
    assert os.environ["LLF_CONTROL_DB_URL"] == elsewhere


def test_given_no_database_configured_when_refreshed_then_the_error_is_on_stderr_and_stdout_stays_empty(tmp_path):
    """The command talks to its user: the failure is its `error:` line on stderr, not a log record on stdout."""
    env = {"LLF_STATE_DIR": str(tmp_path / "state"), "AIRFLOW_HOME": str(tmp_path / "airflow")}

    done = run_refresh(env)

    assert done.returncode == 2
    assert done.stdout == ""
    assert ("error: Refreshing the llf snapshot failed: No control database configured: pass --db-url, set "
            "LLF_CONTROL_DB_URL") in done.stderr
    assert "Traceback" not in done.stderr
