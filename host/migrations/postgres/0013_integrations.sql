-- Integrations (the Connect platform): a workspace's customer's connection to
-- a CRM. The connection itself (sealed credential and refresh token, expiry,
-- revoked status, last refresh and error) is the `users` row of the same id,
-- as an App Connect user's is: one connection model, two owners.
-- `users.workspace_id` names the owner: NULL for an App Connect user.
ALTER TABLE users ADD COLUMN workspace_id TEXT;
-- Two customers may connect the same CRM account: identity is App Connect's only.
DROP INDEX users_identity;
CREATE UNIQUE INDEX users_identity ON users (platform, crm_user_id) WHERE workspace_id IS NULL;

CREATE TABLE integrations (
    id              TEXT PRIMARY KEY REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    customer_id     TEXT NOT NULL,
    connector       TEXT NOT NULL,
    name            TEXT,
    -- a JSON object the workspace keeps with the integration
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL,
    -- the latest connect (a reconnect moves it); the audit trail has them all
    connected_at    BIGINT NOT NULL,
    disconnected_at BIGINT,
    updated_at      BIGINT NOT NULL
);
-- One integration per customer and connector: connecting again renews it, same id.
CREATE UNIQUE INDEX integrations_by_customer ON integrations (workspace_id, customer_id, connector);

-- An OAuth login for an integration carries what to create and where to
-- answer (JSON: workspace, customer, name, renewed integration, return URL,
-- connect session, client IP and user agent); NULL for App Connect logins.
ALTER TABLE oauth_states ADD COLUMN purpose TEXT;

CREATE INDEX audit_events_by_user ON audit_events (user_id, id);
