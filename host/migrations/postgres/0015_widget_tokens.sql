-- Widget tokens (issue 16): short-lived bearer tokens a workspace's backend
-- mints for one customer, carried by the embeddable widget. Only the
-- token's SHA-256 is kept; see host/src/store/widget_tokens.rs.
CREATE TABLE widget_tokens (
    token_hash   TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    customer_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX widget_tokens_by_expiry ON widget_tokens (expires_at);
