#!/usr/bin/env bash
# The hub's store beside Airflow's metadata database, on the compose stack's PostgreSQL
# (run once, by the postgres image's entrypoint, when the data volume is new).
set -euo pipefail
# the password from the environment by psql itself (\getenv), never on psql's command line
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv password LOANHUB_DB_PASSWORD
CREATE ROLE loanhub LOGIN PASSWORD :'password';
CREATE DATABASE loanhub OWNER loanhub;
SQL
