"""`llf status` names the tasks of a running stream that wait in a queue no worker takes from, or for a pool slot.

The task instances are shaped as Airflow 3.3's REST API answers them (`GET …/dagRuns/{run}/taskInstances`); the
end-to-end case with real Celery workers and a queue nobody serves is in tests/e2e/test_celery.py.
"""

from __future__ import annotations

import datetime as dt

from llf.cli.waiting import WAIT_NOTED_AFTER, waiting_note, waiting_notes

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def _task(state: str, waited: dt.timedelta, **fields: object) -> dict:
    when = (NOW - waited).isoformat().replace("+00:00", "Z")
    return {"task_id": "ingest.classify", "state": state, "queue": "gpu", "pool": "default_pool", "pool_slots": 1,
            "queued_when": when if state == "queued" else None, "scheduled_when": when, **fields}


def test_given_a_task_queued_longer_than_a_start_takes_then_the_note_names_its_queue_and_the_fix() -> None:
    note = waiting_note("sales", _task("queued", dt.timedelta(minutes=3, seconds=5)), NOW)
    assert note is not None
    assert "ingest.classify" in note and "3 min 05 s" in note
    assert "queue 'gpu'" in note and "airflow celery worker --queues gpu" in note and "queue_nm" in note


def test_given_a_task_just_queued_then_nothing_is_said() -> None:
    assert waiting_note("sales", _task("queued", WAIT_NOTED_AFTER - dt.timedelta(seconds=1)), NOW) is None


def test_given_a_task_waiting_for_a_pool_slot_then_the_note_names_the_pool_and_where_its_size_is() -> None:
    task = _task("scheduled", dt.timedelta(minutes=2), pool="llm", pool_slots=2)
    note = waiting_note("sales", task, NOW)
    assert note is not None and "2 slot(s) of pool 'llm'" in note and "cntl_cfg_pool.slots" in note


def test_given_running_or_default_pool_tasks_then_nothing_is_said() -> None:
    long_ago = dt.timedelta(hours=1)
    assert waiting_note("sales", _task("running", long_ago), NOW) is None
    assert waiting_note("sales", _task("scheduled", long_ago), NOW) is None  # default pool: not a pool wait


def test_given_runs_then_each_waiting_task_gets_one_line_with_its_run() -> None:
    answers = {("stream__a", "r1"): [_task("queued", dt.timedelta(minutes=1)), _task("success", dt.timedelta(0))],
               ("stream__b", "r2"): [_task("queued", dt.timedelta(seconds=2))]}
    notes = waiting_notes([("a", "stream__a", "r1"), ("b", "stream__b", "r2")],
                          lambda dag_id, run_id: answers[(dag_id, run_id)], now=NOW)
    assert len(notes) == 1 and notes[0].startswith("a (run r1): task ingest.classify")
