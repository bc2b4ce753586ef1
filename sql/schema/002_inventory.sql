-- 002 inventory: providers, the capability vocabulary, the four kinds of
-- supply, published availability and the allocation table bookings take
-- capacity through.
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
