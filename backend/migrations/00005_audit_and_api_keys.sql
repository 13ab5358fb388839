-- The append-only audit trail (range-partitioned by month on `at`) and API
-- keys.

-- +goose Up
-- Partitions are created by ensure_monthly_partitions('audit_events', from,
-- to), with bounds at midnight UTC. The primary key must contain the
-- partition key.
CREATE TABLE audit_events (
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    at         timestamptz NOT NULL DEFAULT now(),
    actor_id   uuid,       -- the acting user; NULL for the system itself
    action     text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{1,63}$'),
    entity     text        NOT NULL CHECK (entity ~ '^[a-z][a-z0-9_]{1,63}$'),
    entity_id  text        NOT NULL,
    before     jsonb,
    after      jsonb,
    ip         inet,
    request_id text        CHECK (length(request_id) <= 64),
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
-- No foreign key to users: the trail must outlive the rows it talks about.
CREATE INDEX audit_events_entity_idx ON audit_events (entity, entity_id, at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);

-- +goose StatementBegin
-- Append-only: rows are never updated or deleted. Retention works on whole
-- partitions (DETACH PARTITION, then DROP), which row triggers do not see.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid        NOT NULL REFERENCES users (id),
    name         text        NOT NULL CHECK (btrim(name) <> ''),
    -- The non-secret prefix shown in listings and used to find the key.
    prefix       text        NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9_]{6,32}$'),
    -- SHA-256 of the secret; the secret itself is shown once and never stored.
    secret_hash  bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    scopes       text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX api_keys_owner_idx ON api_keys (owner_id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
