package postgres

import (
	"context"
	"time"
)

// PartitionedTables are the tables range-partitioned by month, in the order
// EnsurePartitions maintains them.
func PartitionedTables() []string {
	return []string{"attendance_records", "audit_events"}
}

// EnsurePartitions creates the missing monthly partitions of every table in
// PartitionedTables for the months overlapping [from, to] (calendar dates;
// only their year, month and day count), through the SQL function
// ensure_monthly_partitions(parent regclass, from_date date, to_date date).
// It is idempotent and safe to run from several processes at once. It
// returns how many partitions it created.
func EnsurePartitions(ctx context.Context, q Querier, from, to time.Time) (int, error) {
	total := 0
	for _, table := range PartitionedTables() {
		var n int
		err := q.QueryRow(ctx, `SELECT ensure_monthly_partitions($1::regclass, $2::date, $3::date)`,
			table, civilDate(from), civilDate(to)).Scan(&n)
		if err != nil {
			return total, wrapErr("ensure partitions of "+table, err)
		}
		total += n
	}
	return total, nil
}

// PartitionWindow returns the window of months the backend keeps
// partitioned around now: from the first day of the previous month to the
// last day of the month monthsAhead months after now's, in loc.
func PartitionWindow(now time.Time, loc *time.Location, monthsAhead int) (from, to time.Time) {
	n := now.In(loc)
	first := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, -1, 0), first.AddDate(0, monthsAhead+1, -1)
}

// civilDate returns t's calendar date at midnight UTC, the form pgx encodes
// as a date without shifting it.
func civilDate(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
