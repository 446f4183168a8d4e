-- src/quality/10_normalize.sql: cleaning functions for messy (Chinese) CRM
-- data, all in C: text folding, phone numbers as E.164, email and company
-- matching keys, CJK-aware name similarity; and the phone_region setting.

CREATE FUNCTION crm.normalize_text(value text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_normalize_text';
COMMENT ON FUNCTION crm.normalize_text(text) IS
    'Unicode NFKC (full-width letters, digits and punctuation to ASCII: １３８ → 138, ＡＢＣ → ABC), zero-width '
    'characters removed, white space collapsed to single spaces and trimmed.';

CREATE FUNCTION crm.check_phone_region(region text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_check_phone_region';
COMMENT ON FUNCTION crm.check_phone_region(text) IS
    'Setting validator: an ISO 3166 region crm.normalize_phone knows (CN, HK, TW, US, DE, ...), upper-cased; '
    'anything else raises 22023.';

CREATE FUNCTION crm.normalize_phone(phone text, region text DEFAULT 'CN') RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_normalize_phone';
COMMENT ON FUNCTION crm.normalize_phone(text, text) IS
    'The phone number in E.164 (+8613800138000), or NULL when it is not a complete number. Numbers without '
    '"+" or an international prefix are read as numbers of region (ISO 3166, default CN); extensions are dropped.';

CREATE FUNCTION crm.email_key(address text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_email_key';
COMMENT ON FUNCTION crm.email_key(text) IS
    'An email address as a matching key: folded, lower case, without spaces and without a +tag after the mailbox.';

CREATE FUNCTION crm.company_key(name text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_company_key';
COMMENT ON FUNCTION crm.company_key(text) IS
    'Matching key of a company name: lower case, without brackets and their content, legal forms (有限公司, '
    '股份有限公司, 集团, Co., Ltd., Inc., GmbH, ...), punctuation, spaces, or a leading province or city '
    '(北京星辰科技有限公司 → 星辰科技); NULL when nothing distinctive is left.';

CREATE FUNCTION crm.name_similarity(a text, b text) RETURNS float8
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_name_similarity';
COMMENT ON FUNCTION crm.name_similarity(text, text) IS
    'Similarity of two names in [0, 1]: Dice coefficient of their grams, CJK characters and character pairs '
    '(王晓明/王小明 0.4) and word trigrams for other scripts (Zhang Wei/Wei Zhang 1).';

CREATE FUNCTION crm.name_grams(name text) RETURNS text[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_name_grams';
COMMENT ON FUNCTION crm.name_grams(text) IS
    'Blocking keys of a name for duplicate search: CJK character pairs and the trigrams inside other words '
    '(short words whole), distinct, lower case.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('phone_region', 'CN',
     'Region (ISO 3166 code) of phone numbers written without "+" and country code, for duplicate search and '
     'crm.data_quality: CN, HK, TW, US, DE, ...',
     'crm.check_phone_region');

GRANT EXECUTE ON FUNCTION crm.normalize_text(text), crm.check_phone_region(text), crm.normalize_phone(text, text),
    crm.email_key(text), crm.company_key(text), crm.name_similarity(text, text), crm.name_grams(text)
    TO crm_reader;
