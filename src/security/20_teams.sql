-- src/security/20_teams.sql: teams and row-level security (who sees which
-- customers, deals and documents).
--
-- The setting `visibility` (a crm.setting row, written only by crm_admin)
-- decides what a crm_user sees and changes:
--   all    every row (the default; the rules below are then a no-op)
--   team   rows owned by anyone who shares a team with them (crm.team_member)
--   owner  their own rows, plus their teams' rows for a team's manager
-- crm_admin always sees every row, and so does a *reader*: a role that is a
-- member of crm_reader and not of crm_user (BI tools).  crm_user and
-- crm_admin are members of crm_reader too, so "reader" is never taken to
-- mean "member of crm_reader" alone.  Superusers and the extension's owner
-- bypass row-level security as PostgreSQL defines it (the mail worker, and
-- the SECURITY DEFINER functions below, run as one of them).
--
-- How the policies stay cheap: a table with an owner column is filtered by
--   (SELECT crm.sees_all_rows()) OR owner = ANY ((SELECT crm.visible_owners())::name[])
-- whose two sub-selects are uncorrelated, so PostgreSQL runs each once per
-- query (an InitPlan) and per row only compares a name against a short array
-- (the cast matters: without it, ANY ((SELECT ...)) would read as a sub-query
-- whose rows are compared one by one).
-- A row without an owner (items, lines, history, payments; a person's
-- events, consent and segment memberships) follows the document or
-- contact it belongs to: one primary-key probe of that document, itself
-- filtered the same way; in mode `all` and for unrestricted roles the first
-- operand is true and the probe never runs.  Writes are checked with the
-- same rule, so a crm_user cannot give a row to someone outside their teams
-- (the owner column is part of the checked row: SQLSTATE 42501), nor make a
-- quote, order or invoice from a deal, quote or order they cannot see.
--
-- Every crm view is security_invoker (the reader's rules apply through it;
-- crm.email_body, a security-barrier view showing a crm_user the bodies of
-- their own mail, reads as its owner by design),
-- and crm's plain functions run with the caller's rights, so they see what
-- the caller sees.  These SECURITY DEFINER functions see more, on purpose:
--   crm.invoice_guard          gapless invoice numbering and "one live invoice
--                              per order" must count every invoice
--   crm.payment_check/_apply   an invoice's balance counts every payment
--   crm.send_email, crm.send_template, crm.unsubscribe, crm.cancel_email
--                              the mail queue is written only through them
--   crm.seal_audit, crm.verify_audit, crm.audit_anchor (30_audit.sql)
--                              the hash chain covers every audit row
--   crm.export_person, crm.erase_person (40_privacy.sql)
--                              everything held about one person, whoever
--                              owns it, and the audit log
--   crm.remember_deleted_key   writes crm.deleted_key (restore bookkeeping),
--                              which no role writes itself
--   crm.track, crm.grant_consent, crm.withdraw_consent, crm.request_opt_in,
--   crm.confirm_opt_in, crm.sign_token, crm.verify_token (src/marketing)
--                              apps record events and consent for any
--                              person, by address or id, into ledgers no
--                              role writes itself; tokens need the secret
--   crm.create_segment, crm.refresh_segment, crm.refresh_due_segments
--                              store and refresh segments, whose definitions
--                              run as the segment's owner (so under the
--                              owner's visibility)
--   crm.refresh_product_rules, crm.recommend_products, crm.render_template
--                              rules are learnt from every customer's
--                              purchases (only product pairs come out)
--   crm._health_checks, crm._metrics (src/ops)
--                              monitoring counts every row (counts only)
--   crm.create_journey, crm.activate_journey, crm.pause_journey,
--   crm.archive_journey, crm.create_campaign, crm.schedule_campaign,
--   crm.cancel_campaign, crm.run_campaigns (src/journeys)
--                              journeys and campaigns are written only
--                              through them, by their owner or crm_admin;
--                              their conditions, vars and audiences run as
--                              that owner
--   crm.enroll, crm.record_click (src/journeys)
--                              like crm.track: a person enters a journey by
--                              id, and a click arrives from a signed link
-- and the mail worker runs as a superuser: it delivers everyone's mail.
-- sql/security.sql lists the SECURITY DEFINER functions, so a new one is seen.

CREATE TABLE crm.team (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT team_name_key UNIQUE
                CONSTRAINT team_name_not_blank CHECK (btrim(name) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.team', '');
SELECT pg_catalog.pg_extension_config_dump('crm.team_id_seq', '');
CREATE TRIGGER team_set_updated_at BEFORE UPDATE ON crm.team
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.team IS 'Sales teams: with visibility = team, members see each other''s rows.';
COMMENT ON COLUMN crm.team.id IS 'Identifier of the team.';
COMMENT ON COLUMN crm.team.name IS 'Team name, unique.';
COMMENT ON COLUMN crm.team.created_at IS 'When the team was created.';
COMMENT ON COLUMN crm.team.updated_at IS 'When the team was last changed.';

CREATE TABLE crm.team_member (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id     bigint NOT NULL REFERENCES crm.team ON DELETE CASCADE,
    member      name NOT NULL,
    is_manager  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_member_key UNIQUE (team_id, member)
);
SELECT pg_catalog.pg_extension_config_dump('crm.team_member', '');
SELECT pg_catalog.pg_extension_config_dump('crm.team_member_id_seq', '');
CREATE INDEX team_member_member_idx ON crm.team_member (member);
CREATE TRIGGER team_member_set_updated_at BEFORE UPDATE ON crm.team_member
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.team_member IS
    'Who is in which team (a role may be in several); managers see their teams'' rows even with visibility = owner.';
COMMENT ON COLUMN crm.team_member.id IS 'Identifier of the membership.';
COMMENT ON COLUMN crm.team_member.team_id IS 'The team (crm.team.id).';
COMMENT ON COLUMN crm.team_member.member IS 'The member: a database role, as stored in the owner columns.';
COMMENT ON COLUMN crm.team_member.is_manager IS 'True for the team''s manager(s).';
COMMENT ON COLUMN crm.team_member.created_at IS 'When the member joined the team.';
COMMENT ON COLUMN crm.team_member.updated_at IS 'When the membership was last changed.';

-- A member is an existing role: a misspelt name would silently grant nothing.
CREATE FUNCTION crm.team_member_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) NEW.member) THEN
        RAISE EXCEPTION 'role "%" does not exist', NEW.member
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Team members are database roles: CREATE ROLE ... IN ROLE crm_user first.';
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.team_member_check() FROM PUBLIC;
COMMENT ON FUNCTION crm.team_member_check() IS
    'BEFORE INSERT OR UPDATE trigger on crm.team_member: the member must be an existing role.';
CREATE TRIGGER team_member_check BEFORE INSERT OR UPDATE ON crm.team_member
    FOR EACH ROW EXECUTE FUNCTION crm.team_member_check();

-- The setting.
CREATE FUNCTION crm.valid_visibility(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text := lower(btrim(value));
BEGIN
    IF v IN ('all', 'team', 'owner') THEN
        RETURN v;
    END IF;
    RAISE EXCEPTION 'invalid visibility "%"', value
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'Visibility is all (everyone sees every row), team (rows of one''s teams) or owner (one''s own rows).';
END
$$;
COMMENT ON FUNCTION crm.valid_visibility(text) IS
    'Setting validator: all, team or owner (trimmed, lower-cased); anything else raises 22023.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('visibility', 'all',
     'Which rows a crm_user sees and changes: all, team (rows owned by members of their teams) or owner '
     '(their own rows; a team''s manager also the team''s). crm_admin and readers always see every row.',
     'crm.valid_visibility');

-- What the policies ask, once per query.
CREATE FUNCTION crm.unrestricted_role() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.pg_has_role(current_user, 'crm_admin', 'USAGE')
    OR (pg_catalog.pg_has_role(current_user, 'crm_reader', 'MEMBER')
        AND NOT pg_catalog.pg_has_role(current_user, 'crm_user', 'MEMBER'));
COMMENT ON FUNCTION crm.unrestricted_role() IS
    'True for crm_admin and for readers (members of crm_reader that are not members of crm_user): they see every '
    'row whatever the visibility setting.';

CREATE FUNCTION crm.sees_all_rows() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN crm.setting_value('visibility') OPERATOR(pg_catalog.=) 'all' OR crm.unrestricted_role();
COMMENT ON FUNCTION crm.sees_all_rows() IS
    'True when the current role sees every row: visibility is all, or the role is crm_admin or a reader.';

CREATE FUNCTION crm.visible_owners() RETURNS name[]
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT ARRAY(
        SELECT CURRENT_USER
        UNION
        SELECT o.member
          FROM crm.team_member m
          JOIN crm.team_member o ON o.team_id OPERATOR(pg_catalog.=) m.team_id
         WHERE m.member OPERATOR(pg_catalog.=) CURRENT_USER
           AND (m.is_manager OR crm.setting_value('visibility') OPERATOR(pg_catalog.=) 'team'));
END;
COMMENT ON FUNCTION crm.visible_owners() IS
    'The owners whose rows the current role sees when it does not see all: itself, plus the members of its teams '
    '(visibility team) or of the teams it manages (visibility owner).';

-- Row-level security.  Tables with an owner; then rows that follow a
-- document, by the column referencing it; then what a new or changed
-- document must be able to see of the document it comes from.
DO $policies$
DECLARE
    t record;
    visible_owner constant text := 'owner OPERATOR(pg_catalog.=) ANY ((SELECT crm.visible_owners())::name[])';
    source_rule constant text := ' AND (%1$I IS NULL OR EXISTS (SELECT FROM crm.%2$I s WHERE s.id OPERATOR(pg_catalog.=) %1$I))';
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('account', ''), ('contact', ''), ('activity', ''), ('ticket', ''), ('deal', ''),
            ('quote', format(source_rule, 'deal_id', 'deal')),
            ('sales_order', format(source_rule, 'quote_id', 'quote') || format(source_rule, 'deal_id', 'deal')),
            ('invoice', format(source_rule, 'sales_order_id', 'sales_order'))) AS v(tab, source_check)
    LOOP
        EXECUTE format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t.tab);
        EXECUTE format('CREATE POLICY visibility ON crm.%I USING ((SELECT crm.sees_all_rows()) OR %s) '
                       'WITH CHECK ((SELECT crm.sees_all_rows()) OR (%s%s))',
                       t.tab, visible_owner, visible_owner, t.source_check);
        EXECUTE format('COMMENT ON POLICY visibility ON crm.%I IS %L', t.tab,
                       'Rows owned by the roles crm.visible_owners() lists, or every row when crm.sees_all_rows()'
                       || CASE WHEN t.source_check <> '' THEN '; a row written must see the document it comes from'
                          ELSE '' END || '.');
    END LOOP;

    FOR t IN SELECT * FROM (VALUES
            ('deal_item', 'deal', 'deal_id'), ('deal_stage_history', 'deal', 'deal_id'),
            ('quote_item', 'quote', 'quote_id'), ('quote_status_history', 'quote', 'quote_id'),
            ('sales_order_item', 'sales_order', 'sales_order_id'),
            ('sales_order_status_history', 'sales_order', 'sales_order_id'),
            ('invoice_line', 'invoice', 'invoice_id'), ('invoice_status_history', 'invoice', 'invoice_id'),
            ('payment', 'invoice', 'invoice_id'), ('ticket_status_history', 'ticket', 'ticket_id'),
            ('event', 'contact', 'contact_id'), ('consent', 'contact', 'contact_id'),
            ('segment_member', 'contact', 'contact_id'))
            AS v(tab, parent, ref)
    LOOP
        EXECUTE format('ALTER TABLE crm.%I ENABLE ROW LEVEL SECURITY', t.tab);
        EXECUTE format('CREATE POLICY visibility ON crm.%1$I USING (%2$s) WITH CHECK (%2$s)', t.tab,
                       format('(SELECT crm.sees_all_rows()) OR EXISTS (SELECT FROM crm.%I p WHERE p.id '
                              'OPERATOR(pg_catalog.=) %I)', t.parent, t.ref));
        EXECUTE format('COMMENT ON POLICY visibility ON crm.%I IS %L', t.tab,
                       format('Rows of a visible %s (they follow the document they belong to).', t.parent));
    END LOOP;
END
$policies$;

-- Every view applies its reader's privileges and policies, except a
-- security_barrier view, which by design reads with its owner's rights and
-- filters for its reader itself (crm.email_body: a crm_user's own mail bodies).
DO $views$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT c.oid FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v'
                AND NOT coalesce(c.reloptions @> '{security_barrier=true}', false)
              ORDER BY c.oid
    LOOP
        EXECUTE format('ALTER VIEW %s SET (security_invoker = true)', v);
    END LOOP;
END
$views$;

GRANT SELECT ON crm.team, crm.team_member TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.team, crm.team_member TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.unrestricted_role(), crm.sees_all_rows(), crm.visible_owners(),
    crm.valid_visibility(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.unrestricted_role(), crm.sees_all_rows(), crm.visible_owners(),
    crm.valid_visibility(text) TO crm_reader;
