"""Every `llf` command given bad input ends with one `error:` line and exit 2, never a traceback or a password."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from llf.settings import PROJECT_ROOT

UNREACHABLE = "postgresql://llf:s3cret@127.0.0.1:9/nowhere"

# (command line, what its error line says); {bare} is a database without the control schema, {url} a control DB
CASES = {
    "apply_missing_file": (["db", "apply", "{tmp}/missing.sql", "--db-url", "{url}"], "missing.sql: cannot be read"),
    "apply_a_folder": (["db", "apply", "{tmp}", "--db-url", "{url}"], "cannot be read"),
    "validate_without_schema": (["validate", "--db-url", "{bare}"], "run `llf db upgrade`"),
    "status_without_schema": (["status", "--db-url", "{bare}"], "run `llf db upgrade`"),
    "status_bad_date": (["status", "--date", "2026-13-01", "--db-url", "{url}"], "2026-13-01 is not a date"),
    "status_unknown_stream": (["status", "--stream", "nosuch", "--db-url", "{url}"], "--stream nosuch"),
    "status_unreachable": (["status", "--db-url", UNREACHABLE], "Cannot reach the control database"),
    "validate_unreachable": (["validate", "--db-url", UNREACHABLE], "Cannot reach the control database"),
    "upgrade_unreachable": (["db", "upgrade", "--db-url", UNREACHABLE], "Cannot reach the control database"),
    "apply_unreachable": (["db", "apply", "{examples}", "--db-url", UNREACHABLE], "Cannot reach the control database"),
    "upgrade_without_migrations": (["db", "upgrade", "--db-url", "{bare}"], "No migrations"),
    "unknown_command": (["nosuch"], "invalid choice: 'nosuch'"),
    "validate_outside_a_project": (["validate", "--db-url", "{url}"], "is not in an llf project"),
}


@pytest.mark.parametrize(("argv", "says"), CASES.values(), ids=CASES.keys())
def test_given_bad_input_when_a_command_runs_then_one_error_line_and_exit_two(
    postgres, control_db_url, tmp_path, argv, says
):
    bare = postgres.fresh_database(prefix="bare", template="template0") if "{bare}" in argv else ""
    values = {"url": control_db_url, "bare": bare, "tmp": str(tmp_path),
              "examples": str(PROJECT_ROOT / "control_sql" / "examples" / "01_quickstart.sql")}
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("LLF_PROJECT_DIR", None)
    env.pop("LLF_NOTEBOOKS_DIR", None)
    if says != "is not in an llf project":  # commands that read notebooks run in a project (llf.toml, llf init)
        (tmp_path / "llf.toml").write_text("", encoding="utf-8")
    if says == "No migrations":
        env["LLF_CONTROL_SQL_DIR"] = str(tmp_path)  # an empty folder: an error, never "up to date"

    done = subprocess.run([sys.executable, "-m", "llf.cli", *(arg.format(**values) for arg in argv)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and says in line, line
    assert "s3cret" not in done.stderr + done.stdout
