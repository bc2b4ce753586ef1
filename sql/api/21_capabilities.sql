-- ---------------------------------------------------------------------------
-- capability.list: the vocabulary, for pickers in every client.

CREATE FUNCTION capability_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_category text := rs_p_text(p, 'category');
BEGIN
    RETURN jsonb_build_object('capabilities', coalesce((
        SELECT jsonb_agg(jsonb_build_object('code', code, 'category', category, 'label', label)
                         ORDER BY category, code)
          FROM capability
         WHERE v_category IS NULL OR category = v_category), '[]'));
END $$;
