package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaintenanceOptions configure RunMaintenance.
type MaintenanceOptions struct {
	// Now is the current time; Location the institution's time zone (the
	// current month is now's month there).
	Now      time.Time
	Location *time.Location
	// MonthsAhead is how many months after the current one must have
	// partitions (at least 3 is enforced).
	MonthsAhead int
	// AuditRetentionMonths keeps the current month and this many whole
	// months before it of audit events; older audit_events partitions are
	// detached and dropped. 0 keeps everything.
	AuditRetentionMonths int
}

// MaintenanceResult is what one maintenance run did.
type MaintenanceResult struct {
	// Ran is false when another instance held the maintenance lock.
	Ran bool
	// Created counts partitions created; Dropped names audit partitions
	// dropped by retention.
	Created int
	Dropped []string
}

// maintenanceLock is the advisory lock key of partition maintenance.
const maintenanceLock = "campshub360.partition-maintenance"

// auditPartitionRE matches the partitions ensure_monthly_partitions names.
var auditPartitionRE = regexp.MustCompile(`^audit_events_y([0-9]{4})m([0-9]{2})$`)

// RunMaintenance is the partition maintenance job, leader-elected: in one
// transaction it takes pg_try_advisory_xact_lock and, only when it got it,
// creates the missing monthly partitions of every PartitionedTables table
// from the previous month to MonthsAhead months after the current one,
// then applies the audit retention: audit_events partitions whose whole
// month lies before the retention window are detached and dropped. A
// concurrent run elsewhere makes this one return Ran false without doing
// anything. Retention drops whole partitions (DETACH + DROP), which the
// append-only row trigger does not see: this is the one sanctioned way
// audit events leave the database.
func RunMaintenance(ctx context.Context, pool *pgxpool.Pool, o MaintenanceOptions) (res MaintenanceResult, err error) {
	if o.Location == nil {
		o.Location = time.UTC
	}
	ahead := max(o.MonthsAhead, 3)
	from, to := PartitionWindow(o.Now, o.Location, ahead)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, maintenanceLock).Scan(&res.Ran); err != nil || !res.Ran {
			return err
		}
		n, err := EnsurePartitions(ctx, tx, from, to)
		if err != nil {
			return err
		}
		res.Created = n
		if o.AuditRetentionMonths <= 0 {
			return nil
		}
		local := o.Now.In(o.Location)
		cutoff := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -o.AuditRetentionMonths, 0)
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			m := auditPartitionRE.FindStringSubmatch(name)
			if m == nil {
				continue // not ours: never drop what we did not name
			}
			y, _ := strconv.Atoi(m[1])
			mo, _ := strconv.Atoi(m[2])
			end := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
			if end.After(cutoff) {
				continue
			}
			ident := pgx.Identifier{name}.Sanitize()
			if _, err := tx.Exec(ctx, `ALTER TABLE audit_events DETACH PARTITION `+ident); err != nil {
				return fmt.Errorf("detach %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+ident); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
			res.Dropped = append(res.Dropped, name)
		}
		return nil
	})
	return res, wrapErr("partition maintenance", err)
}
