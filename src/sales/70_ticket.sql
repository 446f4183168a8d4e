-- src/sales/70_ticket.sql: after-sales service (售后服务) tickets with SLAs.
--
-- A ticket's priority names a row of crm.ticket_sla_policy, which says how
-- soon it must be answered (first move out of open) and resolved; the due
-- times are computed from created_at when the ticket is created and again
-- when its priority changes (editing a policy affects tickets created after).
-- The clock runs in every status until resolved, waiting included.  Status
-- follows the 'ticket' workflow: open → in_progress ⇄ waiting → resolved →
-- closed, and a resolved ticket can be reopened (back to in_progress).  A
-- ticket someone has worked on (it left open) is a service record: it is
-- closed, never deleted.

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
SELECT pg_catalog.pg_extension_config_dump('crm.ticket_sla_policy', '');
SELECT pg_catalog.pg_extension_config_dump('crm.ticket_sla_policy_id_seq', '');
CREATE TRIGGER ticket_sla_policy_restore_seed BEFORE INSERT ON crm.ticket_sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER ticket_sla_policy_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.ticket_sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('priority');
CREATE TRIGGER ticket_sla_policy_set_updated_at BEFORE UPDATE ON crm.ticket_sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.ticket_sla_policy IS 'Service levels per ticket priority; edit to match your support contract.';
COMMENT ON COLUMN crm.ticket_sla_policy.priority IS 'Priority name, as stored in crm.ticket.priority.';
COMMENT ON COLUMN crm.ticket_sla_policy.rank IS 'Order of urgency, 1 first.';
COMMENT ON COLUMN crm.ticket_sla_policy.response_within IS 'Time from creation to the first response (leaving open).';
COMMENT ON COLUMN crm.ticket_sla_policy.resolve_within IS 'Time from creation to resolution.';
COMMENT ON COLUMN crm.ticket_sla_policy.at_risk_share IS
    'A target is at risk when less than this share of its time is left (0.25: the last quarter).';
COMMENT ON COLUMN crm.ticket_sla_policy.id IS
    'Identity of the policy, assigned by the database (tickets refer to it by priority).';
COMMENT ON COLUMN crm.ticket_sla_policy.created_at IS 'When the policy was inserted (now() unless given).';
COMMENT ON COLUMN crm.ticket_sla_policy.updated_at IS
    'When the policy last changed (set by crm.set_updated_at, on every UPDATE).';

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
SELECT pg_catalog.pg_extension_config_dump('crm.ticket', '');
SELECT pg_catalog.pg_extension_config_dump('crm.ticket_id_seq', '');
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
COMMENT ON COLUMN crm.ticket.id IS 'Identity of the ticket, assigned by the database.';
COMMENT ON COLUMN crm.ticket.subject IS 'One-line summary of the problem (not blank).';
COMMENT ON COLUMN crm.ticket.description IS 'What the customer reported, free text.';
COMMENT ON COLUMN crm.ticket.account_id IS 'The customer company (crm.account.id), if any.';
COMMENT ON COLUMN crm.ticket.contact_id IS 'The person who reported it (crm.contact.id), if any.';
COMMENT ON COLUMN crm.ticket.owner IS 'The role handling the ticket; the inserting role unless given.';
COMMENT ON COLUMN crm.ticket.attributes IS
    'The user''s own fields for the ticket, as a JSON object; crm does not read them.';
COMMENT ON COLUMN crm.ticket.created_at IS 'When the ticket was inserted (now() unless given).';
COMMENT ON COLUMN crm.ticket.updated_at IS
    'When the ticket last changed (set by the transition engine, on every UPDATE).';

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
SELECT pg_catalog.pg_extension_config_dump('crm.ticket_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.ticket_status_history_id_seq', '');
CREATE INDEX ticket_status_history_ticket_idx ON crm.ticket_status_history (ticket_id, changed_at);
COMMENT ON TABLE crm.ticket_status_history IS 'One row per status a ticket entered, written by the engine.';
COMMENT ON COLUMN crm.ticket_status_history.id IS 'Identity of the history row, assigned by the database.';
COMMENT ON COLUMN crm.ticket_status_history.ticket_id IS 'The ticket that moved (crm.ticket.id).';
COMMENT ON COLUMN crm.ticket_status_history.pipeline_id IS
    'The pipeline whose rules allowed the move (crm.pipeline.id): the ''ticket'' workflow.';
COMMENT ON COLUMN crm.ticket_status_history.from_stage IS
    'The status left; NULL for the row written when the ticket was inserted.';
COMMENT ON COLUMN crm.ticket_status_history.to_stage IS 'The status entered.';
COMMENT ON COLUMN crm.ticket_status_history.changed_at IS 'When the ticket entered to_stage.';
COMMENT ON COLUMN crm.ticket_status_history.changed_by IS
    'The role that made the move (the current user of the statement).';
COMMENT ON COLUMN crm.ticket_status_history.time_in_from_stage IS
    'How long the ticket spent in from_stage; NULL for the first row.';
COMMENT ON COLUMN crm.ticket_status_history.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.ticket_status_history.updated_at IS
    'When the row last changed; the engine writes history rows once, so normally created_at.';

-- Due times from the priority; response and resolution stamps from moves.
-- Runs after the engine (enforce < sla), so status_entered_at is the move's time.
CREATE FUNCTION crm.ticket_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy record;
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;             -- restore mode: rows as saved
    END IF;
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

-- A ticket that ever left open is kept (its history too).  The history is
-- asked as well, because a rule an admin adds could move a ticket back to open.
CREATE FUNCTION crm.ticket_keep_record() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN OLD;             -- restore mode: the restorer decides
    END IF;
    IF OLD.status <> 'open'
       OR EXISTS (SELECT FROM crm.ticket_status_history h WHERE h.ticket_id = OLD.id AND h.from_stage IS NOT NULL) THEN
        RAISE EXCEPTION 'ticket % cannot be deleted: it is %', OLD.id,
                        CASE OLD.status WHEN 'open' THEN 'reopened' ELSE OLD.status END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Only a ticket nobody has worked on yet may be deleted; the others stay as the service record.',
                  HINT = 'Close it instead: move it on to resolved, then closed, with crm.move_ticket(ticket_id, status).';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION crm.ticket_keep_record() IS
    'BEFORE DELETE trigger on crm.ticket: only a ticket that never left open may be deleted.';

CREATE TRIGGER ticket_enforce_transition BEFORE INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.enforce_transition('status', 'ticket');
CREATE TRIGGER ticket_sla BEFORE INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.ticket_sla();
CREATE TRIGGER ticket_record_transition AFTER INSERT OR UPDATE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.record_transition('crm.ticket_status_history', 'ticket_id', 'status', 'ticket');
CREATE TRIGGER ticket_keep_record BEFORE DELETE ON crm.ticket
    FOR EACH ROW EXECUTE FUNCTION crm.ticket_keep_record();

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

REVOKE EXECUTE ON FUNCTION crm.ticket_sla(), crm.ticket_keep_record() FROM PUBLIC;
GRANT SELECT ON crm.ticket_sla_policy, crm.ticket, crm.ticket_status_history TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.ticket TO crm_user;
GRANT INSERT, UPDATE, DELETE ON crm.ticket_sla_policy TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.move_ticket(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.move_ticket(bigint, text) TO crm_user;
-- Trigger functions and SECURITY DEFINER helpers are never executable by PUBLIC.
REVOKE EXECUTE ON FUNCTION crm.ticket_sla() FROM PUBLIC;
