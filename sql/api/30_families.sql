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
    PERFORM rs_raise('not_found', 'no such carer', jsonb_build_object('carer_id', cid));
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
    PERFORM rs_raise('not_found', 'no such person', jsonb_build_object('person_id', pid));
    RETURN NULL;
END $$;

-- The carer a family call is about: carers default to their own; staff
-- name one.
CREATE FUNCTION rs_carer_param(ctx jsonb, p jsonb) RETURNS carer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cid bigint := rs_p_int(p, 'carer_id');
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
    v_status := rs_p_enum(d, 'status');
    IF v_status = 'best_interests' AND rs_p_text(d, 'decided_by') IS NULL THEN
        PERFORM rs_bad_param(at || 'decided_by', 'required for a best-interests decision (who made it)');
    END IF;
    RETURN jsonb_build_object('status', v_status,
                              'decided_by', rs_p_text(d, 'decided_by'),
                              'notes', rs_p_text(d, 'notes'));
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
    IF (d ? 'lat') <> (d ? 'lon') THEN
        PERFORM rs_bad_param(at || CASE WHEN d ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(d, 'date_of_birth') > rs_today() THEN
        PERFORM rs_bad_param(at || 'date_of_birth', 'in the future');
    END IF;
    v_consent := CASE WHEN d ? 'consent' THEN rs_p_consent(rs_p_object(d, 'consent'), at || 'consent.') END;
    INSERT INTO person (authority_id, name, date_of_birth, needs, wishes, languages,
                        postcode_district, lat, lon, consent, consent_decided_by, consent_notes,
                        consent_recorded_by, consent_recorded_at, notes, created_by)
    VALUES (auth, rs_p_text(d, 'name'), rs_p_date(d, 'date_of_birth'),
            coalesce(rs_p_caps(d, 'needs', at), '{}'), coalesce(rs_p_caps(d, 'wishes', at), '{}'),
            coalesce(rs_p_langs_ordered(d, 'languages', at), '{}'),
            rs_p_district(d, at),
            rs_p_num(d, 'lat'), rs_p_num(d, 'lon'),
            coalesce((v_consent->>'status')::consent_status, 'not_recorded'),
            v_consent->>'decided_by', v_consent->>'notes',
            CASE WHEN v_consent IS NOT NULL THEN (ctx->>'user_id')::bigint END,
            CASE WHEN v_consent IS NOT NULL THEN now() END,
            rs_p_text(d, 'notes'), (ctx->>'user_id')::bigint)
    RETURNING id INTO pid;
    PERFORM rs_prefs_set(pid, rs_p_ids(d, 'preferred_supply_ids'), true, at || 'preferred_supply_ids');
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
    SELECT DISTINCT pid, i, liked FROM unnest(ids) i
    ON CONFLICT (person_id, supply_id) DO UPDATE SET liked = excluded.liked, updated_at = now();
END $$;

CREATE FUNCTION rs_carer_insert(ctx jsonb, auth bigint, d jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cid bigint;
BEGIN
    IF (d ? 'lat') <> (d ? 'lon') THEN
        PERFORM rs_bad_param('carer.' || CASE WHEN d ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(d, 'date_of_birth') > rs_today() THEN
        PERFORM rs_bad_param('carer.date_of_birth', 'in the future');
    END IF;
    INSERT INTO carer (authority_id, name, date_of_birth, phone, email, postcode_district, lat, lon,
                       languages, needs, online, referral_route, referred_by, referred_on, notes,
                       created_by)
    VALUES (auth, rs_p_text(d, 'name'), rs_p_date(d, 'date_of_birth'),
            rs_p_text(d, 'phone'), rs_p_text(d, 'email'),
            rs_p_district(d, 'carer.'),
            rs_p_num(d, 'lat'), rs_p_num(d, 'lon'),
            coalesce(rs_p_langs_ordered(d, 'languages', 'carer.'), '{}'),
            coalesce(rs_p_caps(d, 'needs', 'carer.'), '{}'),
            coalesce(rs_p_bool(d, 'online'), true),
            rs_p_enum(d, 'referral_route')::referral_route,
            rs_p_text(d, 'referred_by'), rs_p_date(d, 'referred_on'),
            rs_p_text(d, 'notes'), (ctx->>'user_id')::bigint)
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

CREATE FUNCTION family_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
    c carer;
    cid bigint;
    persons jsonb := coalesce(rs_p_array(p, 'persons'), '[]');
    pid bigint;
    i int;
BEGIN
    IF (p ? 'carer') = (p ? 'carer_id') THEN
        PERFORM rs_bad_param('carer', 'give carer (a new carer) or carer_id (an existing one)');
    END IF;
    IF p ? 'carer_id' THEN
        c := rs_carer_for(ctx, rs_p_int(p, 'carer_id'));
        PERFORM 1 FROM carer WHERE id = c.id FOR NO KEY UPDATE;
    ELSE
        v_auth := rs_target_authority(ctx, v_auth, 'families');
        cid := rs_carer_insert(ctx, v_auth, rs_p_object(p, 'carer'));
        SELECT * INTO c FROM carer WHERE id = cid;
    END IF;
    IF p ? 'user_id' THEN
        PERFORM rs_link_user(rs_p_int(p, 'user_id'), c);
    END IF;
    FOR i IN 0 .. jsonb_array_length(persons) - 1 LOOP
        pid := rs_person_insert(ctx, c.authority_id, persons->i, format('persons[%s].', i));
        INSERT INTO care_link (carer_id, person_id, relationship, is_primary)
        VALUES (c.id, pid, rs_p_text(persons->i, 'relationship'),
                coalesce(rs_p_bool(persons->i, 'primary'), true));
    END LOOP;
    RETURN rs_family_json(c.id);
END $$;

-- family.link: joins an existing carer and person (a person with several
-- carers), or unlinks them.
CREATE FUNCTION family_link(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c carer;
    pe person;
BEGIN
    c := rs_carer_for(ctx, rs_p_int(p, 'carer_id'));
    pe := rs_person_for(ctx, rs_p_int(p, 'person_id'));
    IF c.authority_id <> pe.authority_id THEN
        PERFORM rs_bad_param('person_id', 'the carer and the person belong to different authorities');
    END IF;
    IF coalesce(rs_p_bool(p, 'remove'), false) THEN
        DELETE FROM care_link WHERE carer_id = c.id AND person_id = pe.id;
    ELSE
        INSERT INTO care_link (carer_id, person_id, relationship, is_primary)
        VALUES (c.id, pe.id, rs_p_text(p, 'relationship'), coalesce(rs_p_bool(p, 'primary'), false))
        ON CONFLICT (carer_id, person_id) DO UPDATE
           SET relationship = coalesce(excluded.relationship, care_link.relationship),
               is_primary = excluded.is_primary;
    END IF;
    RETURN rs_family_json(c.id);
END $$;

CREATE FUNCTION family_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN rs_family_json((rs_carer_param(ctx, p)).id);
END $$;

CREATE FUNCTION family_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
    v_q text := rs_p_text(p, 'q');
    v_young boolean := rs_p_bool(p, 'young_carers');
    v_limit int := rs_p_limit(p, 50);
    v_offset int := rs_p_offset(p);
    rows jsonb;
BEGIN
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
CREATE FUNCTION person_update(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    pe person;
    v_consent jsonb;
BEGIN
    pe := rs_person_for(ctx, rs_p_int(p, 'person_id'));
    PERFORM 1 FROM person WHERE id = pe.id FOR NO KEY UPDATE;
    IF p ? 'consent' THEN
        IF ctx->>'role' = 'carer' THEN
            PERFORM rs_raise('forbidden', 'consent is recorded by council or carers'' centre staff',
                             jsonb_build_object('field', 'consent'));
        END IF;
        v_consent := rs_p_consent(rs_p_object(p, 'consent'), 'consent.');
    END IF;
    IF (p ? 'lat') <> (p ? 'lon') THEN
        PERFORM rs_bad_param(CASE WHEN p ? 'lat' THEN 'lon' ELSE 'lat' END, 'give both lat and lon');
    END IF;
    IF rs_p_date(p, 'date_of_birth') > rs_today() THEN
        PERFORM rs_bad_param('date_of_birth', 'in the future');
    END IF;
    UPDATE person SET
        name = coalesce(rs_p_text(p, 'name'), name),
        date_of_birth = coalesce(rs_p_date(p, 'date_of_birth'), date_of_birth),
        needs = coalesce(rs_p_caps(p, 'needs'), needs),
        wishes = coalesce(rs_p_caps(p, 'wishes'), wishes),
        languages = coalesce(rs_p_langs_ordered(p, 'languages'), languages),
        postcode_district = coalesce(rs_p_district(p), postcode_district),
        lat = coalesce(rs_p_num(p, 'lat'), lat),
        lon = coalesce(rs_p_num(p, 'lon'), lon),
        notes = CASE WHEN p ? 'notes' THEN rs_p_text(p, 'notes') ELSE notes END,
        consent = coalesce((v_consent->>'status')::consent_status, person.consent),
        consent_decided_by = CASE WHEN v_consent IS NOT NULL THEN v_consent->>'decided_by' ELSE consent_decided_by END,
        consent_notes = CASE WHEN v_consent IS NOT NULL THEN v_consent->>'notes' ELSE consent_notes END,
        consent_recorded_by = CASE WHEN v_consent IS NOT NULL THEN (ctx->>'user_id')::bigint ELSE consent_recorded_by END,
        consent_recorded_at = CASE WHEN v_consent IS NOT NULL THEN now() ELSE consent_recorded_at END,
        updated_at = now()
     WHERE id = pe.id
    RETURNING * INTO pe;
    PERFORM rs_prefs_set(pe.id, rs_p_ids(p, 'preferred_supply_ids'), true, 'preferred_supply_ids');
    PERFORM rs_prefs_set(pe.id, rs_p_ids(p, 'avoid_supply_ids'), false, 'avoid_supply_ids');
    RETURN rs_person_json(pe);
END $$;
