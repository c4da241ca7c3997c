-- The three logging ledgers (call_logs, conversation_logs, message_logs) get
-- the same shape, (user_id, key, state, log_id, created_at, updated_at), so one
-- reservation helper serves them all (host/src/store/reservations.rs).
-- A message row without a log id was a reservation still in flight.
ALTER TABLE message_logs ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';   -- 'pending' | 'logged'
UPDATE message_logs SET state = 'logged' WHERE log_id IS NOT NULL;
ALTER TABLE message_logs ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE message_logs SET updated_at = created_at;
ALTER TABLE conversation_logs ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE conversation_logs SET updated_at = created_at;
