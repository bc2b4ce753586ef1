-- ---------------------------------------------------------------------------
-- budget.summary: per entitlement, allowance, spent, held and remaining
-- (per period for recurring ones), and the movements with their bookings.

-- An entitlement account's figures. allowance: what the funder credited;
-- spent: posted debits less what came back (refunds, reversals); held:
-- pending debits; remaining = allowance - spent - held.
CREATE FUNCTION rs_account_figures(a account) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'account_id', a.id, 'period', CASE WHEN a.period IS NOT NULL
                                           THEN jsonb_build_object('from', lower(a.period), 'to', upper(a.period)) END,
        'allowance', x.allowance, 'spent', a.debits_posted - (a.credits_posted - x.allowance),
        'held', a.debits_pending, 'remaining', rs_available(a),
        'remaining_text', rs_amount_text(rs_available(a), a.unit))
      FROM (SELECT coalesce(sum(amount), 0)::bigint AS allowance FROM ledger_transfer
             WHERE credit_account_id = a.id AND kind = 'allowance' AND status = 'posted') x
$$;

CREATE FUNCTION rs_entitlement_summary(e entitlement) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    today_per daterange;
    periods jsonb;
BEGIN
    IF e.rule <> 'recurring' THEN
        RETURN rs_entitlement_json(e) || coalesce((SELECT rs_account_figures(a) - 'period' FROM account a WHERE a.ref = 'ent:' || e.id),
                                                  jsonb_build_object('allowance', 0, 'spent', 0, 'held', 0, 'remaining', 0))
               || jsonb_build_object('due_not_paid', rs_entitlement_available(e, rs_today())
                                     - coalesce((SELECT rs_available(a) FROM account a WHERE a.ref = 'ent:' || e.id), 0));
    END IF;
    today_per := rs_period(e.period, greatest(rs_today(), e.valid_from));
    SELECT jsonb_agg(rs_account_figures(a) ORDER BY a.period) INTO periods
      FROM account a WHERE a.entitlement_id = e.id AND a.kind = 'entitlement';
    IF NOT EXISTS (SELECT 1 FROM account a WHERE a.entitlement_id = e.id AND a.period = today_per) THEN
        -- The current period, not yet used: its whole allowance.
        periods := coalesce(periods, '[]') || jsonb_build_object(
            'period', jsonb_build_object('from', lower(today_per), 'to', upper(today_per)),
            'allowance', e.amount, 'spent', 0, 'held', 0, 'remaining', e.amount,
            'remaining_text', rs_amount_text(e.amount, e.unit));
    END IF;
    RETURN rs_entitlement_json(e) || jsonb_build_object(
        'current', (SELECT x FROM jsonb_array_elements(periods) x
                     WHERE (x->'period'->>'from')::date = lower(today_per)),
        'periods', periods);
END $$;

CREATE FUNCTION budget_summary(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c carer;
    v_ent bigint := rs_p_int(p, 'entitlement_id');
    v_limit int := coalesce(rs_p_int(p, 'movements_limit'), 50)::int;
    ents bigint[];
    accts bigint[];
BEGIN
    c := rs_carer_param(ctx, p);
    ents := ARRAY(SELECT e.id FROM entitlement e
                   WHERE (e.carer_id = c.id OR e.person_id IN (SELECT person_id FROM care_link WHERE carer_id = c.id))
                     AND (v_ent IS NULL OR e.id = v_ent) ORDER BY e.priority, e.id);
    IF v_ent IS NOT NULL AND cardinality(ents) = 0 THEN
        PERFORM rs_raise('not_found', 'no such entitlement in this family', jsonb_build_object('entitlement_id', v_ent));
    END IF;
    accts := ARRAY(SELECT a.id FROM account a
                    WHERE (a.kind = 'entitlement' AND a.entitlement_id = ANY (ents))
                       OR (v_ent IS NULL AND a.carer_id = c.id AND a.kind IN ('self_funded', 'donations')));
    RETURN jsonb_build_object(
        'carer_id', c.id,
        'sources', (SELECT coalesce(jsonb_agg(rs_entitlement_summary(e) ORDER BY array_position(ents, e.id)), '[]')
                      FROM entitlement e WHERE e.id = ANY (ents)),
        'self_funded_pence', (SELECT coalesce(sum(debits_posted - credits_posted), 0) FROM account
                               WHERE ref = 'self:' || c.id),
        'donated_received_pence', (SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM account
                                    WHERE ref = 'donations:' || c.id),
        'movements', (SELECT coalesce(jsonb_agg(m ORDER BY (m->>'transfer_id')::bigint DESC), '[]') FROM (
            SELECT jsonb_strip_nulls(jsonb_build_object(
                       'transfer_id', t.id, 'at', rs_ts_text(coalesce(t.posted_at, t.voided_at, t.created_at)),
                       'account_id', a.id, 'account', a.name, 'entitlement_id', a.entitlement_id,
                       'kind', t.kind, 'status', t.status,
                       'direction', CASE WHEN t.debit_account_id = a.id THEN 'out' ELSE 'in' END,
                       'amount', t.amount, 'unit', t.unit, 'amount_text', rs_amount_text(t.amount, t.unit),
                       'booking_id', t.booking_id,
                       'booking', (SELECT jsonb_build_object('status', b.status, 'first_day', b.first_day,
                                                             'supply', s.name, 'person_id', b.person_id)
                                     FROM booking b JOIN supply s ON s.id = b.supply_id WHERE b.id = t.booking_id),
                       'note', t.note)) AS m
              FROM ledger_transfer t JOIN account a ON a.id IN (t.debit_account_id, t.credit_account_id)
             WHERE a.id = ANY (accts)
             ORDER BY t.id DESC LIMIT v_limit) x));
END $$;
