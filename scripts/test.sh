#!/usr/bin/env bash
# make test: start a throwaway PostgreSQL and Redis on free loopback ports in a
# temporary directory, run vet and the race-enabled tests of every workspace
# module against them (integration and end-to-end tests included), and tear
# everything down at the end, on failure and on Ctrl-C too.
#
# TEST_DATABASE_URL / TEST_REDIS_URL, when set, point the tests at existing
# servers instead (each test package creates and drops its own database).
# GO_TEST_FLAGS adds flags to go test (e.g. GO_TEST_FLAGS='-run Students');
# GO_TEST_RACE=0 drops the race detector (for benchmarks:
# GO_TEST_RACE=0 GO_TEST_FLAGS='-run ^$ -bench Login -benchtime 5x');
# package patterns as arguments narrow the run (scripts/test.sh ./backend/...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

command -v go >/dev/null 2>&1 || die "go not found: install Go 1.26 (https://go.dev/dl/)"

tmp=$(mktemp -d /tmp/campshub360-test.XXXXXX)
chmod 755 "$tmp"
pgbin=
cleanup() {
	local rc=$?
	stop_pidfile "$tmp/redis.pid" 5
	[ -n "$pgbin" ] && pg_stop "$pgbin" "$tmp/pg"
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${TEST_DATABASE_URL:-}" ]; then
	pgbin=$(ensure_pg)
	mkdir -p "$tmp/pg"
	is_root && chown postgres: "$tmp/pg"
	chmod 700 "$tmp/pg"
	pgport=$(free_port)
	pgpass=$(random_secret)
	# Durability is pointless for a throwaway cluster; speed is not.
	PG_FSYNC=off PG_SYNC_COMMIT=off pg_start "$pgbin" "$tmp/pg" "$pgport" "$pgpass"
	export TEST_DATABASE_URL="postgres://campus:$pgpass@127.0.0.1:$pgport/campus?sslmode=disable"
	log "PostgreSQL for tests on 127.0.0.1:$pgport"
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
	redisbin=$(ensure_redis) || die "redis-server not found: install it (apt-get install redis-server) or set TEST_REDIS_URL"
	redisport=$(free_port)
	redis_start "$redisbin" "$redisport" "$tmp/redis" "$tmp/redis.pid"
	export TEST_REDIS_URL="redis://127.0.0.1:$redisport/0"
	log "Redis for tests on 127.0.0.1:$redisport"
fi
# Integration tests fail (instead of skipping) when their servers are missing.
export CAMPSHUB_INTEGRATION=required

if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	mapfile -t pkgs < <(go list -m -f '{{.Dir}}/...')
fi
log "go vet"
go vet "${pkgs[@]}"
race=-race
[ "${GO_TEST_RACE:-1}" = 0 ] && race=
log "go test $race ${GO_TEST_FLAGS:-}"
# shellcheck disable=SC2086
go test $race -count=1 -timeout 60m ${GO_TEST_FLAGS:-} "${pkgs[@]}"
log "all tests passed"
