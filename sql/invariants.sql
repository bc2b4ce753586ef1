-- Invariants of the inventory, the ledger and bookings. Each query returns
-- the rows that break its rule, so every one of them must return NO rows,
-- at any moment, whatever ran before (tests, the concurrency test, kill -9
-- and restart tests). Run: psql -v ON_ERROR_STOP=1 -f sql/invariants.sql
--
-- Not a migration (its name has no number): nothing here changes data.
-- Every row says which invariant it breaks in its first column.

-- 1. Held + posted = the ledger: every account's running columns equal the
--    sums of its transfers (pending and posted; voided ones count for
--    nothing).
WITH sides AS (
    SELECT debit_account_id AS account_id, status, 0::bigint AS credit, amount AS debit FROM ledger_transfer
    UNION ALL
    SELECT credit_account_id, status, amount, 0 FROM ledger_transfer
), sums AS (
    SELECT account_id,
           sum(credit) FILTER (WHERE status = 'posted') AS cp, sum(debit) FILTER (WHERE status = 'posted') AS dp,
           sum(credit) FILTER (WHERE status = 'pending') AS cq, sum(debit) FILTER (WHERE status = 'pending') AS dq
      FROM sides GROUP BY account_id
)
SELECT 'account_columns_match_transfers' AS invariant, a.id, a.ref,
       a.credits_posted, a.debits_posted, a.credits_pending, a.debits_pending,
       s.cp, s.dp, s.cq, s.dq
  FROM account a LEFT JOIN sums s ON s.account_id = a.id
 WHERE (a.credits_posted, a.debits_posted, a.credits_pending, a.debits_pending)
       IS DISTINCT FROM (coalesce(s.cp, 0), coalesce(s.dp, 0), coalesce(s.cq, 0), coalesce(s.dq, 0));

-- 2. No balance below zero unless the account may overdraw (funders,
--    self-funding, donors, the emergency fund).
SELECT 'no_negative_balance' AS invariant, id, ref, credits_posted - debits_posted - debits_pending AS available
  FROM account
 WHERE NOT allow_overdraw AND credits_posted - debits_posted - debits_pending < 0;

-- 3. Double entry: per unit, all posted balances sum to zero and pending
--    debits equal pending credits.
SELECT 'double_entry_balances' AS invariant, unit,
       sum(credits_posted - debits_posted) AS posted_sum, sum(credits_pending) - sum(debits_pending) AS pending_diff
  FROM account GROUP BY unit
HAVING sum(credits_posted - debits_posted) <> 0 OR sum(credits_pending) <> sum(debits_pending);

-- 4. A transfer moves one unit between two accounts of that unit; a
--    pending one has an expiry; a booking's transfers stay inside the
--    booking's family (its carer, or the cared-for person, or their
--    provider's side).
SELECT 'transfer_well_formed' AS invariant, t.id, t.unit, d.unit AS debit_unit, c.unit AS credit_unit, t.booking_id
  FROM ledger_transfer t
  JOIN account d ON d.id = t.debit_account_id
  JOIN account c ON c.id = t.credit_account_id
  LEFT JOIN booking b ON b.id = t.booking_id
 WHERE d.unit <> t.unit OR c.unit <> t.unit
    OR (t.status = 'pending' AND t.expires_at IS NULL)
    OR (b.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM account x WHERE x.id IN (t.debit_account_id, t.credit_account_id)
              AND NOT (x.carer_id IS NOT DISTINCT FROM b.carer_id
                       OR (x.person_id IS NOT NULL AND x.person_id IS NOT DISTINCT FROM b.person_id))));

-- 5. Every confirmed, in-progress, completed or no-show booking has posted
--    legs, none pending, and they cover its cost (the actual cost once
--    completed) - in pence, whatever unit each leg counts.
SELECT 'confirmed_booking_posted' AS invariant, b.id, b.status, b.cost_pence, b.actual_cost_pence,
       count(t.id) FILTER (WHERE t.status = 'posted') AS posted_legs,
       count(t.id) FILTER (WHERE t.status = 'pending') AS pending_legs,
       coalesce(sum(t.covers_pence) FILTER (WHERE t.status = 'posted'), 0) AS covered
  FROM booking b LEFT JOIN ledger_transfer t ON t.booking_id = b.id
 WHERE b.status IN ('confirmed', 'in_progress', 'completed', 'no_show')
 GROUP BY b.id
HAVING count(t.id) FILTER (WHERE t.status = 'posted') = 0
    OR count(t.id) FILTER (WHERE t.status = 'pending') > 0
    OR coalesce(sum(t.covers_pence) FILTER (WHERE t.status = 'posted'), 0) <> coalesce(b.actual_cost_pence, b.cost_pence);

-- 6. A held booking holds its budget: legs all pending, covering its
--    cost, lapsing with the hold.
SELECT 'held_booking_pending' AS invariant, b.id, b.cost_pence, b.expires_at,
       count(t.id) AS legs, count(t.id) FILTER (WHERE t.status <> 'pending') AS not_pending,
       coalesce(sum(t.covers_pence), 0) AS covered
  FROM booking b LEFT JOIN ledger_transfer t ON t.booking_id = b.id
 WHERE b.status IN ('held', 'requested')
 GROUP BY b.id
HAVING count(t.id) = 0 OR count(t.id) FILTER (WHERE t.status <> 'pending') > 0
    OR coalesce(sum(t.covers_pence), 0) <> b.cost_pence
    OR b.expires_at IS NULL OR bool_or(t.expires_at IS DISTINCT FROM b.expires_at);

-- 7. A cancelled or expired booking holds nothing: no pending legs, what
--    was posted is reversed, no active allocation or seat.
SELECT 'ended_booking_holds_nothing' AS invariant, b.id, b.status
  FROM booking b
 WHERE b.status IN ('cancelled_by_carer', 'cancelled_by_provider', 'expired')
   AND (EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.booking_id = b.id AND t.status = 'pending')
        OR coalesce((SELECT sum(covers_pence) FROM ledger_transfer t WHERE t.booking_id = b.id AND t.status = 'posted'), 0) <> 0
        OR EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.booking_id = b.id AND t.status = 'posted'
                      AND t.kind <> 'reversal' AND NOT EXISTS (SELECT 1 FROM ledger_transfer r WHERE r.reverses_id = t.id))
        OR EXISTS (SELECT 1 FROM allocation a WHERE a.booking_id = b.id AND a.active)
        OR EXISTS (SELECT 1 FROM offer_allocation o WHERE o.booking_id = b.id AND o.active));

-- 8. No unit is double-booked: active allocations of a unit never overlap
--    (nights, or spans including the worker's travel buffer).
SELECT 'no_overlapping_allocations' AS invariant, a.id, b.id AS other, a.unit_id
  FROM allocation a JOIN allocation b
    ON b.unit_id = a.unit_id AND b.id > a.id AND a.active AND b.active
   AND (a.nights && b.nights OR a.span && b.span);

-- 9. Capacity follows its booking: a booking holds exactly one allocation
--    (stays, visits, day support) or one seat allocation (offers), active
--    exactly while the booking holds capacity (requested, held, confirmed,
--    in progress, completed), over the booking's own nights or span (a
--    worker's: the visit plus the travel buffer).
SELECT 'capacity_follows_booking' AS invariant, b.id, b.status, b.mode,
       (SELECT count(*) FROM allocation a WHERE a.booking_id = b.id) AS allocations,
       (SELECT count(*) FROM offer_allocation o WHERE o.booking_id = b.id) AS seat_allocations
  FROM booking b
 WHERE CASE WHEN b.mode = 'session'
            THEN (SELECT count(*) FROM offer_allocation o WHERE o.booking_id = b.id) <> 1
                 OR EXISTS (SELECT 1 FROM allocation a WHERE a.booking_id = b.id)
                 OR EXISTS (SELECT 1 FROM offer_allocation o WHERE o.booking_id = b.id
                               AND (o.active <> (b.status IN ('requested', 'held', 'confirmed', 'in_progress', 'completed'))
                                    OR o.session_id <> b.session_id OR o.seats <> b.seats))
            ELSE (SELECT count(*) FROM allocation a WHERE a.booking_id = b.id) <> 1
                 OR EXISTS (SELECT 1 FROM offer_allocation o WHERE o.booking_id = b.id)
                 OR EXISTS (SELECT 1 FROM allocation a JOIN unit u ON u.id = a.unit_id JOIN supply s ON s.id = u.supply_id
                             WHERE a.booking_id = b.id
                               AND (a.active <> (b.status IN ('requested', 'held', 'confirmed', 'in_progress', 'completed'))
                                    OR u.supply_id <> b.supply_id
                                    OR a.nights IS DISTINCT FROM b.nights
                                    OR (b.mode = 'visit' AND a.span IS DISTINCT FROM
                                        tstzrange(lower(b.span), upper(b.span) + make_interval(mins => s.travel_buffer_minutes)))
                                    OR (b.mode = 'day' AND a.span IS DISTINCT FROM b.span)))
       END;

-- 10. No offer seat is sold twice: a session's booked count is the seats
--     its active allocations hold, and never more than its quantity.
SELECT 'offer_seats_match' AS invariant, os.id, os.booked, os.quantity,
       coalesce((SELECT sum(seats) FROM offer_allocation oa WHERE oa.session_id = os.id AND oa.active), 0) AS held
  FROM offer_session os
 WHERE os.booked <> coalesce((SELECT sum(seats) FROM offer_allocation oa WHERE oa.session_id = os.id AND oa.active), 0)
    OR os.booked > os.quantity;

-- 11. A cared-for person is never in two replacement-care breaks at once.
SELECT 'person_one_break_at_a_time' AS invariant, a.person_id, a.id, b.id AS other
  FROM booking a JOIN booking b
    ON b.person_id = a.person_id AND b.id > a.id AND a.span && b.span
 WHERE a.subject = 'person' AND b.subject = 'person'
   AND a.status IN ('requested', 'held', 'confirmed', 'in_progress')
   AND b.status IN ('requested', 'held', 'confirmed', 'in_progress');

-- 12. No run of consecutive residential nights (beds, back-to-back stays
--     merged) longer than 28 without a coordinator's recorded override on
--     one of its stays.
WITH stays AS (
    SELECT person_id, nights, override_reason FROM booking
     WHERE kind = 'bed' AND status IN ('requested', 'held', 'confirmed', 'in_progress', 'completed')
), runs AS (
    SELECT person_id, unnest(range_agg(nights)) AS run FROM stays GROUP BY person_id
)
SELECT 'residential_28_nights' AS invariant, r.person_id, r.run, upper(r.run) - lower(r.run) AS nights
  FROM runs r
 WHERE upper(r.run) - lower(r.run) > 28
   AND NOT EXISTS (SELECT 1 FROM stays s WHERE s.person_id = r.person_id AND s.nights <@ r.run
                      AND s.override_reason IS NOT NULL);

-- 13. Entitlements are credited exactly: a fixed or one-off one once with
--     its amount; a recurring one once per period account with its amount;
--     an ongoing one once per payment day recorded.
SELECT 'entitlement_credits' AS invariant, e.id, e.rule, a.id AS account_id, a.period,
       (SELECT count(*) FROM ledger_transfer t WHERE t.credit_account_id = a.id AND t.kind = 'allowance') AS credits,
       (SELECT coalesce(sum(amount), 0) FROM ledger_transfer t WHERE t.credit_account_id = a.id AND t.kind = 'allowance') AS credited
  FROM entitlement e JOIN account a ON a.entitlement_id = e.id AND a.kind = 'entitlement'
 WHERE (SELECT coalesce(sum(amount), 0) FROM ledger_transfer t WHERE t.credit_account_id = a.id AND t.kind = 'allowance')
       <> e.amount * CASE WHEN e.rule = 'ongoing'
                          THEN (SELECT count(*) FROM entitlement_accrual x WHERE x.entitlement_id = e.id) ELSE 1 END
    OR (e.rule = 'recurring') <> (a.period IS NOT NULL)
    OR EXISTS (SELECT 1 FROM ledger_transfer t WHERE t.credit_account_id = a.id AND t.kind = 'allowance'
                  AND t.debit_account_id <> (SELECT i.id FROM account i WHERE i.kind = 'issuer' AND i.entitlement_id = e.id));

-- 14. Every status change went through rs_booking_move: a booking's last
--     event is its status, and every event is an allowed transition.
SELECT 'events_follow_transitions' AS invariant, b.id, b.status,
       (SELECT e.to_status FROM booking_event e WHERE e.booking_id = b.id ORDER BY e.id DESC LIMIT 1) AS last_event
  FROM booking b
 WHERE (SELECT e.to_status FROM booking_event e WHERE e.booking_id = b.id ORDER BY e.id DESC LIMIT 1) IS DISTINCT FROM b.status
UNION ALL
SELECT 'events_follow_transitions', e.booking_id, e.to_status, e.from_status
  FROM booking_event e
 WHERE e.from_status IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM booking_transition t WHERE t.from_status = e.from_status AND t.to_status = e.to_status);

-- 15. Breaks still to come sit inside what the provider published: a stay
--     inside one published range of nights, a visit or day support inside
--     one published span. (availability.withdraw refuses to remove booked
--     availability.)
SELECT 'booked_inside_published' AS invariant, b.id, b.supply_id, b.mode
  FROM booking b
 WHERE b.status IN ('held', 'confirmed') AND lower(b.span) > now()
   AND CASE b.mode
         WHEN 'stay' THEN NOT EXISTS (SELECT 1 FROM avail_nights n WHERE n.supply_id = b.supply_id AND n.nights @> b.nights)
         WHEN 'session' THEN false
         ELSE NOT EXISTS (SELECT 1 FROM avail_span s WHERE s.supply_id = b.supply_id AND s.span @> b.span) END;
