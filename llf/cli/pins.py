"""`llf pin`: record a registered notebook's current content as the one its processes run (llf.control.pins).

Run it after reviewing a change to a registered notebook: until then, its runs fail with a sentence naming it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from llf.cli.common import add_command, console, errors
from llf.control.pins import Pin
from llf.exceptions import ConfigurationError
from llf.settings import control_db_url, notebooks_dir


def print_pins(pins: Iterable[Pin], dry_run: bool, *, problems_to_stderr: bool = False) -> None:
    """One line per pinned notebook (old → new short hash, its processes); one per notebook it could not read."""
    for pin in pins:
        out = errors if pin.new is None and problems_to_stderr else console
        out.print(pin.line(dry_run), markup=False, soft_wrap=True)


def _pin(args: argparse.Namespace) -> int:
    """Exit 1 when a file named is registered by no process, or a registered one could not be read."""
    from llf.control.pins import pin_files

    if not args.all and not args.files:
        raise ConfigurationError("give the notebook(s) to pin, as registered in cntl_cfg_sys_file.file_path "
                                 "(e.g. `llf pin daily/report.ipynb`), or --all")
    if args.all and args.files:
        raise ConfigurationError("give either notebooks or --all, not both")
    pins, unknown = pin_files(control_db_url(args.db_url), notebooks_dir(), None if args.all else args.files,
                              dry_run=args.dry_run)
    print_pins(pins, args.dry_run, problems_to_stderr=True)
    for sentence in unknown:
        errors.print(sentence, markup=False, soft_wrap=True)
    if args.dry_run:
        console.print("Dry run: nothing pinned.", markup=False)
    elif not pins and not unknown:
        console.print("No notebook is registered: nothing to pin.", markup=False)
    return 1 if unknown or any(pin.new is None for pin in pins) else 0


def register(commands: argparse._SubParsersAction) -> None:
    pin = add_command(commands, "pin", _pin,
                      "record a registered notebook's current content as the one its processes run (after "
                      "reviewing a change: a changed notebook does not run until it is pinned again)")
    pin.add_argument("files", nargs="*", metavar="FILE_PATH",
                     help="notebook(s) as registered (cntl_cfg_sys_file.file_path, relative to LLF_NOTEBOOKS_DIR), "
                          "or their path from here")
    pin.add_argument("--all", action="store_true", help="every registered notebook")
    pin.add_argument("--dry-run", action="store_true", help="print what would be pinned, change nothing")
