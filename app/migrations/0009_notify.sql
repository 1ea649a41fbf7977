-- Wake-ups for the responder's workers (LISTEN/NOTIFY). Committed work is announced on the
-- channel "alertpipe" as "<schema> <topic>", so the worker that takes it starts at once
-- instead of waiting out its poll interval (which stays, for a notification that is lost).
-- PostgreSQL delivers notifications at commit, once per distinct payload per transaction.
--   actions:<kind>  an action of that kind is pending (queued, re-queued, retry scheduled)
--   settled         an action was settled (sent, failed, muted, inhibited)
--   rollbacks       a rollback was requested or changed status
--   timers          a timer was set
--   events          a lifecycle event waits to be published
CREATE FUNCTION alertpipe_notify_action() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'pending' THEN
        PERFORM pg_notify('alertpipe', TG_TABLE_SCHEMA || ' actions:' || NEW.kind);
    ELSIF NEW.status IN ('sent', 'failed', 'muted', 'inhibited') THEN
        PERFORM pg_notify('alertpipe', TG_TABLE_SCHEMA || ' settled');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER actions_notify AFTER INSERT OR UPDATE OF status, next_attempt_at ON actions
    FOR EACH ROW EXECUTE FUNCTION alertpipe_notify_action();

CREATE FUNCTION alertpipe_notify_topic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('alertpipe', TG_TABLE_SCHEMA || ' ' || TG_ARGV[0]);
    RETURN NULL;
END;
$$;
CREATE TRIGGER rollbacks_notify AFTER INSERT OR UPDATE OF status ON rollbacks
    FOR EACH STATEMENT EXECUTE FUNCTION alertpipe_notify_topic('rollbacks');
CREATE TRIGGER timers_notify AFTER INSERT ON timers
    FOR EACH STATEMENT EXECUTE FUNCTION alertpipe_notify_topic('timers');
CREATE TRIGGER incident_events_notify AFTER INSERT ON incident_events
    FOR EACH STATEMENT EXECUTE FUNCTION alertpipe_notify_topic('events');
