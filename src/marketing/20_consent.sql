-- src/marketing/20_consent.sql: whom a person agreed to hear from, where
-- they live in time, and how they say no.
--
-- crm.consent is an append-only ledger (no role but the extension's owner
-- may change or delete a row); crm.contact_consent reads the latest row per
-- person and purpose.  The setting marketing_consent decides what marketing
-- email needs: 'required' (a granted consent) or 'unless_withdrawn'.
-- Double opt-in: crm.request_opt_in emails a link carrying a token signed
-- with a server secret (token.c), valid for the setting opt_in_ttl;
-- crm.confirm_opt_in turns a valid token into a granted consent whose proof
-- is the token.  crm.unsubscribe withdraws marketing consent and suppresses
-- marketing email only: invoices and payment notices still reach the person.
-- Time zones of contacts and accounts are IANA names, resolved person, then
-- account, then the company's time_zone setting.

-- Time zones.
ALTER TABLE crm.contact ADD COLUMN time_zone crm.time_zone_name;
ALTER TABLE crm.account ADD COLUMN time_zone crm.time_zone_name;
COMMENT ON COLUMN crm.contact.time_zone IS
    'The person''s IANA time zone (e.g. Asia/Shanghai); NULL means the account''s, then the company''s (setting time_zone).';
COMMENT ON COLUMN crm.account.time_zone IS
    'The account''s IANA time zone; NULL means the company''s (setting time_zone).';

CREATE FUNCTION crm.contact_time_zone(contact_id bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT coalesce(c.time_zone::text, a.time_zone::text)
                       FROM crm.contact c LEFT JOIN crm.account a ON a.id OPERATOR(pg_catalog.=) c.account_id
                      WHERE c.id OPERATOR(pg_catalog.=) contact_time_zone.contact_id),
                    crm.setting_value('time_zone'));
END;
COMMENT ON FUNCTION crm.contact_time_zone(bigint) IS
    'The time zone a person''s times are shown and scheduled in: theirs, else their account''s, else the setting time_zone.';

-- Who did it: the session's role, also inside SECURITY DEFINER functions.
CREATE FUNCTION crm.acting_role() RETURNS name
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_acting_role';
COMMENT ON FUNCTION crm.acting_role() IS
    'The role the session acts as (after SET ROLE), also inside SECURITY DEFINER functions where current_user is '
    'the function''s owner: who crm records as having done something.';

-- Settings.
CREATE FUNCTION crm.valid_marketing_consent(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lower(btrim(value)) IN ('required', 'unless_withdrawn') THEN
        RETURN lower(btrim(value));
    END IF;
    RAISE EXCEPTION 'invalid marketing_consent "%"', value
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = '"required" sends marketing email only to people who granted consent; '
                       '"unless_withdrawn" to everyone who has not withdrawn it.',
              HINT = 'Use required or unless_withdrawn.';
END
$$;
COMMENT ON FUNCTION crm.valid_marketing_consent(text) IS
    'Setting validator: required or unless_withdrawn; anything else raises 22023.';

CREATE FUNCTION crm.valid_opt_in_url(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF btrim(value) = '' THEN
        RETURN '';
    END IF;
    IF btrim(value) !~ '^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[!-~]*)?$' OR btrim(value) ~ '[#<>"\\ ]' THEN
        RAISE EXCEPTION 'invalid opt_in_url "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The confirmation link is this URL with a token parameter added: an http:// or https:// URL '
                           'of printable ASCII, without spaces, quotes, angle brackets, backslashes or a fragment (#).',
                  HINT = 'For example https://example.com/confirm, or an empty string to turn double opt-in off.';
    END IF;
    RETURN btrim(value);
END
$$;
COMMENT ON FUNCTION crm.valid_opt_in_url(text) IS
    'Setting validator: an http(s) URL for double opt-in links, or empty; anything else raises 22023.';

CREATE FUNCTION crm.valid_opt_in_ttl(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ttl interval := crm.interval_or_null(value);
BEGIN
    IF ttl IS NULL OR ttl <= interval '0' OR ttl > interval '1 year' THEN
        RAISE EXCEPTION 'invalid opt_in_ttl "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'How long a double opt-in link stays valid: a positive interval of at most a year.',
                  HINT = 'For example 7 days or 48 hours.';
    END IF;
    RETURN ttl::text;
END
$$;
COMMENT ON FUNCTION crm.valid_opt_in_ttl(text) IS
    'Setting validator: a positive interval of at most a year; anything else raises 22023.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('marketing_consent', 'required',
     'What marketing email needs: required (a granted marketing consent) or unless_withdrawn (no withdrawn one).',
     'crm.valid_marketing_consent'),
    ('opt_in_url', '',
     'Page that confirms a double opt-in: the emailed link is this URL with ?token=... added; empty turns it off.',
     'crm.valid_opt_in_url'),
    ('opt_in_ttl', '7 days',
     'How long a double opt-in link stays valid.',
     'crm.valid_opt_in_ttl');

-- The ledger.
CREATE TABLE crm.consent (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES crm.contact ON DELETE CASCADE,
    purpose     text NOT NULL DEFAULT 'marketing'
                CONSTRAINT consent_purpose_format CHECK (purpose ~ '^[a-z][a-z0-9_]*$'),
    status      text NOT NULL CONSTRAINT consent_status_valid CHECK (status IN ('granted', 'withdrawn')),
    source      text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by name NOT NULL DEFAULT crm.acting_role(),
    proof       jsonb NOT NULL DEFAULT '{}'
                CONSTRAINT consent_proof_object CHECK (jsonb_typeof(proof) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.consent', '');
SELECT pg_catalog.pg_extension_config_dump('crm.consent_id_seq', '');
CREATE INDEX consent_contact_purpose_idx ON crm.consent (contact_id, purpose, recorded_at DESC, id DESC);
CREATE TRIGGER consent_set_updated_at BEFORE UPDATE ON crm.consent
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.consent IS
    'Consent ledger, append-only: each grant and withdrawal of a person''s consent to a purpose, with its proof.';
COMMENT ON COLUMN crm.consent.id IS 'Ledger entry number.';
COMMENT ON COLUMN crm.consent.contact_id IS 'The person.';
COMMENT ON COLUMN crm.consent.purpose IS 'What the consent is for: marketing, or another lower-case key.';
COMMENT ON COLUMN crm.consent.status IS 'granted or withdrawn.';
COMMENT ON COLUMN crm.consent.source IS 'Where it came from: a form, double_opt_in, unsubscribe, import, ...';
COMMENT ON COLUMN crm.consent.recorded_at IS 'When the person gave or withdrew it.';
COMMENT ON COLUMN crm.consent.recorded_by IS 'The role that recorded it (crm.acting_role()).';
COMMENT ON COLUMN crm.consent.proof IS 'Evidence as a JSON object: the confirmed opt-in token, a form''s IP, a document.';
COMMENT ON COLUMN crm.consent.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.consent.updated_at IS 'When the row last changed (only the extension''s owner may change it).';

CREATE VIEW crm.contact_consent AS
SELECT DISTINCT ON (k.contact_id, k.purpose)
       k.contact_id, k.purpose, k.status, k.source, k.recorded_at, k.id AS consent_id
  FROM crm.consent k
 ORDER BY k.contact_id, k.purpose, k.recorded_at DESC, k.id DESC;
COMMENT ON VIEW crm.contact_consent IS 'Current consent per person and purpose: the latest entry of crm.consent.';
COMMENT ON COLUMN crm.contact_consent.contact_id IS 'The person.';
COMMENT ON COLUMN crm.contact_consent.purpose IS 'What the consent is for.';
COMMENT ON COLUMN crm.contact_consent.status IS 'granted or withdrawn (a person with no entry has no row).';
COMMENT ON COLUMN crm.contact_consent.source IS 'Where the latest entry came from.';
COMMENT ON COLUMN crm.contact_consent.recorded_at IS 'When the latest entry was recorded.';
COMMENT ON COLUMN crm.contact_consent.consent_id IS 'The latest entry (crm.consent.id).';

-- The person's current marketing consent: granted, withdrawn or unknown.
CREATE FUNCTION crm.marketing_consent_status(contact_id bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce((SELECT k.status FROM crm.consent k
                      WHERE k.contact_id OPERATOR(pg_catalog.=) marketing_consent_status.contact_id
                        AND k.purpose OPERATOR(pg_catalog.=) 'marketing'
                      ORDER BY k.recorded_at DESC, k.id DESC LIMIT 1), 'unknown');
END;
COMMENT ON FUNCTION crm.marketing_consent_status(bigint) IS
    'A person''s current marketing consent: granted, withdrawn, or unknown (never recorded).';

CREATE FUNCTION crm.marketing_allowed(contact_id bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE crm.marketing_consent_status(marketing_allowed.contact_id)
           WHEN 'granted' THEN true
           WHEN 'withdrawn' THEN false
           ELSE crm.setting_value('marketing_consent') OPERATOR(pg_catalog.=) 'unless_withdrawn' END;
END;
COMMENT ON FUNCTION crm.marketing_allowed(bigint) IS
    'True when marketing email may go to the person: consent granted, or not withdrawn under marketing_consent = '
    'unless_withdrawn (an address of no contact counts as unknown). Suppression is checked separately.';

-- Records one ledger entry (both grant and withdraw).
CREATE FUNCTION crm.record_consent(contact_id bigint, purpose text, status text, source text, proof jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    person_address text;
BEGIN
    IF contact_id IS NULL THEN
        RAISE EXCEPTION 'contact_id cannot be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF purpose IS NULL OR purpose !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'invalid consent purpose "%"', purpose
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A purpose is a lower-case key such as marketing or newsletter.';
    END IF;
    IF proof IS NOT NULL AND jsonb_typeof(proof) <> 'object' THEN
        RAISE EXCEPTION 'consent proof must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass something like ''{"form": "signup", "ip": "203.0.113.7"}''::jsonb.';
    END IF;
    SELECT c.email INTO person_address FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) record_consent.contact_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'contact % does not exist', contact_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Look the id up in crm.contact.';
    END IF;
    INSERT INTO crm.consent (contact_id, purpose, status, source, proof)
    VALUES (record_consent.contact_id, record_consent.purpose, record_consent.status, record_consent.source,
            coalesce(record_consent.proof, '{}'))
    RETURNING id INTO new_id;
    -- a new marketing consent lifts an earlier unsubscription (a block or a bounce stays)
    IF purpose OPERATOR(pg_catalog.=) 'marketing' AND status OPERATOR(pg_catalog.=) 'granted'
       AND person_address IS NOT NULL THEN
        DELETE FROM crm.email_suppression s
         WHERE s.address OPERATOR(pg_catalog.=) pg_catalog.lower(person_address)
           AND s.reason OPERATOR(pg_catalog.=) 'unsubscribed';
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION crm.record_consent(bigint, text, text, text, jsonb) IS
    'Appends a consent entry (granted or withdrawn) after checking its arguments; a granted marketing consent also '
    'lifts an unsubscription of the person''s address. Used by crm.grant_consent and crm.withdraw_consent.';

CREATE FUNCTION crm.grant_consent(contact_id bigint, purpose text DEFAULT 'marketing', source text DEFAULT NULL,
                                  proof jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN crm.record_consent(contact_id, purpose, 'granted', source, proof);
COMMENT ON FUNCTION crm.grant_consent(bigint, text, text, jsonb) IS
    'Records that the person granted consent to the purpose (marketing by default); returns the ledger entry''s id. '
    'A marketing consent also lifts an earlier unsubscription.';

CREATE FUNCTION crm.withdraw_consent(contact_id bigint, purpose text DEFAULT 'marketing', source text DEFAULT NULL,
                                     proof jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN crm.record_consent(contact_id, purpose, 'withdrawn', source, proof);
COMMENT ON FUNCTION crm.withdraw_consent(bigint, text, text, jsonb) IS
    'Records that the person withdrew consent to the purpose (marketing by default); returns the ledger entry''s id.';

-- crm.unsubscribe: marketing email stops, transactional email goes on.
CREATE FUNCTION crm.unsubscribe(address text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lowered text := pg_catalog.lower(unsubscribe.address);
    added boolean;
    person bigint;
    problem text;
BEGIN
    BEGIN
        PERFORM crm.check_email_address(unsubscribe.address);
    EXCEPTION WHEN check_violation THEN
        GET STACKED DIAGNOSTICS problem = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'invalid email address "%"', unsubscribe.address
            USING ERRCODE = 'invalid_parameter_value', DETAIL = problem;
    END;
    INSERT INTO crm.email_suppression AS s (address, reason) VALUES (lowered, 'unsubscribed')
        ON CONFLICT ON CONSTRAINT email_suppression_pkey DO NOTHING;
    added := FOUND;
    UPDATE crm.email_outbox o
       SET status = 'cancelled', sent_at = pg_catalog.now(), last_error = 'cancelled: the address unsubscribed'
     WHERE o.status OPERATOR(pg_catalog.=) 'queued'
       AND o.category OPERATOR(pg_catalog.=) 'marketing'
       AND pg_catalog.lower(o.to_address) OPERATOR(pg_catalog.=) lowered;
    -- the person's consent and event, once: unsubscribing again changes nothing
    FOR person IN SELECT c.id FROM crm.contact c WHERE pg_catalog.lower(c.email) OPERATOR(pg_catalog.=) lowered LOOP
        IF crm.marketing_consent_status(person) OPERATOR(pg_catalog.<>) 'withdrawn' THEN
            PERFORM crm.record_consent(person, 'marketing', 'withdrawn', 'unsubscribe', '{}');
        ELSIF NOT added THEN
            CONTINUE;
        END IF;
        INSERT INTO crm.event (contact_id, kind, properties, source) VALUES (person, 'unsubscribed', '{}', 'consent');
    END LOOP;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.unsubscribe(text) IS
    'Stops marketing email to an address: suppresses it for marketing (transactional email still goes), cancels its '
    'queued marketing email, withdraws the marketing consent of its contact and records an unsubscribed event; true '
    'when the address was not suppressed before.';

-- The secret opt-in and click tokens are signed with (token.c).
CREATE FUNCTION crm._new_signing_secret() RETURNS bytea
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'crm_new_signing_secret';
COMMENT ON FUNCTION crm._new_signing_secret() IS '32 bytes from the operating system''s strong random source.';

CREATE TABLE crm.signing_secret (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret      bytea NOT NULL CONSTRAINT signing_secret_size CHECK (octet_length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.signing_secret', '');
SELECT pg_catalog.pg_extension_config_dump('crm.signing_secret_id_seq', '');
COMMENT ON TABLE crm.signing_secret IS
    'The server secret signing opt-in and click tokens (the oldest row is used); readable by the extension''s owner only.';
COMMENT ON COLUMN crm.signing_secret.id IS 'Row number; the lowest is the secret in use.';
COMMENT ON COLUMN crm.signing_secret.secret IS '32 random bytes, the HMAC-SHA256 key.';
COMMENT ON COLUMN crm.signing_secret.created_at IS 'When it was generated.';
COMMENT ON COLUMN crm.signing_secret.updated_at IS 'When the row last changed.';

-- A restore loads the saved secret after CREATE EXTENSION made a fresh one:
-- the saved one replaces it, so links sent before the backup stay valid
-- (src/core/restore.sql).
CREATE TRIGGER signing_secret_restore_seed BEFORE INSERT ON crm.signing_secret
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER signing_secret_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.signing_secret
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('id');

INSERT INTO crm.signing_secret (secret) VALUES (crm._new_signing_secret());

CREATE FUNCTION crm.sign_token(purpose text, subject text, expires_at timestamptz) RETURNS text
    LANGUAGE c VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_sign_token_sql';
COMMENT ON FUNCTION crm.sign_token(text, text, timestamptz) IS
    'A URL-safe token carrying subject, signed with HMAC-SHA256 by the server secret for purpose until expires_at. '
    'For crm''s own SECURITY DEFINER functions; granted to no role.';

CREATE FUNCTION crm.verify_token(purpose text, token text) RETURNS text
    LANGUAGE c VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_verify_token_sql';
COMMENT ON FUNCTION crm.verify_token(text, text) IS
    'The subject of a token signed for purpose; a malformed, forged or expired token raises 22023. '
    'For crm''s own SECURITY DEFINER functions; granted to no role.';

-- Double opt-in.
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
('opt_in_confirm',
 'Please confirm your subscription',
 E'Hello {{name}},\n\n'
 || E'please confirm that you would like to receive our news and offers by opening this link:\n\n'
 || E'{{{link}}}\n\n'
 || E'The link is valid until {{expires_at}}. If you did not ask for this, ignore this email.',
 '<p>Hello {{name}},</p>'
 || '<p>please confirm that you would like to receive our news and offers:</p>'
 || '<p><a href="{{link}}">Confirm my subscription</a></p>'
 || '<p>The link is valid until {{expires_at}}. If you did not ask for this, ignore this email.</p>',
 'transactional');

CREATE FUNCTION crm.request_opt_in(contact_id bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    person record;
    url text := crm.setting_value('opt_in_url');
    expires timestamptz := pg_catalog.now() + crm.setting_value('opt_in_ttl')::interval;
    token text;
BEGIN
    SELECT c.id, c.name, c.email INTO person FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) request_opt_in.contact_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'contact % does not exist', contact_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Look the id up in crm.contact.';
    END IF;
    IF person.email IS NULL THEN
        RAISE EXCEPTION 'contact % has no email address', contact_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set crm.contact.email first.';
    END IF;
    IF url OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'double opt-in is not set up'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The setting opt_in_url is empty, so there is no page for the link to open.',
                  HINT = 'As crm_admin: UPDATE crm.setting SET value = ''https://example.com/confirm'' WHERE key = ''opt_in_url'';';
    END IF;
    token := crm.sign_token('opt_in', person.id::text, expires);
    RETURN crm.send_template('opt_in_confirm', person.email,
        jsonb_build_object('name', person.name,
                           'link', url || CASE WHEN strpos(url, '?') > 0 THEN '&' ELSE '?' END || 'token=' || token,
                           'expires_at', to_char(expires AT TIME ZONE crm.contact_time_zone(person.id),
                                                 'YYYY-MM-DD HH24:MI')));
END
$$;
COMMENT ON FUNCTION crm.request_opt_in(bigint) IS
    'Emails the person (template opt_in_confirm, transactional) a link to confirm marketing consent, signed and valid '
    'for the setting opt_in_ttl; returns the outbox id, or NULL when the address is blocked.';

CREATE FUNCTION crm.confirm_opt_in(token text) RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    person bigint := crm.verify_token('opt_in', confirm_opt_in.token)::bigint;
    earlier bigint;
BEGIN
    -- a link opened twice confirms once
    SELECT k.id INTO earlier FROM crm.consent k
     WHERE k.contact_id OPERATOR(pg_catalog.=) person AND k.purpose OPERATOR(pg_catalog.=) 'marketing'
       AND k.status OPERATOR(pg_catalog.=) 'granted'
       AND k.proof OPERATOR(pg_catalog.@>) jsonb_build_object('token', confirm_opt_in.token);
    IF FOUND THEN
        RETURN earlier;
    END IF;
    RETURN crm.record_consent(person, 'marketing', 'granted', 'double_opt_in',
                              jsonb_build_object('token', confirm_opt_in.token, 'confirmed_at', pg_catalog.now()));
END
$$;
COMMENT ON FUNCTION crm.confirm_opt_in(text) IS
    'Grants marketing consent for a double opt-in link''s token (the token is the proof); returns the ledger entry''s '
    'id, the same one when the link is opened again. A forged or expired token raises 22023.';

REVOKE ALL ON crm.consent, crm.contact_consent, crm.signing_secret FROM PUBLIC;
GRANT SELECT ON crm.consent, crm.contact_consent TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.record_consent(bigint, text, text, text, jsonb),
    crm.grant_consent(bigint, text, text, jsonb), crm.withdraw_consent(bigint, text, text, jsonb),
    crm.unsubscribe(text), crm._new_signing_secret(), crm.sign_token(text, text, timestamptz), crm.acting_role(),
    crm.verify_token(text, text), crm.request_opt_in(bigint), crm.confirm_opt_in(text),
    crm.contact_time_zone(bigint), crm.marketing_consent_status(bigint), crm.marketing_allowed(bigint),
    crm.valid_marketing_consent(text), crm.valid_opt_in_url(text), crm.valid_opt_in_ttl(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.grant_consent(bigint, text, text, jsonb), crm.withdraw_consent(bigint, text, text, jsonb),
    crm.unsubscribe(text), crm.request_opt_in(bigint), crm.confirm_opt_in(text) TO crm_user;
GRANT EXECUTE ON FUNCTION crm.acting_role(), crm.contact_time_zone(bigint), crm.marketing_consent_status(bigint),
    crm.marketing_allowed(bigint), crm.valid_marketing_consent(text), crm.valid_opt_in_url(text),
    crm.valid_opt_in_ttl(text) TO crm_reader;
