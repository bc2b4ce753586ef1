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

CREATE OR REPLACE FUNCTION rs_user_ctx(uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username,
                              'role', u.role, 'authority_id', u.authority_id,
                              'provider_id', u.provider_id, 'carer_id', u.carer_id)
      FROM app_user u WHERE u.id = uid
$$;

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

-- ---------------------------------------------------------------------------
-- Families: helpers

-- Young carers: under 16 need special protection (and no reduction may be
-- made because of the care they give); 16-17 are flagged too.
CREATE FUNCTION rs_age_band(dob date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN dob IS NULL THEN NULL
                WHEN age(rs_today(), dob) < interval '16 years' THEN 'under_16'
                WHEN age(rs_today(), dob) < interval '18 years' THEN '16_17'
                ELSE 'adult' END
$$;

-- The carer a carer user acts for. Read from app_user, not from ctx, so a
-- link made after login counts at once.
CREATE FUNCTION rs_ctx_carer_id(ctx jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cid bigint;
BEGIN
    SELECT carer_id INTO cid FROM app_user WHERE id = (ctx->>'user_id')::bigint;
    IF cid IS NULL THEN
        PERFORM rs_raise('forbidden', 'your account is not linked to a carer');
    END IF;
    RETURN cid;
END $$;

-- Tenancy for families: carers reach their own family only, coordinators
-- their authority's, admins all; other roles none (the emergency issue
-- gives call handlers read access).
CREATE FUNCTION rs_carer_for(ctx jsonb, cid bigint) RETURNS carer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c carer;
BEGIN
    SELECT * INTO c FROM carer WHERE id = cid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such carer', jsonb_build_object('carer_id', cid));
    END IF;
    IF ctx->>'role' = 'admin'
       OR (ctx->>'role' = 'coordinator' AND c.authority_id = rs_authority(ctx))
       OR (ctx->>'role' = 'carer' AND c.id = rs_ctx_carer_id(ctx)) THEN
        RETURN c;
    END IF;
    PERFORM rs_raise('forbidden', 'this family is not yours to see or change',
                     jsonb_build_object('carer_id', cid));
    RETURN NULL;
END $$;

CREATE FUNCTION rs_person_for(ctx jsonb, pid bigint) RETURNS person
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pe person;
BEGIN
    SELECT * INTO pe FROM person WHERE id = pid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such person', jsonb_build_object('person_id', pid));
    END IF;
    IF ctx->>'role' = 'admin'
       OR (ctx->>'role' = 'coordinator' AND pe.authority_id = rs_authority(ctx))
       OR (ctx->>'role' = 'carer' AND EXISTS (
               SELECT 1 FROM care_link WHERE person_id = pe.id AND carer_id = rs_ctx_carer_id(ctx))) THEN
        RETURN pe;
    END IF;
    PERFORM rs_raise('forbidden', 'this person is not in your family',
                     jsonb_build_object('person_id', pid));
    RETURN NULL;
END $$;

-- The carer a family call is about: carers default to their own; staff
-- name one.
CREATE FUNCTION rs_carer_param(ctx jsonb, p jsonb) RETURNS carer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cid bigint := rs_p_int(p, 'carer_id', 1, 9223372036854775807);
BEGIN
    IF cid IS NULL AND ctx->>'role' = 'carer' THEN
        cid := rs_ctx_carer_id(ctx);
    END IF;
    IF cid IS NULL THEN
        PERFORM rs_bad_param('carer_id', 'required');
    END IF;
    RETURN rs_carer_for(ctx, cid);
END $$;

CREATE FUNCTION rs_carer_json(c carer) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'carer_id', c.id, 'authority_id', c.authority_id, 'name', c.name,
        'date_of_birth', c.date_of_birth, 'age_band', rs_age_band(c.date_of_birth),
        'young_carer', rs_age_band(c.date_of_birth) IN ('under_16', '16_17'),
        'phone', c.phone, 'email', c.email, 'postcode_district', c.postcode_district,
        'lat', c.lat, 'lon', c.lon, 'languages', to_jsonb(c.languages),
        'needs', to_jsonb(c.needs), 'online', c.online,
        'referral', jsonb_strip_nulls(jsonb_build_object('route', c.referral_route,
                        'by', c.referred_by, 'on', c.referred_on)),
        'notes', c.notes,
        'user', (SELECT u.username FROM app_user u WHERE u.carer_id = c.id)))
$$;

CREATE FUNCTION rs_person_json(pe person) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'person_id', pe.id, 'authority_id', pe.authority_id, 'name', pe.name,
        'date_of_birth', pe.date_of_birth, 'age_band', rs_age_band(pe.date_of_birth),
        'needs', to_jsonb(pe.needs), 'wishes', to_jsonb(pe.wishes),
        'languages', to_jsonb(pe.languages),
        'postcode_district', pe.postcode_district, 'lat', pe.lat, 'lon', pe.lon,
        'consent', jsonb_strip_nulls(jsonb_build_object(
            'status', pe.consent, 'decided_by', pe.consent_decided_by,
            'notes', pe.consent_notes, 'recorded_at', rs_ts_text(pe.consent_recorded_at),
            'recorded_by', (SELECT username FROM app_user WHERE id = pe.consent_recorded_by))),
        'preferred_supply_ids', (SELECT coalesce(jsonb_agg(supply_id ORDER BY supply_id), '[]')
                                   FROM person_supply_pref WHERE person_id = pe.id AND liked),
        'avoid_supply_ids', (SELECT coalesce(jsonb_agg(supply_id ORDER BY supply_id), '[]')
                               FROM person_supply_pref WHERE person_id = pe.id AND NOT liked),
        'carers', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                              'carer_id', l.carer_id, 'name', c.name,
                              'relationship', l.relationship, 'primary', l.is_primary))
                          ORDER BY l.carer_id), '[]')
                     FROM care_link l JOIN carer c ON c.id = l.carer_id WHERE l.person_id = pe.id),
        'notes', pe.notes))
$$;

CREATE FUNCTION rs_family_json(cid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'carer', rs_carer_json(c),
        'persons', (SELECT coalesce(jsonb_agg(rs_person_json(pe) ORDER BY pe.id), '[]')
                      FROM care_link l JOIN person pe ON pe.id = l.person_id
                     WHERE l.carer_id = c.id))
      FROM carer c WHERE c.id = cid
$$;

-- Languages in the caller's order (the first is the preferred one), each
-- checked against the vocabulary; duplicates dropped.
CREATE FUNCTION rs_p_langs_ordered(obj jsonb, key text, at text DEFAULT '') RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF rs_p_langs(obj, key, at) IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT l FROM (SELECT l, min(n) AS n
                                  FROM jsonb_array_elements_text(obj->key) WITH ORDINALITY AS e(l, n)
                                 GROUP BY l) x ORDER BY n);
END $$;

-- Reads a consent object {status, decided_by, notes}.
CREATE FUNCTION rs_p_consent(d jsonb, at text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_status text;
BEGIN
    PERFORM rs_p_only(d, ARRAY['status', 'decided_by', 'notes'], at);
    PERFORM rs_p_required(d, 'status', at);
    v_status := rs_p_enum(d, 'status', ARRAY['not_recorded', 'given', 'best_interests', 'refused'], at);
    IF v_status = 'best_interests' AND rs_p_text(d, 'decided_by', 200, at) IS NULL THEN
        PERFORM rs_bad_param(at || 'decided_by', 'required for a best-interests decision (who made it)');
    END IF;
    RETURN jsonb_build_object('status', v_status,
                              'decided_by', rs_p_text(d, 'decided_by', 200, at),
                              'notes', rs_p_text(d, 'notes', 2000, at));
END $$;

-- ---------------------------------------------------------------------------
-- family.create: a new carer (or an existing one, carer_id) with the
-- persons they care for, linked. Staff only; a carer user can be linked to
-- the new carer with user_id.

CREATE FUNCTION rs_person_insert(ctx jsonb, auth bigint, d jsonb, at text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pid bigint;
    v_consent jsonb;
BEGIN
    PERFORM rs_p_only(d, ARRAY['name', 'date_of_birth', 'needs', 'wishes', 'languages',
                               'postcode_district', 'lat', 'lon', 'consent', 'relationship',
                               'primary', 'preferred_supply_ids', 'notes'], at);
    PERFORM rs_p_required(d, 'name', at);
    IF (d ? 'lat') <> (d ? 'lon') THEN
        PERFORM rs_bad_param(at || CASE WHEN d ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(d, 'date_of_birth', at) > rs_today() THEN
        PERFORM rs_bad_param(at || 'date_of_birth', 'in the future');
    END IF;
    v_consent := CASE WHEN d ? 'consent' THEN rs_p_consent(rs_p(d, 'consent', 'object', at), at || 'consent.') END;
    INSERT INTO person (authority_id, name, date_of_birth, needs, wishes, languages,
                        postcode_district, lat, lon, consent, consent_decided_by, consent_notes,
                        consent_recorded_by, consent_recorded_at, notes, created_by)
    VALUES (auth, rs_p_text(d, 'name', 200, at), rs_p_date(d, 'date_of_birth', at),
            coalesce(rs_p_caps(d, 'needs', at), '{}'), coalesce(rs_p_caps(d, 'wishes', at), '{}'),
            coalesce(rs_p_langs_ordered(d, 'languages', at), '{}'),
            upper(replace(rs_p_text(d, 'postcode_district', 8, at), ' ', '')),
            rs_p_num(d, 'lat', 49.8, 55.9, at), rs_p_num(d, 'lon', -6.5, 2.0, at),
            coalesce((v_consent->>'status')::consent_status, 'not_recorded'),
            v_consent->>'decided_by', v_consent->>'notes',
            CASE WHEN v_consent IS NOT NULL THEN (ctx->>'user_id')::bigint END,
            CASE WHEN v_consent IS NOT NULL THEN now() END,
            rs_p_text(d, 'notes', 4000, at), (ctx->>'user_id')::bigint)
    RETURNING id INTO pid;
    PERFORM rs_prefs_set(pid, rs_p_ids(d, 'preferred_supply_ids', 50, at), true, at || 'preferred_supply_ids');
    RETURN pid;
END $$;

-- Replaces a person's liked (or avoided) supply with `ids`.
CREATE FUNCTION rs_prefs_set(pid bigint, ids bigint[], liked boolean, field text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    auth bigint := (SELECT authority_id FROM person WHERE id = pid);
    bad bigint;
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    SELECT i INTO bad FROM unnest(ids) i
     WHERE NOT EXISTS (SELECT 1 FROM supply s WHERE s.id = i AND s.authority_id = auth) LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM rs_bad_param(field, format('no supply %s in this authority', bad));
    END IF;
    DELETE FROM person_supply_pref WHERE person_id = pid AND person_supply_pref.liked = rs_prefs_set.liked;
    INSERT INTO person_supply_pref (person_id, supply_id, liked)
    SELECT pid, i, liked FROM unnest(ids) i
    ON CONFLICT (person_id, supply_id) DO UPDATE SET liked = excluded.liked, updated_at = now();
END $$;

CREATE FUNCTION rs_carer_insert(ctx jsonb, auth bigint, d jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    PERFORM rs_p_only(d, ARRAY['name', 'date_of_birth', 'phone', 'email', 'postcode_district',
                               'lat', 'lon', 'languages', 'needs', 'online', 'referral_route',
                               'referred_by', 'referred_on', 'notes'], 'carer.');
    PERFORM rs_p_required(d, 'name', 'carer.'), rs_p_required(d, 'referral_route', 'carer.');
    IF (d ? 'lat') <> (d ? 'lon') THEN
        PERFORM rs_bad_param('carer.' || CASE WHEN d ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(d, 'date_of_birth', 'carer.') > rs_today() THEN
        PERFORM rs_bad_param('carer.date_of_birth', 'in the future');
    END IF;
    INSERT INTO carer (authority_id, name, date_of_birth, phone, email, postcode_district, lat, lon,
                       languages, needs, online, referral_route, referred_by, referred_on, notes,
                       created_by)
    VALUES (auth, rs_p_text(d, 'name', 200, 'carer.'), rs_p_date(d, 'date_of_birth', 'carer.'),
            rs_p_text(d, 'phone', 40, 'carer.'), rs_p_text(d, 'email', 200, 'carer.'),
            upper(replace(rs_p_text(d, 'postcode_district', 8, 'carer.'), ' ', '')),
            rs_p_num(d, 'lat', 49.8, 55.9, 'carer.'), rs_p_num(d, 'lon', -6.5, 2.0, 'carer.'),
            coalesce(rs_p_langs_ordered(d, 'languages', 'carer.'), '{}'),
            coalesce(rs_p_caps(d, 'needs', 'carer.'), '{}'),
            coalesce(rs_p_bool(d, 'online', 'carer.'), true),
            rs_p_enum(d, 'referral_route', enum_range(NULL::referral_route)::text[], 'carer.')::referral_route,
            rs_p_text(d, 'referred_by', 200, 'carer.'), rs_p_date(d, 'referred_on', 'carer.'),
            rs_p_text(d, 'notes', 4000, 'carer.'), (ctx->>'user_id')::bigint)
    RETURNING id INTO cid;
    RETURN cid;
END $$;

-- Links an app_user (role carer, same authority, not yet linked) to a carer.
CREATE FUNCTION rs_link_user(uid bigint, c carer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    u app_user;
BEGIN
    SELECT * INTO u FROM app_user WHERE id = uid FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such user', jsonb_build_object('user_id', uid));
    END IF;
    IF u.role <> 'carer' OR u.authority_id IS DISTINCT FROM c.authority_id THEN
        PERFORM rs_bad_param('user_id', 'must be a carer user of the same authority');
    END IF;
    IF u.carer_id IS NOT NULL AND u.carer_id <> c.id THEN
        PERFORM rs_raise('conflict', 'this user is already linked to another carer',
                         jsonb_build_object('user_id', uid, 'carer_id', u.carer_id));
    END IF;
    IF EXISTS (SELECT 1 FROM app_user WHERE carer_id = c.id AND id <> uid) THEN
        PERFORM rs_raise('conflict', 'this carer already has a user',
                         jsonb_build_object('carer_id', c.id));
    END IF;
    UPDATE app_user SET carer_id = c.id WHERE id = uid;
END $$;

CREATE FUNCTION api.family_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    c carer;
    cid bigint;
    persons jsonb := coalesce(rs_p_array(p, 'persons', 20), '[]');
    pid bigint;
    i int;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    IF (p ? 'carer') = (p ? 'carer_id') THEN
        PERFORM rs_bad_param('carer', 'give carer (a new carer) or carer_id (an existing one)');
    END IF;
    IF p ? 'carer_id' THEN
        c := rs_carer_for(ctx, rs_p_int(p, 'carer_id', 1, 9223372036854775807));
        PERFORM 1 FROM carer WHERE id = c.id FOR NO KEY UPDATE;
    ELSE
        v_auth := rs_target_authority(ctx, v_auth, 'families');
        cid := rs_carer_insert(ctx, v_auth, rs_p(p, 'carer', 'object'));
        SELECT * INTO c FROM carer WHERE id = cid;
    END IF;
    IF p ? 'user_id' THEN
        PERFORM rs_link_user(rs_p_int(p, 'user_id', 1, 9223372036854775807), c);
    END IF;
    FOR i IN 0 .. jsonb_array_length(persons) - 1 LOOP
        IF jsonb_typeof(persons->i) <> 'object' THEN
            PERFORM rs_bad_param(format('persons[%s]', i), 'wrong type: expected object');
        END IF;
        pid := rs_person_insert(ctx, c.authority_id, persons->i, format('persons[%s].', i));
        INSERT INTO care_link (carer_id, person_id, relationship, is_primary)
        VALUES (c.id, pid, rs_p_text(persons->i, 'relationship', 100, format('persons[%s].', i)),
                coalesce(rs_p_bool(persons->i, 'primary', format('persons[%s].', i)), true));
    END LOOP;
    RETURN idem_end(ctx, p, rs_family_json(c.id));
END $$;

-- family.link: joins an existing carer and person (a person with several
-- carers), or unlinks them.
CREATE FUNCTION api.family_link(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    c carer;
    pe person;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    PERFORM rs_p_required(p, 'carer_id'), rs_p_required(p, 'person_id');
    c := rs_carer_for(ctx, rs_p_int(p, 'carer_id', 1, 9223372036854775807));
    pe := rs_person_for(ctx, rs_p_int(p, 'person_id', 1, 9223372036854775807));
    IF c.authority_id <> pe.authority_id THEN
        PERFORM rs_bad_param('person_id', 'the carer and the person belong to different authorities');
    END IF;
    IF coalesce(rs_p_bool(p, 'remove'), false) THEN
        DELETE FROM care_link WHERE carer_id = c.id AND person_id = pe.id;
    ELSE
        INSERT INTO care_link (carer_id, person_id, relationship, is_primary)
        VALUES (c.id, pe.id, rs_p_text(p, 'relationship', 100), coalesce(rs_p_bool(p, 'primary'), false))
        ON CONFLICT (carer_id, person_id) DO UPDATE
           SET relationship = coalesce(excluded.relationship, care_link.relationship),
               is_primary = excluded.is_primary;
    END IF;
    RETURN idem_end(ctx, p, rs_family_json(c.id));
END $$;

CREATE FUNCTION api.family_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    RETURN rs_family_json((rs_carer_param(ctx, p)).id);
END $$;

CREATE FUNCTION api.family_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id', 1, 9223372036854775807);
    v_q text := rs_p_text(p, 'q', 100);
    v_young boolean := rs_p_bool(p, 'young_carers');
    v_limit int := rs_p_limit(p, 50, 200);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    IF ctx->>'role' <> 'admin' THEN
        IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may list only your own authority''s families');
        END IF;
        v_auth := rs_authority(ctx);
    END IF;
    SELECT coalesce(jsonb_agg(rs_carer_json(c) || jsonb_build_object(
               'persons', (SELECT coalesce(jsonb_agg(jsonb_build_object('person_id', pe.id, 'name', pe.name)
                                                     ORDER BY pe.id), '[]')
                             FROM care_link l JOIN person pe ON pe.id = l.person_id
                            WHERE l.carer_id = c.id)) ORDER BY c.name, c.id), '[]')
      INTO rows
      FROM (SELECT * FROM carer
             WHERE (v_auth IS NULL OR authority_id = v_auth)
               AND (v_q IS NULL OR name ILIKE '%' || replace(replace(v_q, '%', '\%'), '_', '\_') || '%'
                    OR EXISTS (SELECT 1 FROM care_link l JOIN person pe ON pe.id = l.person_id
                                WHERE l.carer_id = carer.id
                                  AND pe.name ILIKE '%' || replace(replace(v_q, '%', '\%'), '_', '\_') || '%'))
               AND (v_young IS NULL OR (rs_age_band(date_of_birth) IN ('under_16', '16_17')) = v_young)
             ORDER BY name, id LIMIT v_limit + 1 OFFSET v_offset) c;
    RETURN jsonb_build_object(
        'families', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- person.update: fields present are changed. Carers may change their
-- person's needs, wishes, languages, home and preferences; consent is a
-- formal record that staff make.
CREATE FUNCTION api.person_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    pe person;
    v_consent jsonb;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'carer');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    PERFORM rs_p_required(p, 'person_id');
    pe := rs_person_for(ctx, rs_p_int(p, 'person_id', 1, 9223372036854775807));
    PERFORM 1 FROM person WHERE id = pe.id FOR NO KEY UPDATE;
    IF p ? 'consent' THEN
        IF ctx->>'role' = 'carer' THEN
            PERFORM rs_raise('forbidden', 'consent is recorded by council or carers'' centre staff',
                             jsonb_build_object('field', 'consent'));
        END IF;
        v_consent := rs_p_consent(rs_p(p, 'consent', 'object'), 'consent.');
    END IF;
    IF (p ? 'lat') <> (p ? 'lon') THEN
        PERFORM rs_bad_param(CASE WHEN p ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(p, 'date_of_birth') > rs_today() THEN
        PERFORM rs_bad_param('date_of_birth', 'in the future');
    END IF;
    UPDATE person SET
        name = coalesce(rs_p_text(p, 'name', 200), name),
        date_of_birth = coalesce(rs_p_date(p, 'date_of_birth'), date_of_birth),
        needs = coalesce(rs_p_caps(p, 'needs'), needs),
        wishes = coalesce(rs_p_caps(p, 'wishes'), wishes),
        languages = coalesce(rs_p_langs_ordered(p, 'languages'), languages),
        postcode_district = coalesce(upper(replace(rs_p_text(p, 'postcode_district', 8), ' ', '')), postcode_district),
        lat = coalesce(rs_p_num(p, 'lat', 49.8, 55.9), lat),
        lon = coalesce(rs_p_num(p, 'lon', -6.5, 2.0), lon),
        notes = CASE WHEN p ? 'notes' THEN rs_p_text(p, 'notes', 4000) ELSE notes END,
        consent = coalesce((v_consent->>'status')::consent_status, person.consent),
        consent_decided_by = CASE WHEN v_consent IS NOT NULL THEN v_consent->>'decided_by' ELSE consent_decided_by END,
        consent_notes = CASE WHEN v_consent IS NOT NULL THEN v_consent->>'notes' ELSE consent_notes END,
        consent_recorded_by = CASE WHEN v_consent IS NOT NULL THEN (ctx->>'user_id')::bigint ELSE consent_recorded_by END,
        consent_recorded_at = CASE WHEN v_consent IS NOT NULL THEN now() ELSE consent_recorded_at END,
        updated_at = now()
     WHERE id = pe.id
    RETURNING * INTO pe;
    PERFORM rs_prefs_set(pe.id, rs_p_ids(p, 'preferred_supply_ids', 50), true, 'preferred_supply_ids');
    PERFORM rs_prefs_set(pe.id, rs_p_ids(p, 'avoid_supply_ids', 50), false, 'avoid_supply_ids');
    RETURN idem_end(ctx, p, rs_person_json(pe));
END $$;

-- ---------------------------------------------------------------------------
-- The ledger

-- The calendar period (London dates) containing d: ISO weeks from Monday,
-- calendar months, quarters and years.
CREATE FUNCTION rs_period_step(kind text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'week' THEN interval '7 days' WHEN 'month' THEN interval '1 month'
                     WHEN 'quarter' THEN interval '3 months' WHEN 'year' THEN interval '1 year' END
$$;

CREATE FUNCTION rs_period(kind text, d date) RETURNS daterange
LANGUAGE sql IMMUTABLE AS $$
    SELECT daterange(s, (s + rs_period_step(kind))::date)
      FROM (SELECT date_trunc(kind, d::timestamp)::date AS s) x
$$;

-- Get-or-create an account by its ref. `created` says whether this call
-- made it (a recurring period's allowance is credited by its creator only).
CREATE FUNCTION rs_account_open(v_ref text, v_kind account_kind, v_unit ledger_unit, v_auth bigint,
                                v_name text, v_source fund_source DEFAULT NULL,
                                v_ent bigint DEFAULT NULL, v_period daterange DEFAULT NULL,
                                v_carer bigint DEFAULT NULL, v_person bigint DEFAULT NULL,
                                v_provider bigint DEFAULT NULL, v_overdraw boolean DEFAULT false,
                                OUT id bigint, OUT created boolean)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account AS a (ref, kind, unit, authority_id, name, source, entitlement_id, period,
                              carer_id, person_id, provider_id, allow_overdraw)
    VALUES (v_ref, v_kind, v_unit, v_auth, v_name, v_source, v_ent, v_period,
            v_carer, v_person, v_provider, v_overdraw)
    ON CONFLICT (ref) DO NOTHING
    RETURNING a.id INTO id;
    created := id IS NOT NULL;
    IF NOT created THEN
        SELECT a.id INTO id FROM account a WHERE a.ref = v_ref;
    END IF;
END $$;

-- Locks accounts in id order. Every path that moves several accounts in
-- one transaction (holds, confirmations, voids, reversals, the janitor)
-- locks them all first through this, so two transactions never wait on
-- each other's accounts in a cycle.
CREATE FUNCTION rs_lock_accounts(ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    SELECT 1 FROM account WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE
$$;

-- The balance an account can still spend.
CREATE FUNCTION rs_available(a account) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT a.credits_posted - a.debits_posted - a.debits_pending
$$;

-- One transfer, pending or posted, with the running columns of both
-- accounts moved in the same statement sequence. The debit is a
-- conditional UPDATE: it matches only while the balance covers the amount,
-- so concurrent spenders serialise on the account row and the loser sees
-- budget_exceeded; the CHECK on account is the backstop.
CREATE FUNCTION rs_transfer(v_debit bigint, v_credit bigint, v_amount bigint,
                            v_status transfer_status, v_kind transfer_kind,
                            v_booking bigint DEFAULT NULL, v_leg int DEFAULT NULL,
                            v_covers bigint DEFAULT 0, v_expires timestamptz DEFAULT NULL,
                            v_note text DEFAULT NULL, v_reverses bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d account;
    c account;
    tid bigint;
BEGIN
    IF v_status = 'voided' THEN
        RAISE EXCEPTION 'rs_transfer: a transfer is created pending or posted';
    END IF;
    PERFORM rs_lock_accounts(ARRAY[v_debit, v_credit]);
    SELECT * INTO c FROM account WHERE id = v_credit;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM account WHERE id = v_debit) THEN
        RAISE EXCEPTION 'rs_transfer: no account % or %', v_debit, v_credit;
    END IF;
    UPDATE account a SET
        debits_pending = a.debits_pending + CASE WHEN v_status = 'pending' THEN v_amount ELSE 0 END,
        debits_posted = a.debits_posted + CASE WHEN v_status = 'posted' THEN v_amount ELSE 0 END
     WHERE a.id = v_debit AND a.unit = c.unit
       AND (a.allow_overdraw OR a.credits_posted - a.debits_posted - a.debits_pending >= v_amount)
    RETURNING * INTO d;
    IF NOT FOUND THEN
        SELECT * INTO d FROM account WHERE id = v_debit;
        IF d.unit <> c.unit THEN
            RAISE EXCEPTION 'rs_transfer: units differ (% %, % %)', d.id, d.unit, c.id, c.unit;
        END IF;
        PERFORM rs_raise('budget_exceeded', 'not enough left in ' || d.name,
            jsonb_build_object('account_id', d.id, 'entitlement_id', d.entitlement_id,
                               'unit', d.unit, 'amount', v_amount, 'available', rs_available(d)));
    END IF;
    UPDATE account a SET
        credits_pending = a.credits_pending + CASE WHEN v_status = 'pending' THEN v_amount ELSE 0 END,
        credits_posted = a.credits_posted + CASE WHEN v_status = 'posted' THEN v_amount ELSE 0 END
     WHERE a.id = v_credit;
    INSERT INTO ledger_transfer (debit_account_id, credit_account_id, amount, unit, status, kind,
                                 booking_id, leg, covers_pence, reverses_id, expires_at, note,
                                 posted_at)
    VALUES (v_debit, v_credit, v_amount, d.unit, v_status, v_kind, v_booking, v_leg, v_covers,
            v_reverses, CASE WHEN v_status = 'pending' THEN v_expires END, v_note,
            CASE WHEN v_status = 'posted' THEN now() END)
    RETURNING id INTO tid;
    RETURN tid;
END $$;

-- Second phase: pending -> posted, or pending -> voided. A transfer in any
-- other state is left alone and false returned, so repeating is harmless.
CREATE FUNCTION rs_transfer_settle(tid bigint, post boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
BEGIN
    UPDATE ledger_transfer SET status = CASE WHEN post THEN 'posted' ELSE 'voided' END::transfer_status,
           posted_at = CASE WHEN post THEN now() END,
           voided_at = CASE WHEN post THEN NULL ELSE now() END
     WHERE id = tid AND status = 'pending'
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM rs_lock_accounts(ARRAY[t.debit_account_id, t.credit_account_id]);
    UPDATE account SET debits_pending = debits_pending - t.amount,
                       debits_posted = debits_posted + CASE WHEN post THEN t.amount ELSE 0 END
     WHERE id = t.debit_account_id;
    UPDATE account SET credits_pending = credits_pending - t.amount,
                       credits_posted = credits_posted + CASE WHEN post THEN t.amount ELSE 0 END
     WHERE id = t.credit_account_id;
    RETURN true;
END $$;

-- Undoes a posted transfer with a posted one the other way.
CREATE FUNCTION rs_transfer_reverse(tid bigint, v_leg int, v_note text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
BEGIN
    SELECT * INTO t FROM ledger_transfer WHERE id = tid AND status = 'posted';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rs_transfer_reverse: % is not posted', tid;
    END IF;
    RETURN rs_transfer(t.credit_account_id, t.debit_account_id, t.amount, 'posted', 'reversal',
                       t.booking_id, v_leg, -t.covers_pence, NULL, v_note, t.id);
END $$;

-- ---------------------------------------------------------------------------
-- Entitlement accounts

-- The charging rule. Replacement care (delivered to the cared-for person:
-- sitting, beds, Shared Lives) is charged to the person's budget or the
-- council's, never to the carer's; breaks the carer takes themselves come
-- from the carer's budgets. The emergency fund pays emergency breaks only.
CREATE FUNCTION rs_source_pays(src fund_source, subject text, break_kind text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
             WHEN src = 'emergency_fund' THEN break_kind = 'emergency' AND subject = 'person'
             WHEN subject = 'person' THEN src IN ('council', 'pooled_fund', 'person_personal_budget')
             ELSE src IN ('carer_direct_payment', 'carer_personal_budget') END
$$;

CREATE FUNCTION rs_issuer_account(e entitlement) RETURNS bigint
LANGUAGE sql AS $$
    SELECT (rs_account_open('issuer:' || e.id, 'issuer', e.unit, e.authority_id,
                            'Funder of ' || e.name, e.source, e.id, NULL,
                            e.carer_id, e.person_id, NULL, true)).id
$$;

-- The days an ongoing entitlement pays in, up to today: valid_from and
-- every period after it (a direct payment paid monthly from its start).
CREATE FUNCTION rs_payment_days(e entitlement) RETURNS SETOF date
LANGUAGE sql STABLE AS $$
    SELECT (e.valid_from + rs_period_step(e.period) * n)::date
      FROM generate_series(0, 2000) n
     WHERE (e.valid_from + rs_period_step(e.period) * n)::date <= rs_today()
       AND (e.valid_to IS NULL OR (e.valid_from + rs_period_step(e.period) * n)::date < e.valid_to)
$$;

-- Ongoing entitlements: pays in every period that has started by today
-- and has not been paid yet. The entitlement row is locked first, so two
-- transactions (a booking, the janitor) never pay the same period: the
-- second sees the first's accrual rows once it has the lock.
CREATE FUNCTION rs_entitlement_accrue(e entitlement) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    acct bigint;
    issuer bigint;
    ps date;
    n int := 0;
BEGIN
    IF e.rule <> 'ongoing' THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM entitlement WHERE id = e.id FOR NO KEY UPDATE;
    acct := (rs_account_open('ent:' || e.id, 'entitlement', e.unit, e.authority_id, e.name,
                             e.source, e.id, NULL, e.carer_id, e.person_id, NULL, e.allow_overdraw)).id;
    FOR ps IN SELECT g::date FROM rs_payment_days(e) g
               WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual a
                                  WHERE a.entitlement_id = e.id AND a.period_start = g::date) LOOP
        issuer := coalesce(issuer, rs_issuer_account(e));
        INSERT INTO entitlement_accrual (entitlement_id, period_start, transfer_id)
        VALUES (e.id, ps, rs_transfer(issuer, acct, e.amount, 'posted', 'allowance',
                                      v_note => format('%s paid for the %s from %s', e.name, e.period, ps)));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Opens a new entitlement's ledger: its funder (issuer) and, for fixed and
-- one-off entitlements, the account with the whole amount credited.
CREATE FUNCTION rs_entitlement_open(e entitlement) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    acct bigint;
BEGIN
    PERFORM rs_issuer_account(e);
    IF e.rule IN ('fixed', 'one_off') THEN
        acct := (rs_account_open('ent:' || e.id, 'entitlement', e.unit, e.authority_id, e.name,
                                 e.source, e.id, NULL, e.carer_id, e.person_id, NULL, e.allow_overdraw)).id;
        PERFORM rs_transfer(rs_issuer_account(e), acct, e.amount, 'posted', 'allowance',
                            v_note => e.name || ': allowance');
    ELSIF e.rule = 'ongoing' THEN
        PERFORM rs_entitlement_accrue(e);
    END IF;
END $$;

-- The account an entitlement pays a break starting on `day` from: the
-- entitlement's one account, or for a recurring allowance the account of
-- the period `day` falls in, created and credited with the period's
-- amount on first use. With materialise false nothing is written and NULL
-- is returned for a period not yet opened.
CREATE FUNCTION rs_entitlement_account(e entitlement, day date, materialise boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    per daterange;
    acct record;
BEGIN
    IF e.rule <> 'recurring' THEN
        IF materialise AND e.rule = 'ongoing' THEN
            PERFORM rs_entitlement_accrue(e);
        END IF;
        RETURN (SELECT id FROM account WHERE ref = 'ent:' || e.id);
    END IF;
    per := rs_period(e.period, day);
    IF NOT materialise THEN
        RETURN (SELECT id FROM account WHERE ref = format('ent:%s:%s', e.id, lower(per)));
    END IF;
    acct := rs_account_open(format('ent:%s:%s', e.id, lower(per)), 'entitlement', e.unit,
                            e.authority_id, format('%s (%s to %s)', e.name, lower(per), upper(per) - 1),
                            e.source, e.id, per, e.carer_id, e.person_id, NULL, e.allow_overdraw);
    IF acct.created THEN
        PERFORM rs_transfer(rs_issuer_account(e), acct.id, e.amount, 'posted', 'allowance',
                            v_note => format('%s: allowance for %s to %s', e.name, lower(per), upper(per) - 1));
    END IF;
    RETURN acct.id;
END $$;

-- What an entitlement could pay for a break starting on `day`, without
-- writing: a period not yet opened has its whole amount, an ongoing
-- payment what has been paid in plus the periods due but not yet paid.
CREATE FUNCTION rs_entitlement_available(e entitlement, day date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a account;
    due bigint := 0;
BEGIN
    IF e.rule = 'recurring' THEN
        SELECT * INTO a FROM account WHERE ref = format('ent:%s:%s', e.id, lower(rs_period(e.period, day)));
        RETURN CASE WHEN FOUND THEN rs_available(a) ELSE e.amount END;
    END IF;
    SELECT * INTO a FROM account WHERE ref = 'ent:' || e.id;
    IF e.rule = 'ongoing' THEN
        SELECT count(*) * e.amount INTO due
          FROM rs_payment_days(e) g
         WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual x
                            WHERE x.entitlement_id = e.id AND x.period_start = g::date);
    END IF;
    RETURN coalesce(rs_available(a), 0) + due;
END $$;

CREATE FUNCTION rs_entitlement_json(e entitlement) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'entitlement_id', e.id, 'name', e.name, 'source', e.source, 'unit', e.unit,
        'rule', e.rule, 'amount', e.amount, 'period', e.period,
        'valid_from', e.valid_from, 'valid_to', e.valid_to,
        'carer_id', e.carer_id, 'person_id', e.person_id,
        'exclude_bank_holidays', e.exclude_bank_holidays, 'kinds', to_jsonb(e.kinds),
        'priority', e.priority, 'allow_overdraw', e.allow_overdraw, 'active', e.active,
        'notes', e.notes))
$$;

-- An optional array of supply kinds, checked one by one.
CREATE FUNCTION rs_p_kinds(p jsonb, key text) RETURNS supply_kind[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    a jsonb := rs_p_array(p, key, 4);
    i int;
    out supply_kind[] := '{}';
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 0 .. jsonb_array_length(a) - 1 LOOP
        IF jsonb_typeof(a->i) <> 'string' OR NOT (a->>i) = ANY (ARRAY['bed', 'worker', 'household', 'offer']) THEN
            PERFORM rs_bad_param(format('%s[%s]', key, i), 'must be one of bed, worker, household, offer');
        END IF;
        out := out || (a->>i)::supply_kind;
    END LOOP;
    RETURN out;
END $$;

-- Who pays first when a booking does not say: council money before the
-- family's own budgets; the emergency fund last.
CREATE FUNCTION rs_default_priority(src fund_source) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE src WHEN 'council' THEN 10 WHEN 'pooled_fund' THEN 20
                    WHEN 'person_personal_budget' THEN 30 WHEN 'carer_personal_budget' THEN 40
                    WHEN 'carer_direct_payment' THEN 50 ELSE 90 END
$$;

-- entitlement.create: staff grant a family member an entitlement; its
-- ledger is opened in the same transaction.
CREATE FUNCTION api.entitlement_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    c carer;
    pe person;
    v_src fund_source;
    v_rule entitlement_rule;
    v_unit ledger_unit;
    v_period text;
    v_from date;
    v_to date;
    v_kinds supply_kind[];
    e entitlement;
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    IF (p ? 'carer_id') = (p ? 'person_id') THEN
        PERFORM rs_bad_param('carer_id', 'give carer_id or person_id: whose entitlement it is');
    END IF;
    PERFORM rs_p_required(p, k) FROM unnest(ARRAY['name', 'source', 'unit', 'rule', 'amount', 'valid_from']) k;
    IF p ? 'carer_id' THEN
        c := rs_carer_for(ctx, rs_p_int(p, 'carer_id', 1, 9223372036854775807));
    ELSE
        pe := rs_person_for(ctx, rs_p_int(p, 'person_id', 1, 9223372036854775807));
    END IF;
    v_src := rs_p_enum(p, 'source', ARRAY['council', 'pooled_fund', 'carer_direct_payment',
                       'carer_personal_budget', 'person_personal_budget', 'emergency_fund'])::fund_source;
    v_unit := rs_p_enum(p, 'unit', ARRAY['pence', 'minutes', 'nights'])::ledger_unit;
    v_rule := rs_p_enum(p, 'rule', ARRAY['fixed', 'recurring', 'one_off', 'ongoing'])::entitlement_rule;
    v_period := rs_p_enum(p, 'period', ARRAY['week', 'month', 'quarter', 'year']);
    v_from := rs_p_date(p, 'valid_from');
    v_to := rs_p_date(p, 'valid_to');
    IF v_src IN ('carer_direct_payment', 'carer_personal_budget') AND c.id IS NULL THEN
        PERFORM rs_bad_param('source', 'a carer''s budget belongs to a carer: give carer_id');
    END IF;
    IF v_src = 'person_personal_budget' AND pe.id IS NULL THEN
        PERFORM rs_bad_param('source', 'a personal budget belongs to the cared-for person: give person_id');
    END IF;
    IF v_src NOT IN ('council', 'pooled_fund', 'emergency_fund') AND v_unit <> 'pence' THEN
        PERFORM rs_bad_param('unit', 'direct payments and personal budgets are money: unit pence');
    END IF;
    IF (v_rule IN ('recurring', 'ongoing')) <> (v_period IS NOT NULL) THEN
        PERFORM rs_bad_param('period', CASE WHEN v_period IS NULL THEN 'required for a recurring or ongoing entitlement'
                                            ELSE 'only for a recurring or ongoing entitlement' END);
    END IF;
    IF v_rule = 'fixed' AND v_to IS NULL THEN
        PERFORM rs_bad_param('valid_to', 'required for a fixed allowance (the end of its window)');
    END IF;
    IF v_to IS NOT NULL AND v_to <= v_from THEN
        PERFORM rs_bad_param('valid_to', 'must be after valid_from (valid_to is the first day it no longer applies)');
    END IF;
    IF rs_p_bool(p, 'allow_overdraw') AND v_src <> 'emergency_fund' THEN
        PERFORM rs_bad_param('allow_overdraw', 'only an emergency fund may go below zero');
    END IF;
    v_kinds := rs_p_kinds(p, 'kinds');
    INSERT INTO entitlement (authority_id, name, source, unit, rule, amount, period, valid_from,
                             valid_to, carer_id, person_id, exclude_bank_holidays, kinds, priority,
                             allow_overdraw, notes, created_by)
    VALUES (coalesce(c.authority_id, pe.authority_id), rs_p_text(p, 'name', 200), v_src, v_unit,
            v_rule, rs_p_int(p, 'amount', 1, 100000000000), v_period, v_from, v_to, c.id, pe.id,
            coalesce(rs_p_bool(p, 'exclude_bank_holidays'), false), v_kinds,
            coalesce(rs_p_int(p, 'priority', 0, 1000)::int, rs_default_priority(v_src)),
            coalesce(rs_p_bool(p, 'allow_overdraw'), false), rs_p_text(p, 'notes', 2000),
            (ctx->>'user_id')::bigint)
    RETURNING * INTO e;
    PERFORM rs_entitlement_open(e);
    RETURN idem_end(ctx, p, rs_entitlement_json(e)
        || jsonb_build_object('available_today', rs_entitlement_available(e, greatest(rs_today(), e.valid_from))));
END $$;

-- ---------------------------------------------------------------------------
-- Bank holidays

CREATE FUNCTION api.bank_holiday_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date := coalesce(rs_p_date(p, 'from'), date_trunc('year', rs_today())::date);
    t date := coalesce(rs_p_date(p, 'to'), (date_trunc('year', rs_today()) + interval '2 years')::date);
BEGIN
    PERFORM rs_require_role(ctx, 'admin', 'coordinator', 'provider', 'carer', 'call_handler');
    IF t <= f THEN
        PERFORM rs_bad_param('to', 'must be after from');
    END IF;
    RETURN jsonb_build_object('from', f, 'to', t, 'bank_holidays',
        (SELECT coalesce(jsonb_agg(jsonb_build_object('day', day, 'name', name, 'status', status)
                                   ORDER BY day), '[]')
           FROM bank_holiday WHERE day >= f AND day < t));
END $$;

-- bank_holiday.set: adds or corrects a day (a one-off holiday announced
-- later, a moved date), or removes it.
CREATE FUNCTION api.bank_holiday_set(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    prior jsonb;
    d date;
    removed boolean := coalesce(rs_p_bool(p, 'remove'), false);
BEGIN
    PERFORM rs_require_role(ctx, 'admin');
    prior := idem_begin(ctx, p);
    IF prior IS NOT NULL THEN
        RETURN prior;
    END IF;
    PERFORM rs_p_required(p, 'day');
    d := rs_p_date(p, 'day');
    IF removed THEN
        DELETE FROM bank_holiday WHERE day = d;
        RETURN idem_end(ctx, p, jsonb_build_object('day', d, 'removed', FOUND));
    END IF;
    PERFORM rs_p_required(p, 'name');
    INSERT INTO bank_holiday (day, name, status) VALUES (d, rs_p_text(p, 'name', 100), 'admin')
    ON CONFLICT (day) DO UPDATE SET name = excluded.name, status = 'admin';
    RETURN idem_end(ctx, p, (SELECT jsonb_build_object('day', day, 'name', name, 'status', status)
                               FROM bank_holiday WHERE day = d));
END $$;
