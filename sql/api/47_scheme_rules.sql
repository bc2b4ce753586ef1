-- ---------------------------------------------------------------------------
-- Scheme rules

CREATE FUNCTION rs_scheme_rule_json(x scheme_rule) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('scheme_rule_id', x.id, 'authority_id', x.authority_id, 'name', x.name,
                              'offer_type', x.offer_type, 'per', x.per, 'max', x.max)
$$;

CREATE FUNCTION scheme_rule_set(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
    v_type text := rs_p_enum(p, 'offer_type');
    v_per text;
    x scheme_rule;
BEGIN
    IF ctx->>'role' <> 'admin' THEN
        IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
            PERFORM rs_raise('forbidden', 'you may set rules only for your own authority');
        END IF;
        v_auth := rs_authority(ctx);
    ELSIF v_auth IS NULL THEN
        PERFORM rs_bad_param('authority_id', 'required');
    END IF;
    v_per := rs_p_enum(p, 'per');
    IF coalesce(rs_p_bool(p, 'remove'), false) THEN
        DELETE FROM scheme_rule
         WHERE authority_id = v_auth AND offer_type IS NOT DISTINCT FROM v_type AND per = v_per;
        RETURN jsonb_build_object('removed', FOUND);
    END IF;
    PERFORM rs_p_required(p, 'max'), rs_p_required(p, 'name');
    INSERT INTO scheme_rule AS sr (authority_id, name, offer_type, per, max)
    VALUES (v_auth, rs_p_text(p, 'name'), v_type, v_per, rs_p_int(p, 'max'))
    ON CONFLICT (authority_id, offer_type, per) DO UPDATE SET name = excluded.name, max = excluded.max
    RETURNING * INTO x;
    RETURN rs_scheme_rule_json(x);
END $$;

CREATE FUNCTION scheme_rule_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_auth bigint := rs_p_int(p, 'authority_id');
BEGIN
    IF ctx->>'role' <> 'admin' THEN
        v_auth := rs_authority(ctx);
    END IF;
    RETURN jsonb_build_object('rules', (SELECT coalesce(jsonb_agg(rs_scheme_rule_json(x) ORDER BY x.id), '[]')
                                          FROM scheme_rule x WHERE v_auth IS NULL OR x.authority_id = v_auth));
END $$;
