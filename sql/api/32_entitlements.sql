-- ---------------------------------------------------------------------------
-- Entitlement accounts

-- The charging rule. Replacement care (delivered to the cared-for person:
-- sitting, beds, Shared Lives) is charged to the person's budget or the
-- council's, never to the carer's; breaks the carer takes themselves come
-- from the carer's budgets. The emergency fund pays emergency breaks only.
CREATE FUNCTION rs_source_pays(src fund_source, subject text, break_kind text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
             WHEN src = 'emergency_fund' THEN break_kind = 'emergency' AND subject = 'person'
             WHEN subject = 'person' THEN src IN ('council', 'pooled_fund', 'person_personal_budget')
             ELSE src IN ('carer_direct_payment', 'carer_personal_budget') END
$$;

CREATE FUNCTION rs_issuer_account(e entitlement) RETURNS bigint
LANGUAGE sql AS $$
    SELECT (rs_account_open('issuer:' || e.id, 'issuer', e.unit, e.authority_id,
                            'Funder of ' || e.name, e.source, e.id, NULL,
                            e.carer_id, e.person_id, NULL, true)).id
$$;

-- The days an ongoing entitlement pays in, up to today: valid_from and
-- every period after it (a direct payment paid monthly from its start).
CREATE FUNCTION rs_payment_days(e entitlement) RETURNS SETOF date
LANGUAGE sql STABLE AS $$
    SELECT (e.valid_from + rs_period_step(e.period) * n)::date
      FROM generate_series(0, 2000) n
     WHERE (e.valid_from + rs_period_step(e.period) * n)::date <= rs_today()
       AND (e.valid_to IS NULL OR (e.valid_from + rs_period_step(e.period) * n)::date < e.valid_to)
$$;

-- Ongoing entitlements: pays in every period that has started by today
-- and has not been paid yet. The entitlement row is locked first, so two
-- transactions (a booking, the janitor) never pay the same period: the
-- second sees the first's accrual rows once it has the lock.
CREATE FUNCTION rs_entitlement_accrue(e entitlement) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    acct bigint;
    issuer bigint;
    ps date;
    n int := 0;
BEGIN
    IF e.rule <> 'ongoing' THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM entitlement WHERE id = e.id FOR NO KEY UPDATE;
    acct := (rs_account_open('ent:' || e.id, 'entitlement', e.unit, e.authority_id, e.name,
                             e.source, e.id, NULL, e.carer_id, e.person_id, NULL, e.allow_overdraw)).id;
    FOR ps IN SELECT g::date FROM rs_payment_days(e) g
               WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual a
                                  WHERE a.entitlement_id = e.id AND a.period_start = g::date) LOOP
        issuer := coalesce(issuer, rs_issuer_account(e));
        INSERT INTO entitlement_accrual (entitlement_id, period_start, transfer_id)
        VALUES (e.id, ps, rs_transfer(issuer, acct, e.amount, 'posted', 'allowance',
                                      v_note => format('%s paid for the %s from %s', e.name, e.period, ps)));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Opens a new entitlement's ledger: its funder (issuer) and, for fixed and
-- one-off entitlements, the account with the whole amount credited.
CREATE FUNCTION rs_entitlement_open(e entitlement) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    acct bigint;
BEGIN
    PERFORM rs_issuer_account(e);
    IF e.rule IN ('fixed', 'one_off') THEN
        acct := (rs_account_open('ent:' || e.id, 'entitlement', e.unit, e.authority_id, e.name,
                                 e.source, e.id, NULL, e.carer_id, e.person_id, NULL, e.allow_overdraw)).id;
        PERFORM rs_transfer(rs_issuer_account(e), acct, e.amount, 'posted', 'allowance',
                            v_note => e.name || ': allowance');
    ELSIF e.rule = 'ongoing' THEN
        PERFORM rs_entitlement_accrue(e);
    END IF;
END $$;

-- The account an entitlement pays a break starting on `day` from: the
-- entitlement's one account, or for a recurring allowance the account of
-- the period `day` falls in, created and credited with the period's
-- amount on first use. With materialise false nothing is written and NULL
-- is returned for a period not yet opened.
CREATE FUNCTION rs_entitlement_account(e entitlement, day date, materialise boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    per daterange;
    acct record;
BEGIN
    IF e.rule <> 'recurring' THEN
        IF materialise AND e.rule = 'ongoing' THEN
            PERFORM rs_entitlement_accrue(e);
        END IF;
        RETURN (SELECT id FROM account WHERE ref = 'ent:' || e.id);
    END IF;
    per := rs_period(e.period, day);
    IF NOT materialise THEN
        RETURN (SELECT id FROM account WHERE ref = format('ent:%s:%s', e.id, lower(per)));
    END IF;
    acct := rs_account_open(format('ent:%s:%s', e.id, lower(per)), 'entitlement', e.unit,
                            e.authority_id, format('%s (%s to %s)', e.name, lower(per), upper(per) - 1),
                            e.source, e.id, per, e.carer_id, e.person_id, NULL, e.allow_overdraw);
    IF acct.created THEN
        PERFORM rs_transfer(rs_issuer_account(e), acct.id, e.amount, 'posted', 'allowance',
                            v_note => format('%s: allowance for %s to %s', e.name, lower(per), upper(per) - 1));
    END IF;
    RETURN acct.id;
END $$;

-- What an entitlement could pay for a break starting on `day`, without
-- writing: a period not yet opened has its whole amount, an ongoing
-- payment what has been paid in plus the periods due but not yet paid.
CREATE FUNCTION rs_entitlement_available(e entitlement, day date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a account;
    due bigint := 0;
BEGIN
    IF e.rule = 'recurring' THEN
        SELECT * INTO a FROM account WHERE ref = format('ent:%s:%s', e.id, lower(rs_period(e.period, day)));
        RETURN CASE WHEN FOUND THEN rs_available(a) ELSE e.amount END;
    END IF;
    SELECT * INTO a FROM account WHERE ref = 'ent:' || e.id;
    IF e.rule = 'ongoing' THEN
        SELECT count(*) * e.amount INTO due
          FROM rs_payment_days(e) g
         WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual x
                            WHERE x.entitlement_id = e.id AND x.period_start = g::date);
    END IF;
    RETURN coalesce(rs_available(a), 0) + due;
END $$;

CREATE FUNCTION rs_entitlement_json(e entitlement) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'entitlement_id', e.id, 'name', e.name, 'source', e.source, 'unit', e.unit,
        'rule', e.rule, 'amount', e.amount, 'period', e.period,
        'valid_from', e.valid_from, 'valid_to', e.valid_to,
        'carer_id', e.carer_id, 'person_id', e.person_id,
        'exclude_bank_holidays', e.exclude_bank_holidays, 'kinds', to_jsonb(e.kinds),
        'priority', e.priority, 'allow_overdraw', e.allow_overdraw, 'active', e.active,
        'notes', e.notes))
$$;

-- Who pays first when a booking does not say: council money before the
-- family's own budgets; the emergency fund last.
CREATE FUNCTION rs_default_priority(src fund_source) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE src WHEN 'council' THEN 10 WHEN 'pooled_fund' THEN 20
                    WHEN 'person_personal_budget' THEN 30 WHEN 'carer_personal_budget' THEN 40
                    WHEN 'carer_direct_payment' THEN 50 ELSE 90 END
$$;

-- entitlement.create: staff grant a family member an entitlement; its
-- ledger is opened in the same transaction.
CREATE FUNCTION entitlement_create(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c carer;
    pe person;
    v_src fund_source;
    v_rule entitlement_rule;
    v_unit ledger_unit;
    v_period text;
    v_from date;
    v_to date;
    v_kinds supply_kind[];
    e entitlement;
BEGIN
    IF (p ? 'carer_id') = (p ? 'person_id') THEN
        PERFORM rs_bad_param('carer_id', 'give carer_id or person_id: whose entitlement it is');
    END IF;
    IF p ? 'carer_id' THEN
        c := rs_carer_for(ctx, rs_p_int(p, 'carer_id'));
    ELSE
        pe := rs_person_for(ctx, rs_p_int(p, 'person_id'));
    END IF;
    v_src := rs_p_enum(p, 'source')::fund_source;
    v_unit := rs_p_enum(p, 'unit')::ledger_unit;
    v_rule := rs_p_enum(p, 'rule')::entitlement_rule;
    v_period := rs_p_enum(p, 'period');
    v_from := rs_p_date(p, 'valid_from');
    v_to := rs_p_date(p, 'valid_to');
    IF v_src IN ('carer_direct_payment', 'carer_personal_budget') AND c.id IS NULL THEN
        PERFORM rs_bad_param('source', 'a carer''s budget belongs to a carer: give carer_id');
    END IF;
    IF v_src = 'person_personal_budget' AND pe.id IS NULL THEN
        PERFORM rs_bad_param('source', 'a personal budget belongs to the cared-for person: give person_id');
    END IF;
    IF v_src NOT IN ('council', 'pooled_fund', 'emergency_fund') AND v_unit <> 'pence' THEN
        PERFORM rs_bad_param('unit', 'direct payments and personal budgets are money: unit pence');
    END IF;
    IF (v_rule IN ('recurring', 'ongoing')) <> (v_period IS NOT NULL) THEN
        PERFORM rs_bad_param('period', CASE WHEN v_period IS NULL THEN 'required for a recurring or ongoing entitlement'
                                            ELSE 'only for a recurring or ongoing entitlement' END);
    END IF;
    IF v_rule = 'fixed' AND v_to IS NULL THEN
        PERFORM rs_bad_param('valid_to', 'required for a fixed allowance (the end of its window)');
    END IF;
    IF v_to IS NOT NULL AND v_to <= v_from THEN
        PERFORM rs_bad_param('valid_to', 'must be after valid_from (valid_to is the first day it no longer applies)');
    END IF;
    IF rs_p_bool(p, 'allow_overdraw') AND v_src <> 'emergency_fund' THEN
        PERFORM rs_bad_param('allow_overdraw', 'only an emergency fund may go below zero');
    END IF;
    v_kinds := rs_p_kinds(p, 'kinds');
    INSERT INTO entitlement (authority_id, name, source, unit, rule, amount, period, valid_from,
                             valid_to, carer_id, person_id, exclude_bank_holidays, kinds, priority,
                             allow_overdraw, notes, created_by)
    VALUES (coalesce(c.authority_id, pe.authority_id), rs_p_text(p, 'name'), v_src, v_unit,
            v_rule, rs_p_int(p, 'amount'), v_period, v_from, v_to, c.id, pe.id,
            coalesce(rs_p_bool(p, 'exclude_bank_holidays'), false), v_kinds,
            coalesce(rs_p_int(p, 'priority')::int, rs_default_priority(v_src)),
            coalesce(rs_p_bool(p, 'allow_overdraw'), false), rs_p_text(p, 'notes'),
            (ctx->>'user_id')::bigint)
    RETURNING * INTO e;
    PERFORM rs_entitlement_open(e);
    RETURN rs_entitlement_json(e)
        || jsonb_build_object('available_today', rs_entitlement_available(e, greatest(rs_today(), e.valid_from)));
END $$;
