-- Synthetic inventory for tests and benchmarks, never part of a deployment:
-- loaded into its own schema, gen, by clients/gen/respite-gen.sh, the test
-- suites and the benchmark scripts, on databases that already hold the
-- schema and a release's code (it calls the code by the caller's
-- search_path, which must name the release schema first).
--
-- gen.generate_inventory(authority, n_per_type, seed) adds, to one
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
CREATE SCHEMA IF NOT EXISTS gen;

CREATE OR REPLACE FUNCTION gen.offer_type(provider_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE substring(provider_name FROM ' (Hotel|Playhouse|Kitchen|Spa|Leisure Centre|Community Gardens)( \d+)?$')
             WHEN 'Hotel' THEN 'overnight_stay' WHEN 'Playhouse' THEN 'theatre'
             WHEN 'Kitchen' THEN 'meal' WHEN 'Spa' THEN 'spa'
             WHEN 'Leisure Centre' THEN 'sport' ELSE 'day_activity' END
$$;

CREATE OR REPLACE FUNCTION gen.generate_inventory(p_authority bigint, n_per_type int, seed float8 DEFAULT 0.42,
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
               gen.offer_type(name) AS sub
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
