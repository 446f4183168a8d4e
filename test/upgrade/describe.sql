-- test/upgrade/describe.sql: the crm extension of the current database as
-- sorted text, read from the catalogs, so that two databases can be diffed
-- (pg_dump leaves extension members out, so it cannot be used for this):
--
--   psql -XAtq -v ON_ERROR_STOP=1 -f test/upgrade/describe.sql DB > DB.txt
--
-- One line (or one block, for functions and views) per fact, prefixed by
-- what it is about, no OIDs, sorted in the C collation: the extension's
-- members; tables, views and sequences with their options, row-level
-- security, columns (type, collation, not-null, default, identity,
-- generated, storage options), constraints, indexes, triggers, rules and
-- policies; functions (pg_get_functiondef: signature, argument defaults,
-- return type, language, body or C symbol, volatility, strictness,
-- security definer, parallel safety, SET options) and aggregates (their
-- support functions and state); types, domains and their constraints;
-- event triggers; comments on all of these, columns included; privileges
-- (tables, columns, sequences, functions, types, the schema, default
-- privileges), the initial privileges pg_dump uses (pg_init_privs); and the
-- configuration tables pg_dump saves (extconfig, extcondition), by name.
--
-- Privileges are listed one grantee per line with NULL (the built-in
-- default) spelled out, so the order of GRANTs does not matter.  Columns are
-- compared by name, not position: ALTER TABLE ADD COLUMN appends, so an
-- upgraded table may hold a column added since in a different place than a
-- fresh CREATE TABLE; everything else about the column must agree.
-- Dropped columns are not listed, nor the attribute version PostgreSQL's
-- back branches keep among a column's options (pg_attver, a counter).
SET search_path = pg_catalog;	-- every name below prints schema-qualified
SET client_min_messages = warning;

WITH ext AS (
    SELECT e.oid, e.extnamespace, e.extname
      FROM pg_extension e WHERE e.extname = 'crm'
),
-- every object of the extension: its members, and what lives in its schema
member AS (
    SELECT d.classid, d.objid
      FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
rel AS (
    SELECT c.*, c.oid::regclass::text AS name
      FROM pg_class c JOIN ext ON c.relnamespace = ext.extnamespace
),
fn AS (
    SELECT p.*, p.oid::regprocedure::text AS name
      FROM pg_proc p JOIN ext ON p.pronamespace = ext.extnamespace
),
typ AS (
    SELECT t.*, t.oid::regtype::text AS name
      FROM pg_type t JOIN ext ON t.typnamespace = ext.extnamespace
),
-- an ACL as one sorted line per grantee; NULL means the owner's default
acl(kind, object, item) AS (
    SELECT 'relation', r.name,
           a::text
      FROM rel r, unnest(coalesce(r.relacl, acldefault(CASE WHEN r.relkind = 'S' THEN 's' ELSE 'r' END::"char", r.relowner))) a
     WHERE r.relkind NOT IN ('i', 'I', 't', 'c')
    UNION ALL
    SELECT 'column', r.name || '.' || quote_ident(att.attname), a::text
      FROM rel r JOIN pg_attribute att ON att.attrelid = r.oid, unnest(att.attacl) a
     WHERE att.attnum > 0 AND NOT att.attisdropped
    UNION ALL
    SELECT 'function', f.name, a::text
      FROM fn f, unnest(coalesce(f.proacl, acldefault('f', f.proowner))) a
    UNION ALL
    SELECT 'type', t.name, a::text
      FROM typ t, unnest(coalesce(t.typacl, acldefault('T', t.typowner))) a
     WHERE t.typcategory <> 'A' AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    UNION ALL
    SELECT 'schema', n.nspname::text, a::text
      FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace, unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
),
line(text) AS (
    -- members of the extension
    SELECT format('member %s %s', o.type, o.identity)
      FROM member m, pg_identify_object(m.classid, m.objid, 0) o
    UNION ALL
    -- objects in the extension's schema that are not members
    SELECT format('not a member: relation %s (relkind %s)', r.name, r.relkind)
      FROM rel r
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
       AND NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = r.oid)
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                                                 AND d.deptype IN ('i', 'a') AND r.relkind = 'S')
    UNION ALL
    SELECT format('not a member: function %s', f.name)
      FROM fn f WHERE NOT EXISTS (SELECT FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = f.oid)
    UNION ALL
    -- the extension itself
    SELECT format('extension %s: version %s, relocatable %s, schema %s, owner %s',
                  e.extname, e.extversion, e.extrelocatable, e.extnamespace::regnamespace, e.extowner::regrole)
      FROM pg_extension e JOIN ext ON ext.oid = e.oid
    UNION ALL
    SELECT format('config table %s: condition %L', c.relid::regclass, c.condition)
      FROM pg_extension e JOIN ext ON ext.oid = e.oid,
           unnest(e.extconfig, e.extcondition) AS c(relid, condition)
    UNION ALL
    -- the schema
    SELECT format('schema %s: owner %s', n.nspname, n.nspowner::regrole)
      FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace
    UNION ALL
    -- relations
    SELECT format('relation %s: kind %s, persistence %s, owner %s, options %s, row security %s, forced %s, '
                  'replica identity %s, of type %s, partition key %s, partition of %s %s, access method %s',
                  r.name, r.relkind, r.relpersistence, r.relowner::regrole,
                  coalesce((SELECT string_agg(o, ',' ORDER BY o) FROM unnest(r.reloptions) o), '-'),
                  r.relrowsecurity, r.relforcerowsecurity, r.relreplident,
                  coalesce(nullif(r.reloftype, 0)::regtype::text, '-'),
                  coalesce(CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END, '-'),
                  coalesce((SELECT string_agg(i.inhparent::regclass::text, ',' ORDER BY i.inhseqno)
                              FROM pg_inherits i WHERE i.inhrelid = r.oid), '-'),
                  coalesce(pg_get_expr(r.relpartbound, r.oid), ''),
                  coalesce((SELECT amname FROM pg_am WHERE oid = r.relam), '-'))
      FROM rel r WHERE r.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
    UNION ALL
    -- columns, by name
    SELECT format('column %s.%s: %s%s%s%s%s%s%s%s%s',
                  r.name, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attcollation <> t.typcollation
                       THEN ' collate ' || (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation) ELSE '' END,
                  CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                  CASE WHEN a.atthasdef AND a.attgenerated = ''
                       THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END,
                  CASE a.attgenerated WHEN 's' THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored'
                       ELSE '' END,
                  CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
                                     WHEN 'd' THEN ' generated by default as identity' ELSE '' END,
                  CASE WHEN a.attstorage <> t.typstorage THEN ' storage ' || a.attstorage::text ELSE '' END,
                  CASE WHEN a.attstattarget <> -1 THEN ' statistics ' || a.attstattarget ELSE '' END,
                  coalesce(' options ' || (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(a.attoptions) o
                                            WHERE o NOT LIKE 'pg\_attver=%'), ''))
      FROM rel r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
    UNION ALL
    -- views: their query, which also fixes their columns' order
    SELECT format(E'view %s:\n%s', r.name, pg_get_viewdef(r.oid))
      FROM rel r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    -- sequences: their parameters and owner column (not their position)
    SELECT format('sequence %s: %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                  r.name, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                  coalesce((SELECT format('%s.%s %s', d.refobjid::regclass, quote_ident(a.attname), d.deptype)
                              FROM pg_depend d
                              JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '-'))
      FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    -- constraints of tables and domains
    SELECT format('constraint %s on %s: %s%s%s',
                  quote_ident(c.conname),
                  CASE WHEN c.conrelid <> 0 THEN c.conrelid::regclass::text ELSE 'domain ' || c.contypid::regtype::text END,
                  pg_get_constraintdef(c.oid),
                  CASE WHEN c.conislocal THEN '' ELSE ' (inherited)' END,
                  CASE WHEN c.connoinherit THEN ' no inherit' ELSE '' END)
      FROM pg_constraint c JOIN ext ON c.connamespace = ext.extnamespace
    UNION ALL
    -- indexes
    SELECT format('index %s: %s%s%s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid),
                  CASE WHEN i.indisclustered THEN ' clustered' ELSE '' END,
                  CASE WHEN i.indisreplident THEN ' replica identity' ELSE '' END)
      FROM pg_index i JOIN rel r ON r.oid = i.indrelid
    UNION ALL
    -- triggers (not the internal ones behind foreign keys)
    SELECT format('trigger %s on %s: %s, enabled %s', quote_ident(t.tgname), r.name, pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid
     WHERE NOT t.tgisinternal
    UNION ALL
    -- rules other than the ones that make views
    SELECT format('rule %s on %s: %s, enabled %s', quote_ident(w.rulename), r.name, pg_get_ruledef(w.oid), w.ev_enabled)
      FROM pg_rewrite w JOIN rel r ON r.oid = w.ev_class
     WHERE w.rulename <> '_RETURN'
    UNION ALL
    -- row-level security policies
    SELECT format('policy %s on %s: %s for %s to %s using (%s) with check (%s)',
                  quote_ident(p.polname), r.name, CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                  p.polcmd,
                  (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE x::regrole::text END, ',' ORDER BY 1)
                     FROM unnest(p.polroles) x),
                  coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
                  coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'))
      FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
    UNION ALL
    -- extended statistics
    SELECT format('statistics %s: %s', quote_ident(s.stxname), pg_get_statisticsobjdef(s.oid))
      FROM pg_statistic_ext s JOIN ext ON s.stxnamespace = ext.extnamespace
    UNION ALL
    -- functions and procedures: the whole definition
    SELECT format(E'function %s: owner %s\n%s', f.name, f.proowner::regrole, pg_get_functiondef(f.oid))
      FROM fn f WHERE f.prokind <> 'a'
    UNION ALL
    -- aggregates
    SELECT format('aggregate %s: owner %s, kind %s, direct arguments %s, returns %s, %s, sfunc %s, stype %s, '
                  'sspace %s, finalfunc %s (extra %s, modify %s), combinefunc %s, serialfunc %s, deserialfunc %s, '
                  'initcond %s, msfunc %s, minvfunc %s, mstype %s, mfinalfunc %s, minitcond %s, sortop %s, '
                  'strict %s, parallel %s, volatility %s',
                  f.name, f.proowner::regrole, g.aggkind, g.aggnumdirectargs, f.prorettype::regtype,
                  pg_get_function_arguments(f.oid), g.aggtransfn::regprocedure, g.aggtranstype::regtype,
                  g.aggtransspace, nullif(g.aggfinalfn, 0)::regprocedure, g.aggfinalextra, g.aggfinalmodify,
                  nullif(g.aggcombinefn, 0)::regprocedure, nullif(g.aggserialfn, 0)::regprocedure,
                  nullif(g.aggdeserialfn, 0)::regprocedure, coalesce(quote_literal(g.agginitval), 'NULL'),
                  nullif(g.aggmtransfn, 0)::regprocedure, nullif(g.aggminvtransfn, 0)::regprocedure,
                  nullif(g.aggmtranstype, 0)::regtype, nullif(g.aggmfinalfn, 0)::regprocedure,
                  coalesce(quote_literal(g.aggminitval), 'NULL'), nullif(g.aggsortop, 0)::regoperator,
                  f.proisstrict, f.proparallel, f.provolatile)
      FROM fn f JOIN pg_aggregate g ON g.aggfnoid = f.oid
    UNION ALL
    -- types: domains, enums, composite and range types, base types (not
    -- the row types of tables and views, nor array types)
    SELECT format('type %s: kind %s, owner %s, base %s, not null %s, default %s, collation %s%s',
                  t.name, t.typtype, t.typowner::regrole, coalesce(nullif(t.typbasetype, 0)::regtype::text, '-'),
                  t.typnotnull, coalesce(t.typdefault, '-'),
                  coalesce((SELECT quote_ident(collname) FROM pg_collation WHERE oid = nullif(t.typcollation, 0)), '-'),
                  coalesce(' labels ' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                                            FROM pg_enum e WHERE e.enumtypid = t.oid), ''))
      FROM typ t
     WHERE t.typcategory <> 'A' AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    UNION ALL
    -- event triggers of the extension
    SELECT format('event trigger %s: on %s, function %s, enabled %s, owner %s, tags %s',
                  quote_ident(v.evtname), v.evtevent, v.evtfoid::regprocedure, v.evtenabled, v.evtowner::regrole,
                  coalesce((SELECT string_agg(x, ',' ORDER BY x) FROM unnest(v.evttags) x), '-'))
      FROM pg_event_trigger v JOIN member m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = v.oid
    UNION ALL
    -- comments on everything in the schema, on members elsewhere, and on the schema
    SELECT format('comment on %s %s: %s', o.type, o.identity, d.description)
      FROM pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) o
     WHERE o.schema = (SELECT nspname FROM pg_namespace WHERE oid = (SELECT extnamespace FROM ext))
        OR EXISTS (SELECT FROM member m WHERE m.classid = d.classoid AND m.objid = d.objoid)
        OR (d.classoid = 'pg_namespace'::regclass AND d.objoid = (SELECT extnamespace FROM ext))
    UNION ALL
    -- privileges
    SELECT format('grant on %s %s: %s', a.kind, a.object, a.item) FROM acl a
    UNION ALL
    SELECT format('default privileges of %s in schema %s for %s: %s', d.defaclrole::regrole, d.defaclnamespace::regnamespace,
                  d.defaclobjtype, a::text)
      FROM pg_default_acl d JOIN ext ON d.defaclnamespace = ext.extnamespace, unnest(d.defaclacl) a
    UNION ALL
    -- the initial privileges pg_dump compares against (one line per grantee)
    SELECT format('initial privileges (%s) of %s %s: %s', i.privtype, o.type, o.identity, a::text)
      FROM pg_init_privs i, pg_identify_object(i.classoid, i.objoid, i.objsubid) o, unnest(i.initprivs) a
     WHERE o.schema = (SELECT nspname FROM pg_namespace WHERE oid = (SELECT extnamespace FROM ext))
        OR EXISTS (SELECT FROM member m WHERE m.classid = i.classoid AND m.objid = i.objoid)
        OR (i.classoid = 'pg_namespace'::regclass AND i.objoid = (SELECT extnamespace FROM ext))
)
SELECT text FROM line ORDER BY text COLLATE "C";
