-- src/marketing/60_templates.sql: previewing templates.
--
-- Templates are rendered with Mustache (src/mail/outbox_template.c: dotted
-- names, sections, inverted sections, {{x}} HTML-escaped in the HTML part,
-- {{{x}}} raw), so a message can list recommended courses.
-- crm.render_template shows what crm.send_template would queue.

CREATE FUNCTION crm.render_template(template_key text, vars jsonb DEFAULT '{}',
                                    OUT subject text, OUT body_text text, OUT body_html text, OUT category text)
    RETURNS record
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_render_template';
COMMENT ON FUNCTION crm.render_template(text, jsonb) IS
    'What crm.send_template would queue for template_key with vars: subject, body_text, body_html and category '
    '(Mustache; a missing plain {{name}} raises 22023). Queues nothing.';

REVOKE EXECUTE ON FUNCTION crm.render_template(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.render_template(text, jsonb) TO crm_user;
