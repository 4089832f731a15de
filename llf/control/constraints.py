"""What each constraint of the control tables means, in one sentence a registering user can act on.

PostgreSQL refuses a bad registration by constraint name (`cntl_cfg_strem_fail_policy_check`), which says
nothing about the allowed values. `llf db apply` looks the name up here; every CHECK, UNIQUE and FOREIGN
KEY of llf/control/sql/ that a registration can hit is listed (tests/control/test_sql_files.py checks each
name exists in the schema), so the sentences cannot drift from the DDL unnoticed.
"""

from __future__ import annotations

import psycopg2
from psycopg2 import errorcodes

from llf.text import one_line

_NAME = "1 to 200 letters, digits, _ . or - (no spaces: it becomes part of an Airflow id)"

# constraint name -> what is wrong and what is allowed
MESSAGES: dict[str, str] = {
    # CHECK
    "cntl_cfg_strem_strem_nm_check": f"strem_nm must be {_NAME}",
    "cntl_cfg_strem_fail_policy_check": "fail_policy must be 'CONTINUE' or 'STOP' (upper case)",
    "cntl_cfg_strem_owner_nm_length": "owner_nm may have at most 2000 characters (what Airflow stores)",
    "cntl_cfg_prcs_grp_prcs_grp_nm_check": f"prcs_grp_nm must be {_NAME}",
    "cntl_cfg_prcs_grp_max_parallel_check": "max_parallel must be between 1 and 64",
    "cntl_cfg_prcs_grp_max_parallel_range": "max_parallel must be between 1 and 64",
    "cntl_cfg_prcs_grp_nm_not_reserved": "prcs_grp_nm may not be finish_stream (or finish.stream): every stream "
                                         "DAG has a task of that name",
    "cntl_cfg_prcs_prcs_nm_check": f"prcs_nm must be {_NAME}",
    "cntl_cfg_prcs_timeout_min_check": "timeout_min must be a number of minutes in (0, 10080]",
    "cntl_cfg_prcs_timeout_min_range": "timeout_min must be a number of minutes in (0, 10080] (a week at most)",
    "cntl_cfg_prcs_retries_check": "retries must be between 0 and 100",
    "cntl_cfg_prcs_retries_range": "retries must be between 0 and 100",
    "cntl_cfg_prcs_params_depth": "params may nest at most 32 levels deep",
    "cntl_cfg_prcs_owner_nm_length": "owner_nm may have at most 2000 characters (what Airflow stores)",
    "cntl_cfg_sys_file_file_type_check": "file_type must be 'NOTEBOOK' (or left to its default)",
    "cntl_cfg_sys_file_content_sha256_format": "content_sha256 must be the 64 lower-case hex digits of a SHA-256, "
                                               "or null; leave it out and let `llf pin` set it",
    "cntl_cfg_prcs_conn_ids_format": "conn_ids must be a list of at most 50 Airflow connection ids, each 1 to 200 "
                                     "letters, digits, _ . or - (e.g. '{crm_db,partner_api}')",
    "cntl_cfg_prcs_conn_ids_not_platform": "conn_ids may not name cntl_af, cntl_af_notebook or llf_vectors (in any "
                                           "case): a notebook must not get the control tables' owner or the "
                                           "platform's keys; define a connection of its own in Airflow",
    "cntl_cfg_prcs_conn_ids_unique": "conn_ids names a connection twice; list each once",
    "cntl_cfg_prcs_depn_not_self": "a process cannot depend on itself (prcs_id = depn_prcs_id)",
    # UNIQUE
    "cntl_cfg_strem_strem_nm_key": "a stream of that strem_nm is already registered; use another name, or "
                                   "ON CONFLICT (strem_nm) DO NOTHING to make the file re-runnable",
    "cntl_cfg_prcs_grp_strem_id_prcs_grp_nm_key": "the stream already has a group of that prcs_grp_nm",
    "cntl_cfg_prcs_grp_task_group_id_unique": "two groups of one stream would become the same Airflow task group "
                                              "(a . in a group name becomes _); rename one",
    "cntl_cfg_prcs_prcs_nm_key": "a process of that prcs_nm is already registered (process names are global, "
                                 "across streams: use your own prefix)",
    "cntl_cfg_sys_file_prcs_id_key": "the process already has its notebook; UPDATE cntl_af.cntl_cfg_sys_file "
                                     "SET file_path = ... instead",
    "cntl_cfg_prcs_depn_pkey": "that dependency is already registered",
    "cntl_cfg_schedule_one_active_idx": "the stream already has an active schedule; set actv_flg = false on "
                                        "the old one first",
    # FOREIGN KEY
    "cntl_cfg_prcs_grp_strem_id_fkey": "strem_id names no stream in cntl_cfg_strem",
    "cntl_cfg_prcs_prcs_grp_id_fkey": "prcs_grp_id names no group in cntl_cfg_prcs_grp",
    "cntl_cfg_sys_file_prcs_id_fkey": "prcs_id names no process in cntl_cfg_prcs",
    "cntl_cfg_prcs_depn_prcs_id_fkey": "prcs_id names no process in cntl_cfg_prcs",
    "cntl_cfg_prcs_depn_depn_prcs_id_fkey": "depn_prcs_id names no process in cntl_cfg_prcs",
    "cntl_cfg_schedule_strem_id_fkey": "strem_id names no stream in cntl_cfg_strem",
}

_VIOLATIONS = {errorcodes.CHECK_VIOLATION, errorcodes.UNIQUE_VIOLATION, errorcodes.FOREIGN_KEY_VIOLATION}


def explain(error: psycopg2.Error) -> str:
    """One sentence for a refused statement: the constraint, what it allows, and the row or key refused
    (PostgreSQL's detail: "Failing row contains (...)", "Key (strem_nm)=(sales) already exists.").

    "" for errors that are no constraint violation (syntax, unknown column ...): PostgreSQL's own text
    says enough there.
    """
    diag = error.diag
    if error.pgcode == errorcodes.NOT_NULL_VIOLATION:
        return (f"{diag.table_name}.{diag.column_name} is NULL; when it comes from a lookup such as "
                "(SELECT ... WHERE name = '...'), that name matched no row: check its spelling")
    if error.pgcode not in _VIOLATIONS:
        return ""
    constraint = diag.constraint_name or "?"
    detail = one_line(diag.message_detail or "", 300)
    meaning = MESSAGES.get(constraint, one_line(diag.message_primary or ""))
    return f"{diag.table_name or 'the table'} refused the row by {constraint}: {meaning}" + \
        (f" ({detail})" if detail else "")
