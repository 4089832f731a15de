"""The snapshot: every registration in one consistent read, and a lossless JSON form for the DAG cache."""

from __future__ import annotations

from llf.control.model import Snapshot
from llf.control.repository import read_snapshot


def test_given_registrations_when_snapshot_is_read_then_it_holds_every_table_with_active_views(
    control_db_url, registry
):
    stream = registry.stream("s", description="demo")
    first = registry.group(stream, "first", priority=1, max_parallel=2)
    second = registry.group(stream, "second", priority=2)
    registry.group(stream, "off", priority=0, active=False)
    a = registry.process(first, "a", priority=2, params={"k": 1})
    b = registry.process(first, "b", priority=1)
    c = registry.process(second, "c")
    registry.process(second, "hidden", active=False)
    registry.depend(c, a)
    registry.depend(c, b)
    registry.schedule(stream, "0 6 * * *", "Europe/Paris")

    snapshot = read_snapshot(control_db_url)

    (active,) = snapshot.active_streams()
    assert active.strem_desc == "demo"
    assert [g.prcs_grp_nm for g in snapshot.active_groups(active)] == ["first", "second"]
    first_group = snapshot.active_groups(active)[0]
    assert [p.prcs_nm for p in snapshot.active_processes(first_group)] == ["b", "a"]
    process_c = snapshot.process_by_id[c]
    assert {p.prcs_nm for p in snapshot.dependencies_of(process_c)} == {"a", "b"}
    assert snapshot.process_by_id[a].params == {"k": 1}
    assert snapshot.active_schedule(active).timezone == "Europe/Paris"
    assert snapshot.system_file_by_process_id[a].file_path == "ok.ipynb"
    assert len(snapshot.processes) == 4  # inactive rows are kept for validation


def test_given_a_snapshot_when_serialised_to_json_and_back_then_it_is_equal(control_db_url, registry):
    group = registry.group(registry.stream("s"), "g")
    registry.depend(registry.process(group, "a"), registry.process(group, "b"))
    snapshot = read_snapshot(control_db_url)

    restored = Snapshot.model_validate_json(snapshot.model_dump_json())

    assert restored == snapshot
    assert [p.prcs_nm for p in restored.active_processes()] == ["a", "b"]


def test_given_an_empty_schema_when_snapshot_is_read_then_it_is_empty(control_db_url):
    snapshot = read_snapshot(control_db_url)
    assert snapshot.streams == () and snapshot.processes == ()
