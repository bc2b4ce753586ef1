-- ---------------------------------------------------------------------------
-- Bank holidays

CREATE FUNCTION bank_holiday_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date := coalesce(rs_p_date(p, 'from'), date_trunc('year', rs_today())::date);
    t date := coalesce(rs_p_date(p, 'to'), (date_trunc('year', rs_today()) + interval '2 years')::date);
BEGIN
    IF t <= f THEN
        PERFORM rs_bad_param('to', 'must be after from');
    END IF;
    RETURN jsonb_build_object('from', f, 'to', t, 'bank_holidays',
        (SELECT coalesce(jsonb_agg(jsonb_build_object('day', day, 'name', name, 'status', status)
                                   ORDER BY day), '[]')
           FROM bank_holiday WHERE day >= f AND day < t));
END $$;

-- bank_holiday.set: adds or corrects a day (a one-off holiday announced
-- later, a moved date), or removes it.
CREATE FUNCTION bank_holiday_set(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    removed boolean := coalesce(rs_p_bool(p, 'remove'), false);
BEGIN
    d := rs_p_date(p, 'day');
    IF removed THEN
        DELETE FROM bank_holiday WHERE day = d;
        RETURN jsonb_build_object('day', d, 'removed', FOUND);
    END IF;
    PERFORM rs_p_required(p, 'name');
    INSERT INTO bank_holiday (day, name, status) VALUES (d, rs_p_text(p, 'name'), 'admin')
    ON CONFLICT (day) DO UPDATE SET name = excluded.name, status = 'admin';
    RETURN (SELECT jsonb_build_object('day', day, 'name', name, 'status', status)
                               FROM bank_holiday WHERE day = d);
END $$;
