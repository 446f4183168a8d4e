-- src/journeys/10_settings.sql: the business settings of journeys and
-- campaigns, each a crm.setting row with its validator.
--
--   marketing_cap       how many marketing messages one person may get in a
--                       period, across journeys and campaigns ('3 per 7 days';
--                       empty: no cap); transactional mail is never counted
--   attribution_window  how long after a message an order counts as its
--                       conversion in crm.campaign_results
--   tracking_url        the click-tracking page; empty turns tracking off
--   journey_daily_enrollments
--                       how many journeys one person may enter in a day (the
--                       brake on journeys that enroll each other in a loop)

CREATE FUNCTION crm.valid_marketing_cap(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
SET intervalstyle = 'postgres'
AS $$
DECLARE
    parts text[] := regexp_match(btrim(value), '^([0-9]{1,6})\s+per\s+(.+)$', 'i');
    messages int;
    period interval;
BEGIN
    IF btrim(value) = '' THEN
        RETURN '';
    END IF;
    IF parts IS NOT NULL THEN
        messages := parts[1]::int;
        period := crm.interval_or_null(parts[2]);
    END IF;
    IF parts IS NULL OR period IS NULL OR messages < 1 OR period < interval '1 minute'
       OR period > interval '366 days' THEN
        RAISE EXCEPTION 'invalid marketing_cap "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The cap is a number of marketing messages per period of at least a minute and at most a year.',
                  HINT = 'For example 3 per 7 days, or an empty string for no cap.';
    END IF;
    RETURN messages || ' per ' || period::text;
END
$$;
COMMENT ON FUNCTION crm.valid_marketing_cap(text) IS
    'Setting validator: "<n> per <interval>" (e.g. 3 per 7 days), normalised, or empty for no cap; anything else raises 22023.';

CREATE FUNCTION crm.valid_attribution_window(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
SET intervalstyle = 'postgres'
AS $$
DECLARE
    period interval := crm.interval_or_null(value);
BEGIN
    IF period IS NULL OR period <= interval '0' OR period > interval '366 days' THEN
        RAISE EXCEPTION 'invalid attribution_window "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'How long after a message an order counts as its conversion: a positive interval of at most a year.',
                  HINT = 'For example 7 days.';
    END IF;
    RETURN period::text;
END
$$;
COMMENT ON FUNCTION crm.valid_attribution_window(text) IS
    'Setting validator: a positive interval of at most a year; anything else raises 22023.';

CREATE FUNCTION crm.valid_tracking_url(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(value) = '' THEN
        RETURN '';
    END IF;
    IF btrim(value) !~ '^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[!-~]*)?$' OR btrim(value) ~ '[#<>"''\\ ?&]'
       OR octet_length(btrim(value)) > 200 THEN
        RAISE EXCEPTION 'invalid tracking_url "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Tracked links point to this URL with ?t=<token> added: an http:// or https:// URL of at most '
                           '200 bytes of printable ASCII, without a query, spaces, quotes, angle brackets, backslashes '
                           'or a fragment (#).',
                  HINT = 'For example https://example.com/click, or an empty string to turn click tracking off.';
    END IF;
    RETURN btrim(value);
END
$$;
COMMENT ON FUNCTION crm.valid_tracking_url(text) IS
    'Setting validator: an http(s) URL without a query for click tracking, or empty (off); anything else raises 22023.';

CREATE FUNCTION crm.valid_journey_daily_enrollments(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(value) !~ '^[0-9]{1,6}$' OR btrim(value)::int < 1 THEN
        RAISE EXCEPTION 'invalid journey_daily_enrollments "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'How many journeys one person may enter in a day: a whole number from 1 to 999999.',
                  HINT = 'For example 20.';
    END IF;
    RETURN (btrim(value)::int)::text;
END
$$;
COMMENT ON FUNCTION crm.valid_journey_daily_enrollments(text) IS
    'Setting validator: a whole number from 1 to 999999; anything else raises 22023.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('marketing_cap', '',
     'Most marketing messages one person receives per period across journeys and campaigns, e.g. 3 per 7 days; '
     'empty for no cap. Transactional mail is never counted or capped.',
     'crm.valid_marketing_cap'),
    ('attribution_window', '7 days',
     'How long after a message (or after the send time, for a holdout) an order counts as a conversion in '
     'crm.campaign_results.',
     'crm.valid_attribution_window'),
    ('tracking_url', '',
     'Click-tracking page: links in marketing mail from journeys and campaigns point to this URL with ?t=<signed '
     'token>, which calls crm.record_click; empty turns click tracking off.',
     'crm.valid_tracking_url'),
    ('journey_daily_enrollments', '20',
     'Most journeys one person may enter in 24 hours; further enrollments are refused, so journeys that trigger '
     'each other cannot loop.',
     'crm.valid_journey_daily_enrollments');

-- The cap as numbers: (NULL, NULL) when there is none.
CREATE FUNCTION crm.marketing_cap_limit(OUT messages int, OUT per interval) RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT m[1]::int, m[2]::interval
      FROM (SELECT regexp_match(crm.setting_value('marketing_cap'), '^([0-9]+) per (.+)$') AS m) s;
END;
COMMENT ON FUNCTION crm.marketing_cap_limit() IS
    'The setting marketing_cap as numbers: messages per period, both NULL when there is no cap.';

REVOKE EXECUTE ON FUNCTION crm.valid_marketing_cap(text), crm.valid_attribution_window(text),
    crm.valid_tracking_url(text), crm.valid_journey_daily_enrollments(text), crm.marketing_cap_limit() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.valid_marketing_cap(text), crm.valid_attribution_window(text),
    crm.valid_tracking_url(text), crm.valid_journey_daily_enrollments(text), crm.marketing_cap_limit() TO crm_reader;
