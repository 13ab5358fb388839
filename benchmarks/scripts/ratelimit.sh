#!/usr/bin/env bash
# Rate-limit overhead, in one run on this machine: gateway throughput with
# no rate limit, with a never-rejecting per-IP policy (local token buckets),
# and nginx with a never-rejecting limit_req, all proxying to the same
# origin over TLS. Targets run interleaved (A B C A B C ...) by
# `loadgen compare`; it prints a RESULTS.md section (medians and ratios to
# the gateway without a limit) on stdout.
#
#   benchmarks/scripts/ratelimit.sh                 # 3 rounds of 4 s per target
#   ROUNDS=5 DURATION=6s benchmarks/scripts/ratelimit.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=benchmarks/scripts/lib.sh
. benchmarks/scripts/lib.sh

command -v nginx >/dev/null 2>&1 || apt_install nginx || die "nginx not found: install it (apt-get install nginx)"
nginx_bin=$(command -v nginx)

tmp=$(mktemp -d /tmp/campshub360-ratelimit-bench.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -f "$tmp/nginx/nginx.pid" ] && kill -QUIT "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
	sleep 0.2
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT

log "building gateway and loadgen"
go build -o "$tmp/bin/" ./gateway/cmd/gateway ./benchmarks/cmd/loadgen

origin=$(free_port)
nginx_tls=$(free_port)
gw_plain=$(free_port)
gw_limited=$(free_port)

# gateway_config FILE PORT RUNTIME_DIR RATE_LIMITS: one gateway on PORT
# proxying everything to the origin; RATE_LIMITS is the route's policy list.
gateway_config() {
	cat >"$1" <<CONF
runtime_dir: $3
log: {level: warn, format: json, access: {enabled: false}}
listen: {https: "127.0.0.1:$2", http: "", admin: ""}
upstreams:
  - name: origin
    instances: [{addr: "127.0.0.1:$origin"}]
ratelimit:
  policies:
    - {name: per-ip, rate: 1000000/s, burst: 1000000, key: ip, scope: local}
routes:
  - {name: all, path_prefix: /, upstream: origin, rate_limits: $4}
CONF
}
mkdir -p "$tmp/rt" "$tmp/nginx"
gateway_config "$tmp/plain.yaml" "$gw_plain" "$tmp/rt" "[]"
gateway_config "$tmp/limited.yaml" "$gw_limited" "$tmp/rt" "[per-ip]"

"$tmp/bin/gateway" --config "$tmp/plain.yaml" >/dev/null 2>"$tmp/plain.log" &
pids+=($!)
# The first gateway writes the self-signed certificate nginx also uses.
for _ in $(seq 1 100); do [ -f "$tmp/rt/tls/localhost.key" ] && break; sleep 0.1; done
[ -f "$tmp/rt/tls/localhost.key" ] || die "gateway did not start: $(cat "$tmp/plain.log")"
"$tmp/bin/gateway" --config "$tmp/limited.yaml" >/dev/null 2>"$tmp/limited.log" &
pids+=($!)

sed -e "s|__PREFIX__|$tmp/nginx|g" -e "s|__ORIGIN_PORT__|$origin|g" -e "s|__TLS_PORT__|$nginx_tls|g" \
	-e "s|__CERT__|$tmp/rt/tls/localhost.crt|g" -e "s|__KEY__|$tmp/rt/tls/localhost.key|g" \
	deploy/nginx/ratelimit-bench.conf >"$tmp/nginx.conf"
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" || die "nginx did not start"

for url in "https://127.0.0.1:$gw_plain/health/" "https://127.0.0.1:$gw_limited/health/" "https://127.0.0.1:$nginx_tls/health/"; do
	wait_http "$url" 20 || die "$url does not answer"
done
curl -ksi "https://127.0.0.1:$gw_limited/health/" | grep -i '^ratelimit' >&2 || die "the limited gateway sends no RateLimit fields"

log "loadgen compare: ${ROUNDS:-3} rounds of ${DURATION:-4s} per target"
section_head "Rate limiting: the gateway without and with a policy vs nginx limit_req" "ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-4s} benchmarks/scripts/ratelimit.sh"
cat <<TEXT
Closed loop, 16 keep-alive TLS connections, GET /health/ on a route with a policy (\`benchmarks/scripts/ratelimit.yaml\`),
proxied to the same nginx origin: the gateway without a policy, the gateway with a per-IP local token bucket that never
rejects (1,000,000/s), and nginx $("$nginx_bin" -v 2>&1 | cut -d/ -f2) with a never-rejecting \`limit_req\`
(\`deploy/nginx/ratelimit-bench.conf\`). Targets interleaved, ${ROUNDS:-3} rounds of ${DURATION:-4s}, medians and ratios to
the gateway without a policy. The limiter's own cost per request is in the micro-benchmarks section.

TEXT
"$tmp/bin/loadgen" compare --scenario benchmarks/scripts/ratelimit.yaml --insecure --quiet \
	--rounds "${ROUNDS:-3}" --duration "${DURATION:-4s}" --reference gateway \
	--target "gateway=https://127.0.0.1:$gw_plain" \
	--target "gateway+ratelimit=https://127.0.0.1:$gw_limited" \
	--target "nginx+limit_req=https://127.0.0.1:$nginx_tls" \
	--md -
