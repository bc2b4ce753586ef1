-- Tests for the inventory (sql/api/2*_*.sql): every inventory method, every refusal
-- the issue lists, the tenancy rules and the search filters.
--
-- Run against a fresh database with all migrations applied:
--   psql -v ON_ERROR_STOP=1 -f tests/sql/002_inventory_test.sql
-- Each block RAISEs on the first failed check. The script makes its own
-- authorities and users (codes with a random suffix, so it can run twice)
-- and needs no demo data. Allocations are inserted directly (bookings are
-- issue 4's); session_replication_role = replica skips the foreign key
-- to booking that issue 4 adds, so this needs a superuser.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Helpers (session-local)

CREATE TEMP TABLE t_state (k text PRIMARY KEY, v jsonb);

CREATE FUNCTION pg_temp.put(k text, v jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO t_state VALUES (k, v) ON CONFLICT (k) DO UPDATE SET v = excluded.v
$$;
CREATE FUNCTION pg_temp.get(k text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT v FROM t_state WHERE t_state.k = get.k
$$;
CREATE FUNCTION pg_temp.id(k text) RETURNS bigint LANGUAGE sql AS $$
    SELECT (v #>> '{}')::bigint FROM t_state WHERE t_state.k = id.k
$$;

-- The ctx the daemon would pass for a user (by test name) and method.
CREATE FUNCTION pg_temp.ctx(who text, method text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT rs_user_ctx(pg_temp.id('user:' || who)) || jsonb_build_object('method', method)
$$;

-- Calls the method's gate function, "noun.verb"(ctx, p), as the daemon does.
CREATE FUNCTION pg_temp.call(who text, method text, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
BEGIN
    EXECUTE format('SELECT %I($1, $2)', method)
       INTO r USING pg_temp.ctx(who, method), p;
    RETURN r;
END $$;

-- Asserts that a call fails with `reason` (and, when given, data.field).
CREATE FUNCTION pg_temp.refused(who text, method text, p jsonb, reason text, field text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
BEGIN
    BEGIN
        PERFORM pg_temp.call(who, method, p);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
        IF msg IS DISTINCT FROM reason THEN
            RAISE EXCEPTION 'FAIL % by % with %: expected %, got % (%)', method, who, p, reason, msg, det;
        END IF;
        IF field IS NOT NULL AND (det::jsonb ->> 'field') IS DISTINCT FROM field THEN
            RAISE EXCEPTION 'FAIL % by % with %: expected field %, got %', method, who, p, field, det;
        END IF;
        RETURN det::jsonb;
    END;
    RAISE EXCEPTION 'FAIL % by % with %: expected %, but it succeeded', method, who, p, reason;
END $$;

CREATE FUNCTION pg_temp.check(ok boolean, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'FAIL %', what;
    END IF;
END $$;

-- An RFC 3339 instant for a London local time `days` from today.
CREATE FUNCTION pg_temp.at(days int, t time) RETURNS text LANGUAGE sql AS $$
    SELECT rs_ts_text((rs_today() + days + t) AT TIME ZONE 'Europe/London')
$$;

-- Supply ids found by a search.
CREATE FUNCTION pg_temp.found(r jsonb) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg((x->>'supply_id')::bigint ORDER BY (x->>'rank')::int), '{}')
      FROM jsonb_array_elements(r->'results') x
$$;

-- A fake allocation (booking_id only; the booking table is issue 4's).
CREATE FUNCTION pg_temp.allocate(booking bigint, unit bigint, n daterange, s tstzrange) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO allocation (booking_id, unit_id, nights, span) VALUES (booking, unit, n, s);
    PERFORM set_config('session_replication_role', 'origin', true);
END $$;

-- ---------------------------------------------------------------------------
-- Setup: two authorities, a user of every role, a second coordinator in
-- the other authority.

DO $$
DECLARE
    tag text := substr(md5(random()::text), 1, 8);
    a1 bigint;
    a2 bigint;
    who text;
    uid bigint;
BEGIN
    INSERT INTO authority (code, name) VALUES ('T3A-' || tag, 'Test authority A') RETURNING id INTO a1;
    INSERT INTO authority (code, name) VALUES ('T3B-' || tag, 'Test authority B') RETURNING id INTO a2;
    PERFORM pg_temp.put('a1', to_jsonb(a1)), pg_temp.put('a2', to_jsonb(a2)), pg_temp.put('tag', to_jsonb(tag));
    FOR who IN SELECT unnest(ARRAY['admin', 'coord', 'coord2', 'prov', 'prov2', 'carer', 'handler']) LOOP
        INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations)
        VALUES ('t3-' || who || '-' || tag,
                CASE who WHEN 'admin' THEN 'admin' WHEN 'coord' THEN 'coordinator'
                         WHEN 'coord2' THEN 'coordinator' WHEN 'carer' THEN 'carer'
                         WHEN 'handler' THEN 'call_handler' ELSE 'provider' END::user_role,
                CASE who WHEN 'admin' THEN NULL WHEN 'coord2' THEN a2 ELSE a1 END,
                '\x00', '\x00', 1000)
        RETURNING id INTO uid;
        PERFORM pg_temp.put('user:' || who, to_jsonb(uid));
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------
-- capability.list

DO $$
DECLARE
    r jsonb := pg_temp.call('carer', 'capability.list', '{}');
BEGIN
    PERFORM pg_temp.check(r->'capabilities' @> '[{"code":"lang:pa","category":"language","label":"Punjabi"}]',
                          'capability.list has Punjabi');
    PERFORM pg_temp.check(r->'capabilities' @> '[{"code":"sup:2to1"}]' AND r->'capabilities' @> '[{"code":"diet:halal"}]'
                          AND r->'capabilities' @> '[{"code":"gender:female"}]' AND r->'capabilities' @> '[{"code":"lgbtq_affirming"}]',
                          'capability.list has the issue''s vocabulary');
    r := pg_temp.call('handler', 'capability.list', '{"category":"diet"}');
    PERFORM pg_temp.check(NOT jsonb_path_exists(r, '$.capabilities[*] ? (@.category != "diet")'),
                          'capability.list filters by category');
END $$;

-- ---------------------------------------------------------------------------
-- provider.create / update / get / list, and who may do what

DO $$
DECLARE
    r jsonb;
    pid bigint;
BEGIN
    r := pg_temp.call('coord', 'provider.create', '{"type":"residential","name":"Woolton Grange",
        "postcode_district":"l25","lat":53.375,"lon":-2.86,"languages":["en","pa"],
        "capabilities":["dementia","hoist"],"cqc_rating":"good"}');
    PERFORM pg_temp.check(r->>'postcode_district' = 'L25' AND r->>'supplies' = 'bed'
                          AND (r->>'authority_id')::bigint = pg_temp.id('a1'), 'provider.create residential');
    PERFORM pg_temp.put('p_res', r->'provider_id');
    r := pg_temp.call('coord', 'provider.create', '{"type":"sitting","name":"Crossroads Sitting L8",
        "postcode_district":"L8","lat":53.39,"lon":-2.965,"languages":["en","pa","ur"],"cqc_rating":"outstanding"}');
    PERFORM pg_temp.put('p_sit', r->'provider_id');
    r := pg_temp.call('coord', 'provider.create', '{"type":"shared_lives","name":"Mersey Shared Lives",
        "postcode_district":"L15","lat":53.40,"lon":-2.92,"cqc_rating":"good"}');
    PERFORM pg_temp.put('p_sl', r->'provider_id');
    r := pg_temp.call('coord', 'provider.create', '{"type":"hotel_leisure","name":"Albert Dock Hotel",
        "postcode_district":"L3","lat":53.40,"lon":-2.99}');
    PERFORM pg_temp.put('p_hotel', r->'provider_id');
    -- admin: must name the authority; may use any
    PERFORM pg_temp.refused('admin', 'provider.create', '{"type":"sitting","name":"X","postcode_district":"L1","lat":53.4,"lon":-2.98}',
                            'invalid_params', 'authority_id');
    r := pg_temp.call('admin', 'provider.create', jsonb_build_object('authority_id', pg_temp.id('a2'), 'type', 'sitting',
        'name', 'Other Town Sitting', 'postcode_district', 'CH41', 'lat', 53.39, 'lon', -3.02));
    PERFORM pg_temp.put('p_other', r->'provider_id');
    -- a coordinator works only in their own authority
    PERFORM pg_temp.refused('coord', 'provider.create', jsonb_build_object('authority_id', pg_temp.id('a2'),
        'type', 'sitting', 'name', 'Y', 'postcode_district', 'L1', 'lat', 53.4, 'lon', -2.98), 'forbidden');
    -- roles without the right
    PERFORM pg_temp.refused('carer', 'provider.create', '{"type":"sitting","name":"Z","postcode_district":"L1","lat":53.4,"lon":-2.98}', 'forbidden');
    PERFORM pg_temp.refused('prov', 'provider.create', '{"type":"sitting","name":"Z","postcode_district":"L1","lat":53.4,"lon":-2.98}', 'forbidden');
    -- bad input, each naming its field
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"sitting","name":"Z","postcode_district":"LIVERPOOL","lat":53.4,"lon":-2.98}', 'invalid_params', 'postcode_district');
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"sitting","name":"Z","postcode_district":"L1","lat":53.4,"lon":-2.98,"languages":["en","xx"]}', 'invalid_params', 'languages[1]');
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"sitting","name":"Z","postcode_district":"L1","lat":53.4,"lon":-2.98,"capabilities":["dementia","telepathy"]}', 'invalid_params', 'capabilities[1]');
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"hotel_leisure","name":"Z","postcode_district":"L1","lat":53.4,"lon":-2.98,"cqc_rating":"good"}', 'invalid_params', 'cqc_rating');
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"sitting","name":"Woolton Grange","postcode_district":"L1","lat":53.4,"lon":-2.98}', 'conflict', 'name');
    -- idempotency: a retry returns the first answer; the key reused differently is refused
    r := pg_temp.call('coord', 'provider.create', '{"type":"sitting","name":"Idem Care","postcode_district":"L1","lat":53.4,"lon":-2.98,"idempotency_key":"k-prov-1"}');
    PERFORM pg_temp.check(pg_temp.call('coord', 'provider.create', '{"type":"sitting","name":"Idem Care","postcode_district":"L1","lat":53.4,"lon":-2.98,"idempotency_key":"k-prov-1"}')
                          = r || '{"replayed":true}', 'provider.create replays by idempotency key');
    PERFORM pg_temp.refused('coord', 'provider.create', '{"type":"sitting","name":"Idem Care 2","postcode_district":"L1","lat":53.4,"lon":-2.98,"idempotency_key":"k-prov-1"}', 'idempotency_mismatch');

    -- provider users belong to a provider
    UPDATE app_user SET provider_id = pg_temp.id('p_sit') WHERE id = pg_temp.id('user:prov');
    UPDATE app_user SET provider_id = pg_temp.id('p_res') WHERE id = pg_temp.id('user:prov2');
    PERFORM pg_temp.check((pg_temp.ctx('prov', 'x')->>'provider_id')::bigint = pg_temp.id('p_sit'), 'rs_user_ctx carries provider_id');

    -- update: a provider user edits its own details, not its rating, not another provider
    r := pg_temp.call('prov', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_sit'), 'languages', '["en","pa","ur","bn"]'::jsonb));
    PERFORM pg_temp.check(r->'languages' = '["bn","en","pa","ur"]', 'provider.update by its own user');
    PERFORM pg_temp.refused('prov', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_sit'), 'cqc_rating', 'outstanding'), 'forbidden');
    PERFORM pg_temp.refused('prov', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'name', 'Mine now'), 'forbidden');
    PERFORM pg_temp.refused('coord2', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'name', 'Mine now'), 'not_found');
    PERFORM pg_temp.refused('coord', 'provider.update', '{"provider_id": 999999999}', 'not_found');
    r := pg_temp.call('coord', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'cqc_rating', 'requires_improvement'));
    PERFORM pg_temp.check(r->>'cqc_rating' = 'requires_improvement', 'coordinator sets the CQC rating');

    -- get / list: anyone in the authority reads; other authorities do not
    PERFORM pg_temp.check(pg_temp.call('carer', 'provider.get', jsonb_build_object('provider_id', pg_temp.id('p_hotel')))->>'name' = 'Albert Dock Hotel', 'provider.get');
    PERFORM pg_temp.refused('coord2', 'provider.get', jsonb_build_object('provider_id', pg_temp.id('p_hotel')), 'not_found');
    r := pg_temp.call('handler', 'provider.list', '{"type":"sitting"}');
    PERFORM pg_temp.check(jsonb_array_length(r->'providers') = 2 AND NOT r->'providers' @> jsonb_build_array(jsonb_build_object('provider_id', pg_temp.id('p_other'))),
                          'provider.list: own authority, filtered by type');
    r := pg_temp.call('coord', 'provider.list', '{"limit":2}');
    PERFORM pg_temp.check(jsonb_array_length(r->'providers') = 2 AND (r->>'next_offset')::int = 2, 'provider.list pages');
    PERFORM pg_temp.refused('coord', 'provider.list', jsonb_build_object('authority_id', pg_temp.id('a2')), 'forbidden');
END $$;

-- ---------------------------------------------------------------------------
-- supply.create / update / get / list

DO $$
DECLARE
    r jsonb;
    appr date := rs_today() - 100;
BEGIN
    -- a bed, by the coordinator
    r := pg_temp.call('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'bed',
        'name', 'Room 1', 'capabilities', '["dementia","hoist","diet:halal"]'::jsonb, 'languages', '["en","pa"]'::jsonb,
        'price_pence', 12500, 'price_unit', 'night', 'attrs', '{"ensuite":true}'::jsonb));
    PERFORM pg_temp.check(r->'capabilities' = '["dementia","diet:halal","hoist","lang:en","lang:pa"]'
                          AND r->'languages' = '["en","pa"]' AND jsonb_array_length(r->'units') = 1
                          AND (r->>'lat')::float8 = 53.375, 'bed: languages fold into capabilities, one unit, provider''s place');
    PERFORM pg_temp.put('bed1', r->'supply_id');
    PERFORM pg_temp.put('bed1_unit', r->'units'->0->'unit_id');
    r := pg_temp.call('prov2', 'supply.create', '{"kind":"bed","name":"Room 2","capabilities":["dementia"],"price_pence":9000,"price_unit":"night"}');
    PERFORM pg_temp.put('bed2', r->'supply_id');
    PERFORM pg_temp.put('bed2_unit', r->'units'->0->'unit_id');
    r := pg_temp.call('prov2', 'supply.create', '{"kind":"bed","name":"Emergency room","capabilities":["dementia"],"price_pence":9000,"price_unit":"night","emergency_only":true}');
    PERFORM pg_temp.put('bed_emerg', r->'supply_id');

    -- a Punjabi-speaking female worker who supports dementia, by the provider user (own provider implied)
    r := pg_temp.call('prov', 'supply.create', '{"kind":"worker","name":"Amrit Kaur","gender":"female",
        "languages":["en","pa"],"capabilities":["dementia","diet:halal"],"price_pence":2200,"price_unit":"hour",
        "travel_radius_km":8,"min_visit_minutes":120,"max_visit_minutes":600,"travel_buffer_minutes":30}');
    PERFORM pg_temp.check(r->'capabilities' @> '["gender:female","lang:pa","dementia"]' AND r->>'gender' = 'female'
                          AND (r->>'provider_id')::bigint = pg_temp.id('p_sit'), 'worker: gender and languages become capabilities');
    PERFORM pg_temp.put('w1', r->'supply_id');
    PERFORM pg_temp.put('w1_unit', r->'units'->0->'unit_id');
    r := pg_temp.call('prov', 'supply.create', '{"kind":"worker","name":"Tomasz Nowak","gender":"male","languages":["en","pl"],
        "capabilities":["dementia"],"price_pence":2000,"price_unit":"hour","lat":53.41,"lon":-2.95}');
    PERFORM pg_temp.check((r->>'min_visit_minutes')::int = 60 AND (r->>'travel_buffer_minutes')::int = 15, 'worker defaults');
    PERFORM pg_temp.put('w2', r->'supply_id');

    -- a Shared Lives household: two bedrooms and one day place -> three units
    r := pg_temp.call('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_sl'), 'kind', 'household',
        'name', 'The Okafor household', 'capabilities', '["learning_disability","autism","env:smoke_free"]'::jsonb,
        'price_pence', 7500, 'price_unit', 'night', 'bedrooms', 2, 'day_places', 1, 'day_price_pence', 1200,
        'day_price_unit', 'hour', 'compatibility', '{"pets":["cat"],"smoking":false,"household_members":"couple","interests":["music"]}'::jsonb,
        'approved_from', appr, 'approval_expires', appr + 700,
        'sla', '{"guaranteed_income_pence":600000}'::jsonb));
    PERFORM pg_temp.check(jsonb_array_length(r->'units') = 3 AND r->'sla' @> '{"months":12,"target_per_bedroom_per_year":16}',
                          'household: a unit per bedroom and day place; SLA defaults');
    PERFORM pg_temp.put('hh', r->'supply_id');
    PERFORM pg_temp.put('hh_room1', (SELECT to_jsonb(min(id)) FROM unit WHERE supply_id = (r->>'supply_id')::bigint AND kind = 'room'));
    PERFORM pg_temp.put('hh_room2', (SELECT to_jsonb(max(id)) FROM unit WHERE supply_id = (r->>'supply_id')::bigint AND kind = 'room'));
    -- an offer
    r := pg_temp.call('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_hotel'), 'kind', 'offer',
        'name', 'Overnight stay for two', 'capabilities', '["diet:vegetarian","access:wheelchair"]'::jsonb,
        'price_pence', 0, 'price_unit', 'night', 'offer_type', 'overnight_stay', 'party_size', 2,
        'conditions', '{"per_carer_per":"quarter","max":1}'::jsonb, 'dietary_notes', 'Halal on request',
        'expires', rs_today() + 200));
    PERFORM pg_temp.check(r->'conditions' = '{"per_carer_per":"quarter","max":1}' AND jsonb_array_length(r->'units') = 0, 'offer');
    PERFORM pg_temp.put('offer', r->'supply_id');

    -- refusals
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'worker', 'name', 'X', 'price_pence', 1, 'price_unit', 'hour'), 'invalid_params', 'kind');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"X","price_pence":1,"price_unit":"hour","bedrooms":1}', 'invalid_params', 'bedrooms');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"X","price_pence":1,"price_unit":"night"}', 'invalid_params', 'price_unit');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"X","price_pence":1,"price_unit":"hour","capabilities":["dementia","flying"]}', 'invalid_params', 'capabilities[1]');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"X","price_pence":1,"price_unit":"hour","capabilities":["dementia","lang:pa"]}', 'invalid_params', 'capabilities[1]');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"X","price_pence":1,"price_unit":"hour","min_visit_minutes":240,"max_visit_minutes":120}', 'invalid_params', 'max_visit_minutes');
    PERFORM pg_temp.refused('prov', 'supply.create', '{"kind":"worker","name":"Amrit Kaur","price_pence":1,"price_unit":"hour"}', 'conflict', 'name');
    PERFORM pg_temp.refused('prov', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'bed', 'name', 'X', 'price_pence', 1, 'price_unit', 'night'), 'forbidden');
    PERFORM pg_temp.refused('coord2', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'bed', 'name', 'X', 'price_pence', 1, 'price_unit', 'night'), 'not_found');
    PERFORM pg_temp.refused('carer', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'bed', 'name', 'X', 'price_pence', 1, 'price_unit', 'night'), 'forbidden');
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_sl'), 'kind', 'household', 'name', 'X',
        'price_pence', 1, 'price_unit', 'night', 'bedrooms', 1, 'approved_from', appr, 'approval_expires', appr + 800), 'invalid_params', 'approval_expires');
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_sl'), 'kind', 'household', 'name', 'X',
        'price_pence', 1, 'price_unit', 'night', 'bedrooms', 1, 'approved_from', rs_today() - 800, 'approval_expires', rs_today() - 100), 'invalid_params', 'approval_expires');
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_sl'), 'kind', 'household', 'name', 'X',
        'price_pence', 1, 'price_unit', 'night', 'bedrooms', 0, 'day_places', 0, 'approval_expires', rs_today() + 100), 'invalid_params', 'bedrooms');
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_hotel'), 'kind', 'offer', 'name', 'X',
        'price_pence', 1, 'price_unit', 'session', 'offer_type', 'spa', 'expires', rs_today() - 1), 'invalid_params', 'expires');

    -- update: changes validated as a whole; units follow bedrooms
    r := pg_temp.call('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('hh'), 'bedrooms', 1, 'sla', NULL));
    PERFORM pg_temp.check(jsonb_array_length(r->'units') = 2 AND NOT r ? 'sla', 'supply.update: one bedroom fewer, SLA cleared');
    r := pg_temp.call('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('hh'), 'bedrooms', 2));
    PERFORM pg_temp.check(jsonb_array_length(r->'units') = 3
                          AND (SELECT count(*) FROM unit WHERE supply_id = pg_temp.id('hh')) = 3, 'supply.update: the bedroom comes back as the same unit');
    r := pg_temp.call('prov', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('w1'), 'languages', '["en","pa","ur"]'::jsonb));
    PERFORM pg_temp.check(r->'capabilities' @> '["lang:ur","gender:female","dementia"]', 'supply.update keeps derived codes');
    PERFORM pg_temp.refused('prov', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('w1'), 'name', 'Tomasz Nowak'), 'conflict', 'name');
    PERFORM pg_temp.refused('prov', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('w1'), 'kind', 'bed'), 'invalid_params', 'kind');
    PERFORM pg_temp.refused('prov', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('bed1'), 'name', 'Mine'), 'forbidden');
    PERFORM pg_temp.refused('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('hh'), 'approval_expires', appr + 900), 'invalid_params', 'approval_expires');

    -- get / list
    PERFORM pg_temp.check(pg_temp.call('carer', 'supply.get', jsonb_build_object('supply_id', pg_temp.id('hh')))->'compatibility'->>'smoking' = 'false', 'supply.get for a carer');
    PERFORM pg_temp.refused('coord2', 'supply.get', jsonb_build_object('supply_id', pg_temp.id('hh')), 'not_found');
    PERFORM pg_temp.refused('carer', 'supply.get', '{"supply_id": 999999999}', 'not_found');
    r := pg_temp.call('prov', 'supply.list', '{}');
    PERFORM pg_temp.check(jsonb_array_length(r->'supply') = 2, 'supply.list: a provider user sees its own');
    r := pg_temp.call('coord', 'supply.list', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'limit', 1));
    PERFORM pg_temp.check(jsonb_array_length(r->'supply') = 1 AND (r->>'next_offset')::int = 1, 'supply.list pages');
    PERFORM pg_temp.refused('prov', 'supply.list', jsonb_build_object('provider_id', pg_temp.id('p_res')), 'forbidden');
    PERFORM pg_temp.refused('carer', 'supply.list', jsonb_build_object('provider_id', pg_temp.id('p_res')), 'forbidden');
    PERFORM pg_temp.refused('coord', 'supply.list', '{}', 'invalid_params', 'provider_id');
END $$;

-- ---------------------------------------------------------------------------
-- availability.publish

DO $$
DECLARE
    r jsonb;
    d0 date := rs_today();
    dst date;
BEGIN
    -- beds: a year of nights in one range; overlapping and touching ranges merge
    r := pg_temp.call('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 100),
                                    jsonb_build_object('from', d0 + 50, 'to', d0 + 200),
                                    jsonb_build_object('from', d0 + 200, 'to', d0 + 365))));
    PERFORM pg_temp.check((r->>'night_ranges')::int = 1, 'publish merges overlapping and adjacent ranges');
    r := pg_temp.call('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 10, 'to', d0 + 20))));
    PERFORM pg_temp.check((r->>'night_ranges')::int = 1
                          AND (SELECT nights FROM avail_nights WHERE supply_id = pg_temp.id('bed1')) = daterange(d0, d0 + 365),
                          'publishing again changes nothing');
    PERFORM pg_temp.call('prov2', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed2'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 365))));
    PERFORM pg_temp.call('prov2', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed_emerg'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 365))));
    -- bad ranges, each naming its field
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 5, 'to', d0 + 6), jsonb_build_object('from', d0 + 5, 'to', d0 + 3))), 'invalid_params', 'ranges[1].to');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 - 1, 'to', d0 + 3))), 'invalid_params', 'ranges[0].from');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 900))), 'invalid_params', 'ranges[0].to');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 3, 'quantity', 2))), 'invalid_params', 'ranges[0].quantity');
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 3))), 'forbidden');
    PERFORM pg_temp.refused('carer', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 3))), 'forbidden');

    -- workers: shifts as local times (overnight ends next day) or instants
    r := pg_temp.call('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w1'),
        'ranges', (SELECT jsonb_agg(jsonb_build_object('date', d0 + g, 'start_time', '09:00', 'end_time', '17:00')) FROM generate_series(1, 365) g)
               || jsonb_build_array(jsonb_build_object('date', d0 + 30, 'start_time', '21:00', 'end_time', '07:00'))));
    PERFORM pg_temp.check((r->>'spans')::int = 366, 'a year of shifts in one call');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM avail_span WHERE supply_id = pg_temp.id('w1')
                                     AND span = tstzrange((d0 + 30 + time '21:00') AT TIME ZONE 'Europe/London',
                                                          (d0 + 31 + time '07:00') AT TIME ZONE 'Europe/London')),
                          'an overnight shift spans midnight');
    PERFORM pg_temp.call('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('start', pg_temp.at(3, '08:00'), 'end', pg_temp.at(3, '20:00')))));
    -- clocks going forward: 01:30 does not exist on the last Sunday of March
    dst := make_date(extract(year FROM d0)::int + 1, 3, 31);
    dst := dst - extract(dow FROM dst)::int;
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('date', dst, 'start_time', '01:30', 'end_time', '06:00'))), 'invalid_params', 'ranges[0].start_time');
    -- an overnight shift across that change is an hour shorter, in instants
    PERFORM pg_temp.call('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('date', dst - 1, 'start_time', '20:00', 'end_time', '08:00'))));
    PERFORM pg_temp.check((SELECT upper(span) - lower(span) FROM avail_span WHERE supply_id = pg_temp.id('w2')
                            AND lower(span) = (dst - 1 + time '20:00') AT TIME ZONE 'Europe/London') = interval '11 hours',
                          'DST: 20:00-08:00 across the spring change lasts 11 hours');
    -- clocks going back: 01:00-01:59 happens twice on the last Sunday of
    -- October; a local time in it is the first (BST) occurrence
    dst := make_date(extract(year FROM d0)::int, 10, 31);
    dst := dst - extract(dow FROM dst)::int;
    IF dst <= d0 THEN
        dst := make_date(extract(year FROM d0)::int + 1, 10, 31);
        dst := dst - extract(dow FROM dst)::int;
    END IF;
    PERFORM pg_temp.call('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('date', dst, 'start_time', '01:30', 'end_time', '03:00'))));
    PERFORM pg_temp.check((SELECT upper(span) - lower(span) FROM avail_span WHERE supply_id = pg_temp.id('w2')
                            AND lower(span) = (dst + time '00:30') AT TIME ZONE 'UTC') = interval '150 minutes',
                          'DST: 01:30-03:00 on the autumn change starts at 00:30Z (the first 01:30) and lasts 150 minutes');
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('start', pg_temp.at(3, '20:00'), 'end', pg_temp.at(3, '08:00')))), 'invalid_params', 'ranges[0].end');
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('start', pg_temp.at(-2, '08:00'), 'end', pg_temp.at(-2, '20:00')))), 'invalid_params', 'ranges[0].start');
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 3, 'to', d0 + 4))), 'invalid_params', 'ranges[0].from');
    PERFORM pg_temp.refused('prov', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('w2'),
        'ranges', jsonb_build_array(jsonb_build_object('start', pg_temp.at(3, '08:00'), 'end_time', '20:00'))), 'invalid_params', 'ranges[0].end_time');

    -- households: stays and day support, only inside the approval period
    PERFORM pg_temp.call('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('hh'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 300),
                                    jsonb_build_object('date', d0 + 5, 'start_time', '10:00', 'end_time', '16:00'))));
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('hh'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 700))), 'invalid_params', 'ranges[0].to');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('hh'),
        'ranges', jsonb_build_array(jsonb_build_object('date', d0 + 650, 'start_time', '10:00', 'end_time', '16:00'))), 'invalid_params', 'ranges[0].end');

    -- offers: a quantity per date or per timed session
    r := pg_temp.call('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 1, 'to', d0 + 31, 'quantity', 2),
                                    jsonb_build_object('day', d0 + 40, 'quantity', 1))));
    PERFORM pg_temp.check((r->>'sessions')::int = 31, 'offer sessions for a month and a day');
    r := pg_temp.call('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 40, 'quantity', 3))));
    PERFORM pg_temp.check((SELECT quantity FROM offer_session WHERE supply_id = pg_temp.id('offer') AND day = d0 + 40) = 3,
                          'publishing a session again sets its quantity');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 41, 'quantity', 1), jsonb_build_object('day', d0 + 41, 'quantity', 2))), 'invalid_params', 'ranges[1]');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 201, 'quantity', 1))), 'invalid_params', 'ranges[0].day');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 41))), 'invalid_params', 'ranges[0].quantity');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('date', d0 + 41, 'quantity', 1))), 'invalid_params', 'ranges[0].date');
    -- a session that started earlier today is in the past (00:00 today has always passed)
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0, 'starts_at', '00:00', 'quantity', 1))), 'invalid_params', 'ranges[0].starts_at');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0, 'to', d0 + 2, 'starts_at', '00:00', 'quantity', 1))), 'invalid_params', 'ranges[0].starts_at');
END $$;

-- ---------------------------------------------------------------------------
-- availability.withdraw and availability.list

DO $$
DECLARE
    r jsonb;
    d0 date := rs_today();
    det jsonb;
BEGIN
    -- closing a week for maintenance splits the range
    r := pg_temp.call('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 60, 'to', d0 + 67))));
    PERFORM pg_temp.check((r->>'nights_removed')::int = 7 AND (r->>'night_ranges')::int = 2, 'withdraw splits a range');
    r := pg_temp.call('coord', 'availability.list', jsonb_build_object('supply_id', pg_temp.id('bed1'), 'from', d0 + 50, 'to', d0 + 80));
    PERFORM pg_temp.check(r->'nights' = jsonb_build_array(rs_nights_json(daterange(d0, d0 + 60)), rs_nights_json(daterange(d0 + 67, d0 + 365))),
                          'availability.list shows the gap');
    -- a booked stay cannot be withdrawn: refused, naming the booking
    PERFORM pg_temp.allocate(9001, pg_temp.id('bed1_unit'), daterange(d0 + 20, d0 + 23), NULL);
    det := pg_temp.refused('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 10, 'to', d0 + 30))), 'booked');
    PERFORM pg_temp.check(det->'bookings' = '[9001]', 'withdraw refused names booking 9001');
    PERFORM pg_temp.check(EXISTS (SELECT 1 FROM avail_nights WHERE supply_id = pg_temp.id('bed1') AND nights @> daterange(d0 + 10, d0 + 30)),
                          'a refused withdraw changes nothing');
    r := pg_temp.call('coord', 'availability.list', jsonb_build_object('supply_id', pg_temp.id('bed1')));
    PERFORM pg_temp.check(r->'allocations' @> '[{"booking_id":9001}]', 'availability.list shows allocations');
    -- a worker's visit holds the travel buffer after it too
    PERFORM pg_temp.allocate(9002, pg_temp.id('w1_unit'),
        NULL, tstzrange((d0 + 10 + time '10:00') AT TIME ZONE 'Europe/London', (d0 + 10 + time '12:30') AT TIME ZONE 'Europe/London'));
    det := pg_temp.refused('prov', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('w1'),
        'ranges', jsonb_build_array(jsonb_build_object('date', d0 + 10, 'start_time', '09:00', 'end_time', '17:00'))), 'booked');
    PERFORM pg_temp.check(det->'bookings' = '[9002]', 'withdraw of a booked shift names booking 9002');
    r := pg_temp.call('prov', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('w1'),
        'ranges', jsonb_build_array(jsonb_build_object('date', d0 + 11, 'start_time', '09:00', 'end_time', '17:00'))));
    PERFORM pg_temp.check((r->>'minutes_removed')::int = 480, 'withdraw a free shift');
    -- offers: a session with seats booked cannot be withdrawn or cut below them
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO offer_allocation (booking_id, session_id, seats)
    SELECT 9003, id, 1 FROM offer_session WHERE supply_id = pg_temp.id('offer') AND day = d0 + 40;
    PERFORM set_config('session_replication_role', 'origin', true);
    UPDATE offer_session SET booked = 1 WHERE supply_id = pg_temp.id('offer') AND day = d0 + 40;
    det := pg_temp.refused('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 + 35, 'to', d0 + 45))), 'booked');
    PERFORM pg_temp.check(det->'bookings' = '[9003]', 'withdraw of a booked session names booking 9003');
    PERFORM pg_temp.refused('coord', 'availability.publish', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 40, 'quantity', 0))), 'booked', 'ranges[0].quantity');
    r := pg_temp.call('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 2))));
    PERFORM pg_temp.check((r->>'sessions_removed')::int = 1
                          AND NOT EXISTS (SELECT 1 FROM offer_session WHERE supply_id = pg_temp.id('offer') AND day = d0 + 2),
                          'withdraw an unbooked session');
    -- refusals
    PERFORM pg_temp.refused('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('bed1'),
        'ranges', jsonb_build_array(jsonb_build_object('from', d0 - 3, 'to', d0 + 1))), 'invalid_params', 'ranges[0].from');
    PERFORM pg_temp.refused('coord', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('offer'),
        'ranges', jsonb_build_array(jsonb_build_object('day', d0 + 2, 'quantity', 1))), 'invalid_params', 'ranges[0].quantity');
    PERFORM pg_temp.refused('prov2', 'availability.withdraw', jsonb_build_object('supply_id', pg_temp.id('w1'),
        'ranges', jsonb_build_array(jsonb_build_object('date', d0 + 12, 'start_time', '09:00', 'end_time', '17:00'))), 'forbidden');
    PERFORM pg_temp.refused('coord', 'availability.list', jsonb_build_object('supply_id', pg_temp.id('bed1'), 'from', d0 + 10, 'to', d0 + 5), 'invalid_params', 'to');
    PERFORM pg_temp.refused('carer', 'availability.list', jsonb_build_object('supply_id', pg_temp.id('bed1')), 'forbidden');

    -- provider.bookings: capacity held in the provider's supply. (Issue 4
    -- decorates each row with its booking, which these fake allocations do
    -- not have, so the rows' content is checked only before 004.)
    r := pg_temp.call('prov', 'provider.bookings', '{}');
    PERFORM pg_temp.check(jsonb_array_length(r->'bookings') = 1
                          AND (to_regclass('booking') IS NOT NULL OR r->'bookings' @> '[{"booking_id":9002,"kind":"worker"}]'),
                          'provider.bookings for a provider user');
    r := pg_temp.call('coord', 'provider.bookings', jsonb_build_object('provider_id', pg_temp.id('p_hotel')));
    PERFORM pg_temp.check(jsonb_array_length(r->'bookings') = 1
                          AND (to_regclass('booking') IS NOT NULL OR r->'bookings' @> '[{"booking_id":9003,"seats":1}]'),
                          'provider.bookings shows seats');
    PERFORM pg_temp.refused('prov', 'provider.bookings', jsonb_build_object('provider_id', pg_temp.id('p_res')), 'forbidden');

    -- supply with upcoming bookings cannot be taken out of service
    det := pg_temp.refused('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('bed1'), 'active', false), 'booked');
    PERFORM pg_temp.check(det->'bookings' = '[9001]', 'deactivation refused names the booking');
    -- nor a bedroom holding one be given up
    PERFORM pg_temp.allocate(9004, pg_temp.id('hh_room2'), daterange(d0 + 5, d0 + 8), NULL);
    PERFORM pg_temp.allocate(9005, pg_temp.id('hh_room1'), daterange(d0 + 5, d0 + 8), NULL);
    PERFORM pg_temp.refused('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('hh'), 'bedrooms', 1), 'booked');
END $$;

-- ---------------------------------------------------------------------------
-- availability.search

DO $$
DECLARE
    r jsonb;
    d0 date := rs_today();
    ids bigint[];
BEGIN
    -- beds: booked, emergency-only and other authorities' beds are never shown
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 21, 'to', d0 + 22));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed2')], 'a booked bed and an emergency bed are not offered');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed2'), pg_temp.id('bed1')], 'cheapest first without other keys');
    PERFORM pg_temp.check(r->'results'->0->'reasons' @> '["£90.00 per night, £270.00 in all"]'
                          AND (r->'results'->0->>'cost_pence')::int = 27000 AND r->>'ranking' LIKE 'preferred%',
                          'price and cost per result, ranking stated');
    -- a withdrawn week is not offered; a stay across it neither
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 58, 'to', d0 + 62));
    PERFORM pg_temp.check(NOT pg_temp.id('bed1') = ANY (pg_temp.found(r)), 'a stay across withdrawn nights is not offered');
    -- needs: all must be met
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33,
        'needs', '["dementia","hoist"]'::jsonb));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed1')] AND r->'results'->0->>'needs_met' = '2/2'
                          AND r->'results'->0->'reasons' @> '["meets 2/2 needs"]', 'every need must be met');
    -- wishes rank; preferred supply ranks first
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33,
        'wishes', '["diet:halal"]'::jsonb));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed1'), pg_temp.id('bed2')] AND r->'results'->0->>'wishes_met' = '1/1', 'wishes rank first');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33,
        'wishes', '["diet:halal"]'::jsonb, 'preferred_supply_ids', jsonb_build_array(pg_temp.id('bed2'))));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed2'), pg_temp.id('bed1')]
                          AND r->'results'->0->'reasons' @> '["chosen before"]', 'preferred ranks above wishes');
    -- locality: inside the radius only, nearest first, with its distance
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33,
        'near', '{"lat":53.375,"lon":-2.91,"radius_km":2}'::jsonb));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'beds 3.3 km away are outside a 2 km radius');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33,
        'near', '{"lat":53.375,"lon":-2.91,"radius_km":5}'::jsonb));
    PERFORM pg_temp.check(cardinality(pg_temp.found(r)) = 2 AND (r->'results'->0->>'distance_km')::numeric = 3.3
                          AND r->'results'->0->'reasons' @> '["3.3 km away"]', 'beds inside a 5 km radius, 3.3 km away');
    -- max cost
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33, 'max_cost_pence', 30000));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed2')], 'max_cost_pence');
    -- pagination
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33, 'limit', 1));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed2')] AND (r->>'next_offset')::int = 1, 'first page');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33, 'limit', 1, 'offset', 1));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('bed1')] AND r->'next_offset' = 'null' AND (r->'results'->0->>'rank')::int = 2, 'last page');
    -- another authority's coordinator sees none of it
    r := pg_temp.call('coord2', 'availability.search', jsonb_build_object('from', d0 + 30, 'to', d0 + 33));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'search stays inside the authority');
    PERFORM pg_temp.refused('coord2', 'availability.search', jsonb_build_object('authority_id', pg_temp.id('a1'), 'from', d0 + 30, 'to', d0 + 33), 'forbidden');
    PERFORM pg_temp.refused('admin', 'availability.search', jsonb_build_object('from', d0 + 30, 'to', d0 + 33), 'invalid_params', 'authority_id');
    r := pg_temp.call('admin', 'availability.search', jsonb_build_object('authority_id', pg_temp.id('a1'), 'kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33));
    PERFORM pg_temp.check(cardinality(pg_temp.found(r)) = 2, 'an administrator names the authority');

    -- workers: language, gender, distance, travel radius, visit length, buffer
    r := pg_temp.call('handler', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(20, '10:00'), 'end', pg_temp.at(20, '13:00'), 'needs', '["dementia"]'::jsonb,
        'language', 'pa', 'gender', 'female', 'near', '{"lat":53.39,"lon":-2.965,"radius_km":5}'::jsonb));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('w1')]
                          AND r->'results'->0->'reasons' @> '["speaks Punjabi","female worker","meets 1/1 needs","0.0 km away"]'
                          AND (r->'results'->0->>'cost_pence')::int = 6600, 'Punjabi-speaking female worker for dementia, nearby, 3 h at £22');
    r := pg_temp.call('handler', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(3, '10:00'), 'end', pg_temp.at(3, '13:00'), 'gender', 'male'));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('w2')] AND r->'results'->0->'reasons' @> '["male worker"]',
                          'gender preference');
    r := pg_temp.call('handler', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(20, '10:00'), 'end', pg_temp.at(20, '13:00'), 'near', '{"lat":53.47,"lon":-2.96,"radius_km":20}'::jsonb));
    PERFORM pg_temp.check(NOT pg_temp.id('w1') = ANY (pg_temp.found(r)), 'a worker is not offered beyond their travel radius');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(20, '10:00'), 'end', pg_temp.at(20, '11:00')));
    PERFORM pg_temp.check(NOT pg_temp.id('w1') = ANY (pg_temp.found(r)), 'a visit shorter than the worker''s minimum is not offered');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(20, '16:00'), 'end', pg_temp.at(20, '18:00')));
    PERFORM pg_temp.check(NOT pg_temp.id('w1') = ANY (pg_temp.found(r)), 'a visit outside the shift is not offered');
    -- booking 9002 holds 10:00-12:30 on day 10 (12:00 visit + 30 min buffer)
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(10, '12:15'), 'end', pg_temp.at(10, '14:30'), 'supply_id', pg_temp.id('w1')));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'a visit inside another''s travel buffer is not offered');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(10, '12:30'), 'end', pg_temp.at(10, '14:30'), 'supply_id', pg_temp.id('w1')));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('w1')], 'a particular worker, right after the buffer');
    -- and a visit whose own buffer runs into the next one (15:00) is not offered
    PERFORM pg_temp.allocate(9006, pg_temp.id('w1_unit'),
        NULL, tstzrange((d0 + 10 + time '15:00') AT TIME ZONE 'Europe/London', (d0 + 10 + time '16:30') AT TIME ZONE 'Europe/London'));
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(10, '12:30'), 'end', pg_temp.at(10, '14:45'), 'supply_id', pg_temp.id('w1')));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'a visit whose own buffer runs into the next visit is not offered');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb,
        'start', pg_temp.at(3, '09:00'), 'end', pg_temp.at(3, '12:00'), 'preferred_supply_ids', jsonb_build_array(pg_temp.id('w1'))));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('w1'), pg_temp.id('w2')]
                          AND r->'results'->0->'reasons' @> '["same worker as last time"]',
                          'same worker as last time ranks first, above a cheaper one');

    -- households: stays need a free room, day support a free day place, and approval
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["household"]'::jsonb, 'from', d0 + 6, 'to', d0 + 7));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'both rooms booked: no stay');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["household"]'::jsonb, 'from', d0 + 8, 'to', d0 + 10,
        'needs', '["autism","env:smoke_free"]'::jsonb));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('hh')] AND r->'results'->0->>'mode' = 'stay'
                          AND (r->'results'->0->>'unit_id')::bigint IN (pg_temp.id('hh_room1'), pg_temp.id('hh_room2')), 'a household stay');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["household"]'::jsonb,
        'start', pg_temp.at(5, '11:00'), 'end', pg_temp.at(5, '15:00')));
    PERFORM pg_temp.check(r->'results'->0->>'mode' = 'day' AND (r->'results'->0->>'cost_pence')::int = 4800, 'day support priced by its own rate');
    UPDATE supply SET approval_expires = rs_today() + 9, approved_from = rs_today() - 600 WHERE id = pg_temp.id('hh');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["household"]'::jsonb, 'from', d0 + 8, 'to', d0 + 10));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'a stay past the approval is not offered');
    UPDATE supply SET approval_expires = rs_today(), approved_from = rs_today() - 600 WHERE id = pg_temp.id('hh');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["household"]'::jsonb, 'from', d0 + 1, 'to', d0 + 2));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'an expired carer is not offered');

    -- offers: a session with seats, not after expiry
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["offer"]'::jsonb, 'from', d0 + 2, 'to', d0 + 4,
        'needs', '["diet:vegetarian"]'::jsonb));
    PERFORM pg_temp.check(pg_temp.found(r) = ARRAY[pg_temp.id('offer')] AND (r->'results'->0->>'day')::date = d0 + 3
                          AND (r->'results'->0->>'seats_left')::int = 2 AND r->'results'->0->'reasons' @> '["free"]',
                          'the first session with seats (day 2 was withdrawn)');
    -- fill the session as bookings would: seats allocated and counted
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO offer_allocation (booking_id, session_id, seats)
    SELECT 9004, id, quantity FROM offer_session WHERE supply_id = pg_temp.id('offer') AND day = d0 + 3;
    PERFORM set_config('session_replication_role', 'origin', true);
    UPDATE offer_session SET booked = quantity WHERE supply_id = pg_temp.id('offer') AND day = d0 + 3;
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["offer"]'::jsonb, 'from', d0 + 3, 'to', d0 + 4));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'a full session is not offered');
    UPDATE supply SET expires = rs_today() + 4 WHERE id = pg_temp.id('offer');
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["offer"]'::jsonb, 'from', d0 + 5, 'to', d0 + 6));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'an expired offer is not offered');

    -- every kind at once; only kinds whose window was given
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('from', d0 + 30, 'to', d0 + 31));
    PERFORM pg_temp.check(NOT jsonb_path_exists(r, '$.results[*] ? (@.kind == "worker")')
                          AND jsonb_path_exists(r, '$.results[*] ? (@.kind == "bed")'), 'all kinds by nights: no workers');

    -- bad search params, each naming its field
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('from', d0 + 3), 'invalid_params', 'to');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('from', d0 + 3, 'to', d0 + 3), 'invalid_params', 'to');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('from', d0 - 3, 'to', d0 + 3), 'invalid_params', 'from');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('start', pg_temp.at(3, '12:00'), 'end', pg_temp.at(3, '11:00')), 'invalid_params', 'end');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('start', pg_temp.at(-3, '12:00'), 'end', pg_temp.at(-3, '14:00')), 'invalid_params', 'start');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('kinds', '["worker"]'::jsonb, 'from', d0 + 3, 'to', d0 + 4), 'invalid_params', 'start');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('from', d0 + 3, 'to', d0 + 4, 'needs', '["dementia","unicorns"]'::jsonb), 'invalid_params', 'needs[1]');
    PERFORM pg_temp.refused('carer', 'availability.search', jsonb_build_object('from', d0 + 3, 'to', d0 + 4, 'language', 'xx'), 'invalid_params', 'language');

    -- a provider taken out of service takes its supply out of search
    PERFORM pg_temp.refused('coord', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'active', false), 'booked');
    UPDATE allocation SET active = false WHERE booking_id = 9001;
    PERFORM pg_temp.call('coord', 'provider.update', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'active', false));
    r := pg_temp.call('carer', 'availability.search', jsonb_build_object('kinds', '["bed"]'::jsonb, 'from', d0 + 30, 'to', d0 + 33));
    PERFORM pg_temp.check(jsonb_array_length(r->'results') = 0, 'an inactive provider''s beds are not offered');
    PERFORM pg_temp.refused('coord', 'supply.update', jsonb_build_object('supply_id', pg_temp.id('bed2'), 'active', true), 'invalid_state');
    PERFORM pg_temp.refused('coord', 'supply.create', jsonb_build_object('provider_id', pg_temp.id('p_res'), 'kind', 'bed',
        'name', 'Room 9', 'price_pence', 1, 'price_unit', 'night'), 'invalid_state');
END $$;

-- ---------------------------------------------------------------------------
-- The generator (not part of a deployment: loaded here, as benchmarks do)

\ir ../../clients/gen/generate.sql

DO $$
DECLARE
    r jsonb := gen.generate_inventory(pg_temp.id('a2'), 30, 0.5);
    s jsonb;
BEGIN
    PERFORM pg_temp.check(r->'supply' = '{"bed":30,"worker":30,"household":30,"offer":30}' AND (r->>'providers')::int = 8
                          AND (r->>'spans')::int > 30 * 200 AND (r->>'offer_sessions')::int > 30 * 50,
                          'gen.generate_inventory counts: ' || r::text);
    s := pg_temp.call('coord2', 'availability.search', jsonb_build_object('from', rs_today() + 30, 'to', rs_today() + 32,
        'near', '{"lat":53.41,"lon":-2.98,"radius_km":15}'::jsonb));
    PERFORM pg_temp.check(jsonb_array_length(s->'results') = 20, 'generated supply is found by search');
END $$;

\echo 002_inventory_test: all checks passed
