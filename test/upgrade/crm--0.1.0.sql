\echo Use "CREATE EXTENSION crm" to load this file. \quit

-- ===== src/core/core.sql =====
-- src/core/core.sql: accounts, contacts, activities and tasks, products.
--
-- Conventions for every crm table: id bigint identity, created_at and
-- updated_at (kept by crm.set_updated_at), owner where a person owns the row,
-- attributes jsonb for the user's own fields, foreign keys indexed.

-- Privileges.  Nothing in schema crm is reachable by PUBLIC.  Three group
-- roles (NOLOGIN, created once per cluster and kept if the extension is
-- dropped, since roles are not database objects) carry the access:
--   crm_reader  read every table and view (BI tools)
--   crm_user    crm_reader plus writing CRM data and calling the API
--   crm_admin   crm_user plus editing rules, workflows, templates
-- Each feature grants on its own objects; secrets never live in tables.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'crm_reader') THEN
        CREATE ROLE crm_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'crm_user') THEN
        CREATE ROLE crm_user NOLOGIN IN ROLE crm_reader;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'crm_admin') THEN
        CREATE ROLE crm_admin NOLOGIN IN ROLE crm_user;
    END IF;
END
$roles$;
REVOKE ALL ON SCHEMA crm FROM PUBLIC;
GRANT USAGE ON SCHEMA crm TO crm_reader;

CREATE FUNCTION crm.check_email_address(address text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_check_email_address';
COMMENT ON FUNCTION crm.check_email_address(text) IS
    'True for a well-formed email address; raises check_violation naming the address otherwise.';

CREATE DOMAIN crm.email_address AS text
    CONSTRAINT email_address_syntax CHECK (crm.check_email_address(VALUE));
COMMENT ON DOMAIN crm.email_address IS
    'An email address: mailbox@domain.tld, at most 254 bytes, no spaces or control characters.';

CREATE DOMAIN crm.currency_code AS text
    CONSTRAINT currency_code_format CHECK (VALUE ~ '^[A-Z]{3}$');
COMMENT ON DOMAIN crm.currency_code IS 'An ISO 4217 currency code such as USD, EUR or CNY.';

CREATE FUNCTION crm.set_updated_at() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_set_updated_at';
COMMENT ON FUNCTION crm.set_updated_at() IS
    'BEFORE UPDATE row trigger: sets updated_at to now().';

CREATE TABLE crm.account (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT account_name_not_blank CHECK (btrim(name) <> ''),
    domain      text,
    industry    text,
    phone       text,
    owner       name NOT NULL DEFAULT current_user,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT account_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_name_idx ON crm.account (lower(name));
CREATE INDEX account_owner_idx ON crm.account (owner);
CREATE TRIGGER account_set_updated_at BEFORE UPDATE ON crm.account
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.account IS 'Companies the team sells to.';

CREATE TABLE crm.contact (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint REFERENCES crm.account ON DELETE SET NULL,
    name        text NOT NULL CONSTRAINT contact_name_not_blank CHECK (btrim(name) <> ''),
    email       crm.email_address,
    phone       text,
    title       text,
    owner       name NOT NULL DEFAULT current_user,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT contact_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contact_email_key ON crm.contact (lower(email));
CREATE INDEX contact_account_id_idx ON crm.contact (account_id);
CREATE INDEX contact_owner_idx ON crm.contact (owner);
CREATE TRIGGER contact_set_updated_at BEFORE UPDATE ON crm.contact
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.contact IS 'People at accounts; email is unique regardless of case.';

CREATE TABLE crm.product (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE CONSTRAINT product_sku_not_blank CHECK (btrim(sku) <> ''),
    name        text NOT NULL CONSTRAINT product_name_not_blank CHECK (btrim(name) <> ''),
    description text,
    unit_price  numeric NOT NULL CONSTRAINT product_unit_price_not_negative CHECK (unit_price >= 0),
    currency    crm.currency_code NOT NULL DEFAULT 'USD',
    active      boolean NOT NULL DEFAULT true,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT product_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER product_set_updated_at BEFORE UPDATE ON crm.product
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.product IS 'The catalogue: what deals, quotes and orders sell.';

-- Activities: calls, emails, meetings, notes and tasks.  deal_id gets its
-- foreign key in src/pipeline, where crm.deal is created.
CREATE TABLE crm.activity (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL
                CONSTRAINT activity_kind_valid CHECK (kind IN ('call', 'email', 'meeting', 'note', 'task')),
    subject     text NOT NULL CONSTRAINT activity_subject_not_blank CHECK (btrim(subject) <> ''),
    body        text,
    account_id  bigint REFERENCES crm.account ON DELETE CASCADE,
    contact_id  bigint REFERENCES crm.contact ON DELETE CASCADE,
    deal_id     bigint,
    due_at      timestamptz,
    done_at     timestamptz,
    owner       name NOT NULL DEFAULT current_user,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT activity_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_account_id_idx ON crm.activity (account_id);
CREATE INDEX activity_contact_id_idx ON crm.activity (contact_id);
CREATE INDEX activity_deal_id_idx ON crm.activity (deal_id);
CREATE INDEX activity_open_due_idx ON crm.activity (owner, due_at) WHERE done_at IS NULL;
CREATE TRIGGER activity_set_updated_at BEFORE UPDATE ON crm.activity
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.activity IS
    'Calls, emails, meetings, notes and tasks; a task is open until done_at is set.';

CREATE VIEW crm.overdue_followups AS
SELECT a.id AS activity_id, a.kind, a.subject, a.owner, a.due_at,
       now() - a.due_at AS overdue_by,
       a.account_id, a.contact_id, a.deal_id
  FROM crm.activity a
 WHERE a.done_at IS NULL
   AND a.due_at < now();
COMMENT ON VIEW crm.overdue_followups IS 'Activities past their due time and not done yet.';
COMMENT ON COLUMN crm.overdue_followups.activity_id IS 'The activity (crm.activity.id).';
COMMENT ON COLUMN crm.overdue_followups.kind IS 'call, email, meeting, note or task.';
COMMENT ON COLUMN crm.overdue_followups.subject IS 'What the follow-up is about.';
COMMENT ON COLUMN crm.overdue_followups.owner IS 'Who has to do it.';
COMMENT ON COLUMN crm.overdue_followups.due_at IS 'When it was due.';
COMMENT ON COLUMN crm.overdue_followups.overdue_by IS 'How long ago it was due.';
COMMENT ON COLUMN crm.overdue_followups.account_id IS 'The account it concerns, if any.';
COMMENT ON COLUMN crm.overdue_followups.contact_id IS 'The contact it concerns, if any.';
COMMENT ON COLUMN crm.overdue_followups.deal_id IS 'The deal it concerns, if any.';

GRANT SELECT ON crm.account, crm.contact, crm.product, crm.activity, crm.overdue_followups TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.account, crm.contact, crm.activity TO crm_user;
GRANT INSERT, UPDATE, DELETE ON crm.product TO crm_admin;

-- ===== src/pipeline/10_rules.sql =====
-- src/pipeline/10_rules.sql: pipelines (workflows), their stages and the
-- allowed moves between stages.  These three tables are the rules the C
-- transition engine (crm.enforce_transition) enforces; they are ordinary
-- tables users edit with SQL, and every change is seen at once by every
-- session through a relcache invalidation (crm.rules_changed).

CREATE TABLE crm.pipeline (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT pipeline_name_key UNIQUE
                CONSTRAINT pipeline_name_not_blank CHECK (btrim(name) <> ''),
    object_type text NOT NULL DEFAULT 'deal'
                CONSTRAINT pipeline_object_type_not_blank CHECK (btrim(object_type) <> ''),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pipeline_one_default_per_object_type
    ON crm.pipeline (object_type) WHERE is_default;
CREATE TRIGGER pipeline_set_updated_at BEFORE UPDATE ON crm.pipeline
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.pipeline IS
    'Workflows: a sales pipeline for deals, or the status workflow of another table (object_type).';
COMMENT ON COLUMN crm.pipeline.object_type IS
    'The table whose rows follow this workflow, by name: deal for sales pipelines, invoice, ticket, or a user table.';
COMMENT ON COLUMN crm.pipeline.is_default IS
    'The workflow new rows of object_type get when they name none; at most one per object_type.';

CREATE TABLE crm.stage (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id       bigint NOT NULL REFERENCES crm.pipeline ON DELETE CASCADE,
    key               text NOT NULL
                      CONSTRAINT stage_key_format CHECK (key <> '' AND key = btrim(key) AND octet_length(key) <= 63),
    label             text NOT NULL CONSTRAINT stage_label_not_blank CHECK (btrim(label) <> ''),
    position          integer NOT NULL,
    probability       numeric NOT NULL
                      CONSTRAINT stage_probability_range CHECK (probability BETWEEN 0 AND 1),
    kind              text NOT NULL DEFAULT 'open'
                      CONSTRAINT stage_kind_valid CHECK (kind IN ('open', 'won', 'lost')),
    forecast_category text NOT NULL DEFAULT 'pipeline'
                      CONSTRAINT stage_forecast_category_valid
                      CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
    required_fields   text[] NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stage_pipeline_key UNIQUE (pipeline_id, key),
    CONSTRAINT stage_probability_matches_kind CHECK (
        (kind = 'won' AND probability = 1) OR (kind = 'lost' AND probability = 0) OR kind = 'open')
);
CREATE TRIGGER stage_set_updated_at BEFORE UPDATE ON crm.stage
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.stage IS 'The stages of each pipeline, in position order.';
COMMENT ON COLUMN crm.stage.key IS 'Identifier of the stage within its pipeline; the value stored in crm.deal.stage.';
COMMENT ON COLUMN crm.stage.label IS 'Display name, any UTF-8 text (新线索, Qualified, ...).';
COMMENT ON COLUMN crm.stage.probability IS 'Chance of winning a deal in this stage, 0..1; 1 for won, 0 for lost.';
COMMENT ON COLUMN crm.stage.kind IS 'open, won or lost; entering won or lost closes the record.';
COMMENT ON COLUMN crm.stage.forecast_category IS 'pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.stage.required_fields IS
    'Columns of the record that must be set (not NULL, not blank) to enter this stage.';

CREATE TABLE crm.stage_transition (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id bigint NOT NULL,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stage_transition_unique UNIQUE (pipeline_id, from_stage, to_stage),
    CONSTRAINT stage_transition_not_to_itself CHECK (from_stage <> to_stage),
    CONSTRAINT stage_transition_from_fkey FOREIGN KEY (pipeline_id, from_stage)
        REFERENCES crm.stage (pipeline_id, key) ON DELETE CASCADE,
    CONSTRAINT stage_transition_to_fkey FOREIGN KEY (pipeline_id, to_stage)
        REFERENCES crm.stage (pipeline_id, key) ON DELETE CASCADE
);
CREATE INDEX stage_transition_to_idx ON crm.stage_transition (pipeline_id, to_stage);
CREATE TRIGGER stage_transition_set_updated_at BEFORE UPDATE ON crm.stage_transition
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.stage_transition IS
    'Allowed moves between stages of a pipeline, by stage key; any move not listed is refused.';

-- Every change to the rules invalidates the engine's per-session cache.
CREATE FUNCTION crm.rules_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_rules_changed';
COMMENT ON FUNCTION crm.rules_changed() IS
    'Statement trigger on the rule tables: makes every session reload the transition rules.';
CREATE TRIGGER pipeline_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.pipeline
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();
CREATE TRIGGER stage_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();
CREATE TRIGGER stage_transition_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.rules_changed();

-- The transition engine, used as a BEFORE INSERT OR UPDATE row trigger.
CREATE FUNCTION crm.enforce_transition() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_enforce_transition';
COMMENT ON FUNCTION crm.enforce_transition() IS
    'BEFORE INSERT OR UPDATE row trigger enforcing a workflow. Arguments: the state column, then either '
    'the column holding the pipeline id or the name of a pipeline (workflow) used for every row.';

-- Its companion AFTER row trigger, writing one history row per move.
CREATE FUNCTION crm.record_transition() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_record_transition';
COMMENT ON FUNCTION crm.record_transition() IS
    'AFTER INSERT OR UPDATE row trigger writing state history. Arguments: the history table, its column '
    'referencing the record, the state column, and the pipeline column or workflow name.';

CREATE FUNCTION crm.create_pipeline(name text, open_stages text[], won text DEFAULT 'won',
                                    lost text DEFAULT 'lost')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    n integer := coalesce(array_length(open_stages, 1), 0);
    i integer;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'pipeline name must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF n = 0 THEN
        RAISE EXCEPTION 'pipeline "%" needs at least one open stage', name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the open stages in order, as in ARRAY[''lead'', ''qualified''].';
    END IF;
    IF won IS NULL OR lost IS NULL OR won = lost
       OR won = ANY (open_stages) OR lost = ANY (open_stages)
       OR array_position(open_stages, NULL) IS NOT NULL
       OR (SELECT count(DISTINCT s) FROM unnest(open_stages) s) <> n THEN
        RAISE EXCEPTION 'stage keys of pipeline "%" must be distinct and not null', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Open stages %s, won stage %L, lost stage %L.', open_stages, won, lost);
    END IF;

    INSERT INTO crm.pipeline (name) VALUES (create_pipeline.name) RETURNING id INTO new_id;
    FOR i IN 1 .. n LOOP
        INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category)
        VALUES (new_id, open_stages[i], open_stages[i], i,
                round(i::numeric / (n + 1), 2), 'open',
                CASE WHEN i = n AND n > 1 THEN 'commit' WHEN i > n / 2 THEN 'best_case' ELSE 'pipeline' END);
    END LOOP;
    INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category)
    VALUES (new_id, won, won, n + 1, 1, 'won', 'closed'),
           (new_id, lost, lost, n + 2, 0, 'lost', 'omitted');
    INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
    SELECT new_id, open_stages[g.k], CASE WHEN g.k < n THEN open_stages[g.k + 1] ELSE won END
      FROM generate_series(1, n) AS g(k)
    UNION ALL
    SELECT new_id, open_stages[g.k], lost FROM generate_series(1, n) AS g(k);
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.create_pipeline(text, text[], text, text) IS
    'Creates a linear deal pipeline: each open stage moves to the next, the last to won, every open stage to lost. Returns its id.';

SELECT crm.create_pipeline('default', ARRAY['lead', 'qualified', 'negotiation']);
UPDATE crm.pipeline SET is_default = true WHERE name = 'default';
UPDATE crm.stage SET label = initcap(key) WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE name = 'default');

GRANT SELECT ON crm.pipeline, crm.stage, crm.stage_transition TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.pipeline, crm.stage, crm.stage_transition TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.create_pipeline(text, text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_pipeline(text, text[], text, text) TO crm_admin;

-- ===== src/pipeline/20_deal.sql =====
-- src/pipeline/20_deal.sql: deals, their line items and their stage history.
--
-- A deal's stage is guarded by the C transition engine on every write path
-- (INSERT, UPDATE, COPY, UPDATE ... FROM): deal_enforce_transition fills in
-- the default pipeline and its first open stage, refuses moves not listed in
-- crm.stage_transition and missing required fields, and stamps
-- stage_entered_at, closed_at and probability; deal_record_transition writes
-- crm.deal_stage_history.

CREATE TABLE crm.deal (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CONSTRAINT deal_name_not_blank CHECK (btrim(name) <> ''),
    account_id          bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id          bigint REFERENCES crm.contact ON DELETE SET NULL,
    pipeline_id         bigint NOT NULL REFERENCES crm.pipeline ON DELETE RESTRICT,
    stage               text NOT NULL,
    amount              numeric NOT NULL DEFAULT 0
                        CONSTRAINT deal_amount_not_negative CHECK (amount >= 0),
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

ALTER TABLE crm.activity ADD CONSTRAINT activity_deal_id_fkey
    FOREIGN KEY (deal_id) REFERENCES crm.deal ON DELETE CASCADE;

CREATE TABLE crm.deal_stage_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id            bigint NOT NULL REFERENCES crm.deal ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deal_stage_history_deal_idx ON crm.deal_stage_history (deal_id, changed_at);
CREATE TRIGGER deal_stage_history_set_updated_at BEFORE UPDATE ON crm.deal_stage_history
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.deal_stage_history IS
    'One row per stage a deal entered, written by the engine; from_stage is NULL for the row written at INSERT.';
COMMENT ON COLUMN crm.deal_stage_history.time_in_from_stage IS 'How long the deal spent in from_stage.';

-- The engine also stamps updated_at, so crm.deal needs no crm.set_updated_at.
CREATE TRIGGER deal_enforce_transition BEFORE INSERT OR UPDATE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('stage', 'pipeline_id');
CREATE TRIGGER deal_record_transition AFTER INSERT OR UPDATE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.deal_stage_history', 'deal_id', 'stage', 'pipeline_id');

-- Line items.  A deal with items has amount = items_total = sum(line_total).
CREATE TABLE crm.deal_item (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id     bigint NOT NULL REFERENCES crm.deal ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    quantity    numeric NOT NULL CONSTRAINT deal_item_quantity_positive CHECK (quantity > 0),
    unit_price  numeric NOT NULL CONSTRAINT deal_item_unit_price_not_negative CHECK (unit_price >= 0),
    discount    numeric NOT NULL DEFAULT 0
                CONSTRAINT deal_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    line_total  numeric GENERATED ALWAYS AS (round(quantity * unit_price * (1 - discount), 2)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deal_item_deal_id_idx ON crm.deal_item (deal_id);
CREATE INDEX deal_item_product_id_idx ON crm.deal_item (product_id);
CREATE TRIGGER deal_item_set_updated_at BEFORE UPDATE ON crm.deal_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.deal_item IS 'Products on a deal; line_total = quantity × unit_price × (1 − discount), to the cent.';
COMMENT ON COLUMN crm.deal_item.unit_price IS 'Price per unit; the product''s price when not given.';
COMMENT ON COLUMN crm.deal_item.discount IS 'Fraction off, 0..1.';

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
CREATE TRIGGER deal_item_sync_amount AFTER INSERT OR UPDATE OR DELETE ON crm.deal_item
    FOR EACH ROW EXECUTE FUNCTION crm.deal_item_sync_amount();

GRANT SELECT ON crm.deal, crm.deal_item, crm.deal_stage_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.deal, crm.deal_item TO crm_user;

-- ===== src/mail/10_outbox.sql =====
-- src/mail/10_outbox.sql: the email queue (outbox, delivery log, suppression
-- list, templates), its SQL API and its privileges.
--
-- Everything goes in through the API: crm.send_email and crm.send_template
-- validate and queue, crm.unsubscribe suppresses an address, crm.cancel_email
-- withdraws a queued message.  The background worker (src/mail/worker*)
-- claims queued rows, sends them and records each attempt in the delivery
-- log.  Status moves queued -> sending -> sent | failed (or back to queued for
-- a retry), or queued -> cancelled.  Queue tables are readable by crm_reader
-- and writable only through the SECURITY DEFINER functions below; templates
-- and the suppression list are edited by crm_admin.

CREATE TABLE crm.email_template (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL
                CONSTRAINT email_template_key_key UNIQUE
                CONSTRAINT email_template_key_not_blank CHECK (btrim(key) <> ''),
    subject     text NOT NULL
                CONSTRAINT email_template_subject_not_blank CHECK (btrim(subject) <> '')
                CONSTRAINT email_template_subject_one_line CHECK (strpos(subject, E'\n') = 0 AND strpos(subject, E'\r') = 0),
    body_text   text NOT NULL
                CONSTRAINT email_template_body_text_not_blank CHECK (btrim(body_text, E' \t\r\n') <> ''),
    body_html   text
                CONSTRAINT email_template_body_html_not_blank CHECK (btrim(body_html, E' \t\r\n') <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER email_template_set_updated_at BEFORE UPDATE ON crm.email_template
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_template IS
    'Email templates for crm.send_template: {{name}} placeholders in subject, body_text and body_html are filled from its vars.';
COMMENT ON COLUMN crm.email_template.key IS 'The name crm.send_template looks the template up by.';
COMMENT ON COLUMN crm.email_template.subject IS 'Subject line with {{name}} placeholders (one line).';
COMMENT ON COLUMN crm.email_template.body_text IS 'Plain-text body with {{name}} placeholders.';
COMMENT ON COLUMN crm.email_template.body_html IS
    'HTML body with {{name}} placeholders (values are HTML-escaped), or NULL for text-only email.';

CREATE TABLE crm.email_suppression (
    address     text PRIMARY KEY
                CONSTRAINT email_suppression_address_lower_case CHECK (address = lower(address)),
    reason      text NOT NULL CONSTRAINT email_suppression_reason_not_blank CHECK (btrim(reason) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER email_suppression_set_updated_at BEFORE UPDATE ON crm.email_suppression
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_suppression IS
    'Addresses crm never sends to (unsubscribed, hard-bounced, or added by an admin); stored in lower case.';
COMMENT ON COLUMN crm.email_suppression.address IS 'The suppressed address, lower-cased.';
COMMENT ON COLUMN crm.email_suppression.reason IS 'Why: ''unsubscribed'', a bounce reply, or an admin''s note.';

CREATE TABLE crm.email_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the API checks more; these hold for rows written any other way too
    to_address      text NOT NULL
                    CONSTRAINT email_outbox_to_address_syntax CHECK (crm.check_email_address(to_address)),
    subject         text NOT NULL
                    CONSTRAINT email_outbox_subject_one_line CHECK (strpos(subject, E'\n') = 0 AND strpos(subject, E'\r') = 0),
    body_text       text NOT NULL,
    body_html       text,
    status          text NOT NULL DEFAULT 'queued'
                    CONSTRAINT email_outbox_status_valid
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts        int NOT NULL DEFAULT 0 CONSTRAINT email_outbox_attempts_not_negative CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    message_id      text NOT NULL CONSTRAINT email_outbox_message_id_key UNIQUE,
    idempotency_key text CONSTRAINT email_outbox_idempotency_key_key UNIQUE,
    template_key    text,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- the worker's claim (in its order: a bulk enqueue shares one next_attempt_at,
-- and without id in the key every claim would sort all of them), its lease
-- recovery, and the retention purge
CREATE INDEX email_outbox_claim_idx ON crm.email_outbox (next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX email_outbox_lease_idx ON crm.email_outbox (lease_until) WHERE status = 'sending';
CREATE INDEX email_outbox_finished_idx ON crm.email_outbox (sent_at)
    WHERE status IN ('sent', 'failed', 'cancelled');
CREATE TRIGGER email_outbox_set_updated_at BEFORE UPDATE ON crm.email_outbox
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_outbox IS
    'Queued and sent email, one row per message; written by crm.send_email, crm.send_template, crm.cancel_email and the mail worker.';
COMMENT ON COLUMN crm.email_outbox.to_address IS 'Recipient (one ASCII address, as given).';
COMMENT ON COLUMN crm.email_outbox.subject IS 'Subject (UTF-8; sent as RFC 2047 encoded-words when needed).';
COMMENT ON COLUMN crm.email_outbox.body_text IS 'Plain-text body.';
COMMENT ON COLUMN crm.email_outbox.body_html IS 'HTML body, sent as the second part of multipart/alternative; NULL for none.';
COMMENT ON COLUMN crm.email_outbox.status IS
    'queued (waiting for next_attempt_at), sending (claimed by the worker until lease_until), sent, failed, or cancelled.';
COMMENT ON COLUMN crm.email_outbox.attempts IS 'Delivery attempts so far.';
COMMENT ON COLUMN crm.email_outbox.next_attempt_at IS 'Earliest time the worker may try (again).';
COMMENT ON COLUMN crm.email_outbox.lease_until IS 'While sending: when the claim expires and the row is re-queued.';
COMMENT ON COLUMN crm.email_outbox.last_error IS 'Why the last attempt failed or the row was cancelled.';
COMMENT ON COLUMN crm.email_outbox.message_id IS
    'Message-ID header, <random.id@domain>, fixed at enqueue so retries carry the same one.';
COMMENT ON COLUMN crm.email_outbox.idempotency_key IS
    'Caller''s key: crm.send_email with a key already here returns this row instead of queuing again.';
COMMENT ON COLUMN crm.email_outbox.template_key IS 'The crm.email_template key it was rendered from, if any.';
COMMENT ON COLUMN crm.email_outbox.created_by IS 'The session role that queued it.';
COMMENT ON COLUMN crm.email_outbox.sent_at IS
    'When it reached a final state: sent, failed, or cancelled (retention counts from here).';

CREATE TABLE crm.email_delivery_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES crm.email_outbox ON DELETE CASCADE,
    attempt         int NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    outcome         text NOT NULL CONSTRAINT email_delivery_log_outcome_valid
                    CHECK (outcome IN ('sent', 'retry', 'failed')),
    transport       text,
    response_code   int,
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_delivery_log_outbox_id_idx ON crm.email_delivery_log (outbox_id);
CREATE TRIGGER email_delivery_log_set_updated_at BEFORE UPDATE ON crm.email_delivery_log
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.email_delivery_log IS
    'One row per delivery attempt, written by the mail worker: outcome, transport, server reply.';
COMMENT ON COLUMN crm.email_delivery_log.attempt IS 'Attempt number (1 for the first).';
COMMENT ON COLUMN crm.email_delivery_log.outcome IS 'sent, retry (temporary failure) or failed (permanent).';
COMMENT ON COLUMN crm.email_delivery_log.transport IS 'file, smtp or http.';
COMMENT ON COLUMN crm.email_delivery_log.response_code IS 'SMTP reply code or HTTP status, when there was one.';
COMMENT ON COLUMN crm.email_delivery_log.detail IS 'Server reply or error text.';

-- The API.
CREATE FUNCTION crm.send_email(to_address text, subject text, body_text text,
                               body_html text DEFAULT NULL, idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_send_email';
COMMENT ON FUNCTION crm.send_email(text, text, text, text, text) IS
    'Validates and queues an email; returns its outbox id, NULL for a suppressed address, or the existing id for a known idempotency_key.';

CREATE FUNCTION crm.send_template(template_key text, to_address text, vars jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_send_template';
COMMENT ON FUNCTION crm.send_template(text, text, jsonb) IS
    'Renders crm.email_template template_key with vars ({{name}} placeholders, HTML-escaped in the HTML part) and queues it like crm.send_email.';

CREATE FUNCTION crm.render_message(outbox_id bigint) RETURNS text
    LANGUAGE c VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_render_message';
COMMENT ON FUNCTION crm.render_message(bigint) IS
    'The RFC 5322/MIME message the worker would send for an outbox row (Date: when sent, or now).';

CREATE FUNCTION crm.unsubscribe(address text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lowered text := pg_catalog.lower(unsubscribe.address);
    added boolean;
BEGIN
    PERFORM crm.check_email_address(unsubscribe.address);
    INSERT INTO crm.email_suppression AS s (address, reason) VALUES (lowered, 'unsubscribed')
        ON CONFLICT ON CONSTRAINT email_suppression_pkey DO NOTHING;
    added := FOUND;
    UPDATE crm.email_outbox o
       SET status = 'cancelled', sent_at = pg_catalog.now(), last_error = 'cancelled: the address unsubscribed'
     WHERE o.status OPERATOR(pg_catalog.=) 'queued'
       AND pg_catalog.lower(o.to_address) OPERATOR(pg_catalog.=) lowered;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.unsubscribe(text) IS
    'Adds an address to crm.email_suppression and cancels its queued email; true when it was not suppressed before.';

CREATE FUNCTION crm.cancel_email(id bigint) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    current_status text;
BEGIN
    UPDATE crm.email_outbox o
       SET status = 'cancelled', sent_at = pg_catalog.now(),
           last_error = pg_catalog.format('cancelled by %s', session_user)
     WHERE o.id OPERATOR(pg_catalog.=) cancel_email.id AND o.status OPERATOR(pg_catalog.=) 'queued';
    IF FOUND THEN
        RETURN true;
    END IF;
    SELECT o.status INTO current_status FROM crm.email_outbox o WHERE o.id OPERATOR(pg_catalog.=) cancel_email.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'email % does not exist', cancel_email.id
            USING ERRCODE = 'no_data_found', HINT = 'Look the id up in crm.email_outbox.';
    ELSIF current_status OPERATOR(pg_catalog.=) 'cancelled' THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION 'email % cannot be cancelled', cancel_email.id
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = CASE current_status
                       WHEN 'sending' THEN 'The worker is sending it now.'
                       WHEN 'sent' THEN 'It has been sent.'
                       ELSE 'Its delivery failed for good.' END,
              HINT = 'Only queued email can be cancelled.';
END
$$;
COMMENT ON FUNCTION crm.cancel_email(bigint) IS
    'Cancels a queued email: true when cancelled now, false when it already was; an error once sending has begun.';

-- Privileges: read for crm_reader, the API for crm_user, templates and the
-- suppression list for crm_admin, render_message for crm_admin.
REVOKE ALL ON crm.email_outbox, crm.email_delivery_log, crm.email_suppression, crm.email_template FROM PUBLIC;
GRANT SELECT ON crm.email_outbox, crm.email_delivery_log, crm.email_suppression, crm.email_template TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.email_template, crm.email_suppression TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.send_email(text, text, text, text, text), crm.send_template(text, text, jsonb),
    crm.render_message(bigint), crm.unsubscribe(text), crm.cancel_email(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.send_email(text, text, text, text, text), crm.send_template(text, text, jsonb),
    crm.unsubscribe(text), crm.cancel_email(bigint) TO crm_user;
GRANT EXECUTE ON FUNCTION crm.render_message(bigint) TO crm_admin;

-- ===== src/mail/20_worker.sql =====
-- src/mail/20_worker.sql: what the mail worker adds to the outbox: the
-- wake-on-commit trigger, its status view, and its claim statement as a
-- function (worker code in src/mail/worker*.c, wake.c, transport*.c).

CREATE FUNCTION crm.wake_mail_worker() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_wake_mail_worker';
REVOKE EXECUTE ON FUNCTION crm.wake_mail_worker() FROM PUBLIC;
COMMENT ON FUNCTION crm.wake_mail_worker() IS
    'Statement trigger on crm.email_outbox: wakes the mail worker when the transaction commits.';

CREATE TRIGGER email_outbox_wake_worker
    AFTER INSERT OR UPDATE OF status, next_attempt_at ON crm.email_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.wake_mail_worker();

CREATE FUNCTION crm._mail_worker_state(
        OUT pid integer, OUT state text, OUT started_at timestamptz, OUT in_flight integer,
        OUT sent bigint, OUT failed bigint, OUT retried bigint,
        OUT last_error text, OUT last_error_at timestamptz, OUT last_activity timestamptz)
    RETURNS record
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'crm_mail_worker_state';
REVOKE EXECUTE ON FUNCTION crm._mail_worker_state() FROM PUBLIC;
-- Functions in a view run with the reader's privileges.
GRANT EXECUTE ON FUNCTION crm._mail_worker_state() TO crm_reader;
COMMENT ON FUNCTION crm._mail_worker_state() IS
    'What the mail worker reports in shared memory; read it through crm.worker_status.';

CREATE FUNCTION crm._claim_emails(n integer, lease interval DEFAULT '5 minutes')
    RETURNS TABLE (id bigint, attempts integer, to_address text, subject text, body_text text,
                   body_html text, message_id text, created_at timestamptz)
    LANGUAGE c VOLATILE STRICT ROWS 10
    AS 'MODULE_PATHNAME', 'crm_claim_emails';
REVOKE EXECUTE ON FUNCTION crm._claim_emails(integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION crm._claim_emails(integer, interval) IS
    'The mail worker''s claim: marks up to n due queued messages sending with a lease, skipping rows '
    'other claimers hold, and returns them. Superuser only; whoever claims must record the outcome.';

CREATE VIEW crm.worker_status AS
SELECT w.pid,
       w.state,
       pg_catalog.current_setting('crm.database', true) AS database,
       w.started_at,
       w.in_flight,
       q.queued,
       q.sending,
       q.sent,
       q.failed,
       q.cancelled,
       q.oldest_queued_at,
       w.sent AS sent_since_start,
       w.failed AS failed_since_start,
       w.retried AS retried_since_start,
       w.last_error,
       w.last_error_at,
       w.last_activity
  FROM crm._mail_worker_state() AS w,
       (SELECT pg_catalog.count(*) FILTER (WHERE o.status = 'queued') AS queued,
               pg_catalog.count(*) FILTER (WHERE o.status = 'sending') AS sending,
               pg_catalog.count(*) FILTER (WHERE o.status = 'sent') AS sent,
               pg_catalog.count(*) FILTER (WHERE o.status = 'failed') AS failed,
               pg_catalog.count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled,
               pg_catalog.min(o.created_at) FILTER (WHERE o.status = 'queued') AS oldest_queued_at
          FROM crm.email_outbox AS o) AS q;
GRANT SELECT ON crm.worker_status TO crm_reader;
COMMENT ON VIEW crm.worker_status IS
    'The mail worker and its queue: one row. Counters are since the worker started; queue counts are this database''s outbox.';
COMMENT ON COLUMN crm.worker_status.pid IS 'Process id of the mail worker, NULL when it is not running.';
COMMENT ON COLUMN crm.worker_status.state IS
    'starting, idle, sending, waiting for extension, waiting for a lock, stopped, not started, or not loaded (crm is not in shared_preload_libraries).';
COMMENT ON COLUMN crm.worker_status.database IS 'The database the worker serves (crm.database).';
COMMENT ON COLUMN crm.worker_status.started_at IS 'When the running worker started.';
COMMENT ON COLUMN crm.worker_status.in_flight IS 'Messages claimed and not yet recorded.';
COMMENT ON COLUMN crm.worker_status.queued IS 'Messages waiting to be sent (including retries not yet due).';
COMMENT ON COLUMN crm.worker_status.sending IS 'Messages being delivered now.';
COMMENT ON COLUMN crm.worker_status.sent IS 'Messages delivered (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.failed IS 'Messages that failed for good (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.cancelled IS 'Messages cancelled before delivery (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.oldest_queued_at IS 'When the oldest queued message was queued.';
COMMENT ON COLUMN crm.worker_status.sent_since_start IS 'Messages the running worker delivered.';
COMMENT ON COLUMN crm.worker_status.failed_since_start IS 'Messages the running worker marked failed.';
COMMENT ON COLUMN crm.worker_status.retried_since_start IS 'Deliveries of the running worker that failed temporarily and were re-queued.';
COMMENT ON COLUMN crm.worker_status.last_error IS 'The latest delivery problem: message id, transport and what the server or system said.';
COMMENT ON COLUMN crm.worker_status.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN crm.worker_status.last_activity IS 'When the worker last looked at the queue.';

-- ===== src/forecast/10_regression.sql =====
-- src/forecast/10_regression.sql: regression and scoring aggregates in C.
--
--   crm.linreg(y, x[])                  least squares → jsonb model
--   crm.logreg(won, x[])                logistic maximum likelihood → jsonb model
--   crm.predict(model, x[])             prediction from either model
--   crm.revenue_range(amount, p)        distribution of won revenue → jsonb
--
-- All are parallel safe: linreg keeps sufficient statistics in a float8[];
-- logreg and revenue_range keep their rows (at most crm.max_aggregate_rows
-- per group) in an internal state that parallel workers pass as bytea.
-- Support functions (*_accum, *_combine, ...) are for the aggregates only.

-- crm.linreg ---------------------------------------------------------------
CREATE FUNCTION crm.linreg_accum(state float8[], y float8, x float8[]) RETURNS float8[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_accum';
COMMENT ON FUNCTION crm.linreg_accum(float8[], float8, float8[]) IS
    'Transition function of crm.linreg: adds a row to the sums and co-moments (Youngs-Cramer).';
CREATE FUNCTION crm.linreg_accum(state float8[], y float8, x float8) RETURNS float8[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_accum1';
COMMENT ON FUNCTION crm.linreg_accum(float8[], float8, float8) IS
    'Transition function of crm.linreg with one feature: adds a row to the sums and co-moments.';
CREATE FUNCTION crm.linreg_combine(state1 float8[], state2 float8[]) RETURNS float8[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_combine';
COMMENT ON FUNCTION crm.linreg_combine(float8[], float8[]) IS
    'Combine function of crm.linreg: merges two partial states (Chan''s formula).';
CREATE FUNCTION crm.linreg_final(state float8[]) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_final';
COMMENT ON FUNCTION crm.linreg_final(float8[]) IS
    'Final function of crm.linreg: solves the normal equations by Cholesky and writes the model.';
CREATE AGGREGATE crm.linreg(y float8, x float8[]) (
    SFUNC = crm.linreg_accum,
    STYPE = float8[],
    COMBINEFUNC = crm.linreg_combine,
    FINALFUNC = crm.linreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.linreg(float8, float8[]) IS
    'Ordinary least squares of y on the features x with an intercept: jsonb {kind: linreg, n, features, '
    'coef (intercept first), se, r2, adj_r2, sigma, rss, df_resid}.  Rows with a NULL skipped; '
    'NULL without rows.';
CREATE AGGREGATE crm.linreg(y float8, x float8) (
    SFUNC = crm.linreg_accum,
    STYPE = float8[],
    COMBINEFUNC = crm.linreg_combine,
    FINALFUNC = crm.linreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.linreg(float8, float8) IS
    'crm.linreg(y, ARRAY[x]) for one feature, without building an array per row: the same model.';

-- crm.logreg ---------------------------------------------------------------
CREATE FUNCTION crm.logreg_accum(state internal, y boolean, x float8[]) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_accum';
COMMENT ON FUNCTION crm.logreg_accum(internal, boolean, float8[]) IS
    'Transition function of crm.logreg: keeps the row.';
CREATE FUNCTION crm.logreg_combine(state1 internal, state2 internal) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_combine';
COMMENT ON FUNCTION crm.logreg_combine(internal, internal) IS
    'Combine function of crm.logreg: appends the rows of a partial state.';
CREATE FUNCTION crm.logreg_serialize(state internal) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_serialize';
COMMENT ON FUNCTION crm.logreg_serialize(internal) IS
    'Serialisation function of crm.logreg: the rows as bytea for parallel workers.';
CREATE FUNCTION crm.logreg_deserialize(data bytea, unused internal) RETURNS internal
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_deserialize';
COMMENT ON FUNCTION crm.logreg_deserialize(bytea, internal) IS
    'Deserialisation function of crm.logreg.';
CREATE FUNCTION crm.logreg_final(state internal) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_final';
COMMENT ON FUNCTION crm.logreg_final(internal) IS
    'Final function of crm.logreg: Newton''s method with step halving, separation test, model.';
CREATE AGGREGATE crm.logreg(y boolean, x float8[]) (
    SFUNC = crm.logreg_accum,
    STYPE = internal,
    COMBINEFUNC = crm.logreg_combine,
    SERIALFUNC = crm.logreg_serialize,
    DESERIALFUNC = crm.logreg_deserialize,
    FINALFUNC = crm.logreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.logreg(boolean, float8[]) IS
    'Logistic regression of y on the features x with an intercept, unpenalised maximum likelihood: '
    'jsonb {kind: logreg, n, features, coef (intercept first), se, loglik, null_loglik, aic, iterations, '
    'converged}.  Rows with a NULL skipped; NULL without rows; separated data raise an error.';

-- crm.predict --------------------------------------------------------------
CREATE FUNCTION crm.predict(model jsonb, x float8[]) RETURNS float8
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_predict';
COMMENT ON FUNCTION crm.predict(jsonb, float8[]) IS
    'Prediction of a crm.linreg model (intercept + coef · x) or win probability of a crm.logreg model; '
    'NULL when an element of x is NULL.';

-- crm.revenue_range --------------------------------------------------------
CREATE FUNCTION crm.revenue_range_accum(state internal, amount float8, win_probability float8)
    RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_accum';
COMMENT ON FUNCTION crm.revenue_range_accum(internal, float8, float8) IS
    'Transition function of crm.revenue_range: checks and keeps the deal.';
CREATE FUNCTION crm.revenue_range_combine(state1 internal, state2 internal) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_combine';
COMMENT ON FUNCTION crm.revenue_range_combine(internal, internal) IS
    'Combine function of crm.revenue_range: appends the deals of a partial state.';
CREATE FUNCTION crm.revenue_range_serialize(state internal) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_serialize';
COMMENT ON FUNCTION crm.revenue_range_serialize(internal) IS
    'Serialisation function of crm.revenue_range: the deals as bytea for parallel workers.';
CREATE FUNCTION crm.revenue_range_deserialize(data bytea, unused internal) RETURNS internal
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_deserialize';
COMMENT ON FUNCTION crm.revenue_range_deserialize(bytea, internal) IS
    'Deserialisation function of crm.revenue_range.';
CREATE FUNCTION crm.revenue_range_final(state internal) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_final';
COMMENT ON FUNCTION crm.revenue_range_final(internal) IS
    'Final function of crm.revenue_range: exact distribution when cheap, else exact large deals '
    'and an Edgeworth expansion for the rest.';
CREATE AGGREGATE crm.revenue_range(amount float8, win_probability float8) (
    SFUNC = crm.revenue_range_accum,
    STYPE = internal,
    COMBINEFUNC = crm.revenue_range_combine,
    SERIALFUNC = crm.revenue_range_serialize,
    DESERIALFUNC = crm.revenue_range_deserialize,
    FINALFUNC = crm.revenue_range_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.revenue_range(float8, float8) IS
    'Total won revenue when each deal is won independently with its probability: jsonb {kind: '
    'revenue_range, n, expected, sd, p10, p50, p90, min, max, method (exact or approximate)}.  Rows with '
    'a NULL skipped; NULL without rows.';

-- ===== src/forecast/20_timeseries.sql =====
-- src/forecast/20_timeseries.sql: time-series forecasting aggregates.
--
-- crm.arima, crm.holt_winters and crm.best_model are ordinary aggregates
-- called with ORDER BY inside the call, e.g.
--     SELECT crm.arima(revenue, 1, 1, 1 ORDER BY month) FROM monthly;
-- Their state (internal) is the series in that order, bounded by the GUC
-- crm.forecast_max_points; the final function fits the model and returns
-- it as jsonb, which crm.forecast turns into forecasts with intervals.
-- They have no combine function, because PostgreSQL never computes an
-- aggregate with ORDER BY as partial aggregates; they are PARALLEL SAFE, so
-- a parallel plan can still run them above a Gather.

CREATE FUNCTION crm.arima_accum(state internal, y float8, p integer, d integer, q integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.arima_accum(internal, float8, integer, integer, integer) IS
    'Transition function of crm.arima: appends y to the series.';

CREATE FUNCTION crm.arima_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_arima_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.arima_final(internal) IS
    'Final function of crm.arima: fits the ARIMA model by exact maximum likelihood.';

CREATE AGGREGATE crm.arima(y float8, p integer, d integer, q integer) (
    SFUNC = crm.arima_accum,
    STYPE = internal,
    FINALFUNC = crm.arima_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.arima(float8, integer, integer, integer) IS
    'ARIMA(p, d, q) by exact Gaussian maximum likelihood (Kalman filter) of the series differenced d times, '
    'with a mean when d = 0; call with ORDER BY inside, e.g. crm.arima(y, 1, 1, 1 ORDER BY t). Returns a jsonb model.';

CREATE FUNCTION crm.holt_winters_accum(state internal, y float8, season integer, seasonal text)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_accum(internal, float8, integer, text) IS
    'Transition function of crm.holt_winters: appends y to the series.';

CREATE FUNCTION crm.holt_winters_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_holt_winters_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_final(internal) IS
    'Final function of crm.holt_winters: estimates smoothing parameters and initial states by least squares.';

CREATE AGGREGATE crm.holt_winters(y float8, season integer, seasonal text) (
    SFUNC = crm.holt_winters_accum,
    STYPE = internal,
    FINALFUNC = crm.holt_winters_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.holt_winters(float8, integer, text) IS
    'Holt-Winters with additive trend and ''additive'' or ''multiplicative'' seasonality of season points; '
    'alpha, beta, gamma and the initial states minimise the one-step sum of squared errors. Returns a jsonb model.';

CREATE FUNCTION crm.holt_winters_accum(state internal, y float8, season integer, seasonal text,
                                       alpha float8, beta float8, gamma float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_accum(internal, float8, integer, text, float8, float8, float8) IS
    'Transition function of crm.holt_winters with given smoothing parameters: appends y to the series.';

CREATE FUNCTION crm.holt_winters_fixed_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_holt_winters_fixed_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_fixed_final(internal) IS
    'Final function of crm.holt_winters with given smoothing parameters: runs the recursions from heuristic initial states.';

CREATE AGGREGATE crm.holt_winters(y float8, season integer, seasonal text,
                                  alpha float8, beta float8, gamma float8) (
    SFUNC = crm.holt_winters_accum,
    STYPE = internal,
    FINALFUNC = crm.holt_winters_fixed_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.holt_winters(float8, integer, text, float8, float8, float8) IS
    'Holt-Winters with the given alpha, beta, gamma and initial states by statsmodels'' heuristic rule '
    '(Hyndman et al. 2008, 2.6.1); for checking against other implementations. Returns a jsonb model.';

CREATE FUNCTION crm.best_model_accum(state internal, y float8, season integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.best_model_accum(internal, float8, integer) IS
    'Transition function of crm.best_model: appends y to the series.';

CREATE FUNCTION crm.best_model_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_best_model_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.best_model_final(internal) IS
    'Final function of crm.best_model: fits every candidate and keeps the one with the smallest AICc.';

CREATE AGGREGATE crm.best_model(y float8, season integer) (
    SFUNC = crm.best_model_accum,
    STYPE = internal,
    FINALFUNC = crm.best_model_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.best_model(float8, integer) IS
    'The model crm.forecast should use: ARIMA(p, d, q) with p, q <= 2, d <= 1, or Holt-Winters with the given season '
    '(1 for none), chosen by AICc on the same data; the jsonb lists every candidate under "selection".';

CREATE FUNCTION crm.forecast(model jsonb, horizon integer, level float8 DEFAULT 0.95)
RETURNS TABLE (step integer, yhat float8, lo float8, hi float8)
AS 'MODULE_PATHNAME', 'crm_forecast'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION crm.forecast(jsonb, integer, float8) IS
    'Forecasts of a crm.arima, crm.holt_winters or crm.best_model model for steps 1..horizon, '
    'with the level (default 0.95) prediction interval lo..hi.';

-- ===== src/forecast/30_revenue_forecast.sql =====
-- src/forecast/30_revenue_forecast.sql: monthly won revenue and its forecast.
--
-- One row per currency and month: the revenue won in each complete month
-- (deals in a stage of kind 'won', by month of closed_at in the session's
-- time zone, months without a won deal as 0), then the next three months
-- forecast by crm.best_model with 95% intervals.  The current month is
-- incomplete, so it is forecast rather than reported.

CREATE VIEW crm.revenue_forecast AS
WITH won AS (
    SELECT d.currency::text AS currency,
           pg_catalog.date_trunc('month', d.closed_at) AS month,
           sum(d.amount) AS revenue
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
     WHERE s.kind = 'won'
       AND d.closed_at < pg_catalog.date_trunc('month', pg_catalog.now())
     GROUP BY 1, 2
), monthly AS (
    SELECT c.currency, m.month, coalesce(w.revenue, 0) AS revenue
      FROM (SELECT currency, min(month) AS first_month FROM won GROUP BY currency) c
     CROSS JOIN LATERAL pg_catalog.generate_series(
               c.first_month,
               pg_catalog.date_trunc('month', pg_catalog.now()) - interval '1 month',
               interval '1 month') AS m(month)
      LEFT JOIN won w ON w.currency = c.currency AND w.month = m.month
), fitted AS (
    -- four months is the least any candidate model needs
    SELECT currency, max(month) AS last_month,
           crm.best_model(revenue::float8, 12 ORDER BY month) AS model
      FROM monthly
     WHERE currency IN (SELECT currency FROM monthly GROUP BY currency HAVING count(*) >= 4)
     GROUP BY currency
)
SELECT currency, month::date AS month, 'actual'::text AS kind, revenue,
       NULL::numeric AS revenue_lo, NULL::numeric AS revenue_hi, NULL::text AS model
  FROM monthly
UNION ALL
SELECT f.currency, (f.last_month + fc.step * interval '1 month')::date, 'forecast',
       round(greatest(fc.yhat, 0)::numeric, 2),
       round(greatest(fc.lo, 0)::numeric, 2),
       round(greatest(fc.hi, 0)::numeric, 2),
       f.model -> 'selection' ->> 'chosen'
  FROM fitted f
 CROSS JOIN LATERAL crm.forecast(f.model, 3, 0.95) AS fc;

COMMENT ON VIEW crm.revenue_forecast IS
    'Won revenue per currency and complete month, then the next three months (the current one first) '
    'forecast by crm.best_model with 95% prediction intervals.';
COMMENT ON COLUMN crm.revenue_forecast.currency IS 'Currency of the deals.';
COMMENT ON COLUMN crm.revenue_forecast.month IS 'First day of the month (session time zone).';
COMMENT ON COLUMN crm.revenue_forecast.kind IS
    'actual: revenue won in that month (0 if none); forecast: a future month.';
COMMENT ON COLUMN crm.revenue_forecast.revenue IS
    'Sum of amount of the deals won that month, or the forecast (floored at 0, to the cent).';
COMMENT ON COLUMN crm.revenue_forecast.revenue_lo IS
    'Lower end of the 95% prediction interval (floored at 0); NULL for actual months.';
COMMENT ON COLUMN crm.revenue_forecast.revenue_hi IS
    'Upper end of the 95% prediction interval; NULL for actual months.';
COMMENT ON COLUMN crm.revenue_forecast.model IS
    'The model crm.best_model chose, e.g. holt_winters(additive) or arima(0,1,1); NULL for actual months.';

GRANT SELECT ON crm.revenue_forecast TO crm_reader;

-- ===== src/forecast/40_lead_score.sql =====
-- src/forecast/40_lead_score.sql: a win probability for every open deal,
-- from crm.logreg fitted on the closed (won or lost) deals of its pipeline.
--
-- Features (crm.deal_win_features), both known when a deal is created and
-- so measured the same way for closed and open deals (the age of a deal,
-- say, is not: a closed deal's age stops at closing, an open one's is
-- still growing, and a model of it would call every young lead a sure
-- win):
--   1. ln(1 + amount)
--   2. ln(1 + deals of the same account won before this one was created)
-- When the second feature does not vary in a pipeline's history (no
-- accounts, or no repeat business yet) the model uses the first alone.
-- A pipeline needs 10 won and 10 lost deals before it gets a model.  The
-- view fits one model per deal pipeline each time it is read.

CREATE FUNCTION crm.deal_win_features(deal crm.deal) RETURNS float8[]
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ARRAY[pg_catalog.ln(1 + deal.amount::float8),
             pg_catalog.ln(1 + (SELECT count(*)
                                  FROM crm.deal p
                                  JOIN crm.stage s ON s.pipeline_id = p.pipeline_id AND s.key = p.stage
                                 WHERE p.account_id = deal.account_id AND s.kind = 'won'
                                   AND p.closed_at < deal.created_at)::float8)];
COMMENT ON FUNCTION crm.deal_win_features(crm.deal) IS
    'Features of the deal win model: ln(1 + amount), ln(1 + deals of the same account won before the deal '
    'was created).';

CREATE FUNCTION crm.deal_win_model(pipeline_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    won bigint;
    lost bigint;
    features integer;
BEGIN
    SELECT count(*) FILTER (WHERE s.kind = 'won'), count(*) FILTER (WHERE s.kind = 'lost') INTO won, lost
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
     WHERE d.pipeline_id = deal_win_model.pipeline_id;
    IF won < 10 OR lost < 10 THEN
        RETURN NULL;
    END IF;
    -- both features, else the first alone (no repeat business yet, say)
    FOR features IN REVERSE 2 .. 1 LOOP
        BEGIN
            RETURN (SELECT crm.logreg(s.kind = 'won', (crm.deal_win_features(d))[1:features])
                      FROM crm.deal d
                      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
                     WHERE d.pipeline_id = deal_win_model.pipeline_id AND s.kind IN ('won', 'lost'));
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;               -- separated or constant history: try fewer features
        END;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.deal_win_model(bigint) IS
    'crm.logreg model of winning on crm.deal_win_features (or its first feature alone when the history does '
    'not determine both), fitted on the closed deals of a pipeline; NULL with fewer than 10 won or 10 lost '
    'deals, or when they determine no model.';

CREATE VIEW crm.deal_win_score AS
WITH model AS MATERIALIZED (
    SELECT p.id AS pipeline_id, crm.deal_win_model(p.id) AS model
      FROM crm.pipeline p
     WHERE p.object_type = 'deal'
)
SELECT d.id AS deal_id,
       d.pipeline_id,
       d.name,
       d.stage,
       d.owner,
       d.currency,
       d.amount,
       coalesce(d.probability, s.probability) AS stage_probability,
       crm.predict(m.model, (crm.deal_win_features(d))[1:(m.model ->> 'features')::int]) AS win_probability,
       (m.model ->> 'features')::int AS model_features,
       (m.model ->> 'n')::bigint AS model_deals
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage AND s.kind = 'open'
  LEFT JOIN model m ON m.pipeline_id = d.pipeline_id;
COMMENT ON VIEW crm.deal_win_score IS
    'Open deals with a win probability from crm.logreg fitted on the closed deals of their pipeline '
    '(features: crm.deal_win_features).';
COMMENT ON COLUMN crm.deal_win_score.deal_id IS 'The deal (crm.deal.id).';
COMMENT ON COLUMN crm.deal_win_score.pipeline_id IS 'The deal''s pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.deal_win_score.name IS 'Deal name.';
COMMENT ON COLUMN crm.deal_win_score.stage IS 'Stage key (an open stage).';
COMMENT ON COLUMN crm.deal_win_score.owner IS 'Who owns the deal.';
COMMENT ON COLUMN crm.deal_win_score.currency IS 'Currency of the amount.';
COMMENT ON COLUMN crm.deal_win_score.amount IS 'Deal value.';
COMMENT ON COLUMN crm.deal_win_score.stage_probability IS
    'The deal''s probability as recorded (set from its stage unless set by hand).';
COMMENT ON COLUMN crm.deal_win_score.win_probability IS
    'Probability of winning from the pipeline''s logistic model; NULL when the pipeline has no model '
    '(fewer than 10 won or 10 lost deals, or no model fits them).';
COMMENT ON COLUMN crm.deal_win_score.model_features IS
    'How many of crm.deal_win_features the model uses: 2, or 1 (the amount) when the history does not '
    'determine both.';
COMMENT ON COLUMN crm.deal_win_score.model_deals IS 'Closed deals the model was fitted on.';

GRANT SELECT ON crm.deal_win_score TO crm_reader;

-- ===== src/sales/10_common.sql =====
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
CREATE FUNCTION crm.changed_columns(old_row jsonb, new_row jsonb, allowed text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(SELECT n.key FROM pg_catalog.jsonb_each(new_row) AS n
              WHERE n.value IS DISTINCT FROM old_row -> n.key AND n.key <> ALL (allowed)
              ORDER BY n.key);
COMMENT ON FUNCTION crm.changed_columns(jsonb, jsonb, text[]) IS
    'Names of the columns whose values differ between two rows (as jsonb), except the allowed ones, sorted.';

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

-- ===== src/sales/20_workflows.sql =====
-- src/sales/20_workflows.sql: the status workflows of quotes, sales orders,
-- invoices and tickets, as rows of the transition engine's rule tables.
--
-- Each is a crm.pipeline named after its table (object_type = the table),
-- attached to the table's status column with crm.enforce_transition(
-- 'status', '<name>') and crm.record_transition(...) in the files that
-- follow.  Kinds: the successful end of each workflow is 'won' (accepted,
-- completed, paid, closed), the other ends are 'lost' (rejected, expired,
-- cancelled, void); the engine stamps closed_at on entering either and
-- status_entered_at on every move.  Lost ends need a reason, named by the
-- stage's required_fields (rejection_reason, cancel_reason, void_reason),
-- since these tables have no lost_reason column.  Open stages carry
-- probability 0 (these tables have no probability column; won is 1, lost
-- 0 as crm.stage requires).  Labels may be edited (e.g. translated); the
-- sales functions rely on the keys and moves below.

INSERT INTO crm.pipeline (name, object_type)
VALUES ('quote', 'quote'), ('sales_order', 'sales_order'), ('invoice', 'invoice'), ('ticket', 'ticket');

INSERT INTO crm.stage (pipeline_id, key, label, position, probability, kind, forecast_category, required_fields)
SELECT p.id, s.key, s.label, s.position, CASE s.kind WHEN 'won' THEN 1 ELSE 0 END, s.kind,
       CASE s.kind WHEN 'won' THEN 'closed' WHEN 'lost' THEN 'omitted' ELSE 'pipeline' END, s.required
  FROM (VALUES
        ('quote', 'draft', 'Draft', 1, 'open', '{}'::text[]),
        ('quote', 'sent', 'Sent', 2, 'open', '{valid_until}'),
        ('quote', 'accepted', 'Accepted', 3, 'won', '{}'),
        ('quote', 'rejected', 'Rejected', 4, 'lost', '{rejection_reason}'),
        ('quote', 'expired', 'Expired', 5, 'lost', '{}'),
        ('sales_order', 'confirmed', 'Confirmed', 1, 'open', '{}'),
        ('sales_order', 'delivered', 'Delivered', 2, 'open', '{delivered_at}'),
        ('sales_order', 'completed', 'Completed', 3, 'won', '{}'),
        ('sales_order', 'cancelled', 'Cancelled', 4, 'lost', '{cancel_reason}'),
        ('invoice', 'draft', 'Draft', 1, 'open', '{}'),
        ('invoice', 'issued', 'Issued', 2, 'open', '{}'),
        ('invoice', 'partially_paid', 'Partially paid', 3, 'open', '{}'),
        ('invoice', 'paid', 'Paid', 4, 'won', '{}'),
        ('invoice', 'void', 'Void', 5, 'lost', '{void_reason}'),
        ('ticket', 'open', 'Open', 1, 'open', '{}'),
        ('ticket', 'in_progress', 'In progress', 2, 'open', '{}'),
        ('ticket', 'waiting', 'Waiting', 3, 'open', '{}'),
        ('ticket', 'resolved', 'Resolved', 4, 'open', '{}'),
        ('ticket', 'closed', 'Closed', 5, 'won', '{}')
       ) AS s(workflow, key, label, position, kind, required)
  JOIN crm.pipeline p ON p.name = s.workflow AND p.object_type = s.workflow;

INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT p.id, t.from_stage, t.to_stage
  FROM (VALUES
        ('quote', 'draft', 'sent'),
        ('quote', 'sent', 'accepted'),
        ('quote', 'sent', 'rejected'),
        ('quote', 'sent', 'expired'),
        ('sales_order', 'confirmed', 'delivered'),
        ('sales_order', 'delivered', 'completed'),
        ('sales_order', 'confirmed', 'cancelled'),
        ('invoice', 'draft', 'issued'),
        ('invoice', 'draft', 'void'),
        ('invoice', 'issued', 'partially_paid'),
        ('invoice', 'issued', 'paid'),
        ('invoice', 'partially_paid', 'paid'),
        ('invoice', 'issued', 'void'),
        ('ticket', 'open', 'in_progress'),
        ('ticket', 'in_progress', 'waiting'),
        ('ticket', 'waiting', 'in_progress'),
        ('ticket', 'in_progress', 'resolved'),
        ('ticket', 'waiting', 'resolved'),
        ('ticket', 'resolved', 'closed'),
        ('ticket', 'resolved', 'in_progress')
       ) AS t(workflow, from_stage, to_stage)
  JOIN crm.pipeline p ON p.name = t.workflow AND p.object_type = t.workflow;

-- ===== src/sales/30_quote.sql =====
-- src/sales/30_quote.sql: quotes (报价) and their lines.
--
-- A quote is made from a deal (crm.create_quote copies the deal's items),
-- edited while it is a draft, sent, then accepted (crm.accept_quote, in
-- 40_order.sql, which also wins the deal and creates the order), rejected
-- or expired.  Its status follows the 'quote' workflow through the C engine;
-- quote_guard keeps what the customer has seen unchanged once it is sent.

CREATE TABLE crm.quote (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id           bigint NOT NULL REFERENCES crm.deal ON DELETE RESTRICT,
    account_id        bigint NOT NULL REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    currency          crm.currency_code NOT NULL,
    valid_until       date NOT NULL DEFAULT crm.quote_default_valid_until(),
    net_total         numeric NOT NULL DEFAULT 0,
    tax_total         numeric NOT NULL DEFAULT 0,
    gross_total       numeric NOT NULL DEFAULT 0,
    rejection_reason  text,
    notes             text,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT quote_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quote_id_currency_key UNIQUE (id, currency)
);
CREATE INDEX quote_deal_id_idx ON crm.quote (deal_id);
CREATE INDEX quote_account_id_idx ON crm.quote (account_id);
CREATE INDEX quote_contact_id_idx ON crm.quote (contact_id);
CREATE INDEX quote_sent_valid_until_idx ON crm.quote (valid_until) WHERE status = 'sent';
CREATE UNIQUE INDEX quote_one_accepted_per_deal ON crm.quote (deal_id) WHERE status = 'accepted';
COMMENT ON TABLE crm.quote IS
    'Quotes (报价) made from deals; status draft → sent → accepted | rejected | expired (workflow ''quote'').';
COMMENT ON COLUMN crm.quote.deal_id IS 'The deal quoted; its account, contact and currency are the defaults.';
COMMENT ON COLUMN crm.quote.account_id IS 'The customer.';
COMMENT ON COLUMN crm.quote.contact_id IS 'The person the quote is addressed to.';
COMMENT ON COLUMN crm.quote.status IS 'draft, sent, accepted, rejected or expired; moves follow the ''quote'' workflow.';
COMMENT ON COLUMN crm.quote.status_entered_at IS 'When the quote entered its status (set by the engine).';
COMMENT ON COLUMN crm.quote.closed_at IS 'When it was accepted, rejected or expired (set by the engine).';
COMMENT ON COLUMN crm.quote.valid_until IS
    'Last day the offer can be accepted; today + crm.quote_valid_days by default. May change while draft or sent.';
COMMENT ON COLUMN crm.quote.net_total IS 'Sum of the lines'' net amounts (kept by triggers).';
COMMENT ON COLUMN crm.quote.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers).';
COMMENT ON COLUMN crm.quote.gross_total IS 'net_total + tax_total (kept by triggers).';
COMMENT ON COLUMN crm.quote.rejection_reason IS 'Why the customer declined; required to reject.';

CREATE TABLE crm.quote_item (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id     bigint NOT NULL,
    currency     crm.currency_code NOT NULL,
    product_id   bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description  text NOT NULL,
    quantity     numeric NOT NULL CONSTRAINT quote_item_quantity_positive CHECK (quantity > 0),
    unit_price   numeric NOT NULL CONSTRAINT quote_item_unit_price_not_negative CHECK (unit_price >= 0),
    discount     numeric NOT NULL DEFAULT 0
                 CONSTRAINT quote_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    tax_rate     numeric NOT NULL DEFAULT crm.default_tax_rate()
                 CONSTRAINT quote_item_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    net_amount   numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)) STORED,
    tax_amount   numeric GENERATED ALWAYS AS (crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    gross_amount numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)
                                              + crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quote_item_quote_fkey FOREIGN KEY (quote_id, currency)
        REFERENCES crm.quote (id, currency) ON DELETE CASCADE
);
CREATE INDEX quote_item_quote_id_idx ON crm.quote_item (quote_id);
CREATE INDEX quote_item_product_id_idx ON crm.quote_item (product_id);
CREATE TRIGGER quote_item_set_updated_at BEFORE UPDATE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.quote_item IS
    'Lines of a quote; editable while the quote is a draft. Amounts rounded per line to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.currency IS 'The quote''s currency (filled in; a line cannot differ).';
COMMENT ON COLUMN crm.quote_item.description IS 'Text shown on the line; the product''s name when not given.';
COMMENT ON COLUMN crm.quote_item.quantity IS 'Units, more than 0.';
COMMENT ON COLUMN crm.quote_item.unit_price IS 'Price per unit before discount; the product''s price when not given.';
COMMENT ON COLUMN crm.quote_item.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.quote_item.tax_rate IS 'Tax as a fraction of the net amount, 0..1; crm.default_tax_rate when not given.';
COMMENT ON COLUMN crm.quote_item.net_amount IS 'quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.tax_amount IS 'net_amount × tax_rate, rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.quote_item.gross_amount IS 'net_amount + tax_amount.';

CREATE TABLE crm.quote_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id           bigint NOT NULL REFERENCES crm.quote ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quote_status_history_quote_idx ON crm.quote_status_history (quote_id, changed_at);
COMMENT ON TABLE crm.quote_status_history IS
    'One row per status a quote entered, written by the engine; from_stage is NULL for the row written at INSERT.';

-- What a sent quote must keep, and what each move needs.
CREATE FUNCTION crm.quote_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    deal record;
    changed text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'quote % cannot be deleted: it is %', OLD.id, OLD.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Only draft quotes may be deleted; a quote the customer has seen stays on record.',
                      HINT = 'Reject it with crm.reject_quote(quote_id, reason), or let it expire.';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        SELECT d.account_id, d.contact_id, d.currency, d.stage, s.kind INTO deal
          FROM crm.deal d JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
         WHERE d.id = NEW.deal_id;
        IF NOT FOUND THEN
            RETURN NEW;         -- the foreign key reports the missing deal
        END IF;
        IF deal.kind = 'lost' THEN
            RAISE EXCEPTION 'deal % is lost', NEW.deal_id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('It is in stage "%s", a lost stage.', deal.stage),
                      HINT = 'Reopen the deal along an allowed move before quoting it.';
        END IF;
        NEW.account_id := coalesce(NEW.account_id, deal.account_id);
        NEW.contact_id := coalesce(NEW.contact_id, deal.contact_id);
        NEW.currency := coalesce(NEW.currency, deal.currency);
        IF NEW.account_id IS NULL THEN
            RAISE EXCEPTION 'deal % has no account to quote', NEW.deal_id
                USING ERRCODE = 'not_null_violation',
                      DETAIL = 'Quotes, orders and invoices are addressed to an account, the customer.',
                      HINT = 'Set the deal''s account_id first.';
        END IF;
        IF NEW.status <> 'draft' THEN
            RAISE EXCEPTION 'quote % cannot start as %', NEW.id, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'New quotes start as drafts.',
                      HINT = 'Insert it as a draft, add its lines, then send it with crm.send_quote(quote_id).';
        END IF;
        RETURN NEW;
    END IF;

    changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
        CASE WHEN OLD.status = 'draft'
             THEN ARRAY['account_id', 'contact_id', 'currency', 'valid_until', 'net_total', 'tax_total', 'gross_total',
                        'status', 'status_entered_at', 'closed_at', 'rejection_reason', 'notes', 'owner',
                        'attributes', 'updated_at']
             WHEN OLD.status = 'sent'
             THEN ARRAY['contact_id', 'valid_until', 'status', 'status_entered_at', 'closed_at', 'rejection_reason',
                        'notes', 'owner', 'attributes', 'updated_at']
             ELSE ARRAY['contact_id', 'notes', 'owner', 'attributes', 'updated_at'] END);
    IF changed <> '{}' THEN
        RAISE EXCEPTION 'quote % is % and cannot be changed that way', OLD.id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('This update changes %s. A quote keeps its deal; once sent it keeps its customer, '
                                  'currency and amounts, and once closed its validity too.',
                                  array_to_string(changed, ', ')),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    END IF;
    IF NEW.currency <> OLD.currency AND EXISTS (SELECT FROM crm.quote_item i WHERE i.quote_id = OLD.id) THEN
        RAISE EXCEPTION 'quote % has lines in %', OLD.id, OLD.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Delete its lines before changing its currency.';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status IN ('sent', 'accepted') AND NEW.valid_until < current_date THEN
            RAISE EXCEPTION 'quote % has expired', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('It was valid until %s.', to_char(NEW.valid_until, 'YYYY-MM-DD')),
                      HINT = CASE NEW.status WHEN 'sent' THEN 'Set a later valid_until before sending it.'
                             ELSE 'Extend valid_until if the offer still stands, or make a new quote with crm.create_quote(deal_id).' END;
        END IF;
        IF NEW.status = 'sent' AND NOT EXISTS (SELECT FROM crm.quote_item i WHERE i.quote_id = OLD.id) THEN
            RAISE EXCEPTION 'quote % has no lines', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Add lines to crm.quote_item before sending it.';
        END IF;
        IF NEW.status = 'accepted' AND EXISTS (SELECT FROM crm.quote q WHERE q.deal_id = NEW.deal_id
                                                                      AND q.status = 'accepted' AND q.id <> OLD.id) THEN
            RAISE EXCEPTION 'deal % already has an accepted quote', NEW.deal_id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'A deal is won once, by one accepted quote.',
                      HINT = 'Reject the other quotes of the deal instead.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.quote_guard() IS
    'BEFORE trigger on crm.quote: defaults from the deal, drafts only at INSERT and DELETE, sent quotes unchanged, checks per move.';

-- The engine fires first (enforce < guard), so a forbidden move is refused
-- before the guard looks at it.  It also stamps updated_at.
CREATE TRIGGER quote_enforce_transition BEFORE INSERT OR UPDATE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'quote');
CREATE TRIGGER quote_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.quote_guard();
CREATE TRIGGER quote_record_transition AFTER INSERT OR UPDATE ON crm.quote
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('crm.quote_status_history', 'quote_id', 'status', 'quote');

CREATE FUNCTION crm.quote_item_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    quote record;
    product record;
    target bigint;
BEGIN
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.quote_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.quote_id END]
    LOOP
        CONTINUE WHEN target IS NULL;
        SELECT q.id, q.status, q.currency INTO quote FROM crm.quote q WHERE q.id = target FOR NO KEY UPDATE;
        IF FOUND AND quote.status <> 'draft' THEN
            RAISE EXCEPTION 'quote % is %: its lines cannot change', quote.id, quote.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Lines can be added, changed or removed only while the quote is a draft.',
                      HINT = 'Make a new quote with crm.create_quote(deal_id).';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF quote.id IS NULL THEN
        RETURN NEW;             -- the foreign key reports the missing quote
    END IF;
    NEW.currency := coalesce(NEW.currency, quote.currency);
    IF NEW.currency <> quote.currency THEN
        RAISE EXCEPTION 'a line in % cannot be added to quote %, which is in %', NEW.currency, quote.id, quote.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Leave currency out: lines take the quote''s.';
    END IF;
    product := crm.line_product(NEW.product_id, quote.currency, 'quote ' || quote.id);
    NEW.unit_price := coalesce(NEW.unit_price, product.unit_price);
    NEW.description := coalesce(NEW.description, product.name);
    PERFORM crm.check_line_values(NEW.quantity, NEW.unit_price, NEW.discount, NEW.tax_rate, TG_TABLE_NAME,
                                  format('Line "%s" of quote %s', NEW.description, quote.id));
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.quote_item_guard() IS
    'BEFORE trigger on crm.quote_item: lines change only on draft quotes; currency, price and description defaults.';
CREATE TRIGGER quote_item_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.quote_item_guard();

-- Document totals follow their lines (quotes, orders and invoices).
CREATE FUNCTION crm.sync_document_totals() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target bigint;
BEGIN
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) ->> TG_ARGV[0] END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) ->> TG_ARGV[0] END]::bigint[]
    LOOP
        CONTINUE WHEN target IS NULL;
        CASE TG_TABLE_NAME
        WHEN 'quote_item' THEN
            UPDATE crm.quote d SET net_total = t.net, tax_total = t.tax, gross_total = t.net + t.tax
              FROM (SELECT coalesce(sum(i.net_amount), 0) AS net, coalesce(sum(i.tax_amount), 0) AS tax
                      FROM crm.quote_item i WHERE i.quote_id = target) t
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net, t.tax);
        WHEN 'sales_order_item' THEN
            UPDATE crm.sales_order d SET net_total = t.net, tax_total = t.tax, gross_total = t.net + t.tax
              FROM (SELECT coalesce(sum(i.net_amount), 0) AS net, coalesce(sum(i.tax_amount), 0) AS tax
                      FROM crm.sales_order_item i WHERE i.sales_order_id = target) t
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net, t.tax);
        WHEN 'invoice_line' THEN
            UPDATE crm.invoice d SET net_total = t.net, tax_total = t.tax, gross_total = t.net + t.tax
              FROM (SELECT coalesce(sum(i.net_amount), 0) AS net, coalesce(sum(i.tax_amount), 0) AS tax
                      FROM crm.invoice_line i WHERE i.invoice_id = target) t
             WHERE d.id = target AND (d.net_total, d.tax_total) IS DISTINCT FROM (t.net, t.tax);
        END CASE;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.sync_document_totals() IS
    'AFTER row trigger on quote, order and invoice lines (argument: the column referencing the document): '
    'sets the document''s net_total, tax_total and gross_total to the sums of its lines.';
CREATE TRIGGER quote_item_sync_totals AFTER INSERT OR UPDATE OR DELETE ON crm.quote_item
    FOR EACH ROW EXECUTE FUNCTION crm.sync_document_totals('quote_id');

CREATE FUNCTION crm.create_quote(deal_id bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM FROM crm.deal d WHERE d.id = create_quote.deal_id FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deal % does not exist', create_quote.deal_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO crm.quote (deal_id) VALUES (create_quote.deal_id) RETURNING id INTO new_id;
    INSERT INTO crm.quote_item (quote_id, product_id, quantity, unit_price, discount)
    SELECT new_id, i.product_id, i.quantity, i.unit_price, i.discount
      FROM crm.deal_item i WHERE i.deal_id = create_quote.deal_id ORDER BY i.id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.create_quote(bigint) IS
    'Creates a draft quote for a deal (its account, contact and currency), copying the deal''s items; '
    'valid until today + crm.quote_valid_days. Returns the quote id.';

CREATE FUNCTION crm.send_quote(quote_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.quote SET status = 'sent' WHERE id = send_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', send_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.send_quote(bigint) IS
    'Marks a draft quote as sent to the customer; from then on its lines and amounts are fixed.';

CREATE FUNCTION crm.reject_quote(quote_id bigint, reason text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.quote SET status = 'rejected', rejection_reason = reason WHERE id = reject_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', reject_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.reject_quote(bigint, text) IS
    'Records that the customer declined a sent quote, and why (the reason is required).';

CREATE FUNCTION crm.expire_quotes() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    UPDATE crm.quote SET status = 'expired' WHERE status = 'sent' AND valid_until < current_date;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.expire_quotes() IS
    'Moves every sent quote whose valid_until has passed to expired; returns how many. Schedule it daily (pg_cron).';

GRANT SELECT ON crm.quote, crm.quote_item, crm.quote_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.quote, crm.quote_item TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.create_quote(bigint), crm.send_quote(bigint), crm.reject_quote(bigint, text),
    crm.expire_quotes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_quote(bigint), crm.send_quote(bigint), crm.reject_quote(bigint, text),
    crm.expire_quotes() TO crm_user;

-- ===== src/sales/40_order.sql =====
-- src/sales/40_order.sql: sales orders (订单处理) and delivery (交付).
--
-- crm.accept_quote accepts a sent quote, moves its deal to the won stage and
-- creates the order with the quote's lines.  An order is confirmed, then
-- delivered (crm.deliver_order), and completed by itself once it is both
-- delivered and paid; it can be cancelled before delivery while it has no
-- live (non-void) invoice.  Its status follows the 'sales_order' workflow
-- through the C engine.

CREATE TABLE crm.sales_order (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quote_id          bigint CONSTRAINT sales_order_quote_id_key UNIQUE REFERENCES crm.quote ON DELETE RESTRICT,
    deal_id           bigint REFERENCES crm.deal ON DELETE RESTRICT,
    account_id        bigint NOT NULL REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    currency          crm.currency_code NOT NULL,
    net_total         numeric NOT NULL DEFAULT 0,
    tax_total         numeric NOT NULL DEFAULT 0,
    gross_total       numeric NOT NULL DEFAULT 0,
    delivered_at      timestamptz,
    cancel_reason     text,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT sales_order_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_order_id_currency_key UNIQUE (id, currency)
);
CREATE INDEX sales_order_deal_id_idx ON crm.sales_order (deal_id);
CREATE INDEX sales_order_account_id_idx ON crm.sales_order (account_id);
CREATE INDEX sales_order_contact_id_idx ON crm.sales_order (contact_id);
CREATE INDEX sales_order_created_at_idx ON crm.sales_order (created_at);
COMMENT ON TABLE crm.sales_order IS
    'Sales orders (订单); status confirmed → delivered → completed, or cancelled before delivery (workflow ''sales_order'').';
COMMENT ON COLUMN crm.sales_order.quote_id IS 'The accepted quote it came from (one order per quote); NULL for a direct order.';
COMMENT ON COLUMN crm.sales_order.deal_id IS 'The deal it won.';
COMMENT ON COLUMN crm.sales_order.account_id IS 'The customer; invoices go to it.';
COMMENT ON COLUMN crm.sales_order.contact_id IS 'The deal''s contact: invoice and payment notices go to this person.';
COMMENT ON COLUMN crm.sales_order.status IS
    'confirmed, delivered, completed or cancelled; completed is set when a delivered order is paid.';
COMMENT ON COLUMN crm.sales_order.status_entered_at IS 'When the order entered its status (set by the engine).';
COMMENT ON COLUMN crm.sales_order.closed_at IS 'When it was completed or cancelled (set by the engine).';
COMMENT ON COLUMN crm.sales_order.net_total IS 'Sum of the lines'' net amounts (kept by triggers).';
COMMENT ON COLUMN crm.sales_order.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers).';
COMMENT ON COLUMN crm.sales_order.gross_total IS 'net_total + tax_total (kept by triggers).';
COMMENT ON COLUMN crm.sales_order.delivered_at IS 'When the goods or course access were delivered; required to enter delivered.';
COMMENT ON COLUMN crm.sales_order.cancel_reason IS 'Why the order was cancelled; required to cancel.';

CREATE TABLE crm.sales_order_item (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sales_order_id bigint NOT NULL,
    currency       crm.currency_code NOT NULL,
    product_id     bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description    text NOT NULL,
    quantity       numeric NOT NULL CONSTRAINT sales_order_item_quantity_positive CHECK (quantity > 0),
    unit_price     numeric NOT NULL CONSTRAINT sales_order_item_unit_price_not_negative CHECK (unit_price >= 0),
    discount       numeric NOT NULL DEFAULT 0
                   CONSTRAINT sales_order_item_discount_range CHECK (discount >= 0 AND discount <= 1),
    tax_rate       numeric NOT NULL DEFAULT crm.default_tax_rate()
                   CONSTRAINT sales_order_item_tax_rate_range CHECK (tax_rate >= 0 AND tax_rate <= 1),
    net_amount     numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)) STORED,
    tax_amount     numeric GENERATED ALWAYS AS (crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    gross_amount   numeric GENERATED ALWAYS AS (crm.line_net(quantity, unit_price, discount, currency)
                                                + crm.line_tax(quantity, unit_price, discount, tax_rate, currency)) STORED,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sales_order_item_order_fkey FOREIGN KEY (sales_order_id, currency)
        REFERENCES crm.sales_order (id, currency) ON DELETE CASCADE
);
CREATE INDEX sales_order_item_order_idx ON crm.sales_order_item (sales_order_id);
CREATE INDEX sales_order_item_product_id_idx ON crm.sales_order_item (product_id);
CREATE TRIGGER sales_order_item_set_updated_at BEFORE UPDATE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.sales_order_item IS
    'Lines of a sales order; editable while it is confirmed and not invoiced. Amounts as on quote lines.';
COMMENT ON COLUMN crm.sales_order_item.currency IS 'The order''s currency (filled in; a line cannot differ).';
COMMENT ON COLUMN crm.sales_order_item.description IS 'Text shown on the line; the product''s name when not given.';
COMMENT ON COLUMN crm.sales_order_item.quantity IS 'Units, more than 0.';
COMMENT ON COLUMN crm.sales_order_item.unit_price IS 'Price per unit before discount; the product''s price when not given.';
COMMENT ON COLUMN crm.sales_order_item.discount IS 'Fraction off, 0..1.';
COMMENT ON COLUMN crm.sales_order_item.tax_rate IS 'Tax as a fraction of the net amount, 0..1.';
COMMENT ON COLUMN crm.sales_order_item.net_amount IS 'quantity × unit_price × (1 − discount), rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.sales_order_item.tax_amount IS 'net_amount × tax_rate, rounded to the currency''s minor unit.';
COMMENT ON COLUMN crm.sales_order_item.gross_amount IS 'net_amount + tax_amount.';

CREATE TABLE crm.sales_order_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sales_order_id     bigint NOT NULL REFERENCES crm.sales_order ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sales_order_status_history_order_idx ON crm.sales_order_status_history (sales_order_id, changed_at);
COMMENT ON TABLE crm.sales_order_status_history IS
    'One row per status a sales order entered, written by the engine.';

CREATE FUNCTION crm.sales_order_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src record;
    has_source boolean := false;
    changed text[];
    live_invoice text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'confirmed' OR EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = OLD.id) THEN
            RAISE EXCEPTION 'sales order % cannot be deleted', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Only a confirmed order that was never invoiced may be deleted.',
                      HINT = 'Cancel it with crm.cancel_order(order_id, reason) instead.';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NEW.quote_id IS NOT NULL THEN
            SELECT q.deal_id, q.account_id, q.contact_id, q.currency, q.status INTO src
              FROM crm.quote q WHERE q.id = NEW.quote_id;
            has_source := FOUND;
            IF has_source AND src.status <> 'accepted' THEN
                RAISE EXCEPTION 'quote % is %, not accepted', NEW.quote_id, src.status
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Orders come from accepted quotes: call crm.accept_quote(quote_id).';
            END IF;
        ELSIF NEW.deal_id IS NOT NULL THEN
            SELECT d.id AS deal_id, d.account_id, d.contact_id, d.currency INTO src FROM crm.deal d WHERE d.id = NEW.deal_id;
            has_source := FOUND;
        END IF;
        IF has_source THEN
            NEW.deal_id := coalesce(NEW.deal_id, src.deal_id);
            NEW.account_id := coalesce(NEW.account_id, src.account_id);
            NEW.contact_id := coalesce(NEW.contact_id, src.contact_id);
            NEW.currency := coalesce(NEW.currency, src.currency);
        END IF;
        IF NEW.status <> 'confirmed' THEN
            RAISE EXCEPTION 'sales order % cannot start as %', NEW.id, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'New orders start as confirmed.',
                      HINT = 'Record a delivery with crm.deliver_order(order_id).';
        END IF;
        RETURN NEW;
    END IF;

    SELECT coalesce(i.number, 'draft ' || i.id) INTO live_invoice
      FROM crm.invoice i WHERE i.sales_order_id = OLD.id AND i.status <> 'void' LIMIT 1;
    changed := crm.changed_columns(to_jsonb(OLD), to_jsonb(NEW),
        CASE WHEN OLD.status = 'confirmed' AND live_invoice IS NULL
             THEN ARRAY['account_id', 'contact_id', 'currency', 'net_total', 'tax_total', 'gross_total']
             ELSE '{}' END
        || ARRAY['contact_id', 'status', 'status_entered_at', 'closed_at', 'delivered_at', 'cancel_reason',
                 'owner', 'attributes', 'updated_at']);
    IF changed <> '{}' THEN
        RAISE EXCEPTION 'sales order % is % and cannot be changed that way', OLD.id,
                        CASE WHEN live_invoice IS NULL THEN OLD.status ELSE 'invoiced' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('This update changes %s. An order keeps its quote and deal; once invoiced or '
                                  'delivered it keeps its customer, currency and amounts.',
                                  array_to_string(changed, ', ')),
                  HINT = CASE WHEN live_invoice IS NULL THEN 'Cancel it and make a new order.'
                         ELSE 'Void its invoice first if the order really has to change.' END;
    END IF;
    IF NEW.currency <> OLD.currency AND EXISTS (SELECT FROM crm.sales_order_item i WHERE i.sales_order_id = OLD.id) THEN
        RAISE EXCEPTION 'sales order % has lines in %', OLD.id, OLD.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Delete its lines before changing its currency.';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status = 'cancelled' AND live_invoice IS NOT NULL THEN
            RAISE EXCEPTION 'sales order % is invoiced and cannot be cancelled', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Invoice %s is not void.', live_invoice),
                      HINT = 'Void the invoice with crm.void_invoice(invoice_id, reason) first.';
        END IF;
        IF NEW.status = 'delivered' AND NEW.delivered_at > now() THEN
            RAISE EXCEPTION 'sales order % cannot be delivered in the future', OLD.id
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('delivered_at is %s, later than the current time.',
                                      to_char(NEW.delivered_at, 'YYYY-MM-DD HH24:MI:SSOF'));
        END IF;
        IF NEW.status = 'completed' AND NEW.gross_total > 0
           AND NOT EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = OLD.id AND i.status = 'paid') THEN
            RAISE EXCEPTION 'sales order % is not paid', OLD.id
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'An order is completed when it is delivered and its invoice is paid.',
                      HINT = 'Record the payment with crm.record_payment(invoice_id, amount); the order then completes by itself.';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.sales_order_guard() IS
    'BEFORE trigger on crm.sales_order: defaults from the quote or deal, invoiced orders unchanged, checks per move.';

-- A delivered order whose invoice is paid is completed.
CREATE FUNCTION crm.sales_order_complete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status = 'delivered' AND OLD.status <> 'delivered'
       AND (NEW.gross_total = 0
            OR EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = NEW.id AND i.status = 'paid')) THEN
        UPDATE crm.sales_order SET status = 'completed' WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.sales_order_complete() IS
    'AFTER UPDATE trigger on crm.sales_order: an order delivered after it was paid is completed.';

CREATE TRIGGER sales_order_enforce_transition BEFORE INSERT OR UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'sales_order');
CREATE TRIGGER sales_order_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_guard();
CREATE TRIGGER sales_order_record_transition AFTER INSERT OR UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('crm.sales_order_status_history', 'sales_order_id', 'status', 'sales_order');
-- named to fire after sales_order_record_transition, so the history shows
-- the delivery before the completion it causes
CREATE TRIGGER sales_order_settle AFTER UPDATE ON crm.sales_order
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_complete();

CREATE FUNCTION crm.sales_order_item_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ord record;
    product record;
    target bigint;
BEGIN
    FOREACH target IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.sales_order_id END,
                                  CASE WHEN TG_OP <> 'DELETE' THEN NEW.sales_order_id END]
    LOOP
        CONTINUE WHEN target IS NULL;
        SELECT o.id, o.status, o.currency INTO ord FROM crm.sales_order o WHERE o.id = target FOR NO KEY UPDATE;
        IF FOUND AND (ord.status <> 'confirmed'
                      OR EXISTS (SELECT FROM crm.invoice i WHERE i.sales_order_id = target AND i.status <> 'void')) THEN
            RAISE EXCEPTION 'sales order % is %: its lines cannot change', ord.id,
                            CASE WHEN ord.status = 'confirmed' THEN 'invoiced' ELSE ord.status END
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Lines change only while the order is confirmed and has no live invoice.';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF ord.id IS NULL THEN
        RETURN NEW;             -- the foreign key reports the missing order
    END IF;
    NEW.currency := coalesce(NEW.currency, ord.currency);
    IF NEW.currency <> ord.currency THEN
        RAISE EXCEPTION 'a line in % cannot be added to sales order %, which is in %', NEW.currency, ord.id, ord.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Leave currency out: lines take the order''s.';
    END IF;
    product := crm.line_product(NEW.product_id, ord.currency, 'sales order ' || ord.id);
    NEW.unit_price := coalesce(NEW.unit_price, product.unit_price);
    NEW.description := coalesce(NEW.description, product.name);
    PERFORM crm.check_line_values(NEW.quantity, NEW.unit_price, NEW.discount, NEW.tax_rate, TG_TABLE_NAME,
                                  format('Line "%s" of sales order %s', NEW.description, ord.id));
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.sales_order_item_guard() IS
    'BEFORE trigger on crm.sales_order_item: lines change only on confirmed, uninvoiced orders; defaults.';
CREATE TRIGGER sales_order_item_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.sales_order_item_guard();
CREATE TRIGGER sales_order_item_sync_totals AFTER INSERT OR UPDATE OR DELETE ON crm.sales_order_item
    FOR EACH ROW EXECUTE FUNCTION crm.sync_document_totals('sales_order_id');

-- Winning a deal: the shortest path of allowed moves from its stage to a won
-- stage of its pipeline, through open stages, each move made through the
-- engine (so required fields are checked and history is written).
CREATE FUNCTION crm.win_deal(deal_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
    path text[];
    step integer;
BEGIN
    SELECT d.id, d.pipeline_id, d.stage, s.kind, p.name AS pipeline INTO cur
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
      JOIN crm.pipeline p ON p.id = d.pipeline_id
     WHERE d.id = win_deal.deal_id
       FOR NO KEY UPDATE OF d;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'deal % does not exist', win_deal.deal_id USING ERRCODE = 'no_data_found';
    END IF;
    IF cur.kind = 'won' THEN
        RETURN cur.stage;
    END IF;
    IF cur.kind = 'lost' THEN
        RAISE EXCEPTION 'deal % is lost', cur.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It is in stage "%s" of pipeline "%s".', cur.stage, cur.pipeline),
                  HINT = 'Reopen the deal along an allowed move first, if the customer is back.';
    END IF;
    WITH RECURSIVE walk (stage, kind, path) AS (
        SELECT cur.stage, cur.kind, ARRAY[cur.stage]
        UNION ALL
        SELECT t.to_stage, s.kind, w.path || t.to_stage
          FROM walk w
          JOIN crm.stage_transition t ON t.pipeline_id = cur.pipeline_id AND t.from_stage = w.stage
          JOIN crm.stage s ON s.pipeline_id = cur.pipeline_id AND s.key = t.to_stage
         WHERE w.kind = 'open' AND s.kind <> 'lost' AND t.to_stage <> ALL (w.path)
    )
    SELECT w.path INTO path
      FROM walk w JOIN crm.stage s ON s.pipeline_id = cur.pipeline_id AND s.key = w.stage
     WHERE w.kind = 'won'
     ORDER BY cardinality(w.path), s.position
     LIMIT 1;
    IF path IS NULL THEN
        RAISE EXCEPTION 'deal % cannot reach a won stage from stage "%"', cur.id, cur.stage
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Pipeline "%s" has no allowed moves from "%s" to a won stage through open stages.',
                                  cur.pipeline, cur.stage),
                  HINT = 'Add the moves to crm.stage_transition, or move the deal by hand.';
    END IF;
    FOR step IN 2 .. cardinality(path) LOOP
        UPDATE crm.deal SET stage = path[step] WHERE id = cur.id;
    END LOOP;
    RETURN path[cardinality(path)];
END
$$;
COMMENT ON FUNCTION crm.win_deal(bigint) IS
    'Moves a deal to a won stage of its pipeline along the shortest path of allowed moves through open stages '
    '(each move checked by the engine and recorded in the history); returns the won stage. A won deal stays as it is; '
    'a lost one is refused.';

CREATE FUNCTION crm.accept_quote(quote_id bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q record;
    order_id bigint;
BEGIN
    SELECT * INTO q FROM crm.quote WHERE id = accept_quote.quote_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quote % does not exist', accept_quote.quote_id USING ERRCODE = 'no_data_found';
    END IF;
    -- lock the deal before the quote, in the same order as every other path
    PERFORM FROM crm.deal d WHERE d.id = q.deal_id FOR NO KEY UPDATE;
    SELECT * INTO q FROM crm.quote WHERE id = accept_quote.quote_id FOR NO KEY UPDATE;
    CASE q.status
    WHEN 'accepted' THEN
        SELECT o.id INTO order_id FROM crm.sales_order o WHERE o.quote_id = q.id;
        RAISE EXCEPTION 'quote % is already accepted', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was accepted on %s and became sales order %s.',
                                  to_char(q.closed_at, 'YYYY-MM-DD'), order_id);
    WHEN 'rejected' THEN
        RAISE EXCEPTION 'quote % was rejected', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('The customer declined it on %s: %s', to_char(q.closed_at, 'YYYY-MM-DD'),
                                  rtrim(q.rejection_reason, '.') || '.'),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    WHEN 'expired' THEN
        RAISE EXCEPTION 'quote % has expired', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was valid until %s.', to_char(q.valid_until, 'YYYY-MM-DD')),
                  HINT = 'Make a new quote with crm.create_quote(deal_id).';
    WHEN 'draft' THEN
        RAISE EXCEPTION 'quote % has not been sent', q.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only a quote the customer has received can be accepted.',
                  HINT = format('Send it first with crm.send_quote(%s).', q.id);
    ELSE
        NULL;
    END CASE;

    UPDATE crm.quote SET status = 'accepted' WHERE id = q.id;
    PERFORM crm.win_deal(q.deal_id);
    INSERT INTO crm.sales_order (quote_id, deal_id, account_id, contact_id, currency, owner)
    VALUES (q.id, q.deal_id, q.account_id, q.contact_id, q.currency, q.owner)
    RETURNING id INTO order_id;
    INSERT INTO crm.sales_order_item (sales_order_id, product_id, description, quantity, unit_price, discount, tax_rate)
    SELECT order_id, i.product_id, i.description, i.quantity, i.unit_price, i.discount, i.tax_rate
      FROM crm.quote_item i WHERE i.quote_id = q.id ORDER BY i.id;
    RETURN order_id;
END
$$;
COMMENT ON FUNCTION crm.accept_quote(bigint) IS
    'Accepts a sent, unexpired quote: moves its deal to won (crm.win_deal) and creates a confirmed sales order with '
    'the quote''s lines. Returns the order id.';

CREATE FUNCTION crm.deliver_order(order_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
BEGIN
    SELECT * INTO o FROM crm.sales_order WHERE id = deliver_order.order_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales order % does not exist', deliver_order.order_id USING ERRCODE = 'no_data_found';
    END IF;
    IF o.status = 'cancelled' THEN
        RAISE EXCEPTION 'sales order % is cancelled', o.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was cancelled on %s: %s', to_char(o.closed_at, 'YYYY-MM-DD'),
                                  rtrim(o.cancel_reason, '.') || '.');
    ELSIF o.status <> 'confirmed' THEN
        RAISE EXCEPTION 'sales order % is already delivered', o.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('It was delivered on %s.', to_char(o.delivered_at, 'YYYY-MM-DD'));
    END IF;
    UPDATE crm.sales_order SET status = 'delivered', delivered_at = now() WHERE id = o.id;
    RETURN (SELECT s.status FROM crm.sales_order s WHERE s.id = o.id);
END
$$;
COMMENT ON FUNCTION crm.deliver_order(bigint) IS
    'Records the delivery of a confirmed order (delivered_at = now()). Returns its new status: delivered, or '
    'completed when it was already paid.';

CREATE FUNCTION crm.cancel_order(order_id bigint, reason text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.sales_order SET status = 'cancelled', cancel_reason = reason WHERE id = cancel_order.order_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sales order % does not exist', cancel_order.order_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.cancel_order(bigint, text) IS
    'Cancels a confirmed (undelivered) order that has no live invoice; the reason is required. The deal stays won.';

GRANT SELECT ON crm.sales_order, crm.sales_order_item, crm.sales_order_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.sales_order, crm.sales_order_item TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.win_deal(bigint), crm.accept_quote(bigint), crm.deliver_order(bigint),
    crm.cancel_order(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.win_deal(bigint), crm.accept_quote(bigint), crm.deliver_order(bigint),
    crm.cancel_order(bigint, text) TO crm_user;

-- ===== src/sales/50_invoice.sql =====
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
-- Gapless numbering: one counter row per year, locked (SELECT ... FOR
-- UPDATE) and incremented by the issuing transaction.  The lock is held
-- until that transaction ends, so a concurrent issuer waits and then takes
-- the next number; a rollback undoes the increment with the invoice, so the
-- number is reused and no gap appears.  The number is taken last (the
-- draft and its lines exist before), to hold the lock briefly.  The year is
-- that of the issue date, which is the calendar date, in crm.invoice_time_zone,
-- of the moment the number is taken: read once to pick the year's counter,
-- again once its lock is held.  If the year turned while waiting (New
-- Year's midnight), the issuer moves on to the new year's counter, so
-- numbers and issue dates rise together within a year.

CREATE TABLE crm.invoice_number_counter (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    year        integer NOT NULL CONSTRAINT invoice_number_counter_year_key UNIQUE
                CONSTRAINT invoice_number_counter_year_range CHECK (year BETWEEN 1000 AND 9999),
    last_number integer NOT NULL
                CONSTRAINT invoice_number_counter_range CHECK (last_number BETWEEN 0 AND 999999),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER invoice_number_counter_set_updated_at BEFORE UPDATE ON crm.invoice_number_counter
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.invoice_number_counter IS
    'Last invoice number used per year; locked and incremented by the transaction issuing an invoice.';

CREATE TABLE crm.invoice (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number            text CONSTRAINT invoice_number_key UNIQUE
                      CONSTRAINT invoice_number_format CHECK (number ~ '^INV-[0-9]{4}-[0-9]{6}$'),
    sales_order_id    bigint REFERENCES crm.sales_order ON DELETE RESTRICT,
    account_id        bigint NOT NULL REFERENCES crm.account ON DELETE RESTRICT,
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
    CONSTRAINT invoice_number_with_issue_date CHECK ((number IS NULL) = (issue_date IS NULL)),
    CONSTRAINT invoice_number_year CHECK (substr(number, 5, 4)::integer = extract(year FROM issue_date)),
    CONSTRAINT invoice_due_after_issue CHECK (due_date >= issue_date),
    CONSTRAINT invoice_amount_paid_range CHECK (amount_paid >= 0 AND amount_paid <= gross_total)
);
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
COMMENT ON COLUMN crm.invoice.account_id IS 'The customer billed.';
COMMENT ON COLUMN crm.invoice.contact_id IS 'Who receives the invoice and payment notices (the deal''s contact).';
COMMENT ON COLUMN crm.invoice.status IS 'draft, issued, partially_paid, paid or void; payments set the paid states.';
COMMENT ON COLUMN crm.invoice.status_entered_at IS 'When the invoice entered its status (set by the engine).';
COMMENT ON COLUMN crm.invoice.closed_at IS 'When it was paid in full or voided (set by the engine).';
COMMENT ON COLUMN crm.invoice.issue_date IS 'Date of issue in crm.invoice_time_zone; its year is the number''s year.';
COMMENT ON COLUMN crm.invoice.due_date IS 'Payment due date; issue date + crm.invoice_payment_days unless set on the draft.';
COMMENT ON COLUMN crm.invoice.net_total IS 'Sum of the lines'' net amounts (kept by triggers).';
COMMENT ON COLUMN crm.invoice.tax_total IS 'Sum of the lines'' tax amounts (kept by triggers).';
COMMENT ON COLUMN crm.invoice.gross_total IS 'net_total + tax_total: the amount due.';
COMMENT ON COLUMN crm.invoice.amount_paid IS 'Sum of its payments (kept by triggers).';
COMMENT ON COLUMN crm.invoice.void_reason IS 'Why it was voided; required to void.';

CREATE TABLE crm.invoice_line (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id   bigint NOT NULL,
    currency     crm.currency_code NOT NULL,
    product_id   bigint NOT NULL REFERENCES crm.product ON DELETE RESTRICT,
    description  text NOT NULL,
    quantity     numeric NOT NULL CONSTRAINT invoice_line_quantity_positive CHECK (quantity > 0),
    unit_price   numeric NOT NULL CONSTRAINT invoice_line_unit_price_not_negative CHECK (unit_price >= 0),
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
CREATE INDEX invoice_status_history_invoice_idx ON crm.invoice_status_history (invoice_id, changed_at);
COMMENT ON TABLE crm.invoice_status_history IS 'One row per status an invoice entered, written by the engine.';

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
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN
            RAISE EXCEPTION 'invoice % cannot be deleted', OLD.number
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'An issued invoice keeps its number for the books, so it is voided, never deleted.',
                      HINT = format('Void it: SELECT crm.void_invoice(%s, ''reason'');', OLD.id);
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
        RETURN NEW;
    END IF;

    label := coalesce(OLD.number, OLD.id::text);
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

    IF NEW.status = 'issued' AND OLD.status = 'draft' THEN
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
    'BEFORE trigger on crm.invoice: drafts only at INSERT (defaults from the order), numbering on issue, issued '
    'invoices unchanged except for their status, status in line with payments, no deleting issued invoices.';

-- After a move: a paid invoice completes its delivered order.
CREATE FUNCTION crm.invoice_after_move() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'paid' AND NEW.sales_order_id IS NOT NULL THEN
        UPDATE crm.sales_order SET status = 'completed' WHERE id = NEW.sales_order_id AND status = 'delivered';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.invoice_after_move() IS
    'AFTER UPDATE trigger on crm.invoice: when it is paid, its order is completed if already delivered.';

CREATE FUNCTION crm.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
    product record;
    target bigint;
BEGIN
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
    NEW.currency := coalesce(NEW.currency, inv.currency);
    IF NEW.currency <> inv.currency THEN
        RAISE EXCEPTION 'a line in % cannot be added to invoice %, which is in %', NEW.currency, inv.id, inv.currency
            USING ERRCODE = 'check_violation',
                  HINT = 'Leave currency out: lines take the invoice''s.';
    END IF;
    product := crm.line_product(NEW.product_id, inv.currency, 'invoice ' || inv.id);
    NEW.unit_price := coalesce(NEW.unit_price, product.unit_price);
    NEW.description := coalesce(NEW.description, product.name);
    PERFORM crm.check_line_values(NEW.quantity, NEW.unit_price, NEW.discount, NEW.tax_rate, TG_TABLE_NAME,
                                  format('Line "%s" of invoice %s', NEW.description, inv.id));
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
REVOKE EXECUTE ON FUNCTION crm.invoice_guard() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION crm.issue_invoice(bigint), crm.void_invoice(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.issue_invoice(bigint), crm.void_invoice(bigint, text) TO crm_user;

-- ===== src/sales/60_payment.sql =====
-- src/sales/60_payment.sql: payments against invoices.
--
-- Every write path (crm.record_payment, INSERT, COPY of a bank statement)
-- goes through payment_check, which locks the invoice row first: two
-- payments racing on one invoice are serialised there, and the second is
-- checked against the balance the first left (read again after the lock,
-- including rows inserted earlier by the same statement).  Refused: a draft
-- or void invoice, one already paid, a currency other than the invoice's,
-- an amount that is not positive or has more decimals than the currency,
-- and any amount above the balance.  payment_apply then moves the invoice
-- to partially_paid or paid.  Payments are records of money received: their
-- amount, invoice, currency and date never change and they are not deleted.

CREATE TABLE crm.payment (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id  bigint NOT NULL REFERENCES crm.invoice ON DELETE RESTRICT,
    amount      numeric NOT NULL CONSTRAINT payment_amount_positive CHECK (amount > 0),
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
    'BEFORE trigger on crm.payment: locks the invoice and refuses draft, void or paid invoices, another currency '
    'and overpayment; payments themselves cannot be changed or deleted.';

CREATE FUNCTION crm.payment_apply() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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

GRANT SELECT ON crm.payment TO crm_reader;
GRANT INSERT, UPDATE ON crm.payment TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.record_payment(bigint, numeric, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.record_payment(bigint, numeric, timestamptz, text) TO crm_user;

-- ===== src/sales/70_ticket.sql =====
-- src/sales/70_ticket.sql: after-sales service (售后服务) tickets with SLAs.
--
-- A ticket's priority names a row of crm.ticket_sla_policy, which says how
-- soon it must be answered (first move out of open) and resolved; the due
-- times are computed from created_at when the ticket is created and again
-- when its priority changes (editing a policy affects tickets created after).
-- The clock runs in every status until resolved, waiting included.  Status
-- follows the 'ticket' workflow: open → in_progress ⇄ waiting → resolved →
-- closed, and a resolved ticket can be reopened (back to in_progress).

CREATE TABLE crm.ticket_sla_policy (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    priority         text NOT NULL CONSTRAINT ticket_sla_policy_priority_key UNIQUE
                     CONSTRAINT ticket_sla_policy_priority_format CHECK (priority ~ '^[a-z][a-z0-9_]*$'),
    rank             integer NOT NULL CONSTRAINT ticket_sla_policy_rank_key UNIQUE,
    response_within  interval NOT NULL CONSTRAINT ticket_sla_policy_response_positive CHECK (response_within > '0'),
    resolve_within   interval NOT NULL,
    at_risk_share    numeric NOT NULL DEFAULT 0.25
                     CONSTRAINT ticket_sla_policy_at_risk_range CHECK (at_risk_share > 0 AND at_risk_share < 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ticket_sla_policy_resolve_after_response CHECK (resolve_within >= response_within)
);
CREATE TRIGGER ticket_sla_policy_set_updated_at BEFORE UPDATE ON crm.ticket_sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.ticket_sla_policy IS 'Service levels per ticket priority; edit to match your support contract.';
COMMENT ON COLUMN crm.ticket_sla_policy.priority IS 'Priority name, as stored in crm.ticket.priority.';
COMMENT ON COLUMN crm.ticket_sla_policy.rank IS 'Order of urgency, 1 first.';
COMMENT ON COLUMN crm.ticket_sla_policy.response_within IS 'Time from creation to the first response (leaving open).';
COMMENT ON COLUMN crm.ticket_sla_policy.resolve_within IS 'Time from creation to resolution.';
COMMENT ON COLUMN crm.ticket_sla_policy.at_risk_share IS
    'A target is at risk when less than this share of its time is left (0.25: the last quarter).';

INSERT INTO crm.ticket_sla_policy (priority, rank, response_within, resolve_within) VALUES
    ('urgent', 1, '1 hour', '8 hours'),
    ('high', 2, '4 hours', '2 days'),
    ('normal', 3, '1 day', '5 days'),
    ('low', 4, '3 days', '14 days');

CREATE TABLE crm.ticket (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject           text NOT NULL CONSTRAINT ticket_subject_not_blank CHECK (btrim(subject) <> ''),
    description       text,
    account_id        bigint REFERENCES crm.account ON DELETE RESTRICT,
    contact_id        bigint REFERENCES crm.contact ON DELETE SET NULL,
    sales_order_id    bigint REFERENCES crm.sales_order ON DELETE SET NULL,
    priority          text NOT NULL DEFAULT 'normal'
                      REFERENCES crm.ticket_sla_policy (priority) ON UPDATE CASCADE ON DELETE RESTRICT,
    status            text NOT NULL,
    status_entered_at timestamptz NOT NULL,
    closed_at         timestamptz,
    response_due_at   timestamptz NOT NULL,
    resolve_due_at    timestamptz NOT NULL,
    responded_at      timestamptz,
    resolved_at       timestamptz,
    owner             name NOT NULL DEFAULT current_user,
    attributes        jsonb NOT NULL DEFAULT '{}'
                      CONSTRAINT ticket_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_account_id_idx ON crm.ticket (account_id);
CREATE INDEX ticket_contact_id_idx ON crm.ticket (contact_id);
CREATE INDEX ticket_sales_order_id_idx ON crm.ticket (sales_order_id);
CREATE INDEX ticket_priority_idx ON crm.ticket (priority);
CREATE INDEX ticket_owner_idx ON crm.ticket (owner);
CREATE INDEX ticket_unresolved_idx ON crm.ticket (resolve_due_at) WHERE resolved_at IS NULL;
COMMENT ON TABLE crm.ticket IS
    'After-sales tickets (售后服务); status open → in_progress ⇄ waiting → resolved → closed, reopen from resolved '
    '(workflow ''ticket''); priority sets the SLA due times.';
COMMENT ON COLUMN crm.ticket.sales_order_id IS 'The order the ticket is about, if any.';
COMMENT ON COLUMN crm.ticket.priority IS 'urgent, high, normal or low (rows of crm.ticket_sla_policy).';
COMMENT ON COLUMN crm.ticket.status IS 'open, in_progress, waiting, resolved or closed; moves follow the ''ticket'' workflow.';
COMMENT ON COLUMN crm.ticket.status_entered_at IS 'When the ticket entered its status (set by the engine).';
COMMENT ON COLUMN crm.ticket.closed_at IS 'When it was closed (set by the engine).';
COMMENT ON COLUMN crm.ticket.response_due_at IS 'created_at + the priority''s response_within.';
COMMENT ON COLUMN crm.ticket.resolve_due_at IS 'created_at + the priority''s resolve_within.';
COMMENT ON COLUMN crm.ticket.responded_at IS 'When it first left open.';
COMMENT ON COLUMN crm.ticket.resolved_at IS 'When it was resolved; cleared when reopened.';

CREATE TABLE crm.ticket_status_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id          bigint NOT NULL REFERENCES crm.ticket ON DELETE CASCADE,
    pipeline_id        bigint NOT NULL,
    from_stage         text,
    to_stage           text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by         name NOT NULL,
    time_in_from_stage interval,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_status_history_ticket_idx ON crm.ticket_status_history (ticket_id, changed_at);
COMMENT ON TABLE crm.ticket_status_history IS 'One row per status a ticket entered, written by the engine.';

-- Due times from the priority; response and resolution stamps from moves.
-- Runs after the engine (enforce < sla), so status_entered_at is the move's time.
CREATE FUNCTION crm.ticket_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy record;
BEGIN
    IF TG_OP = 'INSERT' OR NEW.priority IS DISTINCT FROM OLD.priority OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        SELECT p.response_within, p.resolve_within INTO policy
          FROM crm.ticket_sla_policy p WHERE p.priority = NEW.priority;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ticket priority "%" does not exist', NEW.priority
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Priorities are: %s.',
                                      (SELECT string_agg(p.priority, ', ' ORDER BY p.rank) FROM crm.ticket_sla_policy p));
        END IF;
        NEW.response_due_at := NEW.created_at + policy.response_within;
        NEW.resolve_due_at := NEW.created_at + policy.resolve_within;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status <> 'open' THEN
            NEW.responded_at := coalesce(NEW.responded_at, NEW.status_entered_at);
        END IF;
        IF NEW.status = 'resolved' THEN
            NEW.resolved_at := NEW.status_entered_at;
        ELSIF NEW.status <> 'closed' THEN
            NEW.resolved_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.ticket_sla() IS
    'BEFORE trigger on crm.ticket: SLA due times from the priority; responded_at and resolved_at from the moves.';

CREATE TRIGGER ticket_enforce_transition BEFORE INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'ticket');
CREATE TRIGGER ticket_sla BEFORE INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.ticket_sla();
CREATE TRIGGER ticket_record_transition AFTER INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('crm.ticket_status_history', 'ticket_id', 'status', 'ticket');

CREATE FUNCTION crm.move_ticket(ticket_id bigint, status text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE crm.ticket t SET status = move_ticket.status WHERE t.id = move_ticket.ticket_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ticket % does not exist', move_ticket.ticket_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
COMMENT ON FUNCTION crm.move_ticket(bigint, text) IS
    'Moves a ticket to another status along the ''ticket'' workflow (refused otherwise, with the allowed moves).';

GRANT SELECT ON crm.ticket_sla_policy, crm.ticket, crm.ticket_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.ticket TO crm_user;
GRANT INSERT, UPDATE, DELETE ON crm.ticket_sla_policy TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.move_ticket(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.move_ticket(bigint, text) TO crm_user;

-- ===== src/sales/80_notices.sql =====
-- src/sales/80_notices.sql: invoice and payment notices by email.
--
-- Issuing an invoice queues the template 'invoice_issued', recording a
-- payment queues 'payment_received' (crm.send_template, src/mail), to the
-- invoice's contact: the deal's contact, copied onto the quote, the order
-- and the invoice.  Both go through triggers, so every write path notifies
-- (crm.issue_invoice, UPDATE ... SET status = 'issued', crm.record_payment,
-- a COPY of payments), inside the same transaction: a rollback queues
-- nothing.  Without a contact email, or when the template was deleted, the
-- invoice or payment still goes through and a NOTICE says no email was
-- queued; a suppressed address gets nothing (crm.send_template returns
-- NULL).  Templates are ordinary crm.email_template rows that admins edit;
-- the variables they may use are listed in crm.sales_notice_vars.

INSERT INTO crm.email_template (key, subject, body_text, body_html) VALUES
('invoice_issued',
 'Invoice {{number}}: {{gross_total}} {{currency}} due {{due_date}}',
 E'Dear {{contact}},\n\n'
 || E'here is invoice {{number}} for {{customer}}, issued on {{issue_date}}:\n\n'
 || E'{{lines}}\n\n'
 || E'Net:   {{net_total}} {{currency}}\n'
 || E'Tax:   {{tax_total}} {{currency}}\n'
 || E'Total: {{gross_total}} {{currency}}, due by {{due_date}}\n\n'
 || 'Thank you for your business.',
 '<p>Dear {{contact}},</p>'
 || '<p>here is invoice <b>{{number}}</b> for {{customer}}, issued on {{issue_date}}:</p>'
 || '<pre>{{lines}}</pre>'
 || '<table><tr><td>Net</td><td>{{net_total}} {{currency}}</td></tr>'
 || '<tr><td>Tax</td><td>{{tax_total}} {{currency}}</td></tr>'
 || '<tr><td><b>Total</b></td><td><b>{{gross_total}} {{currency}}</b>, due by {{due_date}}</td></tr></table>'
 || '<p>Thank you for your business.</p>'),
('payment_received',
 'Payment received for invoice {{number}}: {{amount}} {{currency}}',
 E'Dear {{contact}},\n\n'
 || E'we received {{amount}} {{currency}} on {{paid_at}} for invoice {{number}} (method: {{method}}).\n'
 || E'Paid so far: {{amount_paid}} of {{gross_total}} {{currency}}; still due: {{balance}} {{currency}}.\n\n'
 || 'Thank you.',
 '<p>Dear {{contact}},</p>'
 || '<p>we received <b>{{amount}} {{currency}}</b> on {{paid_at}} for invoice {{number}} (method: {{method}}).</p>'
 || '<p>Paid so far: {{amount_paid}} of {{gross_total}} {{currency}}; still due: {{balance}} {{currency}}.</p>'
 || '<p>Thank you.</p>');

-- The variables of an invoice, for its notices.
CREATE FUNCTION crm.sales_notice_vars(invoice_id bigint) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT jsonb_build_object(
               'number', i.number,
               'customer', a.name,
               'contact', c.name,
               'issue_date', to_char(i.issue_date, 'YYYY-MM-DD'),
               'due_date', to_char(i.due_date, 'YYYY-MM-DD'),
               'currency', i.currency,
               'net_total', i.net_total,
               'tax_total', i.tax_total,
               'gross_total', i.gross_total,
               'amount_paid', crm.round_money(i.amount_paid, i.currency),
               'balance', i.gross_total - i.amount_paid,
               'status', i.status,
               'lines', (SELECT string_agg(format('%s × %s: %s %s', l.description, trim_scale(l.quantity),
                                                  l.gross_amount, l.currency), E'\n' ORDER BY l.id)
                           FROM crm.invoice_line l WHERE l.invoice_id = i.id))
      FROM crm.invoice i
      JOIN crm.account a ON a.id = i.account_id
      LEFT JOIN crm.contact c ON c.id = i.contact_id
     WHERE i.id = sales_notice_vars.invoice_id;
END;
COMMENT ON FUNCTION crm.sales_notice_vars(bigint) IS
    'Template variables of an invoice: number, customer, contact, issue_date, due_date, currency, net_total, '
    'tax_total, gross_total, amount_paid, balance, status, lines (one line per invoice line). payment_received adds '
    'amount, paid_at and method.';

-- Queues one notice about an invoice; NULL when none was queued.
CREATE FUNCTION crm.queue_sales_notice(template_key text, invoice_id bigint, extra_vars jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recipient text;
BEGIN
    SELECT c.email INTO recipient
      FROM crm.invoice i LEFT JOIN crm.contact c ON c.id = i.contact_id
     WHERE i.id = queue_sales_notice.invoice_id;
    IF recipient IS NULL THEN
        RAISE NOTICE 'no % email queued for invoice %: it has no contact with an email address', template_key, invoice_id
            USING HINT = 'Set the deal''s contact (and its email) before the order is accepted, or the invoice''s contact_id before it is issued.';
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM crm.email_template t WHERE t.key = queue_sales_notice.template_key) THEN
        RAISE NOTICE 'no % email queued for invoice %: the email template does not exist', template_key, invoice_id
            USING HINT = format('Create crm.email_template row %L to send these notices again.', template_key);
        RETURN NULL;
    END IF;
    RETURN crm.send_template(template_key, recipient, crm.sales_notice_vars(invoice_id) || extra_vars);
END
$$;
COMMENT ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) IS
    'Queues an email from a template to an invoice''s contact with the invoice''s variables (plus extra_vars); '
    'returns the outbox id, or NULL with a NOTICE when there is no address or no such template.';

CREATE FUNCTION crm.invoice_issued_notice() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.status = 'draft' AND NEW.status = 'issued' THEN
        PERFORM crm.queue_sales_notice('invoice_issued', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.invoice_issued_notice() IS
    'AFTER UPDATE trigger on crm.invoice: queues the invoice_issued email when an invoice is issued.';
CREATE TRIGGER invoice_notice AFTER UPDATE ON crm.invoice
    FOR EACH ROW EXECUTE FUNCTION crm.invoice_issued_notice();

-- Fires after payment_apply (apply < notice), so the invoice shows the payment.
CREATE FUNCTION crm.payment_received_notice() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.queue_sales_notice('payment_received', NEW.invoice_id,
        jsonb_build_object('amount', NEW.amount,
                           'paid_at', to_char(NEW.paid_at, 'YYYY-MM-DD HH24:MI'),
                           'method', coalesce(NEW.method, 'not given')));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.payment_received_notice() IS
    'AFTER INSERT trigger on crm.payment: queues the payment_received email.';
CREATE TRIGGER payment_notice AFTER INSERT ON crm.payment
    FOR EACH ROW EXECUTE FUNCTION crm.payment_received_notice();

REVOKE EXECUTE ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.queue_sales_notice(text, bigint, jsonb) TO crm_user;

-- ===== src/reports/10_pipeline_views.sql =====
-- src/reports/10_pipeline_views.sql: pipeline views for BI tools.
-- Plain views over the deal tables, one row per pipeline and stage, with a
-- comment on every column so tools can show what each one means.

CREATE VIEW crm.pipeline_summary AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       s.kind,
       s.forecast_category,
       s.probability AS stage_probability,
       d.currency,
       count(d.id) AS deals,
       coalesce(sum(d.amount), 0) AS amount,
       round(coalesce(sum(d.amount * coalesce(d.probability, s.probability)), 0), 2) AS weighted_amount
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id
  LEFT JOIN crm.deal d ON d.pipeline_id = s.pipeline_id AND d.stage = s.key
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position, s.kind, s.forecast_category, s.probability, d.currency;
COMMENT ON VIEW crm.pipeline_summary IS
    'Deals per pipeline, stage and currency: how many, their amount and their probability-weighted amount.';
COMMENT ON COLUMN crm.pipeline_summary.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.pipeline_summary.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.pipeline_summary.stage IS 'Stage key.';
COMMENT ON COLUMN crm.pipeline_summary.label IS 'Stage display name.';
COMMENT ON COLUMN crm.pipeline_summary.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.pipeline_summary.kind IS 'open, won or lost.';
COMMENT ON COLUMN crm.pipeline_summary.forecast_category IS 'pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.pipeline_summary.stage_probability IS 'The stage''s default win probability.';
COMMENT ON COLUMN crm.pipeline_summary.currency IS 'Currency of the amounts; NULL on the row of a stage without deals.';
COMMENT ON COLUMN crm.pipeline_summary.deals IS 'Number of deals in the stage (open deals for an open stage).';
COMMENT ON COLUMN crm.pipeline_summary.amount IS 'Sum of the deals'' amounts.';
COMMENT ON COLUMN crm.pipeline_summary.weighted_amount IS
    'Sum of amount × probability (the deal''s own probability, else the stage''s), to the cent.';

CREATE VIEW crm.stage_velocity AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       count(h.id) AS moves_out,
       avg(h.time_in_from_stage) AS mean_time_in_stage,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY h.time_in_from_stage) AS median_time_in_stage
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id
  LEFT JOIN crm.deal_stage_history h
         ON h.pipeline_id = s.pipeline_id AND h.from_stage = s.key AND h.time_in_from_stage IS NOT NULL
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position;
COMMENT ON VIEW crm.stage_velocity IS
    'Time deals spend in each stage before leaving it, from crm.deal_stage_history.';
COMMENT ON COLUMN crm.stage_velocity.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.stage_velocity.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.stage_velocity.stage IS 'Stage key.';
COMMENT ON COLUMN crm.stage_velocity.label IS 'Stage display name.';
COMMENT ON COLUMN crm.stage_velocity.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.stage_velocity.moves_out IS 'How many times a deal left this stage.';
COMMENT ON COLUMN crm.stage_velocity.mean_time_in_stage IS 'Mean time spent in the stage before leaving it.';
COMMENT ON COLUMN crm.stage_velocity.median_time_in_stage IS 'Median time spent in the stage before leaving it.';

GRANT SELECT ON crm.pipeline_summary, crm.stage_velocity TO crm_reader;

CREATE VIEW crm.funnel_conversion AS
WITH reached AS (
    SELECT DISTINCT h.pipeline_id, h.deal_id, h.to_stage AS stage
      FROM crm.deal_stage_history h
), won AS (
    SELECT DISTINCT r.pipeline_id, r.deal_id
      FROM reached r JOIN crm.stage s ON s.pipeline_id = r.pipeline_id AND s.key = r.stage
     WHERE s.kind = 'won'
)
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       count(r.deal_id) AS deals_reached,
       round(count(r.deal_id)::numeric
             / nullif(max(count(r.deal_id)) OVER (PARTITION BY p.id), 0), 4) AS share_of_top,
       count(w.deal_id) AS deals_won_after,
       round(count(w.deal_id)::numeric / nullif(count(r.deal_id), 0), 4) AS win_rate_from_here
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id AND s.kind = 'open'
  LEFT JOIN reached r ON r.pipeline_id = s.pipeline_id AND r.stage = s.key
  LEFT JOIN won w ON w.pipeline_id = r.pipeline_id AND w.deal_id = r.deal_id
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position;
COMMENT ON VIEW crm.funnel_conversion IS
    'The sales funnel from stage history: how many deals reached each open stage and how many of them were won.';
COMMENT ON COLUMN crm.funnel_conversion.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.funnel_conversion.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.funnel_conversion.stage IS 'Stage key (open stages only).';
COMMENT ON COLUMN crm.funnel_conversion.label IS 'Stage display name.';
COMMENT ON COLUMN crm.funnel_conversion.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.funnel_conversion.deals_reached IS 'Deals that entered this stage at least once.';
COMMENT ON COLUMN crm.funnel_conversion.share_of_top IS
    'deals_reached as a fraction of the widest stage of the funnel (usually the first).';
COMMENT ON COLUMN crm.funnel_conversion.deals_won_after IS 'Of those, deals that were later won.';
COMMENT ON COLUMN crm.funnel_conversion.win_rate_from_here IS 'deals_won_after / deals_reached.';

CREATE VIEW crm.win_rate AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       d.owner,
       date_trunc('month', d.closed_at) AS month,
       count(*) FILTER (WHERE s.kind = 'won') AS won,
       count(*) FILTER (WHERE s.kind = 'lost') AS lost,
       round(count(*) FILTER (WHERE s.kind = 'won')::numeric / count(*), 4) AS win_rate,
       d.currency,
       sum(d.amount) FILTER (WHERE s.kind = 'won') AS won_amount
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
  JOIN crm.pipeline p ON p.id = d.pipeline_id
 WHERE s.kind IN ('won', 'lost')
 GROUP BY p.id, p.name, d.owner, date_trunc('month', d.closed_at), d.currency;
COMMENT ON VIEW crm.win_rate IS 'Closed deals per pipeline, owner, month of closing and currency: won, lost and the win rate.';
COMMENT ON COLUMN crm.win_rate.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.win_rate.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.win_rate.owner IS 'The deal owner.';
COMMENT ON COLUMN crm.win_rate.month IS 'Month the deals were closed (first day, in the session time zone).';
COMMENT ON COLUMN crm.win_rate.won IS 'Deals won.';
COMMENT ON COLUMN crm.win_rate.lost IS 'Deals lost.';
COMMENT ON COLUMN crm.win_rate.win_rate IS 'won / (won + lost).';
COMMENT ON COLUMN crm.win_rate.currency IS 'Currency of won_amount.';
COMMENT ON COLUMN crm.win_rate.won_amount IS 'Total amount of the deals won.';

CREATE VIEW crm.weighted_pipeline AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       date_trunc('month', d.expected_close_date)::date AS close_month,
       s.forecast_category,
       d.currency,
       count(*) AS deals,
       sum(d.amount) AS amount,
       round(sum(d.amount * coalesce(d.probability, s.probability)), 2) AS weighted_amount
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
  JOIN crm.pipeline p ON p.id = d.pipeline_id
 WHERE s.kind = 'open'
 GROUP BY p.id, p.name, date_trunc('month', d.expected_close_date)::date, s.forecast_category, d.currency;
COMMENT ON VIEW crm.weighted_pipeline IS
    'Open deals by expected close month and forecast category: amount and probability-weighted amount.';
COMMENT ON COLUMN crm.weighted_pipeline.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.weighted_pipeline.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.weighted_pipeline.close_month IS 'First day of the expected close month; NULL when no date is set.';
COMMENT ON COLUMN crm.weighted_pipeline.forecast_category IS 'pipeline, best_case, commit or omitted (from the stage).';
COMMENT ON COLUMN crm.weighted_pipeline.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.weighted_pipeline.deals IS 'Number of open deals.';
COMMENT ON COLUMN crm.weighted_pipeline.amount IS 'Sum of their amounts.';
COMMENT ON COLUMN crm.weighted_pipeline.weighted_amount IS
    'Sum of amount × probability (the deal''s own, else the stage''s), to the cent.';

CREATE VIEW crm.stalled_deals AS
WITH typical AS (
    SELECT pipeline_id, stage, median_time_in_stage FROM crm.stage_velocity WHERE moves_out >= 5
)
SELECT d.id AS deal_id,
       d.name,
       d.owner,
       p.name AS pipeline,
       d.stage,
       d.amount,
       d.currency,
       now() - d.stage_entered_at AS time_in_stage,
       t.median_time_in_stage,
       round((extract(epoch FROM now() - d.stage_entered_at)
              / nullif(extract(epoch FROM t.median_time_in_stage), 0))::numeric, 1) AS times_median
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage AND s.kind = 'open'
  JOIN crm.pipeline p ON p.id = d.pipeline_id
  JOIN typical t ON t.pipeline_id = d.pipeline_id AND t.stage = d.stage
 WHERE now() - d.stage_entered_at > 2 * t.median_time_in_stage;
COMMENT ON VIEW crm.stalled_deals IS
    'Open deals that have been in their stage more than twice the median time deals spend there '
    '(stages with at least 5 past moves out).';
COMMENT ON COLUMN crm.stalled_deals.deal_id IS 'The deal (crm.deal.id).';
COMMENT ON COLUMN crm.stalled_deals.name IS 'Deal name.';
COMMENT ON COLUMN crm.stalled_deals.owner IS 'Who owns the deal.';
COMMENT ON COLUMN crm.stalled_deals.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.stalled_deals.stage IS 'The stage it is stuck in.';
COMMENT ON COLUMN crm.stalled_deals.amount IS 'Deal amount.';
COMMENT ON COLUMN crm.stalled_deals.currency IS 'Currency of the amount.';
COMMENT ON COLUMN crm.stalled_deals.time_in_stage IS 'How long it has been in the stage.';
COMMENT ON COLUMN crm.stalled_deals.median_time_in_stage IS 'Median time deals spend in that stage.';
COMMENT ON COLUMN crm.stalled_deals.times_median IS 'time_in_stage as a multiple of the median.';

GRANT SELECT ON crm.funnel_conversion, crm.win_rate, crm.weighted_pipeline, crm.stalled_deals TO crm_reader;

-- ===== src/reports/20_sales_views.sql =====
-- src/reports/20_sales_views.sql: sales-process views for BI tools.
-- Monthly sales and product sales from orders, receivables with ageing
-- buckets, and ticket SLAs; every view and column carries a comment.
-- Months and ages follow the session's TimeZone (set it in the BI tool's
-- connection to report in the company's time zone).

CREATE VIEW crm.monthly_sales AS
SELECT date_trunc('month', o.created_at)::date AS month,
       o.currency,
       count(*) AS orders,
       count(DISTINCT o.account_id) AS customers,
       sum(o.net_total) AS net_total,
       sum(o.tax_total) AS tax_total,
       sum(o.gross_total) AS gross_total,
       crm.round_money(avg(o.net_total), o.currency) AS average_order_net,
       count(*) FILTER (WHERE o.status IN ('delivered', 'completed')) AS delivered_orders
  FROM crm.sales_order o
 WHERE o.status <> 'cancelled'
 GROUP BY 1, o.currency;
COMMENT ON VIEW crm.monthly_sales IS
    'Sales per month and currency from sales orders (cancelled orders left out), by the month the order was placed.';
COMMENT ON COLUMN crm.monthly_sales.month IS 'First day of the month the orders were placed.';
COMMENT ON COLUMN crm.monthly_sales.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.monthly_sales.orders IS 'Orders placed that month and not cancelled.';
COMMENT ON COLUMN crm.monthly_sales.customers IS 'Distinct accounts that ordered.';
COMMENT ON COLUMN crm.monthly_sales.net_total IS 'Sum of the orders'' net totals (after discounts, before tax).';
COMMENT ON COLUMN crm.monthly_sales.tax_total IS 'Sum of the orders'' tax.';
COMMENT ON COLUMN crm.monthly_sales.gross_total IS 'Sum of the orders'' gross totals (net + tax).';
COMMENT ON COLUMN crm.monthly_sales.average_order_net IS 'Mean net total per order, to the currency''s minor unit.';
COMMENT ON COLUMN crm.monthly_sales.delivered_orders IS 'Of those orders, how many are delivered (or completed) by now.';

CREATE VIEW crm.product_sales AS
SELECT p.id AS product_id,
       p.sku,
       p.name,
       i.currency,
       count(DISTINCT o.id) AS orders,
       sum(i.quantity) AS quantity,
       sum(i.net_amount) AS net_total,
       sum(i.gross_amount) AS gross_total,
       round(sum(i.quantity * i.unit_price * i.discount) / nullif(sum(i.quantity * i.unit_price), 0), 4) AS average_discount,
       min(o.created_at) AS first_ordered_at,
       max(o.created_at) AS last_ordered_at
  FROM crm.sales_order_item i
  JOIN crm.sales_order o ON o.id = i.sales_order_id
  JOIN crm.product p ON p.id = i.product_id
 WHERE o.status <> 'cancelled'
 GROUP BY p.id, p.sku, p.name, i.currency;
COMMENT ON VIEW crm.product_sales IS 'What each product sold on sales orders, per currency (cancelled orders left out).';
COMMENT ON COLUMN crm.product_sales.product_id IS 'The product (crm.product.id).';
COMMENT ON COLUMN crm.product_sales.sku IS 'Product SKU.';
COMMENT ON COLUMN crm.product_sales.name IS 'Product name.';
COMMENT ON COLUMN crm.product_sales.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.product_sales.orders IS 'Orders with at least one line of the product.';
COMMENT ON COLUMN crm.product_sales.quantity IS 'Units ordered.';
COMMENT ON COLUMN crm.product_sales.net_total IS 'Sum of the lines'' net amounts (after discount, before tax).';
COMMENT ON COLUMN crm.product_sales.gross_total IS 'Sum of the lines'' gross amounts (net + tax).';
COMMENT ON COLUMN crm.product_sales.average_discount IS 'Discount given, as a fraction of the list value (quantity × unit price).';
COMMENT ON COLUMN crm.product_sales.first_ordered_at IS 'When the product was first ordered.';
COMMENT ON COLUMN crm.product_sales.last_ordered_at IS 'When it was last ordered.';

CREATE VIEW crm.receivables AS
SELECT i.id AS invoice_id,
       i.number,
       i.account_id,
       a.name AS account,
       i.currency,
       i.issue_date,
       i.due_date,
       i.gross_total,
       i.amount_paid,
       i.gross_total - i.amount_paid AS balance,
       current_date - i.due_date AS days_past_due,
       CASE WHEN current_date - i.due_date < 0 THEN 'not_due'
            WHEN current_date - i.due_date <= 30 THEN '0-30'
            WHEN current_date - i.due_date <= 60 THEN '31-60'
            WHEN current_date - i.due_date <= 90 THEN '61-90'
            ELSE 'over_90' END AS ageing_bucket
  FROM crm.invoice i
  JOIN crm.account a ON a.id = i.account_id
 WHERE i.status IN ('issued', 'partially_paid');
COMMENT ON VIEW crm.receivables IS 'Issued invoices not paid in full, with their balance and age past the due date.';
COMMENT ON COLUMN crm.receivables.invoice_id IS 'The invoice (crm.invoice.id).';
COMMENT ON COLUMN crm.receivables.number IS 'Invoice number, INV-<year>-<6 digits>.';
COMMENT ON COLUMN crm.receivables.account_id IS 'The customer (crm.account.id).';
COMMENT ON COLUMN crm.receivables.account IS 'Customer name.';
COMMENT ON COLUMN crm.receivables.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.receivables.issue_date IS 'Date the invoice was issued.';
COMMENT ON COLUMN crm.receivables.due_date IS 'Date payment was due.';
COMMENT ON COLUMN crm.receivables.gross_total IS 'Amount invoiced, tax included.';
COMMENT ON COLUMN crm.receivables.amount_paid IS 'Amount received so far.';
COMMENT ON COLUMN crm.receivables.balance IS 'Amount still owed.';
COMMENT ON COLUMN crm.receivables.days_past_due IS 'Days since the due date (0 on the due date, negative before it).';
COMMENT ON COLUMN crm.receivables.ageing_bucket IS
    'not_due, 0-30, 31-60, 61-90 or over_90 days past the due date.';

CREATE VIEW crm.receivables_ageing AS
SELECT r.account_id,
       r.account,
       r.currency,
       count(*) AS invoices,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = 'not_due') AS not_due,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '0-30') AS days_0_30,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '31-60') AS days_31_60,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = '61-90') AS days_61_90,
       sum(r.balance) FILTER (WHERE r.ageing_bucket = 'over_90') AS days_over_90,
       sum(r.balance) AS total_due
  FROM crm.receivables r
 GROUP BY r.account_id, r.account, r.currency;
COMMENT ON VIEW crm.receivables_ageing IS
    'Amounts owed per customer and currency in ageing buckets by days past due (NULL: nothing in that bucket).';
COMMENT ON COLUMN crm.receivables_ageing.account_id IS 'The customer (crm.account.id).';
COMMENT ON COLUMN crm.receivables_ageing.account IS 'Customer name.';
COMMENT ON COLUMN crm.receivables_ageing.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.receivables_ageing.invoices IS 'Open invoices of the customer in that currency.';
COMMENT ON COLUMN crm.receivables_ageing.not_due IS 'Owed on invoices not yet due.';
COMMENT ON COLUMN crm.receivables_ageing.days_0_30 IS 'Owed on invoices 0 to 30 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_31_60 IS 'Owed on invoices 31 to 60 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_61_90 IS 'Owed on invoices 61 to 90 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.days_over_90 IS 'Owed on invoices more than 90 days past due.';
COMMENT ON COLUMN crm.receivables_ageing.total_due IS 'Everything the customer owes in that currency.';

CREATE VIEW crm.ticket_sla_status AS
WITH t AS (
    SELECT t.*, p.rank, p.at_risk_share,
           coalesce(t.responded_at > t.response_due_at, now() > t.response_due_at) AS response_breached,
           now() > t.resolve_due_at AS resolution_breached,
           t.responded_at IS NULL
               AND t.response_due_at - now() < (t.response_due_at - t.created_at) * p.at_risk_share::float8
               AS response_at_risk,
           t.resolve_due_at - now() < (t.resolve_due_at - t.created_at) * p.at_risk_share::float8
               AS resolution_at_risk
      FROM crm.ticket t
      JOIN crm.ticket_sla_policy p ON p.priority = t.priority
     WHERE t.resolved_at IS NULL
)
SELECT t.id AS ticket_id,
       t.subject,
       t.priority,
       t.rank AS priority_rank,
       t.status,
       t.owner,
       t.account_id,
       t.created_at,
       t.response_due_at,
       t.responded_at,
       t.resolve_due_at,
       CASE WHEN t.responded_at IS NULL THEN 'response' ELSE 'resolution' END AS next_target,
       CASE WHEN t.responded_at IS NULL THEN t.response_due_at ELSE t.resolve_due_at END - now() AS time_left,
       t.response_breached,
       t.resolution_breached,
       CASE WHEN t.response_breached OR t.resolution_breached THEN 'breached'
            WHEN t.response_at_risk OR t.resolution_at_risk THEN 'at_risk'
            ELSE 'on_track' END AS sla_state
  FROM t;
COMMENT ON VIEW crm.ticket_sla_status IS
    'Unresolved tickets against their SLA: breached (a target missed), at_risk (little time left) or on_track.';
COMMENT ON COLUMN crm.ticket_sla_status.ticket_id IS 'The ticket (crm.ticket.id).';
COMMENT ON COLUMN crm.ticket_sla_status.subject IS 'What the ticket is about.';
COMMENT ON COLUMN crm.ticket_sla_status.priority IS 'urgent, high, normal or low.';
COMMENT ON COLUMN crm.ticket_sla_status.priority_rank IS 'Order of urgency of the priority, 1 first.';
COMMENT ON COLUMN crm.ticket_sla_status.status IS 'open, in_progress or waiting.';
COMMENT ON COLUMN crm.ticket_sla_status.owner IS 'Who works on it.';
COMMENT ON COLUMN crm.ticket_sla_status.account_id IS 'The customer, if known.';
COMMENT ON COLUMN crm.ticket_sla_status.created_at IS 'When the ticket was opened; the SLA clock starts there.';
COMMENT ON COLUMN crm.ticket_sla_status.response_due_at IS 'When the first response is due.';
COMMENT ON COLUMN crm.ticket_sla_status.responded_at IS 'When it first left open; NULL if not yet.';
COMMENT ON COLUMN crm.ticket_sla_status.resolve_due_at IS 'When resolution is due.';
COMMENT ON COLUMN crm.ticket_sla_status.next_target IS 'response until the first response, then resolution.';
COMMENT ON COLUMN crm.ticket_sla_status.time_left IS 'Time until the next target is due; negative when overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.response_breached IS 'The first response came late, or is overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.resolution_breached IS 'Resolution is overdue.';
COMMENT ON COLUMN crm.ticket_sla_status.sla_state IS
    'breached (a target missed), at_risk (less than the priority''s at_risk_share of a target''s time left) or on_track.';

CREATE VIEW crm.ticket_sla_alerts AS
SELECT s.ticket_id, s.subject, s.priority, s.status, s.owner, s.account_id, s.sla_state, s.next_target,
       s.response_due_at, s.resolve_due_at, s.time_left
  FROM crm.ticket_sla_status s
 WHERE s.sla_state <> 'on_track';
COMMENT ON VIEW crm.ticket_sla_alerts IS 'Tickets whose SLA is breached or at risk: the support team''s to-do list.';
COMMENT ON COLUMN crm.ticket_sla_alerts.ticket_id IS 'The ticket (crm.ticket.id).';
COMMENT ON COLUMN crm.ticket_sla_alerts.subject IS 'What the ticket is about.';
COMMENT ON COLUMN crm.ticket_sla_alerts.priority IS 'urgent, high, normal or low.';
COMMENT ON COLUMN crm.ticket_sla_alerts.status IS 'open, in_progress or waiting.';
COMMENT ON COLUMN crm.ticket_sla_alerts.owner IS 'Who works on it.';
COMMENT ON COLUMN crm.ticket_sla_alerts.account_id IS 'The customer, if known.';
COMMENT ON COLUMN crm.ticket_sla_alerts.sla_state IS 'breached or at_risk.';
COMMENT ON COLUMN crm.ticket_sla_alerts.next_target IS 'response until the first response, then resolution.';
COMMENT ON COLUMN crm.ticket_sla_alerts.response_due_at IS 'When the first response is due.';
COMMENT ON COLUMN crm.ticket_sla_alerts.resolve_due_at IS 'When resolution is due.';
COMMENT ON COLUMN crm.ticket_sla_alerts.time_left IS 'Time until the next target is due; negative when overdue.';

GRANT SELECT ON crm.monthly_sales, crm.product_sales, crm.receivables, crm.receivables_ageing,
    crm.ticket_sla_status, crm.ticket_sla_alerts TO crm_reader;
