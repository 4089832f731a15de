"""`llf refresh`: the DAG files' snapshot cache re-read on demand, so no parse waits for the control DB."""

from __future__ import annotations

import json
import subprocess
import sys

from llf.cli import main
from llf.dagbuild.snapshot import CACHE_NAME


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
