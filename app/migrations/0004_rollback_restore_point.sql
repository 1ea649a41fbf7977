-- S2: the moment the restored backup must predate (when the bad version's deploy started, else
-- the start of the first alert's window), fixed when the rollback is requested so that every
-- attempt and every re-send asks for the same backup.
ALTER TABLE rollbacks
    ADD COLUMN restore_before timestamptz,
    ADD COLUMN restore_basis  text;
