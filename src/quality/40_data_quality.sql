-- src/quality/40_data_quality.sql: crm.data_quality, how complete and how
-- valid the CRM's data is, per table and column.
--
-- The tables are those of crm.personal_data (people, companies and what
-- refers to them).  The columns are their personal columns, their contact
-- and account references, and every column a rule applies to, by name:
--   *email, *address        not an email address (the rule new rows obey)
--   *phone                  not a complete phone number (crm.normalize_phone,
--                           region from the phone_region setting)
--   *time_zone              not an IANA time zone name the server knows
--   domain                  not a host name such as example.cn
--   name, title, subject    not normalised (full-width characters, extra
--                           spaces: crm.normalize_text would change it)
--   contact/account refs    no such contact / account
-- Empty means NULL, blank text, an empty array or an empty jsonb object.
-- Each table is read once, with the caller's privileges (row-level
-- security applies: each user sees the quality of what they may see).

CREATE FUNCTION crm.email_problem(address text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_email_problem';
COMMENT ON FUNCTION crm.email_problem(text) IS
    'NULL for a well-formed email address (the rule of crm.email_address), otherwise a sentence saying what is wrong.';

CREATE FUNCTION crm.is_time_zone(name text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_is_time_zone';
COMMENT ON FUNCTION crm.is_time_zone(text) IS
    'True for an IANA time zone name the server knows (the rule of crm.time_zone_name), false otherwise.';

CREATE FUNCTION crm.data_quality_counts()
RETURNS TABLE (table_name regclass, column_name name, rows bigint, empty bigint, invalid bigint, invalid_means text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    region text := crm.setting_value('phone_region');
    t record;
    c record;
    names name[];
    rules text[];
    empty_exprs text[];
    invalid_exprs text[];
    total bigint;
    empty_counts bigint[];
    invalid_counts bigint[];
BEGIN
    FOR t IN
        SELECT p.table_name AS rel,
               array_agg(DISTINCT x.col) FILTER (WHERE x.col IS NOT NULL) AS listed,
               max(p.contact_column) FILTER (WHERE p.contact_column <> 'id') AS contact_column,
               max(p.account_column) FILTER (WHERE p.account_column <> 'id') AS account_column
          FROM crm.personal_data p
          LEFT JOIN LATERAL unnest(p.personal_columns) AS x (col) ON true
         GROUP BY p.table_name
         ORDER BY p.table_name::text
    LOOP
        names := '{}'; rules := '{}'; empty_exprs := '{}'; invalid_exprs := '{}';
        FOR c IN
            SELECT a.attname,
                   quote_ident(a.attname) AS q,
                   a.atttypid = 'jsonb'::regtype AS is_jsonb,
                   bt.typcategory AS category,
                   CASE
                       WHEN a.attname = t.contact_column THEN 'no such contact'
                       WHEN a.attname = t.account_column THEN 'no such account'
                       WHEN a.attname ~ '(^|_)(email|address)$' THEN 'not an email address'
                       WHEN a.attname ~ '(^|_)phone$' THEN 'not a complete phone number'
                       WHEN a.attname ~ '(^|_)time_zone$' THEN 'not an IANA time zone name'
                       WHEN a.attname = 'domain' THEN 'not a host name such as example.cn'
                       WHEN a.attname IN ('name', 'title', 'subject') AND bt.typcategory = 'S'
                           THEN 'not normalised (full-width characters or extra spaces)'
                   END AS rule
              FROM pg_attribute a
              JOIN pg_type ty ON ty.oid = a.atttypid
              JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
             WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum
        LOOP
            CONTINUE WHEN c.rule IS NULL AND c.attname <> ALL (coalesce(t.listed, '{}'));
            names := names || c.attname;
            rules := rules || c.rule;
            empty_exprs := empty_exprs || CASE
                WHEN c.is_jsonb THEN format('count(*) FILTER (WHERE t.%1$s IS NULL OR t.%1$s = ''{}''::jsonb)', c.q)
                WHEN c.category = 'S' THEN format('count(*) FILTER (WHERE t.%1$s IS NULL OR btrim(t.%1$s::text) = '''')', c.q)
                WHEN c.category = 'A' THEN format('count(*) FILTER (WHERE coalesce(cardinality(t.%1$s), 0) = 0)', c.q)
                ELSE format('count(*) FILTER (WHERE t.%1$s IS NULL)', c.q) END;
            invalid_exprs := invalid_exprs || format('count(*) FILTER (WHERE btrim(t.%1$s::text) <> '''' AND %2$s)', c.q,
                CASE c.rule
                    WHEN 'no such contact' THEN format('NOT EXISTS (SELECT FROM crm.contact r WHERE r.id = t.%s)', c.q)
                    WHEN 'no such account' THEN format('NOT EXISTS (SELECT FROM crm.account r WHERE r.id = t.%s)', c.q)
                    WHEN 'not an email address' THEN format('crm.email_problem(t.%s::text) IS NOT NULL', c.q)
                    WHEN 'not a complete phone number' THEN format('crm.normalize_phone(t.%s::text, %L) IS NULL', c.q, region)
                    WHEN 'not an IANA time zone name' THEN format('NOT crm.is_time_zone(t.%s::text)', c.q)
                    WHEN 'not a host name such as example.cn'
                        THEN format('t.%s::text !~* ''^([[:alnum:]]([[:alnum:]-]*[[:alnum:]])?\.)+[[:alpha:]]{2,}$''', c.q)
                    WHEN 'not normalised (full-width characters or extra spaces)'
                        THEN format('crm.normalize_text(t.%1$s) <> t.%1$s', c.q)
                    ELSE 'NULL' END);
        END LOOP;
        CONTINUE WHEN cardinality(names) = 0;
        EXECUTE format('SELECT count(*), ARRAY[%s]::bigint[], ARRAY[%s]::bigint[] FROM %s t',
                       array_to_string(empty_exprs, ', '), array_to_string(invalid_exprs, ', '), t.rel)
           INTO total, empty_counts, invalid_counts;
        RETURN QUERY
            SELECT t.rel, names[i], total, empty_counts[i],
                   CASE WHEN rules[i] IS NOT NULL THEN invalid_counts[i] END, rules[i]
              FROM generate_subscripts(names, 1) AS i;
    END LOOP;
END
$$;
COMMENT ON FUNCTION crm.data_quality_counts() IS
    'What crm.data_quality shows: per table of crm.personal_data and column, rows, empty and invalid values.';

CREATE VIEW crm.data_quality WITH (security_invoker = true) AS
SELECT q.table_name, q.column_name, q.rows, q.empty, q.invalid, q.invalid_means,
       round(1 - (q.empty + coalesce(q.invalid, 0))::numeric / nullif(q.rows, 0), 4) AS usable_share
  FROM crm.data_quality_counts() AS q;
COMMENT ON VIEW crm.data_quality IS
    'Completeness and validity of the CRM''s data: per table and column, how many rows are empty or invalid '
    '(emails, phones, time zones, domains, unnormalised names, dangling references).';
COMMENT ON COLUMN crm.data_quality.table_name IS 'The table.';
COMMENT ON COLUMN crm.data_quality.column_name IS 'The column.';
COMMENT ON COLUMN crm.data_quality.rows IS 'Rows in the table (that the caller may see).';
COMMENT ON COLUMN crm.data_quality.empty IS 'Rows where the column is NULL, blank, an empty array or an empty object.';
COMMENT ON COLUMN crm.data_quality.invalid IS
    'Rows where the column is filled but breaks its rule (invalid_means); NULL when no rule applies.';
COMMENT ON COLUMN crm.data_quality.invalid_means IS 'The rule: what an invalid value of this column is.';
COMMENT ON COLUMN crm.data_quality.usable_share IS 'Share of the rows whose value is neither empty nor invalid.';

GRANT SELECT ON crm.data_quality TO crm_reader;
GRANT EXECUTE ON FUNCTION crm.email_problem(text), crm.is_time_zone(text), crm.data_quality_counts() TO crm_reader;
