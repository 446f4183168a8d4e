-- Before src/mail/10_outbox.sql is replayed on a 0.1.0 database.
--
-- Templates and email have a category; 0.1.0's were all transactional
-- (invoice and payment notices, mail sent with crm.send_email).  Queued
-- and sent email is linked to the contact whose address it went to, as
-- 1.0.0 does when it queues; updated_at stays as it was.
ALTER TABLE crm.email_template
    ADD COLUMN category text NOT NULL DEFAULT 'transactional'
        CONSTRAINT email_template_category_valid CHECK (category IN ('transactional', 'marketing')),
    ADD CONSTRAINT email_template_key_printable CHECK (crm.is_printable(key));

ALTER TABLE crm.email_outbox
    ADD COLUMN category text NOT NULL DEFAULT 'transactional'
        CONSTRAINT email_outbox_category_valid CHECK (category IN ('transactional', 'marketing')),
    ADD COLUMN contact_id bigint CONSTRAINT email_outbox_contact_id_fkey REFERENCES crm.contact ON DELETE SET NULL;
ALTER TABLE crm.email_outbox DISABLE TRIGGER email_outbox_set_updated_at;
UPDATE crm.email_outbox o SET contact_id = c.id
  FROM crm.contact c
 WHERE lower(c.email) = lower(o.to_address);
ALTER TABLE crm.email_outbox ENABLE TRIGGER email_outbox_set_updated_at;

-- crm.send_template gained an argument (idempotency_key); the old signature goes.
DROP FUNCTION crm.send_template(text, text, jsonb);

-- crm_reader no longer reads message bodies: the replay grants it every
-- other column of the outbox instead of the whole table.
REVOKE SELECT ON crm.email_outbox FROM crm_reader;
