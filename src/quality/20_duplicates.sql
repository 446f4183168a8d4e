-- src/quality/20_duplicates.sql: candidate duplicate contacts and accounts.
--
-- Comparing every pair is quadratic (5·10⁹ pairs for 100,000 contacts), so
-- pairs are first found by blocking keys, and only those are scored:
--   contacts: the same phone (E.164, crm.normalize_phone in the phone_region
--   setting's region), the same email (crm.email_key), or a shared name gram
--   (crm.name_grams: CJK character pairs, trigrams of other words) within one
--   company (crm.company_key of the account's name, so the contacts of two
--   duplicate accounts meet too; a gram more than 50 names of the company
--   share blocks nothing);
--   accounts: the same company key, phone or web domain, or a shared gram of
--   the company key that at most 50 accounts share.
-- Scores add the evidence, capped at 1, and pairs scoring 0.6 or more are
-- listed with the reasons:
--   contacts: same email 0.9, same phone 0.5, name similarity × 0.5, same
--   account or company 0.2;
--   accounts: same company key 0.9, otherwise key similarity × 0.75; same
--   phone 0.5, same domain 0.6.
-- So a phone written two ways with the same name scores 1 and the same name
-- at the same company 0.7, but the same name alone (王伟, the commonest name
-- in China) 0.5 and is not listed, which is why names are only blocked
-- within a company.  Two people sharing a switchboard at one company score
-- 0.7 too: the list is for a person to review before crm.merge_contacts.

-- The query is a function so that it can turn JIT off: the planner cannot
-- know how few pairs the blocking keys yield (it expects billions), and
-- would spend seconds compiling for them.
CREATE FUNCTION crm.duplicate_contact_pairs()
RETURNS TABLE (contact_id_a bigint, contact_id_b bigint, score numeric, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
SET jit = off
SET search_path = pg_catalog, pg_temp
AS $$
WITH settings AS (
    SELECT crm.setting_value('phone_region') AS phone_region
), keyed AS MATERIALIZED (
    SELECT c.id, c.name, c.account_id,
           crm.normalize_phone(c.phone, s.phone_region) AS phone_key,
           crm.email_key(c.email) AS email_key,
           coalesce(crm.company_key(a.name), 'account ' || c.account_id) AS company_key
      FROM crm.contact c
     CROSS JOIN settings s
      LEFT JOIN crm.account a ON a.id = c.account_id
), grams AS MATERIALIZED (
    SELECT k.id, k.company_key, g.gram,
           count(*) OVER (PARTITION BY k.company_key, g.gram) AS names_in_company
      FROM keyed k
     CROSS JOIN LATERAL unnest(crm.name_grams(k.name)) AS g (gram)
     WHERE k.company_key IS NOT NULL
), candidates AS MATERIALIZED (
    SELECT a.id AS id_a, b.id AS id_b
      FROM keyed a JOIN keyed b ON b.phone_key = a.phone_key AND b.id > a.id
    UNION
    SELECT a.id, b.id
      FROM keyed a JOIN keyed b ON b.email_key = a.email_key AND b.id > a.id
    UNION
    SELECT a.id, b.id
      FROM grams a JOIN grams b ON b.company_key = a.company_key AND b.gram = a.gram AND b.id > a.id
     WHERE a.names_in_company <= 50
), evidence AS MATERIALIZED (
    SELECT c.id_a, c.id_b,
           coalesce(a.email_key = b.email_key, false) AS same_email,
           coalesce(a.phone_key = b.phone_key, false) AS same_phone,
           crm.name_similarity(a.name, b.name) AS name_similarity,
           coalesce(a.account_id = b.account_id, false) AS same_account,
           coalesce(a.company_key = b.company_key, false) AS same_company
      FROM candidates c
      JOIN keyed a ON a.id = c.id_a
      JOIN keyed b ON b.id = c.id_b
), scored AS (
    SELECT e.*,
           least(1.0, 0.9 * e.same_email::int + 0.5 * e.same_phone::int + 0.5 * e.name_similarity
                      + 0.2 * e.same_company::int) AS score
      FROM evidence e
)
SELECT s.id_a AS contact_id_a,
       s.id_b AS contact_id_b,
       round(s.score::numeric, 3) AS score,
       array_remove(ARRAY[
           CASE WHEN s.same_email THEN 'same email' END,
           CASE WHEN s.same_phone THEN 'same phone' END,
           CASE WHEN s.name_similarity = 1 THEN 'same name'
                WHEN s.name_similarity >= 0.3 THEN format('similar name (%s)', round(s.name_similarity::numeric, 2)) END,
           CASE WHEN s.same_account THEN 'same account' WHEN s.same_company THEN 'same company' END
       ], NULL) AS reasons
  FROM scored s
 WHERE s.score >= 0.6
$$;
COMMENT ON FUNCTION crm.duplicate_contact_pairs() IS 'The rows of crm.duplicate_contacts.';

CREATE VIEW crm.duplicate_contacts WITH (security_invoker = true) AS
SELECT p.contact_id_a, p.contact_id_b, p.score, p.reasons FROM crm.duplicate_contact_pairs() AS p;

COMMENT ON VIEW crm.duplicate_contacts IS
    'Pairs of contacts that are probably one person (score 0.6 or more): same email, same phone, similar names, '
    'same company; for review before crm.merge_contacts.';
COMMENT ON COLUMN crm.duplicate_contacts.contact_id_a IS 'The older contact of the pair (the smaller id).';
COMMENT ON COLUMN crm.duplicate_contacts.contact_id_b IS 'The newer contact of the pair.';
COMMENT ON COLUMN crm.duplicate_contacts.score IS
    'Evidence in [0.6, 1]: same email 0.9, same phone 0.5, name similarity × 0.5, same company 0.2, capped at 1.';
COMMENT ON COLUMN crm.duplicate_contacts.reasons IS
    'What matched: same email, same phone, same name or similar name (similarity), same account or same company.';

CREATE FUNCTION crm.duplicate_account_pairs()
RETURNS TABLE (account_id_a bigint, account_id_b bigint, score numeric, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
SET jit = off
SET search_path = pg_catalog, pg_temp
AS $$
WITH settings AS (
    SELECT crm.setting_value('phone_region') AS phone_region
), keyed AS MATERIALIZED (
    SELECT a.id,
           crm.company_key(a.name) AS company_key,
           crm.normalize_phone(a.phone, s.phone_region) AS phone_key,
           nullif(regexp_replace(lower(crm.normalize_text(a.domain)), '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3'), '')
               AS domain_key
      FROM crm.account a
     CROSS JOIN settings s
), grams AS MATERIALIZED (
    SELECT k.id, g.gram, count(*) OVER (PARTITION BY g.gram) AS names
      FROM keyed k
     CROSS JOIN LATERAL unnest(crm.name_grams(k.company_key)) AS g (gram)
), candidates AS MATERIALIZED (
    SELECT a.id AS id_a, b.id AS id_b
      FROM keyed a JOIN keyed b ON b.company_key = a.company_key AND b.id > a.id
    UNION
    SELECT a.id, b.id
      FROM keyed a JOIN keyed b ON b.phone_key = a.phone_key AND b.id > a.id
    UNION
    SELECT a.id, b.id
      FROM keyed a JOIN keyed b ON b.domain_key = a.domain_key AND b.id > a.id
    UNION
    SELECT a.id, b.id
      FROM grams a JOIN grams b ON b.gram = a.gram AND b.id > a.id
     WHERE a.names <= 50
), evidence AS MATERIALIZED (
    SELECT c.id_a, c.id_b,
           coalesce(a.company_key = b.company_key, false) AS same_key,
           coalesce(crm.name_similarity(a.company_key, b.company_key), 0) AS name_similarity,
           coalesce(a.phone_key = b.phone_key, false) AS same_phone,
           coalesce(a.domain_key = b.domain_key, false) AS same_domain
      FROM candidates c
      JOIN keyed a ON a.id = c.id_a
      JOIN keyed b ON b.id = c.id_b
), scored AS (
    SELECT e.*,
           least(1.0, CASE WHEN e.same_key THEN 0.9 ELSE 0.75 * e.name_similarity END
                      + 0.5 * e.same_phone::int + 0.6 * e.same_domain::int) AS score
      FROM evidence e
)
SELECT s.id_a AS account_id_a,
       s.id_b AS account_id_b,
       round(s.score::numeric, 3) AS score,
       array_remove(ARRAY[
           CASE WHEN s.same_key THEN 'same company name'
                WHEN s.name_similarity >= 0.3 THEN format('similar name (%s)', round(s.name_similarity::numeric, 2)) END,
           CASE WHEN s.same_phone THEN 'same phone' END,
           CASE WHEN s.same_domain THEN 'same domain' END
       ], NULL) AS reasons
  FROM scored s
 WHERE s.score >= 0.6
$$;
COMMENT ON FUNCTION crm.duplicate_account_pairs() IS 'The rows of crm.duplicate_accounts.';

CREATE VIEW crm.duplicate_accounts WITH (security_invoker = true) AS
SELECT p.account_id_a, p.account_id_b, p.score, p.reasons FROM crm.duplicate_account_pairs() AS p;

COMMENT ON VIEW crm.duplicate_accounts IS
    'Pairs of accounts that are probably one company (score 0.6 or more): same company key (北京星辰科技有限公司 = '
    '星辰科技), similar names, same phone, same web domain; for review before crm.merge_accounts.';
COMMENT ON COLUMN crm.duplicate_accounts.account_id_a IS 'The older account of the pair (the smaller id).';
COMMENT ON COLUMN crm.duplicate_accounts.account_id_b IS 'The newer account of the pair.';
COMMENT ON COLUMN crm.duplicate_accounts.score IS
    'Evidence in [0.6, 1]: same company key 0.9 (else key similarity × 0.75), same phone 0.5, same domain 0.6, '
    'capped at 1.';
COMMENT ON COLUMN crm.duplicate_accounts.reasons IS
    'What matched: same company name (key) or similar name (similarity), same phone, same domain.';

GRANT SELECT ON crm.duplicate_contacts, crm.duplicate_accounts TO crm_reader;
GRANT EXECUTE ON FUNCTION crm.duplicate_contact_pairs(), crm.duplicate_account_pairs() TO crm_reader;
