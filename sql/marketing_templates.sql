-- marketing_templates: Mustache in email templates (dotted names, sections,
-- inverted sections, escaping, standalone lines), every error, categories,
-- crm.render_template.
\set test_db crm_regress_marketing_templates
\i sql/marketing_setup.inc

-- one template per case; body_text shows the text rendering, body_html the HTML one
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
('recommend', '{{learner.name}}，{{#courses.0}}为你推荐 {{courses.0.name}} 等课程{{/courses.0}}{{^courses.0}}新课速递{{/courses.0}}',
 E'{{learner.name}} 你好：\n'
 || E'{{#courses}}\n'
 || E'- {{name}}（{{sku}}）：¥{{price}}{{#new}} 新课{{/new}}\n'
 || E'{{/courses}}\n'
 || E'{{^courses}}\n'
 || E'暂时没有推荐。\n'
 || E'{{/courses}}\n'
 || E'{{! a comment, never shown }}\n'
 || 'Tags: {{#tags}}[{{.}}]{{/tags}} — {{learner.city.name}}',
 '<ul>{{#courses}}<li>{{name}} {{{badge}}} {{&badge}}</li>{{/courses}}</ul><p>{{learner.name}}</p>',
 'marketing');
SELECT * FROM crm.render_template('recommend',
    '{"learner": {"name": "王芳 <wf>", "city": {"name": "杭州"}},
      "courses": [{"name": "Python 入门", "sku": "PY-101", "price": 199, "new": true, "badge": "<b>热</b>"},
                  {"name": "数据 & 分析", "sku": "DA-201", "price": 399.5, "new": false, "badge": ""}],
      "tags": ["a", "<b>"]}');
-- an empty list shows the inverted section; a missing section name is simply false
SELECT subject, body_text FROM crm.render_template('recommend',
    '{"learner": {"name": "李娜", "city": {"name": "北京"}}, "courses": [], "tags": null}');
-- dotted names look outward through sections; "." is the element
INSERT INTO crm.email_template (key, subject, body_text) VALUES
('scope', 'scope {{order.lines.1.sku}} {{^order.lines.7}}no line 8{{/order.lines.7}}', '{{#order}}{{number}} for {{customer}}: {{#lines}}{{sku}}×{{qty}} ({{number}}) {{/lines}}{{/order}}'),
('truthy', 'truthy', '{{#t}}T{{/t}}{{#f}}F{{/f}}{{#z}}Z{{/z}}{{#e}}E{{/e}}{{#o}}O:{{k}}{{/o}}{{#s}}S:{{.}}{{/s}}{{#n}}N{{/n}}'
                      || '|{{^t}}t{{/t}}{{^f}}f{{/f}}{{^e}}e{{/e}}{{^n}}n{{/n}}{{^missing}}m{{/missing}}'),
('literal', 'literal', '{{ not a name }} {{}} {{name} {x} {{ name }} {{{name}}} {{unterminated');
SELECT subject, body_text FROM crm.render_template('scope',
    '{"customer": "智学在线", "order": {"number": "SO-1", "lines": [{"sku": "PY-101", "qty": 1}, {"sku": "DA-201", "qty": 2}]}}');
SELECT body_text FROM crm.render_template('truthy', '{"t": true, "f": false, "z": 0, "e": "", "o": {"k": "v"}, "s": "str", "n": null}');
SELECT body_text FROM crm.render_template('literal', '{"name": "<x>"}');

-- errors: a missing plain name, unclosed and mismatched sections, unsupported tags
SELECT * FROM pg_temp.try($$SELECT crm.render_template('recommend', '{"learner": {"name": "x"}, "courses": []}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('scope', '{"order": {"lines": [{"sku": 1}]}}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('recommend', '{"learner": {"name": "x", "city": {}}, "courses": [{"name": "n"}]}')$$);
INSERT INTO crm.email_template (key, subject, body_text) VALUES
    ('unclosed', 's', '{{#a}}never closed'),
    ('mismatch', 's', '{{#a}}{{#b}}x{{/a}}{{/b}}'),
    ('stray', 's', 'x{{/a}}'),
    ('partial', 's', '{{> footer}}'),
    ('delims', 's', '{{=<% %>=}}'),
    ('deep', 's', repeat('{{#a}}', 70) || 'x' || repeat('{{/a}}', 70));
SELECT * FROM pg_temp.try($$SELECT crm.render_template('unclosed', '{"a": true}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('unclosed', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('mismatch', '{"a": true, "b": true}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('stray', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('partial', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('delims', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('deep', '{"a": {}}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('no_such', '{}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template('scope', '[1]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.render_template(NULL, '{}')$$);
-- a section repeating past crm.max_message_size stops
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('big', 's', '{{#l}}{{#l}}{{#l}}xxxxxxxxxx{{/l}}{{/l}}{{/l}}');
SET crm.max_message_size = '1MB';
SELECT * FROM pg_temp.try(format($$SELECT crm.render_template('big', %L)$$,
       jsonb_build_object('l', (SELECT jsonb_agg(g) FROM generate_series(1, 100) g))));
RESET crm.max_message_size;

-- send_template queues in the template's category, with an idempotency key
SELECT crm.track('wang.fang@example.com', 'signup') > 0 AS tracked;
SELECT crm.grant_consent(id) > 0 AS granted FROM crm.contact;
SELECT crm.send_template('recommend', 'wang.fang@example.com',
       '{"learner": {"name": "王芳", "city": {"name": "杭州"}}, "courses": [], "tags": []}', 'journey:1:1:1') AS m1 \gset
SELECT crm.send_template('recommend', 'wang.fang@example.com',
       '{"learner": {"name": "王芳", "city": {"name": "杭州"}}, "courses": [], "tags": []}', 'journey:1:1:1') = :m1
       AS same_message;
SELECT category, template_key, idempotency_key, contact_id FROM crm.email_outbox;
-- the seeded templates keep their meaning
SELECT key, category FROM crm.email_template WHERE key IN ('invoice_issued', 'payment_received', 'opt_in_confirm') ORDER BY key;
SELECT body_text FROM crm.render_template('opt_in_confirm',
       '{"name": "A&B", "link": "https://x.example/c?a=1&token=t", "expires_at": "2024-01-01 10:00"}');
SELECT body_html FROM crm.render_template('opt_in_confirm',
       '{"name": "A&B", "link": "https://x.example/c?a=1&token=t", "expires_at": "2024-01-01 10:00"}');

\c :regress_db
DROP DATABASE :test_db;
