-- backup: what makes pg_dump keep every crm row: config-dump registrations.

-- every table and sequence of the extension is registered with
-- pg_extension_config_dump (pg_dump skips the rows of the others), with no
-- filter: a table added without its registration is listed here
SELECT c.oid::regclass AS not_dumped, c.relkind
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid
  JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND e.extname = 'crm' AND c.relkind IN ('r', 'p', 'S') AND c.oid <> ALL (e.extconfig)
 ORDER BY 1;
SELECT t.config::regclass AS filtered, t.condition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS t(config, condition)
 WHERE e.extname = 'crm' AND t.condition <> '';
-- (and the check is not vacuous: tables and identity sequences are there)
SELECT count(*) FILTER (WHERE c.relkind = 'r') > 25 AS tables, count(*) FILTER (WHERE c.relkind = 'S') > 25 AS sequences
  FROM pg_extension e, unnest(e.extconfig) AS t(config) JOIN pg_class c ON c.oid = t.config
 WHERE e.extname = 'crm';
