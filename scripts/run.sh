#!/usr/bin/env bash
# make run: the whole stack on this machine, in the foreground.
#
#   PostgreSQL  private cluster in .run/pg on 127.0.0.1:$PG_PORT (55432),
#               unless DATABASE_URL points at an existing server
#   Redis       private redis-server on 127.0.0.1:$REDIS_PORT (56379),
#               unless REDIS_URL is set; the stack also runs without it
#   backend     two instances on 127.0.0.1:9001 and 127.0.0.1:9002
#   gateway     HTTPS 127.0.0.1:8443, HTTP 127.0.0.1:8080 (redirects), admin
#               127.0.0.1:9090: the embedded defaults, which are
#               deploy/config/gateway.dev.yaml (loopback only, no HSTS, text
#               logs); GATEWAY_CONFIG=FILE runs FILE instead
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

# One stack at a time: an exclusive lock on .run/run.lock, held for the
# life of this script (the kernel drops it when the script dies, however it
# dies, so a stale PID file can never block or misdirect a later run).
exec 9>"$RUN/run.lock"
if ! flock -n 9; then
	die "the stack is already running (pid $(cat "$RUN/run.pid" 2>/dev/null || echo '?')); stop it with 'make stop' first"
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
# Ctrl-C and `make stop` are how a user ends the stack: not a failure.
trap 'exit 0' INT TERM

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
	# Children must not inherit the run lock (fd 9), or a server outliving a
	# killed run script would keep the lock held.
	pg_start "$pgbin" "$data" "$pgport" "$(cat "$RUN/pg.password")" 9>&-
	started_pg=1
	export DATABASE_URL="postgres://campus:$(cat "$RUN/pg.password")@127.0.0.1:$pgport/campus?sslmode=disable"
	log "PostgreSQL on 127.0.0.1:$pgport (data in .run/pg)"
else
	log "using PostgreSQL from DATABASE_URL"
fi

if [ -z "${REDIS_URL:-}" ]; then
	if redisbin=$(ensure_redis); then
		redisport=${REDIS_PORT:-56379}
		redis_start "$redisbin" "$redisport" "$RUN/redis" "$RUN/redis.pid" 9>&-
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
# Development secrets (the keyrings sealing personal data and the token
# signing keys) live in .run/secrets, generated on first use; the seed's
# dates of birth are sealed with them.
"$RUN/bin/backend" keys rotate-pii --dev --runtime-dir "$RUN" >/dev/null
# Demo accounts, one per role plus faculty and students with real sections,
# each with a fresh random password.
(umask 077 && "$RUN/bin/backend" accounts demo --dev --out "$RUN/demo-accounts.json" >"$RUN/logs/demo-accounts.txt")

# start_backend N starts backend instance N on 127.0.0.1:900N, appending
# to its log. It drains for 1s on stop (not the production 5s), so that
# Ctrl-C and `make stop` stay quick.
start_backend() {
	SHUTDOWN_DRAIN_DELAY="${SHUTDOWN_DRAIN_DELAY:-1s}" \
		"$RUN/bin/backend" serve --listen "127.0.0.1:900$1" --dev --runtime-dir "$RUN" \
		>>"$RUN/logs/backend-$1.log" 2>&1 9>&- &
	echo $! >"$RUN/backend-$1.pid"
}
# start_gateway starts the gateway, appending to its logs.
start_gateway() {
	"$RUN/bin/gateway" "${gwargs[@]}" >>"$RUN/logs/gateway-access.log" 2>>"$RUN/logs/gateway.log" 9>&- &
	echo $! >"$RUN/gateway.pid"
}

for i in 1 2; do
	start_backend "$i"
done
for i in 1 2; do
	wait_http "http://127.0.0.1:900$i/health/" 30 ||
		die "backend $i did not become healthy; see .run/logs/backend-$i.log: $(tail -n 1 "$RUN/logs/backend-$i.log" 2>/dev/null)"
done

gwargs=()
[ -n "${GATEWAY_CONFIG:-}" ] && gwargs=(--config "$GATEWAY_CONFIG")
[ -n "${REDIS_URL:-}" ] && export GATEWAY__REDIS__URL="$REDIS_URL"
start_gateway
wait_http "https://localhost:8443/health/" 30 ||
	die "the gateway did not become ready; see .run/logs/gateway.log: $(tail -n 1 "$RUN/logs/gateway.log" 2>/dev/null)"

registrar=$(grep -o '"registrar@[^"]*": "[^"]*"' "$RUN/demo-accounts.json" | head -n 1)
reg_email=$(printf '%s' "$registrar" | cut -d'"' -f2)
reg_password=$(printf '%s' "$registrar" | cut -d'"' -f4)

cat <<EOF

CampsHub360 Edge is running.
  API (HTTPS)    https://localhost:8443/api/v1/
  HTTP           http://localhost:8080/  (redirects to HTTPS)
  Admin          http://127.0.0.1:9090/metrics  /healthz  /readyz
  Backends       http://127.0.0.1:9001  http://127.0.0.1:9002
  Logs           .run/logs/
  Demo accounts  .run/demo-accounts.json (e-mail -> password, new passwords every run)

$(cat "$RUN/logs/demo-accounts.txt")

Try (sign in, then call the API with the access token):
  TOKEN=\$(curl -sk https://localhost:8443/api/v1/auth/login -H 'Content-Type: application/json' \\
    -d '{"username":"$reg_email","password":"$reg_password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')
  curl -k -H "Authorization: Bearer \$TOKEN" 'https://localhost:8443/api/v1/students?limit=5'

Public, no token needed:
  curl -k 'https://localhost:8443/api/v1/courses?limit=5'
  curl -k https://localhost:8443/api/v1/openapi.json

Ctrl-C or 'make stop' stops everything.
EOF

# Stay in the foreground until Ctrl-C or `make stop`, supervising the
# components: one that dies is logged and restarted (at most 5 times in 5
# minutes each), so losing a backend is what it is in production, one
# instance fewer for a moment, not the end of the stack.
declare -A restarts
supervise() {
	local name=$1 pidfile=$2 starter=$3 now pid
	pid=$(cat "$pidfile" 2>/dev/null || true)
	{ [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } && return 0
	now=$(date +%s)
	local history="${restarts[$name]:-}" recent=() t
	for t in $history; do [ $((now - t)) -lt 300 ] && recent+=("$t"); done
	if [ ${#recent[@]} -ge 5 ]; then
		die "$name keeps dying (5 restarts in 5 minutes); see .run/logs/"
	fi
	recent+=("$now")
	restarts[$name]="${recent[*]}"
	log "$name (pid ${pid:-?}) exited; restarting it (see .run/logs/)"
	$starter
}
while true; do
	sleep 1 9>&- &
	wait $! || true
	supervise backend-1 "$RUN/backend-1.pid" "start_backend 1"
	supervise backend-2 "$RUN/backend-2.pid" "start_backend 2"
	supervise gateway "$RUN/gateway.pid" start_gateway
	if [ -f "$RUN/redis.pid" ] && ! kill -0 "$(cat "$RUN/redis.pid")" 2>/dev/null; then
		rm -f "$RUN/redis.pid"
		log "warning: redis-server exited; the stack goes on without Redis (see .run/redis/redis.log)"
	fi
done
