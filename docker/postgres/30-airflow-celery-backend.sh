#!/usr/bin/env bash
# Celery's result backend (task states): the database AIRFLOW_CELERY_DB_NAME, owned by the login
# AIRFLOW_CELERY_DB_USER, and nothing else. The workers must reach the result backend; with a login of its
# own they hold neither the metadata DB's owner nor the control tables' owner, and notebook code on a worker
# that reads the worker's environment gets at most Celery's task states.
# Runs on the first start of the postgres volume (docker-entrypoint-initdb.d). Idempotent: on a volume made
# before it existed, or after changing the password in .env, run it once by hand, then `docker compose up`:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/30-airflow-celery-backend.sh
# psql variables (:'x', :"x") quote every value.
set -euo pipefail

for other in "$AIRFLOW_DB_USER" "$LLF_DB_USER" "$LLF_NOTEBOOK_DB_USER" "$POSTGRES_USER" llf_notebook; do
    if [[ "$AIRFLOW_CELERY_DB_USER" == "$other" ]]; then
        echo "AIRFLOW_CELERY_DB_USER must be a login of its own, not ${other}: workers would get its rights." >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v celery_user="$AIRFLOW_CELERY_DB_USER" -v celery_password="$AIRFLOW_CELERY_DB_PASSWORD" \
     -v celery_db="$AIRFLOW_CELERY_DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'celery_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'celery_user') \gexec
ALTER ROLE :"celery_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'celery_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'celery_db', :'celery_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'celery_db') \gexec
-- Only its owner connects: the notebook login and the others have no business there.
REVOKE ALL ON DATABASE :"celery_db" FROM PUBLIC;
COMMENT ON DATABASE :"celery_db" IS 'Celery result backend of the llf stack (task states only).';
SQL
