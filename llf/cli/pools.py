"""`llf pools sync`: Airflow's pools made to match cntl_af.cntl_cfg_pool, their single source.

Run by every stack's init (compose's llf-init, local mode, the test harness) after the registrations are
loaded, so a process naming a registered pool never waits on a pool Airflow does not have.
"""

from __future__ import annotations

import argparse

from llf.cli.common import add_command, console
from llf.settings import control_db_url


def _sync(args: argparse.Namespace) -> int:
    """One sentence per pool (created, updated, unchanged, not owned) and a count; exit 0 when Airflow matches
    the table (or would, with --dry-run). The control DB is read first: without it nothing is asked of Airflow."""
    from llf.airflow_api import sync_pools
    from llf.cli.runs import airflow_errors, connect
    from llf.control.pools import registered_pools

    registered = registered_pools(control_db_url(args.db_url))
    airflow = connect()
    with airflow_errors(airflow.url, airflow.named):
        plan = sync_pools(airflow.api, registered, dry_run=args.dry_run)
    console.print(f"Airflow at {airflow.shown}:", markup=False, soft_wrap=True)
    for line in plan.lines(args.dry_run):
        console.print(line, markup=False, soft_wrap=True)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    text = "Airflow pools registered in cntl_af.cntl_cfg_pool"
    pools = commands.add_parser("pools", help=text, description=text)
    into = pools.add_subparsers(dest="pools_command", required=True)
    sync = add_command(into, "sync", _sync, "create or update Airflow's pools from cntl_af.cntl_cfg_pool (never "
                       "deletes; names the Airflow pools llf does not own)")
    sync.add_argument("--dry-run", action="store_true", help="say what would be created or updated; change nothing")
