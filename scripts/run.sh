#!/usr/bin/env bash
# make run: the whole stack on this machine, in the foreground.
#
#   PostgreSQL  private cluster in .run/pg on 127.0.0.1:$PG_PORT (55432),
#               unless DATABASE_URL points at an existing server
#   Redis       private redis-server on 127.0.0.1:$REDIS_PORT (56379),
#               unless REDIS_URL is set; the stack also runs without it
#   backend     two instances on 127.0.0.1:9001 and 127.0.0.1:9002
#   gateway     HTTPS :8443, HTTP :8080 (redirects), admin 127.0.0.1:9090
#
# Ctrl-C, or `make stop` from another shell, stops everything this script
# started, by PID. Logs are in .run/logs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

RUN="$root/.run"
mkdir -p "$RUN/logs" "$RUN/bin"

# One stack at a time.
if [ -f "$RUN/run.pid" ] && kill -0 "$(cat "$RUN/run.pid")" 2>/dev/null; then
	die "the stack is already running (pid $(cat "$RUN/run.pid")); stop it with 'make stop' first"
fi
echo $$ >"$RUN/run.pid"

# Leftovers of a killed run: our own processes (recognized by binary path)
# are stopped, stale PID files removed.
for f in "$RUN"/backend-*.pid "$RUN/gateway.pid" "$RUN/redis.pid"; do
	[ -f "$f" ] || continue
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa -e "$RUN/bin" -e redis-server "/proc/$pid/cmdline" 2>/dev/null; then
		log "stopping leftover process $pid from a previous run ($(basename "$f"))"
		stop_pidfile "$f" 10
	fi
	rm -f "$f"
done

pgbin=
started_pg=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	log "stopping the stack"
	stop_pidfile "$RUN/gateway.pid" 30
	stop_pidfile "$RUN/backend-1.pid" 20
	stop_pidfile "$RUN/backend-2.pid" 20
	stop_pidfile "$RUN/redis.pid" 10
	[ -n "$started_pg" ] && pg_stop "$pgbin" "$RUN/pg"
	rm -f "$RUN/run.pid"
	log "stopped"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v go >/dev/null 2>&1 || die "go not found: install Go 1.26 (https://go.dev/dl/)"
command -v curl >/dev/null 2>&1 || apt_install curl || die "curl not found: install it (apt-get install curl)"

for p in 8443 8080 9090 9001 9002; do
	port_free "$p" || die "port $p on this machine is taken by another program; free it and run again"
done

log "building"
go build -o "$RUN/bin/" ./gateway/cmd/gateway ./backend/cmd/backend

if [ -z "${DATABASE_URL:-}" ]; then
	pgbin=$(ensure_pg)
	data=$(pg_datadir_for "$RUN/pg")
	if [ ! -s "$RUN/pg.password" ]; then
		(umask 077 && random_secret >"$RUN/pg.password")
	fi
	pgport=${PG_PORT:-55432}
	pg_start "$pgbin" "$data" "$pgport" "$(cat "$RUN/pg.password")"
	started_pg=1
	export DATABASE_URL="postgres://campus:$(cat "$RUN/pg.password")@127.0.0.1:$pgport/campus?sslmode=disable"
	log "PostgreSQL on 127.0.0.1:$pgport (data in .run/pg)"
else
	log "using PostgreSQL from DATABASE_URL"
fi

if [ -z "${REDIS_URL:-}" ]; then
	if redisbin=$(ensure_redis); then
		redisport=${REDIS_PORT:-56379}
		redis_start "$redisbin" "$redisport" "$RUN/redis" "$RUN/redis.pid"
		export REDIS_URL="redis://127.0.0.1:$redisport/0"
		log "Redis on 127.0.0.1:$redisport"
	else
		log "warning: redis-server is not available; running without Redis (install redis-server or set REDIS_URL)"
	fi
else
	log "using Redis from REDIS_URL"
fi

"$RUN/bin/backend" migrate up
"$RUN/bin/backend" seed --if-empty --students "${SEED_STUDENTS:-2000}" --weeks 2

for i in 1 2; do
	"$RUN/bin/backend" serve --listen "127.0.0.1:900$i" --dev --runtime-dir "$RUN" \
		>"$RUN/logs/backend-$i.log" 2>&1 &
	echo $! >"$RUN/backend-$i.pid"
done
for i in 1 2; do
	wait_http "http://127.0.0.1:900$i/health/" 30 ||
		die "backend $i did not become healthy; see .run/logs/backend-$i.log: $(tail -n 1 "$RUN/logs/backend-$i.log" 2>/dev/null)"
done

gwargs=()
[ -n "${GATEWAY_CONFIG:-}" ] && gwargs=(--config "$GATEWAY_CONFIG")
[ -n "${REDIS_URL:-}" ] && export GATEWAY__REDIS__URL="$REDIS_URL"
"$RUN/bin/gateway" "${gwargs[@]}" >"$RUN/logs/gateway-access.log" 2>"$RUN/logs/gateway.log" &
echo $! >"$RUN/gateway.pid"
wait_http "https://localhost:8443/health/" 30 ||
	die "the gateway did not become ready; see .run/logs/gateway.log: $(tail -n 1 "$RUN/logs/gateway.log" 2>/dev/null)"

cat <<EOF

CampsHub360 Edge is running.
  API (HTTPS)    https://localhost:8443/api/v1/
  HTTP           http://localhost:8080/  (redirects to HTTPS)
  Admin          http://127.0.0.1:9090/metrics  /healthz  /readyz
  Backends       http://127.0.0.1:9001  http://127.0.0.1:9002
  Logs           .run/logs/
Try:
  curl -k https://localhost:8443/api/v1/courses?limit=5
  curl -k https://localhost:8443/api/v1/openapi.json

Ctrl-C or 'make stop' stops everything.
EOF

# Stay in the foreground until Ctrl-C/make stop, or until a component dies.
pids=("$(cat "$RUN/backend-1.pid")" "$(cat "$RUN/backend-2.pid")" "$(cat "$RUN/gateway.pid")")
[ -f "$RUN/redis.pid" ] && pids+=("$(cat "$RUN/redis.pid")")
set +e
wait -n "${pids[@]}"
rc=$?
set -e
log "a component exited (status $rc); see .run/logs/"
exit 1
