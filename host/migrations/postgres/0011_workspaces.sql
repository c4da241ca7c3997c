-- Workspaces: SaaS products that connect their customers' CRMs (the Connect
-- platform). A workspace has backend API keys (only their SHA-256 is kept:
-- each is shown once), the origins its frontend runs on, and the RS256
-- public keys its backend signs connect secrets with (kid → key).
CREATE TABLE workspaces (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    -- JSON array of origins ("https://app.example.com")
    allowed_origins TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE workspace_api_keys (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    name         TEXT NOT NULL,
    -- hex SHA-256 of the whole key; the key itself is never stored
    key_hash     TEXT NOT NULL UNIQUE,
    -- the key's first characters, to tell keys apart in listings
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX workspace_api_keys_by_workspace ON workspace_api_keys (workspace_id);

CREATE TABLE workspace_signing_keys (
    kid            TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id),
    -- SPKI PEM ("BEGIN PUBLIC KEY") of an RSA key of at least 2048 bits
    public_key_pem TEXT NOT NULL,
    -- 'generated' (the platform made the pair, printed the private key once) or 'customer'
    origin         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX workspace_signing_keys_by_workspace ON workspace_signing_keys (workspace_id);
