-- ---------------------------------------------------------------------------
-- The rules

-- Consecutive nights of residential respite (beds) for a person if `n`
-- were added: stays that overlap or touch `n` (back-to-back) are merged
-- with it. Shared Lives stays do not count: the person stays in an
-- approved carer's family home, not a registered care home, and 28 days
-- there do not make it a permanent residence. (The functions of this file
-- are PL/pgSQL, not SQL, so that their plans are kept: a booking's rules run
-- in every hold, and an SQL function with a query in it is parsed and
-- planned again in every transaction.)
CREATE FUNCTION rs_residential_nights(pid bigint, n daterange, exclude bigint DEFAULT NULL) RETURNS int
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(max(upper(x) - lower(x)), 0)
              FROM unnest((SELECT coalesce(range_agg(b.nights), '{}'::datemultirange)
                             FROM booking b
                            WHERE b.person_id = pid AND b.kind = 'bed'
                              AND b.id IS DISTINCT FROM exclude
                              AND (rs_booking_live(b.status, b.expires_at) OR b.status = 'completed')
                              AND b.nights && daterange(lower(n) - 400, upper(n) + 400))
                          + datemultirange(n)) x
             WHERE x @> n);
END $$;

-- Bookings of the same carer that count against an offer or scheme limit.
CREATE FUNCTION rs_offer_uses(cid bigint, per daterange, sid bigint, otype text, auth bigint)
RETURNS bigint[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(b.id ORDER BY b.id), '{}')
              FROM booking b JOIN supply o ON o.id = b.supply_id
             WHERE b.carer_id = cid AND b.kind = 'offer' AND b.authority_id = auth
               AND b.first_day <@ per
               AND (sid IS NULL OR b.supply_id = sid)
               AND (otype IS NULL OR o.offer_type = otype)
               AND (rs_booking_live(b.status, b.expires_at) OR b.status IN ('completed', 'no_show')));
END $$;

-- Offer conditions (supply.conditions) and scheme rules: a refusal
-- object, or NULL.
CREATE FUNCTION rs_offer_refusal(r booking_req, s supply, sh booking_shape) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o supply := s;
    per daterange;
    used bigint[];
    rule scheme_rule;
BEGIN
    IF o.conditions ? 'per_carer_per' THEN
        per := rs_period(o.conditions->>'per_carer_per', sh.first_day);
        used := rs_offer_uses(r.carer_id, per, s.id, NULL, r.authority_id);
        IF cardinality(used) >= (o.conditions->>'max')::int THEN
            RETURN jsonb_build_object('reason', 'condition_not_met', 'condition', 'offer',
                'message', format('this offer allows %s per carer per %s; already booked: %s',
                                  o.conditions->>'max', o.conditions->>'per_carer_per', cardinality(used)),
                'per', o.conditions->>'per_carer_per', 'max', (o.conditions->>'max')::int,
                'period', per::text, 'bookings', to_jsonb(used));
        END IF;
    END IF;
    FOR rule IN SELECT * FROM scheme_rule
                 WHERE authority_id = r.authority_id AND (offer_type IS NULL OR offer_type = o.offer_type)
                 ORDER BY id LOOP
        per := rs_period(rule.per, sh.first_day);
        used := rs_offer_uses(r.carer_id, per, NULL, rule.offer_type, r.authority_id);
        IF cardinality(used) >= rule.max THEN
            RETURN jsonb_build_object('reason', 'condition_not_met', 'condition', 'scheme',
                'message', format('%s: %s per carer per %s; already booked: %s',
                                  rule.name, rule.max, rule.per, cardinality(used)),
                'scheme_rule_id', rule.id, 'per', rule.per, 'max', rule.max,
                'period', per::text, 'bookings', to_jsonb(used));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- Whether a piece of supply can serve the request at all (needs,
-- language, gender, distance, visit length): a no_match refusal object,
-- or NULL. Capacity is checked when taken.
CREATE FUNCTION rs_supply_refusal(r booking_req, s supply, sh booking_shape) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing text[];
    w supply := s;
    km float8;
BEGIN
    IF NOT s.active OR NOT EXISTS (SELECT 1 FROM provider WHERE id = s.provider_id AND active) THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'this supply is not in service');
    END IF;
    IF s.emergency_only AND r.break_kind <> 'emergency' THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'this supply is kept for emergencies');
    END IF;
    IF cardinality(r.needs) > 0 OR (r.language IS NOT NULL AND r.subject = 'person') THEN
        missing := ARRAY(SELECT x FROM unnest(r.needs || CASE WHEN r.language IS NOT NULL AND r.subject = 'person'
                                                              THEN ARRAY['lang:' || r.language] ELSE '{}' END) x
                          WHERE NOT x = ANY (s.capabilities) ORDER BY x);
    END IF;
    IF cardinality(missing) > 0 THEN
        RETURN jsonb_build_object('reason', 'no_match', 'message', 'does not meet: ' || array_to_string(missing, ', '),
                                  'missing', to_jsonb(missing));
    END IF;
    IF s.kind = 'worker' THEN
        IF r.gender IS NOT NULL AND w.gender IS DISTINCT FROM r.gender THEN
            RETURN jsonb_build_object('reason', 'no_match', 'message', 'not a ' || r.gender || ' worker');
        END IF;
        IF sh.minutes NOT BETWEEN w.min_visit_minutes AND w.max_visit_minutes THEN
            RETURN jsonb_build_object('reason', 'no_match', 'message',
                format('this worker takes visits of %s to %s minutes', w.min_visit_minutes, w.max_visit_minutes));
        END IF;
        IF r.lat IS NOT NULL THEN
            km := rs_booking_km(r.lat, r.lon, s.lat, s.lon);
            IF km > w.travel_radius_km THEN
                RETURN jsonb_build_object('reason', 'no_match', 'message',
                    format('%s km away, beyond the worker''s %s km', round(km::numeric, 1), w.travel_radius_km));
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The rules on the family's side: consent, one break at a time, 28
-- consecutive nights, offer conditions. Returns {warnings, refusal}.
-- The person was read by rs_booking_req (r.consent). A hold that has lapsed
-- but is not released yet no longer counts as a break, but still holds the
-- person's place in booking_person_once: it is refused as a conflict to try
-- again shortly, found by the same query, so the insert that follows never
-- meets the constraint (no subtransaction to catch it).
CREATE FUNCTION rs_rules_check(r booking_req, s supply, sh booking_shape, exclude bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    warnings jsonb := '[]';
    busy bigint[];
    lapsed boolean;
    n int;
    offer jsonb;
BEGIN
    IF r.subject = 'person' THEN
        IF r.consent NOT IN ('given', 'best_interests') THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                'reason', 'condition_not_met', 'condition', 'consent', 'consent', r.consent,
                'message', 'replacement care is a service to the cared-for person: their consent (or a best-interests decision) must be recorded first'));
        END IF;
        SELECT array_agg(b.id ORDER BY b.id) FILTER (WHERE rs_booking_live(b.status, b.expires_at)),
               coalesce(bool_or(NOT rs_booking_live(b.status, b.expires_at)), false)
          INTO busy, lapsed
          FROM booking b
         WHERE b.person_id = r.person_id AND b.subject = 'person' AND b.span && sh.span
           AND b.id IS DISTINCT FROM exclude
           -- the exclusion constraint's own predicate: what it would refuse
           AND b.status IN ('requested', 'held', 'confirmed', 'in_progress');
        IF cardinality(busy) > 0 THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                'reason', 'conflict', 'condition', 'person_busy', 'bookings', to_jsonb(busy),
                'message', 'the person already has a break at that time'));
        END IF;
        IF lapsed THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                'reason', 'conflict', 'condition', 'person_busy',
                'message', 'the person already has a break at that time (an expired hold is being released: try again shortly)'));
        END IF;
        IF s.kind = 'bed' THEN
            n := rs_residential_nights(r.person_id, sh.nights, exclude);
            IF n > 28 AND r.override_reason IS NULL THEN
                RETURN jsonb_build_object('warnings', warnings, 'refusal', jsonb_build_object(
                    'reason', 'permanent_residence_risk', 'consecutive_nights', n,
                    'message', format('this makes %s consecutive nights of residential respite; after 28 it counts as permanent residence (a coordinator may override with a reason)', n)));
            ELSIF n >= 21 THEN
                warnings := warnings || jsonb_build_object('code', 'long_stay', 'consecutive_nights', n,
                    'message', format('%s consecutive nights of residential respite: more than 28 would count as permanent residence', n)
                               || CASE WHEN n > 28 THEN ' (overridden: ' || r.override_reason || ')' ELSE '' END);
            END IF;
        END IF;
    ELSE
        offer := rs_offer_refusal(r, s, sh);
        IF offer IS NOT NULL THEN
            RETURN jsonb_build_object('warnings', warnings, 'refusal', offer);
        END IF;
    END IF;
    RETURN jsonb_build_object('warnings', warnings);
END $$;
