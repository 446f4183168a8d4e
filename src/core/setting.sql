-- src/core/setting.sql: business settings (crm.setting) and restore mode.
--
-- Policy that belongs to the business rather than to the server lives in
-- rows of crm.setting: only crm_admin changes them, every crm role reads
-- them, and a session cannot SET them away the way it could a GUC.  Each
-- row names its validator, a function (value text) RETURNS text that
-- returns the value as stored (normalised) or raises 22023; each feature
-- seeds its own rows next to the code that reads them.  GUCs stay for what
-- belongs to the server (the worker, transports, secrets).

CREATE FUNCTION crm.restoring() RETURNS boolean
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_restoring_sql';
COMMENT ON FUNCTION crm.restoring() IS
    'True while a dump is being loaded (row_security off, as pg_dump sets it, by a superuser or the '
    'extension''s owner): crm''s triggers then take rows as they were saved.';

CREATE FUNCTION crm.check_time_zone(name text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_check_time_zone';
COMMENT ON FUNCTION crm.check_time_zone(text) IS
    'True for an IANA time zone name the server knows; raises check_violation naming the value otherwise.';

CREATE DOMAIN crm.time_zone_name AS text
    CONSTRAINT time_zone_name_known CHECK (crm.check_time_zone(VALUE));
COMMENT ON DOMAIN crm.time_zone_name IS
    'An IANA time zone name such as Asia/Shanghai or UTC (POSIX specifications such as EST5EDT are refused).';

CREATE TABLE crm.setting (
    key         text PRIMARY KEY
                CONSTRAINT setting_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    value       text NOT NULL,
    description text NOT NULL,
    validator   text NOT NULL
                CONSTRAINT setting_validator_qualified CHECK (validator ~ '^crm\.[a-z][a-z0-9_]*$'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  name NOT NULL DEFAULT current_user
);
SELECT pg_catalog.pg_extension_config_dump('crm.setting', '');
CREATE TRIGGER setting_restore_seed BEFORE INSERT ON crm.setting
    FOR EACH ROW EXECUTE FUNCTION crm.replace_seeded_row();
CREATE TRIGGER setting_deleted_key AFTER INSERT OR UPDATE OR DELETE ON crm.setting
    FOR EACH ROW EXECUTE FUNCTION crm.remember_deleted_key('key');
-- C code reads settings through a cache (src/core/setting_cache.c) that this
-- invalidates; it fires in restore mode too, since loading a value changes it.
CREATE FUNCTION crm.setting_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_setting_changed';
REVOKE EXECUTE ON FUNCTION crm.setting_changed() FROM PUBLIC;
COMMENT ON FUNCTION crm.setting_changed() IS
    'Statement trigger on crm.setting: makes every session reload the settings C code caches.';
CREATE TRIGGER setting_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.setting
    FOR EACH STATEMENT EXECUTE FUNCTION crm.setting_changed();
COMMENT ON TABLE crm.setting IS
    'Business settings (company time zone, visibility, marketing policy): one row per key, changed by crm_admin with UPDATE.';
COMMENT ON COLUMN crm.setting.key IS 'The setting''s name, e.g. time_zone.';
COMMENT ON COLUMN crm.setting.value IS 'Its value as text, validated (and normalised) when written.';
COMMENT ON COLUMN crm.setting.description IS 'What the setting decides and which values it takes.';
COMMENT ON COLUMN crm.setting.validator IS
    'Name of the function in schema crm, (text) RETURNS text, that checks a new value and returns it as stored; raises 22023 when invalid.';
COMMENT ON COLUMN crm.setting.updated_at IS 'When the value last changed.';
COMMENT ON COLUMN crm.setting.updated_by IS 'Who changed it last.';

-- Validates and normalises every new value with the row's validator.
CREATE FUNCTION crm.setting_validate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.key IS DISTINCT FROM OLD.key OR NEW.validator IS DISTINCT FROM OLD.validator) THEN
        RAISE EXCEPTION 'the key and validator of a setting cannot be changed'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Change only the value: UPDATE crm.setting SET value = ... WHERE key = ...;';
    END IF;
    IF NEW.value IS NULL THEN
        RAISE EXCEPTION 'setting "%" cannot be null', NEW.key
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The name goes through regproc and back, so only an existing function is
    -- ever called.  (The column is text, not regproc: pg_upgrade refuses
    -- tables holding reg* OIDs other than regclass, regrole and regtype.)
    EXECUTE format('SELECT %s($1)', NEW.validator::regproc) INTO NEW.value USING NEW.value;
    NEW.updated_at := now();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.setting_validate() FROM PUBLIC;
COMMENT ON FUNCTION crm.setting_validate() IS
    'BEFORE INSERT OR UPDATE trigger on crm.setting: runs the row''s validator on the new value.';
CREATE TRIGGER setting_validate BEFORE INSERT OR UPDATE ON crm.setting
    FOR EACH ROW EXECUTE FUNCTION crm.setting_validate();

-- crm.setting_value(key): the current value; an unknown key is an error, not NULL.
CREATE FUNCTION crm.setting_value(setting_key text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
BEGIN
    SELECT s.value INTO v FROM crm.setting s WHERE s.key OPERATOR(pg_catalog.=) setting_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown setting "%"', setting_key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The settings are listed in crm.setting.';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION crm.setting_value(text) IS 'The value of a crm.setting row; an unknown key raises 22023.';

-- For validators of settings holding a duration: the text as an interval,
-- or NULL when it is not one (they then raise their own 22023).
CREATE FUNCTION crm.interval_or_null(value text) RETURNS interval
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN btrim(value)::interval;
EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow
               OR invalid_text_representation THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.interval_or_null(text) IS
    'The text as an interval, or NULL when it is not one: what setting validators parse durations with.';

-- Validator of time_zone (and of any setting holding a time zone name).
CREATE FUNCTION crm.valid_time_zone(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.check_time_zone(btrim(value));
    RETURN btrim(value);
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid time zone "%"', value
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'A time zone is an IANA name such as "Asia/Shanghai", "Europe/Berlin" or "UTC".',
              HINT = 'The server''s list is in pg_timezone_names.';
END
$$;
COMMENT ON FUNCTION crm.valid_time_zone(text) IS
    'Setting validator: an IANA time zone name, trimmed; anything else raises 22023.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('time_zone', 'UTC',
     'The company''s time zone: dates invoices, orders and closes deals, and is the time zone of people and accounts that name none.',
     'crm.valid_time_zone');

GRANT SELECT ON crm.setting TO crm_reader;
GRANT UPDATE (value) ON crm.setting TO crm_admin;
GRANT EXECUTE ON FUNCTION crm.setting_value(text), crm.valid_time_zone(text), crm.check_time_zone(text) TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.restoring() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.restoring() TO crm_reader;
