-- ---------------------------------------------------------------------------
-- Providers

CREATE FUNCTION rs_provider_json(pr provider) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'provider_id', pr.id, 'authority_id', pr.authority_id, 'type', pr.type,
        'supplies', pr.supplies, 'name', pr.name,
        'postcode_district', pr.postcode_district, 'lat', pr.lat, 'lon', pr.lon,
        'languages', to_jsonb(pr.languages), 'capabilities', to_jsonb(pr.capabilities),
        'cqc_rating', pr.cqc_rating, 'active', pr.active,
        'supply_count', (SELECT count(*) FROM supply s WHERE s.provider_id = pr.id AND s.active))
$$;

-- Coordinates (the gate keeps them inside England).
CREATE FUNCTION rs_p_lat(p jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT rs_p_num(p, 'lat') $$;

CREATE FUNCTION rs_p_lon(p jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT rs_p_num(p, 'lon') $$;

CREATE FUNCTION rs_p_cqc(p jsonb, ptype provider_type) RETURNS cqc_rating
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r text := rs_p_enum(p, 'cqc_rating');
BEGIN
    IF r IS NOT NULL AND ptype = 'hotel_leisure' THEN
        PERFORM rs_bad_param('cqc_rating', 'hotel and leisure partners are not CQC-regulated');
    END IF;
    RETURN r::cqc_rating;
END $$;

CREATE FUNCTION provider_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
    v_type provider_type;
    pr provider;
BEGIN
    v_auth := rs_target_authority(ctx, v_auth, 'providers');
    v_type := rs_p_enum(p, 'type');
    IF EXISTS (SELECT 1 FROM provider WHERE authority_id = v_auth AND name = p->>'name') THEN
        PERFORM rs_raise('conflict', 'a provider with this name exists in the authority',
                         jsonb_build_object('field', 'name'));
    END IF;
    INSERT INTO provider (authority_id, type, name, postcode_district, lat, lon,
                          languages, capabilities, cqc_rating)
    VALUES (v_auth, v_type, rs_p_text(p, 'name'), rs_p_district(p), rs_p_lat(p), rs_p_lon(p),
            coalesce(rs_p_langs(p, 'languages'), '{}'), coalesce(rs_p_caps(p, 'capabilities'), '{}'),
            rs_p_cqc(p, v_type))
    RETURNING * INTO pr;
    RETURN rs_provider_json(pr);
END $$;

-- Fields present are changed; absent ones are kept. A provider user may
-- correct its own details but not its CQC rating or whether it is active.
CREATE FUNCTION provider_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    pr provider;
    held bigint[];
BEGIN
    pr := rs_provider_for(ctx, rs_p_int(p, 'provider_id'), true);
    IF ctx->>'role' = 'provider' AND (p ? 'cqc_rating' OR p ? 'active') THEN
        PERFORM rs_raise('forbidden', 'the CQC rating and active flag are set by the authority',
                         jsonb_build_object('field', CASE WHEN p ? 'cqc_rating' THEN 'cqc_rating' ELSE 'active' END));
    END IF;
    IF p ? 'name' AND p->>'name' IS DISTINCT FROM pr.name
       AND EXISTS (SELECT 1 FROM provider WHERE authority_id = pr.authority_id AND name = p->>'name') THEN
        PERFORM rs_raise('conflict', 'a provider with this name exists in the authority',
                         jsonb_build_object('field', 'name'));
    END IF;
    -- Taking a provider out of service must not silently cancel breaks.
    IF rs_p_bool(p, 'active') = false AND pr.active THEN
        SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}') INTO held
          FROM supply s, unnest(rs_bookings_ahead(s.id)) b WHERE s.provider_id = pr.id;
        IF cardinality(held) > 0 THEN
            PERFORM rs_raise('booked', 'the provider has upcoming bookings',
                             jsonb_build_object('bookings', held));
        END IF;
    END IF;
    -- A provider out of service takes its supply with it (so search need
    -- not look at providers); reactivating it reactivates nothing: each
    -- supply is switched back on with supply.update.
    IF rs_p_bool(p, 'active') = false THEN
        UPDATE supply SET active = false, updated_at = now() WHERE provider_id = pr.id AND active;
    END IF;
    UPDATE provider SET
        name = coalesce(rs_p_text(p, 'name'), name),
        postcode_district = coalesce(rs_p_district(p), postcode_district),
        lat = coalesce(rs_p_lat(p), lat),
        lon = coalesce(rs_p_lon(p), lon),
        languages = coalesce(rs_p_langs(p, 'languages'), languages),
        capabilities = coalesce(rs_p_caps(p, 'capabilities'), capabilities),
        cqc_rating = CASE WHEN p ? 'cqc_rating' THEN rs_p_cqc(p, type) ELSE cqc_rating END,
        active = coalesce(rs_p_bool(p, 'active'), active),
        updated_at = now()
     WHERE id = pr.id
    RETURNING * INTO pr;
    RETURN rs_provider_json(pr);
END $$;

CREATE FUNCTION provider_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN rs_provider_json(rs_provider_for(ctx, rs_p_int(p, 'provider_id'), false));
END $$;

CREATE FUNCTION provider_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
    v_type text := rs_p_enum(p, 'type');
    v_limit int := rs_p_limit(p, 50);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    IF ctx->>'role' <> 'admin' THEN
        IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may list only your own authority''s providers');
        END IF;
        v_auth := rs_authority(ctx);
    END IF;
    SELECT coalesce(jsonb_agg(rs_provider_json(pr) ORDER BY pr.name, pr.id), '[]') INTO rows
      FROM (SELECT * FROM provider
             WHERE (v_auth IS NULL OR authority_id = v_auth)
               AND (v_type IS NULL OR type = v_type::provider_type)
             ORDER BY name, id LIMIT v_limit + 1 OFFSET v_offset) pr;
    RETURN jsonb_build_object(
        'providers', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;

-- ---------------------------------------------------------------------------
-- provider.bookings shows, for each allocation, what a provider needs to
-- know about its booking (this replaces 002's empty placeholder): its status and who is
-- coming with which needs (no budgets: those are the family's).
CREATE FUNCTION rs_provider_booking_json(bid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'status', b.status, 'break_kind', b.break_kind, 'mode', b.mode,
        'hold_expires_at', rs_ts_text(b.expires_at),
        'person', (SELECT jsonb_build_object('name', pe.name, 'needs', to_jsonb(pe.needs),
                                             'languages', to_jsonb(pe.languages))
                     FROM person pe WHERE pe.id = b.person_id),
        'carer', (SELECT jsonb_strip_nulls(jsonb_build_object('name', c.name, 'phone', c.phone))
                    FROM carer c WHERE c.id = b.carer_id),
        'cost_pence', b.cost_pence, 'donated', b.donated))
      FROM booking b WHERE b.id = bid
$$;

-- provider.bookings: capacity held in a provider's supply in a window,
-- each with what rs_provider_booking_json says of its booking.
CREATE FUNCTION provider_bookings(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
    w daterange := rs_p_window(p, 90);
    ws tstzrange;
    v_limit int := rs_p_limit(p, 50);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    ws := tstzrange(rs_midnight(lower(w)), rs_midnight(upper(w)));
    SELECT coalesce(jsonb_agg(x.j || coalesce(rs_provider_booking_json(x.booking_id), '{}')
                              ORDER BY x.starts, x.id), '[]') INTO rows FROM (
        SELECT * FROM (
            SELECT a.id, a.booking_id, coalesce(rs_midnight(lower(a.nights)), lower(a.span)) AS starts,
                   jsonb_build_object('allocation_id', a.id, 'booking_id', a.booking_id,
                       'supply_id', s.id, 'supply_name', s.name, 'kind', s.kind,
                       'unit_id', u.id, 'unit', u.label)
                   || CASE WHEN a.nights IS NOT NULL THEN jsonb_build_object('nights', rs_nights_json(a.nights))
                           ELSE jsonb_build_object('span', rs_span_json(a.span)) END AS j
              FROM supply s JOIN unit u ON u.supply_id = s.id
              JOIN allocation a ON a.unit_id = u.id AND a.active
             WHERE s.provider_id = pr.id AND (a.nights && w OR a.span && ws)
            UNION ALL
            SELECT oa.id, oa.booking_id, coalesce(os.starts_at, rs_midnight(os.day)),
                   jsonb_build_object('offer_allocation_id', oa.id, 'booking_id', oa.booking_id,
                       'supply_id', s.id, 'supply_name', s.name, 'kind', s.kind,
                       'session_id', os.id, 'day', os.day, 'starts_at', rs_ts_text(os.starts_at),
                       'seats', oa.seats)
              FROM supply s JOIN offer_session os ON os.supply_id = s.id
              JOIN offer_allocation oa ON oa.session_id = os.id AND oa.active
             WHERE s.provider_id = pr.id AND os.day <@ w) y
         ORDER BY starts, id LIMIT v_limit + 1 OFFSET v_offset) x;
    RETURN jsonb_build_object(
        'provider_id', pr.id, 'from', lower(w), 'to', upper(w),
        'bookings', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;
