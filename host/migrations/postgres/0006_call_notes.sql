-- Notes a client cached while a call was going on (POST /callLog/cacheNote),
-- used when that call is logged without a note of its own.
CREATE TABLE call_notes (
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    note       TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, session_id)
);
