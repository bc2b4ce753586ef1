-- Supply: beds, care workers, Shared Lives households and hotel and
-- leisure offers, with their kind-specific profiles and their units.

CREATE FUNCTION rs_supply_for(ctx jsonb, sid bigint, manage boolean) RETURNS supply
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s supply;
BEGIN
    SELECT * INTO s FROM supply WHERE id = sid;
    IF NOT FOUND OR (ctx->>'role' <> 'admin' AND s.authority_id IS DISTINCT FROM rs_authority(ctx)) THEN
        PERFORM rs_raise('not_found', 'no such supply', jsonb_build_object('supply_id', sid));
    END IF;
    PERFORM rs_provider_for(ctx, s.provider_id, manage);
    RETURN s;
END $$;

-- The supply a call names in params.supply_id (the gate requires it), within reach.
CREATE FUNCTION rs_supply_named(ctx jsonb, p jsonb, manage boolean) RETURNS supply
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN rs_supply_for(ctx, rs_p_int(p, 'supply_id'), manage);
END $$;

-- ---------------------------------------------------------------------------
-- Supply

-- Params each kind accepts besides the common ones; a field of another
-- kind is refused by name ("bedrooms: not allowed for kind worker").
CREATE FUNCTION rs_supply_fields(k supply_kind) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['idempotency_key', 'provider_id', 'supply_id', 'kind', 'name', 'capabilities',
                 'languages', 'emergency_only', 'price_pence', 'price_unit', 'lat', 'lon',
                 'attrs', 'active']
        || CASE k
             WHEN 'worker' THEN ARRAY['gender', 'travel_radius_km', 'min_visit_minutes',
                                      'max_visit_minutes', 'travel_buffer_minutes']
             WHEN 'household' THEN ARRAY['bedrooms', 'day_places', 'day_price_pence',
                                         'day_price_unit', 'compatibility', 'approved_from',
                                         'approval_expires', 'sla']
             WHEN 'offer' THEN ARRAY['offer_type', 'party_size', 'duration_minutes',
                                     'conditions', 'dietary_notes', 'expires']
             ELSE '{}'::text[] END
$$;

CREATE FUNCTION rs_price_units(k supply_kind) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE k WHEN 'bed' THEN ARRAY['night']
                  WHEN 'worker' THEN ARRAY['hour', 'session']
                  WHEN 'household' THEN ARRAY['night', 'stay']
                  ELSE ARRAY['session', 'night'] END
$$;

-- A supply's current state in the shape of supply.create params, so an
-- update can be validated as "the current state with these changes".
CREATE FUNCTION rs_supply_params(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(to_jsonb(s) - 'id' - 'provider_id' - 'authority_id' - 'kind'
                             - 'active' - 'created_at' - 'updated_at' - 'sla_starts'
                             - 'sla_months' - 'sla_guaranteed_pence' - 'sla_target_per_bedroom')
        || jsonb_build_object(
               'capabilities', to_jsonb(ARRAY(SELECT c FROM unnest(s.capabilities) c
                                               WHERE c !~ '^(lang|gender):' ORDER BY c)),
               'languages', to_jsonb(ARRAY(SELECT substr(c, 6) FROM unnest(s.capabilities) c
                                            WHERE c ~ '^lang:' ORDER BY c)))
        || CASE WHEN s.sla_starts IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('sla', jsonb_build_object(
                         'starts', s.sla_starts, 'months', s.sla_months,
                         'guaranteed_income_pence', s.sla_guaranteed_pence,
                         'target_per_bedroom_per_year', s.sla_target_per_bedroom)) END
      FROM supply s WHERE s.id = sid
$$;

CREATE FUNCTION rs_worker_norm(d jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_min int := coalesce(rs_p_int(d, 'min_visit_minutes'), 60);
    v_max int := coalesce(rs_p_int(d, 'max_visit_minutes'), 720);
BEGIN
    IF v_max < v_min THEN
        PERFORM rs_bad_param('max_visit_minutes', 'must not be less than min_visit_minutes');
    END IF;
    RETURN jsonb_build_object(
        'gender', rs_p_enum(d, 'gender'),
        'travel_radius_km', coalesce(rs_p_num(d, 'travel_radius_km'), 10),
        'min_visit_minutes', v_min, 'max_visit_minutes', v_max,
        'travel_buffer_minutes', coalesce(rs_p_int(d, 'travel_buffer_minutes'), 15));
END $$;

-- `given` is what the caller sent: checks against today apply only to
-- dates the caller is setting now, so an expired household can still be
-- renamed or re-approved.
CREATE FUNCTION rs_household_norm(d jsonb, given jsonb, is_new boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_rooms int := coalesce(rs_p_int(d, 'bedrooms'), 0);
    v_days int := coalesce(rs_p_int(d, 'day_places'), 0);
    v_from date := coalesce(rs_p_date(d, 'approved_from'), rs_today());
    v_until date;
    compat jsonb := coalesce(rs_p_object(d, 'compatibility'), '{}');
    sla jsonb := rs_p_object(d, 'sla');
    v_sla_start date;
BEGIN
    PERFORM rs_p_required(d, 'approval_expires');
    v_until := rs_p_date(d, 'approval_expires');
    IF v_rooms + v_days = 0 THEN
        PERFORM rs_bad_param('bedrooms', 'a household needs at least one bedroom or day place');
    END IF;
    IF v_days > 0 THEN
        PERFORM rs_p_required(d, 'day_price_pence');
        PERFORM rs_p_required(d, 'day_price_unit');
    END IF;
    IF v_until <= v_from THEN
        PERFORM rs_bad_param('approval_expires', 'must be after approved_from');
    END IF;
    IF v_until > v_from + interval '2 years' THEN
        PERFORM rs_bad_param('approval_expires', 'approval lasts at most two years from approved_from');
    END IF;
    IF (is_new OR given ? 'approval_expires') AND v_until <= rs_today() THEN
        PERFORM rs_bad_param('approval_expires', 'in the past: the approval has expired');
    END IF;
    IF sla IS NOT NULL THEN
        PERFORM rs_p_required(sla, 'guaranteed_income_pence', 'sla.');
        v_sla_start := coalesce(rs_p_date(sla, 'starts'), v_from);
    END IF;
    RETURN jsonb_build_object(
        'bedrooms', v_rooms, 'day_places', v_days,
        'day_price_pence', rs_p_int(d, 'day_price_pence'),
        'day_price_unit', rs_p_enum(d, 'day_price_unit'),
        'compatibility', compat, 'approved_from', v_from, 'approval_expires', v_until,
        'sla_starts', v_sla_start,
        'sla_months', CASE WHEN sla IS NOT NULL THEN coalesce(rs_p_int(sla, 'months'), 12) END,
        'sla_guaranteed_pence', rs_p_int(sla, 'guaranteed_income_pence'),
        'sla_target_per_bedroom', CASE WHEN sla IS NOT NULL THEN
            coalesce(rs_p_int(sla, 'target_per_bedroom_per_year'), 16) END);
END $$;

CREATE FUNCTION rs_offer_norm(d jsonb, given jsonb, is_new boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cond jsonb := coalesce(rs_p_object(d, 'conditions'), '{}');
    v_expires date := rs_p_date(d, 'expires');
BEGIN
    PERFORM rs_p_required(d, 'offer_type');
    IF (is_new OR given ? 'expires') AND v_expires < rs_today() THEN
        PERFORM rs_bad_param('expires', 'in the past');
    END IF;
    IF cond ? 'per_carer_per' OR cond ? 'max' THEN
        PERFORM rs_p_required(cond, 'per_carer_per', 'conditions.'),
                rs_p_required(cond, 'max', 'conditions.'),
                rs_p_enum(cond, 'per_carer_per'),
                rs_p_int(cond, 'max');
    END IF;
    RETURN jsonb_build_object(
        'offer_type', rs_p_enum(d, 'offer_type'),
        'party_size', coalesce(rs_p_int(d, 'party_size'), 1),
        'duration_minutes', rs_p_int(d, 'duration_minutes'),
        'conditions', cond,
        'dietary_notes', rs_p_text(d, 'dietary_notes'),
        'expires', v_expires);
END $$;

-- Validates a whole supply description (defaults for a new one, or the
-- current state with the caller's changes) and returns it normalised with
-- column names: common columns plus the kind's side-table columns.
CREATE FUNCTION rs_supply_norm(k supply_kind, pr provider, d jsonb, given jsonb, is_new boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    caps text[];
    langs text[];
    side jsonb := '{}';
    bad text;
BEGIN
    PERFORM rs_p_only(given, rs_supply_fields(k), '', 'not allowed for kind ' || k);
    PERFORM rs_p_required(d, f) FROM unnest(ARRAY['name', 'price_pence', 'price_unit']) f;
    caps := coalesce(rs_p_caps(d, 'capabilities'), '{}');
    langs := coalesce(rs_p_langs(d, 'languages'), '{}');
    -- Languages and a worker's gender have their own fields, so the codes
    -- derived from them cannot disagree with what is in capabilities.
    SELECT format('capabilities[%s]', e.n - 1) INTO bad
      FROM jsonb_array_elements_text(coalesce(d->'capabilities', '[]')) WITH ORDINALITY AS e(c, n)
     WHERE e.c ~ '^(lang|gender):' ORDER BY e.n LIMIT 1;
    IF bad IS NOT NULL THEN
        PERFORM rs_bad_param(bad, 'give languages in the languages field and a worker''s gender in the gender field');
    END IF;
    IF k = 'offer' AND rs_p_bool(d, 'emergency_only') THEN
        PERFORM rs_bad_param('emergency_only', 'not allowed for kind offer');
    END IF;
    side := CASE k WHEN 'worker' THEN rs_worker_norm(d)
                   WHEN 'household' THEN rs_household_norm(d, given, is_new)
                   WHEN 'offer' THEN rs_offer_norm(d, given, is_new)
                   ELSE '{}'::jsonb END;
    caps := ARRAY(SELECT DISTINCT c FROM unnest(caps || ARRAY(SELECT 'lang:' || l FROM unnest(langs) l)
                                                     || ('gender:' || (side->>'gender'))) c
                   WHERE c IS NOT NULL ORDER BY c);
    -- Which price units a kind is sold in is a rule of the kind (a worker
    -- by the hour, a bed by the night), not a shape the gate knows.
    IF NOT rs_p_text(d, 'price_unit') = ANY (rs_price_units(k)) THEN
        PERFORM rs_bad_param('price_unit', 'must be one of ' || array_to_string(rs_price_units(k), ', '));
    END IF;
    RETURN side || jsonb_build_object(
        'name', rs_p_text(d, 'name'),
        'capabilities', to_jsonb(caps),
        'emergency_only', coalesce(rs_p_bool(d, 'emergency_only'), false),
        'price_pence', rs_p_int(d, 'price_pence'),
        'price_unit', rs_p_enum(d, 'price_unit'),
        'lat', coalesce(rs_p_lat(d), pr.lat),
        'lon', coalesce(rs_p_lon(d), pr.lon),
        'attrs', coalesce(rs_p_object(d, 'attrs'), '{}'));
END $$;

-- Brings a supply's active units of one kind to `wanted`: reactivates or
-- adds units, or retires the last ones that hold no upcoming booking.
CREATE FUNCTION rs_sync_units(sid bigint, k unit_kind, wanted int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    have int;
    total int;
    n int;
    spare bigint[];
BEGIN
    SELECT count(*) FILTER (WHERE active), count(*) INTO have, total
      FROM unit WHERE supply_id = sid AND kind = k;
    IF wanted > have THEN
        UPDATE unit SET active = true
         WHERE id IN (SELECT id FROM unit WHERE supply_id = sid AND kind = k AND NOT active
                       ORDER BY id LIMIT wanted - have);
        GET DIAGNOSTICS n = ROW_COUNT;
        INSERT INTO unit (supply_id, kind, label)
        SELECT sid, k, k || ' ' || g FROM generate_series(total + 1, total + wanted - have - n) g;
    ELSIF wanted < have THEN
        spare := ARRAY(SELECT u.id FROM unit u
                        WHERE u.supply_id = sid AND u.kind = k AND u.active
                          AND NOT EXISTS (SELECT 1 FROM allocation a
                                           WHERE a.unit_id = u.id AND a.active
                                             AND (upper(a.nights) > rs_today() OR upper(a.span) > now()))
                        ORDER BY u.id DESC LIMIT have - wanted);
        IF cardinality(spare) < have - wanted THEN
            PERFORM rs_raise('booked', 'these places hold upcoming bookings',
                             jsonb_build_object('bookings', rs_bookings_ahead(sid)));
        END IF;
        UPDATE unit SET active = false WHERE id = ANY (spare);
    END IF;
END $$;

CREATE FUNCTION rs_supply_json(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'supply_id', s.id, 'provider_id', s.provider_id, 'authority_id', s.authority_id,
        'kind', s.kind, 'active', s.active,
        'units', (SELECT coalesce(jsonb_agg(jsonb_build_object('unit_id', u.id, 'kind', u.kind,
                                                               'label', u.label) ORDER BY u.id), '[]')
                    FROM unit u WHERE u.supply_id = s.id AND u.active))
        || rs_supply_params(s.id)
        || jsonb_build_object('capabilities', to_jsonb(s.capabilities))
      FROM supply s WHERE s.id = sid
$$;

-- The units a supply's profile calls for: one bed, one worker, a room per
-- bedroom and a place per day-support place; offers have none.
CREATE FUNCTION rs_supply_units(s supply) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE s.kind
        WHEN 'bed' THEN PERFORM rs_sync_units(s.id, 'bed', 1);
        WHEN 'worker' THEN PERFORM rs_sync_units(s.id, 'worker', 1);
        WHEN 'household' THEN
            PERFORM rs_sync_units(s.id, 'room', s.bedrooms);
            PERFORM rs_sync_units(s.id, 'day', s.day_places);
        ELSE NULL;
    END CASE;
END $$;

CREATE FUNCTION supply_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    pr provider;
    k supply_kind;
    norm jsonb;
    s supply;
BEGIN
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    k := rs_p_enum(p, 'kind');
    IF k <> pr.supplies THEN
        PERFORM rs_bad_param('kind', format('a %s provider supplies %s, not %s', pr.type, pr.supplies, k));
    END IF;
    IF p ? 'active' THEN
        PERFORM rs_bad_param('active', 'new supply is active; deactivate it with supply.update');
    END IF;
    -- Search trusts supply.active alone (provider.update cascades), so
    -- nothing becomes active under an inactive provider.
    IF NOT pr.active THEN
        PERFORM rs_raise('invalid_state', 'the provider is not active', jsonb_build_object('provider_id', pr.id));
    END IF;
    norm := rs_supply_norm(k, pr, p, p, true);
    IF EXISTS (SELECT 1 FROM supply WHERE provider_id = pr.id AND name = norm->>'name') THEN
        PERFORM rs_raise('conflict', 'this provider already has supply with this name',
                         jsonb_build_object('field', 'name'));
    END IF;
    INSERT INTO supply (provider_id, authority_id, kind, name, capabilities, emergency_only,
        price_pence, price_unit, lat, lon, attrs, gender, travel_radius_km, min_visit_minutes,
        max_visit_minutes, travel_buffer_minutes, bedrooms, day_places, day_price_pence,
        day_price_unit, compatibility, approved_from, approval_expires, sla_starts, sla_months,
        sla_guaranteed_pence, sla_target_per_bedroom, offer_type, party_size, duration_minutes,
        conditions, dietary_notes, expires)
    SELECT pr.id, pr.authority_id, k, r.name, r.capabilities, r.emergency_only,
        r.price_pence, r.price_unit, r.lat, r.lon, r.attrs, r.gender, r.travel_radius_km, r.min_visit_minutes,
        r.max_visit_minutes, r.travel_buffer_minutes, r.bedrooms, r.day_places, r.day_price_pence,
        r.day_price_unit, r.compatibility, r.approved_from, r.approval_expires, r.sla_starts, r.sla_months,
        r.sla_guaranteed_pence, r.sla_target_per_bedroom, r.offer_type, r.party_size, r.duration_minutes,
        r.conditions, r.dietary_notes, r.expires
      FROM jsonb_populate_record(NULL::supply, norm) r
    RETURNING * INTO s;
    PERFORM rs_supply_units(s);
    RETURN rs_supply_json(s.id);
END $$;

-- Fields present replace the current ones (null clears an optional one,
-- e.g. "sla": null); the result is validated as a whole.
CREATE FUNCTION supply_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s supply;
    norm jsonb;
    v_active boolean;
    held bigint[];
BEGIN
    s := rs_supply_named(ctx, p, true);
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF p ? 'kind' OR p ? 'provider_id' THEN
        PERFORM rs_bad_param(CASE WHEN p ? 'kind' THEN 'kind' ELSE 'provider_id' END,
                             'cannot be changed; create new supply instead');
    END IF;
    v_active := rs_p_bool(p, 'active');
    IF v_active AND NOT s.active
       AND NOT (SELECT pr.active FROM provider pr WHERE pr.id = s.provider_id) THEN
        PERFORM rs_raise('invalid_state', 'the provider is not active', jsonb_build_object('provider_id', s.provider_id));
    END IF;
    IF v_active = false AND s.active THEN
        held := rs_bookings_ahead(s.id);
        IF cardinality(held) > 0 THEN
            PERFORM rs_raise('booked', 'this supply has upcoming bookings',
                             jsonb_build_object('bookings', held));
        END IF;
    END IF;
    norm := rs_supply_norm(s.kind, (SELECT pr FROM provider pr WHERE pr.id = s.provider_id),
                           rs_supply_params(s.id) || (p - 'supply_id' - 'idempotency_key' - 'active'),
                           p, false);
    IF norm->>'name' <> s.name
       AND EXISTS (SELECT 1 FROM supply WHERE provider_id = s.provider_id AND name = norm->>'name') THEN
        PERFORM rs_raise('conflict', 'this provider already has supply with this name',
                         jsonb_build_object('field', 'name'));
    END IF;
    UPDATE supply u SET (name, capabilities, emergency_only, price_pence, price_unit, lat, lon,
        attrs, gender, travel_radius_km, min_visit_minutes, max_visit_minutes,
        travel_buffer_minutes, bedrooms, day_places, day_price_pence, day_price_unit,
        compatibility, approved_from, approval_expires, sla_starts, sla_months,
        sla_guaranteed_pence, sla_target_per_bedroom, offer_type, party_size, duration_minutes,
        conditions, dietary_notes, expires, active, updated_at)
      = (r.name, r.capabilities, r.emergency_only, r.price_pence, r.price_unit, r.lat, r.lon,
        r.attrs, r.gender, r.travel_radius_km, r.min_visit_minutes, r.max_visit_minutes,
        r.travel_buffer_minutes, r.bedrooms, r.day_places, r.day_price_pence, r.day_price_unit,
        r.compatibility, r.approved_from, r.approval_expires, r.sla_starts, r.sla_months,
        r.sla_guaranteed_pence, r.sla_target_per_bedroom, r.offer_type, r.party_size, r.duration_minutes,
        r.conditions, r.dietary_notes, r.expires, coalesce(v_active, u.active), now())
      FROM jsonb_populate_record(NULL::supply, norm) r
     WHERE u.id = s.id
    RETURNING u.* INTO s;
    PERFORM rs_supply_units(s);
    RETURN rs_supply_json(s.id);
END $$;

CREATE FUNCTION supply_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN rs_supply_json((rs_supply_named(ctx, p, false)).id);
END $$;

-- A provider's own supply (including inactive and emergency-only).
CREATE FUNCTION supply_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
    v_kind text := rs_p_enum(p, 'kind');
    v_active boolean := rs_p_bool(p, 'active');
    v_limit int := rs_p_limit(p, 50);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
    pr := rs_provider_for(ctx, rs_provider_param(ctx, p), true);
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'supply_id', s.id, 'kind', s.kind, 'name', s.name, 'active', s.active,
               'emergency_only', s.emergency_only, 'capabilities', to_jsonb(s.capabilities),
               'price_pence', s.price_pence, 'price_unit', s.price_unit) ORDER BY s.id), '[]')
      INTO rows
      FROM (SELECT * FROM supply
             WHERE provider_id = pr.id
               AND (v_kind IS NULL OR kind = v_kind::supply_kind)
               AND (v_active IS NULL OR active = v_active)
             ORDER BY id LIMIT v_limit + 1 OFFSET v_offset) s;
    RETURN jsonb_build_object(
        'provider_id', pr.id,
        'supply', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;
