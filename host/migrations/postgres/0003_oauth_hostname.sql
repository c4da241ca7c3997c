-- The hostname an OAuth login chose (a CRM's regional host, e.g.
-- eu.app.clio.com), carried from /oauth/{platform}/start to the callback.
ALTER TABLE oauth_states ADD COLUMN hostname TEXT;
