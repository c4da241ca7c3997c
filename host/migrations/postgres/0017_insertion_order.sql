-- The order rows were inserted in, for listings by time: rows written in the
-- same millisecond tie on created_at, and their random ids would put them in
-- any order (SQLite has its rowid for this; see Backend::insertion_order).
-- Rows already here are numbered in no particular order.
ALTER TABLE webhook_deliveries ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE webhook_endpoints ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE integrations ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE workspaces ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE workspace_api_keys ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE workspace_signing_keys ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
