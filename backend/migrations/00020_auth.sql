-- Authentication state: signed-in sessions (refresh-token families) and
-- their rotated refresh tokens, revoked access tokens, login throttling for
-- client addresses and unknown user names, MFA challenges and recovery
-- codes, and the token signing keys.
--
-- Secrets are never stored in clear: refresh tokens, MFA challenge tokens and
-- recovery codes are stored as SHA-256 digests (they are 80+ random bits, so
-- a fast digest suffices), private signing keys are sealed by the
-- application (AES-256-GCM keyring, key id inside the ciphertext).

-- +goose Up
ALTER TABLE users
    -- Start of the current window of failed sign-ins (failed_login_count
    -- counts the failures since then).
    ADD COLUMN failed_login_window_start timestamptz,
    -- The last TOTP time step accepted (RFC 6238 §5.2: a code is accepted
    -- once).
    ADD COLUMN mfa_last_step bigint,
    ADD COLUMN password_changed_at timestamptz;

-- A signed-in device: one refresh-token family. Revoking it ends every
-- refresh token of the family and denies its outstanding access tokens.
CREATE TABLE auth_sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    -- Absolute lifetime: refreshing never extends a family past this.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text        CHECK (revoked_reason IN ('logout', 'logout_all', 'refresh_reuse',
                                                         'password_change', 'mfa_change', 'deactivated')),
    mfa            boolean     NOT NULL DEFAULT false,
    user_agent     text        CHECK (length(user_agent) <= 256),
    ip             inet,
    CONSTRAINT auth_sessions_revocation_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
-- The caller's signed-in devices; logout-all.
CREATE INDEX auth_sessions_user_live_idx ON auth_sessions (user_id, created_at) WHERE revoked_at IS NULL;

-- Refresh tokens, one row per issued token. A token is used once: rotation
-- sets rotated_at and issues the next one in the same family; presenting a
-- rotated token again is theft evidence and revokes the family.
CREATE TABLE refresh_tokens (
    token_hash        bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id        uuid        NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    rotated_at        timestamptz,
    -- The access token issued with this refresh token, so that revoking the
    -- family can deny it until it expires.
    access_jti        text        NOT NULL CHECK (length(access_jti) BETWEEN 16 AND 64),
    access_expires_at timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id, access_expires_at);
CREATE UNIQUE INDEX refresh_tokens_access_jti_idx ON refresh_tokens (access_jti);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Revoked access tokens until they expire: the durable side of the jti
-- denylist (Redis holds the fast side; this table keeps revocation holding
-- while Redis is down and refills it after).
CREATE TABLE revoked_tokens (
    jti        text        PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 64),
    user_id    uuid,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_revoked_at_idx ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_idx ON revoked_tokens (expires_at);

-- Failed sign-in counters for keys that are not accounts: client addresses
-- ("ip:<addr>") and user names that match no account ("name:<sha256>"), so
-- unknown names lock out exactly like real accounts and lockout reveals
-- nothing about which accounts exist.
CREATE TABLE login_throttle (
    key          text        PRIMARY KEY CHECK (length(key) BETWEEN 3 AND 128),
    failures     integer     NOT NULL CHECK (failures >= 0),
    window_start timestamptz NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_updated_idx ON login_throttle (updated_at);

-- The second step of a sign-in with MFA: a short-lived challenge handed out
-- after the password, redeemed with a TOTP or recovery code.
CREATE TABLE mfa_challenges (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at    timestamptz
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);

CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Ed25519 token signing keys shared by every instance. The newest key whose
-- activates_at has passed signs; a key is published in the JWK Set from its
-- creation (before it signs, so verifiers learn it in time) until the
-- access tokens it signed have expired.
CREATE TABLE signing_keys (
    kid                text        PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
    public_key         bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    private_key_sealed bytea       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    activates_at       timestamptz NOT NULL
);
CREATE INDEX signing_keys_activates_idx ON signing_keys (activates_at);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_challenges;
DROP TABLE login_throttle;
DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
ALTER TABLE users
    DROP COLUMN password_changed_at,
    DROP COLUMN mfa_last_step,
    DROP COLUMN failed_login_window_start;
