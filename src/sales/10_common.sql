-- src/sales/10_common.sql: money arithmetic, settings and helpers shared by quotes,
-- orders and invoices.
--
-- Rounding rule (quotes, orders and invoices alike): a line's net amount,
-- quantity × unit_price × (1 − discount), and its tax, net × tax_rate, are
-- each rounded half away from zero (numeric round()) to the currency's minor
-- unit; document totals are the sums of the rounded lines.  So the totals
-- always equal what the lines show, and tax is computed per line.

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

-- Settings (GUCs defined in src/sales/settings.c).
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
    'The date of a moment in crm.invoice_time_zone (the session''s TimeZone when empty): how invoices are dated.';

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

-- The product of a quote, order or invoice line: priced in the document's
-- currency, else check_violation.  Returns its price and name for defaults.
CREATE FUNCTION crm.line_product(product_id bigint, currency text, document text,
                                 OUT unit_price numeric, OUT name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    product_currency text;
    product_sku text;
BEGIN
    SELECT p.currency, p.sku, p.unit_price, p.name INTO product_currency, product_sku, unit_price, name
      FROM crm.product p WHERE p.id = line_product.product_id;
    IF FOUND AND product_currency <> currency THEN
        RAISE EXCEPTION 'product "%" is priced in %, % is in %', product_sku, product_currency, document, currency
            USING ERRCODE = 'check_violation',
                  DETAIL = 'Every line of a quote, order or invoice is in the document''s currency.',
                  HINT = 'Use products priced in that currency, or change the document''s currency while it has no lines.';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.line_product(bigint, text, text) IS
    'Price and name of a line''s product; raises check_violation when the product is priced in another currency than the document.';

-- The values of a quote, order or invoice line, checked before the table's
-- CHECK constraints (which stay as the backstop) to say what is wrong and
-- how to fix it; the constraint reported is the one the value breaks.
CREATE FUNCTION crm.check_line_values(quantity numeric, unit_price numeric, discount numeric, tax_rate numeric,
                                      line_table text, line text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
COMMENT ON FUNCTION crm.check_line_values(numeric, numeric, numeric, numeric, text, text) IS
    'Raises check_violation, with the line and the constraint named, for a quantity not above 0, a negative price, '
    'or a discount or tax rate outside 0..1.';
