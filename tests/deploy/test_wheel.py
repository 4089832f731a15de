"""The wheel carries the control schema: `llf db upgrade` from a non-editable install creates the tables.

Built from a copy of the sources (no build/ left in the checkout), installed without dependencies into a fresh
virtualenv that sees the dependencies of this one through a .pth line, never this checkout (no PYTHONPATH, a
temporary working directory, and the .pth files of this environment, such as an editable llf, not processed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import psycopg2

from llf.settings import PROJECT_ROOT

UV = Path(sys.executable).parent / "uv"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def _wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source)
    shutil.copytree(PROJECT_ROOT / "llf", source / "llf", ignore=shutil.ignore_patterns("__pycache__"))
    _run(UV, "build", "--wheel", "--offline", "--quiet", "-o", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("llf-*.whl")
    return wheel


def test_given_the_wheel_installed_in_a_fresh_virtualenv_when_upgrading_an_empty_database_then_the_tables_exist(
    postgres, tmp_path
):
    url = postgres.fresh_database(prefix="wheel", template="template0")
    wheel = _wheel(tmp_path)
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(UV, "pip", "install", "--offline", "--no-deps", "--quiet", "--python", python, wheel, cwd=tmp_path)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
                .stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the wheel's llf
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "LLF_CONTROL_SQL_DIR", "VIRTUAL_ENV"}}
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    where = _run(python, "-c", "import llf; print(llf.__file__)", cwd=cwd, env=env).stdout.strip()
    upgraded = _run(venv / "bin" / "llf", "db", "upgrade", "--db-url", url, cwd=cwd, env=env)

    assert Path(where).is_relative_to(site), where
    assert "0008_cntl_cfg_log" in upgraded.stdout
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'cntl_af' "
                       "AND table_name IN ('cntl_cfg_strem', 'cntl_cfg_prcs', 'cntl_cfg_log')")
        assert cursor.fetchone() == (3,)
    connection.close()
