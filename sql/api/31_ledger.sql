-- ---------------------------------------------------------------------------
-- The ledger

-- The calendar period (London dates) containing d: ISO weeks from Monday,
-- calendar months, quarters and years.
CREATE FUNCTION rs_period_step(kind text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind WHEN 'week' THEN interval '7 days' WHEN 'month' THEN interval '1 month'
                     WHEN 'quarter' THEN interval '3 months' WHEN 'year' THEN interval '1 year' END
$$;

-- (One expression, no FROM: an SQL function PostgreSQL can inline.)
CREATE FUNCTION rs_period(kind text, d date) RETURNS daterange
LANGUAGE sql IMMUTABLE AS $$
    SELECT daterange(date_trunc(kind, d::timestamp)::date,
                     (date_trunc(kind, d::timestamp) + rs_period_step(kind))::date)
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
    -- Accounts are made once and used for ever after: look first, so the
    -- usual case is one index lookup rather than an insert that conflicts.
    SELECT a.id INTO id FROM account a WHERE a.ref = v_ref;
    IF FOUND THEN
        created := false;
        RETURN;
    END IF;
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
-- locks them all first, through this or in the statement that moves them
-- (rs_transfer_locked, rs_booking_lock_accounts), so two transactions never
-- wait on each other's accounts in a cycle. (PL/pgSQL so that its plan is
-- kept, and generic: for an array parameter PostgreSQL otherwise keeps
-- choosing a plan made for the values, i.e. planning every call.)
CREATE FUNCTION rs_lock_accounts(ids bigint[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    PERFORM 1 FROM account WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
END $$;

-- Every account a booking's transfers touch, locked in id order.
CREATE FUNCTION rs_booking_lock_accounts(bid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM account a
     WHERE a.id IN (SELECT t.debit_account_id FROM ledger_transfer t WHERE t.booking_id = bid
                    UNION SELECT t.credit_account_id FROM ledger_transfer t WHERE t.booking_id = bid)
     ORDER BY a.id FOR NO KEY UPDATE;
END $$;

-- The balance an account can still spend.
CREATE FUNCTION rs_available(a account) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT a.credits_posted - a.debits_posted - a.debits_pending
$$;

-- One transfer, pending or posted, with the running columns of both
-- accounts moved in the same statement. The debit is conditional: it
-- matches only while the balance covers the amount, so concurrent spenders
-- serialise on the account row and the loser sees budget_exceeded; the
-- CHECK on account is the backstop.
CREATE FUNCTION rs_transfer(v_debit bigint, v_credit bigint, v_amount bigint,
                            v_status transfer_status, v_kind transfer_kind,
                            v_booking bigint DEFAULT NULL, v_leg int DEFAULT NULL,
                            v_covers bigint DEFAULT 0, v_expires timestamptz DEFAULT NULL,
                            v_note text DEFAULT NULL, v_reverses bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN rs_transfer_locked(v_debit, v_credit, v_amount, v_status, v_kind, v_booking, v_leg,
                              v_covers, v_expires, v_note, v_reverses);
END $$;

-- The transfer itself, in one statement: both accounts locked in id order
-- (a no-op for a caller that locked them already, with the rest of its
-- transaction's accounts), both running columns moved, the transfer row
-- written. It writes the row only when both accounts were moved and share
-- a unit; otherwise the reason is found and raised, which undoes the
-- statement with the rest of the transaction.
CREATE FUNCTION rs_transfer_locked(v_debit bigint, v_credit bigint, v_amount bigint,
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
    IF v_debit = v_credit THEN
        RAISE EXCEPTION 'rs_transfer: debit and credit are the same account (%)', v_debit;
    END IF;
    WITH l AS (
        SELECT x.id FROM account x WHERE x.id IN (v_debit, v_credit) ORDER BY x.id FOR NO KEY UPDATE),
    m AS (
        UPDATE account a SET
            debits_pending = a.debits_pending
                + CASE WHEN a.id = v_debit AND v_status = 'pending' THEN v_amount ELSE 0 END,
            debits_posted = a.debits_posted
                + CASE WHEN a.id = v_debit AND v_status = 'posted' THEN v_amount ELSE 0 END,
            credits_pending = a.credits_pending
                + CASE WHEN a.id = v_credit AND v_status = 'pending' THEN v_amount ELSE 0 END,
            credits_posted = a.credits_posted
                + CASE WHEN a.id = v_credit AND v_status = 'posted' THEN v_amount ELSE 0 END
          FROM l
         WHERE a.id = l.id
           AND (a.id = v_credit OR a.allow_overdraw
                OR a.credits_posted - a.debits_posted - a.debits_pending >= v_amount)
        RETURNING a.unit)
    INSERT INTO ledger_transfer (debit_account_id, credit_account_id, amount, unit, status, kind,
                                 booking_id, leg, covers_pence, reverses_id, expires_at, note,
                                 posted_at)
    SELECT v_debit, v_credit, v_amount, min(m.unit), v_status, v_kind, v_booking, v_leg, v_covers,
           v_reverses, CASE WHEN v_status = 'pending' THEN v_expires END, v_note,
           CASE WHEN v_status = 'posted' THEN now() END
      FROM m
    HAVING count(*) = 2 AND min(m.unit) = max(m.unit)
    RETURNING id INTO tid;
    IF tid IS NOT NULL THEN
        RETURN tid;
    END IF;
    SELECT * INTO d FROM account WHERE id = v_debit;
    SELECT * INTO c FROM account WHERE id = v_credit;
    IF d.id IS NULL OR c.id IS NULL THEN
        RAISE EXCEPTION 'rs_transfer: no account % or %', v_debit, v_credit;
    END IF;
    IF d.unit <> c.unit THEN
        RAISE EXCEPTION 'rs_transfer: units differ (% %, % %)', d.id, d.unit, c.id, c.unit;
    END IF;
    -- What this statement did to the credit side is undone with it.
    PERFORM rs_raise('budget_exceeded', 'not enough left in ' || d.name,
        jsonb_build_object('account_id', d.id, 'entitlement_id', d.entitlement_id,
                           'unit', d.unit, 'amount', v_amount, 'available', rs_available(d)));
    RETURN NULL;
END $$;

-- Second phase for a booking: all its pending transfers become posted
-- (post) or voided, and the running columns of their accounts move with
-- them, in one statement whatever the number of legs. Transfers in any
-- other state are left alone, so repeating is harmless. The caller has
-- locked the accounts (rs_booking_settle, rs_booking_lock_accounts).
CREATE FUNCTION rs_booking_legs_settle(bid bigint, post boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH t AS (
        UPDATE ledger_transfer
           SET status = CASE WHEN post THEN 'posted' ELSE 'voided' END::transfer_status,
               posted_at = CASE WHEN post THEN now() END,
               voided_at = CASE WHEN post THEN NULL ELSE now() END
         WHERE booking_id = bid AND status = 'pending'
        RETURNING debit_account_id, credit_account_id, amount),
    m AS (
        SELECT x.id, sum(x.dr)::bigint AS dr, sum(x.cr)::bigint AS cr
          FROM (SELECT t.debit_account_id AS id, t.amount AS dr, 0::bigint AS cr FROM t
                UNION ALL
                SELECT t.credit_account_id, 0, t.amount FROM t) x
         GROUP BY x.id)
    UPDATE account a
       SET debits_pending = a.debits_pending - m.dr,
           debits_posted = a.debits_posted + CASE WHEN post THEN m.dr ELSE 0 END,
           credits_pending = a.credits_pending - m.cr,
           credits_posted = a.credits_posted + CASE WHEN post THEN m.cr ELSE 0 END
      FROM m
     WHERE a.id = m.id;
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
