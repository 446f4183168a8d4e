-- security_audit: the audit trail (crm.audit_log), its hash chain, and who
-- may read and write it.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_audit TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_audit
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE ROLE regress_aud_alice IN ROLE crm_user;
CREATE ROLE regress_aud_carol IN ROLE crm_user;
CREATE ROLE regress_aud_admin IN ROLE crm_admin;
CREATE ROLE regress_aud_bi IN ROLE crm_reader;

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END $$;
-- the log from a given id, times masked, transactions numbered from 1, the superuser named so
CREATE FUNCTION pg_temp.log_since(first bigint)
RETURNS TABLE (id bigint, tx bigint, actor name, table_name text, row_id bigint, action text, changed text)
LANGUAGE sql AS $$
SELECT l.id, dense_rank() OVER (ORDER BY l.txid),
       CASE WHEN l.actor = current_user THEN 'superuser' ELSE l.actor END, l.table_name, l.row_id, l.action,
       regexp_replace(l.changed::text, '"\d{4}-\d\d-\d\dT[0-9:.+-]+"', '"<time>"', 'g')
  FROM crm.audit_log l WHERE l.id >= first ORDER BY l.id
$$;

-- installing crm logged nothing; the triggers are on every CRM table
SELECT count(*) AS log_rows FROM crm.audit_log;
SELECT string_agg(c.relname, ' ' ORDER BY c.relname) AS audited
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname = 'audit' AND t.tgfoid = 'crm.record_audit'::regproc;
SELECT count(*) AS truncate_triggers FROM pg_trigger t WHERE t.tgname = 'audit_truncate';

-- inserts log the whole row (as to_jsonb writes it), updates the changed
-- columns only, deletes the whole row; the actor is the session's role
SET ROLE regress_aud_alice;
INSERT INTO crm.account (name, attributes) VALUES ('星辰科技', '{"tier": "gold", "seats": [1, 2.50]}');
INSERT INTO crm.contact (account_id, name, email) VALUES (1, '陈静', 'chen@example.cn');
INSERT INTO crm.deal (name, account_id, contact_id, amount, currency, expected_close_date)
VALUES ('团购', 1, 1, 9000, 'CNY', '2030-06-30');
UPDATE crm.deal SET stage = 'qualified', amount = 9500.50 WHERE id = 1;
UPDATE crm.deal SET name = name WHERE id = 1;
UPDATE crm.contact SET phone = '+86 138 0000 0000', title = NULL WHERE id = 1;
DELETE FROM crm.contact WHERE id = 1;
RESET ROLE;
SELECT * FROM pg_temp.log_since(1);
SELECT l.changed = to_jsonb(a) AS insert_is_to_jsonb
  FROM crm.audit_log l JOIN crm.account a ON a.id = l.row_id WHERE l.table_name = 'crm.account' AND l.action = 'insert';

-- arrays, booleans and text arrays of the rule tables; TRUNCATE; SECURITY DEFINER paths keep the session's role
SET ROLE regress_aud_admin;
SELECT crm.create_pipeline('课程', ARRAY['试听']) AS pipeline \gset
SELECT max(id) AS mark FROM crm.audit_log \gset
UPDATE crm.stage SET required_fields = '{amount,contact_id}' WHERE pipeline_id = :pipeline AND key = '试听';
RESET ROLE;
TRUNCATE crm.email_suppression;
-- (试听 changed since it was inserted; won and lost did not)
SELECT s.key, l.changed = to_jsonb(s) AS stage_insert_is_to_jsonb
  FROM crm.audit_log l JOIN crm.stage s ON s.id = l.row_id
 WHERE l.table_name = 'crm.stage' AND l.action = 'insert' AND s.pipeline_id = :pipeline ORDER BY s.position;
SELECT * FROM pg_temp.log_since(:mark + 1);
SET ROLE regress_aud_alice;
SELECT crm.unsubscribe('chen@example.cn');
RESET ROLE;
SELECT actor, table_name, row_id, action, changed->>'address' AS address FROM crm.audit_log
 WHERE table_name = 'crm.email_suppression' AND action = 'insert';

-- the whole sales process, then some edits and deletes: replaying each row's
-- log (insert, then each update's new values) gives the row as it is now,
-- and the row a delete logged, on every audited table
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1000, 'CNY');
SET ROLE regress_aud_alice;
INSERT INTO crm.contact (account_id, name, email) VALUES (1, '李雷', 'li.lei@example.cn');
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('课程', 1, 2, 'CNY') RETURNING id AS deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:deal, 1, 3), (:deal, 1, 1);
DELETE FROM crm.deal_item WHERE deal_id = :deal AND quantity = 1;
SELECT crm.create_quote(:deal) AS quote \gset
UPDATE crm.quote_item SET discount = 0.1 WHERE quote_id = :quote;
SELECT crm.send_quote(:quote);
SELECT crm.accept_quote(:quote) AS sales_order \gset
SELECT crm.issue_invoice(:sales_order) AS invoice \gset
SELECT crm.record_payment(:invoice, 100) > 0 AS paid;
UPDATE crm.payment SET reference = 'bank 1' WHERE invoice_id = :invoice;
INSERT INTO crm.ticket (subject, account_id, contact_id, sales_order_id) VALUES ('登录不了', 1, 2, :sales_order)
RETURNING id AS ticket \gset
SELECT crm.move_ticket(:ticket, 'in_progress');
INSERT INTO crm.activity (kind, subject, deal_id) VALUES ('note', '谈好了', :deal), ('task', 'call back', :deal);
DELETE FROM crm.activity WHERE kind = 'task';
SET ROLE regress_aud_admin;
INSERT INTO crm.team (name) VALUES ('销售一部');
INSERT INTO crm.team_member (team_id, member) VALUES (1, 'regress_aud_alice'), (1, 'regress_aud_carol');
UPDATE crm.team_member SET is_manager = true WHERE member = 'regress_aud_carol';
DELETE FROM crm.team_member WHERE member = 'regress_aud_alice';
UPDATE crm.email_template SET subject = '发票 {{number}}' WHERE key = 'invoice_issued';
INSERT INTO crm.ticket_sla_policy (priority, rank, response_within, resolve_within) VALUES ('vip', 0, '10 minutes', '1 hour');
UPDATE crm.ticket_sla_policy SET resolve_within = '2 hours' WHERE priority = 'vip';
RESET ROLE;
CREATE FUNCTION pg_temp.replay(tab text, rid bigint, before bigint DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    l record;
    state jsonb;
    k text;
BEGIN
    FOR l IN SELECT * FROM crm.audit_log a
              WHERE a.table_name = tab AND a.row_id = rid AND (before IS NULL OR a.id < before) ORDER BY a.id
    LOOP
        IF l.action = 'insert' THEN
            state := l.changed;
        ELSIF l.action = 'update' THEN
            FOR k IN SELECT jsonb_object_keys(l.changed) LOOP
                state := jsonb_set(state, ARRAY[k], l.changed -> k -> 'new');
            END LOOP;
        ELSE
            state := NULL;
        END IF;
    END LOOP;
    RETURN state - 'updated_at';
END $$;
CREATE FUNCTION pg_temp.check_replay() RETURNS TABLE (tab text, rows bigint, replayed bigint, deletes bigint, deletes_replayed bigint)
LANGUAGE plpgsql AS $$
BEGIN
    FOR tab IN SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                WHERE t.tgname = 'audit' AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id')
                ORDER BY 1
    LOOP
        -- (rows seeded by CREATE EXTENSION predate the triggers)
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE pg_temp.replay($1, r.id) = to_jsonb(r) - ''updated_at'')
                          FROM crm.%I r
                         WHERE EXISTS (SELECT FROM crm.audit_log l
                                        WHERE l.table_name = $1 AND l.row_id = r.id AND l.action = ''insert'')', tab)
            INTO rows, replayed USING 'crm.' || tab;
        SELECT count(*), count(*) FILTER (WHERE pg_temp.replay(l.table_name, l.row_id, l.id) = l.changed - 'updated_at')
          INTO deletes, deletes_replayed
          FROM crm.audit_log l WHERE l.table_name = 'crm.' || tab AND l.action = 'delete';
        RETURN NEXT;
    END LOOP;
END $$;
SELECT * FROM pg_temp.check_replay();
SELECT CASE WHEN actor = current_user THEN 'superuser' ELSE actor END AS actor, count(*)
  FROM crm.audit_log GROUP BY 1 ORDER BY 1;

-- restoring a dump (row_security off, as pg_dump writes it, by a superuser) logs nothing
SELECT count(*) AS before FROM crm.audit_log \gset
SET row_security = off;
INSERT INTO crm.account (name) VALUES ('restored');
RESET row_security;
SELECT count(*) - :before AS logged_while_restoring FROM crm.audit_log;

-- append-only: nobody but the extension's owner writes the log
SET ROLE regress_aud_alice;
SELECT pg_temp.try($$INSERT INTO crm.audit_log (at, actor, table_name, action, changed, txid) VALUES (now(), 'x', 'crm.deal', 'insert', '{}', '1')$$);
SELECT pg_temp.try($$UPDATE crm.audit_log SET actor = 'x'$$);
SELECT pg_temp.try($$DELETE FROM crm.audit_log$$);
SELECT pg_temp.try($$TRUNCATE crm.audit_log$$);
SET ROLE regress_aud_admin;
SELECT pg_temp.try($$UPDATE crm.audit_log SET actor = 'x'$$);
SELECT pg_temp.try($$DELETE FROM crm.audit_log$$);
SELECT pg_temp.try($$UPDATE crm.audit_seal SET head = NULL$$);
RESET ROLE;

-- reading: crm_admin and readers read the log; a crm_user asks about rows they can see
UPDATE crm.setting SET value = 'owner' WHERE key = 'visibility';
SET ROLE regress_aud_carol;
INSERT INTO crm.deal (name) VALUES ('carol''s');
SELECT count(*) AS carol_reads_log FROM crm.audit_log;
SELECT action, actor FROM crm.audit_history('crm.deal', (SELECT max(id) FROM crm.deal));
SELECT count(*) AS carol_reads_alice_deal FROM crm.audit_history('crm.deal', 1);
SET ROLE regress_aud_alice;
SELECT action, actor, changed ? 'amount' AS amount_changed FROM crm.audit_history('crm.deal', 1);
SELECT count(*) AS alice_reads_deleted_contact FROM crm.audit_history('crm.contact', 1);
SELECT pg_temp.try($$SELECT * FROM crm.audit_history('crm.setting', 1)$$);
SELECT pg_temp.try($$SELECT * FROM crm.audit_history('crm.audit_seal', 1)$$);
SET ROLE regress_aud_bi;
SELECT count(*) > 0 AS bi_reads_log FROM crm.audit_log;
SELECT action FROM crm.audit_history('crm.contact', 1);
SET ROLE regress_aud_admin;
SELECT count(*) AS admin_reads_carol_deal FROM crm.audit_history('crm.deal', (SELECT max(id) FROM crm.deal));
RESET ROLE;
UPDATE crm.setting SET value = 'all' WHERE key = 'visibility';

-- the trigger only logs tables whose owner may write the log, and only as AFTER triggers
CREATE TABLE public.mine (id bigint PRIMARY KEY, x text);
ALTER TABLE public.mine OWNER TO regress_aud_alice;
CREATE TRIGGER audit AFTER INSERT ON public.mine FOR EACH ROW EXECUTE FUNCTION crm.record_audit();
SET ROLE regress_aud_alice;
SELECT pg_temp.try($$INSERT INTO public.mine VALUES (1, 'forged')$$);
SELECT pg_temp.try($$CREATE TRIGGER audit2 AFTER INSERT ON public.mine FOR EACH ROW EXECUTE FUNCTION crm.record_audit()$$);
RESET ROLE;
DROP TABLE public.mine;
CREATE TABLE crm.misuse (id bigint);
CREATE TRIGGER t BEFORE INSERT ON crm.misuse FOR EACH ROW EXECUTE FUNCTION crm.record_audit();
SELECT pg_temp.try($$INSERT INTO crm.misuse VALUES (1)$$);
DROP TABLE crm.misuse;
SELECT pg_temp.try($$SELECT crm.record_audit()$$);

-- sealing: the chain covers every row in id order and verifies
SELECT pg_temp.try($$SELECT crm.seal_audit(0)$$);
SET ROLE regress_aud_alice;
SELECT pg_temp.try($$SELECT crm.seal_audit()$$);
SELECT pg_temp.try($$SELECT crm.verify_audit()$$);
SET ROLE regress_aud_admin;
SELECT crm.seal_audit(5) AS sealed_first_batch;
SELECT crm.seal_audit() = (SELECT count(*) - 5 FROM crm.audit_log) AS sealed_the_rest;
SELECT crm.seal_audit() AS nothing_left;
SELECT * FROM crm.verify_audit();
SELECT crm.audit_anchor() ~ '^crm-audit-v1:[0-9]+:[0-9]+:[0-9a-f]{64}$' AS anchor_format;
SELECT crm.audit_anchor() AS anchor \gset
RESET ROLE;
SELECT count(*) FILTER (WHERE hash IS NULL) AS unsealed, count(DISTINCT hash) = count(*) AS hashes_distinct
  FROM crm.audit_log;
SELECT sealed_count = (SELECT count(*) FROM crm.audit_log) AS state_counts,
       head = (SELECT hash FROM crm.audit_log ORDER BY id DESC LIMIT 1) AS state_head
  FROM crm.audit_seal;
-- each hash is SHA-256 of the previous one and the row's digest
SELECT bool_and(c.hash = sha256(coalesce(c.previous, '') || c.digest)) AS chain_by_hand
  FROM (SELECT l.hash, lag(l.hash) OVER (ORDER BY l.id) AS previous,
               crm.audit_row_digest(l.id, l.at, l.actor, l.table_name, l.row_id, l.action, l.changed, l.txid) AS digest
          FROM crm.audit_log l) c;
SELECT pg_temp.try($$SELECT * FROM crm.verify_audit('nonsense')$$);
SELECT * FROM crm.verify_audit(:'anchor');

-- a superuser's tampering is found: a changed, a removed, an inserted row, the newest rows removed
SELECT id AS middle FROM crm.audit_log WHERE table_name = 'crm.deal' AND action = 'update' ORDER BY id LIMIT 1 \gset
BEGIN;
UPDATE crm.audit_log SET changed = jsonb_set(changed, '{amount,new}', '1') WHERE id = :middle;
SELECT ok, first_bad_id = :middle AS found_changed FROM crm.verify_audit();
ROLLBACK;
BEGIN;
UPDATE crm.audit_log SET actor = 'someone' WHERE id = :middle;
SELECT ok, first_bad_id = :middle AS found_changed_actor FROM crm.verify_audit();
ROLLBACK;
BEGIN;
DELETE FROM crm.audit_log WHERE id = :middle;
SELECT ok, first_bad_id = :middle + 1 AS found_removed FROM crm.verify_audit();
ROLLBACK;
BEGIN;
WITH old AS (DELETE FROM crm.audit_log WHERE id = :middle RETURNING *)
INSERT INTO crm.audit_log (id, at, actor, table_name, row_id, action, changed, txid, hash) OVERRIDING SYSTEM VALUE
SELECT id, at, 'someone', table_name, row_id, action, changed, txid, hash FROM old;
SELECT ok, first_bad_id = :middle AS found_replaced FROM crm.verify_audit();
ROLLBACK;
BEGIN;
INSERT INTO crm.audit_log (id, at, actor, table_name, action, changed, txid) OVERRIDING SYSTEM VALUE
VALUES (0, now(), 'someone', 'crm.deal', 'delete', '{}', '1');
SELECT ok, first_bad_id AS found_inserted FROM crm.verify_audit();
ROLLBACK;
BEGIN;
DELETE FROM crm.audit_log WHERE id = (SELECT max(id) FROM crm.audit_log);
SELECT ok AS newest_removed_unseen_without_anchor FROM crm.verify_audit();
SELECT ok, first_bad_id = (SELECT max(id) + 1 FROM crm.audit_log) AS found_with_anchor FROM crm.verify_audit(:'anchor');
ROLLBACK;

-- erasing a value keeps the chain verifiable
BEGIN;
UPDATE crm.audit_log
   SET changed = jsonb_set(changed, '{email}', jsonb_build_object('crm_erased_sha256',
                           encode(crm.audit_value_digest(changed -> 'email'), 'hex')))
 WHERE table_name = 'crm.contact' AND changed ? 'email';
SELECT count(*) AS erased, bool_and(changed::text NOT LIKE '%chen@%') AS gone FROM crm.audit_log
 WHERE table_name = 'crm.contact' AND changed ? 'email';
SELECT * FROM crm.verify_audit(:'anchor');
-- but an erased value's digest is kept, not chosen
UPDATE crm.audit_log SET changed = jsonb_set(changed, '{email}', '{"crm_erased_sha256": "00"}')
 WHERE id = (SELECT min(id) FROM crm.audit_log WHERE table_name = 'crm.contact' AND changed ? 'email');
SELECT ok FROM crm.verify_audit();
ROLLBACK;
SELECT encode(crm.audit_value_digest('"chen@example.cn"'), 'hex') = encode(sha256('"chen@example.cn"'), 'hex') AS value_digest,
       crm.audit_value_digest('{"crm_erased_sha256": "00"}') = sha256('{"crm_erased_sha256": "00"}') AS malformed_erasure_is_a_value;

-- new rows are sealed after the old ones
INSERT INTO crm.account (name) VALUES ('later');
SELECT crm.seal_audit() AS sealed_later;
SELECT * FROM crm.verify_audit(:'anchor');

\c :regress_db
DROP DATABASE crm_regress_audit;
DROP ROLE regress_aud_alice, regress_aud_carol, regress_aud_admin, regress_aud_bi;
