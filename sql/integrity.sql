-- integrity: what no client can break in the transition engine and the C
-- code around it (README, "Security model"), each hole tried as the role that found it:
--   1. a search_path of look-alike operators, functions and pg_temp tables
--      never steers the C code: triggers, rule loading, enqueue, aggregates;
--   2. history is written only by the engine, only where the table's owner
--      could; no trigger function or SECURITY DEFINER helper is executable
--      by PUBLIC;
--   3. engine-owned columns change only through moves, a pipeline switch is
--      a move, deleting a deal keeps the record;
--   4. keys and names are printable;
--   5. restore mode passes rows through the C triggers untouched.
-- The worker's claim, with crm preloaded, is in test/t/010_search_path.pl.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_integrity TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_integrity
CREATE EXTENSION crm;
SET client_min_messages = warning;

-- SQLSTATE, constraint name and message of an error, run as the caller
CREATE FUNCTION public.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; constraint_name text; message text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, constraint_name = CONSTRAINT_NAME,
                            message = MESSAGE_TEXT;
    RETURN state || ' ' || coalesce(constraint_name, '-') || ': ' || message;
END $$;

CREATE ROLE regress_integrity_reader LOGIN IN ROLE crm_reader;
CREATE ROLE regress_integrity_user LOGIN IN ROLE crm_user;
CREATE ROLE regress_integrity_admin LOGIN IN ROLE crm_admin;
GRANT CREATE ON DATABASE crm_regress_integrity TO regress_integrity_reader;

INSERT INTO crm.account (name) VALUES ('Acme');
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('welcome', 'Hello {{name}}', 'Welcome, {{name}}.');

-- ===== 1. search_path ======================================================
-- A read-only login with CREATE on the database builds look-alikes.
SET ROLE regress_integrity_reader;
\i test/search_path_lookalikes.sql
RESET ROLE;

-- The same steps in a plain session first: what the shadowed ones must match.
SET ROLE regress_integrity_user;
INSERT INTO crm.deal (name, amount) VALUES ('plain', 10);
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'plain';
SELECT crm.send_email('plain@example.com', 'plain', 'body') IS NOT NULL AS queued;
SELECT crm.send_template('welcome', 'plain@example.com', '{"name": "Li"}') IS NOT NULL AS queued;
RESET ROLE;

-- A new session, so the rules are loaded under the shadowed search_path, with
-- pg_temp tables named like crm's holding rows that would mislead the C code.
\c crm_regress_integrity
SET client_min_messages = warning;
SET ROLE regress_integrity_user;
\i test/search_path_decoys.sql
SET search_path = pg_temp, shadow, pg_catalog;
-- the look-alikes are live in this session
SELECT 1::bigint = 1::bigint AS equal, 2::bigint < 1::bigint AS less, lower('ABC') AS lower,
       now() AS now, (SELECT count(*) FROM generate_series(1, 3)) AS count;
-- triggers: enforce_transition (and the rule loader), record_transition
INSERT INTO crm.deal (name, amount) VALUES ('shadowed', 10);
UPDATE crm.deal SET stage = 'qualified' WHERE name OPERATOR(pg_catalog.=) 'shadowed';
-- enqueue: the pg_temp suppression list and template are not crm's
SELECT crm.send_email('shadow@example.com', 'shadowed', 'body') IS NOT NULL AS queued;
SELECT crm.send_template('welcome', 'shadow@example.com', '{"name": "Li"}') IS NOT NULL AS queued;
-- set_updated_at, in a transaction whose start is known
BEGIN;
UPDATE crm.account SET industry = 'software' WHERE name OPERATOR(pg_catalog.=) 'Acme';
SET LOCAL search_path = DEFAULT;
SELECT updated_at = now() AS updated_now FROM crm.account WHERE name = 'Acme';
COMMIT;
-- a rule edited under the shadowed path reaches the cache (rules_changed)
SET ROLE regress_integrity_admin;
UPDATE crm.stage SET label = 'Qualified lead' WHERE key OPERATOR(pg_catalog.=) 'qualified';
SET ROLE regress_integrity_user;
UPDATE crm.deal SET stage = 'negotiation' WHERE name OPERATOR(pg_catalog.=) 'shadowed';
UPDATE crm.deal SET stage = 'lost', lost_reason = 'testing' WHERE name OPERATOR(pg_catalog.=) 'shadowed';
UPDATE crm.deal SET stage = 'negotiation' WHERE name OPERATOR(pg_catalog.=) 'plain';
UPDATE crm.deal SET stage = 'lost', lost_reason = 'testing' WHERE name OPERATOR(pg_catalog.=) 'plain';
RESET search_path;
RESET ROLE;
-- both deals went the same way, with the same history
SELECT d.name, d.stage, d.probability, d.closed_at IS NOT NULL AS closed,
       (SELECT string_agg(coalesce(h.from_stage, '-') || '>' || h.to_stage, ' ' ORDER BY h.id)
          FROM crm.deal_stage_history h WHERE h.deal_id = d.id) AS history
  FROM crm.deal d ORDER BY d.name;
SELECT to_address, subject, status FROM crm.email_outbox ORDER BY id;
SELECT label FROM crm.stage WHERE key = 'qualified';

-- aggregates: the same models, plain and shadowed
SET ROLE regress_integrity_reader;
CREATE TEMP TABLE series AS
SELECT g AS t, (100 + 2 * g + (g % 4) * 5 + (g * 7919) % 13)::float8 AS y,
       (g * 37) % 11 > 5 AS won FROM generate_series(1, 36) g;
-- a view, so the plain and the shadowed sessions run the very same calls
CREATE TEMP VIEW fitted AS
SELECT crm.linreg(y, ARRAY[t::float8]) AS linreg,
       crm.logreg(won, ARRAY[t::float8]) AS logreg,
       crm.arima(y, 1, 1, 0 ORDER BY t) AS arima,
       crm.holt_winters(y, 4, 'additive' ORDER BY t) AS holt_winters,
       crm.best_model(y, 4 ORDER BY t) AS best_model,
       crm.revenue_range(y * 100, (t % 10) / 10.0) AS revenue_range
  FROM series;
CREATE TEMP TABLE models AS SELECT * FROM fitted;
SET search_path = pg_temp, shadow, pg_catalog;
CREATE TEMP TABLE shadowed_models AS SELECT * FROM fitted;
CREATE TEMP TABLE shadowed_forecast AS
SELECT f.* FROM shadowed_models m, crm.forecast(m.best_model, 3) f;
CREATE TEMP TABLE shadowed_prediction AS
SELECT crm.predict(m.linreg, ARRAY[40::float8]) AS p FROM shadowed_models m;
RESET search_path;
SELECT m.linreg = s.linreg AS linreg, m.logreg = s.logreg AS logreg, m.arima = s.arima AS arima,
       m.holt_winters = s.holt_winters AS holt_winters, m.best_model = s.best_model AS best_model,
       m.revenue_range = s.revenue_range AS revenue_range
  FROM models m, shadowed_models s;
SELECT (SELECT array_agg(ARRAY[f.step, f.yhat, f.lo, f.hi] ORDER BY f.step)
          FROM models m, crm.forecast(m.best_model, 3) f)
       = (SELECT array_agg(ARRAY[f.step, f.yhat, f.lo, f.hi] ORDER BY f.step) FROM shadowed_forecast f) AS forecast,
       (SELECT crm.predict(m.linreg, ARRAY[40::float8]) FROM models m)
       = (SELECT p FROM shadowed_prediction) AS predict;
RESET ROLE;

-- ===== 2. forged history ===================================================
-- the 0.1.0 repro, as a reader: a temporary table with the engine's history
-- trigger, or with a SECURITY DEFINER trigger function
SET ROLE regress_integrity_reader;
CREATE TEMP TABLE forged (id bigint, stage text, pipeline_id bigint, stage_entered_at timestamptz);
SELECT public.try($$CREATE TRIGGER forge AFTER INSERT ON forged FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.deal_stage_history', 'deal_id', 'stage', 'pipeline_id')$$);
SELECT public.try($$CREATE TRIGGER forge AFTER INSERT ON forged FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.invoice_status_history', 'invoice_id', 'stage', 'pipeline_id')$$);
SELECT public.try($$CREATE TRIGGER lock_invoices BEFORE INSERT ON forged FOR EACH ROW EXECUTE FUNCTION
    crm.payment_check()$$);
RESET ROLE;
-- crm_admin may attach the engine to tables of its own, but its history goes
-- only where the table's owner may insert: not into crm's history tables
SET ROLE regress_integrity_admin;
CREATE TEMP TABLE admin_case (id bigint, stage text, pipeline_id bigint, stage_entered_at timestamptz);
CREATE TRIGGER forge AFTER INSERT ON admin_case FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.deal_stage_history', 'deal_id', 'stage', 'pipeline_id');
SELECT public.try($$INSERT INTO admin_case VALUES (999999, 'won', 1, '2020-01-01')$$);
DROP TRIGGER forge ON admin_case;
CREATE TRIGGER forge AFTER INSERT ON admin_case FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.invoice_status_history', 'invoice_id', 'stage', 'pipeline_id');
SELECT public.try($$INSERT INTO admin_case VALUES (999999, 'paid', 1, '2020-01-01')$$);
DROP TRIGGER forge ON admin_case;
SELECT public.try($$INSERT INTO crm.deal_stage_history (deal_id, pipeline_id, to_stage, changed_at, changed_by)
                    VALUES (999999, 1, 'won', now(), 'me')$$);
-- its own history table works; an unqualified name is in the table's own schema
CREATE TEMP TABLE admin_case_history (case_id bigint, from_stage text, to_stage text,
                                      changed_at timestamptz, changed_by name);
CREATE TRIGGER history AFTER INSERT ON admin_case FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('admin_case_history', 'case_id', 'stage', 'pipeline_id');
INSERT INTO admin_case VALUES (7, 'open', 1, '2020-01-01');
SELECT case_id, from_stage, to_stage, changed_by FROM admin_case_history;
RESET ROLE;
-- even the owner of both tables cannot have the engine write past a foreign key
CREATE TABLE public.other_case (id bigint PRIMARY KEY, stage text, pipeline_id bigint);
CREATE TRIGGER forge AFTER INSERT ON public.other_case FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.invoice_status_history', 'invoice_id', 'stage', 'pipeline_id');
SELECT public.try($$INSERT INTO public.other_case VALUES (999999, 'paid', 1)$$);
DROP TABLE public.other_case;
-- nothing was written for the record that does not exist
SELECT (SELECT count(*) FROM crm.deal_stage_history WHERE deal_id = 999999) AS deal_history,
       (SELECT count(*) FROM crm.invoice_status_history WHERE invoice_id = 999999) AS invoice_history;
-- no trigger function or SECURITY DEFINER helper is executable by PUBLIC
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'crm'
   AND (p.prosecdef OR p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype))
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1::text;

-- ===== 3. engine-owned columns, pipeline switches, deletion ================
SET ROLE regress_integrity_user;
INSERT INTO crm.deal (name, amount) VALUES ('open deal', 100), ('won deal', 200), ('lost deal', 300);
UPDATE crm.deal SET stage = 'qualified' WHERE name IN ('open deal', 'won deal');
UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'won deal';
UPDATE crm.deal SET stage = 'won' WHERE name = 'won deal';
UPDATE crm.deal SET stage = 'lost', lost_reason = 'price' WHERE name = 'lost deal';
CREATE TEMP TABLE stamps AS
SELECT name, stage_entered_at, closed_at FROM crm.deal WHERE name LIKE '% deal';
-- an UPDATE that moves nothing cannot close, backdate or re-date a deal
UPDATE crm.deal SET closed_at = '2020-01-01', stage_entered_at = '2099-01-01' WHERE name LIKE '% deal';
UPDATE crm.deal SET stage_entered_at = now() - interval '1 day', closed_at = NULL WHERE name LIKE '% deal';
-- nor change a closed deal's probability; an open deal's is the user's to set
UPDATE crm.deal SET probability = 0.01 WHERE name IN ('won deal', 'lost deal');
UPDATE crm.deal SET probability = 0.4 WHERE name = 'open deal';
SELECT d.name, d.stage, d.probability, d.closed_at IS NOT DISTINCT FROM s.closed_at AS closed_at_kept,
       d.stage_entered_at = s.stage_entered_at AS entered_at_kept
  FROM crm.deal d JOIN stamps s USING (name) ORDER BY d.name;
RESET ROLE;
-- the same for <state>_entered_at and closed_at of a workflow on a user's table
SELECT crm.create_pipeline('jobs', ARRAY['queued', 'running'], 'done', 'failed') AS jobs_id \gset
UPDATE crm.pipeline SET object_type = 'job' WHERE name = 'jobs';
CREATE TABLE public.job (id bigint GENERATED ALWAYS AS IDENTITY, status text NOT NULL DEFAULT 'queued',
                         status_entered_at timestamptz, closed_at timestamptz);
CREATE TRIGGER job_workflow BEFORE INSERT OR UPDATE ON public.job
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'jobs');
INSERT INTO public.job DEFAULT VALUES;
UPDATE public.job SET status_entered_at = '2099-01-01', closed_at = '2020-01-01';
SELECT status, status_entered_at < '2099-01-01' AS entered_kept, closed_at IS NULL AS still_open FROM public.job;
DROP TABLE public.job;

-- moving a deal to another pipeline is a move: into a stage a new deal may
-- start in, with a history row; a closed deal is not reopened that way
SELECT crm.create_pipeline('partners', ARRAY['discovery', 'pilot'], 'signed', 'dropped') AS partners_id \gset
SET ROLE regress_integrity_user;
SELECT public.try(format($$UPDATE crm.deal SET pipeline_id = %s, stage = 'signed' WHERE name = 'open deal'$$,
                         :partners_id));
UPDATE crm.deal SET pipeline_id = :partners_id, stage = 'pilot' WHERE name = 'open deal';
SELECT public.try(format($$UPDATE crm.deal SET pipeline_id = %s, stage = 'discovery' WHERE name = 'lost deal'$$,
                         :partners_id));
SELECT public.try(format($$UPDATE crm.deal SET pipeline_id = %s, stage = 'discovery' WHERE name = 'won deal'$$,
                         :partners_id));
SELECT d.name, p.name AS pipeline, d.stage, d.probability, d.closed_at IS NULL AS open
  FROM crm.deal d JOIN crm.pipeline p ON p.id = d.pipeline_id WHERE d.name LIKE '% deal' ORDER BY d.name;
SELECT p.name AS pipeline, h.from_stage, h.to_stage
  FROM crm.deal_stage_history h JOIN crm.pipeline p ON p.id = h.pipeline_id
 WHERE h.deal_id = (SELECT id FROM crm.deal WHERE name = 'open deal') ORDER BY h.id;

-- deleting: a deal that never moved goes; one that moved or closed is lost,
-- not deleted, unless by crm_admin; its history stays either way
INSERT INTO crm.deal (name) VALUES ('fresh deal');
DELETE FROM crm.deal WHERE name = 'fresh deal';
SELECT public.try($$DELETE FROM crm.deal WHERE name = 'open deal'$$);
SELECT public.try($$DELETE FROM crm.deal WHERE name = 'lost deal'$$);
SELECT id AS lost_id FROM crm.deal WHERE name = 'lost deal' \gset
SET ROLE regress_integrity_admin;
DELETE FROM crm.deal WHERE name = 'lost deal';
RESET ROLE;
SELECT from_stage, to_stage FROM crm.deal_stage_history WHERE deal_id = :lost_id ORDER BY id;

-- ===== 4. printable keys and names =========================================
SET ROLE regress_integrity_admin;
SELECT public.try($$INSERT INTO crm.pipeline (name) VALUES (E'tab\there')$$);
SELECT public.try($$SELECT crm.create_pipeline(E'new\nline', ARRAY['a'])$$);
SELECT public.try($$SELECT crm.create_pipeline('keys', ARRAY[E'a\tb'])$$);
SELECT public.try($$UPDATE crm.stage SET label = E'Lead\r' WHERE key = 'lead'$$);
SELECT public.try($$INSERT INTO crm.pipeline (name) VALUES (E'next\u0085line')$$);
SELECT public.try($$INSERT INTO crm.email_template (key, subject, body_text) VALUES (E'welcome\n', 's', 'b')$$);
SELECT crm.create_pipeline('在线教育销售', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') > 0 AS created;
RESET ROLE;

-- ===== 5. restore mode =====================================================
-- a dump's rows (row_security off, as pg_dump writes, by a superuser) go in
-- as saved: a won deal as a new row, its own stamps, no history written
SET row_security = off;
SELECT crm.restoring() AS restoring;
INSERT INTO crm.deal (id, name, pipeline_id, stage, probability, stage_entered_at, closed_at, updated_at)
OVERRIDING SYSTEM VALUE
SELECT 1000, 'restored', id, 'won', 1, '2024-01-01', '2024-02-01', '2024-02-01'
  FROM crm.pipeline WHERE name = 'default';
UPDATE crm.account SET updated_at = '2024-03-01' WHERE name = 'Acme';
RESET row_security;
SELECT stage, probability, stage_entered_at, closed_at, updated_at FROM crm.deal WHERE id = 1000;
SELECT count(*) AS history_rows FROM crm.deal_stage_history WHERE deal_id = 1000;
SELECT updated_at FROM crm.account WHERE name = 'Acme';
-- no other role enters restore mode
SET ROLE regress_integrity_user;
SET row_security = off;
SELECT crm.restoring() AS restoring;
SELECT public.try($$INSERT INTO crm.deal (name, stage) VALUES ('sneaky', 'won')$$);
RESET row_security;
RESET ROLE;

\c :regress_db
DROP DATABASE crm_regress_integrity;
DROP ROLE regress_integrity_reader, regress_integrity_user, regress_integrity_admin;
