package config

// Forwarding configures the forwarding headers the gateway sends upstream.
// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP are
// always set; from an untrusted peer their inbound values (and an inbound
// Forwarded) are discarded first.
type Forwarding struct {
	// Forwarded also sends the RFC 7239 Forwarded header
	// (for=...;proto=...;host=...), appended to a trusted peer's value.
	Forwarded bool `yaml:"forwarded"`
}
