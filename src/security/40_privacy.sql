-- src/security/40_privacy.sql: everything held about a person, on request
-- (crm.export_person), and the right to be forgotten (crm.erase_person),
-- as GDPR and PIPL ask.
--
-- Both read the one list of tables holding personal data, crm.personal_data
-- (10_personal_data.sql), and nothing else.  A listed table's rows about
-- contact c are those whose contact_column is c, those whose email_column
-- holds c's address (mail is found by address), and, for a table with
-- neither (the delivery log), those whose foreign key points at such a row
-- of another listed table.  crm.audit_log's rows about the person are the
-- log rows of those rows and the log rows naming c or the address in one of
-- those columns (rows deleted since included).
--
-- crm.erase_person does to each table what its erasure says:
--   anonymise, clear  the listed personal columns are emptied: NULL where
--                     the column allows it, else '{}' for jsonb,
--                     erased@erased.invalid for an address column, 'erased'
--                     for other text (mail still queued to the person is
--                     cancelled first);
--   delete            the rows are deleted;
--   hash              the address becomes crm.address_hash(address); the
--                     address stays suppressed by that hash, for all mail
--                     (reason 'erased', added if there was no suppression):
--                     crm.suppress_erased_address refuses mail to it (an
--                     admin who deletes that row lets it be mailed again);
--   keep              nothing (invoices and payments keep their numbers and
--                     amounts, as the law requires);
-- and in crm.audit_log each logged value of those columns, in the person's
-- log rows, becomes {"crm_erased_sha256": "<its digest>"}, which keeps the
-- hash chain verifiable (audit_chain.c) -- the log rows the erasure's own
-- changes wrote included.  The erasure is logged as an 'erase' row: who,
-- when, the reason given and how many rows of each table, no personal data
-- (so the reason should name the request, not the person).
--
-- Both are SECURITY DEFINER: an export must see every row whatever the
-- caller's visibility, and only the extension's owner may change the audit
-- log.  EXECUTE is granted to crm_admin only.

CREATE FUNCTION crm.address_hash(address text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'sha256:' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.lower(pg_catalog.btrim(address)),
                                                                             'UTF8')), 'hex');
COMMENT ON FUNCTION crm.address_hash(text) IS
    'How an erased person''s address is kept in crm.email_suppression: sha256: and the hex SHA-256 of the trimmed, '
    'lower-cased address.';

-- The rows of one listed table that are about a person, as a condition on alias t.
CREATE FUNCTION crm.person_rows(listed regclass, contact_id bigint, address text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.personal_data;
    fk record;
    parts text[] := '{}';
BEGIN
    SELECT * INTO l FROM crm.personal_data p WHERE p.table_name = listed;
    IF l.contact_column IS NOT NULL THEN
        parts := parts || format('t.%I = %s', l.contact_column, contact_id);
    END IF;
    IF l.email_column IS NOT NULL AND address IS NOT NULL THEN
        parts := parts || format('lower(t.%I) = %L', l.email_column, lower(address));
    END IF;
    IF l.contact_column IS NULL AND l.email_column IS NULL THEN
        FOR fk IN
            SELECT a.attname AS col, c.confrelid::regclass AS parent, pa.attname AS parent_col
              FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
              JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
              JOIN crm.personal_data p ON p.table_name = c.confrelid
             WHERE c.conrelid = listed AND c.contype = 'f' AND cardinality(c.conkey) = 1
               AND (p.contact_column IS NOT NULL OR p.email_column IS NOT NULL)
             ORDER BY c.conname
        LOOP
            parts := parts || format('t.%I IN (SELECT t.%I FROM %s t WHERE %s)', fk.col, fk.parent_col, fk.parent,
                                     crm.person_rows(fk.parent, contact_id, address));
        END LOOP;
    END IF;
    RETURN coalesce(nullif(array_to_string(parts, ' OR '), ''), 'false');
END
$$;
COMMENT ON FUNCTION crm.person_rows(regclass, bigint, text) IS
    'SQL condition on alias t selecting the rows of a table listed in crm.personal_data that are about a person: '
    'by contact id, by address, or through a foreign key to such rows of another listed table.';

-- The crm.audit_log rows about a person.
CREATE FUNCTION crm.person_audit_ids(contact_id bigint, address text) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.personal_data;
    naming record;
    conds text[] := '{}';
BEGIN
    FOR l IN SELECT * FROM crm.personal_data p LOOP
        IF EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = l.table_name AND a.attname = 'id' AND NOT a.attisdropped) THEN
            conds := conds || format('(a.table_name = %L AND a.row_id IN (SELECT t.id FROM %s t WHERE %s))',
                                     l.table_name::text, l.table_name, crm.person_rows(l.table_name, contact_id, address));
        END IF;
        FOR naming IN SELECT * FROM (VALUES (l.contact_column, contact_id::text), (l.email_column, lower(address))) AS v(col, val)
                       WHERE v.col IS NOT NULL AND v.val IS NOT NULL
        LOOP
            conds := conds || format('(a.table_name = %L AND %L IN (lower(a.changed ->> %3$L), lower(a.changed -> %3$L ->> ''old''), '
                                     'lower(a.changed -> %3$L ->> ''new'')))', l.table_name::text, naming.val, naming.col);
        END LOOP;
    END LOOP;
    RETURN QUERY EXECUTE format('SELECT a.id FROM crm.audit_log a WHERE %s', array_to_string(conds, ' OR '));
END
$$;
COMMENT ON FUNCTION crm.person_audit_ids(bigint, text) IS
    'Ids of the crm.audit_log rows about a person: the log of their rows in the tables crm.personal_data lists, and '
    'log rows naming their contact id or address in a listed column.';

-- A logged value as erased: its digest kept, the value gone (JSON null stays null).
CREATE FUNCTION crm.erased_value(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN value = 'null' THEN value
            ELSE pg_catalog.jsonb_build_object('crm_erased_sha256', pg_catalog.encode(crm.audit_value_digest(value), 'hex')) END;
COMMENT ON FUNCTION crm.erased_value(jsonb) IS
    'A crm.audit_log value replaced by {"crm_erased_sha256": "<its digest>"} (an erased value stays as it is).';

-- The changed column of a log row with the values of the given columns erased.
CREATE FUNCTION crm.audit_erase_values(changed jsonb, action text, columns text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(pg_catalog.jsonb_object_agg(e.key,
               CASE WHEN e.key OPERATOR(pg_catalog.<>) ALL (columns) THEN e.value
                    WHEN action OPERATOR(pg_catalog.=) 'update' AND pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.=) 'object'
                         AND NOT e.value OPERATOR(pg_catalog.?) 'crm_erased_sha256'
                    THEN (SELECT pg_catalog.jsonb_object_agg(s.key, crm.erased_value(s.value))
                            FROM pg_catalog.jsonb_each(e.value) s)
                    ELSE crm.erased_value(e.value) END), '{}')
      FROM pg_catalog.jsonb_each(changed) e;
END;
COMMENT ON FUNCTION crm.audit_erase_values(jsonb, text, text[]) IS
    'A crm.audit_log.changed value with the values of the given columns erased (old and new ones of an update).';

-- SET list emptying a listed table's personal columns.
CREATE FUNCTION crm.person_clear_list(listed regclass) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT string_agg(format('%I = %s', a.attname,
                             CASE WHEN NOT a.attnotnull THEN 'NULL'
                                  WHEN a.atttypid = 'jsonb'::regtype THEN '''{}'''
                                  WHEN a.attname = p.email_column THEN '''erased@erased.invalid'''
                                  ELSE '''erased''' END), ', ' ORDER BY a.attnum)
      FROM crm.personal_data p
      JOIN pg_attribute a ON a.attrelid = p.table_name AND a.attname = ANY (p.personal_columns)
     WHERE p.table_name = listed;
END;
COMMENT ON FUNCTION crm.person_clear_list(regclass) IS
    'The SET list crm.erase_person uses to empty the personal columns of a table listed in crm.personal_data.';

CREATE FUNCTION crm.export_person(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    person crm.contact;
    l crm.personal_data;
    held jsonb := '{}';
    found_rows jsonb;
BEGIN
    SELECT * INTO person FROM crm.contact c WHERE c.id = export_person.contact_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'contact % does not exist', export_person.contact_id USING ERRCODE = 'no_data_found';
    END IF;
    FOR l IN SELECT * FROM crm.personal_data p ORDER BY p.table_name::text LOOP
        EXECUTE format('SELECT jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t) ->> ''id'') FROM %s t WHERE %s', l.table_name,
                       crm.person_rows(l.table_name, person.id, person.email))
            INTO found_rows;
        IF found_rows IS NOT NULL THEN
            held := held || jsonb_build_object(l.table_name::text, found_rows);
        END IF;
    END LOOP;
    RETURN jsonb_build_object(
        'contact_id', person.id,
        'exported_at', now(),
        'data', held,
        'audit_log', (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'hash' ORDER BY a.id), '[]')
                        FROM crm.audit_log a
                       WHERE a.id IN (SELECT crm.person_audit_ids(person.id, person.email))));
END
$$;
COMMENT ON FUNCTION crm.export_person(bigint) IS
    'Everything crm holds about a person, as jsonb: data (their rows in every table crm.personal_data lists, by '
    'table) and audit_log (the audit rows about them).';

CREATE FUNCTION crm.erase_person(contact_id bigint, reason text) RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    person crm.contact;
    person_address text;
    l crm.personal_data;
    rows_of text;
    n bigint;
    done jsonb := '{}';
    logged bigint[];
    erased_log_rows bigint;
    erased_at timestamptz;
BEGIN
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION 'a reason for the erasure is required'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the request, not the person: ''GDPR request 2024-017''.';
    END IF;
    SELECT * INTO person FROM crm.contact c WHERE c.id = erase_person.contact_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'contact % does not exist', erase_person.contact_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT a.at INTO erased_at FROM crm.audit_log a
     WHERE a.table_name = 'crm.contact' AND a.row_id = person.id AND a.action = 'erase';
    IF FOUND THEN
        RAISE EXCEPTION 'contact % is already erased', person.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was erased on %s.', to_char(erased_at, 'YYYY-MM-DD'));
    END IF;
    person_address := lower(person.email);
    logged := ARRAY(SELECT crm.person_audit_ids(person.id, person_address));

    -- the contact row last: the other rows are found through it
    FOR l IN SELECT * FROM crm.personal_data p WHERE p.erasure <> 'keep'
              ORDER BY p.table_name = 'crm.contact'::regclass, p.table_name::text
    LOOP
        rows_of := crm.person_rows(l.table_name, person.id, person_address);
        CASE l.erasure
        WHEN 'delete' THEN
            EXECUTE format('DELETE FROM %s t WHERE %s', l.table_name, rows_of);
        WHEN 'hash' THEN
            EXECUTE format('UPDATE %s t SET %s WHERE %s', l.table_name,
                           (SELECT string_agg(format('%1$I = crm.address_hash(t.%1$I)', c), ', ')
                              FROM unnest(l.personal_columns) c), rows_of);
        ELSE
            IF l.table_name = 'crm.email_outbox'::regclass THEN
                EXECUTE format('UPDATE crm.email_outbox t SET status = ''cancelled'', sent_at = now(), '
                               'last_error = ''cancelled: the recipient was erased'' WHERE t.status = ''queued'' AND (%s)',
                               rows_of);
            END IF;
            EXECUTE format('UPDATE %s t SET %s WHERE %s', l.table_name, crm.person_clear_list(l.table_name), rows_of);
        END CASE;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            done := done || jsonb_build_object(l.table_name::text, jsonb_build_object(l.erasure, n));
        END IF;
    END LOOP;
    -- the address stays suppressed, for all mail, as a hash
    IF person_address IS NOT NULL THEN
        INSERT INTO crm.email_suppression AS s (address, reason) VALUES (crm.address_hash(person_address), 'erased')
        ON CONFLICT ON CONSTRAINT email_suppression_pkey DO UPDATE SET reason = 'erased' WHERE s.reason <> 'erased';
    END IF;

    -- the log: what was logged about the person, and what this erasure just logged
    UPDATE crm.audit_log a
       SET changed = crm.audit_erase_values(a.changed, a.action,
                                            p.personal_columns::text[])
      FROM crm.personal_data p
     WHERE p.table_name::text = a.table_name
       AND (a.id = ANY (logged) OR a.id IN (SELECT crm.person_audit_ids(person.id, person_address)))
       AND a.changed IS DISTINCT FROM crm.audit_erase_values(a.changed, a.action,
                                                             p.personal_columns::text[]);
    GET DIAGNOSTICS erased_log_rows = ROW_COUNT;

    done := jsonb_build_object('contact_id', person.id, 'erased_at', now(), 'rows', done,
                               'audit_log_rows_erased', erased_log_rows);
    INSERT INTO crm.audit_log (at, actor, table_name, row_id, action, changed, txid)
    VALUES (now(), crm.acting_role(), 'crm.contact', person.id, 'erase',
            jsonb_build_object('reason', reason, 'rows', done -> 'rows', 'audit_log_rows_erased', erased_log_rows),
            pg_current_xact_id());
    RETURN done;
END
$$;
COMMENT ON FUNCTION crm.erase_person(bigint, text) IS
    'Erases a person''s personal data from every table crm.personal_data lists and from the audit log (keeping the '
    'hash chain verifiable); the contact row stays, anonymised, for the records pointing at it; invoices and payments '
    'keep numbers and amounts; the address stays suppressed as a hash. Returns what was done, logged without personal data.';

-- Mail to an erased address is refused like mail to a suppressed one.
CREATE FUNCTION crm.suppress_erased_address() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT FROM crm.email_suppression s
                WHERE s.address OPERATOR(pg_catalog.=) crm.address_hash(NEW.to_address)
                  AND (NEW.category OPERATOR(pg_catalog.=) 'marketing' OR s.reason OPERATOR(pg_catalog.<>) 'unsubscribed')) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.suppress_erased_address() FROM PUBLIC;
COMMENT ON FUNCTION crm.suppress_erased_address() IS
    'BEFORE INSERT trigger on crm.email_outbox: mail to an address suppressed as a hash (crm.erase_person) is not queued.';
CREATE TRIGGER suppress_erased_address BEFORE INSERT ON crm.email_outbox
    FOR EACH ROW EXECUTE FUNCTION crm.suppress_erased_address();

REVOKE EXECUTE ON FUNCTION crm.export_person(bigint), crm.erase_person(bigint, text), crm.person_rows(regclass, bigint, text),
    crm.person_audit_ids(bigint, text), crm.person_clear_list(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.export_person(bigint), crm.erase_person(bigint, text) TO crm_admin;
