-- src/journeys/50_results.sql: did the mail make money?  crm.campaign_results
-- compares the people mailed by each campaign variant (or journey) with its
-- holdout, on real orders.
--
-- A person counts in a row once: a campaign recipient who was mailed (status
-- queued) under their variant, a holdout member under the holdout; a
-- journey enrollment that was mailed at least once, a held-out enrollment
-- under the holdout.  They converted when they have an order (not
-- cancelled) created within the attribution_window setting after their
-- (first) message -- for the holdout, after the campaign's start or their
-- enrollment -- and its net total is their revenue.  The lift over the
-- holdout is the difference of conversion rates with a 95% interval from
-- the unpooled standard error, sqrt(p1(1-p1)/n1 + p0(1-p0)/n0).

CREATE VIEW crm.campaign_results WITH (security_invoker = true) AS
WITH settings AS (
    SELECT crm.setting_value('attribution_window')::interval AS attribution_window
), people AS (
    SELECT 'campaign'::text AS source, c.key AS source_key, r.variant, false AS holdout, r.contact_id,
           o.created_at AS since, o.status = 'sent' AS delivered, ARRAY[r.email_id] AS email_ids
      FROM crm.campaign c
      JOIN crm.campaign_recipient r ON r.campaign_id = c.id AND r.status = 'queued'
      LEFT JOIN crm.email_outbox o ON o.id = r.email_id
    UNION ALL
    SELECT 'campaign', c.key, NULL, true, r.contact_id, c.started_at, false, '{}'
      FROM crm.campaign c
      JOIN crm.campaign_recipient r ON r.campaign_id = c.id AND r.grp = 'holdout'
    UNION ALL
    SELECT 'journey', j.key, NULL, e.state = 'held_out', e.contact_id,
           CASE WHEN e.state = 'held_out' THEN e.enrolled_at ELSE m.first_at END,
           coalesce(m.delivered, false), coalesce(m.email_ids, '{}')
      FROM crm.journey j
      JOIN crm.journey_enrollment e ON e.journey_id = j.id
      LEFT JOIN LATERAL (SELECT min(o.created_at) AS first_at, bool_or(o.status = 'sent') AS delivered,
                                array_agg(l.email_id) AS email_ids
                           FROM crm.journey_log l JOIN crm.email_outbox o ON o.id = l.email_id
                          WHERE l.enrollment_id = e.id AND l.outcome = 'sent') m ON true
     WHERE e.state = 'held_out' OR m.first_at IS NOT NULL
), outcomes AS (
    SELECT p.source, p.source_key, p.variant, p.holdout,
           count(*) AS recipients,
           count(*) FILTER (WHERE p.delivered) AS delivered,
           count(*) FILTER (WHERE EXISTS (SELECT FROM crm.event ev
                                           WHERE ev.contact_id = p.contact_id AND ev.kind = 'email_click'
                                             AND ev.properties -> 'email_id' IN (SELECT to_jsonb(m.id)
                                                                                  FROM unnest(p.email_ids) m(id)))) AS clicked,
           count(*) FILTER (WHERE w.orders > 0) AS converted,
           coalesce(sum(w.revenue), 0) AS revenue
      FROM people p
      CROSS JOIN settings s
      CROSS JOIN LATERAL (SELECT count(*) AS orders, sum(so.net_total) AS revenue
                            FROM crm.sales_order so
                           WHERE so.contact_id = p.contact_id AND so.status <> 'cancelled'
                             AND so.created_at > p.since
                             AND so.created_at <= p.since + s.attribution_window) w
     GROUP BY p.source, p.source_key, p.variant, p.holdout
), rated AS (
    SELECT o.*, o.converted::float8 / o.recipients AS rate FROM outcomes o
)
SELECT r.source, r.source_key, r.variant, r.holdout, r.recipients, r.delivered, r.clicked, r.converted, r.revenue,
       r.rate AS conversion_rate,
       CASE WHEN NOT r.holdout THEN r.rate - h.rate END AS lift_abs,
       CASE WHEN NOT r.holdout THEN r.rate - h.rate
                 - 1.959963984540054 * sqrt(r.rate * (1 - r.rate) / r.recipients + h.rate * (1 - h.rate) / h.recipients) END
           AS lift_lo,
       CASE WHEN NOT r.holdout THEN r.rate - h.rate
                 + 1.959963984540054 * sqrt(r.rate * (1 - r.rate) / r.recipients + h.rate * (1 - h.rate) / h.recipients) END
           AS lift_hi,
       CASE WHEN NOT r.holdout AND h.rate > 0 THEN (r.rate - h.rate) / h.rate END AS lift_rel
  FROM rated r
  LEFT JOIN rated h ON h.source = r.source AND h.source_key = r.source_key AND h.holdout;
COMMENT ON VIEW crm.campaign_results IS
    'Per campaign variant (and per journey) and for its holdout: people mailed, delivered, clicked, converted (an '
    'order within the attribution_window setting after their message, or after the start for the holdout), their '
    'revenue, and the lift of the conversion rate over the holdout with a 95% interval.';
COMMENT ON COLUMN crm.campaign_results.source IS 'campaign or journey.';
COMMENT ON COLUMN crm.campaign_results.source_key IS 'The campaign''s or journey''s key.';
COMMENT ON COLUMN crm.campaign_results.variant IS 'The A/B variant; NULL for a campaign without variants, a journey, and the holdout.';
COMMENT ON COLUMN crm.campaign_results.holdout IS 'True for the holdout row (people who got nothing).';
COMMENT ON COLUMN crm.campaign_results.recipients IS
    'People mailed (journeys: enrollments mailed at least once), or in the holdout.';
COMMENT ON COLUMN crm.campaign_results.delivered IS 'Of them, those whose message (any, for journeys) was sent.';
COMMENT ON COLUMN crm.campaign_results.clicked IS 'Of them, those who clicked a tracked link of their message.';
COMMENT ON COLUMN crm.campaign_results.converted IS
    'Of them, those with an order (not cancelled) within the attribution window after their (first) message, or after the start or enrollment for the holdout.';
COMMENT ON COLUMN crm.campaign_results.revenue IS 'Net total of those orders.';
COMMENT ON COLUMN crm.campaign_results.conversion_rate IS 'converted / recipients.';
COMMENT ON COLUMN crm.campaign_results.lift_abs IS 'conversion_rate minus the holdout''s; NULL without a holdout.';
COMMENT ON COLUMN crm.campaign_results.lift_lo IS 'Lower end of the 95% interval of lift_abs (unpooled standard error).';
COMMENT ON COLUMN crm.campaign_results.lift_hi IS 'Upper end of the 95% interval of lift_abs.';
COMMENT ON COLUMN crm.campaign_results.lift_rel IS 'lift_abs / the holdout''s conversion rate; NULL when that is 0.';

GRANT SELECT ON crm.campaign_results TO crm_reader;
