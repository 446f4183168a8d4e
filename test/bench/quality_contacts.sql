-- test/bench/quality_contacts.sql: :contacts Chinese contacts at :contacts/5
-- companies, :dup_share of them planted duplicates of another contact, for
-- test/bench/quality.bench.sh.  psql variables: contacts, dup_share, seed.
--
-- Originals: a name from 100 surnames and 390 one- or two-character given
-- names, a mobile number (80%) written one of four ways, an email (70%), an
-- account whose name carries a city, a trade name (distinct for up to 45,000
-- companies), an industry and a legal form.  Each duplicate copies one original the way people and imports do:
--   phone   the same mobile written another way (+86 138-…, full width),
--           the name with or without a space, no email;
--   email   the same address in capitals with a +tag, the same name, no phone;
--   company the same name at a second account of the same company spelt
--           differently (北京星辰科技有限公司 / 星辰科技), no phone, no email.
-- bench.planted (original, duplicate) lists the pairs recall is measured on.
SET client_min_messages = warning;
SELECT setseed(:seed);
CREATE SCHEMA IF NOT EXISTS bench;

CREATE TABLE bench.words AS
SELECT string_to_array('王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 田 董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 方 白 邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 向 汤', ' ') AS surnames,
       ARRAY(SELECT a || b
               FROM unnest(string_to_array('伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 玉 萍 红 鹏 辉 建 文 晓 宇 浩 欣 雪 琳 晨 婷 博', ' ')) a,
                    unnest(string_to_array(' 明 华 丽 军 杰 宇 婷 涛 静 峰', ' ')) b
              WHERE a <> b) AS given_names,
       ARRAY(SELECT a || b || c
               FROM unnest(string_to_array('星 辰 蓝 海 华 夏 云 途 未 来 金 融 智 学 创 新 天 宇 恒 信 博 远 东 方 鼎 盛 瑞 德 泰 安', ' ')) a,
                    unnest(string_to_array('辰 星 海 夏 途 来 融 学 新 宇 信 远 方 盛 德 安 达 通 源 成', ' ')) b,
                    unnest(string_to_array('科 数 联 创 微 迅 思 锐 卓 拓', ' ')) c
              WHERE a <> b
              ORDER BY md5(a || b || c)) AS trades;

CREATE TABLE bench.company AS
SELECT k AS company,
       w.trades[1 + k % cardinality(w.trades)] ||
       (ARRAY['科技', '数据', '教育', '物流', '制造', '咨询', '网络', '传媒'])[1 + (k / cardinality(w.trades)) % 8]
           AS trade_name,
       (ARRAY['北京', '上海', '广州', '深圳', '杭州', '成都', '武汉', '南京'])[1 + (k / 8) % 8] AS city
  FROM generate_series(1, (:contacts / 5)::int) k, bench.words w;
INSERT INTO crm.account (name, phone, attributes)
SELECT c.city || c.trade_name || (ARRAY['有限公司', '股份有限公司', '集团有限公司'])[1 + c.company % 3],
       CASE WHEN random() < 0.5 THEN '0' || (10 + c.company % 20) || '-' || (20000000 + c.company) END,
       jsonb_build_object('bench_company', c.company)
  FROM bench.company c ORDER BY c.company;
CREATE TABLE bench.company_account AS
SELECT (attributes ->> 'bench_company')::int AS company, id AS account_id FROM crm.account;

CREATE TABLE bench.person AS
SELECT p,
       w.surnames[1 + floor(random() * cardinality(w.surnames))::int] ||
       w.given_names[1 + floor(random() * cardinality(w.given_names))::int] AS name,
       1 + floor(random() * (:contacts / 5))::int AS company,
       CASE WHEN random() < 0.8 THEN '1' || (3 + floor(random() * 7)::int) || lpad((floor(random() * 1e9))::bigint::text, 9, '0') END
           AS mobile,
       CASE WHEN random() < 0.7 THEN 'u' || p || '@mail' || (p % 50) || '.example.cn' END AS email,
       floor(random() * 4)::int AS phone_style
  FROM generate_series(1, (:contacts * (1 - :dup_share))::int) p, bench.words w;

INSERT INTO crm.contact (account_id, name, email, phone, attributes)
SELECT ca.account_id, p.name, p.email,
       CASE p.phone_style
           WHEN 0 THEN p.mobile
           WHEN 1 THEN substr(p.mobile, 1, 3) || ' ' || substr(p.mobile, 4, 4) || ' ' || substr(p.mobile, 8)
           WHEN 2 THEN '+86-' || p.mobile
           ELSE translate(p.mobile, '0123456789', '０１２３４５６７８９') END,
       jsonb_build_object('bench_person', p.p)
  FROM bench.person p JOIN bench.company_account ca ON ca.company = p.company
 ORDER BY p.p;

-- the duplicates: a second account for companies that need one
CREATE TABLE bench.planted_plan AS
SELECT row_number() OVER () AS k, p.*,
       (ARRAY['phone', 'email', 'company'])[1 + floor(random() * 3)::int] AS kind
  FROM (SELECT * FROM bench.person ORDER BY random() LIMIT (:contacts * :dup_share)::int) p;
UPDATE bench.planted_plan SET kind = 'company' WHERE kind = 'phone' AND mobile IS NULL;
UPDATE bench.planted_plan SET kind = 'company' WHERE kind = 'email' AND email IS NULL;
INSERT INTO crm.account (name, attributes)
SELECT DISTINCT c.trade_name || '公司', jsonb_build_object('bench_second_account', c.company)
  FROM bench.planted_plan d JOIN bench.company c ON c.company = d.company
 WHERE d.kind = 'company';

INSERT INTO crm.contact (account_id, name, email, phone, attributes)
SELECT CASE d.kind WHEN 'company' THEN a.id END,
       CASE WHEN d.kind = 'phone' AND length(d.name) = 2 THEN substr(d.name, 1, 1) || ' ' || substr(d.name, 2)
            ELSE d.name END,
       CASE d.kind WHEN 'email' THEN upper(split_part(d.email, '@', 1)) || '+import@' || split_part(d.email, '@', 2) END,
       CASE d.kind WHEN 'phone' THEN
           CASE WHEN d.phone_style = 2 THEN substr(d.mobile, 1, 3) || '-' || substr(d.mobile, 4, 4) || '-' || substr(d.mobile, 8)
                ELSE '+86 ' || d.mobile END END,
       jsonb_build_object('bench_duplicate_of', d.p)
  FROM bench.planted_plan d
  LEFT JOIN crm.account a ON (a.attributes ->> 'bench_second_account')::int = d.company
 ORDER BY d.k;

CREATE TABLE bench.planted AS
SELECT o.id AS original, d.id AS duplicate, p.kind
  FROM crm.contact d
  JOIN bench.planted_plan p ON p.p = (d.attributes ->> 'bench_duplicate_of')::int
  JOIN crm.contact o ON (o.attributes ->> 'bench_person')::int = p.p
 WHERE d.attributes ? 'bench_duplicate_of';
ANALYZE crm.contact;
ANALYZE crm.account;
