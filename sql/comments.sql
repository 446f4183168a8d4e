-- comments: every object crm installs that BI tools and \d+ describe has a
-- COMMENT -- tables and their columns, views and their columns, functions
-- (aggregates and procedures included).  Each row below is one that has
-- none; the list must be empty.  Only members of the extension count, so
-- the objects other suites create do not.
WITH member AS (
    SELECT d.classid, d.objid
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'crm'),
relation AS (
    SELECT c.oid, c.relkind
      FROM pg_catalog.pg_class c
      JOIN member m ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f'))
SELECT CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
       r.oid::regclass::text AS name
  FROM relation r
 WHERE pg_catalog.obj_description(r.oid, 'pg_class') IS NULL
UNION ALL
SELECT CASE r.relkind WHEN 'v' THEN 'view column' WHEN 'm' THEN 'view column' ELSE 'column' END,
       r.oid::regclass::text || '.' || pg_catalog.quote_ident(a.attname)
  FROM relation r
  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE pg_catalog.col_description(r.oid, a.attnum) IS NULL
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure' ELSE 'function' END,
       p.oid::regprocedure::text
  FROM pg_catalog.pg_proc p
  JOIN member m ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid
 WHERE pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL
ORDER BY 1, 2;
