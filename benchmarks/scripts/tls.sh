#!/usr/bin/env bash
# TLS termination benchmark: the gateway against nginx, same machine, same
# run, same certificate (ECDSA P-256), same protocol policy (TLS 1.2/1.3,
# ECDHE + AEAD suites, X25519/P-256, ALPN http/1.1), same security headers,
# both proxying to the same plain-HTTP upstream over keep-alive.
#
#   benchmarks/scripts/tls.sh > benchmarks/results/tls.md   # a RESULTS.md section (make bench-compare)
#   ROUNDS=5 DURATION=5s benchmarks/scripts/tls.sh
#
# Measures (targets in turn, A B A B ..., medians, ratios to nginx):
#   1. full TLS handshakes per second (no resumption), TLS 1.3 and TLS 1.2
#      (benchmarks/cmd/tlshandshake);
#   2. HTTPS keep-alive throughput, closed loop on 16 connections
#      (loadgen compare with benchmarks/scripts/tls-keepalive.yaml);
#   3. token verification at the edge (Go benchmarks of gateway/internal/authn).
# Everything binds 127.0.0.1 on free ports and is stopped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=benchmarks/scripts/lib.sh
. benchmarks/scripts/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
WORKERS=${WORKERS:-4}

command -v nginx >/dev/null 2>&1 || apt_install nginx || die "nginx not found: install it (apt-get install nginx)"
command -v openssl >/dev/null 2>&1 || apt_install openssl || die "openssl not found: install it (apt-get install openssl)"
command -v curl >/dev/null 2>&1 || apt_install curl || die "curl not found: install it (apt-get install curl)"

run=$(mktemp -d /tmp/campshub360-tlsbench.XXXXXX)
chmod 755 "$run"
cleanup() {
	local rc=$?
	stop_pidfile "$run/gateway.pid" 10
	stop_pidfile "$run/nginx.pid.main" 10
	rm -rf "$run"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building"
go build -o "$run/bin/" ./gateway/cmd/gateway ./benchmarks/cmd/loadgen ./benchmarks/cmd/tlshandshake

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$run/bench.key" -out "$run/bench.crt" >/dev/null 2>&1
chmod 644 "$run/bench.key" "$run/bench.crt"

up_port=$(free_port)
ngx_port=$(free_port)
gw_port=$(free_port)
while [ "$ngx_port" = "$up_port" ]; do ngx_port=$(free_port); done
while [ "$gw_port" = "$up_port" ] || [ "$gw_port" = "$ngx_port" ]; do gw_port=$(free_port); done

sed -e "s|@RUN@|$run|g" -e "s|@NGINX_PORT@|$ngx_port|g" -e "s|@UPSTREAM_PORT@|$up_port|g" \
	-e "s|@CERT@|$run/bench.crt|g" -e "s|@KEY@|$run/bench.key|g" deploy/nginx/tls-bench.conf >"$run/nginx.conf"
nginx -p "$run" -c "$run/nginx.conf" >"$run/nginx.out" 2>&1 &
echo $! >"$run/nginx.pid.main"

cat >"$run/gateway.yaml" <<YAML
runtime_dir: $run
log: {level: warn, access: {enabled: false}}
listen: {https: "127.0.0.1:$gw_port", http: "", admin: ""}
tls:
  certificates: [{name: bench, cert_file: $run/bench.crt, key_file: $run/bench.key}]
  watch: false
upstreams:
  - name: bench
    instances: [{addr: "127.0.0.1:$up_port"}]
routes:
  - {name: health, path_prefix: /health/, upstream: bench}
YAML
GOMAXPROCS=2 "$run/bin/gateway" --config "$run/gateway.yaml" >"$run/gateway.out" 2>&1 &
echo $! >"$run/gateway.pid"

wait_http "https://127.0.0.1:$ngx_port/health/" 20 || die "nginx did not start: $(tail -n 3 "$run/nginx-error.log" "$run/nginx.out" 2>/dev/null)"
wait_http "https://127.0.0.1:$gw_port/health/" 20 || die "the gateway did not start: $(tail -n 3 "$run/gateway.out")"

nginx_v=$(nginx -v 2>&1 | sed 's/.*nginx\///')
section_head "Edge TLS termination and token verification vs nginx" "ROUNDS=$ROUNDS DURATION=$DURATION WORKERS=$WORKERS benchmarks/scripts/tls.sh"
echo "The gateway and nginx $nginx_v with the same ECDSA P-256 certificate, suites and groups (\`deploy/nginx/tls-bench.conf\`),"
echo "nginx 2 workers, gateway GOMAXPROCS=2, both proxying to one nginx upstream; client and servers share the machine."
echo "Targets interleaved, $ROUNDS rounds of $DURATION, medians."
echo
echo "Full handshakes per second, TLS 1.3 (X25519, no resumption):"
echo
"$run/bin/tlshandshake" --duration "$DURATION" --rounds "$ROUNDS" --workers "$WORKERS" \
	"nginx=127.0.0.1:$ngx_port" "gateway=127.0.0.1:$gw_port"
echo
echo "Full handshakes per second, TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256, no resumption):"
echo
"$run/bin/tlshandshake" --tls12 --duration "$DURATION" --rounds "$ROUNDS" --workers "$WORKERS" \
	"nginx=127.0.0.1:$ngx_port" "gateway=127.0.0.1:$gw_port"
echo
echo "HTTPS keep-alive throughput, GET /health/ on 16 connections, closed loop:"
echo
"$run/bin/loadgen" compare --scenario benchmarks/scripts/tls-keepalive.yaml --quiet --insecure \
	--duration "$DURATION" --rounds "$ROUNDS" --reference nginx \
	--target "nginx=https://127.0.0.1:$ngx_port" --target "gateway=https://127.0.0.1:$gw_port" --md -
echo
echo "Token verification at the edge (\`go test -run '^\$' -bench 'Verify(NoCache|Cached)\$' -benchtime 2s -count 3 ./gateway/internal/authn/\`),"
echo "one request through the auth stage: full EdDSA verification vs a verification-cache hit:"
echo
echo "| benchmark | ns/op (3 runs) | B/op | allocs/op |"
echo "|---|---|---|---|"
go test -run '^$' -bench 'Verify(NoCache|Cached)$' -benchtime 2s -count 3 ./gateway/internal/authn/ |
	awk '/^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); ns[name]=ns[name] (ns[name]==""?"":", ") $3; b[name]=$5; a[name]=$7 }
	     END { for (n in ns) printf "| %s | %s | %s | %s |\n", n, ns[n], b[n], a[n] }' | sort
