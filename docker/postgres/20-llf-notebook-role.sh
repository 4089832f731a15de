#!/usr/bin/env bash
# The database role of notebook code (llf/control/sql/0025_notebook_role.sql grants it its rights): the NOLOGIN
# group llf_notebook and the login notebooks connect as, LLF_NOTEBOOK_DB_USER with LLF_NOTEBOOK_DB_PASSWORD
# from .env, whose sessions run as the group (so collections a notebook creates belong to the group).
# Runs on the first start of the postgres volume (docker-entrypoint-initdb.d). Idempotent: on a volume made
# before it existed, or after changing the password in .env, run it once by hand, then `docker compose up`:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/20-llf-notebook-role.sh
# The login may hold LLF_NOTEBOOK_DB_CONNECTION_LIMIT sessions at once (default 50, well under PostgreSQL's
# max_connections of 100): every kernel of every stream shares it, so a runaway notebook can exhaust the notebooks'
# share, never the platform's. A limit on the group would do nothing: PostgreSQL counts a login's own sessions.
# It may connect to the llf database alone: PostgreSQL lets PUBLIC connect to every new database, so PUBLIC loses
# CONNECT and TEMPORARY on each other one there is now (the Airflow metadata DB, postgres, template1; Celery's
# is made so by 30-*.sh); their owners keep theirs.
# The llf owner (LLF_DB_USER) gets CREATEROLE and ADMIN on llf_notebook (neither its rights nor SET ROLE to it): the
# runner makes each stream's login, llf_nb_<stream id>_<database>, a member of llf_notebook before the stream's kernel
# starts (llf/control/sql/0031_stream_logins.sql), so each stream owns its llf_results tables and llf_vectors
# collections. On PostgreSQL 16 CREATEROLE reaches only the roles the owner created or administers (here: llf_notebook
# and the stream logins), never superuser, replication or BYPASSRLS, nor the Airflow, Celery or notebook logins.
# (PostgreSQL 15 and older: CREATEROLE may alter and grant every role but superusers; leave it off there and accept
# the shared login, which each run warns about.)
# psql variables (:'x', :"x") quote every value.
set -euo pipefail

nb_limit="${LLF_NOTEBOOK_DB_CONNECTION_LIMIT:-50}"
if ! [[ "$nb_limit" =~ ^[1-9][0-9]{0,4}$ ]]; then
    echo "LLF_NOTEBOOK_DB_CONNECTION_LIMIT must be a whole number of sessions from 1, not '${nb_limit}'." >&2
    exit 1
fi

for owner in "$LLF_DB_USER" "$POSTGRES_USER" llf_notebook; do
    if [[ "$LLF_NOTEBOOK_DB_USER" == "$owner" ]]; then
        echo "LLF_NOTEBOOK_DB_USER must be a login of its own, not ${owner}: notebooks would get its rights." >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v nb_user="$LLF_NOTEBOOK_DB_USER" -v nb_password="$LLF_NOTEBOOK_DB_PASSWORD" -v nb_limit="$nb_limit" \
     -v llf_db="$LLF_DB_NAME" -v llf_user="$LLF_DB_USER" <<'SQL'
SELECT 'CREATE ROLE llf_notebook NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'llf_notebook') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'nb_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'nb_user') \gexec
ALTER ROLE :"nb_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'nb_password' CONNECTION LIMIT :nb_limit;
GRANT llf_notebook TO :"nb_user";
ALTER ROLE :"nb_user" SET role = 'llf_notebook';
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', datname)
  FROM pg_database WHERE datallowconn AND datname <> :'llf_db' \gexec
SELECT format('ALTER ROLE %I WITH CREATEROLE', :'llf_user')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = :'llf_user') \gexec
SELECT format('GRANT llf_notebook TO %I WITH ADMIN TRUE, INHERIT FALSE, SET FALSE', :'llf_user')
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = :'llf_user') \gexec
COMMENT ON ROLE llf_notebook IS 'llf notebooks (group, no login): write progress, LLM usage and cache, llf_results and llf_vectors; never registrations or the run log.';
SQL
