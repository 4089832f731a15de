#!/usr/bin/env bash
# The database role of the control-plane UI (llf/control/sql/0032_ui_reader.sql grants it its rights): the
# NOLOGIN group llf_ui_reader, which may only SELECT what the UI's pages show, and the login the Airflow
# api-server reads with, LLF_UI_DB_USER with LLF_UI_DB_PASSWORD from .env (compose gives the api-server
# LLF_UI_DB_URL, never the owner's URL). Like every login but the owners it connects to the llf database alone
# (20-llf-notebook-role.sh took CONNECT on the others from PUBLIC).
# Runs on the first start of the postgres volume (docker-entrypoint-initdb.d). Idempotent: on a volume made
# before it existed, or after changing the password in .env, run it once by hand, then `docker compose up`:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/40-llf-ui-reader.sh
# psql variables (:'x', :"x") quote every value.
set -euo pipefail

for other in "$LLF_DB_USER" "$POSTGRES_USER" "$AIRFLOW_DB_USER" "$LLF_NOTEBOOK_DB_USER" "$AIRFLOW_CELERY_DB_USER" \
             llf_notebook llf_ui_reader; do
    if [[ "$LLF_UI_DB_USER" == "$other" ]]; then
        echo "LLF_UI_DB_USER must be a login of its own, not ${other}: the UI would get its rights." >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v ui_user="$LLF_UI_DB_USER" -v ui_password="$LLF_UI_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE llf_ui_reader NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'llf_ui_reader') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'ui_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ui_user') \gexec
ALTER ROLE :"ui_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'ui_password';
GRANT llf_ui_reader TO :"ui_user";
COMMENT ON ROLE llf_ui_reader IS 'llf control-plane UI (group, no login): reads registrations, the run log, progress and LLM usage; writes nothing, never attempt tokens or the LLM cache.';
SQL
