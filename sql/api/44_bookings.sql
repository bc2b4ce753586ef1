-- Bookings: the one status transition, reading bookings, booking.quote,
-- booking.hold, booking.book, booking.confirm, booking.cancel, booking.get
-- and booking.list.

-- ---------------------------------------------------------------------------
-- The one way a booking changes status. Checks the transition table,
-- gives back capacity and moves money as the new status requires, stamps
-- the booking and writes the event. Capacity before money: the lock order.
-- b is the booking's row as its caller read it FOR NO KEY UPDATE (after the
-- family lock, for calls made for a family), so it is not read again.
CREATE FUNCTION rs_booking_transition(b booking, to_status booking_status, actor bigint,
                                      why text DEFAULT NULL, data jsonb DEFAULT '{}')
RETURNS booking LANGUAGE plpgsql AS $$
DECLARE
    from_status booking_status := b.status;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM booking_transition t WHERE t.from_status = b.status
                                                        AND t.to_status = rs_booking_transition.to_status) THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot become %s', b.status, to_status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', to_status));
    END IF;
    IF to_status IN ('cancelled_by_carer', 'cancelled_by_provider', 'expired', 'no_show') THEN
        PERFORM rs_release_capacity(b.id);
    END IF;
    PERFORM rs_booking_settle(b, to_status);
    UPDATE booking SET status = to_status, updated_at = now(),
           expires_at = CASE WHEN to_status IN ('requested', 'held') THEN expires_at END,
           confirmed_at = CASE WHEN to_status = 'confirmed' THEN now() ELSE confirmed_at END,
           completed_at = CASE WHEN to_status = 'completed' THEN now() ELSE completed_at END,
           cancelled_at = CASE WHEN to_status IN ('cancelled_by_carer', 'cancelled_by_provider')
                               THEN now() ELSE cancelled_at END,
           cancel_reason = CASE WHEN to_status IN ('cancelled_by_carer', 'cancelled_by_provider')
                                THEN why ELSE cancel_reason END
     WHERE id = b.id
    RETURNING * INTO b;
    INSERT INTO booking_event (booking_id, actor_user_id, from_status, to_status, reason, data)
    VALUES (b.id, actor, from_status, to_status, why, coalesce(data, '{}'));
    RETURN b;
END $$;

-- The same for a caller that has only the booking's id (the janitor, and
-- calls whose row has changed since they read it): locks and reads it.
CREATE FUNCTION rs_booking_move(bid bigint, to_status booking_status, actor bigint,
                                why text DEFAULT NULL, data jsonb DEFAULT '{}')
RETURNS booking LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    SELECT * INTO b FROM booking WHERE id = bid FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such booking', jsonb_build_object('booking_id', bid));
    END IF;
    RETURN rs_booking_transition(b, to_status, actor, why, data);
END $$;

-- ---------------------------------------------------------------------------
-- Reading bookings

-- Tenancy: carers reach bookings of their family (made by them or for a
-- person they care for), providers bookings of their own supply,
-- coordinators their authority's, admins all.
CREATE FUNCTION rs_booking_for(ctx jsonb, bid bigint) RETURNS booking
LANGUAGE plpgsql STABLE AS $$
DECLARE
    b booking;
BEGIN
    SELECT * INTO b FROM booking WHERE id = bid;
    IF NOT FOUND THEN
        PERFORM rs_raise('not_found', 'no such booking', jsonb_build_object('booking_id', bid));
    END IF;
    IF ctx->>'role' = 'admin'
       OR (ctx->>'role' = 'coordinator' AND b.authority_id = rs_authority(ctx))
       OR (ctx->>'role' = 'provider' AND b.provider_id = (ctx->>'provider_id')::bigint)
       OR (ctx->>'role' = 'carer' AND (b.carer_id = rs_ctx_carer_id(ctx)
               OR EXISTS (SELECT 1 FROM care_link l WHERE l.person_id = b.person_id
                                                      AND l.carer_id = rs_ctx_carer_id(ctx)))) THEN
        RETURN b;
    END IF;
    PERFORM rs_raise('not_found', 'no such booking', jsonb_build_object('booking_id', bid));
    RETURN NULL;
END $$;

-- The answer of every booking method is built by these two. They are
-- PL/pgSQL so that their one query each is planned once per connection: as
-- SQL functions (which PostgreSQL cannot inline, having subqueries) they
-- were parsed and planned again in every transaction, and were the largest
-- single cost of a hold and of a confirmation.
CREATE FUNCTION rs_booking_legs_json(bid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'leg', t.leg, 'transfer_id', t.id, 'kind', t.kind, 'status', t.status,
               'source', coalesce(d.source::text, CASE d.kind WHEN 'payable' THEN 'provider' END),
               'entitlement_id', d.entitlement_id, 'from_account_id', d.id, 'from_account', d.name,
               'to_account_id', c.id, 'unit', t.unit, 'amount', t.amount,
               'amount_text', rs_amount_text(t.amount, t.unit), 'covers_pence', t.covers_pence,
               'reverses', t.reverses_id,
               'expires_at', CASE WHEN t.status = 'pending' THEN rs_ts_text(t.expires_at) END))
             ORDER BY t.leg), '[]')
      FROM ledger_transfer t
      JOIN account d ON d.id = t.debit_account_id
      JOIN account c ON c.id = t.credit_account_id
     WHERE t.booking_id = bid);
END $$;

CREATE FUNCTION rs_booking_json(b booking, detailed boolean DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    j jsonb;
BEGIN
    j := jsonb_build_object(
        'booking_id', b.id, 'status', b.status, 'break_kind', b.break_kind, 'subject', b.subject,
        'carer_id', b.carer_id, 'person_id', b.person_id,
        'person', (SELECT pe.name FROM person pe WHERE pe.id = b.person_id),
        'supply_id', b.supply_id, 'kind', b.kind, 'mode', b.mode,
        'supply', (SELECT s.name FROM supply s WHERE s.id = b.supply_id),
        'provider', (SELECT jsonb_build_object('provider_id', pr.id, 'name', pr.name)
                       FROM provider pr WHERE pr.id = b.provider_id),
        'nights', CASE WHEN b.nights IS NOT NULL THEN rs_nights_json(b.nights) END,
        'span', rs_span_json(b.span), 'minutes', b.minutes,
        'session_id', b.session_id, 'seats', b.seats,
        'units', (SELECT jsonb_agg(jsonb_build_object('unit_id', u.id, 'unit', u.label,
                                                      'allocation_id', a.id, 'active', a.active) ORDER BY a.id)
                    FROM allocation a JOIN unit u ON u.id = a.unit_id WHERE a.booking_id = b.id),
        'price_pence', b.price_pence, 'price_unit', b.price_unit,
        'cost_pence', b.cost_pence, 'donated', b.donated,
        'value_pence', CASE WHEN b.donated THEN b.value_pence END,
        'actual_cost_pence', b.actual_cost_pence, 'actual_minutes', b.actual_minutes,
        'hold_expires_at', rs_ts_text(b.expires_at),
        'override_reason', b.override_reason,
        'on_behalf', b.on_behalf,
        'booked_by', (SELECT u.username FROM app_user u WHERE u.id = b.created_by),
        'warnings', CASE WHEN jsonb_array_length(b.warnings) > 0 THEN b.warnings END,
        'notes', b.notes, 'cancel_reason', b.cancel_reason,
        'liked', b.liked,
        'created_at', rs_ts_text(b.created_at), 'confirmed_at', rs_ts_text(b.confirmed_at),
        'completed_at', rs_ts_text(b.completed_at), 'cancelled_at', rs_ts_text(b.cancelled_at));
    IF detailed THEN
        j := j || jsonb_build_object(
            'legs', rs_booking_legs_json(b.id),
            'events', (SELECT jsonb_agg(jsonb_build_object(
                                  'at', rs_ts_text(e.at), 'from', e.from_status, 'to', e.to_status,
                                  'by', (SELECT username FROM app_user WHERE id = e.actor_user_id),
                                  'reason', e.reason) ORDER BY e.id)
                         FROM booking_event e WHERE e.booking_id = b.id));
    END IF;
    RETURN jsonb_strip_nulls(j);
END $$;

-- ---------------------------------------------------------------------------
-- booking.quote: the options for a request, best first, each with its
-- cost, who would pay (and what would be left short), warnings, and the
-- reasons it ranks where it does. Writes nothing.

-- Supply the subject had before (confirmed or completed breaks), most
-- recent first, with how often: continuity ranks it first.
CREATE FUNCTION rs_history(r booking_req)
RETURNS TABLE (supply_id bigint, times bigint, last_day date)
LANGUAGE sql STABLE AS $$
    SELECT b.supply_id, count(*), max(b.first_day)
      FROM booking b
     WHERE CASE WHEN r.subject = 'person' THEN b.person_id = r.person_id
                ELSE b.carer_id = r.carer_id AND b.subject = 'carer' END
       AND b.status IN ('confirmed', 'in_progress', 'completed')
     GROUP BY b.supply_id
     ORDER BY max(b.first_day) DESC
$$;

CREATE FUNCTION rs_quote_search_params(ctx jsonb, r booking_req, preferred bigint[], n int) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'authority_id', CASE WHEN ctx->>'role' = 'admin' THEN r.authority_id END,
        'from', lower(r.nights), 'to', upper(r.nights),
        'start', rs_ts_text(lower(r.span)), 'end', rs_ts_text(upper(r.span)),
        'kinds', to_jsonb(r.kinds), 'needs', to_jsonb(r.needs), 'wishes', to_jsonb(r.wishes),
        'language', CASE WHEN r.subject = 'person' THEN r.language END, 'gender', r.gender,
        'near', CASE WHEN r.lat IS NOT NULL
                     THEN jsonb_build_object('lat', r.lat, 'lon', r.lon, 'radius_km', r.radius_km) END,
        'supply_id', r.supply_id, 'preferred_supply_ids', to_jsonb(preferred), 'limit', n))
$$;

-- One quote option from one search hit.
CREATE FUNCTION rs_quote_option(r booking_req, hit jsonb, liked bigint[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s supply;
    sh booking_shape;
    rules jsonb;
    plan jsonb;
    refusal jsonb;
    h record;
    reasons text[] := '{}';
    who text;
BEGIN
    SELECT * INTO s FROM supply WHERE id = (hit->>'supply_id')::bigint;
    r.session_id := (hit->>'session_id')::bigint;
    sh := rs_booking_shape(r, s);
    rules := rs_rules_check(r, s, sh);
    plan := rs_plan_payment(r, s, sh, sh.cost_pence, sh.quantity, false);
    refusal := rules->'refusal';
    IF refusal IS NULL AND NOT (plan->>'ok')::boolean THEN
        refusal := jsonb_build_object('reason', plan->>'reason', 'message', plan->>'message',
                                      'shortfall_pence', plan->'shortfall_pence');
    END IF;
    who := CASE s.kind WHEN 'worker' THEN 'worker' WHEN 'household' THEN 'Shared Lives carer'
                       WHEN 'bed' THEN 'place' ELSE 'offer' END;
    SELECT * INTO h FROM rs_history(r) x WHERE x.supply_id = s.id;
    IF r.supply_id = s.id THEN
        reasons := reasons || ('the ' || who || ' you asked for');
    END IF;
    IF h.supply_id IS NOT NULL THEN
        reasons := reasons || format('same %s as last time (%s %s, last on %s)', who, h.times,
                                     CASE WHEN h.times = 1 THEN 'break' ELSE 'breaks' END, h.last_day);
    END IF;
    IF s.id = ANY (liked) THEN
        reasons := reasons || ('a ' || who || ' you said you liked');
    END IF;
    reasons := reasons || ARRAY(SELECT x FROM jsonb_array_elements_text(hit->'reasons') x
                                 WHERE x NOT IN ('same worker as last time', 'same Shared Lives carer as last time',
                                                 'chosen before')
                                   AND x !~ '^(£|free)');
    reasons := reasons || (CASE WHEN sh.donated THEN 'free: donated' || CASE WHEN sh.value_pence > 0
                                    THEN ' (worth ' || rs_money_text(sh.value_pence) || ')' ELSE '' END
                                ELSE rs_money_text(sh.cost_pence) || ' in all' END);
    reasons := reasons || ARRAY(SELECT 'paid by ' || (l->>'name') || ': ' || rs_amount_text((l->>'amount')::bigint, (l->>'unit')::ledger_unit)
                                  FROM jsonb_array_elements(plan->'legs') l WHERE l->>'kind' = 'charge');
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'search_rank', hit->'rank', 'supply_id', s.id, 'kind', s.kind, 'mode', sh.mode,
        -- 2: asked for, or liked; 1: used before; 0: new to the family.
        'continuity', CASE WHEN r.supply_id = s.id OR s.id = ANY (liked) THEN 2
                           WHEN h.supply_id IS NOT NULL THEN 1 ELSE 0 END,
        'name', s.name, 'provider', hit->'provider',
        'session_id', sh.session_id, 'day', hit->'day', 'starts_at', hit->'starts_at',
        'seats_left', hit->'seats_left',
        'nights', CASE WHEN sh.nights IS NOT NULL THEN rs_nights_json(sh.nights) END,
        'span', CASE WHEN sh.span IS NOT NULL THEN rs_span_json(sh.span) END,
        'minutes', sh.minutes, 'distance_km', hit->'distance_km',
        'needs_met', hit->'needs_met', 'wishes_met', hit->'wishes_met',
        'price_pence', sh.price_pence, 'price_unit', sh.price_unit, 'cost_pence', sh.cost_pence,
        'donated', sh.donated, 'value_pence', CASE WHEN sh.donated THEN sh.value_pence END,
        'bookable', refusal IS NULL,
        'refusal', refusal,
        'paid_by', plan->'legs',
        'not_used', CASE WHEN jsonb_array_length(plan->'skipped') > 0 THEN plan->'skipped' END,
        'warnings', CASE WHEN jsonb_array_length(rules->'warnings') > 0 THEN rules->'warnings' END,
        'reasons', to_jsonb(reasons),
        'hold', jsonb_strip_nulls(jsonb_build_object('supply_id', s.id, 'session_id', sh.session_id))));
END $$;

-- When nothing is offered: no_match if no supply of the kinds meets the
-- needs at all, else no_capacity (it exists but is taken or closed).
CREATE FUNCTION rs_refuse_empty(r booking_req) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM supply s
                WHERE s.authority_id = r.authority_id AND s.active AND NOT s.emergency_only
                  AND s.kind::text = ANY (r.kinds)
                  AND s.capabilities @> (r.needs || CASE WHEN r.language IS NOT NULL AND r.subject = 'person'
                                                         THEN ARRAY['lang:' || r.language] ELSE '{}' END)
                  AND (r.supply_id IS NULL OR s.id = r.supply_id)) THEN
        PERFORM rs_refuse('no_capacity', 'nothing that meets the needs is free at that time', r);
    END IF;
    PERFORM rs_refuse('no_match', 'no supply meets the needs', r);
END $$;

CREATE FUNCTION booking_quote(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r booking_req;
    v_limit int := rs_p_limit(p, 5);
    avoided bigint[] := '{}';
    liked bigint[] := '{}';
    preferred bigint[];
    found jsonb;
    hit jsonb;
    opts jsonb := '[]';
BEGIN
    r := rs_booking_req(ctx, p);
    IF r.subject = 'person' THEN
        avoided := ARRAY(SELECT supply_id FROM person_supply_pref WHERE person_id = r.person_id AND NOT person_supply_pref.liked);
        liked := ARRAY(SELECT supply_id FROM person_supply_pref WHERE person_id = r.person_id AND person_supply_pref.liked);
    END IF;
    preferred := ARRAY(SELECT DISTINCT x FROM unnest(liked || ARRAY(SELECT supply_id FROM rs_history(r))) x
                        WHERE NOT x = ANY (avoided));
    found := availability_search(ctx, rs_quote_search_params(ctx, r, preferred,
                                                                 least(100, v_limit + cardinality(avoided))));
    FOR hit IN SELECT value FROM jsonb_array_elements(found->'results') LOOP
        EXIT WHEN jsonb_array_length(opts) >= v_limit;
        CONTINUE WHEN (hit->>'supply_id')::bigint = ANY (avoided);
        opts := opts || rs_quote_option(r, hit, liked);
    END LOOP;
    IF jsonb_array_length(opts) = 0 THEN
        PERFORM rs_refuse_empty(r);
    END IF;
    -- Bookable options first; then continuity (the worker asked for or
    -- liked, then one used before); then the search's order (most wishes
    -- met, nearest, cheapest).
    SELECT jsonb_agg(o || jsonb_build_object('rank', n) ORDER BY n) INTO opts
      FROM (SELECT o, row_number() OVER (ORDER BY (o->>'bookable')::boolean DESC, (o->>'continuity')::int DESC,
                                                  (o->>'search_rank')::int) n
              FROM jsonb_array_elements(opts) o) x;
    RETURN jsonb_build_object(
        'request', r.request,
        'options', opts,
        'ranking', 'bookable first; then the worker or Shared Lives carer asked for or liked, then one used before; then most wishes met, nearest, cheapest');
END $$;

-- ---------------------------------------------------------------------------
-- booking.hold and booking.book: capacity and budget reserved (and, for
-- booking.book, confirmed) in one transaction.

CREATE FUNCTION rs_hold_ttl(ctx jsonb, p jsonb) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    dflt int := coalesce((ctx->>'hold_ttl_s')::int, 900);
    v int;
BEGIN
    -- Staff may hold longer (a carer on the phone deciding); carers may
    -- only shorten the configured hold.
    v := rs_p_int(p, 'hold_seconds');
    IF ctx->>'role' = 'carer' AND v > greatest(dflt, 60) THEN
        PERFORM rs_bad_param('hold_seconds', format('out of range (60 to %s)', greatest(dflt, 60)));
    END IF;
    RETURN make_interval(secs => coalesce(v, dflt));
END $$;

-- The booking row, held (with its expiry) or, for booking.book, confirmed.
-- No subtransaction: the person's exclusion constraint can refuse it only
-- for a break rs_rules_check already refused, under the family lock (a
-- live one, or a lapsed hold not yet released).
CREATE FUNCTION rs_booking_insert(r booking_req, s supply, sh booking_shape, v_status booking_status,
                                  ttl interval, warnings jsonb)
RETURNS booking LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    INSERT INTO booking (authority_id, carer_id, person_id, subject, break_kind, status, supply_id,
                         provider_id, kind, mode, nights, span, first_day, minutes, session_id, seats,
                         price_pence, price_unit, cost_pence, value_pence, donated, expires_at,
                         confirmed_at, override_reason, override_by, created_by, on_behalf, request,
                         warnings, notes)
    VALUES (r.authority_id, r.carer_id, r.person_id, r.subject, r.break_kind::break_kind, v_status, s.id,
            s.provider_id, s.kind, sh.mode, sh.nights, sh.span, sh.first_day, sh.minutes, sh.session_id,
            CASE WHEN sh.mode = 'session' THEN r.seats END,
            sh.price_pence, sh.price_unit, sh.cost_pence, sh.value_pence, sh.donated,
            CASE WHEN v_status = 'held' THEN now() + ttl END,
            CASE WHEN v_status = 'confirmed' THEN now() END,
            CASE WHEN s.kind = 'bed' THEN r.override_reason END,
            CASE WHEN s.kind = 'bed' AND r.override_reason IS NOT NULL THEN r.actor_id END,
            r.actor_id, r.actor_role <> 'carer', r.request, warnings, r.notes)
    RETURNING * INTO b;
    RETURN b;
END $$;

-- What booking.hold and booking.book share, in the lock order of 004
-- (family, supply, capacity, accounts): the request read and checked, the
-- family locked, every rule of the supply and of the family applied, the
-- capacity and the budget taken, and the booking, its legs and its events
-- written. With confirm (booking.book) the booking is made confirmed in the
-- same transaction: what booking.confirm would do to the hold just made,
-- done as it is written (legs posted rather than pending then posted, no
-- expiry), with both events, held then confirmed, as a hold and its
-- confirmation leave them. The transition held -> confirmed is checked in
-- booking_transition as booking.confirm checks it.
CREATE FUNCTION rs_booking_make(ctx jsonb, p jsonb, confirm boolean) RETURNS booking
LANGUAGE plpgsql AS $$
DECLARE
    r booking_req;
    ttl interval;
    s supply;
    sh booking_shape;
    refusal jsonb;
    rules jsonb;
    plan jsonb;
    b booking;
BEGIN
    r := rs_booking_req(ctx, p);
    ttl := rs_hold_ttl(ctx, p);
    IF r.supply_id IS NULL THEN
        PERFORM rs_bad_param('supply_id', 'required: the option chosen from booking.quote');
    END IF;
    IF confirm AND NOT EXISTS (SELECT 1 FROM booking_transition
                                WHERE from_status = 'held' AND to_status = 'confirmed') THEN
        PERFORM rs_raise('invalid_state', 'a held booking cannot become confirmed',
                         jsonb_build_object('status', 'held', 'wanted', 'confirmed'));
    END IF;
    PERFORM rs_lock_family(r.carer_id, r.person_id);
    -- FOR KEY SHARE: availability.publish and withdraw and supply.update
    -- take this row FOR UPDATE (002), which waits for it; bookings of one
    -- supply do not wait on each other (the foreign key of the booking row
    -- takes this same lock anyway).
    SELECT * INTO s FROM supply WHERE id = r.supply_id FOR KEY SHARE;
    -- Another authority's supply is answered as missing: ids are not probed.
    IF NOT FOUND OR s.authority_id <> r.authority_id THEN
        PERFORM rs_refuse('not_found', 'no such supply', r, jsonb_build_object('supply_id', r.supply_id));
    END IF;
    IF (s.kind = 'offer') <> (r.subject = 'carer') THEN
        PERFORM rs_bad_param(CASE WHEN s.kind = 'offer' THEN 'person_id' ELSE 'supply_id' END,
            CASE WHEN s.kind = 'offer' THEN 'offers are breaks for the carer: leave out person_id'
                 ELSE 'replacement care is for a cared-for person: give person_id' END);
    END IF;
    sh := rs_booking_shape(r, s);
    refusal := rs_supply_refusal(r, s, sh);
    IF refusal IS NOT NULL THEN
        PERFORM rs_refuse(refusal->>'reason', refusal->>'message', r, refusal - 'reason' - 'message');
    END IF;
    IF sh.mode = 'session' AND sh.session_id IS NULL THEN
        PERFORM rs_refuse('no_capacity', 'no seats left on the requested day(s)', r,
                          jsonb_build_object('supply_id', s.id));
    END IF;
    rules := rs_rules_check(r, s, sh);
    IF rules ? 'refusal' THEN
        PERFORM rs_refuse(rules->'refusal'->>'reason', rules->'refusal'->>'message', r,
                          (rules->'refusal') - 'reason' - 'message');
    END IF;
    b := rs_booking_insert(r, s, sh, CASE WHEN confirm THEN 'confirmed' ELSE 'held' END::booking_status,
                           ttl, rules->'warnings');
    b := rs_take_capacity(b, r, s, sh);
    plan := rs_plan_payment(r, s, sh, sh.cost_pence, sh.quantity, true);
    IF NOT (plan->>'ok')::boolean THEN
        PERFORM rs_refuse(plan->>'reason', plan->>'message', r,
                          jsonb_build_object('shortfall_pence', plan->'shortfall_pence',
                                             'cost_pence', sh.cost_pence, 'not_used', plan->'skipped'));
    END IF;
    PERFORM rs_write_legs(b, plan, CASE WHEN confirm THEN 'posted' ELSE 'pending' END::transfer_status,
                          'charge', b.expires_at, NULL, 0);
    INSERT INTO booking_event (booking_id, actor_user_id, from_status, to_status, reason, data)
    SELECT b.id, r.actor_id, e.from_status, e.to_status, e.reason, e.data
      FROM (VALUES (1, NULL::booking_status, 'held'::booking_status, b.override_reason,
                    jsonb_strip_nulls(jsonb_build_object('on_behalf', b.on_behalf, 'override', b.override_reason))),
                   (2, 'held', 'confirmed', NULL, jsonb_build_object('on_behalf', b.on_behalf)))
           AS e(n, from_status, to_status, reason, data)
     WHERE e.n = 1 OR confirm
     ORDER BY e.n;
    RETURN b;
END $$;

-- booking.hold: the booking held, legs pending, until hold_ttl_s.
CREATE FUNCTION booking_hold(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking := rs_booking_make(ctx, p, false);
BEGIN
    -- A statement of its own: the answer reads what the call wrote.
    RETURN rs_booking_json(b);
END $$;

-- booking.book: booking.hold and booking.confirm in one call and one
-- transaction, with the same params, checks and locks as booking.hold, and
-- the answer booking.confirm gives (built once).
CREATE FUNCTION booking_book(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking := rs_booking_make(ctx, p, true);
BEGIN
    -- A statement of its own: the answer reads what the call wrote.
    RETURN rs_booking_json(b);
END $$;

-- ---------------------------------------------------------------------------
-- Changing a booking

-- The booking a mutating call acts on, with the family locked and the
-- booking re-read under the lock.
CREATE FUNCTION rs_booking_locked(ctx jsonb, p jsonb) RETURNS booking
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    b := rs_booking_for(ctx, rs_p_int(p, 'booking_id'));
    PERFORM rs_lock_family(b.carer_id, b.person_id);
    SELECT * INTO b FROM booking WHERE id = b.id FOR NO KEY UPDATE;
    RETURN b;
END $$;

CREATE FUNCTION booking_confirm(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    b := rs_booking_locked(ctx, p);
    -- A lapsed hold is refused; the janitor releases it (an error cannot
    -- also commit the release).
    IF b.status = 'expired' OR (b.status = 'held' AND b.expires_at <= now()) THEN
        PERFORM rs_raise('hold_expired', 'the hold expired: quote and hold again',
                         jsonb_build_object('booking_id', b.id, 'expired_at', rs_ts_text(b.expires_at),
                                            'request', b.request));
    END IF;
    IF b.status <> 'held' THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be confirmed', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'confirmed'));
    END IF;
    b := rs_booking_transition(b, 'confirmed', (ctx->>'user_id')::bigint, NULL,
                               jsonb_build_object('on_behalf', ctx->>'role' <> 'carer'));
    RETURN rs_booking_json(b);
END $$;

-- booking.cancel: carers cancel as the carer, providers as the provider;
-- staff say which (by), with a reason.
CREATE FUNCTION booking_cancel(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
    v_by text := rs_p_enum(p, 'by');
    v_reason text := rs_p_text(p, 'reason');
BEGIN
    IF ctx->>'role' IN ('carer', 'provider') THEN
        IF v_by IS NOT NULL AND v_by <> ctx->>'role' THEN
            PERFORM rs_raise('forbidden', 'you cancel as yourself', jsonb_build_object('field', 'by'));
        END IF;
        v_by := ctx->>'role';
    ELSE
        PERFORM rs_p_required(p, 'by');
    END IF;
    IF ctx->>'role' <> 'carer' THEN
        PERFORM rs_p_required(p, 'reason');
    END IF;
    b := rs_booking_locked(ctx, p);
    b := rs_booking_transition(b, ('cancelled_by_' || v_by)::booking_status, (ctx->>'user_id')::bigint,
                               coalesce(v_reason, 'cancelled by the carer'),
                               jsonb_build_object('role', ctx->>'role'));
    RETURN rs_booking_json(b);
END $$;

CREATE FUNCTION booking_get(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN rs_booking_json(rs_booking_for(ctx, rs_p_int(p, 'booking_id')));
END $$;

CREATE FUNCTION booking_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_carer bigint := rs_p_int(p, 'carer_id');
    v_person bigint := rs_p_int(p, 'person_id');
    v_provider bigint := rs_p_int(p, 'provider_id');
    v_status text[];
    v_from date := rs_p_date(p, 'from');
    v_to date := rs_p_date(p, 'to');
    v_limit int := rs_p_limit(p, 50);
    v_offset int := rs_p_offset(p);
    v_auth bigint;
    mine bigint;
    rows jsonb;
BEGIN
    IF p ? 'status' THEN
        v_status := ARRAY(SELECT rs_p_enum(jsonb_build_object('status', x), 'status')
                            FROM jsonb_array_elements(rs_p_array(p, 'status')) x);
    END IF;
    IF ctx->>'role' = 'carer' THEN
        mine := rs_ctx_carer_id(ctx);
        IF v_carer IS NOT NULL AND v_carer <> mine THEN
            PERFORM rs_raise('forbidden', 'you may list only your own family''s bookings');
        END IF;
    ELSIF ctx->>'role' = 'provider' THEN
        IF v_provider IS NOT NULL AND v_provider IS DISTINCT FROM (ctx->>'provider_id')::bigint THEN
            PERFORM rs_raise('forbidden', 'you may list only your own bookings');
        END IF;
        v_provider := coalesce((ctx->>'provider_id')::bigint, -1);
    ELSIF ctx->>'role' = 'coordinator' THEN
        v_auth := rs_authority(ctx);
    END IF;
    SELECT coalesce(jsonb_agg(rs_booking_json(b, false) ORDER BY b.first_day, b.id), '[]') INTO rows
      FROM (SELECT * FROM booking x
             WHERE (v_auth IS NULL OR x.authority_id = v_auth)
               AND (mine IS NULL OR x.carer_id = mine
                    OR x.person_id IN (SELECT person_id FROM care_link WHERE carer_id = mine))
               AND (v_carer IS NULL OR x.carer_id = v_carer)
               AND (v_person IS NULL OR x.person_id = v_person)
               AND (v_provider IS NULL OR x.provider_id = v_provider)
               AND (v_status IS NULL OR x.status::text = ANY (v_status))
               AND (v_from IS NULL OR x.first_day >= v_from)
               AND (v_to IS NULL OR x.first_day < v_to)
             ORDER BY x.first_day, x.id LIMIT v_limit + 1 OFFSET v_offset) b;
    RETURN jsonb_build_object(
        'bookings', CASE WHEN jsonb_array_length(rows) > v_limit THEN rows - v_limit ELSE rows END,
        'next_offset', CASE WHEN jsonb_array_length(rows) > v_limit THEN v_offset + v_limit END);
END $$;
