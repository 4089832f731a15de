#!/usr/bin/env bash
# One-shot initialisation of the stack (service llf-init); every step is idempotent, so it runs again
# on each `docker compose up` and picks up changed .env values and new example registrations.
set -euo pipefail

# Every .env secret reaches llf-init behind LLF_INIT_CHECK_ (docker-compose.yml), only for this check: a
# change-me left in any of them stops here, naming the settings, never their values. Those given for the check
# only (the PostgreSQL superuser's, MinIO root's, Jupyter's, Flower's) are then dropped: nothing below sees them.
python "$(dirname "${BASH_SOURCE[0]}")/placeholders.py" || exit 1
for name in $(compgen -e); do
    if [[ "${name}" == LLF_INIT_CHECK_* ]]; then unset "${name}"; fi
done

# Celery's result backend is a login and database of its own (docker/postgres/30-*.sh), made on the first
# start of the postgres volume only: say how to add them to an older volume rather than let the scheduler
# and the workers fail on it later. Python's own error may name the login: not shown.
if ! python -c 'import os, sqlalchemy; sqlalchemy.create_engine(os.environ["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+")).connect().close()' 2>/dev/null; then
    echo "llf-init: cannot log in to Celery's result backend (AIRFLOW_CELERY_DB_* in .env). On a postgres" >&2
    echo "volume made before it existed, or after changing its password, run once:" >&2
    echo "  docker compose exec postgres bash /docker-entrypoint-initdb.d/30-airflow-celery-backend.sh" >&2
    exit 1
fi

echo "llf-init: Airflow admin user ${AIRFLOW_ADMIN_USER} (password from .env)"
python -c 'import json, os, sys; json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
    > "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE}"

echo "llf-init: migrating the Airflow metadata database"
airflow db migrate

echo "llf-init: Airflow connections cntl_af, llf_vectors"
connections_file=$(mktemp --suffix=.json)
trap 'rm -f "${connections_file}"' EXIT
python /opt/llf/init/connections.py "${connections_file}"
airflow connections import --overwrite "${connections_file}"

echo "llf-init: control schema"
llf db upgrade

if [[ "${LLF_LOAD_EXAMPLES}" == "true" ]]; then
    echo "llf-init: example registrations"
    llf db apply /opt/airflow/control_sql/examples/*.sql
fi
echo "llf-init: done"
