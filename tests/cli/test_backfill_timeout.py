"""A backfill date whose run outlives --timeout-min is still running, not failed: the backfill stops there
(even with --keep-going: dates run one at a time, in order) and says to wait for that run before going on."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from llf.cli import main, runs
from tests.support.standins.airflow_api import airflow_api


@pytest.mark.parametrize("keep_going", [[], ["--keep-going"]], ids=["stop", "keep going"])
def test_given_a_date_still_running_after_timeout_when_backfill_then_it_stops_there_saying_to_wait(
    control_db_url, registry, capsys, monkeypatch, keep_going
):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    monkeypatch.setattr(runs, "POLL_S", 0.05)
    with airflow_api() as (url, behaviour):
        monkeypatch.setenv("LLF_AIRFLOW_URL", url)

        code = main(["backfill", "--stream", "s", "--from", "2026-05-01", "--to", "2026-05-03",
                     "--timeout-min", "0.001", *keep_going])

    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert [conf["business_date"] for conf in behaviour.triggered] == ["2026-05-01"]
    assert "s 2026-05-01: STILL RUNNING after" in out and "FAILED" not in out
    assert (f"Backfill stopped at 2026-05-01: run manual__1 is still running in Airflow ({url}/dags/stream__s/runs/"
            "manual__1): wait for it to end (`llf status --stream s --date 2026-05-01`), then run the same "
            "command again") in out


def _args(full_rerun: bool) -> argparse.Namespace:
    return argparse.Namespace(stream="s", start=dt.date(2026, 5, 1), end=dt.date(2026, 5, 3), full_rerun=full_rerun)


def test_given_full_rerun_when_a_date_is_still_running_then_the_hint_continues_after_it_or_from_it_if_it_failed():
    hint = runs.still_running_hint(_args(True), dt.date(2026, 5, 2), "r1", "http://a/r1")

    assert hint.startswith("run r1 is still running in Airflow (http://a/r1): wait for it to end")
    assert "`llf backfill --stream s --from 2026-05-03 --to 2026-05-03 --full-rerun` once it succeeded" in hint
    assert "(--from 2026-05-02 if it failed)" in hint


def test_given_full_rerun_when_the_last_date_is_still_running_then_the_hint_reruns_only_it_if_it_failed():
    hint = runs.still_running_hint(_args(True), dt.date(2026, 5, 3), "r1", "http://a/r1")

    assert "nothing is left once it succeeded" in hint
    assert "`llf backfill --stream s --from 2026-05-03 --to 2026-05-03 --full-rerun` if it failed" in hint
