#!/usr/bin/env bash
# make bench: the campus scenarios (benchmarks/scenarios/campus) against the
# gateway, nginx, the backend directly and a constant-response ceiling, in
# one run, on this machine; writes benchmarks/results/scenarios.md and
# reassembles benchmarks/RESULTS.md.
#
#   make bench          full runs (8-12 s each, 3 per scenario and target, 4 targets; about 15-20 minutes)
#   make bench-quick    short runs (4-8 s each; about 8 minutes)
#
# It builds the programs, starts a private PostgreSQL (data kept in
# .run/bench/pg, so the campus is seeded once, with the development
# keyrings sealing its personal data in .run/bench/state; `make
# bench-clean` removes both) and a private Redis on free ports (never those of `make run`, so it
# runs beside a development stack), installs nginx with apt when missing
# and root (without nginx its rows are left out), and runs
# `bench run` (benchmarks/cmd/bench), which starts three backend instances,
# the gateway with deploy/config/gateway.single-host.yaml, nginx with
# deploy/nginx/bench.conf and the ceiling, and stops them at the end.
#
# Environment:
#   BENCH_QUICK=1               quick mode
#   BENCH_RUNS=3                measured runs per scenario and target (medians of these)
#   BENCH_DURATION=10s          length of every run instead of each scenario's own
#   BENCH_WARMUP=2s             unmeasured run per scenario and target first (0: none)
#   BENCH_ONLY=a,b              only these scenarios (catalog-hit, students-list,
#                               class-start, login-storm, abuse, failover)
#   BENCH_TARGETS=a,b           only these targets (gateway, nginx, direct, ceiling)
#   BENCH_STUDENTS=N            load-test student accounts (default 2000, quick 600)
#   BENCH_SEED_STUDENTS=N       campus size seeded into an empty database (5000)
#   BENCH_BCRYPT_COST=N         password hashing cost of the bench accounts (4)
#   BENCH_SCALE=F               multiply every run's length
#   BENCH_NO_RESULTS=1          leave benchmarks/results and RESULTS.md alone (the
#                               default when BENCH_ONLY or BENCH_TARGETS narrow the run)
#   BENCH_KEEP=1                keep the work directory (logs of every process,
#                               configurations, the fixture) and print it
#   DATABASE_URL, REDIS_URL     use these servers instead; the database is
#                               migrated, seeded when empty and given load-test
#                               accounts with one known password: a development
#                               or benchmark database only, never production
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

BENCH="$root/.run/bench"
mkdir -p "$BENCH"
exec 9>"$BENCH/bench.lock"
flock -n 9 || die "a benchmark is already running (lock $BENCH/bench.lock)"

command -v go >/dev/null 2>&1 || die "go not found: install Go 1.26 (https://go.dev/dl/)"
command -v curl >/dev/null 2>&1 || apt_install curl || die "curl not found: install it (apt-get install curl)"

tmp=$(mktemp -d /tmp/campshub360-bench.XXXXXX)
chmod 755 "$tmp"
pgbin= started_pg=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pidfile "$tmp/redis.pid" 5
	[ -n "$started_pg" ] && pg_stop "$pgbin" "$BENCH/pg"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		log "work directory kept: $tmp"
	else
		rm -rf "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

nginx_bin=
if nginx_bin=$(command -v nginx) || { apt_install nginx && nginx_bin=$(command -v nginx); }; then
	:
else
	nginx_bin=
	log "warning: nginx not found and not installable (apt-get install nginx as root): the nginx rows are left out"
fi

log "building gateway, backend, benchsrv and bench"
go build -o "$tmp/bin/" ./gateway/cmd/gateway ./backend/cmd/backend ./benchmarks/cmd/benchsrv ./benchmarks/cmd/bench

describe=()
if [ -z "${DATABASE_URL:-}" ]; then
	pgbin=$(ensure_pg)
	data=$(pg_datadir_for "$BENCH/pg")
	[ -s "$BENCH/pg.password" ] || (umask 077 && random_secret >"$BENCH/pg.password")
	pgport=$(free_port)
	pg_start "$pgbin" "$data" "$pgport" "$(cat "$BENCH/pg.password")" 9>&-
	started_pg=1
	DATABASE_URL="postgres://campus:$(cat "$BENCH/pg.password")@127.0.0.1:$pgport/campus?sslmode=disable"
	describe+=(--describe "PostgreSQL: $("$pgbin/postgres" --version | sed 's/^postgres (PostgreSQL) //'), private cluster (.run/bench/pg), defaults (fsync and synchronous_commit on), max_connections 200, shared_buffers 256MB")
	log "PostgreSQL on 127.0.0.1:$pgport (data in .run/bench/pg)"
else
	describe+=(--describe "PostgreSQL: from DATABASE_URL")
fi
if [ -z "${REDIS_URL:-}" ]; then
	if redisbin=$(ensure_redis); then
		redisport=$(free_port)
		redis_start "$redisbin" "$redisport" "$tmp/redis" "$tmp/redis.pid" 9>&-
		REDIS_URL="redis://127.0.0.1:$redisport/0"
		describe+=(--describe "Redis: $("$redisbin" --version | grep -o 'v=[^ ]*' | cut -c3-), private, persistence off")
	else
		log "warning: redis-server not available; the stack runs without Redis"
		REDIS_URL=
	fi
else
	describe+=(--describe "Redis: from REDIS_URL")
fi

quick=() students=${BENCH_STUDENTS:-2000} cmd="make bench"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	quick=(--quick)
	students=${BENCH_STUDENTS:-600}
	cmd="make bench-quick"
fi
for v in BENCH_RUNS BENCH_DURATION BENCH_WARMUP BENCH_ONLY BENCH_TARGETS BENCH_STUDENTS BENCH_SEED_STUDENTS BENCH_BCRYPT_COST BENCH_SCALE; do
	[ -n "${!v:-}" ] && cmd="$v=${!v} $cmd"
done
out="$BENCH/last"
rm -rf "$out"
args=(run --bin "$tmp/bin" --database-url "$DATABASE_URL" --redis-url "$REDIS_URL" --nginx "$nginx_bin"
	--root "$root" --work "$tmp/work" --state "$BENCH/state" --out "$out" "${quick[@]}"
	--runs "${BENCH_RUNS:-3}" --warmup "${BENCH_WARMUP:-2s}" --students "$students" --seed-students "${BENCH_SEED_STUDENTS:-5000}"
	--bcrypt-cost "${BENCH_BCRYPT_COST:-4}" --scale "${BENCH_SCALE:-1}" --command "$cmd" "${describe[@]}")
[ -n "${BENCH_DURATION:-}" ] && args+=(--duration "$BENCH_DURATION")
partial=0
[ -n "${BENCH_ONLY:-}" ] && args+=(--only "$BENCH_ONLY") && partial=1
[ -n "${BENCH_TARGETS:-}" ] && args+=(--targets "$BENCH_TARGETS") && partial=1

start=$(date +%s)
rc=0
"$tmp/bin/bench" "${args[@]}" 9>&- || rc=$?
log "bench took $(($(date +%s) - start))s; raw results (outcome.json, table.md) in .run/bench/last"
if [ -s "$out/scenarios.md" ] && [ "${BENCH_NO_RESULTS:-$partial}" != 1 ]; then
	mkdir -p benchmarks/results
	cp "$out/scenarios.md" benchmarks/results/scenarios.md
	"$tmp/bin/bench" results --dir benchmarks/results --out benchmarks/RESULTS.md
	log "wrote benchmarks/results/scenarios.md and benchmarks/RESULTS.md"
fi
exit $rc
