-- Availability: what providers publish and withdraw, and the bookings
-- that stand in the way of a withdrawal.

-- Booking ids holding capacity of a supply during a window, for the
-- 'booked' refusals. Nights and spans are compared with what each
-- allocation stores.
CREATE FUNCTION rs_bookings_during(sid bigint, n datemultirange, s tstzmultirange)
RETURNS bigint[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT a.booking_id ORDER BY a.booking_id), '{}')
      FROM unit u JOIN allocation a ON a.unit_id = u.id
     WHERE u.supply_id = sid AND a.active
       AND ((a.nights IS NOT NULL AND a.nights && n) OR (a.span IS NOT NULL AND a.span && s))
$$;

-- Booking ids with any capacity of a supply from now on (used before a
-- supply, provider or bedroom is taken out of service).
CREATE FUNCTION rs_bookings_ahead(sid bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}') FROM (
        SELECT a.booking_id AS b
          FROM unit u JOIN allocation a ON a.unit_id = u.id
         WHERE u.supply_id = sid AND a.active
           AND (upper(a.nights) > rs_today() OR upper(a.span) > now())
        UNION ALL
        SELECT oa.booking_id
          FROM offer_session os JOIN offer_allocation oa ON oa.session_id = os.id
         WHERE os.supply_id = sid AND oa.active AND os.day >= rs_today()) x
$$;

-- ---------------------------------------------------------------------------
-- Availability items. One item shape serves every kind; which members are
-- allowed depends on the supply:
--   nights (beds, household stays): {from, to}  (to = the morning of departure)
--   spans  (worker shifts, household day support): {start, end} as RFC 3339
--          instants, or {date, start_time, end_time} in London local time
--          (end_time <= start_time means the shift ends the next day)
--   offers: {day} or {from, to} (every day in between), optional
--          starts_at "HH:MM" local, and quantity (publish only)

CREATE FUNCTION rs_item_nights(item jsonb, at text) RETURNS daterange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date;
    t date;
BEGIN
    PERFORM rs_p_required(item, 'from', at), rs_p_required(item, 'to', at);
    f := rs_p_date(item, 'from');
    t := rs_p_date(item, 'to');
    IF t <= f THEN
        PERFORM rs_bad_param(at || 'to', 'must be after from (to is the morning of departure)');
    END IF;
    IF f < rs_today() THEN
        PERFORM rs_bad_param(at || 'from', 'in the past');
    END IF;
    IF t > rs_today() + 732 THEN
        PERFORM rs_bad_param(at || 'to', 'more than two years ahead');
    END IF;
    RETURN daterange(f, t);
END $$;

CREATE FUNCTION rs_item_span(item jsonb, at text) RETURNS tstzrange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s timestamptz;
    e timestamptz;
    d date;
    t0 time;
    t1 time;
    first text;
BEGIN
    IF item ? 'start' OR item ? 'end' THEN
        PERFORM rs_p_only(item, ARRAY['start', 'end'], at,
                          'give start and end, or date, start_time and end_time');
        PERFORM rs_p_required(item, 'start', at), rs_p_required(item, 'end', at);
        s := rs_p_ts(item, 'start');
        e := rs_p_ts(item, 'end');
        first := 'start';
    ELSE
        PERFORM rs_p_only(item, ARRAY['date', 'start_time', 'end_time'], at,
                          'give start and end, or date, start_time and end_time');
        PERFORM rs_p_required(item, 'date', at), rs_p_required(item, 'start_time', at),
                rs_p_required(item, 'end_time', at);
        d := rs_p_date(item, 'date');
        t0 := rs_p_time(item, 'start_time');
        t1 := rs_p_time(item, 'end_time');
        s := rs_local_instant(d, t0, at || 'start_time');
        e := rs_local_instant(d + (t1 <= t0)::int, t1, at || 'end_time');
        first := 'date';
    END IF;
    IF e <= s THEN
        PERFORM rs_bad_param(at || 'end', 'must be after start');
    END IF;
    IF s < now() THEN
        PERFORM rs_bad_param(at || first, 'in the past');
    END IF;
    IF e - s > interval '24 hours' THEN
        PERFORM rs_bad_param(at || 'end', 'a shift lasts at most 24 hours');
    END IF;
    IF e > now() + interval '2 years' THEN
        PERFORM rs_bad_param(at || 'end', 'more than two years ahead');
    END IF;
    RETURN tstzrange(s, e);
END $$;

-- Offer sessions named by one item: every day from `day` or from..to, at
-- the optional local starts_at.
CREATE FUNCTION rs_item_sessions(item jsonb, at text, publish boolean, expires date)
RETURNS TABLE (day date, starts_at timestamptz, quantity int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date;
    t date;
    st time := rs_p_time(item, 'starts_at');
    q int;
BEGIN
    PERFORM rs_p_only(item, CASE WHEN publish THEN ARRAY['day', 'from', 'to', 'starts_at', 'quantity']
                                 ELSE ARRAY['day', 'from', 'to', 'starts_at'] END,
                      at, 'not allowed for an offer');
    IF item ? 'day' THEN
        IF item ? 'from' OR item ? 'to' THEN
            PERFORM rs_bad_param(at || 'day', 'give day, or from and to, not both');
        END IF;
        f := rs_p_date(item, 'day');
        IF f < rs_today() THEN
            PERFORM rs_bad_param(at || 'day', 'in the past');
        END IF;
        t := f + 1;
    ELSE
        SELECT lower(r), upper(r) INTO f, t FROM rs_item_nights(item, at) r;
    END IF;
    IF expires IS NOT NULL AND t - 1 > expires THEN
        PERFORM rs_bad_param(at || CASE WHEN item ? 'day' THEN 'day' ELSE 'to' END,
                             format('after the offer expires (%s)', expires));
    END IF;
    IF publish THEN
        PERFORM rs_p_required(item, 'quantity', at);
        q := rs_p_int(item, 'quantity');
        -- the first day is today at the earliest: its session must not have started
        IF st IS NOT NULL AND rs_local_instant(f, st, at || 'starts_at') < now() THEN
            PERFORM rs_bad_param(at || 'starts_at', 'in the past');
        END IF;
    END IF;
    RETURN QUERY
        SELECT g::date, CASE WHEN st IS NOT NULL
                             THEN rs_local_instant(g::date, st, at || 'starts_at') END, q
          FROM generate_series(f, t - 1, interval '1 day') g;
END $$;

-- Nights and spans named by a publish or withdraw call, checked for the
-- supply (kind, household approval and places). Returned merged.
CREATE FUNCTION rs_items_ranges(s supply, items jsonb, publish boolean,
                                OUT nights datemultirange, OUT spans tstzmultirange)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    item jsonb;
    i int := -1;
    at text;
    n daterange[] := '{}';
    sp tstzrange[] := '{}';
    r daterange;
    x tstzrange;
BEGIN
    FOR item IN SELECT value FROM jsonb_array_elements(items) LOOP
        i := i + 1;
        at := format('ranges[%s].', i);
        IF s.kind = 'bed' OR (s.kind = 'household' AND (item ? 'from' OR item ? 'to')) THEN
            PERFORM rs_p_only(item, ARRAY['from', 'to'], at,
                              'not allowed for nights (give from and to)');
            r := rs_item_nights(item, at);
            IF publish AND s.kind = 'household' THEN
                IF s.bedrooms = 0 THEN
                    PERFORM rs_bad_param(at || 'from', 'this household has no bedroom for short stays');
                END IF;
                IF lower(r) < s.approved_from OR upper(r) > s.approval_expires THEN
                    PERFORM rs_bad_param(at || CASE WHEN lower(r) < s.approved_from THEN 'from' ELSE 'to' END,
                        format('outside the approval period (%s to %s)', s.approved_from, s.approval_expires));
                END IF;
            END IF;
            n := n || r;
        ELSIF s.kind IN ('worker', 'household') THEN
            IF item ? 'quantity' OR item ? 'day' OR item ? 'starts_at' THEN
                PERFORM rs_bad_param(at || CASE WHEN item ? 'quantity' THEN 'quantity'
                                                WHEN item ? 'day' THEN 'day' ELSE 'starts_at' END,
                                     'not allowed for kind ' || s.kind);
            END IF;
            x := rs_item_span(item, at);
            IF publish AND s.kind = 'household' THEN
                IF s.day_places = 0 THEN
                    PERFORM rs_bad_param(at || 'start', 'this household offers no day support places');
                END IF;
                IF lower(x) < rs_midnight(s.approved_from) OR upper(x) > rs_midnight(s.approval_expires) THEN
                    PERFORM rs_bad_param(at || 'end',
                        format('outside the approval period (%s to %s)', s.approved_from, s.approval_expires));
                END IF;
            END IF;
            sp := sp || x;
        END IF;
    END LOOP;
    nights := (SELECT coalesce(range_agg(e), '{}') FROM unnest(n) e);
    spans := (SELECT coalesce(range_agg(e), '{}') FROM unnest(sp) e);
END $$;


-- The offer sessions a call names, item index alongside; at most 5000 so
-- one call stays one quick transaction.
CREATE FUNCTION rs_items_sessions(s supply, items jsonb, publish boolean,
    OUT idx int[], OUT days date[], OUT starts timestamptz[], OUT qty int[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
BEGIN
    SELECT array_agg(e.n - 1 ORDER BY e.n, x.day), array_agg(x.day ORDER BY e.n, x.day),
           array_agg(x.starts_at ORDER BY e.n, x.day), array_agg(x.quantity ORDER BY e.n, x.day)
      INTO idx, days, starts, qty
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, n),
           LATERAL rs_item_sessions(e.item, format('ranges[%s].', e.n - 1), publish, s.expires) x;
    IF cardinality(idx) > 5000 THEN
        PERFORM rs_bad_param('ranges', 'at most 5000 sessions per call');
    END IF;
END $$;

-- Offers: publishing sets the quantity of each named session (creating
-- it if new); it may not drop below the seats already booked.
CREATE FUNCTION rs_publish_sessions(s supply, items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x record;
    dup record;
    short record;
    n int;
BEGIN
    x := rs_items_sessions(s, items, true);
    SELECT a.i AS first, b.i AS second INTO dup
      FROM unnest(x.idx, x.days, x.starts) a(i, day, starts_at)
      JOIN unnest(x.idx, x.days, x.starts) b(i, day, starts_at)
        ON a.day = b.day AND a.starts_at IS NOT DISTINCT FROM b.starts_at AND a.i < b.i
     ORDER BY b.i LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('ranges[%s]', dup.second),
                             format('names the same session as ranges[%s]', dup.first));
    END IF;
    SELECT os.id, os.booked, i.i INTO short
      FROM unnest(x.idx, x.days, x.starts, x.qty) i(i, day, starts_at, quantity)
      JOIN offer_session os
        ON os.supply_id = s.id AND os.day = i.day AND os.starts_at IS NOT DISTINCT FROM i.starts_at
     WHERE os.booked > i.quantity ORDER BY i.i LIMIT 1;
    IF FOUND THEN
        PERFORM rs_raise('booked', format('ranges[%s]: %s seats are already booked', short.i, short.booked),
            jsonb_build_object('field', format('ranges[%s].quantity', short.i),
                'bookings', (SELECT coalesce(jsonb_agg(DISTINCT booking_id), '[]') FROM offer_allocation
                              WHERE session_id = short.id AND active)));
    END IF;
    INSERT INTO offer_session AS os (supply_id, day, starts_at, quantity)
    SELECT s.id, i.day, i.starts_at, i.quantity
      FROM unnest(x.days, x.starts, x.qty) i(day, starts_at, quantity)
    ON CONFLICT (supply_id, day, starts_at) DO UPDATE SET quantity = excluded.quantity;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                              'received', jsonb_array_length(items), 'sessions', n);
END $$;

-- Merges nights and spans into what is published: rows overlapping or
-- touching the new ranges are taken out and put back as their union.
CREATE FUNCTION rs_merge_published(sid bigint, n datemultirange, sp tstzmultirange) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    old_n datemultirange;
    old_s tstzmultirange;
BEGIN
    IF NOT isempty(n) THEN
        WITH d AS (DELETE FROM avail_nights
                    WHERE supply_id = sid AND (nights && n OR nights -|- n) RETURNING nights)
        SELECT range_agg(nights) INTO old_n FROM d;
        INSERT INTO avail_nights (supply_id, nights)
        SELECT sid, r FROM unnest(n + coalesce(old_n, '{}')) r;
    END IF;
    IF NOT isempty(sp) THEN
        WITH d AS (DELETE FROM avail_span
                    WHERE supply_id = sid AND (span && sp OR span -|- sp) RETURNING span)
        SELECT range_agg(span) INTO old_s FROM d;
        INSERT INTO avail_span (supply_id, span)
        SELECT sid, r FROM unnest(sp + coalesce(old_s, '{}')) r;
    END IF;
END $$;

CREATE FUNCTION rs_published_counts(sid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'night_ranges', (SELECT count(*) FROM avail_nights WHERE supply_id = sid),
        'spans', (SELECT count(*) FROM avail_span WHERE supply_id = sid))
$$;

-- availability.publish: overlapping or adjacent ranges (in the call or
-- with what is already published) are MERGED, never refused: publishing
-- is "these times are available", so saying it twice changes nothing.
CREATE FUNCTION availability_publish(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s supply;
    items jsonb;
    r record;
BEGIN
    s := rs_supply_named(ctx, p, true);
    items := rs_p_array(p, 'ranges');
    -- Serialises with withdraw and with bookings of this supply.
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF s.kind = 'offer' THEN
        RETURN rs_publish_sessions(s, items);
    END IF;
    r := rs_items_ranges(s, items, true);
    PERFORM rs_merge_published(s.id, r.nights, r.spans);
    RETURN jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                                               'received', jsonb_array_length(items))
                            || rs_published_counts(s.id);
END $$;

-- Offers: a session with seats booked is refused; others are deleted, or
-- closed (quantity 0) when a cancelled booking still refers to them.
CREATE FUNCTION rs_withdraw_sessions(s supply, items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x record;
    hit bigint[];
    held jsonb;
    n int;
BEGIN
    x := rs_items_sessions(s, items, false);
    hit := ARRAY(SELECT DISTINCT os.id
                   FROM unnest(x.days, x.starts) i(day, starts_at)
                   JOIN offer_session os ON os.supply_id = s.id AND os.day = i.day
                    AND (i.starts_at IS NULL OR os.starts_at = i.starts_at));
    SELECT jsonb_agg(DISTINCT oa.booking_id) INTO held
      FROM offer_allocation oa WHERE oa.session_id = ANY (hit) AND oa.active;
    IF held IS NOT NULL OR EXISTS (SELECT 1 FROM offer_session WHERE id = ANY (hit) AND booked > 0) THEN
        PERFORM rs_raise('booked', 'seats in these sessions are booked: cancel or move those bookings first',
                         jsonb_build_object('bookings', coalesce(held, '[]')));
    END IF;
    DELETE FROM offer_session os WHERE os.id = ANY (hit)
       AND NOT EXISTS (SELECT 1 FROM offer_allocation oa WHERE oa.session_id = os.id);
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE offer_session SET quantity = 0 WHERE id = ANY (hit);
    RETURN jsonb_build_object('supply_id', s.id, 'kind', s.kind,
                              'received', jsonb_array_length(items), 'sessions_removed', cardinality(hit));
END $$;

-- availability.withdraw (also how nights are closed for maintenance).
-- Refused as a whole, naming the bookings, when any booking holds
-- capacity in the ranges: a provider cannot silently cancel a break.
-- Ranges that were not published are ignored.
CREATE FUNCTION availability_withdraw(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s supply;
    items jsonb;
    r record;
    held bigint[];
    old_n datemultirange;
    old_s tstzmultirange;
BEGIN
    s := rs_supply_named(ctx, p, true);
    items := rs_p_array(p, 'ranges');
    PERFORM 1 FROM supply WHERE id = s.id FOR UPDATE;
    IF s.kind = 'offer' THEN
        RETURN rs_withdraw_sessions(s, items);
    END IF;
    r := rs_items_ranges(s, items, false);
    held := rs_bookings_during(s.id, r.nights, r.spans);
    IF cardinality(held) > 0 THEN
        PERFORM rs_raise('booked', 'this availability is booked: cancel or move those bookings first',
                         jsonb_build_object('bookings', held));
    END IF;
    WITH d AS (DELETE FROM avail_nights WHERE supply_id = s.id AND nights && r.nights RETURNING nights)
    SELECT range_agg(nights) INTO old_n FROM d;
    INSERT INTO avail_nights (supply_id, nights)
    SELECT s.id, x FROM unnest(coalesce(old_n, '{}') - r.nights) x;
    WITH d AS (DELETE FROM avail_span WHERE supply_id = s.id AND span && r.spans RETURNING span)
    SELECT range_agg(span) INTO old_s FROM d;
    INSERT INTO avail_span (supply_id, span)
    SELECT s.id, x FROM unnest(coalesce(old_s, '{}') - r.spans) x;
    RETURN jsonb_build_object(
        'supply_id', s.id, 'kind', s.kind, 'received', jsonb_array_length(items),
        'nights_removed', (SELECT coalesce(sum(upper(x) - lower(x)), 0)
                             FROM unnest(coalesce(old_n, '{}') * r.nights) x),
        'minutes_removed', (SELECT coalesce(sum(extract(epoch FROM upper(x) - lower(x)) / 60), 0)::bigint
                              FROM unnest(coalesce(old_s, '{}') * r.spans) x))
        || rs_published_counts(s.id);
END $$;

-- A window of dates [from, to) from params, defaulting to `days` days
-- from today; at most 400 days.
CREATE FUNCTION rs_p_window(p jsonb, days int) RETURNS daterange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f date := coalesce(rs_p_date(p, 'from'), rs_today());
    t date := coalesce(rs_p_date(p, 'to'), f + days);
BEGIN
    IF t <= f THEN
        PERFORM rs_bad_param('to', 'must be after from');
    END IF;
    IF t - f > 400 THEN
        PERFORM rs_bad_param('to', 'at most 400 days after from');
    END IF;
    RETURN daterange(f, t);
END $$;

-- availability.list: what is published for a supply in a window, and the
-- capacity bookings hold in it.
CREATE FUNCTION availability_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s supply;
    w daterange := rs_p_window(p, 31);
    ws tstzrange;
BEGIN
    s := rs_supply_named(ctx, p, true);
    ws := tstzrange(rs_midnight(lower(w)), rs_midnight(upper(w)));
    RETURN jsonb_build_object(
        'supply_id', s.id, 'kind', s.kind, 'from', lower(w), 'to', upper(w),
        'nights', (SELECT coalesce(jsonb_agg(rs_nights_json(nights) ORDER BY nights), '[]')
                     FROM avail_nights WHERE supply_id = s.id AND nights && w),
        'spans', (SELECT coalesce(jsonb_agg(rs_span_json(span) ORDER BY span), '[]')
                    FROM avail_span WHERE supply_id = s.id AND span && ws),
        'sessions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'session_id', id, 'day', day, 'starts_at', rs_ts_text(starts_at),
                         'local_time', to_char(starts_at AT TIME ZONE 'Europe/London', 'HH24:MI'),
                         'quantity', quantity, 'booked', booked) ORDER BY day, starts_at), '[]')
                       FROM offer_session WHERE supply_id = s.id AND day <@ w),
        'allocations', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'allocation_id', a.id, 'booking_id', a.booking_id, 'unit_id', a.unit_id,
                            'unit', u.label)
                            || CASE WHEN a.nights IS NOT NULL THEN rs_nights_json(a.nights)
                                    ELSE rs_span_json(a.span) END ORDER BY a.id), '[]')
                          FROM unit u JOIN allocation a ON a.unit_id = u.id
                         WHERE u.supply_id = s.id AND a.active
                           AND (a.nights && w OR a.span && ws)));
END $$;
