"""The routing columns of 0026 hold only values Airflow can act on, whoever writes them (a SQL script, a
bad sync): a pool of no slot would leave every process routed to it scheduled forever, and a process taking
no slot (or more than any pool has) would escape the limit or never start. The database refuses them.

test_pools covers the INSERT of a 0-slot pool; here the resize to 0 (how a team would try to pause a pool),
the bounds on either side, and a process's pool_slots.
"""

from __future__ import annotations

import psycopg2
import pytest

POOL_SLOTS = "cntl_cfg_pool_slots_range"
PRCS_POOL_SLOTS = "cntl_cfg_prcs_pool_slots_range"


@pytest.fixture
def pool(sql) -> str:
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) VALUES ('llm', 2, 'LLM server')")
    return "llm"


@pytest.fixture
def process(registry) -> str:
    registry.process(registry.group(registry.stream("routed"), "routed_g1"), "routed_p1")
    return "routed_p1"


@pytest.mark.parametrize("slots", [0, -1, 10_001])
def test_given_a_registered_pool_when_resized_out_of_range_then_the_database_refuses_and_keeps_its_slots(
    sql, pool, slots
):
    with pytest.raises(psycopg2.errors.CheckViolation, match=POOL_SLOTS):
        sql("UPDATE cntl_af.cntl_cfg_pool SET slots = %s WHERE pool_nm = %s", (slots, pool))

    assert sql("SELECT slots FROM cntl_af.cntl_cfg_pool WHERE pool_nm = %s", (pool,)) == [(2,)]


@pytest.mark.parametrize("slots", [1, 10_000])
def test_given_a_pool_at_either_bound_when_registered_then_it_is_kept(sql, slots):
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('edge', %s)", (slots,))

    assert sql("SELECT slots FROM cntl_af.cntl_cfg_pool WHERE pool_nm = 'edge'") == [(slots,)]


@pytest.mark.parametrize("pool_slots", [0, -3, 1001])
def test_given_a_process_when_its_pool_slots_are_set_out_of_range_then_the_database_refuses(
    sql, pool, process, pool_slots
):
    with pytest.raises(psycopg2.errors.CheckViolation, match=PRCS_POOL_SLOTS):
        sql("UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = %s, pool_slots = %s WHERE prcs_nm = %s",
            (pool, pool_slots, process))

    assert sql("SELECT pool_nm, pool_slots FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = %s", (process,)) == [(None, 1)]


@pytest.mark.parametrize("pool_slots", [1, 1000])
def test_given_a_process_when_its_pool_slots_are_at_either_bound_then_they_are_kept(sql, pool, process, pool_slots):
    sql("UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = %s, pool_slots = %s WHERE prcs_nm = %s",
        (pool, pool_slots, process))

    assert sql("SELECT pool_slots FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = %s", (process,)) == [(pool_slots,)]
