-- Outgoing webhooks (Standard Webhooks 1.0): endpoints, the outbox of
-- events, one delivery per (event, endpoint) and each delivery's attempts.
-- See host/src/webhooks/ and host/src/store/webhooks.rs. Times in
-- milliseconds since the epoch (a delivery's latency is sub-second).

-- `scope` is the owning workspace's id, or 'operator' for the operator's own
-- endpoints (App Connect users' events).
CREATE TABLE webhook_endpoints (
    id                   TEXT PRIMARY KEY,
    scope                TEXT NOT NULL,
    url                  TEXT NOT NULL,
    description          TEXT,
    -- ',a,b,' (the event types, comma-delimited) or '*' (every event)
    event_filter         TEXT NOT NULL,
    -- the signing secret (whsec_…), sealed; during a rotation the previous one
    -- signs too until previous_expires_at
    secret               BLOB NOT NULL,
    secret_key_id        TEXT NOT NULL,
    previous_secret      BLOB,
    previous_key_id      TEXT,
    previous_expires_at  INTEGER,
    -- NULL while active; set when paused by its owner or disabled by the host
    disabled_at          INTEGER,
    disabled_reason      TEXT,
    -- the first failed attempt since the last success (disabled after 5 days)
    failing_since        INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    deleted_at           INTEGER
);
CREATE INDEX webhook_endpoints_by_scope ON webhook_endpoints (scope, created_at);

-- The outbox: written in the transaction of what caused the event. `payload`
-- is the exact body every delivery sends (signed as is).
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    scope       TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhook_events_by_time ON webhook_events (created_at);

-- One per (event, endpoint): the queue the workers claim from.
-- state: 'pending' (to be attempted at next_attempt_at), 'delivered', 'failed'.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id),
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    -- a worker's claim: only the token's holder records the attempt
    lease_token      TEXT,
    lease_until      INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    first_attempt_at INTEGER,
    delivered_at     INTEGER,
    updated_at       INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    -- the HTTP status, NULL when no answer came (refused, timed out, blocked)
    status        INTEGER,
    error         TEXT,
    -- the first 1 KiB of the answer
    response_body TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
