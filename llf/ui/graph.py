"""The dependency graph of one stream laid out server-side, so the page needs no JavaScript and no CDN.

Layered layout: a process sits one column right of the deepest process it depends on (graphlib gives the
order), so every arrow points rightwards. Dependencies on processes of other streams appear as extra nodes,
named (the dependency is part of this stream's registration) but without the other stream's name unless the
viewer may read it; their status is never shown (`statuses` holds this stream's processes only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from llf.control.model import Snapshot, Stream

NODE_WIDTH = 190
NODE_HEIGHT = 40
COLUMN_GAP = 70
ROW_GAP = 16
MARGIN = 10


@dataclass(frozen=True)
class Node:
    prcs_nm: str
    caption: str  # the group, or the other stream for an outside dependency
    status: str | None
    active: bool
    outside: bool
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class GraphLayout:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def stream_graph(snapshot: Snapshot, stream: Stream, statuses: dict[str, str | None],
                 readable_stream: Callable[[str], bool] = lambda _name: True) -> GraphLayout:
    """Every process of `stream` (inactive ones too) and the processes they depend on, laid out in layers."""
    group_ids = {g.prcs_grp_id for g in snapshot.groups if g.strem_id == stream.strem_id}
    own = [p for p in snapshot.processes if p.prcs_grp_id in group_ids]
    own_ids = {p.prcs_id for p in own}
    waits_for = {p.prcs_id: [d.prcs_id for d in snapshot.dependencies_of(p)] for p in own}
    outside_ids = {d for deps in waits_for.values() for d in deps if d not in own_ids}
    depth = _depths(waits_for, own_ids | outside_ids)

    columns: dict[int, list[int]] = {}
    for prcs_id in sorted(depth, key=lambda i: (depth[i], snapshot.process_by_id[i].prcs_nm)):
        columns.setdefault(depth[prcs_id], []).append(prcs_id)
    position: dict[int, tuple[int, int]] = {}
    for column, ids in columns.items():
        for row, prcs_id in enumerate(ids):
            position[prcs_id] = (MARGIN + column * (NODE_WIDTH + COLUMN_GAP), MARGIN + row * (NODE_HEIGHT + ROW_GAP))

    nodes = []
    for prcs_id, (x, y) in position.items():
        process = snapshot.process_by_id[prcs_id]
        group = snapshot.group_by_id[process.prcs_grp_id]
        outside = prcs_id in outside_ids
        caption = _outside_caption(snapshot.stream_of(process).strem_nm, readable_stream) if outside \
            else f"group {group.prcs_grp_nm}"
        nodes.append(Node(process.prcs_nm, caption, statuses.get(process.prcs_nm), snapshot.is_active(process),
                          outside, x, y))
    edges = [
        Edge(position[dep][0] + NODE_WIDTH, position[dep][1] + NODE_HEIGHT // 2,
             position[prcs_id][0], position[prcs_id][1] + NODE_HEIGHT // 2)
        for prcs_id, deps in waits_for.items()
        for dep in deps
    ]
    width = MARGIN * 2 + max((x for x, _ in position.values()), default=0) + NODE_WIDTH
    height = MARGIN * 2 + max((y for _, y in position.values()), default=0) + NODE_HEIGHT
    return GraphLayout(nodes, edges, width, height)


def _outside_caption(strem_nm: str, readable_stream: Callable[[str], bool]) -> str:
    return f"stream {strem_nm}" if readable_stream(strem_nm) else "another stream"


def _depths(waits_for: dict[int, list[int]], ids: set[int]) -> dict[int, int]:
    """Column of each process: 0 without dependencies, else one more than its deepest dependency."""
    graph = {prcs_id: waits_for.get(prcs_id, []) for prcs_id in ids}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError:  # `llf validate` reports the cycle; the page still shows every process
        return dict.fromkeys(ids, 0)
    depth: dict[int, int] = {}
    for prcs_id in order:
        depth[prcs_id] = 1 + max((depth[d] for d in graph.get(prcs_id, [])), default=-1)
    return depth
