-- src/journeys/20_journeys.sql: journeys -- behaviour-triggered marketing
-- mail -- their versions, steps, enrollments and log, and their SQL API.
--
-- A journey (crm.journey, one row per key) has versions: each call of
-- crm.create_journey with the same key adds a version of steps
-- (crm.journey_step) and makes it the one new enrollments follow, while
-- people already enrolled finish on theirs.  Steps are checked when created
-- (crm._check_journey_steps): templates exist and are marketing templates,
-- every then/else points at a step, every cycle goes through a wait, and
-- each SQL condition and vars expression is one expression of the right
-- type that its owner may evaluate (C, src/journeys/expression.c).
--
-- An enrollment (crm.journey_enrollment) is one person's way through one
-- version: at most one active per journey and person (a partial unique
-- index), re-entry only after reentry_after, at most
-- journey_daily_enrollments journeys per person per day.  The runner
-- (src/journeys/runner.c) moves it; events end it (src/journeys/event.c);
-- crm.journey_log says what happened at each step and why, and
-- crm.explain_enrollment reads it back.

CREATE TABLE crm.journey (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             text NOT NULL CONSTRAINT journey_key_key UNIQUE
                    CONSTRAINT journey_key_printable
                    CHECK (btrim(key) <> '' AND crm.is_printable(key) AND octet_length(key) <= 100),
    name            text NOT NULL CONSTRAINT journey_name_not_blank CHECK (btrim(name) <> ''),
    status          text NOT NULL DEFAULT 'draft'
                    CONSTRAINT journey_status_valid CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    version         int NOT NULL DEFAULT 1 CONSTRAINT journey_version_positive CHECK (version >= 1),
    trigger_event   text CONSTRAINT journey_trigger_event_printable
                    CHECK (btrim(trigger_event) <> '' AND crm.is_printable(trigger_event)),
    trigger_segment text,
    trigger_filter  text,
    reentry_after   interval CONSTRAINT journey_reentry_after_positive CHECK (reentry_after > '0'),
    goal_event      text CONSTRAINT journey_goal_event_printable
                    CHECK (btrim(goal_event) <> '' AND crm.is_printable(goal_event)),
    exit_events     text[] NOT NULL DEFAULT '{}'
                    CONSTRAINT journey_exit_events_printable
                    CHECK (array_position(exit_events, NULL) IS NULL
                           AND crm.is_printable(array_to_string(exit_events, ' '))),
    quiet_start     time,
    quiet_end       time,
    send_days       int[] CONSTRAINT journey_send_days_iso
                    CHECK (cardinality(send_days) BETWEEN 1 AND 7 AND array_position(send_days, NULL) IS NULL
                           AND 1 <= ALL (send_days) AND 7 >= ALL (send_days)),
    holdout_percent numeric NOT NULL DEFAULT 0
                    CONSTRAINT journey_holdout_percent_range CHECK (holdout_percent >= 0 AND holdout_percent < 100),
    owner           name NOT NULL DEFAULT crm.acting_role(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journey_quiet_hours_pair CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND quiet_start <> quiet_end),
    CONSTRAINT journey_filter_needs_trigger
        CHECK (trigger_filter IS NULL OR trigger_event IS NOT NULL OR trigger_segment IS NOT NULL)
);
SELECT pg_catalog.pg_extension_config_dump('crm.journey', '');
SELECT pg_catalog.pg_extension_config_dump('crm.journey_id_seq', '');
CREATE TRIGGER journey_set_updated_at BEFORE UPDATE ON crm.journey
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.journey IS
    'Journeys: marketing mail sent by the worker as people do things (HubSpot workflows, Mautic campaigns); made '
    'with crm.create_journey, whose every call with the same key adds a version of steps.';
COMMENT ON COLUMN crm.journey.id IS 'Journey number.';
COMMENT ON COLUMN crm.journey.key IS 'The name functions take (printable text).';
COMMENT ON COLUMN crm.journey.name IS 'Display name.';
COMMENT ON COLUMN crm.journey.status IS
    'draft (made, not running), active (enrolls people and runs their steps), paused (steps wait, nobody new '
    'enters; goal and exit events still end enrollments) or archived (over for good).';
COMMENT ON COLUMN crm.journey.version IS 'The version of steps new enrollments follow (the latest).';
COMMENT ON COLUMN crm.journey.trigger_event IS 'An event of this kind enrolls its person (if trigger_filter allows).';
COMMENT ON COLUMN crm.journey.trigger_segment IS
    'Entering this segment (its segment_entered event) enrolls the person (if trigger_filter allows).';
COMMENT ON COLUMN crm.journey.trigger_filter IS
    'Boolean SQL expression over the triggering event (e) and the person''s crm.contact_profile (c), evaluated as '
    'the owner; NULL: every such event enrolls.';
COMMENT ON COLUMN crm.journey.reentry_after IS
    'A person may enter again this long after their previous enrollment began; NULL: never again.';
COMMENT ON COLUMN crm.journey.goal_event IS
    'An event of this kind converts the person''s active enrollment, in the transaction that writes the event.';
COMMENT ON COLUMN crm.journey.exit_events IS
    'Events of these kinds end the person''s active enrollment (exited), in the transaction that writes the event.';
COMMENT ON COLUMN crm.journey.quiet_start IS
    'Start of the daily quiet hours in the person''s time zone, when no mail is sent (with quiet_end; may wrap midnight).';
COMMENT ON COLUMN crm.journey.quiet_end IS 'End of the daily quiet hours in the person''s time zone.';
COMMENT ON COLUMN crm.journey.send_days IS
    'ISO weekdays (1 Monday .. 7 Sunday) on which mail may be sent, in the person''s time zone; NULL: every day.';
COMMENT ON COLUMN crm.journey.holdout_percent IS
    'Share of enrollments (0 to below 100) held out: they get no mail and measure what the journey adds.';
COMMENT ON COLUMN crm.journey.owner IS 'The role that made it: its SQL (filter, conditions, vars) runs with its privileges.';
COMMENT ON COLUMN crm.journey.created_at IS 'When it was created.';
COMMENT ON COLUMN crm.journey.updated_at IS 'When the row last changed.';

CREATE TABLE crm.journey_step (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id      bigint NOT NULL REFERENCES crm.journey ON DELETE CASCADE,
    version         int NOT NULL,
    position        int NOT NULL CONSTRAINT journey_step_position_positive CHECK (position >= 1),
    kind            text NOT NULL
                    CONSTRAINT journey_step_kind_valid CHECK (kind IN ('send', 'wait', 'wait_for', 'branch', 'exit')),
    template_key    text,
    vars            text,
    delay           interval,
    wait_event      text,
    timeout         interval,
    condition       text,
    then_position   int,
    else_position   int,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journey_step_position_key UNIQUE (journey_id, version, position),
    CONSTRAINT journey_step_fields CHECK (CASE kind
        WHEN 'send' THEN template_key IS NOT NULL AND delay IS NULL AND wait_event IS NULL AND timeout IS NULL
                         AND condition IS NULL AND else_position IS NULL
        WHEN 'wait' THEN delay > '0' AND template_key IS NULL AND vars IS NULL AND wait_event IS NULL
                         AND timeout IS NULL AND condition IS NULL AND else_position IS NULL
        WHEN 'wait_for' THEN wait_event IS NOT NULL AND timeout > '0' AND template_key IS NULL AND vars IS NULL
                             AND delay IS NULL AND condition IS NULL
        WHEN 'branch' THEN condition IS NOT NULL AND template_key IS NULL AND vars IS NULL AND delay IS NULL
                           AND wait_event IS NULL AND timeout IS NULL
        ELSE template_key IS NULL AND vars IS NULL AND delay IS NULL AND wait_event IS NULL AND timeout IS NULL
             AND condition IS NULL AND then_position IS NULL AND else_position IS NULL END)
);
SELECT pg_catalog.pg_extension_config_dump('crm.journey_step', '');
SELECT pg_catalog.pg_extension_config_dump('crm.journey_step_id_seq', '');
CREATE TRIGGER journey_step_set_updated_at BEFORE UPDATE ON crm.journey_step
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.journey_step IS
    'The steps of each version of each journey, in position order; written by crm.create_journey only, after checking.';
COMMENT ON COLUMN crm.journey_step.id IS 'Step number.';
COMMENT ON COLUMN crm.journey_step.journey_id IS 'The journey.';
COMMENT ON COLUMN crm.journey_step.version IS 'The journey version it belongs to.';
COMMENT ON COLUMN crm.journey_step.position IS 'Its place in the version (1, 2, ...); then/else name positions.';
COMMENT ON COLUMN crm.journey_step.kind IS
    'send (a marketing template), wait (delay), wait_for (an event, or timeout), branch (on condition) or exit (the end).';
COMMENT ON COLUMN crm.journey_step.template_key IS 'send: the marketing crm.email_template sent.';
COMMENT ON COLUMN crm.journey_step.vars IS
    'send: SQL expression giving the template''s jsonb variables, over the profile (c) and the enrollment (en), '
    'evaluated as the journey owner and added to name, email and contact_id; NULL: just those.';
COMMENT ON COLUMN crm.journey_step.delay IS 'wait: how long.';
COMMENT ON COLUMN crm.journey_step.wait_event IS 'wait_for: the kind of event awaited.';
COMMENT ON COLUMN crm.journey_step.timeout IS 'wait_for: how long to wait for it before taking else_position.';
COMMENT ON COLUMN crm.journey_step.condition IS
    'branch: boolean SQL expression over the profile (c) and the enrollment (en), evaluated as the journey owner.';
COMMENT ON COLUMN crm.journey_step.then_position IS
    'The step that follows (for a branch: when the condition holds; for wait_for: when the event came); NULL: the next position.';
COMMENT ON COLUMN crm.journey_step.else_position IS
    'branch: the step when the condition does not hold; wait_for: the step after a timeout; NULL: the next position.';
COMMENT ON COLUMN crm.journey_step.created_at IS 'When it was created.';
COMMENT ON COLUMN crm.journey_step.updated_at IS 'When the row last changed.';

CREATE TABLE crm.journey_enrollment (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journey_id      bigint NOT NULL REFERENCES crm.journey ON DELETE CASCADE,
    version         int NOT NULL,
    contact_id      bigint NOT NULL REFERENCES crm.contact ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'active'
                    CONSTRAINT journey_enrollment_state_valid
                    CHECK (state IN ('active', 'converted', 'exited', 'completed', 'held_out', 'failed')),
    position        int NOT NULL,
    visit           int NOT NULL DEFAULT 1 CONSTRAINT journey_enrollment_visit_positive CHECK (visit >= 1),
    next_run_at     timestamptz,
    waiting_since   timestamptz,
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    end_reason      text,
    source_event_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journey_enrollment_ended CHECK ((state = 'active') = (ended_at IS NULL)),
    CONSTRAINT journey_enrollment_scheduled CHECK (state <> 'active' OR next_run_at IS NOT NULL)
);
SELECT pg_catalog.pg_extension_config_dump('crm.journey_enrollment', '');
SELECT pg_catalog.pg_extension_config_dump('crm.journey_enrollment_id_seq', '');
-- one active enrollment per journey and person
CREATE UNIQUE INDEX journey_enrollment_active_key ON crm.journey_enrollment (journey_id, contact_id)
    WHERE state = 'active';
-- the runner's claim, in its order
CREATE INDEX journey_enrollment_due_idx ON crm.journey_enrollment (next_run_at, id) WHERE state = 'active';
-- a person's enrollments: goal and exit events, re-entry, the daily limit
-- (few per person; the runner's updates change none of these columns' indexes but the due index)
CREATE INDEX journey_enrollment_contact_idx ON crm.journey_enrollment (contact_id, enrolled_at);
CREATE TRIGGER journey_enrollment_set_updated_at BEFORE UPDATE ON crm.journey_enrollment
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.journey_enrollment IS
    'One person''s way through one version of a journey: where they are, when their next step is due, how it ended.';
COMMENT ON COLUMN crm.journey_enrollment.id IS 'Enrollment number (in the idempotency keys of its mail).';
COMMENT ON COLUMN crm.journey_enrollment.journey_id IS 'The journey.';
COMMENT ON COLUMN crm.journey_enrollment.version IS 'The version of steps the person follows to the end.';
COMMENT ON COLUMN crm.journey_enrollment.contact_id IS 'The person.';
COMMENT ON COLUMN crm.journey_enrollment.state IS
    'active, converted (goal event), exited (exit event, no consent, suppressed), completed (reached the end), '
    'held_out (in the holdout: no mail) or failed (a step could not run, see end_reason).';
COMMENT ON COLUMN crm.journey_enrollment.position IS 'The step the person is at (or ended at).';
COMMENT ON COLUMN crm.journey_enrollment.visit IS
    'Pass through the journey: 1, then one more each time a step leads back to an earlier one (through a wait).';
COMMENT ON COLUMN crm.journey_enrollment.next_run_at IS 'When the runner runs the step next (active enrollments).';
COMMENT ON COLUMN crm.journey_enrollment.waiting_since IS 'When the person began the wait or wait_for they are in.';
COMMENT ON COLUMN crm.journey_enrollment.enrolled_at IS 'When the person entered.';
COMMENT ON COLUMN crm.journey_enrollment.ended_at IS 'When the enrollment ended; NULL while active.';
COMMENT ON COLUMN crm.journey_enrollment.end_reason IS 'Why it ended, in words.';
COMMENT ON COLUMN crm.journey_enrollment.source_event_id IS 'The crm.event that enrolled the person; NULL for crm.enroll.';
COMMENT ON COLUMN crm.journey_enrollment.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.journey_enrollment.updated_at IS 'When the row last changed.';

CREATE TABLE crm.journey_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id   bigint NOT NULL REFERENCES crm.journey_enrollment ON DELETE CASCADE,
    position        int NOT NULL,
    visit           int NOT NULL,
    action          text NOT NULL
                    CONSTRAINT journey_log_action_valid
                    CHECK (action IN ('enroll', 'send', 'wait', 'wait_for', 'branch', 'exit', 'end', 'event',
                                      'cancel_mail', 'mail_in_flight')),
    outcome         text NOT NULL
                    CONSTRAINT journey_log_outcome_valid
                    CHECK (outcome IN ('sent', 'waiting', 'deferred_quiet_hours', 'capped', 'branch_then',
                                       'branch_else', 'timeout', 'goal_reached', 'exited', 'no_consent',
                                       'suppressed', 'completed', 'held_out', 'failed')),
    email_id        bigint REFERENCES crm.email_outbox ON DELETE SET NULL,
    detail          text,
    at              timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.journey_log', '');
SELECT pg_catalog.pg_extension_config_dump('crm.journey_log_id_seq', '');
CREATE INDEX journey_log_enrollment_idx ON crm.journey_log (enrollment_id, id);
CREATE INDEX journey_log_email_id_idx ON crm.journey_log (email_id);
CREATE TRIGGER journey_log_set_updated_at BEFORE UPDATE ON crm.journey_log
    FOR EACH ROW EXECUTE FUNCTION crm.set_updated_at();
COMMENT ON TABLE crm.journey_log IS
    'What happened at each step of each enrollment, and why: written with the step, in the same transaction.';
COMMENT ON COLUMN crm.journey_log.id IS 'Log entry number (in order of writing).';
COMMENT ON COLUMN crm.journey_log.enrollment_id IS 'The enrollment.';
COMMENT ON COLUMN crm.journey_log.position IS 'The step.';
COMMENT ON COLUMN crm.journey_log.visit IS 'The pass through the journey (crm.journey_enrollment.visit).';
COMMENT ON COLUMN crm.journey_log.action IS
    'What was done: enroll, send, wait, wait_for, branch, exit (an exit step), end (past the last step), event (a '
    'goal or exit event), cancel_mail (queued mail withdrawn when the enrollment ended), mail_in_flight (mail the '
    'worker was already delivering when it ended).';
COMMENT ON COLUMN crm.journey_log.outcome IS
    'Why: sent, waiting, deferred_quiet_hours, capped, branch_then, branch_else, timeout, goal_reached, exited, '
    'no_consent, suppressed, completed, held_out or failed.';
COMMENT ON COLUMN crm.journey_log.email_id IS 'The crm.email_outbox row sent, cancelled or in flight.';
COMMENT ON COLUMN crm.journey_log.detail IS 'More, in words: the event, the template, the time deferred to, the error.';
COMMENT ON COLUMN crm.journey_log.at IS 'When it happened.';
COMMENT ON COLUMN crm.journey_log.created_at IS 'When the row was written.';
COMMENT ON COLUMN crm.journey_log.updated_at IS 'When the row last changed.';

-- Changes to journeys and steps reach every session's cache of who listens
-- to which events (src/journeys/journey_cache.c): a relcache invalidation of
-- the changed table, as for the transition rules.
CREATE FUNCTION crm.journey_definitions_changed() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_journey_definitions_changed';
REVOKE EXECUTE ON FUNCTION crm.journey_definitions_changed() FROM PUBLIC;
COMMENT ON FUNCTION crm.journey_definitions_changed() IS
    'Statement trigger on crm.journey and crm.journey_step: makes every session reload its cache of the events journeys listen to.';
CREATE TRIGGER journey_definitions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.journey
    FOR EACH STATEMENT EXECUTE FUNCTION crm.journey_definitions_changed();
CREATE TRIGGER journey_step_definitions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.journey_step
    FOR EACH STATEMENT EXECUTE FUNCTION crm.journey_definitions_changed();

-- New and rescheduled enrollments wake the worker's journey duty at commit.
CREATE FUNCTION crm.wake_journey_runner() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_wake_journey_runner';
REVOKE EXECUTE ON FUNCTION crm.wake_journey_runner() FROM PUBLIC;
COMMENT ON FUNCTION crm.wake_journey_runner() IS
    'Statement trigger on crm.journey_enrollment and crm.journey: wakes the crm worker''s journey duty when the '
    'transaction commits.';
CREATE TRIGGER journey_enrollment_wake_runner AFTER INSERT OR UPDATE OF next_run_at ON crm.journey_enrollment
    FOR EACH STATEMENT EXECUTE FUNCTION crm.wake_journey_runner();
CREATE TRIGGER journey_wake_runner AFTER UPDATE OF status ON crm.journey
    FOR EACH STATEMENT EXECUTE FUNCTION crm.wake_journey_runner();

-- The user's SQL of a journey, checked as the calling role (C,
-- src/journeys/expression.c): what is 'trigger_filter', 'condition' or
-- 'vars'.
CREATE FUNCTION crm._check_journey_sql(what text, expression text) RETURNS void
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'crm_check_journey_sql';
REVOKE EXECUTE ON FUNCTION crm._check_journey_sql(text, text) FROM PUBLIC;
COMMENT ON FUNCTION crm._check_journey_sql(text, text) IS
    'Checks a journey''s trigger_filter (boolean over e and c), condition (boolean over c and en) or vars (jsonb over '
    'c and en) as the session''s role: one expression (42601), of the right type (42804), no volatile functions '
    '(22023), readable by the role (42501).';

-- Checks a version's steps (as crm.journey_step rows of journey 0, version
-- 0) and raises 22023 for the first problem.
CREATE FUNCTION crm._check_journey_steps(steps crm.journey_step[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s crm.journey_step;
    positions int[] := ARRAY(SELECT x.position FROM unnest(steps) x ORDER BY x.position);
    template_category text;
    remaining int[];
    removed boolean;
    n int;
BEGIN
    FOREACH s IN ARRAY steps LOOP
        IF s.kind = 'send' THEN
            SELECT t.category INTO template_category FROM crm.email_template t
             WHERE t.key OPERATOR(pg_catalog.=) s.template_key;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'step % sends template "%", which does not exist', s.position, s.template_key
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'The templates are the rows of crm.email_template.';
            ELSIF template_category OPERATOR(pg_catalog.<>) 'marketing' THEN
                RAISE EXCEPTION 'step % sends template "%", which is not a marketing template', s.position, s.template_key
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = 'Journey mail is marketing mail: consent, the frequency cap and unsubscriptions apply to it.',
                          HINT = 'Use a template whose category is marketing.';
            END IF;
            IF s.vars IS NOT NULL THEN
                PERFORM crm._check_journey_sql('vars', s.vars);
            END IF;
        ELSIF s.kind = 'branch' THEN
            PERFORM crm._check_journey_sql('condition', s.condition);
        END IF;
        IF s.then_position IS NOT NULL AND NOT s.then_position = ANY (positions)
           OR s.else_position IS NOT NULL AND NOT s.else_position = ANY (positions) THEN
            RAISE EXCEPTION 'step % points to step %, which does not exist', s.position,
                            CASE WHEN s.then_position IS NOT NULL AND NOT s.then_position = ANY (positions)
                                 THEN s.then_position ELSE s.else_position END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('The steps are at positions %s.', array_to_string(positions, ', ')),
                      HINT = 'Point then_position and else_position at a step of the journey, or leave them out to go on to the next.';
        END IF;
    END LOOP;

    -- A cycle must go through a wait or wait_for: remove, again and again,
    -- every other step that no other remaining step leads to; what is left
    -- holds a cycle without a wait.
    remaining := ARRAY(SELECT x.position FROM unnest(steps) x WHERE x.kind NOT IN ('wait', 'wait_for'));
    LOOP
        removed := false;
        FOREACH n IN ARRAY remaining LOOP
            IF NOT EXISTS (SELECT FROM unnest(steps) x
                            WHERE x.position = ANY (remaining)
                              AND n = ANY (ARRAY[crm._next_position(x, positions, true),
                                                 crm._next_position(x, positions, false)])) THEN
                remaining := array_remove(remaining, n);
                removed := true;
            END IF;
        END LOOP;
        EXIT WHEN NOT removed OR cardinality(remaining) = 0;
    END LOOP;
    IF cardinality(remaining) > 0 THEN
        RAISE EXCEPTION '% with no wait',
                CASE WHEN cardinality(remaining) = 1 THEN format('step %s leads back to itself', remaining[1])
                     ELSE format('steps %s form a cycle', array_to_string(remaining, ', ')) END
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A journey may lead back to an earlier step only through a wait or wait_for step; '
                           'otherwise the runner would go round without end.',
                  HINT = 'Add a wait step to the cycle.';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._check_journey_steps(crm.journey_step[]) FROM PUBLIC;
COMMENT ON FUNCTION crm._check_journey_steps(crm.journey_step[]) IS
    'Checks the steps of a journey version: templates exist and are marketing templates, then/else point at steps, '
    'every cycle goes through a wait, SQL conditions and vars are valid for the caller; raises 22023 otherwise.';

-- Where a step goes: then (or the only way on), or else; NULL past the end
-- or for an exit.  positions is every position of the version, sorted.
CREATE FUNCTION crm._next_position(step crm.journey_step, positions int[], then_way boolean) RETURNS int
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT CASE
           WHEN step.kind = 'exit' THEN NULL
           WHEN NOT then_way AND step.kind NOT IN ('branch', 'wait_for') THEN NULL
           WHEN then_way AND step.then_position IS NOT NULL THEN step.then_position
           WHEN NOT then_way AND step.else_position IS NOT NULL THEN step.else_position
           ELSE (SELECT min(p) FROM unnest(positions) p WHERE p > step.position) END;
END;
REVOKE EXECUTE ON FUNCTION crm._next_position(crm.journey_step, int[], boolean) FROM PUBLIC;
COMMENT ON FUNCTION crm._next_position(crm.journey_step, int[], boolean) IS
    'The position a step leads to: its then way (or its only way) or its else way; NULL at the end.';

-- Who may change a journey: its owner or a crm_admin.
CREATE FUNCTION crm._journey_for_change(journey_key text) RETURNS crm.journey
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j crm.journey;
    caller name := crm.acting_role();
BEGIN
    SELECT * INTO j FROM crm.journey x WHERE x.key OPERATOR(pg_catalog.=) journey_key FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journey "%" does not exist', journey_key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The journeys are the rows of crm.journey.';
    END IF;
    IF j.owner OPERATOR(pg_catalog.<>) caller AND NOT pg_catalog.pg_has_role(caller, 'crm_admin', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to change journey "%"', journey_key
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It belongs to %s.', j.owner),
                  HINT = 'Only the journey''s owner or a crm_admin can change it.';
    END IF;
    RETURN j;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._journey_for_change(text) FROM PUBLIC;
COMMENT ON FUNCTION crm._journey_for_change(text) IS
    'The journey row, locked, when the session''s role may change it (owner or crm_admin); 22023 or 42501 otherwise.';

-- The options argument of crm.create_journey and crm.create_campaign: a JSON
-- object with only the keys allowed (WHAT names the thing, for the errors).
CREATE FUNCTION crm._check_option_keys(options jsonb, allowed text[], what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad text;
BEGIN
    IF jsonb_typeof(coalesce(options, '{}')) <> 'object' THEN
        RAISE EXCEPTION '% options must be a JSON object', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(coalesce(options, '{}')) k WHERE NOT k = ANY (allowed);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown % option %', what, bad
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('The options are %s.', array_to_string(allowed, ', '));
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._check_option_keys(jsonb, text[], text) FROM PUBLIC;
COMMENT ON FUNCTION crm._check_option_keys(jsonb, text[], text) IS
    'Raises 22023 unless options is a JSON object whose keys are all among allowed; what names the object in the errors.';

CREATE FUNCTION crm.create_journey(key text, name text, trigger_event text, steps jsonb, options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    option_keys constant text[] := ARRAY['trigger_segment', 'trigger_filter', 'reentry_after', 'goal_event',
                                         'exit_events', 'quiet_start', 'quiet_end', 'send_days', 'holdout_percent'];
    step_keys constant text[] := ARRAY['position', 'kind', 'template_key', 'vars', 'delay', 'wait_event', 'timeout',
                                       'condition', 'then_position', 'else_position'];
    j crm.journey;
    o crm.journey;
    s crm.journey_step;
    parsed crm.journey_step[] := '{}';
    element jsonb;
    i int := 0;
    bad text;
BEGIN
    IF key IS NULL OR name IS NULL OR steps IS NULL THEN
        RAISE EXCEPTION '% cannot be null', CASE WHEN key IS NULL THEN 'key' WHEN name IS NULL THEN 'name' ELSE 'steps' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(key) = '' OR NOT crm.is_printable(key) OR octet_length(key) > 100 THEN
        RAISE EXCEPTION 'invalid journey key "%"', key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A key is 1 to 100 bytes of printable text.', HINT = 'For example welcome_trial.';
    END IF;
    IF btrim(name) = '' THEN
        RAISE EXCEPTION 'journey name cannot be blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(steps) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'journey steps must be a JSON array'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass something like ''[{"kind": "send", "template_key": "welcome"}, {"kind": "wait", "delay": "2 days"}]''.';
    END IF;
    PERFORM crm._check_option_keys(options, option_keys, 'journey');

    -- the options, as a row (NULL for what is not given; jsonb_populate_record checks the types)
    BEGIN
        o := jsonb_populate_record(NULL::crm.journey, coalesce(options, '{}'));
    EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow
                   OR numeric_value_out_of_range OR invalid_parameter_value THEN
        RAISE EXCEPTION 'invalid journey options: %', SQLERRM USING ERRCODE = 'invalid_parameter_value';
    END;
    IF o.trigger_segment IS NOT NULL
       AND NOT EXISTS (SELECT FROM crm.segment g WHERE g.key OPERATOR(pg_catalog.=) o.trigger_segment) THEN
        RAISE EXCEPTION 'segment "%" does not exist', o.trigger_segment
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The segments are the rows of crm.segment.';
    END IF;
    IF o.holdout_percent IS NOT NULL AND (o.holdout_percent < 0 OR o.holdout_percent >= 100
                                          OR o.holdout_percent = 'NaN') THEN
        RAISE EXCEPTION 'holdout_percent must be at least 0 and below 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (o.quiet_start IS NULL) <> (o.quiet_end IS NULL) OR o.quiet_start = o.quiet_end THEN
        RAISE EXCEPTION 'quiet hours need a quiet_start and a different quiet_end'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"quiet_start": "21:00", "quiet_end": "09:00"} (the window may wrap midnight).';
    END IF;
    IF cardinality(o.send_days) = 0 OR array_position(o.send_days, NULL) IS NOT NULL
       OR NOT (1 <= ALL (o.send_days) AND 7 >= ALL (o.send_days)) THEN
        RAISE EXCEPTION 'send_days must be ISO weekdays from 1 (Monday) to 7 (Sunday)'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example [1, 2, 3, 4, 5] for weekdays.';
    END IF;
    IF array_position(o.exit_events, NULL) IS NOT NULL OR NOT crm.is_printable(array_to_string(o.exit_events, ' '))
       OR btrim(o.goal_event) = '' OR NOT crm.is_printable(o.goal_event)
       OR btrim(trigger_event) = '' OR NOT crm.is_printable(trigger_event) THEN
        RAISE EXCEPTION 'event kinds must be printable text' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF o.trigger_filter IS NOT NULL AND trigger_event IS NULL AND o.trigger_segment IS NULL THEN
        RAISE EXCEPTION 'a trigger_filter needs a trigger_event or a trigger_segment'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The filter decides which triggering events enroll; a journey without a trigger is entered only with crm.enroll.';
    END IF;
    IF o.trigger_filter IS NOT NULL THEN
        PERFORM crm._check_journey_sql('trigger_filter', o.trigger_filter);
    END IF;

    -- the steps
    FOR element IN SELECT x FROM jsonb_array_elements(steps) x LOOP
        i := i + 1;
        IF jsonb_typeof(element) <> 'object' THEN
            RAISE EXCEPTION 'step % is not a JSON object', i USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(k, ', ') INTO bad FROM jsonb_object_keys(element) k WHERE NOT k = ANY (step_keys);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'step % has unknown field %', i, bad
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('The fields are %s.', array_to_string(step_keys, ', '));
        END IF;
        BEGIN
            s := jsonb_populate_record(NULL::crm.journey_step, element);
        EXCEPTION WHEN invalid_text_representation OR invalid_datetime_format OR datetime_field_overflow
                       OR numeric_value_out_of_range OR invalid_parameter_value THEN
            RAISE EXCEPTION 'invalid step %: %', i, SQLERRM USING ERRCODE = 'invalid_parameter_value';
        END;
        s.position := coalesce(s.position, i);
        IF s.kind IS NULL OR s.kind NOT IN ('send', 'wait', 'wait_for', 'branch', 'exit') THEN
            RAISE EXCEPTION 'step % has kind %', s.position, coalesce('"' || s.kind || '"', 'null')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The kinds are send, wait, wait_for, branch and exit.';
        END IF;
        bad := CASE s.kind
               WHEN 'send' THEN CASE WHEN s.template_key IS NULL THEN 'a send step needs template_key' END
               WHEN 'wait' THEN CASE WHEN s.delay IS NULL OR s.delay <= '0' THEN 'a wait step needs a positive delay' END
               WHEN 'wait_for' THEN CASE WHEN s.wait_event IS NULL THEN 'a wait_for step needs wait_event'
                                         WHEN s.timeout IS NULL OR s.timeout <= '0' THEN 'a wait_for step needs a positive timeout' END
               WHEN 'branch' THEN CASE WHEN s.condition IS NULL THEN 'a branch step needs a condition' END
               END;
        IF bad IS NULL AND NOT (SELECT bool_and(CASE k
                                WHEN 'template_key' THEN s.kind = 'send' WHEN 'vars' THEN s.kind = 'send'
                                WHEN 'delay' THEN s.kind = 'wait' WHEN 'wait_event' THEN s.kind = 'wait_for'
                                WHEN 'timeout' THEN s.kind = 'wait_for' WHEN 'condition' THEN s.kind = 'branch'
                                WHEN 'else_position' THEN s.kind IN ('branch', 'wait_for')
                                WHEN 'then_position' THEN s.kind <> 'exit' ELSE true END)
                                  FROM jsonb_object_keys(element) k WHERE element -> k <> 'null') THEN
            bad := format('a %s step takes only the fields of its kind', s.kind);
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'invalid step %: %', s.position, bad
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'send: template_key, vars; wait: delay; wait_for: wait_event, timeout, else_position; '
                             'branch: condition, else_position; every kind but exit: then_position.';
        END IF;
        IF s.position < 1 OR s.position = ANY (ARRAY(SELECT x.position FROM unnest(parsed) x)) THEN
            RAISE EXCEPTION 'step position % is not positive or used twice', s.position
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF s.kind = 'wait_for' AND (btrim(s.wait_event) = '' OR NOT crm.is_printable(s.wait_event)) THEN
            RAISE EXCEPTION 'invalid wait_event "%" in step %', s.wait_event, s.position
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        parsed := parsed || s;
    END LOOP;
    PERFORM crm._check_journey_steps(parsed);

    -- the journey row: new, or the next version of an existing one
    IF EXISTS (SELECT FROM crm.journey x WHERE x.key OPERATOR(pg_catalog.=) create_journey.key) THEN
        j := crm._journey_for_change(create_journey.key);
        IF j.status OPERATOR(pg_catalog.=) 'archived' THEN
            RAISE EXCEPTION 'journey "%" is archived', key
                USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Create a journey with another key.';
        END IF;
        UPDATE crm.journey x
           SET name = create_journey.name, version = x.version + 1, trigger_event = create_journey.trigger_event,
               trigger_segment = o.trigger_segment, trigger_filter = o.trigger_filter,
               reentry_after = o.reentry_after, goal_event = o.goal_event,
               exit_events = coalesce(o.exit_events, '{}'), quiet_start = o.quiet_start, quiet_end = o.quiet_end,
               send_days = o.send_days, holdout_percent = coalesce(o.holdout_percent, 0)
         WHERE x.id OPERATOR(pg_catalog.=) j.id
        RETURNING * INTO j;
    ELSE
        INSERT INTO crm.journey (key, name, trigger_event, trigger_segment, trigger_filter, reentry_after, goal_event,
                                 exit_events, quiet_start, quiet_end, send_days, holdout_percent, owner)
        VALUES (create_journey.key, create_journey.name, create_journey.trigger_event, o.trigger_segment,
                o.trigger_filter, o.reentry_after, o.goal_event, coalesce(o.exit_events, '{}'), o.quiet_start,
                o.quiet_end, o.send_days, coalesce(o.holdout_percent, 0), crm.acting_role())
        RETURNING * INTO j;
    END IF;
    INSERT INTO crm.journey_step (journey_id, version, position, kind, template_key, vars, delay, wait_event, timeout,
                                  condition, then_position, else_position)
    SELECT j.id, j.version, x.position, x.kind, x.template_key, x.vars, x.delay, x.wait_event, x.timeout,
           x.condition, x.then_position, x.else_position
      FROM unnest(parsed) x;
    RETURN j.id;
END
$$;
COMMENT ON FUNCTION crm.create_journey(text, text, text, jsonb, jsonb) IS
    'Creates a journey owned by the calling role (draft), or with an existing key its next version (people enrolled '
    'finish on theirs; the options are replaced). steps: JSON array of objects with crm.journey_step''s fields; '
    'options: crm.journey''s (trigger_segment, trigger_filter, reentry_after, goal_event, exit_events, quiet_start, '
    'quiet_end, send_days, holdout_percent). Checks everything first (22023, SQL errors as crm.create_segment); '
    'returns the journey''s id.';

CREATE FUNCTION crm.activate_journey(key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j crm.journey := crm._journey_for_change(key);
BEGIN
    IF j.status OPERATOR(pg_catalog.=) 'archived' THEN
        RAISE EXCEPTION 'journey "%" is archived', key
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'An archived journey stays over.';
    END IF;
    IF NOT EXISTS (SELECT FROM crm.journey_step s
                    WHERE s.journey_id OPERATOR(pg_catalog.=) j.id AND s.version OPERATOR(pg_catalog.=) j.version) THEN
        RAISE EXCEPTION 'journey "%" has no steps', key
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Give it steps with crm.create_journey first.';
    END IF;
    UPDATE crm.journey x SET status = 'active'
     WHERE x.id OPERATOR(pg_catalog.=) j.id AND x.status OPERATOR(pg_catalog.<>) 'active';
END
$$;
COMMENT ON FUNCTION crm.activate_journey(text) IS
    'Starts (or resumes) a journey: it enrolls people and runs their steps. 55000 when it has no steps or is archived.';

CREATE FUNCTION crm.pause_journey(key text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j crm.journey := crm._journey_for_change(key);
BEGIN
    IF j.status NOT IN ('active', 'paused') THEN
        RAISE EXCEPTION 'journey "%" is %, not active', key, j.status
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only an active journey can be paused.';
    END IF;
    UPDATE crm.journey x SET status = 'paused'
     WHERE x.id OPERATOR(pg_catalog.=) j.id AND x.status OPERATOR(pg_catalog.=) 'active';
END
$$;
COMMENT ON FUNCTION crm.pause_journey(text) IS
    'Pauses an active journey: nobody new enters and steps wait until it is activated again; goal and exit events '
    'still end enrollments. 55000 when it is not active.';

CREATE FUNCTION crm.archive_journey(key text) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j crm.journey := crm._journey_for_change(key);
    ended int;
BEGIN
    UPDATE crm.journey x SET status = 'archived' WHERE x.id OPERATOR(pg_catalog.=) j.id;
    WITH e AS (
        UPDATE crm.journey_enrollment e
           SET state = 'exited', ended_at = pg_catalog.now(), next_run_at = NULL, end_reason = 'journey archived'
         WHERE e.journey_id OPERATOR(pg_catalog.=) j.id AND e.state OPERATOR(pg_catalog.=) 'active'
        RETURNING e.id, e.position, e.visit
    ), logged AS (
        INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, detail)
        SELECT e.id, e.position, e.visit, 'end', 'exited', 'journey archived' FROM e
    )
    SELECT pg_catalog.count(*) INTO ended FROM e;
    RETURN ended;
END
$$;
COMMENT ON FUNCTION crm.archive_journey(text) IS
    'Ends a journey for good: active enrollments exit (logged); returns how many.';

-- Enrolls a person (see the file comment); NULL when not allowed now.
CREATE FUNCTION crm._enroll(journey_id bigint, contact_id bigint, source_event_id bigint, source_email_id bigint,
                            OUT enrollment_id bigint, OUT refusal text)
RETURNS record
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    j crm.journey;
    previous crm.journey_enrollment;
    first_position int;
    recent int;
    held boolean;
BEGIN
    SELECT * INTO j FROM crm.journey x WHERE x.id = _enroll.journey_id;
    SELECT e.id INTO enrollment_id FROM crm.journey_enrollment e
     WHERE e.journey_id = j.id AND e.contact_id = _enroll.contact_id
       AND e.state = 'active';
    IF FOUND THEN
        RETURN;
    END IF;
    -- a journey's own mail (its email_sent, email_click, ... events) never enrolls into it again
    IF source_email_id IS NOT NULL AND EXISTS (
        SELECT FROM crm.journey_log l JOIN crm.journey_enrollment e ON e.id = l.enrollment_id
         WHERE l.email_id = source_email_id AND e.journey_id = j.id) THEN
        refusal := 'the event comes from the journey''s own mail';
        RETURN;
    END IF;
    SELECT * INTO previous FROM crm.journey_enrollment e
     WHERE e.journey_id = j.id AND e.contact_id = _enroll.contact_id
     ORDER BY e.enrolled_at DESC, e.id DESC LIMIT 1;
    IF FOUND AND j.reentry_after IS NULL THEN
        refusal := 'the person was enrolled before and the journey has no reentry_after';
        RETURN;
    ELSIF FOUND AND previous.enrolled_at + j.reentry_after > now() THEN
        refusal := format('the person may enter again from %s (reentry_after %s)',
                                     previous.enrolled_at + j.reentry_after, j.reentry_after);
        RETURN;
    END IF;
    SELECT count(*) INTO recent FROM crm.journey_enrollment e
     WHERE e.contact_id = _enroll.contact_id
       AND e.enrolled_at > now() - interval '1 day';
    IF recent >= crm.setting_value('journey_daily_enrollments')::int THEN
        refusal := format('the person entered %s journeys in the last 24 hours (setting journey_daily_enrollments)',
                                     recent);
        RETURN;
    END IF;
    SELECT min(s.position) INTO first_position FROM crm.journey_step s
     WHERE s.journey_id = j.id AND s.version = j.version;
    -- the holdout: a fixed share of enrollments, chosen by a hash so it is the same on every run
    held := j.holdout_percent > 0
        AND (hashtextextended(j.id || ':' || _enroll.contact_id || ':' || coalesce(previous.id, 0), 0) & 1048575)::numeric < j.holdout_percent * 10485.76;
    INSERT INTO crm.journey_enrollment AS e (journey_id, version, contact_id, state, position, next_run_at,
                                             ended_at, end_reason, source_event_id)
    VALUES (j.id, j.version, _enroll.contact_id, CASE WHEN held THEN 'held_out' ELSE 'active' END, first_position,
            CASE WHEN held THEN NULL ELSE now() END, CASE WHEN held THEN now() END,
            CASE WHEN held THEN 'in the holdout' END, source_event_id)
    ON CONFLICT (journey_id, contact_id) WHERE state = 'active' DO NOTHING
    RETURNING e.id INTO enrollment_id;
    IF enrollment_id IS NULL THEN
        -- enrolled by a concurrent transaction that committed meanwhile
        SELECT e.id INTO enrollment_id FROM crm.journey_enrollment e
         WHERE e.journey_id = j.id AND e.contact_id = _enroll.contact_id
           AND e.state = 'active';
    ELSIF held THEN
        INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, detail)
        VALUES (enrollment_id, first_position, 1, 'enroll', 'held_out',
                format('in the holdout (%s%%): no mail', j.holdout_percent));
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION crm._enroll(bigint, bigint, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION crm._enroll(bigint, bigint, bigint, bigint) IS
    'Enrolls a person in a journey''s current version (or in its holdout) and returns the enrollment, or the active '
    'one; or NULL and why not: re-entry not yet allowed, the daily limit, or an event caused by the journey''s own mail.';

CREATE FUNCTION crm.enroll(journey_key text, contact_id bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j crm.journey;
    result record;
BEGIN
    SELECT * INTO j FROM crm.journey x WHERE x.key OPERATOR(pg_catalog.=) journey_key;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'journey "%" does not exist', journey_key
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The journeys are the rows of crm.journey.';
    END IF;
    IF j.status NOT IN ('active', 'paused') THEN
        RAISE EXCEPTION 'journey "%" is %', journey_key, j.status
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Activate it with crm.activate_journey first.';
    END IF;
    IF NOT EXISTS (SELECT FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) enroll.contact_id) THEN
        RAISE EXCEPTION 'contact % does not exist', contact_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Look the id up in crm.contact.';
    END IF;
    result := crm._enroll(j.id, enroll.contact_id, NULL, NULL);
    IF result.enrollment_id IS NULL THEN
        RAISE EXCEPTION 'contact % cannot enter journey "%" now', contact_id, journey_key
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = upper(left(result.refusal, 1)) || substr(result.refusal, 2) || '.';
    END IF;
    RETURN result.enrollment_id;
END
$$;
COMMENT ON FUNCTION crm.enroll(text, bigint) IS
    'Enrolls a person in an active (or paused) journey by hand and returns the enrollment''s id: the active one if '
    'they are in it already, a held_out one if the holdout draws them. 55000 when re-entry or the daily limit does '
    'not allow it.';

CREATE FUNCTION crm.explain_enrollment(journey_key text, contact_id bigint)
RETURNS TABLE (enrollment_id bigint, version int, at timestamptz, "position" int, visit int, step text,
               action text, outcome text, email_id bigint, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT x.enrollment_id, x.version, x.at, x.position, x.visit, x.step, x.action, x.outcome, x.email_id, x.detail
      FROM (SELECT e.id AS enrollment_id, e.version, e.enrolled_at AS at, NULL::int AS position, 1 AS visit,
                   NULL::text AS step, 'enroll' AS action, NULL::text AS outcome, NULL::bigint AS email_id,
                   CASE WHEN e.source_event_id IS NULL THEN 'enrolled by crm.enroll'
                        ELSE 'enrolled by event ' || e.source_event_id END AS detail, 0 AS n
              FROM crm.journey j JOIN crm.journey_enrollment e ON e.journey_id = j.id
             WHERE j.key = explain_enrollment.journey_key AND e.contact_id = explain_enrollment.contact_id
            UNION ALL
            SELECT e.id, e.version, l.at, l.position, l.visit,
                   CASE WHEN l.action <> 'end'
                        THEN s.kind || coalesce(' ' || s.template_key, ' ' || s.delay::text, ' ' || s.wait_event, '') END,
                   l.action, l.outcome, l.email_id, l.detail, l.id
              FROM crm.journey j JOIN crm.journey_enrollment e ON e.journey_id = j.id
              JOIN crm.journey_log l ON l.enrollment_id = e.id
              LEFT JOIN crm.journey_step s
                     ON s.journey_id = e.journey_id AND s.version = e.version AND s.position = l.position
             WHERE j.key = explain_enrollment.journey_key AND e.contact_id = explain_enrollment.contact_id) x
     ORDER BY x.enrollment_id, x.n;
END;
COMMENT ON FUNCTION crm.explain_enrollment(text, bigint) IS
    'A person''s path through a journey, every enrollment: when they entered and, for each step, what happened '
    'and why (crm.journey_log), in order.';

REVOKE ALL ON crm.journey, crm.journey_step, crm.journey_enrollment, crm.journey_log FROM PUBLIC;
GRANT SELECT ON crm.journey, crm.journey_step, crm.journey_enrollment, crm.journey_log TO crm_reader;
GRANT UPDATE (name) ON crm.journey TO crm_admin;
REVOKE EXECUTE ON FUNCTION crm.create_journey(text, text, text, jsonb, jsonb), crm.activate_journey(text),
    crm.pause_journey(text), crm.archive_journey(text), crm.enroll(text, bigint),
    crm.explain_enrollment(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_journey(text, text, text, jsonb, jsonb), crm.activate_journey(text),
    crm.pause_journey(text), crm.archive_journey(text), crm.enroll(text, bigint) TO crm_user;
GRANT EXECUTE ON FUNCTION crm.explain_enrollment(text, bigint) TO crm_reader;
