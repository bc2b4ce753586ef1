-- Scenario tests for families, the ledger and bookings (sql/api/3*, 4*).
--
-- Runs in a fresh database with every migration applied (demo data may be
-- loaded too; nothing here depends on it or disturbs it):
--     psql -v ON_ERROR_STOP=1 -f tests/sql/004_booking_test.sql
-- Each DO block raises on failure. It makes its own authority, users,
-- providers and supply through the api functions, as the daemon would,
-- with a ctx built as the daemon builds it. Dates are in the next
-- calendar year, so the scenarios (March and April allowances, Easter,
-- the clock changes) always lie in the future. Where a scenario needs time
-- to pass (a hold that lapses, a visit that has happened) the rows'
-- times are moved into the past: the tests say so where they do it.
-- Afterwards sql/invariants.sql must return no rows.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Helpers (session-local)

CREATE TEMP TABLE t_id (name text PRIMARY KEY, id bigint NOT NULL);

CREATE FUNCTION pg_temp.id(n text) RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM t_id WHERE name = n
$$;

CREATE FUNCTION pg_temp.keep(n text, v bigint) RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO t_id VALUES (n, v) ON CONFLICT (name) DO UPDATE SET id = excluded.id RETURNING id
$$;

CREATE FUNCTION pg_temp.uid(uname text) RETURNS bigint LANGUAGE sql AS $$
    SELECT id FROM app_user WHERE username = uname
$$;

-- The ctx the daemon passes: the session's identity plus the method.
CREATE FUNCTION pg_temp.ctx(uname text, method text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT rs_user_ctx(id) || jsonb_build_object('method', method, 'request_seq', 1, 'hold_ttl_s', 900)
      FROM app_user WHERE username = uname
$$;

CREATE FUNCTION pg_temp.call(uname text, method text, p jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT %I($1, $2)', method)
       INTO r USING pg_temp.ctx(uname, method), p;
    RETURN r;
END $$;

-- Calls a method that must be refused with `want`; returns error data.
CREATE FUNCTION pg_temp.refused(uname text, method text, p jsonb, want text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
BEGIN
    BEGIN
        PERFORM pg_temp.call(uname, method, p);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
        IF msg <> want THEN
            RAISE EXCEPTION '% %: expected %, got %: %', method, p, want, msg, det;
        END IF;
        RETURN coalesce(nullif(det, '')::jsonb, '{}');
    END;
    RAISE EXCEPTION '% %: expected refusal %, but it succeeded', method, p, want;
END $$;

CREATE FUNCTION pg_temp.check(cond boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cond IS NOT TRUE THEN
        RAISE EXCEPTION 'FAILED: %', what;
    END IF;
END $$;

-- The test year: next calendar year.
CREATE FUNCTION pg_temp.y() RETURNS int LANGUAGE sql AS $$
    SELECT extract(year FROM rs_today())::int + 1
$$;

CREATE FUNCTION pg_temp.d(m int, dd int) RETURNS date LANGUAGE sql AS $$
    SELECT make_date(pg_temp.y(), m, dd)
$$;

-- A visit on a London date between two local times.
CREATE FUNCTION pg_temp.visit(d date, t0 text, t1 text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('date', d, 'start_time', t0, 'end_time', t1)
$$;

-- An entitlement account's figures.
CREATE FUNCTION pg_temp.remaining(eid bigint, day date DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
    SELECT rs_available(a) FROM account a
     WHERE a.entitlement_id = eid AND a.kind = 'entitlement'
       AND (day IS NULL OR a.period IS NULL OR a.period @> day)
$$;

-- Holds and confirms; returns the booking.
CREATE FUNCTION pg_temp.book(uname text, p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    h jsonb := pg_temp.call(uname, 'booking.hold', p);
BEGIN
    RETURN pg_temp.call(uname, 'booking.confirm', jsonb_build_object('booking_id', h->'booking_id'));
END $$;

-- "Time passes": moves a booking (and what it holds) into the past,
-- keeping its length; each call a day further back, so they never meet.
CREATE TEMP SEQUENCE t_past;
CREATE FUNCTION pg_temp.make_past(bid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    shift interval;
BEGIN
    SELECT (now() - make_interval(days => nextval('t_past')::int)) - upper(span) INTO shift
      FROM booking WHERE id = bid;
    UPDATE booking SET span = tstzrange(lower(span) + shift, upper(span) + shift) WHERE id = bid;
    UPDATE allocation SET span = tstzrange(lower(span) + shift, upper(span) + shift)
     WHERE booking_id = bid AND span IS NOT NULL;
END $$;

-- ---------------------------------------------------------------------------
-- Setup: an authority, its users, providers, supply and availability.

INSERT INTO authority (code, name) VALUES ('E99000004', 'Testshire'), ('E99000005', 'Othershire');

INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations)
SELECT u, r::user_role, (SELECT id FROM authority WHERE code = a), '\x00', '\x00', 1000
  FROM (VALUES ('t_admin', 'admin', NULL), ('t_coord', 'coordinator', 'E99000004'),
               ('t_coord_other', 'coordinator', 'E99000005'),
               ('t_home', 'provider', 'E99000004'), ('t_sitters', 'provider', 'E99000004'),
               ('t_carer1', 'carer', 'E99000004'), ('t_carer2', 'carer', 'E99000004'),
               ('t_carer3', 'carer', 'E99000004')) v(u, r, a);

DO $$
DECLARE
    pr jsonb;
    s jsonb;
    days jsonb;
BEGIN
    -- Providers
    PERFORM pg_temp.keep('home', (pg_temp.call('t_coord', 'provider.create', '{"type":"residential","name":"Test Care Home","postcode_district":"L17","lat":53.38,"lon":-2.93,"cqc_rating":"good"}'::jsonb)->>'provider_id')::bigint);
    PERFORM pg_temp.keep('sitters', (pg_temp.call('t_coord', 'provider.create', '{"type":"sitting","name":"Test Sitters","postcode_district":"L8","lat":53.39,"lon":-2.96}'::jsonb)->>'provider_id')::bigint);
    PERFORM pg_temp.keep('sl', (pg_temp.call('t_coord', 'provider.create', '{"type":"shared_lives","name":"Test Shared Lives","postcode_district":"L15","lat":53.40,"lon":-2.92}'::jsonb)->>'provider_id')::bigint);
    PERFORM pg_temp.keep('hotel', (pg_temp.call('t_coord', 'provider.create', '{"type":"hotel_leisure","name":"Test Hotel","postcode_district":"L1","lat":53.40,"lon":-2.98}'::jsonb)->>'provider_id')::bigint);
    UPDATE app_user SET provider_id = pg_temp.id('home') WHERE username = 't_home';
    UPDATE app_user SET provider_id = pg_temp.id('sitters') WHERE username = 't_sitters';

    -- Supply
    PERFORM pg_temp.keep('bedA', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('home'),
        'kind', 'bed', 'name', 'Bed A', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 10000, 'price_unit', 'night'))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('bedB', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('home'),
        'kind', 'bed', 'name', 'Bed B', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 9000, 'price_unit', 'night'))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('w1', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('sitters'),
        'kind', 'worker', 'name', 'Worker One', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'gender', 'female', 'price_pence', 2000, 'price_unit', 'hour', 'travel_buffer_minutes', 30,
        'min_visit_minutes', 60, 'max_visit_minutes', 720, 'travel_radius_km', 20))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('w2', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('sitters'),
        'kind', 'worker', 'name', 'Worker Two', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 1800, 'price_unit', 'hour', 'travel_buffer_minutes', 15,
        'min_visit_minutes', 60, 'max_visit_minutes', 720, 'travel_radius_km', 20, 'lat', 53.395, 'lon', -2.95))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('w3', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('sitters'),
        'kind', 'worker', 'name', 'Worker Three', 'capabilities', '["learning_disability"]'::jsonb, 'languages', '["en"]'::jsonb,
        'price_pence', 1500, 'price_unit', 'hour'))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('wn', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('sitters'),
        'kind', 'worker', 'name', 'Night Worker', 'capabilities', '["dementia","sup:waking_night"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 2400, 'price_unit', 'hour', 'travel_buffer_minutes', 15,
        'min_visit_minutes', 60, 'max_visit_minutes', 720))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('hh', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('sl'),
        'kind', 'household', 'name', 'The Test household', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 6000, 'price_unit', 'night', 'bedrooms', 1, 'day_places', 1,
        'day_price_pence', 1200, 'day_price_unit', 'hour', 'approval_expires', rs_today() + 720))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('hotel1', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('hotel'),
        'kind', 'offer', 'name', 'Overnight stay for two', 'price_pence', 0, 'price_unit', 'night',
        'offer_type', 'overnight_stay', 'party_size', 2, 'attrs', '{"value_pence":15000}'::jsonb,
        'conditions', '{"per_carer_per":"quarter","max":1}'::jsonb))->>'supply_id')::bigint);
    PERFORM pg_temp.keep('theatre', (pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('hotel'),
        'kind', 'offer', 'name', 'Theatre seats', 'price_pence', 500, 'price_unit', 'session',
        'offer_type', 'theatre', 'party_size', 2, 'duration_minutes', 150))->>'supply_id')::bigint);

    -- Availability: beds and the household's room for two years; workers
    -- every day 08:00-23:00 London time; the night worker 21:00-09:00;
    -- day support 10:00-16:00.
    FOREACH s IN ARRAY ARRAY[pg_temp.id('bedA'), pg_temp.id('bedB'), pg_temp.id('hh')]::text[]::jsonb[] LOOP
        PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', s,
            'ranges', jsonb_build_array(jsonb_build_object('from', rs_today(), 'to', rs_today() + 720))));
    END LOOP;
    days := (SELECT jsonb_agg(jsonb_build_object('date', rs_today() + g, 'start_time', '08:00', 'end_time', '23:00'))
               FROM generate_series(1, 700) g);
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id(w), 'ranges', days))
       FROM unnest(ARRAY['w1', 'w2', 'w3']) w;
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('wn'),
        'ranges', (SELECT jsonb_agg(jsonb_build_object('date', rs_today() + g, 'start_time', '21:00', 'end_time', '09:00'))
                     FROM generate_series(1, 700) g)));
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('hh'),
        'ranges', (SELECT jsonb_agg(jsonb_build_object('date', rs_today() + g, 'start_time', '10:00', 'end_time', '16:00'))
                     FROM generate_series(1, 700) g)));
    -- Offers: the hotel two rooms a night, the theatre two seats at 19:30.
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('hotel1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', rs_today() + 1, 'to', rs_today() + 364, 'quantity', 2))));
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('theatre'),
        'ranges', jsonb_build_array(jsonb_build_object('from', rs_today() + 1, 'to', rs_today() + 364,
                                                       'starts_at', '19:30', 'quantity', 2))));
END $$;

-- ---------------------------------------------------------------------------
-- Families

DO $$
DECLARE
    f jsonb;
    e jsonb;
BEGIN
    -- Family 1: a carer and her father, who has dementia and speaks Punjabi.
    f := pg_temp.call('t_coord', 'family.create', jsonb_build_object(
        'carer', jsonb_build_object('name', 'Harjit Kaur', 'date_of_birth', '1970-05-01', 'referral_route', 'gp_carers_prescription',
                                    'referred_by', 'Dr Shah', 'languages', '["en","pa"]'::jsonb, 'postcode_district', 'L17',
                                    'lat', 53.385, 'lon', -2.94, 'needs', '["diet:halal"]'::jsonb),
        'user_id', pg_temp.uid('t_carer1'),
        'persons', jsonb_build_array(jsonb_build_object('name', 'Gurdev Singh', 'date_of_birth', '1941-02-11',
            'needs', '["dementia"]'::jsonb, 'languages', '["pa"]'::jsonb, 'relationship', 'father',
            'lat', 53.385, 'lon', -2.94, 'consent', '{"status":"best_interests","decided_by":"Dr Shah, GP"}'::jsonb))));
    PERFORM pg_temp.keep('c1', (f->'carer'->>'carer_id')::bigint);
    PERFORM pg_temp.keep('p1', (f->'persons'->0->>'person_id')::bigint);
    PERFORM pg_temp.check(f->'persons'->0->'consent'->>'decided_by' = 'Dr Shah, GP', 'best-interests decision recorded with who made it');
    PERFORM pg_temp.check((SELECT carer_id FROM app_user WHERE username = 't_carer1') = pg_temp.id('c1'), 'user linked');
    PERFORM pg_temp.check(pg_temp.call('t_carer1', 'family.get')->'carer'->>'name' = 'Harjit Kaur', 'carer sees own family');
    PERFORM pg_temp.check(f->'persons'->0->'languages' = '["pa"]'::jsonb, 'languages kept in order');

    -- Family 2: a young carer (15) and his mother; only 8 hours a month.
    f := pg_temp.call('t_coord', 'family.create', jsonb_build_object(
        'carer', jsonb_build_object('name', 'Sam Green', 'date_of_birth', (rs_today() - interval '15 years')::date, 'referral_route', 'carers_centre'),
        'user_id', pg_temp.uid('t_carer2'),
        'persons', jsonb_build_array(
            jsonb_build_object('name', 'Lynne Green', 'needs', '["dementia"]'::jsonb, 'languages', '["en"]'::jsonb, 'relationship', 'mother',
                               'consent', '{"status":"given"}'::jsonb),
            jsonb_build_object('name', 'Alan Green', 'needs', '["dementia"]'::jsonb, 'relationship', 'grandfather'))));
    PERFORM pg_temp.keep('c2', (f->'carer'->>'carer_id')::bigint);
    PERFORM pg_temp.keep('p2', (f->'persons'->0->>'person_id')::bigint);
    PERFORM pg_temp.keep('p2b', (f->'persons'->1->>'person_id')::bigint);
    PERFORM pg_temp.check((f->'carer'->>'young_carer')::boolean AND f->'carer'->>'age_band' = 'under_16', 'young carer flagged');

    -- Family 3: for completion, adjustments and continuity.
    f := pg_temp.call('t_coord', 'family.create', jsonb_build_object(
        'carer', jsonb_build_object('name', 'Pat Jones', 'referral_route', 'council_assessment', 'online', false),
        'user_id', pg_temp.uid('t_carer3'),
        'persons', jsonb_build_array(jsonb_build_object('name', 'Chris Jones', 'needs', '["dementia"]'::jsonb,
            'languages', '["en"]'::jsonb, 'consent', '{"status":"given"}'::jsonb))));
    PERFORM pg_temp.keep('c3', (f->'carer'->>'carer_id')::bigint);
    PERFORM pg_temp.keep('p3', (f->'persons'->0->>'person_id')::bigint);

    -- Family 4: the clock changes. Staff-only (no user).
    f := pg_temp.call('t_coord', 'family.create', jsonb_build_object(
        'carer', jsonb_build_object('name', 'Dee Night', 'referral_route', 'self_referral'),
        'persons', jsonb_build_array(jsonb_build_object('name', 'Don Night', 'needs', '["dementia"]'::jsonb,
            'languages', '["en"]'::jsonb, 'consent', '{"status":"given"}'::jsonb))));
    PERFORM pg_temp.keep('c4', (f->'carer'->>'carer_id')::bigint);
    PERFORM pg_temp.keep('p4', (f->'persons'->0->>'person_id')::bigint);

    -- A person may have several carers: Pat also cares for Lynne.
    f := pg_temp.call('t_coord', 'family.link', jsonb_build_object('carer_id', pg_temp.id('c3'), 'person_id', pg_temp.id('p2'),
                                                                    'relationship', 'neighbour'));
    PERFORM pg_temp.check(jsonb_array_length(f->'persons') = 2, 'a carer may care for several people');
    PERFORM pg_temp.check((SELECT count(*) FROM care_link WHERE person_id = pg_temp.id('p2')) = 2, 'a person may have several carers');
    PERFORM pg_temp.call('t_coord', 'family.link', jsonb_build_object('carer_id', pg_temp.id('c3'), 'person_id', pg_temp.id('p2'), 'remove', true));

    -- family.list (coordinator), and tenancy.
    PERFORM pg_temp.check(jsonb_array_length(pg_temp.call('t_coord', 'family.list', '{"young_carers":true}'::jsonb)->'families') = 1, 'list young carers');
    PERFORM pg_temp.refused('t_carer2', 'family.get', jsonb_build_object('carer_id', pg_temp.id('c1')), 'not_found');
    PERFORM pg_temp.refused('t_coord_other', 'family.get', jsonb_build_object('carer_id', pg_temp.id('c1')), 'not_found');
    PERFORM pg_temp.refused('t_carer1', 'family.create', '{"carer":{"name":"x","referral_route":"self_referral"}}'::jsonb, 'forbidden');

    -- person.update: carers change preferences, not consent.
    PERFORM pg_temp.refused('t_carer2', 'person.update', jsonb_build_object('person_id', pg_temp.id('p2b'),
                            'consent', '{"status":"given"}'::jsonb), 'forbidden');
    PERFORM pg_temp.refused('t_coord', 'person.update', jsonb_build_object('person_id', pg_temp.id('p2b'),
                            'consent', '{"status":"best_interests"}'::jsonb), 'invalid_params');
    e := pg_temp.call('t_carer2', 'person.update', jsonb_build_object('person_id', pg_temp.id('p2b'), 'wishes', '["gender:male"]'::jsonb));
    PERFORM pg_temp.check(e->'wishes' = '["gender:male"]'::jsonb, 'carer updates wishes');
END $$;

-- Entitlements
DO $$
DECLARE
    e jsonb;
BEGIN
    -- 52 hours over nine months, any day but bank holidays (council).
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c1'),
        'name', 'Council short breaks: 52 hours over 9 months', 'source', 'council', 'unit', 'minutes',
        'rule', 'fixed', 'amount', 52 * 60, 'valid_from', pg_temp.d(1, 1), 'valid_to', pg_temp.d(10, 1),
        'exclude_bank_holidays', true, 'kinds', '["worker","household"]'::jsonb));
    PERFORM pg_temp.keep('e52', (e->>'entitlement_id')::bigint);
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e52')) = 3120, '52 hours credited');
    -- The cared-for person's personal budget (money).
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p1'),
        'name', 'Gurdev''s personal budget', 'source', 'person_personal_budget', 'unit', 'pence',
        'rule', 'one_off', 'amount', 2000000, 'valid_from', rs_today()));
    PERFORM pg_temp.keep('pb1', (e->>'entitlement_id')::bigint);
    -- The carer's own direct payment (money, for her own breaks).
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c1'),
        'name', 'Harjit''s direct payment', 'source', 'carer_direct_payment', 'unit', 'pence',
        'rule', 'one_off', 'amount', 20000, 'valid_from', rs_today()));
    PERFORM pg_temp.keep('dp1', (e->>'entitlement_id')::bigint);
    -- Family 2: 8 hours a calendar month.
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p2'),
        'name', 'Sitting: 8 hours a month', 'source', 'council', 'unit', 'minutes',
        'rule', 'recurring', 'period', 'month', 'amount', 480, 'valid_from', rs_today()));
    PERFORM pg_temp.keep('e8', (e->>'entitlement_id')::bigint);
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e8')) IS NULL, 'period accounts are opened on first use');
    -- Family 3: 10 hours (council, not on bank holidays) and a personal budget.
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c3'),
        'name', 'Council sitting: 10 hours', 'source', 'council', 'unit', 'minutes', 'exclude_bank_holidays', true,
        'rule', 'fixed', 'amount', 600, 'valid_from', rs_today(), 'valid_to', rs_today() + 600));
    PERFORM pg_temp.keep('e600', (e->>'entitlement_id')::bigint);
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p3'),
        'name', 'Chris''s personal budget', 'source', 'person_personal_budget', 'unit', 'pence',
        'rule', 'one_off', 'amount', 100000, 'valid_from', rs_today()));
    PERFORM pg_temp.keep('pb3', (e->>'entitlement_id')::bigint);
    -- Family 4: 6 hours a week... and enough for two night sits.
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p4'),
        'name', 'Night sitting', 'source', 'pooled_fund', 'unit', 'minutes',
        'rule', 'recurring', 'period', 'week', 'amount', 600, 'valid_from', rs_today()));
    PERFORM pg_temp.keep('e4', (e->>'entitlement_id')::bigint);

    PERFORM pg_temp.refused('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p1'),
        'name', 'x', 'source', 'carer_direct_payment', 'unit', 'pence', 'rule', 'one_off', 'amount', 1,
        'valid_from', rs_today()), 'invalid_params');
    PERFORM pg_temp.refused('t_coord', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c1'),
        'name', 'x', 'source', 'council', 'unit', 'minutes', 'rule', 'recurring', 'amount', 1,
        'valid_from', rs_today()), 'invalid_params');
    PERFORM pg_temp.refused('t_carer1', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c1'),
        'name', 'x', 'source', 'council', 'unit', 'minutes', 'rule', 'fixed', 'amount', 1,
        'valid_from', rs_today(), 'valid_to', rs_today() + 1), 'forbidden');
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: 52 hours over nine months, used up in 4-hour sits; the next
-- is refused. A sit on a bank holiday cannot use it at all.

DO $$
DECLARE
    days date[];
    b jsonb;
    err jsonb;
    i int;
    easter date := (SELECT day FROM bank_holiday WHERE name = 'Easter Monday'
                     AND extract(year FROM day) = pg_temp.y());
BEGIN
    -- Weekdays from 13 April that are not bank holidays: 14 of them.
    days := ARRAY(SELECT d::date FROM generate_series(pg_temp.d(4, 13), pg_temp.d(6, 30), interval '1 day') d
                   WHERE extract(isodow FROM d) < 6
                     AND NOT EXISTS (SELECT 1 FROM bank_holiday WHERE day = d::date)
                   ORDER BY d LIMIT 14);
    FOR i IN 1 .. 13 LOOP
        b := pg_temp.book('t_carer1', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'),
                                                         'pay_from', jsonb_build_array(pg_temp.id('e52')))
                                      || pg_temp.visit(days[i], '10:00', '14:00'));
        PERFORM pg_temp.check(b->>'status' = 'confirmed', 'sit ' || i || ' confirmed');
        PERFORM pg_temp.check(b->'legs'->0->>'status' = 'posted' AND (b->'legs'->0->>'amount')::int = 240
                              AND (b->'legs'->0->>'entitlement_id')::bigint = pg_temp.id('e52'), 'sit ' || i || ' posted 240 minutes');
        PERFORM pg_temp.check((b->'legs'->0->>'covers_pence')::bigint = (b->>'cost_pence')::bigint, 'the leg covers the cost');
    END LOOP;
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e52')) = 0, '52 hours used up');
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
                           'supply_id', pg_temp.id('w1'), 'pay_from', jsonb_build_array(pg_temp.id('e52')))
                           || pg_temp.visit(days[14], '10:00', '14:00'), 'budget_exceeded');
    PERFORM pg_temp.check((err->>'shortfall_pence')::int = 8000, 'shortfall stated: ' || err::text);
    PERFORM pg_temp.check(err->'request'->>'supply_id' = pg_temp.id('w1')::text, 'refusal carries the request');
    -- A quote says so too, per option.
    b := pg_temp.call('t_carer1', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'),
                      'pay_from', jsonb_build_array(pg_temp.id('e52'))) || pg_temp.visit(days[14], '10:00', '14:00'));
    PERFORM pg_temp.check(b->'options'->0->'refusal'->>'reason' = 'budget_exceeded'
                          AND NOT (b->'options'->0->>'bookable')::boolean, 'quote shows the refusal');
    PERFORM pg_temp.check(b->'options'->0->'not_used'->0->>'category' = 'empty', 'quote says the allowance is empty');

    -- Bank holidays: the allowance cannot pay; alone it is a condition.
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
                           'supply_id', pg_temp.id('w1'), 'pay_from', jsonb_build_array(pg_temp.id('e52')))
                           || pg_temp.visit(easter, '10:00', '14:00'), 'condition_not_met');
    PERFORM pg_temp.check(err->'not_used'->0->>'category' = 'bank_holiday', 'bank holiday named: ' || err::text);
    PERFORM pg_temp.keep('easter_sit', 0);
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: replacement care is charged to the cared-for person, never to
-- the carer; the carer's own breaks come from the carer's budget.

DO $$
DECLARE
    b jsonb;
    easter date := (SELECT day FROM bank_holiday WHERE name = 'Easter Monday'
                     AND extract(year FROM day) = pg_temp.y());
    dp_before bigint := pg_temp.remaining(pg_temp.id('dp1'));
    pb_before bigint := pg_temp.remaining(pg_temp.id('pb1'));
BEGIN
    -- With the council hours gone (and on a bank holiday anyway), the next
    -- source pays: Gurdev's personal budget, not Harjit's direct payment,
    -- although the direct payment has money.
    b := pg_temp.book('t_carer1', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'))
                                  || pg_temp.visit(easter, '10:00', '14:00'));
    PERFORM pg_temp.check(jsonb_array_length(b->'legs') = 1 AND b->'legs'->0->>'source' = 'person_personal_budget',
                          'charged to the person: ' || (b->'legs')::text);
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('pb1')) = pb_before - 8000, 'personal budget debited');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('dp1')) = dp_before, 'direct payment untouched');
    PERFORM pg_temp.keep('easter_sit', (b->>'booking_id')::bigint);
    -- The direct payment alone may not pay for replacement care.
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('w1'), 'pay_from', jsonb_build_array(pg_temp.id('dp1')))
        || pg_temp.visit(pg_temp.d(6, 1), '15:00', '17:00'), 'condition_not_met');
    -- A theatre seat for Harjit herself: from her direct payment.
    b := pg_temp.book('t_carer1', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                                                     'from', pg_temp.d(5, 6), 'to', pg_temp.d(5, 7)));
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'carer_direct_payment' AND (b->>'cost_pence')::int = 500,
                          'the carer''s break is paid by the carer''s budget: ' || (b->'legs')::text);
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('dp1')) = dp_before - 500, 'direct payment debited');
    PERFORM pg_temp.check(b->>'subject' = 'carer' AND b->'person_id' IS NULL, 'subject is the carer');
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: 8 hours a calendar month: refused in March once used, and
-- available again on 1 April. Recurring allowances use the period the
-- break falls in.

DO $$
DECLARE
    b jsonb;
    err jsonb;
BEGIN
    b := pg_temp.book('t_carer2', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(3, 9), '10:00', '14:00'));
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'council' AND (b->'legs'->0->>'amount')::int = 240, 'first March sit');
    b := pg_temp.book('t_carer2', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(3, 16), '10:00', '14:00'));
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e8'), pg_temp.d(3, 1)) = 0, 'March used up');
    err := pg_temp.refused('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2'),
                           'supply_id', pg_temp.id('w2')) || pg_temp.visit(pg_temp.d(3, 23), '10:00', '11:00'), 'budget_exceeded');
    PERFORM pg_temp.check(err->'not_used'->0->>'why' LIKE 'nothing left for the month of%', 'says which month: ' || err::text);
    b := pg_temp.book('t_carer2', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(4, 1), '10:00', '14:00'));
    PERFORM pg_temp.check(b->>'status' = 'confirmed', '1 April: a new month');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e8'), pg_temp.d(4, 1)) = 240, 'April has 4 hours left');
    PERFORM pg_temp.check((SELECT count(*) FROM account WHERE entitlement_id = pg_temp.id('e8') AND kind = 'entitlement') = 2,
                          'one account per period used');
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: 28 consecutive nights of residential respite. A 29-night stay
-- is refused, then allowed by a coordinator's recorded override;
-- back-to-back stays count together; a quote warns from 21 nights.

DO $$
DECLARE
    b jsonb;
    err jsonb;
    q jsonb;
BEGIN
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('bedA'), 'from', pg_temp.d(8, 2), 'to', pg_temp.d(8, 31)), 'permanent_residence_risk');
    PERFORM pg_temp.check((err->>'consecutive_nights')::int = 29, '29 nights: ' || err::text);
    -- A carer cannot override.
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('bedA'), 'from', pg_temp.d(8, 2), 'to', pg_temp.d(8, 31),
        'override_reason', 'please'), 'forbidden');
    b := pg_temp.call('t_coord', 'booking.hold', jsonb_build_object('carer_id', pg_temp.id('c1'), 'person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('bedA'), 'from', pg_temp.d(8, 2), 'to', pg_temp.d(8, 31),
        'override_reason', 'carer in hospital for surgery; placement review booked'));
    PERFORM pg_temp.check(b->>'status' = 'held' AND b->>'override_reason' LIKE 'carer in hospital%', 'override recorded');
    PERFORM pg_temp.check((b->>'on_behalf')::boolean AND b->>'booked_by' = 't_coord', 'booked on behalf, recorded');
    PERFORM pg_temp.check(b->'warnings'->0->>'code' = 'long_stay', 'long stay warned');
    PERFORM pg_temp.check((b->>'cost_pence')::int = 290000 AND b->'legs'->0->>'source' = 'person_personal_budget',
                          'stays paid by the personal budget');
    b := pg_temp.call('t_coord', 'booking.confirm', jsonb_build_object('booking_id', b->'booking_id'));
    PERFORM pg_temp.check((SELECT override_by FROM booking WHERE id = (b->>'booking_id')::bigint) = pg_temp.uid('t_coord'),
                          'who overrode is recorded');

    -- Back to back, in two different homes' beds: 20 + 9 nights.
    b := pg_temp.book('t_carer1', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('bedB'),
                                                     'from', pg_temp.d(9, 10), 'to', pg_temp.d(9, 30)));
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('bedA'), 'from', pg_temp.d(9, 30), 'to', pg_temp.d(10, 9)), 'permanent_residence_risk');
    PERFORM pg_temp.check((err->>'consecutive_nights')::int = 29, 'back-to-back stays counted together: ' || err::text);
    -- ... but with a night at home in between it is two stays.
    b := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'),
        'supply_id', pg_temp.id('bedA'), 'from', pg_temp.d(10, 1), 'to', pg_temp.d(10, 9)));
    PERFORM pg_temp.call('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));

    -- The quote warns at 21 nights; Shared Lives stays are not residential care.
    q := pg_temp.call('t_carer1', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p1'),
        'from', pg_temp.d(11, 1), 'to', pg_temp.d(11, 22)));
    PERFORM pg_temp.check((SELECT bool_and(o->'warnings'->0->>'code' = 'long_stay') FROM jsonb_array_elements(q->'options') o
                            WHERE o->>'kind' = 'bed'), 'beds warn at 21 nights: ' || q::text);
    PERFORM pg_temp.check((SELECT bool_and(o->'warnings' IS NULL) FROM jsonb_array_elements(q->'options') o
                            WHERE o->>'kind' = 'household'), 'Shared Lives stays do not count');
    q := pg_temp.call('t_carer1', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p1'),
        'from', pg_temp.d(11, 1), 'to', pg_temp.d(12, 1)));
    PERFORM pg_temp.check((SELECT bool_and(o->'refusal'->>'reason' = 'permanent_residence_risk') FROM jsonb_array_elements(q->'options') o
                            WHERE o->>'kind' = 'bed'), '30 nights refused in the quote');
    PERFORM pg_temp.check(q->'options'->0->>'kind' = 'household', 'bookable options first');
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: a hold that expires gives back both the supply and the budget.

DO $$
DECLARE
    h jsonb;
    err jsonb;
    pb_before bigint := pg_temp.remaining(pg_temp.id('pb1'));
    bid bigint;
BEGIN
    h := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'))
                                  || pg_temp.visit(pg_temp.d(6, 15), '10:00', '12:00'));
    bid := (h->>'booking_id')::bigint;
    PERFORM pg_temp.check(h->>'status' = 'held' AND h->'legs'->0->>'status' = 'pending', 'held with a pending leg');
    PERFORM pg_temp.check((h->>'hold_expires_at')::timestamptz BETWEEN now() + interval '14 minutes' AND now() + interval '16 minutes',
                          'holds last 15 minutes by default');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('pb1')) = pb_before - 4000, 'budget held');
    -- Someone else cannot have that worker meanwhile.
    PERFORM pg_temp.refused('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w1'),
                            'self_fund_remainder', true) || pg_temp.visit(pg_temp.d(6, 15), '10:30', '11:30'), 'no_capacity');
    -- Time passes: the hold lapses (its expiry is moved into the past).
    UPDATE booking SET expires_at = now() - interval '1 second' WHERE id = bid;
    UPDATE ledger_transfer SET expires_at = now() - interval '1 second' WHERE booking_id = bid;
    err := pg_temp.refused('t_carer1', 'booking.confirm', jsonb_build_object('booking_id', bid), 'hold_expired');
    PERFORM pg_temp.check(err->>'booking_id' = bid::text, 'hold_expired names the booking');
    PERFORM pg_temp.check((rs_janitor()->>'holds_expired')::int >= 1, 'the janitor expires it');
    PERFORM pg_temp.check((SELECT status FROM booking WHERE id = bid) = 'expired', 'expired');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM allocation WHERE booking_id = bid AND active), 'supply given back');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('pb1')) = pb_before, 'budget given back');
    PERFORM pg_temp.check((SELECT bool_and(status = 'voided') FROM ledger_transfer WHERE booking_id = bid), 'legs voided');
    PERFORM pg_temp.refused('t_carer1', 'booking.confirm', jsonb_build_object('booking_id', bid), 'hold_expired');
    PERFORM pg_temp.refused('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', bid), 'invalid_state');
    -- Now the other family can take the worker.
    h := pg_temp.call('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w1'),
                      'self_fund_remainder', true) || pg_temp.visit(pg_temp.d(6, 15), '10:30', '11:30'));
    PERFORM pg_temp.check(h->>'status' = 'held', 'capacity reused');
    PERFORM pg_temp.call('t_carer2', 'booking.cancel', jsonb_build_object('booking_id', h->'booking_id'));
END $$;

-- ---------------------------------------------------------------------------
-- Scenario: an idempotent retry returns the same booking and changes
-- nothing; the same key with other params is refused.

DO $$
DECLARE
    p jsonb := jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'), 'idempotency_key', 'hold-k1')
               || pg_temp.visit(pg_temp.d(6, 16), '10:00', '12:00');
    a jsonb;
    b jsonb;
    n bigint := (SELECT count(*) FROM booking);
    t bigint := (SELECT count(*) FROM ledger_transfer);
BEGIN
    a := pg_temp.call('t_carer1', 'booking.hold', p);
    b := pg_temp.call('t_carer1', 'booking.hold', p);
    PERFORM pg_temp.check(a->'booking_id' = b->'booking_id' AND (b->>'replayed')::boolean, 'same booking, replayed');
    PERFORM pg_temp.check((SELECT count(*) FROM booking) = n + 1 AND (SELECT count(*) FROM ledger_transfer) = t + 1,
                          'one booking and one leg only');
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', p || '{"notes":"changed"}'::jsonb, 'idempotency_mismatch');
    a := pg_temp.call('t_carer1', 'booking.confirm', jsonb_build_object('booking_id', a->'booking_id', 'idempotency_key', 'confirm-k1'));
    b := pg_temp.call('t_carer1', 'booking.confirm', jsonb_build_object('booking_id', a->'booking_id', 'idempotency_key', 'confirm-k1'));
    PERFORM pg_temp.check(a->>'status' = 'confirmed' AND b->>'status' = 'confirmed' AND (b->>'replayed')::boolean,
                          'confirm retried returns the first answer');
    PERFORM pg_temp.refused('t_carer1', 'booking.confirm', jsonb_build_object('booking_id', a->'booking_id'), 'invalid_state');
    PERFORM pg_temp.keep('idem_booking', (a->>'booking_id')::bigint);
END $$;

-- ---------------------------------------------------------------------------
-- Rules: no double booking, a person in one break at a time, the worker's
-- travel buffer, needs, consent.

DO $$
DECLARE
    b jsonb;
    err jsonb;
BEGIN
    -- The travel buffer: Worker One keeps 30 minutes after a visit.
    b := pg_temp.book('t_carer1', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'))
                                  || pg_temp.visit(pg_temp.d(6, 17), '10:00', '12:00'));
    PERFORM pg_temp.check((SELECT upper(span) - upper((SELECT span FROM booking WHERE id = (b->>'booking_id')::bigint))
                             FROM allocation WHERE booking_id = (b->>'booking_id')::bigint) = interval '30 minutes',
                          'allocation keeps the buffer');
    PERFORM pg_temp.refused('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w1'),
                            'self_fund_remainder', true) || pg_temp.visit(pg_temp.d(6, 17), '12:15', '13:15'), 'no_capacity');
    b := pg_temp.call('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2'), 'supply_id', pg_temp.id('w1'),
                      'self_fund_remainder', true) || pg_temp.visit(pg_temp.d(6, 17), '12:30', '13:30'));
    PERFORM pg_temp.check(b->>'status' = 'held', 'after the buffer the worker is free');
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'council' AND (b->'legs'->0->>'amount')::int = 60,
                          'June allowance pays: ' || (b->'legs')::text);
    PERFORM pg_temp.call('t_carer2', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));

    -- A person is never in two breaks at once: a sit during the August stay.
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w2'))
                           || pg_temp.visit(pg_temp.d(8, 10), '10:00', '12:00'), 'conflict');
    PERFORM pg_temp.check(err->>'condition' = 'person_busy' AND jsonb_array_length(err->'bookings') = 1, 'names the stay: ' || err::text);
    -- ... but the morning of departure (before 11:00) is still the stay, the afternoon is not.
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w2'))
                            || pg_temp.visit(pg_temp.d(8, 31), '09:00', '10:30'), 'conflict');
    b := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w2'))
                      || pg_temp.visit(pg_temp.d(8, 31), '12:00', '14:00'));
    PERFORM pg_temp.call('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));
    -- A carer's own break does not clash with the person's care.
    b := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                                                                      'from', pg_temp.d(8, 10), 'to', pg_temp.d(8, 11)));
    PERFORM pg_temp.call('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));

    -- Needs: a worker without dementia care or Punjabi.
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w3'))
                           || pg_temp.visit(pg_temp.d(6, 18), '10:00', '12:00'), 'no_match');
    PERFORM pg_temp.check(err->'missing' = '["dementia", "lang:pa"]'::jsonb, 'says what is missing: ' || err::text);
    PERFORM pg_temp.refused('t_carer1', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p1'), 'needs', '["sup:2to1"]'::jsonb)
                            || pg_temp.visit(pg_temp.d(6, 18), '10:00', '12:00'), 'no_match');
    -- Nothing free: Worker One and Two booked, quote for exactly that time
    -- asks for Worker One only.
    PERFORM pg_temp.refused('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w1'))
                            || pg_temp.visit(pg_temp.d(6, 17), '10:00', '12:00'), 'no_capacity');

    -- Consent: Alan's is not recorded.
    err := pg_temp.refused('t_carer2', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p2b'), 'supply_id', pg_temp.id('w2'),
                           'self_fund_remainder', true) || pg_temp.visit(pg_temp.d(6, 18), '10:00', '12:00'), 'condition_not_met');
    PERFORM pg_temp.check(err->>'condition' = 'consent', 'consent named');

    -- Invalid params reach the caller with the field.
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w1'),
                           'from', rs_today() - 1, 'to', rs_today() + 1), 'invalid_params');
    PERFORM pg_temp.check(err->>'field' = 'from', 'past from');
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'))
                            || pg_temp.visit(pg_temp.d(6, 18), '10:00', '12:00'), 'invalid_params');
END $$;

-- ---------------------------------------------------------------------------
-- Tenancy: carers book only for their family; providers act on their own
-- supply's bookings; coordinators within their authority.

DO $$
BEGIN
    PERFORM pg_temp.refused('t_carer2', 'booking.get', jsonb_build_object('booking_id', pg_temp.id('idem_booking')), 'not_found');
    PERFORM pg_temp.refused('t_carer1', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p2'))
                            || pg_temp.visit(pg_temp.d(6, 18), '10:00', '12:00'), 'not_found');
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('carer_id', pg_temp.id('c2'), 'supply_id', pg_temp.id('theatre'),
                            'from', pg_temp.d(6, 18), 'to', pg_temp.d(6, 19)), 'forbidden');
    PERFORM pg_temp.refused('t_home', 'booking.cancel', jsonb_build_object('booking_id', pg_temp.id('idem_booking'), 'reason', 'x'), 'not_found');
    PERFORM pg_temp.refused('t_coord_other', 'booking.get', jsonb_build_object('booking_id', pg_temp.id('idem_booking')), 'not_found');
    PERFORM pg_temp.refused('t_carer1', 'booking.get', '{"booking_id": 999999999}', 'not_found');
    PERFORM pg_temp.refused('t_carer1', 'booking.complete', jsonb_build_object('booking_id', pg_temp.id('idem_booking')), 'forbidden');
    PERFORM pg_temp.check((pg_temp.call('t_sitters', 'booking.get', jsonb_build_object('booking_id', pg_temp.id('idem_booking')))->>'status') = 'confirmed',
                          'the provider sees its booking');
    PERFORM pg_temp.check(jsonb_array_length(pg_temp.call('t_carer2', 'booking.list')->'bookings')
                          = (SELECT count(*) FROM booking WHERE carer_id = pg_temp.id('c2')), 'carer lists own bookings');
    PERFORM pg_temp.check((SELECT bool_and((b->>'booking_id')::bigint IN (SELECT id FROM booking WHERE provider_id = pg_temp.id('home')))
                             FROM jsonb_array_elements(pg_temp.call('t_home', 'booking.list')->'bookings') b), 'provider lists own');
END $$;

-- ---------------------------------------------------------------------------
-- One booking paid from two sources (council hours first, the person's
-- budget for the rest), all legs held, posted and reversed together;
-- completion with the actual cost.

DO $$
DECLARE
    b jsonb;
    bid bigint;
BEGIN
    -- 4 hours from the 10-hour council allowance: 360 minutes left.
    b := pg_temp.book('t_carer3', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(2, 1), '10:00', '14:00'));
    bid := (b->>'booking_id')::bigint;
    PERFORM pg_temp.refused('t_sitters', 'booking.complete', jsonb_build_object('booking_id', bid), 'invalid_state');
    -- Time passes: the visit took place (moved to end an hour ago). It
    -- lasted 3 hours, not 4: an hour goes back to the allowance.
    PERFORM pg_temp.make_past(bid);
    b := pg_temp.call('t_sitters', 'booking.complete', jsonb_build_object('booking_id', bid, 'actual_minutes', 180));
    PERFORM pg_temp.check(b->>'status' = 'completed' AND (b->>'actual_cost_pence')::int = 5400, 'completed at 3 hours');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 420, '60 minutes returned: ' || pg_temp.remaining(pg_temp.id('e600')));
    PERFORM pg_temp.check((SELECT sum(covers_pence) FROM ledger_transfer WHERE booking_id = bid AND status = 'posted') = 5400,
                          'posted legs cover the actual cost');
    PERFORM pg_temp.refused('t_sitters', 'booking.complete', jsonb_build_object('booking_id', bid), 'invalid_state');

    -- 4 hours booked, 5 worked: the extra hour from the allowance.
    b := pg_temp.book('t_carer3', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(2, 2), '10:00', '14:00'));
    bid := (b->>'booking_id')::bigint;
    PERFORM pg_temp.make_past(bid);
    b := pg_temp.call('t_coord', 'booking.complete', jsonb_build_object('booking_id', bid, 'actual_minutes', 300));
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 120, '300 minutes charged in all');
    PERFORM pg_temp.check((SELECT sum(covers_pence) FROM ledger_transfer WHERE booking_id = bid AND status = 'posted') = 9000,
                          'posted legs cover 5 hours');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM ledger_transfer WHERE booking_id = bid AND kind = 'adjustment' AND amount = 60),
                          'the extra hour is an adjustment');
    PERFORM pg_temp.keep('w2_history', bid);

    -- 4 hours with 2 left: two legs, council then the personal budget.
    b := pg_temp.call('t_carer3', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                      || pg_temp.visit(pg_temp.d(2, 3), '10:00', '14:00'));
    bid := (b->>'booking_id')::bigint;
    PERFORM pg_temp.check(jsonb_array_length(b->'legs') = 2, 'two legs');
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'council' AND (b->'legs'->0->>'amount')::int = 120
                          AND b->'legs'->1->>'source' = 'person_personal_budget' AND (b->'legs'->1->>'amount')::int = 3600,
                          'council hours first, the rest from the person''s budget: ' || (b->'legs')::text);
    PERFORM pg_temp.check((SELECT bool_and(status = 'pending') FROM ledger_transfer WHERE booking_id = bid), 'both held');
    b := pg_temp.call('t_carer3', 'booking.confirm', jsonb_build_object('booking_id', bid));
    PERFORM pg_temp.check((SELECT bool_and(status = 'posted') FROM ledger_transfer WHERE booking_id = bid), 'both posted');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 0 AND pg_temp.remaining(pg_temp.id('pb3')) = 100000 - 3600, 'both debited');
    -- Cancelled after confirmation: both given back by reversals.
    b := pg_temp.call('t_carer3', 'booking.cancel', jsonb_build_object('booking_id', bid, 'reason', 'feeling better'));
    PERFORM pg_temp.check(b->>'status' = 'cancelled_by_carer', 'cancelled by the carer');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 120 AND pg_temp.remaining(pg_temp.id('pb3')) = 100000, 'both returned');
    PERFORM pg_temp.check((SELECT count(*) FROM ledger_transfer WHERE booking_id = bid AND kind = 'reversal') = 2, 'two reversals');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM allocation WHERE booking_id = bid AND active), 'worker released');
END $$;

-- ---------------------------------------------------------------------------
-- Provider cancellation, no-show, and the provider's view.

DO $$
DECLARE
    b jsonb;
    bid bigint;
    pv jsonb;
BEGIN
    b := pg_temp.book('t_carer3', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(2, 8), '10:00', '12:00'));
    bid := (b->>'booking_id')::bigint;
    pv := pg_temp.call('t_sitters', 'provider.bookings', jsonb_build_object('from', pg_temp.d(2, 8), 'to', pg_temp.d(2, 9)));
    PERFORM pg_temp.check(pv->'bookings'->0->>'status' = 'confirmed' AND pv->'bookings'->0->'person'->>'name' = 'Chris Jones',
                          'provider.bookings shows the booking: ' || pv::text);
    PERFORM pg_temp.refused('t_sitters', 'booking.cancel', jsonb_build_object('booking_id', bid), 'invalid_params');
    b := pg_temp.call('t_sitters', 'booking.cancel', jsonb_build_object('booking_id', bid, 'reason', 'worker ill'));
    PERFORM pg_temp.check(b->>'status' = 'cancelled_by_provider' AND b->>'cancel_reason' = 'worker ill', 'cancelled by the provider');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 120, 'allowance returned');

    -- No-show: the charge stands, the capacity is given back.
    b := pg_temp.book('t_carer3', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                                  || pg_temp.visit(pg_temp.d(2, 9), '10:00', '11:00'));
    bid := (b->>'booking_id')::bigint;
    PERFORM pg_temp.refused('t_sitters', 'booking.no_show', jsonb_build_object('booking_id', bid), 'invalid_state');
    PERFORM pg_temp.make_past(bid);
    b := pg_temp.call('t_sitters', 'booking.no_show', jsonb_build_object('booking_id', bid, 'reason', 'nobody answered the door'));
    PERFORM pg_temp.check(b->>'status' = 'no_show', 'no-show');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e600')) = 60, 'charge stands');
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM allocation WHERE booking_id = bid AND active), 'capacity returned');
    PERFORM pg_temp.refused('t_sitters', 'booking.complete', jsonb_build_object('booking_id', bid), 'invalid_state');
END $$;

-- ---------------------------------------------------------------------------
-- Hotel and leisure offers: donated value in the ledger, the offer's own
-- condition (one per quarter), the scheme's (one hotel break a year),
-- seats that run out, self-funding.

DO $$
DECLARE
    b jsonb;
    err jsonb;
BEGIN
    b := pg_temp.book('t_carer1', jsonb_build_object('supply_id', pg_temp.id('hotel1'), 'from', pg_temp.d(5, 20), 'to', pg_temp.d(5, 21)));
    PERFORM pg_temp.check((b->>'cost_pence')::int = 0 AND (b->>'donated')::boolean AND (b->>'value_pence')::int = 15000,
                          'donated: free, worth £150');
    PERFORM pg_temp.check(b->'legs'->0->>'kind' = 'donation' AND (b->'legs'->0->>'amount')::int = 15000
                          AND b->'legs'->0->>'status' = 'posted', 'recorded in the ledger at its value');
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('hotel1'),
                           'from', pg_temp.d(6, 10), 'to', pg_temp.d(6, 11)), 'condition_not_met');
    PERFORM pg_temp.check(err->>'condition' = 'offer' AND err->>'per' = 'quarter', 'one per quarter: ' || err::text);
    b := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('hotel1'),
                      'from', pg_temp.d(7, 10), 'to', pg_temp.d(7, 11)));
    PERFORM pg_temp.call('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));
    -- The scheme: one hotel break per carer per calendar year.
    PERFORM pg_temp.call('t_coord', 'scheme_rule.set', '{"name":"One hotel break a year","offer_type":"overnight_stay","per":"year","max":1}');
    PERFORM pg_temp.check(jsonb_array_length(pg_temp.call('t_carer1', 'scheme_rule.list')->'rules') = 1, 'rule listed');
    err := pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('hotel1'),
                           'from', pg_temp.d(7, 10), 'to', pg_temp.d(7, 11)), 'condition_not_met');
    PERFORM pg_temp.check(err->>'condition' = 'scheme', 'scheme rule: ' || err::text);

    -- Seats: two at the theatre; Sam pays for both himself, nobody else gets one.
    err := pg_temp.refused('t_carer2', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                           'from', pg_temp.d(5, 13), 'to', pg_temp.d(5, 14), 'seats', 2), 'budget_exceeded');
    b := pg_temp.book('t_carer2', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                      'from', pg_temp.d(5, 13), 'to', pg_temp.d(5, 14), 'seats', 2, 'self_fund_remainder', true));
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'self_funded' AND (b->'legs'->0->>'amount')::int = 1000, 'self-funded');
    PERFORM pg_temp.refused('t_carer1', 'booking.hold', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                            'session_id', b->'session_id'), 'no_capacity');
    PERFORM pg_temp.refused('t_carer1', 'booking.quote', jsonb_build_object('supply_id', pg_temp.id('theatre'),
                            'from', pg_temp.d(5, 13), 'to', pg_temp.d(5, 14)), 'no_capacity');
    -- Cancelling gives the seats back.
    PERFORM pg_temp.call('t_carer2', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));
    PERFORM pg_temp.check((SELECT booked FROM offer_session WHERE id = (b->>'session_id')::bigint) = 0, 'seats returned');
END $$;

-- ---------------------------------------------------------------------------
-- Time: an overnight sit across the clock change is charged the hours
-- worked: 7 in spring, 9 in autumn, for 22:00 to 06:00.

DO $$
DECLARE
    spring date := make_date(pg_temp.y(), 3, 31) - extract(dow FROM make_date(pg_temp.y(), 3, 31))::int;
    autumn date := make_date(pg_temp.y(), 10, 31) - extract(dow FROM make_date(pg_temp.y(), 10, 31))::int;
    b jsonb;
BEGIN
    b := pg_temp.book('t_coord', jsonb_build_object('person_id', pg_temp.id('p4'), 'supply_id', pg_temp.id('wn'))
                                 || pg_temp.visit(spring - 1, '22:00', '06:00'));
    PERFORM pg_temp.check((b->>'minutes')::int = 420 AND (b->'legs'->0->>'amount')::int = 420
                          AND (b->>'cost_pence')::int = 7 * 2400, 'spring: 7 hours: ' || b::text);
    PERFORM pg_temp.check(b->'span'->>'local_end' = (spring || 'T06:00'), 'ends 06:00 local');
    b := pg_temp.book('t_coord', jsonb_build_object('person_id', pg_temp.id('p4'), 'supply_id', pg_temp.id('wn'))
                                 || pg_temp.visit(autumn - 1, '22:00', '06:00'));
    PERFORM pg_temp.check((b->>'minutes')::int = 540 AND (b->'legs'->0->>'amount')::int = 540, 'autumn: 9 hours');
    PERFORM pg_temp.check(pg_temp.remaining(pg_temp.id('e4'), spring - 1) = 180
                          AND pg_temp.remaining(pg_temp.id('e4'), autumn - 1) = 60, 'weekly allowances charged exactly');
    -- The skipped hour does not exist: refused with the field.
    PERFORM pg_temp.refused('t_coord', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p4'))
                            || pg_temp.visit(spring, '01:30', '04:00'), 'invalid_params');
END $$;

-- ---------------------------------------------------------------------------
-- Continuity: the worker the family had before ranks first and says why;
-- a worker they did not like is not offered; a particular worker can be
-- asked for.

DO $$
DECLARE
    q jsonb;
BEGIN
    q := pg_temp.call('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'))
                      || pg_temp.visit(pg_temp.d(2, 15), '10:00', '12:00'));
    PERFORM pg_temp.check((q->'options'->0->>'supply_id')::bigint = pg_temp.id('w2'), 'Worker Two first: ' || q::text);
    PERFORM pg_temp.check(q->'options'->0->'reasons'->>0 LIKE 'same worker as last time (2 breaks, last on %', 'says why');
    PERFORM pg_temp.call('t_carer3', 'booking.feedback', jsonb_build_object('booking_id', pg_temp.id('w2_history'), 'liked', false,
                                                                           'note', 'did not get on'));
    q := pg_temp.call('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'))
                      || pg_temp.visit(pg_temp.d(2, 15), '10:00', '12:00'));
    PERFORM pg_temp.check(NOT EXISTS (SELECT 1 FROM jsonb_array_elements(q->'options') o WHERE (o->>'supply_id')::bigint = pg_temp.id('w2')),
                          'a worker they did not like is left out');
    PERFORM pg_temp.call('t_carer3', 'person.update', jsonb_build_object('person_id', pg_temp.id('p3'),
                         'preferred_supply_ids', jsonb_build_array(pg_temp.id('w1')), 'avoid_supply_ids', '[]'::jsonb));
    q := pg_temp.call('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'))
                      || pg_temp.visit(pg_temp.d(2, 15), '10:00', '12:00'));
    PERFORM pg_temp.check((q->'options'->0->>'supply_id')::bigint = pg_temp.id('w1')
                          AND q->'options'->0->'reasons' ? 'a worker you said you liked', 'liked worker first: ' || q::text);
    -- A particular worker: asked for by id. One who cannot meet the
    -- person's needs is not offered at all.
    q := pg_temp.call('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w2'))
                      || pg_temp.visit(pg_temp.d(2, 15), '10:00', '12:00'));
    PERFORM pg_temp.check(jsonb_array_length(q->'options') = 1 AND q->'options'->0->'reasons'->>0 = 'the worker you asked for',
                          'asked-for worker: ' || q::text);
    PERFORM pg_temp.refused('t_carer3', 'booking.quote', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w3'))
                            || pg_temp.visit(pg_temp.d(2, 15), '10:00', '12:00'), 'no_match');
END $$;

-- ---------------------------------------------------------------------------
-- Bank holidays are data: an administrator adds one, and an allowance
-- that excludes bank holidays stops paying on it.

DO $$
DECLARE
    extra date := pg_temp.d(2, 22);
    b jsonb;
BEGIN
    PERFORM pg_temp.refused('t_coord', 'bank_holiday.set', jsonb_build_object('day', extra, 'name', 'x'), 'forbidden');
    PERFORM pg_temp.call('t_admin', 'bank_holiday.set', jsonb_build_object('day', extra, 'name', 'Royal celebration'));
    PERFORM pg_temp.check(pg_temp.call('t_carer3', 'bank_holiday.list', jsonb_build_object('from', extra, 'to', extra + 1))->'bank_holidays'->0->>'status' = 'admin',
                          'listed as set by an administrator');
    b := pg_temp.call('t_carer3', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p3'), 'supply_id', pg_temp.id('w1'))
                      || pg_temp.visit(extra, '10:00', '11:00'));
    PERFORM pg_temp.check(b->'legs'->0->>'source' = 'person_personal_budget', 'council hours skipped on the new holiday');
    PERFORM pg_temp.call('t_carer3', 'booking.cancel', jsonb_build_object('booking_id', b->'booking_id'));
    PERFORM pg_temp.call('t_admin', 'bank_holiday.set', jsonb_build_object('day', extra, 'remove', true));
END $$;

-- ---------------------------------------------------------------------------
-- The carer's view of the budget: per source, allowance, spent, held,
-- remaining, and each movement with its booking.

DO $$
DECLARE
    s jsonb;
    e52 jsonb;
    dp jsonb;
    h jsonb;
BEGIN
    h := pg_temp.call('t_carer1', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p1'), 'supply_id', pg_temp.id('w2'))
                      || pg_temp.visit(pg_temp.d(6, 22), '10:00', '11:00'));
    s := pg_temp.call('t_carer1', 'budget.summary');
    SELECT x INTO e52 FROM jsonb_array_elements(s->'sources') x WHERE (x->>'entitlement_id')::bigint = pg_temp.id('e52');
    PERFORM pg_temp.check((e52->>'allowance')::int = 3120 AND (e52->>'spent')::int = 3120 AND (e52->>'remaining')::int = 0,
                          '52 hours all spent: ' || e52::text);
    SELECT x INTO dp FROM jsonb_array_elements(s->'sources') x WHERE (x->>'entitlement_id')::bigint = pg_temp.id('pb1');
    PERFORM pg_temp.check((dp->>'held')::int = 1800 AND (dp->>'allowance')::bigint - (dp->>'spent')::bigint - (dp->>'held')::bigint
                          = (dp->>'remaining')::bigint, 'held shown, and allowance - spent - held = remaining: ' || dp::text);
    PERFORM pg_temp.check((s->>'donated_received_pence')::int = 15000, 'donated value shown');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM jsonb_array_elements(s->'movements') m
                                   WHERE (m->>'booking_id')::bigint = (h->>'booking_id')::bigint AND m->>'status' = 'pending'
                                     AND m->'booking'->>'supply' = 'Worker Two'), 'movements name their bookings');
    PERFORM pg_temp.refused('t_carer2', 'budget.summary', jsonb_build_object('carer_id', pg_temp.id('c1')), 'not_found');
    s := pg_temp.call('t_carer2', 'budget.summary');
    PERFORM pg_temp.check(jsonb_array_length(s->'sources'->0->'periods') >= 2, 'recurring allowance shown per period');
    PERFORM pg_temp.call('t_carer1', 'booking.cancel', jsonb_build_object('booking_id', h->'booking_id'));
END $$;

-- ---------------------------------------------------------------------------
-- Emergency breaks: a bed kept for emergencies serves only them; the
-- emergency fund pays only them, and may go below zero (flagged on the
-- account); planned breaks cannot touch either.

DO $$
DECLARE
    bed jsonb;
    b jsonb;
    fund bigint;
BEGIN
    bed := pg_temp.call('t_coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('home'),
        'kind', 'bed', 'name', 'Emergency bed', 'capabilities', '["dementia"]'::jsonb, 'languages', '["en"]'::jsonb,
        'price_pence', 12000, 'price_unit', 'night', 'emergency_only', true));
    PERFORM pg_temp.call('t_coord', 'availability.publish', jsonb_build_object('supply_id', bed->'supply_id',
        'ranges', jsonb_build_array(jsonb_build_object('from', rs_today() + 1, 'to', rs_today() + 60))));
    fund := (pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('person_id', pg_temp.id('p4'),
        'name', 'Emergency fund: first 72 hours', 'source', 'emergency_fund', 'unit', 'pence', 'rule', 'fixed',
        'amount', 100, 'valid_from', rs_today(), 'valid_to', rs_today() + 365, 'allow_overdraw', true))->>'entitlement_id')::bigint;
    PERFORM pg_temp.refused('t_coord', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p4'),
        'supply_id', bed->'supply_id', 'from', rs_today() + 2, 'to', rs_today() + 5), 'no_match');
    b := pg_temp.book('t_coord', jsonb_build_object('person_id', pg_temp.id('p4'), 'break_kind', 'emergency',
        'supply_id', bed->'supply_id', 'from', rs_today() + 2, 'to', rs_today() + 5));
    PERFORM pg_temp.check(b->>'break_kind' = 'emergency' AND b->'legs'->0->>'source' = 'emergency_fund'
                          AND (b->'legs'->0->>'amount')::int = 36000, 'the emergency fund pays: ' || (b->'legs')::text);
    PERFORM pg_temp.check(pg_temp.remaining(fund) = 100 - 36000, 'below zero, as the fund allows');
    PERFORM pg_temp.refused('t_coord', 'booking.hold', jsonb_build_object('person_id', pg_temp.id('p4'),
        'supply_id', pg_temp.id('bedA'), 'pay_from', jsonb_build_array(fund),
        'from', rs_today() + 10, 'to', rs_today() + 11), 'condition_not_met');
END $$;

-- ---------------------------------------------------------------------------
-- An ongoing direct payment: paid in every month from its start (the
-- months already begun at once), unspent money accumulating; the janitor
-- pays in a month that falls due even if nobody books.

DO $$
DECLARE
    m1 date := (date_trunc('month', rs_today()) - interval '2 months')::date;
    e jsonb;
    eid bigint;
BEGIN
    e := pg_temp.call('t_coord', 'entitlement.create', jsonb_build_object('carer_id', pg_temp.id('c2'),
        'name', 'Sam''s direct payment', 'source', 'carer_direct_payment', 'unit', 'pence',
        'rule', 'ongoing', 'period', 'month', 'amount', 5000, 'valid_from', m1));
    eid := (e->>'entitlement_id')::bigint;
    PERFORM pg_temp.check(pg_temp.remaining(eid) = 15000 AND (e->>'available_today')::int = 15000, 'three months paid in');
    PERFORM pg_temp.check((SELECT count(*) FROM entitlement_accrual WHERE entitlement_id = eid) = 3, 'one accrual per month');
    PERFORM pg_temp.check((rs_janitor()->>'payments_made')::int = 0, 'nothing more due');
    -- "A month earlier": another payment day has passed.
    UPDATE entitlement SET valid_from = (m1 - interval '1 month')::date WHERE id = eid;
    PERFORM pg_temp.check((rs_janitor()->>'payments_made')::int = 1, 'the janitor pays it in');
    PERFORM pg_temp.check(pg_temp.remaining(eid) = 20000, 'four months paid in');
    PERFORM pg_temp.check((rs_janitor()->>'payments_made')::int = 0, 'and only once');
END $$;

-- ---------------------------------------------------------------------------
-- The lifecycle table: every change goes through rs_booking_move and is
-- in booking_event.

DO $$
BEGIN
    PERFORM pg_temp.check(NOT EXISTS (
        SELECT 1 FROM booking b
         WHERE (SELECT e.to_status FROM booking_event e WHERE e.booking_id = b.id ORDER BY e.id DESC LIMIT 1)
               IS DISTINCT FROM b.status), 'the last event of every booking is its status');
    PERFORM pg_temp.check(NOT EXISTS (
        SELECT 1 FROM booking_event e
         WHERE e.from_status IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM booking_transition t WHERE t.from_status = e.from_status AND t.to_status = e.to_status)),
        'every event is an allowed transition');
    PERFORM pg_temp.check((SELECT count(DISTINCT status) FROM booking) >= 6, 'the tests reached most states');
END $$;

SELECT 'booking tests passed' AS result;
