-- Before src/sales/50_invoice.sql is replayed on a 0.1.0 database: the customer
-- is an account or a person (account_id or contact_id), amounts are finite.
ALTER TABLE crm.invoice
    ALTER COLUMN account_id DROP NOT NULL,
    ADD CONSTRAINT invoice_customer_given CHECK (account_id IS NOT NULL OR contact_id IS NOT NULL),
    ADD CONSTRAINT invoice_totals_finite CHECK (net_total > '-Infinity' AND net_total < 'Infinity'
                                                AND tax_total > '-Infinity' AND tax_total < 'Infinity'
                                                AND gross_total > '-Infinity' AND gross_total < 'Infinity'
                                                AND amount_paid < 'Infinity');
ALTER TABLE crm.invoice_line ADD CONSTRAINT invoice_line_quantity_finite CHECK (quantity < 'Infinity'),
                             ADD CONSTRAINT invoice_line_unit_price_finite CHECK (unit_price < 'Infinity');
