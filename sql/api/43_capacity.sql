-- ---------------------------------------------------------------------------
-- Capacity

-- Takes the capacity a booking needs, or refuses with no_capacity. For
-- beds, workers and Shared Lives places: the published availability must
-- contain the break, then a free unit is taken by inserting an allocation;
-- the EXCLUDE constraint decides races (23P01: another transaction took
-- that unit first, so the next one is tried). For offers: a seat by
-- conditional UPDATE, falling back to a later session the same day when
-- the session chosen filled up meanwhile.
CREATE FUNCTION rs_take_capacity(b booking, r booking_req, s supply, sh booking_shape) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h supply := s;
    u bigint;
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
                     WHERE id = b.id;
                END IF;
                RETURN;
            END IF;
        END LOOP;
        PERFORM rs_refuse('no_capacity', 'no seats left', r,
                          jsonb_build_object('supply_id', s.id, 'session_id', sh.session_id, 'seats', b.seats));
    END IF;

    IF sh.mode = 'stay' THEN
        IF NOT EXISTS (SELECT 1 FROM avail_nights WHERE supply_id = s.id AND nights @> sh.nights) THEN
            PERFORM rs_refuse('no_capacity', 'not available for these nights', r,
                              jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
        END IF;
        IF s.kind = 'household' THEN
            IF lower(sh.nights) < h.approved_from OR upper(sh.nights) > h.approval_expires THEN
                PERFORM rs_refuse('no_capacity', 'outside this Shared Lives carer''s approval', r,
                                  jsonb_build_object('supply_id', s.id, 'why', 'approval'));
            END IF;
        END IF;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM avail_span WHERE supply_id = s.id AND span @> sh.span) THEN
            PERFORM rs_refuse('no_capacity', 'not available at that time', r,
                              jsonb_build_object('supply_id', s.id, 'why', 'not_published'));
        END IF;
        IF s.kind = 'household' THEN
            IF lower(sh.span) < rs_midnight(h.approved_from) OR upper(sh.span) > rs_midnight(h.approval_expires) THEN
                PERFORM rs_refuse('no_capacity', 'outside this Shared Lives carer''s approval', r,
                                  jsonb_build_object('supply_id', s.id, 'why', 'approval'));
            END IF;
        END IF;
    END IF;
    FOR u IN SELECT x.id FROM unit x
              WHERE x.supply_id = s.id AND x.active AND x.kind = ANY (sh.unit_kinds)
                -- one probe per range column, so each uses its own exclusion
                -- index on (unit_id, range) (an OR of the two used neither well)
                AND NOT EXISTS (SELECT 1 FROM allocation a
                                 WHERE a.unit_id = x.id AND a.active AND a.nights && sh.nights)
                AND NOT EXISTS (SELECT 1 FROM allocation a
                                 WHERE a.unit_id = x.id AND a.active AND a.span && sh.alloc_span)
              ORDER BY x.id LOOP
        BEGIN
            -- Two transactions inserting overlapping ranges into an
            -- exclusion constraint at once can each find the other's
            -- uncommitted entry and deadlock (PostgreSQL then kills one a
            -- second later). Queueing on the unit's row first means the
            -- later insert meets a committed conflict and fails at once.
            -- NO KEY UPDATE still lets allocation's foreign key check pass.
            PERFORM 1 FROM unit WHERE id = u FOR NO KEY UPDATE;
            INSERT INTO allocation (booking_id, unit_id, nights, span)
            VALUES (b.id, u, sh.nights, sh.alloc_span);
            RETURN;
        EXCEPTION WHEN exclusion_violation THEN
            NULL;   -- taken meanwhile by a transaction that committed first: try the next unit
        END;
    END LOOP;
    PERFORM rs_refuse('no_capacity', CASE s.kind WHEN 'worker' THEN 'the worker is already booked at that time (visits keep a travel buffer)'
                                                 ELSE 'already booked for that time' END, r,
                      jsonb_build_object('supply_id', s.id, 'why', 'booked'));
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
