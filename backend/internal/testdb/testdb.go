// Package testdb gives integration tests their own PostgreSQL database on
// the server named by TEST_DATABASE_URL, and the Redis named by
// TEST_REDIS_URL.
//
// Each call to New or NewEmpty creates a uniquely named database (so test
// packages and tests can run in parallel against one server) and drops it
// when the test ends. When TEST_DATABASE_URL (or TEST_REDIS_URL) is unset
// the test is skipped, unless CAMPSHUB_INTEGRATION=required, in which case
// it fails: CI must not pass by skipping. scripts/test.sh sets all three.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/store/postgres"
	"github.com/campshub360/edge/shared/testkit"
)

// Environment variables read by this package.
const (
	EnvDatabaseURL = "TEST_DATABASE_URL"
	EnvRedisURL    = "TEST_REDIS_URL"
	EnvRequired    = testkit.EnvRequired
)

// DB is a throwaway database.
type DB struct {
	// Name is the database name.
	Name string
	// URL connects to it (same server and credentials as TEST_DATABASE_URL).
	URL string
	// Pool is open on it; it is closed before the database is dropped.
	Pool *pgxpool.Pool
}

// Config returns a Database configuration for the throwaway database, with
// small pool limits and short timeouts suited to tests.
func (db *DB) Config() config.Database {
	return config.Database{
		URL:             db.URL,
		MaxConns:        4,
		MinConns:        0,
		MaxConnLifetime: time.Hour,
		MaxConnIdleTime: time.Minute,
		ConnectTimeout:  5 * time.Second,
		QueryTimeout:    10 * time.Second,
	}
}

// ServerURL returns TEST_DATABASE_URL (skipping or failing t when unset).
func ServerURL(t testing.TB) string {
	t.Helper()
	return testkit.Env(t, EnvDatabaseURL)
}

// RedisURL returns TEST_REDIS_URL (skipping or failing t when unset).
func RedisURL(t testing.TB) string {
	t.Helper()
	return testkit.Env(t, EnvRedisURL)
}

// New creates a fresh database with every migration applied and returns
// it; it is dropped when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	db := NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := postgres.NewMigrator(db.Pool)
	if err != nil {
		t.Fatalf("testdb: migrator: %v", err)
	}
	defer m.Close()
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("testdb: migrate up: %v", err)
	}
	return db
}

// NewEmpty creates a fresh database without applying migrations and
// returns it; it is dropped when t ends.
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	server := ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name := uniqueName(t.Name())
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("testdb: connect to %s: %v", EnvDatabaseURL, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	db := &DB{Name: name, URL: withDatabase(server, name)}
	t.Cleanup(func() { drop(t, server, db) })

	pool, err := postgres.Open(ctx, db.Config(), postgres.Options{ApplicationName: "campshub360-test"})
	if err != nil {
		t.Fatalf("testdb: open %s: %v", name, err)
	}
	db.Pool = pool
	return db
}

// drop closes the pool and drops the database, disconnecting stragglers.
func drop(t testing.TB, server string, db *DB) {
	if db.Pool != nil {
		db.Pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("testdb: connect to drop %s: %v", db.Name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("testdb: drop database %s: %v", db.Name, err)
	}
}

// uniqueName derives a database name from the test name plus 8 random hex
// digits, within PostgreSQL's 63-byte identifier limit.
func uniqueName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String()
}

// withDatabase returns the connection string server with its database
// replaced by name, for both URL and keyword/value forms.
func withDatabase(server, name string) string {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err == nil {
			u.Path = "/" + name
			u.RawPath = ""
			return u.String()
		}
	}
	return server + " dbname=" + name
}
