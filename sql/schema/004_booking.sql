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
