-- Data for the booking.book comparison (docs/BENCHMARKS.md, "Bookings at
-- database speed"), run by tests/bench/book-compare.sh on the template
-- database, after clients/gen/respite-gen.sh has filled the authority with
-- its usual supply:
--
--   psql -X -v ON_ERROR_STOP=1 -v code=E99000078 -v salt=HEX -v hash=HEX \
--        -v families=400 -v days=300 -v lines=40000 -f tests/bench/book-setup.sql
--
-- Makes, through the api functions as the daemon would, in the authority:
--  * the coordinator bench_coord (password hash computed by the script);
--  * `families` families (a carer and one person, no special needs,
--    consent given), each with a personal budget (the person's) and a
--    carer's budget (for offers), far larger than a run can spend;
--  * one sitting agency with `families` workers ("spread"), each published
--    07:00-21:00 London time on days 1 .. `days` + 1;
--  * the hot inventory: beds published for every night from tomorrow to
--    two years ahead (729 nights each: publishing stops there, so the hot
--    bed is the next one once a bed is full), one worker published round
--    the clock for 700 days, one spa session with a million seats
--    tomorrow;
--  * bench.line: `lines` booking.hold params per mode, none conflicting
--    with any other of its mode, computed from the line number n alone by
--    the formulas below, which tests/bench/book-pgbench.sql repeats (so
--    pgbench needs no file and no lookup):
--      spread  w = n % W, t = n / W, family (w + t) % W, worker w,
--              a one-hour visit on day 1 + t / 6 at 08:00 + 2 h * (t % 6) UTC
--              (inside 07:00-21:00 London, summer or winter)
--      bed     family n % W, hot bed n / 729, the night of day 1 + n % 729
--      worker  family n % W, the hot worker, a 30-minute visit at
--              00:00 UTC of day 1 + n / 48, plus 30 min * (n % 48)
--      offer   carer n % W, the hot spa session, one seat
--    with W = families, day d = the UTC date d days after today's (when the
--    set-up ran). Consecutive lines belong to different families, and a
--    family has at most one visit at a time, so clients taking lines in
--    turn never wait on each other's family locks.
--  * bench.ids: the first ids of families, persons and workers (checked
--    contiguous), the hot supply and the day-0 epoch, for pgbench.
-- Refuses to run twice on one database (schema bench exists).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA bench;
SELECT set_config('bench.code', :'code', false) AS cfg_code,
       set_config('bench.families', :'families', false) AS cfg_f,
       set_config('bench.days', :'days', false) AS cfg_d,
       set_config('bench.lines', :'lines', false) AS cfg_l \gset

INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations)
SELECT 'bench_coord', 'coordinator', a.id, decode(:'salt', 'hex'), decode(:'hash', 'hex'), 10000
  FROM authority a WHERE a.code = :'code'
ON CONFLICT (username) DO UPDATE
   SET role = excluded.role, authority_id = excluded.authority_id, pw_salt = excluded.pw_salt,
       pw_hash = excluded.pw_hash, pw_iterations = excluded.pw_iterations, disabled = false;

CREATE TABLE bench.family (k int PRIMARY KEY, carer_id bigint NOT NULL, person_id bigint NOT NULL);
CREATE TABLE bench.worker (k int PRIMARY KEY, supply_id bigint NOT NULL);
CREATE TABLE bench.hot_bed (k int PRIMARY KEY, supply_id bigint NOT NULL);
CREATE TABLE bench.ids (
    families int, carer0 bigint, person0 bigint, worker0 bigint,
    hot_bed bigint, hot_worker bigint, hot_offer bigint, day0 date, e0 bigint, hot_beds int);

DO $$
DECLARE
    ctx jsonb := (SELECT rs_user_ctx(id) || '{"request_seq":0,"hold_ttl_s":900}' FROM app_user WHERE username = 'bench_coord');
    nf int := current_setting('bench.families')::int;
    nd int := current_setting('bench.days')::int;
    today date := (now() AT TIME ZONE 'UTC')::date;
    f jsonb;
    agency bigint;
    home bigint;
    hotel bigint;
    sid bigint;
    pid bigint;
    ranges jsonb;
BEGIN
    FOR i IN 0 .. nf - 1 LOOP
        f := "family.create"(ctx || '{"method":"family.create"}', jsonb_build_object(
            'carer', jsonb_build_object('name', 'Compare carer ' || i, 'referral_route', 'self_referral'),
            'persons', jsonb_build_array(jsonb_build_object('name', 'Compare person ' || i,
                'languages', '["en"]'::jsonb, 'consent', '{"status":"given"}'::jsonb))));
        pid := (f->'persons'->0->>'person_id')::bigint;
        PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
            'person_id', pid, 'name', 'Personal budget', 'source', 'person_personal_budget',
            'unit', 'pence', 'rule', 'one_off', 'amount', 10000000000, 'valid_from', rs_today()));
        PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
            'carer_id', (f->'carer'->>'carer_id')::bigint, 'name', 'Carer''s budget',
            'source', 'carer_personal_budget', 'unit', 'pence', 'rule', 'one_off',
            'amount', 10000000000, 'valid_from', rs_today()));
        INSERT INTO bench.family VALUES (i, (f->'carer'->>'carer_id')::bigint, pid);
    END LOOP;

    agency := ("provider.create"(ctx || '{"method":"provider.create"}',
        '{"type":"sitting","name":"Compare sitters","postcode_district":"L8","lat":53.39,"lon":-2.96}')->>'provider_id')::bigint;
    home := ("provider.create"(ctx || '{"method":"provider.create"}',
        '{"type":"residential","name":"Compare home","postcode_district":"L17","lat":53.38,"lon":-2.93}')->>'provider_id')::bigint;
    hotel := ("provider.create"(ctx || '{"method":"provider.create"}',
        '{"type":"hotel_leisure","name":"Compare hotel","postcode_district":"L1","lat":53.40,"lon":-2.98}')->>'provider_id')::bigint;

    ranges := (SELECT jsonb_agg(jsonb_build_object('date', today + d, 'start_time', '07:00', 'end_time', '21:00'))
                 FROM generate_series(1, nd + 1) d);
    FOR i IN 0 .. nf - 1 LOOP
        sid := ("supply.create"(ctx || '{"method":"supply.create"}', jsonb_build_object(
            'provider_id', agency, 'kind', 'worker', 'name', 'Compare worker ' || i, 'languages', '["en"]'::jsonb,
            'price_pence', 2000, 'price_unit', 'hour', 'min_visit_minutes', 30, 'max_visit_minutes', 240,
            'travel_buffer_minutes', 0))->>'supply_id')::bigint;
        PERFORM "availability.publish"(ctx || '{"method":"availability.publish"}',
                                       jsonb_build_object('supply_id', sid, 'ranges', ranges));
        INSERT INTO bench.worker VALUES (i, sid);
    END LOOP;

    INSERT INTO bench.ids (families, carer0, person0, worker0, day0, e0)
    SELECT nf, min(f.carer_id), min(f.person_id), (SELECT min(supply_id) FROM bench.worker), today,
           extract(epoch FROM today::timestamp AT TIME ZONE 'UTC')::bigint
      FROM bench.family f;

    -- the hot inventory
    FOR j IN 0 .. current_setting('bench.lines')::int / 729 LOOP
        sid := ("supply.create"(ctx || '{"method":"supply.create"}', jsonb_build_object(
            'provider_id', home, 'kind', 'bed', 'name', 'Compare hot bed ' || j, 'price_pence', 10000,
            'price_unit', 'night'))->>'supply_id')::bigint;
        PERFORM "availability.publish"(ctx || '{"method":"availability.publish"}', jsonb_build_object(
            'supply_id', sid, 'ranges', jsonb_build_array(jsonb_build_object('from', today + 1, 'to', today + 730))));
        INSERT INTO bench.hot_bed VALUES (j, sid);
    END LOOP;
    UPDATE bench.ids SET hot_bed = (SELECT min(supply_id) FROM bench.hot_bed), hot_beds = (SELECT count(*) FROM bench.hot_bed);
    sid := ("supply.create"(ctx || '{"method":"supply.create"}', jsonb_build_object(
        'provider_id', agency, 'kind', 'worker', 'name', 'Compare hot worker', 'languages', '["en"]'::jsonb,
        'price_pence', 2000, 'price_unit', 'hour', 'min_visit_minutes', 30, 'max_visit_minutes', 240,
        'travel_buffer_minutes', 0))->>'supply_id')::bigint;
    PERFORM "availability.publish"(ctx || '{"method":"availability.publish"}', jsonb_build_object(
        'supply_id', sid, 'ranges', (SELECT jsonb_agg(jsonb_build_object(
                                                'start', rs_ts_text(today::timestamp AT TIME ZONE 'UTC' + make_interval(days => d)),
                                                'end', rs_ts_text(today::timestamp AT TIME ZONE 'UTC' + make_interval(days => d + 1))))
                                       FROM generate_series(1, 701) d)));
    UPDATE bench.ids SET hot_worker = sid;
    sid := ("supply.create"(ctx || '{"method":"supply.create"}', jsonb_build_object(
        'provider_id', hotel, 'kind', 'offer', 'name', 'Compare hot spa', 'offer_type', 'spa',
        'party_size', 1, 'price_pence', 1000, 'price_unit', 'session'))->>'supply_id')::bigint;
    PERFORM "availability.publish"(ctx || '{"method":"availability.publish"}', jsonb_build_object(
        'supply_id', sid, 'ranges', jsonb_build_array(jsonb_build_object('day', today + 1, 'quantity', 1000000))));
    UPDATE bench.ids SET hot_offer = sid;
END $$;

-- pgbench computes ids as first id + k: they must be contiguous.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM bench.family f, bench.ids i
                WHERE f.carer_id <> i.carer0 + f.k OR f.person_id <> i.person0 + f.k)
       OR EXISTS (SELECT 1 FROM bench.worker w, bench.ids i WHERE w.supply_id <> i.worker0 + w.k)
       OR EXISTS (SELECT 1 FROM bench.hot_bed h, bench.ids i WHERE h.supply_id <> i.hot_bed + h.k) THEN
        RAISE EXCEPTION 'ids are not contiguous: pgbench could not compute them';
    END IF;
END $$;

-- The lines, by the formulas above.
CREATE TABLE bench.line AS
WITH i AS (SELECT * FROM bench.ids)
SELECT 'spread' AS mode, n,
       jsonb_build_object('carer_id', i.carer0 + (n % i.families + n / i.families) % i.families,
                          'person_id', i.person0 + (n % i.families + n / i.families) % i.families,
                          'supply_id', i.worker0 + n % i.families,
                          'start', rs_ts_text(to_timestamp(i.e0 + 86400 * (1 + (n / i.families) / 6)
                                                           + 3600 * (8 + 2 * ((n / i.families) % 6)))),
                          'end', rs_ts_text(to_timestamp(i.e0 + 86400 * (1 + (n / i.families) / 6)
                                                         + 3600 * (9 + 2 * ((n / i.families) % 6))))) AS params
  FROM i, generate_series(0, :lines - 1) n
UNION ALL
SELECT 'bed', n,
       jsonb_build_object('carer_id', i.carer0 + n % i.families, 'person_id', i.person0 + n % i.families,
                          'supply_id', i.hot_bed + n / 729, 'from', i.day0 + 1 + n % 729, 'to', i.day0 + 2 + n % 729)
  FROM i, generate_series(0, :lines - 1) n
UNION ALL
SELECT 'worker', n,
       jsonb_build_object('carer_id', i.carer0 + n % i.families, 'person_id', i.person0 + n % i.families,
                          'supply_id', i.hot_worker,
                          'start', rs_ts_text(to_timestamp(i.e0 + 86400 * (1 + n / 48) + 1800 * (n % 48))),
                          'end', rs_ts_text(to_timestamp(i.e0 + 86400 * (1 + n / 48) + 1800 * (n % 48 + 1))))
  FROM i, generate_series(0, least(:lines, 48 * 700) - 1) n
UNION ALL
SELECT 'offer', n,
       jsonb_build_object('carer_id', i.carer0 + n % i.families, 'supply_id', i.hot_offer,
                          'from', i.day0 + 1, 'to', i.day0 + 2)
  FROM i, generate_series(0, :lines - 1) n;

SELECT families, carer0, person0, worker0, hot_bed, hot_worker, hot_offer, day0, e0 FROM bench.ids;
