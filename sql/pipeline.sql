-- pipeline: the C transition engine on crm.deal and on a user's own table.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_pipeline TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_pipeline
CREATE EXTENSION crm;
SET client_min_messages = warning;

-- SQLSTATE and constraint name of an error, for the checks below
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; constraint_name text; message text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, constraint_name = CONSTRAINT_NAME,
                            message = MESSAGE_TEXT;
    RETURN state || ' ' || coalesce(constraint_name, '-') || ': ' || message;
END $$;

-- the default pipeline after CREATE EXTENSION (the sales workflows are in sales.sql)
SELECT p.name, p.is_default, s.key, s.label, s.position, s.probability, s.kind, s.forecast_category
  FROM crm.pipeline p JOIN crm.stage s ON s.pipeline_id = p.id WHERE p.object_type = 'deal' ORDER BY s.position;
SELECT from_stage, to_stage FROM crm.stage_transition
 WHERE pipeline_id IN (SELECT id FROM crm.pipeline WHERE object_type = 'deal') ORDER BY 1, 2;

-- INSERT fills in the default pipeline, its first open stage and the stamps
BEGIN;
INSERT INTO crm.deal (name, amount) VALUES ('Alpha', 100);
SELECT name, stage, probability, stage_entered_at = now() AS entered_now, closed_at
  FROM crm.deal WHERE name = 'Alpha';
COMMIT;
SELECT from_stage, to_stage, changed_by = current_user AS by_me, time_in_from_stage
  FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id WHERE d.name = 'Alpha';

-- an allowed move
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Alpha';
SELECT stage, probability FROM crm.deal WHERE name = 'Alpha';
-- skipping a stage, moving back, unknown stage: refused with the allowed moves
UPDATE crm.deal SET stage = 'won' WHERE name = 'Alpha';
UPDATE crm.deal SET stage = 'lead' WHERE name = 'Alpha';
UPDATE crm.deal SET stage = 'closed-won' WHERE name = 'Alpha';
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'won' WHERE name = 'Alpha'$$);
-- setting the same stage again is a no-op: no error, no history row
UPDATE crm.deal SET stage = 'qualified', amount = 150 WHERE name = 'Alpha';
SELECT count(*) AS history_rows FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
 WHERE d.name = 'Alpha';
-- updating other columns leaves the stage and its stamps alone; the engine stamps updated_at
BEGIN;
UPDATE crm.deal SET amount = 200, updated_at = '2001-01-01' WHERE name = 'Alpha';
SELECT stage, amount, stage_entered_at < now() AS entered_before, updated_at = now() AS updated_now
  FROM crm.deal WHERE name = 'Alpha';
COMMIT;

-- lost needs a reason
UPDATE crm.deal SET stage = 'lost' WHERE name = 'Alpha';
UPDATE crm.deal SET stage = 'lost', lost_reason = '   ' WHERE name = 'Alpha';
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'lost' WHERE name = 'Alpha'$$);
BEGIN;
UPDATE crm.deal SET stage = 'lost', lost_reason = 'went with a competitor' WHERE name = 'Alpha';
SELECT stage, probability, closed_at = now() AS closed_now, lost_reason FROM crm.deal WHERE name = 'Alpha';
COMMIT;
-- a closed deal reopens only along a rule that says so
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Alpha';
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'lost', 'qualified' FROM crm.pipeline WHERE name = 'default';
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Alpha';
SELECT stage, probability, closed_at FROM crm.deal WHERE name = 'Alpha';

-- required fields, checked on entering the stage
UPDATE crm.stage SET required_fields = '{expected_close_date, contact_id}' WHERE key = 'negotiation';
UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Alpha';
UPDATE crm.deal SET stage = 'negotiation', expected_close_date = '2030-01-31' WHERE name = 'Alpha';
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Alpha'$$);
INSERT INTO crm.contact (name, email) VALUES ('李雷', 'li.lei@example.cn');
UPDATE crm.deal SET stage = 'negotiation', expected_close_date = '2030-01-31',
                    contact_id = (SELECT id FROM crm.contact WHERE name = '李雷')
 WHERE name = 'Alpha';
SELECT stage FROM crm.deal WHERE name = 'Alpha';
UPDATE crm.stage SET required_fields = '{no_such_column}' WHERE key = 'won';
UPDATE crm.deal SET stage = 'won' WHERE name = 'Alpha';
UPDATE crm.stage SET required_fields = '{}' WHERE key IN ('won', 'negotiation');
BEGIN;
UPDATE crm.deal SET stage = 'won' WHERE name = 'Alpha';
SELECT stage, probability, closed_at = now() AS closed_now FROM crm.deal WHERE name = 'Alpha';
COMMIT;
SELECT from_stage, to_stage FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
 WHERE d.name = 'Alpha' ORDER BY h.id;
-- no move out of won unless a rule says so
UPDATE crm.deal SET stage = 'lost', lost_reason = 'x' WHERE name = 'Alpha';

-- the probability follows the stage unless the statement sets it
INSERT INTO crm.deal (name, probability) VALUES ('Beta', 0.9);
SELECT stage, probability FROM crm.deal WHERE name = 'Beta';
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Beta';
SELECT stage, probability FROM crm.deal WHERE name = 'Beta';
UPDATE crm.deal SET stage = 'negotiation', probability = 0.6 WHERE name = 'Beta';
SELECT stage, probability FROM crm.deal WHERE name = 'Beta';

-- a new deal starts in an open stage of an existing pipeline of deals
INSERT INTO crm.deal (name, stage) VALUES ('Gamma', 'won');
INSERT INTO crm.deal (name, stage) VALUES ('Gamma', 'nope');
INSERT INTO crm.deal (name, pipeline_id) VALUES ('Gamma', 999999);
INSERT INTO crm.deal (name, stage) VALUES ('Gamma', 'negotiation');
SELECT stage FROM crm.deal WHERE name = 'Gamma';

-- importing history: stage_entered_at may be set, not in the future, not backwards
INSERT INTO crm.deal (name, stage_entered_at) VALUES ('Delta', '2024-03-01 09:00:00+00');
UPDATE crm.deal SET stage = 'qualified', stage_entered_at = '2024-03-04 12:30:00+00' WHERE name = 'Delta';
SELECT from_stage, to_stage, changed_at, time_in_from_stage FROM crm.deal_stage_history h
  JOIN crm.deal d ON d.id = h.deal_id WHERE d.name = 'Delta' ORDER BY h.id;
UPDATE crm.deal SET stage = 'negotiation', stage_entered_at = '2024-03-02 00:00:00+00' WHERE name = 'Delta';
UPDATE crm.deal SET stage = 'negotiation', stage_entered_at = now() + interval '1 day' WHERE name = 'Delta';
UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Delta';
SELECT from_stage, to_stage, changed_at = stage_entered_at AS stamped,
       time_in_from_stage = stage_entered_at - '2024-03-04 12:30:00+00' AS time_right
  FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
 WHERE d.name = 'Delta' AND to_stage = 'negotiation';

-- COPY goes through the engine too: a bad row fails the whole COPY
COPY crm.deal (name, amount, stage) FROM stdin;
Copy 1	10	lead
Copy 2	20	qualified
Copy 3	30	\N
\.
SELECT name, stage FROM crm.deal WHERE name LIKE 'Copy %' ORDER BY name;
COPY crm.deal (name, amount, stage) FROM stdin;
Copy 4	40	lead
Copy 5	50	won
\.
SELECT count(*) AS copies FROM crm.deal WHERE name LIKE 'Copy %';

-- multi-row UPDATE ... FROM: every row is checked, one bad row fails all
UPDATE crm.deal d SET stage = v.stage
  FROM (VALUES ('Copy 1', 'qualified'), ('Copy 2', 'negotiation'), ('Copy 3', 'lost')) AS v(name, stage)
 WHERE d.name = v.name;
UPDATE crm.deal d SET stage = v.stage, lost_reason = v.reason
  FROM (VALUES ('Copy 1', 'qualified', NULL), ('Copy 2', 'negotiation', NULL), ('Copy 3', 'lost', 'budget'))
       AS v(name, stage, reason)
 WHERE d.name = v.name;
SELECT name, stage FROM crm.deal WHERE name LIKE 'Copy %' ORDER BY name;
SELECT d.name, count(*) AS moves FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
 WHERE d.name LIKE 'Copy %' GROUP BY d.name ORDER BY d.name;

-- rules edited mid-session are seen by the very next statement
INSERT INTO crm.deal (name) VALUES ('Epsilon');
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Epsilon'$$);
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'lead', 'negotiation' FROM crm.pipeline WHERE name = 'default';
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Epsilon'$$);
DELETE FROM crm.stage_transition WHERE from_stage = 'lead' AND to_stage = 'negotiation';
INSERT INTO crm.deal (name) VALUES ('Zeta');
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Zeta'$$);
-- ... and a rule added in a transaction that rolls back is forgotten
BEGIN;
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'lead', 'negotiation' FROM crm.pipeline WHERE name = 'default';
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Zeta'$$);
ROLLBACK;
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'Zeta'$$);
-- TRUNCATE of the rules is seen too
BEGIN;
TRUNCATE crm.stage_transition;
SELECT pg_temp.try($$UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Zeta'$$);
ROLLBACK;

-- a stage deals use cannot be deleted; an unused one can, with its rules
\set VERBOSITY terse
DELETE FROM crm.stage WHERE key = 'qualified';
\set VERBOSITY default
INSERT INTO crm.stage (pipeline_id, key, label, position, probability)
SELECT id, 'demo', 'Demo', 10, 0.4 FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'demo', 'won' FROM crm.pipeline WHERE name = 'default';
DELETE FROM crm.stage WHERE key = 'demo';
SELECT count(*) AS demo_rules FROM crm.stage_transition WHERE from_stage = 'demo';
-- stage table constraints
\set VERBOSITY terse
INSERT INTO crm.stage (pipeline_id, key, label, position, probability)
SELECT id, 'p', 'P', 11, 1.5 FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind)
SELECT id, 'w2', 'W2', 11, 0.5, 'won' FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind)
SELECT id, 'x', 'X', 11, 0.5, 'maybe' FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage (pipeline_id, key, label, position, probability)
SELECT id, ' padded ', 'X', 11, 0.5 FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'lead', 'nowhere' FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, 'lead', 'lead' FROM crm.pipeline WHERE name = 'default';
INSERT INTO crm.pipeline (name, is_default) VALUES ('second default', true);
-- deal table constraints
INSERT INTO crm.deal (name, amount) VALUES ('Negative', -5);
INSERT INTO crm.deal (name, currency) VALUES ('Currency', 'usd');
INSERT INTO crm.deal (name, probability) VALUES ('Probability', 2);
INSERT INTO crm.deal (name) VALUES ('');
\set VERBOSITY default

-- crm.create_pipeline with the book's Chinese stages
SELECT crm.create_pipeline('在线教育', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') > 0 AS created;
SELECT s.key, s.label, s.position, s.probability, s.kind, s.forecast_category
  FROM crm.stage s JOIN crm.pipeline p ON p.id = s.pipeline_id WHERE p.name = '在线教育' ORDER BY s.position;
SELECT from_stage, to_stage FROM crm.stage_transition t JOIN crm.pipeline p ON p.id = t.pipeline_id
 WHERE p.name = '在线教育' ORDER BY t.id;
INSERT INTO crm.deal (name, pipeline_id) SELECT 'Python 课程团购', id FROM crm.pipeline WHERE name = '在线教育';
SELECT stage FROM crm.deal WHERE name = 'Python 课程团购';
UPDATE crm.deal SET stage = '成交' WHERE name = 'Python 课程团购';
UPDATE crm.deal SET stage = '潜在客户' WHERE name = 'Python 课程团购';
UPDATE crm.deal SET stage = '谈判中' WHERE name = 'Python 课程团购';
UPDATE crm.deal SET stage = '成交' WHERE name = 'Python 课程团购';
SELECT stage, closed_at IS NOT NULL AS closed FROM crm.deal WHERE name = 'Python 课程团购';
-- moving a deal to another pipeline starts over in an open stage there
INSERT INTO crm.deal (name) VALUES ('Mover');
UPDATE crm.deal SET pipeline_id = (SELECT id FROM crm.pipeline WHERE name = '在线教育') WHERE name = 'Mover';
UPDATE crm.deal SET pipeline_id = (SELECT id FROM crm.pipeline WHERE name = '在线教育'), stage = '潜在客户'
 WHERE name = 'Mover';
SELECT h.from_stage, h.to_stage, p.name AS pipeline FROM crm.deal_stage_history h
  JOIN crm.deal d ON d.id = h.deal_id JOIN crm.pipeline p ON p.id = h.pipeline_id
 WHERE d.name = 'Mover' ORDER BY h.id;
-- bad input to create_pipeline
SELECT crm.create_pipeline('在线教育', ARRAY['a']);
SELECT crm.create_pipeline('', ARRAY['a']);
SELECT crm.create_pipeline('empty', ARRAY[]::text[]);
SELECT crm.create_pipeline('dups', ARRAY['a', 'a']);
SELECT crm.create_pipeline('won twice', ARRAY['a', 'won']);
SELECT crm.create_pipeline('null stage', ARRAY['a', NULL]);

-- deal items: the amount follows the items; currencies must agree
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('WEB-1', 'Web 开发课', 2999.50, 'CNY'),
                                                                ('USD-1', 'Course in dollars', 100, 'USD');
INSERT INTO crm.deal (name, currency) VALUES ('Items', 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount)
SELECT d.id, p.id, 3, 0.15 FROM crm.deal d, crm.product p WHERE d.name = 'Items' AND p.sku = 'WEB-1';
SELECT amount, items_total FROM crm.deal WHERE name = 'Items';
INSERT INTO crm.deal_item (deal_id, product_id, quantity, unit_price)
SELECT d.id, p.id, 1, 500 FROM crm.deal d, crm.product p WHERE d.name = 'Items' AND p.sku = 'WEB-1';
SELECT amount, items_total FROM crm.deal WHERE name = 'Items';
INSERT INTO crm.deal_item (deal_id, product_id, quantity)
SELECT d.id, p.id, 1 FROM crm.deal d, crm.product p WHERE d.name = 'Items' AND p.sku = 'USD-1';
\set VERBOSITY terse
UPDATE crm.deal SET amount = 1 WHERE name = 'Items';
INSERT INTO crm.deal_item (deal_id, product_id, quantity)
SELECT d.id, p.id, -1 FROM crm.deal d, crm.product p WHERE d.name = 'Items' AND p.sku = 'WEB-1';
INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount)
SELECT d.id, p.id, 1, 1.5 FROM crm.deal d, crm.product p WHERE d.name = 'Items' AND p.sku = 'WEB-1';
\set VERBOSITY default
DELETE FROM crm.deal_item WHERE unit_price = 500;
SELECT amount, items_total FROM crm.deal WHERE name = 'Items';
DELETE FROM crm.deal_item;
SELECT amount, items_total FROM crm.deal WHERE name = 'Items';

-- the engine on a user's own table, with a fixed workflow
CREATE TABLE public.support_case (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL,
    status text NOT NULL,
    status_entered_at timestamptz,
    closed_at timestamptz
);
CREATE TABLE public.support_case_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES public.support_case,
    from_stage text, to_stage text NOT NULL,
    changed_at timestamptz NOT NULL, changed_by name NOT NULL,
    time_in_from_stage interval, note text
);
CREATE TRIGGER support_case_workflow BEFORE INSERT OR UPDATE ON public.support_case
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'support');
CREATE TRIGGER support_case_history AFTER INSERT OR UPDATE ON public.support_case
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('public.support_case_history', 'case_id', 'status', 'support');
INSERT INTO public.support_case (title) VALUES ('printer on fire');
INSERT INTO crm.pipeline (name, object_type) VALUES ('support', 'support_case');
INSERT INTO public.support_case (title) VALUES ('printer on fire');
INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind)
SELECT id, k, initcap(k), n, CASE k WHEN 'solved' THEN 1 WHEN 'dropped' THEN 0 ELSE 0.5 END,
       CASE k WHEN 'solved' THEN 'won' WHEN 'dropped' THEN 'lost' ELSE 'open' END
  FROM crm.pipeline, unnest(ARRAY['new', 'working', 'solved', 'dropped']) WITH ORDINALITY AS s(k, n)
 WHERE name = 'support';
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT id, f, t FROM crm.pipeline, (VALUES ('new', 'working'), ('working', 'solved'), ('solved', 'working')) v(f, t)
 WHERE name = 'support';
INSERT INTO public.support_case (title) VALUES ('printer on fire');
UPDATE public.support_case SET status = 'solved';
UPDATE public.support_case SET status = 'working';
UPDATE public.support_case SET status = 'solved';
SELECT title, status, closed_at IS NOT NULL AS closed FROM public.support_case;
UPDATE public.support_case SET status = 'working';
SELECT status, closed_at FROM public.support_case;
SELECT from_stage, to_stage, note FROM public.support_case_history ORDER BY id;
-- the engine's cached view of a table follows ALTER TABLE in the same session
ALTER TABLE public.support_case ADD COLUMN probability numeric;
UPDATE public.support_case SET status = 'solved';
SELECT status, probability, closed_at IS NOT NULL AS closed FROM public.support_case;
-- a deal pipeline cannot serve the user's table, nor the reverse
UPDATE crm.deal SET pipeline_id = (SELECT id FROM crm.pipeline WHERE name = 'support') WHERE name = 'Zeta';

-- misuse of the trigger functions
CREATE TABLE public.misuse (id bigint, status text, n int);
CREATE TRIGGER t BEFORE INSERT ON public.misuse FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition();
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
CREATE TRIGGER t BEFORE INSERT ON public.misuse FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('nope', 'support');
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
CREATE TRIGGER t BEFORE INSERT ON public.misuse FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('n', 'support');
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
CREATE TRIGGER t AFTER INSERT ON public.misuse FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'support');
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
CREATE TRIGGER t BEFORE INSERT ON public.misuse FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'no such workflow');
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
CREATE TRIGGER t AFTER INSERT ON public.misuse FOR EACH ROW
    EXECUTE FUNCTION crm.record_transition('public.no_such_table', 'x', 'status', 'support');
INSERT INTO public.misuse VALUES (1, 'a', 1);
DROP TRIGGER t ON public.misuse;
SELECT crm.enforce_transition();
DROP TABLE public.misuse;

-- privileges: crm_user writes deals, not history or rules; crm_admin edits rules
CREATE ROLE regress_crm_rep LOGIN IN ROLE crm_user;
CREATE ROLE regress_crm_boss LOGIN IN ROLE crm_admin;
CREATE ROLE regress_crm_nobody LOGIN;
SET ROLE regress_crm_rep;
INSERT INTO crm.deal (name) VALUES ('Rep deal');
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'Rep deal';
SELECT d.owner, h.changed_by FROM crm.deal d JOIN crm.deal_stage_history h ON h.deal_id = d.id
 WHERE d.name = 'Rep deal' ORDER BY h.id;
INSERT INTO crm.deal_stage_history (deal_id, pipeline_id, to_stage, changed_at, changed_by)
SELECT id, pipeline_id, 'won', now(), 'me' FROM crm.deal WHERE name = 'Rep deal';
DELETE FROM crm.stage_transition;
SELECT crm.create_pipeline('rep pipeline', ARRAY['a']);
SET ROLE regress_crm_boss;
SELECT crm.create_pipeline('boss pipeline', ARRAY['a']) > 0 AS created;
SET ROLE regress_crm_nobody;
SELECT count(*) FROM crm.deal;
RESET ROLE;
DELETE FROM crm.deal WHERE owner::text LIKE 'regress_crm_%';
DROP ROLE regress_crm_rep, regress_crm_boss, regress_crm_nobody;

-- DROP and CREATE EXTENSION in one session: the rule and layout caches follow
INSERT INTO crm.deal (name) VALUES ('before drop');
DROP EXTENSION crm CASCADE;
CREATE EXTENSION crm;
INSERT INTO crm.deal (name) VALUES ('after re-create');
UPDATE crm.deal SET stage = 'won';
UPDATE crm.deal SET stage = 'qualified';
SELECT d.name, d.stage, h.from_stage, h.to_stage FROM crm.deal d JOIN crm.deal_stage_history h ON h.deal_id = d.id
 ORDER BY h.id;

\c :regress_db
DROP DATABASE crm_regress_pipeline;
