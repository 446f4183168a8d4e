-- src/marketing/50_recommendations.sql: "bought X, also bought Y".
--
-- crm.association_rules (association_rules.c) mines one-item => one-item
-- rules from any (basket, item) query, counting pairs in memory.  For
-- product recommendations the basket is the customer -- a learner buys
-- courses one order at a time -- and the rules are kept in
-- crm.product_rule by crm.refresh_product_rules, so that
-- crm.recommend_products, which journeys call for each person, reads a small
-- table instead of mining every order again.

CREATE FUNCTION crm.association_rules(baskets text, min_support float8 DEFAULT 0.01,
                                      min_confidence float8 DEFAULT 0.1)
    RETURNS TABLE (antecedent text, consequent text, support float8, confidence float8, lift float8,
                   basket_count bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'crm_association_rules';
COMMENT ON FUNCTION crm.association_rules(text, float8, float8) IS
    'One-item => one-item rules from a query returning (basket, item) rows of any types (compared as text; an item '
    'counts once per basket; NULLs ignored), run with the caller''s privileges: support = share of baskets holding '
    'both, confidence = support / support(antecedent), lift = confidence / support(consequent). Pairs are counted in '
    'memory within work_mem.';

CREATE TABLE crm.product_rule (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    antecedent_id bigint NOT NULL REFERENCES crm.product ON DELETE CASCADE,
    consequent_id bigint NOT NULL REFERENCES crm.product ON DELETE CASCADE,
    support       float8 NOT NULL,
    confidence    float8 NOT NULL,
    lift          float8 NOT NULL,
    basket_count  bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_rule_pair_key UNIQUE (antecedent_id, consequent_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.product_rule', '');
SELECT pg_catalog.pg_extension_config_dump('crm.product_rule_id_seq', '');
CREATE INDEX product_rule_consequent_id_idx ON crm.product_rule (consequent_id);
COMMENT ON TABLE crm.product_rule IS
    'Product association rules from customers'' purchases (a customer''s orders form one basket), written by '
    'crm.refresh_product_rules and read by crm.recommend_products.';
COMMENT ON COLUMN crm.product_rule.id IS 'Rule number.';
COMMENT ON COLUMN crm.product_rule.antecedent_id IS 'A product the customer bought.';
COMMENT ON COLUMN crm.product_rule.consequent_id IS 'A product customers who bought the antecedent also bought.';
COMMENT ON COLUMN crm.product_rule.support IS 'Share of customers who bought both.';
COMMENT ON COLUMN crm.product_rule.confidence IS 'Share of the antecedent''s buyers who also bought the consequent.';
COMMENT ON COLUMN crm.product_rule.lift IS 'Confidence over the consequent''s share of all customers (above 1: bought together more than by chance).';
COMMENT ON COLUMN crm.product_rule.basket_count IS 'Customers who bought both.';
COMMENT ON COLUMN crm.product_rule.created_at IS 'When crm.refresh_product_rules computed it.';
COMMENT ON COLUMN crm.product_rule.updated_at IS 'When the row last changed.';

-- The purchases rules and best sellers are counted from: one row per
-- customer (the contact, else the account) and product, orders not cancelled.
CREATE VIEW crm.customer_product WITH (security_invoker = true) AS
SELECT DISTINCT coalesce('c' || o.contact_id, 'a' || o.account_id) AS customer, o.contact_id, i.product_id
  FROM crm.sales_order o
  JOIN crm.sales_order_item i ON i.sales_order_id = o.id
 WHERE o.status <> 'cancelled';
COMMENT ON VIEW crm.customer_product IS
    'Who bought what: one row per customer and product over orders that are not cancelled.';
COMMENT ON COLUMN crm.customer_product.customer IS 'c<contact id>, or a<account id> for orders without a contact.';
COMMENT ON COLUMN crm.customer_product.contact_id IS 'The person, when the order has one.';
COMMENT ON COLUMN crm.customer_product.product_id IS 'A product on their orders.';

CREATE FUNCTION crm.refresh_product_rules(min_support float8 DEFAULT 0.01, min_confidence float8 DEFAULT 0.1)
RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    written int;
BEGIN
    LOCK TABLE crm.product_rule IN EXCLUSIVE MODE;
    DELETE FROM crm.product_rule;
    INSERT INTO crm.product_rule (antecedent_id, consequent_id, support, confidence, lift, basket_count)
    SELECT r.antecedent::bigint, r.consequent::bigint, r.support, r.confidence, r.lift, r.basket_count
      FROM crm.association_rules('SELECT customer, product_id FROM crm.customer_product',
                                 min_support, min_confidence) r;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;
COMMENT ON FUNCTION crm.refresh_product_rules(float8, float8) IS
    'Recomputes crm.product_rule from all customers'' purchases (one basket per customer) and returns how many '
    'rules it holds; run it after new orders, e.g. nightly.';

CREATE FUNCTION crm.recommend_products(contact_id bigint, n int DEFAULT 3)
RETURNS TABLE (product_id bigint, sku text, name text, score float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF contact_id IS NULL OR n IS NULL THEN
        RAISE EXCEPTION '% cannot be null', CASE WHEN contact_id IS NULL THEN 'contact_id' ELSE 'n' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF n < 0 THEN
        RAISE EXCEPTION 'n must be at least 0, not %', n
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) recommend_products.contact_id) THEN
        RAISE EXCEPTION 'contact % does not exist', contact_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Look the id up in crm.contact.';
    END IF;
    RETURN QUERY
    WITH bought AS (
        SELECT DISTINCT cp.product_id FROM crm.customer_product cp
         WHERE cp.contact_id OPERATOR(pg_catalog.=) recommend_products.contact_id
    ), by_rule AS (
        SELECT DISTINCT ON (r.consequent_id) r.consequent_id AS product_id, r.confidence, r.lift
          FROM crm.product_rule r
         WHERE r.antecedent_id IN (SELECT b.product_id FROM bought b)
           AND r.consequent_id NOT IN (SELECT b.product_id FROM bought b)
         ORDER BY r.consequent_id, r.confidence DESC, r.lift DESC
    ), sellers AS (
        SELECT cp.product_id, pg_catalog.count(*)::float8
                              OPERATOR(pg_catalog./) (SELECT pg_catalog.count(DISTINCT x.customer) FROM crm.customer_product x)
                              AS share
          FROM crm.customer_product cp
         GROUP BY cp.product_id
    ), ranked AS (
        SELECT r.product_id, 1 AS tier, r.confidence AS score, r.lift AS tiebreak FROM by_rule r
        UNION ALL
        SELECT s.product_id, 2, s.share, 0 FROM sellers s
         WHERE s.product_id NOT IN (SELECT b.product_id FROM bought b)
           AND s.product_id NOT IN (SELECT r.product_id FROM by_rule r)
    )
    SELECT p.id, p.sku, p.name, k.score
      FROM ranked k JOIN crm.product p ON p.id OPERATOR(pg_catalog.=) k.product_id
     WHERE p.active
     ORDER BY k.tier, k.score DESC, k.tiebreak DESC, p.sku
     LIMIT n;
END
$$;
COMMENT ON FUNCTION crm.recommend_products(bigint, int) IS
    'Up to n active products the person has not bought, in rank order: first those of the strongest rule in '
    'crm.product_rule from what they bought (score = its confidence, ties by lift), then best sellers (score = share '
    'of customers who bought it).';

REVOKE ALL ON crm.product_rule, crm.customer_product FROM PUBLIC;
GRANT SELECT ON crm.product_rule, crm.customer_product TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.association_rules(text, float8, float8), crm.refresh_product_rules(float8, float8),
    crm.recommend_products(bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.association_rules(text, float8, float8), crm.recommend_products(bigint, int) TO crm_reader;
GRANT EXECUTE ON FUNCTION crm.refresh_product_rules(float8, float8) TO crm_admin;
