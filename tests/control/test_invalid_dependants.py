"""Invalidity spreads along dependencies, however the streams sort: each dependant stream is named once, with the
first dependency (by name) that made it invalid, in the order passes over the processes would find them."""

from __future__ import annotations

import datetime as dt

from llf.control.model import Dependency, Process, ProcessGroup, Snapshot, Stream
from llf.control.validation import invalid_dependants


def chain_snapshot() -> Snapshot:
    """Streams s1..s4, one process each; s4's waits for s3's, s3's for s2's, s2's for s1's. Names put each
    dependant before what it waits for in start order, so the spread needs one pass per link. s5 waits for
    s2 and s1 (named after both) and s6 depends on nothing."""
    names = {1: "d_one", 2: "c_two", 3: "b_three", 4: "a_four", 5: "e_five", 6: "f_six"}
    streams = tuple(Stream(strem_id=i, strem_nm=f"s{i}") for i in names)
    groups = tuple(ProcessGroup(prcs_grp_id=i, strem_id=i, prcs_grp_nm="g") for i in names)
    processes = tuple(Process(prcs_id=i, prcs_grp_id=i, prcs_nm=name) for i, name in names.items())
    edges = [(4, 3), (3, 2), (2, 1), (5, 2), (5, 1)]
    dependencies = tuple(Dependency(prcs_id=a, depn_prcs_id=b) for a, b in edges)
    return Snapshot(taken_at=dt.datetime.now(dt.UTC), streams=streams, groups=groups, processes=processes,
                    dependencies=dependencies)


def test_given_an_invalid_stream_at_the_end_of_a_chain_when_spread_then_every_dependant_stream_is_named_once():
    problems = invalid_dependants(chain_snapshot(), {"s1"})

    assert [(sorted(p.streams), p.row) for p in problems] == [
        (["s2"], "prcs_nm=c_two, depn_prcs_nm=d_one"),
        (["s5"], "prcs_nm=e_five, depn_prcs_nm=c_two"),
        (["s3"], "prcs_nm=b_three, depn_prcs_nm=c_two"),
        (["s4"], "prcs_nm=a_four, depn_prcs_nm=b_three"),
    ]


def test_given_no_invalid_stream_when_spread_then_nothing_is_named():
    assert invalid_dependants(chain_snapshot(), set()) == []


def test_given_an_invalid_stream_nobody_depends_on_when_spread_then_nothing_more_is_named():
    assert invalid_dependants(chain_snapshot(), {"s4", "s6"}) == []
