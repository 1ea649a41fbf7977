-- The timeline is append-only (0002 refuses UPDATE and DELETE row by row); TRUNCATE fires no
-- row triggers, so it gets a statement trigger of its own — also when it comes as the CASCADE
-- of truncating incidents. Dropping the table (or its schema) stays possible: that is
-- retiring the data, not editing its history.
CREATE TRIGGER timeline_no_truncate BEFORE TRUNCATE ON timeline
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_is_append_only();
