#!/usr/bin/env bash
# make bench-backend: the backend's store benchmarks at the scale preset.
#
# Starts a private PostgreSQL in .run/bench-pg (kept between runs: the
# scale preset, 50,000 students and ~10 million attendance records, loads
# once, in minutes), applies the migrations, seeds --preset scale when the
# database is empty, analyzes, and runs cmd/storebench, which prints a
# Markdown table of p50/p95/p99/max per hot operation against its target.
#
#   BENCH_DATABASE_URL   use an existing database instead (seeded if empty)
#   BENCH_ITERATIONS     measured calls per operation (default 1000)
#   BENCH_WORKERS        concurrent callers per operation (default 1)
#   BENCH_PG_PORT        port of the private cluster (default: a free one)
#   BENCH_FSYNC          on (default) or off for the private cluster
#
# `make bench-backend-clean` removes .run/bench-pg.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

command -v go >/dev/null 2>&1 || die "go not found: install Go 1.26 (https://go.dev/dl/)"
RUN="$root/.run"
mkdir -p "$RUN/bin"
log "building backend and storebench"
go build -o "$RUN/bin/" ./backend/cmd/backend ./backend/cmd/storebench

pgbin=
data=
cleanup() {
	local rc=$?
	[ -n "$pgbin" ] && pg_stop "$pgbin" "$data"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${BENCH_DATABASE_URL:-}" ]; then
	export DATABASE_URL="$BENCH_DATABASE_URL"
else
	pgbin=$(ensure_pg)
	data=$(pg_datadir_for "$RUN/bench-pg")
	if [ ! -s "$RUN/bench-pg.password" ]; then
		(umask 077 && random_secret >"$RUN/bench-pg.password")
	fi
	port=${BENCH_PG_PORT:-$(free_port)}
	PG_FSYNC=${BENCH_FSYNC:-on} PG_SYNC_COMMIT=${BENCH_FSYNC:-on} pg_start "$pgbin" "$data" "$port" "$(cat "$RUN/bench-pg.password")"
	export DATABASE_URL="postgres://campus:$(cat "$RUN/bench-pg.password")@127.0.0.1:$port/campus?sslmode=disable"
	log "PostgreSQL for benchmarks on 127.0.0.1:$port (data in .run/bench-pg)"
fi

"$RUN/bin/backend" migrate up >/dev/null
start=$(date +%s)
"$RUN/bin/backend" seed --preset scale --if-empty
log "seed step took $(( $(date +%s) - start ))s"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE" >/dev/null 2>&1 || log "warning: VACUUM ANALYZE failed (psql missing?)"

log "storebench"
"$RUN/bin/storebench" --iterations "${BENCH_ITERATIONS:-1000}" --workers "${BENCH_WORKERS:-1}"
