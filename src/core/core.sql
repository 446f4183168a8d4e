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

-- Keys and names that identify things (pipelines, stages, templates, ...)
-- are printable: no tabs, newlines or other control characters (C0, DEL, C1).
CREATE FUNCTION crm.is_printable(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN value !~ E'[\\x01-\\x1f\\x7f-\\x9f]';
COMMENT ON FUNCTION crm.is_printable(text) IS
    'True when the text has no control characters (tabs, newlines, ...): the check behind every key and name constraint.';

CREATE FUNCTION crm.set_updated_at() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_set_updated_at';
COMMENT ON FUNCTION crm.set_updated_at() IS
    'BEFORE UPDATE row trigger: sets updated_at to now().';
-- Trigger functions (and SECURITY DEFINER helpers) are never executable by
-- PUBLIC; crm_admin may attach this one to tables of its own.
REVOKE EXECUTE ON FUNCTION crm.set_updated_at() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.set_updated_at() TO crm_admin;

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
SELECT pg_catalog.pg_extension_config_dump('crm.account', '');
SELECT pg_catalog.pg_extension_config_dump('crm.account_id_seq', '');
CREATE INDEX account_name_idx ON crm.account (lower(name));
CREATE INDEX account_owner_idx ON crm.account (owner);
CREATE TRIGGER account_set_updated_at BEFORE UPDATE ON crm.account
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.account IS 'Companies the team sells to.';
COMMENT ON COLUMN crm.account.id IS
    'Identity of the account, assigned by the database; other tables refer to it as account_id.';
COMMENT ON COLUMN crm.account.name IS 'Company name as written, any UTF-8 text (not blank).';
COMMENT ON COLUMN crm.account.domain IS
    'Web domain, e.g. example.cn: one of the signs of a duplicate account.';
COMMENT ON COLUMN crm.account.industry IS 'Line of business, free text (e.g. education).';
COMMENT ON COLUMN crm.account.phone IS
    'Main phone number as entered; crm.normalize_phone gives its E.164 form.';
COMMENT ON COLUMN crm.account.owner IS
    'The role responsible for the account (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.account.attributes IS
    'The user''s own fields for the account, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.account.created_at IS 'When the account was inserted (now() unless given).';
COMMENT ON COLUMN crm.account.updated_at IS
    'When the account last changed (set by crm.set_updated_at, on every UPDATE).';

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
SELECT pg_catalog.pg_extension_config_dump('crm.contact', '');
SELECT pg_catalog.pg_extension_config_dump('crm.contact_id_seq', '');
CREATE UNIQUE INDEX contact_email_key ON crm.contact (lower(email));
CREATE INDEX contact_account_id_idx ON crm.contact (account_id);
CREATE INDEX contact_owner_idx ON crm.contact (owner);
CREATE TRIGGER contact_set_updated_at BEFORE UPDATE ON crm.contact
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.contact IS 'People at accounts; email is unique regardless of case.';
COMMENT ON COLUMN crm.contact.id IS
    'Identity of the contact, assigned by the database; other tables refer to it as contact_id.';
COMMENT ON COLUMN crm.contact.account_id IS
    'The company the person works for (crm.account.id); NULL for an individual customer.';
COMMENT ON COLUMN crm.contact.name IS 'Full name as written, any UTF-8 text (not blank).';
COMMENT ON COLUMN crm.contact.email IS
    'Email address, unique regardless of case; malformed addresses are refused.';
COMMENT ON COLUMN crm.contact.phone IS 'Phone number as entered; crm.normalize_phone gives its E.164 form.';
COMMENT ON COLUMN crm.contact.title IS 'Job title, free text.';
COMMENT ON COLUMN crm.contact.owner IS
    'The role responsible for the contact (its salesperson); the inserting role unless given.';
COMMENT ON COLUMN crm.contact.attributes IS
    'The user''s own fields for the contact, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.contact.created_at IS 'When the contact was inserted (now() unless given).';
COMMENT ON COLUMN crm.contact.updated_at IS
    'When the contact last changed (set by crm.set_updated_at, on every UPDATE).';

CREATE TABLE crm.product (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE CONSTRAINT product_sku_not_blank CHECK (btrim(sku) <> ''),
    name        text NOT NULL CONSTRAINT product_name_not_blank CHECK (btrim(name) <> ''),
    description text,
    unit_price  numeric NOT NULL CONSTRAINT product_unit_price_not_negative CHECK (unit_price >= 0)
                CONSTRAINT product_unit_price_finite CHECK (unit_price < 'Infinity'),
    currency    crm.currency_code NOT NULL DEFAULT 'USD',
    active      boolean NOT NULL DEFAULT true,
    attributes  jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT product_attributes_object CHECK (jsonb_typeof(attributes) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.product', '');
SELECT pg_catalog.pg_extension_config_dump('crm.product_id_seq', '');
CREATE TRIGGER product_set_updated_at BEFORE UPDATE ON crm.product
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.product IS 'The catalogue: what deals, quotes and orders sell.';
COMMENT ON COLUMN crm.product.id IS
    'Identity of the product, assigned by the database; lines refer to it as product_id.';
COMMENT ON COLUMN crm.product.sku IS 'Stock-keeping unit: the product''s unique code (e.g. DA-201).';
COMMENT ON COLUMN crm.product.name IS 'Name shown on quotes, orders and invoices.';
COMMENT ON COLUMN crm.product.description IS 'Longer description, free text.';
COMMENT ON COLUMN crm.product.unit_price IS
    'List price of one unit in currency, at least 0; a deal item without a price of its own takes it.';
COMMENT ON COLUMN crm.product.currency IS 'Currency of unit_price (ISO 4217).';
COMMENT ON COLUMN crm.product.active IS 'False for a product no longer sold: recommendations leave it out.';
COMMENT ON COLUMN crm.product.attributes IS
    'The user''s own fields for the product, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.product.created_at IS 'When the product was inserted (now() unless given).';
COMMENT ON COLUMN crm.product.updated_at IS
    'When the product last changed (set by crm.set_updated_at, on every UPDATE).';

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
SELECT pg_catalog.pg_extension_config_dump('crm.activity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.activity_id_seq', '');
CREATE INDEX activity_account_id_idx ON crm.activity (account_id);
CREATE INDEX activity_contact_id_idx ON crm.activity (contact_id);
CREATE INDEX activity_deal_id_idx ON crm.activity (deal_id);
CREATE INDEX activity_open_due_idx ON crm.activity (owner, due_at) WHERE done_at IS NULL;
CREATE TRIGGER activity_set_updated_at BEFORE UPDATE ON crm.activity
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.activity IS
    'Calls, emails, meetings, notes and tasks; a task is open until done_at is set.';
COMMENT ON COLUMN crm.activity.id IS 'Identity of the activity, assigned by the database.';
COMMENT ON COLUMN crm.activity.kind IS 'call, email, meeting, note or task.';
COMMENT ON COLUMN crm.activity.subject IS 'One-line summary (not blank).';
COMMENT ON COLUMN crm.activity.body IS 'Notes or the message text, free text.';
COMMENT ON COLUMN crm.activity.account_id IS
    'The account it concerns (crm.account.id), if any; deleted with the account.';
COMMENT ON COLUMN crm.activity.contact_id IS
    'The person it concerns (crm.contact.id), if any; deleted with the contact.';
COMMENT ON COLUMN crm.activity.deal_id IS 'The deal it concerns (crm.deal.id), if any.';
COMMENT ON COLUMN crm.activity.due_at IS
    'When it is due: a follow-up is overdue once this has passed and done_at is still NULL.';
COMMENT ON COLUMN crm.activity.done_at IS 'When it was done; NULL while open.';
COMMENT ON COLUMN crm.activity.owner IS 'The role who has to do it; the inserting role unless given.';
COMMENT ON COLUMN crm.activity.attributes IS
    'The user''s own fields for the activity, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.activity.created_at IS 'When the activity was inserted (now() unless given).';
COMMENT ON COLUMN crm.activity.updated_at IS
    'When the activity last changed (set by crm.set_updated_at, on every UPDATE).';

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
