-- 003 families and the ledger: carers, cared-for persons and the links
-- between them; entitlements; a double-entry ledger with two-phase
-- (pending / posted / voided) transfers; bank holidays as data.
--
-- Shapes, in one place:
--  * carer: an unpaid carer, inside one authority. A carer user (app_user
--    with role carer) is linked to exactly one carer through
--    app_user.carer_id and sees and books only for that carer's family.
--  * person: a cared-for person. care_link joins carers and persons many to
--    many (a carer may care for several people, a person may have several
--    carers). A family, for access, is a carer and the persons linked to it.
--  * entitlement: what a funding source gives a family member, in one unit
--    (pence, minutes of care or nights), under one rule:
--      fixed      `amount` once, for use within [valid_from, valid_to)
--                 ("52 hours over nine months")
--      recurring  `amount` every calendar `period`, reset each period
--                 ("8 hours a calendar month", "6 hours a week")
--      one_off    a one-off direct payment: like fixed, money
--      ongoing    `amount` paid every `period` from valid_from; unspent
--                 money accumulates (an ongoing direct payment)
--  * account: one row per ledger account, with running columns kept in the
--    same transaction as the transfers that move them. Kinds:
--      issuer       per entitlement: where its allowance comes from (the
--                   funder); allowed below zero, its debit balance is the
--                   total issued
--      entitlement  the spendable balance: one per fixed / one-off / ongoing
--                   entitlement, one per (recurring entitlement, period)
--      payable      per (carer, provider, unit): what this family's breaks
--                   owe the provider
--      donor        per (provider, carer): value a provider donated (offers)
--      donations    per carer: donated value received
--      self_funded  per carer: what the family paid themselves
--    Counterparty accounts are per family, not per provider or authority,
--    so concurrent bookings of different families never update the same
--    account row: no hot rows, and no lock-order cycles between families.
--  * ledger_transfer: debit account, credit account, amount, unit, status
--    pending | posted | voided (as TigerBeetle's two-phase transfers).
--    A booking's legs (leg 1..n) are held, posted or voided together; a
--    posted leg is never changed, it is reversed by a new transfer.
--
-- Every account: CHECK (allow_overdraw OR credits_posted - debits_posted
-- - debits_pending >= 0), so the database refuses an overspend even if a
-- function's own arithmetic were wrong.

-- ---------------------------------------------------------------------------
-- Types

CREATE TYPE referral_route AS ENUM ('self_referral', 'gp_carers_prescription',
    'health_professional', 'social_prescriber', 'council_assessment', 'carers_centre', 'other');

-- The cared-for person's agreement to replacement care (it is a service to
-- them, charged to them): given by them, or a best-interests decision
-- under the Mental Capacity Act, made by someone who is recorded.
CREATE TYPE consent_status AS ENUM ('not_recorded', 'given', 'best_interests', 'refused');

CREATE TYPE fund_source AS ENUM ('council', 'pooled_fund', 'carer_direct_payment',
    'carer_personal_budget', 'person_personal_budget', 'donated', 'self_funded', 'emergency_fund');

CREATE TYPE ledger_unit AS ENUM ('pence', 'minutes', 'nights');

CREATE TYPE entitlement_rule AS ENUM ('fixed', 'recurring', 'one_off', 'ongoing');

CREATE TYPE account_kind AS ENUM ('issuer', 'entitlement', 'payable', 'donor', 'donations', 'self_funded');

CREATE TYPE transfer_status AS ENUM ('pending', 'posted', 'voided');

-- allowance: issuer -> entitlement (an entitlement's or a period's amount)
-- charge: a booking leg paid from a budget; donation: a donated offer's
-- stated value; adjustment: the actual cost differed (completion);
-- reversal: undoes a posted transfer (a confirmed booking cancelled).
CREATE TYPE transfer_kind AS ENUM ('allowance', 'charge', 'donation', 'adjustment', 'reversal');

-- ---------------------------------------------------------------------------
-- Families

CREATE TABLE carer (
    id                  bigserial PRIMARY KEY,
    authority_id        bigint NOT NULL REFERENCES authority(id),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    date_of_birth       date,
    phone               text CHECK (length(phone) <= 40),
    email               text CHECK (length(email) <= 200),
    postcode_district   text CHECK (postcode_district ~ '^[A-Z]{1,2}[0-9][0-9A-Z]?$'),
    lat                 float8 CHECK (lat BETWEEN 49.8 AND 55.9),
    lon                 float8 CHECK (lon BETWEEN -6.5 AND 2.0),
    languages           text[] NOT NULL DEFAULT '{}',   -- ISO 639-1, first = preferred
    -- The carer's own needs for breaks taken themselves (hotel and leisure
    -- offers): capability codes such as diet:halal, access:wheelchair.
    needs               text[] NOT NULL DEFAULT '{}',
    -- false: the carer is not online; staff book on their behalf.
    online              boolean NOT NULL DEFAULT true,
    referral_route      referral_route NOT NULL,
    referred_by         text CHECK (length(referred_by) <= 200),
    referred_on         date,
    notes               text CHECK (length(notes) <= 4000),
    created_by          bigint REFERENCES app_user(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL))
);

CREATE INDEX carer_authority ON carer (authority_id, name);

CREATE TABLE person (
    id                  bigserial PRIMARY KEY,
    authority_id        bigint NOT NULL REFERENCES authority(id),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    date_of_birth       date,
    -- Needs are a hard filter on supply (capability codes, 002); wishes are
    -- soft preferences that rank it.
    needs               text[] NOT NULL DEFAULT '{}',
    wishes              text[] NOT NULL DEFAULT '{}',
    -- Spoken languages, ISO 639-1, first = preferred. When English is not
    -- among them the first is a need: the worker must speak it.
    languages           text[] NOT NULL DEFAULT '{}',
    postcode_district   text CHECK (postcode_district ~ '^[A-Z]{1,2}[0-9][0-9A-Z]?$'),
    lat                 float8 CHECK (lat BETWEEN 49.8 AND 55.9),
    lon                 float8 CHECK (lon BETWEEN -6.5 AND 2.0),
    consent             consent_status NOT NULL DEFAULT 'not_recorded',
    consent_decided_by  text CHECK (length(consent_decided_by) <= 200),
    consent_notes       text CHECK (length(consent_notes) <= 2000),
    consent_recorded_by bigint REFERENCES app_user(id),
    consent_recorded_at timestamptz,
    notes               text CHECK (length(notes) <= 4000),
    created_by          bigint REFERENCES app_user(id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL)),
    -- A best-interests decision names who made it.
    CHECK (consent <> 'best_interests' OR consent_decided_by IS NOT NULL)
);

CREATE INDEX person_authority ON person (authority_id, name);

CREATE TABLE care_link (
    carer_id        bigint NOT NULL REFERENCES carer(id),
    person_id       bigint NOT NULL REFERENCES person(id),
    relationship    text CHECK (length(relationship) <= 100),
    is_primary      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (carer_id, person_id)
);

CREATE INDEX care_link_person ON care_link (person_id);

-- Workers and Shared Lives carers a person liked (preferred) or did not
-- (avoided). Quotes rank liked supply and supply used before first, and
-- leave avoided supply out.
CREATE TABLE person_supply_pref (
    person_id   bigint NOT NULL REFERENCES person(id),
    supply_id   bigint NOT NULL REFERENCES supply(id),
    liked       boolean NOT NULL,
    note        text CHECK (length(note) <= 500),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, supply_id)
);

ALTER TABLE app_user ADD COLUMN carer_id bigint UNIQUE REFERENCES carer(id);

ALTER TABLE app_user ADD CONSTRAINT app_user_carer_role
    CHECK (carer_id IS NULL OR role = 'carer');

-- ---------------------------------------------------------------------------
-- Entitlements and the ledger

CREATE TABLE entitlement (
    id                      bigserial PRIMARY KEY,
    authority_id            bigint NOT NULL REFERENCES authority(id),
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source                  fund_source NOT NULL
                                CHECK (source NOT IN ('donated', 'self_funded')),
    unit                    ledger_unit NOT NULL,
    rule                    entitlement_rule NOT NULL,
    amount                  bigint NOT NULL CHECK (amount > 0),   -- total, or per period
    period                  text CHECK (period IN ('week', 'month', 'quarter', 'year')),
    valid_from              date NOT NULL,
    valid_to                date,                   -- exclusive; NULL: open-ended
    -- The family member it belongs to: a carer's budgets are the carer's,
    -- a personal budget is the cared-for person's; council funding may be
    -- granted to either.
    carer_id                bigint REFERENCES carer(id),
    person_id               bigint REFERENCES person(id),
    exclude_bank_holidays   boolean NOT NULL DEFAULT false,
    kinds                   supply_kind[],          -- NULL: any kind of supply
    priority                int NOT NULL,           -- lower pays first
    allow_overdraw          boolean NOT NULL DEFAULT false,
    active                  boolean NOT NULL DEFAULT true,
    notes                   text CHECK (length(notes) <= 2000),
    created_by              bigint REFERENCES app_user(id),
    created_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((carer_id IS NULL) <> (person_id IS NULL)),
    CHECK (source NOT IN ('carer_direct_payment', 'carer_personal_budget') OR carer_id IS NOT NULL),
    CHECK (source <> 'person_personal_budget' OR person_id IS NOT NULL),
    -- Direct payments and personal budgets are money.
    CHECK (source IN ('council', 'pooled_fund', 'emergency_fund') OR unit = 'pence'),
    CHECK ((rule IN ('recurring', 'ongoing')) = (period IS NOT NULL)),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    -- Only the emergency fund may go below zero (the emergency issue).
    CHECK (NOT allow_overdraw OR source = 'emergency_fund')
);

CREATE INDEX entitlement_carer ON entitlement (carer_id) WHERE carer_id IS NOT NULL;

CREATE INDEX entitlement_person ON entitlement (person_id) WHERE person_id IS NOT NULL;

CREATE TABLE account (
    id                  bigserial PRIMARY KEY,
    -- Identity of the account as a string ("ent:12:2027-03-01", "payable:4:9:minutes"),
    -- so get-or-create is one INSERT ... ON CONFLICT (ref).
    ref                 text NOT NULL UNIQUE,
    kind                account_kind NOT NULL,
    unit                ledger_unit NOT NULL,
    authority_id        bigint NOT NULL REFERENCES authority(id),
    name                text NOT NULL,
    source              fund_source,
    entitlement_id      bigint REFERENCES entitlement(id),
    period              daterange,                  -- recurring entitlements
    carer_id            bigint REFERENCES carer(id),
    person_id           bigint REFERENCES person(id),
    provider_id         bigint REFERENCES provider(id),
    allow_overdraw      boolean NOT NULL DEFAULT false,
    credits_posted      bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_posted       bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending     bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    debits_pending      bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_no_overspend
        CHECK (allow_overdraw OR credits_posted - debits_posted - debits_pending >= 0),
    CHECK ((kind IN ('issuer', 'entitlement')) = (entitlement_id IS NOT NULL))
);

CREATE INDEX account_entitlement ON account (entitlement_id, period) WHERE entitlement_id IS NOT NULL;

CREATE INDEX account_carer ON account (carer_id) WHERE carer_id IS NOT NULL;

CREATE TABLE ledger_transfer (
    id                  bigserial PRIMARY KEY,
    debit_account_id    bigint NOT NULL REFERENCES account(id),
    credit_account_id   bigint NOT NULL REFERENCES account(id),
    -- Zero is allowed for a donated offer whose value was not stated: the
    -- booking still has its leg, so every booking is in the ledger.
    amount              bigint NOT NULL CHECK (amount >= 0),
    unit                ledger_unit NOT NULL,
    status              transfer_status NOT NULL,
    kind                transfer_kind NOT NULL,
    booking_id          bigint,                     -- foreign key added with the booking table (004)
    leg                 int CHECK (leg >= 1),
    -- The share of the booking's cost in pence this transfer pays (negative
    -- for refunds and reversals), so "legs cover the cost" is checkable
    -- whatever unit each leg is in.
    covers_pence        bigint NOT NULL DEFAULT 0,
    reverses_id         bigint REFERENCES ledger_transfer(id),
    expires_at          timestamptz,
    note                text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    posted_at           timestamptz,
    voided_at           timestamptz,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((booking_id IS NULL) = (leg IS NULL)),
    CHECK (kind <> 'allowance' OR (booking_id IS NULL AND status = 'posted')),
    CHECK (status <> 'pending' OR expires_at IS NOT NULL),
    UNIQUE (booking_id, leg)
);

CREATE INDEX ledger_transfer_debit ON ledger_transfer (debit_account_id, id);

CREATE INDEX ledger_transfer_credit ON ledger_transfer (credit_account_id, id);

CREATE INDEX ledger_transfer_pending ON ledger_transfer (expires_at) WHERE status = 'pending';

-- Ongoing entitlements: one row per period paid in, so paying is
-- idempotent whoever (a booking, the janitor) gets there first.
CREATE TABLE entitlement_accrual (
    entitlement_id  bigint NOT NULL REFERENCES entitlement(id),
    period_start    date NOT NULL,
    transfer_id     bigint NOT NULL REFERENCES ledger_transfer(id),
    PRIMARY KEY (entitlement_id, period_start)
);

-- ---------------------------------------------------------------------------
-- Bank holidays in England and Wales, 2024-2030, from
-- shared/data/bank-holidays-england-wales.csv (published dates, and dates
-- projected by the standard rules). Data, not code: bank_holiday.set adds
-- and corrects rows.

INSERT INTO bank_holiday (day, name, status) VALUES
    ('2024-01-01', 'New Year''s Day', 'published'),
    ('2024-03-29', 'Good Friday', 'published'),
    ('2024-04-01', 'Easter Monday', 'published'),
    ('2024-05-06', 'Early May bank holiday', 'published'),
    ('2024-05-27', 'Spring bank holiday', 'published'),
    ('2024-08-26', 'Summer bank holiday', 'published'),
    ('2024-12-25', 'Christmas Day', 'published'),
    ('2024-12-26', 'Boxing Day', 'published'),
    ('2025-01-01', 'New Year''s Day', 'published'),
    ('2025-04-18', 'Good Friday', 'published'),
    ('2025-04-21', 'Easter Monday', 'published'),
    ('2025-05-05', 'Early May bank holiday', 'published'),
    ('2025-05-26', 'Spring bank holiday', 'published'),
    ('2025-08-25', 'Summer bank holiday', 'published'),
    ('2025-12-25', 'Christmas Day', 'published'),
    ('2025-12-26', 'Boxing Day', 'published'),
    ('2026-01-01', 'New Year''s Day', 'published'),
    ('2026-04-03', 'Good Friday', 'published'),
    ('2026-04-06', 'Easter Monday', 'published'),
    ('2026-05-04', 'Early May bank holiday', 'published'),
    ('2026-05-25', 'Spring bank holiday', 'published'),
    ('2026-08-31', 'Summer bank holiday', 'published'),
    ('2026-12-25', 'Christmas Day', 'published'),
    ('2026-12-28', 'Boxing Day (substitute day)', 'published'),
    ('2027-01-01', 'New Year''s Day', 'published'),
    ('2027-03-26', 'Good Friday', 'published'),
    ('2027-03-29', 'Easter Monday', 'published'),
    ('2027-05-03', 'Early May bank holiday', 'published'),
    ('2027-05-31', 'Spring bank holiday', 'published'),
    ('2027-08-30', 'Summer bank holiday', 'published'),
    ('2027-12-27', 'Christmas Day (substitute day)', 'published'),
    ('2027-12-28', 'Boxing Day (substitute day)', 'published'),
    ('2028-01-03', 'New Year''s Day (substitute day)', 'projected'),
    ('2028-04-14', 'Good Friday', 'projected'),
    ('2028-04-17', 'Easter Monday', 'projected'),
    ('2028-05-01', 'Early May bank holiday', 'projected'),
    ('2028-05-29', 'Spring bank holiday', 'projected'),
    ('2028-08-28', 'Summer bank holiday', 'projected'),
    ('2028-12-25', 'Christmas Day', 'projected'),
    ('2028-12-26', 'Boxing Day', 'projected'),
    ('2029-01-01', 'New Year''s Day', 'projected'),
    ('2029-03-30', 'Good Friday', 'projected'),
    ('2029-04-02', 'Easter Monday', 'projected'),
    ('2029-05-07', 'Early May bank holiday', 'projected'),
    ('2029-05-28', 'Spring bank holiday', 'projected'),
    ('2029-08-27', 'Summer bank holiday', 'projected'),
    ('2029-12-25', 'Christmas Day', 'projected'),
    ('2029-12-26', 'Boxing Day', 'projected'),
    ('2030-01-01', 'New Year''s Day', 'projected'),
    ('2030-04-19', 'Good Friday', 'projected'),
    ('2030-04-22', 'Easter Monday', 'projected'),
    ('2030-05-06', 'Early May bank holiday', 'projected'),
    ('2030-05-27', 'Spring bank holiday', 'projected'),
    ('2030-08-26', 'Summer bank holiday', 'projected'),
    ('2030-12-25', 'Christmas Day', 'projected'),
    ('2030-12-26', 'Boxing Day', 'projected')
ON CONFLICT (day) DO NOTHING;
