-- src/mail/10_outbox.sql: the email queue (outbox, delivery log, suppression
-- list, templates), its SQL API and its privileges.
--
-- Everything goes in through the API: crm.send_email and crm.send_template
-- validate and queue, crm.unsubscribe (src/marketing) suppresses an address
-- for marketing email, crm.cancel_email withdraws a queued message.  Each
-- message has a category: transactional (crm.send_email and transactional
-- templates: invoices, payments, opt-in) or marketing (marketing templates);
-- marketing email goes only where consent allows and is stopped by an
-- unsubscription, transactional email only by a hard bounce or a block.  The background worker (src/mail/worker*)
-- claims queued rows, sends them and records each attempt in the delivery
-- log.  Status moves queued -> sending -> sent | failed (or back to queued for
-- a retry), or queued -> cancelled.  Queue tables are readable by crm_reader
-- (message bodies excepted: crm.email_body) and writable only through the
-- SECURITY DEFINER functions below; templates and the suppression list are
-- edited by crm_admin.

CREATE TABLE crm.email_template (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL
                CONSTRAINT email_template_key_key UNIQUE
                CONSTRAINT email_template_key_not_blank CHECK (btrim(key) <> '')
                CONSTRAINT email_template_key_printable CHECK (crm.is_printable(key)),
    subject     text NOT NULL
                CONSTRAINT email_template_subject_not_blank CHECK (btrim(subject) <> '')
                CONSTRAINT email_template_subject_one_line CHECK (strpos(subject, E'\n') = 0 AND strpos(subject, E'\r') = 0),
    body_text   text NOT NULL
                CONSTRAINT email_template_body_text_not_blank CHECK (btrim(body_text, E' \t\r\n') <> ''),
    body_html   text
                CONSTRAINT email_template_body_html_not_blank CHECK (btrim(body_html, E' \t\r\n') <> ''),
    category    text NOT NULL DEFAULT 'transactional'
                CONSTRAINT email_template_category_valid CHECK (category IN ('transactional', 'marketing')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.email_template', '');
SELECT pg_catalog.pg_extension_config_dump('crm.email_template_id_seq', '');
CREATE TRIGGER email_template_restore_seed BEFORE INSERT ON crm.email_template
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER email_template_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.email_template
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('key');
CREATE TRIGGER email_template_set_updated_at BEFORE UPDATE ON crm.email_template
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_template IS
    'Email templates for crm.send_template: {{name}} placeholders in subject, body_text and body_html are filled from its vars.';
COMMENT ON COLUMN crm.email_template.key IS 'The name crm.send_template looks the template up by.';
COMMENT ON COLUMN crm.email_template.subject IS 'Subject line with {{name}} placeholders (one line).';
COMMENT ON COLUMN crm.email_template.body_text IS 'Plain-text body with {{name}} placeholders.';
COMMENT ON COLUMN crm.email_template.body_html IS
    'HTML body with {{name}} placeholders (values are HTML-escaped), or NULL for text-only email.';
COMMENT ON COLUMN crm.email_template.category IS
    'transactional (invoices, payments, opt-in, sales notices) or marketing (journeys, campaigns): '
    'the category of the email rendered from it.';
COMMENT ON COLUMN crm.email_template.id IS
    'Identity of the template, assigned by the database (crm.send_template looks templates up by key).';
COMMENT ON COLUMN crm.email_template.created_at IS 'When the template was inserted (now() unless given).';
COMMENT ON COLUMN crm.email_template.updated_at IS
    'When the template last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.email_suppression (
    address     text PRIMARY KEY
                CONSTRAINT email_suppression_address_lower_case CHECK (address = lower(address)),
    reason      text NOT NULL CONSTRAINT email_suppression_reason_not_blank CHECK (btrim(reason) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.email_suppression', '');
CREATE TRIGGER email_suppression_set_updated_at BEFORE UPDATE ON crm.email_suppression
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_suppression IS
    'Addresses crm does not send to, stored in lower case: reason ''unsubscribed'' stops marketing email only; '
    'any other reason (a hard bounce, ''blocked'', an admin''s note) stops all email.';
COMMENT ON COLUMN crm.email_suppression.address IS 'The suppressed address, lower-cased.';
COMMENT ON COLUMN crm.email_suppression.reason IS
    'Why: ''unsubscribed'' (marketing email only), ''blocked'', a bounce reply, or an admin''s note (all email).';
COMMENT ON COLUMN crm.email_suppression.created_at IS 'When the address was suppressed (now() unless given).';
COMMENT ON COLUMN crm.email_suppression.updated_at IS
    'When the row last changed, e.g. its reason (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.email_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the API checks more; these hold for rows written any other way too
    to_address      text NOT NULL
                    CONSTRAINT email_outbox_to_address_syntax CHECK (crm.check_email_address(to_address)),
    subject         text NOT NULL
                    CONSTRAINT email_outbox_subject_one_line CHECK (strpos(subject, E'\n') = 0 AND strpos(subject, E'\r') = 0),
    body_text       text NOT NULL,
    body_html       text,
    status          text NOT NULL DEFAULT 'queued'
                    CONSTRAINT email_outbox_status_valid
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        int NOT NULL DEFAULT 0 CONSTRAINT email_outbox_attempts_not_negative CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    message_id      text NOT NULL CONSTRAINT email_outbox_message_id_key UNIQUE,
    idempotency_key text CONSTRAINT email_outbox_idempotency_key_key UNIQUE,
    template_key    text,
    category        text NOT NULL DEFAULT 'transactional'
                    CONSTRAINT email_outbox_category_valid CHECK (category IN ('transactional', 'marketing')),
    contact_id      bigint REFERENCES crm.contact ON DELETE SET NULL,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('crm.email_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('crm.email_outbox_id_seq', '');
-- the worker's claim (in its order: a bulk enqueue shares one next_attempt_at,
-- and without id in the key every claim would sort all of them), its lease
-- recovery, and the retention purge
CREATE INDEX email_outbox_claim_idx ON crm.email_outbox (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX email_outbox_lease_idx ON crm.email_outbox (lease_until) WHERE status = 'sending';
CREATE INDEX email_outbox_finished_idx ON crm.email_outbox (sent_at)
    WHERE status IN ('sent', 'failed', 'cancelled');
CREATE INDEX email_outbox_contact_id_idx ON crm.email_outbox (contact_id);
CREATE TRIGGER email_outbox_set_updated_at BEFORE UPDATE ON crm.email_outbox
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_outbox IS
    'Queued and sent email, one row per message; written by crm.send_email, crm.send_template, crm.cancel_email and the mail worker.';
COMMENT ON COLUMN crm.email_outbox.to_address IS 'Recipient (one ASCII address, as given).';
COMMENT ON COLUMN crm.email_outbox.subject IS 'Subject (UTF-8; sent as RFC 2047 encoded-words when needed).';
COMMENT ON COLUMN crm.email_outbox.body_text IS 'Plain-text body.';
COMMENT ON COLUMN crm.email_outbox.body_html IS 'HTML body, sent as the second part of multipart/alternative; NULL for none.';
COMMENT ON COLUMN crm.email_outbox.status IS
    'queued (waiting for next_attempt_at), sending (claimed by the worker until lease_until), sent, failed, or cancelled.';
COMMENT ON COLUMN crm.email_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN crm.email_outbox.next_attempt_at IS 'Earliest time the worker may try (again).';
COMMENT ON COLUMN crm.email_outbox.lease_until IS 'While sending: when the claim expires and the row is re-queued.';
COMMENT ON COLUMN crm.email_outbox.last_error IS 'Why the last attempt failed or the row was cancelled.';
COMMENT ON COLUMN crm.email_outbox.message_id IS
    'Message-ID header, <random.id@domain>, fixed at enqueue so retries carry the same one.';
COMMENT ON COLUMN crm.email_outbox.idempotency_key IS
    'Caller''s key: crm.send_email with a key already here returns this row instead of queuing again.';
COMMENT ON COLUMN crm.email_outbox.template_key IS 'The crm.email_template key it was rendered from, if any.';
COMMENT ON COLUMN crm.email_outbox.category IS
    'transactional (crm.send_email, transactional templates) or marketing (marketing templates): consent and '
    'an unsubscription stop marketing email only.';
COMMENT ON COLUMN crm.email_outbox.contact_id IS 'The contact whose address to_address is (case-insensitively), if any.';
COMMENT ON COLUMN crm.email_outbox.created_by IS 'The session role that queued it.';
COMMENT ON COLUMN crm.email_outbox.sent_at IS
    'When it reached a final state: sent, failed, or cancelled (retention counts from here).';
COMMENT ON COLUMN crm.email_outbox.id IS
    'Identity of the message, assigned by the database; crm.send_email returns it.';
COMMENT ON COLUMN crm.email_outbox.created_at IS 'When the message was inserted (now() unless given).';
COMMENT ON COLUMN crm.email_outbox.updated_at IS
    'When the message last changed (set by crm.set_updated_at, on every UPDATE, the worker''s included).';

CREATE TABLE crm.email_delivery_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES crm.email_outbox ON DELETE CASCADE,
    attempt         int NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    outcome         text NOT NULL CONSTRAINT email_delivery_log_outcome_valid
                    CHECK (outcome IN ('sent', 'retry', 'failed')),
    transport       text,
    response_code   int,
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.email_delivery_log', '');
SELECT pg_catalog.pg_extension_config_dump('crm.email_delivery_log_id_seq', '');
CREATE INDEX email_delivery_log_outbox_id_idx ON crm.email_delivery_log (outbox_id);
CREATE TRIGGER email_delivery_log_set_updated_at BEFORE UPDATE ON crm.email_delivery_log
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_delivery_log IS
    'One row per delivery attempt, written by the mail worker: outcome, transport, server reply.';
COMMENT ON COLUMN crm.email_delivery_log.attempt IS 'Attempt number (1 for the first).';
COMMENT ON COLUMN crm.email_delivery_log.outcome IS 'sent, retry (temporary failure) or failed (permanent).';
COMMENT ON COLUMN crm.email_delivery_log.transport IS 'file, smtp or http.';
COMMENT ON COLUMN crm.email_delivery_log.response_code IS 'SMTP reply code or HTTP status, when there was one.';
COMMENT ON COLUMN crm.email_delivery_log.detail IS 'Server reply or error text.';
COMMENT ON COLUMN crm.email_delivery_log.id IS 'Identity of the log row, assigned by the database.';
COMMENT ON COLUMN crm.email_delivery_log.outbox_id IS
    'The message tried (crm.email_outbox.id); its log is deleted with it.';
COMMENT ON COLUMN crm.email_delivery_log.started_at IS
    'When the worker claimed the message for this attempt.';
COMMENT ON COLUMN crm.email_delivery_log.finished_at IS 'When the transport answered or gave up.';
COMMENT ON COLUMN crm.email_delivery_log.created_at IS 'When the log row was inserted (now() unless given).';
COMMENT ON COLUMN crm.email_delivery_log.updated_at IS
    'When the log row last changed (set by crm.set_updated_at, on every UPDATE).';

-- The API.
CREATE FUNCTION crm.send_email(to_address text, subject text, body_text text,
                               body_html text DEFAULT NULL, idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_send_email';
COMMENT ON FUNCTION crm.send_email(text, text, text, text, text) IS
    'Validates and queues an email; returns its outbox id, NULL for a suppressed address, or the existing id for a known idempotency_key.';

CREATE FUNCTION crm.send_template(template_key text, to_address text, vars jsonb DEFAULT '{}',
                                  idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_send_template';
COMMENT ON FUNCTION crm.send_template(text, text, jsonb, text) IS
    'Renders crm.email_template template_key with vars (Mustache: {{name}} HTML-escaped in the HTML part, {{{name}}} raw, '
    '{{#list}}...{{/list}} sections) and queues it like crm.send_email, in the template''s category; NULL when the '
    'address is suppressed, or for marketing email without consent.';

CREATE FUNCTION crm.render_message(outbox_id bigint) RETURNS text
    LANGUAGE c VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_render_message';
COMMENT ON FUNCTION crm.render_message(bigint) IS
    'The RFC 5322/MIME message the worker would send for an outbox row (Date: when sent, or now).';

-- crm.unsubscribe (suppresses marketing email and withdraws marketing
-- consent) is in src/marketing/20_consent.sql, next to the consent ledger.

CREATE FUNCTION crm.cancel_email(id bigint) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- the session's role (SET ROLE changes it, SECURITY DEFINER does not),
    -- as crm.send_email records it in created_by
    caller name := CASE pg_catalog.current_setting('role')
                   WHEN 'none' THEN session_user ELSE pg_catalog.current_setting('role') END;
    current_status text;
    queued_by name;
BEGIN
    SELECT o.status, o.created_by INTO current_status, queued_by
      FROM crm.email_outbox o WHERE o.id OPERATOR(pg_catalog.=) cancel_email.id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'email % does not exist', cancel_email.id
            USING ERRCODE = 'no_data_found', HINT = 'Look the id up in crm.email_outbox.';
    END IF;
    IF queued_by OPERATOR(pg_catalog.<>) caller
       AND NOT pg_catalog.pg_has_role(caller, 'crm_admin', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to cancel email %', cancel_email.id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('It was queued by %s.', queued_by),
                  HINT = 'Only the role that queued an email, or a crm_admin, can cancel it.';
    END IF;
    IF current_status OPERATOR(pg_catalog.=) 'queued' THEN
        UPDATE crm.email_outbox o
           SET status = 'cancelled', sent_at = pg_catalog.now(),
               last_error = pg_catalog.format('cancelled by %s', caller)
         WHERE o.id OPERATOR(pg_catalog.=) cancel_email.id;
        RETURN true;
    ELSIF current_status OPERATOR(pg_catalog.=) 'cancelled' THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION 'email % cannot be cancelled', cancel_email.id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = CASE current_status
                       WHEN 'sending' THEN 'The worker is sending it now.'
                       WHEN 'sent' THEN 'It has been sent.'
                       ELSE 'Its delivery failed for good.' END,
              HINT = 'Only queued email can be cancelled.';
END
$$;
COMMENT ON FUNCTION crm.cancel_email(bigint) IS
    'Cancels a queued email: true when cancelled now, false when it already was; an error once sending has begun. A crm_user cancels only email they queued, a crm_admin any.';

-- The messages' bodies: crm_reader sees the outbox's metadata only (the
-- column grant below); a crm_user reads the bodies of the email they queued
-- here, a crm_admin every body (and the whole table).
CREATE VIEW crm.email_body WITH (security_barrier) AS
SELECT o.id, o.body_text, o.body_html
  FROM crm.email_outbox o
 WHERE o.created_by OPERATOR(pg_catalog.=) CURRENT_USER
    OR pg_catalog.pg_has_role(CURRENT_USER, 'crm_admin', 'USAGE');
COMMENT ON VIEW crm.email_body IS
    'Bodies of queued and sent email: a crm_user sees those of the email they queued, a crm_admin all. crm_reader sees only the metadata in crm.email_outbox.';
COMMENT ON COLUMN crm.email_body.id IS 'The crm.email_outbox id.';
COMMENT ON COLUMN crm.email_body.body_text IS 'Plain-text body.';
COMMENT ON COLUMN crm.email_body.body_html IS 'HTML body, NULL for none.';

-- Privileges: read for crm_reader (the outbox without the bodies), the API
-- and their own email's bodies for crm_user, templates, the suppression list,
-- every body and render_message for crm_admin.
REVOKE ALL ON crm.email_outbox, crm.email_delivery_log, crm.email_suppression, crm.email_template FROM PUBLIC;
GRANT SELECT ON crm.email_delivery_log, crm.email_suppression, crm.email_template TO crm_reader;
-- every column but body_text and body_html (a new column is added here)
GRANT SELECT (id, to_address, subject, status, attempts, next_attempt_at, lease_until, last_error,
              message_id, idempotency_key, template_key, category, contact_id, created_by, created_at,
              updated_at, sent_at)
    ON crm.email_outbox TO crm_reader;
GRANT SELECT ON crm.email_outbox TO crm_admin;
GRANT SELECT ON crm.email_body TO crm_user;
GRANT INSERT, UPDATE, DELETE ON crm.email_template, crm.email_suppression TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.send_email(text, text, text, text, text), crm.send_template(text, text, jsonb, text),
    crm.render_message(bigint), crm.cancel_email(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.send_email(text, text, text, text, text), crm.send_template(text, text, jsonb, text),
    crm.cancel_email(bigint) TO crm_user;
GRANT EXECUTE ON FUNCTION crm.render_message(bigint) TO crm_admin;
