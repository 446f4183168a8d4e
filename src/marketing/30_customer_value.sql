-- src/marketing/30_customer_value.sql: purchase history as RFM scores.
--
-- crm.customer_value has one row per person and currency with at least one
-- order that is not cancelled.  Each of recency (last order), frequency
-- (orders) and monetary value (net revenue) is scored 1..5 as
-- ceil(5 * cume_dist()) within the currency, higher is better, so equal
-- values always share a score (NTILE would split ties arbitrarily).  The
-- named segment comes from R and FM = floor((F + M + 1) / 2) through the
-- editable table crm.rfm_segment_map; where rows overlap, the lowest id
-- wins.  An order's time is its created_at.

CREATE TABLE crm.rfm_segment_map (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    segment     text NOT NULL CONSTRAINT rfm_segment_map_segment_format CHECK (segment ~ '^[a-z][a-z0-9_]*$'),
    r_min       int NOT NULL CONSTRAINT rfm_segment_map_r_min_range CHECK (r_min BETWEEN 1 AND 5),
    r_max       int NOT NULL CONSTRAINT rfm_segment_map_r_max_range CHECK (r_max BETWEEN 1 AND 5),
    fm_min      int NOT NULL CONSTRAINT rfm_segment_map_fm_min_range CHECK (fm_min BETWEEN 1 AND 5),
    fm_max      int NOT NULL CONSTRAINT rfm_segment_map_fm_max_range CHECK (fm_max BETWEEN 1 AND 5),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rfm_segment_map_r_order CHECK (r_min <= r_max),
    CONSTRAINT rfm_segment_map_fm_order CHECK (fm_min <= fm_max)
);
SELECT pg_catalog.pg_extension_config_dump('crm.rfm_segment_map', '');
SELECT pg_catalog.pg_extension_config_dump('crm.rfm_segment_map_id_seq', '');
CREATE TRIGGER rfm_segment_map_set_updated_at BEFORE UPDATE ON crm.rfm_segment_map
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
-- seeded below: a restore puts the saved rows in place of the seeds (src/core/restore.sql)
CREATE TRIGGER rfm_segment_map_restore_seed BEFORE INSERT ON crm.rfm_segment_map
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER rfm_segment_map_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.rfm_segment_map
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('id');
COMMENT ON TABLE crm.rfm_segment_map IS
    'Named RFM segments by ranges of R score and FM = floor((F + M + 1) / 2); edit freely. Where rows overlap the lowest id wins.';
COMMENT ON COLUMN crm.rfm_segment_map.id IS 'Row number; decides between overlapping rows (lowest first).';
COMMENT ON COLUMN crm.rfm_segment_map.segment IS 'Segment name, e.g. champions (a segment may have several rows).';
COMMENT ON COLUMN crm.rfm_segment_map.r_min IS 'Lowest recency score of the range (1..5).';
COMMENT ON COLUMN crm.rfm_segment_map.r_max IS 'Highest recency score of the range (1..5).';
COMMENT ON COLUMN crm.rfm_segment_map.fm_min IS 'Lowest FM of the range (1..5).';
COMMENT ON COLUMN crm.rfm_segment_map.fm_max IS 'Highest FM of the range (1..5).';
COMMENT ON COLUMN crm.rfm_segment_map.created_at IS 'When the row was added.';
COMMENT ON COLUMN crm.rfm_segment_map.updated_at IS 'When the row last changed.';

-- Every (R, FM) cell once.
INSERT INTO crm.rfm_segment_map (segment, r_min, r_max, fm_min, fm_max) VALUES
    ('champions', 5, 5, 4, 5),
    ('champions', 4, 4, 5, 5),
    ('loyal', 3, 3, 4, 5),
    ('loyal', 4, 4, 4, 4),
    ('potential_loyalist', 4, 5, 2, 3),
    ('new_customer', 5, 5, 1, 1),
    ('promising', 4, 4, 1, 1),
    ('need_attention', 3, 3, 3, 3),
    ('about_to_sleep', 3, 3, 1, 2),
    ('at_risk', 1, 2, 3, 4),
    ('cannot_lose', 1, 2, 5, 5),
    ('hibernating', 2, 2, 1, 2),
    ('lost', 1, 1, 1, 2);

-- (A view's names are bound when it is created, so the session's search_path
-- never changes what it reads.)
CREATE VIEW crm.customer_value WITH (security_invoker = true) AS
WITH history AS (
    SELECT o.contact_id, o.currency,
           min(o.created_at) AS first_order_at,
           max(o.created_at) AS last_order_at,
           count(*) AS orders,
           sum(o.net_total) AS revenue
      FROM crm.sales_order o
     WHERE o.contact_id IS NOT NULL AND o.status <> 'cancelled'
     GROUP BY o.contact_id, o.currency
), scored AS (
    SELECT h.*,
           floor(extract(epoch FROM now() - h.last_order_at) / 86400)::int AS recency_days,
           ceil(5 * cume_dist() OVER (PARTITION BY h.currency ORDER BY h.last_order_at))::int AS r_score,
           ceil(5 * cume_dist() OVER (PARTITION BY h.currency ORDER BY h.orders))::int AS f_score,
           ceil(5 * cume_dist() OVER (PARTITION BY h.currency ORDER BY h.revenue))::int AS m_score
      FROM history h
)
SELECT s.contact_id, s.currency, s.first_order_at, s.last_order_at, s.orders, s.revenue, s.recency_days,
       s.r_score, s.f_score, s.m_score,
       (SELECT m.segment FROM crm.rfm_segment_map m
         WHERE s.r_score BETWEEN m.r_min AND m.r_max
           AND (s.f_score + s.m_score + 1) / 2 BETWEEN m.fm_min AND m.fm_max
         ORDER BY m.id LIMIT 1) AS rfm_segment
  FROM scored s;
COMMENT ON VIEW crm.customer_value IS
    'RFM per person and currency with at least one order that is not cancelled: scores 1..5 by ceil(5 * cume_dist()) '
    'within the currency (ties share a score, higher is better) and the segment from crm.rfm_segment_map.';
COMMENT ON COLUMN crm.customer_value.contact_id IS 'The person (the orders'' contact).';
COMMENT ON COLUMN crm.customer_value.currency IS 'Currency of the orders counted.';
COMMENT ON COLUMN crm.customer_value.first_order_at IS 'When the first order was created.';
COMMENT ON COLUMN crm.customer_value.last_order_at IS 'When the latest order was created.';
COMMENT ON COLUMN crm.customer_value.orders IS 'Orders not cancelled.';
COMMENT ON COLUMN crm.customer_value.revenue IS 'Sum of their net totals.';
COMMENT ON COLUMN crm.customer_value.recency_days IS 'Whole days since the latest order.';
COMMENT ON COLUMN crm.customer_value.r_score IS 'Recency score 1..5 (5: bought most recently).';
COMMENT ON COLUMN crm.customer_value.f_score IS 'Frequency score 1..5 (5: most orders).';
COMMENT ON COLUMN crm.customer_value.m_score IS 'Monetary score 1..5 (5: most revenue).';
COMMENT ON COLUMN crm.customer_value.rfm_segment IS
    'Segment from crm.rfm_segment_map (champions, loyal, potential_loyalist, ..., lost); NULL when no row matches.';

REVOKE ALL ON crm.rfm_segment_map, crm.customer_value FROM PUBLIC;
GRANT SELECT ON crm.rfm_segment_map, crm.customer_value TO crm_reader;
GRANT INSERT, UPDATE, DELETE ON crm.rfm_segment_map TO crm_admin;
