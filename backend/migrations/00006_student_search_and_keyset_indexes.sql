-- Student list: keyset order on the unique roll number alone, one index per
-- supported filter combination, and trigram search for `q` over the roll
-- number, names and e-mail.
--
-- roll_number is unique, so ORDER BY roll_number is already a total order:
-- the (roll_number, id) index of 00002 duplicated the unique constraint's
-- index and is dropped; the filter indexes end in roll_number alone.

-- +goose Up
-- pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may
-- create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- student_search_text is the text `q` searches: roll number, first and last
-- name and e-mail, lower-cased, space-separated. IMMUTABLE so an expression
-- index can use it; the list query calls it with the same arguments.
CREATE FUNCTION student_search_text(roll_number text, first_name text, last_name text, email text)
    RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(roll_number || ' ' || first_name || ' ' || last_name || ' ' || coalesce(email, '')) $$;

DROP INDEX students_roll_idx;
DROP INDEX students_department_roll_idx;
DROP INDEX students_year_roll_idx;
DROP INDEX students_department_year_roll_idx;
DROP INDEX students_program_idx;

CREATE INDEX students_department_roll_idx ON students (department_id, roll_number);
CREATE INDEX students_year_roll_idx ON students (year_of_study, roll_number);
CREATE INDEX students_department_year_roll_idx ON students (department_id, year_of_study, roll_number);
-- A class (program, year, section letter) in roll order; its prefix also
-- serves the foreign key to programs.
CREATE INDEX students_program_year_section_roll_idx ON students (program_id, year_of_study, section, roll_number);
-- `q`: substring search (ILIKE '%...%') over student_search_text.
CREATE INDEX students_search_trgm_idx ON students
    USING gin (student_search_text(roll_number, first_name, last_name, email::text) gin_trgm_ops);

-- +goose Down
DROP INDEX students_search_trgm_idx;
DROP INDEX students_program_year_section_roll_idx;
DROP INDEX students_department_year_roll_idx;
DROP INDEX students_year_roll_idx;
DROP INDEX students_department_roll_idx;
CREATE INDEX students_roll_idx ON students (roll_number, id);
CREATE INDEX students_department_roll_idx ON students (department_id, roll_number, id);
CREATE INDEX students_year_roll_idx ON students (year_of_study, roll_number, id);
CREATE INDEX students_department_year_roll_idx ON students (department_id, year_of_study, roll_number, id);
CREATE INDEX students_program_idx ON students (program_id);
DROP FUNCTION student_search_text(text, text, text, text);
DROP EXTENSION IF EXISTS pg_trgm;
