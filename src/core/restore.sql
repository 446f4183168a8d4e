-- src/core/restore.sql: what makes pg_dump + pg_restore (or pg_dumpall + psql)
-- give back exactly the rows that were saved, and the DROP EXTENSION guard.
--
-- Every crm table and identity sequence is registered with
-- pg_extension_config_dump next to its CREATE TABLE, so pg_dump saves all
-- their rows and sequence positions.  A restore runs CREATE EXTENSION crm
-- first, which seeds rows (the default pipeline, the sales workflows, email
-- templates, SLA policies, settings), and only then loads the saved rows,
-- with crm.restoring() true (see src/core/restore.c).  Two things make the
-- result equal to the source:
--
-- 1. A saved row replaces the seeded row it collides with.  Tables that are
--    seeded carry crm.replace_seeded_row() as a BEFORE INSERT trigger: in
--    restore mode it deletes the rows the incoming row would collide with on
--    any unique index (the id, the natural key, or a partial one such as the
--    single default pipeline), then lets the row in as saved.  While a dump
--    is loaded the only rows such a table holds besides the ones already
--    loaded are the fresh seeds, and the loaded rows cannot collide with
--    each other (they were unique in the source under the same indexes), so
--    only seeds are ever deleted; foreign keys cascade the seeds' children
--    away (a pipeline's stages and moves), and the saved children follow,
--    since pg_dump loads configuration tables in foreign-key order.  Users'
--    edits to seeded rows therefore survive, whatever the order of the rows
--    in the dump.  Matching every unique index, not a list of columns per
--    table, is what keeps this right when a user renamed a seeded row (the
--    id collides) or moved the default to another pipeline (the partial
--    index collides).
--
-- 2. A seeded row the user deleted stays deleted.  It is not in the dump,
--    but CREATE EXTENSION seeds it again, so crm.deleted_key remembers the
--    natural key of every row deleted from a seeded table (and forgets it
--    when a row with that key appears again, so it only holds keys absent
--    from the source).  It is dumped like every table; in restore mode each
--    of its rows, as it is loaded, deletes the freshly seeded row with that
--    key.  Since the key is absent from the source, no saved row can carry
--    it, so the order in which the two tables are loaded does not matter.
--    Keeping every deleted key rather than only those of seeds avoids a
--    registry of which rows are seeds; these are configuration tables, and
--    a key deleted and created again costs nothing.
--
-- Alternatives rejected: a config_dump filter that leaves seeded rows out
-- loses users' edits to them; deleting all of a table's rows at its first
-- restored row cannot tell seeds from rows loaded earlier by pg_dump
-- --inserts, and brings deleted seeds back when a table's dump is empty.

CREATE FUNCTION crm.replace_seeded_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    collisions text;
BEGIN
    IF NOT crm.restoring() THEN
        RETURN NEW;
    END IF;
    -- one condition per unique index: the existing row's key columns (or
    -- expressions) equal those of NEW, and both rows fall under a partial
    -- index's predicate; unqualified names inside "(SELECT ... FROM
    -- (SELECT ($1).*) AS n)" are NEW's, outside it the table's
    SELECT string_agg(format('((%s) = (SELECT %s FROM (SELECT ($1).*) AS n)%s)', k.keys, k.keys,
                             CASE WHEN i.indpred IS NULL THEN ''
                                  ELSE format(' AND (%1$s) AND (SELECT %1$s FROM (SELECT ($1).*) AS n)',
                                              pg_get_expr(i.indpred, i.indrelid)) END),
                      ' OR ' ORDER BY i.indexrelid)
      INTO collisions
      FROM pg_index i
     CROSS JOIN LATERAL (SELECT string_agg(pg_get_indexdef(i.indexrelid, c, true), ', ' ORDER BY c) AS keys
                           FROM generate_series(1, i.indnkeyatts) AS c) AS k
     WHERE i.indrelid OPERATOR(pg_catalog.=) TG_RELID AND i.indisunique AND i.indisvalid;
    IF collisions IS NOT NULL THEN
        EXECUTE format('DELETE FROM %s WHERE %s', TG_RELID::regclass, collisions) USING NEW;
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.replace_seeded_row() FROM PUBLIC;
COMMENT ON FUNCTION crm.replace_seeded_row() IS
    'BEFORE INSERT trigger on tables the extension seeds: while a dump is loaded (crm.restoring()), deletes the rows '
    'the incoming row collides with on any unique index (the seeds CREATE EXTENSION made), so the saved row replaces them.';

CREATE TABLE crm.deleted_key (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name  regclass NOT NULL,
    key         jsonb NOT NULL
                CONSTRAINT deleted_key_key_object CHECK (jsonb_typeof(key) = 'object'),
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deleted_key_table_key UNIQUE (table_name, key)
);
SELECT pg_catalog.pg_extension_config_dump('crm.deleted_key', '');
SELECT pg_catalog.pg_extension_config_dump('crm.deleted_key_id_seq', '');
CREATE TRIGGER deleted_key_set_updated_at BEFORE UPDATE ON crm.deleted_key
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.deleted_key IS
    'Natural keys deleted from tables the extension seeds (pipelines, stages, moves, templates, SLA policies, '
    'settings) and not created again since; a restore deletes the seeded row with such a key, so a seeded row '
    'deleted before a backup stays deleted. Kept by triggers.';
COMMENT ON COLUMN crm.deleted_key.table_name IS 'The seeded table the row was deleted from.';
COMMENT ON COLUMN crm.deleted_key.key IS 'The deleted row''s natural key, column name to value, e.g. {"name": "default"}.';
COMMENT ON COLUMN crm.deleted_key.deleted_at IS 'When the last row with this key was deleted (or its key changed).';
COMMENT ON COLUMN crm.deleted_key.id IS 'Identity of the row, assigned by the database.';
COMMENT ON COLUMN crm.deleted_key.created_at IS 'When the row was inserted (now() unless given).';
COMMENT ON COLUMN crm.deleted_key.updated_at IS
    'When the row last changed (set by crm.set_updated_at, on every UPDATE).';

-- AFTER trigger on seeded tables; its arguments name the natural key's columns.
CREATE FUNCTION crm.remember_deleted_key() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_key jsonb;
    new_key jsonb;
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        SELECT jsonb_object_agg(c, to_jsonb(OLD) -> c) INTO old_key FROM unnest(TG_ARGV) AS c;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT jsonb_object_agg(c, to_jsonb(NEW) -> c) INTO new_key FROM unnest(TG_ARGV) AS c;
    END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;
    END IF;
    IF old_key IS NOT NULL THEN
        INSERT INTO crm.deleted_key AS d (table_name, key) VALUES (TG_RELID, old_key)
            ON CONFLICT ON CONSTRAINT deleted_key_table_key
            DO UPDATE SET deleted_at = now();
    END IF;
    IF new_key IS NOT NULL THEN
        DELETE FROM crm.deleted_key d WHERE d.table_name OPERATOR(pg_catalog.=) TG_RELID
                                        AND d.key OPERATOR(pg_catalog.=) new_key;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.remember_deleted_key() FROM PUBLIC;
COMMENT ON FUNCTION crm.remember_deleted_key() IS
    'AFTER INSERT OR UPDATE OR DELETE trigger on tables the extension seeds, with the natural key''s columns as '
    'arguments: records a key that disappears in crm.deleted_key and forgets one that appears again.';

-- A remembered key, as it is loaded back, deletes the seed with that key.
CREATE FUNCTION crm.restore_deleted_key() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    columns text;
BEGIN
    IF NOT crm.restoring() THEN
        RETURN NEW;
    END IF;
    SELECT string_agg(quote_ident(c), ', ' ORDER BY c) INTO columns FROM jsonb_object_keys(NEW.key) AS c;
    EXECUTE format('DELETE FROM %1$s WHERE (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::%1$s, $1) AS n)',
                   NEW.table_name, columns)
        USING NEW.key;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.restore_deleted_key() FROM PUBLIC;
COMMENT ON FUNCTION crm.restore_deleted_key() IS
    'BEFORE INSERT trigger on crm.deleted_key: while a dump is loaded, deletes the freshly seeded row with the key.';
CREATE TRIGGER deleted_key_restore BEFORE INSERT ON crm.deleted_key
    FOR EACH ROW EXECUTE FUNCTION crm.restore_deleted_key();

-- The DROP EXTENSION guard (src/core/drop_guard.c).
CREATE FUNCTION crm.drop_guard() RETURNS event_trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_drop_guard';
REVOKE EXECUTE ON FUNCTION crm.drop_guard() FROM PUBLIC;
COMMENT ON FUNCTION crm.drop_guard() IS
    'Event trigger: refuses DROP EXTENSION crm while issued invoices or payments exist, unless crm.allow_drop is on.';
CREATE EVENT TRIGGER crm_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION crm.drop_guard();
COMMENT ON EVENT TRIGGER crm_drop_guard IS
    'Refuses DROP EXTENSION crm while the books hold issued invoices or payments (see crm.drop_guard()).';

GRANT SELECT ON crm.deleted_key TO crm_reader;
