-- src/security/30_audit.sql: the audit trail (who changed what, and when)
-- and its SHA-256 hash chain.
--
-- The C trigger crm.record_audit (audit_trigger.c) writes one crm.audit_log
-- row per insert, update (changed columns only, old and new) and delete on
-- the CRM tables below, and one per TRUNCATE.  Nobody but the extension's
-- owner may change or delete log rows.  crm.seal_audit (a duty of the
-- background worker, or called by hand) then seals them: in id order, each
-- row's hash is SHA-256(the previous row's hash || the row's digest), and
-- the digest hashes one digest per logged value (audit_chain.c), so that
-- crm.erase_person can replace a value and the chain still verifies.
-- crm.verify_audit recomputes the chain; crm.audit_anchor gives its head,
-- for operators to keep elsewhere and to pass to crm.verify_audit(anchor),
-- which also notices the newest rows removed.
--
-- When may a row be sealed?  Ids come from a sequence in the order they are
-- drawn, but transactions commit in any order: a transaction may still
-- commit id 100 after id 101 is visible, and sealing 101 first would leave
-- 100 outside the chain for ever.  Writers are not serialised; instead the
-- sealer only seals ids that no running transaction can still commit:
--   * the trigger takes its transaction id before it draws a log id, so a
--     transaction that drew an id at most L had its transaction id before L
--     was read;
--   * crm.seal_audit reads L (the sequence's last value) before its own
--     transaction has an id, then takes one (X): every writer of an id <= L
--     has a transaction id below X;
--   * so ids up to L are safe once no transaction older than X runs, that
--     is once the snapshot's xmin reaches X: at once when nothing older is
--     running, else at a later call (L and X are kept in crm.audit_seal).
-- A transaction that had an id when it called crm.seal_audit cannot take a
-- fresh one after reading L, so it only seals what earlier calls made safe.

CREATE TABLE crm.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       name NOT NULL,
    table_name  text NOT NULL,
    row_id      bigint,
    action      text NOT NULL
                CONSTRAINT audit_log_action_valid CHECK (action IN ('insert', 'update', 'delete', 'truncate', 'erase')),
    changed     jsonb NOT NULL
                CONSTRAINT audit_log_changed_object CHECK (jsonb_typeof(changed) = 'object'),
    txid        xid8 NOT NULL,
    hash        bytea
);
SELECT pg_catalog.pg_extension_config_dump('crm.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('crm.audit_log_id_seq', '');
-- crm.audit_history's lookup; one integer column, the cheapest index to keep up to date per row
CREATE INDEX audit_log_row_idx ON crm.audit_log (row_id);
COMMENT ON TABLE crm.audit_log IS
    'Every insert, update and delete on the CRM tables, written by crm.record_audit; append-only; sealed into a '
    'SHA-256 hash chain by crm.seal_audit.';
COMMENT ON COLUMN crm.audit_log.id IS 'Order of the log; the chain follows it.';
COMMENT ON COLUMN crm.audit_log.at IS 'When: the writing transaction''s timestamp (now()).';
COMMENT ON COLUMN crm.audit_log.actor IS 'Who: the session''s role (SET ROLE counts, SECURITY DEFINER functions do not).';
COMMENT ON COLUMN crm.audit_log.table_name IS 'The table changed, schema-qualified (crm.deal).';
COMMENT ON COLUMN crm.audit_log.row_id IS 'The id of the row changed; NULL for a table without an id, and for truncate.';
COMMENT ON COLUMN crm.audit_log.action IS 'insert, update, delete, truncate, or erase (crm.erase_person).';
COMMENT ON COLUMN crm.audit_log.changed IS
    'insert and delete: the whole row {"column": value}; update: the changed columns {"column": {"old": ..., '
    '"new": ...}} (updated_at left out). An erased value reads {"crm_erased_sha256": "<its digest>"}.';
COMMENT ON COLUMN crm.audit_log.txid IS 'The writing transaction (pg_current_xact_id()).';
COMMENT ON COLUMN crm.audit_log.hash IS
    'SHA-256(previous row''s hash || this row''s digest) once sealed; NULL until crm.seal_audit reaches it.';

CREATE TABLE crm.audit_seal (
    id            boolean PRIMARY KEY DEFAULT true CONSTRAINT audit_seal_one_row CHECK (id),
    sealed_id     bigint NOT NULL DEFAULT 0,
    sealed_count  bigint NOT NULL DEFAULT 0,
    head          bytea,
    safe_id       bigint NOT NULL DEFAULT 0,
    horizon_id    bigint,
    horizon_xid   xid8,
    sealed_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- created by the first crm.seal_audit, not here: a restore brings its own row
SELECT pg_catalog.pg_extension_config_dump('crm.audit_seal', '');
CREATE TRIGGER audit_seal_set_updated_at BEFORE UPDATE ON crm.audit_seal
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.audit_seal IS 'Where the audit chain''s sealing stands (one row, kept by crm.seal_audit).';
COMMENT ON COLUMN crm.audit_seal.id IS 'Always true: the table has one row.';
COMMENT ON COLUMN crm.audit_seal.sealed_id IS 'The last log id sealed.';
COMMENT ON COLUMN crm.audit_seal.sealed_count IS 'How many log rows are sealed.';
COMMENT ON COLUMN crm.audit_seal.head IS 'The hash of the last sealed row (NULL before the first).';
COMMENT ON COLUMN crm.audit_seal.safe_id IS 'Ids up to this one can no longer be committed by a running transaction.';
COMMENT ON COLUMN crm.audit_seal.horizon_id IS 'The next safe_id, once every transaction older than horizon_xid has ended.';
COMMENT ON COLUMN crm.audit_seal.horizon_xid IS 'The sealing transaction that read horizon_id.';
COMMENT ON COLUMN crm.audit_seal.sealed_at IS 'When rows were last sealed.';
COMMENT ON COLUMN crm.audit_seal.created_at IS 'When sealing first ran.';
COMMENT ON COLUMN crm.audit_seal.updated_at IS 'When sealing last ran.';

CREATE FUNCTION crm.record_audit() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_record_audit';
REVOKE EXECUTE ON FUNCTION crm.record_audit() FROM PUBLIC;
COMMENT ON FUNCTION crm.record_audit() IS
    'AFTER INSERT OR UPDATE OR DELETE row trigger (or AFTER TRUNCATE statement trigger) writing crm.audit_log; '
    'only on tables whose owner may write the log, crm''s own.';

DO $audited$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['account', 'contact', 'activity', 'product', 'pipeline', 'stage', 'stage_transition',
                             'deal', 'deal_item', 'quote', 'quote_item', 'sales_order', 'sales_order_item',
                             'invoice', 'invoice_line', 'payment', 'ticket', 'ticket_sla_policy',
                             'email_template', 'email_suppression', 'setting', 'team', 'team_member']
    LOOP
        EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON crm.%I '
                       'FOR EACH ROW EXECUTE FUNCTION crm.record_audit()', t);
        EXECUTE format('CREATE TRIGGER audit_truncate AFTER TRUNCATE ON crm.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION crm.record_audit()', t);
    END LOOP;
END
$audited$;

-- The chain.
CREATE FUNCTION crm.audit_row_digest(id bigint, at timestamptz, actor name, table_name text, row_id bigint,
                                     action text, changed jsonb, txid xid8)
    RETURNS bytea
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_audit_row_digest';
COMMENT ON FUNCTION crm.audit_row_digest(bigint, timestamptz, name, text, bigint, text, jsonb, xid8) IS
    'SHA-256 digest of one audit row: its fields and one digest per value in changed (see crm.audit_value_digest).';

CREATE FUNCTION crm.audit_value_digest(value jsonb) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_audit_value_digest';
COMMENT ON FUNCTION crm.audit_value_digest(jsonb) IS
    'The digest the audit chain keeps for one logged value: SHA-256 of its jsonb text, or for an erased value '
    '{"crm_erased_sha256": "<hex>"} the digest it carries.';

CREATE FUNCTION crm.audit_chain_step(state bytea, start bytea, digest bytea) RETURNS bytea
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_audit_chain_step';
COMMENT ON FUNCTION crm.audit_chain_step(bytea, bytea, bytea) IS
    'Transition function of crm.audit_chain: SHA-256(state || digest), state starting as start.';

CREATE AGGREGATE crm.audit_chain(start bytea, digest bytea) (
    SFUNC = crm.audit_chain_step,
    STYPE = bytea
);
COMMENT ON AGGREGATE crm.audit_chain(bytea, bytea) IS
    'The audit hash chain over digests in the aggregate''s order, from start (NULL: the beginning); used as a '
    'window function over audit rows ORDER BY id, it gives each row''s hash.';

-- The seal state's row is created by the first call that seals or waits
-- for something; a call with nothing to do writes nothing (the worker calls
-- it every poll interval).
CREATE FUNCTION crm.seal_audit(max_rows integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fresh boolean := pg_current_xact_id_if_assigned() IS NULL;
    latest bigint;
    me xid8;
    st crm.audit_seal;
    snap pg_snapshot;
    changed boolean := false;
    n integer := 0;
    last_id bigint;
    last_hash bytea;
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- read before this transaction takes its id (see the file comment)
    IF fresh THEN
        latest := coalesce(pg_sequence_last_value('crm.audit_log_id_seq'::regclass), 0);
    END IF;
    LOCK TABLE crm.audit_seal IN EXCLUSIVE MODE;            -- one sealer at a time
    SELECT * INTO st FROM crm.audit_seal s;
    IF NOT FOUND THEN
        st := ROW(true, 0, 0, NULL, 0, NULL, NULL, NULL, now(), now());
    END IF;

    -- a horizon read by an earlier call: safe once every older transaction ended
    -- (one at or past the snapshot's xmax comes from another cluster's dump:
    -- every restored row is committed)
    snap := pg_current_snapshot();
    IF st.horizon_xid IS NOT NULL
       AND (pg_snapshot_xmin(snap) OPERATOR(pg_catalog.>) st.horizon_xid
            OR st.horizon_xid OPERATOR(pg_catalog.>=) pg_snapshot_xmax(snap)) THEN
        st.safe_id := greatest(st.safe_id, st.horizon_id);
        st.horizon_id := NULL;
        st.horizon_xid := NULL;
        changed := true;
    END IF;
    -- the ids drawn by now: safe at once when nothing older than us runs, else later
    IF fresh AND latest OPERATOR(pg_catalog.>) st.safe_id AND st.horizon_xid IS NULL THEN
        me := pg_current_xact_id();
        IF pg_snapshot_xmin(pg_current_snapshot()) OPERATOR(pg_catalog.>=) me THEN
            st.safe_id := latest;
        ELSE
            st.horizon_id := latest;
            st.horizon_xid := me;
        END IF;
        changed := true;
    END IF;

    IF st.safe_id OPERATOR(pg_catalog.>) st.sealed_id THEN
        WITH todo AS (
            SELECT l.id,
                   crm.audit_chain(st.head, crm.audit_row_digest(l.id, l.at, l.actor, l.table_name, l.row_id,
                                                                 l.action, l.changed, l.txid))
                       OVER (ORDER BY l.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hash
              FROM crm.audit_log l
             WHERE l.id OPERATOR(pg_catalog.>) st.sealed_id AND l.id OPERATOR(pg_catalog.<=) st.safe_id
             ORDER BY l.id
             LIMIT max_rows
        ), sealed AS (
            UPDATE crm.audit_log l SET hash = todo.hash FROM todo
             WHERE l.id OPERATOR(pg_catalog.=) todo.id
            RETURNING l.id, l.hash
        )
        SELECT count(*), max(s.id), (array_agg(s.hash ORDER BY s.id DESC))[1] INTO n, last_id, last_hash FROM sealed s;
        IF n > 0 THEN
            st.sealed_id := last_id;
            st.sealed_count := st.sealed_count + n;
            st.head := last_hash;
            st.sealed_at := now();
            changed := true;
        END IF;
    END IF;

    IF changed THEN
        INSERT INTO crm.audit_seal AS s (id, sealed_id, sealed_count, head, safe_id, horizon_id, horizon_xid, sealed_at)
        VALUES (true, st.sealed_id, st.sealed_count, st.head, st.safe_id, st.horizon_id, st.horizon_xid, st.sealed_at)
        ON CONFLICT ON CONSTRAINT audit_seal_pkey DO UPDATE
           SET sealed_id = EXCLUDED.sealed_id, sealed_count = EXCLUDED.sealed_count, head = EXCLUDED.head,
               safe_id = EXCLUDED.safe_id, horizon_id = EXCLUDED.horizon_id, horizon_xid = EXCLUDED.horizon_xid,
               sealed_at = EXCLUDED.sealed_at;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.seal_audit(integer) IS
    'Seals up to max_rows audit rows, in id order, that no running transaction can still precede; returns how many. '
    'One short transaction''s work: the worker calls it as a duty. Call it in a transaction of its own.';

CREATE FUNCTION crm.verify_audit(OUT sealed bigint, OUT ok boolean, OUT first_bad_id bigint)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH chain AS (
        SELECT l.id, l.hash,
               crm.audit_chain(NULL, crm.audit_row_digest(l.id, l.at, l.actor, l.table_name, l.row_id, l.action,
                                                          l.changed, l.txid))
                   OVER (ORDER BY l.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS expected
          FROM crm.audit_log l
         WHERE l.hash IS NOT NULL
    ), bad AS (
        SELECT min(c.id) AS id FROM chain c WHERE c.hash IS DISTINCT FROM c.expected
        UNION ALL
        -- an unsealed row among sealed ones was put there after they were sealed
        SELECT min(l.id) FROM crm.audit_log l
         WHERE l.hash IS NULL AND l.id OPERATOR(pg_catalog.<) (SELECT max(c.id) FROM chain c)
    )
    SELECT (SELECT count(*) FROM chain), (SELECT min(b.id) FROM bad b) IS NULL, (SELECT min(b.id) FROM bad b);
END;
COMMENT ON FUNCTION crm.verify_audit() IS
    'Recomputes the audit hash chain: how many rows are sealed, whether they all verify, and the first id that does '
    'not (a sealed row changed, removed or inserted).';

CREATE FUNCTION crm.audit_anchor() RETURNS text
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT format('crm-audit-v1:%s:%s:%s', coalesce(s.sealed_count, 0), coalesce(s.sealed_id, 0),
                  coalesce(encode(s.head, 'hex'), ''))
      FROM (SELECT NULL) AS nothing
      LEFT JOIN crm.audit_seal s ON s.id;
END;
COMMENT ON FUNCTION crm.audit_anchor() IS
    'The head of the audit chain as crm-audit-v1:<sealed rows>:<last id>:<hash>: keep it outside the database and '
    'pass it to crm.verify_audit(anchor) later.';

CREATE FUNCTION crm.verify_audit(anchor text, OUT sealed bigint, OUT ok boolean, OUT first_bad_id bigint)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[] := regexp_match(anchor, '^crm-audit-v1:([0-9]+):([0-9]+):([0-9a-f]{64})?$');
    anchor_count bigint;
    anchor_id bigint;
    found_hash bytea;
BEGIN
    IF parts IS NULL THEN
        RAISE EXCEPTION 'invalid audit anchor "%"', anchor
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'An anchor is what crm.audit_anchor() returned: crm-audit-v1:<count>:<id>:<hash>.';
    END IF;
    anchor_count := parts[1]::bigint;
    anchor_id := parts[2]::bigint;
    SELECT v.sealed, v.ok, v.first_bad_id INTO sealed, ok, first_bad_id FROM crm.verify_audit() v;
    IF anchor_count = 0 THEN
        RETURN;
    END IF;
    -- the anchored row must still be there, at the same place in the chain, with the same hash
    SELECT l.hash INTO found_hash
      FROM (SELECT l.id, l.hash, row_number() OVER (ORDER BY l.id) AS n
              FROM crm.audit_log l WHERE l.hash IS NOT NULL) l
     WHERE l.n OPERATOR(pg_catalog.=) anchor_count AND l.id OPERATOR(pg_catalog.=) anchor_id;
    IF found_hash IS DISTINCT FROM decode(parts[3], 'hex') THEN
        ok := false;
        first_bad_id := least(first_bad_id, anchor_id);
    END IF;
END
$$;
COMMENT ON FUNCTION crm.verify_audit(text) IS
    'crm.verify_audit(), and also checks that the row an earlier crm.audit_anchor() named is still the same place '
    'in the chain with the same hash (so removing the newest sealed rows is noticed).';

CREATE FUNCTION crm.audit_history(table_name regclass, row_id bigint) RETURNS SETOF crm.audit_log
    LANGUAGE c STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_audit_history';
COMMENT ON FUNCTION crm.audit_history(regclass, bigint) IS
    'Who changed a row, when and what, oldest first: for a row the caller can see, or for any row when the caller '
    'may read crm.audit_log in full (crm_admin, readers).';

-- Reading: crm_admin and readers read the whole log; crm_users ask
-- crm.audit_history about rows they see.  Writing: nobody (the trigger
-- writes as the log's owner).
ALTER TABLE crm.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON crm.audit_log FOR SELECT USING ((SELECT crm.unrestricted_role()));
COMMENT ON POLICY readers ON crm.audit_log IS 'Only crm_admin and readers see log rows directly.';
REVOKE ALL ON crm.audit_log, crm.audit_seal FROM PUBLIC;
GRANT SELECT ON crm.audit_log, crm.audit_seal TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.seal_audit(integer), crm.verify_audit(), crm.verify_audit(text), crm.audit_anchor(),
    crm.audit_history(regclass, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.seal_audit(integer), crm.verify_audit(), crm.verify_audit(text), crm.audit_anchor()
    TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.audit_history(regclass, bigint) TO crm_reader;
