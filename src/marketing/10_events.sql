-- src/marketing/10_events.sql: behaviour events (crm.event), crm.track, and
-- the events crm writes itself.
--
-- crm.event is the table that grows fastest: apps write what people do
-- (crm.track or plain INSERT), crm writes what happens to them (a deal
-- moving, an order, a paid invoice, a ticket, an email sent or bounced, an
-- unsubscription, segment changes), in the same transaction as the fact and
-- only when the fact has a contact.
-- It is meant to be distributed by contact_id one day (Citus), so contact_id
-- is part of its primary key and no foreign key points at it.  The two
-- indexes serve "events of kind K for person P since T" (journeys, exits,
-- profiles) and "people with kind K since T" (segments, triggers).

CREATE TABLE crm.event (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    contact_id  bigint NOT NULL REFERENCES crm.contact ON DELETE CASCADE,
    kind        text NOT NULL
                CONSTRAINT event_kind_printable
                CHECK (btrim(kind) <> '' AND kind !~ '[[:cntrl:]]' AND octet_length(kind) <= 200),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    properties  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT event_properties_object CHECK (jsonb_typeof(properties) = 'object'),
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_pkey PRIMARY KEY (id, contact_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.event', '');
SELECT pg_catalog.pg_extension_config_dump('crm.event_id_seq', '');
CREATE INDEX event_contact_kind_idx ON crm.event (contact_id, kind, occurred_at);
CREATE INDEX event_kind_occurred_idx ON crm.event (kind, occurred_at, contact_id);
CREATE TRIGGER event_set_updated_at BEFORE UPDATE ON crm.event
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.event IS
    'What people did (written by apps with crm.track or INSERT) and what happened to them (written by crm: '
    'deal_stage, order_confirmed, invoice_paid, ticket_opened, email_sent, email_bounced, unsubscribed, '
    'segment_entered, segment_exited).';
COMMENT ON COLUMN crm.event.id IS 'Event number (with contact_id, the primary key).';
COMMENT ON COLUMN crm.event.contact_id IS 'The person.';
COMMENT ON COLUMN crm.event.kind IS 'What happened, e.g. course_view, trial_signup, deal_stage, email_sent.';
COMMENT ON COLUMN crm.event.occurred_at IS 'When it happened (now() unless the writer knows better).';
COMMENT ON COLUMN crm.event.properties IS 'Details as a JSON object, e.g. {"sku": "PY-101"}.';
COMMENT ON COLUMN crm.event.source IS
    'Who wrote it: track (crm.track), pipeline, mail, consent, segment, sales, or the app''s own label.';
COMMENT ON COLUMN crm.event.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.event.updated_at IS 'When the row last changed.';

CREATE FUNCTION crm.track(email text, kind text, properties jsonb DEFAULT '{}',
                          occurred_at timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_track';
COMMENT ON FUNCTION crm.track(text, text, jsonb, timestamptz) IS
    'Records an event of the person with this email address (case-insensitive) and returns its id; an unknown '
    'address creates the contact, named after the address; a malformed one raises 22023.';

-- deal_stage {deal_id, from, to}: every stage a deal with a contact enters
-- (from is null for a new deal).  On crm.deal itself: the engine writes its
-- history rows straight into the heap, where no trigger fires.
CREATE FUNCTION crm.deal_stage_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO crm.event (contact_id, kind, occurred_at, properties, source)
    VALUES (NEW.contact_id, 'deal_stage', NEW.stage_entered_at,
            jsonb_build_object('deal_id', NEW.id,
                               'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage END,
                               'to', NEW.stage),
            'pipeline');
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.deal_stage_event() FROM PUBLIC;
COMMENT ON FUNCTION crm.deal_stage_event() IS
    'AFTER INSERT OR UPDATE trigger on crm.deal: a deal_stage event when a deal with a contact enters a stage.';
CREATE TRIGGER deal_stage_event_insert AFTER INSERT ON crm.deal
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.deal_stage_event();
CREATE TRIGGER deal_stage_event_update AFTER UPDATE ON crm.deal
    FOR EACH ROW
    WHEN (NEW.contact_id IS NOT NULL
          AND (OLD.stage IS DISTINCT FROM NEW.stage OR OLD.pipeline_id IS DISTINCT FROM NEW.pipeline_id))
    EXECUTE FUNCTION crm.deal_stage_event();

-- email_sent {email_id, template_key} and email_bounced {email_id}: when the
-- mail worker records the outcome of an email to a contact (a permanent
-- failure counts as a bounce).
CREATE FUNCTION crm.email_outcome_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    INSERT INTO crm.event (contact_id, kind, occurred_at, properties, source)
    VALUES (NEW.contact_id,
            CASE NEW.status WHEN 'sent' THEN 'email_sent' ELSE 'email_bounced' END,
            coalesce(NEW.sent_at, now()),
            CASE NEW.status WHEN 'sent'
                 THEN jsonb_build_object('email_id', NEW.id, 'template_key', NEW.template_key)
                 ELSE jsonb_build_object('email_id', NEW.id) END,
            'mail');
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.email_outcome_event() FROM PUBLIC;
COMMENT ON FUNCTION crm.email_outcome_event() IS
    'AFTER UPDATE trigger on crm.email_outbox: an email_sent or email_bounced event when an email to a contact '
    'becomes sent or failed.';
CREATE TRIGGER email_outcome_event AFTER UPDATE OF status ON crm.email_outbox
    FOR EACH ROW
    WHEN (NEW.contact_id IS NOT NULL AND NEW.status IN ('sent', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION crm.email_outcome_event();

-- The sales facts, each when it has a contact:
-- order_confirmed {order_id, gross_total, currency, skus} when the order's
-- transaction commits (its lines are added after the order row, so the
-- totals and SKUs are known only then: a deferred constraint trigger);
-- invoice_paid {invoice_id, amount, currency} when an invoice becomes paid;
-- ticket_opened {ticket_id, priority} when a ticket is opened.
CREATE FUNCTION crm.sales_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'sales_order' THEN
        INSERT INTO crm.event (contact_id, kind, occurred_at, properties, source)
        SELECT o.contact_id, 'order_confirmed', o.created_at,
               jsonb_build_object('order_id', o.id, 'gross_total', o.gross_total, 'currency', o.currency,
                                  'skus', coalesce((SELECT jsonb_agg(p.sku ORDER BY i.id)
                                                      FROM crm.sales_order_item i
                                                      JOIN crm.product p ON p.id = i.product_id
                                                     WHERE i.sales_order_id = o.id), '[]')),
               'sales'
          FROM crm.sales_order o
         WHERE o.id = NEW.id AND o.contact_id IS NOT NULL;
    ELSIF TG_TABLE_NAME = 'invoice' THEN
        INSERT INTO crm.event (contact_id, kind, properties, source)
        VALUES (NEW.contact_id, 'invoice_paid',
                jsonb_build_object('invoice_id', NEW.id, 'amount', NEW.gross_total, 'currency', NEW.currency), 'sales');
    ELSE
        INSERT INTO crm.event (contact_id, kind, occurred_at, properties, source)
        VALUES (NEW.contact_id, 'ticket_opened', NEW.created_at,
                jsonb_build_object('ticket_id', NEW.id, 'priority', NEW.priority), 'sales');
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.sales_event() FROM PUBLIC;
COMMENT ON FUNCTION crm.sales_event() IS
    'AFTER trigger on crm.sales_order (deferred to commit), crm.invoice and crm.ticket: the order_confirmed, '
    'invoice_paid and ticket_opened events of a contact.';
CREATE CONSTRAINT TRIGGER order_confirmed_event AFTER INSERT ON crm.sales_order
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.sales_event();
CREATE TRIGGER invoice_paid_event AFTER UPDATE OF status ON crm.invoice
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status IS DISTINCT FROM 'paid' AND NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.sales_event();
CREATE TRIGGER ticket_opened_event AFTER INSERT ON crm.ticket
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.sales_event();

REVOKE ALL ON crm.event FROM PUBLIC;
GRANT SELECT ON crm.event TO crm_reader;
GRANT INSERT ON crm.event TO crm_user;
GRANT UPDATE, DELETE ON crm.event TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.track(text, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.track(text, text, jsonb, timestamptz) TO crm_user;
