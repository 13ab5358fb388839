-- Foundations shared by later migrations: extensions, the time-of-day range
-- type used by timetable exclusion constraints, and the monthly partition
-- helper.
--
-- Conventions for the whole schema:
--   * Primary keys are UUIDs. The application (and the seed) may supply them;
--     otherwise gen_random_uuid() does.
--   * Closed value sets (roles, statuses, marks...) are text columns with CHECK
--     constraints rather than PostgreSQL enum types: a CHECK can be replaced in
--     one transactional migration, while enum values can never be removed.
--   * Instants are timestamptz (UTC on the wire); calendar dates are date.
--   * Case-insensitive e-mail addresses use citext.

-- +goose Up
-- citext and btree_gist are "trusted" extensions (PostgreSQL 13+): a database
-- owner may create them without superuser rights. btree_gist lets GiST
-- exclusion constraints mix equality on uuid/smallint/text with range overlap.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- time_subdiff is the subtype difference of timerange, in seconds; it lets
-- GiST build better balanced indexes over time-of-day ranges.
CREATE FUNCTION time_subdiff(x time, y time) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT extract(epoch FROM (x - y))::double precision $$;

-- timerange is a range of times of day, used for weekly timetable slots.
-- Its constructor timerange(start, end) defaults to '[)' bounds, so slots
-- that end when the next begins do not overlap.
CREATE TYPE timerange AS RANGE (subtype = time, subtype_diff = time_subdiff);

-- +goose StatementBegin
-- ensure_monthly_partitions creates, for the table parent (range-partitioned
-- on one date or timestamptz column), one partition per calendar month that
-- overlaps [from_date, to_date], and returns how many it created.
--
-- Partitions are named <parent>_yYYYYmMM (for example
-- attendance_records_y2026m11) in the parent's schema and cover
-- [first day of the month, first day of the next month); for timestamptz keys
-- the bounds are midnight UTC. The function is idempotent: months that already
-- have their partition are skipped, and a transaction-scoped advisory lock per
-- parent serialises concurrent callers (several backend instances starting at
-- once). A table of that name that is not a partition of parent is an error
-- rather than something to skip silently.
--
-- There is deliberately no DEFAULT partition. A default partition would quietly
-- absorb rows for a month whose partition was never created, and creating
-- that month's partition later would then have to scan and fail on those rows.
-- Without one, a write into a missing month fails loudly ("no partition of
-- relation ... found for row"), while `backend serve` and `backend seed` call
-- this function so the months in use and several months ahead always exist.
CREATE FUNCTION ensure_monthly_partitions(parent regclass, from_date date, to_date date)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    key_type    regtype;
    parent_ns   text;
    parent_name text;
    month_start date;
    last_month  date;
    part_name   text;
    existing    regclass;
    lower_bound text;
    upper_bound text;
    created     integer := 0;
BEGIN
    IF parent IS NULL OR from_date IS NULL OR to_date IS NULL THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF from_date > to_date THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: from_date % is after to_date %', from_date, to_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (extract(year FROM to_date) - extract(year FROM from_date)) * 12
        + extract(month FROM to_date) - extract(month FROM from_date) >= 240 THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: range % .. % spans 20 years or more', from_date, to_date
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT a.atttypid::regtype INTO key_type
    FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF key_type IS NULL THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: % is not range-partitioned on a single column', parent
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF key_type NOT IN ('date'::regtype, 'timestamp with time zone'::regtype) THEN
        RAISE EXCEPTION 'ensure_monthly_partitions: partition key of % has type %, want date or timestamptz', parent, key_type
            USING ERRCODE = 'wrong_object_type';
    END IF;

    SELECT n.nspname, c.relname INTO parent_ns, parent_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = parent;

    PERFORM pg_advisory_xact_lock(hashtext('ensure_monthly_partitions'), hashtext(parent::oid::text));

    month_start := date_trunc('month', from_date)::date;
    last_month := date_trunc('month', to_date)::date;
    WHILE month_start <= last_month LOOP
        part_name := format('%s_y%sm%s', parent_name, to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
        existing := to_regclass(format('%I.%I', parent_ns, part_name));
        IF existing IS NULL THEN
            IF key_type = 'date'::regtype THEN
                lower_bound := quote_literal(month_start::text);
                upper_bound := quote_literal((month_start + interval '1 month')::date::text);
            ELSE
                lower_bound := quote_literal(month_start::text || ' 00:00:00+00');
                upper_bound := quote_literal((month_start + interval '1 month')::date::text || ' 00:00:00+00');
            END IF;
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%s) TO (%s)',
                           parent_ns, part_name, parent, lower_bound, upper_bound);
            created := created + 1;
        ELSIF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = existing AND inhparent = parent) THEN
            RAISE EXCEPTION 'ensure_monthly_partitions: % exists but is not a partition of %', existing, parent
                USING ERRCODE = 'duplicate_table';
        END IF;
        month_start := (month_start + interval '1 month')::date;
    END LOOP;
    RETURN created;
END;
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION ensure_monthly_partitions(regclass, date, date) IS
    'Idempotently creates monthly range partitions <parent>_yYYYYmMM covering [from_date, to_date]; returns the number created.';

-- +goose Down
DROP FUNCTION ensure_monthly_partitions(regclass, date, date);
DROP TYPE timerange;
DROP FUNCTION time_subdiff(time, time);
DROP EXTENSION IF EXISTS btree_gist;
DROP EXTENSION IF EXISTS citext;
