#!/usr/bin/env bash
# make stop: stop a stack started by `make run` (from another shell), by PID.
# If the run script itself is gone (killed), stop what it left behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
RUN="$root/.run"

# The run script holds .run/run.lock for its whole life; only then is the
# PID in run.pid believed (and only if that process is the run script).
running_pid() {
	[ -f "$RUN/run.lock" ] || return 1
	flock -n "$RUN/run.lock" true 2>/dev/null && return 1
	local pid
	pid=$(cat "$RUN/run.pid" 2>/dev/null) || return 1
	grep -qa "scripts/run.sh" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

if pid=$(running_pid); then
	log "stopping the stack (pid $pid)"
	kill -TERM "$pid"
	for _ in $(seq 1 600); do
		kill -0 "$pid" 2>/dev/null || { log "stopped"; exit 0; }
		sleep 0.1
	done
	die "the stack (pid $pid) did not stop within 60s"
fi

# No live run script: clean up after a killed one.
found=
for f in "$RUN"/gateway.pid "$RUN"/backend-*.pid "$RUN/redis.pid"; do
	[ -f "$f" ] || continue
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa -e "$RUN/bin" -e redis-server "/proc/$pid/cmdline" 2>/dev/null; then
		log "stopping leftover $(basename "$f" .pid) (pid $pid)"
		stop_pidfile "$f" 20
		found=1
	fi
	rm -f "$f"
done
if [ -f "$RUN/pg/postmaster.pid" ] && pgbin=$(pg_bindir); then
	log "stopping leftover PostgreSQL in .run/pg"
	pg_stop "$pgbin" "$RUN/pg"
	found=1
fi
rm -f "$RUN/run.pid"
[ -n "$found" ] || log "nothing is running"
