#!/bin/bash
# Runs once, when the primary's data directory is initialised (the postgres
# image runs /docker-entrypoint-initdb.d/* as the superuser before the
# server starts for real). Creates the application role and database, the
# replication role and slot for postgres-replica, and the monitoring role.
# Passwords come from the environment (deploy/compose/.env) and are passed
# to psql as variables, so no quoting problem or shell history keeps them.
set -euo pipefail
: "${DB_PASSWORD:?DB_PASSWORD is not set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"
: "${MONITOR_PASSWORD:?MONITOR_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v app_pw="$DB_PASSWORD" -v repl_pw="$REPLICATION_PASSWORD" -v mon_pw="$MONITOR_PASSWORD" <<'SQL'
CREATE ROLE campus LOGIN PASSWORD :'app_pw';
CREATE DATABASE campus OWNER campus;
-- Server-side backstop for every statement of the API. Behind pgbouncer in
-- transaction mode a per-connection startup parameter cannot be kept, so
-- the role carries it; migrations connect directly and lift it.
ALTER ROLE campus SET statement_timeout = '5s';
ALTER ROLE campus SET idle_in_transaction_session_timeout = '30s';
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_pw';
CREATE ROLE monitor LOGIN PASSWORD :'mon_pw' IN ROLE pg_monitor;
SELECT pg_create_physical_replication_slot('replica_1');
SQL

# Replication connections match only lines naming "replication".
echo "host replication replicator samenet scram-sha-256" >>"$PGDATA/pg_hba.conf"
