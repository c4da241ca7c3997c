-- Sessions the jwtToken names (its `sid` claim): a token is good while its
-- session is not revoked (POST /unAuthorize revokes every session of the user)
-- and has been used within the idle timeout. `last_used_at` is renewed as the
-- session is used (at most once an hour).
CREATE TABLE sessions (
    sid          TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id);
