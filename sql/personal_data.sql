-- personal_data: crm.personal_data is the one list of tables holding
-- personal data or a contact/account reference (merging, export and erasure
-- all go by it), so it must be complete.  Each query below lists what is
-- wrong and must return no rows; a feature that adds a table adds its row to
-- src/security/10_personal_data.sql.

-- every crm table with a column referencing crm.contact or crm.account, by
-- foreign key or by name (contact_id, account_id, *_contact_id, *_account_id),
-- is listed with that column in the right place
WITH refs AS (
    SELECT c.conrelid::regclass AS table_name, a.attname AS column_name,
           c.confrelid::regclass AS refers_to, 'foreign key ' || c.conname AS found_by
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
      JOIN pg_class r ON r.oid = c.conrelid
     WHERE c.contype = 'f'
       AND c.confrelid IN ('crm.contact'::regclass, 'crm.account'::regclass)
       AND r.relnamespace = 'crm'::regnamespace
    UNION
    SELECT a.attrelid::regclass, a.attname,
           CASE WHEN a.attname ~ 'contact_id$' THEN 'crm.contact'::regclass ELSE 'crm.account'::regclass END,
           'column name'
      FROM pg_attribute a
      JOIN pg_class r ON r.oid = a.attrelid
     WHERE r.relnamespace = 'crm'::regnamespace AND r.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname ~ '(^|_)(contact|account)_id$'
)
SELECT r.* FROM refs r
 WHERE NOT EXISTS (SELECT FROM crm.personal_data p
                    WHERE p.table_name = r.table_name
                      AND CASE r.refers_to WHEN 'crm.contact'::regclass THEN p.contact_column
                                           ELSE p.account_column END = r.column_name)
 ORDER BY 1, 2;

-- every crm table with an email or phone column is listed, and the column
-- is among its personal columns
SELECT a.attrelid::regclass AS table_name, a.attname AS column_name
  FROM pg_attribute a
  JOIN pg_class r ON r.oid = a.attrelid
 WHERE r.relnamespace = 'crm'::regnamespace AND r.relkind IN ('r', 'p')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND a.attname ~ '(^|_)(email|phone|mobile|address|to_address)$'
   AND NOT EXISTS (SELECT FROM crm.personal_data p
                    WHERE p.table_name = a.attrelid::regclass AND a.attname = ANY (p.personal_columns))
 ORDER BY 1, 2;

-- every column the list names exists
SELECT p.table_name, x.role, x.col
  FROM crm.personal_data p
 CROSS JOIN LATERAL (VALUES ('contact', p.contact_column), ('account', p.account_column), ('email', p.email_column))
       AS x (role, col)
 WHERE x.col IS NOT NULL
   AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = p.table_name AND a.attname = x.col AND NOT a.attisdropped)
UNION ALL
SELECT p.table_name, 'personal', c
  FROM crm.personal_data p, unnest(p.personal_columns) AS c
 WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = p.table_name AND a.attname = c AND NOT a.attisdropped);

-- the policies are ones merging and erasure know, and no (table, column) is
-- listed twice
SELECT table_name, on_merge, erasure FROM crm.personal_data
 WHERE on_merge NOT IN ('move', 'move_or_delete') OR erasure NOT IN ('anonymise', 'delete', 'clear', 'hash', 'keep');
SELECT table_name, contact_column, account_column, count(*) FROM crm.personal_data
 GROUP BY 1, 2, 3 HAVING count(*) > 1;

-- every reference column (but the tables' own ids) has the trigger that keeps
-- writes racing with a merge off the merged row
SELECT p.table_name, x.col
  FROM crm.personal_data p
 CROSS JOIN LATERAL (VALUES ('contact', p.contact_column), ('account', p.account_column)) AS x (kind, col)
 WHERE x.col IS NOT NULL AND NOT (x.col = 'id' AND p.table_name = ('crm.' || x.kind)::regclass)
   AND NOT EXISTS (SELECT FROM pg_trigger t
                    WHERE t.tgrelid = p.table_name AND t.tgname = 'zz_' || x.col || '_follows_merge'
                      AND t.tgfoid = 'crm.follow_merge()'::regprocedure);

