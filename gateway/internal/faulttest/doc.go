// Package faulttest holds the gateway's fault tests: three real upstream
// processes (./upstream) on 127.0.0.1 behind the real gateway, killed,
// stopped, slowed down, flapped and restarted under load. It has no
// non-test code besides this comment; the upstream program is also used by
// benchmarks/scripts/fault.sh.
package faulttest
