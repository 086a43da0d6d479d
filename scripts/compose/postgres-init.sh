#!/usr/bin/env bash
# The hub's store beside Airflow's metadata database, on the compose stack's PostgreSQL
# (run once, by the postgres image's entrypoint, when the data volume is new).
set -euo pipefail
# the password from the environment by psql itself (\getenv), never on psql's command line
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv password LOANHUB_DB_PASSWORD
\getenv owner_password LOANHUB_DB_OWNER_PASSWORD
-- the owner migrates (airflow-init only); the runtime role gets its grants from
-- `loanhub db upgrade --grant loanhub`: on the audit chain INSERT and SELECT, nothing more
CREATE ROLE loanhub_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE loanhub LOGIN PASSWORD :'password';
CREATE DATABASE loanhub OWNER loanhub_owner;
\connect loanhub
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
