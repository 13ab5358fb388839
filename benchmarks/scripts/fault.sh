#!/usr/bin/env bash
# Fault benchmark: error rate and p99 latency while one of three backend
# instances is killed (SIGKILL) and restarted under steady load, for the
# gateway and for nginx (max_fails + proxy_next_upstream) in the same run,
# against the same three upstream processes.
#
#   benchmarks/scripts/fault.sh [RATE] [DURATION_S]      default 300 requests/s for 12 s
#
# Per target: open-loop GET load (benchmarks/cmd/loadgen) over TLS; at 3 s
# instance b is killed, at 7 s restarted on the same port. Prints a
# RESULTS.md section on stdout (make bench-compare keeps it in
# benchmarks/results/fault.md); raw loadgen JSON stays in the temporary
# directory logged at the start (removed at exit unless KEEP=1).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=benchmarks/scripts/lib.sh
. benchmarks/scripts/lib.sh

rate=${1:-300}
duration=${2:-12}
command -v nginx >/dev/null 2>&1 || apt_install nginx || die "nginx not found: install it (apt-get install nginx)"
nginx_bin=$(command -v nginx)

tmp=$(mktemp -d /tmp/campshub360-fault.XXXXXX)
log "working in $tmp"
pids=()
cleanup() {
	local rc=$?
	# nginx first, by its master's PID, so that its workers exit with it.
	stop_pidfile "$tmp/nginx.pid" 5
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

log "building gateway, upstream and loadgen"
go build -o "$tmp/" ./gateway/cmd/gateway ./benchmarks/cmd/loadgen
go build -o "$tmp/upstream" ./gateway/internal/faulttest/upstream

# start_upstream NAME ADDR: one instance; its PID goes to $tmp/NAME.pid.
start_upstream() {
	"$tmp/upstream" -listen "$2" -name "$1" >/dev/null 2>&1 &
	echo $! >"$tmp/$1.pid"
	pids+=($!)
	disown $! # no "Killed" notice when the benchmark kills it
	local i
	for i in $(seq 1 100); do
		port_free "${2##*:}" || return 0
		sleep 0.05
	done
	die "upstream $1 did not listen on $2"
}
declare -A addr
for n in a b c; do
	addr[$n]="127.0.0.1:$(free_port)"
	start_upstream "$n" "${addr[$n]}"
done

gw_port=$(free_port)
admin_port=$(free_port)
cat >"$tmp/gateway.yaml" <<YAML
runtime_dir: $tmp/run
log: {level: error, access: {enabled: false}}
listen: {https: "127.0.0.1:$gw_port", http: "", admin: "127.0.0.1:$admin_port"}
server: {drain_delay: 0s}
upstreams:
  - name: campus
    balancer: p2c
    dial_timeout: 2s
    health_check: {path: /health/, interval: 1s, unhealthy_interval: 500ms, timeout: 500ms, rise: 2, fall: 2}
    passive: {consecutive_errors: 3}
    instances: [{addr: "${addr[a]}"}, {addr: "${addr[b]}"}, {addr: "${addr[c]}"}]
routes:
  - {name: api, path_prefix: /api/, upstream: campus, timeout: 30s}
YAML
"$tmp/gateway" --config "$tmp/gateway.yaml" >/dev/null 2>"$tmp/gateway.log" &
disown $! # stopped with SIGKILL at the end: no "Killed" notice
pids+=($!)
wait_http "http://127.0.0.1:$admin_port/readyz" 20 || die "gateway did not start, see $tmp/gateway.log"

ng_port=$(free_port)
sed -e "s|@DIR@|$tmp|g" -e "s|@A@|${addr[a]}|" -e "s|@B@|${addr[b]}|" -e "s|@C@|${addr[c]}|" \
	-e "s|@PORT@|$ng_port|" -e "s|@CERT@|$tmp/run/tls/localhost.crt|" -e "s|@KEY@|$tmp/run/tls/localhost.key|" \
	deploy/nginx/fault-bench.conf >"$tmp/nginx.conf"
"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" -g 'daemon off;' 2>"$tmp/nginx-start.log" &
for i in $(seq 1 100); do port_free "$ng_port" || break; sleep 0.05; done
port_free "$ng_port" && die "nginx did not start, see $tmp/nginx-start.log"

# run NAME PORT: load the target while b is killed and restarted.
run() {
	local name=$1 port=$2
	log "$name: $rate req/s for ${duration}s; b killed at 3s, restarted at 7s"
	"$tmp/loadgen" url --rate "$rate" --duration "${duration}s" --connections 64 --insecure --quiet \
		--json "$tmp/$name.json" "https://127.0.0.1:$port/api/v1/students" >/dev/null &
	local lg=$!
	sleep 3
	kill -KILL "$(cat "$tmp/b.pid")"
	sleep 4
	start_upstream b "${addr[b]}"
	wait "$lg" || true
	sleep 6 # let both proxies see b healthy again before the next run
}
field() { grep -o "\"$2\": *[0-9.e+-]*" "$tmp/$1.json" | head -1 | sed 's/.*: *//'; }

run gateway "$gw_port"
run nginx "$ng_port"

section_head "Fault: one of three upstreams killed and restarted under load" "benchmarks/scripts/fault.sh $rate $duration"
cat <<TEXT
Three \`gateway/internal/faulttest/upstream\` processes on 127.0.0.1; open-loop GETs at $rate requests/s for ${duration} s over
TLS (\`loadgen url --rate $rate --connections 64\`); instance b is SIGKILLed at 3 s and restarted on the same port at 7 s;
first through the gateway (P2C, active checks every 1 s / 500 ms while unhealthy, rise/fall 2,
\`passive.consecutive_errors: 3\`), then through nginx $("$nginx_bin" -v 2>&1 | cut -d/ -f2) (\`deploy/nginx/fault-bench.conf\`:
\`max_fails=1 fail_timeout=5s\`, \`proxy_next_upstream error timeout http_502 http_503 http_504\`, keep-alive upstream
connections), against the same three processes. Both retry idempotent requests on another instance; unsafe requests are
covered by \`TestKillOneOfThreeUnderLoad\` instead (no POST reaches two instances).
TEXT
printf '\n| target | requests | errors | error rate | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|\n'
for t in gateway nginx; do
	awk -v t="$t" -v n="$(field "$t" requests)" -v e="$(field "$t" errors)" -v r="$(field "$t" error_rate)" \
		-v p50="$(field "$t" p50_us)" -v p99="$(field "$t" p99_us)" -v mx="$(field "$t" max_us)" \
		'BEGIN { printf "| %s | %d | %d | %.4f%% | %.2f | %.2f | %.2f |\n", t, n, e, r*100, p50/1000, p99/1000, mx/1000 }'
done
