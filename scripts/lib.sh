# shellcheck shell=bash
# Helpers shared by scripts/run.sh (make run) and scripts/test.sh (make test):
# locating or installing PostgreSQL and Redis, starting private throwaway
# instances on 127.0.0.1, and stopping exactly the processes we started.
#
# Every function prints one clear line and returns non-zero on failure; callers
# run with `set -euo pipefail`.

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG... installs Debian packages when running as root. It tries
# without refreshing the index first (fast on a warm machine) and refreshes
# once when that fails.
apt_install() {
	is_root || return 1
	command -v apt-get >/dev/null 2>&1 || return 1
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# Package scripts must not start system-wide services we did not ask for.
	local policy=/usr/sbin/policy-rc.d created_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
	fi
	local rc=0
	apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; } || rc=$?
	[ -n "$created_policy" ] && rm -f "$policy"
	return $rc
}

# pg_bindir prints the directory holding initdb/pg_ctl/postgres, newest major
# version first, or returns 1.
pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return 0
	fi
	return 1
}

# ensure_pg prints the PostgreSQL bin dir, installing the server with apt when
# missing and root; otherwise it stops with what to install.
ensure_pg() {
	local d
	if d=$(pg_bindir); then echo "$d"; return 0; fi
	if apt_install postgresql && d=$(pg_bindir); then echo "$d"; return 0; fi
	die "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (apt-get install postgresql) or set DATABASE_URL"
}

# ensure_redis prints the path of redis-server, installing it when missing and
# root; returns 1 (after a warning) when it cannot be had.
ensure_redis() {
	local p
	if p=$(command -v redis-server); then echo "$p"; return 0; fi
	if apt_install redis-server && p=$(command -v redis-server); then echo "$p"; return 0; fi
	return 1
}

# port_free PORT succeeds when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a port between 20000 and 60000 that nobody listens on.
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		port_free "$p" && { echo "$p"; return 0; }
	done
	die "no free TCP port found on 127.0.0.1"
}

# as_pg_owner CMD... runs a command as the unprivileged owner of the cluster:
# PostgreSQL refuses to run as root, so root runs it as the postgres user.
as_pg_owner() {
	if is_root; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pg_datadir_for WANTED prints a data directory the cluster owner can write:
# WANTED itself when possible, otherwise a private directory under /var/tmp
# with WANTED made a symlink to it (a checkout under /root is not readable by
# the postgres user).
pg_datadir_for() {
	local wanted=$1
	if [ -L "$wanted" ]; then readlink -f "$wanted"; return 0; fi
	mkdir -p "$wanted"
	if is_root; then
		chown postgres: "$wanted" 2>/dev/null || true
		chmod 700 "$wanted"
		if ! runuser -u postgres -- test -w "$wanted" 2>/dev/null; then
			local alt
			alt="/var/tmp/campshub360-pg-$(printf '%s' "$(readlink -f "$wanted")" | md5sum | cut -c1-12)"
			rmdir "$wanted" 2>/dev/null || true
			mkdir -p "$alt" && chown postgres: "$alt" && chmod 700 "$alt"
			ln -sfn "$alt" "$wanted"
			echo "$alt"
			return 0
		fi
	fi
	readlink -f "$wanted"
}

# pg_start BINDIR DATADIR PORT PASSWORD: initdb when empty (role and database
# "campus", SCRAM on TCP, nothing else), recover from a stale postmaster.pid,
# and start listening on 127.0.0.1:PORT only. Returns when it accepts
# connections.
pg_start() {
	local bin=$1 data=$2 port=$3 password=$4
	if [ ! -f "$data/PG_VERSION" ]; then
		local pwfile
		pwfile=$(mktemp)
		printf '%s\n' "$password" >"$pwfile"
		is_root && chown postgres: "$pwfile"
		as_pg_owner "$bin/initdb" -D "$data" -U campus --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
			--auth-host=scram-sha-256 --auth-local=trust >"$data.initdb.log" 2>&1 ||
			as_pg_owner "$bin/initdb" -D "$data" -U campus --pwfile="$pwfile" -E UTF8 --locale=C \
				--auth-host=scram-sha-256 --auth-local=trust >"$data.initdb.log" 2>&1 ||
			{ rm -f "$pwfile"; die "initdb failed, see $data.initdb.log"; }
		rm -f "$pwfile"
		rm -f "$data.initdb.log"
	fi
	# A killed run can leave postmaster.pid behind. pg_ctl status tells a live
	# server (ours, reuse it) from a stale file (remove it).
	if [ -f "$data/postmaster.pid" ]; then
		if as_pg_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			log "PostgreSQL already running on $data; reusing it"
			return 0
		fi
		rm -f "$data/postmaster.pid"
	fi
	port_free "$port" || die "port $port on 127.0.0.1 is taken; set PG_PORT to a free port or DATABASE_URL to an existing server"
	as_pg_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $data -c max_connections=200 -c shared_buffers=256MB -c fsync=${PG_FSYNC:-on} -c synchronous_commit=${PG_SYNC_COMMIT:-on}" \
		start >/dev/null || die "PostgreSQL did not start, see $data/server.log"
	# The database named after the role.
	as_pg_owner "$bin/psql" -h "$data" -p "$port" -U campus -d postgres -qtAc \
		"SELECT 1 FROM pg_database WHERE datname='campus'" | grep -q 1 ||
		as_pg_owner "$bin/psql" -h "$data" -p "$port" -U campus -d postgres -qc "CREATE DATABASE campus" >/dev/null
}

# pg_stop BINDIR DATADIR stops the cluster if it runs.
pg_stop() {
	local bin=$1 data=$2
	[ -f "$data/postmaster.pid" ] || return 0
	as_pg_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

# redis_start BIN PORT DIR PIDFILE starts a private redis-server bound to
# 127.0.0.1 with persistence off and writes its PID to PIDFILE.
redis_start() {
	local bin=$1 port=$2 dir=$3 pidfile=$4
	port_free "$port" || die "port $port on 127.0.0.1 is taken; set REDIS_PORT to a free port or REDIS_URL to an existing server"
	mkdir -p "$dir"
	"$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
		--logfile "$dir/redis.log" --daemonize no --protected-mode yes >/dev/null 2>&1 &
	echo $! >"$pidfile"
	local i
	for i in $(seq 1 100); do
		port_free "$port" || return 0
		kill -0 "$(cat "$pidfile")" 2>/dev/null || die "redis-server exited, see $dir/redis.log"
		sleep 0.1
	done
	die "redis-server did not listen on 127.0.0.1:$port within 10s"
}

# stop_pidfile FILE [TIMEOUT_S] sends TERM to the PID in FILE, waits for it to
# exit, then KILLs it; the file is removed. Only processes we started have
# PID files.
stop_pidfile() {
	local f=$1 t=${2:-20} pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 $((t * 10))); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# wait_http URL TIMEOUT_S waits until URL answers 2xx (self-signed TLS allowed).
wait_http() {
	local url=$1 t=${2:-30} i
	for i in $(seq 1 $((t * 10))); do
		curl -ksf -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.1
	done
	return 1
}

# random_secret prints 32 random hex characters.
random_secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
