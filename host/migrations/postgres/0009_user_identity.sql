-- A user is (platform, crm_user_id): one row each. The id ("<crmUserId>-<platform>"
-- for App Connect compatibility) is only a name for the row; since a platform may
-- contain '-', two identities can derive the same id, and a login never updates a
-- row of another identity (see store/users.rs).
CREATE UNIQUE INDEX users_identity ON users (platform, crm_user_id);
