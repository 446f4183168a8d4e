-- src/journeys/30_runner.sql: what moves enrollments -- the event trigger
-- that enrolls, converts, exits and wakes people in the transaction of the
-- event (src/journeys/event.c), the runner the worker calls
-- (src/journeys/runner.c), and the send-time rule they share: quiet hours
-- and send days in the person's time zone.

-- The first moment at or after `at` that is outside the quiet hours and on
-- a send day, in time zone tz.  It walks forward: from a moment inside the
-- quiet hours (or on a day without sends) to the wall-clock time that ends
-- them, turned back into an instant with AT TIME ZONE -- a wall-clock time
-- that occurs twice (clocks going back) at its first occurrence, one that
-- does not occur (clocks going forward) at the instant the clocks jump
-- (shifts are 30 or 60 minutes) -- unless a daylight-saving change comes
-- first, which may itself move the clock out of the quiet hours (going back
-- from 01:30 to 01:00 out of quiet hours 01:30-02:15); the change is found
-- to the second by bisection.  Each moment reached is checked again.
CREATE FUNCTION crm.next_send_time(at timestamptz, tz text, quiet_start time, quiet_end time, send_days int[])
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t timestamptz := at;
    c timestamptz;
    local timestamp;
    target timestamp;           -- the wall-clock time to move to
    clock time;
    day date;
    lo bigint;
    hi bigint;
    mid bigint;
BEGIN
    IF at IS NULL OR tz IS NULL THEN
        RETURN at;
    END IF;
    FOR i IN 1..64 LOOP
        local := t AT TIME ZONE tz;
        day := local::date;
        clock := local::time;
        IF send_days IS NOT NULL AND NOT extract(isodow FROM local)::int = ANY (send_days) THEN
            target := (day + 1)::timestamp;
        ELSIF quiet_start IS NOT NULL AND quiet_start < quiet_end AND clock >= quiet_start AND clock < quiet_end THEN
            target := day + quiet_end;
        ELSIF quiet_start IS NOT NULL AND quiet_start > quiet_end AND clock >= quiet_start THEN
            target := day + 1 + quiet_end;
        ELSIF quiet_start IS NOT NULL AND quiet_start > quiet_end AND clock < quiet_end THEN
            target := day + quiet_end;
        ELSE
            RETURN t;
        END IF;
        -- the first instant after t whose wall-clock time has reached target
        SELECT coalesce(min(x), greatest(target AT TIME ZONE tz, t + interval '1 second')) INTO c
          FROM unnest(ARRAY[target AT TIME ZONE tz, (target AT TIME ZONE tz) - interval '30 minutes',
                            (target AT TIME ZONE tz) - interval '1 hour']) x
         WHERE x > t AND x AT TIME ZONE tz >= target;
        -- a change of UTC offset between t and c: look at its instant first
        IF (t AT TIME ZONE tz) - (t AT TIME ZONE 'UTC') <> (c AT TIME ZONE tz) - (c AT TIME ZONE 'UTC') THEN
            lo := floor(extract(epoch FROM t));
            hi := ceil(extract(epoch FROM c));
            WHILE hi - lo > 1 LOOP
                mid := (lo + hi) / 2;
                IF (to_timestamp(mid) AT TIME ZONE tz) - (to_timestamp(mid) AT TIME ZONE 'UTC')
                   = (t AT TIME ZONE tz) - (t AT TIME ZONE 'UTC') THEN
                    lo := mid;
                ELSE
                    hi := mid;
                END IF;
            END LOOP;
            IF to_timestamp(hi) > t AND to_timestamp(hi) < c THEN
                c := to_timestamp(hi);
            END IF;
        END IF;
        t := c;
    END LOOP;
    RAISE EXCEPTION 'no send time found within 64 steps after %', at
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Check the quiet hours and send days.';
END
$$;
COMMENT ON FUNCTION crm.next_send_time(timestamptz, text, time, time, int[]) IS
    'The first instant at or after at that is outside the quiet hours (quiet_start to quiet_end, which may wrap '
    'midnight) and on one of send_days (ISO weekdays), both in time zone tz: when a deferred step runs.';

CREATE FUNCTION crm.journey_event() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_journey_event';
REVOKE EXECUTE ON FUNCTION crm.journey_event() FROM PUBLIC;
COMMENT ON FUNCTION crm.journey_event() IS
    'AFTER INSERT trigger on crm.event: a goal event converts and an exit event ends the person''s active '
    'enrollments (withdrawing their queued journey mail), an awaited event wakes their wait_for step, and a '
    'trigger event (or entering a trigger segment) enrolls them -- all in the event''s transaction.';
CREATE TRIGGER event_journeys AFTER INSERT ON crm.event
    FOR EACH ROW EXECUTE FUNCTION crm.journey_event();

CREATE FUNCTION crm.run_journey_steps(max_steps integer) RETURNS integer
    LANGUAGE c VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_run_journey_steps';
COMMENT ON FUNCTION crm.run_journey_steps(integer) IS
    'The worker''s journey duty: claims up to max_steps due enrollments of active journeys (skipping those another '
    'runner holds), runs their steps -- checks, mail, waits, branches -- and logs and advances them in this '
    'transaction; returns how many it claimed. Extension owner only (it runs journey SQL as each journey''s owner).';
REVOKE EXECUTE ON FUNCTION crm.run_journey_steps(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION crm.next_send_time(timestamptz, text, time, time, int[]) TO crm_reader;
REVOKE EXECUTE ON FUNCTION crm.next_send_time(timestamptz, text, time, time, int[]) FROM PUBLIC;
