#!/usr/bin/env bash
# make deploy-smoke: build the gateway and backend images and bring the
# compose stack (deploy/compose) up on this machine, then check it end to
# end: both gateways answer over HTTPS, the API answers through them, the
# replica streams from the primary, and Prometheus scrapes every target.
# Everything it started is removed at the end, also on failure.
#
# Needs a running container engine (Docker or Podman) with the compose
# plugin. Without one it says so and exits 0: there is nothing to smoke.
# Secrets are random per run, in a temporary env file and a temporary
# keyring directory (CAMPSHUB_SECRETS_DIR); deploy/compose/.env and
# deploy/compose/secrets/ are neither read nor written. Published ports are
# free ports on loopback.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

engine=
for e in docker podman; do
	if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then
		engine=$e
		break
	fi
done
if [ -z "$engine" ]; then
	if command -v docker >/dev/null 2>&1 || command -v podman >/dev/null 2>&1; then
		log "deploy-smoke: a container CLI is installed but no container engine answers here; skipped"
	else
		log "deploy-smoke: no container engine (Docker or Podman) on this machine; skipped"
	fi
	exit 0
fi
"$engine" compose version >/dev/null 2>&1 || die "$engine is running but its compose plugin is missing: install docker-compose-plugin (or podman-compose)"
command -v curl >/dev/null 2>&1 || apt_install curl || die "curl not found: install it"

tmp=$(mktemp -d /tmp/campshub360-smoke.XXXXXX)
project="campshub360-smoke-$$"
env_file="$tmp/smoke.env"
# The backend's keyrings (kid:base64(32 random bytes)), readable by the
# containers' user through the bind mount; $tmp itself is private.
mkdir -m 0700 "$tmp/secrets"
for f in encryption_keys signing_key_secrets; do
	printf 'smoke:%s\n' "$(head -c 32 /dev/urandom | base64)" >"$tmp/secrets/$f"
	chmod 0444 "$tmp/secrets/$f"
done
# The QR check-in key: base64 of 32 random bytes (no key id).
head -c 32 /dev/urandom | base64 >"$tmp/secrets/qr_signing_key"
chmod 0444 "$tmp/secrets/qr_signing_key"
{
	for v in POSTGRES_PASSWORD DB_PASSWORD REPLICATION_PASSWORD MONITOR_PASSWORD REDIS_PASSWORD GRAFANA_ADMIN_PASSWORD; do
		echo "$v=$(random_secret)"
	done
	echo "CAMPSHUB_VERSION=smoke"
	echo "CAMPSHUB_SECRETS_DIR=$tmp/secrets"
	echo "GATEWAY_TRUSTED_PROXIES="
	echo "PUBLISH_ADDR=127.0.0.1"
	gw1=$(free_port) gw1h=$(free_port) gw2=$(free_port) gw2h=$(free_port) prom=$(free_port) graf=$(free_port)
	echo "GATEWAY1_HTTPS_PORT=$gw1"
	echo "GATEWAY1_HTTP_PORT=$gw1h"
	echo "GATEWAY2_HTTPS_PORT=$gw2"
	echo "GATEWAY2_HTTP_PORT=$gw2h"
	echo "PROMETHEUS_PORT=$prom"
	echo "GRAFANA_PORT=$graf"
} >"$env_file"
chmod 600 "$env_file"
# shellcheck disable=SC1090
. "$env_file"

compose() { "$engine" compose -p "$project" --env-file "$env_file" -f deploy/compose/compose.yaml "$@"; }
cleanup() {
	local rc=$?
	if [ $rc -ne 0 ]; then
		compose ps -a >&2 || true
		compose logs --no-color --tail 40 >&2 || true
	fi
	compose down -v --remove-orphans >/dev/null 2>&1 || true
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "deploy-smoke: building images with $engine"
compose build
log "deploy-smoke: starting the stack (project $project)"
compose up -d

for port in "$GATEWAY1_HTTPS_PORT" "$GATEWAY2_HTTPS_PORT"; do
	wait_http "https://127.0.0.1:$port/health/" 300 || die "gateway on :$port did not become healthy within 300s"
done
log "deploy-smoke: both gateways answer /health/ over HTTPS"
for port in "$GATEWAY1_HTTP_PORT" "$GATEWAY2_HTTP_PORT"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/api/v1/students")
	[ "$code" = 308 ] || die "HTTP listener on :$port answered $code, want a 308 redirect"
done
# The backends started with their keyrings and publish their signing keys;
# the gateways verify tokens with them and refuse a request without one.
curl -fks --max-time 10 "https://127.0.0.1:$GATEWAY1_HTTPS_PORT/api/v1/auth/jwks.json" | grep -q '"kty":"OKP"' ||
	die "GET /api/v1/auth/jwks.json through the gateway did not return the signing keys"
code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 10 "https://127.0.0.1:$GATEWAY1_HTTPS_PORT/api/v1/students?limit=1")
[ "$code" = 401 ] || die "GET /api/v1/students without a token answered $code through the gateway, want 401"
log "deploy-smoke: the API answers through the gateway (JWK Set served, anonymous request refused)"

replicas=$(compose exec -T postgres-primary psql -U postgres -d campus -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
[ "$replicas" = 1 ] || die "the primary has $replicas streaming replicas, want 1"
log "deploy-smoke: the replica streams from the primary"

deadline=$((SECONDS + 120))
while :; do
	targets=$(curl -fsS --max-time 5 "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/targets?state=active" || true)
	up=$(grep -o '"health":"up"' <<<"$targets" | wc -l)
	down=$(grep -o '"health":"down"' <<<"$targets" | wc -l)
	[ "$up" -ge 9 ] && [ "$down" -eq 0 ] && break
	[ $SECONDS -lt $deadline ] || die "Prometheus targets: $up up, $down down (want 9 up, 0 down)"
	sleep 2
done
log "deploy-smoke: Prometheus scrapes all $up targets"
curl -fsS --max-time 5 -u "admin:$GRAFANA_ADMIN_PASSWORD" "http://127.0.0.1:$GRAFANA_PORT/api/search?tag=campshub360" | grep -q campshub-edge-overview ||
	die "Grafana does not list the provisioned dashboards"
log "deploy-smoke: Grafana serves the provisioned dashboards"
log "deploy-smoke: passed"
