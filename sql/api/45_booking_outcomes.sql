-- After the break: booking.complete (actual cost), booking.no_show and
-- booking.feedback, and re-planning a booking's money when its cost
-- changes.

-- The request a booking was made with, for re-planning its money.
CREATE FUNCTION rs_booking_as_req(b booking, ctx jsonb, self_fund boolean) RETURNS booking_req
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r booking_req;
BEGIN
    r.carer_id := b.carer_id;
    r.person_id := b.person_id;
    r.authority_id := b.authority_id;
    r.subject := b.subject;
    r.break_kind := b.break_kind;
    r.nights := b.nights;
    r.span := b.span;
    r.self_fund := self_fund;
    r.actor_id := (ctx->>'user_id')::bigint;
    r.actor_role := ctx->>'role';
    r.request := b.request;
    RETURN r;
END $$;

-- Completion with an actual cost that differs: the actual minutes and
-- pence are filled into the booking's posted legs in order, each up to
-- what it paid; what a leg no longer needs goes back to its budget
-- (adjustment from the provider's side), and what is still unpaid is
-- planned afresh and posted (adjustment to the provider's side).
CREATE FUNCTION rs_booking_adjust(b booking, ctx jsonb, new_cost bigint, new_qty bigint, self_fund boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
    rem_p bigint := new_cost;
    rem_q bigint := new_qty;
    keep bigint;
    keep_cov bigint;
    f record;
    next_leg int;
    s supply;
    sh booking_shape;
    r booking_req;
    plan jsonb;
BEGIN
    PERFORM rs_booking_lock_accounts(b.id);
    next_leg := (SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id);
    FOR t IN SELECT * FROM ledger_transfer
              WHERE booking_id = b.id AND status = 'posted' AND kind = 'charge' ORDER BY leg LOOP
        SELECT * INTO f FROM rs_fill(t.unit, t.amount, new_cost, new_qty, rem_p, rem_q);
        rem_p := f.rem_p;
        rem_q := f.rem_q;
        keep := f.take;
        keep_cov := f.covers;
        IF keep < t.amount THEN
            next_leg := next_leg + 1;
            PERFORM rs_transfer(t.credit_account_id, t.debit_account_id, t.amount - keep, 'posted',
                                'adjustment', b.id, next_leg, keep_cov - t.covers_pence, NULL,
                                'actual cost: returned', NULL);
        ELSIF keep_cov <> t.covers_pence THEN
            next_leg := next_leg + 1;
            PERFORM rs_transfer(t.debit_account_id, t.credit_account_id, 0, 'posted', 'adjustment',
                                b.id, next_leg, keep_cov - t.covers_pence, NULL, 'actual cost: repriced', NULL);
        END IF;
    END LOOP;
    IF rem_p > 0 OR rem_q > 0 THEN
        SELECT * INTO s FROM supply WHERE id = b.supply_id;
        r := rs_booking_as_req(b, ctx, self_fund);
        sh.mode := b.mode;
        sh.nights := b.nights;
        sh.span := b.span;
        sh.first_day := b.first_day;
        sh.days := coalesce(b.nights, daterange(b.first_day, b.first_day + 1
                                    + (rs_local_day(upper(b.span) - interval '1 microsecond') - rs_local_day(lower(b.span)))));
        sh.qty_unit := CASE WHEN b.mode = 'stay' THEN 'nights' WHEN b.mode IN ('visit', 'day') THEN 'minutes' END;
        sh.donated := false;
        plan := rs_plan_payment(r, s, sh, rem_p, rem_q, true);
        IF NOT (plan->>'ok')::boolean THEN
            PERFORM rs_raise(plan->>'reason', 'the actual cost is more than the budgets can pay: ' || (plan->>'message')
                             || ' (complete with self_fund_remainder, or with the quoted cost)',
                             jsonb_build_object('booking_id', b.id, 'shortfall_pence', plan->'shortfall_pence',
                                                'not_used', plan->'skipped', 'request', b.request));
        END IF;
        PERFORM rs_write_legs(b, plan, 'posted', 'adjustment', NULL, 'actual cost');
    END IF;
END $$;

-- A break that has not begun cannot be completed or missed.
CREATE FUNCTION rs_require_started(b booking) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF lower(b.span) > now() THEN
        PERFORM rs_raise('invalid_state', 'the break has not started yet',
                         jsonb_build_object('booking_id', b.id, 'status', b.status,
                                            'starts', rs_ts_text(lower(b.span))));
    END IF;
END $$;

CREATE FUNCTION booking_complete(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
    s supply;
    v_minutes int := rs_p_int(p, 'actual_minutes');
    v_cost bigint := rs_p_int(p, 'actual_cost_pence');
    new_qty bigint;
BEGIN
    b := rs_booking_locked(ctx, p);
    IF b.status NOT IN ('confirmed', 'in_progress') THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be completed', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'completed'));
    END IF;
    PERFORM rs_require_started(b);
    IF v_minutes IS NOT NULL AND b.mode NOT IN ('visit', 'day') THEN
        PERFORM rs_bad_param('actual_minutes', 'only for visits and day support');
    END IF;
    IF b.donated AND coalesce(v_cost, 0) > 0 THEN
        PERFORM rs_bad_param('actual_cost_pence', 'a donated break costs the family nothing');
    END IF;
    SELECT * INTO s FROM supply WHERE id = b.supply_id;
    new_qty := coalesce(v_minutes, b.minutes, upper(b.nights) - lower(b.nights), 0);
    v_cost := coalesce(v_cost, CASE WHEN v_minutes IS NULL OR b.donated THEN b.cost_pence
                                    ELSE rs_hour_cost(b.price_pence, b.price_unit, v_minutes, s.attrs) END);
    IF NOT b.donated AND (v_cost <> b.cost_pence OR new_qty <> coalesce(b.minutes, upper(b.nights) - lower(b.nights), 0)) THEN
        PERFORM rs_booking_adjust(b, ctx, v_cost, new_qty, coalesce(rs_p_bool(p, 'self_fund_remainder'), false));
    END IF;
    UPDATE booking SET actual_cost_pence = v_cost, actual_minutes = v_minutes,
           notes = coalesce(rs_p_text(p, 'notes'), notes)
     WHERE id = b.id;
    b := rs_booking_move(b.id, 'completed', (ctx->>'user_id')::bigint, rs_p_text(p, 'notes'),
                         jsonb_strip_nulls(jsonb_build_object('actual_cost_pence', v_cost, 'actual_minutes', v_minutes)));
    RETURN rs_booking_json(b);
END $$;

CREATE FUNCTION booking_no_show(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
BEGIN
    b := rs_booking_locked(ctx, p);
    IF b.status <> 'confirmed' THEN
        PERFORM rs_raise('invalid_state', format('a %s booking cannot be a no-show', b.status),
                         jsonb_build_object('booking_id', b.id, 'status', b.status, 'wanted', 'no_show'));
    END IF;
    PERFORM rs_require_started(b);
    -- The charge stands (the provider kept the place); the capacity left
    -- is given back.
    b := rs_booking_move(b.id, 'no_show', (ctx->>'user_id')::bigint, rs_p_text(p, 'reason'));
    RETURN rs_booking_json(b);
END $$;

-- booking.feedback: whether the family liked the worker or Shared Lives
-- carer; liked ones rank first in later quotes, disliked ones are left out.
CREATE FUNCTION booking_feedback(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b booking;
    v_liked boolean;
BEGIN
    v_liked := rs_p_bool(p, 'liked');
    b := rs_booking_locked(ctx, p);
    IF b.status <> 'completed' THEN
        PERFORM rs_raise('invalid_state', 'feedback is given after the break',
                         jsonb_build_object('booking_id', b.id, 'status', b.status));
    END IF;
    UPDATE booking SET liked = v_liked, feedback = rs_p_text(p, 'note'), updated_at = now()
     WHERE id = b.id RETURNING * INTO b;
    IF b.person_id IS NOT NULL THEN
        INSERT INTO person_supply_pref (person_id, supply_id, liked, note)
        VALUES (b.person_id, b.supply_id, v_liked, rs_p_text(p, 'note'))
        ON CONFLICT (person_id, supply_id) DO UPDATE
           SET liked = excluded.liked, note = coalesce(excluded.note, person_supply_pref.note), updated_at = now();
    END IF;
    RETURN rs_booking_json(b);
END $$;
