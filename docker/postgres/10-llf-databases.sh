#!/usr/bin/env bash
# First start of the postgres volume only (docker-entrypoint-initdb.d): a role and a database for the
# Airflow metadata, another for the llf control tables, and pgvector in the llf database.
# The control schema itself is applied by the llf-init service (`llf db upgrade`), so yoyo records it
# and later upgrades stay incremental. psql variables (:'x', :"x") quote every value.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v airflow_user="$AIRFLOW_DB_USER" -v airflow_password="$AIRFLOW_DB_PASSWORD" \
     -v airflow_db="$AIRFLOW_DB_NAME" \
     -v llf_user="$LLF_DB_USER" -v llf_password="$LLF_DB_PASSWORD" -v llf_db="$LLF_DB_NAME" <<'SQL'
CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE :"airflow_db" OWNER :"airflow_user";
CREATE ROLE :"llf_user" LOGIN PASSWORD :'llf_password';
CREATE DATABASE :"llf_db" OWNER :"llf_user";
\connect :"llf_db"
CREATE EXTENSION IF NOT EXISTS vector;
SQL
