"""`llf sync` and `llf export`: registrations kept as one YAML file per stream (llf.control.declared)."""

from __future__ import annotations

import argparse
from pathlib import Path

from llf.cli.common import add_command, console
from llf.cli.pins import print_pins
from llf.exceptions import ConfigurationError
from llf.settings import control_db_url, notebooks_dir

_DEACTIVATE_NOTE = ("Rows registered for a synced stream but absent from its file are deactivated "
                    "(actv_flg = false), never deleted: the run history references them.")


def _sync(args: argparse.Namespace) -> int:
    """Print the diff per table and the notebooks pinned, then apply both in one transaction (or, with --dry-run,
    say nothing changed)."""
    from llf.control.declared import load
    from llf.control.sync import TABLES, sync_and_pin

    files = [load(path) for path in stream_files(args.files)]  # every file is checked before the database is read
    synced = sync_and_pin(control_db_url(args.db_url), files, notebooks_dir(), dry_run=args.dry_run)
    changes = synced.changes
    names = ", ".join(file.stream.stream for file in files)
    if not changes:
        console.print(f"Nothing to change: the registrations of {names} match the file(s).", markup=False)
        print_pins(synced.pins, args.dry_run)
        return 0
    for table in TABLES:
        rows = [change for change in changes if change.table == table]
        if rows:
            console.print(f"{table}:", markup=False)
            for change in rows:
                console.print(f"  {change}", markup=False, soft_wrap=True)
    if any(change.kind == "deactivated" for change in changes):
        console.print(_DEACTIVATE_NOTE, markup=False)
    print_pins(synced.pins, args.dry_run)
    if args.dry_run:
        console.print(f"Dry run: {len(changes)} change(s) found, nothing applied.", markup=False)
    else:
        console.print(f"Applied {len(changes)} change(s) to {names} in one transaction. "
                      "Check them with `llf validate`.", markup=False)
    return 0


def stream_files(paths: list[Path]) -> list[Path]:
    """The files named, a folder standing for its `*.yaml` and `*.yml` (a project's `registrations/`), in name
    order; a folder holding none is an error naming it, not a sync of nothing."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not inside:
            raise ConfigurationError(f"{path} holds no stream file (*.yaml or *.yml)")
        found.extend(inside)
    return found


def _export(args: argparse.Namespace) -> int:
    """One file per stream into --out, or the one stream asked for on stdout."""
    from llf.control.declared import dump
    from llf.control.repository import read_snapshot
    from llf.control.sync import export, registered_streams

    if args.out is None and args.stream is None:
        raise ConfigurationError("give --stream S to print one stream, or --out DIR to write every stream")
    snapshot = read_snapshot(control_db_url(args.db_url))
    streams = registered_streams(snapshot, None if args.stream is None else [args.stream])
    documents = {stream.strem_nm: dump(export(snapshot, stream)) for stream in streams}
    if args.out is None:
        console.out(documents[args.stream], end="", highlight=False)
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in documents.items():
            (args.out / f"{name}.yaml").write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"--out {args.out}: cannot write there ({error.strerror or error})") from None
    console.print(f"Wrote {len(documents)} stream file(s) to {args.out}.", markup=False)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sync = add_command(commands, "sync", _sync,
                       "make the control tables match stream YAML files: print the diff, apply it in one "
                       "transaction; rows missing from a file are deactivated, never deleted")
    sync.add_argument("files", nargs="+", type=Path, metavar="FILE",
                      help="stream file(s), or a folder of them, e.g. registrations/ or streams/*.yaml")
    sync.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    export = add_command(commands, "export", _export,
                         "write registered streams as YAML files `llf sync` reads (one file per stream)")
    export.add_argument("--stream", help="only this stream (strem_nm); printed on stdout without --out")
    export.add_argument("--out", type=Path, metavar="DIR", help="folder to write <stream>.yaml files into")
