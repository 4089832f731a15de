"""The dependency graph layout: every arrow points right, outside dependencies appear, cycles do not break it."""

from __future__ import annotations

from llf.control.repository import read_snapshot
from llf.ui.graph import stream_graph


def test_given_a_chain_and_an_outside_dependency_when_laid_out_then_columns_follow_dependencies(
    control_db_url, registry
):
    upstream = registry.process(registry.group(registry.stream("upstream"), "g"), "feed")
    group = registry.group(registry.stream("s"), "g")
    first, second = registry.process(group, "first"), registry.process(group, "second")
    registry.depend(second, first)
    registry.depend(first, upstream)
    snapshot = read_snapshot(control_db_url)

    layout = stream_graph(snapshot, next(s for s in snapshot.streams if s.strem_nm == "s"), {"first": "SUCCESS"})

    x = {node.prcs_nm: node.x for node in layout.nodes}
    assert x["feed"] < x["first"] < x["second"]
    feed = next(node for node in layout.nodes if node.prcs_nm == "feed")
    assert feed.outside and feed.caption == "stream upstream"
    assert all(edge.x1 < edge.x2 for edge in layout.edges) and len(layout.edges) == 2
    assert {node.prcs_nm: node.status for node in layout.nodes}["first"] == "SUCCESS"


def test_given_a_cycle_when_laid_out_then_every_process_is_still_drawn(control_db_url, registry):
    group = registry.group(registry.stream("s"), "g")
    a, b = registry.process(group, "a"), registry.process(group, "b")
    registry.depend(a, b)
    registry.depend(b, a)
    snapshot = read_snapshot(control_db_url)

    layout = stream_graph(snapshot, snapshot.streams[0], {})

    assert sorted(node.prcs_nm for node in layout.nodes) == ["a", "b"]
    assert len(layout.edges) == 2
