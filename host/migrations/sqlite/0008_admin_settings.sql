-- Settings a RingCentral account admin presets for the account's users
-- (GET|POST /admin/settings, read by GET /user/preloadSettings), keyed by the
-- account id's keyed hash (never the id itself).
CREATE TABLE admin_settings (
    account_hash TEXT PRIMARY KEY,
    settings     TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
