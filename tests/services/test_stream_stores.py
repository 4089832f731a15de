"""llf_results tables and llf_vectors collections are isolated between streams by the database, through ownership
(issue 26, exploit 3): with the real migrations and real logins, each stream's kernel connects as its stream's login
(llf.control.stream_logins, what the runner hands the kernel), and stream A's notebook can neither read, write nor
drop B's results table or B's collection, while it creates and uses its own; a registered table is given to one
stream; an owner that may not create roles keeps the shared login, with a warning."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest

from llf.control.stream_logins import kernel_login_url, stream_password, with_login
from llf.local.postgres import with_user
from llf.services import control_store as control_store_module
from llf.services.vectors import VectorItem

DENIED = psycopg2.errors.InsufficientPrivilege


@pytest.fixture
def streams(registry) -> dict[str, int]:
    """Streams a and b, each with one process `<stream>_proc`; their ids."""
    ids = {}
    for stream in ("a", "b"):
        ids[stream] = registry.stream(stream)
        registry.process(registry.group(ids[stream], "g"), f"{stream}_proc")
    return ids


@pytest.fixture
def role(sql):
    """The name of a stream's role (cntl_af.stream_role)."""
    return lambda stream: sql("SELECT cntl_af.stream_role(%s)", (stream,))[0][0]


@pytest.fixture
def kernel_url(streams, control_db_url, notebook_db_url):
    """The URL the runner hands a kernel of `stream`'s process (its stream's login, made ready)."""
    return lambda stream: kernel_login_url(control_db_url, notebook_db_url, f"{stream}_proc", 10)


@pytest.fixture
def session(kernel_url) -> Iterator:
    """Raw autocommit sessions as a stream's kernel login, as hostile notebook code would open them."""
    opened = []

    def connect(stream: str):
        connection = psycopg2.connect(kernel_url(stream))
        connection.autocommit = True
        opened.append(connection)
        return connection.cursor()
    yield connect
    for connection in opened:
        connection.close()


@pytest.fixture
def as_kernel(kernel_url, monkeypatch):
    """Make this process a kernel of `stream`: the SDK connects with its stream's login."""
    def become(stream: str) -> None:
        for store in control_store_module._stores.values():
            store.close_unlocked()
        control_store_module._stores.clear()
        monkeypatch.setenv("LLF_CONTROL_DB_URL", kernel_url(stream))
        monkeypatch.delenv("LLF_VECTOR_URL", raising=False)
    yield become
    for store in control_store_module._stores.values():
        store.close_unlocked()
    control_store_module._stores.clear()


def test_given_b_results_table_when_a_selects_writes_or_drops_it_then_permission_denied(session, sql, role):
    b = session("b")
    b.execute("CREATE TABLE llf_results.b_scores (id integer GENERATED ALWAYS AS IDENTITY, score real)")
    b.execute("INSERT INTO llf_results.b_scores (score) VALUES (0.5)")
    a = session("a")

    for statement in ("SELECT * FROM llf_results.b_scores", "INSERT INTO llf_results.b_scores (score) VALUES (9)",
                      "UPDATE llf_results.b_scores SET score = 0", "DELETE FROM llf_results.b_scores",
                      "TRUNCATE llf_results.b_scores", "DROP TABLE llf_results.b_scores",
                      "ALTER TABLE llf_results.b_scores ADD COLUMN planted text",
                      "GRANT SELECT ON llf_results.b_scores TO PUBLIC"):
        with pytest.raises(DENIED):
            a.execute(statement)
    a.execute("SET ROLE llf_notebook")  # the group every stream login is in owns none of it either
    with pytest.raises(DENIED):
        a.execute("SELECT * FROM llf_results.b_scores")
    with pytest.raises(psycopg2.errors.DuplicateTable):
        session("a").execute("CREATE TABLE llf_results.b_scores (x int)")

    b.execute("SELECT score FROM llf_results.b_scores")
    assert b.fetchall() == [(0.5,)]
    assert sql("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'llf_results.b_scores'::regclass") == [
        (role("b"),)]


def test_given_its_own_login_when_a_creates_a_results_table_then_it_reads_and_writes_it(session):
    a = session("a")
    a.execute("CREATE TABLE llf_results.a_answers (question text, answer text)")
    a.execute("INSERT INTO llf_results.a_answers VALUES ('why', '42')")
    a.execute("UPDATE llf_results.a_answers SET answer = '43'")

    a.execute("SELECT question, answer FROM llf_results.a_answers")
    assert a.fetchall() == [("why", "43")]


def test_given_b_collection_when_a_uses_or_drops_it_then_refused_and_a_keeps_its_own(as_kernel, session, sql, role):
    from llf import notebook as nb

    as_kernel("b")
    nb.vectors("catalogue").upsert([VectorItem(id="x", text="b's secret", vector=[1.0, 0.0, 0.0])])

    as_kernel("a")
    with pytest.raises(PermissionError, match="catalogue"):
        nb.vectors("catalogue").search([1.0, 0.0, 0.0], k=1)
    with pytest.raises(PermissionError, match="catalogue"):
        nb.vectors("catalogue").upsert([VectorItem(id="y", text="planted", vector=[1.0, 0.0, 0.0])])
    a = session("a")
    for statement in ("SELECT text FROM llf_vectors.catalogue", "DROP TABLE llf_vectors.catalogue"):
        with pytest.raises(DENIED):
            a.execute(statement)
    own = nb.vectors("a_catalogue")
    own.upsert([VectorItem(id="z", text="a's own", vector=[0.0, 1.0, 0.0])])

    assert [hit.text for hit in own.search([0.0, 1.0, 0.0], k=1)] == ["a's own"]
    assert sql("SELECT text FROM llf_vectors.catalogue") == [("b's secret",)]
    assert sql("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
               "ON n.oid = c.relnamespace WHERE n.nspname = 'llf_vectors' AND c.relkind = 'r' ORDER BY 1") == [
        ("a_catalogue", role("a")), ("catalogue", role("b"))]


def test_given_a_registered_table_given_to_a_then_a_writes_it_and_b_is_refused(sql, session, role):
    sql("CREATE TABLE llf_results.answers (id integer GENERATED ALWAYS AS IDENTITY, tag serial, answer text)")
    assert sql("SELECT cntl_af.grant_to_stream('a', 'llf_results.answers')") == [(role("a"),)]

    session("a").execute("INSERT INTO llf_results.answers (answer) VALUES ('42')")
    b = session("b")
    for statement in ("SELECT * FROM llf_results.answers", "INSERT INTO llf_results.answers (answer) VALUES ('no')"):
        with pytest.raises(DENIED):
            b.execute(statement)

    assert sql("SELECT answer FROM llf_results.answers") == [("42",)]


def test_given_results_of_both_streams_when_the_owner_reads_then_it_sees_them_all(session, sql):
    for stream in ("a", "b"):
        session(stream).execute(f"CREATE TABLE llf_results.{stream}_rows AS SELECT '{stream}'::text AS who")

    assert sql("SELECT who FROM llf_results.a_rows UNION ALL SELECT who FROM llf_results.b_rows ORDER BY 1") == [
        ("a",), ("b",)]


def test_given_the_notebook_password_then_each_stream_password_is_stable_and_its_own():
    assert stream_password("nb-secret", "llf_nb_1") == stream_password("nb-secret", "llf_nb_1")
    assert len({stream_password("nb-secret", "llf_nb_1"), stream_password("nb-secret", "llf_nb_2"),
                stream_password("rotated", "llf_nb_1")}) == 3
    assert "nb-secret" not in stream_password("nb-secret", "llf_nb_1")


def test_given_a_notebook_url_with_a_password_then_the_kernel_url_carries_the_derived_one_and_the_role_has_it(
    streams, control_db_url, postgres, sql
):
    shared = with_login(control_db_url, "llf_notebook_login", "nb-secret")

    url = kernel_login_url(control_db_url, shared, "a_proc", 7)

    role = sql("SELECT cntl_af.stream_role(%s)", ("a",))[0][0]
    assert url == with_login(control_db_url, role, stream_password("nb-secret", role))
    assert "nb-secret" not in url
    connection = psycopg2.connect(postgres.admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolcanlogin, rolconnlimit, rolpassword LIKE 'SCRAM-SHA-256$%%', rolcreaterole, "
                           "rolsuper, rolbypassrls, pg_has_role(rolname, 'llf_notebook', 'MEMBER') "
                           "FROM pg_authid WHERE rolname = %s", (role,))
            assert cursor.fetchall() == [(True, 7, True, False, False, False, True)]
    finally:
        connection.close()


@pytest.mark.parametrize("dsn", ["keyword", "url with a password parameter"])
def test_given_the_shared_password_anywhere_in_the_url_then_the_kernel_url_drops_it(dsn):
    shared = {"keyword": "host=db dbname=llf user=nb password=nb-secret",
              "url with a password parameter": "postgresql://db/llf?user=nb&password=nb-secret&sslmode=require"}[dsn]

    url = with_login(shared, "llf_nb_3", "derived")

    assert "nb-secret" not in url
    assert {key: psycopg2.extensions.parse_dsn(url)[key] for key in ("user", "password")} == {
        "user": "llf_nb_3", "password": "derived"}


@pytest.fixture
def owner_without_createrole(postgres, control_db_url) -> Iterator[str]:
    """A login that may read the registrations and call the role functions, but not create or alter roles."""
    login = f"owner_{uuid.uuid4().hex[:8]}"
    statements = [f"CREATE ROLE {login} LOGIN", f"GRANT USAGE ON SCHEMA cntl_af TO {login}",
                  f"GRANT SELECT ON ALL TABLES IN SCHEMA cntl_af TO {login}",
                  f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cntl_af TO {login}"]
    connection = psycopg2.connect(control_db_url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        yield with_user(control_db_url, login)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {login}")
            cursor.execute(f"DROP ROLE {login}")
    finally:
        connection.close()


def test_given_an_owner_that_may_not_create_roles_when_a_kernel_starts_then_it_gets_the_shared_login_and_one_warning(
    streams, owner_without_createrole, notebook_db_url, caplog
):
    with caplog.at_level(logging.WARNING, logger="llf.control.stream_logins"):
        url = kernel_login_url(owner_without_createrole, notebook_db_url, "a_proc", 10)

    assert url == notebook_db_url
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "a_proc" in warnings[0] and "CREATEROLE" in warnings[0]
    assert "llf_results tables and llf_vectors collections" in warnings[0]
    connection = psycopg2.connect(url)  # the shared login still works: it creates and uses its tables
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE llf_results.shared_rows (x int)")
            cursor.execute("INSERT INTO llf_results.shared_rows VALUES (1)")
            cursor.execute("SELECT x FROM llf_results.shared_rows")
            assert cursor.fetchall() == [(1,)]
    finally:
        connection.close()


@pytest.fixture
def kernel_of(lake_dir, monkeypatch):
    """Make this process a kernel of a run of `stream` (its run context, as the runner hands it over)."""
    import datetime as dt

    from llf.context import RunContext

    def become(stream: str | None) -> None:
        context = RunContext(strem_nm=stream, prcs_nm="p", business_date=dt.date(2024, 3, 1), run_id="r")
        monkeypatch.setenv("LLF_RUN_CONTEXT", context.model_dump_json())
    return become


def test_given_a_kernel_of_a_when_it_puts_and_reads_then_its_keys_live_under_streams_a(kernel_of, lake_dir):
    from llf import notebook as nb

    kernel_of("a")
    location = nb.lake().put("data/2024-03-01/raw.csv", "x,y\n")

    assert (lake_dir / "streams" / "a" / "data" / "2024-03-01" / "raw.csv").read_text() == "x,y\n"
    assert nb.lake().get("data/2024-03-01/raw.csv") == b"x,y\n"
    assert nb.lake().list("data/") == ["data/2024-03-01/raw.csv"]
    assert nb.lake().key_of(location) == "data/2024-03-01/raw.csv"
    kernel_of("b")
    assert nb.lake().list() == [] and not nb.lake().exists("data/2024-03-01/raw.csv")


@pytest.mark.parametrize("key", ["../b/planted.csv", "data/../../b/planted.csv", "/streams/b/planted.csv",
                                 "../../runs/b/p/2024-03-01/r/try-1/p.ipynb", ".."])
def test_given_a_kernel_of_a_when_it_writes_outside_its_prefix_then_refused(kernel_of, lake_dir, key):
    from llf import notebook as nb
    from llf.services.lake import LakePathError

    kernel_of("a")
    with pytest.raises(LakePathError):
        nb.lake().put(key, "planted")
    with pytest.raises(LakePathError):
        nb.lake().get(key)

    assert [path for path in lake_dir.rglob("*") if path.is_file()] == []


def test_given_a_link_out_of_the_stream_prefix_when_its_stored_key_is_asked_then_refused(kernel_of, lake_dir):
    from llf import notebook as nb
    from llf.services.lake import LakePathError

    (lake_dir / "streams" / "b").mkdir(parents=True)
    (lake_dir / "streams" / "b" / "secret.txt").write_text("b's")
    (lake_dir / "streams" / "a").mkdir()
    (lake_dir / "streams" / "a" / "link.txt").symlink_to(lake_dir / "streams" / "b" / "secret.txt")
    kernel_of("a")

    with pytest.raises(LakePathError):
        nb.lake().stored_key("link.txt")


def test_stream_prefix_is_one_segment_per_stream():
    from llf.services.lake import LakePathError
    from llf.services.lake.streams import stream_prefix

    assert stream_prefix("merchandise_recommendation") == "streams/merchandise_recommendation/"
    assert stream_prefix(None) == "streams/_no_stream/"
    for bad in ("..", ".", "a/b", ""):
        with pytest.raises(LakePathError):
            stream_prefix(bad or "x/")


def test_given_plain_jupyter_when_nb_lake_is_used_then_it_is_the_whole_lake(lake_dir, monkeypatch):
    from llf import notebook as nb

    monkeypatch.delenv("LLF_RUN_CONTEXT", raising=False)
    nb.lake().put("notes/a.txt", "x")

    assert (lake_dir / "notes" / "a.txt").exists()


def test_given_two_llf_databases_on_one_server_then_the_same_stream_id_gets_two_roles(postgres, sql, streams):
    """Roles are the server's: a staging copy's stream 1 must not own, nor reach, production's stream 1 tables."""
    from tests.support.registry import sql_runner

    with sql_runner(postgres.fresh_database()) as other:
        other("INSERT INTO cntl_af.cntl_cfg_strem (strem_id, strem_nm) OVERRIDING SYSTEM VALUE VALUES (%s, 'a')",
              (streams["a"],))
        elsewhere = other("SELECT cntl_af.stream_role('a')")[0][0]

    here = sql("SELECT cntl_af.stream_role('a')")[0][0]
    assert here != elsewhere and here.startswith(f"llf_nb_{streams['a']}_")


def test_given_kernels_of_a_new_stream_starting_together_then_each_gets_its_login(
    registry, control_db_url, notebook_db_url
):
    """A group runs up to max_parallel processes at once: their kernels make the same role ready at once."""
    from concurrent.futures import ThreadPoolExecutor

    group = registry.group(registry.stream(f"burst_{uuid.uuid4().hex[:6]}"), "g")
    for number in range(6):
        registry.process(group, f"burst_{number}")

    with ThreadPoolExecutor(6) as pool:
        urls = list(pool.map(lambda number: kernel_login_url(control_db_url, notebook_db_url, f"burst_{number}", 10),
                             range(6)))

    assert len(set(urls)) == 1 and urls[0] != notebook_db_url
