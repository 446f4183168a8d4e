-- src/sales/60_payment.sql: payments against invoices.
--
-- Every write path (crm.record_payment, INSERT, COPY of a bank statement)
-- goes through payment_check, which locks the invoice row first: two
-- payments racing on one invoice are serialised there, and the second is
-- checked against the balance the first left (read again after the lock,
-- including rows inserted earlier by the same statement).  Refused: a draft
-- or void invoice, one already paid, a currency other than the invoice's,
-- an amount that is NaN, infinite, not positive or has more decimals than
-- the currency, and any amount above the balance.  payment_apply then moves the invoice
-- to partially_paid or paid.  Payments are records of money received: their
-- amount, invoice, currency and date never change and they are not deleted.

CREATE TABLE crm.payment (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  bigint NOT NULL REFERENCES crm.invoice ON DELETE RESTRICT,
    amount      numeric NOT NULL CONSTRAINT payment_amount_positive CHECK (amount > 0)
                CONSTRAINT payment_amount_finite CHECK (amount < 'Infinity'),
    currency    crm.currency_code NOT NULL,
    paid_at     timestamptz NOT NULL DEFAULT now(),
    method      text,
    reference   text,
    owner       name NOT NULL DEFAULT current_user,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT payment_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.payment', '');
SELECT pg_catalog.pg_extension_config_dump('crm.payment_id_seq', '');
CREATE INDEX payment_invoice_id_idx ON crm.payment (invoice_id);
CREATE INDEX payment_paid_at_idx ON crm.payment (paid_at);
CREATE TRIGGER payment_set_updated_at BEFORE UPDATE ON crm.payment
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.payment IS
    'Money received against an issued invoice; never more than its balance. Amount, invoice, currency and date are fixed.';
COMMENT ON COLUMN crm.payment.amount IS 'Amount received, more than 0, in the invoice''s currency.';
COMMENT ON COLUMN crm.payment.currency IS 'The invoice''s currency (filled in when not given; another one is refused).';
COMMENT ON COLUMN crm.payment.paid_at IS 'When the money was received.';
COMMENT ON COLUMN crm.payment.method IS 'How it was paid: bank transfer, Alipay, card, ... (free text).';
COMMENT ON COLUMN crm.payment.reference IS 'The bank or payment provider''s reference.';
COMMENT ON COLUMN crm.payment.id IS
    'Identity of the payment, assigned by the database; crm.record_payment returns it.';
COMMENT ON COLUMN crm.payment.invoice_id IS
    'The invoice paid (crm.invoice.id); an invoice with payments cannot be deleted.';
COMMENT ON COLUMN crm.payment.owner IS
    'The role responsible for the payment (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.payment.attributes IS
    'The user''s own fields for the payment, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.payment.created_at IS 'When the payment was inserted (now() unless given).';
COMMENT ON COLUMN crm.payment.updated_at IS
    'When the payment last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE FUNCTION crm.payment_check() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    inv record;
    label text;
    paid numeric;
    changed text[];
BEGIN
    IF crm.restoring() THEN
        RETURN coalesce(NEW, OLD);  -- restore mode: rows as saved
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment % cannot be deleted', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Payments are records of money received and stay on the books.';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
                                       ARRAY['method', 'reference', 'owner', 'attributes', 'updated_at']);
        IF changed <> '{}' THEN
            RAISE EXCEPTION 'payment % cannot be changed that way', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Its amount, invoice, currency and date are fixed; this update changes %s.',
                                      array_to_string(changed, ', ')),
                      HINT = 'Only method, reference, owner and attributes can be corrected.';
        END IF;
        RETURN NEW;
    END IF;

    SELECT i.id, i.number, i.status, i.currency, i.gross_total INTO inv
      FROM crm.invoice i WHERE i.id = NEW.invoice_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;             -- the foreign key reports the missing invoice
    END IF;
    label := coalesce(inv.number, inv.id::text);
    NEW.currency := coalesce(NEW.currency, inv.currency);
    IF inv.status = 'draft' THEN
        RAISE EXCEPTION 'invoice % is a draft', label
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only issued invoices can be paid.',
                  HINT = 'Issue it first (status = ''issued''); it then gets its number.';
    ELSIF inv.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is void', label
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'A void invoice is not owed.',
                  HINT = 'Record the payment against the invoice that replaced it.';
    ELSIF inv.status = 'paid' THEN
        RAISE EXCEPTION 'invoice % is already paid', label
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_within_balance',
                  DETAIL = format('%s %s was paid in full.', inv.gross_total, inv.currency);
    END IF;
    -- NaN passes amount > 0 (it sorts above every number), so it is refused first
    IF NOT NEW.amount < 'Infinity' THEN
        RAISE EXCEPTION 'payment amount must be a finite number'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_amount_finite',
                  DETAIL = format('The amount given for invoice %s is %s.', label, NEW.amount),
                  HINT = 'NaN and Infinity are not amounts of money.';
    END IF;
    IF NEW.amount <= 0 THEN
        RAISE EXCEPTION 'payment amount must be more than 0'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_amount_positive',
                  DETAIL = format('The amount given for invoice %s is %s.', label, NEW.amount),
                  HINT = 'Payments record money received; refunds are settled outside crm.';
    END IF;
    IF NEW.currency <> inv.currency THEN
        RAISE EXCEPTION 'payment in % does not match invoice %, which is in %', NEW.currency, label, inv.currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_currency_matches_invoice',
                  HINT = 'Record the amount received in the invoice''s currency.';
    END IF;
    IF NEW.amount <> crm.round_money(NEW.amount, inv.currency) THEN
        RAISE EXCEPTION 'payment of % has more decimals than % allows', NEW.amount, inv.currency
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s amounts have %s decimals.', inv.currency, crm.currency_minor_unit(inv.currency));
    END IF;
    NEW.amount := crm.round_money(NEW.amount, inv.currency);     -- the currency's scale: 1000 becomes 1000.00
    -- after the lock: the committed balance, plus rows this statement inserted before
    SELECT coalesce(sum(p.amount), 0) INTO paid FROM crm.payment p WHERE p.invoice_id = inv.id;
    IF NEW.amount > inv.gross_total - paid THEN
        RAISE EXCEPTION 'payment of % % would overpay invoice %', NEW.amount, inv.currency, label
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_within_balance',
                  DETAIL = format('The invoice is for %s %s, of which %s is paid: %s is due.',
                                  inv.gross_total, inv.currency, crm.round_money(paid, inv.currency),
                                  inv.gross_total - paid),
                  HINT = 'Record at most the balance due.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.payment_check() IS
    'BEFORE trigger on crm.payment: locks the invoice and refuses draft, void or paid invoices, another currency, '
    'an amount that is NaN, infinite or not positive, and overpayment; payments themselves cannot be changed or deleted.';

CREATE FUNCTION crm.payment_apply() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restore mode: invoices keep their saved status
    END IF;
    UPDATE crm.invoice i
       SET amount_paid = t.paid,
           status = CASE WHEN t.paid >= i.gross_total THEN 'paid' ELSE 'partially_paid' END
      FROM (SELECT coalesce(sum(p.amount), 0) AS paid FROM crm.payment p WHERE p.invoice_id = NEW.invoice_id) t
     WHERE i.id = NEW.invoice_id AND i.amount_paid <> t.paid;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.payment_apply() IS
    'AFTER INSERT trigger on crm.payment: moves the invoice to partially_paid or paid.';

CREATE TRIGGER payment_check BEFORE INSERT OR UPDATE OR DELETE ON crm.payment
    FOR EACH ROW EXECUTE FUNCTION crm.payment_check();
CREATE TRIGGER payment_apply AFTER INSERT ON crm.payment
    FOR EACH ROW EXECUTE FUNCTION crm.payment_apply();
CREATE TRIGGER payment_refuse_truncate BEFORE TRUNCATE ON crm.payment
    FOR EACH STATEMENT EXECUTE FUNCTION crm.refuse_truncate();

CREATE FUNCTION crm.record_payment(invoice_id bigint, amount numeric, paid_at timestamptz DEFAULT now(),
                                   method text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    IF NOT record_payment.amount > '-Infinity' OR NOT record_payment.amount < 'Infinity' THEN
        RAISE EXCEPTION 'payment amount must be a finite number'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The amount given for invoice %s is %s.', record_payment.invoice_id, record_payment.amount),
                  HINT = 'NaN and Infinity are not amounts of money.';
    END IF;
    IF NOT EXISTS (SELECT FROM crm.invoice i WHERE i.id = record_payment.invoice_id) THEN
        RAISE EXCEPTION 'invoice % does not exist', record_payment.invoice_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO crm.payment (invoice_id, amount, paid_at, method)
    VALUES (record_payment.invoice_id, record_payment.amount, coalesce(record_payment.paid_at, now()),
            record_payment.method)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.record_payment(bigint, numeric, timestamptz, text) IS
    'Records money received against an issued invoice (in its currency, at most its balance) and moves it to '
    'partially_paid or paid. Returns the payment id.';

REVOKE EXECUTE ON FUNCTION crm.payment_check(), crm.payment_apply() FROM PUBLIC;
GRANT SELECT ON crm.payment TO crm_reader;
GRANT INSERT, UPDATE ON crm.payment TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.record_payment(bigint, numeric, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.record_payment(bigint, numeric, timestamptz, text) TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.payment_check(), crm.payment_apply() FROM PUBLIC;
