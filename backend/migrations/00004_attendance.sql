-- Attendance: sessions (one class meeting), records (one student's mark in a
-- session, range-partitioned by month), leave applications and correction
-- requests.

-- +goose Up
CREATE TABLE attendance_sessions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    section_id   uuid        NOT NULL REFERENCES sections (id),
    faculty_id   uuid        NOT NULL REFERENCES faculty (id),
    slot_id      uuid        REFERENCES timetable_slots (id) ON DELETE SET NULL,
    session_date date        NOT NULL, -- the date in the institution's time zone
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'scheduled'
                             CHECK (status IN ('scheduled', 'open', 'closed', 'locked', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attendance_sessions_times_ordered CHECK (starts_at < ends_at),
    -- One session per slot per date; sessions without a slot (extra classes)
    -- are not constrained, as NULLs are distinct.
    CONSTRAINT attendance_sessions_slot_date_key UNIQUE (slot_id, session_date),
    -- Target of attendance_records' foreign key, which pins each record's
    -- partition key to its session's date.
    CONSTRAINT attendance_sessions_id_date_key UNIQUE (id, session_date),
    -- Neither a section nor a faculty member holds two live sessions at once.
    CONSTRAINT attendance_sessions_no_section_overlap EXCLUDE USING gist (
        section_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status <> 'cancelled'),
    CONSTRAINT attendance_sessions_no_faculty_overlap EXCLUDE USING gist (
        faculty_id WITH =, tstzrange(starts_at, ends_at) WITH &&) WHERE (status <> 'cancelled')
);
-- A faculty member's sessions for a day; a section's sessions over a window.
CREATE INDEX attendance_sessions_faculty_date_idx ON attendance_sessions (faculty_id, session_date);
CREATE INDEX attendance_sessions_section_date_idx ON attendance_sessions (section_id, session_date);
-- The scheduler's scan for sessions to open or close.
CREATE INDEX attendance_sessions_live_idx ON attendance_sessions (starts_at) WHERE status IN ('scheduled', 'open');

-- Range-partitioned by month on session_date; partitions are created by
-- ensure_monthly_partitions('attendance_records', from, to). The primary key
-- must contain the partition key; as session_date is fixed by the session
-- (foreign key below), it is unique per (session_id, student_id) as well.
CREATE TABLE attendance_records (
    session_id   uuid        NOT NULL,
    student_id   uuid        NOT NULL REFERENCES students (id),
    session_date date        NOT NULL,
    mark         text        NOT NULL CHECK (mark IN ('present', 'absent', 'late', 'excused')),
    source       text        NOT NULL CHECK (source IN ('manual', 'qr', 'bulk', 'import', 'system')),
    marked_at    timestamptz NOT NULL DEFAULT now(),
    marked_by    uuid        REFERENCES users (id),
    reason       text,
    PRIMARY KEY (session_id, student_id, session_date),
    CONSTRAINT attendance_records_session_fk FOREIGN KEY (session_id, session_date)
        REFERENCES attendance_sessions (id, session_date)
) PARTITION BY RANGE (session_date);
-- A student's records over a window (summaries, percentages).
CREATE INDEX attendance_records_student_date_idx ON attendance_records (student_id, session_date);

CREATE TABLE leave_applications (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    student_id uuid        NOT NULL REFERENCES students (id),
    type       text        NOT NULL CHECK (type IN ('medical', 'on_duty', 'sport', 'personal', 'emergency', 'other')),
    start_date date        NOT NULL,
    end_date   date        NOT NULL,
    reason     text        NOT NULL CHECK (btrim(reason) <> ''),
    status     text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
    decided_by uuid        REFERENCES users (id),
    decided_at timestamptz,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leave_applications_dates_ordered CHECK (start_date <= end_date),
    CONSTRAINT leave_applications_decision_recorded CHECK (status NOT IN ('approved', 'rejected') OR decided_at IS NOT NULL),
    -- No overlap with another pending or approved leave of the same student.
    CONSTRAINT leave_applications_no_overlap EXCLUDE USING gist (
        student_id WITH =, daterange(start_date, end_date, '[]') WITH &&) WHERE (status IN ('pending', 'approved'))
);
CREATE INDEX leave_applications_status_idx ON leave_applications (status, created_at);

CREATE TABLE correction_requests (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id   uuid        NOT NULL,
    student_id   uuid        NOT NULL,
    session_date date        NOT NULL,
    from_mark    text        NOT NULL CHECK (from_mark IN ('present', 'absent', 'late', 'excused')),
    to_mark      text        NOT NULL CHECK (to_mark IN ('present', 'absent', 'late', 'excused')),
    reason       text        NOT NULL CHECK (btrim(reason) <> ''),
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'cancelled')),
    requested_by uuid        REFERENCES users (id),
    decided_by   uuid        REFERENCES users (id),
    decided_at   timestamptz,
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT correction_requests_marks_differ CHECK (from_mark <> to_mark),
    CONSTRAINT correction_requests_decision_recorded CHECK (status NOT IN ('approved', 'rejected') OR decided_at IS NOT NULL),
    -- A correction is about an existing record. "from_mark equals the current
    -- mark" is checked by the application when filing and when approving.
    CONSTRAINT correction_requests_record_fk FOREIGN KEY (session_id, student_id, session_date)
        REFERENCES attendance_records (session_id, student_id, session_date)
);
-- At most one pending request per (session, student).
CREATE UNIQUE INDEX correction_requests_one_pending ON correction_requests (session_id, student_id) WHERE status = 'pending';
CREATE INDEX correction_requests_student_idx ON correction_requests (student_id, created_at);

-- +goose Down
DROP TABLE correction_requests;
DROP TABLE leave_applications;
DROP TABLE attendance_records;
DROP TABLE attendance_sessions;
