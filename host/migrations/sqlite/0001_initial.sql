-- Users and their CRM connection. `credential` is AES-256-GCM ciphertext
-- (see host/src/crypto.rs), never plaintext.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,          -- "<crmUserId>-<platform>", the jwtToken `id`
    platform          TEXT NOT NULL,
    crm_user_id       TEXT NOT NULL,
    name              TEXT NOT NULL,
    hostname          TEXT NOT NULL DEFAULT '',
    auth_kind         TEXT NOT NULL,
    credential        BLOB,
    credential_key_id TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE user_settings (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- One row per (user, call session). The row is inserted ('pending') before the
-- CRM is called, so a concurrent duplicate POST /callLog finds it and stops.
CREATE TABLE call_logs (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    state      TEXT NOT NULL,                   -- 'pending' | 'logged'
    log_id     TEXT,
    contact_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, session_id)
);

-- Messages already logged (dedupe by message id).
CREATE TABLE message_logs (
    user_id         TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    log_id          TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
);

-- One CRM record per conversation.
CREATE TABLE conversation_logs (
    user_id         TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    state           TEXT NOT NULL,              -- 'pending' | 'logged'
    log_id          TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);
