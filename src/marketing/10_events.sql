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
                CHECK (btrim(kind) <> '' AND crm.is_printable(kind) AND octet_length(kind) <= 200),
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

-- The facts crm records as events of their contact, all through one trigger
-- function:
--   deal_stage {deal_id, from, to}: every stage a deal enters (from is null
--     for a new deal); on crm.deal itself, since the engine writes its
--     history rows straight into the heap, where no trigger fires;
--   email_sent {email_id, template_key} / email_bounced {email_id}: the mail
--     worker records an email as sent or failed (a permanent failure counts
--     as a bounce);
--   order_confirmed {order_id, gross_total, currency, skus}: when the order's
--     transaction commits, since its lines are added after the order row (a
--     deferred constraint trigger reads the order as committed);
--   invoice_paid {invoice_id, amount, currency}: an invoice becomes paid;
--   ticket_opened {ticket_id, priority}: a ticket is opened.
-- Each trigger's WHEN clause lets only facts with a contact through.
CREATE FUNCTION crm.fact_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    person bigint := NEW.contact_id;
    event_kind text;
    event_at timestamptz := now();
    event_properties jsonb;
    event_source text := 'sales';
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'deal' THEN
        event_kind := 'deal_stage';
        event_at := NEW.stage_entered_at;
        event_properties := jsonb_build_object('deal_id', NEW.id, 'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.stage END,
                                               'to', NEW.stage);
        event_source := 'pipeline';
    WHEN 'email_outbox' THEN
        event_kind := CASE NEW.status WHEN 'sent' THEN 'email_sent' ELSE 'email_bounced' END;
        event_at := coalesce(NEW.sent_at, now());
        event_properties := CASE NEW.status WHEN 'sent'
                                 THEN jsonb_build_object('email_id', NEW.id, 'template_key', NEW.template_key)
                                 ELSE jsonb_build_object('email_id', NEW.id) END;
        event_source := 'mail';
    WHEN 'sales_order' THEN
        SELECT o.contact_id, o.created_at,
               jsonb_build_object('order_id', o.id, 'gross_total', o.gross_total, 'currency', o.currency,
                                  'skus', coalesce((SELECT jsonb_agg(p.sku ORDER BY i.id)
                                                      FROM crm.sales_order_item i
                                                      JOIN crm.product p ON p.id = i.product_id
                                                     WHERE i.sales_order_id = o.id), '[]'))
          INTO person, event_at, event_properties
          FROM crm.sales_order o WHERE o.id = NEW.id;
        IF person IS NULL THEN
            RETURN NULL;        -- deleted again, or its contact removed, before the commit
        END IF;
        event_kind := 'order_confirmed';
    WHEN 'invoice' THEN
        event_kind := 'invoice_paid';
        event_properties := jsonb_build_object('invoice_id', NEW.id, 'amount', NEW.gross_total, 'currency', NEW.currency);
    WHEN 'ticket' THEN
        event_kind := 'ticket_opened';
        event_at := NEW.created_at;
        event_properties := jsonb_build_object('ticket_id', NEW.id, 'priority', NEW.priority);
    END CASE;
    INSERT INTO crm.event (contact_id, kind, occurred_at, properties, source)
    VALUES (person, event_kind, event_at, event_properties, event_source);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.fact_event() FROM PUBLIC;
COMMENT ON FUNCTION crm.fact_event() IS
    'AFTER trigger on crm.deal, crm.email_outbox, crm.sales_order (deferred to commit), crm.invoice and crm.ticket: '
    'the deal_stage, email_sent / email_bounced, order_confirmed, invoice_paid and ticket_opened events of a contact.';
CREATE TRIGGER deal_stage_event_insert AFTER INSERT ON crm.deal
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.fact_event();
CREATE TRIGGER deal_stage_event_update AFTER UPDATE ON crm.deal
    FOR EACH ROW
    WHEN (NEW.contact_id IS NOT NULL
          AND (OLD.stage IS DISTINCT FROM NEW.stage OR OLD.pipeline_id IS DISTINCT FROM NEW.pipeline_id))
    EXECUTE FUNCTION crm.fact_event();
CREATE TRIGGER email_outcome_event AFTER UPDATE OF status ON crm.email_outbox
    FOR EACH ROW
    WHEN (NEW.contact_id IS NOT NULL AND NEW.status IN ('sent', 'failed') AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION crm.fact_event();
CREATE CONSTRAINT TRIGGER order_confirmed_event AFTER INSERT ON crm.sales_order
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.fact_event();
CREATE TRIGGER invoice_paid_event AFTER UPDATE OF status ON crm.invoice
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status IS DISTINCT FROM 'paid' AND NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.fact_event();
CREATE TRIGGER ticket_opened_event AFTER INSERT ON crm.ticket
    FOR EACH ROW WHEN (NEW.contact_id IS NOT NULL)
    EXECUTE FUNCTION crm.fact_event();

REVOKE ALL ON crm.event FROM PUBLIC;
GRANT SELECT ON crm.event TO crm_reader;
GRANT INSERT ON crm.event TO crm_user;
GRANT UPDATE, DELETE ON crm.event TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.track(text, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.track(text, text, jsonb, timestamptz) TO crm_user;
