"""Streams are isolated from each other in the stores notebooks write (issue 26, exploit 3), by the database: with
the real migrations and the real notebook login, stream B's notebook session (with B's attempt token) cannot read
A's cached answers, plant the answer A's next prompt gets, or forge progress and usage on A's attempt; a session
with no token or a dead one sees and writes nothing; the platform (the owner) still reads everything."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import pytest

from llf.context import RunContext
from llf.control import log as run_log
from llf.control.attempt_tokens import open_attempt_token, session_options
from llf.control.model import Status
from llf.services import control_store as control_store_module
from llf.services.llm import open_llm
from tests.support.standins.ollama_server import OllamaStandin

BUSINESS_DATE = dt.date(2024, 3, 1)
PROMPT = "is the bridge safe to cross?"


@dataclass(frozen=True)
class Attempt:
    """A RUNNING attempt of a stream's process and the token its kernel was handed."""

    context: RunContext
    token: str


@pytest.fixture
def attempts(registry, control_db_url) -> dict[str, Attempt]:
    """Streams a and b, each with one process and one RUNNING attempt holding its token."""
    started = {}
    for stream in ("a", "b"):
        registry.process(registry.group(registry.stream(stream), "g"), f"{stream}_proc")
        context = RunContext(strem_nm=stream, prcs_nm=f"{stream}_proc", business_date=BUSINESS_DATE,
                             run_id=f"run_{stream}", triggered_by="stream")
        log_id = run_log.mark_running(control_db_url, context)
        started[stream] = Attempt(context.model_copy(update={"log_id": log_id}),
                                  open_attempt_token(control_db_url, log_id))
    return started


@pytest.fixture
def as_notebook(notebook_db_url, monkeypatch):
    """Make this process the kernel of `attempt` (None: a kernel given no token): the notebook role's URL, the run
    context and the token, as the runner hands them over."""
    def become(attempt: Attempt | None, context: RunContext | None = None) -> None:
        monkeypatch.setenv("LLF_CONTROL_DB_URL", notebook_db_url)
        monkeypatch.setenv("LLF_RUN_CONTEXT", (context or attempt.context).model_dump_json())
        if attempt is None:
            monkeypatch.delenv("LLF_ATTEMPT_TOKEN", raising=False)
        else:
            monkeypatch.setenv("LLF_ATTEMPT_TOKEN", attempt.token)
    yield become
    for store in control_store_module._stores.values():
        store.close_unlocked()
    control_store_module._stores.clear()


@pytest.fixture
def notebook_session(notebook_db_url) -> Iterator:
    """Open raw psycopg2 sessions as the notebook login, as hostile notebook code would, with a token or none."""
    opened = []

    def connect(token: str | None = None):
        options = {"options": session_options(token)} if token else {}
        connection = psycopg2.connect(notebook_db_url, **options)
        connection.autocommit = True
        opened.append(connection)
        return connection.cursor()
    yield connect
    for connection in opened:
        connection.close()


def test_given_b_cached_a_planted_answer_when_a_asks_the_same_prompt_then_a_gets_the_servers_answer(
    ollama: OllamaStandin, attempts, as_notebook, sql
) -> None:
    """The exploit: B's notebook makes the server say "no" to A's prompt once, and the shared cache used to hand that
    "no" to A with 0 server calls. Now the answer is B's alone, and A asks the server itself."""
    as_notebook(attempts["b"])
    ollama.behaviour.reply_with("no")
    assert open_llm().complete(PROMPT) == "no"

    as_notebook(attempts["a"])
    answer = open_llm().complete(PROMPT)

    assert answer != "no"
    assert len(ollama.behaviour.calls_to("/api/chat")) == 2
    assert sorted(sql("SELECT strem_nm, response->>'text' FROM cntl_af.cntl_llm_cache")) == [
        ("a", answer), ("b", "no")]


def test_given_an_answer_cached_in_its_own_stream_when_asked_again_then_it_comes_from_the_cache(
    ollama: OllamaStandin, attempts, as_notebook, sql
) -> None:
    as_notebook(attempts["a"])
    first = open_llm().complete(PROMPT)
    again = open_llm().complete(PROMPT)

    assert again == first and len(ollama.behaviour.calls_to("/api/chat")) == 1
    assert sql("SELECT strem_nm, hit_cnt FROM cntl_af.cntl_llm_cache") == [("a", 1)]
    assert sql("SELECT log_id, cache_hit_flg FROM cntl_af.cntl_llm_usage ORDER BY usage_id") == [
        (attempts["a"].context.log_id, False), (attempts["a"].context.log_id, True)]


def test_given_a_cached_answers_when_b_reads_counts_or_plants_by_sql_then_it_sees_and_changes_nothing(
    ollama: OllamaStandin, attempts, as_notebook, notebook_session, sql
) -> None:
    as_notebook(attempts["a"])
    open_llm().complete(PROMPT)
    ((key,),) = sql("SELECT cache_key FROM cntl_af.cntl_llm_cache")
    b = notebook_session(attempts["b"].token)

    b.execute("SELECT request, response FROM cntl_af.cntl_llm_cache")
    assert b.fetchall() == []
    b.execute("UPDATE cntl_af.cntl_llm_cache SET hit_cnt = hit_cnt + 1 WHERE cache_key = %s RETURNING 1", (key,))
    assert b.fetchall() == []
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
        b.execute("INSERT INTO cntl_af.cntl_llm_cache (cache_key, provider_nm, model_nm, request, response, strem_nm)"
                  " VALUES (%s, 'ollama', 'llama3.2', '{}', '{\"text\": \"no\"}', 'a')", (key,))

    assert sql("SELECT strem_nm, hit_cnt, response->>'text' != 'no' FROM cntl_af.cntl_llm_cache") == [("a", 0, True)]


@pytest.mark.parametrize("table, columns", [
    ("cntl_prcs_progress", "(log_id, prcs_nm, business_date, run_id, message) VALUES (%s, %s, %s, %s, 'forged')"),
    ("cntl_llm_usage", "(log_id, prcs_nm, business_date, run_id, strem_nm, provider_nm, model_nm, operation_nm, "
                       "prompt_tokens) VALUES (%s, %s, %s, %s, 'a', 'ollama', 'm', 'chat', 1000000)"),
])
@pytest.mark.parametrize("mixed", ["a's attempt", "b's log_id, a's process"])
def test_given_b_forging_rows_on_a_attempt_when_inserted_then_refused(
    attempts, notebook_session, sql, table, columns, mixed
) -> None:
    a = attempts["a"].context
    log_id = a.log_id if mixed == "a's attempt" else attempts["b"].context.log_id
    b = notebook_session(attempts["b"].token)

    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
        b.execute(f"INSERT INTO cntl_af.{table} {columns}", (log_id, a.prcs_nm, a.business_date, a.run_id))

    assert sql(f"SELECT count(*) FROM cntl_af.{table}") == [(0,)]


def test_given_its_own_attempt_when_the_sdk_writes_progress_and_usage_then_they_are_recorded(
    ollama: OllamaStandin, attempts, as_notebook, sql
) -> None:
    from llf import notebook as nb

    as_notebook(attempts["b"])
    nb.log("scoring started")
    open_llm().complete(PROMPT)

    b = attempts["b"].context.log_id
    assert sql("SELECT log_id, message FROM cntl_af.cntl_prcs_progress") == [(b, "scoring started")]
    assert sql("SELECT log_id, strem_nm FROM cntl_af.cntl_llm_usage") == [(b, "b")]


def test_given_b_claiming_a_run_context_when_the_sdk_writes_then_nothing_is_recorded_on_a(
    ollama: OllamaStandin, attempts, as_notebook, sql
) -> None:
    """Notebook code can rewrite its LLF_RUN_CONTEXT; the token, not the context, says which attempt it is."""
    from llf import notebook as nb

    as_notebook(attempts["b"], context=attempts["a"].context)
    nb.log("forged line")
    open_llm().complete(PROMPT)

    assert sql("SELECT count(*) FROM cntl_af.cntl_prcs_progress") == [(0,)]
    assert sql("SELECT count(*) FROM cntl_af.cntl_llm_usage") == [(0,)]


@pytest.mark.parametrize("token", ["none", "unknown", "closed"])
def test_given_a_session_with_no_live_token_when_it_reads_or_writes_then_it_sees_and_writes_nothing(
    ollama: OllamaStandin, attempts, as_notebook, notebook_session, sql, control_db_url, token
) -> None:
    as_notebook(attempts["a"])
    open_llm().complete(PROMPT)
    a = attempts["a"].context
    if token == "closed":
        run_log.close_attempt(control_db_url, a, Status.SUCCESS, "done")
    session = notebook_session({"none": None, "unknown": "x" * 43, "closed": attempts["a"].token}[token])

    session.execute("SELECT count(*) FROM cntl_af.cntl_llm_cache")
    assert session.fetchall() == [(0,)]
    for statement in ("INSERT INTO cntl_af.cntl_prcs_progress (log_id, prcs_nm, business_date, run_id, message) "
                      "VALUES (%s, %s, %s, %s, 'late')",
                      "INSERT INTO cntl_af.cntl_llm_cache (cache_key, provider_nm, model_nm, request, response) "
                      "VALUES (repeat('0', 64), 'ollama', 'm', '{}', '{}')"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
            session.execute(statement, (a.log_id, a.prcs_nm, a.business_date, a.run_id))
    assert sql("SELECT count(*) FROM cntl_af.cntl_prcs_progress") == [(0,)]


def test_given_the_login_resetting_its_role_when_it_reads_the_cache_then_it_is_still_scoped(
    ollama: OllamaStandin, attempts, as_notebook, notebook_session
) -> None:
    """Sessions run as llf_notebook (ALTER ROLE ... SET role); RESET ROLE makes them the login, a member: held too."""
    as_notebook(attempts["a"])
    open_llm().complete(PROMPT)
    b = notebook_session(attempts["b"].token)

    b.execute("RESET ROLE")
    b.execute("SELECT count(*) FROM cntl_af.cntl_llm_cache")
    assert b.fetchall() == [(0,)]


def test_given_the_token_table_when_a_notebook_session_reads_it_then_permission_denied(
    attempts, notebook_session
) -> None:
    b = notebook_session(attempts["b"].token)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="cntl_attempt_token"):
        b.execute("SELECT * FROM cntl_af.cntl_attempt_token")


def test_given_rows_of_both_streams_when_the_owner_reads_then_it_sees_them_all(
    ollama: OllamaStandin, attempts, as_notebook, sql, control_db_url
) -> None:
    """The platform (the runner, `llf status`, the UI's timeline) reads as the tables' owner: not held back."""
    from llf import notebook as nb
    from llf.control.status import latest_statuses

    for stream in ("a", "b"):
        as_notebook(attempts[stream])
        nb.log(f"{stream} working")
        open_llm().complete(f"{PROMPT} ({stream})")

    assert sql("SELECT strem_nm FROM cntl_af.cntl_llm_cache ORDER BY strem_nm") == [("a",), ("b",)]
    assert sql("SELECT message FROM cntl_af.cntl_prcs_progress ORDER BY message") == [("a working",), ("b working",)]
    assert sql("SELECT count(DISTINCT log_id) FROM cntl_af.cntl_llm_usage") == [(2,)]
    assert {row.prcs_nm: (row.latest.tokens > 0, row.latest.message)
            for row in latest_statuses(control_db_url, business_date=BUSINESS_DATE)} == {
        "a_proc": (True, "a working"), "b_proc": (True, "b working")}


def test_given_the_notebook_login_then_its_sessions_are_limited(postgres, notebook_db_url) -> None:
    from llf.local.postgres import NOTEBOOK_CONNECTION_LIMIT, NOTEBOOK_LOGIN

    connection = psycopg2.connect(postgres.admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (NOTEBOOK_LOGIN,))
            assert cursor.fetchall() == [(NOTEBOOK_CONNECTION_LIMIT,)]
    finally:
        connection.close()
