package config

import (
	"net/url"

	"github.com/goccy/go-yaml"
)

// Redacted is the placeholder that replaces a secret in Redacted output.
const Redacted = "REDACTED"

// Redacted returns a copy of c that is safe to show an operator (GET
// /admin/config): secrets (the password in redis.url) are replaced by
// "REDACTED". Paths to key files are kept: they are not the keys. The copy
// shares c's slices and must not be modified.
func (c *Config) Redacted() *Config {
	r := *c
	r.Redis.URL = redactURL(c.Redis.URL)
	return &r
}

// RedactedJSON renders Redacted as JSON with the YAML key names and
// durations as text ("10s"), in document order.
func (c *Config) RedactedJSON() ([]byte, error) {
	return yaml.MarshalWithOptions(c.Redacted(), yaml.JSON())
}

// redactURL replaces the userinfo password of a URL; a URL that does not
// parse is replaced whole, since where its password sits is unknown.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return Redacted
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	return u.String()
}
