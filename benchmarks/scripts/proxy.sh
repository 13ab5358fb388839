#!/usr/bin/env bash
# proxy.sh: the gateway's proxy core against nginx, in the same run,
# proxying a 2 KB JSON GET over TLS to one upstream (benchmarks/cmd/origin)
# on 127.0.0.1. nginx is installed with apt when missing (as root) and runs
# deploy/nginx/edge.conf, the gateway an equivalent configuration with its
# defaults. loadgen compare runs the targets in turn (A B A B ...); the
# script prints a RESULTS.md section (medians, ratios to nginx) on stdout.
#
#   benchmarks/scripts/proxy.sh > benchmarks/results/proxy.md    (make bench-compare does this)
#
# Environment:
#   ROUNDS=3          runs per target
#   DURATION=5s       length of each run
#   CONNECTIONS=32    closed-loop concurrency (same for both)
#   PIN=1             pin the proxy under test to CPU 1 and the load
#                     generator and origin to CPU 0 (needs taskset and 2+
#                     CPUs); PIN=0 lets the scheduler place everything
#   OUT=DIR           also keep the JSON report (every run) there
#
# Everything binds free ports on 127.0.0.1 and is stopped at the end (by
# PID), also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=benchmarks/scripts/lib.sh
. benchmarks/scripts/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
PIN=${PIN:-1}

command -v nginx >/dev/null 2>&1 || apt_install nginx || die "nginx not found: install it (apt-get install nginx)"
command -v curl >/dev/null 2>&1 || apt_install curl || die "curl not found: install it (apt-get install curl)"
nginx_bin=$(command -v nginx)

tmp=$(mktemp -d /tmp/campshub360-proxybench.XXXXXX)
OUT=${OUT:-$tmp/report}
mkdir -p "$OUT" "$tmp/bin" "$tmp/nginx" "$tmp/gw"
cleanup() {
	local rc=$?
	stop_pidfile "$tmp/gateway.pid" 10
	stop_pidfile "$tmp/nginx/nginx.pid" 10
	stop_pidfile "$tmp/origin.pid" 5
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ncpu=$(nproc)
proxy_cpu=() load_cpu=()
if [ "$PIN" = 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	proxy_cpu=(taskset -c 1)
	load_cpu=(taskset -c 0)
	workers=1
else
	PIN=0
	workers=$ncpu
fi

log "building gateway, origin and loadgen"
go build -o "$tmp/bin/" ./gateway/cmd/gateway ./benchmarks/cmd/origin ./benchmarks/cmd/loadgen

origin_port=$(free_port)
gw_port=$(free_port)
ng_port=$(free_port)
while [ "$ng_port" = "$gw_port" ] || [ "$ng_port" = "$origin_port" ] || [ "$gw_port" = "$origin_port" ]; do
	ng_port=$(free_port)
done

"${load_cpu[@]}" "$tmp/bin/origin" --listen "127.0.0.1:$origin_port" --size 2048 >"$tmp/origin.log" 2>&1 &
echo $! >"$tmp/origin.pid"

cat >"$tmp/gw/gateway.yaml" <<YAML
runtime_dir: $tmp/gw
log: {level: warn, access: {enabled: true, sample_2xx: 1}}
listen: {https: "127.0.0.1:$gw_port", http: "", admin: ""}
server: {drain_delay: 0s}
upstreams:
  - name: campus
    instances: [{addr: "127.0.0.1:$origin_port"}]
routes:
  - {name: api, path_prefix: /api/, upstream: campus}
YAML
GOMAXPROCS=$workers "${proxy_cpu[@]}" "$tmp/bin/gateway" --config "$tmp/gw/gateway.yaml" \
	>"$tmp/gw/access.log" 2>"$tmp/gw/gateway.log" &
echo $! >"$tmp/gateway.pid"
wait_http "https://127.0.0.1:$gw_port/api/v1/students" 30 || die "gateway not ready: $(tail -n 3 "$tmp/gw/gateway.log")"

# nginx serves the gateway's own self-signed certificate.
sed -e "s#@PREFIX@#$tmp/nginx#g" -e "s#@WORKERS@#$workers#g" -e "s#@UPSTREAM@#127.0.0.1:$origin_port#g" \
	-e "s#@LISTEN@#127.0.0.1:$ng_port#g" -e "s#@CERT@#$tmp/gw/tls/localhost.crt#g" -e "s#@KEY@#$tmp/gw/tls/localhost.key#g" \
	deploy/nginx/edge.conf >"$tmp/nginx/nginx.conf"
if [ "$(id -u)" = 0 ]; then
	sed -i "1i user root;" "$tmp/nginx/nginx.conf"
fi
"${proxy_cpu[@]}" "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' 2>"$tmp/nginx/stderr.log" &
echo $! >"$tmp/nginx/nginx.pid"
wait_http "https://127.0.0.1:$ng_port/api/v1/students" 30 || die "nginx not ready: $(cat "$tmp/nginx/stderr.log" "$tmp/nginx/error.log" 2>/dev/null | tail -n 3)"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
busiest=$(ps -eo pcpu=,comm= --sort=-pcpu | head -n 5 | awk '{printf "%s%s %s%%", (NR>1?", ":""), $2, $1}')
"${load_cpu[@]}" "$tmp/bin/loadgen" compare --scenario benchmarks/scripts/proxy-2kb.yaml \
	--target "gateway=https://127.0.0.1:$gw_port" --target "nginx=https://127.0.0.1:$ng_port" \
	--reference nginx --rounds "$ROUNDS" --duration "$DURATION" --connections "$CONNECTIONS" \
	--insecure --quiet --json "$OUT/compare.json" --md "$tmp/compare.md" >/dev/null

section_head "Gateway proxy core vs nginx" "PIN=$PIN ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS benchmarks/scripts/proxy.sh"
cat <<EOF2
A 2 KB JSON GET (\`benchmarks/scripts/proxy-2kb.yaml\`), closed loop on $CONNECTIONS keep-alive TLS connections, through the
gateway (its defaults: TLS, security headers, request ids, access log, P2C, passive health) and through nginx
$("$nginx_bin" -v 2>&1 | cut -d/ -f2) (\`deploy/nginx/edge.conf\`: the same TLS policy, timeouts, forwarding and security headers,
a buffered access log, keep-alive upstream connections), both in front of one \`benchmarks/cmd/origin\` on 127.0.0.1.
Targets interleaved, $ROUNDS rounds of $DURATION, medians and ratios to nginx.
EOF2
if [ "$PIN" = 1 ]; then
	echo "Pinning: the proxy under test on CPU 1 (nginx 1 worker, gateway GOMAXPROCS=1); the load generator and the origin on CPU 0."
else
	echo "Pinning: none ($workers nginx workers, gateway GOMAXPROCS=$workers); the load generator and the origin compete for the same CPUs."
fi
echo "Load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg); busiest processes before: $busiest."
echo
cat "$tmp/compare.md"
