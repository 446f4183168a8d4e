-- src/ops/10_restore_hold.sql: the restore hold (src/ops/restore_hold.c says
-- why and how).  crm.timeline_check records every server timeline the crm
-- worker has run on in this database and how it began; a timeline that began
-- where archive recovery stopped at a recovery target (a restore to a point in
-- time) holds delivery until crm.resume_delivery().

CREATE TABLE crm.timeline_check (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_identifier bigint NOT NULL,
    database_oid      oid NOT NULL,
    timeline          integer NOT NULL CONSTRAINT timeline_check_timeline_positive CHECK (timeline >= 1),
    began             text,
    held              boolean NOT NULL DEFAULT false,
    hold_reason       text,
    resumed_at        timestamptz,
    resumed_by        name,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timeline_check_hold_has_reason CHECK (NOT held OR hold_reason IS NOT NULL),
    CONSTRAINT timeline_check_resumed_when_held CHECK (held OR resumed_at IS NULL)
);
SELECT pg_catalog.pg_extension_config_dump('crm.timeline_check', '');
SELECT pg_catalog.pg_extension_config_dump('crm.timeline_check_id_seq', '');
-- the open hold, looked up at every check and by crm.health()
CREATE INDEX timeline_check_open_hold_idx ON crm.timeline_check (id) WHERE held AND resumed_at IS NULL;
CREATE TRIGGER timeline_check_set_updated_at BEFORE UPDATE ON crm.timeline_check
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.timeline_check IS
    'Each server timeline the crm worker has run on in this database, and how it began; a row with held and no '
    'resumed_at holds mail delivery, journeys and campaigns (a restore to a point in time) until crm.resume_delivery().';
COMMENT ON COLUMN crm.timeline_check.id IS 'Order of the checks; the newest row is the timeline last recorded.';
COMMENT ON COLUMN crm.timeline_check.created_at IS 'When the worker recorded the timeline (and held delivery, if it did).';
COMMENT ON COLUMN crm.timeline_check.updated_at IS 'When the row last changed (crm.resume_delivery()).';
COMMENT ON COLUMN crm.timeline_check.system_identifier IS
    'The cluster''s system identifier (pg_control_system()); a physical backup keeps it, a new cluster has its own.';
COMMENT ON COLUMN crm.timeline_check.database_oid IS
    'The database''s oid when checked; a logical restore into another database shows as a different one.';
COMMENT ON COLUMN crm.timeline_check.timeline IS 'The timeline the worker ran on (GetWALInsertionTimeLine()).';
COMMENT ON COLUMN crm.timeline_check.began IS
    'Why the timeline began, from its history file: "no recovery target specified" (a promotion, or archive '
    'recovery to the end of the WAL), or the target archive recovery stopped at; NULL for timeline 1 and for a first check.';
COMMENT ON COLUMN crm.timeline_check.held IS 'Whether delivery was held when the worker found this timeline.';
COMMENT ON COLUMN crm.timeline_check.hold_reason IS 'Why delivery was held.';
COMMENT ON COLUMN crm.timeline_check.resumed_at IS 'When an operator called crm.resume_delivery(); NULL while held.';
COMMENT ON COLUMN crm.timeline_check.resumed_by IS 'Who called crm.resume_delivery().';

-- crm._timeline_switches: the lines of a timeline history file, in order:
-- the parent timeline, the switch point and why the child timeline began.
CREATE FUNCTION crm._timeline_switches(history text)
    RETURNS TABLE (n bigint, parent bigint, switch_point pg_lsn, reason text)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.n, pg_catalog.split_part(h.l, E'\t', 1)::bigint,
           pg_catalog.split_part(h.l, E'\t', 2)::pg_catalog.pg_lsn, pg_catalog.split_part(h.l, E'\t', 3)
      FROM pg_catalog.regexp_split_to_table(history, E'\n') WITH ORDINALITY AS h(l, n)
     WHERE h.l OPERATOR(pg_catalog.~) E'^[0-9]+\t[0-9A-F]+/[0-9A-F]+\t'
$$;
COMMENT ON FUNCTION crm._timeline_switches(text) IS
    'The switches listed in a timeline history file (pg_wal/<timeline>.history), in order: parent timeline, '
    'switch point, and why the next timeline began.';

-- crm._check_timeline: called by the worker's "restore hold" duty on every
-- pass with the cluster's identity, the timeline it runs on and that
-- timeline's history file (NULL when there is none).  Records the timeline if
-- this database has not seen it, and returns why delivery is held, or NULL.
CREATE FUNCTION crm._check_timeline(cluster_id bigint, tli integer, history text)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    db      oid := (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
    last    crm.timeline_check;
    began   text;
    stop    text;
    reason  text;
BEGIN
    IF cluster_id IS NULL OR tli IS NULL OR tli < 1 THEN
        RAISE EXCEPTION 'invalid timeline check (cluster %, timeline %)', cluster_id, tli
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- how this timeline began: the reason on the history file's last line
    SELECT s.reason INTO began FROM crm._timeline_switches(history) s ORDER BY s.n DESC LIMIT 1;

    SELECT * INTO last FROM crm.timeline_check c ORDER BY c.id DESC LIMIT 1;
    IF NOT FOUND OR last.system_identifier <> cluster_id OR last.database_oid <> db THEN
        -- First look from this database at this cluster (a new install, or a
        -- logical restore): nothing earlier to compare with, so nothing to hold.
        INSERT INTO crm.timeline_check (system_identifier, database_oid, timeline, began)
        VALUES (cluster_id, db, tli, began);
    ELSIF last.timeline <> tli THEN
        -- The switches since the timeline last recorded (an ancestor of this one).
        IF history IS NULL THEN
            reason := format('timeline %s began without a history file in pg_wal, so crm cannot tell '
                             'whether it is a restore to a point in time', tli);
        ELSE
            SELECT s.reason INTO stop FROM crm._timeline_switches(history) s
             WHERE s.parent >= last.timeline AND s.reason <> 'no recovery target specified'
             ORDER BY s.n DESC LIMIT 1;
            IF stop IS NOT NULL THEN
                reason := format('restored to a point in time: archive recovery stopped %s and timeline %s began; '
                                 'mail sent after that point would go out again', stop, tli);
            END IF;
        END IF;
        INSERT INTO crm.timeline_check (system_identifier, database_oid, timeline, began, held, hold_reason)
        VALUES (cluster_id, db, tli, began, reason IS NOT NULL, reason);
    END IF;
    RETURN (SELECT c.hold_reason FROM crm.timeline_check c
             WHERE c.held AND c.resumed_at IS NULL ORDER BY c.id DESC LIMIT 1);
END
$$;
REVOKE EXECUTE ON FUNCTION crm._check_timeline(bigint, integer, text) FROM PUBLIC;
COMMENT ON FUNCTION crm._check_timeline(bigint, integer, text) IS
    'The crm worker''s restore hold duty: records a timeline this database has not seen, holding delivery when '
    'archive recovery stopped at a recovery target since the last one; returns why delivery is held, or NULL.';

CREATE FUNCTION crm.wake_restore_hold() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_wake_restore_hold';
REVOKE EXECUTE ON FUNCTION crm.wake_restore_hold() FROM PUBLIC;
COMMENT ON FUNCTION crm.wake_restore_hold() IS
    'Statement trigger on crm.timeline_check: the worker''s restore hold duty looks again when the transaction commits (crm.resume_delivery()).';
CREATE TRIGGER timeline_check_wake_worker AFTER UPDATE ON crm.timeline_check
    FOR EACH STATEMENT EXECUTE FUNCTION crm.wake_restore_hold();

-- crm.resume_delivery: the operator has looked at the outbox after a restore.
CREATE FUNCTION crm.resume_delivery() RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.timeline_check c
       SET resumed_at = pg_catalog.now(), resumed_by = current_user
     WHERE c.held AND c.resumed_at IS NULL;
    IF NOT FOUND THEN
        RAISE NOTICE 'delivery is not held';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.resume_delivery() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.resume_delivery() TO crm_admin;
COMMENT ON FUNCTION crm.resume_delivery() IS
    'Ends the delivery hold that follows a restore to a point in time: the worker sends mail and runs journeys and '
    'campaigns again. Look at crm.email_outbox first: messages queued or sending there may have gone out after the recovery point.';

GRANT SELECT ON crm.timeline_check TO crm_reader;
GRANT UPDATE (resumed_at, resumed_by) ON crm.timeline_check TO crm_admin;
