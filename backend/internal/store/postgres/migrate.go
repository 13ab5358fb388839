package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/campshub360/edge/backend/migrations"
)

// SchemaError reports that the database schema does not match the embedded
// migrations: either the database has versions this binary does not know
// (Newer), or embedded migrations are not applied yet (Pending).
type SchemaError struct {
	// Current is the highest version applied in the database (0 for none).
	Current int64
	// Newest is the highest embedded migration version.
	Newest int64
	// Unknown lists applied versions with no embedded migration.
	Unknown []int64
	// Pending lists embedded versions not applied, ascending.
	Pending []int64
}

// Error explains the mismatch and what to do, on one line.
func (e *SchemaError) Error() string {
	if len(e.Unknown) > 0 {
		return fmt.Sprintf("database schema version %d is newer than this binary's newest migration %d (unknown versions %s): deploy a newer backend",
			e.Current, e.Newest, joinVersions(e.Unknown))
	}
	return fmt.Sprintf("database schema is at version %d but migrations up to %d exist (%d pending: %s): run `backend migrate up`",
		e.Current, e.Newest, len(e.Pending), joinVersions(e.Pending))
}

func joinVersions(vs []int64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(parts, ", ")
}

// Migrator applies the embedded migrations (backend/migrations) with goose's
// Provider API, dialect postgres, through pgx's database/sql adapter. Up and
// Down hold a PostgreSQL session advisory lock, so concurrent migrators wait
// for each other. Close releases its database/sql handle (not the pool).
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
	store    database.Store
}

// NewMigrator returns a Migrator over pool with the embedded migrations.
func NewMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	return newMigrator(pool, migrations.FS)
}

func newMigrator(pool *pgxpool.Pool, fsys fs.FS) (*Migrator, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(locker),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	store, err := database.NewStore(goose.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migration store: %w", err)
	}
	return &Migrator{db: db, provider: provider, store: store}, nil
}

// Close releases the database/sql handle; the pool stays open.
func (m *Migrator) Close() error { return m.db.Close() }

// Newest returns the highest embedded migration version.
func (m *Migrator) Newest() int64 {
	src := m.provider.ListSources()
	return src[len(src)-1].Version
}

// Up applies every pending migration, each in its own transaction, and
// returns what it applied (empty when nothing was pending).
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	if err := m.refuseNewer(ctx); err != nil {
		return nil, err
	}
	res, err := m.provider.Up(ctx)
	return res, wrapErr("migrate up", err)
}

// Down rolls back the most recently applied migration. It returns
// goose.ErrNoNextVersion (wrapped) when none is applied.
func (m *Migrator) Down(ctx context.Context) (*goose.MigrationResult, error) {
	if err := m.refuseNewer(ctx); err != nil {
		return nil, err
	}
	res, err := m.provider.Down(ctx)
	return res, wrapErr("migrate down", err)
}

// DownTo rolls back every applied migration above version (0 for all).
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]*goose.MigrationResult, error) {
	if err := m.refuseNewer(ctx); err != nil {
		return nil, err
	}
	res, err := m.provider.DownTo(ctx, version)
	return res, wrapErr("migrate down", err)
}

// Status returns every embedded migration with its state, ascending.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	st, err := m.provider.Status(ctx)
	return st, wrapErr("migrate status", err)
}

// refuseNewer stops Up and Down on a database migrated by a newer binary:
// applying or rolling back around versions this binary cannot see would
// leave the schema in a state nobody wrote.
func (m *Migrator) refuseNewer(ctx context.Context) error {
	err := m.Check(ctx)
	var se *SchemaError
	if errors.As(err, &se) && len(se.Unknown) == 0 {
		return nil // only pending: fine to migrate
	}
	return err
}

// Check verifies, without writing anything, that the database schema is
// exactly the embedded one. It returns a *SchemaError when versions are
// pending or unknown, and an error matching domain.ErrUnavailable when the
// database cannot answer.
func (m *Migrator) Check(ctx context.Context) error {
	applied, err := m.appliedVersions(ctx)
	if err != nil {
		return wrapErr("read schema version", err)
	}
	se := &SchemaError{Newest: m.Newest()}
	embedded := make(map[int64]bool)
	for _, s := range m.provider.ListSources() {
		embedded[s.Version] = true
		if !applied[s.Version] {
			se.Pending = append(se.Pending, s.Version)
		}
	}
	for v := range applied {
		se.Current = max(se.Current, v)
		if !embedded[v] {
			se.Unknown = append(se.Unknown, v)
		}
	}
	slices.Sort(se.Unknown)
	if len(se.Pending) > 0 || len(se.Unknown) > 0 {
		return se
	}
	return nil
}

// appliedVersions lists applied versions (excluding goose's marker version
// 0) from goose's version table, or none when the table does not exist.
func (m *Migrator) appliedVersions(ctx context.Context) (map[int64]bool, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	exists, err := tableExists(ctx, m.store, conn)
	if err != nil {
		return nil, err
	}
	if !exists {
		return map[int64]bool{}, nil
	}
	rows, err := m.store.ListMigrations(ctx, conn)
	if err != nil {
		return nil, err
	}
	// Rows come newest first; the first row of a version is its state.
	applied := make(map[int64]bool, len(rows))
	seen := make(map[int64]bool, len(rows))
	for _, r := range rows {
		if seen[r.Version] {
			continue
		}
		seen[r.Version] = true
		if r.Version > 0 && r.IsApplied {
			applied[r.Version] = true
		}
	}
	return applied, nil
}

// tableExists reports whether goose's version table exists, through the
// store's catalog query when it has one, else through to_regclass.
func tableExists(ctx context.Context, store database.Store, conn *sql.Conn) (bool, error) {
	if ext, ok := store.(database.StoreExtender); ok {
		exists, err := ext.TableExists(ctx, conn)
		if !errors.Is(err, errors.ErrUnsupported) {
			return exists, err
		}
	}
	var reg sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT to_regclass($1)::text`, store.Tablename()).Scan(&reg); err != nil {
		return false, err
	}
	return reg.Valid, nil
}
