-- Connect secrets already used (their jti), per workspace, until they expire:
-- a secret works once, on any replica.
CREATE TABLE connect_secret_uses (
    workspace_id TEXT NOT NULL,
    jti          TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, jti)
);
CREATE INDEX connect_secret_uses_by_expiry ON connect_secret_uses (expires_at);

-- Connect sessions: what a verified secret (or a backend-minted session)
-- opens for the hosted connect page, for a few minutes. Only the token's
-- SHA-256 is kept.
CREATE TABLE connect_sessions (
    id             TEXT PRIMARY KEY,
    token_hash     TEXT NOT NULL UNIQUE,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id),
    customer_id    TEXT NOT NULL,
    customer_name  TEXT,
    integration_id TEXT,
    connector      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX connect_sessions_by_expiry ON connect_sessions (expires_at);
