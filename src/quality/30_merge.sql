-- src/quality/30_merge.sql: merging a duplicate contact or account into the
-- one that stays (src/quality/merge.c), the log of merges, and the triggers
-- that keep writes racing with a merge off the merged row.

CREATE TABLE crm.merge_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CONSTRAINT merge_log_kind_valid CHECK (kind IN ('contact', 'account')),
    contact_id  bigint REFERENCES crm.contact ON DELETE SET NULL,
    account_id  bigint REFERENCES crm.account ON DELETE SET NULL,
    merged_id   bigint NOT NULL,
    merged_row  jsonb NOT NULL,
    filled      text[] NOT NULL DEFAULT '{}',
    moved       jsonb NOT NULL DEFAULT '{}',
    merged_by   name NOT NULL DEFAULT current_user,
    merged_at   timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT merge_log_kept_of_kind CHECK ((kind = 'contact' OR contact_id IS NULL)
                                             AND (kind = 'account' OR account_id IS NULL)),
    CONSTRAINT merge_log_merged_once UNIQUE (kind, merged_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.merge_log', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_log_id_seq', '');
CREATE INDEX merge_log_contact_id_idx ON crm.merge_log (contact_id);
CREATE INDEX merge_log_account_id_idx ON crm.merge_log (account_id);
CREATE INDEX merge_log_merged_at_idx ON crm.merge_log (merged_at);
CREATE TRIGGER merge_log_set_updated_at BEFORE UPDATE ON crm.merge_log
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.merge_log IS
    'One row per contact or account merged into another by crm.merge_contacts / crm.merge_accounts.';
COMMENT ON COLUMN crm.merge_log.kind IS 'contact or account.';
COMMENT ON COLUMN crm.merge_log.contact_id IS 'The contact kept (contact merges); follows later merges of it.';
COMMENT ON COLUMN crm.merge_log.account_id IS 'The account kept (account merges); follows later merges of it.';
COMMENT ON COLUMN crm.merge_log.merged_id IS 'Id of the row merged away (it no longer exists).';
COMMENT ON COLUMN crm.merge_log.merged_row IS 'The merged row as it was, as jsonb.';
COMMENT ON COLUMN crm.merge_log.filled IS 'Columns of the kept row that were empty and were filled from the merged row.';
COMMENT ON COLUMN crm.merge_log.moved IS 'Rows moved to the kept row, per table (from crm.personal_data).';
COMMENT ON COLUMN crm.merge_log.merged_by IS 'The role that called the merge.';
COMMENT ON COLUMN crm.merge_log.merged_at IS 'When the merge ran.';
COMMENT ON COLUMN crm.merge_log.id IS
    'Identity of the merge, assigned by the database; crm.merge_contacts and crm.merge_accounts return it.';
COMMENT ON COLUMN crm.merge_log.created_at IS 'When the row was inserted (now() unless given).';
COMMENT ON COLUMN crm.merge_log.updated_at IS
    'When the row last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE FUNCTION crm.merge_contacts(keep bigint, merge bigint) RETURNS bigint
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'crm_merge_contacts';
COMMENT ON FUNCTION crm.merge_contacts(bigint, bigint) IS
    'Merges contact merge into contact keep in one transaction: every reference listed in crm.personal_data moves '
    'to keep, keep''s empty fields are filled from merge, merge is recorded in crm.merge_log and deleted. Returns '
    'the crm.merge_log id. Needs UPDATE and DELETE on crm.contact and both rows visible.';

CREATE FUNCTION crm.merge_accounts(keep bigint, merge bigint) RETURNS bigint
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'crm_merge_accounts';
COMMENT ON FUNCTION crm.merge_accounts(bigint, bigint) IS
    'Merges account merge into account keep in one transaction (its contacts, deals and documents move to keep), '
    'as crm.merge_contacts does for contacts. Returns the crm.merge_log id.';

CREATE FUNCTION crm.follow_merge() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_follow_merge';
COMMENT ON FUNCTION crm.follow_merge() IS
    'BEFORE INSERT OR UPDATE OF <column> row trigger (arguments: contact or account, the column): waits for a merge '
    'of the id being written and writes the kept id instead of a merged one.';

-- One trigger per reference column in the list; zz_ so it runs after the
-- other BEFORE triggers, which may fill the column (quotes copy the deal's).
DO $triggers$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT p.table_name, k.kind, k.col
          FROM crm.personal_data p
         CROSS JOIN LATERAL (VALUES ('contact', p.contact_column), ('account', p.account_column)) AS k (kind, col)
         WHERE k.col IS NOT NULL
           AND NOT (k.col = 'id' AND p.table_name = ('crm.' || k.kind)::regclass)
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION crm.follow_merge(%L, %L)',
                       'zz_' || r.col || '_follows_merge', r.col, r.table_name, r.kind, r.col);
    END LOOP;
END
$triggers$;

GRANT SELECT ON crm.merge_log TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.merge_contacts(bigint, bigint), crm.merge_accounts(bigint, bigint),
    crm.follow_merge() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.merge_contacts(bigint, bigint), crm.merge_accounts(bigint, bigint) TO crm_user;
