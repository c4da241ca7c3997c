-- Authorization codes of client-initiated OAuth logins (the App Connect
-- extension builds the authorize URL itself, so there is no stored `state`):
-- each code is claimed here before it is exchanged, so it works once. Only a
-- hash of the code is kept.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    platform  TEXT NOT NULL,
    used_at   BIGINT NOT NULL
);
