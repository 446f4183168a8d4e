-- src/sales/40_order.sql: sales orders (订单处理) and delivery (交付).
--
-- crm.accept_quote accepts a sent quote, moves its deal to the won stage and
-- creates the order with the quote's lines.  An order is confirmed, then
-- delivered (crm.deliver_order), and completed by itself once it is both
-- delivered and paid: its paid invoices cover its gross total, which is the
-- sum of its lines (10_common.sql), so no balance is left unbilled.  It can
-- be cancelled before delivery while it has no live (non-void) invoice.  Its
-- status follows the 'sales_order' workflow through the C engine.

CREATE TABLE crm.sales_order (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id          bigint CONSTRAINT sales_order_quote_id_key UNIQUE REFERENCES crm.quote ON DELETE RESTRICT,
    deal_id           bigint REFERENCES crm.deal ON DELETE RESTRICT,
    account_id        bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    currency          crm.currency_code NOT NULL,
    net_total         numeric NOT NULL DEFAULT 0,
    tax_total         numeric NOT NULL DEFAULT 0,
    gross_total       numeric NOT NULL DEFAULT 0,
    delivered_at      timestamptz,
    cancel_reason     text,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT sales_order_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_order_id_currency_key UNIQUE (id, currency),
    CONSTRAINT sales_order_customer_given CHECK (account_id IS NOT NULL OR contact_id IS NOT NULL),
    CONSTRAINT sales_order_totals_finite CHECK (net_total > '-Infinity' AND net_total < 'Infinity'
                                                AND tax_total > '-Infinity' AND tax_total < 'Infinity'
                                                AND gross_total > '-Infinity' AND gross_total < 'Infinity')
);
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order_id_seq', '');
CREATE INDEX sales_order_deal_id_idx ON crm.sales_order (deal_id);
CREATE INDEX sales_order_account_id_idx ON crm.sales_order (account_id);
CREATE INDEX sales_order_contact_id_idx ON crm.sales_order (contact_id);
CREATE INDEX sales_order_created_at_idx ON crm.sales_order (created_at);
COMMENT ON TABLE crm.sales_order IS
    'Sales orders (订单); status confirmed → delivered → completed, or cancelled before delivery (workflow ''sales_order'').';
COMMENT ON COLUMN crm.sales_order.quote_id IS 'The accepted quote it came from (one order per quote); NULL for a direct order.';
COMMENT ON COLUMN crm.sales_order.deal_id IS 'The deal it won.';
COMMENT ON COLUMN crm.sales_order.account_id IS
    'The customer company; invoices go to it. NULL when the customer is a person (contact_id).';
COMMENT ON COLUMN crm.sales_order.contact_id IS
    'The deal''s contact: invoice and payment notices go to this person; the customer when there is no account.';
COMMENT ON COLUMN crm.sales_order.status IS
    'confirmed, delivered, completed or cancelled; completed is set when a delivered order is paid.';
COMMENT ON COLUMN crm.sales_order.status_entered_at IS 'When the order entered its status (set by the engine).';
COMMENT ON COLUMN crm.sales_order.closed_at IS 'When it was completed or cancelled (set by the engine).';
COMMENT ON COLUMN crm.sales_order.net_total IS 'Sum of the lines'' net amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.sales_order.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.sales_order.gross_total IS
    'net_total + tax_total (kept by triggers; cannot be written otherwise): what its paid invoices must cover to complete it.';
COMMENT ON COLUMN crm.sales_order.delivered_at IS 'When the goods or course access were delivered; required to enter delivered.';
COMMENT ON COLUMN crm.sales_order.cancel_reason IS 'Why the order was cancelled; required to cancel.';
COMMENT ON COLUMN crm.sales_order.id IS
    'Identity of the order, assigned by the database; crm.accept_quote returns it.';
COMMENT ON COLUMN crm.sales_order.currency IS
    'Currency of every amount on the order and its lines (ISO 4217); the quote''s.';
COMMENT ON COLUMN crm.sales_order.owner IS
    'The role responsible for the order (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.sales_order.attributes IS
    'The user''s own fields for the order, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.sales_order.created_at IS 'When the order was inserted (now() unless given).';
COMMENT ON COLUMN crm.sales_order.updated_at IS
    'When the order last changed (set by the transition engine, on every UPDATE).';

CREATE TABLE crm.sales_order_item (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sales_order_id bigint NOT NULL,
    currency       crm.currency_code NOT NULL,
    product_id     bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description    text NOT NULL,
    quantity       numeric NOT NULL CONSTRAINT sales_order_item_quantity_positive CHECK (quantity > 0)
                   CONSTRAINT sales_order_item_quantity_finite CHECK (quantity < 'Infinity'),
    unit_price     numeric NOT NULL CONSTRAINT sales_order_item_unit_price_not_negative CHECK (unit_price >= 0)
                   CONSTRAINT sales_order_item_unit_price_finite CHECK (unit_price < 'Infinity'),
    discount       numeric NOT NULL DEFAULT 0
                   CONSTRAINT sales_order_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    tax_rate       numeric NOT NULL DEFAULT crm.default_tax_rate()
                   CONSTRAINT sales_order_item_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    net_amount     numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)) STORED,
    tax_amount     numeric GENERATED ALWAYS AS (crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    gross_amount   numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)
                                                + crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_order_item_order_fkey FOREIGN KEY (sales_order_id, currency)
        REFERENCES crm.sales_order (id, currency) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order_item', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order_item_id_seq', '');
CREATE INDEX sales_order_item_order_idx ON crm.sales_order_item (sales_order_id);
CREATE INDEX sales_order_item_product_id_idx ON crm.sales_order_item (product_id);
CREATE TRIGGER sales_order_item_set_updated_at BEFORE UPDATE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.sales_order_item IS
    'Lines of a sales order; editable while it is confirmed and not invoiced. Amounts as on quote lines.';
COMMENT ON COLUMN crm.sales_order_item.currency IS 'The order''s currency (filled in; a line cannot differ).';
COMMENT ON COLUMN crm.sales_order_item.description IS 'Text shown on the line; the product''s name when not given.';
COMMENT ON COLUMN crm.sales_order_item.quantity IS 'Units, more than 0.';
COMMENT ON COLUMN crm.sales_order_item.unit_price IS 'Price per unit before discount; the product''s price when not given.';
COMMENT ON COLUMN crm.sales_order_item.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.sales_order_item.tax_rate IS 'Tax as a fraction of the net amount, 0..1.';
COMMENT ON COLUMN crm.sales_order_item.net_amount IS 'quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.sales_order_item.tax_amount IS 'net_amount × tax_rate, rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.sales_order_item.gross_amount IS 'net_amount + tax_amount.';
COMMENT ON COLUMN crm.sales_order_item.id IS 'Identity of the line, assigned by the database.';
COMMENT ON COLUMN crm.sales_order_item.sales_order_id IS
    'The order (crm.sales_order.id); lines are deleted with it.';
COMMENT ON COLUMN crm.sales_order_item.product_id IS 'The product ordered (crm.product.id).';
COMMENT ON COLUMN crm.sales_order_item.created_at IS 'When the line was inserted (now() unless given).';
COMMENT ON COLUMN crm.sales_order_item.updated_at IS
    'When the line last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.sales_order_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sales_order_id     bigint NOT NULL REFERENCES crm.sales_order ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.sales_order_status_history_id_seq', '');
CREATE INDEX sales_order_status_history_order_idx ON crm.sales_order_status_history (sales_order_id, changed_at);
COMMENT ON TABLE crm.sales_order_status_history IS
    'One row per status a sales order entered, written by the engine.';
COMMENT ON COLUMN crm.sales_order_status_history.id IS
    'Identity of the history row, assigned by the database.';
COMMENT ON COLUMN crm.sales_order_status_history.sales_order_id IS
    'The order that moved (crm.sales_order.id).';
COMMENT ON COLUMN crm.sales_order_status_history.pipeline_id IS
    'The pipeline whose rules allowed the move (crm.pipeline.id): the ''sales_order'' workflow.';
COMMENT ON COLUMN crm.sales_order_status_history.from_stage IS
    'The status left; NULL for the row written when the order was inserted.';
COMMENT ON COLUMN crm.sales_order_status_history.to_stage IS 'The status entered.';
COMMENT ON COLUMN crm.sales_order_status_history.changed_at IS 'When the order entered to_stage.';
COMMENT ON COLUMN crm.sales_order_status_history.changed_by IS
    'The role that made the move (the current user of the statement).';
COMMENT ON COLUMN crm.sales_order_status_history.time_in_from_stage IS
    'How long the order spent in from_stage; NULL for the first row.';
COMMENT ON COLUMN crm.sales_order_status_history.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.sales_order_status_history.updated_at IS
    'When the row last changed; the engine writes history rows once, so normally created_at.';

-- True when the order's paid invoices cover its gross total: what it takes
-- to complete it (an order of 0 is covered by nothing).
CREATE FUNCTION crm.sales_order_paid_in_full(order_id bigint, gross_total numeric) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT coalesce(sum(i.gross_total), 0) FROM crm.invoice i
             WHERE i.sales_order_id = sales_order_paid_in_full.order_id AND i.status = 'paid')
           >= sales_order_paid_in_full.gross_total;
END
$$;
COMMENT ON FUNCTION crm.sales_order_paid_in_full(bigint, numeric) IS
    'True when the paid invoices of a sales order add up to at least its gross total.';

CREATE FUNCTION crm.sales_order_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    has_source boolean := false;
    changed text[];
    live_invoice text;
    totals record;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'confirmed' OR EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = OLD.id)
           OR EXISTS (SELECT FROM crm.sales_order_status_history h
                       WHERE h.sales_order_id = OLD.id AND h.from_stage IS NOT NULL) THEN
            RAISE EXCEPTION 'sales order % cannot be deleted', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Only a confirmed order that never moved and was never invoiced may be deleted.',
                      HINT = 'Cancel it with crm.cancel_order(order_id, reason) instead.';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.quote_id IS NOT NULL THEN
            SELECT q.deal_id, q.account_id, q.contact_id, q.currency, q.status INTO src
              FROM crm.quote q WHERE q.id = NEW.quote_id;
            has_source := FOUND;
            IF has_source AND src.status <> 'accepted' THEN
                RAISE EXCEPTION 'quote % is %, not accepted', NEW.quote_id, src.status
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Orders come from accepted quotes: call crm.accept_quote(quote_id).';
            END IF;
        ELSIF NEW.deal_id IS NOT NULL THEN
            SELECT d.id AS deal_id, d.account_id, d.contact_id, d.currency INTO src FROM crm.deal d WHERE d.id = NEW.deal_id;
            has_source := FOUND;
        END IF;
        IF has_source THEN
            NEW.deal_id := coalesce(NEW.deal_id, src.deal_id);
            NEW.account_id := coalesce(NEW.account_id, src.account_id);
            NEW.contact_id := coalesce(NEW.contact_id, src.contact_id);
            NEW.currency := coalesce(NEW.currency, src.currency);
        END IF;
        IF NEW.status <> 'confirmed' THEN
            RAISE EXCEPTION 'sales order % cannot start as %', NEW.id, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'New orders start as confirmed.',
                      HINT = 'Record a delivery with crm.deliver_order(order_id).';
        END IF;
        IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (0, 0, 0) THEN
            totals := crm.derived_totals('sales_order', NEW.id, 'sales order ' || NEW.id, NEW.net_total, NEW.tax_total,
                                         NEW.gross_total);
        END IF;
        RETURN NEW;
    END IF;

    SELECT coalesce(i.number, 'draft ' || i.id) INTO live_invoice
      FROM crm.invoice i WHERE i.sales_order_id = OLD.id AND i.status <> 'void' LIMIT 1;
    changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
        CASE WHEN OLD.status = 'confirmed' AND live_invoice IS NULL
             THEN ARRAY['account_id', 'contact_id', 'currency', 'net_total', 'tax_total', 'gross_total']
             ELSE '{}' END
        || ARRAY['contact_id', 'status', 'status_entered_at', 'closed_at', 'delivered_at', 'cancel_reason',
                 'owner', 'attributes', 'updated_at']);
    IF changed <> '{}' THEN
        RAISE EXCEPTION 'sales order % is % and cannot be changed that way', OLD.id,
                        CASE WHEN live_invoice IS NULL THEN OLD.status ELSE 'invoiced' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('This update changes %s. An order keeps its quote and deal; once invoiced or '
                                  'delivered it keeps its customer, currency and amounts.',
                                  array_to_string(changed, ', ')),
                  HINT = CASE WHEN live_invoice IS NULL THEN 'Cancel it and make a new order.'
                         ELSE 'Void its invoice first if the order really has to change.' END;
    END IF;
    IF NEW.currency <> OLD.currency AND EXISTS (SELECT FROM crm.sales_order_item i WHERE i.sales_order_id = OLD.id) THEN
        RAISE EXCEPTION 'sales order % has lines in %', OLD.id, OLD.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Delete its lines before changing its currency.';
    END IF;
    IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (OLD.net_total, OLD.tax_total, OLD.gross_total) THEN
        totals := crm.derived_totals('sales_order', OLD.id, 'sales order ' || OLD.id, NEW.net_total, NEW.tax_total,
                                     NEW.gross_total);
        NEW.net_total := totals.net_total;
        NEW.tax_total := totals.tax_total;
        NEW.gross_total := totals.gross_total;
    ELSE                        -- equal values keep their stored form (1999.00, not 1999)
        NEW.net_total := OLD.net_total;
        NEW.tax_total := OLD.tax_total;
        NEW.gross_total := OLD.gross_total;
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status = 'cancelled' AND live_invoice IS NOT NULL THEN
            RAISE EXCEPTION 'sales order % is invoiced and cannot be cancelled', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Invoice %s is not void.', live_invoice),
                      HINT = 'Void the invoice with crm.void_invoice(invoice_id, reason) first.';
        END IF;
        IF NEW.status = 'delivered' AND NEW.delivered_at > now() THEN
            RAISE EXCEPTION 'sales order % cannot be delivered in the future', OLD.id
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('delivered_at is %s, later than the current time.',
                                      to_char(NEW.delivered_at, 'YYYY-MM-DD HH24:MI:SSOF'));
        END IF;
        IF NEW.status = 'completed' AND NOT crm.sales_order_paid_in_full(OLD.id, NEW.gross_total) THEN
            RAISE EXCEPTION 'sales order % is not paid in full', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('An order is completed when it is delivered and paid invoices cover its total, '
                                      '%s %s; they cover %s.', NEW.gross_total, NEW.currency,
                                      (SELECT coalesce(sum(i.gross_total), 0) FROM crm.invoice i
                                        WHERE i.sales_order_id = OLD.id AND i.status = 'paid')),
                      HINT = 'Bill it with crm.issue_invoice(order_id) and record the payments with '
                             'crm.record_payment(invoice_id, amount); the order then completes by itself.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.sales_order_guard() IS
    'BEFORE trigger on crm.sales_order: defaults from the quote or deal, invoiced orders unchanged, totals only from '
    'the lines, completion only when paid in full, checks per move.';

-- A delivered order whose invoices are paid in full is completed.
CREATE FUNCTION crm.sales_order_complete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: rows as saved
    END IF;
    IF NEW.status = 'delivered' AND OLD.status <> 'delivered'
       AND crm.sales_order_paid_in_full(NEW.id, NEW.gross_total) THEN
        UPDATE crm.sales_order SET status = 'completed' WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.sales_order_complete() IS
    'AFTER UPDATE trigger on crm.sales_order: an order delivered after it was paid in full is completed.';

CREATE TRIGGER sales_order_enforce_transition BEFORE INSERT OR UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'sales_order');
CREATE TRIGGER sales_order_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_guard();
CREATE TRIGGER sales_order_record_transition AFTER INSERT OR UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.sales_order_status_history', 'sales_order_id', 'status', 'sales_order');
-- named to fire after sales_order_record_transition, so the history shows
-- the delivery before the completion it causes
CREATE TRIGGER sales_order_settle AFTER UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_complete();

CREATE FUNCTION crm.sales_order_item_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ord record;
    line record;
    target bigint;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.sales_order_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.sales_order_id END]
    LOOP
        CONTINUE WHEN target IS NULL;
        SELECT o.id, o.status, o.currency INTO ord FROM crm.sales_order o WHERE o.id = target FOR NO KEY UPDATE;
        IF FOUND AND (ord.status <> 'confirmed'
                      OR EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = target AND i.status <> 'void')) THEN
            RAISE EXCEPTION 'sales order % is %: its lines cannot change', ord.id,
                            CASE WHEN ord.status = 'confirmed' THEN 'invoiced' ELSE ord.status END
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Lines change only while the order is confirmed and has no live invoice.';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF ord.id IS NULL THEN
        RETURN NEW;             -- the foreign key reports the missing order
    END IF;
    line := crm.complete_line(TG_TABLE_NAME, 'sales order', ord.id, ord.currency, NEW.currency, NEW.product_id,
                              NEW.unit_price, NEW.description, NEW.quantity, NEW.discount, NEW.tax_rate);
    NEW.currency := line.currency;
    NEW.unit_price := line.unit_price;
    NEW.description := line.description;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.sales_order_item_guard() IS
    'BEFORE trigger on crm.sales_order_item: lines change only on confirmed, uninvoiced orders; defaults.';
CREATE TRIGGER sales_order_item_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_item_guard();
CREATE TRIGGER sales_order_item_sync_totals AFTER INSERT OR UPDATE OR DELETE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.sync_document_totals('sales_order_id');

-- Winning a deal: the shortest path of allowed moves from its stage to a won
-- stage of its pipeline, through open stages, each move made through the
-- engine (so required fields are checked and history is written).
CREATE FUNCTION crm.win_deal(deal_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
    path text[];
    step integer;
BEGIN
    SELECT d.id, d.pipeline_id, d.stage, s.kind, p.name AS pipeline INTO cur
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
      JOIN crm.pipeline p ON p.id = d.pipeline_id
     WHERE d.id = win_deal.deal_id
       FOR NO KEY UPDATE OF d;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deal % does not exist', win_deal.deal_id USING ERRCODE = 'no_data_found';
    END IF;
    IF cur.kind = 'won' THEN
        RETURN cur.stage;
    END IF;
    IF cur.kind = 'lost' THEN
        RAISE EXCEPTION 'deal % is lost', cur.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is in stage "%s" of pipeline "%s".', cur.stage, cur.pipeline),
                  HINT = 'Reopen the deal along an allowed move first, if the customer is back.';
    END IF;
    WITH RECURSIVE walk (stage, kind, path) AS (
        SELECT cur.stage, cur.kind, ARRAY[cur.stage]
        UNION ALL
        SELECT t.to_stage, s.kind, w.path || t.to_stage
          FROM walk w
          JOIN crm.stage_transition t ON t.pipeline_id = cur.pipeline_id AND t.from_stage = w.stage
          JOIN crm.stage s ON s.pipeline_id = cur.pipeline_id AND s.key = t.to_stage
         WHERE w.kind = 'open' AND s.kind <> 'lost' AND t.to_stage <> ALL (w.path)
    )
    SELECT w.path INTO path
      FROM walk w JOIN crm.stage s ON s.pipeline_id = cur.pipeline_id AND s.key = w.stage
     WHERE w.kind = 'won'
     ORDER BY cardinality(w.path), s.position
     LIMIT 1;
    IF path IS NULL THEN
        RAISE EXCEPTION 'deal % cannot reach a won stage from stage "%"', cur.id, cur.stage
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Pipeline "%s" has no allowed moves from "%s" to a won stage through open stages.',
                                  cur.pipeline, cur.stage),
                  HINT = 'Add the moves to crm.stage_transition, or move the deal by hand.';
    END IF;
    FOR step IN 2 .. cardinality(path) LOOP
        UPDATE crm.deal SET stage = path[step] WHERE id = cur.id;
    END LOOP;
    RETURN path[cardinality(path)];
END
$$;
COMMENT ON FUNCTION crm.win_deal(bigint) IS
    'Moves a deal to a won stage of its pipeline along the shortest path of allowed moves through open stages '
    '(each move checked by the engine and recorded in the history); returns the won stage. A won deal stays as it is; '
    'a lost one is refused.';

CREATE FUNCTION crm.accept_quote(quote_id bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q record;
    order_id bigint;
BEGIN
    SELECT * INTO q FROM crm.quote WHERE id = accept_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', accept_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
    -- lock the deal before the quote, in the same order as every other path
    PERFORM FROM crm.deal d WHERE d.id = q.deal_id FOR NO KEY UPDATE;
    SELECT * INTO q FROM crm.quote WHERE id = accept_quote.quote_id FOR NO KEY UPDATE;
    CASE q.status
    WHEN 'accepted' THEN
        SELECT o.id INTO order_id FROM crm.sales_order o WHERE o.quote_id = q.id;
        RAISE EXCEPTION 'quote % is already accepted', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was accepted on %s and became sales order %s.',
                                  to_char(q.closed_at, 'YYYY-MM-DD'), order_id);
    WHEN 'rejected' THEN
        RAISE EXCEPTION 'quote % was rejected', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The customer declined it on %s: %s', to_char(q.closed_at, 'YYYY-MM-DD'),
                                  rtrim(q.rejection_reason, '.') || '.'),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    WHEN 'expired' THEN
        RAISE EXCEPTION 'quote % has expired', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was valid until %s.', to_char(q.valid_until, 'YYYY-MM-DD')),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    WHEN 'draft' THEN
        RAISE EXCEPTION 'quote % has not been sent', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only a quote the customer has received can be accepted.',
                  HINT = format('Send it first with crm.send_quote(%s).', q.id);
    ELSE
        NULL;
    END CASE;

    UPDATE crm.quote SET status = 'accepted' WHERE id = q.id;
    PERFORM crm.win_deal(q.deal_id);
    INSERT INTO crm.sales_order (quote_id, deal_id, account_id, contact_id, currency, owner)
    VALUES (q.id, q.deal_id, q.account_id, q.contact_id, q.currency, q.owner)
    RETURNING id INTO order_id;
    INSERT INTO crm.sales_order_item (sales_order_id, product_id, description, quantity, unit_price, discount, tax_rate)
    SELECT order_id, i.product_id, i.description, i.quantity, i.unit_price, i.discount, i.tax_rate
      FROM crm.quote_item i WHERE i.quote_id = q.id ORDER BY i.id;
    RETURN order_id;
END
$$;
COMMENT ON FUNCTION crm.accept_quote(bigint) IS
    'Accepts a sent, unexpired quote: moves its deal to won (crm.win_deal) and creates a confirmed sales order with '
    'the quote''s lines. Returns the order id.';

CREATE FUNCTION crm.deliver_order(order_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
BEGIN
    SELECT * INTO o FROM crm.sales_order WHERE id = deliver_order.order_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales order % does not exist', deliver_order.order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF o.status = 'cancelled' THEN
        RAISE EXCEPTION 'sales order % is cancelled', o.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was cancelled on %s: %s', to_char(o.closed_at, 'YYYY-MM-DD'),
                                  rtrim(o.cancel_reason, '.') || '.');
    ELSIF o.status <> 'confirmed' THEN
        RAISE EXCEPTION 'sales order % is already delivered', o.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was delivered on %s.', to_char(o.delivered_at, 'YYYY-MM-DD'));
    END IF;
    UPDATE crm.sales_order SET status = 'delivered', delivered_at = now() WHERE id = o.id;
    RETURN (SELECT s.status FROM crm.sales_order s WHERE s.id = o.id);
END
$$;
COMMENT ON FUNCTION crm.deliver_order(bigint) IS
    'Records the delivery of a confirmed order (delivered_at = now()). Returns its new status: delivered, or '
    'completed when it was already paid.';

CREATE FUNCTION crm.cancel_order(order_id bigint, reason text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.sales_order SET status = 'cancelled', cancel_reason = reason WHERE id = cancel_order.order_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales order % does not exist', cancel_order.order_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.cancel_order(bigint, text) IS
    'Cancels a confirmed (undelivered) order that has no live invoice; the reason is required. The deal stays won.';

REVOKE EXECUTE ON FUNCTION crm.sales_order_guard(), crm.sales_order_complete(), crm.sales_order_item_guard() FROM PUBLIC;
GRANT SELECT ON crm.sales_order, crm.sales_order_item, crm.sales_order_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.sales_order, crm.sales_order_item TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.win_deal(bigint), crm.accept_quote(bigint), crm.deliver_order(bigint),
    crm.cancel_order(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.win_deal(bigint), crm.accept_quote(bigint), crm.deliver_order(bigint),
    crm.cancel_order(bigint, text) TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.sales_order_guard(), crm.sales_order_complete(), crm.sales_order_item_guard() FROM PUBLIC;
