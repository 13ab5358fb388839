package config

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// env serves m, with test values for the required secrets (the two
// keyrings and the QR signing key) unless m sets them (to "" to test their
// absence).
func env(m map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return testSecrets[k]
	}
}

const goodURL = "postgres://campus:s3cret@127.0.0.1:5432/campus?sslmode=disable"

// testQRKey is base64 of 32 bytes.
const testQRKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestLoadServeDefaults(t *testing.T) {
	cfg, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": testQRKey}))
	if err != nil {
		t.Fatalf("LoadServe: %v", err)
	}
	if cfg.Listen != DefaultListen || cfg.LogLevel != "info" || cfg.LogFormat != "json" || cfg.RedisURL != "" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	db := cfg.Database
	if db.MaxConns != 10 || db.MinConns != 0 || db.ConnectTimeout != 5*time.Second || db.QueryTimeout != 5*time.Second {
		t.Errorf("unexpected database defaults: %+v", db)
	}
	if cfg.ShutdownTimeout != 15*time.Second || cfg.ReadyTimeout != time.Second || cfg.PartitionMonthsAhead != DefaultPartitionMonthsAhead {
		t.Errorf("unexpected timeouts: %+v", cfg)
	}
}

func TestLoadServeFlagsAndEnv(t *testing.T) {
	cfg, err := LoadServe([]string{"--listen", "127.0.0.1:0", "--dev", "--runtime-dir", "/tmp/x"}, env(map[string]string{
		"DATABASE_URL":           goodURL,
		"DATABASE_MAX_CONNS":     "25",
		"DATABASE_QUERY_TIMEOUT": "750ms",
		"REDIS_URL":              "redis://127.0.0.1:6379/0",
		"LOG_FORMAT":             "json",
	}))
	if err != nil {
		t.Fatalf("LoadServe: %v", err)
	}
	if cfg.Listen != "127.0.0.1:0" || !cfg.Dev || cfg.RuntimeDir != "/tmp/x" {
		t.Errorf("flags not applied: %+v", cfg)
	}
	if cfg.LogLevel != "debug" || cfg.LogFormat != "json" {
		t.Errorf("--dev defaults with LOG_FORMAT override: level %q format %q", cfg.LogLevel, cfg.LogFormat)
	}
	if cfg.Database.MaxConns != 25 || cfg.Database.QueryTimeout != 750*time.Millisecond || cfg.RedisURL == "" {
		t.Errorf("env not applied: %+v", cfg)
	}
}

func TestLoadServeReportsEveryProblem(t *testing.T) {
	_, err := LoadServe([]string{"--listen", "nope"}, env(map[string]string{
		"DATABASE_MAX_CONNS":       "0",
		"DATABASE_CONNECT_TIMEOUT": "forever",
		"REDIS_URL":                "http://user:hunter2@host/",
		"LOG_LEVEL":                "loud",
		"SHUTDOWN_TIMEOUT":         "1ms",
		"PARTITION_MONTHS_AHEAD":   "99",
	}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *Error", err)
	}
	want := []string{"--listen", "LOG_LEVEL", "DATABASE_URL", "DATABASE_MAX_CONNS", "DATABASE_CONNECT_TIMEOUT", "REDIS_URL", "SHUTDOWN_TIMEOUT", "PARTITION_MONTHS_AHEAD"}
	got := map[string]bool{}
	for _, p := range ce.Problems {
		got[p.Path] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("problem for %s not reported; got %v", w, ce.Problems)
		}
	}
	msg := err.Error()
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error leaks a password: %s", msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
}

func TestDatabaseURLErrorsDoNotLeakPasswords(t *testing.T) {
	for _, u := range []string{
		"postgres://campus:hunter2@127.0.0.1:notaport/campus",
		"host=127.0.0.1 password=hunter2 port=abc",
	} {
		_, err := LoadDatabase(env(map[string]string{"DATABASE_URL": u}))
		if err == nil {
			t.Fatalf("LoadDatabase(%q) accepted a bad URL", u)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestLoadServeMinAboveMax(t *testing.T) {
	_, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "DATABASE_MAX_CONNS": "2", "DATABASE_MIN_CONNS": "3", "QR_SIGNING_KEY": testQRKey}))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_MIN_CONNS") {
		t.Fatalf("got %v, want a DATABASE_MIN_CONNS problem", err)
	}
}

func TestLoadServeFlagErrors(t *testing.T) {
	if _, err := LoadServe([]string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
	if _, err := LoadServe([]string{"--bogus"}, env(nil)); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := LoadServe([]string{"extra"}, env(nil)); err == nil {
		t.Error("positional argument accepted")
	}
}

func TestValidateListen(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9001", ":8080", "localhost:0", "[::1]:9001"} {
		if err := validateListen(ok); err != nil {
			t.Errorf("validateListen(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:-1", "bad host:80", "h:port"} {
		if err := validateListen(bad); err == nil {
			t.Errorf("validateListen(%q) accepted", bad)
		}
	}
}

func TestAttendanceJobsAndDatabaseSettings(t *testing.T) {
	cfg, err := LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": testQRKey}))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Attendance
	if a.TimeZone.String() != "Asia/Kolkata" || a.GracePeriod != 5*time.Minute || a.ThresholdHundredths != 7500 ||
		a.CorrectionWindowDays != 7 || a.QRTokenTTL != time.Minute || len(a.QRSigningKey) != 32 {
		t.Errorf("attendance defaults: %+v", a)
	}
	if cfg.Database.ExecMode != "cache_statement" || cfg.Database.ReplicaURL != "" || cfg.Database.ReportTimeout != 30*time.Second {
		t.Errorf("database defaults: %+v", cfg.Database)
	}
	if cfg.Jobs.SessionInterval != 15*time.Second || cfg.Jobs.MaintenanceInterval != time.Hour || cfg.Jobs.AuditRetentionMonths != 24 {
		t.Errorf("job defaults: %+v", cfg.Jobs)
	}

	cfg, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": testQRKey,
		"INSTITUTION_TIMEZONE": "Europe/Berlin", "ATTENDANCE_GRACE_PERIOD": "10m", "ATTENDANCE_THRESHOLD": "72.5",
		"CORRECTION_WINDOW_DAYS": "14", "DATABASE_QUERY_EXEC_MODE": "simple_protocol",
		"DATABASE_REPLICA_URL": "postgres://ro:pw@replica:5432/campus", "AUDIT_RETENTION_MONTHS": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Attendance.TimeZone.String() != "Europe/Berlin" || cfg.Attendance.GracePeriod != 10*time.Minute ||
		cfg.Attendance.ThresholdHundredths != 7250 || cfg.Attendance.CorrectionWindowDays != 14 ||
		cfg.Database.ExecMode != "simple_protocol" || cfg.Database.ReplicaURL == "" || cfg.Jobs.AuditRetentionMonths != 0 {
		t.Errorf("settings not applied: %+v %+v %+v", cfg.Attendance, cfg.Database, cfg.Jobs)
	}

	_, err = LoadServe(nil, env(map[string]string{"DATABASE_URL": goodURL,
		"QR_SIGNING_KEY": "c2hvcnQ=", "INSTITUTION_TIMEZONE": "Mars/Olympus", "ATTENDANCE_THRESHOLD": "101",
		"DATABASE_QUERY_EXEC_MODE": "turbo", "DATABASE_REPLICA_URL": "postgres://a:hunter2@h:notaport/x",
		"AUDIT_RETENTION_MONTHS": "2", "PARTITION_MONTHS_AHEAD": "2", "ATTENDANCE_GRACE_PERIOD": "-1m"}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *Error", err)
	}
	got := map[string]bool{}
	for _, p := range ce.Problems {
		got[p.Path] = true
	}
	for _, w := range []string{"QR_SIGNING_KEY", "INSTITUTION_TIMEZONE", "ATTENDANCE_THRESHOLD", "DATABASE_QUERY_EXEC_MODE",
		"DATABASE_REPLICA_URL", "AUDIT_RETENTION_MONTHS", "PARTITION_MONTHS_AHEAD", "ATTENDANCE_GRACE_PERIOD"} {
		if !got[w] {
			t.Errorf("problem for %s not reported; got %v", w, ce.Problems)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks a password: %s", err)
	}
	// --dev needs no key.
	if _, err := LoadServe([]string{"--dev"}, env(map[string]string{"DATABASE_URL": goodURL, "QR_SIGNING_KEY": ""})); err != nil {
		t.Errorf("--dev without QR_SIGNING_KEY: %v", err)
	}
	for in, want := range map[string]int64{"75": 7500, "72.5": 7250, "66.67": 6667, "0": 0, "100.00": 10000} {
		if h, ok := ParseHundredths(in); !ok || h != want {
			t.Errorf("ParseHundredths(%q) = %d, %v", in, h, ok)
		}
	}
	for _, in := range []string{"", "-1", "7.555", "1e2", " 75", "75.", ".5", "abc"} {
		if _, ok := ParseHundredths(in); ok {
			t.Errorf("ParseHundredths(%q) accepted", in)
		}
	}
}
