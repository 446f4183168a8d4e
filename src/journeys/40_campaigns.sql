-- src/journeys/40_campaigns.sql: broadcast campaigns -- one marketing mail
-- to a segment, with an optional A/B test of variants and a holdout.
--
-- Life of a campaign: draft -> scheduled (crm.schedule_campaign) -> sending
-- -> sent, or cancelled (crm.cancel_campaign) before it is sent.  The
-- worker's "campaigns" duty (crm.run_campaigns) does the work in short
-- transactions:
--   * start: when scheduled_at comes, the audience is snapshotted -- the
--     segment's members with an address who may get marketing mail, one
--     crm.campaign_recipient row each -- and split, in an order fixed by a
--     hash of campaign and person, into the holdout (holdout_percent: no
--     mail), the test group (test_percent, split evenly among the variants;
--     only with variants) and the rest (grp winner);
--   * send: recipients are walked in contact_id order with a keyset cursor
--     (cursor_key) that advances only in the transaction that queued
--     their mail, so a crash neither skips nor repeats anyone (and the
--     idempotency key campaign:<campaign>:<contact> makes a repeat
--     harmless anyway); send_rate (messages per minute) throttles it; the
--     frequency cap skips people who reached it (status capped);
--   * with variants, the test group is sent first; test_hours after its last
--     mail the winner is chosen (crm._campaign_winner: the variant with the
--     highest click or order rate if a pooled two-proportion z-test against
--     the runner-up is significant at 95%, two-sided; else the first
--     variant) and sent to the rest.

CREATE TABLE crm.campaign (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key               text NOT NULL CONSTRAINT campaign_key_key UNIQUE
                      CONSTRAINT campaign_key_printable
                      CHECK (btrim(key) <> '' AND crm.is_printable(key) AND octet_length(key) <= 100),
    name              text NOT NULL CONSTRAINT campaign_name_not_blank CHECK (btrim(name) <> ''),
    segment_key       text NOT NULL,
    template_key      text,
    status            text NOT NULL DEFAULT 'draft'
                      CONSTRAINT campaign_status_valid
                      CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled')),
    scheduled_at      timestamptz,
    holdout_percent   numeric NOT NULL DEFAULT 0
                      CONSTRAINT campaign_holdout_percent_range CHECK (holdout_percent >= 0 AND holdout_percent < 100),
    variants          jsonb NOT NULL DEFAULT '[]'
                      CONSTRAINT campaign_variants_array CHECK (jsonb_typeof(variants) = 'array'),
    test_percent      numeric NOT NULL DEFAULT 20
                      CONSTRAINT campaign_test_percent_range CHECK (test_percent > 0 AND test_percent <= 100),
    test_hours        numeric NOT NULL DEFAULT 4
                      CONSTRAINT campaign_test_hours_positive CHECK (test_hours > 0 AND test_hours <= 8760),
    winner_metric     text NOT NULL DEFAULT 'click'
                      CONSTRAINT campaign_winner_metric_valid CHECK (winner_metric IN ('click', 'order')),
    winner            text,
    winner_detail     jsonb,
    send_rate         int CONSTRAINT campaign_send_rate_positive CHECK (send_rate > 0),
    phase             text CONSTRAINT campaign_phase_valid CHECK (phase IN ('test', 'winner')),
    cursor_key bigint NOT NULL DEFAULT 0,
    throttled_until   timestamptz,
    started_at        timestamptz,
    test_sent_at      timestamptz,
    finished_at       timestamptz,
    owner             name NOT NULL DEFAULT crm.acting_role(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_template_given CHECK (template_key IS NOT NULL OR jsonb_array_length(variants) > 0)
);
SELECT pg_catalog.pg_extension_config_dump('crm.campaign', '');
SELECT pg_catalog.pg_extension_config_dump('crm.campaign_id_seq', '');
CREATE INDEX campaign_due_idx ON crm.campaign (scheduled_at) WHERE status IN ('scheduled', 'sending');
CREATE TRIGGER campaign_set_updated_at BEFORE UPDATE ON crm.campaign
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.campaign IS
    'Broadcast campaigns: one marketing mail to a segment''s members, sent by the worker, with optional A/B '
    'variants and a holdout; made with crm.create_campaign.';
COMMENT ON COLUMN crm.campaign.id IS 'Campaign number (in the idempotency keys of its mail).';
COMMENT ON COLUMN crm.campaign.key IS 'The name functions take (printable text).';
COMMENT ON COLUMN crm.campaign.name IS 'Display name.';
COMMENT ON COLUMN crm.campaign.segment_key IS 'The segment whose members (as of the start) receive it.';
COMMENT ON COLUMN crm.campaign.template_key IS 'The marketing template sent when there are no variants.';
COMMENT ON COLUMN crm.campaign.status IS
    'draft, scheduled (waits for scheduled_at), sending, sent (everyone handled) or cancelled.';
COMMENT ON COLUMN crm.campaign.scheduled_at IS 'When sending starts.';
COMMENT ON COLUMN crm.campaign.holdout_percent IS
    'Share of the audience (0 to below 100) that gets nothing and measures the campaign''s effect.';
COMMENT ON COLUMN crm.campaign.variants IS
    'A/B variants: JSON array of {"key", "template_key"}; empty for one message (template_key).';
COMMENT ON COLUMN crm.campaign.test_percent IS
    'With variants: share of the audience in the test, split evenly among the variants (default 20).';
COMMENT ON COLUMN crm.campaign.test_hours IS 'With variants: hours after the test''s last mail until the winner is chosen.';
COMMENT ON COLUMN crm.campaign.winner_metric IS
    'What the test compares: click (share of recipients who clicked) or order (share who ordered within the attribution window).';
COMMENT ON COLUMN crm.campaign.winner IS 'The variant sent to the rest (set when the test ends).';
COMMENT ON COLUMN crm.campaign.winner_detail IS
    'How the winner was chosen: per-variant counts and rates, best and runner-up, z statistic, significance.';
COMMENT ON COLUMN crm.campaign.send_rate IS 'Most messages queued per minute; NULL: as fast as the worker goes.';
COMMENT ON COLUMN crm.campaign.phase IS 'While sending: test (the variants to the test group) or winner (the rest).';
COMMENT ON COLUMN crm.campaign.cursor_key IS
    'Keyset cursor: the recipients of the current phase up to this contact_id are handled (it moves with their mail).';
COMMENT ON COLUMN crm.campaign.throttled_until IS 'send_rate bookkeeping: the time the messages sent so far have used up.';
COMMENT ON COLUMN crm.campaign.started_at IS 'When sending started (the audience snapshot; the holdout''s reference time).';
COMMENT ON COLUMN crm.campaign.test_sent_at IS 'When the test group''s last mail was queued.';
COMMENT ON COLUMN crm.campaign.finished_at IS 'When it was sent to everyone, or cancelled.';
COMMENT ON COLUMN crm.campaign.owner IS 'The role that created it.';
COMMENT ON COLUMN crm.campaign.created_at IS 'When it was created.';
COMMENT ON COLUMN crm.campaign.updated_at IS 'When the row last changed.';

CREATE TABLE crm.campaign_recipient (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  bigint NOT NULL REFERENCES crm.campaign ON DELETE CASCADE,
    contact_id   bigint NOT NULL REFERENCES crm.contact ON DELETE CASCADE,
    variant      text,
    grp          text NOT NULL CONSTRAINT campaign_recipient_grp_valid CHECK (grp IN ('test', 'holdout', 'winner')),
    email_id     bigint REFERENCES crm.email_outbox ON DELETE SET NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CONSTRAINT campaign_recipient_status_valid
                 CHECK (status IN ('pending', 'queued', 'held_out', 'no_consent', 'suppressed', 'capped', 'cancelled')),
    handled_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_recipient_campaign_contact_key UNIQUE (campaign_id, contact_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.campaign_recipient', '');
SELECT pg_catalog.pg_extension_config_dump('crm.campaign_recipient_id_seq', '');
-- the sending cursor: one phase's recipients in contact_id order
CREATE INDEX campaign_recipient_cursor_idx ON crm.campaign_recipient (campaign_id, grp, contact_id);
CREATE INDEX campaign_recipient_contact_id_idx ON crm.campaign_recipient (contact_id);
CREATE INDEX campaign_recipient_email_id_idx ON crm.campaign_recipient (email_id);
CREATE TRIGGER campaign_recipient_set_updated_at BEFORE UPDATE ON crm.campaign_recipient
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.campaign_recipient IS
    'A campaign''s audience as snapshotted when sending started: each person''s group, variant and mail.';
COMMENT ON COLUMN crm.campaign_recipient.id IS 'Row number.';
COMMENT ON COLUMN crm.campaign_recipient.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.campaign_recipient.contact_id IS 'The person.';
COMMENT ON COLUMN crm.campaign_recipient.variant IS
    'The variant they get (test: assigned at the start; winner group: the winner, once chosen); NULL without variants and in the holdout.';
COMMENT ON COLUMN crm.campaign_recipient.grp IS 'test (A/B test), holdout (no mail) or winner (the rest, or everyone without variants).';
COMMENT ON COLUMN crm.campaign_recipient.email_id IS 'The crm.email_outbox row queued for them.';
COMMENT ON COLUMN crm.campaign_recipient.status IS
    'pending, queued (their mail is in the outbox), held_out, no_consent, suppressed, capped (marketing_cap '
    'reached: not sent) or cancelled (the campaign was).';
COMMENT ON COLUMN crm.campaign_recipient.handled_at IS 'When the sender handled them.';
COMMENT ON COLUMN crm.campaign_recipient.created_at IS 'When the row was written (the snapshot).';
COMMENT ON COLUMN crm.campaign_recipient.updated_at IS 'When the row last changed.';

-- Who may change a campaign: its owner or a crm_admin.
CREATE FUNCTION crm._campaign_for_change(campaign_key text) RETURNS crm.campaign
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c crm.campaign;
    caller name := crm.acting_role();
BEGIN
    SELECT * INTO c FROM crm.campaign x WHERE x.key = campaign_key FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign "%" does not exist', campaign_key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The campaigns are the rows of crm.campaign.';
    END IF;
    IF c.owner <> caller AND NOT pg_has_role(caller, 'crm_admin', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to change campaign "%"', campaign_key
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It belongs to %s.', c.owner),
                  HINT = 'Only the campaign''s owner or a crm_admin can change it.';
    END IF;
    RETURN c;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._campaign_for_change(text) FROM PUBLIC;
COMMENT ON FUNCTION crm._campaign_for_change(text) IS
    'The campaign row, locked, when the session''s role may change it (owner or crm_admin); 22023 or 42501 otherwise.';

-- 22023 unless template_key names a marketing template.
CREATE FUNCTION crm._check_marketing_template(template_key text, what text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    template_category text;
BEGIN
    SELECT t.category INTO template_category FROM crm.email_template t WHERE t.key = template_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% template "%" does not exist', what, template_key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The templates are the rows of crm.email_template.';
    ELSIF template_category <> 'marketing' THEN
        RAISE EXCEPTION '% template "%" is not a marketing template', what, template_key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Campaign mail is marketing mail: consent, the frequency cap and unsubscriptions apply to it.',
                  HINT = 'Use a template whose category is marketing.';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._check_marketing_template(text, text) FROM PUBLIC;
COMMENT ON FUNCTION crm._check_marketing_template(text, text) IS
    'Raises 22023 unless the template exists and is a marketing template.';

CREATE FUNCTION crm.create_campaign(key text, name text, segment_key text, template_key text,
                                    options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    option_keys constant text[] := ARRAY['holdout_percent', 'variants', 'test_percent', 'test_hours',
                                         'winner_metric', 'send_rate'];
    o crm.campaign;
    v jsonb;
    new_id bigint;
BEGIN
    IF key IS NULL OR name IS NULL OR segment_key IS NULL THEN
        RAISE EXCEPTION '% cannot be null', CASE WHEN key IS NULL THEN 'key' WHEN name IS NULL THEN 'name'
                                                 ELSE 'segment_key' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(key) = '' OR NOT crm.is_printable(key) OR octet_length(key) > 100 THEN
        RAISE EXCEPTION 'invalid campaign key "%"', key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A key is 1 to 100 bytes of printable text.', HINT = 'For example spring_sale.';
    END IF;
    IF btrim(name) = '' THEN
        RAISE EXCEPTION 'campaign name cannot be blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM crm.campaign x WHERE x.key = create_campaign.key) THEN
        RAISE EXCEPTION 'campaign "%" already exists', key
            USING ERRCODE = 'duplicate_object', HINT = 'Choose another key.';
    END IF;
    IF NOT EXISTS (SELECT FROM crm.segment s WHERE s.key = segment_key) THEN
        RAISE EXCEPTION 'segment "%" does not exist', segment_key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The segments are the rows of crm.segment.';
    END IF;
    PERFORM crm._check_option_keys(options, option_keys, 'campaign');
    BEGIN
        o := jsonb_populate_record(NULL::crm.campaign, coalesce(options, '{}'));
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR invalid_parameter_value THEN
        RAISE EXCEPTION 'invalid campaign options: %', SQLERRM USING ERRCODE = 'invalid_parameter_value';
    END;
    IF o.holdout_percent IS NOT NULL AND NOT (o.holdout_percent >= 0 AND o.holdout_percent < 100) THEN
        RAISE EXCEPTION 'holdout_percent must be at least 0 and below 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF o.test_percent IS NOT NULL AND NOT (o.test_percent > 0 AND o.test_percent <= 100) THEN
        RAISE EXCEPTION 'test_percent must be above 0 and at most 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(o.holdout_percent, 0) + coalesce(o.test_percent, 20) > 100
       AND jsonb_array_length(coalesce(o.variants, '[]')) > 0 THEN
        RAISE EXCEPTION 'holdout_percent and test_percent add up to more than 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF o.test_hours IS NOT NULL AND NOT (o.test_hours > 0 AND o.test_hours <= 8760) THEN
        RAISE EXCEPTION 'test_hours must be above 0 and at most 8760' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF o.winner_metric IS NOT NULL AND o.winner_metric NOT IN ('click', 'order') THEN
        RAISE EXCEPTION 'invalid winner_metric "%"', o.winner_metric
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use click or order.';
    END IF;
    IF o.send_rate IS NOT NULL AND o.send_rate < 1 THEN
        RAISE EXCEPTION 'send_rate must be at least 1 message per minute' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(coalesce(o.variants, '[]')) <> 'array' THEN
        RAISE EXCEPTION 'variants must be a JSON array of {"key", "template_key"} objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(o.variants, '[]')) x LOOP
        IF jsonb_typeof(v) <> 'object' OR jsonb_typeof(v -> 'key') IS DISTINCT FROM 'string'
           OR jsonb_typeof(v -> 'template_key') IS DISTINCT FROM 'string'
           OR EXISTS (SELECT FROM jsonb_object_keys(v) k WHERE k NOT IN ('key', 'template_key'))
           OR btrim(v ->> 'key') = '' OR NOT crm.is_printable(v ->> 'key') THEN
            RAISE EXCEPTION 'invalid variant %', v
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A variant is {"key": "A", "template_key": "spring_a"}.';
        END IF;
        PERFORM crm._check_marketing_template(v ->> 'template_key', format('variant %s''s', v ->> 'key'));
    END LOOP;
    IF (SELECT count(DISTINCT x ->> 'key') <> count(*) FROM jsonb_array_elements(coalesce(o.variants, '[]')) x) THEN
        RAISE EXCEPTION 'variant keys must be distinct' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(coalesce(o.variants, '[]')) = 1 THEN
        RAISE EXCEPTION 'an A/B test needs at least two variants'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give two or more variants, or none and a template_key.';
    END IF;
    IF template_key IS NULL AND jsonb_array_length(coalesce(o.variants, '[]')) = 0 THEN
        RAISE EXCEPTION 'a campaign needs a template_key or variants' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF template_key IS NOT NULL THEN
        PERFORM crm._check_marketing_template(template_key, 'the campaign''s');
    END IF;
    INSERT INTO crm.campaign (key, name, segment_key, template_key, holdout_percent, variants, test_percent,
                              test_hours, winner_metric, send_rate, owner)
    VALUES (key, name, segment_key, template_key, coalesce(o.holdout_percent, 0), coalesce(o.variants, '[]'),
            coalesce(o.test_percent, 20), coalesce(o.test_hours, 4), coalesce(o.winner_metric, 'click'),
            o.send_rate, crm.acting_role())
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.create_campaign(text, text, text, text, jsonb) IS
    'Creates a draft campaign owned by the calling role: template_key (a marketing template) to the members of '
    'segment_key. options: holdout_percent, variants ([{"key", "template_key"}, ...] for an A/B test), test_percent '
    '(default 20), test_hours (default 4), winner_metric (click or order), send_rate (messages per minute). '
    'Returns its id; bad input raises 22023.';

CREATE FUNCTION crm.schedule_campaign(key text, at timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c crm.campaign := crm._campaign_for_change(key);
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'a campaign cannot be scheduled at null'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give now() or a later time.';
    ELSIF at < now() THEN
        RAISE EXCEPTION 'a campaign cannot be scheduled in the past'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s is before now (%s).', to_char(at, 'YYYY-MM-DD HH24:MI:SSOF'),
                                  to_char(now(), 'YYYY-MM-DD HH24:MI:SSOF')),
                  HINT = 'Give now() or a later time.';
    END IF;
    IF c.status NOT IN ('draft', 'scheduled') THEN
        RAISE EXCEPTION 'campaign "%" is %', key, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Only a draft or scheduled campaign can be scheduled; create a new one.';
    END IF;
    UPDATE crm.campaign x SET status = 'scheduled', scheduled_at = at WHERE x.id = c.id;
END
$$;
COMMENT ON FUNCTION crm.schedule_campaign(text, timestamptz) IS
    'Schedules (or reschedules) a draft or scheduled campaign to start sending at at; a time in the past raises '
    '22023, a campaign sending, sent or cancelled 55000.';

CREATE FUNCTION crm.cancel_campaign(key text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c crm.campaign := crm._campaign_for_change(key);
BEGIN
    IF c.status = 'cancelled' THEN
        RETURN false;
    END IF;
    IF c.status = 'sent' THEN
        RAISE EXCEPTION 'campaign "%" is sent', key
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only a campaign not sent yet can be cancelled.';
    END IF;
    UPDATE crm.email_outbox o
       SET status = 'cancelled', sent_at = now(), last_error = format('cancelled: campaign %s was cancelled', key)
      FROM crm.campaign_recipient r
     WHERE r.campaign_id = c.id AND o.id = r.email_id AND o.status = 'queued';
    UPDATE crm.campaign_recipient r SET status = 'cancelled', handled_at = now()
     WHERE r.campaign_id = c.id AND r.status = 'pending';
    UPDATE crm.campaign x SET status = 'cancelled', phase = NULL, finished_at = now() WHERE x.id = c.id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION crm.cancel_campaign(text) IS
    'Cancels a campaign not yet sent: nobody else gets it, and its mail still queued is withdrawn; true when '
    'cancelled now, false when it already was; 55000 once sent.';

-- The A/B decision (see the file comment); NULL winner until the test can be judged.
CREATE FUNCTION crm._campaign_winner(campaign_id bigint, OUT winner text, OUT detail jsonb) RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c crm.campaign;
    keys text[];
    n bigint[];
    x bigint[];
    rows jsonb;
    pooled float8;
    se float8;
    z float8 := 0;
    significant boolean := false;
BEGIN
    SELECT * INTO c FROM crm.campaign v WHERE v.id = _campaign_winner.campaign_id;
    -- per variant: test recipients mailed (n) and those who clicked or ordered (x), best rate first
    SELECT array_agg(t.key ORDER BY t.rate DESC, t.ord), array_agg(t.n ORDER BY t.rate DESC, t.ord),
           array_agg(t.x ORDER BY t.rate DESC, t.ord),
           jsonb_agg(jsonb_build_object('key', t.key, 'recipients', t.n, 'successes', t.x,
                                        'rate', CASE WHEN t.n > 0 THEN t.rate END) ORDER BY t.ord)
      INTO keys, n, x, rows
      FROM (SELECT s.*, CASE WHEN s.n > 0 THEN s.x::float8 / s.n ELSE 0 END AS rate
              FROM (SELECT v.ord, v.variant ->> 'key' AS key,
                           count(r.id) FILTER (WHERE r.status = 'queued') AS n,
                           count(r.id) FILTER (WHERE r.status = 'queued' AND CASE c.winner_metric
                               WHEN 'click' THEN EXISTS (
                                   SELECT FROM crm.event e
                                    WHERE e.contact_id = r.contact_id AND e.kind = 'email_click'
                                      AND e.properties ->> 'email_id' = r.email_id::text)
                               ELSE EXISTS (
                                   SELECT FROM crm.sales_order so JOIN crm.email_outbox o ON o.id = r.email_id
                                    WHERE so.contact_id = r.contact_id AND so.status <> 'cancelled'
                                      AND so.created_at > o.created_at
                                      AND so.created_at <= o.created_at
                                                           + crm.setting_value('attribution_window')::interval)
                               END) AS x
                      FROM jsonb_array_elements(c.variants) WITH ORDINALITY AS v(variant, ord)
                      LEFT JOIN crm.campaign_recipient r
                             ON r.campaign_id = c.id AND r.grp = 'test' AND r.variant = v.variant ->> 'key'
                     GROUP BY v.ord, v.variant ->> 'key') s) t;
    -- the best against the runner-up: pooled two-proportion z-test
    IF n[1] > 0 AND n[2] > 0 THEN
        pooled := (x[1] + x[2])::float8 / (n[1] + n[2]);
        se := sqrt(pooled * (1 - pooled) * (1.0 / n[1] + 1.0 / n[2]));
        IF se > 0 THEN
            z := (x[1]::float8 / n[1] - x[2]::float8 / n[2]) / se;
        END IF;
        significant := abs(z) > 1.959963984540054;    -- the 97.5% normal quantile
    END IF;
    winner := CASE WHEN significant THEN keys[1] ELSE c.variants -> 0 ->> 'key' END;
    detail := jsonb_build_object('metric', c.winner_metric, 'variants', rows, 'best', keys[1],
                                 'runner_up', keys[2], 'z', z, 'significant', significant,
                                 'test', 'pooled two-proportion z-test, two-sided, 95%');
END
$$;
REVOKE EXECUTE ON FUNCTION crm._campaign_winner(bigint) FROM PUBLIC;
COMMENT ON FUNCTION crm._campaign_winner(bigint) IS
    'The A/B decision of a campaign''s test group: the variant with the highest rate (clicks or orders per '
    'recipient mailed) if a pooled two-proportion z-test against the runner-up is significant at 95% (two-sided), '
    'else the first variant; with the counts, rates and z.';

-- The mail of one campaign recipient: C (src/journeys/send.c).
CREATE FUNCTION crm._send_marketing(template_key text, to_address text, contact_id bigint, vars jsonb,
                                    idempotency_key text)
    RETURNS bigint
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'crm_send_marketing';
REVOKE EXECUTE ON FUNCTION crm._send_marketing(text, text, bigint, jsonb, text) FROM PUBLIC;
COMMENT ON FUNCTION crm._send_marketing(text, text, bigint, jsonb, text) IS
    'Renders a template and queues it as marketing mail under an idempotency key, links tracked when tracking_url is '
    'set; the outbox id, or NULL when suppressed or without consent. For crm''s own SECURITY DEFINER functions.';

-- Starts a due campaign: the audience snapshot; returns how many people.
CREATE FUNCTION crm._start_campaign(c crm.campaign) RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n_variants int := jsonb_array_length(c.variants);
    people int;
BEGIN
    INSERT INTO crm.campaign_recipient (campaign_id, contact_id, variant, grp, status, handled_at)
    SELECT c.id, a.contact_id,
           CASE WHEN g.grp = 'test' THEN c.variants -> ((a.r - 1 - a.holdout) % n_variants)::int ->> 'key' END,
           g.grp, CASE g.grp WHEN 'holdout' THEN 'held_out' ELSE 'pending' END,
           CASE g.grp WHEN 'holdout' THEN now() END
      FROM (SELECT m.contact_id, row_number() OVER (ORDER BY hashtextextended(c.id || ':' || m.contact_id, 0), m.contact_id) AS r,
                   round(count(*) OVER () * c.holdout_percent / 100) AS holdout,
                   CASE WHEN n_variants > 0 THEN round(count(*) OVER () * c.test_percent / 100) ELSE 0 END AS test
              FROM crm.segment_member m
              JOIN crm.segment s ON s.id = m.segment_id
              JOIN crm.contact p ON p.id = m.contact_id
             WHERE s.key = c.segment_key AND p.email IS NOT NULL AND crm.marketing_allowed(p.id)
               AND NOT EXISTS (SELECT FROM crm.email_suppression x WHERE x.address = lower(p.email))) a
      CROSS JOIN LATERAL (SELECT CASE WHEN a.r <= a.holdout THEN 'holdout'
                                      WHEN a.r <= a.holdout + a.test THEN 'test'
                                      ELSE 'winner' END AS grp) g;
    GET DIAGNOSTICS people = ROW_COUNT;
    UPDATE crm.campaign x
       SET status = 'sending', started_at = now(), phase = CASE WHEN n_variants > 0 THEN 'test' ELSE 'winner' END,
           cursor_key = 0, throttled_until = now()
     WHERE x.id = c.id;
    RETURN people;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._start_campaign(crm.campaign) FROM PUBLIC;
COMMENT ON FUNCTION crm._start_campaign(crm.campaign) IS
    'Snapshots a campaign''s audience (segment members with an address who may get marketing mail) into '
    'crm.campaign_recipient, split into holdout, test (by variant) and winner groups, and sets it sending.';

-- Sends up to budget messages of a sending campaign's current phase; returns how many recipients it handled.
CREATE FUNCTION crm._send_campaign_batch(c crm.campaign, budget int) RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cap record := crm.marketing_cap_limit();
    r record;
    handled int := 0;
    last_contact bigint := c.cursor_key;
    template text;
    queued_id bigint;
    outcome text;
BEGIN
    FOR r IN
        SELECT x.id, x.contact_id, x.variant, p.name, p.email
          FROM crm.campaign_recipient x JOIN crm.contact p ON p.id = x.contact_id
         WHERE x.campaign_id = c.id AND x.grp = c.phase AND x.contact_id > c.cursor_key
         ORDER BY x.contact_id
         LIMIT budget
           FOR UPDATE OF x
    LOOP
        template := CASE c.phase WHEN 'test'
                    THEN (SELECT v ->> 'template_key' FROM jsonb_array_elements(c.variants) v WHERE v ->> 'key' = r.variant)
                    ELSE coalesce((SELECT v ->> 'template_key' FROM jsonb_array_elements(c.variants) v
                                    WHERE v ->> 'key' = c.winner), c.template_key) END;
        queued_id := NULL;
        IF r.email IS NULL THEN
            outcome := 'no_consent';
        ELSIF cap.messages IS NOT NULL
              AND (SELECT count(*) FROM crm.email_outbox o
                    WHERE o.contact_id = r.contact_id AND o.category = 'marketing' AND o.status <> 'cancelled'
                      AND o.created_at > now() - cap.per) >= cap.messages THEN
            outcome := 'capped';
        ELSE
            queued_id := crm._send_marketing(template, r.email, r.contact_id,
                                            jsonb_build_object('name', r.name, 'email', r.email, 'contact_id', r.contact_id),
                                            format('campaign:%s:%s', c.id, r.contact_id));
            outcome := CASE WHEN queued_id IS NOT NULL THEN 'queued'
                            WHEN EXISTS (SELECT FROM crm.email_suppression s WHERE s.address = lower(r.email))
                            THEN 'suppressed' ELSE 'no_consent' END;
        END IF;
        UPDATE crm.campaign_recipient x
           SET status = outcome, email_id = queued_id, handled_at = now(),
               variant = CASE WHEN c.phase = 'winner' THEN c.winner ELSE x.variant END
         WHERE x.id = r.id;
        last_contact := r.contact_id;
        handled := handled + 1;
    END LOOP;
    -- the cursor moves with the mail it covers, in this transaction
    UPDATE crm.campaign x SET cursor_key = last_contact WHERE x.id = c.id;
    RETURN handled;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._send_campaign_batch(crm.campaign, int) FROM PUBLIC;
COMMENT ON FUNCTION crm._send_campaign_batch(crm.campaign, int) IS
    'Queues the mail of up to budget recipients of a sending campaign''s current phase after its keyset cursor, '
    'checking the frequency cap, and advances the cursor in the same transaction; returns how many it handled.';

CREATE FUNCTION crm._run_duty_again_at(at timestamptz) RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'crm_run_duty_again_at';
REVOKE EXECUTE ON FUNCTION crm._run_duty_again_at(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION crm._run_duty_again_at(timestamptz) IS
    'In the crm worker, asks that the SQL duty running now run again by at rather than after crm.poll_interval; '
    'elsewhere does nothing.';

CREATE FUNCTION crm.run_campaigns(max_messages int) RETURNS int
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c crm.campaign;
    done int := 0;
    budget int;
    handled int;
    decision record;
BEGIN
    IF max_messages < 1 THEN
        RAISE EXCEPTION 'max_messages must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR c IN
        SELECT * FROM crm.campaign x
         WHERE x.status IN ('scheduled', 'sending') AND x.scheduled_at <= now()
         ORDER BY x.scheduled_at, x.id
           FOR UPDATE SKIP LOCKED
    LOOP
        EXIT WHEN done >= max_messages;
        IF c.status = 'scheduled' THEN
            PERFORM crm._start_campaign(c);
            done := done + 1;
            CONTINUE;           -- sending begins at the next call, in a transaction of its own
        END IF;
        budget := max_messages - done;
        IF c.send_rate IS NOT NULL THEN
            -- what the rate allows since the messages already sent used up their time (at most a minute's worth)
            c.throttled_until := greatest(c.throttled_until, now() - interval '1 minute');
            budget := least(budget, floor(extract(epoch FROM now() - c.throttled_until) * c.send_rate / 60)::int);
        END IF;
        IF budget > 0 THEN
            handled := crm._send_campaign_batch(c, budget);
            done := done + handled;
            IF c.send_rate IS NOT NULL THEN
                UPDATE crm.campaign x
                   SET throttled_until = c.throttled_until + handled * interval '1 minute' / c.send_rate
                 WHERE x.id = c.id;
            END IF;
            CONTINUE WHEN handled >= budget;    -- more of this phase may be left
        ELSIF c.send_rate IS NOT NULL THEN
            CONTINUE;                           -- throttled: later
        END IF;
        -- the phase is done
        IF c.phase = 'test' THEN
            IF c.test_sent_at IS NULL THEN
                UPDATE crm.campaign x SET test_sent_at = now() WHERE x.id = c.id;
            ELSIF c.test_sent_at + c.test_hours * interval '1 hour' <= now() THEN
                decision := crm._campaign_winner(c.id);
                UPDATE crm.campaign x
                   SET winner = decision.winner, winner_detail = decision.detail, phase = 'winner',
                       cursor_key = 0
                 WHERE x.id = c.id;
                done := done + 1;
            END IF;
        ELSE
            UPDATE crm.campaign x SET status = 'sent', phase = NULL, finished_at = now() WHERE x.id = c.id;
            done := done + 1;
        END IF;
    END LOOP;
    -- when there is more to do: a scheduled start, the end of a test, the next throttled batch
    PERFORM crm._run_duty_again_at(min(x.at)) FROM (
        SELECT v.scheduled_at AS at FROM crm.campaign v WHERE v.status = 'scheduled'
        UNION ALL
        SELECT CASE WHEN v.phase = 'test' AND v.test_sent_at IS NOT NULL
                    THEN v.test_sent_at + v.test_hours * interval '1 hour'
                    ELSE now() + interval '1 second' END
          FROM crm.campaign v WHERE v.status = 'sending') x
    HAVING min(x.at) IS NOT NULL;
    RETURN done;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.run_campaigns(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.run_campaigns(int) TO crm_admin;
COMMENT ON FUNCTION crm.run_campaigns(int) IS
    'The worker''s campaign duty: starts campaigns whose time has come (audience snapshot), queues the mail of up to '
    'max_messages recipients (throttled by send_rate, cursor advanced with the mail), decides A/B winners after '
    'test_hours and marks campaigns sent; returns how much it did.';

REVOKE ALL ON crm.campaign, crm.campaign_recipient FROM PUBLIC;
GRANT SELECT ON crm.campaign, crm.campaign_recipient TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.create_campaign(text, text, text, text, jsonb), crm.schedule_campaign(text, timestamptz),
    crm.cancel_campaign(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_campaign(text, text, text, text, jsonb), crm.schedule_campaign(text, timestamptz),
    crm.cancel_campaign(text) TO crm_user;
