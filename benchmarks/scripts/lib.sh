# shellcheck shell=bash
# Helpers of the benchmark scripts (benchmarks/scripts/*.sh), on top of
# scripts/lib.sh: the provenance every generated section of
# benchmarks/RESULTS.md starts with.

# machine_line prints one line describing this machine and its load now
# (the machine may be shared: the load average says how much).
machine_line() {
	local model mem
	model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
	mem=$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo 2>/dev/null)
	printf '%s CPUs%s, %s, Linux %s, %s, load average %s' "$(nproc)" "${model:+ ($model)}" "$mem" \
		"$(uname -r)" "$(go env GOVERSION)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# section_head TITLE COMMAND prints a section's heading and provenance.
section_head() {
	printf '## %s\n\nGenerated %s by `%s` on %s. Regenerate instead of editing.\n\n' \
		"$1" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$2" "$(machine_line)"
}
