-- ---------------------------------------------------------------------------
-- Who pays: the payment plan

-- Why an entitlement cannot pay for this break, or NULL when it can, with
-- a category: inactive, charging_rule, unit, kind, validity, bank_holiday.
-- When no entitlement may pay at all the refusal is condition_not_met;
-- when some may but have too little left, budget_exceeded.
CREATE FUNCTION rs_entitlement_refusal(e entitlement, r booking_req, s supply, sh booking_shape)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    bh bank_holiday;
BEGIN
    IF NOT e.active THEN
        RETURN jsonb_build_object('category', 'inactive', 'why', 'no longer active');
    END IF;
    IF NOT rs_source_pays(e.source, r.subject, r.break_kind) THEN
        RETURN jsonb_build_object('category', 'charging_rule', 'why', CASE
            WHEN e.source = 'emergency_fund' THEN 'pays for emergency replacement care only'
            WHEN r.subject = 'person' THEN 'pays for the carer''s own breaks, not replacement care (charged to the cared-for person or the council)'
            ELSE 'pays for replacement care, not the carer''s own breaks' END);
    END IF;
    IF e.unit = 'minutes' AND sh.qty_unit IS DISTINCT FROM 'minutes' THEN
        RETURN jsonb_build_object('category', 'unit', 'why', 'counts hours of care; this break is not counted in hours');
    END IF;
    IF e.unit = 'nights' AND sh.qty_unit IS DISTINCT FROM 'nights' THEN
        RETURN jsonb_build_object('category', 'unit', 'why', 'counts nights; this break is not a stay');
    END IF;
    IF e.kinds IS NOT NULL AND NOT s.kind = ANY (e.kinds) THEN
        RETURN jsonb_build_object('category', 'kind', 'why', 'pays for ' || array_to_string(e.kinds, ', ') || ' only');
    END IF;
    IF lower(sh.days) < e.valid_from OR (e.valid_to IS NOT NULL AND upper(sh.days) > e.valid_to) THEN
        RETURN jsonb_build_object('category', 'validity', 'why',
            format('valid from %s%s', e.valid_from, coalesce(' to ' || (e.valid_to - 1), '')));
    END IF;
    IF e.exclude_bank_holidays THEN
        SELECT * INTO bh FROM bank_holiday WHERE day <@ sh.days ORDER BY day LIMIT 1;
        IF FOUND THEN
            RETURN jsonb_build_object('category', 'bank_holiday', 'day', bh.day, 'why',
                format('cannot be used on bank holidays (%s, %s)', bh.name, bh.day));
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- One leg's share of a break: how much of what is left to pay (rem_p
-- pence, rem_q minutes or nights) a source with `cap` left in `u` can take,
-- for a break costing `cost` pence for `qty` minutes or nights in all.
-- A pence leg pays money, and what remains of the care shrinks with it; a
-- minutes or nights leg pays care and covers the matching share of the
-- cost, but never all of it while care is left unpaid.
CREATE FUNCTION rs_fill(u ledger_unit, cap bigint, cost bigint, qty bigint,
                        INOUT rem_p bigint, INOUT rem_q bigint, OUT take bigint, OUT covers bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF u = 'pence' THEN
        take := least(cap, rem_p);
        covers := take;
        rem_p := rem_p - take;
        rem_q := CASE WHEN cost > 0 THEN ceil(coalesce(qty, 0)::numeric * rem_p / cost) ELSE 0 END;
    ELSE
        take := least(cap, rem_q);
        covers := CASE WHEN take = rem_q THEN rem_p
                       ELSE least(floor(cost::numeric * take / qty)::bigint, greatest(rem_p - 1, 0)) END;
        rem_q := rem_q - take;
        rem_p := rem_p - covers;
    END IF;
END $$;

-- Splits `cost` pence and `qty` minutes or nights of a break across the
-- family's entitlements: in pay_from order when given, else by priority.
-- A pence leg pays money; a minutes or nights leg pays care and covers the
-- matching share of the cost. With materialise, period accounts are opened
-- and balances read from the ledger (hold); without, nothing is written
-- (quote). Returns {ok, legs, skipped, shortfall_pence, reason, message}.
CREATE FUNCTION rs_plan_payment(r booking_req, s supply, sh booking_shape, cost bigint, qty bigint,
                                materialise boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    e entitlement;
    rem_p bigint := cost;
    rem_q bigint := coalesce(qty, 0);
    legs jsonb := '[]';
    skipped jsonb := '[]';
    why jsonb;
    acct bigint;
    avail bigint;
    take bigint;
    covers bigint;
    f record;
    usable int := 0;
    bad bigint;
BEGIN
    IF sh.donated THEN
        RETURN jsonb_build_object('ok', true, 'skipped', '[]'::jsonb, 'legs', jsonb_build_array(jsonb_build_object(
            'kind', 'donation', 'source', 'donated', 'name', 'Donated by the provider',
            'unit', 'pence', 'amount', sh.value_pence, 'covers_pence', 0)));
    END IF;
    IF r.pay_from IS NOT NULL THEN
        SELECT i INTO bad FROM unnest(r.pay_from) i
         WHERE NOT EXISTS (SELECT 1 FROM entitlement x WHERE x.id = i
                             AND (x.carer_id = r.carer_id OR x.person_id = r.person_id)) LIMIT 1;
        IF bad IS NOT NULL THEN
            PERFORM rs_bad_param('pay_from', format('entitlement %s is not this family''s', bad));
        END IF;
    END IF;
    -- Before touching their accounts, the family's entitlement rows are
    -- locked: the janitor pays ongoing entitlements in only under that
    -- lock, so it and a booking never hold each other's accounts.
    IF materialise THEN
        PERFORM 1 FROM entitlement x WHERE x.carer_id = r.carer_id OR x.person_id = r.person_id
         ORDER BY x.id FOR NO KEY UPDATE;
    END IF;
    FOR e IN SELECT * FROM entitlement x
              WHERE (x.carer_id = r.carer_id OR x.person_id = r.person_id)
                AND (r.pay_from IS NULL OR x.id = ANY (r.pay_from))
              ORDER BY CASE WHEN r.pay_from IS NULL THEN x.priority ELSE array_position(r.pay_from, x.id) END, x.id LOOP
        EXIT WHEN rem_p = 0 AND rem_q = 0;
        why := rs_entitlement_refusal(e, r, s, sh);
        IF why IS NOT NULL THEN
            skipped := skipped || (why || jsonb_build_object('entitlement_id', e.id, 'name', e.name));
            CONTINUE;
        END IF;
        usable := usable + 1;
        IF materialise AND e.rule IN ('fixed', 'one_off') THEN
            -- the entitlement's one account, and its balance, in one lookup
            SELECT a.id, rs_available(a) INTO acct, avail FROM account a WHERE a.ref = 'ent:' || e.id;
        ELSE
            acct := rs_entitlement_account(e, sh.first_day, materialise);
            avail := CASE WHEN materialise THEN (SELECT rs_available(a) FROM account a WHERE a.id = acct)
                          ELSE rs_entitlement_available(e, sh.first_day) END;
        END IF;
        IF e.allow_overdraw THEN
            avail := 9223372036854775807;
        END IF;
        IF coalesce(avail, 0) <= 0 THEN
            skipped := skipped || jsonb_build_object('entitlement_id', e.id, 'name', e.name,
                'category', 'empty', 'why', CASE WHEN e.rule = 'recurring'
                    THEN format('nothing left for the %s of %s', e.period, lower(rs_period(e.period, sh.first_day)))
                    ELSE 'nothing left' END);
            CONTINUE;
        END IF;
        f := rs_fill(e.unit, avail, cost, qty, rem_p, rem_q);
        rem_p := f.rem_p;
        rem_q := f.rem_q;
        take := f.take;
        covers := f.covers;
        IF take > 0 OR covers > 0 THEN
            legs := legs || jsonb_build_object('kind', 'charge', 'entitlement_id', e.id, 'name', e.name,
                'source', e.source, 'unit', e.unit, 'amount', take, 'covers_pence', covers,
                'account_id', acct,
                'period', CASE WHEN e.rule = 'recurring' THEN rs_period(e.period, sh.first_day)::text END);
        END IF;
    END LOOP;
    IF rem_p > 0 OR rem_q > 0 THEN
        IF r.self_fund AND rem_p > 0 THEN
            legs := legs || jsonb_build_object('kind', 'charge', 'source', 'self_funded',
                'name', 'Paid by the family', 'unit', 'pence', 'amount', rem_p, 'covers_pence', rem_p);
            rem_p := 0;
            rem_q := 0;
        ELSE
            RETURN jsonb_build_object('ok', false, 'legs', legs, 'skipped', skipped,
                'shortfall_pence', rem_p, 'shortfall', rem_q,
                'reason', CASE WHEN usable = 0 AND jsonb_array_length(skipped) > 0
                               THEN 'condition_not_met' ELSE 'budget_exceeded' END,
                'message', CASE WHEN usable = 0 AND jsonb_array_length(skipped) > 0
                                THEN 'no budget of the family may pay for this break: '
                                     || (SELECT string_agg((x->>'name') || ' ' || (x->>'why'), '; ')
                                           FROM jsonb_array_elements(skipped) x)
                                ELSE format('not enough budget left: %s short', rs_money_text(rem_p)) END);
        END IF;
    END IF;
    RETURN jsonb_build_object('ok', true, 'legs', legs, 'skipped', skipped);
END $$;

-- ---------------------------------------------------------------------------
-- Money of a booking

-- The accounts a leg moves between: an entitlement's account (or the
-- family's self-funded account, or the provider's donor account) to what
-- the family owes the provider (or the donations the carer received).
CREATE FUNCTION rs_leg_accounts(b booking, leg jsonb, OUT debit bigint, OUT credit bigint)
LANGUAGE plpgsql AS $$
DECLARE
    u ledger_unit := (leg->>'unit')::ledger_unit;
BEGIN
    IF leg->>'kind' = 'donation' THEN
        debit := (rs_account_open(format('donor:%s:%s', b.provider_id, b.carer_id), 'donor', 'pence',
                                  b.authority_id, 'Donated by ' || rs_provider_name(b.provider_id), 'donated',
                                  NULL, NULL, b.carer_id, NULL, b.provider_id, true)).id;
        credit := (rs_account_open('donations:' || b.carer_id, 'donations', 'pence', b.authority_id,
                                   'Donated breaks received', 'donated', NULL, NULL, b.carer_id)).id;
        RETURN;
    END IF;
    IF leg->>'source' = 'self_funded' THEN
        debit := (rs_account_open('self:' || b.carer_id, 'self_funded', 'pence', b.authority_id,
                                  'Paid by the family', 'self_funded', NULL, NULL, b.carer_id,
                                  NULL, NULL, true)).id;
    ELSE
        debit := (leg->>'account_id')::bigint;
    END IF;
    -- The family's payable account for this provider exists after its
    -- first booking: found by its ref; the provider's name is read only to
    -- open it.
    SELECT a.id INTO credit FROM account a WHERE a.ref = format('payable:%s:%s:%s', b.carer_id, b.provider_id, u);
    IF credit IS NULL THEN
        credit := (rs_account_open(format('payable:%s:%s:%s', b.carer_id, b.provider_id, u), 'payable', u,
                                   b.authority_id, format('Owed to %s (%s)', rs_provider_name(b.provider_id), u),
                                   NULL, NULL, NULL, b.carer_id, NULL, b.provider_id)).id;
    END IF;
END $$;

-- A provider's name, for naming the accounts a booking opens.
CREATE FUNCTION rs_provider_name(pid bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT name FROM provider WHERE id = pid);
END $$;

-- Writes a plan's legs as transfers of a booking: pending legs for a hold,
-- posted ones for a booking made and confirmed at once or a completion
-- adjustment. All accounts are locked first, in id order, once (a single
-- leg's transfer locks its two accounts in that order itself); the legs
-- are numbered from first_leg + 1 (NULL: after the booking's last).
CREATE FUNCTION rs_write_legs(b booking, plan jsonb, v_status transfer_status, v_kind transfer_kind,
                              v_expires timestamptz, v_note text, first_leg int DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    legs jsonb := plan->'legs';
    n int := jsonb_array_length(plan->'legs');
    ends record;
    dr bigint[] := '{}';
    cr bigint[] := '{}';
    first int := first_leg;
    i int;
BEGIN
    IF first IS NULL THEN
        first := coalesce((SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id), 0);
    END IF;
    FOR i IN 0 .. n - 1 LOOP
        ends := rs_leg_accounts(b, legs->i);
        dr := dr || ends.debit;
        cr := cr || ends.credit;
    END LOOP;
    IF n > 1 THEN
        PERFORM rs_lock_accounts(dr || cr);
    END IF;
    FOR i IN 0 .. n - 1 LOOP
        PERFORM rs_transfer_locked(dr[i + 1], cr[i + 1], (legs->i->>'amount')::bigint, v_status,
                                   CASE WHEN legs->i->>'kind' = 'donation' AND v_kind = 'charge' THEN 'donation'
                                        ELSE v_kind END,
                                   b.id, first + i + 1, (legs->i->>'covers_pence')::bigint,
                                   CASE WHEN v_status = 'pending' THEN v_expires END,
                                   coalesce(v_note || ': ', '') || (legs->i->>'name'));
    END LOOP;
END $$;

-- Every account a booking's transfers touch (for locking in order).
CREATE FUNCTION rs_booking_accounts(bid bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT a), '{}')
              FROM ledger_transfer t, LATERAL (VALUES (t.debit_account_id), (t.credit_account_id)) v(a)
             WHERE t.booking_id = bid);
END $$;

-- Settles a booking's money for a status change: confirmed posts the
-- pending legs; cancelled or expired voids pending legs and reverses
-- posted ones (a confirmed break cancelled gives the budget back).
CREATE FUNCTION rs_booking_settle(b booking, to_status booking_status) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
    next_leg int;
BEGIN
    IF to_status NOT IN ('confirmed', 'cancelled_by_carer', 'cancelled_by_provider', 'expired') THEN
        RETURN;
    END IF;
    PERFORM rs_booking_lock_accounts(b.id);
    PERFORM rs_booking_legs_settle(b.id, to_status = 'confirmed');
    IF to_status <> 'confirmed' THEN
        next_leg := coalesce((SELECT max(leg) FROM ledger_transfer WHERE booking_id = b.id), 0);
        FOR t IN SELECT * FROM ledger_transfer x
                  WHERE x.booking_id = b.id AND x.status = 'posted' AND x.kind <> 'reversal'
                    AND NOT EXISTS (SELECT 1 FROM ledger_transfer y WHERE y.reverses_id = x.id)
                  ORDER BY x.leg LOOP
            next_leg := next_leg + 1;
            PERFORM rs_transfer_reverse(t.id, next_leg, 'cancelled');
        END LOOP;
    END IF;
END $$;
