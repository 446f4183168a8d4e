-- Before src/pipeline/20_deal.sql is replayed on a 0.1.0 database: amounts
-- are finite, and a deal's history outlives the deal (no foreign key).
ALTER TABLE crm.deal ADD CONSTRAINT deal_amount_finite CHECK (amount < 'Infinity');
ALTER TABLE crm.deal_item ADD CONSTRAINT deal_item_quantity_finite CHECK (quantity < 'Infinity'),
                          ADD CONSTRAINT deal_item_unit_price_finite CHECK (unit_price < 'Infinity');
ALTER TABLE crm.deal_stage_history DROP CONSTRAINT deal_stage_history_deal_id_fkey;
