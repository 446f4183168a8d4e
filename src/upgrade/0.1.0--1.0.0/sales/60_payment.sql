-- Before src/sales/60_payment.sql is replayed on a 0.1.0 database: payments are finite.
ALTER TABLE crm.payment ADD CONSTRAINT payment_amount_finite CHECK (amount < 'Infinity');
