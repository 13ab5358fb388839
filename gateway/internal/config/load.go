package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

//go:embed default.yaml
var defaultYAML []byte

// EnvPrefix starts every environment override. The rest of the variable
// name is the YAML key path, upper-cased, with "__" between levels and list
// indexes as numbers: GATEWAY__LISTEN__HTTPS=":9443",
// GATEWAY__UPSTREAMS__0__INSTANCES__1__ADDR="10.0.0.7:9001",
// GATEWAY__TRUSTED_PROXIES="10.0.0.0/8,192.168.0.0/16" (lists of scalars
// are comma-separated).
const EnvPrefix = "GATEWAY__"

// DefaultYAML returns the embedded default configuration document.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Load reads the YAML file at path (the embedded default when path is
// empty), decodes it strictly (unknown keys are errors, reported with their
// line), fills defaults, applies environment overrides from env (KEY=VALUE
// strings, as os.Environ returns) and validates the result. A bad document
// is Problems: one YAML fault with its line and column, or every bad
// override, or every validation failure with its field path. An
// unreadable file is a plain error.
func Load(path string, env []string) (*Config, error) {
	data := defaultYAML
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		data = b
	}
	return Parse(data, env)
}

// Parse is Load for an in-memory document.
func Parse(data []byte, env []string) (*Config, error) {
	c := base()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
		if err := dec.Decode(c); err != nil {
			return nil, documentProblem(err)
		}
	}
	if err := applyEnv(c, env); err != nil {
		return nil, err
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// documentProblem turns a decoding error into one Problem: the parser's
// message and position only. goccy/go-yaml's own rendering (Error,
// FormatError with source) quotes the lines around the fault, which may
// hold secrets (a Redis URL with its password); they must not reach a
// reload response or a log.
func documentProblem(err error) Problems {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Problem{Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			p.Line, p.Column = tk.Position.Line, tk.Position.Column
		}
		return Problems{p}
	}
	// Scalar decoders (a malformed duration) report the value only, with
	// no position and no source.
	return Problems{{Msg: err.Error()}}
}

// base returns the scalar defaults every document starts from.
func base() *Config {
	return &Config{
		RuntimeDir: ".run",
		Log:        Log{Level: "info", Format: "json", Access: AccessLog{Enabled: true, Sample2xx: 1, FlushInterval: time.Second}},
		Listen:     Listen{HTTPS: ":8443"},
		TLS:        TLS{MinVersion: "1.2", Watch: true},
		Headers:    Headers{HSTS: HSTS{MaxAge: 365 * 24 * time.Hour, IncludeSubdomains: true}},
		Auth:       Auth{Issuer: "campshub360", Audience: "campus-api", Cache: AuthCache{MaxEntries: 100_000}},
		Server: Server{
			ReadTimeout:     10 * time.Second,
			BodyTimeout:     30 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     60 * time.Second,
			MaxHeaderBytes:  16 << 10,
			MaxURIBytes:     8 << 10,
			MaxBodyBytes:    1 << 20,
			Concurrency:     256 * 1024,
			DrainDelay:      2 * time.Second,
			ShutdownTimeout: 20 * time.Second,
		},
		Compression: Compression{Enabled: true},
	}
}

// fillDefaults sets per-element defaults for lists, which a document may
// contain any number of.
func (c *Config) fillDefaults() {
	c.fillRedisDefaults()
	c.fillTLSDefaults()
	c.fillHeadersDefaults()
	c.fillAuthDefaults()
	c.fillRateLimitDefaults()
	c.fillCacheDefaults()
	c.fillCompressionDefaults()
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.DialTimeout == 0 {
			u.DialTimeout = 2 * time.Second
		}
		if u.MaxConnsPerInstance == 0 {
			u.MaxConnsPerInstance = 1024
		}
		if u.MaxIdleConnDuration == 0 {
			u.MaxIdleConnDuration = 30 * time.Second
		}
		u.fillBalancingDefaults()
		for j := range u.Instances {
			if u.Instances[j].Weight == 0 {
				u.Instances[j].Weight = 1
			}
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Name == "" {
			r.Name = r.PathPrefix
		}
		if r.Timeout == 0 {
			r.Timeout = 30 * time.Second
		}
		if r.BodyTimeout == 0 {
			r.BodyTimeout = c.Server.BodyTimeout
		}
		if r.WriteTimeout == 0 {
			r.WriteTimeout = c.Server.WriteTimeout
		}
		if r.MaxBodyBytes == 0 {
			r.MaxBodyBytes = c.Server.MaxBodyBytes
		}
		if r.WebSocketIdleTimeout == 0 {
			r.WebSocketIdleTimeout = 60 * time.Second
		}
		r.Host = strings.ToLower(r.Host)
	}
}

// applyEnv applies EnvPrefix overrides in a stable (sorted) order; the
// error is Problems naming each bad variable.
func applyEnv(c *Config, env []string) error {
	var keys []string
	vals := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		keys = append(keys, k)
		vals[k] = v
	}
	sort.Strings(keys)
	var ps Problems
	for _, k := range keys {
		path := strings.Split(strings.ToLower(strings.TrimPrefix(k, EnvPrefix)), "__")
		if err := setPath(reflect.ValueOf(c).Elem(), path, vals[k]); err != nil {
			ps = append(ps, Problem{Path: k, Msg: err.Error()})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

var durationType = reflect.TypeOf(time.Duration(0))

// setPath walks v along YAML key names and list indexes and sets the leaf
// from its text form.
func setPath(v reflect.Value, path []string, text string) error {
	if len(path) == 0 {
		return setScalar(v, text)
	}
	seg := path[0]
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == seg {
				return setPath(v.Field(i), path[1:], text)
			}
		}
		return fmt.Errorf("unknown key %q", seg)
	case reflect.Slice:
		idx, err := strconv.Atoi(seg)
		if err != nil || idx < 0 {
			return fmt.Errorf("%q is not a list index", seg)
		}
		if idx > v.Len() {
			return fmt.Errorf("index %d skips elements (list has %d)", idx, v.Len())
		}
		if idx == v.Len() {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
		return setPath(v.Index(idx), path[1:], text)
	default:
		return fmt.Errorf("key %q below a scalar", seg)
	}
}

func setScalar(v reflect.Value, text string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(text)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 250ms, 30s)", text)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", text)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", text)
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("only lists of scalars can be set whole; index into the list")
		}
		var parts []string
		for _, p := range strings.Split(text, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Kind())
	}
	return nil
}
