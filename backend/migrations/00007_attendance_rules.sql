-- Attendance rules that live in the database: the percentage formula (one
-- definition shared by every report), the link from a record to the leave
-- that excused it (so cancelling the leave reverts exactly its effects), and
-- the indexes of the session, leave, correction and audit queries.

-- +goose Up
-- attendance_pct_hundredths is DOMAIN "Percentage" in hundredths of a
-- percent: 0 when t = 0, otherwise 100 * p / max(t - e, 1) rounded half-up
-- to 2 decimals, computed in integers so it is exact (the Go twin is
-- domain.Percentage; a test checks they agree). p = present + late,
-- e = excused, t = all records.
CREATE FUNCTION attendance_pct_hundredths(p bigint, e bigint, t bigint)
    RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT CASE WHEN t <= 0 THEN 0::bigint
                      ELSE (20000 * p + greatest(t - e, 1)) / (2 * greatest(t - e, 1)) END $$;

-- The approved leave that turned this record into `excused` (NULL
-- otherwise). Any later write of the mark clears it; cancelling the leave
-- turns exactly the records still carrying its id back into `absent`.
ALTER TABLE attendance_records ADD COLUMN leave_id uuid REFERENCES leave_applications (id);
CREATE INDEX attendance_records_leave_idx ON attendance_records (leave_id) WHERE leave_id IS NOT NULL;

-- Session lists in (starts_at, id) keyset order within a date range: a
-- faculty member's day, a section's window (the report's range scan uses
-- the same index's prefix), and an administrator's day without either
-- filter. The two indexes of 00004 end at session_date; these replace them
-- with the sort key appended, so a page is one ordered range scan.
DROP INDEX attendance_sessions_faculty_date_idx;
DROP INDEX attendance_sessions_section_date_idx;
CREATE INDEX attendance_sessions_faculty_date_idx ON attendance_sessions (faculty_id, session_date, starts_at, id);
CREATE INDEX attendance_sessions_section_date_idx ON attendance_sessions (section_id, session_date, starts_at, id);
CREATE INDEX attendance_sessions_date_idx ON attendance_sessions (session_date, starts_at, id);

-- A student's leave applications, newest first.
CREATE INDEX leave_applications_student_idx ON leave_applications (student_id, created_at);

-- Correction queues by status (pending first), and a session's requests.
CREATE INDEX correction_requests_status_idx ON correction_requests (status, created_at);
CREATE INDEX correction_requests_session_idx ON correction_requests (session_id);

-- The audit trail newest first, without an entity or actor filter.
CREATE INDEX audit_events_at_idx ON audit_events (at, id);

-- +goose Down
DROP INDEX audit_events_at_idx;
DROP INDEX correction_requests_session_idx;
DROP INDEX correction_requests_status_idx;
DROP INDEX leave_applications_student_idx;
DROP INDEX attendance_sessions_date_idx;
DROP INDEX attendance_sessions_section_date_idx;
DROP INDEX attendance_sessions_faculty_date_idx;
CREATE INDEX attendance_sessions_faculty_date_idx ON attendance_sessions (faculty_id, session_date);
CREATE INDEX attendance_sessions_section_date_idx ON attendance_sessions (section_id, session_date);
DROP INDEX attendance_records_leave_idx;
ALTER TABLE attendance_records DROP COLUMN leave_id;
DROP FUNCTION attendance_pct_hundredths(bigint, bigint, bigint);
