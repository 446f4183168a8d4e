-- src/pipeline/20_deal.sql: deals, their line items and their stage history.
--
-- A deal's stage is guarded by the C transition engine on every write path
-- (INSERT, UPDATE, COPY, UPDATE ... FROM): deal_enforce_transition fills in
-- the default pipeline and its first open stage, refuses moves not listed in
-- crm.stage_transition and missing required fields, and stamps
-- stage_entered_at, closed_at and probability; deal_record_transition writes
-- crm.deal_stage_history.  Deleting does not erase the record: a deal that
-- has left the stage it started in is lost, not deleted (crm_admin may
-- still delete it), and its history outlives it.

CREATE TABLE crm.deal (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CONSTRAINT deal_name_not_blank CHECK (btrim(name) <> ''),
    account_id          bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id          bigint REFERENCES crm.contact ON DELETE SET NULL,
    pipeline_id         bigint NOT NULL REFERENCES crm.pipeline ON DELETE RESTRICT,
    stage               text NOT NULL,
    amount              numeric NOT NULL DEFAULT 0
                        CONSTRAINT deal_amount_not_negative CHECK (amount >= 0)
                        CONSTRAINT deal_amount_finite CHECK (amount < 'Infinity'),
    currency            crm.currency_code NOT NULL DEFAULT 'USD',
    expected_close_date date,
    probability         numeric CONSTRAINT deal_probability_range CHECK (probability BETWEEN 0 AND 1),
    stage_entered_at    timestamptz NOT NULL,
    closed_at           timestamptz,
    lost_reason         text,
    items_total         numeric,
    owner               name NOT NULL DEFAULT current_user,
    attributes          jsonb NOT NULL DEFAULT '{}'
                        CONSTRAINT deal_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deal_stage_fkey FOREIGN KEY (pipeline_id, stage)
        REFERENCES crm.stage (pipeline_id, key) ON UPDATE RESTRICT ON DELETE RESTRICT,
    CONSTRAINT deal_amount_matches_items CHECK (items_total IS NULL OR amount = items_total)
);
SELECT pg_catalog.pg_extension_config_dump('crm.deal', '');
SELECT pg_catalog.pg_extension_config_dump('crm.deal_id_seq', '');
CREATE INDEX deal_pipeline_stage_idx ON crm.deal (pipeline_id, stage);
CREATE INDEX deal_account_id_idx ON crm.deal (account_id);
CREATE INDEX deal_contact_id_idx ON crm.deal (contact_id);
CREATE INDEX deal_owner_idx ON crm.deal (owner);
CREATE INDEX deal_expected_close_idx ON crm.deal (expected_close_date) WHERE closed_at IS NULL;
CREATE INDEX deal_closed_at_idx ON crm.deal (closed_at) WHERE closed_at IS NOT NULL;
COMMENT ON TABLE crm.deal IS 'Sales opportunities moving through a pipeline.';
COMMENT ON COLUMN crm.deal.pipeline_id IS 'The pipeline; the default pipeline when not given.';
COMMENT ON COLUMN crm.deal.stage IS
    'Stage key in the pipeline; the first open stage when not given; moves follow crm.stage_transition.';
COMMENT ON COLUMN crm.deal.amount IS 'Deal value in currency; equals the total of its items when it has items.';
COMMENT ON COLUMN crm.deal.probability IS
    'Chance of winning, 0..1; set from the stage on every move unless the same statement sets it.';
COMMENT ON COLUMN crm.deal.stage_entered_at IS 'When the deal entered its current stage (set by the engine).';
COMMENT ON COLUMN crm.deal.closed_at IS 'When the deal entered a won or lost stage; NULL while open (set by the engine).';
COMMENT ON COLUMN crm.deal.lost_reason IS 'Why the deal was lost; required to enter a lost stage.';
COMMENT ON COLUMN crm.deal.items_total IS 'Total of crm.deal_item lines, NULL without items (kept by triggers).';
COMMENT ON COLUMN crm.deal.id IS 'Identity of the deal, assigned by the database.';
COMMENT ON COLUMN crm.deal.name IS 'What is being sold, as the team calls it (not blank).';
COMMENT ON COLUMN crm.deal.account_id IS
    'The customer company (crm.account.id), if any; an account with deals cannot be deleted.';
COMMENT ON COLUMN crm.deal.contact_id IS
    'The person the team deals with (crm.contact.id), if any; quotes and notices go to them.';
COMMENT ON COLUMN crm.deal.currency IS
    'Currency of amount (ISO 4217); the deal''s quotes, orders and invoices use it.';
COMMENT ON COLUMN crm.deal.expected_close_date IS
    'When the owner expects the deal to close: the month crm.weighted_pipeline counts it in.';
COMMENT ON COLUMN crm.deal.owner IS
    'The role responsible for the deal (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.deal.attributes IS
    'The user''s own fields for the deal, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.deal.created_at IS 'When the deal was inserted (now() unless given).';
COMMENT ON COLUMN crm.deal.updated_at IS
    'When the deal last changed (set by the transition engine, on every UPDATE).';

ALTER TABLE crm.activity ADD CONSTRAINT activity_deal_id_fkey
    FOREIGN KEY (deal_id) REFERENCES crm.deal ON DELETE CASCADE;

CREATE TABLE crm.deal_stage_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id            bigint NOT NULL,     -- no foreign key: history outlives a deleted deal
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.deal_stage_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.deal_stage_history_id_seq', '');
CREATE INDEX deal_stage_history_deal_idx ON crm.deal_stage_history (deal_id, changed_at);
CREATE TRIGGER deal_stage_history_set_updated_at BEFORE UPDATE ON crm.deal_stage_history
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.deal_stage_history IS
    'One row per stage a deal entered, written by the engine; from_stage is NULL for the row written at INSERT.';
COMMENT ON COLUMN crm.deal_stage_history.deal_id IS
    'The deal (crm.deal.id); the rows stay when a crm_admin deletes the deal, as the record of what happened.';
COMMENT ON COLUMN crm.deal_stage_history.time_in_from_stage IS 'How long the deal spent in from_stage.';
COMMENT ON COLUMN crm.deal_stage_history.id IS 'Identity of the history row, assigned by the database.';
COMMENT ON COLUMN crm.deal_stage_history.pipeline_id IS
    'The pipeline whose rules allowed the move (crm.pipeline.id).';
COMMENT ON COLUMN crm.deal_stage_history.from_stage IS
    'The stage left; NULL for the row written when the deal was inserted.';
COMMENT ON COLUMN crm.deal_stage_history.to_stage IS 'The stage entered.';
COMMENT ON COLUMN crm.deal_stage_history.changed_at IS 'When the deal entered to_stage.';
COMMENT ON COLUMN crm.deal_stage_history.changed_by IS
    'The role that made the move (the current user of the statement).';
COMMENT ON COLUMN crm.deal_stage_history.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.deal_stage_history.updated_at IS
    'When the row last changed; the engine writes history rows once, so normally created_at.';

-- The engine also stamps updated_at, so crm.deal needs no crm.set_updated_at.
CREATE TRIGGER deal_enforce_transition BEFORE INSERT OR UPDATE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('stage', 'pipeline_id');
CREATE TRIGGER deal_record_transition AFTER INSERT OR UPDATE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.deal_stage_history', 'deal_id', 'stage', 'pipeline_id');

-- Before a deal is deleted: only crm_admin deletes one that has moved (or
-- closed); everyone else closes it as lost, which keeps it on record.
CREATE FUNCTION crm.deal_delete_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() OR pg_has_role('crm_admin', 'MEMBER') THEN
        RETURN OLD;
    END IF;
    IF OLD.closed_at IS NOT NULL
       OR EXISTS (SELECT FROM crm.deal_stage_history h WHERE h.deal_id = OLD.id AND h.from_stage IS NOT NULL) THEN
        RAISE EXCEPTION 'only crm_admin can delete deal %, which has left the stage it started in', OLD.id
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Deal %s is in stage "%s"; a deal that has moved stays on record.', OLD.id, OLD.stage),
                  HINT = 'Move it to a lost stage instead, with a lost_reason.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION crm.deal_delete_guard() IS
    'BEFORE DELETE trigger on crm.deal: a deal that has left its first stage is deleted only by crm_admin.';
CREATE TRIGGER deal_delete_guard BEFORE DELETE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION crm.deal_delete_guard();

-- Line items.  A deal with items has amount = items_total = sum(line_total).
CREATE TABLE crm.deal_item (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id     bigint NOT NULL REFERENCES crm.deal ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    quantity    numeric NOT NULL CONSTRAINT deal_item_quantity_positive CHECK (quantity > 0)
                CONSTRAINT deal_item_quantity_finite CHECK (quantity < 'Infinity'),
    unit_price  numeric NOT NULL CONSTRAINT deal_item_unit_price_not_negative CHECK (unit_price >= 0)
                CONSTRAINT deal_item_unit_price_finite CHECK (unit_price < 'Infinity'),
    discount    numeric NOT NULL DEFAULT 0
                CONSTRAINT deal_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    line_total  numeric GENERATED ALWAYS AS (round(quantity * unit_price * (1 - discount), 2)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.deal_item', '');
SELECT pg_catalog.pg_extension_config_dump('crm.deal_item_id_seq', '');
CREATE INDEX deal_item_deal_id_idx ON crm.deal_item (deal_id);
CREATE INDEX deal_item_product_id_idx ON crm.deal_item (product_id);
CREATE TRIGGER deal_item_set_updated_at BEFORE UPDATE ON crm.deal_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.deal_item IS 'Products on a deal; line_total = quantity × unit_price × (1 − discount), to the cent.';
COMMENT ON COLUMN crm.deal_item.unit_price IS 'Price per unit; the product''s price when not given.';
COMMENT ON COLUMN crm.deal_item.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.deal_item.id IS 'Identity of the line, assigned by the database.';
COMMENT ON COLUMN crm.deal_item.deal_id IS 'The deal (crm.deal.id); lines are deleted with it.';
COMMENT ON COLUMN crm.deal_item.product_id IS 'The product sold (crm.product.id).';
COMMENT ON COLUMN crm.deal_item.quantity IS 'Units sold, more than 0.';
COMMENT ON COLUMN crm.deal_item.line_total IS
    'quantity × unit_price × (1 − discount), rounded to 2 decimals (computed by the database).';
COMMENT ON COLUMN crm.deal_item.created_at IS 'When the line was inserted (now() unless given).';
COMMENT ON COLUMN crm.deal_item.updated_at IS
    'When the line last changed (set by crm.set_updated_at, on every UPDATE).';

-- Before an item is written: default the price from the product and refuse
-- a product priced in another currency than the deal.
CREATE FUNCTION crm.deal_item_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    product_currency text;
    product_price numeric;
    product_sku text;
    deal_currency text;
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;
    END IF;
    SELECT p.currency, p.unit_price, p.sku INTO product_currency, product_price, product_sku
      FROM crm.product p WHERE p.id = NEW.product_id;
    SELECT d.currency INTO deal_currency FROM crm.deal d WHERE d.id = NEW.deal_id;
    IF product_currency IS NULL OR deal_currency IS NULL THEN
        RETURN NEW;             -- the foreign keys report the missing row
    END IF;
    IF product_currency <> deal_currency THEN
        RAISE EXCEPTION 'product "%" is priced in %, deal % is in %',
                        product_sku, product_currency, NEW.deal_id, deal_currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Add products priced in the deal''s currency, or change the deal''s currency first.';
    END IF;
    IF NEW.unit_price IS NULL THEN
        NEW.unit_price := product_price;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.deal_item_check() IS
    'BEFORE INSERT OR UPDATE trigger on crm.deal_item: a missing unit_price is the product''s; '
    'a product priced in another currency than the deal is refused.';
CREATE TRIGGER deal_item_check BEFORE INSERT OR UPDATE ON crm.deal_item
    FOR EACH ROW EXECUTE FUNCTION crm.deal_item_check();

-- After items change: the deal's amount follows their total.
CREATE FUNCTION crm.deal_item_sync_amount() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    affected bigint;
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    FOREACH affected IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.deal_id END,
                                    CASE WHEN TG_OP <> 'DELETE' THEN NEW.deal_id END]
    LOOP
        CONTINUE WHEN affected IS NULL;
        UPDATE crm.deal d
           SET items_total = t.total, amount = coalesce(t.total, d.amount)
          FROM (SELECT sum(i.line_total) AS total FROM crm.deal_item i WHERE i.deal_id = affected) t
         WHERE d.id = affected
           AND d.items_total IS DISTINCT FROM t.total;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.deal_item_sync_amount() IS
    'AFTER trigger on crm.deal_item: keeps the deal''s items_total, and its amount equal to it, as lines change.';
CREATE TRIGGER deal_item_sync_amount AFTER INSERT OR UPDATE OR DELETE ON crm.deal_item
    FOR EACH ROW EXECUTE FUNCTION crm.deal_item_sync_amount();

GRANT SELECT ON crm.deal, crm.deal_item, crm.deal_stage_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.deal, crm.deal_item TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.deal_item_check(), crm.deal_item_sync_amount(), crm.deal_delete_guard() FROM PUBLIC;
