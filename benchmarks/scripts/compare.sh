#!/usr/bin/env bash
# make bench-compare: the focused edge comparisons against nginx, each in
# the same run as its reference, each writing its own section of
# benchmarks/RESULTS.md (benchmarks/results/NAME.md), then RESULTS.md is
# reassembled (the campus scenarios of `make bench` stay on top).
#
#   make bench-compare                      all of them (about 10 minutes)
#   COMPARE_ONLY=proxy,fault make bench-compare
#
# The comparisons (each script's header says what it measures and takes
# its own environment, e.g. ROUNDS and DURATION):
#   proxy      benchmarks/scripts/proxy.sh      proxy core, 2 KB GET over TLS
#   tls        benchmarks/scripts/tls.sh        handshakes, HTTPS keep-alive, token verification
#   cache      benchmarks/scripts/cache.sh      cache hits vs proxy_cache, origin, constant server
#   ratelimit  benchmarks/scripts/ratelimit.sh  limiter overhead vs limit_req
#   fault      benchmarks/scripts/fault.sh      one of three upstreams killed and restarted
#
# A comparison that fails leaves its previous section in place and makes
# the whole command fail after the others ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

all=(proxy tls cache ratelimit fault)
IFS=, read -r -a only <<<"${COMPARE_ONLY:-$(IFS=,; echo "${all[*]}")}"
for n in "${only[@]}"; do
	[[ " ${all[*]} " == *" $n "* ]] || die "COMPARE_ONLY: no comparison $n (one of: ${all[*]})"
done

tmp=$(mktemp -d /tmp/campshub360-compare.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p benchmarks/results
go build -o "$tmp/" ./benchmarks/cmd/bench

failed=()
for n in "${only[@]}"; do
	log "== $n: benchmarks/scripts/$n.sh"
	if "benchmarks/scripts/$n.sh" >"$tmp/$n.md" && [ -s "$tmp/$n.md" ]; then
		mv "$tmp/$n.md" "benchmarks/results/$n.md"
		log "wrote benchmarks/results/$n.md"
	else
		log "$n failed: benchmarks/results/$n.md left as it was"
		failed+=("$n")
	fi
done
"$tmp/bench" results --dir benchmarks/results --out benchmarks/RESULTS.md
log "reassembled benchmarks/RESULTS.md"
[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
