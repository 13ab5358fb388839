package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/campshub360/edge/backend/internal/config"
	"github.com/campshub360/edge/backend/internal/seed"
)

// seedCmd runs `backend seed`: it generates the deterministic demo campus and
// loads it into an empty, fully migrated database.
func seedCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	students := fs.Int("students", seed.DefaultStudents, "number of students")
	weeks := fs.Int("weeks", seed.DefaultWeeks, "weeks of past attendance")
	seedVal := fs.Uint64("seed", 1, "pseudo-random seed")
	ifEmpty := fs.Bool("if-empty", false, "do nothing when students already exist")
	tz := fs.String("timezone", seed.DefaultTimeZone, "institution time zone (IANA name)")
	sectionSize := fs.Int("section-size", 0, "most students in one class section (default 60)")
	preset := fs.String("preset", "", "demo or scale (50,000 students, ~1,500 sections, ~10 million records)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	stream := false
	if *preset != "" {
		p, err := seed.PresetNamed(*preset)
		if err != nil {
			return &flagError{err: err}
		}
		// Explicit flags win over the preset's values.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["students"] {
			*students = p.Students
		}
		if !set["weeks"] {
			*weeks = p.Weeks
		}
		if !set["section-size"] {
			*sectionSize = p.SectionSize
		}
		stream = p.Stream
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return &flagError{err: fmt.Errorf("--timezone %q is not a known time zone", *tz)}
	}
	opts := seed.Options{Students: *students, Weeks: *weeks, Seed: *seedVal, Now: time.Now(), Location: loc,
		SectionSize: *sectionSize, StreamRecords: stream || *students > 20000}
	if err := opts.Validate(); err != nil {
		return &flagError{err: err}
	}

	db, err := config.LoadDatabase(getenv)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, db, "campshub360-seed")
	if err != nil {
		return err
	}
	defer pool.Close()

	if *ifEmpty {
		has, err := seed.HasStudents(ctx, pool)
		if err != nil {
			return fmt.Errorf("check for students: %w", err)
		}
		if has {
			fmt.Fprintln(stdout, "seed: students already exist; nothing to do (--if-empty)")
			return nil
		}
	}
	// A 2,000-student campus loads in seconds, the scale preset in
	// minutes; the bound only stops a wedged load from hanging forever.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Hour)
	defer cancel()
	start := time.Now()
	campus, err := seed.Generate(opts)
	if err != nil {
		return err
	}
	n, err := seed.Load(ctx, pool, campus, config.DefaultPartitionMonthsAhead)
	if errors.Is(err, seed.ErrNotEmpty) {
		return errors.New("the database already holds campus data; seed fills an empty database (use --if-empty to skip when students exist)")
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	fmt.Fprintf(stdout, "seeded %s in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
