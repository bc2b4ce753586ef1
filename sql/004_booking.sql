-- 004 bookings: the booking lifecycle, the rules the engine enforces, and
-- how a booking takes capacity (002) and budget (003) in one transaction.
--
-- Lifecycle: booking.quote (options, each with its cost and who pays) ->
-- booking.hold (capacity and budget reserved; the hold lapses after
-- hold_ttl_s, 15 minutes by default) -> booking.confirm -> completed,
-- cancelled by the carer or the provider, or no-show. All status changes go
-- through rs_booking_move(), which checks booking_transition, moves the
-- money and capacity that follow from the change and writes a
-- booking_event row (the outbox live events will read).
--
-- How "never double-booked" is enforced, in layers:
--  1. Family lock: every mutating booking call first locks the carer row
--     and the cared-for person's row (carer first). Rules that read several
--     rows - a person in two breaks at once, 28 consecutive nights, one
--     offer per quarter, budget balances - are then checked with no other
--     transaction of the family able to change their inputs.
--     Serialising locks here are FOR NO KEY UPDATE, never FOR UPDATE: they
--     exclude each other but not the FOR KEY SHARE locks of foreign-key
--     checks, which PostgreSQL repeats when a transaction updates a row it
--     has already updated (an account moved twice re-checks its carer):
--     with FOR UPDATE, the janitor (no family lock) and a family's
--     transaction could wait on each other.
--  2. Capacity: a bed, worker or Shared Lives room/day place is taken by
--     inserting an allocation row; 002's EXCLUDE constraints (unit_id =,
--     range &&, WHERE active) refuse an overlap whatever the function
--     checked before. A transaction that loses the race gets 23P01, caught
--     per unit, and tries the next free unit of the supply or answers
--     no_capacity. A worker's allocation spans the visit plus the travel
--     buffer, so the buffer is kept. Offer seats are taken by a conditional
--     UPDATE (booked + n <= quantity) and a CHECK backs it.
--  3. People: booking has EXCLUDE USING gist (person_id =, span &&) over
--     active replacement-care bookings: a cared-for person is never in two
--     breaks at once.
--  4. Money: 003's account CHECK (no balance below zero unless the source
--     allows it) and conditional debits.
-- Lock order, everywhere: family rows, supply (FOR SHARE, 002's contract
-- with availability.withdraw), capacity (allocations, offer sessions),
-- then accounts in id order (rs_lock_accounts). The janitor takes no
-- family lock but keeps the same order (capacity, then accounts sorted),
-- so no two transactions wait on each other in a cycle.
--
-- Time: instants are timestamptz (UTC); nights and days are London dates.
-- A stay of nights [from, to) occupies from 14:00 on `from` to 11:00 on
-- `to`, London time, so back-to-back stays and a morning sit on the day of
-- departure are told apart correctly. Minutes of care are measured between
-- instants, so an overnight sit across a clock change is charged the hours
-- actually worked: 7 on the night the clocks go forward, 9 on the night
-- they go back, for a 22:00-06:00 sit.

-- ---------------------------------------------------------------------------
-- Types and tables

CREATE TYPE booking_status AS ENUM ('requested', 'held', 'confirmed', 'in_progress', 'completed',
    'cancelled_by_carer', 'cancelled_by_provider', 'no_show', 'expired');
CREATE TYPE break_kind AS ENUM ('planned', 'contingency', 'emergency');

-- The allowed status changes, as data. requested -> ... is for bookings a
-- partner confirms by a deadline (the next issue); in_progress for visits
-- that check in.
CREATE TABLE booking_transition (
    from_status booking_status NOT NULL,
    to_status   booking_status NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO booking_transition (from_status, to_status) VALUES
    ('requested', 'held'), ('requested', 'confirmed'), ('requested', 'cancelled_by_carer'),
    ('requested', 'cancelled_by_provider'), ('requested', 'expired'),
    ('held', 'confirmed'), ('held', 'cancelled_by_carer'), ('held', 'cancelled_by_provider'),
    ('held', 'expired'),
    ('confirmed', 'in_progress'), ('confirmed', 'completed'), ('confirmed', 'cancelled_by_carer'),
    ('confirmed', 'cancelled_by_provider'), ('confirmed', 'no_show'),
    ('in_progress', 'completed');

CREATE TABLE booking (
    id                  bigserial PRIMARY KEY,
    authority_id        bigint NOT NULL REFERENCES authority(id),
    carer_id            bigint NOT NULL REFERENCES carer(id),
    -- The cared-for person receiving replacement care; NULL for a break
    -- the carer takes themselves (a hotel or leisure offer).
    person_id           bigint REFERENCES person(id),
    subject             text NOT NULL CHECK (subject IN ('person', 'carer')),
    break_kind          break_kind NOT NULL,
    status              booking_status NOT NULL,
    supply_id           bigint NOT NULL REFERENCES supply(id),
    provider_id         bigint NOT NULL REFERENCES provider(id),
    kind                supply_kind NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('stay', 'visit', 'day', 'session')),
    nights              daterange,                  -- stays
    -- The time the break occupies (see the header for stays); a visit
    -- without the worker's travel buffer.
    span                tstzrange NOT NULL,
    first_day           date NOT NULL,              -- London date the break starts
    minutes             int,                        -- visits and day support
    session_id          bigint REFERENCES offer_session(id),
    seats               int,
    price_pence         int NOT NULL,
    price_unit          price_unit NOT NULL,
    -- What budgets pay, and for a donated offer its stated value (the
    -- ledger records it; the family pays nothing).
    cost_pence          bigint NOT NULL CHECK (cost_pence >= 0),
    value_pence         bigint NOT NULL DEFAULT 0 CHECK (value_pence >= 0),
    donated             boolean NOT NULL DEFAULT false,
    actual_cost_pence   bigint CHECK (actual_cost_pence >= 0),
    actual_minutes      int,
    -- A hold (or a request) lapses at expires_at unless confirmed.
    expires_at          timestamptz,
    override_reason     text,
    override_by         bigint REFERENCES app_user(id),
    created_by          bigint NOT NULL REFERENCES app_user(id),
    on_behalf           boolean NOT NULL,           -- staff booked for the carer
    request             jsonb NOT NULL,             -- the request as made
    warnings            jsonb NOT NULL DEFAULT '[]',
    notes               text,
    cancel_reason       text,
    liked               boolean,
    feedback            text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    confirmed_at        timestamptz,
    completed_at        timestamptz,
    cancelled_at        timestamptz,
    CHECK ((subject = 'person') = (person_id IS NOT NULL)),
    CHECK ((subject = 'carer') = (kind = 'offer')),
    CHECK ((mode = 'stay') = (nights IS NOT NULL)),
    CHECK ((mode = 'session') = (session_id IS NOT NULL)),
    CHECK (status NOT IN ('held', 'requested') OR expires_at IS NOT NULL),
    CHECK (override_reason IS NULL OR override_by IS NOT NULL),
    -- A cared-for person is never in two breaks at once.
    CONSTRAINT booking_person_once EXCLUDE USING gist (person_id WITH =, span WITH &&)
        WHERE (subject = 'person' AND status IN ('requested', 'held', 'confirmed', 'in_progress'))
);
CREATE INDEX booking_carer ON booking (carer_id, first_day);
CREATE INDEX booking_person ON booking (person_id, first_day) WHERE person_id IS NOT NULL;
CREATE INDEX booking_provider ON booking (provider_id, first_day);
CREATE INDEX booking_supply ON booking (supply_id, first_day);
CREATE INDEX booking_lapsing ON booking (expires_at) WHERE status IN ('held', 'requested');

ALTER TABLE allocation ADD CONSTRAINT allocation_booking_fk
    FOREIGN KEY (booking_id) REFERENCES booking(id);
ALTER TABLE offer_allocation ADD CONSTRAINT offer_allocation_booking_fk
    FOREIGN KEY (booking_id) REFERENCES booking(id);
ALTER TABLE ledger_transfer ADD CONSTRAINT ledger_transfer_booking_fk
    FOREIGN KEY (booking_id) REFERENCES booking(id);

-- Every status change, in commit order per booking. The outbox for live
-- events and the audit trail of who did what on whose behalf.
CREATE TABLE booking_event (
    id              bigserial PRIMARY KEY,
    booking_id      bigint NOT NULL REFERENCES booking(id),
    at              timestamptz NOT NULL DEFAULT now(),
    actor_user_id   bigint REFERENCES app_user(id),     -- NULL: the janitor
    from_status     booking_status,
    to_status       booking_status NOT NULL,
    reason          text,
    data            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX booking_event_booking ON booking_event (booking_id, id);

-- Scheme-wide conditions on hotel and leisure offers, e.g. "one hotel
-- break per carer per calendar year" (offer_type overnight_stay, per year,
-- max 1). Per-offer conditions live in supply.conditions (002).
CREATE TABLE scheme_rule (
    id              bigserial PRIMARY KEY,
    authority_id    bigint NOT NULL REFERENCES authority(id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    offer_type      text CHECK (offer_type IN ('overnight_stay', 'theatre', 'meal', 'spa',
                                               'sport', 'day_activity')),    -- NULL: any offer
    per             text NOT NULL CHECK (per IN ('month', 'quarter', 'year')),
    max             int NOT NULL CHECK (max BETWEEN 1 AND 100),
    UNIQUE NULLS NOT DISTINCT (authority_id, offer_type, per)
);

-- A booking request, parsed and checked once (rs_booking_req) and passed
-- to the functions below.
CREATE TYPE booking_req AS (
    carer_id        bigint,
    person_id       bigint,
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

CREATE FUNCTION rs_local_day(t timestamptz) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (t AT TIME ZONE 'Europe/London')::date $$;

-- A stay of nights [from, to): 14:00 on arrival to 11:00 on departure.
CREATE FUNCTION rs_stay_span(n daterange) RETURNS tstzrange
LANGUAGE sql STABLE AS $$
    SELECT tstzrange(rs_local_instant(lower(n), '14:00', 'from'), rs_local_instant(upper(n), '11:00', 'to'))
$$;

-- Distance between two points, equirectangular: within 0.1% of the great
-- circle at the scale of a county.
CREATE FUNCTION rs_booking_km(lat1 float8, lon1 float8, lat2 float8, lon2 float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 6371.0 * sqrt(power(radians(lat2 - lat1), 2)
                         + power(radians(lon2 - lon1) * cos(radians((lat1 + lat2) / 2)), 2))
$$;

CREATE FUNCTION rs_amount_text(amount bigint, u ledger_unit) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE u WHEN 'pence' THEN rs_money_text(amount)
                  WHEN 'nights' THEN amount || CASE WHEN amount = 1 THEN ' night' ELSE ' nights' END
                  ELSE CASE WHEN amount % 60 = 0 THEN (amount / 60) || ' h'
                            WHEN amount < 60 THEN amount || ' min'
                            ELSE (amount / 60) || ' h ' || (amount % 60) || ' min' END END
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
        PERFORM rs_p_required(p, 'from'), rs_p_required(p, 'to');
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
            PERFORM rs_p_required(p, 'start'), rs_p_required(p, 'end');
            s := rs_p_ts(p, 'start');
            e := rs_p_ts(p, 'end');
            first := 'start';
        ELSE
            PERFORM rs_p_required(p, 'date'), rs_p_required(p, 'start_time'), rs_p_required(p, 'end_time');
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
    cid bigint := rs_p_int(p, 'carer_id', 1, 9223372036854775807);
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
    pid bigint := rs_p_int(p, 'person_id', 1, 9223372036854775807);
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
    r.authority_id := c.authority_id;
    r.subject := CASE WHEN pe.id IS NOT NULL THEN 'person' ELSE 'carer' END;
    r.break_kind := coalesce(rs_p_enum(p, 'break_kind', ARRAY['planned', 'contingency', 'emergency']), 'planned');
    w := rs_p_break_window(p);
    r.nights := w.nights;
    r.span := w.span;
    r.supply_id := rs_p_int(p, 'supply_id', 1, 9223372036854775807);
    r.session_id := rs_p_int(p, 'session_id', 1, 9223372036854775807);
    r.seats := coalesce(rs_p_int(p, 'seats', 1, 10), 1);
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
    r.needs := ARRAY(SELECT DISTINCT x FROM unnest(CASE WHEN pe.id IS NOT NULL THEN pe.needs
                                                        ELSE ARRAY(SELECT n FROM unnest(c.needs) n WHERE n !~ '^diet:') END
                                                   || coalesce(rs_p_caps(p, 'needs'), '{}')) x ORDER BY x);
    r.wishes := ARRAY(SELECT DISTINCT x FROM unnest(coalesce(pe.wishes, ARRAY(SELECT n FROM unnest(c.needs) n WHERE n ~ '^diet:'))
                                                    || coalesce(rs_p_caps(p, 'wishes'), '{}')) x
                       WHERE NOT x = ANY (r.needs) ORDER BY x);
    -- Someone who does not speak English needs a worker who speaks their
    -- first language.
    r.language := coalesce(rs_p_text(p, 'language', 3),
                           CASE WHEN cardinality(pe.languages) > 0 AND NOT 'en' = ANY (pe.languages)
                                THEN pe.languages[1] END);
    IF r.language IS NOT NULL AND NOT EXISTS (SELECT 1 FROM capability WHERE code = 'lang:' || r.language) THEN
        PERFORM rs_bad_param('language', 'unknown language ' || r.language || ' (ISO 639-1 code)');
    END IF;
    r.gender := rs_p_enum(p, 'gender', ARRAY['female', 'male']);
    r.lat := CASE WHEN pe.id IS NOT NULL THEN pe.lat ELSE c.lat END;
    r.lon := CASE WHEN pe.id IS NOT NULL THEN pe.lon ELSE c.lon END;
    r.radius_km := coalesce(rs_p_num(p, 'radius_km', 0.1, 200), 50);
    r.pay_from := rs_p_ids(p, 'pay_from', 10);
    r.self_fund := coalesce(rs_p_bool(p, 'self_fund_remainder'), false);
    r.override_reason := rs_p_text(p, 'override_reason', 500);
    IF r.override_reason IS NOT NULL AND NOT ctx->>'role' IN ('coordinator', 'admin') THEN
        PERFORM rs_raise('forbidden', 'only a coordinator may override the 28-night rule',
                         jsonb_build_object('field', 'override_reason'));
    END IF;
    r.notes := rs_p_text(p, 'notes', 2000);
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
CREATE FUNCTION rs_lock_family(cid bigint, pid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM carer WHERE id = cid FOR NO KEY UPDATE;
    IF pid IS NOT NULL THEN
        PERFORM 1 FROM person WHERE id = pid FOR NO KEY UPDATE;
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

-- ---------------------------------------------------------------------------
-- Who pays: the payment plan

-- Why an entitlement cannot pay for this break, or NULL when it can, with
-- a category: inactive, charging_rule, unit, kind, validity, bank_holiday.
-- When no entitlement may pay at all the refusal is condition_not_met;
-- when some may but have too little left, budget_exceeded.
CREATE FUNCTION rs_entitlement_refusal(e entitlement, r booking_req, s supply, sh booking_shape)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    bh bank_holiday;
BEGIN
    IF NOT e.active THEN
        RETURN jsonb_build_object('category', 'inactive', 'why', 'no longer active');
    END IF;
    IF NOT rs_source_pays(e.source, r.subject, r.break_kind) THEN
        RETURN jsonb_build_object('category', 'charging_rule', 'why', CASE
            WHEN e.source = 'emergency_fund' THEN 'pays for emergency replacement care only'
            WHEN r.subject = 'person' THEN 'pays for the carer''s own breaks, not replacement care (charged to the cared-for person or the council)'
            ELSE 'pays for replacement care, not the carer''s own breaks' END);
    END IF;
    IF e.unit = 'minutes' AND sh.qty_unit IS DISTINCT FROM 'minutes' THEN
        RETURN jsonb_build_object('category', 'unit', 'why', 'counts hours of care; this break is not counted in hours');
    END IF;
    IF e.unit = 'nights' AND sh.qty_unit IS DISTINCT FROM 'nights' THEN
        RETURN jsonb_build_object('category', 'unit', 'why', 'counts nights; this break is not a stay');
    END IF;
    IF e.kinds IS NOT NULL AND NOT s.kind = ANY (e.kinds) THEN
        RETURN jsonb_build_object('category', 'kind', 'why', 'pays for ' || array_to_string(e.kinds, ', ') || ' only');
    END IF;
    IF lower(sh.days) < e.valid_from OR (e.valid_to IS NOT NULL AND upper(sh.days) > e.valid_to) THEN
        RETURN jsonb_build_object('category', 'validity', 'why',
            format('valid from %s%s', e.valid_from, coalesce(' to ' || (e.valid_to - 1), '')));
    END IF;
    IF e.exclude_bank_holidays THEN
        SELECT * INTO bh FROM bank_holiday WHERE day <@ sh.days ORDER BY day LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('category', 'bank_holiday', 'day', bh.day, 'why',
                format('cannot be used on bank holidays (%s, %s)', bh.name, bh.day));
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- One leg's share of a break: how much of what is left to pay (rem_p
-- pence, rem_q minutes or nights) a source with `cap` left in `u` can take,
-- for a break costing `cost` pence for `qty` minutes or nights in all.
-- A pence leg pays money, and what remains of the care shrinks with it; a
-- minutes or nights leg pays care and covers the matching share of the
-- cost, but never all of it while care is left unpaid.
CREATE FUNCTION rs_fill(u ledger_unit, cap bigint, cost bigint, qty bigint,
                        INOUT rem_p bigint, INOUT rem_q bigint, OUT take bigint, OUT covers bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF u = 'pence' THEN
        take := least(cap, rem_p);
        covers := take;
        rem_p := rem_p - take;
        rem_q := CASE WHEN cost > 0 THEN ceil(coalesce(qty, 0)::numeric * rem_p / cost) ELSE 0 END;
    ELSE
        take := least(cap, rem_q);
        covers := CASE WHEN take = rem_q THEN rem_p
                       ELSE least(floor(cost::numeric * take / qty)::bigint, greatest(rem_p - 1, 0)) END;
        rem_q := rem_q - take;
        rem_p := rem_p - covers;
    END IF;
END $$;

-- Splits `cost` pence and `qty` minutes or nights of a break across the
-- family's entitlements: in pay_from order when given, else by priority.
-- A pence leg pays money; a minutes or nights leg pays care and covers the
-- matching share of the cost. With materialise, period accounts are opened
-- and balances read from the ledger (hold); without, nothing is written
-- (quote). Returns {ok, legs, skipped, shortfall_pence, reason, message}.
CREATE FUNCTION rs_plan_payment(r booking_req, s supply, sh booking_shape, cost bigint, qty bigint,
                                materialise boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e entitlement;
    rem_p bigint := cost;
    rem_q bigint := coalesce(qty, 0);
    legs jsonb := '[]';
    skipped jsonb := '[]';
    why jsonb;
    acct bigint;
    avail bigint;
    take bigint;
    covers bigint;
    f record;
    usable int := 0;
    bad bigint;
BEGIN
    IF sh.donated THEN
        RETURN jsonb_build_object('ok', true, 'skipped', '[]'::jsonb, 'legs', jsonb_build_array(jsonb_build_object(
            'kind', 'donation', 'source', 'donated', 'name', 'Donated by the provider',
            'unit', 'pence', 'amount', sh.value_pence, 'covers_pence', 0)));
    END IF;
    SELECT i INTO bad FROM unnest(r.pay_from) i
     WHERE NOT EXISTS (SELECT 1 FROM entitlement x WHERE x.id = i
                         AND (x.carer_id = r.carer_id OR x.person_id = r.person_id)) LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM rs_bad_param('pay_from', format('entitlement %s is not this family''s', bad));
    END IF;
    -- Before touching their accounts, the family's entitlement rows are
    -- locked: the janitor pays ongoing entitlements in only under that
    -- lock, so it and a booking never hold each other's accounts.
    IF materialise THEN
        PERFORM 1 FROM entitlement x WHERE x.carer_id = r.carer_id OR x.person_id = r.person_id
         ORDER BY x.id FOR NO KEY UPDATE;
    END IF;
    FOR e IN SELECT * FROM entitlement x
              WHERE (x.carer_id = r.carer_id OR x.person_id = r.person_id)
                AND (r.pay_from IS NULL OR x.id = ANY (r.pay_from))
              ORDER BY CASE WHEN r.pay_from IS NULL THEN x.priority ELSE array_position(r.pay_from, x.id) END, x.id LOOP
        EXIT WHEN rem_p = 0 AND rem_q = 0;
        why := rs_entitlement_refusal(e, r, s, sh);
        IF why IS NOT NULL THEN
            skipped := skipped || (why || jsonb_build_object('entitlement_id', e.id, 'name', e.name));
            CONTINUE;
        END IF;
        usable := usable + 1;
        acct := rs_entitlement_account(e, sh.first_day, materialise);
        avail := CASE WHEN e.allow_overdraw THEN 9223372036854775807
                      WHEN materialise THEN (SELECT rs_available(a) FROM account a WHERE a.id = acct)
                      ELSE rs_entitlement_available(e, sh.first_day) END;
        IF coalesce(avail, 0) <= 0 THEN
            skipped := skipped || jsonb_build_object('entitlement_id', e.id, 'name', e.name,
                'category', 'empty', 'why', CASE WHEN e.rule = 'recurring'
                    THEN format('nothing left for the %s of %s', e.period, lower(rs_period(e.period, sh.first_day)))
                    ELSE 'nothing left' END);
            CONTINUE;
        END IF;
        SELECT * INTO f FROM rs_fill(e.unit, avail, cost, qty, rem_p, rem_q);
        rem_p := f.rem_p;
        rem_q := f.rem_q;
        take := f.take;
        covers := f.covers;
        IF take > 0 OR covers > 0 THEN
            legs := legs || jsonb_build_object('kind', 'charge', 'entitlement_id', e.id, 'name', e.name,
                'source', e.source, 'unit', e.unit, 'amount', take, 'covers_pence', covers,
                'account_id', acct,
                'period', CASE WHEN e.rule = 'recurring' THEN rs_period(e.period, sh.first_day)::text END);
        END IF;
    END LOOP;
    IF rem_p > 0 OR rem_q > 0 THEN
        IF r.self_fund AND rem_p > 0 THEN
            legs := legs || jsonb_build_object('kind', 'charge', 'source', 'self_funded',
                'name', 'Paid by the family', 'unit', 'pence', 'amount', rem_p, 'covers_pence', rem_p);
            rem_p := 0;
            rem_q := 0;
        ELSE
            RETURN jsonb_build_object('ok', false, 'legs', legs, 'skipped', skipped,
                'shortfall_pence', rem_p, 'shortfall', rem_q,
                'reason', CASE WHEN usable = 0 AND jsonb_array_length(skipped) > 0
                               THEN 'condition_not_met' ELSE 'budget_exceeded' END,
                'message', CASE WHEN usable = 0 AND jsonb_array_length(skipped) > 0
                                THEN 'no budget of the family may pay for this break: '
                                     || (SELECT string_agg((x->>'name') || ' ' || (x->>'why'), '; ')
                                           FROM jsonb_array_elements(skipped) x)
                                ELSE format('not enough budget left: %s short', rs_money_text(rem_p)) END);
        END IF;
    END IF;
    RETURN jsonb_build_object('ok', true, 'legs', legs, 'skipped', skipped);
END $$;

-- ---------------------------------------------------------------------------
-- The rules

-- Consecutive nights of residential respite (beds) for a person if `n`
-- were added: stays that overlap or touch `n` (back-to-back) are merged
-- with it. Shared Lives stays do not count: the person stays in an
-- approved carer's family home, not a registered care home, and 28 days
-- there do not make it a permanent residence.
CREATE FUNCTION rs_residential_nights(pid bigint, n daterange, exclude bigint DEFAULT NULL) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(upper(x) - lower(x)), 0)
      FROM unnest((SELECT coalesce(range_agg(b.nights), '{}'::datemultirange)
                     FROM booking b
                    WHERE b.person_id = pid AND b.kind = 'bed'
                      AND b.id IS DISTINCT FROM exclude
                      AND (rs_booking_live(b.status, b.expires_at) OR b.status = 'completed')
                      AND b.nights && daterange(lower(n) - 400, upper(n) + 400))
                  + datemultirange(n)) x
     WHERE x @> n
$$;

-- Bookings of the same carer that count against an offer or scheme limit.
CREATE FUNCTION rs_offer_uses(cid bigint, per daterange, sid bigint, otype text, auth bigint)
RETURNS bigint[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(b.id ORDER BY b.id), '{}')
      FROM booking b JOIN supply o ON o.id = b.supply_id
     WHERE b.carer_id = cid AND b.kind = 'offer' AND b.authority_id = auth
       AND b.first_day <@ per
       AND (sid IS NULL OR b.supply_id = sid)
       AND (otype IS NULL OR o.offer_type = otype)
       AND (rs_booking_live(b.status, b.expires_at) OR b.status IN ('completed', 'no_show'))
$$;

-- Offer conditions (supply.conditions) and scheme rules: a refusal
-- object, or NULL.
CREATE FUNCTION rs_offer_refusal(r booking_req, s supply, sh booking_shape) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o supply := s;
    per daterange;
    used bigint[];
    rule scheme_rule;
BEGIN
    IF o.conditions ? 'per_carer_per' THEN
        per := rs_period(o.conditions->>'per_carer_per', sh.first_day);
        used := rs_offer_uses(r.carer_id, per, s.id, NULL, r.authority_id);
        IF cardinality(used) >= (o.conditions->>'max')::int THEN
            RETURN jsonb_build_object('reason', 'condition_not_met', 'condition', 'offer',
                'message', format('this offer allows %s per carer per %s; already booked: %s',
                                  o.conditions->>'max', o.conditions->>'per_carer_per', cardinality(used)),
                'per', o.conditions->>'per_carer_per', 'max', (o.conditions->>'max')::int,
                'period', per::text, 'bookings', to_jsonb(used));
        END IF;
    END IF;
    FOR rule IN SELECT * FROM scheme_rule
                 WHERE authority_id = r.authority_id AND (offer_type IS NULL OR offer_type = o.offer_type)
                 ORDER BY id LOOP
        per := rs_period(rule.per, sh.first_day);
        used := rs_offer_uses(r.carer_id, per, NULL, rule.offer_type, r.authority_id);
        IF cardinality(used) >= rule.max THEN
            RETURN jsonb_build_object('reason', 'condition_not_met', 'condition', 'scheme',
                'message', format('%s: %s per carer per %s; already booked: %s',
                                  rule.name, rule.max, rule.per, cardinality(used)),
                'scheme_rule_id', rule.id, 'per', rule.per, 'max', rule.max,
                'period', per::text, 'bookings', to_jsonb(used));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Whether a piece of supply can serve the request at all (needs,
-- language, gender, distance, visit length): a no_match refusal object,
-- or NULL. Capacity is checked when taken.
CREATE FUNCTION rs_supply_refusal(r booking_req, s supply, sh booking_shape) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing text[];
    w supply := s;
    km float8;
BEGIN
    IF NOT s.active OR NOT EXISTS (SELECT 1 FROM provider WHERE id = s.provider_id AND active) THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'this supply is not in service');
    END IF;
    IF s.emergency_only AND r.break_kind <> 'emergency' THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'this supply is kept for emergencies');
    END IF;
    missing := ARRAY(SELECT x FROM unnest(r.needs || CASE WHEN r.language IS NOT NULL AND r.subject = 'person'
                                                          THEN ARRAY['lang:' || r.language] ELSE '{}' END) x
                      WHERE NOT x = ANY (s.capabilities) ORDER BY x);
    IF cardinality(missing) > 0 THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'does not meet: ' || array_to_string(missing, ', '),
                                  'missing', to_jsonb(missing));
    END IF;
    IF s.kind = 'worker' THEN
        IF r.gender IS NOT NULL AND w.gender IS DISTINCT FROM r.gender THEN
            RETURN jsonb_build_object('reason', 'no_match', 'message', 'not a ' || r.gender || ' worker');
        END IF;
        IF sh.minutes NOT BETWEEN w.min_visit_minutes AND w.max_visit_minutes THEN
            RETURN jsonb_build_object('reason', 'no_match', 'message',
                format('this worker takes visits of %s to %s minutes', w.min_visit_minutes, w.max_visit_minutes));
        END IF;
        IF r.lat IS NOT NULL THEN
            km := rs_booking_km(r.lat, r.lon, s.lat, s.lon);
            IF km > w.travel_radius_km THEN
                RETURN jsonb_build_object('reason', 'no_match', 'message',
                    format('%s km away, beyond the worker''s %s km', round(km::numeric, 1), w.travel_radius_km));
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The rules on the family's side: consent, one break at a time, 28
-- consecutive nights, offer conditions. Returns {warnings, refusal}.
CREATE FUNCTION rs_rules_check(r booking_req, s supply, sh booking_shape, exclude bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    warnings jsonb := '[]';
    pe person;
    busy bigint[];
    n int;
    offer jsonb;
BEGIN
    IF r.subject = 'person' THEN
        SELECT * INTO pe FROM person WHERE id = r.person_id;
        IF pe.consent NOT IN ('given', 'best_interests') THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                'reason', 'condition_not_met', 'condition', 'consent', 'consent', pe.consent,
                'message', 'replacement care is a service to the cared-for person: their consent (or a best-interests decision) must be recorded first'));
        END IF;
        busy := ARRAY(SELECT b.id FROM booking b
                       WHERE b.person_id = r.person_id AND b.subject = 'person' AND b.span && sh.span
                         AND b.id IS DISTINCT FROM exclude
                         -- the exclusion constraint's own predicate, so its gist
                         -- index answers alone (without it the planner ORed in a
                         -- scan of every lapsing hold in the database)
                         AND b.status IN ('requested', 'held', 'confirmed', 'in_progress')
                         AND rs_booking_live(b.status, b.expires_at) ORDER BY b.id);
        IF cardinality(busy) > 0 THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                'reason', 'conflict', 'condition', 'person_busy', 'bookings', to_jsonb(busy),
                'message', 'the person already has a break at that time'));
        END IF;
        IF s.kind = 'bed' THEN
            n := rs_residential_nights(r.person_id, sh.nights, exclude);
            IF n > 28 AND r.override_reason IS NULL THEN
                RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                    'reason', 'permanent_residence_risk', 'consecutive_nights', n,
                    'message', format('this makes %s consecutive nights of residential respite; after 28 it counts as permanent residence (a coordinator may override with a reason)', n)));
            ELSIF n >= 21 THEN
                warnings := warnings || jsonb_build_object('code', 'long_stay', 'consecutive_nights', n,
                    'message', format('%s consecutive nights of residential respite: more than 28 would count as permanent residence', n)
                               || CASE WHEN n > 28 THEN ' (overridden: ' || r.override_reason || ')' ELSE '' END);
            END IF;
        END IF;
    ELSE
        offer := rs_offer_refusal(r, s, sh);
        IF offer IS NOT NULL THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', offer);
        END IF;
    END IF;
    RETURN jsonb_build_object('warnings', warnings);
END $$;

-- ---------------------------------------------------------------------------
-- Capacity

-- Takes the capacity a booking needs, or refuses with no_capacity. For
-- beds, workers and Shared Lives places: the published availability must
-- contain the break, then a free unit is taken by inserting an allocation;
-- the EXCLUDE constraint decides races (23P01: another transaction took
-- that unit first, so the next one is tried). For offers: a seat by
-- conditional UPDATE, falling back to a later session the same day when
-- the session chosen filled up meanwhile.
CREATE FUNCTION rs_take_capacity(b booking, r booking_req, s supply, sh booking_shape) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h supply := s;
    u bigint;
    os offer_session;
BEGIN
    IF sh.mode = 'session' THEN
        FOR os IN SELECT * FROM offer_session x
                   WHERE x.id = sh.session_id
                      OR (r.session_id IS NULL AND x.supply_id = s.id AND x.day = b.first_day
                          AND (x.starts_at IS NULL OR x.starts_at > now()) AND x.booked + b.seats <= x.quantity)
                   ORDER BY x.id = sh.session_id DESC, x.starts_at NULLS FIRST, x.id LOOP
            UPDATE offer_session SET booked = booked + b.seats
             WHERE id = os.id AND booked + b.seats <= quantity;
            IF FOUND THEN
                INSERT INTO offer_allocation (booking_id, session_id, seats) VALUES (b.id, os.id, b.seats);
                IF os.id <> b.session_id THEN
                    UPDATE booking SET session_id = os.id,
                           span = CASE WHEN os.starts_at IS NULL THEN span
                                       ELSE tstzrange(os.starts_at, os.starts_at + (upper(span) - lower(span))) END
                     WHERE id = b.id;
                END IF;
                RETURN;
            END IF;
        END LOOP;
        PERFORM rs_refuse('no_capacity', 'no seats left', r,
                          jsonb_build_object('supply_id', s.id, 'session_id', sh.session_id, 'seats', b.seats));
    END IF;

    IF sh.mode = 'stay' THEN
        IF NOT EXISTS (SELECT 1 FROM avail_nights WHERE supply_id = s.id AND nights @> sh.nights) THEN
            PERFORM rs_refuse('no_capacity', 'not available for these nights', r,
                              jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
        END IF;
        IF s.kind = 'household' THEN
            IF lower(sh.nights) < h.approved_from OR upper(sh.nights) > h.approval_expires THEN
                PERFORM rs_refuse('no_capacity', 'outside this Shared Lives carer''s approval', r,
                                  jsonb_build_object('supply_id', s.id, 'why', 'approval'));
            END IF;
        END IF;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM avail_span WHERE supply_id = s.id AND span @> sh.span) THEN
            PERFORM rs_refuse('no_capacity', 'not available at that time', r,
                              jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
        END IF;
        IF s.kind = 'household' THEN
            IF lower(sh.span) < rs_midnight(h.approved_from) OR upper(sh.span) > rs_midnight(h.approval_expires) THEN
                PERFORM rs_refuse('no_capacity', 'outside this Shared Lives carer''s approval', r,
                                  jsonb_build_object('supply_id', s.id, 'why', 'approval'));
            END IF;
        END IF;
    END IF;
    FOR u IN SELECT x.id FROM unit x
              WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
                -- one probe per range column, so each uses its own exclusion
                -- index on (unit_id, range) (an OR of the two used neither well)
                AND NOT EXISTS (SELECT 1 FROM allocation a
                                 WHERE a.unit_id = x.id AND a.active AND a.nights && sh.nights)
                AND NOT EXISTS (SELECT 1 FROM allocation a
                                 WHERE a.unit_id = x.id AND a.active AND a.span && sh.alloc_span)
              ORDER BY x.id LOOP
        BEGIN
            -- Two transactions inserting overlapping ranges into an
            -- exclusion constraint at once can each find the other's
            -- uncommitted entry and deadlock (PostgreSQL then kills one a
            -- second later). Queueing on the unit's row first means the
            -- later insert meets a committed conflict and fails at once.
            -- NO KEY UPDATE still lets allocation's foreign key check pass.
            PERFORM 1 FROM unit WHERE id = u FOR NO KEY UPDATE;
            INSERT INTO allocation (booking_id, unit_id, nights, span)
            VALUES (b.id, u, sh.nights, sh.alloc_span);
            RETURN;
        EXCEPTION WHEN exclusion_violation THEN
            NULL;   -- taken meanwhile by a transaction that committed first: try the next unit
        END;
    END LOOP;
    PERFORM rs_refuse('no_capacity', CASE s.kind WHEN 'worker' THEN 'the worker is already booked at that time (visits keep a travel buffer)'
                                                 ELSE 'already booked for that time' END, r,
                      jsonb_build_object('supply_id', s.id, 'why', 'booked'));
END $$;

-- Gives back what a booking holds: allocations and offer seats. Repeating
-- it is harmless.
CREATE FUNCTION rs_release_capacity(bid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE allocation SET active = false WHERE booking_id = bid AND active;
    UPDATE offer_session os SET booked = os.booked - oa.seats
      FROM offer_allocation oa
     WHERE oa.booking_id = bid AND oa.active AND os.id = oa.session_id;
    UPDATE offer_allocation SET active = false WHERE booking_id = bid AND active;
END $$;

-- ---------------------------------------------------------------------------
-- Money of a booking

-- The accounts a leg moves between: an entitlement's account (or the
-- family's self-funded account, or the provider's donor account) to what
-- the family owes the provider (or the donations the carer received).
CREATE FUNCTION rs_leg_accounts(b booking, leg jsonb, OUT debit bigint, OUT credit bigint)
LANGUAGE plpgsql AS $$
DECLARE
    u ledger_unit := (leg->>'unit')::ledger_unit;
    pname text := (SELECT name FROM provider WHERE id = b.provider_id);
BEGIN
    IF leg->>'kind' = 'donation' THEN
        debit := (rs_account_open(format('donor:%s:%s', b.provider_id, b.carer_id), 'donor', 'pence',
                                  b.authority_id, 'Donated by ' || pname, 'donated', NULL, NULL,
                                  b.carer_id, NULL, b.provider_id, true)).id;
        credit := (rs_account_open('donations:' || b.carer_id, 'donations', 'pence', b.authority_id,
                                   'Donated breaks received', 'donated', NULL, NULL, b.carer_id)).id;
        RETURN;
    END IF;
    IF leg->>'source' = 'self_funded' THEN
        debit := (rs_account_open('self:' || b.carer_id, 'self_funded', 'pence', b.authority_id,
                                  'Paid by the family', 'self_funded', NULL, NULL, b.carer_id,
                                  NULL, NULL, true)).id;
    ELSE
        debit := (leg->>'account_id')::bigint;
    END IF;
    credit := (rs_account_open(format('payable:%s:%s:%s', b.carer_id, b.provider_id, u), 'payable', u,
                               b.authority_id, format('Owed to %s (%s)', pname, u), NULL, NULL, NULL,
                               b.carer_id, NULL, b.provider_id)).id;
END $$;

-- Writes a plan's legs as transfers of a booking: pending legs for a hold,
-- posted ones for a completion adjustment. All accounts are locked first,
-- in id order.
CREATE FUNCTION rs_write_legs(b booking, plan jsonb, v_status transfer_status, v_kind transfer_kind,
                              v_expires timestamptz, v_note text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    legs jsonb := plan->'legs';
    ends record;
    dr bigint[] := '{}';
    cr bigint[] := '{}';
    first int := coalesce((SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id), 0);
    i int;
BEGIN
    FOR i IN 0 .. jsonb_array_length(legs) - 1 LOOP
        ends := rs_leg_accounts(b, legs->i);
        dr := dr || ends.debit;
        cr := cr || ends.credit;
    END LOOP;
    PERFORM rs_lock_accounts(dr || cr);
    FOR i IN 0 .. jsonb_array_length(legs) - 1 LOOP
        PERFORM rs_transfer(dr[i + 1], cr[i + 1], (legs->i->>'amount')::bigint, v_status,
                            CASE WHEN legs->i->>'kind' = 'donation' AND v_kind = 'charge' THEN 'donation'
                                 ELSE v_kind END,
                            b.id, first + i + 1, (legs->i->>'covers_pence')::bigint, v_expires,
                            coalesce(v_note || ': ', '') || (legs->i->>'name'));
    END LOOP;
END $$;

-- Every account a booking's transfers touch (for locking in order).
CREATE FUNCTION rs_booking_accounts(bid bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT a), '{}')
      FROM ledger_transfer t, LATERAL (VALUES (t.debit_account_id), (t.credit_account_id)) v(a)
     WHERE t.booking_id = bid
$$;

-- Settles a booking's money for a status change: confirmed posts the
-- pending legs; cancelled or expired voids pending legs and reverses
-- posted ones (a confirmed break cancelled gives the budget back).
CREATE FUNCTION rs_booking_settle(b booking, to_status booking_status) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
    next_leg int;
BEGIN
    PERFORM rs_lock_accounts(rs_booking_accounts(b.id));
    IF to_status = 'confirmed' THEN
        PERFORM rs_transfer_settle(id, true) FROM ledger_transfer
         WHERE booking_id = b.id AND status = 'pending' ORDER BY leg;
    ELSIF to_status IN ('cancelled_by_carer', 'cancelled_by_provider', 'expired') THEN
        PERFORM rs_transfer_settle(id, false) FROM ledger_transfer
         WHERE booking_id = b.id AND status = 'pending' ORDER BY leg;
        next_leg := coalesce((SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id), 0);
        FOR t IN SELECT * FROM ledger_transfer x
                  WHERE x.booking_id = b.id AND x.status = 'posted' AND x.kind <> 'reversal'
                    AND NOT EXISTS (SELECT 1 FROM ledger_transfer y WHERE y.reverses_id = x.id)
                  ORDER BY x.leg LOOP
            next_leg := next_leg + 1;
            PERFORM rs_transfer_reverse(t.id, next_leg, 'cancelled');
        END LOOP;
    END IF;
END $$;

-- ---------------------------------------------------------------------------
-- The one way a booking changes status. Checks the transition table,
-- gives back capacity and moves money as the new status requires, stamps
-- the booking and writes the event. Capacity before money: the lock order.
CREATE FUNCTION rs_booking_move(bid bigint, to_status booking_status, actor bigint,
                                why text DEFAULT NULL, data jsonb DEFAULT '{}')
RETURNS booking LANGUAGE plpgsql AS $$
DECLARE
    b booking;
    from_status booking_status;
BEGIN
    SELECT * INTO b FROM booking WHERE id = bid FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such booking', jsonb_build_object('booking_id', bid));
    END IF;
    from_status := b.status;
    IF NOT EXISTS (SELECT 1 FROM booking_transition WHERE booking_transition.from_status = b.status
                                                      AND booking_transition.to_status = rs_booking_move.to_status) THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot become %s', b.status, to_status),
                         jsonb_build_object('booking_id', bid, 'status', b.status, 'wanted', to_status));
    END IF;
    IF to_status IN ('cancelled_by_carer', 'cancelled_by_provider', 'expired', 'no_show') THEN
        PERFORM rs_release_capacity(bid);
    END IF;
    PERFORM rs_booking_settle(b, to_status);
    UPDATE booking SET status = to_status, updated_at = now(),
           expires_at = CASE WHEN to_status IN ('requested', 'held') THEN expires_at END,
           confirmed_at = CASE WHEN to_status = 'confirmed' THEN now() ELSE confirmed_at END,
           completed_at = CASE WHEN to_status = 'completed' THEN now() ELSE completed_at END,
           cancelled_at = CASE WHEN to_status IN ('cancelled_by_carer', 'cancelled_by_provider')
                               THEN now() ELSE cancelled_at END,
           cancel_reason = CASE WHEN to_status IN ('cancelled_by_carer', 'cancelled_by_provider')
                                THEN why ELSE cancel_reason END
     WHERE id = bid
    RETURNING * INTO b;
    INSERT INTO booking_event (booking_id, actor_user_id, from_status, to_status, reason, data)
    VALUES (bid, actor, from_status, to_status, why, coalesce(data, '{}'));
    RETURN b;
END $$;

-- ---------------------------------------------------------------------------
-- Reading bookings

-- Tenancy: carers reach bookings of their family (made by them or for a
-- person they care for), providers bookings of their own supply,
-- coordinators their authority's, admins all.
CREATE FUNCTION rs_booking_for(ctx jsonb, bid bigint) RETURNS booking
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b booking;
BEGIN
    SELECT * INTO b FROM booking WHERE id = bid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such booking', jsonb_build_object('booking_id', bid));
    END IF;
    IF ctx->>'role' = 'admin'
       OR (ctx->>'role' = 'coordinator' AND b.authority_id = rs_authority(ctx))
       OR (ctx->>'role' = 'provider' AND b.provider_id = (ctx->>'provider_id')::bigint)
       OR (ctx->>'role' = 'carer' AND (b.carer_id = rs_ctx_carer_id(ctx)
               OR EXISTS (SELECT 1 FROM care_link l WHERE l.person_id = b.person_id
                                                      AND l.carer_id = rs_ctx_carer_id(ctx)))) THEN
        RETURN b;
    END IF;
    PERFORM rs_raise('forbidden', 'this booking is not yours to see or change',
                     jsonb_build_object('booking_id', bid));
    RETURN NULL;
END $$;

CREATE FUNCTION rs_booking_legs_json(bid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'leg', t.leg, 'transfer_id', t.id, 'kind', t.kind, 'status', t.status,
               'source', coalesce(d.source::text, CASE d.kind WHEN 'payable' THEN 'provider' END),
               'entitlement_id', d.entitlement_id, 'from_account_id', d.id, 'from_account', d.name,
               'to_account_id', c.id, 'unit', t.unit, 'amount', t.amount,
               'amount_text', rs_amount_text(t.amount, t.unit), 'covers_pence', t.covers_pence,
               'reverses', t.reverses_id,
               'expires_at', CASE WHEN t.status = 'pending' THEN rs_ts_text(t.expires_at) END))
             ORDER BY t.leg), '[]')
      FROM ledger_transfer t
      JOIN account d ON d.id = t.debit_account_id
      JOIN account c ON c.id = t.credit_account_id
     WHERE t.booking_id = bid
$$;

CREATE FUNCTION rs_booking_json(b booking, detailed boolean DEFAULT true) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'booking_id', b.id, 'status', b.status, 'break_kind', b.break_kind, 'subject', b.subject,
        'carer_id', b.carer_id, 'person_id', b.person_id,
        'person', (SELECT pe.name FROM person pe WHERE pe.id = b.person_id),
        'supply_id', b.supply_id, 'kind', b.kind, 'mode', b.mode,
        'supply', (SELECT s.name FROM supply s WHERE s.id = b.supply_id),
        'provider', (SELECT jsonb_build_object('provider_id', pr.id, 'name', pr.name)
                       FROM provider pr WHERE pr.id = b.provider_id),
        'nights', CASE WHEN b.nights IS NOT NULL THEN rs_nights_json(b.nights) END,
        'span', rs_span_json(b.span), 'minutes', b.minutes,
        'session_id', b.session_id, 'seats', b.seats,
        'units', (SELECT jsonb_agg(jsonb_build_object('unit_id', u.id, 'unit', u.label,
                                                      'allocation_id', a.id, 'active', a.active) ORDER BY a.id)
                    FROM allocation a JOIN unit u ON u.id = a.unit_id WHERE a.booking_id = b.id),
        'price_pence', b.price_pence, 'price_unit', b.price_unit,
        'cost_pence', b.cost_pence, 'donated', b.donated,
        'value_pence', CASE WHEN b.donated THEN b.value_pence END,
        'actual_cost_pence', b.actual_cost_pence, 'actual_minutes', b.actual_minutes,
        'hold_expires_at', rs_ts_text(b.expires_at),
        'override_reason', b.override_reason,
        'on_behalf', b.on_behalf,
        'booked_by', (SELECT u.username FROM app_user u WHERE u.id = b.created_by),
        'warnings', CASE WHEN jsonb_array_length(b.warnings) > 0 THEN b.warnings END,
        'notes', b.notes, 'cancel_reason', b.cancel_reason,
        'liked', b.liked,
        'created_at', rs_ts_text(b.created_at), 'confirmed_at', rs_ts_text(b.confirmed_at),
        'completed_at', rs_ts_text(b.completed_at), 'cancelled_at', rs_ts_text(b.cancelled_at),
        'legs', CASE WHEN detailed THEN rs_booking_legs_json(b.id) END,
        'events', CASE WHEN detailed THEN (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                          'at', rs_ts_text(e.at), 'from', e.from_status, 'to', e.to_status,
                          'by', (SELECT username FROM app_user WHERE id = e.actor_user_id),
                          'reason', e.reason)) ORDER BY e.id)
                     FROM booking_event e WHERE e.booking_id = b.id) END))
$$;

-- ---------------------------------------------------------------------------
-- booking.quote: the options for a request, best first, each with its
-- cost, who would pay (and what would be left short), warnings, and the
-- reasons it ranks where it does. Writes nothing.

-- Supply the subject had before (confirmed or completed breaks), most
-- recent first, with how often: continuity ranks it first.
CREATE FUNCTION rs_history(r booking_req)
RETURNS TABLE (supply_id bigint, times bigint, last_day date)
LANGUAGE sql STABLE AS $$
    SELECT b.supply_id, count(*), max(b.first_day)
      FROM booking b
     WHERE CASE WHEN r.subject = 'person' THEN b.person_id = r.person_id
                ELSE b.carer_id = r.carer_id AND b.subject = 'carer' END
       AND b.status IN ('confirmed', 'in_progress', 'completed')
     GROUP BY b.supply_id
     ORDER BY max(b.first_day) DESC
$$;

CREATE FUNCTION rs_quote_search_params(ctx jsonb, r booking_req, preferred bigint[], n int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'authority_id', CASE WHEN ctx->>'role' = 'admin' THEN r.authority_id END,
        'from', lower(r.nights), 'to', upper(r.nights),
        'start', rs_ts_text(lower(r.span)), 'end', rs_ts_text(upper(r.span)),
        'kinds', to_jsonb(r.kinds), 'needs', to_jsonb(r.needs), 'wishes', to_jsonb(r.wishes),
        'language', CASE WHEN r.subject = 'person' THEN r.language END, 'gender', r.gender,
        'near', CASE WHEN r.lat IS NOT NULL
                     THEN jsonb_build_object('lat', r.lat, 'lon', r.lon, 'radius_km', r.radius_km) END,
        'supply_id', r.supply_id, 'preferred_supply_ids', to_jsonb(preferred), 'limit', n))
$$;

-- One quote option from one search hit.
CREATE FUNCTION rs_quote_option(r booking_req, hit jsonb, liked bigint[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s supply;
    sh booking_shape;
    rules jsonb;
    plan jsonb;
    refusal jsonb;
    h record;
    reasons text[] := '{}';
    who text;
BEGIN
    SELECT * INTO s FROM supply WHERE id = (hit->>'supply_id')::bigint;
    r.session_id := (hit->>'session_id')::bigint;
    sh := rs_booking_shape(r, s);
    rules := rs_rules_check(r, s, sh);
    plan := rs_plan_payment(r, s, sh, sh.cost_pence, sh.quantity, false);
    refusal := rules->'refusal';
    IF refusal IS NULL AND NOT (plan->>'ok')::boolean THEN
        refusal := jsonb_build_object('reason', plan->>'reason', 'message', plan->>'message',
                                      'shortfall_pence', plan->'shortfall_pence');
    END IF;
    who := CASE s.kind WHEN 'worker' THEN 'worker' WHEN 'household' THEN 'Shared Lives carer'
                       WHEN 'bed' THEN 'place' ELSE 'offer' END;
    SELECT * INTO h FROM rs_history(r) x WHERE x.supply_id = s.id;
    IF r.supply_id = s.id THEN
        reasons := reasons || ('the ' || who || ' you asked for');
    END IF;
    IF h.supply_id IS NOT NULL THEN
        reasons := reasons || format('same %s as last time (%s %s, last on %s)', who, h.times,
                                     CASE WHEN h.times = 1 THEN 'break' ELSE 'breaks' END, h.last_day);
    END IF;
    IF s.id = ANY (liked) THEN
        reasons := reasons || ('a ' || who || ' you said you liked');
    END IF;
    reasons := reasons || ARRAY(SELECT x FROM jsonb_array_elements_text(hit->'reasons') x
                                 WHERE x NOT IN ('same worker as last time', 'same Shared Lives carer as last time',
                                                 'chosen before')
                                   AND x !~ '^(£|free)');
    reasons := reasons || (CASE WHEN sh.donated THEN 'free: donated' || CASE WHEN sh.value_pence > 0
                                    THEN ' (worth ' || rs_money_text(sh.value_pence) || ')' ELSE '' END
                                ELSE rs_money_text(sh.cost_pence) || ' in all' END);
    reasons := reasons || ARRAY(SELECT 'paid by ' || (l->>'name') || ': ' || rs_amount_text((l->>'amount')::bigint, (l->>'unit')::ledger_unit)
                                  FROM jsonb_array_elements(plan->'legs') l WHERE l->>'kind' = 'charge');
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'search_rank', hit->'rank', 'supply_id', s.id, 'kind', s.kind, 'mode', sh.mode,
        -- 2: asked for, or liked; 1: used before; 0: new to the family.
        'continuity', CASE WHEN r.supply_id = s.id OR s.id = ANY (liked) THEN 2
                           WHEN h.supply_id IS NOT NULL THEN 1 ELSE 0 END,
        'name', s.name, 'provider', hit->'provider',
        'session_id', sh.session_id, 'day', hit->'day', 'starts_at', hit->'starts_at',
        'seats_left', hit->'seats_left',
        'nights', CASE WHEN sh.nights IS NOT NULL THEN rs_nights_json(sh.nights) END,
        'span', CASE WHEN sh.span IS NOT NULL THEN rs_span_json(sh.span) END,
        'minutes', sh.minutes, 'distance_km', hit->'distance_km',
        'needs_met', hit->'needs_met', 'wishes_met', hit->'wishes_met',
        'price_pence', sh.price_pence, 'price_unit', sh.price_unit, 'cost_pence', sh.cost_pence,
        'donated', sh.donated, 'value_pence', CASE WHEN sh.donated THEN sh.value_pence END,
        'bookable', refusal IS NULL,
        'refusal', refusal,
        'paid_by', plan->'legs',
        'not_used', CASE WHEN jsonb_array_length(plan->'skipped') > 0 THEN plan->'skipped' END,
        'warnings', CASE WHEN jsonb_array_length(rules->'warnings') > 0 THEN rules->'warnings' END,
        'reasons', to_jsonb(reasons),
        'hold', jsonb_strip_nulls(jsonb_build_object('supply_id', s.id, 'session_id', sh.session_id))));
END $$;

-- When nothing is offered: no_match if no supply of the kinds meets the
-- needs at all, else no_capacity (it exists but is taken or closed).
CREATE FUNCTION rs_refuse_empty(r booking_req) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM supply s
                WHERE s.authority_id = r.authority_id AND s.active AND NOT s.emergency_only
                  AND s.kind::text = ANY (r.kinds)
                  AND s.capabilities @> (r.needs || CASE WHEN r.language IS NOT NULL AND r.subject = 'person'
                                                         THEN ARRAY['lang:' || r.language] ELSE '{}' END)
                  AND (r.supply_id IS NULL OR s.id = r.supply_id)) THEN
        PERFORM rs_refuse('no_capacity', 'nothing that meets the needs is free at that time', r);
    END IF;
    PERFORM rs_refuse('no_match', 'no supply meets the needs', r);
END $$;

CREATE FUNCTION api.booking_quote(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r booking_req;
    v_limit int := rs_p_limit(p, 5, 20);
    avoided bigint[] := '{}';
    liked bigint[] := '{}';
    preferred bigint[];
    found jsonb;
    hit jsonb;
    opts jsonb := '[]';
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    r := rs_booking_req(ctx, p);
    IF r.subject = 'person' THEN
        avoided := ARRAY(SELECT supply_id FROM person_supply_pref WHERE person_id = r.person_id AND NOT person_supply_pref.liked);
        liked := ARRAY(SELECT supply_id FROM person_supply_pref WHERE person_id = r.person_id AND person_supply_pref.liked);
    END IF;
    preferred := ARRAY(SELECT DISTINCT x FROM unnest(liked || ARRAY(SELECT supply_id FROM rs_history(r))) x
                        WHERE NOT x = ANY (avoided));
    found := api.availability_search(ctx, rs_quote_search_params(ctx, r, preferred,
                                                                 least(100, v_limit + cardinality(avoided))));
    FOR hit IN SELECT value FROM jsonb_array_elements(found->'results') LOOP
        EXIT WHEN jsonb_array_length(opts) >= v_limit;
        CONTINUE WHEN (hit->>'supply_id')::bigint = ANY (avoided);
        opts := opts || rs_quote_option(r, hit, liked);
    END LOOP;
    IF jsonb_array_length(opts) = 0 THEN
        PERFORM rs_refuse_empty(r);
    END IF;
    -- Bookable options first; then continuity (the worker asked for or
    -- liked, then one used before); then the search's order (most wishes
    -- met, nearest, cheapest).
    SELECT jsonb_agg(o || jsonb_build_object('rank', n) ORDER BY n) INTO opts
      FROM (SELECT o, row_number() OVER (ORDER BY (o->>'bookable')::boolean DESC, (o->>'continuity')::int DESC,
                                                  (o->>'search_rank')::int) n
              FROM jsonb_array_elements(opts) o) x;
    RETURN jsonb_build_object(
        'request', r.request,
        'options', opts,
        'ranking', 'bookable first; then the worker or Shared Lives carer asked for or liked, then one used before; then most wishes met, nearest, cheapest');
END $$;

-- ---------------------------------------------------------------------------
-- booking.hold: capacity and budget reserved in one transaction.

CREATE FUNCTION rs_hold_ttl(ctx jsonb, p jsonb) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    dflt int := coalesce((ctx->>'hold_ttl_s')::int, 900);
    v int;
BEGIN
    -- Staff may hold longer (a carer on the phone deciding); carers may
    -- only shorten the configured hold.
    v := rs_p_int(p, 'hold_seconds', 60, CASE WHEN ctx->>'role' = 'carer' THEN greatest(dflt, 60) ELSE 86400 END);
    RETURN make_interval(secs => coalesce(v, dflt));
END $$;

CREATE FUNCTION rs_booking_insert(r booking_req, s supply, sh booking_shape, ttl interval, warnings jsonb)
RETURNS booking LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    INSERT INTO booking (authority_id, carer_id, person_id, subject, break_kind, status, supply_id,
                         provider_id, kind, mode, nights, span, first_day, minutes, session_id, seats,
                         price_pence, price_unit, cost_pence, value_pence, donated, expires_at,
                         override_reason, override_by, created_by, on_behalf, request, warnings, notes)
    VALUES (r.authority_id, r.carer_id, r.person_id, r.subject, r.break_kind::break_kind, 'held', s.id,
            s.provider_id, s.kind, sh.mode, sh.nights, sh.span, sh.first_day, sh.minutes, sh.session_id,
            CASE WHEN sh.mode = 'session' THEN r.seats END,
            sh.price_pence, sh.price_unit, sh.cost_pence, sh.value_pence, sh.donated, now() + ttl,
            CASE WHEN s.kind = 'bed' THEN r.override_reason END,
            CASE WHEN s.kind = 'bed' AND r.override_reason IS NOT NULL THEN r.actor_id END,
            r.actor_id, r.actor_role <> 'carer', r.request, warnings, r.notes)
    RETURNING * INTO b;
    RETURN b;
EXCEPTION WHEN exclusion_violation THEN
    -- Only a hold that has lapsed but is not yet released can get here
    -- (live ones were refused by rs_rules_check under the family lock).
    PERFORM rs_refuse('conflict', 'the person already has a break at that time (an expired hold is being released: try again shortly)',
                      r, jsonb_build_object('condition', 'person_busy'));
    RETURN NULL;
END $$;

CREATE FUNCTION api.booking_hold(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    r booking_req;
    ttl interval;
    s supply;
    sh booking_shape;
    refusal jsonb;
    rules jsonb;
    plan jsonb;
    b booking;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    r := rs_booking_req(ctx, p);
    ttl := rs_hold_ttl(ctx, p);
    IF r.supply_id IS NULL THEN
        PERFORM rs_bad_param('supply_id', 'required: the option chosen from booking.quote');
    END IF;
    PERFORM rs_lock_family(r.carer_id, r.person_id);
    -- FOR SHARE: availability.withdraw takes this row FOR UPDATE (002).
    SELECT * INTO s FROM supply WHERE id = r.supply_id FOR SHARE;
    IF NOT FOUND THEN
        PERFORM rs_refuse('not_found', 'no such supply', r, jsonb_build_object('supply_id', r.supply_id));
    END IF;
    IF s.authority_id <> r.authority_id THEN
        PERFORM rs_refuse('forbidden', 'this supply belongs to another authority', r);
    END IF;
    IF (s.kind = 'offer') <> (r.subject = 'carer') THEN
        PERFORM rs_bad_param(CASE WHEN s.kind = 'offer' THEN 'person_id' ELSE 'supply_id' END,
            CASE WHEN s.kind = 'offer' THEN 'offers are breaks for the carer: leave out person_id'
                 ELSE 'replacement care is for a cared-for person: give person_id' END);
    END IF;
    sh := rs_booking_shape(r, s);
    refusal := rs_supply_refusal(r, s, sh);
    IF refusal IS NOT NULL THEN
        PERFORM rs_refuse(refusal->>'reason', refusal->>'message', r, refusal - 'reason' - 'message');
    END IF;
    IF sh.mode = 'session' AND sh.session_id IS NULL THEN
        PERFORM rs_refuse('no_capacity', 'no seats left on the requested day(s)', r,
                          jsonb_build_object('supply_id', s.id));
    END IF;
    rules := rs_rules_check(r, s, sh);
    IF rules ? 'refusal' THEN
        PERFORM rs_refuse(rules->'refusal'->>'reason', rules->'refusal'->>'message', r,
                          (rules->'refusal') - 'reason' - 'message');
    END IF;
    b := rs_booking_insert(r, s, sh, ttl, rules->'warnings');
    PERFORM rs_take_capacity(b, r, s, sh);
    plan := rs_plan_payment(r, s, sh, sh.cost_pence, sh.quantity, true);
    IF NOT (plan->>'ok')::boolean THEN
        PERFORM rs_refuse(plan->>'reason', plan->>'message', r,
                          jsonb_build_object('shortfall_pence', plan->'shortfall_pence',
                                             'cost_pence', sh.cost_pence, 'not_used', plan->'skipped'));
    END IF;
    SELECT * INTO b FROM booking WHERE id = b.id;
    PERFORM rs_write_legs(b, plan, 'pending', 'charge', b.expires_at, NULL);
    INSERT INTO booking_event (booking_id, actor_user_id, from_status, to_status, reason, data)
    VALUES (b.id, r.actor_id, NULL, 'held', b.override_reason,
            jsonb_strip_nulls(jsonb_build_object('on_behalf', b.on_behalf, 'override', b.override_reason)));
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

-- ---------------------------------------------------------------------------
-- Changing a booking

-- The booking a mutating call acts on, with the family locked and the
-- booking re-read under the lock.
CREATE FUNCTION rs_booking_locked(ctx jsonb, p jsonb) RETURNS booking
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    PERFORM rs_p_required(p, 'booking_id');
    b := rs_booking_for(ctx, rs_p_int(p, 'booking_id', 1, 9223372036854775807));
    PERFORM rs_lock_family(b.carer_id, b.person_id);
    SELECT * INTO b FROM booking WHERE id = b.id FOR NO KEY UPDATE;
    RETURN b;
END $$;

CREATE FUNCTION api.booking_confirm(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    b booking;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    b := rs_booking_locked(ctx, p);
    -- A lapsed hold is refused; the janitor releases it (an error cannot
    -- also commit the release).
    IF b.status = 'expired' OR (b.status = 'held' AND b.expires_at <= now()) THEN
        PERFORM rs_raise('hold_expired', 'the hold expired: quote and hold again',
                         jsonb_build_object('booking_id', b.id, 'expired_at', rs_ts_text(b.expires_at),
                                            'request', b.request));
    END IF;
    IF b.status <> 'held' THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be confirmed', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'confirmed'));
    END IF;
    b := rs_booking_move(b.id, 'confirmed', (ctx->>'user_id')::bigint, NULL,
                         jsonb_build_object('on_behalf', ctx->>'role' <> 'carer'));
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

-- booking.cancel: carers cancel as the carer, providers as the provider;
-- staff say which (by), with a reason.
CREATE FUNCTION api.booking_cancel(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    b booking;
    v_by text := rs_p_enum(p, 'by', ARRAY['carer', 'provider']);
    v_reason text := rs_p_text(p, 'reason', 500);
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    IF ctx->>'role' IN ('carer', 'provider') THEN
        IF v_by IS NOT NULL AND v_by <> ctx->>'role' THEN
            PERFORM rs_raise('forbidden', 'you cancel as yourself', jsonb_build_object('field', 'by'));
        END IF;
        v_by := ctx->>'role';
    ELSE
        PERFORM rs_p_required(p, 'by');
    END IF;
    IF ctx->>'role' <> 'carer' THEN
        PERFORM rs_p_required(p, 'reason');
    END IF;
    b := rs_booking_locked(ctx, p);
    b := rs_booking_move(b.id, ('cancelled_by_' || v_by)::booking_status, (ctx->>'user_id')::bigint,
                         coalesce(v_reason, 'cancelled by the carer'),
                         jsonb_build_object('role', ctx->>'role'));
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

-- The request a booking was made with, for re-planning its money.
CREATE FUNCTION rs_booking_as_req(b booking, ctx jsonb, self_fund boolean) RETURNS booking_req
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r booking_req;
BEGIN
    r.carer_id := b.carer_id;
    r.person_id := b.person_id;
    r.authority_id := b.authority_id;
    r.subject := b.subject;
    r.break_kind := b.break_kind;
    r.nights := b.nights;
    r.span := b.span;
    r.self_fund := self_fund;
    r.actor_id := (ctx->>'user_id')::bigint;
    r.actor_role := ctx->>'role';
    r.request := b.request;
    RETURN r;
END $$;

-- Completion with an actual cost that differs: the actual minutes and
-- pence are filled into the booking's posted legs in order, each up to
-- what it paid; what a leg no longer needs goes back to its budget
-- (adjustment from the provider's side), and what is still unpaid is
-- planned afresh and posted (adjustment to the provider's side).
CREATE FUNCTION rs_booking_adjust(b booking, ctx jsonb, new_cost bigint, new_qty bigint, self_fund boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
    rem_p bigint := new_cost;
    rem_q bigint := new_qty;
    keep bigint;
    keep_cov bigint;
    f record;
    next_leg int;
    s supply;
    sh booking_shape;
    r booking_req;
    plan jsonb;
BEGIN
    PERFORM rs_lock_accounts(rs_booking_accounts(b.id));
    next_leg := (SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id);
    FOR t IN SELECT * FROM ledger_transfer
              WHERE booking_id = b.id AND status = 'posted' AND kind = 'charge' ORDER BY leg LOOP
        SELECT * INTO f FROM rs_fill(t.unit, t.amount, new_cost, new_qty, rem_p, rem_q);
        rem_p := f.rem_p;
        rem_q := f.rem_q;
        keep := f.take;
        keep_cov := f.covers;
        IF keep < t.amount THEN
            next_leg := next_leg + 1;
            PERFORM rs_transfer(t.credit_account_id, t.debit_account_id, t.amount - keep, 'posted',
                                'adjustment', b.id, next_leg, keep_cov - t.covers_pence, NULL,
                                'actual cost: returned', NULL);
        ELSIF keep_cov <> t.covers_pence THEN
            next_leg := next_leg + 1;
            PERFORM rs_transfer(t.debit_account_id, t.credit_account_id, 0, 'posted', 'adjustment',
                                b.id, next_leg, keep_cov - t.covers_pence, NULL, 'actual cost: repriced', NULL);
        END IF;
    END LOOP;
    IF rem_p > 0 OR rem_q > 0 THEN
        SELECT * INTO s FROM supply WHERE id = b.supply_id;
        r := rs_booking_as_req(b, ctx, self_fund);
        sh.mode := b.mode;
        sh.nights := b.nights;
        sh.span := b.span;
        sh.first_day := b.first_day;
        sh.days := coalesce(b.nights, daterange(b.first_day, b.first_day + 1
                                    + (rs_local_day(upper(b.span) - interval '1 microsecond') - rs_local_day(lower(b.span)))));
        sh.qty_unit := CASE WHEN b.mode = 'stay' THEN 'nights' WHEN b.mode IN ('visit', 'day') THEN 'minutes' END;
        sh.donated := false;
        plan := rs_plan_payment(r, s, sh, rem_p, rem_q, true);
        IF NOT (plan->>'ok')::boolean THEN
            PERFORM rs_raise(plan->>'reason', 'the actual cost is more than the budgets can pay: ' || (plan->>'message')
                             || ' (complete with self_fund_remainder, or with the quoted cost)',
                             jsonb_build_object('booking_id', b.id, 'shortfall_pence', plan->'shortfall_pence',
                                                'not_used', plan->'skipped', 'request', b.request));
        END IF;
        PERFORM rs_write_legs(b, plan, 'posted', 'adjustment', NULL, 'actual cost');
    END IF;
END $$;

-- A break that has not begun cannot be completed or missed.
CREATE FUNCTION rs_require_started(b booking) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF lower(b.span) > now() THEN
        PERFORM rs_raise('invalid_state', 'the break has not started yet',
                         jsonb_build_object('booking_id', b.id, 'status', b.status,
                                            'starts', rs_ts_text(lower(b.span))));
    END IF;
END $$;

CREATE FUNCTION api.booking_complete(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    b booking;
    s supply;
    v_minutes int := rs_p_int(p, 'actual_minutes', 1, 1440);
    v_cost bigint := rs_p_int(p, 'actual_cost_pence', 0, 100000000);
    new_qty bigint;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    b := rs_booking_locked(ctx, p);
    IF b.status NOT IN ('confirmed', 'in_progress') THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be completed', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'completed'));
    END IF;
    PERFORM rs_require_started(b);
    IF v_minutes IS NOT NULL AND b.mode NOT IN ('visit', 'day') THEN
        PERFORM rs_bad_param('actual_minutes', 'only for visits and day support');
    END IF;
    IF b.donated AND coalesce(v_cost, 0) > 0 THEN
        PERFORM rs_bad_param('actual_cost_pence', 'a donated break costs the family nothing');
    END IF;
    SELECT * INTO s FROM supply WHERE id = b.supply_id;
    new_qty := coalesce(v_minutes, b.minutes, upper(b.nights) - lower(b.nights), 0);
    v_cost := coalesce(v_cost, CASE WHEN v_minutes IS NULL OR b.donated THEN b.cost_pence
                                    ELSE rs_hour_cost(b.price_pence, b.price_unit, v_minutes, s.attrs) END);
    IF NOT b.donated AND (v_cost <> b.cost_pence OR new_qty <> coalesce(b.minutes, upper(b.nights) - lower(b.nights), 0)) THEN
        PERFORM rs_booking_adjust(b, ctx, v_cost, new_qty, coalesce(rs_p_bool(p, 'self_fund_remainder'), false));
    END IF;
    UPDATE booking SET actual_cost_pence = v_cost, actual_minutes = v_minutes,
           notes = coalesce(rs_p_text(p, 'notes', 2000), notes)
     WHERE id = b.id;
    b := rs_booking_move(b.id, 'completed', (ctx->>'user_id')::bigint, rs_p_text(p, 'notes', 2000),
                         jsonb_strip_nulls(jsonb_build_object('actual_cost_pence', v_cost, 'actual_minutes', v_minutes)));
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

CREATE FUNCTION api.booking_no_show(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    b booking;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    b := rs_booking_locked(ctx, p);
    IF b.status <> 'confirmed' THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be a no-show', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'no_show'));
    END IF;
    PERFORM rs_require_started(b);
    -- The charge stands (the provider kept the place); the capacity left
    -- is given back.
    b := rs_booking_move(b.id, 'no_show', (ctx->>'user_id')::bigint, rs_p_text(p, 'reason', 500));
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

-- booking.feedback: whether the family liked the worker or Shared Lives
-- carer; liked ones rank first in later quotes, disliked ones are left out.
CREATE FUNCTION api.booking_feedback(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    b booking;
    v_liked boolean;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    PERFORM rs_p_required(p, 'liked');
    v_liked := rs_p_bool(p, 'liked');
    b := rs_booking_locked(ctx, p);
    IF b.status <> 'completed' THEN
        PERFORM rs_raise('invalid_state', 'feedback is given after the break',
                         jsonb_build_object('booking_id', b.id, 'status', b.status));
    END IF;
    UPDATE booking SET liked = v_liked, feedback = rs_p_text(p, 'note', 2000), updated_at = now()
     WHERE id = b.id RETURNING * INTO b;
    IF b.person_id IS NOT NULL THEN
        INSERT INTO person_supply_pref (person_id, supply_id, liked, note)
        VALUES (b.person_id, b.supply_id, v_liked, rs_p_text(p, 'note', 500))
        ON CONFLICT (person_id, supply_id) DO UPDATE
           SET liked = excluded.liked, note = coalesce(excluded.note, person_supply_pref.note), updated_at = now();
    END IF;
    RETURN idem_end(ctx, p, rs_booking_json(b));
END $$;

CREATE FUNCTION api.booking_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer');
    PERFORM rs_p_required(p, 'booking_id');
    RETURN rs_booking_json(rs_booking_for(ctx, rs_p_int(p, 'booking_id', 1, 9223372036854775807)));
END $$;

CREATE FUNCTION api.booking_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_carer bigint := rs_p_int(p, 'carer_id', 1, 9223372036854775807);
    v_person bigint := rs_p_int(p, 'person_id', 1, 9223372036854775807);
    v_provider bigint := rs_p_int(p, 'provider_id', 1, 9223372036854775807);
    v_status text[];
    v_from date := rs_p_date(p, 'from');
    v_to date := rs_p_date(p, 'to');
    v_limit int := rs_p_limit(p, 50, 200);
    v_offset int := rs_p_offset(p);
    v_auth bigint;
    mine bigint;
    rows jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer');
    IF p ? 'status' THEN
        v_status := ARRAY(SELECT rs_p_enum(jsonb_build_object('status', x), 'status',
                                           enum_range(NULL::booking_status)::text[])
                            FROM jsonb_array_elements(rs_p_array(p, 'status', 9)) x);
    END IF;
    IF ctx->>'role' = 'carer' THEN
        mine := rs_ctx_carer_id(ctx);
        IF v_carer IS NOT NULL AND v_carer <> mine THEN
            PERFORM rs_raise('forbidden', 'you may list only your own family''s bookings');
        END IF;
    ELSIF ctx->>'role' = 'provider' THEN
        IF v_provider IS NOT NULL AND v_provider IS DISTINCT FROM (ctx->>'provider_id')::bigint THEN
            PERFORM rs_raise('forbidden', 'you may list only your own bookings');
        END IF;
        v_provider := coalesce((ctx->>'provider_id')::bigint, -1);
    ELSIF ctx->>'role' = 'coordinator' THEN
        v_auth := rs_authority(ctx);
    END IF;
    SELECT coalesce(jsonb_agg(rs_booking_json(b, false) ORDER BY b.first_day, b.id), '[]') INTO rows
      FROM (SELECT * FROM booking x
             WHERE (v_auth IS NULL OR x.authority_id = v_auth)
               AND (mine IS NULL OR x.carer_id = mine
                    OR x.person_id IN (SELECT person_id FROM care_link WHERE carer_id = mine))
               AND (v_carer IS NULL OR x.carer_id = v_carer)
               AND (v_person IS NULL OR x.person_id = v_person)
               AND (v_provider IS NULL OR x.provider_id = v_provider)
               AND (v_status IS NULL OR x.status::text = ANY (v_status))
               AND (v_from IS NULL OR x.first_day >= v_from)
               AND (v_to IS NULL OR x.first_day < v_to)
             ORDER BY x.first_day, x.id LIMIT v_limit + 1 OFFSET v_offset) b;
    RETURN jsonb_build_object(
        'bookings', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- ---------------------------------------------------------------------------
-- budget.summary: per entitlement, allowance, spent, held and remaining
-- (per period for recurring ones), and the movements with their bookings.

-- An entitlement account's figures. allowance: what the funder credited;
-- spent: posted debits less what came back (refunds, reversals); held:
-- pending debits; remaining = allowance - spent - held.
CREATE FUNCTION rs_account_figures(a account) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'account_id', a.id, 'period', CASE WHEN a.period IS NOT NULL
                                           THEN jsonb_build_object('from', lower(a.period), 'to', upper(a.period)) END,
        'allowance', x.allowance, 'spent', a.debits_posted - (a.credits_posted - x.allowance),
        'held', a.debits_pending, 'remaining', rs_available(a),
        'remaining_text', rs_amount_text(rs_available(a), a.unit))
      FROM (SELECT coalesce(sum(amount), 0)::bigint AS allowance FROM ledger_transfer
             WHERE credit_account_id = a.id AND kind = 'allowance' AND status = 'posted') x
$$;

CREATE FUNCTION rs_entitlement_summary(e entitlement) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    today_per daterange;
    periods jsonb;
BEGIN
    IF e.rule <> 'recurring' THEN
        RETURN rs_entitlement_json(e) || coalesce((SELECT rs_account_figures(a) - 'period' FROM account a WHERE a.ref = 'ent:' || e.id),
                                                  jsonb_build_object('allowance', 0, 'spent', 0, 'held', 0, 'remaining', 0))
               || jsonb_build_object('due_not_paid', rs_entitlement_available(e, rs_today())
                                     - coalesce((SELECT rs_available(a) FROM account a WHERE a.ref = 'ent:' || e.id), 0));
    END IF;
    today_per := rs_period(e.period, greatest(rs_today(), e.valid_from));
    SELECT jsonb_agg(rs_account_figures(a) ORDER BY a.period) INTO periods
      FROM account a WHERE a.entitlement_id = e.id AND a.kind = 'entitlement';
    IF NOT EXISTS (SELECT 1 FROM account a WHERE a.entitlement_id = e.id AND a.period = today_per) THEN
        -- The current period, not yet used: its whole allowance.
        periods := coalesce(periods, '[]') || jsonb_build_object(
            'period', jsonb_build_object('from', lower(today_per), 'to', upper(today_per)),
            'allowance', e.amount, 'spent', 0, 'held', 0, 'remaining', e.amount,
            'remaining_text', rs_amount_text(e.amount, e.unit));
    END IF;
    RETURN rs_entitlement_json(e) || jsonb_build_object(
        'current', (SELECT x FROM jsonb_array_elements(periods) x
                     WHERE (x->'period'->>'from')::date = lower(today_per)),
        'periods', periods);
END $$;

CREATE FUNCTION api.budget_summary(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c carer;
    v_ent bigint := rs_p_int(p, 'entitlement_id', 1, 9223372036854775807);
    v_limit int := coalesce(rs_p_int(p, 'movements_limit', 0, 500), 50)::int;
    ents bigint[];
    accts bigint[];
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    c := rs_carer_param(ctx, p);
    ents := ARRAY(SELECT e.id FROM entitlement e
                   WHERE (e.carer_id = c.id OR e.person_id IN (SELECT person_id FROM care_link WHERE carer_id = c.id))
                     AND (v_ent IS NULL OR e.id = v_ent) ORDER BY e.priority, e.id);
    IF v_ent IS NOT NULL AND cardinality(ents) = 0 THEN
        PERFORM rs_raise('not_found', 'no such entitlement in this family', jsonb_build_object('entitlement_id', v_ent));
    END IF;
    accts := ARRAY(SELECT a.id FROM account a
                    WHERE (a.kind = 'entitlement' AND a.entitlement_id = ANY (ents))
                       OR (v_ent IS NULL AND a.carer_id = c.id AND a.kind IN ('self_funded', 'donations')));
    RETURN jsonb_build_object(
        'carer_id', c.id,
        'sources', (SELECT coalesce(jsonb_agg(rs_entitlement_summary(e) ORDER BY array_position(ents, e.id)), '[]')
                      FROM entitlement e WHERE e.id = ANY (ents)),
        'self_funded_pence', (SELECT coalesce(sum(debits_posted - credits_posted), 0) FROM account
                               WHERE ref = 'self:' || c.id),
        'donated_received_pence', (SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM account
                                    WHERE ref = 'donations:' || c.id),
        'movements', (SELECT coalesce(jsonb_agg(m ORDER BY (m->>'transfer_id')::bigint DESC), '[]') FROM (
            SELECT jsonb_strip_nulls(jsonb_build_object(
                       'transfer_id', t.id, 'at', rs_ts_text(coalesce(t.posted_at, t.voided_at, t.created_at)),
                       'account_id', a.id, 'account', a.name, 'entitlement_id', a.entitlement_id,
                       'kind', t.kind, 'status', t.status,
                       'direction', CASE WHEN t.debit_account_id = a.id THEN 'out' ELSE 'in' END,
                       'amount', t.amount, 'unit', t.unit, 'amount_text', rs_amount_text(t.amount, t.unit),
                       'booking_id', t.booking_id,
                       'booking', (SELECT jsonb_build_object('status', b.status, 'first_day', b.first_day,
                                                             'supply', s.name, 'person_id', b.person_id)
                                     FROM booking b JOIN supply s ON s.id = b.supply_id WHERE b.id = t.booking_id),
                       'note', t.note)) AS m
              FROM ledger_transfer t JOIN account a ON a.id IN (t.debit_account_id, t.credit_account_id)
             WHERE a.id = ANY (accts)
             ORDER BY t.id DESC LIMIT v_limit) x));
END $$;

-- ---------------------------------------------------------------------------
-- Scheme rules

CREATE FUNCTION rs_scheme_rule_json(x scheme_rule) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('scheme_rule_id', x.id, 'authority_id', x.authority_id, 'name', x.name,
                              'offer_type', x.offer_type, 'per', x.per, 'max', x.max)
$$;

CREATE FUNCTION api.scheme_rule_set(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    v_type text := rs_p_enum(p, 'offer_type', ARRAY['overnight_stay', 'theatre', 'meal', 'spa', 'sport', 'day_activity']);
    v_per text;
    x scheme_rule;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    IF ctx->>'role' <> 'admin' THEN
        IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may set rules only for your own authority');
        END IF;
        v_auth := rs_authority(ctx);
    ELSIF v_auth IS NULL THEN
        PERFORM rs_bad_param('authority_id', 'required');
    END IF;
    PERFORM rs_p_required(p, 'per');
    v_per := rs_p_enum(p, 'per', ARRAY['month', 'quarter', 'year']);
    IF coalesce(rs_p_bool(p, 'remove'), false) THEN
        DELETE FROM scheme_rule
         WHERE authority_id = v_auth AND offer_type IS NOT DISTINCT FROM v_type AND per = v_per;
        RETURN idem_end(ctx, p, jsonb_build_object('removed', FOUND));
    END IF;
    PERFORM rs_p_required(p, 'max'), rs_p_required(p, 'name');
    INSERT INTO scheme_rule AS sr (authority_id, name, offer_type, per, max)
    VALUES (v_auth, rs_p_text(p, 'name', 200), v_type, v_per, rs_p_int(p, 'max', 1, 100))
    ON CONFLICT (authority_id, offer_type, per) DO UPDATE SET name = excluded.name, max = excluded.max
    RETURNING * INTO x;
    RETURN idem_end(ctx, p, rs_scheme_rule_json(x));
END $$;

CREATE FUNCTION api.scheme_rule_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    IF ctx->>'role' <> 'admin' THEN
        v_auth := rs_authority(ctx);
    END IF;
    RETURN jsonb_build_object('rules', (SELECT coalesce(jsonb_agg(rs_scheme_rule_json(x) ORDER BY x.id), '[]')
                                          FROM scheme_rule x WHERE v_auth IS NULL OR x.authority_id = v_auth));
END $$;

-- ---------------------------------------------------------------------------
-- provider.bookings shows, for each allocation, what a provider needs to
-- know about its booking (this replaces 002's empty placeholder): its status and who is
-- coming with which needs (no budgets: those are the family's).
CREATE OR REPLACE FUNCTION rs_provider_booking_json(bid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', b.status, 'break_kind', b.break_kind, 'mode', b.mode,
        'hold_expires_at', rs_ts_text(b.expires_at),
        'person', (SELECT jsonb_build_object('name', pe.name, 'needs', to_jsonb(pe.needs),
                                             'languages', to_jsonb(pe.languages))
                     FROM person pe WHERE pe.id = b.person_id),
        'carer', (SELECT jsonb_strip_nulls(jsonb_build_object('name', c.name, 'phone', c.phone))
                    FROM carer c WHERE c.id = b.carer_id),
        'cost_pence', b.cost_pence, 'donated', b.donated))
      FROM booking b WHERE b.id = bid
$$;

-- ---------------------------------------------------------------------------
-- Housekeeping: sessions (001), lapsed holds, ongoing payments.
--
-- Lapsed holds are expired in batches. Several daemons may run this at
-- once: FOR NO KEY UPDATE SKIP LOCKED gives each a different batch. The batch
-- first gives back all its capacity, then locks all its accounts in id
-- order, then moves each booking: the same order (capacity, accounts
-- sorted) as a hold, so the janitor and bookings never deadlock. Ongoing
-- payments are paid in by rounds with nothing to expire.

CREATE OR REPLACE FUNCTION rs_janitor() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    n_sessions int;
    lapsed bigint[];
    bid bigint;
    e entitlement;
    n_paid int := 0;
BEGIN
    DELETE FROM session WHERE expires_at < now();
    GET DIAGNOSTICS n_sessions = ROW_COUNT;

    lapsed := ARRAY(SELECT id FROM booking
                     WHERE status IN ('held', 'requested') AND expires_at <= now()
                     ORDER BY expires_at, id LIMIT 200 FOR NO KEY UPDATE SKIP LOCKED);
    PERFORM rs_release_capacity(x) FROM unnest(lapsed) x;
    PERFORM rs_lock_accounts(ARRAY(SELECT DISTINCT unnest(rs_booking_accounts(x)) FROM unnest(lapsed) x));
    FOREACH bid IN ARRAY lapsed LOOP
        PERFORM rs_booking_move(bid, 'expired', NULL, 'the hold expired before it was confirmed');
    END LOOP;

    -- Ongoing payments due, paid in even if nobody books - only in a round
    -- that expired nothing, so that no other account is locked while the
    -- entitlement row (taken SKIP LOCKED) and its own accounts are.
    IF cardinality(lapsed) = 0 THEN
        FOR e IN SELECT * FROM entitlement x
                  WHERE x.rule = 'ongoing' AND x.active
                    AND EXISTS (SELECT 1 FROM rs_payment_days(x) d
                                 WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual a
                                                    WHERE a.entitlement_id = x.id AND a.period_start = d))
                  LIMIT 100 FOR NO KEY UPDATE SKIP LOCKED LOOP
            n_paid := n_paid + rs_entitlement_accrue(e);
        END LOOP;
    END IF;

    RETURN jsonb_build_object('sessions_expired', n_sessions, 'holds_expired', cardinality(lapsed),
                              'payments_made', n_paid);
END $$;
