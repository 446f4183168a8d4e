-- security: teams and row-level security, for alice and bob (team east), carol
-- (team west), a manager of east, crm_admin and a BI reader, under each
-- visibility mode; through the tables, the views and the API.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_security TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_security
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE ROLE regress_sec_alice IN ROLE crm_user;
CREATE ROLE regress_sec_bob IN ROLE crm_user;
CREATE ROLE regress_sec_carol IN ROLE crm_user;
CREATE ROLE regress_sec_manager IN ROLE crm_user;
CREATE ROLE regress_sec_admin IN ROLE crm_admin;
CREATE ROLE regress_sec_bi IN ROLE crm_reader;
CREATE ROLE regress_sec_outsider;
GRANT USAGE ON SCHEMA crm TO regress_sec_outsider;
GRANT SELECT ON crm.deal, crm.setting, crm.team_member TO regress_sec_outsider;
GRANT EXECUTE ON FUNCTION crm.unrestricted_role(), crm.sees_all_rows(), crm.visible_owners() TO regress_sec_outsider;

-- an error's SQLSTATE and message
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END $$;

-- teams: crm_admin manages them; members are existing roles
SET ROLE regress_sec_admin;
INSERT INTO crm.team (name) VALUES ('east'), ('west');
INSERT INTO crm.team_member (team_id, member, is_manager)
SELECT t.id, m.member, m.is_manager
  FROM crm.team t
  JOIN (VALUES ('east', 'regress_sec_alice', false), ('east', 'regress_sec_bob', false),
               ('east', 'regress_sec_manager', true), ('west', 'regress_sec_carol', false)) AS m(team, member, is_manager)
    ON m.team = t.name;
SELECT pg_temp.try($$INSERT INTO crm.team_member (team_id, member) VALUES (1, 'regress_sec_nobody')$$);
SELECT pg_temp.try($$INSERT INTO crm.team (name) VALUES ('  ')$$);
SELECT t.name, m.member, m.is_manager FROM crm.team t JOIN crm.team_member m ON m.team_id = t.id ORDER BY t.name, m.member;
SET ROLE regress_sec_alice;
SELECT pg_temp.try($$INSERT INTO crm.team_member (team_id, member) VALUES (2, 'regress_sec_alice')$$);
SELECT pg_temp.try($$UPDATE crm.team_member SET is_manager = true WHERE member = 'regress_sec_alice'$$);

-- the setting: only crm_admin writes it, the validator normalises or refuses
SELECT pg_temp.try($$UPDATE crm.setting SET value = 'team' WHERE key = 'visibility'$$);
SET ROLE regress_sec_admin;
SELECT pg_temp.try($$UPDATE crm.setting SET value = 'teams' WHERE key = 'visibility'$$);
UPDATE crm.setting SET value = ' Owner ' WHERE key = 'visibility' RETURNING value;
UPDATE crm.setting SET value = 'all' WHERE key = 'visibility';
RESET ROLE;

-- a product and, for each of alice, bob, carol and the manager, one of
-- everything: account, contact, activity, deal with an item, quote, order,
-- invoice, payment, ticket
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1000, 'CNY');
CREATE FUNCTION public.regress_sec_documents(amount numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    who text := current_user;
    acc bigint; con bigint; deal bigint; q bigint; ord bigint; inv bigint;
BEGIN
    INSERT INTO crm.account (name) VALUES (who || ' account') RETURNING id INTO acc;
    INSERT INTO crm.contact (account_id, name, email) VALUES (acc, who || ' contact', who || '@example.com')
    RETURNING id INTO con;
    INSERT INTO crm.activity (kind, subject, contact_id, due_at) VALUES ('call', 'call ' || who, con, now() - interval '1 day');
    INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES (who || ' deal', acc, con, 'CNY') RETURNING id INTO deal;
    INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (deal, 1, amount / 1000);
    q := crm.create_quote(deal);
    PERFORM crm.send_quote(q);
    ord := crm.accept_quote(q);
    inv := crm.issue_invoice(ord);
    PERFORM crm.record_payment(inv, amount / 2);
    INSERT INTO crm.ticket (subject, account_id, contact_id, sales_order_id) VALUES ('help ' || who, acc, con, ord);
    -- and a second deal, still open; what the person did, and their consent
    INSERT INTO crm.deal (name, account_id, currency, amount) VALUES (who || ' open deal', acc, 'CNY', amount);
    PERFORM crm.track(who || '@example.com', 'page_view', '{"url": "/pricing"}');
    PERFORM crm.grant_consent(con, 'marketing', 'web form');
END $$;
GRANT EXECUTE ON FUNCTION public.regress_sec_documents(numeric) TO crm_user;
SET ROLE regress_sec_alice;
SELECT public.regress_sec_documents(1000);
SET ROLE regress_sec_bob;
SELECT public.regress_sec_documents(2000);
SET ROLE regress_sec_carol;
SELECT public.regress_sec_documents(4000);
SET ROLE regress_sec_manager;
SELECT public.regress_sec_documents(8000);
RESET ROLE;

-- The check: for a role under a mode, the rows it sees in every covered table,
-- counted, against the rows whose owner (or whose document's owner) is one of
-- the expected owners, counted as the superuser.
CREATE FUNCTION pg_temp.document_owner(tab text) RETURNS text LANGUAGE sql AS $$
SELECT CASE
    WHEN tab IN ('account', 'contact', 'activity', 'deal', 'quote', 'sales_order', 'invoice', 'ticket') THEN 'x.owner'
    WHEN tab IN ('deal_item', 'deal_stage_history') THEN '(SELECT d.owner FROM crm.deal d WHERE d.id = x.deal_id)'
    WHEN tab IN ('quote_item', 'quote_status_history') THEN '(SELECT d.owner FROM crm.quote d WHERE d.id = x.quote_id)'
    WHEN tab IN ('sales_order_item', 'sales_order_status_history')
        THEN '(SELECT d.owner FROM crm.sales_order d WHERE d.id = x.sales_order_id)'
    WHEN tab IN ('invoice_line', 'invoice_status_history', 'payment')
        THEN '(SELECT d.owner FROM crm.invoice d WHERE d.id = x.invoice_id)'
    WHEN tab = 'ticket_status_history' THEN '(SELECT d.owner FROM crm.ticket d WHERE d.id = x.ticket_id)'
    WHEN tab IN ('event', 'consent', 'segment_member') THEN '(SELECT d.owner FROM crm.contact d WHERE d.id = x.contact_id)'
END $$;
CREATE FUNCTION pg_temp.check_visibility(mode text, who name, expected name[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    tab text;
    seen bigint;
    want bigint;
    total bigint := 0;
    wrong text[] := '{}';
BEGIN
    UPDATE crm.setting SET value = mode WHERE key = 'visibility';
    FOREACH tab IN ARRAY ARRAY['account', 'contact', 'activity', 'deal', 'deal_item', 'deal_stage_history', 'quote',
                               'quote_item', 'quote_status_history', 'sales_order', 'sales_order_item',
                               'sales_order_status_history', 'invoice', 'invoice_line', 'invoice_status_history',
                               'payment', 'ticket', 'ticket_status_history', 'event', 'consent', 'segment_member']
    LOOP
        EXECUTE format('SELECT count(*) FROM crm.%I x WHERE %s = ANY ($1)', tab, pg_temp.document_owner(tab))
            INTO want USING expected;
        EXECUTE format('SET ROLE %I', who);
        EXECUTE format('SELECT count(*) FROM crm.%I', tab) INTO seen;
        RESET ROLE;
        total := total + seen;
        IF seen <> want THEN
            wrong := wrong || format('%s: %s seen, %s expected', tab, seen, want);
        END IF;
    END LOOP;
    RETURN CASE WHEN wrong = '{}' THEN format('ok, %s rows in 21 tables', total) ELSE array_to_string(wrong, '; ') END;
END $$;

SELECT m.mode, r.who, pg_temp.check_visibility(m.mode, r.who, r.expected) AS visibility
  FROM (VALUES (1, 'all'), (2, 'team'), (3, 'owner')) AS m(n, mode)
 CROSS JOIN LATERAL (VALUES
        (1, 'regress_sec_alice'::name, CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                                   WHEN 'team' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_manager}'
                                                   ELSE '{regress_sec_alice}' END::name[]),
        (2, 'regress_sec_bob', CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                           WHEN 'team' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_manager}'
                                           ELSE '{regress_sec_bob}' END::name[]),
        (3, 'regress_sec_carol', CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                             ELSE '{regress_sec_carol}' END::name[]),
        (4, 'regress_sec_manager', CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                               ELSE '{regress_sec_alice,regress_sec_bob,regress_sec_manager}' END::name[]),
        (5, 'regress_sec_admin', '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'),
        (6, 'regress_sec_bi', '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'))
        AS r(n, who, expected)
 ORDER BY m.n, r.n;

-- the views, under each mode, against the same figures from the tables
CREATE FUNCTION pg_temp.check_views(mode text, who name, expected name[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c record;
    seen text;
    want text;
    wrong text[] := '{}';
BEGIN
    UPDATE crm.setting SET value = mode WHERE key = 'visibility';
    FOR c IN SELECT * FROM (VALUES
        ('pipeline_summary', 'SELECT sum(deals) || '' deals, '' || sum(amount)::numeric(20,2) FROM crm.pipeline_summary',
         'SELECT count(*) || '' deals, '' || coalesce(sum(amount), 0)::numeric(20,2) FROM crm.deal WHERE owner = ANY ($1)'),
        ('weighted_pipeline', 'SELECT coalesce(sum(deals), 0) FROM crm.weighted_pipeline',
         'SELECT count(*) FROM crm.deal WHERE owner = ANY ($1) AND closed_at IS NULL'),
        ('win_rate', 'SELECT coalesce(sum(won), 0) FROM crm.win_rate',
         'SELECT count(*) FROM crm.deal WHERE owner = ANY ($1) AND stage = ''won'''),
        ('funnel_conversion', 'SELECT sum(deals_reached) FROM crm.funnel_conversion',
         'SELECT count(DISTINCT (h.deal_id, h.to_stage)) FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
           WHERE d.owner = ANY ($1) AND h.to_stage IN (''lead'', ''qualified'', ''negotiation'')'),
        ('stage_velocity', 'SELECT sum(moves_out) FROM crm.stage_velocity',
         'SELECT count(*) FROM crm.deal_stage_history h JOIN crm.deal d ON d.id = h.deal_id
           WHERE d.owner = ANY ($1) AND h.time_in_from_stage IS NOT NULL'),
        ('monthly_sales', 'SELECT coalesce(sum(orders), 0) || '' orders, '' || coalesce(sum(gross_total), 0) FROM crm.monthly_sales',
         'SELECT count(*) || '' orders, '' || coalesce(sum(gross_total), 0) FROM crm.sales_order
           WHERE owner = ANY ($1) AND status <> ''cancelled'''),
        ('product_sales', 'SELECT coalesce(sum(quantity), 0) FROM crm.product_sales',
         'SELECT coalesce(sum(i.quantity), 0) FROM crm.sales_order_item i JOIN crm.sales_order o ON o.id = i.sales_order_id
           WHERE o.owner = ANY ($1) AND o.status <> ''cancelled'''),
        ('receivables', 'SELECT count(*) || '' invoices, '' || coalesce(sum(balance), 0) FROM crm.receivables',
         'SELECT count(*) || '' invoices, '' || coalesce(sum(gross_total - amount_paid), 0) FROM crm.invoice
           WHERE owner = ANY ($1) AND status IN (''issued'', ''partially_paid'')'),
        ('receivables_ageing', 'SELECT coalesce(sum(invoices), 0) FROM crm.receivables_ageing',
         'SELECT count(*) FROM crm.invoice WHERE owner = ANY ($1) AND status IN (''issued'', ''partially_paid'')'),
        ('ticket_sla_status', 'SELECT count(*) FROM crm.ticket_sla_status',
         'SELECT count(*) FROM crm.ticket WHERE owner = ANY ($1) AND resolved_at IS NULL'),
        ('overdue_followups', 'SELECT count(*) FROM crm.overdue_followups',
         'SELECT count(*) FROM crm.activity WHERE owner = ANY ($1) AND done_at IS NULL AND due_at < now()'),
        ('contact_profile', 'SELECT count(*) || '' people, '' || sum(orders) || '' orders'' FROM crm.contact_profile',
         'SELECT count(*) || '' people, '' || sum((SELECT count(*) FROM crm.sales_order o
                                                   WHERE o.contact_id = c.id AND o.status <> ''cancelled'')) || '' orders''
            FROM crm.contact c WHERE owner = ANY ($1)'),
        ('customer_value', 'SELECT count(*) || '' customers, '' || coalesce(sum(revenue), 0) FROM crm.customer_value',
         'SELECT count(DISTINCT (contact_id, currency)) || '' customers, '' || coalesce(sum(net_total), 0) FROM crm.sales_order
           WHERE owner = ANY ($1) AND status <> ''cancelled'' AND contact_id IS NOT NULL'))
        AS v(view, through_view, from_tables)
    LOOP
        EXECUTE c.from_tables INTO want USING expected;
        EXECUTE format('SET ROLE %I', who);
        EXECUTE c.through_view INTO seen;
        RESET ROLE;
        IF seen IS DISTINCT FROM want THEN
            wrong := wrong || format('%s: %s seen, %s expected', c.view, seen, want);
        END IF;
    END LOOP;
    RETURN CASE WHEN wrong = '{}' THEN 'ok, 13 views' ELSE array_to_string(wrong, '; ') END;
END $$;
SELECT m.mode, r.who, pg_temp.check_views(m.mode, r.who, r.expected) AS views
  FROM (VALUES (1, 'all'), (2, 'team'), (3, 'owner')) AS m(n, mode)
 CROSS JOIN LATERAL (VALUES
        (1, 'regress_sec_alice'::name, CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                                   WHEN 'team' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_manager}'
                                                   ELSE '{regress_sec_alice}' END::name[]),
        (2, 'regress_sec_carol', CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                             ELSE '{regress_sec_carol}' END::name[]),
        (3, 'regress_sec_manager', CASE m.mode WHEN 'all' THEN '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'
                                               ELSE '{regress_sec_alice,regress_sec_bob,regress_sec_manager}' END::name[]),
        (4, 'regress_sec_admin', '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'),
        (5, 'regress_sec_bi', '{regress_sec_alice,regress_sec_bob,regress_sec_carol,regress_sec_manager}'))
        AS r(n, who, expected)
 ORDER BY m.n, r.n;

-- what pipeline_summary shows each of them with visibility = team
UPDATE crm.setting SET value = 'team' WHERE key = 'visibility';
SET ROLE regress_sec_alice;
SELECT stage, deals, amount FROM crm.pipeline_summary WHERE deals > 0 ORDER BY position;
SET ROLE regress_sec_carol;
SELECT stage, deals, amount FROM crm.pipeline_summary WHERE deals > 0 ORDER BY position;
SET ROLE regress_sec_bi;
SELECT stage, deals, amount FROM crm.pipeline_summary WHERE deals > 0 ORDER BY position;
RESET ROLE;

-- every view is security_invoker but crm.email_body (a security-barrier view reading as its owner),
-- and the policies run their sub-selects once per query
SELECT count(*) > 10 AS has_views FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v';
SELECT c.relname AS view_without_security_invoker FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v'
   AND NOT coalesce(c.reloptions @> '{security_invoker=true}', false) ORDER BY 1;
SELECT c.relname AS table_without_rls FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity ORDER BY 1;
SET ROLE regress_sec_alice;
EXPLAIN (COSTS OFF) SELECT * FROM crm.deal;
RESET ROLE;

-- writes with visibility = team: alice changes what her team owns, never carol's
SELECT id AS carol_deal FROM crm.deal WHERE name = 'regress_sec_carol open deal' \gset
SELECT id AS carol_won_deal FROM crm.deal WHERE name = 'regress_sec_carol deal' \gset
SELECT id AS carol_order FROM crm.sales_order WHERE owner = 'regress_sec_carol' \gset
SELECT id AS carol_invoice FROM crm.invoice WHERE owner = 'regress_sec_carol' \gset
SELECT id AS carol_ticket FROM crm.ticket WHERE owner = 'regress_sec_carol' \gset
SELECT id AS carol_account FROM crm.account WHERE owner = 'regress_sec_carol' \gset
SET ROLE regress_sec_alice;
UPDATE crm.deal SET amount = amount + 1 WHERE name IN ('regress_sec_bob open deal', 'regress_sec_carol open deal')
RETURNING name, amount;
UPDATE crm.contact SET title = 'CTO' RETURNING name;
DELETE FROM crm.activity WHERE subject IN ('call regress_sec_bob', 'call regress_sec_carol') RETURNING subject;
UPDATE crm.deal_item SET discount = 0.1 WHERE deal_id = :carol_won_deal;
-- owner reassignment: within her teams yes, outside them no (42501)
SELECT pg_temp.try($$UPDATE crm.deal SET owner = 'regress_sec_carol' WHERE name = 'regress_sec_alice open deal'$$);
SELECT pg_temp.try($$INSERT INTO crm.account (name, owner) VALUES ('for carol', 'regress_sec_carol')$$);
UPDATE crm.deal SET owner = 'regress_sec_bob' WHERE name = 'regress_sec_alice open deal' RETURNING name, owner;
-- rows without an owner follow their document; documents must see where they come from
SELECT pg_temp.try(format('INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (%s, 1, 1)', :carol_deal));
SELECT pg_temp.try(format('INSERT INTO crm.quote (deal_id) VALUES (%s)', :carol_deal));
SELECT pg_temp.try(format('INSERT INTO crm.sales_order (deal_id, account_id, currency) VALUES (%s, %s, ''CNY'')',
                          :carol_deal, :carol_account));
-- (a deal may name any account: like a foreign key, the rules only ask for its own owner)
SELECT pg_temp.try(format('INSERT INTO crm.deal (name, account_id) VALUES (''on carol''''s account'', %s)', :carol_account));
-- the API sees what its caller sees
SELECT pg_temp.try(format('SELECT crm.create_quote(%s)', :carol_deal));
SELECT pg_temp.try(format('SELECT crm.record_payment(%s, 1)', :carol_invoice));
SELECT pg_temp.try(format('SELECT crm.move_ticket(%s, ''in_progress'')', :carol_ticket));
SELECT pg_temp.try(format('SELECT crm.void_invoice(%s, ''no'')', :carol_invoice));
SELECT pg_temp.try(format('SELECT crm.deliver_order(%s)', :carol_order));
RESET ROLE;
SELECT name, amount, owner FROM crm.deal WHERE name LIKE '%open deal' ORDER BY name;
SELECT d.name, i.discount FROM crm.deal_item i JOIN crm.deal d ON d.id = i.deal_id ORDER BY d.name;
SELECT subject FROM crm.activity ORDER BY subject;

-- writes with visibility = owner: alice only her own rows; the manager his team's
UPDATE crm.setting SET value = 'owner' WHERE key = 'visibility';
SET ROLE regress_sec_alice;
UPDATE crm.deal SET amount = amount + 1 WHERE name LIKE '%open deal' RETURNING name;
SELECT pg_temp.try($$UPDATE crm.deal SET owner = 'regress_sec_bob' WHERE name = 'regress_sec_alice deal'$$);
SET ROLE regress_sec_manager;
UPDATE crm.deal SET amount = amount + 1 WHERE name LIKE '%open deal' RETURNING name;
UPDATE crm.deal SET owner = 'regress_sec_alice' WHERE name = 'regress_sec_alice open deal' RETURNING name, owner;
SELECT pg_temp.try($$UPDATE crm.deal SET owner = 'regress_sec_carol' WHERE name = 'regress_sec_alice open deal'$$);
-- crm_admin sees and changes everything; a reader sees everything and changes nothing
SET ROLE regress_sec_admin;
UPDATE crm.deal SET owner = 'regress_sec_carol' WHERE name = 'regress_sec_alice open deal' RETURNING name, owner;
SET ROLE regress_sec_bi;
SELECT count(*) AS bi_deals FROM crm.deal;
SELECT pg_temp.try($$UPDATE crm.deal SET amount = 0$$);
-- a role outside crm_reader with a grant of its own is not a reader: its own rows only
SET ROLE regress_sec_outsider;
SELECT count(*) AS outsider_deals FROM crm.deal;
RESET ROLE;
UPDATE crm.setting SET value = 'all' WHERE key = 'visibility';
SET ROLE regress_sec_outsider;
SELECT count(*) AS outsider_deals_with_all FROM crm.deal;
RESET ROLE;

-- what may see more than its caller: the SECURITY DEFINER functions, each named in 20_teams.sql
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef ORDER BY p.oid::regprocedure::text;

REVOKE ALL ON SCHEMA crm FROM regress_sec_outsider;
DROP FUNCTION public.regress_sec_documents(numeric);
\c :regress_db
DROP DATABASE crm_regress_security;
DROP ROLE regress_sec_alice, regress_sec_bob, regress_sec_carol, regress_sec_manager, regress_sec_admin,
    regress_sec_bi, regress_sec_outsider;
