-- quality: cleaning functions on the shapes Chinese CRM data comes in,
-- duplicate candidates, merges moving every kind of reference, refused
-- merges, the follow-merge trigger, crm.data_quality.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_quality TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_quality
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- an error's SQLSTATE, message, detail and hint (invoice years masked)
CREATE FUNCTION pg_temp.try(sql text) RETURNS TABLE (field text, value text) LANGUAGE plpgsql AS $$
DECLARE state text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hnt = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT f, regexp_replace(v, 'INV-\d{4}-', 'INV-YYYY-') FROM (VALUES (1, 'sqlstate', state), (2, 'message', msg),
                                          (3, 'detail', nullif(det, '')), (4, 'hint', nullif(hnt, ''))) AS e(n, f, v)
                  WHERE v IS NOT NULL ORDER BY n;
END $$;

-- phone numbers as they are typed, imported and pasted
SELECT phone, crm.normalize_phone(phone) AS e164
  FROM (VALUES ('13800138000'), ('138 0013 8000'), ('138-0013-8000'), ('+86 138-0013-8000'), ('+8613800138000'),
               ('86 138 0013 8000'), ('8613800138000'), ('0086 138 0013 8000'), ('0086-13800138000'),
               ('１３８００１３８０００'), ('＋８６　１３８　００１３　８０００'), ('013800138000'),
               ('(010) 6552 9988'), ('010-65529988'), ('010 6552 9988'), ('+86 10 6552 9988'), ('+86 (0)10 6552 9988'),
               ('0086-21-5888-1234'), ('021-58881234'), ('（０２１）５８８８－１２３４'), ('0571-8888-8888'),
               ('0571 888 8888'), ('0755-2688 1234'), ('+86 755 2688 1234'), ('400-810-8888'), ('400 810 8888'),
               ('800-820-8820'), ('4008108888'),
               ('010-6552-9988-801'), ('010-65529988 转 801'), ('010 6552 9988 分机 12'), ('138 0013 8000 ext. 12'),
               ('+86 138 0013 8000 x12'), ('010-65529988#801'), ('tel: 13800138000'), ('电话：010-65529988'),
               ('手机 13800138000'), (' 138　0013　8000 '), ('138​0013​8000'),
               -- not phone numbers (or not complete ones)
               ('6552 9988'), ('1065529988'), ('12800138000'), ('1380013800'), ('138001380000'), ('12345'),
               ('95588'), ('10086'), ('110'), ('abc'), (''), ('13800138000 (mobile)'), ('+86 12 3456'),
               ('010-6552-9988-12345678'), ('+999 1234 5678'), ('0086'), ('+'), ('138 0013 8000 转 分机')
       ) AS t (phone);

-- other regions: country code and length
SELECT phone, region, crm.normalize_phone(phone, region) AS e164
  FROM (VALUES ('2123 4567', 'HK'), ('+852 2123 4567', 'CN'), ('00852 2123 4567', 'CN'), ('6688 1234', 'MO'),
               ('02 2345 6789', 'TW'), ('0912 345 678', 'TW'), ('+886 912 345 678', 'CN'),
               ('(415) 555-2671', 'US'), ('1 415 555 2671', 'US'), ('+1 415 555 2671', 'DE'), ('011 86 10 6552 9988', 'US'),
               ('415 155 2671', 'US'), ('020 7946 0958', 'GB'), ('+44 (0)20 7946 0958', 'CN'), ('030 123456', 'DE'),
               ('03-1234-5678', 'JP'), ('6123 4567', 'SG'), ('+65 6123 4567', 'us'), ('0412 345 678', 'AU'),
               ('8 (495) 123-45-67', 'RU'), ('2123 456', 'HK'), ('+44 20 7946', 'GB')) AS t (phone, region);
SELECT * FROM pg_temp.try($$SELECT crm.normalize_phone('13800138000', 'XX')$$);
SELECT crm.normalize_phone(NULL) IS NULL AS null_phone, crm.normalize_phone('13800138000', NULL) IS NULL AS null_region;

-- company names: one company, many spellings
SELECT name, crm.company_key(name) AS key
  FROM (VALUES ('北京星辰科技有限公司'), ('星辰科技'), ('星辰科技有限公司'), ('星辰科技（北京）有限公司'),
               ('星辰科技(北京)有限公司'), ('北京市星辰科技有限责任公司'), ('星辰科技股份有限公司'), ('星辰 科技 有限公司'),
               ('星辰科技有限公司上海分公司'), ('【官方】星辰科技'), ('Xingchen Technology Co., Ltd.'),
               ('XINGCHEN TECHNOLOGY CO.,LTD'), ('Xingchen Technology Limited'), ('ＸＩＮＧＣＨＥＮ　Ｔｅｃｈｎｏｌｏｇｙ'),
               ('华夏制造集团'), ('华夏制造集团有限公司'), ('腾讯控股有限公司'), ('广东省星辰网络科技有限公司'),
               ('上海市星辰科技股份有限公司'), ('北京银行'), ('北京银行股份有限公司'), ('北京星辰'), ('中国星辰科技'),
               ('Siemens AG'), ('SAP SE'), ('The Coca-Cola Company'), ('3M Company'), ('Müller GmbH & Co. KG'),
               ('Nestlé S.A.'), ('Alibaba Group Holding Limited'), ('Acme, Inc.'), ('Acme Inc'), ('ACME (Shanghai) Co., Ltd.'),
               ('有限公司'), ('Co., Ltd.'), ('（北京）'), ('   ')) AS t (name);

-- text and email keys
SELECT crm.normalize_text('  ＡＢＣ　１２３　　星辰 ') AS a, crm.normalize_text(E'陈\t静\n') AS b,
       crm.normalize_text('Ｃｈｅｎ　Ｊｉｎｇ，１２３－４５') AS c, crm.normalize_text('㈱星辰①') AS d,
       crm.normalize_text(E'\u200b星辰\ufeff科技') AS e, crm.normalize_text('') AS empty;
SELECT crm.email_key(' Chen.Jing+CRM@XingChen.Example.CN ') AS a, crm.email_key('ｃｈｅｎ＠ｅｘａｍｐｌｅ．ｃｎ') AS b,
       crm.email_key('a+b+c@x.cn') AS c, crm.email_key('+tag@x.cn') AS d;

-- name similarity, CJK-aware
SELECT a, b, round(crm.name_similarity(a, b)::numeric, 3) AS similarity, crm.name_grams(a) AS grams_a
  FROM (VALUES ('王晓明', '王晓明'), ('王晓明', '王小明'), ('陈静', '陈 静'), ('陈静', '陈静静'), ('张伟', '张卫'),
               ('Zhang Wei', 'Wei Zhang'), ('Zhang Wei', 'zhang  wei'), ('Jon Smith', 'John Smith'),
               ('ＺＨＡＮＧ Ｗｅｉ', 'Zhang Wei'), ('Chen Jing', '陈静'), ('李', '李'), ('', ''), ('王晓明 Wang', 'Wang 王晓明'))
       AS t (a, b);

-- the setting behind duplicate search
SELECT crm.setting_value('phone_region');
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'Mars' WHERE key = 'phone_region'$$);
UPDATE crm.setting SET value = ' hk ' WHERE key = 'phone_region';
SELECT crm.setting_value('phone_region');
UPDATE crm.setting SET value = 'CN' WHERE key = 'phone_region';

-- duplicate candidates
INSERT INTO crm.account (name, phone, domain) VALUES
    ('北京星辰科技有限公司', '010-6552-9988', NULL),          -- 1
    ('星辰科技', NULL, 'https://www.xingchen.example.cn/about'), -- 2: same key as 1
    ('Xingchen Technology Co., Ltd.', NULL, 'xingchen.example.cn'), -- 3: same domain as 2
    ('蓝海数据服务公司', '(010) 6552 9988', NULL),            -- 4: same phone as 1
    ('星辰科技发展', NULL, NULL),                             -- 5: similar to 1 and 2
    ('云途物流', NULL, NULL);                                 -- 6
INSERT INTO crm.contact (account_id, name, email, phone, title) VALUES
    (1, '陈静', 'chen.jing@xingchen.example.cn', NULL, NULL),       -- 1
    (2, '陈 静', NULL, '+86 138-0013-8000', '人力资源总监'),         -- 2: same name, same company key as 1
    (NULL, '陈静', 'Chen.Jing+crm@xingchen.example.cn', '13800138000', NULL), -- 3: email of 1, phone of 2
    (6, '刘洋', NULL, '１３９００１３９０００', NULL),                -- 4
    (NULL, 'Liu Yang', NULL, '139 0013 9000', NULL),               -- 5: phone of 4
    (1, '王晓明', NULL, NULL, NULL),                                -- 6
    (2, '王小明', NULL, NULL, NULL),                                -- 7: similar name, same company
    (6, '王伟', NULL, NULL, NULL),                                  -- 8
    (4, '王伟', NULL, NULL, NULL);                                  -- 9: same name, other company: not listed
SELECT * FROM crm.duplicate_contacts ORDER BY 1, 2;
SELECT * FROM crm.duplicate_accounts ORDER BY 1, 2;

-- data quality
INSERT INTO crm.contact (name, phone, title) VALUES ('Ｚｈａｏ  Ｍｉｎ', '12345', ' ');
SELECT table_name, column_name, rows, empty, invalid, invalid_means, usable_share
  FROM crm.data_quality WHERE table_name IN ('crm.contact'::regclass, 'crm.account'::regclass);
DELETE FROM crm.contact WHERE id = 10;

-- merges.  Every kind of reference: activities, a deal with a sent quote, an
-- order and an issued invoice, a ticket, and the merge log itself.
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1999, 'CNY');
INSERT INTO crm.activity (kind, subject, contact_id, account_id) VALUES
    ('call', '电话了解培训需求', 2, 2), ('note', '旧笔记', 1, 1), ('task', '发送课程大纲', 2, NULL);
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('Python 团购', 2, 2, 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (1, 1, 10);
SELECT crm.create_quote(1) AS quote;
SELECT crm.send_quote(1);
SELECT crm.accept_quote(1) AS sales_order;
SELECT crm.issue_invoice(1) AS invoice;
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('Web 课程', 2, 2, 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (2, 1, 2);
SELECT crm.create_quote(2) AS quote2;
SELECT crm.send_quote(2);
INSERT INTO crm.ticket (subject, account_id, contact_id) VALUES ('发票抬头有误', 2, 2);

-- refused merges
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(1, 1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(1, 99)$$);
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(99, 1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.merge_accounts(1, 99)$$);
SELECT crm.merge_contacts(1, NULL) IS NULL AS null_merge;
CREATE ROLE crm_regress_quality_reader IN ROLE crm_reader;
SET ROLE crm_regress_quality_reader;
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(1, 2)$$);
RESET ROLE;
CREATE ROLE crm_regress_quality_user IN ROLE crm_user;
REVOKE DELETE ON crm.contact FROM crm_user;
SET ROLE crm_regress_quality_user;
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(1, 2)$$);
RESET ROLE;
GRANT DELETE ON crm.contact TO crm_user;

-- contact 2 into contact 1, by a crm_user: every reference moves, including
-- the sent quote and the issued invoice (whose number and amounts stay);
-- contact 1's empty phone and title are filled from contact 2
SELECT number IS NOT NULL AS numbered, gross_total FROM crm.invoice WHERE id = 1;
SET ROLE crm_regress_quality_user;
SELECT crm.merge_contacts(1, 2) AS merge_log_id;
RESET ROLE;
SELECT id, account_id, name, email, phone, title FROM crm.contact WHERE id IN (1, 2) ORDER BY id;
SELECT 'activity' AS t, id, contact_id, account_id FROM crm.activity
UNION ALL SELECT 'deal', id, contact_id, account_id FROM crm.deal
UNION ALL SELECT 'quote', id, contact_id, account_id FROM crm.quote
UNION ALL SELECT 'sales_order', id, contact_id, account_id FROM crm.sales_order
UNION ALL SELECT 'invoice', id, contact_id, account_id FROM crm.invoice
UNION ALL SELECT 'ticket', id, contact_id, account_id FROM crm.ticket
ORDER BY 1, 2;
SELECT number IS NOT NULL AS numbered, gross_total, status FROM crm.invoice WHERE id = 1;
SELECT id, kind, contact_id, account_id, merged_id, merged_row ->> 'name' AS merged_name, filled, moved, merged_by
  FROM crm.merge_log ORDER BY id;
-- outside a merge the guards still refuse the same change
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET contact_id = 3 WHERE id = 1$$);
SELECT crm.merge_moves('contact_id', '2', '1') AS outside_a_merge;

-- contact 2 is gone: merging it again says where it went, and a write that
-- still names it lands on contact 1
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(3, 2)$$);
INSERT INTO crm.activity (kind, subject, contact_id) VALUES ('call', '回访', 2) RETURNING id, contact_id;
UPDATE crm.activity SET contact_id = 2 WHERE id = 1 RETURNING id, contact_id;

-- a chain: contact 1 (which absorbed 2) into contact 3; the log follows
SELECT crm.merge_contacts(3, 1) AS merge_log_id;
SELECT id, kind, contact_id, merged_id, filled, moved FROM crm.merge_log ORDER BY id;
INSERT INTO crm.activity (kind, subject, contact_id) VALUES ('call', '二次回访', 2) RETURNING id, contact_id;
SELECT id, name, email, phone, title, account_id FROM crm.contact WHERE id = 3;

-- accounts: 2 into 1 moves contacts, deals, quotes, the order, the issued
-- invoice, the ticket, activities; account 1 gets 2's domain
SELECT crm.merge_accounts(1, 2) AS merge_log_id;
SELECT id, name, domain, phone FROM crm.account WHERE id IN (1, 2) ORDER BY id;
SELECT 'contact' AS t, id, account_id FROM crm.contact WHERE account_id IN (1, 2)
UNION ALL SELECT 'activity', id, account_id FROM crm.activity WHERE account_id IN (1, 2)
UNION ALL SELECT 'deal', id, account_id FROM crm.deal
UNION ALL SELECT 'quote', id, account_id FROM crm.quote
UNION ALL SELECT 'sales_order', id, account_id FROM crm.sales_order
UNION ALL SELECT 'invoice', id, account_id FROM crm.invoice
UNION ALL SELECT 'ticket', id, account_id FROM crm.ticket
ORDER BY 1, 2;
SELECT id, kind, account_id, merged_id, merged_row ->> 'name' AS merged_name, filled, moved FROM crm.merge_log
 WHERE kind = 'account';
INSERT INTO crm.deal (name, account_id, currency) VALUES ('迟到的商机', 2, 'CNY') RETURNING account_id;

-- unique keys while moving: a table listed as move refuses the merge with a
-- clear error; one listed as move_or_delete keeps the kept row's and deletes
-- the merged row's (here a user table put in the list for the test)
CREATE TABLE public.membership (club text, contact_id bigint REFERENCES crm.contact, joined date,
                                UNIQUE (club, contact_id));
INSERT INTO crm.contact (name) VALUES ('甲'), ('乙');  -- 11, 12
INSERT INTO public.membership VALUES ('python', 11, '2024-01-01'), ('python', 12, '2024-02-01'), ('web', 12, '2024-03-01');
-- the list with public.membership added under a policy, for one transaction
CREATE FUNCTION pg_temp.list_membership(policy text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE public.saved_list AS SELECT * FROM crm.personal_data;
    EXECUTE format($v$
        CREATE OR REPLACE VIEW crm.personal_data WITH (security_invoker = true) AS
        SELECT table_name, contact_column COLLATE "default", account_column COLLATE "default",
               email_column COLLATE "default", personal_columns COLLATE "default", on_merge, erasure, note
          FROM public.saved_list
        UNION ALL SELECT 'public.membership'::regclass, 'contact_id', NULL, NULL, '{}', %L, 'delete', 'test'$v$, policy);
END $$;
BEGIN;
SELECT pg_temp.list_membership('move');
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(11, 12)$$);
ROLLBACK;
BEGIN;
SELECT pg_temp.list_membership('move_or_delete');
SELECT crm.merge_contacts(11, 12) > 0 AS merged;
SELECT * FROM public.membership ORDER BY club;
SELECT moved FROM crm.merge_log WHERE merged_id = 12;
ROLLBACK;

-- users' own tables: a foreign key from outside schema crm is moved too, as
-- the caller (so a caller who may not update the table cannot merge)
CREATE TABLE public.loyalty (contact_id bigint REFERENCES crm.contact ON DELETE CASCADE, points int);
INSERT INTO crm.contact (name) VALUES ('丙'), ('丁');  -- 13, 14
INSERT INTO public.loyalty VALUES (13, 10), (14, 20);
SET ROLE crm_regress_quality_user;
SELECT * FROM pg_temp.try($$SELECT crm.merge_contacts(13, 14)$$);
RESET ROLE;
SELECT crm.merge_contacts(13, 14) > 0 AS merged;
SELECT * FROM public.loyalty ORDER BY points;
SELECT moved FROM crm.merge_log WHERE merged_id = 14;

\c :regress_db
DROP DATABASE crm_regress_quality;
DROP ROLE crm_regress_quality_reader;
DROP ROLE crm_regress_quality_user;
