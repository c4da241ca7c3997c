-- OAuth connections: the access token lives in `credential`; the refresh
-- token is sealed the same way (AES-256-GCM, bound to its row and column).
ALTER TABLE users ADD COLUMN refresh_token BYTEA;
ALTER TABLE users ADD COLUMN refresh_key_id TEXT;
ALTER TABLE users ADD COLUMN expires_at BIGINT;
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';   -- active | revoked
ALTER TABLE users ADD COLUMN last_refresh_at BIGINT;
ALTER TABLE users ADD COLUMN last_error TEXT;

-- OAuth `state` values: single use, short-lived; the PKCE verifier is sealed.
CREATE TABLE oauth_states (
    state          TEXT PRIMARY KEY,
    platform       TEXT NOT NULL,
    pkce_verifier  BYTEA,
    key_id         TEXT,
    expires_at     BIGINT NOT NULL
);

-- Connection events for operators; never a secret.
CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    user_id    TEXT,
    platform   TEXT NOT NULL,
    event      TEXT NOT NULL,      -- login | refresh | refresh_failed | revoked | disconnect
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
);
