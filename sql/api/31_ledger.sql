-- ---------------------------------------------------------------------------
-- The ledger

-- The calendar period (London dates) containing d: ISO weeks from Monday,
-- calendar months, quarters and years.
CREATE FUNCTION rs_period_step(kind text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'week' THEN interval '7 days' WHEN 'month' THEN interval '1 month'
                     WHEN 'quarter' THEN interval '3 months' WHEN 'year' THEN interval '1 year' END
$$;

CREATE FUNCTION rs_period(kind text, d date) RETURNS daterange
LANGUAGE sql IMMUTABLE AS $$
    SELECT daterange(s, (s + rs_period_step(kind))::date)
      FROM (SELECT date_trunc(kind, d::timestamp)::date AS s) x
$$;

-- Get-or-create an account by its ref. `created` says whether this call
-- made it (a recurring period's allowance is credited by its creator only).
CREATE FUNCTION rs_account_open(v_ref text, v_kind account_kind, v_unit ledger_unit, v_auth bigint,
                                v_name text, v_source fund_source DEFAULT NULL,
                                v_ent bigint DEFAULT NULL, v_period daterange DEFAULT NULL,
                                v_carer bigint DEFAULT NULL, v_person bigint DEFAULT NULL,
                                v_provider bigint DEFAULT NULL, v_overdraw boolean DEFAULT false,
                                OUT id bigint, OUT created boolean)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account AS a (ref, kind, unit, authority_id, name, source, entitlement_id, period,
                              carer_id, person_id, provider_id, allow_overdraw)
    VALUES (v_ref, v_kind, v_unit, v_auth, v_name, v_source, v_ent, v_period,
            v_carer, v_person, v_provider, v_overdraw)
    ON CONFLICT (ref) DO NOTHING
    RETURNING a.id INTO id;
    created := id IS NOT NULL;
    IF NOT created THEN
        SELECT a.id INTO id FROM account a WHERE a.ref = v_ref;
    END IF;
END $$;

-- Locks accounts in id order. Every path that moves several accounts in
-- one transaction (holds, confirmations, voids, reversals, the janitor)
-- locks them all first through this, so two transactions never wait on
-- each other's accounts in a cycle.
CREATE FUNCTION rs_lock_accounts(ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    SELECT 1 FROM account WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE
$$;

-- The balance an account can still spend.
CREATE FUNCTION rs_available(a account) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT a.credits_posted - a.debits_posted - a.debits_pending
$$;

-- One transfer, pending or posted, with the running columns of both
-- accounts moved in the same statement sequence. The debit is a
-- conditional UPDATE: it matches only while the balance covers the amount,
-- so concurrent spenders serialise on the account row and the loser sees
-- budget_exceeded; the CHECK on account is the backstop.
CREATE FUNCTION rs_transfer(v_debit bigint, v_credit bigint, v_amount bigint,
                            v_status transfer_status, v_kind transfer_kind,
                            v_booking bigint DEFAULT NULL, v_leg int DEFAULT NULL,
                            v_covers bigint DEFAULT 0, v_expires timestamptz DEFAULT NULL,
                            v_note text DEFAULT NULL, v_reverses bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    d account;
    c account;
    tid bigint;
BEGIN
    IF v_status = 'voided' THEN
        RAISE EXCEPTION 'rs_transfer: a transfer is created pending or posted';
    END IF;
    PERFORM rs_lock_accounts(ARRAY[v_debit, v_credit]);
    SELECT * INTO c FROM account WHERE id = v_credit;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM account WHERE id = v_debit) THEN
        RAISE EXCEPTION 'rs_transfer: no account % or %', v_debit, v_credit;
    END IF;
    UPDATE account a SET
        debits_pending = a.debits_pending + CASE WHEN v_status = 'pending' THEN v_amount ELSE 0 END,
        debits_posted = a.debits_posted + CASE WHEN v_status = 'posted' THEN v_amount ELSE 0 END
     WHERE a.id = v_debit AND a.unit = c.unit
       AND (a.allow_overdraw OR a.credits_posted - a.debits_posted - a.debits_pending >= v_amount)
    RETURNING * INTO d;
    IF NOT FOUND THEN
        SELECT * INTO d FROM account WHERE id = v_debit;
        IF d.unit <> c.unit THEN
            RAISE EXCEPTION 'rs_transfer: units differ (% %, % %)', d.id, d.unit, c.id, c.unit;
        END IF;
        PERFORM rs_raise('budget_exceeded', 'not enough left in ' || d.name,
            jsonb_build_object('account_id', d.id, 'entitlement_id', d.entitlement_id,
                               'unit', d.unit, 'amount', v_amount, 'available', rs_available(d)));
    END IF;
    UPDATE account a SET
        credits_pending = a.credits_pending + CASE WHEN v_status = 'pending' THEN v_amount ELSE 0 END,
        credits_posted = a.credits_posted + CASE WHEN v_status = 'posted' THEN v_amount ELSE 0 END
     WHERE a.id = v_credit;
    INSERT INTO ledger_transfer (debit_account_id, credit_account_id, amount, unit, status, kind,
                                 booking_id, leg, covers_pence, reverses_id, expires_at, note,
                                 posted_at)
    VALUES (v_debit, v_credit, v_amount, d.unit, v_status, v_kind, v_booking, v_leg, v_covers,
            v_reverses, CASE WHEN v_status = 'pending' THEN v_expires END, v_note,
            CASE WHEN v_status = 'posted' THEN now() END)
    RETURNING id INTO tid;
    RETURN tid;
END $$;

-- Second phase: pending -> posted, or pending -> voided. A transfer in any
-- other state is left alone and false returned, so repeating is harmless.
CREATE FUNCTION rs_transfer_settle(tid bigint, post boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
BEGIN
    UPDATE ledger_transfer SET status = CASE WHEN post THEN 'posted' ELSE 'voided' END::transfer_status,
           posted_at = CASE WHEN post THEN now() END,
           voided_at = CASE WHEN post THEN NULL ELSE now() END
     WHERE id = tid AND status = 'pending'
    RETURNING * INTO t;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM rs_lock_accounts(ARRAY[t.debit_account_id, t.credit_account_id]);
    UPDATE account SET debits_pending = debits_pending - t.amount,
                       debits_posted = debits_posted + CASE WHEN post THEN t.amount ELSE 0 END
     WHERE id = t.debit_account_id;
    UPDATE account SET credits_pending = credits_pending - t.amount,
                       credits_posted = credits_posted + CASE WHEN post THEN t.amount ELSE 0 END
     WHERE id = t.credit_account_id;
    RETURN true;
END $$;

-- Undoes a posted transfer with a posted one the other way.
CREATE FUNCTION rs_transfer_reverse(tid bigint, v_leg int, v_note text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t ledger_transfer;
BEGIN
    SELECT * INTO t FROM ledger_transfer WHERE id = tid AND status = 'posted';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rs_transfer_reverse: % is not posted', tid;
    END IF;
    RETURN rs_transfer(t.credit_account_id, t.debit_account_id, t.amount, 'posted', 'reversal',
                       t.booking_id, v_leg, -t.covers_pence, NULL, v_note, t.id);
END $$;
