-- src/sales/50_invoice.sql: invoices with gapless per-year numbers.
--
-- crm.issue_invoice(order_id) bills a whole order: it creates a draft with
-- the order's lines and moves it to issued, which is when the invoice gets
-- its number INV-<year>-<6 digits>, its issue date and its due date.  Then
-- payments move it to partially_paid and paid; an unpaid invoice can be
-- voided instead.  Status follows the 'invoice' workflow through the C
-- engine; invoice_guard keeps issued invoices unchanged except for the
-- columns their moves set, and refuses to delete them.
--
-- Issued is final by rule, not by configuration: whatever moves crm_admin
-- adds to crm.stage_transition, invoice_guard lets an invoice only go
-- forward along the moves below (draft → issued | void, issued →
-- partially_paid | paid | void, partially_paid → paid), so an issued
-- invoice never returns to draft and its number, lines and amounts never
-- change.  Its totals are the sums of its lines (10_common.sql), and it
-- needs lines to be issued.
--
-- Gapless numbering: one counter row per year, locked (SELECT ... FOR
-- UPDATE) and incremented by the issuing transaction.  The lock is held
-- until that transaction ends, so a concurrent issuer waits and then takes
-- the next number; a rollback undoes the increment with the invoice, so the
-- number is reused and no gap appears.  The number is taken last (the
-- draft and its lines exist before), to hold the lock briefly.  The year is
-- that of the issue date, which is the calendar date, in the company's time
-- zone (the time_zone setting), of the moment the number is taken: read
-- once to pick the year's counter, again once its lock is held.  If the
-- year turned while waiting (New Year's midnight), the issuer moves on to
-- the new year's counter, so numbers and issue dates rise together within
-- a year.

CREATE TABLE crm.invoice_number_counter (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    year        integer NOT NULL CONSTRAINT invoice_number_counter_year_key UNIQUE
                CONSTRAINT invoice_number_counter_year_range CHECK (year BETWEEN 1000 AND 9999),
    last_number integer NOT NULL
                CONSTRAINT invoice_number_counter_range CHECK (last_number BETWEEN 0 AND 999999),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_number_counter', '');
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_number_counter_id_seq', '');
CREATE TRIGGER invoice_number_counter_set_updated_at BEFORE UPDATE ON crm.invoice_number_counter
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.invoice_number_counter IS
    'Last invoice number used per year; locked and incremented by the transaction issuing an invoice.';
COMMENT ON COLUMN crm.invoice_number_counter.id IS 'Identity of the row, assigned by the database.';
COMMENT ON COLUMN crm.invoice_number_counter.year IS
    'The calendar year the numbers belong to (INV-<year>-...), in the company''s time zone.';
COMMENT ON COLUMN crm.invoice_number_counter.last_number IS
    'The last number issued in year, 0..999999: the next invoice issued that year gets last_number + 1.';
COMMENT ON COLUMN crm.invoice_number_counter.created_at IS 'When the row was inserted (now() unless given).';
COMMENT ON COLUMN crm.invoice_number_counter.updated_at IS
    'When the row last changed (set by crm.set_updated_at, each time a number is taken).';

CREATE TABLE crm.invoice (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number            text CONSTRAINT invoice_number_key UNIQUE
                      CONSTRAINT invoice_number_format CHECK (number ~ '^INV-[0-9]{4}-[0-9]{6}$'),
    sales_order_id    bigint REFERENCES crm.sales_order ON DELETE RESTRICT,
    account_id        bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    currency          crm.currency_code NOT NULL,
    issue_date        date,
    due_date          date,
    net_total         numeric NOT NULL DEFAULT 0,
    tax_total         numeric NOT NULL DEFAULT 0,
    gross_total       numeric NOT NULL DEFAULT 0,
    amount_paid       numeric NOT NULL DEFAULT 0,
    void_reason       text,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT invoice_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_id_currency_key UNIQUE (id, currency),
    CONSTRAINT invoice_customer_given CHECK (account_id IS NOT NULL OR contact_id IS NOT NULL),
    CONSTRAINT invoice_number_with_issue_date CHECK ((number IS NULL) = (issue_date IS NULL)),
    CONSTRAINT invoice_number_year CHECK (substr(number, 5, 4)::integer = extract(year FROM issue_date)),
    CONSTRAINT invoice_due_after_issue CHECK (due_date >= issue_date),
    CONSTRAINT invoice_amount_paid_range CHECK (amount_paid >= 0 AND amount_paid <= gross_total),
    CONSTRAINT invoice_totals_finite CHECK (net_total > '-Infinity' AND net_total < 'Infinity'
                                            AND tax_total > '-Infinity' AND tax_total < 'Infinity'
                                            AND gross_total > '-Infinity' AND gross_total < 'Infinity'
                                            AND amount_paid < 'Infinity')
);
SELECT pg_catalog.pg_extension_config_dump('crm.invoice', '');
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_id_seq', '');
CREATE INDEX invoice_sales_order_id_idx ON crm.invoice (sales_order_id);
CREATE UNIQUE INDEX invoice_one_live_per_order ON crm.invoice (sales_order_id) WHERE status <> 'void';
CREATE INDEX invoice_account_id_idx ON crm.invoice (account_id);
CREATE INDEX invoice_contact_id_idx ON crm.invoice (contact_id);
CREATE INDEX invoice_open_due_idx ON crm.invoice (due_date) WHERE status IN ('issued', 'partially_paid');
COMMENT ON TABLE crm.invoice IS
    'Invoices; status draft → issued → partially_paid → paid, or void (workflow ''invoice''). Issued invoices are '
    'immutable except for their status, and are voided, never deleted.';
COMMENT ON COLUMN crm.invoice.number IS 'INV-<year>-<6 digits>, gapless per year, assigned on issue; NULL for drafts.';
COMMENT ON COLUMN crm.invoice.sales_order_id IS 'The order billed; at most one invoice per order that is not void.';
COMMENT ON COLUMN crm.invoice.account_id IS 'The customer company billed; NULL when the customer is a person (contact_id).';
COMMENT ON COLUMN crm.invoice.contact_id IS
    'Who receives the invoice and payment notices (the deal''s contact); the customer billed when there is no account.';
COMMENT ON COLUMN crm.invoice.status IS 'draft, issued, partially_paid, paid or void; payments set the paid states.';
COMMENT ON COLUMN crm.invoice.status_entered_at IS 'When the invoice entered its status (set by the engine).';
COMMENT ON COLUMN crm.invoice.closed_at IS 'When it was paid in full or voided (set by the engine).';
COMMENT ON COLUMN crm.invoice.issue_date IS 'Date of issue in the company''s time zone (setting time_zone); its year is the number''s year.';
COMMENT ON COLUMN crm.invoice.due_date IS 'Payment due date; issue date + crm.invoice_payment_days unless set on the draft.';
COMMENT ON COLUMN crm.invoice.net_total IS 'Sum of the lines'' net amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.invoice.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.invoice.gross_total IS 'net_total + tax_total: the amount due (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.invoice.amount_paid IS 'Sum of its payments (kept by triggers; cannot be written otherwise).';
COMMENT ON COLUMN crm.invoice.void_reason IS 'Why it was voided; required to void.';
COMMENT ON COLUMN crm.invoice.id IS
    'Identity of the invoice, assigned by the database; crm.issue_invoice returns it (customers see number).';
COMMENT ON COLUMN crm.invoice.currency IS
    'Currency of every amount on the invoice, its lines and its payments (ISO 4217); the order''s.';
COMMENT ON COLUMN crm.invoice.owner IS
    'The role responsible for the invoice (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.invoice.attributes IS
    'The user''s own fields for the invoice, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.invoice.created_at IS 'When the invoice was inserted (now() unless given).';
COMMENT ON COLUMN crm.invoice.updated_at IS
    'When the invoice last changed (set by the transition engine, on every UPDATE).';

CREATE TABLE crm.invoice_line (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id   bigint NOT NULL,
    currency     crm.currency_code NOT NULL,
    product_id   bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description  text NOT NULL,
    quantity     numeric NOT NULL CONSTRAINT invoice_line_quantity_positive CHECK (quantity > 0)
                 CONSTRAINT invoice_line_quantity_finite CHECK (quantity < 'Infinity'),
    unit_price   numeric NOT NULL CONSTRAINT invoice_line_unit_price_not_negative CHECK (unit_price >= 0)
                 CONSTRAINT invoice_line_unit_price_finite CHECK (unit_price < 'Infinity'),
    discount     numeric NOT NULL DEFAULT 0
                 CONSTRAINT invoice_line_discount_range CHECK (discount >= 0 AND discount <= 1),
    tax_rate     numeric NOT NULL DEFAULT crm.default_tax_rate()
                 CONSTRAINT invoice_line_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    net_amount   numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)) STORED,
    tax_amount   numeric GENERATED ALWAYS AS (crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    gross_amount numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)
                                              + crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_line_invoice_fkey FOREIGN KEY (invoice_id, currency)
        REFERENCES crm.invoice (id, currency) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_line', '');
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_line_id_seq', '');
CREATE INDEX invoice_line_invoice_id_idx ON crm.invoice_line (invoice_id);
CREATE INDEX invoice_line_product_id_idx ON crm.invoice_line (product_id);
CREATE TRIGGER invoice_line_set_updated_at BEFORE UPDATE ON crm.invoice_line
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.invoice_line IS
    'Lines of an invoice; editable only while it is a draft. Amounts as on quote lines.';
COMMENT ON COLUMN crm.invoice_line.currency IS 'The invoice''s currency (filled in; a line cannot differ).';
COMMENT ON COLUMN crm.invoice_line.description IS 'Text shown on the line; the product''s name when not given.';
COMMENT ON COLUMN crm.invoice_line.quantity IS 'Units, more than 0.';
COMMENT ON COLUMN crm.invoice_line.unit_price IS 'Price per unit before discount; the product''s price when not given.';
COMMENT ON COLUMN crm.invoice_line.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.invoice_line.tax_rate IS 'Tax as a fraction of the net amount, 0..1.';
COMMENT ON COLUMN crm.invoice_line.net_amount IS 'quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.invoice_line.tax_amount IS 'net_amount × tax_rate, rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.invoice_line.gross_amount IS 'net_amount + tax_amount.';
COMMENT ON COLUMN crm.invoice_line.id IS 'Identity of the line, assigned by the database.';
COMMENT ON COLUMN crm.invoice_line.invoice_id IS
    'The invoice (crm.invoice.id); lines are deleted with a draft.';
COMMENT ON COLUMN crm.invoice_line.product_id IS 'The product billed (crm.product.id).';
COMMENT ON COLUMN crm.invoice_line.created_at IS 'When the line was inserted (now() unless given).';
COMMENT ON COLUMN crm.invoice_line.updated_at IS
    'When the line last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.invoice_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id         bigint NOT NULL REFERENCES crm.invoice ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.invoice_status_history_id_seq', '');
CREATE INDEX invoice_status_history_invoice_idx ON crm.invoice_status_history (invoice_id, changed_at);
COMMENT ON TABLE crm.invoice_status_history IS 'One row per status an invoice entered, written by the engine.';
COMMENT ON COLUMN crm.invoice_status_history.id IS 'Identity of the history row, assigned by the database.';
COMMENT ON COLUMN crm.invoice_status_history.invoice_id IS 'The invoice that moved (crm.invoice.id).';
COMMENT ON COLUMN crm.invoice_status_history.pipeline_id IS
    'The pipeline whose rules allowed the move (crm.pipeline.id): the ''invoice'' workflow.';
COMMENT ON COLUMN crm.invoice_status_history.from_stage IS
    'The status left; NULL for the row written when the invoice was inserted.';
COMMENT ON COLUMN crm.invoice_status_history.to_stage IS 'The status entered.';
COMMENT ON COLUMN crm.invoice_status_history.changed_at IS 'When the invoice entered to_stage.';
COMMENT ON COLUMN crm.invoice_status_history.changed_by IS
    'The role that made the move (the current user of the statement).';
COMMENT ON COLUMN crm.invoice_status_history.time_in_from_stage IS
    'How long the invoice spent in from_stage; NULL for the first row.';
COMMENT ON COLUMN crm.invoice_status_history.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.invoice_status_history.updated_at IS
    'When the row last changed; the engine writes history rows once, so normally created_at.';

-- The next number of the current year, with the issue date it belongs to.
-- Only invoice_guard calls it, inside the issuing transaction.
CREATE FUNCTION crm.take_invoice_number(OUT number text, OUT issue_date date)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    number_year integer;
    last integer;
BEGIN
    LOOP
        number_year := extract(year FROM crm.invoice_calendar_date(clock_timestamp()));
        SELECT c.last_number INTO last FROM crm.invoice_number_counter c WHERE c.year = number_year FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO crm.invoice_number_counter (year, last_number) VALUES (number_year, 0)
            ON CONFLICT (year) DO NOTHING;
            CONTINUE;
        END IF;
        issue_date := crm.invoice_calendar_date(clock_timestamp());
        EXIT WHEN extract(year FROM issue_date) = number_year;
    END LOOP;
    IF last >= 999999 THEN
        RAISE EXCEPTION 'invoice numbers of % are used up', number_year
            USING ERRCODE = 'sequence_generator_limit_exceeded',
                  DETAIL = 'Numbers have six digits: INV-<year>-000001 to INV-<year>-999999.';
    END IF;
    UPDATE crm.invoice_number_counter SET last_number = last + 1 WHERE year = number_year;
    number := format('INV-%s-%s', number_year, lpad((last + 1)::text, 6, '0'));
END
$$;
COMMENT ON FUNCTION crm.take_invoice_number() IS
    'Locks and increments the counter of the issue date''s year; returns the number and the issue date. '
    'Called by invoice_guard when an invoice is issued; the lock lasts until the transaction ends.';

CREATE FUNCTION crm.invoice_guard() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    label text;
    ord record;
    live_invoice text;
    changed text[];
    paid numeric;
    expected text;
    taken record;
    totals record;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN
            RAISE EXCEPTION 'invoice % cannot be deleted', OLD.number
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'An issued invoice keeps its number for the books, so it is voided, never deleted.',
                      HINT = format('Void it: SELECT crm.void_invoice(%s, ''reason'');', OLD.id);
        ELSIF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % cannot be deleted: it is %', OLD.id, OLD.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Only a draft may be deleted; a voided draft stays on record with its reason.';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.number IS NOT NULL OR NEW.issue_date IS NOT NULL THEN
            RAISE EXCEPTION 'invoice numbers and issue dates are assigned on issue'
                USING ERRCODE = 'generated_always',
                      HINT = 'Insert the invoice without number and issue_date, then set status = ''issued''.';
        END IF;
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % cannot start as %', NEW.id, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'New invoices start as drafts and get their number when issued.',
                      HINT = 'Insert it as a draft with its lines, then set status = ''issued'', or call crm.issue_invoice(order_id).';
        END IF;
        IF NEW.sales_order_id IS NOT NULL THEN
            SELECT o.id, o.status, o.account_id, o.contact_id, o.currency, o.cancel_reason, o.closed_at INTO ord
              FROM crm.sales_order o WHERE o.id = NEW.sales_order_id FOR SHARE;
            IF FOUND THEN
                IF ord.status = 'cancelled' THEN
                    RAISE EXCEPTION 'sales order % is cancelled', ord.id
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              DETAIL = format('It was cancelled on %s: %s', to_char(ord.closed_at, 'YYYY-MM-DD'),
                                              rtrim(ord.cancel_reason, '.') || '.'),
                              HINT = 'Cancelled orders are not billed.';
                END IF;
                SELECT coalesce(i.number, 'draft ' || i.id) || ' (' || i.status || ')' INTO live_invoice
                  FROM crm.invoice i WHERE i.sales_order_id = ord.id AND i.status <> 'void' LIMIT 1;
                IF live_invoice IS NOT NULL THEN
                    RAISE EXCEPTION 'sales order % is already invoiced', ord.id
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              DETAIL = format('Invoice %s bills it.', live_invoice),
                              HINT = 'Void that invoice first to bill the order again.';
                END IF;
                NEW.account_id := coalesce(NEW.account_id, ord.account_id);
                NEW.contact_id := coalesce(NEW.contact_id, ord.contact_id);
                NEW.currency := coalesce(NEW.currency, ord.currency);
            END IF;
        END IF;
        IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (0, 0, 0) THEN
            totals := crm.derived_totals('invoice', NEW.id, 'invoice ' || NEW.id, NEW.net_total, NEW.tax_total,
                                         NEW.gross_total);
        END IF;
        RETURN NEW;
    END IF;

    label := coalesce(OLD.number, OLD.id::text);
    IF NEW.status IS DISTINCT FROM OLD.status
       AND (OLD.status, NEW.status) NOT IN (('draft', 'issued'), ('draft', 'void'), ('issued', 'partially_paid'),
                                            ('issued', 'paid'), ('issued', 'void'), ('partially_paid', 'paid')) THEN
        RAISE EXCEPTION 'invoice % cannot move from % to %', label, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invoice_status_forward_only',
                  DETAIL = 'An invoice is issued once and then only moves forward: it never returns to draft, and a '
                           'paid or void invoice stays so, whatever moves crm.stage_transition allows.',
                  HINT = CASE WHEN OLD.status IN ('issued', 'partially_paid')
                         THEN 'To bill differently, void it with crm.void_invoice(invoice_id, reason) and issue a new one.'
                         ELSE 'Issue a new invoice.' END;
    END IF;
    IF OLD.status <> 'draft' THEN
        changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
            ARRAY['status', 'status_entered_at', 'closed_at', 'amount_paid', 'updated_at']
            || CASE WHEN NEW.status = 'void' AND OLD.status <> 'void' THEN ARRAY['void_reason'] ELSE '{}' END);
        IF changed <> '{}' THEN
            RAISE EXCEPTION 'invoice % is % and cannot be changed', label, OLD.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Only its status moves (payments, voiding) change an issued invoice; '
                                      'this update changes %s.', array_to_string(changed, ', ')),
                      HINT = 'Void it with crm.void_invoice(invoice_id, reason) and issue a new one.';
        END IF;
    ELSIF NEW.number IS DISTINCT FROM OLD.number OR NEW.issue_date IS DISTINCT FROM OLD.issue_date THEN
        RAISE EXCEPTION 'invoice numbers and issue dates are assigned on issue'
            USING ERRCODE = 'generated_always',
                  HINT = 'Set status = ''issued'' to give the draft its number.';
    ELSIF NEW.currency <> OLD.currency AND EXISTS (SELECT FROM crm.invoice_line l WHERE l.invoice_id = OLD.id) THEN
        RAISE EXCEPTION 'invoice % has lines in %', label, OLD.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Delete its lines before changing its currency.';
    END IF;
    IF (NEW.net_total, NEW.tax_total, NEW.gross_total) IS DISTINCT FROM (OLD.net_total, OLD.tax_total, OLD.gross_total) THEN
        totals := crm.derived_totals('invoice', OLD.id, 'invoice ' || label, NEW.net_total, NEW.tax_total,
                                     NEW.gross_total);
        NEW.net_total := totals.net_total;
        NEW.tax_total := totals.tax_total;
        NEW.gross_total := totals.gross_total;
    ELSE                        -- equal values keep their stored form (1999.00, not 1999)
        NEW.net_total := OLD.net_total;
        NEW.tax_total := OLD.tax_total;
        NEW.gross_total := OLD.gross_total;
    END IF;

    IF NEW.status = 'issued' AND OLD.status = 'draft' THEN
        IF NOT EXISTS (SELECT FROM crm.invoice_line l WHERE l.invoice_id = OLD.id) THEN
            RAISE EXCEPTION 'invoice % has no lines', label
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'An invoice bills its lines; without lines there is nothing to issue.',
                      HINT = 'Add lines to crm.invoice_line before issuing it.';
        END IF;
        IF NEW.gross_total <= 0 THEN
            RAISE EXCEPTION 'invoice % has nothing to bill', label
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Its total is %s %s.', crm.round_money(NEW.gross_total, NEW.currency),
                                      NEW.currency),
                      HINT = 'Add lines to crm.invoice_line before issuing it.';
        END IF;
        taken := crm.take_invoice_number();
        NEW.number := taken.number;
        NEW.issue_date := taken.issue_date;
        NEW.due_date := coalesce(NEW.due_date, crm.invoice_default_due_date(taken.issue_date));
        label := NEW.number;
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status OR NEW.amount_paid IS DISTINCT FROM OLD.amount_paid THEN
        SELECT coalesce(sum(p.amount), 0) INTO paid FROM crm.payment p WHERE p.invoice_id = OLD.id;
        -- derived from the payments, and refused otherwise, as the totals are
        IF NEW.amount_paid IS DISTINCT FROM OLD.amount_paid AND NEW.amount_paid IS DISTINCT FROM paid THEN
            RAISE EXCEPTION 'the amount paid of invoice % is computed from its payments', label
                USING ERRCODE = 'generated_always',
                      DETAIL = format('Its payments add up to %s; this writes %s.', paid, NEW.amount_paid),
                      HINT = 'Record payments with crm.record_payment(invoice_id, amount); amount_paid follows them.';
        END IF;
        NEW.amount_paid := paid;
        IF NEW.status IN ('issued', 'partially_paid', 'paid') THEN
            expected := CASE WHEN paid >= NEW.gross_total THEN 'paid' WHEN paid > 0 THEN 'partially_paid'
                             ELSE 'issued' END;
            IF NEW.status <> expected THEN
                RAISE EXCEPTION 'invoice % cannot be %', label, NEW.status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'invoice_status_matches_payments',
                          DETAIL = format('%s of %s %s is paid, so it is %s.', crm.round_money(paid, NEW.currency),
                                          NEW.gross_total, NEW.currency, expected),
                          HINT = 'Payments move an invoice: record them with crm.record_payment(invoice_id, amount).';
            END IF;
        ELSIF NEW.status = 'void' AND paid > 0 THEN
            RAISE EXCEPTION 'invoice % has payments and cannot be voided', label
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('%s of %s %s is paid.', paid, NEW.gross_total, NEW.currency),
                      HINT = 'An invoice with payments stays on the books; settle the difference with the customer.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.invoice_guard() IS
    'BEFORE trigger on crm.invoice: drafts only at INSERT (defaults from the order), totals only from the lines, '
    'numbering on issue (not without lines), status moves forward only, issued invoices unchanged except for their '
    'status, status in line with payments, only drafts deleted.';

-- After a move: a paid invoice completes its delivered order once the
-- order is paid in full.
CREATE FUNCTION crm.invoice_after_move() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: rows as saved
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'paid' AND NEW.sales_order_id IS NOT NULL THEN
        UPDATE crm.sales_order o SET status = 'completed'
         WHERE o.id = NEW.sales_order_id AND o.status = 'delivered' AND crm.sales_order_paid_in_full(o.id, o.gross_total);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.invoice_after_move() IS
    'AFTER UPDATE trigger on crm.invoice: when it is paid, its order is completed if already delivered and paid in full.';

CREATE FUNCTION crm.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: the restorer decides
    END IF;
    RAISE EXCEPTION 'table crm.% cannot be truncated', TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Issued invoices and payments are kept for the books.';
END
$$;
COMMENT ON FUNCTION crm.refuse_truncate() IS 'BEFORE TRUNCATE trigger on crm.invoice and crm.payment: refuses.';

CREATE TRIGGER invoice_enforce_transition BEFORE INSERT OR UPDATE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'invoice');
CREATE TRIGGER invoice_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.invoice_guard();
CREATE TRIGGER invoice_record_transition AFTER INSERT OR UPDATE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('crm.invoice_status_history', 'invoice_id', 'status', 'invoice');
CREATE TRIGGER invoice_after_move AFTER UPDATE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.invoice_after_move();
CREATE TRIGGER invoice_refuse_truncate BEFORE TRUNCATE ON crm.invoice
    FOR EACH STATEMENT EXECUTE FUNCTION crm.refuse_truncate();

CREATE FUNCTION crm.invoice_line_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    inv record;
    line record;
    target bigint;
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: an issued invoice's lines as saved
    END IF;
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.invoice_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.invoice_id END]
    LOOP
        CONTINUE WHEN target IS NULL;
        SELECT i.id, i.number, i.status, i.currency INTO inv FROM crm.invoice i WHERE i.id = target FOR NO KEY UPDATE;
        IF FOUND AND inv.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is % and cannot be changed', coalesce(inv.number, inv.id::text), inv.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Its lines change only while it is a draft.',
                      HINT = 'Void it with crm.void_invoice(invoice_id, reason) and issue a new one.';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF inv.id IS NULL THEN
        RETURN NEW;             -- the foreign key reports the missing invoice
    END IF;
    line := crm.complete_line(TG_TABLE_NAME, 'invoice', inv.id, inv.currency, NEW.currency, NEW.product_id,
                              NEW.unit_price, NEW.description, NEW.quantity, NEW.discount, NEW.tax_rate);
    NEW.currency := line.currency;
    NEW.unit_price := line.unit_price;
    NEW.description := line.description;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.invoice_line_guard() IS
    'BEFORE trigger on crm.invoice_line: lines change only on drafts; currency, price and description defaults.';
CREATE TRIGGER invoice_line_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.invoice_line
    FOR EACH ROW EXECUTE FUNCTION crm.invoice_line_guard();
CREATE TRIGGER invoice_line_sync_totals AFTER INSERT OR UPDATE OR DELETE ON crm.invoice_line
    FOR EACH ROW EXECUTE FUNCTION crm.sync_document_totals('invoice_id');

CREATE FUNCTION crm.issue_invoice(order_id bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    new_id bigint;
BEGIN
    SELECT * INTO o FROM crm.sales_order WHERE id = issue_invoice.order_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales order % does not exist', issue_invoice.order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF o.gross_total <= 0 AND o.status <> 'cancelled' THEN
        RAISE EXCEPTION 'sales order % has nothing to bill', o.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Its total is %s %s.', crm.round_money(o.gross_total, o.currency), o.currency);
    END IF;
    INSERT INTO crm.invoice (sales_order_id, account_id, contact_id, currency)
    VALUES (o.id, o.account_id, o.contact_id, o.currency)
    RETURNING id INTO new_id;
    INSERT INTO crm.invoice_line (invoice_id, product_id, description, quantity, unit_price, discount, tax_rate)
    SELECT new_id, i.product_id, i.description, i.quantity, i.unit_price, i.discount, i.tax_rate
      FROM crm.sales_order_item i WHERE i.sales_order_id = o.id ORDER BY i.id;
    UPDATE crm.invoice SET status = 'issued' WHERE id = new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.issue_invoice(bigint) IS
    'Bills a sales order that is not cancelled nor already billed: creates the invoice with the order''s lines and '
    'issues it (gapless number, issue and due date). Returns the invoice id.';

CREATE FUNCTION crm.void_invoice(invoice_id bigint, reason text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    inv record;
BEGIN
    SELECT i.id, i.number, i.status, i.void_reason INTO inv FROM crm.invoice i WHERE i.id = void_invoice.invoice_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invoice % does not exist', void_invoice.invoice_id USING ERRCODE = 'no_data_found';
    END IF;
    IF inv.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is already void', coalesce(inv.number, inv.id::text)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was voided: %s', rtrim(inv.void_reason, '.') || '.');
    END IF;
    UPDATE crm.invoice SET status = 'void', void_reason = reason WHERE id = inv.id;
END
$$;
COMMENT ON FUNCTION crm.void_invoice(bigint, text) IS
    'Voids a draft or an issued, unpaid invoice (the reason is required); it keeps its number.';

GRANT SELECT ON crm.invoice, crm.invoice_line, crm.invoice_status_history, crm.invoice_number_counter TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.invoice, crm.invoice_line TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.take_invoice_number() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm.invoice_guard(), crm.invoice_after_move(), crm.refuse_truncate(), crm.invoice_line_guard()
    FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm.issue_invoice(bigint), crm.void_invoice(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.issue_invoice(bigint), crm.void_invoice(bigint, text) TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.invoice_after_move(), crm.refuse_truncate(), crm.invoice_line_guard() FROM PUBLIC;
