-- demo/50_quality.sql: cleaning 智学在线's data.  A spreadsheet import brings
-- the company 星辰科技 in again under its full registered name, with its
-- HR director typed through a Chinese input method (full-width digits, a
-- space in her name, her address in capitals with a +tag); crm finds both
-- duplicates, merges them with everything that points at them, stores the
-- phones as E.164, and crm.data_quality shows what is left to clean.
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=== 数据清洗: a spreadsheet import brings duplicates ==='
INSERT INTO crm.account (name, phone, domain) VALUES ('北京星辰科技有限公司', '（０１０）６５５２－９９８８', 'www.xingchen.example.cn');
INSERT INTO crm.contact (account_id, name, email, phone, title)
SELECT id, '陈 静', 'CHEN.JING+import@xingchen.example.cn', '＋８６ １３８ ００１３ ８０００', '人力资源总监'
  FROM crm.account WHERE name = '北京星辰科技有限公司';
INSERT INTO crm.contact (account_id, name, phone)
SELECT id, '孙 磊', '138-1111-2222 转 8' FROM crm.account WHERE name = '云途物流';
INSERT INTO crm.activity (kind, subject, contact_id, account_id, owner)
SELECT 'call', '导入：咨询企业内训报价', c.id, c.account_id, '李娜'
  FROM crm.contact c WHERE c.name = '陈 静';

\echo
\echo '--- phones and company names as typed, and as crm reads them ---'
SELECT c.name, c.phone, crm.normalize_phone(c.phone) AS e164, a.name AS account, crm.company_key(a.name) AS company_key
  FROM crm.contact c JOIN crm.account a ON a.id = c.account_id
 WHERE a.name IN ('星辰科技有限公司', '北京星辰科技有限公司', '云途物流')
 ORDER BY c.id;

\echo
\echo '--- crm.duplicate_accounts and crm.duplicate_contacts ---'
SELECT a.name AS account_a, b.name AS account_b, d.score, d.reasons
  FROM crm.duplicate_accounts d
  JOIN crm.account a ON a.id = d.account_id_a
  JOIN crm.account b ON b.id = d.account_id_b;
SELECT a.name AS contact_a, b.name AS contact_b, d.score, d.reasons
  FROM crm.duplicate_contacts d
  JOIN crm.contact a ON a.id = d.contact_id_a
  JOIN crm.contact b ON b.id = d.contact_id_b;

\echo
\echo '--- merging: the older rows stay, the imported ones go, everything they had moves ---'
SELECT crm.merge_accounts(d.account_id_a, d.account_id_b) AS account_merge_log FROM crm.duplicate_accounts d;
SELECT crm.merge_contacts(d.contact_id_a, d.contact_id_b) AS contact_merge_log FROM crm.duplicate_contacts d;
SELECT kind, merged_row ->> 'name' AS merged, filled, moved FROM crm.merge_log ORDER BY id;
SELECT c.name, c.email, c.phone, c.title, a.name AS account, a.domain,
       (SELECT count(*) FROM crm.activity x WHERE x.contact_id = c.id) AS activities
  FROM crm.contact c JOIN crm.account a ON a.id = c.account_id
 WHERE c.email = 'chen.jing@xingchen.example.cn';

\echo
\echo '--- cleaning: phones stored as E.164 ---'
UPDATE crm.contact SET phone = crm.normalize_phone(phone)
 WHERE crm.normalize_phone(phone) IS DISTINCT FROM phone AND crm.normalize_phone(phone) IS NOT NULL;
UPDATE crm.account SET phone = crm.normalize_phone(phone)
 WHERE crm.normalize_phone(phone) IS DISTINCT FROM phone AND crm.normalize_phone(phone) IS NOT NULL;
SELECT name, phone FROM crm.contact WHERE phone IS NOT NULL ORDER BY id;

\echo
\echo '--- crm.data_quality: what is still empty or invalid in contacts and accounts ---'
SELECT table_name, column_name, rows, empty, invalid, invalid_means
  FROM crm.data_quality
 WHERE table_name IN ('crm.contact'::regclass, 'crm.account'::regclass) AND (empty > 0 OR invalid > 0);
