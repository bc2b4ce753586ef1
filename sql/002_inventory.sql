-- 002 inventory: providers, the capability vocabulary, the four kinds of
-- supply, published availability, the allocation table bookings take
-- capacity through, search, and the synthetic-data generator.
--
-- Shapes, in one place:
--  * provider: an organisation inside one authority; its type fixes the one
--    kind of supply it offers (residential -> bed, sitting -> worker,
--    shared_lives -> household, hotel_leisure -> offer).
--  * supply: one row per bed, care worker, Shared Lives household or hotel /
--    leisure offer, with the capability codes it meets and its
--    kind-specific profile (columns checked per kind).
--  * unit: the capacity-1 things a booking allocates: a bed is one unit, a
--    worker one unit, a household one unit per bedroom (kind room) and one
--    per day-support place (kind day). Offers have seats in offer_session
--    instead.
--  * availability: avail_nights (daterange of nights; night d starts on
--    date d, Europe/London) for beds and household stays, avail_span
--    (tstzrange of instants) for worker shifts and household day support,
--    offer_session for offers.
--  * allocation / offer_allocation: capacity taken by bookings (the booking
--    table and its foreign key arrive with issue 4).
--
-- Publishing merges: a published range that overlaps or touches ranges
-- already published for the same supply is merged with them, so the table
-- always holds the smallest set of disjoint, non-adjacent ranges (an
-- exclusion constraint guarantees they are disjoint). Because of that a
-- stay or visit is bookable exactly when ONE published row contains it,
-- which is what search tests.

-- ---------------------------------------------------------------------------
-- Types

CREATE TYPE provider_type AS ENUM ('residential', 'sitting', 'shared_lives', 'hotel_leisure');
CREATE TYPE supply_kind AS ENUM ('bed', 'worker', 'household', 'offer');
CREATE TYPE price_unit AS ENUM ('night', 'hour', 'session', 'stay');
CREATE TYPE cqc_rating AS ENUM ('outstanding', 'good', 'requires_improvement', 'inadequate');
CREATE TYPE unit_kind AS ENUM ('bed', 'worker', 'room', 'day');

-- ---------------------------------------------------------------------------
-- The one vocabulary of needs and capabilities. People's needs and every
-- kind of supply use these codes; matching is "the supply's capabilities
-- contain every need". Codes are append-only: they are stored in arrays
-- that no foreign key can follow, so a code is never deleted or renamed.

CREATE TABLE capability (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*(:[a-z0-9_]+)?$'),
    category    text NOT NULL CHECK (category IN ('need', 'support', 'communication',
                    'language', 'diet', 'culture', 'inclusion', 'gender', 'access',
                    'environment')),
    label       text NOT NULL
);

INSERT INTO capability (code, category, label) VALUES
    ('dementia',              'need', 'Dementia'),
    ('learning_disability',   'need', 'Learning disability'),
    ('autism',                'need', 'Autism'),
    ('behaviour_challenges',  'need', 'Behaviour that challenges'),
    ('complex_health',        'need', 'Complex health needs'),
    ('physical_disability',   'need', 'Physical disability'),
    ('hoist',                 'need', 'Hoist transfers'),
    ('dual_sensory_loss',     'need', 'Dual sensory loss (deafblind)'),
    ('visual_impairment',     'need', 'Visual impairment'),
    ('hearing_impairment',    'need', 'Hearing impairment'),
    ('mental_health',         'need', 'Mental health'),
    ('young_adults',          'need', 'Young adults aged 16-25'),
    ('acquired_brain_injury', 'need', 'Acquired brain injury'),
    ('epilepsy',              'need', 'Epilepsy'),
    ('parkinsons',            'need', 'Parkinson''s'),
    ('stroke',                'need', 'After a stroke'),
    ('peg_feeding',           'need', 'PEG feeding'),
    ('end_of_life',           'need', 'End of life care'),
    ('sup:1to1',              'support', 'One-to-one support'),
    ('sup:2to1',              'support', 'Two-to-one support'),
    ('sup:waking_night',      'support', 'Waking night support'),
    ('comm:bsl',              'communication', 'British Sign Language'),
    ('comm:makaton',          'communication', 'Makaton'),
    ('comm:deafblind_manual', 'communication', 'Deafblind manual alphabet'),
    ('lang:en', 'language', 'English'),
    ('lang:cy', 'language', 'Welsh'),
    ('lang:pa', 'language', 'Punjabi'),
    ('lang:ur', 'language', 'Urdu'),
    ('lang:bn', 'language', 'Bengali'),
    ('lang:hi', 'language', 'Hindi'),
    ('lang:gu', 'language', 'Gujarati'),
    ('lang:ta', 'language', 'Tamil'),
    ('lang:pl', 'language', 'Polish'),
    ('lang:ro', 'language', 'Romanian'),
    ('lang:lt', 'language', 'Lithuanian'),
    ('lang:ru', 'language', 'Russian'),
    ('lang:uk', 'language', 'Ukrainian'),
    ('lang:pt', 'language', 'Portuguese'),
    ('lang:es', 'language', 'Spanish'),
    ('lang:fr', 'language', 'French'),
    ('lang:it', 'language', 'Italian'),
    ('lang:ar', 'language', 'Arabic'),
    ('lang:so', 'language', 'Somali'),
    ('lang:ti', 'language', 'Tigrinya'),
    ('lang:am', 'language', 'Amharic'),
    ('lang:fa', 'language', 'Persian (Farsi)'),
    ('lang:ku', 'language', 'Kurdish'),
    ('lang:tr', 'language', 'Turkish'),
    ('lang:zh', 'language', 'Chinese (Mandarin or Cantonese)'),
    ('lang:yo', 'language', 'Yoruba'),
    ('lang:ga', 'language', 'Irish'),
    ('diet:halal',            'diet', 'Halal'),
    ('diet:kosher',           'diet', 'Kosher'),
    ('diet:vegetarian',       'diet', 'Vegetarian'),
    ('diet:vegan',            'diet', 'Vegan'),
    ('diet:gluten_free',      'diet', 'Gluten free'),
    ('diet:dairy_free',       'diet', 'Dairy free'),
    ('diet:diabetic',         'diet', 'Diabetic diet'),
    ('diet:texture_modified', 'diet', 'Texture-modified (IDDSI) diet'),
    ('diet:afro_caribbean',   'diet', 'African-Caribbean food'),
    ('culture:south_asian',     'culture', 'South Asian communities'),
    ('culture:african_caribbean','culture', 'African-Caribbean communities'),
    ('culture:chinese',         'culture', 'Chinese communities'),
    ('culture:jewish',          'culture', 'Jewish community'),
    ('culture:muslim',          'culture', 'Muslim community'),
    ('culture:somali',          'culture', 'Somali community'),
    ('culture:arab',            'culture', 'Arab communities'),
    ('culture:eastern_european','culture', 'Eastern European communities'),
    ('culture:gypsy_traveller', 'culture', 'Gypsy, Roma and Traveller communities'),
    ('lgbtq_affirming',       'inclusion', 'LGBTQ+ affirming'),
    ('gender:female',         'gender', 'Female worker'),
    ('gender:male',           'gender', 'Male worker'),
    ('access:wheelchair',     'access', 'Wheelchair accessible'),
    ('access:step_free',      'access', 'Step-free access'),
    ('access:ground_floor_bedroom', 'access', 'Ground-floor bedroom'),
    ('access:accessible_bathroom',  'access', 'Accessible bathroom'),
    ('env:smoke_free',        'environment', 'Smoke-free home'),
    ('env:no_pets',           'environment', 'No pets in the home'),
    ('env:pets_welcome',      'environment', 'Visitor''s pet welcome'),
    ('env:quiet',             'environment', 'Quiet household'),
    ('env:no_children',       'environment', 'No children in the home');

-- ---------------------------------------------------------------------------
-- Providers

CREATE TABLE provider (
    id                  bigserial PRIMARY KEY,
    authority_id        bigint NOT NULL REFERENCES authority(id),
    type                provider_type NOT NULL,
    -- The kind of supply this type of provider offers; supply's foreign key
    -- on (provider_id, authority_id, kind) makes a mismatch impossible.
    supplies            supply_kind NOT NULL GENERATED ALWAYS AS (
                            CASE type WHEN 'residential' THEN 'bed'::supply_kind
                                      WHEN 'sitting' THEN 'worker'::supply_kind
                                      WHEN 'shared_lives' THEN 'household'::supply_kind
                                      ELSE 'offer'::supply_kind END) STORED,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    postcode_district   text NOT NULL CHECK (postcode_district ~ '^[A-Z]{1,2}[0-9][0-9A-Z]?$'),
    lat                 float8 NOT NULL CHECK (lat BETWEEN 49.8 AND 55.9),
    lon                 float8 NOT NULL CHECK (lon BETWEEN -6.5 AND 2.0),
    languages           text[] NOT NULL DEFAULT '{}',   -- ISO 639-1 codes
    capabilities        text[] NOT NULL DEFAULT '{}',   -- needs the organisation meets
    cqc_rating          cqc_rating,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (authority_id, name),
    UNIQUE (id, authority_id, supplies),
    -- Hotels, theatres and leisure partners are not CQC-regulated.
    CHECK (type <> 'hotel_leisure' OR cqc_rating IS NULL)
);

-- A provider user manages only its own provider's supply.
ALTER TABLE app_user ADD COLUMN provider_id bigint REFERENCES provider(id);
ALTER TABLE app_user ADD CONSTRAINT app_user_provider_role
    CHECK (provider_id IS NULL OR role = 'provider');

CREATE OR REPLACE FUNCTION rs_user_ctx(uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username,
                              'role', u.role, 'authority_id', u.authority_id,
                              'provider_id', u.provider_id)
      FROM app_user u WHERE u.id = uid
$$;

-- ---------------------------------------------------------------------------
-- Supply
--
-- One table for the four kinds. Kind-specific attributes are columns,
-- present exactly for their kind (the CHECKs below), rather than side
-- tables: search ranks and filters candidates from this one row (price,
-- place, a worker's travel radius and visit lengths, a household's
-- approval, an offer's expiry) before it touches any other table, which is
-- what keeps it within its latency budget.

CREATE TABLE supply (
    -- Columns search reads for every candidate come first, fixed-width and
    -- NOT NULL, so reading them is cheap (measured: the candidate scan is
    -- dominated by walking wide rows).
    id              bigserial PRIMARY KEY,
    provider_id     bigint NOT NULL,
    authority_id    bigint NOT NULL,    -- copied from the provider: the tenancy filter
    kind            supply_kind NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    emergency_only  boolean NOT NULL DEFAULT false,
    price_pence     int NOT NULL CHECK (price_pence >= 0),
    price_unit      price_unit NOT NULL,
    lat             float8 NOT NULL CHECK (lat BETWEEN 49.8 AND 55.9),
    lon             float8 NOT NULL CHECK (lon BETWEEN -6.5 AND 2.0),
    -- Capability codes, including lang:* (from the languages field) and,
    -- for workers, gender:* (from the gender field).
    capabilities    text[] NOT NULL DEFAULT '{}',

    -- worker (sitting service)
    min_visit_minutes       int CHECK (min_visit_minutes BETWEEN 15 AND 1440),
    max_visit_minutes       int CHECK (max_visit_minutes BETWEEN 15 AND 1440),
    -- Kept free after every visit so the worker can reach the next one;
    -- a booking's allocation span includes it.
    travel_buffer_minutes   int CHECK (travel_buffer_minutes BETWEEN 0 AND 240),
    travel_radius_km        float8 CHECK (travel_radius_km BETWEEN 0 AND 100),
    gender                  text CHECK (gender IN ('female', 'male')),

    -- household (Shared Lives carer)
    bedrooms                int CHECK (bedrooms BETWEEN 0 AND 6),
    day_places              int CHECK (day_places BETWEEN 0 AND 6),
    day_price_pence         int CHECK (day_price_pence >= 0),
    day_price_unit          price_unit CHECK (day_price_unit IN ('hour', 'session')),
    -- Approved from approved_from to the day before approval_expires;
    -- Shared Lives carers are re-approved every two years.
    approved_from           date,
    approval_expires        date,

    -- offer (hotel and leisure)
    expires                 date,       -- last day the offer can be used

    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    attrs           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attrs) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),

    -- household, read by people rather than by search:
    -- {pets:[..], smoking:bool, household_members:"..", accessibility:[..],
    --  interests:[..]}; the matchable parts are also capabilities (env:*,
    -- access:*).
    compatibility           jsonb,
    -- Optional service-level agreement for newly approved short-break
    -- carers: guaranteed income for sla_months, a target number of
    -- arrangements per bedroom per year (typically 16).
    sla_starts              date,
    sla_months              int CHECK (sla_months BETWEEN 1 AND 24),
    sla_guaranteed_pence    bigint CHECK (sla_guaranteed_pence >= 0),
    sla_target_per_bedroom  int CHECK (sla_target_per_bedroom BETWEEN 1 AND 52),

    -- offer, read by people
    offer_type          text CHECK (offer_type IN ('overnight_stay', 'theatre', 'meal', 'spa',
                                                   'sport', 'day_activity')),
    party_size          int CHECK (party_size BETWEEN 1 AND 10),
    duration_minutes    int CHECK (duration_minutes BETWEEN 15 AND 1440),
    -- e.g. {"per_carer_per":"quarter","max":1}; enforced when booking.
    conditions          jsonb,
    dietary_notes       text CHECK (length(dietary_notes) <= 1000),

    FOREIGN KEY (provider_id, authority_id, kind)
        REFERENCES provider (id, authority_id, supplies),
    UNIQUE (provider_id, name),
    CHECK ((kind = 'worker') = (travel_radius_km IS NOT NULL AND min_visit_minutes IS NOT NULL
                                AND max_visit_minutes IS NOT NULL AND travel_buffer_minutes IS NOT NULL)),
    CHECK (kind = 'worker' OR gender IS NULL),
    CHECK (min_visit_minutes <= max_visit_minutes),
    CHECK ((kind = 'household') = (bedrooms IS NOT NULL AND day_places IS NOT NULL
                                   AND compatibility IS NOT NULL AND approved_from IS NOT NULL
                                   AND approval_expires IS NOT NULL)),
    CHECK (bedrooms + day_places > 0),
    CHECK (coalesce(day_places, 0) = 0 OR (day_price_pence IS NOT NULL AND day_price_unit IS NOT NULL)),
    CHECK (approval_expires > approved_from AND approval_expires <= approved_from + interval '2 years'),
    CHECK (kind = 'household' OR (day_price_pence IS NULL AND sla_starts IS NULL)),
    CHECK ((sla_starts IS NULL) = (sla_months IS NULL)
           AND (sla_starts IS NULL) = (sla_guaranteed_pence IS NULL)
           AND (sla_starts IS NULL) = (sla_target_per_bedroom IS NULL)),
    CHECK ((kind = 'offer') = (offer_type IS NOT NULL AND party_size IS NOT NULL
                               AND conditions IS NOT NULL)),
    CHECK (kind = 'offer' OR (duration_minutes IS NULL AND dietary_notes IS NULL AND expires IS NULL)),
    CHECK (kind <> 'offer' OR NOT emergency_only)
);
CREATE INDEX supply_provider ON supply (provider_id, kind, id);
-- Search's candidate scan. (A GIN index on capabilities was measured and
-- dropped: inside one authority and kind the candidates are at most a few
-- thousand rows, and generic plans that used GIN, e.g. for an empty needs
-- array, were 5-40 times slower.)
CREATE INDEX supply_searchable ON supply (authority_id, kind) WHERE active AND NOT emergency_only;

-- Arrays cannot carry foreign keys; this is the backstop behind the api
-- functions' friendlier per-field errors.
CREATE FUNCTION rs_capabilities_known() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(NEW.capabilities) c
                WHERE NOT EXISTS (SELECT 1 FROM capability k WHERE k.code = c)) THEN
        RAISE EXCEPTION 'unknown capability in %', NEW.capabilities;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER supply_capabilities_known BEFORE INSERT OR UPDATE OF capabilities ON supply
    FOR EACH ROW EXECUTE FUNCTION rs_capabilities_known();
CREATE TRIGGER provider_capabilities_known BEFORE INSERT OR UPDATE OF capabilities ON provider
    FOR EACH ROW EXECUTE FUNCTION rs_capabilities_known();

CREATE TABLE unit (
    id          bigserial PRIMARY KEY,
    supply_id   bigint NOT NULL REFERENCES supply(id),
    kind        unit_kind NOT NULL,
    label       text NOT NULL,
    -- Units are never deleted (allocations point at them); a household
    -- that gives up a bedroom deactivates its unit.
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (supply_id, kind, label)
);
-- Search: "the units of supply X of this kind", answered from the index.
CREATE INDEX unit_probe ON unit (supply_id, kind, id) WHERE active;

-- ---------------------------------------------------------------------------
-- Published availability. Each table holds, per supply, disjoint
-- half-open ranges: the exclusion constraint refuses overlap. Ranges that
-- touch are merged by availability.publish too (rs_merge_published), so
-- a bookable window is always inside one row; a constraint for that
-- (-|-) would double the index work of loading a year of shifts, and a
-- stray adjacent pair could only hide availability, never oversell it.

CREATE TABLE avail_nights (
    id          bigserial PRIMARY KEY,
    supply_id   bigint NOT NULL REFERENCES supply(id),
    nights      daterange NOT NULL CHECK (NOT isempty(nights) AND NOT lower_inf(nights)
                                          AND NOT upper_inf(nights)),
    EXCLUDE USING gist (supply_id WITH =, nights WITH &&)
);
-- Search asks "is this window inside a published range of supply X": a
-- bed has a handful of ranges, and the exclusion constraint's gist index
-- answers it directly (supply_id =, nights @>).

CREATE TABLE avail_span (
    id          bigserial PRIMARY KEY,
    supply_id   bigint NOT NULL REFERENCES supply(id),
    span        tstzrange NOT NULL CHECK (NOT isempty(span) AND NOT lower_inf(span)
                                          AND NOT upper_inf(span) AND lower_inc(span)
                                          AND NOT upper_inc(span)),
    EXCLUDE USING gist (supply_id WITH =, span WITH &&)
);
-- A worker has hundreds of shifts a year. They are disjoint, so the only
-- one that can contain a visit is the last one starting at or before it:
-- one btree step, cheaper than a probe of the gist index (measured).
CREATE INDEX avail_span_probe ON avail_span (supply_id, lower(span)) INCLUDE (span);

-- Offers: seats per date or per session (starts_at set for a timed
-- session such as a theatre performance). Seats are taken by
--   UPDATE offer_session SET booked = booked + n WHERE id = $1 AND booked + n <= quantity
-- so the CHECK makes overselling impossible.
CREATE TABLE offer_session (
    id          bigserial PRIMARY KEY,
    supply_id   bigint NOT NULL REFERENCES supply(id),
    day         date NOT NULL,
    starts_at   timestamptz,
    quantity    int NOT NULL CHECK (quantity >= 0),
    booked      int NOT NULL DEFAULT 0 CHECK (booked BETWEEN 0 AND quantity),
    UNIQUE NULLS NOT DISTINCT (supply_id, day, starts_at)
);

-- ---------------------------------------------------------------------------
-- Capacity taken by bookings. booking_id's foreign key is added by the
-- booking migration. A worker's span includes the travel buffer after the
-- visit so back-to-back visits keep it. Inactive rows are history
-- (cancelled bookings, expired holds) and block nothing.
--
-- Locking contract with availability.withdraw: withdraw locks the supply
-- row FOR UPDATE, checks allocations, then removes availability. A booking
-- must lock the same supply row (FOR SHARE is enough) before it checks
-- availability and inserts its allocation, so the two cannot interleave.

CREATE TABLE allocation (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL,
    unit_id     bigint NOT NULL REFERENCES unit(id),
    nights      daterange,
    span        tstzrange,
    active      boolean NOT NULL DEFAULT true,
    CHECK (nights IS NOT NULL OR span IS NOT NULL),
    -- "nights IS NOT NULL" changes nothing (NULL never conflicts) but keeps
    -- span rows out of the nights index and the other way round.
    EXCLUDE USING gist (unit_id WITH =, nights WITH &&) WHERE (active AND nights IS NOT NULL),
    EXCLUDE USING gist (unit_id WITH =, span WITH &&) WHERE (active AND span IS NOT NULL)
);
CREATE INDEX allocation_booking ON allocation (booking_id);
-- Search asks "is unit U taken during this window". Active allocations of
-- a unit are disjoint (the exclusion constraints), so only the last one
-- starting before the window ends can overlap it: one btree step.
CREATE INDEX allocation_nights_probe ON allocation (unit_id, lower(nights)) INCLUDE (nights)
    WHERE active AND nights IS NOT NULL;
CREATE INDEX allocation_span_probe ON allocation (unit_id, lower(span)) INCLUDE (span)
    WHERE active AND span IS NOT NULL;

CREATE TABLE offer_allocation (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL,
    session_id  bigint NOT NULL REFERENCES offer_session(id),
    seats       int NOT NULL CHECK (seats > 0),
    active      boolean NOT NULL DEFAULT true
);
CREATE INDEX offer_allocation_booking ON offer_allocation (booking_id);
CREATE INDEX offer_allocation_session ON offer_allocation (session_id) WHERE active;

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

-- ---------------------------------------------------------------------------
-- Params. The daemon's gate has already checked types and ranges against
-- the C schema; these accessors check again because SQL trusts no caller,
-- and name the field (with its path inside arrays: "ranges[3].to") in the
-- error. `at` is the path prefix of the object being read.

CREATE FUNCTION rs_p(obj jsonb, key text, want text, at text DEFAULT '')
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> want THEN
        PERFORM rs_bad_param(at || key, 'wrong type: expected ' || want);
    END IF;
    RETURN v;
END $$;

CREATE FUNCTION rs_p_required(obj jsonb, key text, at text DEFAULT '')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF obj -> key IS NULL OR jsonb_typeof(obj -> key) = 'null' THEN
        PERFORM rs_bad_param(at || key, 'required');
    END IF;
END $$;

CREATE FUNCTION rs_p_text(obj jsonb, key text, maxlen int DEFAULT 200, at text DEFAULT '')
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'string', at) #>> '{}';
BEGIN
    IF s IS NOT NULL AND (btrim(s) = '' OR length(s) > maxlen) THEN
        PERFORM rs_bad_param(at || key, format('must be 1 to %s characters', maxlen));
    END IF;
    RETURN s;
END $$;

CREATE FUNCTION rs_p_int(obj jsonb, key text, lo bigint, hi bigint, at text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'number', at) #>> '{}';
    n numeric;
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    n := s::numeric;
    IF n <> trunc(n) THEN
        PERFORM rs_bad_param(at || key, 'wrong type: expected integer');
    END IF;
    IF n < 0 AND lo >= 0 THEN
        PERFORM rs_bad_param(at || key, 'must not be negative');
    END IF;
    IF n < lo OR n > hi THEN
        PERFORM rs_bad_param(at || key, format('out of range (%s to %s)', lo, hi));
    END IF;
    RETURN n::bigint;
END $$;

CREATE FUNCTION rs_p_num(obj jsonb, key text, lo float8, hi float8, at text DEFAULT '')
RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n float8 := (rs_p(obj, key, 'number', at) #>> '{}')::float8;
BEGIN
    IF n < lo OR n > hi THEN
        PERFORM rs_bad_param(at || key, format('out of range (%s to %s)', lo, hi));
    END IF;
    RETURN n;
END $$;

CREATE FUNCTION rs_p_bool(obj jsonb, key text, at text DEFAULT '')
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (rs_p(obj, key, 'boolean', at) #>> '{}')::boolean
$$;

CREATE FUNCTION rs_p_date(obj jsonb, key text, at text DEFAULT '')
RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'string', at) #>> '{}';
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    IF s ~ '^\d{4}-\d{2}-\d{2}$' THEN
        BEGIN
            RETURN to_date(s, 'YYYY-MM-DD');  -- refuses 2026-02-30
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;
    PERFORM rs_bad_param(at || key, 'bad date: expected YYYY-MM-DD');
    RETURN NULL;
END $$;

CREATE FUNCTION rs_p_ts(obj jsonb, key text, at text DEFAULT '')
RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'string', at) #>> '{}';
BEGIN
    IF s IS NULL THEN
        RETURN NULL;
    END IF;
    -- RFC 3339 with an explicit offset: an instant, never a local time.
    IF s ~* '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$' THEN
        BEGIN
            RETURN s::timestamptz;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END IF;
    PERFORM rs_bad_param(at || key, 'bad timestamp: expected RFC 3339 with offset');
    RETURN NULL;
END $$;

CREATE FUNCTION rs_p_time(obj jsonb, key text, at text DEFAULT '')
RETURNS time LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'string', at) #>> '{}';
BEGIN
    IF s IS NOT NULL AND s !~ '^([01]\d|2[0-3]):[0-5]\d$' THEN
        PERFORM rs_bad_param(at || key, 'bad time: expected HH:MM');
    END IF;
    RETURN s::time;
END $$;

CREATE FUNCTION rs_p_enum(obj jsonb, key text, allowed text[], at text DEFAULT '')
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    s text := rs_p(obj, key, 'string', at) #>> '{}';
BEGIN
    IF s IS NOT NULL AND NOT s = ANY (allowed) THEN
        PERFORM rs_bad_param(at || key, 'must be one of ' || array_to_string(allowed, ', '));
    END IF;
    RETURN s;
END $$;

CREATE FUNCTION rs_p_array(obj jsonb, key text, maxn int, at text DEFAULT '')
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    a jsonb := rs_p(obj, key, 'array', at);
BEGIN
    IF jsonb_array_length(a) > maxn THEN
        PERFORM rs_bad_param(at || key, format('at most %s items', maxn));
    END IF;
    RETURN a;
END $$;

-- Refuses members of a nested object other than `allowed` (the gate does
-- this for top-level params; kind-specific shapes are checked here).
CREATE FUNCTION rs_p_only(obj jsonb, allowed text[], at text, why text DEFAULT 'unknown field')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
BEGIN
    SELECT key INTO k FROM jsonb_object_keys(obj) AS key
     WHERE NOT key = ANY (allowed) ORDER BY key LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM rs_bad_param(at || k, why);
    END IF;
END $$;

CREATE FUNCTION rs_p_ids(obj jsonb, key text, maxn int, at text DEFAULT '')
RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    a jsonb := rs_p_array(obj, key, maxn, at);
    e jsonb;
    i int := 0;
    out bigint[] := '{}';
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    FOR e IN SELECT value FROM jsonb_array_elements(a) LOOP
        IF jsonb_typeof(e) <> 'number' OR (e #>> '{}') !~ '^\d{1,18}$' THEN
            PERFORM rs_bad_param(format('%s%s[%s]', at, key, i), 'expected a positive integer id');
        END IF;
        out := out || (e #>> '{}')::bigint;
        i := i + 1;
    END LOOP;
    RETURN out;
END $$;

-- An array of capability codes, each one checked against the vocabulary;
-- the first unknown one is named with its index: "needs[2]".
CREATE FUNCTION rs_p_caps(obj jsonb, key text, at text DEFAULT '')
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    a jsonb := rs_p_array(obj, key, 100, at);
    bad record;
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT e.value, e.n - 1 AS i INTO bad
      FROM jsonb_array_elements(a) WITH ORDINALITY AS e(value, n)
     WHERE jsonb_typeof(e.value) <> 'string'
        OR NOT EXISTS (SELECT 1 FROM capability c WHERE c.code = e.value #>> '{}')
     ORDER BY e.n LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('%s%s[%s]', at, key, bad.i),
            CASE WHEN jsonb_typeof(bad.value) <> 'string' THEN 'wrong type: expected string'
                 ELSE 'unknown capability ' || (bad.value #>> '{}') END);
    END IF;
    RETURN ARRAY(SELECT DISTINCT e #>> '{}' FROM jsonb_array_elements(a) e ORDER BY 1);
END $$;

-- Languages are given as ISO 639-1 codes ("pa") and must be in the
-- vocabulary as lang:<code>. Returns the codes without the prefix.
CREATE FUNCTION rs_p_langs(obj jsonb, key text, at text DEFAULT '')
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    a jsonb := rs_p_array(obj, key, 50, at);
    bad record;
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT e.value, e.n - 1 AS i INTO bad
      FROM jsonb_array_elements(a) WITH ORDINALITY AS e(value, n)
     WHERE jsonb_typeof(e.value) <> 'string'
        OR NOT EXISTS (SELECT 1 FROM capability c
                        WHERE c.category = 'language' AND c.code = 'lang:' || (e.value #>> '{}'))
     ORDER BY e.n LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('%s%s[%s]', at, key, bad.i),
            'unknown language ' || (bad.value #>> '{}') || ' (ISO 639-1 code from capability.list)');
    END IF;
    RETURN ARRAY(SELECT DISTINCT e #>> '{}' FROM jsonb_array_elements(a) e ORDER BY 1);
END $$;

CREATE FUNCTION rs_p_limit(p jsonb, dflt int, maxn int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(rs_p_int(p, 'limit', 1, maxn), dflt)::int $$;

CREATE FUNCTION rs_p_offset(p jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(rs_p_int(p, 'offset', 0, 100000), 0)::int $$;

-- ---------------------------------------------------------------------------
-- Tenancy. Admins see everything; everyone else works inside their
-- authority; a provider user manages only its own provider.

CREATE FUNCTION rs_provider_for(ctx jsonb, pid bigint, manage boolean) RETURNS provider
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
BEGIN
    SELECT * INTO pr FROM provider WHERE id = pid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such provider', jsonb_build_object('provider_id', pid));
    END IF;
    IF ctx->>'role' = 'admin' THEN
        RETURN pr;
    END IF;
    IF pr.authority_id IS DISTINCT FROM rs_authority(ctx)
       OR (manage AND ctx->>'role' = 'provider'
           AND pr.id IS DISTINCT FROM (ctx->>'provider_id')::bigint)
       OR (manage AND NOT ctx->>'role' IN ('coordinator', 'provider')) THEN
        PERFORM rs_raise('forbidden', 'this provider is not yours to see or change',
                         jsonb_build_object('provider_id', pid));
    END IF;
    RETURN pr;
END $$;

CREATE FUNCTION rs_supply_for(ctx jsonb, sid bigint, manage boolean) RETURNS supply
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s supply;
BEGIN
    SELECT * INTO s FROM supply WHERE id = sid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such supply', jsonb_build_object('supply_id', sid));
    END IF;
    PERFORM rs_provider_for(ctx, s.provider_id, manage);
    RETURN s;
END $$;

-- The supply a call names in params.supply_id (required), within reach.
CREATE FUNCTION rs_supply_named(ctx jsonb, p jsonb, manage boolean) RETURNS supply
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM rs_p_required(p, 'supply_id');
    RETURN rs_supply_for(ctx, rs_p_int(p, 'supply_id', 1, 9223372036854775807), manage);
END $$;

-- The authority a new record goes into: admins must name one that exists;
-- everyone else works in their own and may only name that. `what` says
-- what is being added, for the refusal.
CREATE FUNCTION rs_target_authority(ctx jsonb, v_auth bigint, what text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF ctx->>'role' = 'admin' THEN
        IF v_auth IS NULL THEN
            PERFORM rs_bad_param('authority_id', 'required');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM authority WHERE id = v_auth) THEN
            PERFORM rs_raise('not_found', 'no such authority', jsonb_build_object('authority_id', v_auth));
        END IF;
        RETURN v_auth;
    END IF;
    IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
        PERFORM rs_raise('forbidden', format('you may add %s only to your own authority', what));
    END IF;
    RETURN rs_authority(ctx);
END $$;

-- The provider a provider-side call acts on: provider users default to
-- their own; coordinators and admins must say which.
CREATE FUNCTION rs_provider_param(ctx jsonb, p jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    pid bigint := rs_p_int(p, 'provider_id', 1, 9223372036854775807);
BEGIN
    IF pid IS NULL AND ctx->>'role' = 'provider' THEN
        pid := (ctx->>'provider_id')::bigint;
        IF pid IS NULL THEN
            PERFORM rs_raise('forbidden', 'your account is not linked to a provider');
        END IF;
    END IF;
    IF pid IS NULL THEN
        PERFORM rs_bad_param('provider_id', 'required');
    END IF;
    RETURN pid;
END $$;

-- Booking ids holding capacity of a supply during a window, for the
-- 'booked' refusals. Nights and spans are compared with what each
-- allocation stores.
CREATE FUNCTION rs_bookings_during(sid bigint, n datemultirange, s tstzmultirange)
RETURNS bigint[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT a.booking_id ORDER BY a.booking_id), '{}')
      FROM unit u JOIN allocation a ON a.unit_id = u.id
     WHERE u.supply_id = sid AND a.active
       AND ((a.nights IS NOT NULL AND a.nights && n) OR (a.span IS NOT NULL AND a.span && s))
$$;

-- Booking ids with any capacity of a supply from now on (used before a
-- supply, provider or bedroom is taken out of service).
CREATE FUNCTION rs_bookings_ahead(sid bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}') FROM (
        SELECT a.booking_id AS b
          FROM unit u JOIN allocation a ON a.unit_id = u.id
         WHERE u.supply_id = sid AND a.active
           AND (upper(a.nights) > rs_today() OR upper(a.span) > now())
        UNION ALL
        SELECT oa.booking_id
          FROM offer_session os JOIN offer_allocation oa ON oa.session_id = os.id
         WHERE os.supply_id = sid AND oa.active AND os.day >= rs_today()) x
$$;

-- ---------------------------------------------------------------------------
-- capability.list: the vocabulary, for pickers in every client.

CREATE FUNCTION api.capability_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_category text := rs_p_text(p, 'category', 32);
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    RETURN jsonb_build_object('capabilities', coalesce((
        SELECT jsonb_agg(jsonb_build_object('code', code, 'category', category, 'label', label)
                         ORDER BY category, code)
          FROM capability
         WHERE v_category IS NULL OR category = v_category), '[]'));
END $$;

-- ---------------------------------------------------------------------------
-- Providers

CREATE FUNCTION rs_provider_json(pr provider) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'provider_id', pr.id, 'authority_id', pr.authority_id, 'type', pr.type,
        'supplies', pr.supplies, 'name', pr.name,
        'postcode_district', pr.postcode_district, 'lat', pr.lat, 'lon', pr.lon,
        'languages', to_jsonb(pr.languages), 'capabilities', to_jsonb(pr.capabilities),
        'cqc_rating', pr.cqc_rating, 'active', pr.active,
        'supply_count', (SELECT count(*) FROM supply s WHERE s.provider_id = pr.id AND s.active))
$$;

CREATE FUNCTION rs_p_district(p jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    d text := upper(replace(rs_p_text(p, 'postcode_district', 8), ' ', ''));
BEGIN
    IF d IS NOT NULL AND d !~ '^[A-Z]{1,2}[0-9][0-9A-Z]?$' THEN
        PERFORM rs_bad_param('postcode_district', 'not a postcode district (e.g. L17, CH41)');
    END IF;
    RETURN d;
END $$;

-- Coordinates must lie in England (the service's scope), roughly.
CREATE FUNCTION rs_p_lat(p jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT rs_p_num(p, 'lat', 49.8, 55.9) $$;
CREATE FUNCTION rs_p_lon(p jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT rs_p_num(p, 'lon', -6.5, 2.0) $$;

CREATE FUNCTION rs_p_cqc(p jsonb, ptype provider_type) RETURNS cqc_rating
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r text := rs_p_enum(p, 'cqc_rating', ARRAY['outstanding', 'good', 'requires_improvement', 'inadequate']);
BEGIN
    IF r IS NOT NULL AND ptype = 'hotel_leisure' THEN
        PERFORM rs_bad_param('cqc_rating', 'hotel and leisure partners are not CQC-regulated');
    END IF;
    RETURN r::cqc_rating;
END $$;

CREATE FUNCTION api.provider_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    v_type provider_type;
    pr provider;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    v_auth := rs_target_authority(ctx, v_auth, 'providers');
    PERFORM rs_p_required(p, k) FROM unnest(ARRAY['type', 'name', 'postcode_district', 'lat', 'lon']) k;
    v_type := rs_p_enum(p, 'type', ARRAY['residential', 'sitting', 'shared_lives', 'hotel_leisure']);
    IF EXISTS (SELECT 1 FROM provider WHERE authority_id = v_auth AND name = p->>'name') THEN
        PERFORM rs_raise('conflict', 'a provider with this name exists in the authority',
                         jsonb_build_object('field', 'name'));
    END IF;
    INSERT INTO provider (authority_id, type, name, postcode_district, lat, lon,
                          languages, capabilities, cqc_rating)
    VALUES (v_auth, v_type, rs_p_text(p, 'name'), rs_p_district(p), rs_p_lat(p), rs_p_lon(p),
            coalesce(rs_p_langs(p, 'languages'), '{}'), coalesce(rs_p_caps(p, 'capabilities'), '{}'),
            rs_p_cqc(p, v_type))
    RETURNING * INTO pr;
    RETURN idem_end(ctx, p, rs_provider_json(pr));
END $$;

-- Fields present are changed; absent ones are kept. A provider user may
-- correct its own details but not its CQC rating or whether it is active.
CREATE FUNCTION api.provider_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    pr provider;
    held bigint[];
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    PERFORM rs_p_required(p, 'provider_id');
    pr := rs_provider_for(ctx, rs_p_int(p, 'provider_id', 1, 9223372036854775807), true);
    IF ctx->>'role' = 'provider' AND (p ? 'cqc_rating' OR p ? 'active') THEN
        PERFORM rs_raise('forbidden', 'the CQC rating and active flag are set by the authority',
                         jsonb_build_object('field', CASE WHEN p ? 'cqc_rating' THEN 'cqc_rating' ELSE 'active' END));
    END IF;
    IF p ? 'name' AND p->>'name' IS DISTINCT FROM pr.name
       AND EXISTS (SELECT 1 FROM provider WHERE authority_id = pr.authority_id AND name = p->>'name') THEN
        PERFORM rs_raise('conflict', 'a provider with this name exists in the authority',
                         jsonb_build_object('field', 'name'));
    END IF;
    -- Taking a provider out of service must not silently cancel breaks.
    IF rs_p_bool(p, 'active') = false AND pr.active THEN
        SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}') INTO held
          FROM supply s, unnest(rs_bookings_ahead(s.id)) b WHERE s.provider_id = pr.id;
        IF cardinality(held) > 0 THEN
            PERFORM rs_raise('booked', 'the provider has upcoming bookings',
                             jsonb_build_object('bookings', held));
        END IF;
    END IF;
    IF p ? 'active' AND rs_p_bool(p, 'active') IS NULL THEN
        PERFORM rs_bad_param('active', 'must be true or false');
    END IF;
    -- A provider out of service takes its supply with it (so search need
    -- not look at providers); reactivating it reactivates nothing: each
    -- supply is switched back on with supply.update.
    IF rs_p_bool(p, 'active') = false THEN
        UPDATE supply SET active = false, updated_at = now() WHERE provider_id = pr.id AND active;
    END IF;
    UPDATE provider SET
        name = coalesce(rs_p_text(p, 'name'), name),
        postcode_district = coalesce(rs_p_district(p), postcode_district),
        lat = coalesce(rs_p_lat(p), lat),
        lon = coalesce(rs_p_lon(p), lon),
        languages = coalesce(rs_p_langs(p, 'languages'), languages),
        capabilities = coalesce(rs_p_caps(p, 'capabilities'), capabilities),
        cqc_rating = CASE WHEN p ? 'cqc_rating' THEN rs_p_cqc(p, type) ELSE cqc_rating END,
        active = coalesce(rs_p_bool(p, 'active'), active),
        updated_at = now()
     WHERE id = pr.id
    RETURNING * INTO pr;
    RETURN idem_end(ctx, p, rs_provider_json(pr));
END $$;

CREATE FUNCTION api.provider_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    PERFORM rs_p_required(p, 'provider_id');
    RETURN rs_provider_json(rs_provider_for(ctx, rs_p_int(p, 'provider_id', 1, 9223372036854775807), false));
END $$;

CREATE FUNCTION api.provider_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    v_type text := rs_p_enum(p, 'type', ARRAY['residential', 'sitting', 'shared_lives', 'hotel_leisure']);
    v_limit int := rs_p_limit(p, 50, 200);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    IF ctx->>'role' <> 'admin' THEN
        IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may list only your own authority''s providers');
        END IF;
        v_auth := rs_authority(ctx);
    END IF;
    SELECT coalesce(jsonb_agg(rs_provider_json(pr) ORDER BY pr.name, pr.id), '[]') INTO rows
      FROM (SELECT * FROM provider
             WHERE (v_auth IS NULL OR authority_id = v_auth)
               AND (v_type IS NULL OR type = v_type::provider_type)
             ORDER BY name, id LIMIT v_limit + 1 OFFSET v_offset) pr;
    RETURN jsonb_build_object(
        'providers', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- ---------------------------------------------------------------------------
-- Supply

-- Params each kind accepts besides the common ones; a field of another
-- kind is refused by name ("bedrooms: not allowed for kind worker").
CREATE FUNCTION rs_supply_fields(k supply_kind) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['idempotency_key', 'provider_id', 'supply_id', 'kind', 'name', 'capabilities',
                 'languages', 'emergency_only', 'price_pence', 'price_unit', 'lat', 'lon',
                 'attrs', 'active']
        || CASE k
             WHEN 'worker' THEN ARRAY['gender', 'travel_radius_km', 'min_visit_minutes',
                                      'max_visit_minutes', 'travel_buffer_minutes']
             WHEN 'household' THEN ARRAY['bedrooms', 'day_places', 'day_price_pence',
                                         'day_price_unit', 'compatibility', 'approved_from',
                                         'approval_expires', 'sla']
             WHEN 'offer' THEN ARRAY['offer_type', 'party_size', 'duration_minutes',
                                     'conditions', 'dietary_notes', 'expires']
             ELSE '{}'::text[] END
$$;

CREATE FUNCTION rs_price_units(k supply_kind) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE k WHEN 'bed' THEN ARRAY['night']
                  WHEN 'worker' THEN ARRAY['hour', 'session']
                  WHEN 'household' THEN ARRAY['night', 'stay']
                  ELSE ARRAY['session', 'night'] END
$$;

-- A supply's current state in the shape of supply.create params, so an
-- update can be validated as "the current state with these changes".
CREATE FUNCTION rs_supply_params(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(to_jsonb(s) - 'id' - 'provider_id' - 'authority_id' - 'kind'
                             - 'active' - 'created_at' - 'updated_at' - 'sla_starts'
                             - 'sla_months' - 'sla_guaranteed_pence' - 'sla_target_per_bedroom')
        || jsonb_build_object(
               'capabilities', to_jsonb(ARRAY(SELECT c FROM unnest(s.capabilities) c
                                               WHERE c !~ '^(lang|gender):' ORDER BY c)),
               'languages', to_jsonb(ARRAY(SELECT substr(c, 6) FROM unnest(s.capabilities) c
                                            WHERE c ~ '^lang:' ORDER BY c)))
        || CASE WHEN s.sla_starts IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('sla', jsonb_build_object(
                         'starts', s.sla_starts, 'months', s.sla_months,
                         'guaranteed_income_pence', s.sla_guaranteed_pence,
                         'target_per_bedroom_per_year', s.sla_target_per_bedroom)) END
      FROM supply s WHERE s.id = sid
$$;

CREATE FUNCTION rs_worker_norm(d jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_min int := coalesce(rs_p_int(d, 'min_visit_minutes', 15, 1440), 60);
    v_max int := coalesce(rs_p_int(d, 'max_visit_minutes', 15, 1440), 720);
BEGIN
    IF v_max < v_min THEN
        PERFORM rs_bad_param('max_visit_minutes', 'must not be less than min_visit_minutes');
    END IF;
    RETURN jsonb_build_object(
        'gender', rs_p_enum(d, 'gender', ARRAY['female', 'male']),
        'travel_radius_km', coalesce(rs_p_num(d, 'travel_radius_km', 0, 100), 10),
        'min_visit_minutes', v_min, 'max_visit_minutes', v_max,
        'travel_buffer_minutes', coalesce(rs_p_int(d, 'travel_buffer_minutes', 0, 240), 15));
END $$;

-- `given` is what the caller sent: checks against today apply only to
-- dates the caller is setting now, so an expired household can still be
-- renamed or re-approved.
CREATE FUNCTION rs_household_norm(d jsonb, given jsonb, is_new boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_rooms int := coalesce(rs_p_int(d, 'bedrooms', 0, 6), 0);
    v_days int := coalesce(rs_p_int(d, 'day_places', 0, 6), 0);
    v_from date := coalesce(rs_p_date(d, 'approved_from'), rs_today());
    v_until date;
    compat jsonb := coalesce(rs_p(d, 'compatibility', 'object'), '{}');
    sla jsonb := rs_p(d, 'sla', 'object');
    v_sla_start date;
BEGIN
    PERFORM rs_p_required(d, 'approval_expires');
    v_until := rs_p_date(d, 'approval_expires');
    IF v_rooms + v_days = 0 THEN
        PERFORM rs_bad_param('bedrooms', 'a household needs at least one bedroom or day place');
    END IF;
    IF v_days > 0 THEN
        PERFORM rs_p_required(d, 'day_price_pence');
        PERFORM rs_p_required(d, 'day_price_unit');
    END IF;
    IF v_until <= v_from THEN
        PERFORM rs_bad_param('approval_expires', 'must be after approved_from');
    END IF;
    IF v_until > v_from + interval '2 years' THEN
        PERFORM rs_bad_param('approval_expires', 'approval lasts at most two years from approved_from');
    END IF;
    IF (is_new OR given ? 'approval_expires') AND v_until <= rs_today() THEN
        PERFORM rs_bad_param('approval_expires', 'in the past: the approval has expired');
    END IF;
    -- The profile people read when matching; its types are checked here.
    PERFORM rs_p_only(compat, ARRAY['pets', 'smoking', 'household_members', 'accessibility',
                                    'interests'], 'compatibility.');
    PERFORM rs_p_array(compat, 'pets', 20, 'compatibility.'),
            rs_p_bool(compat, 'smoking', 'compatibility.'),
            rs_p_text(compat, 'household_members', 500, 'compatibility.'),
            rs_p_array(compat, 'accessibility', 20, 'compatibility.'),
            rs_p_array(compat, 'interests', 50, 'compatibility.');
    IF sla IS NOT NULL THEN
        PERFORM rs_p_only(sla, ARRAY['starts', 'months', 'guaranteed_income_pence',
                                     'target_per_bedroom_per_year'], 'sla.');
        PERFORM rs_p_required(sla, 'guaranteed_income_pence', 'sla.');
        v_sla_start := coalesce(rs_p_date(sla, 'starts', 'sla.'), v_from);
    END IF;
    RETURN jsonb_build_object(
        'bedrooms', v_rooms, 'day_places', v_days,
        'day_price_pence', rs_p_int(d, 'day_price_pence', 0, 10000000),
        'day_price_unit', rs_p_enum(d, 'day_price_unit', ARRAY['hour', 'session']),
        'compatibility', compat, 'approved_from', v_from, 'approval_expires', v_until,
        'sla_starts', v_sla_start,
        'sla_months', CASE WHEN sla IS NOT NULL THEN coalesce(rs_p_int(sla, 'months', 1, 24, 'sla.'), 12) END,
        'sla_guaranteed_pence', rs_p_int(sla, 'guaranteed_income_pence', 0, 100000000, 'sla.'),
        'sla_target_per_bedroom', CASE WHEN sla IS NOT NULL THEN
            coalesce(rs_p_int(sla, 'target_per_bedroom_per_year', 1, 52, 'sla.'), 16) END);
END $$;

CREATE FUNCTION rs_offer_norm(d jsonb, given jsonb, is_new boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cond jsonb := coalesce(rs_p(d, 'conditions', 'object'), '{}');
    v_expires date := rs_p_date(d, 'expires');
BEGIN
    PERFORM rs_p_required(d, 'offer_type');
    IF (is_new OR given ? 'expires') AND v_expires < rs_today() THEN
        PERFORM rs_bad_param('expires', 'in the past');
    END IF;
    PERFORM rs_p_only(cond, ARRAY['per_carer_per', 'max'], 'conditions.');
    IF cond ? 'per_carer_per' OR cond ? 'max' THEN
        PERFORM rs_p_required(cond, 'per_carer_per', 'conditions.'),
                rs_p_required(cond, 'max', 'conditions.'),
                rs_p_enum(cond, 'per_carer_per', ARRAY['month', 'quarter', 'year'], 'conditions.'),
                rs_p_int(cond, 'max', 1, 100, 'conditions.');
    END IF;
    RETURN jsonb_build_object(
        'offer_type', rs_p_enum(d, 'offer_type', ARRAY['overnight_stay', 'theatre', 'meal',
                                                       'spa', 'sport', 'day_activity']),
        'party_size', coalesce(rs_p_int(d, 'party_size', 1, 10), 1),
        'duration_minutes', rs_p_int(d, 'duration_minutes', 15, 1440),
        'conditions', cond,
        'dietary_notes', rs_p_text(d, 'dietary_notes', 1000),
        'expires', v_expires);
END $$;

-- Validates a whole supply description (defaults for a new one, or the
-- current state with the caller's changes) and returns it normalised with
-- column names: common columns plus the kind's side-table columns.
CREATE FUNCTION rs_supply_norm(k supply_kind, pr provider, d jsonb, given jsonb, is_new boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    caps text[];
    langs text[];
    side jsonb := '{}';
    bad text;
BEGIN
    PERFORM rs_p_only(given, rs_supply_fields(k), '', 'not allowed for kind ' || k);
    PERFORM rs_p_required(d, f) FROM unnest(ARRAY['name', 'price_pence', 'price_unit']) f;
    caps := coalesce(rs_p_caps(d, 'capabilities'), '{}');
    langs := coalesce(rs_p_langs(d, 'languages'), '{}');
    -- Languages and a worker's gender have their own fields, so the codes
    -- derived from them cannot disagree with what is in capabilities.
    SELECT format('capabilities[%s]', e.n - 1) INTO bad
      FROM jsonb_array_elements_text(coalesce(d->'capabilities', '[]')) WITH ORDINALITY AS e(c, n)
     WHERE e.c ~ '^(lang|gender):' ORDER BY e.n LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM rs_bad_param(bad, 'give languages in the languages field and a worker''s gender in the gender field');
    END IF;
    IF k = 'offer' AND rs_p_bool(d, 'emergency_only') THEN
        PERFORM rs_bad_param('emergency_only', 'not allowed for kind offer');
    END IF;
    side := CASE k WHEN 'worker' THEN rs_worker_norm(d)
                   WHEN 'household' THEN rs_household_norm(d, given, is_new)
                   WHEN 'offer' THEN rs_offer_norm(d, given, is_new)
                   ELSE '{}'::jsonb END;
    caps := ARRAY(SELECT DISTINCT c FROM unnest(caps || ARRAY(SELECT 'lang:' || l FROM unnest(langs) l)
                                                     || ('gender:' || (side->>'gender'))) c
                   WHERE c IS NOT NULL ORDER BY c);
    RETURN side || jsonb_build_object(
        'name', rs_p_text(d, 'name'),
        'capabilities', to_jsonb(caps),
        'emergency_only', coalesce(rs_p_bool(d, 'emergency_only'), false),
        'price_pence', rs_p_int(d, 'price_pence', 0, 10000000),
        'price_unit', rs_p_enum(d, 'price_unit', rs_price_units(k)),
        'lat', coalesce(rs_p_lat(d), pr.lat),
        'lon', coalesce(rs_p_lon(d), pr.lon),
        'attrs', coalesce(rs_p(d, 'attrs', 'object'), '{}'));
END $$;

-- Brings a supply's active units of one kind to `wanted`: reactivates or
-- adds units, or retires the last ones that hold no upcoming booking.
CREATE FUNCTION rs_sync_units(sid bigint, k unit_kind, wanted int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    have int;
    total int;
    n int;
    spare bigint[];
BEGIN
    SELECT count(*) FILTER (WHERE active), count(*) INTO have, total
      FROM unit WHERE supply_id = sid AND kind = k;
    IF wanted > have THEN
        UPDATE unit SET active = true
         WHERE id IN (SELECT id FROM unit WHERE supply_id = sid AND kind = k AND NOT active
                       ORDER BY id LIMIT wanted - have);
        GET DIAGNOSTICS n = ROW_COUNT;
        INSERT INTO unit (supply_id, kind, label)
        SELECT sid, k, k || ' ' || g FROM generate_series(total + 1, total + wanted - have - n) g;
    ELSIF wanted < have THEN
        spare := ARRAY(SELECT u.id FROM unit u
                        WHERE u.supply_id = sid AND u.kind = k AND u.active
                          AND NOT EXISTS (SELECT 1 FROM allocation a
                                           WHERE a.unit_id = u.id AND a.active
                                             AND (upper(a.nights) > rs_today() OR upper(a.span) > now()))
                        ORDER BY u.id DESC LIMIT have - wanted);
        IF cardinality(spare) < have - wanted THEN
            PERFORM rs_raise('booked', 'these places hold upcoming bookings',
                             jsonb_build_object('bookings', rs_bookings_ahead(sid)));
        END IF;
        UPDATE unit SET active = false WHERE id = ANY (spare);
    END IF;
END $$;

CREATE FUNCTION rs_supply_json(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'supply_id', s.id, 'provider_id', s.provider_id, 'authority_id', s.authority_id,
        'kind', s.kind, 'active', s.active,
        'units', (SELECT coalesce(jsonb_agg(jsonb_build_object('unit_id', u.id, 'kind', u.kind,
                                                               'label', u.label) ORDER BY u.id), '[]')
                    FROM unit u WHERE u.supply_id = s.id AND u.active))
        || rs_supply_params(s.id)
        || jsonb_build_object('capabilities', to_jsonb(s.capabilities))
      FROM supply s WHERE s.id = sid
$$;

-- The units a supply's profile calls for: one bed, one worker, a room per
-- bedroom and a place per day-support place; offers have none.
CREATE FUNCTION rs_supply_units(s supply) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE s.kind
        WHEN 'bed' THEN PERFORM rs_sync_units(s.id, 'bed', 1);
        WHEN 'worker' THEN PERFORM rs_sync_units(s.id, 'worker', 1);
        WHEN 'household' THEN
            PERFORM rs_sync_units(s.id, 'room', s.bedrooms);
            PERFORM rs_sync_units(s.id, 'day', s.day_places);
        ELSE NULL;
    END CASE;
END $$;

CREATE FUNCTION api.supply_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    pr provider;
    k supply_kind;
    norm jsonb;
    s supply;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    PERFORM rs_p_required(p, 'kind');
    k := rs_p_enum(p, 'kind', ARRAY['bed', 'worker', 'household', 'offer']);
    IF k <> pr.supplies THEN
        PERFORM rs_bad_param('kind', format('a %s provider supplies %s, not %s', pr.type, pr.supplies, k));
    END IF;
    IF p ? 'active' THEN
        PERFORM rs_bad_param('active', 'new supply is active; deactivate it with supply.update');
    END IF;
    -- Search trusts supply.active alone (provider.update cascades), so
    -- nothing becomes active under an inactive provider.
    IF NOT pr.active THEN
        PERFORM rs_raise('invalid_state', 'the provider is not active', jsonb_build_object('provider_id', pr.id));
    END IF;
    norm := rs_supply_norm(k, pr, p, p, true);
    IF EXISTS (SELECT 1 FROM supply WHERE provider_id = pr.id AND name = norm->>'name') THEN
        PERFORM rs_raise('conflict', 'this provider already has supply with this name',
                         jsonb_build_object('field', 'name'));
    END IF;
    INSERT INTO supply (provider_id, authority_id, kind, name, capabilities, emergency_only,
        price_pence, price_unit, lat, lon, attrs, gender, travel_radius_km, min_visit_minutes,
        max_visit_minutes, travel_buffer_minutes, bedrooms, day_places, day_price_pence,
        day_price_unit, compatibility, approved_from, approval_expires, sla_starts, sla_months,
        sla_guaranteed_pence, sla_target_per_bedroom, offer_type, party_size, duration_minutes,
        conditions, dietary_notes, expires)
    SELECT pr.id, pr.authority_id, k, r.name, r.capabilities, r.emergency_only,
        r.price_pence, r.price_unit, r.lat, r.lon, r.attrs, r.gender, r.travel_radius_km, r.min_visit_minutes,
        r.max_visit_minutes, r.travel_buffer_minutes, r.bedrooms, r.day_places, r.day_price_pence,
        r.day_price_unit, r.compatibility, r.approved_from, r.approval_expires, r.sla_starts, r.sla_months,
        r.sla_guaranteed_pence, r.sla_target_per_bedroom, r.offer_type, r.party_size, r.duration_minutes,
        r.conditions, r.dietary_notes, r.expires
      FROM jsonb_populate_record(NULL::supply, norm) r
    RETURNING * INTO s;
    PERFORM rs_supply_units(s);
    RETURN idem_end(ctx, p, rs_supply_json(s.id));
END $$;

-- Fields present replace the current ones (null clears an optional one,
-- e.g. "sla": null); the result is validated as a whole.
CREATE FUNCTION api.supply_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    s supply;
    norm jsonb;
    v_active boolean;
    held bigint[];
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    s := rs_supply_named(ctx, p, true);
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF p ? 'kind' OR p ? 'provider_id' THEN
        PERFORM rs_bad_param(CASE WHEN p ? 'kind' THEN 'kind' ELSE 'provider_id' END,
                             'cannot be changed; create new supply instead');
    END IF;
    v_active := rs_p_bool(p, 'active');
    IF p ? 'active' AND v_active IS NULL THEN
        PERFORM rs_bad_param('active', 'must be true or false');
    END IF;
    IF v_active AND NOT s.active
       AND NOT (SELECT pr.active FROM provider pr WHERE pr.id = s.provider_id) THEN
        PERFORM rs_raise('invalid_state', 'the provider is not active', jsonb_build_object('provider_id', s.provider_id));
    END IF;
    IF v_active = false AND s.active THEN
        held := rs_bookings_ahead(s.id);
        IF cardinality(held) > 0 THEN
            PERFORM rs_raise('booked', 'this supply has upcoming bookings',
                             jsonb_build_object('bookings', held));
        END IF;
    END IF;
    norm := rs_supply_norm(s.kind, (SELECT pr FROM provider pr WHERE pr.id = s.provider_id),
                           rs_supply_params(s.id) || (p - 'supply_id' - 'idempotency_key' - 'active'),
                           p, false);
    IF norm->>'name' <> s.name
       AND EXISTS (SELECT 1 FROM supply WHERE provider_id = s.provider_id AND name = norm->>'name') THEN
        PERFORM rs_raise('conflict', 'this provider already has supply with this name',
                         jsonb_build_object('field', 'name'));
    END IF;
    UPDATE supply u SET (name, capabilities, emergency_only, price_pence, price_unit, lat, lon,
        attrs, gender, travel_radius_km, min_visit_minutes, max_visit_minutes,
        travel_buffer_minutes, bedrooms, day_places, day_price_pence, day_price_unit,
        compatibility, approved_from, approval_expires, sla_starts, sla_months,
        sla_guaranteed_pence, sla_target_per_bedroom, offer_type, party_size, duration_minutes,
        conditions, dietary_notes, expires, active, updated_at)
      = (r.name, r.capabilities, r.emergency_only, r.price_pence, r.price_unit, r.lat, r.lon,
        r.attrs, r.gender, r.travel_radius_km, r.min_visit_minutes, r.max_visit_minutes,
        r.travel_buffer_minutes, r.bedrooms, r.day_places, r.day_price_pence, r.day_price_unit,
        r.compatibility, r.approved_from, r.approval_expires, r.sla_starts, r.sla_months,
        r.sla_guaranteed_pence, r.sla_target_per_bedroom, r.offer_type, r.party_size, r.duration_minutes,
        r.conditions, r.dietary_notes, r.expires, coalesce(v_active, u.active), now())
      FROM jsonb_populate_record(NULL::supply, norm) r
     WHERE u.id = s.id
    RETURNING u.* INTO s;
    PERFORM rs_supply_units(s);
    RETURN idem_end(ctx, p, rs_supply_json(s.id));
END $$;

CREATE FUNCTION api.supply_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    RETURN rs_supply_json((rs_supply_named(ctx, p, false)).id);
END $$;

-- A provider's own supply (including inactive and emergency-only).
CREATE FUNCTION api.supply_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
    v_kind text := rs_p_enum(p, 'kind', ARRAY['bed', 'worker', 'household', 'offer']);
    v_active boolean := rs_p_bool(p, 'active');
    v_limit int := rs_p_limit(p, 50, 200);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'supply_id', s.id, 'kind', s.kind, 'name', s.name, 'active', s.active,
               'emergency_only', s.emergency_only, 'capabilities', to_jsonb(s.capabilities),
               'price_pence', s.price_pence, 'price_unit', s.price_unit) ORDER BY s.id), '[]')
      INTO rows
      FROM (SELECT * FROM supply
             WHERE provider_id = pr.id
               AND (v_kind IS NULL OR kind = v_kind::supply_kind)
               AND (v_active IS NULL OR active = v_active)
             ORDER BY id LIMIT v_limit + 1 OFFSET v_offset) s;
    RETURN jsonb_build_object(
        'provider_id', pr.id,
        'supply', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- ---------------------------------------------------------------------------
-- Availability items. One item shape serves every kind; which members are
-- allowed depends on the supply:
--   nights (beds, household stays): {from, to}  (to = the morning of departure)
--   spans  (worker shifts, household day support): {start, end} as RFC 3339
--          instants, or {date, start_time, end_time} in London local time
--          (end_time <= start_time means the shift ends the next day)
--   offers: {day} or {from, to} (every day in between), optional
--          starts_at "HH:MM" local, and quantity (publish only)

CREATE FUNCTION rs_item_nights(item jsonb, at text) RETURNS daterange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date;
    t date;
BEGIN
    PERFORM rs_p_required(item, 'from', at), rs_p_required(item, 'to', at);
    f := rs_p_date(item, 'from', at);
    t := rs_p_date(item, 'to', at);
    IF t <= f THEN
        PERFORM rs_bad_param(at || 'to', 'must be after from (to is the morning of departure)');
    END IF;
    IF f < rs_today() THEN
        PERFORM rs_bad_param(at || 'from', 'in the past');
    END IF;
    IF t > rs_today() + 732 THEN
        PERFORM rs_bad_param(at || 'to', 'more than two years ahead');
    END IF;
    RETURN daterange(f, t);
END $$;

CREATE FUNCTION rs_item_span(item jsonb, at text) RETURNS tstzrange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s timestamptz;
    e timestamptz;
    d date;
    t0 time;
    t1 time;
    first text;
BEGIN
    IF item ? 'start' OR item ? 'end' THEN
        PERFORM rs_p_only(item, ARRAY['start', 'end'], at,
                          'give start and end, or date, start_time and end_time');
        PERFORM rs_p_required(item, 'start', at), rs_p_required(item, 'end', at);
        s := rs_p_ts(item, 'start', at);
        e := rs_p_ts(item, 'end', at);
        first := 'start';
    ELSE
        PERFORM rs_p_only(item, ARRAY['date', 'start_time', 'end_time'], at,
                          'give start and end, or date, start_time and end_time');
        PERFORM rs_p_required(item, 'date', at), rs_p_required(item, 'start_time', at),
                rs_p_required(item, 'end_time', at);
        d := rs_p_date(item, 'date', at);
        t0 := rs_p_time(item, 'start_time', at);
        t1 := rs_p_time(item, 'end_time', at);
        s := rs_local_instant(d, t0, at || 'start_time');
        e := rs_local_instant(d + (t1 <= t0)::int, t1, at || 'end_time');
        first := 'date';
    END IF;
    IF e <= s THEN
        PERFORM rs_bad_param(at || 'end', 'must be after start');
    END IF;
    IF s < now() THEN
        PERFORM rs_bad_param(at || first, 'in the past');
    END IF;
    IF e - s > interval '24 hours' THEN
        PERFORM rs_bad_param(at || 'end', 'a shift lasts at most 24 hours');
    END IF;
    IF e > now() + interval '2 years' THEN
        PERFORM rs_bad_param(at || 'end', 'more than two years ahead');
    END IF;
    RETURN tstzrange(s, e);
END $$;

-- Offer sessions named by one item: every day from `day` or from..to, at
-- the optional local starts_at.
CREATE FUNCTION rs_item_sessions(item jsonb, at text, publish boolean, expires date)
RETURNS TABLE (day date, starts_at timestamptz, quantity int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date;
    t date;
    st time := rs_p_time(item, 'starts_at', at);
    q int;
BEGIN
    PERFORM rs_p_only(item, CASE WHEN publish THEN ARRAY['day', 'from', 'to', 'starts_at', 'quantity']
                                 ELSE ARRAY['day', 'from', 'to', 'starts_at'] END,
                      at, 'not allowed for an offer');
    IF item ? 'day' THEN
        IF item ? 'from' OR item ? 'to' THEN
            PERFORM rs_bad_param(at || 'day', 'give day, or from and to, not both');
        END IF;
        f := rs_p_date(item, 'day', at);
        IF f < rs_today() THEN
            PERFORM rs_bad_param(at || 'day', 'in the past');
        END IF;
        t := f + 1;
    ELSE
        SELECT lower(r), upper(r) INTO f, t FROM rs_item_nights(item, at) r;
    END IF;
    IF expires IS NOT NULL AND t - 1 > expires THEN
        PERFORM rs_bad_param(at || CASE WHEN item ? 'day' THEN 'day' ELSE 'to' END,
                             format('after the offer expires (%s)', expires));
    END IF;
    IF publish THEN
        PERFORM rs_p_required(item, 'quantity', at);
        q := rs_p_int(item, 'quantity', 0, 10000, at);
        -- the first day is today at the earliest: its session must not have started
        IF st IS NOT NULL AND rs_local_instant(f, st, at || 'starts_at') < now() THEN
            PERFORM rs_bad_param(at || 'starts_at', 'in the past');
        END IF;
    END IF;
    RETURN QUERY
        SELECT g::date, CASE WHEN st IS NOT NULL
                             THEN rs_local_instant(g::date, st, at || 'starts_at') END, q
          FROM generate_series(f, t - 1, interval '1 day') g;
END $$;

-- Nights and spans named by a publish or withdraw call, checked for the
-- supply (kind, household approval and places). Returned merged.
CREATE FUNCTION rs_items_ranges(s supply, items jsonb, publish boolean,
                                OUT nights datemultirange, OUT spans tstzmultirange)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    item jsonb;
    i int := -1;
    at text;
    n daterange[] := '{}';
    sp tstzrange[] := '{}';
    r daterange;
    x tstzrange;
BEGIN
    FOR item IN SELECT value FROM jsonb_array_elements(items) LOOP
        i := i + 1;
        at := format('ranges[%s].', i);
        IF jsonb_typeof(item) <> 'object' THEN
            PERFORM rs_bad_param(format('ranges[%s]', i), 'wrong type: expected object');
        END IF;
        IF s.kind = 'bed' OR (s.kind = 'household' AND (item ? 'from' OR item ? 'to')) THEN
            PERFORM rs_p_only(item, ARRAY['from', 'to'], at,
                              'not allowed for nights (give from and to)');
            r := rs_item_nights(item, at);
            IF publish AND s.kind = 'household' THEN
                IF s.bedrooms = 0 THEN
                    PERFORM rs_bad_param(at || 'from', 'this household has no bedroom for short stays');
                END IF;
                IF lower(r) < s.approved_from OR upper(r) > s.approval_expires THEN
                    PERFORM rs_bad_param(at || CASE WHEN lower(r) < s.approved_from THEN 'from' ELSE 'to' END,
                        format('outside the approval period (%s to %s)', s.approved_from, s.approval_expires));
                END IF;
            END IF;
            n := n || r;
        ELSIF s.kind IN ('worker', 'household') THEN
            IF item ? 'quantity' OR item ? 'day' OR item ? 'starts_at' THEN
                PERFORM rs_bad_param(at || CASE WHEN item ? 'quantity' THEN 'quantity'
                                                WHEN item ? 'day' THEN 'day' ELSE 'starts_at' END,
                                     'not allowed for kind ' || s.kind);
            END IF;
            x := rs_item_span(item, at);
            IF publish AND s.kind = 'household' THEN
                IF s.day_places = 0 THEN
                    PERFORM rs_bad_param(at || 'start', 'this household offers no day support places');
                END IF;
                IF lower(x) < rs_midnight(s.approved_from) OR upper(x) > rs_midnight(s.approval_expires) THEN
                    PERFORM rs_bad_param(at || 'end',
                        format('outside the approval period (%s to %s)', s.approved_from, s.approval_expires));
                END IF;
            END IF;
            sp := sp || x;
        END IF;
    END LOOP;
    nights := (SELECT coalesce(range_agg(e), '{}') FROM unnest(n) e);
    spans := (SELECT coalesce(range_agg(e), '{}') FROM unnest(sp) e);
END $$;

CREATE FUNCTION rs_p_items(p jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    items jsonb;
BEGIN
    PERFORM rs_p_required(p, 'ranges');
    items := rs_p_array(p, 'ranges', 2000);
    IF jsonb_array_length(items) = 0 THEN
        PERFORM rs_bad_param('ranges', 'at least one range');
    END IF;
    RETURN items;
END $$;

-- The first item of a publish/withdraw call that is not an object.
CREATE FUNCTION rs_items_objects(items jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    bad int;
BEGIN
    SELECT e.n - 1 INTO bad FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n)
     WHERE jsonb_typeof(e.item) <> 'object' ORDER BY e.n LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('ranges[%s]', bad), 'wrong type: expected object');
    END IF;
END $$;

-- The offer sessions a call names, item index alongside; at most 5000 so
-- one call stays one quick transaction.
CREATE FUNCTION rs_items_sessions(s supply, items jsonb, publish boolean,
    OUT idx int[], OUT days date[], OUT starts timestamptz[], OUT qty int[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
BEGIN
    PERFORM rs_items_objects(items);
    SELECT array_agg(e.n - 1 ORDER BY e.n, x.day), array_agg(x.day ORDER BY e.n, x.day),
           array_agg(x.starts_at ORDER BY e.n, x.day), array_agg(x.quantity ORDER BY e.n, x.day)
      INTO idx, days, starts, qty
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n),
           LATERAL rs_item_sessions(e.item, format('ranges[%s].', e.n - 1), publish, s.expires) x;
    IF cardinality(idx) > 5000 THEN
        PERFORM rs_bad_param('ranges', 'at most 5000 sessions per call');
    END IF;
END $$;

-- Offers: publishing sets the quantity of each named session (creating
-- it if new); it may not drop below the seats already booked.
CREATE FUNCTION rs_publish_sessions(s supply, items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x record;
    dup record;
    short record;
    n int;
BEGIN
    x := rs_items_sessions(s, items, true);
    SELECT a.i AS first, b.i AS second INTO dup
      FROM unnest(x.idx, x.days, x.starts) a(i, day, starts_at)
      JOIN unnest(x.idx, x.days, x.starts) b(i, day, starts_at)
        ON a.day = b.day AND a.starts_at IS NOT DISTINCT FROM b.starts_at AND a.i < b.i
     ORDER BY b.i LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('ranges[%s]', dup.second),
                             format('names the same session as ranges[%s]', dup.first));
    END IF;
    SELECT os.id, os.booked, i.i INTO short
      FROM unnest(x.idx, x.days, x.starts, x.qty) i(i, day, starts_at, quantity)
      JOIN offer_session os
        ON os.supply_id = s.id AND os.day = i.day AND os.starts_at IS NOT DISTINCT FROM i.starts_at
     WHERE os.booked > i.quantity ORDER BY i.i LIMIT 1;
    IF FOUND THEN
        PERFORM rs_raise('booked', format('ranges[%s]: %s seats are already booked', short.i, short.booked),
            jsonb_build_object('field', format('ranges[%s].quantity', short.i),
                'bookings', (SELECT coalesce(jsonb_agg(DISTINCT booking_id), '[]') FROM offer_allocation
                              WHERE session_id = short.id AND active)));
    END IF;
    INSERT INTO offer_session AS os (supply_id, day, starts_at, quantity)
    SELECT s.id, i.day, i.starts_at, i.quantity
      FROM unnest(x.days, x.starts, x.qty) i(day, starts_at, quantity)
    ON CONFLICT (supply_id, day, starts_at) DO UPDATE SET quantity = excluded.quantity;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                              'received', jsonb_array_length(items), 'sessions', n);
END $$;

-- Merges nights and spans into what is published: rows overlapping or
-- touching the new ranges are taken out and put back as their union.
CREATE FUNCTION rs_merge_published(sid bigint, n datemultirange, sp tstzmultirange) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    old_n datemultirange;
    old_s tstzmultirange;
BEGIN
    IF NOT isempty(n) THEN
        WITH d AS (DELETE FROM avail_nights
                    WHERE supply_id = sid AND (nights && n OR nights -|- n) RETURNING nights)
        SELECT range_agg(nights) INTO old_n FROM d;
        INSERT INTO avail_nights (supply_id, nights)
        SELECT sid, r FROM unnest(n + coalesce(old_n, '{}')) r;
    END IF;
    IF NOT isempty(sp) THEN
        WITH d AS (DELETE FROM avail_span
                    WHERE supply_id = sid AND (span && sp OR span -|- sp) RETURNING span)
        SELECT range_agg(span) INTO old_s FROM d;
        INSERT INTO avail_span (supply_id, span)
        SELECT sid, r FROM unnest(sp + coalesce(old_s, '{}')) r;
    END IF;
END $$;

CREATE FUNCTION rs_published_counts(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'night_ranges', (SELECT count(*) FROM avail_nights WHERE supply_id = sid),
        'spans', (SELECT count(*) FROM avail_span WHERE supply_id = sid))
$$;

-- availability.publish: overlapping or adjacent ranges (in the call or
-- with what is already published) are MERGED, never refused: publishing
-- is "these times are available", so saying it twice changes nothing.
CREATE FUNCTION api.availability_publish(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    s supply;
    items jsonb;
    r record;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    s := rs_supply_named(ctx, p, true);
    items := rs_p_items(p);
    -- Serialises with withdraw and with bookings of this supply.
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF s.kind = 'offer' THEN
        RETURN idem_end(ctx, p, rs_publish_sessions(s, items));
    END IF;
    r := rs_items_ranges(s, items, true);
    PERFORM rs_merge_published(s.id, r.nights, r.spans);
    RETURN idem_end(ctx, p, jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                                               'received', jsonb_array_length(items))
                            || rs_published_counts(s.id));
END $$;

-- Offers: a session with seats booked is refused; others are deleted, or
-- closed (quantity 0) when a cancelled booking still refers to them.
CREATE FUNCTION rs_withdraw_sessions(s supply, items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x record;
    hit bigint[];
    held jsonb;
    n int;
BEGIN
    x := rs_items_sessions(s, items, false);
    hit := ARRAY(SELECT DISTINCT os.id
                   FROM unnest(x.days, x.starts) i(day, starts_at)
                   JOIN offer_session os ON os.supply_id = s.id AND os.day = i.day
                    AND (i.starts_at IS NULL OR os.starts_at = i.starts_at));
    SELECT jsonb_agg(DISTINCT oa.booking_id) INTO held
      FROM offer_allocation oa WHERE oa.session_id = ANY (hit) AND oa.active;
    IF held IS NOT NULL OR EXISTS (SELECT 1 FROM offer_session WHERE id = ANY (hit) AND booked > 0) THEN
        PERFORM rs_raise('booked', 'seats in these sessions are booked: cancel or move those bookings first',
                         jsonb_build_object('bookings', coalesce(held, '[]')));
    END IF;
    DELETE FROM offer_session os WHERE os.id = ANY (hit)
       AND NOT EXISTS (SELECT 1 FROM offer_allocation oa WHERE oa.session_id = os.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE offer_session SET quantity = 0 WHERE id = ANY (hit);
    RETURN jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                              'received', jsonb_array_length(items), 'sessions_removed', cardinality(hit));
END $$;

-- availability.withdraw (also how nights are closed for maintenance).
-- Refused as a whole, naming the bookings, when any booking holds
-- capacity in the ranges: a provider cannot silently cancel a break.
-- Ranges that were not published are ignored.
CREATE FUNCTION api.availability_withdraw(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    s supply;
    items jsonb;
    r record;
    held bigint[];
    old_n datemultirange;
    old_s tstzmultirange;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    s := rs_supply_named(ctx, p, true);
    items := rs_p_items(p);
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF s.kind = 'offer' THEN
        RETURN idem_end(ctx, p, rs_withdraw_sessions(s, items));
    END IF;
    r := rs_items_ranges(s, items, false);
    held := rs_bookings_during(s.id, r.nights, r.spans);
    IF cardinality(held) > 0 THEN
        PERFORM rs_raise('booked', 'this availability is booked: cancel or move those bookings first',
                         jsonb_build_object('bookings', held));
    END IF;
    WITH d AS (DELETE FROM avail_nights WHERE supply_id = s.id AND nights && r.nights RETURNING nights)
    SELECT range_agg(nights) INTO old_n FROM d;
    INSERT INTO avail_nights (supply_id, nights)
    SELECT s.id, x FROM unnest(coalesce(old_n, '{}') - r.nights) x;
    WITH d AS (DELETE FROM avail_span WHERE supply_id = s.id AND span && r.spans RETURNING span)
    SELECT range_agg(span) INTO old_s FROM d;
    INSERT INTO avail_span (supply_id, span)
    SELECT s.id, x FROM unnest(coalesce(old_s, '{}') - r.spans) x;
    RETURN idem_end(ctx, p, jsonb_build_object(
        'supply_id', s.id, 'kind', s.kind, 'received', jsonb_array_length(items),
        'nights_removed', (SELECT coalesce(sum(upper(x) - lower(x)), 0)
                             FROM unnest(coalesce(old_n, '{}') * r.nights) x),
        'minutes_removed', (SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x)) / 60), 0)::bigint
                              FROM unnest(coalesce(old_s, '{}') * r.spans) x))
        || rs_published_counts(s.id));
END $$;

-- A window of dates [from, to) from params, defaulting to `days` days
-- from today; at most 400 days.
CREATE FUNCTION rs_p_window(p jsonb, days int) RETURNS daterange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date := coalesce(rs_p_date(p, 'from'), rs_today());
    t date := coalesce(rs_p_date(p, 'to'), f + days);
BEGIN
    IF t <= f THEN
        PERFORM rs_bad_param('to', 'must be after from');
    END IF;
    IF t - f > 400 THEN
        PERFORM rs_bad_param('to', 'at most 400 days after from');
    END IF;
    RETURN daterange(f, t);
END $$;

-- availability.list: what is published for a supply in a window, and the
-- capacity bookings hold in it.
CREATE FUNCTION api.availability_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s supply;
    w daterange := rs_p_window(p, 31);
    ws tstzrange;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    s := rs_supply_named(ctx, p, true);
    ws := tstzrange(rs_midnight(lower(w)), rs_midnight(upper(w)));
    RETURN jsonb_build_object(
        'supply_id', s.id, 'kind', s.kind, 'from', lower(w), 'to', upper(w),
        'nights', (SELECT coalesce(jsonb_agg(rs_nights_json(nights) ORDER BY nights), '[]')
                     FROM avail_nights WHERE supply_id = s.id AND nights && w),
        'spans', (SELECT coalesce(jsonb_agg(rs_span_json(span) ORDER BY span), '[]')
                    FROM avail_span WHERE supply_id = s.id AND span && ws),
        'sessions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'session_id', id, 'day', day, 'starts_at', rs_ts_text(starts_at),
                         'local_time', to_char(starts_at AT TIME ZONE 'Europe/London', 'HH24:MI'),
                         'quantity', quantity, 'booked', booked) ORDER BY day, starts_at), '[]')
                       FROM offer_session WHERE supply_id = s.id AND day <@ w),
        'allocations', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'allocation_id', a.id, 'booking_id', a.booking_id, 'unit_id', a.unit_id,
                            'unit', u.label)
                            || CASE WHEN a.nights IS NOT NULL THEN rs_nights_json(a.nights)
                                    ELSE rs_span_json(a.span) END ORDER BY a.id), '[]')
                          FROM unit u JOIN allocation a ON a.unit_id = u.id
                         WHERE u.supply_id = s.id AND a.active
                           AND (a.nights && w OR a.span && ws)));
END $$;

-- What a provider sees of the booking behind an allocation. Bookings come
-- with the next migration (004), which replaces this with the real details;
-- until then there is nothing to add.
CREATE FUNCTION rs_provider_booking_json(bid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT '{}'::jsonb $$;

-- provider.bookings: capacity held in a provider's supply in a window,
-- each with what rs_provider_booking_json says of its booking.
CREATE FUNCTION api.provider_bookings(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
    w daterange := rs_p_window(p, 90);
    ws tstzrange;
    v_limit int := rs_p_limit(p, 50, 200);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider');
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    ws := tstzrange(rs_midnight(lower(w)), rs_midnight(upper(w)));
    SELECT coalesce(jsonb_agg(x.j || coalesce(rs_provider_booking_json(x.booking_id), '{}')
                              ORDER BY x.starts, x.id), '[]') INTO rows FROM (
        SELECT * FROM (
            SELECT a.id, a.booking_id, coalesce(rs_midnight(lower(a.nights)), lower(a.span)) AS starts,
                   jsonb_build_object('allocation_id', a.id, 'booking_id', a.booking_id,
                       'supply_id', s.id, 'supply_name', s.name, 'kind', s.kind,
                       'unit_id', u.id, 'unit', u.label)
                   || CASE WHEN a.nights IS NOT NULL THEN jsonb_build_object('nights', rs_nights_json(a.nights))
                           ELSE jsonb_build_object('span', rs_span_json(a.span)) END AS j
              FROM supply s JOIN unit u ON u.supply_id = s.id
              JOIN allocation a ON a.unit_id = u.id AND a.active
             WHERE s.provider_id = pr.id AND (a.nights && w OR a.span && ws)
            UNION ALL
            SELECT oa.id, oa.booking_id, coalesce(os.starts_at, rs_midnight(os.day)),
                   jsonb_build_object('offer_allocation_id', oa.id, 'booking_id', oa.booking_id,
                       'supply_id', s.id, 'supply_name', s.name, 'kind', s.kind,
                       'session_id', os.id, 'day', os.day, 'starts_at', rs_ts_text(os.starts_at),
                       'seats', oa.seats)
              FROM supply s JOIN offer_session os ON os.supply_id = s.id
              JOIN offer_allocation oa ON oa.session_id = os.id AND oa.active
             WHERE s.provider_id = pr.id AND os.day <@ w) y
         ORDER BY starts, id LIMIT v_limit + 1 OFFSET v_offset) x;
    RETURN jsonb_build_object(
        'provider_id', pr.id, 'from', lower(w), 'to', upper(w),
        'bookings', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- ---------------------------------------------------------------------------
-- availability.search
--
-- Windows: from/to (dates; nights for beds and household stays, days for
-- offers) and/or start/end (instants; a sitting visit, household day
-- support, or offer sessions starting then). kinds defaults to every kind
-- the given window applies to.
--
-- A result is supply that meets every need (plus the language, and for
-- workers the gender), is active, not emergency-only, inside near's radius
-- (and a worker's own travel radius), within max_cost_pence, with a
-- household approved for the whole window or an offer not expired, and
-- has free capacity for the whole window:
--   stays (beds, household rooms): ONE published range contains the
--     nights (publish merges ranges, so this is exact) and a bed or room
--     has no active allocation overlapping them;
--   visits (workers): one published shift contains [start, end), the
--     length is within the worker's min/max, and no allocation overlaps
--     [start, end + travel buffer);
--   day support: one published span contains [start, end) and a day place
--     is free;
--   offers: a session in the window with booked < quantity (the first).
--
-- Ranking (stated in every answer, explained per result): preferred
-- supply first ("same worker as last time"), then most wishes met (wishes
-- are soft; needs are a hard filter, so every result meets all of them),
-- then nearest, then cheapest for the window, then supply id.
--
-- How it stays fast: every ranking key comes from the supply row alone, so
-- the candidates (one authority, the asked kinds, the needs, the radius)
-- are ranked first, and capacity is then checked in rank order only until
-- the page is full: a page costs about (page size / share available)
-- probes, each one index step, however many candidates there are. The
-- price is that no total is returned (next_offset says whether there is
-- more), and a search where almost nothing is free walks every candidate.

CREATE FUNCTION rs_search_kinds(p jsonb, has_nights boolean, has_span boolean) RETURNS supply_kind[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    a jsonb := rs_p_array(p, 'kinds', 4);
    k text;
    i int := 0;
    kinds supply_kind[] := '{}';
BEGIN
    IF a IS NULL OR jsonb_array_length(a) = 0 THEN
        RETURN ARRAY(SELECT x FROM unnest(enum_range(NULL::supply_kind)) x
                      WHERE (x = 'bed' AND has_nights) OR (x = 'worker' AND has_span)
                         OR x IN ('household', 'offer'));
    END IF;
    FOR k IN SELECT jsonb_array_elements_text(a) LOOP
        IF NOT k = ANY (ARRAY['bed', 'worker', 'household', 'offer']) THEN
            PERFORM rs_bad_param(format('kinds[%s]', i), 'must be one of bed, worker, household, offer');
        END IF;
        IF k = 'bed' AND NOT has_nights THEN
            PERFORM rs_bad_param('from', 'required for kind bed (from and to: the nights)');
        END IF;
        IF k = 'worker' AND NOT has_span THEN
            PERFORM rs_bad_param('start', 'required for kind worker (start and end: the visit)');
        END IF;
        kinds := kinds || k::supply_kind;
        i := i + 1;
    END LOOP;
    RETURN kinds;
END $$;

CREATE FUNCTION rs_search_near(p jsonb, OUT lat float8, OUT lon float8, OUT radius float8)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n jsonb := rs_p(p, 'near', 'object');
BEGIN
    IF n IS NULL THEN
        RETURN;
    END IF;
    PERFORM rs_p_only(n, ARRAY['lat', 'lon', 'radius_km'], 'near.');
    PERFORM rs_p_required(n, k, 'near.') FROM unnest(ARRAY['lat', 'lon', 'radius_km']) k;
    lat := rs_p_num(n, 'lat', 49.8, 55.9, 'near.');
    lon := rs_p_num(n, 'lon', -6.5, 2.0, 'near.');
    radius := rs_p_num(n, 'radius_km', 0.1, 200, 'near.');
END $$;

-- Generic plans on purpose: the statement's shape (rank, then probe in
-- order) suits every search, and planning it afresh costs more than
-- running it (measured: ~4 ms to plan, ~1-3 ms to run). A generic plan
-- cannot know that one authority is a small slice of supply, so it is
-- kept off sequential scans: candidates come from supply_searchable.
CREATE FUNCTION api.availability_search(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    v_from date := rs_p_date(p, 'from');
    v_to date := rs_p_date(p, 'to');
    v_start timestamptz := rs_p_ts(p, 'start');
    v_end timestamptz := rs_p_ts(p, 'end');
    v_nights daterange;
    v_span tstzrange;
    v_minutes int;
    v_kinds supply_kind[];
    v_stay_modes text[] := '{}';    -- a household's modes: 'stay' and/or 'day'
    v_two_modes boolean;            -- households are searched in both modes
    v_needs text[] := coalesce(rs_p_caps(p, 'needs'), '{}');
    v_wishes text[] := coalesce(rs_p_caps(p, 'wishes'), '{}');
    v_lang text := rs_p_text(p, 'language', 3);
    v_lang_label text;
    v_gender text := rs_p_enum(p, 'gender', ARRAY['female', 'male']);
    v_near record := rs_search_near(p);
    -- Copied out of v_near: a record's fields cost a lookup each time a
    -- row reads them.
    v_lat float8 := v_near.lat;
    v_lon float8 := v_near.lon;
    v_radius float8 := v_near.radius;
    v_kx float8;                    -- km per degree of longitude at the search point
    v_lat_min float8 := -90;        -- bounding box of the radius: cheap to test first
    v_lat_max float8 := 90;
    v_lon_min float8 := -180;
    v_lon_max float8 := 180;
    v_supply bigint := rs_p_int(p, 'supply_id', 1, 9223372036854775807);
    v_pref bigint[] := coalesce(rs_p_ids(p, 'preferred_supply_ids', 50), '{}');
    v_max bigint := rs_p_int(p, 'max_cost_pence', 0, 100000000);
    v_limit int := rs_p_limit(p, 20, 100);
    v_offset int := rs_p_offset(p);
    v_all_needs text[];
    v_n_needs int := cardinality(v_needs);
    v_n_wishes int := cardinality(v_wishes);
    v_today date := rs_today();
    v_day_from date;                -- offers: sessions on days in [v_day_from, v_day_to)
    v_day_to date;
    v_found int;
    v_results jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    IF ctx->>'role' = 'admin' THEN
        IF v_auth IS NULL THEN
            PERFORM rs_bad_param('authority_id', 'required for an administrator');
        END IF;
    ELSIF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
        PERFORM rs_raise('forbidden', 'you may search only your own authority');
    ELSE
        v_auth := rs_authority(ctx);
    END IF;

    -- The window(s).
    IF (v_from IS NULL) <> (v_to IS NULL) THEN
        PERFORM rs_bad_param(CASE WHEN v_from IS NULL THEN 'from' ELSE 'to' END, 'give both from and to');
    END IF;
    IF (v_start IS NULL) <> (v_end IS NULL) THEN
        PERFORM rs_bad_param(CASE WHEN v_start IS NULL THEN 'start' ELSE 'end' END, 'give both start and end');
    END IF;
    IF v_from IS NULL AND v_start IS NULL THEN
        PERFORM rs_bad_param('from', 'give from and to (nights or days), or start and end (a visit)');
    END IF;
    IF v_from IS NOT NULL THEN
        IF v_to <= v_from THEN
            PERFORM rs_bad_param('to', 'must be after from (to is the morning of departure)');
        END IF;
        IF v_from < v_today THEN
            PERFORM rs_bad_param('from', 'in the past');
        END IF;
        IF v_to - v_from > 366 THEN
            PERFORM rs_bad_param('to', 'at most 366 nights');
        END IF;
        v_nights := daterange(v_from, v_to);
        v_stay_modes := v_stay_modes || 'stay'::text;
    END IF;
    IF v_start IS NOT NULL THEN
        IF v_end <= v_start THEN
            PERFORM rs_bad_param('end', 'must be after start');
        END IF;
        IF v_start < now() THEN
            PERFORM rs_bad_param('start', 'in the past');
        END IF;
        IF v_end - v_start > interval '24 hours' THEN
            PERFORM rs_bad_param('end', 'a visit lasts at most 24 hours');
        END IF;
        v_span := tstzrange(v_start, v_end);
        v_minutes := ceil(extract(epoch FROM v_end - v_start) / 60);
        v_stay_modes := v_stay_modes || 'day'::text;
    END IF;
    v_kinds := rs_search_kinds(p, v_nights IS NOT NULL, v_span IS NOT NULL);
    v_two_modes := cardinality(v_stay_modes) = 2;
    v_day_from := coalesce(v_from, (v_start AT TIME ZONE 'Europe/London')::date);
    v_day_to := coalesce(v_to, v_day_from + 1);

    -- Needs: the capabilities every result must have.
    v_all_needs := v_needs;
    IF v_lang IS NOT NULL THEN
        SELECT label INTO v_lang_label FROM capability WHERE code = 'lang:' || v_lang AND category = 'language';
        IF NOT FOUND THEN
            PERFORM rs_bad_param('language', 'unknown language ' || v_lang || ' (ISO 639-1 code)');
        END IF;
        v_all_needs := v_all_needs || ('lang:' || v_lang);
    END IF;
    -- Distance: equirectangular from the search point (within 0.1% of the
    -- great circle at the scale of a county), after a bounding-box test.
    IF v_lat IS NOT NULL THEN
        v_kx := 111.32 * cos(radians(v_lat));
        v_lat_min := v_lat - v_radius / 111.2;
        v_lat_max := v_lat + v_radius / 111.2;
        v_lon_min := v_lon - v_radius / v_kx;
        v_lon_max := v_lon + v_radius / v_kx;
    END IF;

    WITH cand AS (
        -- The sort keys come first and no column is NULL: the sort then
        -- reads its keys at fixed offsets (a NULL anywhere in a sorted row
        -- makes every key lookup walk the row; measured as the hottest spot).
        SELECT s.id = ANY (v_pref) AS preferred,
               -- array operators first: a sub-query only for a row that
               -- meets some but not all of two or more wishes
               CASE WHEN NOT (s.capabilities && v_wishes) THEN 0
                    WHEN s.capabilities @> v_wishes THEN v_n_wishes
                    ELSE cardinality(ARRAY(SELECT unnest(v_wishes) INTERSECT SELECT unnest(s.capabilities)))
               END AS wishes_met,
               coalesce(d.km, 0) AS km, c.cost, s.id, s.kind, s.provider_id, s.price_pence,
               s.price_unit, coalesce(s.day_price_pence, 0) AS day_price_pence,
               coalesce(s.day_price_unit, s.price_unit) AS day_price_unit,
               coalesce(s.travel_buffer_minutes, 0) AS travel_buffer_minutes,
               coalesce(s.expires, 'infinity') AS expires, m.mode, s.name
          FROM supply s
         -- A household searched with both windows is a candidate twice (a
         -- stay and day support). A join to two constant rows, the second
         -- kept only then, costs less per row than an unnest of the modes.
         CROSS JOIN (VALUES (1), (2)) AS mi(i)
         CROSS JOIN LATERAL (SELECT CASE s.kind WHEN 'bed' THEN 'stay'
                                                WHEN 'worker' THEN 'visit'
                                                WHEN 'household' THEN v_stay_modes[mi.i]
                                                ELSE 'session' END AS mode) m
         CROSS JOIN LATERAL (SELECT CASE WHEN v_lat IS NOT NULL
                                         THEN sqrt((s.lat - v_lat) * (s.lat - v_lat) * 12365.44
                                                   + (s.lon - v_lon) * (s.lon - v_lon) * v_kx * v_kx)
                                    END AS km) d  -- 12365.44 = 111.2^2
         CROSS JOIN LATERAL (SELECT CASE m.mode
                     WHEN 'stay' THEN rs_cost_pence(s.price_pence, s.price_unit, v_to - v_from, NULL)
                     WHEN 'visit' THEN rs_cost_pence(s.price_pence, s.price_unit, NULL, v_minutes)
                     WHEN 'day' THEN rs_cost_pence(s.day_price_pence, s.day_price_unit, NULL, v_minutes)
                     ELSE rs_cost_pence(s.price_pence, s.price_unit, 1, NULL) END AS cost) c
         WHERE s.authority_id = v_auth AND s.kind = ANY (v_kinds)
           AND (mi.i = 1 OR (s.kind = 'household' AND v_two_modes))
           AND s.active AND NOT s.emergency_only
           AND s.capabilities @> v_all_needs
           AND (v_gender IS NULL OR s.kind <> 'worker' OR s.gender = v_gender)
           AND (v_supply IS NULL OR s.id = v_supply)
           AND s.lat BETWEEN v_lat_min AND v_lat_max AND s.lon BETWEEN v_lon_min AND v_lon_max
           AND (d.km IS NULL OR (d.km <= v_radius
                                 AND (s.kind <> 'worker' OR d.km <= s.travel_radius_km)))
           AND (s.kind <> 'worker' OR v_minutes BETWEEN s.min_visit_minutes AND s.max_visit_minutes)
           AND (s.kind <> 'household'
                OR (m.mode = 'stay' AND s.bedrooms > 0
                    AND s.approved_from <= v_from AND s.approval_expires >= v_to)
                OR (m.mode = 'day' AND s.day_places > 0
                    AND rs_midnight(s.approved_from) <= v_start AND v_end <= rs_midnight(s.approval_expires)))
           AND (s.kind <> 'offer' OR s.expires IS NULL OR s.expires >= v_day_from)
           AND (v_max IS NULL OR c.cost <= v_max)
         ORDER BY preferred DESC, wishes_met DESC, km, cost, id, mode
        OFFSET 0    -- a fence: rank every candidate before probing any
    ), page AS (
        SELECT c.*, f.unit_id, f.session_id, f.day, f.starts_at, f.seats_left
          FROM cand c
         CROSS JOIN LATERAL (
            -- a bed or room: nights published, and not allocated
            (SELECT u.id AS unit_id, NULL::bigint AS session_id, NULL::date AS day,
                    NULL::timestamptz AS starts_at, NULL::int AS seats_left
               FROM unit u
              WHERE c.mode = 'stay'
                AND EXISTS (SELECT 1 FROM avail_nights an
                             WHERE an.supply_id = c.id AND an.nights @> v_nights)
                AND u.supply_id = c.id AND u.active AND u.kind IN ('bed', 'room')
                AND NOT coalesce((SELECT upper(a.nights) > v_from FROM allocation a
                                   WHERE a.unit_id = u.id AND a.active AND a.nights IS NOT NULL
                                     AND lower(a.nights) < v_to
                                   ORDER BY lower(a.nights) DESC LIMIT 1), false)
              ORDER BY u.id LIMIT 1)
            UNION ALL
            -- a worker: inside a shift, free for the visit and the travel buffer after it
            (SELECT u.id, NULL, NULL, NULL, NULL
               FROM unit u
              WHERE c.mode = 'visit'
                AND (SELECT sp.span @> v_span FROM avail_span sp
                      WHERE sp.supply_id = c.id AND lower(sp.span) <= v_start
                      ORDER BY lower(sp.span) DESC LIMIT 1)
                AND u.supply_id = c.id AND u.active AND u.kind = 'worker'
                AND NOT coalesce((SELECT upper(a.span) > v_start FROM allocation a
                                   WHERE a.unit_id = u.id AND a.active AND a.span IS NOT NULL
                                     AND lower(a.span) < v_end + make_interval(mins => c.travel_buffer_minutes)
                                   ORDER BY lower(a.span) DESC LIMIT 1), false)
              LIMIT 1)
            UNION ALL
            -- a day-support place: inside published day support, and not allocated
            (SELECT u.id, NULL, NULL, NULL, NULL
               FROM unit u
              WHERE c.mode = 'day'
                AND (SELECT sp.span @> v_span FROM avail_span sp
                      WHERE sp.supply_id = c.id AND lower(sp.span) <= v_start
                      ORDER BY lower(sp.span) DESC LIMIT 1)
                AND u.supply_id = c.id AND u.active AND u.kind = 'day'
                AND NOT coalesce((SELECT upper(a.span) > v_start FROM allocation a
                                   WHERE a.unit_id = u.id AND a.active AND a.span IS NOT NULL
                                     AND lower(a.span) < v_end
                                   ORDER BY lower(a.span) DESC LIMIT 1), false)
              ORDER BY u.id LIMIT 1)
            UNION ALL
            -- an offer: the first session in the window with a seat left
            (SELECT NULL, os.id, os.day, os.starts_at, os.quantity - os.booked
               FROM offer_session os
              WHERE c.mode = 'session' AND os.supply_id = c.id
                AND os.day >= v_day_from AND os.day < v_day_to AND os.booked < os.quantity
                AND (v_nights IS NOT NULL OR os.starts_at IS NULL OR os.starts_at <@ v_span)
                AND (os.starts_at IS NULL OR os.starts_at > now())
                AND os.day <= c.expires
              ORDER BY os.day, os.starts_at NULLS FIRST LIMIT 1)
            LIMIT 1) f
        LIMIT v_limit + 1 OFFSET v_offset
    ), ranked AS (
        SELECT pg.*, v_offset + row_number() OVER (ORDER BY pg.preferred DESC, pg.wishes_met DESC,
                                                   pg.km, pg.cost, pg.id, pg.mode) AS rank,
               CASE pg.mode WHEN 'day' THEN pg.day_price_pence ELSE pg.price_pence END AS shown_price,
               (CASE pg.mode WHEN 'day' THEN pg.day_price_unit ELSE pg.price_unit END)::text AS shown_unit
          FROM page pg
    )
    SELECT count(*),
           coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'rank', r.rank, 'supply_id', r.id, 'kind', r.kind, 'mode', r.mode,
               'unit_id', r.unit_id, 'session_id', r.session_id, 'day', r.day,
               'starts_at', rs_ts_text(r.starts_at), 'seats_left', r.seats_left,
               'provider', jsonb_build_object('provider_id', pr.id, 'name', pr.name,
                                              'cqc_rating', pr.cqc_rating),
               'name', r.name,
               'price_pence', r.shown_price, 'price_unit', r.shown_unit,
               'cost_pence', r.cost,
               'distance_km', CASE WHEN v_lat IS NOT NULL THEN round(r.km::numeric, 1) END,
               'needs_met', format('%s/%s', v_n_needs, v_n_needs),
               'wishes_met', CASE WHEN v_n_wishes > 0 THEN format('%s/%s', r.wishes_met, v_n_wishes) END,
               'reasons', rs_search_reasons(r.kind, r.preferred, v_n_needs, r.wishes_met, v_n_wishes,
                                            v_lang_label, v_gender, CASE WHEN v_lat IS NOT NULL THEN r.km END,
                                            r.seats_left, r.day,
                                            r.shown_price, r.shown_unit, r.cost, pr.cqc_rating)))
               ORDER BY r.rank) FILTER (WHERE r.rank <= v_offset + v_limit), '[]')
      INTO v_found, v_results
      FROM ranked r JOIN provider pr ON pr.id = r.provider_id;

    RETURN jsonb_build_object(
        'results', v_results,
        'next_offset', CASE WHEN v_found > v_limit THEN v_offset + v_limit END,
        'ranking', 'preferred supply first, then most wishes met, then nearest, then lowest cost for the window; every result meets all needs');
END $$;

-- Why a result is where it is, in words a carer can read.
CREATE FUNCTION rs_search_reasons(kind supply_kind, preferred boolean, n_needs int, wishes_met int,
                                  n_wishes int, lang_label text, gender text, km float8,
                                  seats_left int, day date, price int, unit text, cost bigint,
                                  cqc cqc_rating)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT to_jsonb(array_remove(ARRAY[
        CASE WHEN preferred THEN CASE kind WHEN 'worker' THEN 'same worker as last time'
                                           WHEN 'household' THEN 'same Shared Lives carer as last time'
                                           ELSE 'chosen before' END END,
        CASE WHEN n_needs > 0 THEN format('meets %s/%s needs', n_needs, n_needs) END,
        CASE WHEN n_wishes > 0 THEN format('meets %s/%s wishes', wishes_met, n_wishes) END,
        CASE WHEN lang_label IS NOT NULL THEN 'speaks ' || lang_label END,
        CASE WHEN gender IS NOT NULL AND kind = 'worker' THEN gender || ' worker' END,
        CASE WHEN km IS NOT NULL THEN to_char(km, 'FM99990.0') || ' km away' END,
        CASE WHEN seats_left IS NOT NULL THEN format('%s left on %s', seats_left, day) END,
        rs_money_text(price) || CASE WHEN price > 0 THEN ' per ' || unit ELSE '' END
            || CASE WHEN cost <> price THEN ', ' || rs_money_text(cost) || ' in all' ELSE '' END,
        CASE WHEN cqc IS NOT NULL THEN 'CQC rated ' || replace(cqc::text, '_', ' ') END], NULL))
$$;

-- ---------------------------------------------------------------------------
-- Synthetic inventory for tests and benchmarks.
--
-- rs_generate_inventory(authority, n_per_type, seed) adds, to one
-- authority, ceil(n_per_type / 25) providers of each type and n_per_type
-- each of beds, workers, households and offers, with a year of
-- availability from today: beds open all year (a fifth closed a week for
-- maintenance), workers on weekly shift patterns (day, long day, evening,
-- overnight), households approved for up to two years (some expired) with
-- stays and weekday day support, offers with daily or weekly sessions.
-- Locations are Liverpool postcode districts around (centre_lat,
-- centre_lon), shifted when another centre is given. No allocations are
-- made (bookings are issue 4's). Same seed, same data.
--
-- Inserts directly (not through the api functions) so 5,000 supply and
-- about 800,000 availability rows load in seconds.

-- What a generated hotel and leisure partner offers, from its name.
CREATE FUNCTION rs_gen_offer_type(provider_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE substring(provider_name FROM ' (Hotel|Playhouse|Kitchen|Spa|Leisure Centre|Community Gardens)( \d+)?$')
             WHEN 'Hotel' THEN 'overnight_stay' WHEN 'Playhouse' THEN 'theatre'
             WHEN 'Kitchen' THEN 'meal' WHEN 'Spa' THEN 'spa'
             WHEN 'Leisure Centre' THEN 'sport' ELSE 'day_activity' END
$$;

CREATE FUNCTION rs_generate_inventory(p_authority bigint, n_per_type int, seed float8 DEFAULT 0.42,
                                      centre_lat float8 DEFAULT 53.41, centre_lon float8 DEFAULT -2.98)
RETURNS jsonb LANGUAGE plpgsql
SET max_parallel_workers_per_gather = 0     -- one process: same seed, same data
AS $$
DECLARE
    np int := greatest(1, ceil(n_per_type / 25.0));
    first_provider bigint;
    first_supply bigint;
    today date := rs_today();
    dlat float8 := centre_lat - 53.41;
    dlon float8 := centre_lon + 2.98;
    counts jsonb;
    t0 timestamptz := clock_timestamp();
BEGIN
    IF n_per_type < 1 OR n_per_type > 100000 THEN
        RAISE EXCEPTION 'n_per_type must be 1..100000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM authority WHERE id = p_authority) THEN
        RAISE EXCEPTION 'no authority %', p_authority;
    END IF;
    PERFORM setseed(seed);
    first_provider := (SELECT coalesce(max(id), 0) FROM provider);
    first_supply := (SELECT coalesce(max(id), 0) FROM supply);

    -- Providers: np of each type, named after Liverpool areas; names are
    -- numbered past earlier runs so a second run never collides.
    WITH districts(d, lat, lon) AS (VALUES
        ('L1', 53.402, -2.980), ('L3', 53.410, -2.990), ('L4', 53.437, -2.963),
        ('L5', 53.425, -2.965), ('L6', 53.417, -2.950), ('L7', 53.405, -2.945),
        ('L8', 53.390, -2.965), ('L9', 53.465, -2.955), ('L11', 53.440, -2.925),
        ('L12', 53.430, -2.890), ('L13', 53.415, -2.920), ('L14', 53.415, -2.890),
        ('L15', 53.400, -2.920), ('L16', 53.395, -2.880), ('L17', 53.375, -2.935),
        ('L18', 53.380, -2.905), ('L19', 53.358, -2.900), ('L24', 53.345, -2.845),
        ('L25', 53.375, -2.860), ('L27', 53.385, -2.840)),
    dl AS (SELECT array_agg(d ORDER BY d) ds, array_agg(lat ORDER BY d) las,
                  array_agg(lon ORDER BY d) los FROM districts),
    places(a) AS (SELECT ARRAY['Aigburth', 'Allerton', 'Anfield', 'Belle Vale', 'Childwall',
        'Croxteth', 'Everton', 'Fazakerley', 'Garston', 'Gateacre', 'Kensington', 'Kirkdale',
        'Mossley Hill', 'Norris Green', 'Old Swan', 'Otterspool', 'Sefton Park', 'Speke',
        'Toxteth', 'Walton', 'Wavertree', 'West Derby', 'Woolton', 'Calderstones',
        'Princes Park', 'Dingle', 'Tuebrook', 'Knotty Ash', 'Clubmoor', 'Orrell Park']),
    g AS MATERIALIZED (
        SELECT t, i, (SELECT count(*) FROM provider WHERE authority_id = p_authority AND type = t) + i AS k,
               1 + floor(random() * 20)::int AS di, random() AS r1, random() AS r2, random() AS r3,
               random() AS r4
          FROM unnest(enum_range(NULL::provider_type)) t, generate_series(0, np - 1) i)
    INSERT INTO provider (authority_id, type, name, postcode_district, lat, lon, languages,
                          capabilities, cqc_rating)
    SELECT p_authority, g.t,
           places.a[1 + CASE WHEN g.t = 'hotel_leisure' THEN g.k / 6 ELSE g.k END % 30] || ' '
           || CASE g.t WHEN 'residential' THEN (ARRAY['House', 'Lodge', 'Court', 'Manor', 'View', 'Grange'])[1 + (g.k / 30) % 6]
                       WHEN 'sitting' THEN (ARRAY['Home Support', 'Sitting Service', 'Carers Relief', 'Care at Home', 'Companions', 'Homecare'])[1 + (g.k / 30) % 6]
                       WHEN 'shared_lives' THEN (ARRAY['Shared Lives', 'Shared Lives Scheme', 'Family Placements', 'Shared Lives Network', 'Adult Placements', 'Host Families'])[1 + (g.k / 30) % 6]
                       ELSE (ARRAY['Hotel', 'Playhouse', 'Kitchen', 'Spa', 'Leisure Centre', 'Community Gardens'])[1 + g.k % 6] END
           || CASE WHEN g.k >= 180 THEN ' ' || (g.k / 180 + 1) ELSE '' END,
           dl.ds[g.di], dl.las[g.di] + dlat + (g.r1 - 0.5) * 0.012, dl.los[g.di] + dlon + (g.r2 - 0.5) * 0.02,
           ARRAY['en'] || CASE WHEN g.r3 < 0.15 THEN ARRAY['pa', 'ur'] WHEN g.r3 < 0.25 THEN ARRAY['pl']
                               WHEN g.r3 < 0.32 THEN ARRAY['so', 'ar'] WHEN g.r3 < 0.38 THEN ARRAY['zh']
                               ELSE '{}' END,
           CASE g.t WHEN 'residential' THEN ARRAY['dementia', 'physical_disability']
                    WHEN 'sitting' THEN ARRAY['dementia']
                    WHEN 'shared_lives' THEN ARRAY['learning_disability']
                    ELSE '{}' END,
           CASE WHEN g.t = 'hotel_leisure' THEN NULL
                WHEN g.r4 < 0.10 THEN 'outstanding' WHEN g.r4 < 0.80 THEN 'good'
                WHEN g.r4 < 0.97 THEN 'requires_improvement' ELSE 'inadequate' END::cqc_rating
      FROM g, dl, places;

    -- Supply rows: supply i of a type goes to provider i % np, as its
    -- (i / np)th item, which keeps names unique within a provider.
    WITH pv AS MATERIALIZED (
        SELECT id, supplies, lat, lon, row_number() OVER (PARTITION BY supplies ORDER BY id) - 1 AS pi,
               rs_gen_offer_type(name) AS sub
          FROM provider WHERE id > first_provider AND authority_id = p_authority),
    g AS MATERIALIZED (
        SELECT k, i, i / np AS j, pv.id AS pid, pv.lat, pv.lon, pv.sub,
               random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
               random() AS r6, random() AS r7, random() AS r8
          FROM unnest(enum_range(NULL::supply_kind)) k CROSS JOIN generate_series(0, n_per_type - 1) i
          JOIN pv ON pv.supplies = k AND pv.pi = i % np),
    h AS (  -- a household's shape, from its random draws
        SELECT g.*, CASE WHEN r6 < 0.6 THEN 1 WHEN r6 < 0.9 THEN 2 ELSE 0 END AS rooms,
               CASE WHEN r6 < 0.6 THEN (r7 < 0.4)::int ELSE 1 + (r7 < 0.3)::int END AS days,
               -- about 5% expired: approved more than two years ago
               today - CASE WHEN r8 < 0.05 THEN 731 + floor(r7 * 60)::int
                            ELSE floor(r8 * 700)::int END AS appr
          FROM g),
    names AS (SELECT
        ARRAY['Aisha', 'Agnieszka', 'Amrit', 'Chloe', 'Fatima', 'Grace', 'Hannah', 'Jade', 'Joanne',
              'Karen', 'Laura', 'Lisa', 'Maria', 'Michelle', 'Nadia', 'Olivia', 'Priya', 'Rachel',
              'Ruth', 'Sarah', 'Shabana', 'Siân', 'Sophie', 'Wei', 'Yasmin', 'Zainab', 'Ifeoma',
              'Hodan'] AS f,
        ARRAY['Abdi', 'Ahmed', 'Bilal', 'Chris', 'Daniel', 'David', 'Gareth', 'Kwame', 'Mark',
              'Paul', 'Tomasz', 'Tunde'] AS m,
        ARRAY['Ahmed', 'Ali', 'Begum', 'Brown', 'Campbell', 'Chen', 'Clarke', 'Davies', 'Evans',
              'Flynn', 'Green', 'Hughes', 'Hussain', 'Jones', 'Kaur', 'Khan', 'Kowalski', 'Lee',
              'Mensah', 'Murphy', 'Nowak', 'Okafor', 'O''Brien', 'Patel', 'Roberts', 'Shah',
              'Singh', 'Smith', 'Taylor', 'Thomas', 'Walsh', 'Warsame', 'Williams', 'Wilson',
              'Wong', 'Wright', 'Yusuf'] AS l)
    INSERT INTO supply (provider_id, authority_id, kind, name, capabilities, emergency_only,
        price_pence, price_unit, lat, lon, attrs, gender, travel_radius_km, min_visit_minutes,
        max_visit_minutes, travel_buffer_minutes, bedrooms, day_places, day_price_pence,
        day_price_unit, compatibility, approved_from, approval_expires, sla_starts, sla_months,
        sla_guaranteed_pence, sla_target_per_bedroom, offer_type, party_size, duration_minutes,
        conditions, dietary_notes, expires)
    SELECT h.pid, p_authority, h.k,
           CASE h.k
             WHEN 'bed' THEN 'Room ' || (h.j + 1)
             WHEN 'worker' THEN CASE WHEN h.r1 < 0.8 THEN names.f[1 + (h.i * 7) % 28]
                                     ELSE names.m[1 + (h.i * 5) % 12] END || ' ' || names.l[1 + h.j % 37]
                                || CASE WHEN h.j >= 37 THEN ' ' || (h.j / 37 + 1) ELSE '' END
             WHEN 'household' THEN 'The ' || names.l[1 + h.j % 37] || ' household'
                                   || CASE WHEN h.j >= 37 THEN ' ' || (h.j / 37 + 1) ELSE '' END
             ELSE CASE h.sub WHEN 'overnight_stay' THEN 'Overnight stay for a carer and a guest'
                             WHEN 'theatre' THEN 'Theatre seats for two' WHEN 'meal' THEN 'Meal for two'
                             WHEN 'spa' THEN 'Spa session' WHEN 'sport' THEN 'Swim and gym session'
                             ELSE 'Gardening morning' END || ' (' || (h.j + 1) || ')' END,
           ARRAY(SELECT DISTINCT c FROM unnest(
               CASE WHEN h.k = 'worker' THEN ARRAY['gender:' || CASE WHEN h.r1 < 0.8 THEN 'female' ELSE 'male' END]
                    ELSE '{}' END
               || ARRAY['lang:en']
               || CASE WHEN h.r2 < 0.10 THEN ARRAY['lang:pa', 'lang:ur', 'culture:south_asian', 'diet:halal']
                       WHEN h.r2 < 0.14 THEN ARRAY['lang:bn', 'culture:south_asian', 'diet:halal']
                       WHEN h.r2 < 0.20 THEN ARRAY['lang:pl', 'culture:eastern_european']
                       WHEN h.r2 < 0.24 THEN ARRAY['lang:so', 'culture:somali', 'diet:halal']
                       WHEN h.r2 < 0.27 THEN ARRAY['lang:ar', 'culture:arab', 'diet:halal']
                       WHEN h.r2 < 0.30 THEN ARRAY['lang:zh', 'culture:chinese']
                       WHEN h.r2 < 0.31 THEN ARRAY['lang:cy']
                       WHEN h.r2 < 0.33 THEN ARRAY['culture:jewish', 'diet:kosher']
                       ELSE '{}' END
               || CASE h.k
                    WHEN 'offer' THEN ARRAY[CASE WHEN random() < 0.5 THEN 'diet:vegetarian' END,
                                            CASE WHEN random() < 0.3 THEN 'diet:vegan' END,
                                            CASE WHEN random() < 0.6 THEN 'access:wheelchair' END,
                                            CASE WHEN random() < 0.6 THEN 'access:step_free' END,
                                            CASE WHEN random() < 0.3 THEN 'lgbtq_affirming' END]
                    ELSE ARRAY[
                        CASE WHEN random() < CASE h.k WHEN 'household' THEN 0.25 ELSE 0.6 END THEN 'dementia' END,
                        CASE WHEN random() < CASE h.k WHEN 'household' THEN 0.55 ELSE 0.3 END THEN 'learning_disability' END,
                        CASE WHEN random() < 0.3 THEN 'autism' END,
                        CASE WHEN random() < 0.15 THEN 'behaviour_challenges' END,
                        CASE WHEN random() < 0.2 THEN 'sup:1to1' END,
                        CASE WHEN random() < 0.05 THEN 'sup:2to1' END,
                        CASE WHEN random() < 0.15 THEN 'complex_health' END,
                        CASE WHEN random() < 0.4 THEN 'physical_disability' END,
                        CASE WHEN random() < CASE h.k WHEN 'bed' THEN 0.5 ELSE 0.2 END THEN 'hoist' END,
                        CASE WHEN random() < 0.08 THEN 'dual_sensory_loss' END,
                        CASE WHEN random() < 0.25 THEN 'mental_health' END,
                        CASE WHEN random() < CASE h.k WHEN 'household' THEN 0.3 ELSE 0.1 END THEN 'young_adults' END,
                        CASE WHEN random() < 0.1 THEN 'epilepsy' END,
                        CASE WHEN random() < 0.05 THEN 'comm:bsl' END,
                        CASE WHEN random() < 0.1 THEN 'comm:makaton' END,
                        CASE WHEN random() < 0.25 THEN 'lgbtq_affirming' END,
                        CASE WHEN random() < 0.4 THEN 'diet:vegetarian' END,
                        CASE WHEN random() < 0.15 THEN 'diet:diabetic' END,
                        CASE WHEN h.k = 'worker' AND random() < 0.15 THEN 'sup:waking_night' END,
                        CASE WHEN h.k <> 'worker' AND random() < 0.4 THEN 'access:wheelchair' END,
                        CASE WHEN h.k = 'household' AND h.r3 >= 0.1 THEN 'env:smoke_free' END,
                        CASE WHEN h.k = 'household' AND h.r4 >= 0.4 THEN 'env:no_pets' END,
                        CASE WHEN h.k = 'household' AND random() < 0.3 THEN 'env:quiet' END]
                  END) c WHERE c IS NOT NULL ORDER BY c),
           h.k IN ('bed', 'household') AND h.r5 < 0.05,
           CASE h.k WHEN 'bed' THEN 9000 + 500 * floor(h.r3 * 27)::int
                    WHEN 'worker' THEN 1800 + 50 * floor(h.r3 * 21)::int
                    WHEN 'household' THEN 6000 + 500 * floor(h.r5 * 11)::int
                    ELSE CASE WHEN h.r3 < 0.6 THEN 0 ELSE 500 + 250 * floor(h.r4 * 14)::int END END,
           CASE h.k WHEN 'bed' THEN 'night' WHEN 'worker' THEN 'hour' WHEN 'household' THEN 'night'
                    ELSE CASE WHEN h.sub = 'overnight_stay' THEN 'night' ELSE 'session' END END::price_unit,
           -- A worker's base and a household are near the agency or scheme.
           h.lat + CASE WHEN h.k IN ('worker', 'household') THEN (h.r4 - 0.5) * 0.05 ELSE 0 END,
           h.lon + CASE WHEN h.k IN ('worker', 'household') THEN (h.r5 - 0.5) * 0.08 ELSE 0 END,
           CASE h.k WHEN 'bed' THEN jsonb_build_object('ensuite', h.r4 < 0.6, 'floor', floor(h.r5 * 3))
                    ELSE '{}'::jsonb END,
           -- worker
           CASE WHEN h.k = 'worker' THEN CASE WHEN h.r1 < 0.8 THEN 'female' ELSE 'male' END END,
           CASE WHEN h.k = 'worker' THEN 5 + floor(h.r6 * 11) END,
           CASE WHEN h.k = 'worker' THEN (ARRAY[60, 90, 120])[1 + floor(h.r7 * 3)::int] END,
           CASE WHEN h.k = 'worker' THEN (ARRAY[480, 600, 720])[1 + floor(h.r8 * 3)::int] END,
           CASE WHEN h.k = 'worker' THEN (ARRAY[15, 20, 30])[1 + floor(h.r6 * 3)::int] END,
           -- household
           CASE WHEN h.k = 'household' THEN h.rooms END,
           CASE WHEN h.k = 'household' THEN h.days END,
           CASE WHEN h.k = 'household' AND h.days > 0 THEN 1000 + 50 * floor(h.r7 * 11)::int END,
           CASE WHEN h.k = 'household' AND h.days > 0 THEN 'hour'::price_unit END,
           CASE WHEN h.k = 'household' THEN jsonb_build_object(
               'pets', CASE WHEN h.r4 >= 0.4 THEN '[]'::jsonb WHEN h.r7 < 0.5 THEN '["dog"]' ELSE '["cat"]' END,
               'smoking', h.r3 < 0.1,
               'household_members', (ARRAY['couple, no children', 'single carer', 'couple with teenage children',
                                           'carer and adult son', 'retired couple'])[1 + floor(h.r6 * 5)::int],
               'interests', (ARRAY['["football", "music"]', '["gardening", "baking"]', '["walking", "films"]',
                                   '["church", "choir"]', '["crafts", "board games"]'])[1 + floor(h.r8 * 5)::int]::jsonb)
           END,
           CASE WHEN h.k = 'household' THEN h.appr END,
           CASE WHEN h.k = 'household' THEN h.appr + 730 END,
           CASE WHEN h.k = 'household' AND h.r7 < 0.3 THEN h.appr END,
           CASE WHEN h.k = 'household' AND h.r7 < 0.3 THEN 12 END,
           CASE WHEN h.k = 'household' AND h.r7 < 0.3 THEN 600000 END,
           CASE WHEN h.k = 'household' AND h.r7 < 0.3 THEN 16 END,
           -- offer
           CASE WHEN h.k = 'offer' THEN h.sub END,
           CASE WHEN h.k = 'offer' THEN CASE WHEN h.sub IN ('overnight_stay', 'theatre', 'meal') THEN 2 ELSE 1 END END,
           CASE WHEN h.k = 'offer' THEN CASE h.sub WHEN 'overnight_stay' THEN NULL WHEN 'theatre' THEN 150
                                                   WHEN 'meal' THEN 120 WHEN 'spa' THEN 120
                                                   WHEN 'sport' THEN 90 ELSE 180 END END,
           CASE WHEN h.k = 'offer' THEN CASE WHEN h.r6 < 0.5 THEN '{"per_carer_per":"quarter","max":1}'::jsonb
                                             ELSE '{}' END END,
           CASE WHEN h.k = 'offer' AND h.sub IN ('meal', 'overnight_stay')
                THEN 'Halal and vegetarian menus on request; tell us about allergies when booking' END,
           CASE WHEN h.k = 'offer' THEN today + 365 END
      FROM h, names;

    -- Units: one per bed and per worker, one per bedroom and day place.
    INSERT INTO unit (supply_id, kind, label)
    SELECT s.id, s.kind::text::unit_kind, s.kind::text || ' 1'
      FROM supply s WHERE s.id > first_supply AND s.kind IN ('bed', 'worker');
    INSERT INTO unit (supply_id, kind, label)
    SELECT h.id, 'room', 'room ' || g FROM supply h, generate_series(1, h.bedrooms) g
     WHERE h.id > first_supply AND h.kind = 'household';
    INSERT INTO unit (supply_id, kind, label)
    SELECT h.id, 'day', 'day ' || g FROM supply h, generate_series(1, h.day_places) g
     WHERE h.id > first_supply AND h.kind = 'household';

    -- A year of nights for beds; one in five closed for a week's maintenance.
    INSERT INTO avail_nights (supply_id, nights)
    SELECT x.id, r FROM (
        SELECT s.id, 30 + floor(random() * 300)::int AS gap, random() < 0.2 AS closed
          FROM supply s WHERE s.id > first_supply AND s.kind = 'bed' OFFSET 0) x,
         LATERAL unnest(CASE WHEN x.closed
                             THEN ARRAY[daterange(today, today + x.gap), daterange(today + x.gap + 7, today + 365)]
                             ELSE ARRAY[daterange(today, today + 365)] END) r;

    -- Shared Lives stays: within the approval, up to a year ahead.
    INSERT INTO avail_nights (supply_id, nights)
    SELECT h.id, daterange(today, least(today + 365, h.approval_expires))
      FROM supply h
     WHERE h.id > first_supply AND h.kind = 'household' AND h.bedrooms > 0 AND h.approval_expires > today;

    -- Worker shifts: a weekly pattern per worker, five days in seven
    -- (which five depends on the worker), London local times.
    INSERT INTO avail_span (supply_id, span)
    SELECT w.id, tstzrange(rs_midnight(today + d) + w.t0, rs_midnight(today + d) + w.t1)
      FROM (SELECT s.id, p.t0, p.t1
              FROM (SELECT id, floor(random() * 4)::int AS pat FROM supply
                     WHERE id > first_supply AND kind = 'worker' OFFSET 0) s
              JOIN (VALUES (0, interval '9 hours', interval '17 hours'),
                           (1, interval '8 hours', interval '20 hours'),
                           (2, interval '16 hours', interval '23 hours'),
                           (3, interval '21 hours', interval '31 hours')) AS p(pat, t0, t1)
                ON p.pat = s.pat) w,
           generate_series(0, 364) d
     WHERE (extract(dow FROM today + d)::int + w.id) % 7 < 5;

    -- Shared Lives day support, weekdays 10:00-16:00, within the approval.
    INSERT INTO avail_span (supply_id, span)
    SELECT h.id, tstzrange(rs_midnight(today + d) + interval '10 hours',
                           rs_midnight(today + d) + interval '16 hours')
      FROM supply h, generate_series(0, 364) d
     WHERE h.id > first_supply AND h.kind = 'household' AND h.day_places > 0
       AND extract(isodow FROM today + d) < 6 AND today + d < h.approval_expires;

    -- Offer sessions: hotels nightly, theatres Thu-Sat 19:30, meals daily
    -- 18:00, spas daily 10:00, sport weekdays 18:00, activities Saturday 10:00.
    INSERT INTO offer_session (supply_id, day, starts_at, quantity)
    SELECT o.id, today + d,
           CASE o.offer_type WHEN 'overnight_stay' THEN NULL
                ELSE rs_midnight(today + d) + CASE o.offer_type WHEN 'theatre' THEN interval '19:30'
                                                               WHEN 'meal' THEN interval '18 hours'
                                                               WHEN 'sport' THEN interval '18 hours'
                                                               ELSE interval '10 hours' END END,
           CASE o.offer_type WHEN 'day_activity' THEN 8 WHEN 'theatre' THEN 4 ELSE 2 END
      FROM supply o, generate_series(0, 364) d
     WHERE o.id > first_supply AND o.kind = 'offer'
       AND CASE o.offer_type
             WHEN 'theatre' THEN extract(isodow FROM today + d) IN (4, 5, 6)
             WHEN 'sport' THEN extract(isodow FROM today + d) < 6
             WHEN 'day_activity' THEN extract(isodow FROM today + d) = 6
             ELSE true END;

    SELECT jsonb_build_object(
        'authority_id', p_authority,
        'providers', (SELECT count(*) FROM provider WHERE id > first_provider AND authority_id = p_authority),
        'supply', (SELECT jsonb_object_agg(kind, n) FROM (SELECT kind, count(*) n FROM supply
                    WHERE id > first_supply GROUP BY kind) x),
        'units', (SELECT count(*) FROM unit WHERE supply_id > first_supply),
        'night_ranges', (SELECT count(*) FROM avail_nights WHERE supply_id > first_supply),
        'spans', (SELECT count(*) FROM avail_span WHERE supply_id > first_supply),
        'offer_sessions', (SELECT count(*) FROM offer_session WHERE supply_id > first_supply),
        'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2))
      INTO counts;
    RETURN counts;
END $$;
