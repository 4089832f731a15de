"""llf as a user installs it: the wheel built from a copy of the sources, installed without dependencies into a
fresh virtualenv outside the checkout, which sees the dependencies of this environment, never this checkout.

The dependencies come through one .pth line naming a folder of links to this environment's packages, every one
but llf's own (its editable install and metadata): otherwise two llf distributions would be found, and Airflow,
which reads entry points distribution by distribution, would load the UI plugin twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from llf.settings import PROJECT_ROOT

UV = Path(sys.executable).parent / "uv"


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site: Path
    env: dict[str, str]  # no PYTHONPATH, no LLF_* of the test session

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def llf(self) -> Path:
        return self.venv / "bin" / "llf"


def build_wheel(folder: Path) -> Path:
    """The wheel of a copy of the sources (links followed: the package data llf/examples points at), so no
    build/ is left in the checkout."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source)
    shutil.copytree(PROJECT_ROOT / "llf", source / "llf", ignore=shutil.ignore_patterns("__pycache__"))
    run(UV, "build", "--wheel", "--offline", "--quiet", "-o", folder / "dist", source, cwd=folder)
    (wheel,) = (folder / "dist").glob("llf-*.whl")
    return wheel


def install_wheel(folder: Path) -> Installed:
    wheel = build_wheel(folder)
    venv = folder / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=folder)
    run(UV, "pip", "install", "--offline", "--no-deps", "--quiet", "--python", venv / "bin" / "python", wheel,
        cwd=folder)
    site = Path(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=folder).stdout.strip())
    (site / "zz_dependencies.pth").write_text(f"{_dependencies(folder / 'dependencies')}\n")  # after the wheel's
    # what the dependencies install beside their packages, into the environment's prefix: nbconvert's templates,
    # ipykernel's kernelspec (as installing them into this virtualenv would)
    (venv / "share").mkdir(exist_ok=True)
    (venv / "share" / "jupyter").symlink_to(Path(sys.prefix) / "share" / "jupyter")
    env = {key: value for key, value in os.environ.items()
           if key not in {"PYTHONPATH", "VIRTUAL_ENV"} and not key.startswith("LLF_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(wheel, venv, site, env)


def _dependencies(folder: Path) -> Path:
    folder.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if not (entry.name.startswith(("llf-", "llf.", "__editable__")) or entry.name == "llf"):
            (folder / entry.name).symlink_to(entry)
    return folder
