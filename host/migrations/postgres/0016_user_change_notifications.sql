-- Each process keeps signed-in users in memory (store/session_cache.rs). A
-- change to a user or a session notifies every process listening on
-- `switchboard_user_changed` with the user's id (delivered at commit), so
-- that the other replicas forget their copy.
CREATE FUNCTION switchboard_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
BEGIN
    -- OLD: an update keeps the ids, and a delete has no NEW.
    IF TG_TABLE_NAME = 'users' THEN
        changed := OLD.id;
    ELSE
        changed := OLD.user_id;
    END IF;
    PERFORM pg_notify('switchboard_user_changed', changed);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION switchboard_user_changed();
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION switchboard_user_changed();
