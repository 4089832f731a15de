"""The snapshot's queries are the one place rows are looked up and ordered, for the DAG builder, validation
and the UI alike: these pin the orders every view shows."""

from __future__ import annotations

import datetime as dt

from llf.control.model import Dependency, Process, ProcessGroup, Schedule, Snapshot, Stream, SystemFile


def _snapshot() -> Snapshot:
    """Rows deliberately stored out of order: ids, priorities and names all disagree."""
    return Snapshot(
        taken_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        streams=(Stream(strem_id=2, strem_nm="zeta"), Stream(strem_id=1, strem_nm="alpha"),
                 Stream(strem_id=3, strem_nm="off", actv_flg=False)),
        groups=(ProcessGroup(prcs_grp_id=10, strem_id=1, prcs_grp_nm="late", priority=2),
                ProcessGroup(prcs_grp_id=11, strem_id=1, prcs_grp_nm="b_early", priority=1),
                ProcessGroup(prcs_grp_id=12, strem_id=1, prcs_grp_nm="a_early", priority=1),
                ProcessGroup(prcs_grp_id=13, strem_id=1, prcs_grp_nm="idle", actv_flg=False),
                ProcessGroup(prcs_grp_id=20, strem_id=2, prcs_grp_nm="z"),
                ProcessGroup(prcs_grp_id=30, strem_id=3, prcs_grp_nm="o")),
        processes=(Process(prcs_id=1, prcs_grp_id=10, prcs_nm="c", priority=1),
                   Process(prcs_id=2, prcs_grp_id=10, prcs_nm="b", priority=2),
                   Process(prcs_id=3, prcs_grp_id=10, prcs_nm="a", priority=2),
                   Process(prcs_id=4, prcs_grp_id=10, prcs_nm="off_p", actv_flg=False),
                   Process(prcs_id=5, prcs_grp_id=20, prcs_nm="other"),
                   Process(prcs_id=6, prcs_grp_id=30, prcs_nm="in_inactive_stream")),
        system_files=(SystemFile(sys_file_id=1, prcs_id=1, file_path="c.ipynb"),),
        dependencies=(Dependency(prcs_id=1, depn_prcs_id=5), Dependency(prcs_id=1, depn_prcs_id=3),
                      Dependency(prcs_id=1, depn_prcs_id=2), Dependency(prcs_id=1, depn_prcs_id=4, actv_flg=False)),
        schedules=(Schedule(schedule_id=1, strem_id=1, cron_expr="0 1 * * *", actv_flg=False),
                   Schedule(schedule_id=2, strem_id=1, cron_expr="0 2 * * *", timezone="Europe/Paris")),
    )


def test_active_streams_are_listed_by_name_and_inactive_ones_left_out():
    assert [s.strem_nm for s in _snapshot().active_streams()] == ["alpha", "zeta"]


def test_groups_run_in_priority_then_name_order_and_inactive_groups_are_left_out():
    snapshot = _snapshot()
    assert [g.prcs_grp_nm for g in snapshot.active_groups(snapshot.stream_by_id[1])] == ["a_early", "b_early", "late"]


def test_processes_start_in_priority_then_name_order():
    snapshot = _snapshot()
    assert [p.prcs_nm for p in snapshot.active_processes(snapshot.group_by_id[10])] == ["c", "a", "b"]
    assert "in_inactive_stream" not in {p.prcs_nm for p in snapshot.active_processes()}


def test_dependencies_are_listed_by_name_whatever_the_row_order_and_inactive_rows_are_ignored():
    snapshot = _snapshot()
    assert [p.prcs_nm for p in snapshot.dependencies_of(snapshot.process_by_id[1])] == ["a", "b", "other"]


def test_the_active_schedule_gives_the_time_zone_and_a_manual_stream_reads_dates_in_utc():
    snapshot = _snapshot()
    alpha, zeta = snapshot.stream_by_id[1], snapshot.stream_by_id[2]
    assert snapshot.active_schedule(alpha).schedule_id == 2
    assert snapshot.timezone_of(alpha) == "Europe/Paris"
    assert snapshot.active_schedule(zeta) is None and snapshot.timezone_of(zeta) == "UTC"


def test_a_process_knows_its_group_stream_and_notebook():
    snapshot = _snapshot()
    process = snapshot.process_by_id[1]
    assert (snapshot.group_of(process).prcs_grp_nm, snapshot.stream_of(process).strem_nm) == ("late", "alpha")
    assert snapshot.notebook_of(process) == "c.ipynb"
