-- Teaching: sections of courses in a term, enrollments (rosters), the weekly
-- timetable and holidays.

-- +goose Up
CREATE TABLE sections (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id    uuid        NOT NULL REFERENCES courses (id),
    term_id      uuid        NOT NULL REFERENCES terms (id),
    faculty_id   uuid        NOT NULL REFERENCES faculty (id),
    section_code text        NOT NULL CHECK (section_code ~ '^[A-Z0-9]{1,8}$'),
    capacity     integer     NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sections_course_term_code_key UNIQUE (course_id, term_id, section_code),
    -- Target of timetable_slots' foreign key, which copies the term and the
    -- faculty member into each slot so exclusion constraints can see them.
    CONSTRAINT sections_id_term_faculty_key UNIQUE (id, term_id, faculty_id)
);
-- "My sections this term" for a faculty member.
CREATE INDEX sections_faculty_term_idx ON sections (faculty_id, term_id);
CREATE INDEX sections_term_idx ON sections (term_id);

CREATE TABLE enrollments (
    student_id  uuid        NOT NULL REFERENCES students (id),
    section_id  uuid        NOT NULL REFERENCES sections (id),
    status      text        NOT NULL DEFAULT 'ENROLLED' CHECK (status IN ('ENROLLED', 'DROPPED', 'COMPLETED')),
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, section_id)
);
-- The roster of a section: its ENROLLED students.
CREATE INDEX enrollments_roster_idx ON enrollments (section_id, student_id) WHERE status = 'ENROLLED';

-- A weekly slot of a section. term_id and faculty_id are copies of the
-- section's, kept in step by the composite foreign key (ON UPDATE CASCADE: a
-- section handed to another faculty member moves its slots too, and the
-- exclusion constraints re-check the move). The constraints guarantee that,
-- within a term, no section, faculty member or room is double-booked in
-- overlapping slots on the same weekday.
CREATE TABLE timetable_slots (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    section_id uuid        NOT NULL,
    term_id    uuid        NOT NULL,
    faculty_id uuid        NOT NULL,
    weekday    smallint    NOT NULL CHECK (weekday BETWEEN 1 AND 7), -- ISO 8601: 1 = Monday
    start_time time        NOT NULL,
    end_time   time        NOT NULL,
    room       text        NOT NULL CHECK (btrim(room) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timetable_slots_times_ordered CHECK (start_time < end_time),
    CONSTRAINT timetable_slots_section_fk FOREIGN KEY (section_id, term_id, faculty_id)
        REFERENCES sections (id, term_id, faculty_id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT timetable_slots_no_section_overlap EXCLUDE USING gist (
        section_id WITH =, weekday WITH =, timerange(start_time, end_time) WITH &&),
    CONSTRAINT timetable_slots_no_faculty_overlap EXCLUDE USING gist (
        faculty_id WITH =, term_id WITH =, weekday WITH =, timerange(start_time, end_time) WITH &&),
    CONSTRAINT timetable_slots_no_room_overlap EXCLUDE USING gist (
        room WITH =, term_id WITH =, weekday WITH =, timerange(start_time, end_time) WITH &&)
);

CREATE TABLE holidays (
    holiday_date date        PRIMARY KEY,
    name         text        NOT NULL CHECK (btrim(name) <> ''),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE holidays;
DROP TABLE timetable_slots;
DROP TABLE enrollments;
DROP TABLE sections;
