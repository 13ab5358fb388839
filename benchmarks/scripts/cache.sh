#!/usr/bin/env bash
# Cache-hit throughput of the gateway against nginx proxy_cache (tmpfs), the
# origin served directly, and a constant 2 KB fasthttp server (the ceiling),
# in one run, at one concurrency, all over TLS on 127.0.0.1:
#
#   benchmarks/scripts/cache.sh [ROUNDS] [DURATION] [CONNECTIONS]   (default 3 5s 32)
#
# The load generator runs on the same machine and competes with the server
# for CPU. SERVER_CPUS=0 pins every server to CPU 0 with one core's worth
# of workers (GOMAXPROCS=1, nginx worker_processes 1) and loadgen to
# CLIENT_CPUS (default: the other CPUs); by default nothing is pinned and
# every server may use every core.
#
# It builds the gateway, loadgen and benchsrv, installs nginx with apt when
# missing (root), starts every server on free loopback ports, checks that
# the gateway and nginx answer from their caches, runs `loadgen compare`
# (targets interleaved A B C D A B C D ...) and prints a RESULTS.md section
# with each target's median throughput and its ratio to nginx. Everything it
# started is stopped at the end, also on failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=benchmarks/scripts/lib.sh
. benchmarks/scripts/lib.sh

rounds=${1:-3}
duration=${2:-5s}
conns=${3:-32}
ncpu=$(nproc)
server_cpus=${SERVER_CPUS:-}
client_cpus=${CLIENT_CPUS-1-$((ncpu - 1))}
server_pin=() client_pin=() workers=auto
if [ -n "$server_cpus" ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	server_pin=(taskset -c "$server_cpus")
	client_pin=(taskset -c "$client_cpus")
	workers=$(( $(tr ',' '\n' <<<"$server_cpus" | wc -l) ))
	export GOMAXPROCS=$workers
fi

command -v nginx >/dev/null 2>&1 || apt_install nginx || die "nginx not found: install it (apt-get install nginx)"
command -v openssl >/dev/null 2>&1 || apt_install openssl || die "openssl not found"
nginx_bin=$(command -v nginx)

tmp=$(mktemp -d /tmp/campshub360-cachebench.XXXXXX)
cachedir=$(mktemp -d /dev/shm/campshub360-nginx-cache.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp" "$cachedir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building gateway, loadgen, benchsrv"
go build -o "$tmp/bin/" ./gateway/cmd/gateway ./benchmarks/cmd/loadgen ./benchmarks/cmd/benchsrv

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1

p_origin=$(free_port); p_direct=$(free_port); p_const=$(free_port); p_nginx=$(free_port); p_gw=$(free_port); p_admin=$(free_port)

start() { # name cmd...
	local name=$1; shift
	"${server_pin[@]}" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}
start origin "$tmp/bin/benchsrv" --listen "127.0.0.1:$p_origin" --mode origin
start direct "$tmp/bin/benchsrv" --listen "127.0.0.1:$p_direct" --mode origin --cert "$tmp/cert.pem" --key "$tmp/key.pem"
start constant "$tmp/bin/benchsrv" --listen "127.0.0.1:$p_const" --mode constant --cert "$tmp/cert.pem" --key "$tmp/key.pem"

mkdir -p "$tmp/nginx"
sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@CACHE_DIR@|$cachedir|g" -e "s|@ORIGIN@|127.0.0.1:$p_origin|g" \
	-e "s|@LISTEN@|127.0.0.1:$p_nginx|g" -e "s|@CERT@|$tmp/cert.pem|g" -e "s|@KEY@|$tmp/key.pem|g" \
	-e "s|@WORKERS@|$workers|g" deploy/nginx/cache-bench.conf >"$tmp/nginx/nginx.conf"
start nginx "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"

cat >"$tmp/gateway.yaml" <<YAML
runtime_dir: $tmp/gw
log: {level: warn, format: json, access: {enabled: false}}
listen: {https: "127.0.0.1:$p_gw", http: "", admin: "127.0.0.1:$p_admin"}
tls: {certificates: [{cert_file: $tmp/cert.pem, key_file: $tmp/key.pem}]}
server: {drain_delay: 0s}
upstreams: [{name: origin, instances: [{addr: "127.0.0.1:$p_origin"}]}]
routes: [{name: api, path_prefix: /api/, upstream: origin, cache: {enabled: true}}]
YAML
start gateway "$tmp/bin/gateway" --config "$tmp/gateway.yaml"

path=/api/v1/sections/42/roster?limit=50
wait_up() { # url
	for _ in $(seq 1 100); do
		curl -ks -o /dev/null "$1" && return 0
		sleep 0.1
	done
	die "$1 did not come up (logs in $tmp)"
}
for u in "https://127.0.0.1:$p_direct$path" "https://127.0.0.1:$p_const$path" "https://127.0.0.1:$p_nginx$path" "https://127.0.0.1:$p_gw$path"; do
	wait_up "$u"
done
# Warm both caches and check that they serve hits.
for _ in 1 2 3; do
	curl -ks -o /dev/null "https://127.0.0.1:$p_nginx$path"
	curl -ks -o /dev/null "https://127.0.0.1:$p_gw$path"
done
curl -ksD - -o /dev/null "https://127.0.0.1:$p_nginx$path" | grep -qi '^x-cache-status: HIT' || die "nginx does not serve hits"
curl -ksD - -o /dev/null "https://127.0.0.1:$p_gw$path" | grep -qi '^cache-status: campshub360; hit' || die "the gateway does not serve hits"

if [ ${#server_pin[@]} -gt 0 ]; then pinning="servers on CPUs $server_cpus ($workers workers), loadgen on CPUs $client_cpus"; else pinning="unpinned"; fi
log "comparing: $rounds rounds of $duration per target, $conns connections, closed loop, TLS, $ncpu CPUs, $pinning"
section_head "Edge cache hits vs nginx proxy_cache, the origin and a constant server" "SERVER_CPUS=${SERVER_CPUS:-} benchmarks/scripts/cache.sh $rounds $duration $conns"
cat <<TEXT
All over TLS 1.3 with one ECDSA P-256 certificate on 127.0.0.1: the origin (\`benchsrv --mode origin\`: encodes a 2 KB
JSON roster per request, \`Cache-Control: public, max-age=3600\`), the gateway caching the route in front of it, nginx
$("$nginx_bin" -v 2>&1 | cut -d/ -f2) with \`proxy_cache\` on tmpfs (\`deploy/nginx/cache-bench.conf\`, keep-alive to the origin, no access
log) in front of the same origin, the origin served directly, and a constant fasthttp server writing a precomputed 2 KB
body (the ceiling). Both caches are checked to answer hits first. Closed loop on $conns connections
(\`benchmarks/scripts/cache-hit.yaml\`), targets interleaved, $rounds rounds of $duration, medians and ratios to nginx; $pinning.

TEXT
GOMAXPROCS= "${client_pin[@]}" "$tmp/bin/loadgen" compare --scenario benchmarks/scripts/cache-hit.yaml --insecure --quiet \
	--rounds "$rounds" --duration "$duration" --connections "$conns" --reference nginx \
	--target "gateway=https://127.0.0.1:$p_gw" --target "nginx=https://127.0.0.1:$p_nginx" \
	--target "constant=https://127.0.0.1:$p_const" --target "origin=https://127.0.0.1:$p_direct" \
	--md -
