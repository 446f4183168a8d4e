-- Before src/core/core.sql is replayed on a 0.1.0 database.
--
-- 1.0.0 refuses what 0.1.0 let in: NaN and Infinity in money (product,
-- deal, document lines, payments, document totals) and control characters
-- in keys and names (pipelines, stages, templates).  The constraints that
-- say so are added below and in the next steps; rows breaking them would
-- stop the upgrade at the first one, so this lists them all first.
DO $check$
DECLARE
    -- table, column, what it must be; the conditions are the 1.0.0 CHECKs
    -- (crm.is_printable does not exist yet: its test is written out)
    rule record;
    bad text;
    problems text[] := '{}';
BEGIN
    FOR rule IN
        SELECT * FROM (VALUES
            ('crm.product', 'unit_price', 'unit_price < ''Infinity'''),
            ('crm.deal', 'amount', 'amount < ''Infinity'''),
            ('crm.deal_item', 'quantity', 'quantity < ''Infinity'''),
            ('crm.deal_item', 'unit_price', 'unit_price < ''Infinity'''),
            ('crm.quote_item', 'quantity', 'quantity < ''Infinity'''),
            ('crm.quote_item', 'unit_price', 'unit_price < ''Infinity'''),
            ('crm.sales_order_item', 'quantity', 'quantity < ''Infinity'''),
            ('crm.sales_order_item', 'unit_price', 'unit_price < ''Infinity'''),
            ('crm.invoice_line', 'quantity', 'quantity < ''Infinity'''),
            ('crm.invoice_line', 'unit_price', 'unit_price < ''Infinity'''),
            ('crm.payment', 'amount', 'amount < ''Infinity'''),
            ('crm.quote', 'totals', 'abs(net_total) < ''Infinity'' AND abs(tax_total) < ''Infinity'' AND abs(gross_total) < ''Infinity'''),
            ('crm.sales_order', 'totals', 'abs(net_total) < ''Infinity'' AND abs(tax_total) < ''Infinity'' AND abs(gross_total) < ''Infinity'''),
            ('crm.invoice', 'totals', 'abs(net_total) < ''Infinity'' AND abs(tax_total) < ''Infinity'' AND abs(gross_total) < ''Infinity'' AND amount_paid < ''Infinity'''),
            ('crm.pipeline', 'name', 'name !~ E''[\\x01-\\x1f\\x7f-\\x9f]'''),
            ('crm.stage', 'key', 'key !~ E''[\\x01-\\x1f\\x7f-\\x9f]'''),
            ('crm.stage', 'label', 'label !~ E''[\\x01-\\x1f\\x7f-\\x9f]'''),
            ('crm.email_template', 'key', 'key !~ E''[\\x01-\\x1f\\x7f-\\x9f]''')
        ) AS r(table_name, column_name, condition)
    LOOP
        EXECUTE format('SELECT string_agg(id::text, '', '' ORDER BY id) FROM %s WHERE NOT (%s)',
                       rule.table_name, rule.condition)
            INTO bad;
        IF bad IS NOT NULL THEN
            problems := problems || format('%s.%s of id %s', rule.table_name, rule.column_name, bad);
        END IF;
    END LOOP;
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'crm 1.0.0 refuses values this database holds'
            USING ERRCODE = 'check_violation',
                  DETAIL = format('Not finite (NaN or Infinity) or holding control characters: %s.',
                                  array_to_string(problems, '; ')),
                  HINT = 'Correct these rows (amounts must be finite numbers; keys and names printable text), '
                         'then run ALTER EXTENSION crm UPDATE again.';
    END IF;
END
$check$;

ALTER TABLE crm.product ADD CONSTRAINT product_unit_price_finite CHECK (unit_price < 'Infinity');
