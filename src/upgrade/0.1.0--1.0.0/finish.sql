-- Last step of the upgrade from 0.1.0, once every 1.0.0 source has been
-- replayed.

-- 0.1.0's line helpers, replaced by crm.complete_line (src/sales/10_common.sql).
DROP FUNCTION crm.line_product(bigint, text, text);
DROP FUNCTION crm.check_line_values(numeric, numeric, numeric, numeric, text, text);

-- The company's time zone: 0.1.0 dated invoices in the GUC
-- crm.invoice_time_zone, or in the session's TimeZone when it was empty;
-- 1.0.0 dates them in the time_zone setting, and the GUC is gone (the new
-- library reserves the crm prefix, so the server no longer keeps its
-- value).  The setting takes, in this order, the GUC's value set for this
-- database (ALTER DATABASE ... SET), then in the configuration files, then
-- likewise the TimeZone sessions of this database got, else it stays UTC.
-- The database's value of the GUC is removed (every connection would warn
-- about it); a line in postgresql.conf is for the operator to remove (a
-- WARNING says so; NOTICEs are not shown during ALTER EXTENSION).
DO $time_zone$
DECLARE
    this_database oid := (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());
    found record;
BEGIN
    SELECT v.value, v.origin INTO found
      FROM (SELECT split_part(c, '=', 1) AS name, substr(c, strpos(c, '=') + 1) AS value,
                   format('ALTER DATABASE %I SET', current_database()) AS origin, 1 AS rank, 0 AS seqno
              FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) AS c
             WHERE s.setdatabase = this_database AND s.setrole = 0
            UNION ALL
            SELECT f.name, f.setting, format('%s line %s', f.sourcefile, f.sourceline), 2, f.seqno
              FROM pg_catalog.pg_file_settings f) AS v
     WHERE lower(v.name) IN ('crm.invoice_time_zone', 'timezone') AND btrim(v.value) <> ''
     ORDER BY lower(v.name) = 'timezone', v.rank, v.seqno DESC
     LIMIT 1;
    IF found IS NOT NULL THEN
        BEGIN
            UPDATE crm.setting SET value = found.value WHERE key = 'time_zone';
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE WARNING 'the company time zone stays UTC: % (from %) is not a time zone name', found.value, found.origin
                USING HINT = 'Set it: UPDATE crm.setting SET value = ''Asia/Shanghai'' WHERE key = ''time_zone'';';
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s, unnest(s.setconfig) AS c
                WHERE s.setdatabase = this_database AND s.setrole = 0 AND c LIKE 'crm.invoice\_time\_zone=%') THEN
        EXECUTE format('ALTER DATABASE %I RESET crm.invoice_time_zone', current_database());
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_file_settings f WHERE f.name = 'crm.invoice_time_zone') THEN
        RAISE WARNING 'crm.invoice_time_zone is no longer used: remove it from %',
            (SELECT string_agg(DISTINCT f.sourcefile, ', ') FROM pg_catalog.pg_file_settings f
              WHERE f.name = 'crm.invoice_time_zone');
    END IF;
END
$time_zone$;
