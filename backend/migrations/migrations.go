// Package migrations embeds the backend's numbered goose SQL migrations.
//
// Each file is named NNNNN_description.sql and holds a "-- +goose Up" and a
// "-- +goose Down" section; goose runs each file in one transaction. The
// files are applied by internal/store/postgres (Migrator) through the goose
// Provider API with the postgres dialect.
package migrations

import "embed"

// FS holds every *.sql migration at its root. It is read-only (embed.FS) and
// safe for concurrent use.
//
//go:embed *.sql
var FS embed.FS
