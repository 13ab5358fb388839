package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/store/postgres"
)

// migrate runs `backend migrate up|down [--to VERSION]|status`.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return &flagError{err: errors.New("migrate needs an action: up, down or status")}
	}
	action, rest := args[0], args[1:]
	fs := flag.NewFlagSet("migrate "+action, flag.ContinueOnError)
	to := fs.Int64("to", -1, "down: roll back every migration above this version (0 for all)")
	switch action {
	case "up", "status", "down":
	case "-h", "-help", "--help":
		return flag.ErrHelp
	default:
		return &flagError{err: fmt.Errorf("unknown migrate action %q (want up, down or status)", action)}
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if action != "down" && *to != -1 {
		return &flagError{err: errors.New("--to applies to migrate down only")}
	}
	if action == "down" && *to < -1 {
		return &flagError{err: errors.New("--to must be a version number, 0 or more")}
	}

	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, db, postgres.Options{ApplicationName: "campshub360-migrate"})
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := postgres.NewMigrator(pool)
	if err != nil {
		return err
	}
	defer m.Close()

	switch action {
	case "up":
		res, err := m.Up(ctx)
		printResults(stdout, res)
		if err != nil {
			return err
		}
		if len(res) == 0 {
			fmt.Fprintf(stdout, "no pending migrations; schema at version %d\n", m.Newest())
		} else {
			fmt.Fprintf(stdout, "schema at version %d\n", m.Newest())
		}
	case "down":
		if *to >= 0 {
			res, err := m.DownTo(ctx, *to)
			printResults(stdout, res)
			return err
		}
		res, err := m.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(stdout, "no migration to roll back")
			return nil
		}
		if res != nil {
			printResults(stdout, []*goose.MigrationResult{res})
		}
		return err
	case "status":
		return printStatus(ctx, stdout, m)
	}
	return nil
}

func printResults(w io.Writer, res []*goose.MigrationResult) {
	for _, r := range res {
		if r != nil && r.Source != nil {
			fmt.Fprintln(w, r.String())
		}
	}
}

func printStatus(ctx context.Context, w io.Writer, m *postgres.Migrator) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT (UTC)\tFILE")
	for _, s := range st {
		applied := "-"
		if !s.AppliedAt.IsZero() {
			applied = s.AppliedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strconv.FormatInt(s.Source.Version, 10), s.State, applied, s.Source.Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := m.Check(ctx); err != nil {
		fmt.Fprintln(w, err.Error())
	}
	return nil
}

// openMigrated opens a pool on db and checks the schema is fully migrated.
func openMigrated(ctx context.Context, db config.Database, app string) (*pgxpool.Pool, error) {
	pool, err := postgres.Open(ctx, db, postgres.Options{ApplicationName: app})
	if err != nil {
		return nil, err
	}
	if err := checkSchema(ctx, pool, db.ConnectTimeout); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
