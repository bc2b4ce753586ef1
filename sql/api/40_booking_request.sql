-- A booking request: the types quote and hold share, parsing the request
-- once, and the shape and price of a booking of one piece of supply.
-- (The lifecycle and the layers that enforce "never double-booked" are
-- described in sql/schema/004_booking.sql.)

-- A booking request, parsed and checked once (rs_booking_req) and passed
-- to the functions below.
CREATE TYPE booking_req AS (
    carer_id        bigint,
    person_id       bigint,
    consent         consent_status, -- the person's, read once here for the rules
    authority_id    bigint,
    subject         text,
    break_kind      text,
    nights          daterange,
    span            tstzrange,
    kinds           text[],
    supply_id       bigint,
    session_id      bigint,
    seats           int,
    needs           text[],
    wishes          text[],
    language        text,
    gender          text,
    lat             float8,
    lon             float8,
    radius_km       float8,
    pay_from        bigint[],
    self_fund       boolean,
    override_reason text,
    notes           text,
    actor_id        bigint,
    actor_role      text,
    request         jsonb
);

-- What booking one piece of supply for a request means: the mode, the
-- ranges taken, the quantity an entitlement counts and the cost.
CREATE TYPE booking_shape AS (
    mode            text,
    nights          daterange,
    span            tstzrange,
    alloc_span      tstzrange,      -- visits: span plus the travel buffer
    unit_kinds      unit_kind[],
    first_day       date,
    days            daterange,      -- London dates the break touches
    minutes         int,
    quantity        bigint,         -- minutes or nights, as entitlements count them
    qty_unit        ledger_unit,    -- NULL for offers
    session_id      bigint,
    cost_pence      bigint,
    value_pence     bigint,
    donated         boolean,
    price_pence     int,
    price_unit      price_unit
);

-- ---------------------------------------------------------------------------
-- Small helpers

-- Whether a booking holds capacity now. A hold past its expiry no longer
-- counts in the checks, even before the janitor has released it.
CREATE FUNCTION rs_booking_live(st booking_status, exp timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT st IN ('confirmed', 'in_progress') OR (st IN ('requested', 'held') AND exp > now())
$$;

-- Distance between two points, equirectangular: within 0.1% of the great
-- circle at the scale of a county.
CREATE FUNCTION rs_booking_km(lat1 float8, lon1 float8, lat2 float8, lon2 float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 6371.0 * sqrt(power(radians(lat2 - lat1), 2)
                         + power(radians(lon2 - lon1) * cos(radians((lat1 + lat2) / 2)), 2))
$$;

-- A refusal: a reason from reasons.def, a sentence, and data that says
-- what was asked, so it can be stored as unmet demand.
CREATE FUNCTION rs_refuse(reason text, message text, r booking_req, extra jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rs_raise(reason, message, coalesce(extra, '{}') || jsonb_build_object('request', r.request));
END $$;

-- ---------------------------------------------------------------------------
-- Parsing a request (quote and hold take the same params)

-- The break's window: nights or days (from, to), or a visit given as
-- instants (start, end) or as London wall-clock times (date, start_time,
-- end_time; an end_time at or before start_time is the next day).
CREATE FUNCTION rs_p_break_window(p jsonb, OUT nights daterange, OUT span tstzrange)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    has_n boolean := p ? 'from' OR p ? 'to';
    has_s boolean := p ? 'start' OR p ? 'end' OR p ? 'date' OR p ? 'start_time' OR p ? 'end_time';
    f date;
    t date;
    s timestamptz;
    e timestamptz;
    d date;
    t0 time;
    t1 time;
    first text;
BEGIN
    IF has_n AND has_s THEN
        PERFORM rs_bad_param(CASE WHEN p ? 'start' THEN 'start' ELSE 'date' END,
                             'give nights or days (from and to) or a visit (start and end), not both');
    END IF;
    IF has_n THEN
        PERFORM rs_p_required(p, 'from');
        PERFORM rs_p_required(p, 'to');
        f := rs_p_date(p, 'from');
        t := rs_p_date(p, 'to');
        IF t <= f THEN
            PERFORM rs_bad_param('to', 'must be after from (to is the morning of departure)');
        END IF;
        IF f < rs_today() THEN
            PERFORM rs_bad_param('from', 'in the past');
        END IF;
        IF t - f > 366 THEN
            PERFORM rs_bad_param('to', 'at most 366 nights');
        END IF;
        nights := daterange(f, t);
    ELSIF has_s THEN
        IF p ? 'start' OR p ? 'end' THEN
            IF p ? 'date' OR p ? 'start_time' OR p ? 'end_time' THEN
                PERFORM rs_bad_param('date', 'give start and end, or date, start_time and end_time');
            END IF;
            PERFORM rs_p_required(p, 'start');
            PERFORM rs_p_required(p, 'end');
            s := rs_p_ts(p, 'start');
            e := rs_p_ts(p, 'end');
            first := 'start';
        ELSE
            PERFORM rs_p_required(p, 'date');
            PERFORM rs_p_required(p, 'start_time');
            PERFORM rs_p_required(p, 'end_time');
            d := rs_p_date(p, 'date');
            t0 := rs_p_time(p, 'start_time');
            t1 := rs_p_time(p, 'end_time');
            s := rs_local_instant(d, t0, 'start_time');
            e := rs_local_instant(d + (t1 <= t0)::int, t1, 'end_time');
            first := 'date';
        END IF;
        IF e <= s THEN
            PERFORM rs_bad_param('end', 'must be after start');
        END IF;
        IF s < now() THEN
            PERFORM rs_bad_param(first, 'in the past');
        END IF;
        IF e - s > interval '24 hours' THEN
            PERFORM rs_bad_param('end', 'a visit lasts at most 24 hours');
        END IF;
        IF e > now() + interval '2 years' THEN
            PERFORM rs_bad_param('end', 'more than two years ahead');
        END IF;
        span := tstzrange(s, e);
    END IF;
END $$;

-- The carer a booking call is for: a carer user's own; staff name one, or
-- give a person with a single carer.
CREATE FUNCTION rs_booking_carer(ctx jsonb, p jsonb, pe person) RETURNS carer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cid bigint := rs_p_int(p, 'carer_id');
    n int;
BEGIN
    IF ctx->>'role' = 'carer' THEN
        IF cid IS NOT NULL AND cid <> rs_ctx_carer_id(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may book only for your own family',
                             jsonb_build_object('carer_id', cid));
        END IF;
        cid := rs_ctx_carer_id(ctx);
    ELSIF cid IS NULL AND pe.id IS NOT NULL THEN
        SELECT count(*), min(carer_id) INTO n, cid FROM care_link WHERE person_id = pe.id;
        IF n <> 1 THEN
            PERFORM rs_bad_param('carer_id', 'required: the person has more than one carer (or none)');
        END IF;
    END IF;
    IF cid IS NULL THEN
        PERFORM rs_bad_param('carer_id', 'required');
    END IF;
    RETURN rs_carer_for(ctx, cid);
END $$;

CREATE FUNCTION rs_booking_req(ctx jsonb, p jsonb) RETURNS booking_req
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r booking_req;
    pe person;
    c carer;
    w record;
    pid bigint := rs_p_int(p, 'person_id');
BEGIN
    IF pid IS NOT NULL THEN
        pe := rs_person_for(ctx, pid);
    END IF;
    c := rs_booking_carer(ctx, p, pe);
    IF pe.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM care_link WHERE carer_id = c.id AND person_id = pe.id) THEN
        PERFORM rs_bad_param('person_id', 'this person is not cared for by this carer');
    END IF;
    r.carer_id := c.id;
    r.person_id := pe.id;
    r.consent := pe.consent;
    r.authority_id := c.authority_id;
    r.subject := CASE WHEN pe.id IS NOT NULL THEN 'person' ELSE 'carer' END;
    r.break_kind := coalesce(rs_p_enum(p, 'break_kind'), 'planned');
    w := rs_p_break_window(p);
    r.nights := w.nights;
    r.span := w.span;
    r.supply_id := rs_p_int(p, 'supply_id');
    r.session_id := rs_p_int(p, 'session_id');
    r.seats := coalesce(rs_p_int(p, 'seats'), 1);
    IF r.nights IS NULL AND r.span IS NULL AND r.session_id IS NULL THEN
        PERFORM rs_bad_param('from', 'give from and to (nights or days), or start and end (a visit)');
    END IF;
    r.kinds := rs_p_kinds(p, 'kinds')::text[];
    IF r.kinds IS NULL OR cardinality(r.kinds) = 0 THEN
        r.kinds := CASE WHEN r.subject = 'carer' THEN ARRAY['offer']
                        WHEN r.nights IS NOT NULL THEN ARRAY['bed', 'household']
                        ELSE ARRAY['worker', 'household'] END;
    END IF;
    IF r.subject = 'person' AND 'offer' = ANY (r.kinds) THEN
        PERFORM rs_bad_param('kinds', 'hotel and leisure offers are breaks for the carer: leave out person_id');
    END IF;
    IF r.subject = 'carer' AND r.kinds && ARRAY['bed', 'worker', 'household'] THEN
        PERFORM rs_bad_param('person_id', 'replacement care is for a cared-for person: give person_id');
    END IF;
    -- The person's needs for replacement care. For the carer's own break,
    -- the carer's needs, except that dietary ones rank offers (they are
    -- passed on to the hotel or restaurant) rather than rule out a theatre.
    -- (Each a query only when there is something to merge.)
    r.needs := CASE WHEN pe.id IS NOT NULL THEN pe.needs ELSE c.needs END || coalesce(rs_p_caps(p, 'needs'), '{}');
    IF cardinality(r.needs) > 0 THEN
        r.needs := ARRAY(SELECT DISTINCT x FROM unnest(CASE WHEN pe.id IS NOT NULL THEN pe.needs
                                                            ELSE ARRAY(SELECT n FROM unnest(c.needs) n WHERE n !~ '^diet:') END
                                                       || coalesce(rs_p_caps(p, 'needs'), '{}')) x ORDER BY x);
    END IF;
    r.wishes := coalesce(pe.wishes, c.needs) || coalesce(rs_p_caps(p, 'wishes'), '{}');
    IF cardinality(r.wishes) > 0 THEN
        r.wishes := ARRAY(SELECT DISTINCT x FROM unnest(coalesce(pe.wishes, ARRAY(SELECT n FROM unnest(c.needs) n WHERE n ~ '^diet:'))
                                                        || coalesce(rs_p_caps(p, 'wishes'), '{}')) x
                           WHERE NOT x = ANY (r.needs) ORDER BY x);
    END IF;
    -- Someone who does not speak English needs a worker who speaks their
    -- first language.
    r.language := coalesce(rs_p_text(p, 'language'),
                           CASE WHEN cardinality(pe.languages) > 0 AND NOT 'en' = ANY (pe.languages)
                                THEN pe.languages[1] END);
    IF r.language IS NOT NULL AND NOT EXISTS (SELECT 1 FROM capability WHERE code = 'lang:' || r.language) THEN
        PERFORM rs_bad_param('language', 'unknown language ' || r.language || ' (ISO 639-1 code)');
    END IF;
    r.gender := rs_p_enum(p, 'gender');
    r.lat := CASE WHEN pe.id IS NOT NULL THEN pe.lat ELSE c.lat END;
    r.lon := CASE WHEN pe.id IS NOT NULL THEN pe.lon ELSE c.lon END;
    r.radius_km := coalesce(rs_p_num(p, 'radius_km'), 50);
    r.pay_from := rs_p_ids(p, 'pay_from');
    r.self_fund := coalesce(rs_p_bool(p, 'self_fund_remainder'), false);
    r.override_reason := rs_p_text(p, 'override_reason');
    IF r.override_reason IS NOT NULL AND NOT ctx->>'role' IN ('coordinator', 'admin') THEN
        PERFORM rs_raise('forbidden', 'only a coordinator may override the 28-night rule',
                         jsonb_build_object('field', 'override_reason'));
    END IF;
    r.notes := rs_p_text(p, 'notes');
    r.actor_id := (ctx->>'user_id')::bigint;
    r.actor_role := ctx->>'role';
    r.request := jsonb_strip_nulls(jsonb_build_object(
        'carer_id', r.carer_id, 'person_id', r.person_id, 'subject', r.subject,
        'break_kind', r.break_kind, 'kinds', to_jsonb(r.kinds),
        'from', lower(r.nights), 'to', upper(r.nights),
        'start', rs_ts_text(lower(r.span)), 'end', rs_ts_text(upper(r.span)),
        'needs', to_jsonb(r.needs), 'language', r.language, 'gender', r.gender,
        'supply_id', r.supply_id, 'session_id', r.session_id,
        'on_behalf', r.actor_role <> 'carer'));
    RETURN r;
END $$;

-- Every mutating booking call locks the family first: the carer, then the
-- cared-for person (a person with several carers is shared between
-- families, so their row is the lock that covers them all).
-- (One statement for both: the rows are locked in the order of the FROM
-- list, carer then person.)
CREATE FUNCTION rs_lock_family(cid bigint, pid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF pid IS NULL THEN
        PERFORM 1 FROM carer WHERE id = cid FOR NO KEY UPDATE;
    ELSE
        PERFORM 1 FROM carer c, person pe WHERE c.id = cid AND pe.id = pid FOR NO KEY UPDATE OF c, pe;
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- Shape and price of a booking of one piece of supply

CREATE FUNCTION rs_hour_cost(price int, unit price_unit, minutes int, attrs jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    -- "Per hour with a minimum": attrs.min_charge_minutes, when the
    -- provider's price list has one.
    SELECT rs_cost_pence(price, unit, NULL,
                         greatest(minutes, coalesce((attrs->>'min_charge_minutes')::int, 0)))
$$;

-- The offer session a request takes: the one named, or the first on the
-- requested day(s) with enough seats left.
CREATE FUNCTION rs_pick_session(r booking_req, s supply) RETURNS offer_session
LANGUAGE plpgsql STABLE AS $$
DECLARE
    os offer_session;
BEGIN
    IF r.session_id IS NOT NULL THEN
        SELECT * INTO os FROM offer_session WHERE id = r.session_id AND supply_id = s.id;
        IF NOT FOUND THEN
            PERFORM rs_raise('not_found', 'no such session of this offer',
                             jsonb_build_object('session_id', r.session_id, 'supply_id', s.id));
        END IF;
        IF os.day < rs_today() OR os.starts_at <= now() THEN
            PERFORM rs_bad_param('session_id', 'this session is in the past');
        END IF;
        IF (r.nights IS NOT NULL AND NOT os.day <@ r.nights)
           OR (r.span IS NOT NULL AND os.day <> rs_local_day(lower(r.span))) THEN
            PERFORM rs_bad_param('session_id', 'this session is not in the requested window');
        END IF;
        RETURN os;
    END IF;
    SELECT * INTO os FROM offer_session x
     WHERE x.supply_id = s.id AND x.booked + r.seats <= x.quantity
       AND x.day >= rs_today() AND (x.starts_at IS NULL OR x.starts_at > now())
       AND (s.expires IS NULL OR x.day <= s.expires)
       AND CASE WHEN r.nights IS NOT NULL THEN x.day <@ r.nights
                ELSE x.day = rs_local_day(lower(r.span))
                     AND (x.starts_at IS NULL OR x.starts_at <@ r.span) END
     ORDER BY x.day, x.starts_at NULLS FIRST, x.id LIMIT 1;
    RETURN os;      -- all NULL when none is left
END $$;

CREATE FUNCTION rs_booking_shape(r booking_req, s supply) RETURNS booking_shape
LANGUAGE plpgsql STABLE AS $$
DECLARE
    sh booking_shape;
    os offer_session;
BEGIN
    sh.price_pence := s.price_pence;
    sh.price_unit := s.price_unit;
    sh.value_pence := 0;
    IF s.kind = 'bed' OR (s.kind = 'household' AND r.nights IS NOT NULL) THEN
        IF r.nights IS NULL THEN
            PERFORM rs_bad_param('from', 'a bed is booked by the night: give from and to');
        END IF;
        sh.mode := 'stay';
        sh.nights := r.nights;
        sh.span := rs_stay_span(r.nights);
        sh.unit_kinds := CASE s.kind WHEN 'bed' THEN ARRAY['bed'] ELSE ARRAY['room'] END::unit_kind[];
        sh.quantity := upper(r.nights) - lower(r.nights);
        sh.qty_unit := 'nights';
        sh.cost_pence := rs_cost_pence(s.price_pence, s.price_unit, sh.quantity::int, NULL);
        sh.days := r.nights;
    ELSIF s.kind IN ('worker', 'household') THEN
        IF r.span IS NULL THEN
            PERFORM rs_bad_param('start', 'sitting and day support are booked by the visit: give start and end');
        END IF;
        sh.span := r.span;
        sh.minutes := ceil(extract(epoch FROM upper(r.span) - lower(r.span)) / 60);
        sh.quantity := sh.minutes;
        sh.qty_unit := 'minutes';
        IF s.kind = 'worker' THEN
            sh.mode := 'visit';
            sh.unit_kinds := ARRAY['worker']::unit_kind[];
            sh.alloc_span := tstzrange(lower(r.span), upper(r.span) + make_interval(mins => s.travel_buffer_minutes));
            sh.cost_pence := rs_hour_cost(s.price_pence, s.price_unit, sh.minutes, s.attrs);
        ELSE
            IF s.day_places = 0 THEN
                PERFORM rs_bad_param('start', 'this Shared Lives carer offers short stays only: give from and to');
            END IF;
            sh.mode := 'day';
            sh.unit_kinds := ARRAY['day']::unit_kind[];
            sh.alloc_span := r.span;
            sh.price_pence := s.day_price_pence;
            sh.price_unit := s.day_price_unit;
            sh.cost_pence := rs_hour_cost(s.day_price_pence, s.day_price_unit, sh.minutes, s.attrs);
        END IF;
        sh.days := daterange(rs_local_day(lower(r.span)), rs_local_day(upper(r.span) - interval '1 microsecond') + 1);
    ELSE
        os := rs_pick_session(r, s);
        sh.mode := 'session';
        sh.session_id := os.id;
        IF os.id IS NOT NULL THEN
            sh.span := CASE WHEN os.starts_at IS NOT NULL
                                THEN tstzrange(os.starts_at, os.starts_at + make_interval(mins => coalesce(s.duration_minutes, 120)))
                            WHEN s.offer_type = 'overnight_stay' THEN rs_stay_span(daterange(os.day, os.day + 1))
                            ELSE tstzrange(rs_midnight(os.day), rs_midnight(os.day + 1)) END;
            sh.days := daterange(os.day, os.day + 1);
        END IF;
        sh.quantity := 0;
        sh.cost_pence := rs_cost_pence(s.price_pence, s.price_unit, 1, NULL) * r.seats;
    END IF;
    -- Free supply is donated: it costs the family nothing, and the ledger
    -- records its stated value (attrs.value_pence) so usage can be reported.
    sh.donated := sh.price_pence = 0;
    IF sh.donated THEN
        sh.value_pence := coalesce((s.attrs->>'value_pence')::bigint, 0) * CASE WHEN sh.mode = 'session' THEN r.seats ELSE 1 END;
        sh.cost_pence := 0;
    END IF;
    sh.first_day := coalesce(lower(sh.nights), rs_local_day(lower(sh.span)));
    RETURN sh;
END $$;
