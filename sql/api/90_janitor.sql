-- ---------------------------------------------------------------------------
-- Housekeeping: sessions (001), lapsed holds, ongoing payments, spent
-- throttles (006).
--
-- Lapsed holds are expired in batches. Several daemons may run this at
-- once: FOR NO KEY UPDATE SKIP LOCKED gives each a different batch. The batch
-- first gives back all its capacity, then locks all its accounts in id
-- order, then moves each booking: the same order (capacity, accounts
-- sorted) as a hold, so the janitor and bookings never deadlock. Ongoing
-- payments are paid in by rounds with nothing to expire.

CREATE FUNCTION rs_janitor() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    n_sessions int;
    n_throttles int := rs_throttle_expire();
    lapsed bigint[];
    bid bigint;
    e entitlement;
    n_paid int := 0;
BEGIN
    DELETE FROM session WHERE expires_at < now();
    GET DIAGNOSTICS n_sessions = ROW_COUNT;

    lapsed := ARRAY(SELECT id FROM booking
                     WHERE status IN ('held', 'requested') AND expires_at <= now()
                     ORDER BY expires_at, id LIMIT 200 FOR NO KEY UPDATE SKIP LOCKED);
    PERFORM rs_release_capacity(x) FROM unnest(lapsed) x;
    PERFORM rs_lock_accounts(ARRAY(SELECT DISTINCT unnest(rs_booking_accounts(x)) FROM unnest(lapsed) x));
    FOREACH bid IN ARRAY lapsed LOOP
        PERFORM rs_booking_move(bid, 'expired', NULL, 'the hold expired before it was confirmed');
    END LOOP;

    -- Ongoing payments due, paid in even if nobody books - only in a round
    -- that expired nothing, so that no other account is locked while the
    -- entitlement row (taken SKIP LOCKED) and its own accounts are.
    IF cardinality(lapsed) = 0 THEN
        FOR e IN SELECT * FROM entitlement x
                  WHERE x.rule = 'ongoing' AND x.active
                    AND EXISTS (SELECT 1 FROM rs_payment_days(x) d
                                 WHERE NOT EXISTS (SELECT 1 FROM entitlement_accrual a
                                                    WHERE a.entitlement_id = x.id AND a.period_start = d))
                  LIMIT 100 FOR NO KEY UPDATE SKIP LOCKED LOOP
            n_paid := n_paid + rs_entitlement_accrue(e);
        END LOOP;
    END IF;

    RETURN jsonb_build_object('sessions_expired', n_sessions, 'holds_expired', cardinality(lapsed),
                              'payments_made', n_paid, 'throttles_expired', n_throttles);
END $$;
