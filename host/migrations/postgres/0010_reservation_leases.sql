-- A pending reservation is leased: its owner's token and the time the lease
-- ends, beyond the wall-clock deadline of the CRM call it guards. A request
-- that finds the lease ended takes the work over (a crashed owner never
-- leaves a key pending for ever); see host/src/store/reservations.rs.
-- Rows pending from before this migration have no lease: they are taken over.
ALTER TABLE call_logs ADD COLUMN lease_token TEXT;
ALTER TABLE call_logs ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE conversation_logs ADD COLUMN lease_token TEXT;
ALTER TABLE conversation_logs ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE message_logs ADD COLUMN lease_token TEXT;
ALTER TABLE message_logs ADD COLUMN lease_expires_at BIGINT;
