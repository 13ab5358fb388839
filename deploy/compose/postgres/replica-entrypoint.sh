#!/bin/bash
# Entry point of postgres-replica: on first start, clone the primary with
# pg_basebackup over the replication slot "replica_1" (-R writes
# standby.signal and primary_conninfo), then run a hot standby streaming
# from it. Later starts resume streaming from the existing data directory.
set -euo pipefail
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"
PGDATA=${PGDATA:-/var/lib/postgresql/data}
PRIMARY_HOST=${PRIMARY_HOST:-postgres-primary}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	echo "replica: waiting for $PRIMARY_HOST"
	until pg_isready -q -h "$PRIMARY_HOST" -p 5432; do sleep 1; done
	# An interrupted clone leaves a partial directory: start over.
	find "$PGDATA" -mindepth 1 -delete
	echo "replica: cloning $PRIMARY_HOST with pg_basebackup"
	PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator \
		-D "$PGDATA" -X stream -S replica_1 -R --checkpoint=fast
	chmod 0700 "$PGDATA"
fi
# max_connections must be at least the primary's on a standby.
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_standby_streaming_delay=30s \
	-c max_connections=200 -c shared_buffers=512MB
