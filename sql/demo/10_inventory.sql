-- Demo data 10: Liverpool's respite supply, a year of availability.
--
-- Runs after 00_users.sql (authority E08000012, users admin, coord,
-- provider, carer, handler). Makes a few providers of each type through
-- the api functions, as the daemon would, with the coordinator's ctx:
--   * Sefton Park Lodge (care home, L17): six respite beds for older people
--     (dementia, hoist), one kept for emergencies only;
--   * Calderstones House (care home, L18): four beds for learning
--     disability, autism and behaviour that challenges, 1:1 and 2:1;
--   * Princes Park Sitting Service (L8): five care workers, among them
--     Jaswinder Singh, who speaks Punjabi and Urdu and supports dementia;
--     the demo user `provider` manages this provider;
--   * Mersey Shared Lives (L15): three approved households;
--   * hotel and leisure partners: an overnight stay for a carer and a
--     guest, theatre seats, a meal for two, a spa morning.
--
-- Idempotent: providers and supply are created when missing (by name);
-- publishing merges with what is there, so loading again changes nothing.
-- Worker shifts start tomorrow, so a reload later in the day never trips
-- the "in the past" check.

CREATE OR REPLACE FUNCTION pg_temp.demo_provider(ctx jsonb, spec jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    pid bigint := (SELECT id FROM provider WHERE authority_id = rs_authority(ctx) AND name = spec->>'name');
BEGIN
    IF pid IS NULL THEN
        pid := ("provider.create"(ctx || '{"method":"provider.create"}', spec)->>'provider_id')::bigint;
    END IF;
    RETURN pid;
END $$;

-- Creates the supply when missing, then publishes `ranges` (merged).
CREATE OR REPLACE FUNCTION pg_temp.demo_supply(ctx jsonb, pid bigint, spec jsonb, ranges jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    sid bigint := (SELECT id FROM supply WHERE provider_id = pid AND name = spec->>'name');
BEGIN
    IF sid IS NULL THEN
        sid := ("supply.create"(ctx || '{"method":"supply.create"}',
                                  spec || jsonb_build_object('provider_id', pid))->>'supply_id')::bigint;
    END IF;
    IF ranges IS NOT NULL AND jsonb_array_length(ranges) > 0 THEN
        PERFORM "availability.publish"(ctx || '{"method":"availability.publish"}',
                                         jsonb_build_object('supply_id', sid, 'ranges', ranges));
    END IF;
    RETURN sid;
END $$;

-- Shifts as local times on the days from tomorrow for a year whose ISO
-- weekday (1 = Monday) is in `days`.
CREATE OR REPLACE FUNCTION pg_temp.demo_shifts(days int[], t0 text, t1 text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('date', d, 'start_time', t0, 'end_time', t1) ORDER BY d), '[]')
      FROM generate_series(rs_today() + 1, rs_today() + 365, interval '1 day') g, LATERAL (SELECT g::date AS d) x
     WHERE extract(isodow FROM d)::int = ANY (days)
$$;

CREATE OR REPLACE FUNCTION pg_temp.demo_year() RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_array(jsonb_build_object('from', rs_today(), 'to', rs_today() + 365)) $$;

DO $$
DECLARE
    ctx jsonb := (SELECT rs_user_ctx(u.id) FROM app_user u JOIN authority a ON a.id = u.authority_id
                   WHERE u.username = 'coord' AND u.role = 'coordinator' AND a.code = 'E08000012');
    p bigint;
    i int;
    today date := rs_today();
    weekdays int[] := '{1,2,3,4,5}';
BEGIN
    IF ctx IS NULL THEN
        RETURN;     -- no demo users
    END IF;

    -- Care homes -------------------------------------------------------------
    p := pg_temp.demo_provider(ctx, '{"type":"residential","name":"Sefton Park Lodge","postcode_district":"L17",
        "lat":53.3806,"lon":-2.9371,"languages":["en"],"capabilities":["dementia","physical_disability","hoist"],
        "cqc_rating":"good"}');
    FOR i IN 1..6 LOOP
        PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object(
            'kind', 'bed', 'name', 'Room ' || i, 'price_pence', CASE WHEN i <= 2 THEN 11500 ELSE 9800 END,
            'price_unit', 'night', 'emergency_only', i = 6,
            'capabilities', CASE WHEN i <= 3 THEN '["dementia","physical_disability","hoist","access:wheelchair","access:accessible_bathroom"]'
                                 ELSE '["dementia","diet:vegetarian","diet:diabetic"]' END::jsonb,
            'languages', '["en"]'::jsonb, 'attrs', jsonb_build_object('ensuite', i <= 2, 'floor', (i - 1) / 3)),
            -- Room 4 closes for a week's redecoration in six weeks' time.
            CASE WHEN i = 4 THEN jsonb_build_array(jsonb_build_object('from', today, 'to', today + 42),
                                                   jsonb_build_object('from', today + 49, 'to', today + 365))
                 ELSE pg_temp.demo_year() END);
    END LOOP;

    p := pg_temp.demo_provider(ctx, '{"type":"residential","name":"Calderstones House","postcode_district":"L18",
        "lat":53.3817,"lon":-2.8976,"languages":["en"],"capabilities":["learning_disability","autism","behaviour_challenges"],
        "cqc_rating":"outstanding"}');
    FOR i IN 1..4 LOOP
        PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object(
            'kind', 'bed', 'name', 'Flat ' || i, 'price_pence', CASE WHEN i = 4 THEN 21000 ELSE 16500 END,
            'price_unit', 'night', 'languages', '["en"]'::jsonb,
            'capabilities', CASE WHEN i = 4 THEN '["learning_disability","autism","behaviour_challenges","sup:1to1","sup:2to1","young_adults","comm:makaton"]'
                                 ELSE '["learning_disability","autism","behaviour_challenges","sup:1to1","young_adults","comm:makaton"]' END::jsonb),
            pg_temp.demo_year());
    END LOOP;

    -- Sitting service, managed by the demo user `provider` --------------------
    p := pg_temp.demo_provider(ctx, '{"type":"sitting","name":"Princes Park Sitting Service","postcode_district":"L8",
        "lat":53.3893,"lon":-2.9655,"languages":["en","pa","ur","pl","cy"],"capabilities":["dementia","learning_disability"],
        "cqc_rating":"outstanding"}');
    UPDATE app_user SET provider_id = p
     WHERE username = 'provider' AND role = 'provider' AND provider_id IS DISTINCT FROM p;
    PERFORM pg_temp.demo_supply(ctx, p, '{"kind":"worker","name":"Jaswinder Singh","gender":"male",
        "languages":["en","pa","ur"],"capabilities":["dementia","culture:south_asian","diet:halal","diet:vegetarian"],
        "price_pence":2150,"price_unit":"hour","travel_radius_km":8,"min_visit_minutes":120,"max_visit_minutes":480,
        "travel_buffer_minutes":30,"attrs":{"drives":true}}',
        pg_temp.demo_shifts('{1,2,3,4,5,6}', '10:00', '18:00'));
    PERFORM pg_temp.demo_supply(ctx, p, '{"kind":"worker","name":"Amrit Kaur","gender":"female",
        "languages":["en","pa"],"capabilities":["dementia","physical_disability","hoist","culture:south_asian","diet:halal"],
        "price_pence":2150,"price_unit":"hour","travel_radius_km":6,"min_visit_minutes":120,"max_visit_minutes":480,
        "travel_buffer_minutes":20}',
        pg_temp.demo_shifts(weekdays, '09:00', '17:00'));
    PERFORM pg_temp.demo_supply(ctx, p, '{"kind":"worker","name":"Agnieszka Nowak","gender":"female",
        "languages":["en","pl"],"capabilities":["dementia","physical_disability","hoist","lgbtq_affirming"],
        "price_pence":2000,"price_unit":"hour","travel_radius_km":10,"min_visit_minutes":60,"max_visit_minutes":600,
        "travel_buffer_minutes":20,"lat":53.4005,"lon":-2.9203}',
        pg_temp.demo_shifts('{1,3,5,6,7}', '08:00', '20:00'));
    -- Overnight sitting, four nights a week (21:00 to 07:00 the next morning).
    PERFORM pg_temp.demo_supply(ctx, p, '{"kind":"worker","name":"Siân Roberts","gender":"female",
        "languages":["en","cy"],"capabilities":["learning_disability","autism","sup:waking_night","comm:makaton"],
        "price_pence":2400,"price_unit":"hour","travel_radius_km":12,"min_visit_minutes":240,"max_visit_minutes":720,
        "travel_buffer_minutes":30}',
        pg_temp.demo_shifts('{1,2,4,5}', '21:00', '07:00'));
    PERFORM pg_temp.demo_supply(ctx, p, '{"kind":"worker","name":"Kwame Mensah","gender":"male",
        "languages":["en"],"capabilities":["mental_health","young_adults","autism","lgbtq_affirming"],
        "price_pence":2000,"price_unit":"hour","travel_radius_km":10,"min_visit_minutes":60,"max_visit_minutes":480,
        "travel_buffer_minutes":15,"lat":53.4290,"lon":-2.9610}',
        pg_temp.demo_shifts('{2,3,4,6,7}', '12:00', '22:00'));

    -- Shared Lives --------------------------------------------------------------
    p := pg_temp.demo_provider(ctx, '{"type":"shared_lives","name":"Mersey Shared Lives","postcode_district":"L15",
        "lat":53.3990,"lon":-2.9210,"languages":["en"],"capabilities":["learning_disability","autism","dementia"],
        "cqc_rating":"good"}');
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'household', 'name', 'The Okafor household',
        'capabilities', '["learning_disability","autism","young_adults","env:smoke_free","access:step_free"]'::jsonb,
        'languages', '["en","yo"]'::jsonb, 'price_pence', 7500, 'price_unit', 'night', 'bedrooms', 2, 'day_places', 1,
        'day_price_pence', 1250, 'day_price_unit', 'hour', 'lat', 53.4031, 'lon', -2.9442,
        'compatibility', '{"pets":["cat"],"smoking":false,"household_members":"married couple, grown-up children left home",
                          "accessibility":["step-free entrance"],"interests":["football","gospel music","cooking"]}'::jsonb,
        'approved_from', today - 200, 'approval_expires', today - 200 + 730),
        jsonb_build_array(jsonb_build_object('from', today, 'to', today + 365))
        || pg_temp.demo_shifts(weekdays, '10:00', '16:00'));
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'household', 'name', 'The Hussain household',
        'capabilities', '["dementia","culture:south_asian","culture:muslim","diet:halal","env:no_pets","env:smoke_free","env:quiet"]'::jsonb,
        'languages', '["en","ur","pa"]'::jsonb, 'price_pence', 7000, 'price_unit', 'night', 'bedrooms', 1, 'day_places', 0,
        'lat', 53.3905, 'lon', -2.9520,
        'compatibility', '{"pets":[],"smoking":false,"household_members":"retired couple","interests":["gardening","cricket","cooking"]}'::jsonb,
        'approved_from', today - 30, 'approval_expires', today - 30 + 730,
        'sla', jsonb_build_object('starts', today - 30, 'months', 12, 'guaranteed_income_pence', 600000,
                                  'target_per_bedroom_per_year', 16)),
        jsonb_build_array(jsonb_build_object('from', today, 'to', today + 365)));
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'household', 'name', 'The Walsh household',
        'capabilities', '["learning_disability","young_adults","lgbtq_affirming","env:pets_welcome"]'::jsonb,
        'languages', '["en"]'::jsonb, 'price_pence', 6500, 'price_unit', 'night', 'bedrooms', 0, 'day_places', 2,
        'day_price_pence', 1100, 'day_price_unit', 'hour', 'lat', 53.4120, 'lon', -2.9000,
        'compatibility', '{"pets":["dog"],"smoking":false,"household_members":"single carer and teenage son","interests":["walking","films"]}'::jsonb,
        'approved_from', today - 300, 'approval_expires', today - 300 + 730),
        pg_temp.demo_shifts('{1,2,3,4,5,6}', '10:00', '15:00'));

    -- Hotel and leisure partners ----------------------------------------------
    p := pg_temp.demo_provider(ctx, '{"type":"hotel_leisure","name":"Albert Dock Hotel","postcode_district":"L3",
        "lat":53.4001,"lon":-2.9926,"languages":["en"]}');
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'offer', 'name', 'Overnight stay for a carer and a guest',
        'capabilities', '["diet:vegetarian","diet:halal","access:wheelchair","lgbtq_affirming"]'::jsonb,
        'price_pence', 0, 'price_unit', 'night', 'offer_type', 'overnight_stay', 'party_size', 2,
        'conditions', '{"per_carer_per":"quarter","max":1}'::jsonb,
        'dietary_notes', 'Breakfast included; halal, vegetarian and gluten-free on request.', 'expires', today + 365),
        jsonb_build_array(jsonb_build_object('from', today + 1, 'to', today + 365, 'quantity', 2)));
    p := pg_temp.demo_provider(ctx, '{"type":"hotel_leisure","name":"Everyman Playhouse","postcode_district":"L1",
        "lat":53.4047,"lon":-2.9780,"languages":["en"]}');
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'offer', 'name', 'Two theatre seats',
        'capabilities', '["access:wheelchair","access:step_free","lgbtq_affirming"]'::jsonb,
        'price_pence', 0, 'price_unit', 'session', 'offer_type', 'theatre', 'party_size', 2, 'duration_minutes', 150,
        'conditions', '{"per_carer_per":"quarter","max":1}'::jsonb, 'expires', today + 365),
        (SELECT jsonb_agg(jsonb_build_object('day', d, 'starts_at', '19:30', 'quantity', 4) ORDER BY d)
           FROM generate_series(today + 1, today + 365, interval '1 day') g, LATERAL (SELECT g::date AS d) x
          WHERE extract(isodow FROM d) IN (4, 5, 6)));
    p := pg_temp.demo_provider(ctx, '{"type":"hotel_leisure","name":"Baltic Kitchen","postcode_district":"L1",
        "lat":53.3986,"lon":-2.9818,"languages":["en","pl"]}');
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'offer', 'name', 'Lunch for two',
        'capabilities', '["diet:vegetarian","diet:vegan","diet:halal","diet:gluten_free","access:wheelchair"]'::jsonb,
        'price_pence', 500, 'price_unit', 'session', 'offer_type', 'meal', 'party_size', 2, 'duration_minutes', 90,
        'dietary_notes', 'Tell us about allergies when booking.', 'expires', today + 365),
        (SELECT jsonb_agg(jsonb_build_object('day', d, 'starts_at', '12:30', 'quantity', 3) ORDER BY d)
           FROM generate_series(today + 1, today + 365, interval '1 day') g, LATERAL (SELECT g::date AS d) x
          WHERE extract(isodow FROM d) < 6));
    p := pg_temp.demo_provider(ctx, '{"type":"hotel_leisure","name":"Otterspool Spa","postcode_district":"L17",
        "lat":53.3708,"lon":-2.9388,"languages":["en"]}');
    PERFORM pg_temp.demo_supply(ctx, p, jsonb_build_object('kind', 'offer', 'name', 'Spa morning',
        'capabilities', '["access:step_free","lgbtq_affirming"]'::jsonb,
        'price_pence', 1000, 'price_unit', 'session', 'offer_type', 'spa', 'party_size', 1, 'duration_minutes', 180,
        'conditions', '{"per_carer_per":"month","max":1}'::jsonb, 'expires', today + 365),
        jsonb_build_array(jsonb_build_object('from', today + 1, 'to', today + 365, 'starts_at', '10:00', 'quantity', 2)));
END $$;
