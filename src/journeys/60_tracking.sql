-- src/journeys/60_tracking.sql: click tracking.  Links in the HTML of
-- journey and campaign mail point to the tracking_url setting with a
-- signed token (src/journeys/send.c); the page there calls
-- crm.record_click(token) and redirects to what it returns.  Opens are not
-- tracked: mail clients and privacy proxies fetch images by themselves.

CREATE FUNCTION crm.record_click(token text) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    subject text := crm.verify_token('click', record_click.token);
    fields text[] := regexp_match(subject, '^([^\n]+)\n([0-9]+)\n(.*)$');
    person bigint;
    email bigint;
BEGIN
    IF fields IS NULL THEN
        RAISE EXCEPTION 'invalid token' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'It is not a click-tracking token.', HINT = 'Use the link exactly as it was sent.';
    END IF;
    SELECT c.id INTO person FROM crm.contact c WHERE c.id = fields[2]::bigint;
    SELECT o.id INTO email FROM crm.email_outbox o WHERE o.idempotency_key = fields[1];
    IF person IS NOT NULL THEN
        INSERT INTO crm.event (contact_id, kind, properties, source)
        VALUES (person, 'email_click', jsonb_build_object('email_id', email, 'url', fields[3]), 'tracking');
    END IF;
    RETURN fields[3];
END
$$;
COMMENT ON FUNCTION crm.record_click(text) IS
    'For the click-tracking page: checks the signed token of a tracked link, records an email_click event '
    '{email_id, url} of its person and returns the link''s target; a forged or altered token raises 22023.';

REVOKE EXECUTE ON FUNCTION crm.record_click(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.record_click(text) TO crm_user;
