"""`llf init PATH`: a new llf project, the way `astro dev init` makes one: an example notebook stream, its
registration, the DAG file, the settings to fill in, a README and the marker that makes the folder a project.

Everything comes from the installed package (llf/scaffold, and the quickstart example of llf/examples), so the
scaffold is the same whether llf runs from a wheel or from the repository.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from llf.cli.common import add_command, console
from llf.exceptions import ConfigurationError
from llf.settings import PROJECT_MARKER

PACKAGE = Path(__file__).resolve().parent.parent
SCAFFOLD = PACKAGE / "scaffold"
EXAMPLE = PACKAGE / "examples" / "notebooks" / "quickstart"
EXAMPLE_NOTEBOOKS = ("extract.ipynb", "transform.ipynb", "publish.ipynb")

# target in the project -> source in the package (dotfiles are stored without their dot: package data globs
# and tools that skip hidden files would lose them)
FILES: dict[str, Path] = {
    PROJECT_MARKER: SCAFFOLD / PROJECT_MARKER,
    "README.md": SCAFFOLD / "README.md",
    ".env.example": SCAFFOLD / "env.example",
    ".gitignore": SCAFFOLD / "gitignore",
    "dags/llf_dags.py": SCAFFOLD / "dags" / "llf_dags.py",
    "registrations/quickstart.yaml": SCAFFOLD / "registrations" / "quickstart.yaml",
    **{f"notebooks/quickstart/{name}": EXAMPLE / name for name in EXAMPLE_NOTEBOOKS},
}


def scaffold(target: Path, force: bool = False) -> list[str]:
    """Write the project's files into `target` (made when missing); the relative paths written, in order.

    A folder with anything in it is refused unless `force`: a project dropped over someone's files would mix
    the two, and with `force` only the files named here are written (replacing ones of the same name)."""
    if target.exists() and not target.is_dir():
        raise ConfigurationError(f"{target} is a file: `llf init` makes a project in a new or empty folder.")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ConfigurationError(f"{target} is not empty: `llf init` makes a project in a new or empty folder "
                                 "(--force writes into it anyway, replacing files of the same names).")
    try:
        for name, source in FILES.items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)
    except OSError as error:
        raise ConfigurationError(f"{target}: cannot write the project there ({error.strerror or error}).") from None
    return list(FILES)


def _init(args: argparse.Namespace) -> int:
    written = scaffold(args.path, force=args.force)
    console.print(f"Made an llf project in {args.path.resolve()}:", markup=False)
    for name in written:
        console.print(f"  {name}", markup=False)
    console.print(f"Next: cd {args.path} && llf local demo   (runs the quickstart stream on your machine; "
                  "README.md there says what is where)", markup=False, soft_wrap=True)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    init = add_command(commands, "init", _init, "make a new llf project in PATH: an example notebook stream, "
                       "its registration, the DAG file, .env.example, a README", db_url=False)
    init.add_argument("path", type=Path, metavar="PATH", help="the project folder (new, or empty)")
    init.add_argument("--force", action="store_true", help="write into a folder that is not empty, replacing "
                      "files of the same names")
