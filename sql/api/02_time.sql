-- ---------------------------------------------------------------------------
-- Time. The service runs in England: "today", nights and local times are
-- Europe/London whatever the session's TimeZone is.

CREATE FUNCTION rs_today() RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (now() AT TIME ZONE 'Europe/London')::date $$;

-- Midnight at the start of a London date, as an instant.
CREATE FUNCTION rs_midnight(d date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT d::timestamp AT TIME ZONE 'Europe/London' $$;

-- A London wall-clock time on a date, as an instant. A time the clocks
-- skip (01:00-01:59 on the last Sunday of March) is refused rather than
-- silently moved; an hour that happens twice (October) takes the first.
-- `AT TIME ZONE` alone resolves a repeated time to its second occurrence,
-- so the two candidates, wall time minus the UTC offset in force a day
-- before and a day after (London changes offset at most once a day), are
-- tried earlier first: the first that reads back as the same wall time.
CREATE FUNCTION rs_local_instant(d date, t time, field text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    wall timestamp := d + t;
    guess timestamptz := wall AT TIME ZONE 'UTC';
    a timestamptz;
    b timestamptz;
BEGIN
    a := (wall - (((guess - interval '1 day') AT TIME ZONE 'Europe/London')
                  - ((guess - interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC';
    b := (wall - (((guess + interval '1 day') AT TIME ZONE 'Europe/London')
                  - ((guess + interval '1 day') AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC';
    IF (least(a, b) AT TIME ZONE 'Europe/London') = wall THEN
        RETURN least(a, b);
    ELSIF (greatest(a, b) AT TIME ZONE 'Europe/London') = wall THEN
        RETURN greatest(a, b);
    END IF;
    PERFORM rs_bad_param(field, 'this local time does not exist in Europe/London (clocks go forward)');
END $$;

CREATE FUNCTION rs_ts_text(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

CREATE FUNCTION rs_local_text(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT to_char(t AT TIME ZONE 'Europe/London', 'YYYY-MM-DD"T"HH24:MI') $$;

CREATE FUNCTION rs_nights_json(r daterange) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('from', lower(r), 'to', upper(r), 'nights', upper(r) - lower(r))
$$;

CREATE FUNCTION rs_span_json(r tstzrange) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('start', rs_ts_text(lower(r)), 'end', rs_ts_text(upper(r)),
                              'local_start', rs_local_text(lower(r)),
                              'local_end', rs_local_text(upper(r)))
$$;

CREATE FUNCTION rs_money_text(pence bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN pence = 0 THEN 'free'
                ELSE '£' || to_char(pence / 100.0, 'FM999999990.00') END
$$;

-- What a piece of supply costs for a stay of `nights` nights or a visit
-- of `minutes` minutes; hours are charged pro rata, rounded up to a penny.
CREATE FUNCTION rs_cost_pence(price int, unit price_unit, nights int, minutes int)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE unit
             WHEN 'night' THEN price::bigint * greatest(coalesce(nights, 1), 1)
             WHEN 'hour' THEN ceil(price::numeric * coalesce(minutes, 60) / 60)::bigint
             ELSE price::bigint END
$$;

CREATE FUNCTION rs_local_day(t timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (t AT TIME ZONE 'Europe/London')::date $$;

-- A stay of nights [from, to): 14:00 on arrival to 11:00 on departure.
CREATE FUNCTION rs_stay_span(n daterange) RETURNS tstzrange
LANGUAGE sql STABLE AS $$
    SELECT tstzrange(rs_local_instant(lower(n), '14:00', 'from'), rs_local_instant(upper(n), '11:00', 'to'))
$$;

-- STABLE like the money text and the number-to-text casts it uses: declared
-- IMMUTABLE, PostgreSQL would not inline it, and every leg of every answer
-- planned it afresh.
CREATE FUNCTION rs_amount_text(amount bigint, u ledger_unit) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE u WHEN 'pence' THEN rs_money_text(amount)
                  WHEN 'nights' THEN amount || CASE WHEN amount = 1 THEN ' night' ELSE ' nights' END
                  ELSE CASE WHEN amount % 60 = 0 THEN (amount / 60) || ' h'
                            WHEN amount < 60 THEN amount || ' min'
                            ELSE (amount / 60) || ' h ' || (amount % 60) || ' min' END END
$$;
