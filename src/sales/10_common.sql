-- src/sales/10_common.sql: money arithmetic, settings and the guards shared
-- by quotes, orders and invoices and their lines.
--
-- Rounding rule (quotes, orders and invoices alike): a line's net amount,
-- quantity × unit_price × (1 − discount), and its tax, net × tax_rate, are
-- each rounded half away from zero (numeric round()) to the currency's minor
-- unit; document totals are the sums of the rounded lines.  So the totals
-- always equal what the lines show, and tax is computed per line.
--
-- Money is finite.  numeric holds NaN and ±Infinity, and 'NaN' > 0 is true,
-- so a check such as quantity > 0 lets NaN through.  So quantities, prices
-- and amounts have a CHECK of their own, <table>_<column>_finite, written as
-- column < 'Infinity' (NaN sorts above Infinity; -Infinity fails the
-- column's sign check); document totals have <table>_totals_finite; rates
-- and discounts need nothing more, as NaN fails their 0..1 range too.  The
-- line and payment guards name the constraint in a friendlier error first.
--
-- Totals are derived.  A document's net_total, tax_total and gross_total are
-- the sums of its lines, written by sync_document_totals after every line
-- change; each document's guard hands any other write of them to
-- crm.derived_totals, which refuses it.

CREATE FUNCTION crm.currency_minor_unit(currency text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF',
                      'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0
    WHEN currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
    WHEN currency IN ('CLF', 'UYW') THEN 4
    ELSE 2
END;
COMMENT ON FUNCTION crm.currency_minor_unit(text) IS
    'Decimal places of the currency''s minor unit per ISO 4217: 2 for most (CNY, USD, EUR), 0 for JPY or KRW, 3 for KWD or BHD.';

CREATE FUNCTION crm.round_money(amount numeric, currency text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.round(amount, crm.currency_minor_unit(currency));
COMMENT ON FUNCTION crm.round_money(numeric, text) IS
    'The amount rounded half away from zero to the currency''s minor unit (cents for CNY, whole yen for JPY).';

CREATE FUNCTION crm.line_net(quantity numeric, unit_price numeric, discount numeric, currency text)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN crm.round_money(quantity * unit_price * (1 - discount), currency);
COMMENT ON FUNCTION crm.line_net(numeric, numeric, numeric, text) IS
    'Net amount of a line: quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';

CREATE FUNCTION crm.line_tax(quantity numeric, unit_price numeric, discount numeric, tax_rate numeric,
                             currency text)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN crm.round_money(crm.line_net(quantity, unit_price, discount, currency) * tax_rate, currency);
COMMENT ON FUNCTION crm.line_tax(numeric, numeric, numeric, numeric, text) IS
    'Tax of a line: its rounded net amount × tax_rate, rounded to the currency''s minor unit.';

-- Settings (GUCs and the time_zone setting, read in src/sales/settings.c).
CREATE FUNCTION crm.quote_default_valid_until() RETURNS date
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_quote_default_valid_until';
COMMENT ON FUNCTION crm.quote_default_valid_until() IS
    'Today plus crm.quote_valid_days (default 30): the valid_until of a new quote.';

CREATE FUNCTION crm.default_tax_rate() RETURNS numeric
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_default_tax_rate';
COMMENT ON FUNCTION crm.default_tax_rate() IS
    'The setting crm.default_tax_rate (default 0): the tax rate of a new quote line that gives none.';

CREATE FUNCTION crm.invoice_default_due_date(issue_date date) RETURNS date
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_invoice_default_due_date';
COMMENT ON FUNCTION crm.invoice_default_due_date(date) IS
    'The issue date plus crm.invoice_payment_days (default 30): the due date of an invoice issued without one.';

CREATE FUNCTION crm.invoice_calendar_date(at timestamptz) RETURNS date
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_invoice_calendar_date';
COMMENT ON FUNCTION crm.invoice_calendar_date(timestamptz) IS
    'The date of a moment in the company''s time zone (the time_zone setting): how invoices are dated.';

-- Helpers of the guard triggers below.
-- A merge of duplicates (crm.merge_contacts / crm.merge_accounts, src/quality)
-- moves a document's customer from the merged row to the kept one: the one
-- change of customer a sent, invoiced or issued document lets through.
CREATE FUNCTION crm.merge_moves(column_name text, old_value jsonb, new_value jsonb) RETURNS boolean
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'crm_merge_moves';
COMMENT ON FUNCTION crm.merge_moves(text, jsonb, jsonb) IS
    'True while this session''s merge of duplicates moves column_name from the merged id (old_value) to the kept one.';

CREATE FUNCTION crm.changed_columns(old_row jsonb, new_row jsonb, allowed text[]) RETURNS text[]
LANGUAGE sql VOLATILE PARALLEL RESTRICTED
RETURN ARRAY(SELECT n.key FROM pg_catalog.jsonb_each(new_row) AS n
              WHERE n.value IS DISTINCT FROM old_row -> n.key AND n.key <> ALL (allowed)
                AND NOT crm.merge_moves(n.key, old_row -> n.key, n.value)
              ORDER BY n.key);
COMMENT ON FUNCTION crm.changed_columns(jsonb, jsonb, text[]) IS
    'Names of the columns whose values differ between two rows (as jsonb), except the allowed ones and a reference '
    'a merge of duplicates is moving, sorted.';

-- The second half of every line guard (quote_item, sales_order_item,
-- invoice_line), once the guard has locked the line's document (the
-- quote, sales order or invoice document_id, in document_currency) and
-- checked that its lines may change: the line takes the document's
-- currency, its product must be priced in it, price and description
-- default to the product's, and its values are checked before the table's
-- CHECK constraints (which stay as the backstop), to say what is wrong and
-- how to fix it; the constraint reported is the one the value breaks.
-- Returns the three columns it fills in.
CREATE FUNCTION crm.complete_line(line_table text, document text, document_id bigint, document_currency text,
                                  INOUT currency text, product_id bigint, INOUT unit_price numeric,
                                  INOUT description text, quantity numeric, discount numeric, tax_rate numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    product record;
    line text;
BEGIN
    currency := coalesce(currency, document_currency);
    IF currency <> document_currency THEN
        RAISE EXCEPTION 'a line in % cannot be added to % %, which is in %', currency, document, document_id,
                        document_currency
            USING ERRCODE = 'check_violation',
                  HINT = format('Leave currency out: lines take the %s''s.', document);
    END IF;
    SELECT p.currency, p.sku, p.unit_price, p.name INTO product
      FROM crm.product p WHERE p.id = complete_line.product_id;
    IF FOUND AND product.currency <> document_currency THEN
        RAISE EXCEPTION 'product "%" is priced in %, % % is in %', product.sku, product.currency, document, document_id,
                        document_currency
            USING ERRCODE = 'check_violation',
                  DETAIL = 'Every line of a quote, order or invoice is in the document''s currency.',
                  HINT = 'Use products priced in that currency, or change the document''s currency while it has no lines.';
    END IF;
    unit_price := coalesce(unit_price, product.unit_price);
    description := coalesce(description, product.name);

    line := format('Line "%s" of %s %s', description, document, document_id);
    -- NaN passes quantity > 0 (it sorts above every number), so it is refused first
    IF NOT quantity < 'Infinity' THEN
        RAISE EXCEPTION 'quantity must be a finite number'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_quantity_finite',
                  DETAIL = format('%s has quantity %s.', line, quantity),
                  HINT = 'NaN and Infinity are not quantities.';
    END IF;
    IF NOT unit_price < 'Infinity' THEN
        RAISE EXCEPTION 'unit price must be a finite number'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_unit_price_finite',
                  DETAIL = format('%s has unit price %s.', line, unit_price),
                  HINT = 'NaN and Infinity are not amounts of money.';
    END IF;
    IF quantity <= 0 THEN
        RAISE EXCEPTION 'quantity must be more than 0'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_quantity_positive',
                  DETAIL = format('%s has quantity %s.', line, quantity),
                  HINT = 'Remove the line instead; returns and credits are not lines of a sale.';
    END IF;
    IF unit_price < 0 THEN
        RAISE EXCEPTION 'unit price must not be negative'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_unit_price_not_negative',
                  DETAIL = format('%s has unit price %s.', line, unit_price),
                  HINT = 'Give a price reduction as a discount.';
    END IF;
    -- a NaN discount or tax rate fails these too: NaN sorts above 1
    IF discount < 0 OR discount > 1 THEN
        RAISE EXCEPTION 'discount must be between 0 and 1'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_discount_range',
                  DETAIL = format('%s has discount %s.', line, discount),
                  HINT = 'A discount is the fraction taken off the price: 0.1 is 10% off.';
    END IF;
    IF tax_rate < 0 OR tax_rate > 1 THEN
        RAISE EXCEPTION 'tax rate must be between 0 and 1'
            USING ERRCODE = 'check_violation', CONSTRAINT = line_table || '_tax_rate_range',
                  DETAIL = format('%s has tax rate %s.', line, tax_rate),
                  HINT = 'A tax rate is a fraction of the net amount: 0.06 is 6%.';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.complete_line(text, text, bigint, text, text, bigint, numeric, text, numeric, numeric, numeric) IS
    'Shared by the line guards of quotes, orders and invoices: fills in a line''s currency, price and description '
    'from its document and product, and raises check_violation, naming the constraint, for another currency, '
    'a product priced in another currency, a quantity or price that is NaN or infinite, a quantity not above 0, '
    'a negative price, or a discount or tax rate outside 0..1.';

-- The sums of a document's lines: document is quote, sales_order or invoice.
CREATE FUNCTION crm.line_totals(document text, document_id bigint, OUT net_total numeric, OUT tax_total numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE document
    WHEN 'quote' THEN
        SELECT coalesce(sum(i.net_amount), 0), coalesce(sum(i.tax_amount), 0) INTO net_total, tax_total
          FROM crm.quote_item i WHERE i.quote_id = document_id;
    WHEN 'sales_order' THEN
        SELECT coalesce(sum(i.net_amount), 0), coalesce(sum(i.tax_amount), 0) INTO net_total, tax_total
          FROM crm.sales_order_item i WHERE i.sales_order_id = document_id;
    WHEN 'invoice' THEN
        SELECT coalesce(sum(i.net_amount), 0), coalesce(sum(i.tax_amount), 0) INTO net_total, tax_total
          FROM crm.invoice_line i WHERE i.invoice_id = document_id;
    END CASE;
END
$$;
COMMENT ON FUNCTION crm.line_totals(text, bigint) IS
    'Net and tax totals of the lines of a quote, sales_order or invoice (0 without lines).';

-- Called by the guard of quotes, orders and invoices when a write gives a
-- document totals other than it had (at INSERT: other than 0).  Totals
-- are derived from the lines, so the write is refused unless it gives
-- exactly what the lines add up to (as sync_document_totals does), and
-- the derived values are returned for the guard to store.  Refused rather
-- than silently recomputed: a client that sets gross_total = 1 has to
-- learn that the invoice still asks for 1,999, not believe its write
-- went through.
CREATE FUNCTION crm.derived_totals(document text, document_id bigint, label text,
                                   INOUT net_total numeric, INOUT tax_total numeric, INOUT gross_total numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lines record;
BEGIN
    lines := crm.line_totals(document, document_id);
    IF (net_total, tax_total, gross_total)
       IS DISTINCT FROM (lines.net_total, lines.tax_total, lines.net_total + lines.tax_total) THEN
        RAISE EXCEPTION 'the totals of % are computed from its lines', label
            USING ERRCODE = 'generated_always',
                  DETAIL = format('Its lines add up to net %s, tax %s, gross %s; this writes net %s, tax %s, gross %s.',
                                  lines.net_total, lines.tax_total, lines.net_total + lines.tax_total,
                                  net_total, tax_total, gross_total),
                  HINT = 'Change the lines instead: net_total, tax_total and gross_total follow them.';
    END IF;
    net_total := lines.net_total;
    tax_total := lines.tax_total;
    gross_total := lines.net_total + lines.tax_total;
END
$$;
COMMENT ON FUNCTION crm.derived_totals(text, bigint, text, numeric, numeric, numeric) IS
    'Checks the totals a write gives a quote, sales_order or invoice against the sums of its lines: returns them '
    'when they agree, raises generated_always when they do not.';

-- Document totals follow their lines (quotes, orders and invoices).
CREATE FUNCTION crm.sync_document_totals() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target bigint;
    t record;
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;            -- restored documents keep their saved totals
    END IF;
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) ->> TG_ARGV[0] END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) ->> TG_ARGV[0] END]::bigint[]
    LOOP
        CONTINUE WHEN target IS NULL;
        CASE TG_TABLE_NAME
        WHEN 'quote_item' THEN
            t := crm.line_totals('quote', target);
            UPDATE crm.quote d SET net_total = t.net_total, tax_total = t.tax_total, gross_total = t.net_total + t.tax_total
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net_total, t.tax_total);
        WHEN 'sales_order_item' THEN
            t := crm.line_totals('sales_order', target);
            UPDATE crm.sales_order d
               SET net_total = t.net_total, tax_total = t.tax_total, gross_total = t.net_total + t.tax_total
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net_total, t.tax_total);
        WHEN 'invoice_line' THEN
            t := crm.line_totals('invoice', target);
            UPDATE crm.invoice d SET net_total = t.net_total, tax_total = t.tax_total, gross_total = t.net_total + t.tax_total
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net_total, t.tax_total);
        END CASE;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.sync_document_totals() IS
    'AFTER row trigger on quote, order and invoice lines (argument: the column referencing the document): '
    'sets the document''s net_total, tax_total and gross_total to the sums of its lines.';

REVOKE EXECUTE ON FUNCTION crm.sync_document_totals() FROM PUBLIC;
