-- src/marketing/40_segments.sql: audiences as SQL.
--
-- crm.contact_profile is one row per person with what marketing asks about
-- them.  Each of its parts is a LEFT JOIN to a subquery grouped by the
-- person, so the planner drops every part a query does not use: a segment
-- on attributes never computes RFM scores.
--
-- last_seen_at counts only what the person did: if crm's own events
-- (segment_entered, email_sent, deal_stage) counted, a segment on recent
-- activity would keep everyone it ever held.
--
-- A segment is one boolean SQL expression over the profile (as c, or with
-- bare column names), stored by crm.create_segment after checking it
-- (segment.c) and evaluated with the privileges of its owner, the role that
-- created it: never those of whoever refreshes it (a user, or the worker).
-- crm.refresh_segment changes membership by difference and writes a
-- segment_entered / segment_exited event per change; crm.refresh_due_segments
-- is the worker's duty, refreshing active segments every refresh_interval.

CREATE VIEW crm.contact_profile WITH (security_invoker = true) AS
SELECT c.id, c.account_id, c.name, c.email, c.phone, c.title, c.owner, c.attributes, c.created_at, c.updated_at,
       a.name AS account_name,
       coalesce(c.time_zone::text, a.time_zone::text,
                (SELECT s.value FROM crm.setting s WHERE s.key = 'time_zone')) AS time_zone,
       coalesce(k.status, 'unknown') AS marketing_consent,
       coalesce(o.orders, 0) AS orders,
       coalesce(o.revenue, 0) AS revenue,
       o.last_order_at,
       v.r_score, v.f_score, v.m_score, v.rfm_segment,
       coalesce(b.skus, '{}') AS skus_bought,
       e.last_seen_at,
       coalesce(r.counts, '{}') AS events_30d
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.id = c.account_id
  LEFT JOIN (SELECT DISTINCT ON (x.contact_id) x.contact_id, x.status
               FROM crm.consent x WHERE x.purpose = 'marketing'
              ORDER BY x.contact_id, x.recorded_at DESC, x.id DESC) k ON k.contact_id = c.id
  LEFT JOIN (SELECT so.contact_id, count(*) AS orders, sum(so.net_total) AS revenue, max(so.created_at) AS last_order_at
               FROM crm.sales_order so WHERE so.status <> 'cancelled'
              GROUP BY so.contact_id) o ON o.contact_id = c.id
  LEFT JOIN (SELECT DISTINCT ON (cv.contact_id) cv.contact_id, cv.r_score, cv.f_score, cv.m_score, cv.rfm_segment
               FROM crm.customer_value cv
              ORDER BY cv.contact_id, cv.revenue DESC, cv.currency) v ON v.contact_id = c.id
  LEFT JOIN (SELECT so.contact_id, array_agg(DISTINCT p.sku ORDER BY p.sku) AS skus
               FROM crm.sales_order so
               JOIN crm.sales_order_item i ON i.sales_order_id = so.id
               JOIN crm.product p ON p.id = i.product_id
              WHERE so.status <> 'cancelled'
              GROUP BY so.contact_id) b ON b.contact_id = c.id
  LEFT JOIN (SELECT ev.contact_id, max(ev.occurred_at) AS last_seen_at
               FROM crm.event ev
              WHERE ev.source IS NULL OR ev.source NOT IN ('segment', 'mail', 'pipeline')
              GROUP BY ev.contact_id) e ON e.contact_id = c.id
  LEFT JOIN (SELECT n.contact_id, jsonb_object_agg(n.kind, n.events) AS counts
               FROM (SELECT ev.contact_id, ev.kind, count(*) AS events
                       FROM crm.event ev WHERE ev.occurred_at >= now() - interval '30 days'
                      GROUP BY ev.contact_id, ev.kind) n
              GROUP BY n.contact_id) r ON r.contact_id = c.id;
COMMENT ON VIEW crm.contact_profile IS
    'One row per person: the contact, account, resolved time zone, marketing consent, purchase history, RFM and recent '
    'behaviour. Segment definitions are boolean expressions over it.';
COMMENT ON COLUMN crm.contact_profile.id IS 'The contact (crm.contact.id).';
COMMENT ON COLUMN crm.contact_profile.account_id IS 'Their account, if any.';
COMMENT ON COLUMN crm.contact_profile.name IS 'Their name.';
COMMENT ON COLUMN crm.contact_profile.email IS 'Their email address.';
COMMENT ON COLUMN crm.contact_profile.phone IS 'Their phone number.';
COMMENT ON COLUMN crm.contact_profile.title IS 'Their job title.';
COMMENT ON COLUMN crm.contact_profile.owner IS 'Who owns the contact.';
COMMENT ON COLUMN crm.contact_profile.attributes IS 'The contact''s own fields (jsonb).';
COMMENT ON COLUMN crm.contact_profile.created_at IS 'When the contact was created.';
COMMENT ON COLUMN crm.contact_profile.updated_at IS 'When the contact last changed.';
COMMENT ON COLUMN crm.contact_profile.account_name IS 'Name of their account.';
COMMENT ON COLUMN crm.contact_profile.time_zone IS 'Their time zone, else their account''s, else the setting time_zone.';
COMMENT ON COLUMN crm.contact_profile.marketing_consent IS 'granted, withdrawn or unknown.';
COMMENT ON COLUMN crm.contact_profile.orders IS 'Orders not cancelled, in any currency.';
COMMENT ON COLUMN crm.contact_profile.revenue IS 'Sum of those orders'' net totals (across currencies).';
COMMENT ON COLUMN crm.contact_profile.last_order_at IS 'When their latest order was created.';
COMMENT ON COLUMN crm.contact_profile.r_score IS 'Recency score 1..5 in their highest-revenue currency (crm.customer_value).';
COMMENT ON COLUMN crm.contact_profile.f_score IS 'Frequency score 1..5 in their highest-revenue currency.';
COMMENT ON COLUMN crm.contact_profile.m_score IS 'Monetary score 1..5 in their highest-revenue currency.';
COMMENT ON COLUMN crm.contact_profile.rfm_segment IS 'RFM segment in their highest-revenue currency.';
COMMENT ON COLUMN crm.contact_profile.skus_bought IS 'SKUs of the products on their orders that are not cancelled, sorted.';
COMMENT ON COLUMN crm.contact_profile.last_seen_at IS
    'When their latest event happened, among those they caused: crm''s own records of segment changes, email delivery '
    'and deal moves (sources segment, mail, pipeline) do not count, so entering a segment never makes anyone "active".';
COMMENT ON COLUMN crm.contact_profile.events_30d IS 'Their events of the last 30 days: kind → count.';

CREATE TABLE crm.segment (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              text NOT NULL CONSTRAINT segment_key_key UNIQUE
                     CONSTRAINT segment_key_printable
                     CHECK (btrim(key) <> '' AND crm.is_printable(key) AND octet_length(key) <= 100),
    name             text NOT NULL CONSTRAINT segment_name_not_blank CHECK (btrim(name) <> ''),
    definition       text NOT NULL,
    owner            name NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    refresh_interval interval NOT NULL DEFAULT '15 minutes'
                     CONSTRAINT segment_refresh_interval_positive CHECK (refresh_interval > '0'),
    refreshed_at     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.segment', '');
SELECT pg_catalog.pg_extension_config_dump('crm.segment_id_seq', '');
CREATE INDEX segment_due_idx ON crm.segment (refreshed_at) WHERE active;
CREATE TRIGGER segment_set_updated_at BEFORE UPDATE ON crm.segment
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.segment IS
    'Audiences defined by a boolean SQL expression over crm.contact_profile, evaluated as their owner; made with '
    'crm.create_segment.';
COMMENT ON COLUMN crm.segment.id IS 'Segment number.';
COMMENT ON COLUMN crm.segment.key IS 'The name functions take (printable text).';
COMMENT ON COLUMN crm.segment.name IS 'Display name.';
COMMENT ON COLUMN crm.segment.definition IS
    'One boolean SQL expression over crm.contact_profile (columns bare or as c.column), e.g. r_score >= 4.';
COMMENT ON COLUMN crm.segment.owner IS 'The role that created it: the definition runs with its privileges.';
COMMENT ON COLUMN crm.segment.active IS 'Refreshed by the worker while true.';
COMMENT ON COLUMN crm.segment.refresh_interval IS 'How often the worker refreshes it.';
COMMENT ON COLUMN crm.segment.refreshed_at IS 'When it was last refreshed (or last failed to be).';
COMMENT ON COLUMN crm.segment.last_error IS 'Why the last refresh by crm.refresh_due_segments failed; NULL after a success.';
COMMENT ON COLUMN crm.segment.created_at IS 'When it was created.';
COMMENT ON COLUMN crm.segment.updated_at IS 'When the row last changed.';

CREATE TABLE crm.segment_member (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment_id  bigint NOT NULL REFERENCES crm.segment ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES crm.contact ON DELETE CASCADE,
    entered_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT segment_member_segment_contact_key UNIQUE (segment_id, contact_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.segment_member', '');
SELECT pg_catalog.pg_extension_config_dump('crm.segment_member_id_seq', '');
CREATE INDEX segment_member_contact_id_idx ON crm.segment_member (contact_id);
COMMENT ON TABLE crm.segment_member IS
    'Who is in each segment now, as of its last refresh; changed by difference, never rebuilt.';
COMMENT ON COLUMN crm.segment_member.id IS 'Membership number.';
COMMENT ON COLUMN crm.segment_member.segment_id IS 'The segment.';
COMMENT ON COLUMN crm.segment_member.contact_id IS 'The person.';
COMMENT ON COLUMN crm.segment_member.entered_at IS 'When the refresh that added them ran.';

CREATE FUNCTION crm.create_segment(key text, name text, definition text) RETURNS bigint
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_create_segment';
COMMENT ON FUNCTION crm.create_segment(text, text, text) IS
    'Stores a segment owned by the calling role after checking its definition: one boolean expression over '
    'crm.contact_profile that the role may evaluate (syntax 42601, type 42804, privilege 42501); returns its id.';

CREATE FUNCTION crm.refresh_segment(key text, OUT entered int, OUT exited int) RETURNS record
    LANGUAGE c VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_refresh_segment';
COMMENT ON FUNCTION crm.refresh_segment(text) IS
    'Evaluates the segment as its owner and changes crm.segment_member by difference, writing a segment_entered or '
    'segment_exited event per change; returns how many entered and exited. Refreshes of one segment run one at a time.';

CREATE FUNCTION crm.refresh_due_segments(max_segments int) RETURNS int
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    due record;
    done int := 0;
BEGIN
    IF max_segments < 1 THEN
        RAISE EXCEPTION 'max_segments must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR due IN
        SELECT s.id, s.key FROM crm.segment s
         WHERE s.active
           AND (s.refreshed_at IS NULL OR s.refreshed_at + s.refresh_interval <= pg_catalog.now())
         ORDER BY s.refreshed_at NULLS FIRST, s.id
         LIMIT max_segments
           FOR UPDATE SKIP LOCKED
    LOOP
        BEGIN
            PERFORM crm.refresh_segment(due.key);
            UPDATE crm.segment s SET last_error = NULL
             WHERE s.id OPERATOR(pg_catalog.=) due.id AND s.last_error IS NOT NULL;
        EXCEPTION WHEN OTHERS THEN
            -- a failing definition waits for its next interval instead of blocking the others
            UPDATE crm.segment s SET refreshed_at = pg_catalog.now(), last_error = SQLERRM
             WHERE s.id OPERATOR(pg_catalog.=) due.id;
            RAISE WARNING 'segment "%" could not be refreshed: %', due.key, SQLERRM;
        END;
        done := done + 1;
    END LOOP;
    RETURN done;
END
$$;
COMMENT ON FUNCTION crm.refresh_due_segments(int) IS
    'The worker''s segment duty: refreshes up to max_segments active segments whose refresh_interval has elapsed '
    '(most overdue first, skipping those being refreshed elsewhere) and returns how many it tried; a failure is kept '
    'in crm.segment.last_error. Call with 1 for one short transaction per segment.';

REVOKE ALL ON crm.contact_profile, crm.segment, crm.segment_member FROM PUBLIC;
GRANT SELECT ON crm.contact_profile, crm.segment, crm.segment_member TO crm_reader;
GRANT UPDATE (name, active, refresh_interval) ON crm.segment TO crm_user;
GRANT DELETE ON crm.segment TO crm_user;
REVOKE EXECUTE ON FUNCTION crm.create_segment(text, text, text), crm.refresh_segment(text),
    crm.refresh_due_segments(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_segment(text, text, text), crm.refresh_segment(text) TO crm_user;
GRANT EXECUTE ON FUNCTION crm.refresh_due_segments(int) TO crm_admin;
