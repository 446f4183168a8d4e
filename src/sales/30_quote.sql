-- src/sales/30_quote.sql: quotes (报价) and their lines.
--
-- A quote is made from a deal (crm.create_quote copies the deal's items),
-- edited while it is a draft, sent, then accepted (crm.accept_quote, in
-- 40_order.sql, which also wins the deal and creates the order), rejected
-- or expired.  Its status follows the 'quote' workflow through the C engine;
-- quote_guard keeps what the customer has seen unchanged once it is sent,
-- its totals equal to the sums of its lines (10_common.sql), and a quote
-- that ever left draft on record.

CREATE TABLE crm.quote (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id           bigint NOT NULL REFERENCES crm.deal ON DELETE RESTRICT,
    account_id        bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    currency          crm.currency_code NOT NULL,
    valid_until       date NOT NULL DEFAULT crm.quote_default_valid_until(),
    net_total         numeric NOT NULL DEFAULT 0,
    tax_total         numeric NOT NULL DEFAULT 0,
    gross_total       numeric NOT NULL DEFAULT 0,
    rejection_reason  text,
    notes             text,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT quote_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quote_id_currency_key UNIQUE (id, currency),
    CONSTRAINT quote_customer_given CHECK (account_id IS NOT NULL OR contact_id IS NOT NULL),
    CONSTRAINT quote_totals_finite CHECK (net_total > '-Infinity' AND net_total < 'Infinity'
                                          AND tax_total > '-Infinity' AND tax_total < 'Infinity'
                                          AND gross_total > '-Infinity' AND gross_total < 'Infinity')
);
SELECT pg_catalog.pg_extension_config_dump('crm.quote', '');
SELECT pg_catalog.pg_extension_config_dump('crm.quote_id_seq', '');
CREATE INDEX quote_deal_id_idx ON crm.quote (deal_id);
CREATE INDEX quote_account_id_idx ON crm.quote (account_id);
CREATE INDEX quote_contact_id_idx ON crm.quote (contact_id);
CREATE INDEX quote_sent_valid_until_idx ON crm.quote (valid_until) WHERE status = 'sent';
CREATE UNIQUE INDEX quote_one_accepted_per_deal ON crm.quote (deal_id) WHERE status = 'accepted';
COMMENT ON TABLE crm.quote IS
    'Quotes (报价) made from deals; status draft → sent → accepted | rejected | expired (workflow ''quote'').';
COMMENT ON COLUMN crm.quote.deal_id IS 'The deal quoted; its account, contact and currency are the defaults.';
COMMENT ON COLUMN crm.quote.account_id IS 'The customer company; NULL when the customer is a person (contact_id).';
COMMENT ON COLUMN crm.quote.contact_id IS 'The person the quote is addressed to; the customer when there is no account.';
COMMENT ON COLUMN crm.quote.status IS 'draft, sent, accepted, rejected or expired; moves follow the ''quote'' workflow.';
COMMENT ON COLUMN crm.quote.status_entered_at IS 'When the quote entered its status (set by the engine).';
COMMENT ON COLUMN crm.quote.closed_at IS 'When it was accepted, rejected or expired (set by the engine).';
COMMENT ON COLUMN crm.quote.valid_until IS
    'Last day the offer can be accepted; today + crm.quote_valid_days by default. May change while draft or sent.';
COMMENT ON COLUMN crm.quote.net_total IS 'Sum of the lines'' net amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.quote.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.quote.gross_total IS 'net_total + tax_total (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.quote.rejection_reason IS 'Why the customer declined; required to reject.';
COMMENT ON COLUMN crm.quote.id IS
    'Identity of the quote, assigned by the database; crm.create_quote returns it.';
COMMENT ON COLUMN crm.quote.currency IS
    'Currency of every amount on the quote and its lines (ISO 4217); the deal''s by default.';
COMMENT ON COLUMN crm.quote.notes IS 'Terms or remarks for the customer, free text.';
COMMENT ON COLUMN crm.quote.owner IS
    'The role responsible for the quote (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.quote.attributes IS
    'The user''s own fields for the quote, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.quote.created_at IS 'When the quote was inserted (now() unless given).';
COMMENT ON COLUMN crm.quote.updated_at IS
    'When the quote last changed (set by the transition engine, on every UPDATE).';

CREATE TABLE crm.quote_item (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id     bigint NOT NULL,
    currency     crm.currency_code NOT NULL,
    product_id   bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description  text NOT NULL,
    quantity     numeric NOT NULL CONSTRAINT quote_item_quantity_positive CHECK (quantity > 0)
                 CONSTRAINT quote_item_quantity_finite CHECK (quantity < 'Infinity'),
    unit_price   numeric NOT NULL CONSTRAINT quote_item_unit_price_not_negative CHECK (unit_price >= 0)
                 CONSTRAINT quote_item_unit_price_finite CHECK (unit_price < 'Infinity'),
    discount     numeric NOT NULL DEFAULT 0
                 CONSTRAINT quote_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    tax_rate     numeric NOT NULL DEFAULT crm.default_tax_rate()
                 CONSTRAINT quote_item_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    net_amount   numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)) STORED,
    tax_amount   numeric GENERATED ALWAYS AS (crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    gross_amount numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)
                                              + crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quote_item_quote_fkey FOREIGN KEY (quote_id, currency)
        REFERENCES crm.quote (id, currency) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('crm.quote_item', '');
SELECT pg_catalog.pg_extension_config_dump('crm.quote_item_id_seq', '');
CREATE INDEX quote_item_quote_id_idx ON crm.quote_item (quote_id);
CREATE INDEX quote_item_product_id_idx ON crm.quote_item (product_id);
CREATE TRIGGER quote_item_set_updated_at BEFORE UPDATE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.quote_item IS
    'Lines of a quote; editable while the quote is a draft. Amounts rounded per line to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.currency IS 'The quote''s currency (filled in; a line cannot differ).';
COMMENT ON COLUMN crm.quote_item.description IS 'Text shown on the line; the product''s name when not given.';
COMMENT ON COLUMN crm.quote_item.quantity IS 'Units, more than 0.';
COMMENT ON COLUMN crm.quote_item.unit_price IS 'Price per unit before discount; the product''s price when not given.';
COMMENT ON COLUMN crm.quote_item.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.quote_item.tax_rate IS 'Tax as a fraction of the net amount, 0..1; crm.default_tax_rate when not given.';
COMMENT ON COLUMN crm.quote_item.net_amount IS 'quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.tax_amount IS 'net_amount × tax_rate, rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.gross_amount IS 'net_amount + tax_amount.';
COMMENT ON COLUMN crm.quote_item.id IS 'Identity of the line, assigned by the database.';
COMMENT ON COLUMN crm.quote_item.quote_id IS 'The quote (crm.quote.id); lines are deleted with it.';
COMMENT ON COLUMN crm.quote_item.product_id IS 'The product quoted (crm.product.id).';
COMMENT ON COLUMN crm.quote_item.created_at IS 'When the line was inserted (now() unless given).';
COMMENT ON COLUMN crm.quote_item.updated_at IS
    'When the line last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.quote_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id           bigint NOT NULL REFERENCES crm.quote ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.quote_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.quote_status_history_id_seq', '');
CREATE INDEX quote_status_history_quote_idx ON crm.quote_status_history (quote_id, changed_at);
COMMENT ON TABLE crm.quote_status_history IS
    'One row per status a quote entered, written by the engine; from_stage is NULL for the row written at INSERT.';
COMMENT ON COLUMN crm.quote_status_history.id IS 'Identity of the history row, assigned by the database.';
COMMENT ON COLUMN crm.quote_status_history.quote_id IS 'The quote that moved (crm.quote.id).';
COMMENT ON COLUMN crm.quote_status_history.pipeline_id IS
    'The pipeline whose rules allowed the move (crm.pipeline.id): the ''quote'' workflow.';
COMMENT ON COLUMN crm.quote_status_history.from_stage IS
    'The status left; NULL for the row written when the quote was inserted.';
COMMENT ON COLUMN crm.quote_status_history.to_stage IS 'The status entered.';
COMMENT ON COLUMN crm.quote_status_history.changed_at IS 'When the quote entered to_stage.';
COMMENT ON COLUMN crm.quote_status_history.changed_by IS
    'The role that made the move (the current user of the statement).';
COMMENT ON COLUMN crm.quote_status_history.time_in_from_stage IS
    'How long the quote spent in from_stage; NULL for the first row.';
COMMENT ON COLUMN crm.quote_status_history.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.quote_status_history.updated_at IS
    'When the row last changed; the engine writes history rows once, so normally created_at.';

-- What a sent quote must keep, and what each move needs.
CREATE FUNCTION crm.quote_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deal record;
    changed text[];
    totals record;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    IF TG_OP = 'DELETE' THEN
        -- a quote moved back to draft by an added rule was still sent once
        IF OLD.status <> 'draft'
           OR EXISTS (SELECT FROM crm.quote_status_history h WHERE h.quote_id = OLD.id AND h.from_stage IS NOT NULL) THEN
            RAISE EXCEPTION 'quote % cannot be deleted: it is %', OLD.id,
                            CASE OLD.status WHEN 'draft' THEN 'no longer a new draft' ELSE OLD.status END
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Only a draft that never left draft may be deleted; a quote the customer has seen stays on record.',
                      HINT = 'Reject it with crm.reject_quote(quote_id, reason), or let it expire.';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        SELECT d.account_id, d.contact_id, d.currency, d.stage, s.kind INTO deal
          FROM crm.deal d JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
         WHERE d.id = NEW.deal_id;
        IF NOT FOUND THEN
            RETURN NEW;         -- the foreign key reports the missing deal
        END IF;
        IF deal.kind = 'lost' THEN
            RAISE EXCEPTION 'deal % is lost', NEW.deal_id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('It is in stage "%s", a lost stage.', deal.stage),
                      HINT = 'Reopen the deal along an allowed move before quoting it.';
        END IF;
        NEW.account_id := coalesce(NEW.account_id, deal.account_id);
        NEW.contact_id := coalesce(NEW.contact_id, deal.contact_id);
        NEW.currency := coalesce(NEW.currency, deal.currency);
        IF NEW.account_id IS NULL AND NEW.contact_id IS NULL THEN
            RAISE EXCEPTION 'deal % has no customer to quote', NEW.deal_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'quote_customer_given',
                      DETAIL = 'Quotes, orders and invoices are addressed to a customer: an account, or a person.',
                      HINT = 'Set the deal''s account_id or contact_id first.';
        END IF;
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'quote % cannot start as %', NEW.id, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'New quotes start as drafts.',
                      HINT = 'Insert it as a draft, add its lines, then send it with crm.send_quote(quote_id).';
        END IF;
        IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (0, 0, 0) THEN
            totals := crm.derived_totals('quote', NEW.id, 'quote ' || NEW.id, NEW.net_total, NEW.tax_total,
                                         NEW.gross_total);
        END IF;
        RETURN NEW;
    END IF;

    changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
        CASE WHEN OLD.status = 'draft'
             THEN ARRAY['account_id', 'contact_id', 'currency', 'valid_until', 'net_total', 'tax_total', 'gross_total',
                        'status', 'status_entered_at', 'closed_at', 'rejection_reason', 'notes', 'owner',
                        'attributes', 'updated_at']
             WHEN OLD.status = 'sent'
             THEN ARRAY['contact_id', 'valid_until', 'status', 'status_entered_at', 'closed_at', 'rejection_reason',
                        'notes', 'owner', 'attributes', 'updated_at']
             ELSE ARRAY['contact_id', 'notes', 'owner', 'attributes', 'updated_at'] END);
    IF changed <> '{}' THEN
        RAISE EXCEPTION 'quote % is % and cannot be changed that way', OLD.id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('This update changes %s. A quote keeps its deal; once sent it keeps its customer, '
                                  'currency and amounts, and once closed its validity too.',
                                  array_to_string(changed, ', ')),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    END IF;
    IF NEW.currency <> OLD.currency AND EXISTS (SELECT FROM crm.quote_item i WHERE i.quote_id = OLD.id) THEN
        RAISE EXCEPTION 'quote % has lines in %', OLD.id, OLD.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Delete its lines before changing its currency.';
    END IF;
    IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (OLD.net_total, OLD.tax_total, OLD.gross_total) THEN
        totals := crm.derived_totals('quote', OLD.id, 'quote ' || OLD.id, NEW.net_total, NEW.tax_total, NEW.gross_total);
        NEW.net_total := totals.net_total;
        NEW.tax_total := totals.tax_total;
        NEW.gross_total := totals.gross_total;
    ELSE                        -- equal values keep their stored form (1999.00, not 1999)
        NEW.net_total := OLD.net_total;
        NEW.tax_total := OLD.tax_total;
        NEW.gross_total := OLD.gross_total;
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status IN ('sent', 'accepted') AND NEW.valid_until < current_date THEN
            RAISE EXCEPTION 'quote % has expired', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('It was valid until %s.', to_char(NEW.valid_until, 'YYYY-MM-DD')),
                      HINT = CASE NEW.status WHEN 'sent' THEN 'Set a later valid_until before sending it.'
                             ELSE 'Extend valid_until if the offer still stands, or make a new quote with crm.create_quote(deal_id).' END;
        END IF;
        IF NEW.status = 'sent' AND NOT EXISTS (SELECT FROM crm.quote_item i WHERE i.quote_id = OLD.id) THEN
            RAISE EXCEPTION 'quote % has no lines', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add lines to crm.quote_item before sending it.';
        END IF;
        IF NEW.status = 'accepted' AND EXISTS (SELECT FROM crm.quote q WHERE q.deal_id = NEW.deal_id
                                                                      AND q.status = 'accepted' AND q.id <> OLD.id) THEN
            RAISE EXCEPTION 'deal % already has an accepted quote', NEW.deal_id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'A deal is won once, by one accepted quote.',
                      HINT = 'Reject the other quotes of the deal instead.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.quote_guard() IS
    'BEFORE trigger on crm.quote: defaults from the deal, drafts only at INSERT and DELETE, sent quotes unchanged, '
    'totals only from the lines, checks per move.';

-- The engine fires first (enforce < guard), so a forbidden move is refused
-- before the guard looks at it.  It also stamps updated_at.
CREATE TRIGGER quote_enforce_transition BEFORE INSERT OR UPDATE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'quote');
CREATE TRIGGER quote_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.quote_guard();
CREATE TRIGGER quote_record_transition AFTER INSERT OR UPDATE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('crm.quote_status_history', 'quote_id', 'status', 'quote');

CREATE FUNCTION crm.quote_item_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    quote record;
    line record;
    target bigint;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.quote_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.quote_id END]
    LOOP
        CONTINUE WHEN target IS NULL;
        SELECT q.id, q.status, q.currency INTO quote FROM crm.quote q WHERE q.id = target FOR NO KEY UPDATE;
        IF FOUND AND quote.status <> 'draft' THEN
            RAISE EXCEPTION 'quote % is %: its lines cannot change', quote.id, quote.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Lines can be added, changed or removed only while the quote is a draft.',
                      HINT = 'Make a new quote with crm.create_quote(deal_id).';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF quote.id IS NULL THEN
        RETURN NEW;             -- the foreign key reports the missing quote
    END IF;
    line := crm.complete_line(TG_TABLE_NAME, 'quote', quote.id, quote.currency, NEW.currency, NEW.product_id,
                              NEW.unit_price, NEW.description, NEW.quantity, NEW.discount, NEW.tax_rate);
    NEW.currency := line.currency;
    NEW.unit_price := line.unit_price;
    NEW.description := line.description;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.quote_item_guard() IS
    'BEFORE trigger on crm.quote_item: lines change only on draft quotes; currency, price and description defaults.';
CREATE TRIGGER quote_item_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.quote_item_guard();

CREATE TRIGGER quote_item_sync_totals AFTER INSERT OR UPDATE OR DELETE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.sync_document_totals('quote_id');

CREATE FUNCTION crm.create_quote(deal_id bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM FROM crm.deal d WHERE d.id = create_quote.deal_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deal % does not exist', create_quote.deal_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO crm.quote (deal_id) VALUES (create_quote.deal_id) RETURNING id INTO new_id;
    INSERT INTO crm.quote_item (quote_id, product_id, quantity, unit_price, discount)
    SELECT new_id, i.product_id, i.quantity, i.unit_price, i.discount
      FROM crm.deal_item i WHERE i.deal_id = create_quote.deal_id ORDER BY i.id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.create_quote(bigint) IS
    'Creates a draft quote for a deal (its account, contact and currency), copying the deal''s items; '
    'valid until today + crm.quote_valid_days. Returns the quote id.';

CREATE FUNCTION crm.send_quote(quote_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.quote SET status = 'sent' WHERE id = send_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', send_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.send_quote(bigint) IS
    'Marks a draft quote as sent to the customer; from then on its lines and amounts are fixed.';

CREATE FUNCTION crm.reject_quote(quote_id bigint, reason text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.quote SET status = 'rejected', rejection_reason = reason WHERE id = reject_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', reject_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.reject_quote(bigint, text) IS
    'Records that the customer declined a sent quote, and why (the reason is required).';

CREATE FUNCTION crm.expire_quotes() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    UPDATE crm.quote SET status = 'expired' WHERE status = 'sent' AND valid_until < current_date;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.expire_quotes() IS
    'Moves every sent quote whose valid_until has passed to expired; returns how many. Schedule it daily (pg_cron).';

REVOKE EXECUTE ON FUNCTION crm.quote_guard(), crm.quote_item_guard() FROM PUBLIC;
GRANT SELECT ON crm.quote, crm.quote_item, crm.quote_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.quote, crm.quote_item TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.create_quote(bigint), crm.send_quote(bigint), crm.reject_quote(bigint, text),
    crm.expire_quotes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_quote(bigint), crm.send_quote(bigint), crm.reject_quote(bigint, text),
    crm.expire_quotes() TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.quote_guard(), crm.quote_item_guard(), crm.sync_document_totals() FROM PUBLIC;
