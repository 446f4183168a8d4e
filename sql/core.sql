-- core: accounts, contacts, activities, products; constraints and bad input.
SET client_min_messages = warning;
-- built-in constraint errors print the failing row (owner, timestamps): keep them terse
\set VERBOSITY terse

INSERT INTO crm.account (name, domain) VALUES ('北京智学教育科技有限公司', 'zhixue.example.cn');
SELECT name, owner = current_user AS owned_by_me, attributes FROM crm.account;

-- emails: stored as given, unique regardless of case, malformed refused
\set VERBOSITY default
INSERT INTO crm.contact (account_id, name, email)
SELECT id, '王芳', 'Wang.Fang@Zhixue.example.cn' FROM crm.account;
INSERT INTO crm.contact (name, email) VALUES ('dup', 'wang.fang@zhixue.example.cn');
INSERT INTO crm.contact (name, email) VALUES ('bad', 'not-an-address');
INSERT INTO crm.contact (name, email) VALUES ('bad', 'a@b');
INSERT INTO crm.contact (name, email) VALUES ('bad', 'two@@example.com');
INSERT INTO crm.contact (name, email) VALUES ('bad', E'x@example.com\r\nBcc: victim@example.com');
INSERT INTO crm.contact (name, email) VALUES ('bad', '.dot@example.com');
INSERT INTO crm.contact (name, email) VALUES ('bad', 'a@-example.com');
INSERT INTO crm.contact (name, email) VALUES ('no email', NULL);
\set VERBOSITY terse
INSERT INTO crm.contact (name) VALUES ('   ');
SELECT name, email FROM crm.contact ORDER BY id;

-- products: price not negative, currency code
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1999, 'CNY');
INSERT INTO crm.product (sku, name, unit_price) VALUES ('NEG', 'negative', -1);
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('CUR', 'bad currency', 1, 'yuan');
INSERT INTO crm.product (sku, name, unit_price) VALUES ('PY-101', 'duplicate sku', 1);

-- updated_at follows updates, created_at does not
UPDATE crm.product SET created_at = '2020-01-01', updated_at = '2020-01-01';
SELECT created_at = '2020-01-01' AS created_kept, updated_at > '2020-01-01' AS updated_moved FROM crm.product;

-- activities and the overdue view
INSERT INTO crm.activity (kind, subject, contact_id, due_at)
SELECT 'task', '回访王芳', id, now() - interval '2 days' FROM crm.contact WHERE name = '王芳';
INSERT INTO crm.activity (kind, subject, due_at) VALUES ('task', 'future call', now() + interval '1 day');
INSERT INTO crm.activity (kind, subject, due_at, done_at) VALUES ('task', 'done', now() - interval '1 day', now());
INSERT INTO crm.activity (kind, subject) VALUES ('fax', 'bad kind');
SELECT subject, overdue_by >= interval '2 days' AS two_days_late FROM crm.overdue_followups;
