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
    a jsonb := rs_p_array(p, 'kinds');
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
    n jsonb := rs_p_object(p, 'near');
BEGIN
    IF n IS NULL THEN
        RETURN;
    END IF;
    lat := rs_p_num(n, 'lat');
    lon := rs_p_num(n, 'lon');
    radius := rs_p_num(n, 'radius_km');
END $$;

-- Generic plans on purpose: the statement's shape (rank, then probe in
-- order) suits every search, and planning it afresh costs more than
-- running it (measured: ~4 ms to plan, ~1-3 ms to run). A generic plan
-- cannot know that one authority is a small slice of supply, so it is
-- kept off sequential scans: candidates come from supply_searchable.
CREATE FUNCTION availability_search(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
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
    v_lang text := rs_p_text(p, 'language');
    v_lang_label text;
    v_gender text := rs_p_enum(p, 'gender');
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
    v_supply bigint := rs_p_int(p, 'supply_id');
    v_pref bigint[] := coalesce(rs_p_ids(p, 'preferred_supply_ids'), '{}');
    v_max bigint := rs_p_int(p, 'max_cost_pence');
    v_limit int := rs_p_limit(p, 20);
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
