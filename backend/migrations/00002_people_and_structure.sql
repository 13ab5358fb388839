-- Users, the academic structure (departments, programs, terms, courses) and
-- the people in it (students, faculty).

-- +goose Up
CREATE TABLE users (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email                 citext      NOT NULL UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    -- bcrypt hash in modular crypt format ($2a$, $2b$ or $2y$, cost, 53 chars).
    password_hash         text        NOT NULL CHECK (password_hash ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$'),
    role                  text        NOT NULL CHECK (role IN ('admin', 'registrar', 'faculty', 'student', 'auditor')),
    active                boolean     NOT NULL DEFAULT true,
    -- TOTP secret sealed by the application (AEAD, nonce-prefixed); the key
    -- never reaches the database.
    mfa_secret_ciphertext bytea,
    mfa_enabled           boolean     NOT NULL DEFAULT false,
    failed_login_count    integer     NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_until          timestamptz,
    must_change_password  boolean     NOT NULL DEFAULT false,
    last_login_at         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_mfa_needs_secret CHECK (NOT mfa_enabled OR mfa_secret_ciphertext IS NOT NULL)
);

CREATE TABLE departments (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code       text        NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name       text        NOT NULL CHECK (btrim(name) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE programs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code           text        NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9-]{1,19}$'),
    name           text        NOT NULL CHECK (btrim(name) <> ''),
    level          text        NOT NULL CHECK (level IN ('UG', 'PG', 'PHD', 'DIPLOMA')),
    department_id  uuid        NOT NULL REFERENCES departments (id),
    duration_years smallint    NOT NULL CHECK (duration_years BETWEEN 1 AND 7),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Target of students' (program_id, department_id) foreign key, which keeps
    -- a student's department equal to their program's.
    CONSTRAINT programs_id_department_key UNIQUE (id, department_id)
);
CREATE INDEX programs_department_idx ON programs (department_id);

CREATE TABLE terms (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL UNIQUE CHECK (btrim(name) <> ''),
    start_date date        NOT NULL,
    end_date   date        NOT NULL,
    is_current boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT terms_dates_ordered CHECK (start_date < end_date)
);
-- At most one current term.
CREATE UNIQUE INDEX terms_one_current ON terms (is_current) WHERE is_current;

CREATE TABLE students (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    roll_number        text        NOT NULL CHECK (roll_number ~ '^[A-Z0-9][A-Z0-9/-]{2,31}$'),
    first_name         text        NOT NULL CHECK (btrim(first_name) <> ''),
    last_name          text        NOT NULL CHECK (btrim(last_name) <> ''),
    email              citext      UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    -- Phone number sealed by the application (AEAD, nonce-prefixed); never
    -- listed, never stored in clear.
    phone_ciphertext   bytea,
    date_of_birth      date        CHECK (date_of_birth > DATE '1900-01-01'),
    gender             text        CHECK (gender IN ('female', 'male', 'other', 'undisclosed')),
    department_id      uuid        NOT NULL REFERENCES departments (id),
    program_id         uuid        NOT NULL,
    year_of_study      smallint    NOT NULL CHECK (year_of_study BETWEEN 1 AND 6),
    section            text        NOT NULL CHECK (section ~ '^[A-Z]$'),
    status             text        NOT NULL DEFAULT 'ACTIVE'
                                   CHECK (status IN ('ACTIVE', 'INACTIVE', 'GRADUATED', 'SUSPENDED', 'DROPPED')),
    user_id            uuid        UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT students_roll_number_key UNIQUE (roll_number),
    CONSTRAINT students_program_fk FOREIGN KEY (program_id, department_id)
        REFERENCES programs (id, department_id)
);
-- Keyset pagination of the student list (ORDER BY roll_number, id) without
-- filters and with each filter (department, year, both): each index is the
-- filter columns followed by the whole sort key, so a page is one ordered
-- index range scan with no sort step.
CREATE INDEX students_roll_idx ON students (roll_number, id);
CREATE INDEX students_department_roll_idx ON students (department_id, roll_number, id);
CREATE INDEX students_year_roll_idx ON students (year_of_study, roll_number, id);
CREATE INDEX students_department_year_roll_idx ON students (department_id, year_of_study, roll_number, id);
CREATE INDEX students_program_idx ON students (program_id);

CREATE TABLE faculty (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    employee_id   text        NOT NULL UNIQUE CHECK (employee_id ~ '^[A-Z0-9][A-Z0-9-]{2,31}$'),
    first_name    text        NOT NULL CHECK (btrim(first_name) <> ''),
    last_name     text        NOT NULL CHECK (btrim(last_name) <> ''),
    email         citext      NOT NULL UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    designation   text        NOT NULL CHECK (btrim(designation) <> ''),
    department_id uuid        NOT NULL REFERENCES departments (id),
    active        boolean     NOT NULL DEFAULT true,
    user_id       uuid        UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX faculty_department_idx ON faculty (department_id);

CREATE TABLE courses (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    code          text         NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9-]{2,19}$'),
    title         text         NOT NULL CHECK (btrim(title) <> ''),
    credits       numeric(3,1) NOT NULL CHECK (credits > 0 AND credits <= 20),
    department_id uuid         NOT NULL REFERENCES departments (id),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX courses_department_idx ON courses (department_id);

-- +goose Down
DROP TABLE courses;
DROP TABLE faculty;
DROP TABLE students;
DROP TABLE terms;
DROP TABLE programs;
DROP TABLE departments;
DROP TABLE users;
