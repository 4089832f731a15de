"""Drill: the control database refuses new connections just when a finished attempt writes its final status.

`ALTER DATABASE … WITH ALLOW_CONNECTIONS false` for 4 s, done by the notebook's last cell, stands for every
short outage of the control DB (a failover, a restart, a pooler's hiccup). The run lock's session, already
open, keeps the lock; the write that closes the row needs a new connection and must get through.
"""

from __future__ import annotations

import time

import psycopg2.extensions
import pytest

from llf.context import RunContext
from llf.control import log as run_log
from llf.control.model import Status
from llf.runner.tasks import run_process
from tests.drills.conftest import log_rows, run_context
from tests.support.notebooks import write_notebook

OUTAGE_SECONDS = 4

REFUSE_THEN_ALLOW = (
    "import psycopg2, subprocess, sys\n"
    "statement = 'ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {}'\n"
    "connection = psycopg2.connect(admin_url); connection.autocommit = True\n"
    "connection.cursor().execute(statement.format(database, 'false')); connection.close()\n"
    "again = ('import sys, time, psycopg2; time.sleep(float(sys.argv[1])); c = psycopg2.connect(sys.argv[2]); '\n"
    "         'c.autocommit = True; c.cursor().execute(sys.argv[3])')\n"
    "subprocess.Popen([sys.executable, '-c', again, str(seconds), admin_url, statement.format(database, 'true')],\n"
    "                 start_new_session=True)"
)


@pytest.fixture
def database(postgres, control_db_url):
    """The test database's name; connections to it are allowed again at teardown whatever happened."""
    name = psycopg2.extensions.parse_dsn(control_db_url)["dbname"]
    yield name
    postgres.execute_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_given_new_connections_refused_for_4s_after_the_notebook_when_it_ends_then_its_success_is_recorded(
    registry, group, notebooks_dir, postgres, database, sql
):
    write_notebook(notebooks_dir / "outage.ipynb", "print('the work is done')", REFUSE_THEN_ALLOW,
                   parameters="admin_url = ''\ndatabase = ''\nseconds = 0")
    registry.process(group, "p", notebook="outage.ipynb",
                     params={"admin_url": postgres.admin_url, "database": database, "seconds": OUTAGE_SECONDS})

    run_process(run_context("p"))

    rows = sql("SELECT status, message, output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'")
    print(f"\nrow after the outage: {rows}")
    ((status, message, output_path),) = rows
    assert (status, message) == ("SUCCESS", "notebook ran to completion")
    assert output_path and output_path.endswith("/")


def test_given_connections_refused_longer_than_the_bound_when_the_row_is_closed_then_a_sentence_says_so(
    registry, group, postgres, database, sql, control_db_url
):
    registry.process(group, "p", notebook="sleep_once.ipynb")
    context: RunContext = run_context("p")
    context = context.model_copy(update={"log_id": run_log.mark_running(control_db_url, context)})
    postgres.execute_admin(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
    started = time.monotonic()

    with pytest.raises(run_log.AttemptNotClosed) as not_closed:
        run_log.close_attempt(control_db_url, context, Status.SUCCESS, "notebook ran to completion", None,
                              retry_for=2.0)
    gave_up_after = time.monotonic() - started
    postgres.execute_admin(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')

    print(f"\n{not_closed.value} (after {gave_up_after:.1f} s)")
    assert 2.0 <= gave_up_after < 15
    assert str(not_closed.value).startswith(f"could not close attempt {context.log_id} as SUCCESS for 2 s")
    assert [status for _, status, _ in log_rows(sql, "p")] == ["RUNNING"]  # the sweep closes it, as abandoned
