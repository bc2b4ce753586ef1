-- Demo data 20: a family for the demo carer, its budgets, and Liverpool's
-- scheme rule for hotel breaks.
--
-- The demo user `carer` becomes Harjit Kaur, who cares for her father
-- Gurdev Singh (dementia; speaks Punjabi, not English; a best-interests
-- decision recorded by his GP). Their budgets show each kind of
-- entitlement:
--   * council short breaks: 52 hours over nine months, any day but bank
--     holidays, for sitting and Shared Lives day support (Wandsworth-style);
--   * council sitting: 8 hours every calendar month (Stockton-style);
--   * Gurdev's personal budget: £400 paid in every month (ongoing);
--   * Harjit's carer's direct payment: £300 once, for her own breaks.
-- `coord` is Liverpool's coordinator (00_users.sql made it so; kept here
-- so this file says what the demo relies on).
--
-- Idempotent: the family is created once (when `carer` has no carer yet),
-- through the api functions with a coordinator's ctx, as the daemon would.

UPDATE app_user SET authority_id = (SELECT id FROM authority WHERE code = 'E08000012')
 WHERE username = 'coord' AND role = 'coordinator'
   AND authority_id IS DISTINCT FROM (SELECT id FROM authority WHERE code = 'E08000012');

DO $$
DECLARE
    ctx jsonb := (SELECT rs_user_ctx(id) FROM app_user WHERE username = 'coord');
    uid bigint := (SELECT id FROM app_user WHERE username = 'carer' AND carer_id IS NULL);
    f jsonb;
    cid bigint;
    pid bigint;
    month1 date := date_trunc('month', rs_today())::date;
BEGIN
    IF ctx IS NULL OR uid IS NULL THEN
        RETURN;     -- no demo users, or the family exists already
    END IF;
    f := "family.create"(ctx || '{"method":"family.create"}', jsonb_build_object(
        'carer', jsonb_build_object(
            'name', 'Harjit Kaur', 'date_of_birth', '1968-09-14', 'phone', '0151 496 0000',
            'postcode_district', 'L8', 'lat', 53.389, 'lon', -2.965, 'languages', '["en","pa"]'::jsonb,
            'needs', '["diet:halal"]'::jsonb, 'referral_route', 'gp_carers_prescription',
            'referred_by', 'Dr A. Shah, Princes Park Health Centre', 'referred_on', rs_today() - 60),
        'user_id', uid,
        'persons', jsonb_build_array(jsonb_build_object(
            'name', 'Gurdev Singh', 'date_of_birth', '1940-03-02', 'relationship', 'father',
            'needs', '["dementia"]'::jsonb, 'wishes', '["culture:south_asian","diet:halal","gender:male"]'::jsonb,
            'languages', '["pa"]'::jsonb, 'postcode_district', 'L8', 'lat', 53.389, 'lon', -2.965,
            'consent', jsonb_build_object('status', 'best_interests', 'decided_by', 'Dr A. Shah (GP)',
                                          'notes', 'Mental capacity assessment: unable to decide about respite care; family consulted.'),
            'notes', 'Likes Punjabi radio and walks in Princes Park; prays at 1pm.'))));
    cid := (f->'carer'->>'carer_id')::bigint;
    pid := (f->'persons'->0->>'person_id')::bigint;

    PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
        'carer_id', cid, 'name', 'Council short breaks: 52 hours over 9 months', 'source', 'council',
        'unit', 'minutes', 'rule', 'fixed', 'amount', 52 * 60, 'valid_from', month1,
        'valid_to', (month1 + interval '9 months')::date, 'exclude_bank_holidays', true,
        'kinds', '["worker","household"]'::jsonb));
    PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
        'person_id', pid, 'name', 'Council sitting: 8 hours a month', 'source', 'council',
        'unit', 'minutes', 'rule', 'recurring', 'period', 'month', 'amount', 8 * 60,
        'valid_from', month1, 'kinds', '["worker"]'::jsonb));
    PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
        'person_id', pid, 'name', 'Gurdev''s personal budget', 'source', 'person_personal_budget',
        'unit', 'pence', 'rule', 'ongoing', 'period', 'month', 'amount', 40000,
        'valid_from', month1));
    PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
        'carer_id', cid, 'name', 'Carer''s direct payment', 'source', 'carer_direct_payment',
        'unit', 'pence', 'rule', 'one_off', 'amount', 30000, 'valid_from', rs_today()));
END $$;

-- Liverpool's hotel breaks: one per carer per calendar year.
INSERT INTO scheme_rule (authority_id, name, offer_type, per, max)
SELECT id, 'One hotel break per carer per calendar year', 'overnight_stay', 'year', 1
  FROM authority WHERE code = 'E08000012'
ON CONFLICT (authority_id, offer_type, per) DO NOTHING;
