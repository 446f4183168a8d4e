-- Before src/sales/40_order.sql is replayed on a 0.1.0 database: the customer
-- is an account or a person (account_id or contact_id), amounts are finite.
ALTER TABLE crm.sales_order
    ALTER COLUMN account_id DROP NOT NULL,
    ADD CONSTRAINT sales_order_customer_given CHECK (account_id IS NOT NULL OR contact_id IS NOT NULL),
    ADD CONSTRAINT sales_order_totals_finite CHECK (net_total > '-Infinity' AND net_total < 'Infinity'
                                                    AND tax_total > '-Infinity' AND tax_total < 'Infinity'
                                                    AND gross_total > '-Infinity' AND gross_total < 'Infinity');
ALTER TABLE crm.sales_order_item ADD CONSTRAINT sales_order_item_quantity_finite CHECK (quantity < 'Infinity'),
                                 ADD CONSTRAINT sales_order_item_unit_price_finite CHECK (unit_price < 'Infinity');
