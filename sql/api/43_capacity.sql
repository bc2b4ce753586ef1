-- ---------------------------------------------------------------------------
-- Capacity

-- Takes the capacity a booking needs, or refuses with no_capacity, and
-- returns the booking (an offer booking may have moved to a later session).
-- For beds, workers and Shared Lives places: the published availability
-- must contain the break, then a free unit is taken by inserting an
-- allocation. The EXCLUDE constraint decides races: the insert is ON
-- CONFLICT DO NOTHING, which waits for a transaction inserting an
-- overlapping range to finish and then inserts nothing if that one
-- committed, so the next free unit is tried (with a fresh snapshot, which
-- sees the winner). Nothing is locked but the allocation itself: holds of
-- different nights or hours of one unit run side by side, and of two
-- inserters of overlapping ranges the later waits for the earlier, never
-- each for the other (no deadlock, no subtransaction). For offers: a seat by conditional UPDATE, falling
-- back to a later session the same day when the session chosen filled up
-- meanwhile.
--
-- Probes use the btree indexes of 002 and 007 (unit, start of range):
-- published ranges of a supply and active allocations of a unit are
-- disjoint, so only the last one starting before the window can contain
-- or overlap it. One index step each, whatever else is published or
-- booked.
CREATE FUNCTION rs_take_capacity(b booking, r booking_req, s supply, sh booking_shape) RETURNS booking
LANGUAGE plpgsql AS $$
DECLARE
    h supply := s;
    aid bigint;
    published boolean;
    os offer_session;
BEGIN
    IF sh.mode = 'session' THEN
        FOR os IN SELECT * FROM offer_session x
                   WHERE x.id = sh.session_id
                      OR (r.session_id IS NULL AND x.supply_id = s.id AND x.day = b.first_day
                          AND (x.starts_at IS NULL OR x.starts_at > now()) AND x.booked + b.seats <= x.quantity)
                   ORDER BY x.id = sh.session_id DESC, x.starts_at NULLS FIRST, x.id LOOP
            UPDATE offer_session SET booked = booked + b.seats
             WHERE id = os.id AND booked + b.seats <= quantity;
            IF FOUND THEN
                INSERT INTO offer_allocation (booking_id, session_id, seats) VALUES (b.id, os.id, b.seats);
                IF os.id <> b.session_id THEN
                    UPDATE booking SET session_id = os.id,
                           span = CASE WHEN os.starts_at IS NULL THEN span
                                       ELSE tstzrange(os.starts_at, os.starts_at + (upper(span) - lower(span))) END
                     WHERE id = b.id
                    RETURNING * INTO b;
                END IF;
                RETURN b;
            END IF;
        END LOOP;
        PERFORM rs_refuse('no_capacity', 'no seats left', r,
                          jsonb_build_object('supply_id', s.id, 'session_id', sh.session_id, 'seats', b.seats));
    END IF;

    -- A Shared Lives carer's approval: checked after the availability, as
    -- the reason given when both are wanting.
    IF s.kind = 'household'
       AND ((sh.mode = 'stay' AND (lower(sh.nights) < h.approved_from OR upper(sh.nights) > h.approval_expires))
            OR (sh.mode <> 'stay' AND (lower(sh.span) < rs_midnight(h.approved_from)
                                       OR upper(sh.span) > rs_midnight(h.approval_expires)))) THEN
        published := CASE WHEN sh.mode = 'stay'
            THEN coalesce((SELECT n.nights @> sh.nights FROM avail_nights n
                            WHERE n.supply_id = s.id AND lower(n.nights) <= lower(sh.nights)
                            ORDER BY lower(n.nights) DESC LIMIT 1), false)
            ELSE coalesce((SELECT p.span @> sh.span FROM avail_span p
                            WHERE p.supply_id = s.id AND lower(p.span) <= lower(sh.span)
                            ORDER BY lower(p.span) DESC LIMIT 1), false) END;
        IF NOT published THEN
            PERFORM rs_refuse('no_capacity', CASE WHEN sh.mode = 'stay' THEN 'not available for these nights'
                                                  ELSE 'not available at that time' END, r,
                              jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
        END IF;
        PERFORM rs_refuse('no_capacity', 'outside this Shared Lives carer''s approval', r,
                          jsonb_build_object('supply_id', s.id, 'why', 'approval'));
    END IF;
    -- The usual case is one statement: published, the first free unit,
    -- taken. When it inserts nothing, the reason is looked for: not
    -- published, no free unit, or a unit taken meanwhile by a transaction
    -- that committed while this one waited (then the next round, with a
    -- fresh snapshot that sees the winner, tries the next unit). Each round
    -- takes a unit or sees one more taken, so it ends; the bound guards
    -- against a snapshot that could not see the winner.
    FOR attempt IN 1 .. 1000 LOOP
        IF sh.mode = 'stay' THEN
            INSERT INTO allocation (booking_id, unit_id, nights, span)
            SELECT b.id, x.id, sh.nights, NULL FROM unit x
             WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
               AND coalesce((SELECT n.nights @> sh.nights FROM avail_nights n
                              WHERE n.supply_id = s.id AND lower(n.nights) <= lower(sh.nights)
                              ORDER BY lower(n.nights) DESC LIMIT 1), false)
               AND NOT coalesce((SELECT a.nights && sh.nights FROM allocation a
                                  WHERE a.unit_id = x.id AND a.active AND a.nights IS NOT NULL
                                    AND lower(a.nights) < upper(sh.nights)
                                  ORDER BY lower(a.nights) DESC LIMIT 1), false)
             ORDER BY x.id LIMIT 1
            ON CONFLICT DO NOTHING
            RETURNING id INTO aid;
        ELSE
            INSERT INTO allocation (booking_id, unit_id, nights, span)
            SELECT b.id, x.id, NULL, sh.alloc_span FROM unit x
             WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
               AND coalesce((SELECT p.span @> sh.span FROM avail_span p
                              WHERE p.supply_id = s.id AND lower(p.span) <= lower(sh.span)
                              ORDER BY lower(p.span) DESC LIMIT 1), false)
               AND NOT coalesce((SELECT a.span && sh.alloc_span FROM allocation a
                                  WHERE a.unit_id = x.id AND a.active AND a.span IS NOT NULL
                                    AND lower(a.span) < upper(sh.alloc_span)
                                  ORDER BY lower(a.span) DESC LIMIT 1), false)
             ORDER BY x.id LIMIT 1
            ON CONFLICT DO NOTHING
            RETURNING id INTO aid;
        END IF;
        IF aid IS NOT NULL THEN
            RETURN b;
        END IF;
        IF attempt = 1 THEN
            published := CASE WHEN sh.mode = 'stay'
                THEN coalesce((SELECT n.nights @> sh.nights FROM avail_nights n
                                WHERE n.supply_id = s.id AND lower(n.nights) <= lower(sh.nights)
                                ORDER BY lower(n.nights) DESC LIMIT 1), false)
                ELSE coalesce((SELECT p.span @> sh.span FROM avail_span p
                                WHERE p.supply_id = s.id AND lower(p.span) <= lower(sh.span)
                                ORDER BY lower(p.span) DESC LIMIT 1), false) END;
            IF NOT published THEN
                PERFORM rs_refuse('no_capacity', CASE WHEN sh.mode = 'stay' THEN 'not available for these nights'
                                                      ELSE 'not available at that time' END, r,
                                  jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
            END IF;
        END IF;
        IF sh.mode = 'stay' THEN
            PERFORM 1 FROM unit x
             WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
               AND NOT coalesce((SELECT a.nights && sh.nights FROM allocation a
                                  WHERE a.unit_id = x.id AND a.active AND a.nights IS NOT NULL
                                    AND lower(a.nights) < upper(sh.nights)
                                  ORDER BY lower(a.nights) DESC LIMIT 1), false);
        ELSE
            PERFORM 1 FROM unit x
             WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
               AND NOT coalesce((SELECT a.span && sh.alloc_span FROM allocation a
                                  WHERE a.unit_id = x.id AND a.active AND a.span IS NOT NULL
                                    AND lower(a.span) < upper(sh.alloc_span)
                                  ORDER BY lower(a.span) DESC LIMIT 1), false);
        END IF;
        EXIT WHEN NOT FOUND;
    END LOOP;
    PERFORM rs_refuse('no_capacity', CASE s.kind WHEN 'worker' THEN 'the worker is already booked at that time (visits keep a travel buffer)'
                                                 ELSE 'already booked for that time' END, r,
                      jsonb_build_object('supply_id', s.id, 'why', 'booked'));
    RETURN NULL;
END $$;

-- Gives back what a booking holds: allocations and offer seats. Repeating
-- it is harmless.
CREATE FUNCTION rs_release_capacity(bid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE allocation SET active = false WHERE booking_id = bid AND active;
    UPDATE offer_session os SET booked = os.booked - oa.seats
      FROM offer_allocation oa
     WHERE oa.booking_id = bid AND oa.active AND os.id = oa.session_id;
    UPDATE offer_allocation SET active = false WHERE booking_id = bid AND active;
END $$;
