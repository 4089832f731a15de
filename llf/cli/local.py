"""`llf local demo|up|jupyter|stop`: local mode, an embedded PostgreSQL and Airflow on localhost without Docker."""

from __future__ import annotations

import argparse
import datetime as dt
import warnings

from llf.cli.common import add_command, console, iso_date


def _demo(args: argparse.Namespace) -> int:
    from llf.local.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(args.date, args.full_rerun, args.timeout_min), console)


def _up(args: argparse.Namespace) -> int:
    from llf.local.celery import parse_workers
    from llf.local.demo import start_local, sync_local_pools
    from llf.local.stack import LocalSettings
    from llf.settings import STATE_DIR, state_dir_of

    if args.worker and args.executor != "celery":
        console.print("--worker starts Celery workers: add --executor celery (LocalExecutor has none).", markup=False)
        return 2
    workers = parse_workers(args.worker or [], args.worker_concurrency) if args.executor == "celery" else ()
    stack, _ = start_local(console, workers)
    sync_local_pools(stack, console)  # the pools registered so far (cntl_cfg_pool); `llf pools sync` after more
    console.print(f"Airflow UI: {stack.base_url} · control DB: LLF_CONTROL_DB_URL='{stack.control_db_url}'",
                  markup=False)
    # what the other commands (validate, sync, run, log, refresh) need to reach this stack, ready to paste
    state = STATE_DIR.read() or state_dir_of(LocalSettings.from_env().airflow_home)
    console.print(f"For the llf commands in this shell: export LLF_CONTROL_DB_URL='{stack.control_db_url}' "
                  f"LLF_AIRFLOW_URL='{stack.base_url}' LLF_STATE_DIR='{state}'", markup=False, soft_wrap=True)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from llf.local.stack import LocalSettings, LocalStack

    LocalStack(LocalSettings.from_env(with_project=False)).stop(say=lambda line: console.print(line, markup=False))
    return 0


def _jupyter(args: argparse.Namespace) -> int:
    """The stack is started (or reused) as by `llf local up`, not required: one command opens a working JupyterLab,
    and the notebook written there is registered and run on that same stack (same LLM, vectors, lake)."""
    from llf.local.demo import start_local
    from llf.local.jupyter import JupyterOptions, authoring_environment, free_port, run_jupyter, stack_environment
    from llf.local.stack import LocalSettings

    # The stack's Airflow components are detached on purpose and outlive their Popen objects; unlike `llf local up`,
    # this process lives on after starting them, and would warn about each one as it is collected.
    warnings.filterwarnings("ignore", r"subprocess \d+ is still running", ResourceWarning)
    start_local(console)
    settings = LocalSettings.from_env()
    options = JupyterOptions(root=settings.project, home=settings.home / "jupyter", port=args.port or free_port())
    env = authoring_environment(stack_environment(settings.state_file), options.home)
    return run_jupyter(options, env, say=lambda line: console.print(line, markup=False, soft_wrap=True))


def register(commands: argparse._SubParsersAction) -> None:
    text = "local mode without Docker: embedded PostgreSQL + Airflow on localhost (LLF_LOCAL_DIR)"
    local = commands.add_parser("local", help=text, description=text)
    into = local.add_subparsers(dest="local_command", required=True)
    demo = add_command(into, "demo", _demo, "start local mode, run the project's streams with live progress, "
                       "print the status table; exit 1 if a process failed", db_url=False, project=True)
    demo.add_argument("--date", type=iso_date, default=dt.date.today(),
                      help="business date YYYY-MM-DD (default: today)")
    demo.add_argument("--full-rerun", action="store_true", help="rerun processes already successful for the date")
    demo.add_argument("--timeout-min", type=float, default=60, help="give up waiting after this long (default 60)")
    up = add_command(into, "up", _up, "start (or reuse) local mode's PostgreSQL and Airflow, and return",
                     db_url=False, project=True)
    up.add_argument("--executor", choices=("local", "celery"), default="local",
                    help="Airflow's executor: LocalExecutor (default), or CeleryExecutor with a redis-server broker "
                    "and the workers of --worker")
    up.add_argument("--worker", action="append", metavar="QUEUES",
                    help="with --executor celery: start one `airflow celery worker` serving these comma-separated "
                    "queues (repeat for more workers; default: one worker on `default`)")
    up.add_argument("--worker-concurrency", type=int, default=4, metavar="N",
                    help="tasks each Celery worker runs at once (default 4)")
    jupyter = add_command(into, "jupyter", _jupyter, "start (or reuse) local mode, then JupyterLab on the project "
                          "(127.0.0.1, a token) whose kernels have the stack's settings and the notebook login; "
                          "Ctrl-C stops it", db_url=False, project=True)
    jupyter.add_argument("--port", type=int, metavar="N",
                         help="JupyterLab's port on 127.0.0.1 (default 8888, else a free one)")
    add_command(into, "stop", _stop, "stop what local mode started; data stays in LLF_LOCAL_DIR", db_url=False,
                project=True)
