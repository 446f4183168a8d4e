-- src/ops/20_health.sql: monitoring.  crm.health() says whether crm is
-- working (ok | warning | critical per check, for Nagios, Zabbix or a
-- person); crm.metrics and crm.prometheus_metrics() give the same measures
-- and the worker's counters as numbers (for Prometheus, postgres_exporter or
-- Zabbix).  Every measure is cheap on big tables: an index's first entry
-- (the oldest due message, journey step or unsealed audit row), a bounded
-- read of the newest delivery attempts, the partial index of unresolved
-- tickets, the worker's counters in shared memory, and pg_class.reltuples
-- for table sizes; never a full scan.  Thresholds are business settings
-- (health_*: "warning, critical").

-- Validators of the thresholds: two values, warning first.
CREATE FUNCTION crm.valid_interval_thresholds(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[] := regexp_split_to_array(btrim(value), '\s*,\s*');
    w interval;
    c interval;
BEGIN
    IF array_length(parts, 1) IS DISTINCT FROM 2 THEN
        RAISE EXCEPTION 'invalid thresholds "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Thresholds are two durations, warning then critical, such as "5 minutes, 30 minutes".';
    END IF;
    w := crm.interval_or_null(parts[1]);
    c := crm.interval_or_null(parts[2]);
    IF w IS NULL OR c IS NULL THEN
        RAISE EXCEPTION 'invalid thresholds "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Thresholds are two durations, warning then critical, such as "5 minutes, 30 minutes".';
    END IF;
    IF w <= interval '0' OR c < w THEN
        RAISE EXCEPTION 'invalid thresholds "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The warning threshold must be positive and the critical one at least as long.';
    END IF;
    RETURN parts[1] || ', ' || parts[2];
END
$$;
COMMENT ON FUNCTION crm.valid_interval_thresholds(text) IS
    'Setting validator: two durations, warning then critical ("5 minutes, 30 minutes"); anything else raises 22023.';

CREATE FUNCTION crm.valid_number_thresholds(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts text[] := regexp_split_to_array(btrim(value), '\s*,\s*');
BEGIN
    IF array_length(parts, 1) IS DISTINCT FROM 2
       OR parts[1] !~ '^[0-9]+(\.[0-9]+)?$' OR parts[2] !~ '^[0-9]+(\.[0-9]+)?$'
       OR parts[1]::numeric > parts[2]::numeric OR parts[1]::numeric = 0 THEN
        RAISE EXCEPTION 'invalid thresholds "%"', value
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Thresholds are two numbers, warning then critical, such as "0.1, 0.5"; the warning one positive, the critical one at least as large.';
    END IF;
    RETURN parts[1]::numeric::text || ', ' || parts[2]::numeric::text;
END
$$;
COMMENT ON FUNCTION crm.valid_number_thresholds(text) IS
    'Setting validator: two numbers, warning then critical ("0.1, 0.5"); anything else raises 22023.';

INSERT INTO crm.setting (key, value, description, validator) VALUES
    ('health_mail_delay', '5 minutes, 30 minutes',
     'crm.health(): how long the oldest due message may wait for delivery before a warning, then critical.',
     'crm.valid_interval_thresholds'),
    ('health_mail_failure_rate', '0.1, 0.5',
     'crm.health(): share of the latest delivery attempts (at most 1000, in the last hour) that failed or will be retried, for a warning, then critical.',
     'crm.valid_number_thresholds'),
    ('health_journey_delay', '15 minutes, 1 hour',
     'crm.health(): how late the most overdue journey step may run before a warning, then critical.',
     'crm.valid_interval_thresholds'),
    ('health_sla_breaches', '1, 10',
     'crm.health(): unresolved tickets past a service-level target for a warning, then critical.',
     'crm.valid_number_thresholds'),
    ('health_audit_delay', '15 minutes, 1 hour',
     'crm.health(): age of the oldest audit log row not yet sealed into the hash chain for a warning, then critical.',
     'crm.valid_interval_thresholds');

-- crm._duration: seconds as [N d ]HH:MM:SS, whatever the session's IntervalStyle.
CREATE FUNCTION crm._duration(seconds float8) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN seconds >= 86400 THEN floor(seconds / 86400)::bigint || ' d ' ELSE '' END
           || to_char(make_interval(secs => floor(seconds)::bigint % 86400), 'HH24:MI:SS')
$$;
COMMENT ON FUNCTION crm._duration(float8) IS 'A duration in seconds as [N d ]HH:MM:SS, for the details of crm.health().';

-- crm._threshold_status: ok, warning or critical for a measure against a setting's thresholds.
CREATE FUNCTION crm._threshold_status(measure float8, setting_key text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN measure IS NULL THEN 'ok'
                WHEN measure >= t.c THEN 'critical'
                WHEN measure >= t.w THEN 'warning'
                ELSE 'ok' END
      FROM (SELECT CASE WHEN p[1] ~ '^[0-9.]+$' THEN p[1]::float8
                        ELSE extract(epoch FROM p[1]::interval)::float8 END AS w,
                   CASE WHEN p[2] ~ '^[0-9.]+$' THEN p[2]::float8
                        ELSE extract(epoch FROM p[2]::interval)::float8 END AS c
              FROM regexp_split_to_array(crm.setting_value(setting_key), '\s*,\s*') AS p) AS t
$$;
REVOKE EXECUTE ON FUNCTION crm._threshold_status(float8, text) FROM PUBLIC;
COMMENT ON FUNCTION crm._threshold_status(float8, text) IS
    'ok, warning or critical: a measure (seconds for durations) against the "warning, critical" thresholds of a setting.';

-- crm._health_checks: every check, with the measure behind it as a metric.
CREATE FUNCTION crm._health_checks()
    RETURNS TABLE (check_name text, status text, detail text, metric text, value float8, help text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w           record;
    failing     record;
    hold        record;
    oldest      record;
    backlog     bigint;
    attempts    bigint;
    failures    bigint;
    n           bigint;
    sealed      bigint;
BEGIN
    -- the worker: loaded, running, serving this database; its duties without errors
    SELECT s.pid, s.state, s.started_at, s.database INTO w FROM crm.worker_status s;
    SELECT d.duty, d.last_error INTO failing FROM crm.worker_duties d WHERE d.state = 'error' LIMIT 1;
    check_name := 'worker'; metric := 'crm_worker_up';
    help := 'Whether the crm worker is running and serves this database (1) or not (0).';
    IF w.state = 'not loaded' THEN
        status := 'critical'; value := 0;
        detail := 'crm is not in shared_preload_libraries: no worker sends mail or runs the other duties';
    ELSIF w.database IS DISTINCT FROM current_database() THEN
        status := 'critical'; value := 0;
        detail := format('the crm worker serves database %s (crm.database), not %s', w.database, current_database());
    ELSIF w.pid IS NULL THEN
        status := 'critical'; value := 0;
        detail := format('the crm worker is not running (%s)', w.state);
    ELSIF failing.duty IS NOT NULL THEN
        status := 'warning'; value := 1;
        detail := format('duty "%s" failed: %s', failing.duty, failing.last_error);
    ELSE
        status := 'ok'; value := 1;
        detail := format('running (pid %s) since %s', w.pid, date_trunc('second', w.started_at));
    END IF;
    RETURN NEXT;

    -- the restore hold (the table is the truth; the worker acts on it)
    SELECT c.created_at, c.hold_reason INTO hold
      FROM crm.timeline_check c WHERE c.held AND c.resumed_at IS NULL ORDER BY c.id DESC LIMIT 1;
    check_name := 'restore_hold'; metric := 'crm_delivery_held';
    help := 'Whether delivery is held after a restore to a point in time (1) until crm.resume_delivery().';
    IF hold.created_at IS NOT NULL THEN
        status := 'critical'; value := 1;
        detail := format('delivery held since %s: %s. Check crm.email_outbox, then call crm.resume_delivery()',
                         date_trunc('second', hold.created_at), hold.hold_reason);
    ELSE
        status := 'ok'; value := 0; detail := 'delivery is not held';
    END IF;
    RETURN NEXT;

    -- the oldest message due and not sent (first entry of the claim index)
    SELECT o.id, o.next_attempt_at INTO oldest
      FROM crm.email_outbox o
     WHERE o.status = 'queued' AND o.next_attempt_at <= now()
     ORDER BY o.next_attempt_at, o.id LIMIT 1;
    -- the worker's count, when it serves this database
    SELECT d.backlog INTO backlog FROM crm.worker_duties d
     WHERE d.duty = 'mail' AND w.database IS NOT DISTINCT FROM current_database();
    check_name := 'mail_queue'; metric := 'crm_mail_oldest_due_seconds';
    help := 'How long the oldest queued message that is due has waited for delivery, in seconds.';
    value := coalesce(extract(epoch FROM now() - oldest.next_attempt_at)::float8, 0);
    status := crm._threshold_status(value, 'health_mail_delay');
    detail := CASE WHEN oldest.id IS NULL THEN 'no message is waiting'
                   ELSE format('message %s has waited %s for delivery', oldest.id, crm._duration(value)) END
              || CASE WHEN backlog IS NOT NULL THEN format(' (backlog %s)', backlog) ELSE '' END;
    RETURN NEXT;

    -- failures among the newest delivery attempts (at most 1000, the last hour)
    SELECT count(*), count(*) FILTER (WHERE l.outcome <> 'sent') INTO attempts, failures
      FROM (SELECT g.outcome, g.created_at FROM crm.email_delivery_log g ORDER BY g.id DESC LIMIT 1000) AS l
     WHERE l.created_at >= now() - interval '1 hour';
    check_name := 'mail_failures'; metric := 'crm_mail_failure_ratio';
    help := 'Share of the newest delivery attempts (at most 1000, in the last hour) that failed or will be retried.';
    value := CASE WHEN attempts > 0 THEN failures::float8 / attempts ELSE 0 END;
    status := crm._threshold_status(value, 'health_mail_failure_rate');
    detail := format('%s of %s delivery attempts in the last hour failed (%s%%)',
                     failures, attempts, round(100 * value::numeric, 1));
    RETURN NEXT;

    -- journeys behind schedule (once journeys are installed)
    IF to_regclass('crm.journey_enrollment') IS NOT NULL THEN
        EXECUTE 'SELECT e.id, e.next_run_at FROM crm.journey_enrollment e'
             || ' WHERE e.state = ''active'' AND e.next_run_at <= now() ORDER BY e.next_run_at LIMIT 1'
           INTO oldest;
        check_name := 'journeys'; metric := 'crm_journey_oldest_due_seconds';
        help := 'How late the most overdue step of an active journey enrollment is, in seconds.';
        value := coalesce(extract(epoch FROM now() - oldest.next_run_at)::float8, 0);
        status := crm._threshold_status(value, 'health_journey_delay');
        detail := CASE WHEN oldest.id IS NULL THEN 'no journey step is overdue'
                       ELSE format('enrollment %s is %s behind schedule', oldest.id, crm._duration(value)) END;
        RETURN NEXT;
    END IF;

    -- tickets past a service-level target (the partial index of unresolved tickets)
    SELECT count(*) INTO n
      FROM crm.ticket t
     WHERE t.resolved_at IS NULL
       AND (t.resolve_due_at < now() OR (t.responded_at IS NULL AND t.response_due_at < now()));
    check_name := 'sla'; metric := 'crm_sla_breached_tickets';
    help := 'Unresolved tickets past their response or resolution target.';
    value := n;
    status := crm._threshold_status(value, 'health_sla_breaches');
    detail := format('%s unresolved tickets are past a service-level target', n);
    RETURN NEXT;

    -- audit rows not yet sealed into the hash chain (once the audit trail is installed)
    IF to_regclass('crm.audit_log') IS NOT NULL AND to_regclass('crm.audit_seal') IS NOT NULL THEN
        EXECUTE 'SELECT coalesce((SELECT s.sealed_id FROM crm.audit_seal s), 0)' INTO sealed;
        EXECUTE 'SELECT a.id, a.at FROM crm.audit_log a WHERE a.id > $1 ORDER BY a.id LIMIT 1'
           INTO oldest USING sealed;
        check_name := 'audit'; metric := 'crm_audit_oldest_unsealed_seconds';
        help := 'Age of the oldest audit log row not yet sealed into the hash chain, in seconds.';
        value := coalesce(extract(epoch FROM now() - oldest.at)::float8, 0);
        status := crm._threshold_status(value, 'health_audit_delay');
        detail := CASE WHEN oldest.id IS NULL THEN format('every audit row is sealed (up to id %s)', sealed)
                       ELSE format('audit row %s has waited %s to be sealed', oldest.id, crm._duration(value)) END;
        RETURN NEXT;
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._health_checks() FROM PUBLIC;
COMMENT ON FUNCTION crm._health_checks() IS
    'The checks of crm.health() with the measure behind each, as a metric of crm.metrics.';

CREATE FUNCTION crm.health() RETURNS TABLE (check_name text, status text, detail text)
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.check_name, h.status, h.detail FROM crm._health_checks() AS h
$$;
REVOKE EXECUTE ON FUNCTION crm.health() FROM PUBLIC;
COMMENT ON FUNCTION crm.health() IS
    'Whether crm is working, one row per check (worker, restore_hold, mail_queue, mail_failures, journeys, sla, audit) '
    'with status ok, warning or critical and a sentence saying why. Thresholds: the health_* settings.';

-- crm._metrics: every metric of crm.metrics.
CREATE FUNCTION crm._metrics()
    RETURNS TABLE (metric text, labels jsonb, value float8, type text, help text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH h AS (SELECT * FROM crm._health_checks())
    SELECT h.metric, '{}'::jsonb, h.value, 'gauge', h.help FROM h
    UNION ALL
    SELECT 'crm_health_status', jsonb_build_object('check', h.check_name),
           CASE h.status WHEN 'ok' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, 'gauge',
           'Status of each crm.health() check: 0 ok, 1 warning, 2 critical.'
      FROM h
    UNION ALL
    SELECT m.metric, jsonb_build_object('duty', d.duty), m.value, m.type, m.help
      FROM crm.worker_duties d,
           LATERAL (VALUES
               ('crm_duty_done_total', d.done::float8, 'counter',
                'Items each duty of the crm worker has done since the worker started (mail: messages sent).'),
               ('crm_duty_failed_total', d.failed::float8, 'counter',
                'Items that failed for good since the worker started (mail: messages failed).'),
               ('crm_duty_retried_total', d.retried::float8, 'counter',
                'Items that failed for now and will be retried, since the worker started.'),
               ('crm_duty_errors_total', d.errors::float8, 'counter',
                'Runs of each duty that ended in an error since the worker started.'),
               ('crm_duty_backlog', d.backlog::float8, 'gauge',
                'Work waiting for each duty as it last counted (mail: due messages).')) AS m(metric, value, type, help)
     WHERE d.worker_pid IS NOT NULL AND m.value IS NOT NULL
       AND pg_catalog.current_setting('crm.database', true) IS NOT DISTINCT FROM pg_catalog.current_database()
    UNION ALL
    SELECT 'crm_table_rows_estimate', jsonb_build_object('table', c.relname), c.reltuples::float8, 'gauge',
           'Rows in each crm table, as estimated by the latest VACUUM or ANALYZE (pg_class.reltuples).'
      FROM pg_class c
     WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p') AND c.reltuples >= 0
$$;
REVOKE EXECUTE ON FUNCTION crm._metrics() FROM PUBLIC;
COMMENT ON FUNCTION crm._metrics() IS 'The rows of crm.metrics.';

CREATE VIEW crm.metrics WITH (security_invoker = true) AS
SELECT m.metric, m.labels, m.value, m.type, m.help FROM crm._metrics() AS m;
COMMENT ON VIEW crm.metrics IS
    'crm''s measures as numbers, one row per metric and label set: health checks and their measures, the worker''s '
    'counters per duty, table sizes. crm.prometheus_metrics() formats them for Prometheus.';
COMMENT ON COLUMN crm.metrics.metric IS 'Metric name (crm_*), as Prometheus shows it.';
COMMENT ON COLUMN crm.metrics.labels IS 'Labels as a JSON object, e.g. {"duty": "mail"}; {} for none.';
COMMENT ON COLUMN crm.metrics.value IS 'The value.';
COMMENT ON COLUMN crm.metrics.type IS 'gauge (a level) or counter (only grows, restarts at 0 with the worker).';
COMMENT ON COLUMN crm.metrics.help IS 'What the metric measures.';

-- The Prometheus text exposition format (version 0.0.4).
CREATE FUNCTION crm.prometheus_metrics() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH m AS (SELECT * FROM crm._metrics()),
    family AS (
        SELECT m.metric, min(m.type) AS type, min(m.help) AS help,
               string_agg(m.metric
                          || CASE WHEN m.labels = '{}' THEN ''
                                  ELSE '{' || (SELECT string_agg(l.key || '="'
                                                   || replace(replace(replace(l.value, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
                                                   || '"', ',' ORDER BY l.key)
                                                 FROM jsonb_each_text(m.labels) AS l) || '}' END
                          || ' '
                          || CASE WHEN m.value = 'Infinity' THEN '+Inf' WHEN m.value = '-Infinity' THEN '-Inf'
                                  ELSE m.value::text END,
                          E'\n' ORDER BY m.labels::text) AS samples
          FROM m
         GROUP BY m.metric)
    SELECT string_agg('# HELP ' || f.metric || ' '
                      || replace(replace(f.help, E'\\', E'\\\\'), E'\n', E'\\n') || E'\n'
                      || '# TYPE ' || f.metric || ' ' || f.type || E'\n'
                      || f.samples || E'\n', '' ORDER BY f.metric)
      FROM family f
$$;
REVOKE EXECUTE ON FUNCTION crm.prometheus_metrics() FROM PUBLIC;
COMMENT ON FUNCTION crm.prometheus_metrics() IS
    'crm.metrics in the Prometheus text exposition format (HELP and TYPE lines, crm_* names), for a scrape '
    'endpoint or node_exporter''s textfile collector.';

-- Monitoring roles: crm_reader, and PostgreSQL's own pg_monitor (which reads no crm table).
GRANT USAGE ON SCHEMA crm TO pg_monitor;
GRANT EXECUTE ON FUNCTION crm.health(), crm._health_checks(), crm._metrics(), crm.prometheus_metrics()
    TO crm_reader, pg_monitor;
GRANT SELECT ON crm.metrics TO crm_reader, pg_monitor;
GRANT EXECUTE ON FUNCTION crm.valid_interval_thresholds(text), crm.valid_number_thresholds(text) TO crm_reader;
