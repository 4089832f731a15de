"""cntl_cfg_pool, the single source of llf's Airflow pools: read back as registered, compared with Airflow's."""

from __future__ import annotations

import psycopg2
import pytest

from llf.control.pools import Pool, plan_pools, registered_pools


def test_given_registered_pools_when_read_then_each_comes_back_by_name_with_slots_and_description(
    control_db_url, sql
):
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) VALUES ('llm', 2, 'LLM server'), "
        "('batch', 5, DEFAULT)")

    pools = registered_pools(control_db_url)

    assert pools == [Pool("batch", 5, ""), Pool("llm", 2, "LLM server")]


def test_given_no_registered_pool_when_read_then_the_list_is_empty(control_db_url):
    assert registered_pools(control_db_url) == []


@pytest.mark.parametrize("row", ["('empty', 0, '')", "('default_pool', 3, '')", "('bad name', 1, '')"])
def test_given_a_pool_of_no_slot_or_airflows_own_name_when_registered_then_the_database_refuses_it(sql, row):
    with pytest.raises(psycopg2.errors.CheckViolation):
        sql(f"INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc) VALUES {row}")


def test_given_registered_and_airflow_pools_when_planned_then_missing_changed_same_and_foreign_are_told_apart():
    registered = [Pool("new", 1, "n"), Pool("resized", 4, "r"), Pool("redescribed", 2, "now"), Pool("same", 3, "s")]
    in_airflow = [Pool("default_pool", 128, "Default pool"), Pool("resized", 2, "r"), Pool("redescribed", 2, "then"),
                  Pool("same", 3, "s"), Pool("by_hand", 7, "")]

    plan = plan_pools(registered, in_airflow)

    assert plan.create == (Pool("new", 1, "n"),)
    assert plan.update == ((Pool("redescribed", 2, "then"), Pool("redescribed", 2, "now")),
                           (Pool("resized", 2, "r"), Pool("resized", 4, "r")))
    assert plan.unchanged == (Pool("same", 3, "s"),)
    assert plan.not_owned == (Pool("by_hand", 7, ""),)  # default_pool is Airflow's: never "not owned"


def test_given_a_plan_when_told_then_one_sentence_per_pool_in_the_conditional_for_a_dry_run():
    plan = plan_pools([Pool("llm", 2, "x"), Pool("big", 8, "")], [Pool("big", 4, ""), Pool("mine", 1, "")])

    real, dry = plan.lines(dry_run=False), plan.lines(dry_run=True)

    assert real == ["created: llm (2 slots)", "updated: big (slots 4 -> 8)",
                    "not owned by llf (not in cntl_af.cntl_cfg_pool; left as it is): mine (1 slot)",
                    "Pools: 1 created, 1 updated, 0 unchanged, 1 not owned by llf."]
    assert dry[:2] == ["would create: llm (2 slots)", "would update: big (slots 4 -> 8)"]
    assert dry[-1] == "Pools: 1 to create, 1 to update, 0 unchanged, 1 not owned by llf (dry run: nothing changed " \
                      "in Airflow)."
