-- Data for the booking benchmark (docs/BENCHMARKS.md, "Bookings"), run by
-- tests/bench/booking-bench.sh after clients/gen/respite-gen.sh has filled
-- the authority with supply:
--
--   psql -X -v ON_ERROR_STOP=1 -v code=E99000077 -v salt=HEX -v hash=HEX \
--        -v visit_families=1000 -v stay_families=1300 -v runs=3 -v lines=40000 \
--        -f tests/bench/booking-setup.sql
--
-- Makes, in schema bench:
--  * the coordinator bench_coord (password hash computed by the script);
--  * visit_families + stay_families families (a carer and one person, no
--    special needs, consent given), each with a personal budget far larger
--    than the run can spend, through the api functions as the daemon would;
--  * bench.hold: `runs` x `lines` booking.hold params, none conflicting
--    with any other: 2-hour sitting visits at the start of a worker's
--    published shift (one visit per shift), and 2-night bed stays starting
--    every third day (so a family's stays never touch), three visits to one
--    stay. Families are dealt out per day so that no family has two breaks
--    on one day, and consecutive lines belong to different families: the
--    benchmark's clients, which take lines in turn, do not wait on each
--    other's family locks.
-- Refuses to run twice on one database (schema bench exists).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA bench;
SELECT set_config('bench.code', :'code', false) AS cfg_code,
       set_config('bench.nv', :'visit_families', false) AS cfg_nv,
       set_config('bench.ns', :'stay_families', false) AS cfg_ns \gset

INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations)
SELECT 'bench_coord', 'coordinator', a.id, decode(:'salt', 'hex'), decode(:'hash', 'hex'), 10000
  FROM authority a WHERE a.code = :'code'
ON CONFLICT (username) DO UPDATE
   SET role = excluded.role, authority_id = excluded.authority_id, pw_salt = excluded.pw_salt,
       pw_hash = excluded.pw_hash, pw_iterations = excluded.pw_iterations, disabled = false;

CREATE TABLE bench.family (
    n           int PRIMARY KEY,
    pool        text NOT NULL CHECK (pool IN ('visit', 'stay')),
    k           int NOT NULL,                   -- index within its pool, from 0
    carer_id    bigint NOT NULL,
    person_id   bigint NOT NULL,
    UNIQUE (pool, k)
);

DO $$
DECLARE
    ctx jsonb := (SELECT rs_user_ctx(id) || '{"request_seq":0,"hold_ttl_s":900}' FROM app_user WHERE username = 'bench_coord');
    nv int := current_setting('bench.nv')::int;
    ns int := current_setting('bench.ns')::int;
    f jsonb;
    pid bigint;
BEGIN
    FOR i IN 0 .. nv + ns - 1 LOOP
        f := "family.create"(ctx || '{"method":"family.create"}', jsonb_build_object(
            'carer', jsonb_build_object('name', 'Bench carer ' || i, 'referral_route', 'self_referral'),
            'persons', jsonb_build_array(jsonb_build_object('name', 'Bench person ' || i,
                'languages', '["en"]'::jsonb, 'consent', '{"status":"given"}'::jsonb))));
        pid := (f->'persons'->0->>'person_id')::bigint;
        PERFORM "entitlement.create"(ctx || '{"method":"entitlement.create"}', jsonb_build_object(
            'person_id', pid, 'name', 'Personal budget', 'source', 'person_personal_budget',
            'unit', 'pence', 'rule', 'one_off', 'amount', 10000000000, 'valid_from', rs_today()));
        INSERT INTO bench.family VALUES (i, CASE WHEN i < nv THEN 'visit' ELSE 'stay' END,
                                         CASE WHEN i < nv THEN i ELSE i - nv END,
                                         (f->'carer'->>'carer_id')::bigint, pid);
    END LOOP;
END $$;

-- Candidate visits: the first two hours of each published shift of an
-- active worker of the authority, from tomorrow on; r = rank within the day.
CREATE TABLE bench.visit AS
SELECT s.id AS supply_id, lower(a.span) AS s, lower(a.span) + interval '2 hours' AS e,
       row_number() OVER (PARTITION BY rs_local_day(lower(a.span)) ORDER BY s.id) AS r,
       rs_local_day(lower(a.span)) AS d
  FROM supply s JOIN avail_span a ON a.supply_id = s.id
 WHERE s.authority_id = (SELECT id FROM authority WHERE code = current_setting('bench.code'))
   AND s.kind = 'worker' AND s.active AND NOT s.emergency_only
   AND s.min_visit_minutes <= 120 AND s.max_visit_minutes >= 120
   AND lower(a.span) >= now() + interval '1 day'
   AND upper(a.span) - lower(a.span) >= interval '2 hours';

-- Candidate stays: two nights from every third day, inside a bed's
-- published nights.
CREATE TABLE bench.stay AS
SELECT x.*, row_number() OVER (PARTITION BY x.d ORDER BY x.supply_id) AS r
  FROM (SELECT s.id AS supply_id, d::date AS d
          FROM supply s JOIN avail_nights n ON n.supply_id = s.id,
               generate_series(rs_today() + 3, rs_today() + 360, interval '3 days') d
         WHERE s.authority_id = (SELECT id FROM authority WHERE code = current_setting('bench.code'))
           AND s.kind = 'bed' AND s.active AND NOT s.emergency_only
           AND n.nights @> daterange(d::date, d::date + 2)) x;

-- The lines: family k of a pool takes the kth break of each day (breaks
-- past the pool's size are dropped), visits in (day, rank) order at
-- positions 1, 2, 3, ..., stays at 3.5, 6.5, ...
CREATE TABLE bench.hold AS
WITH v AS (
    SELECT row_number() OVER (ORDER BY v.d, v.r)::numeric AS pos,
           jsonb_build_object('carer_id', f.carer_id, 'person_id', f.person_id, 'supply_id', v.supply_id,
                              'start', rs_ts_text(v.s), 'end', rs_ts_text(v.e)) AS params
      FROM bench.visit v JOIN bench.family f ON f.pool = 'visit' AND f.k = v.r - 1),
st AS (
    SELECT row_number() OVER (ORDER BY s.d, s.r) * 3 + 0.5 AS pos,
           jsonb_build_object('carer_id', f.carer_id, 'person_id', f.person_id, 'supply_id', s.supply_id,
                              'from', s.d, 'to', s.d + 2) AS params
      FROM bench.stay s JOIN bench.family f ON f.pool = 'stay' AND f.k = s.r - 1),
allx AS (SELECT row_number() OVER (ORDER BY pos) AS n, params FROM (SELECT * FROM v UNION ALL SELECT * FROM st) u)
SELECT (n - 1) / :lines + 1 AS run, n, params FROM allx WHERE n <= :runs * :lines;

SELECT run, count(*) AS lines,
       count(*) FILTER (WHERE params ? 'from') AS stays,
       count(*) FILTER (WHERE params ? 'start') AS visits
  FROM bench.hold GROUP BY run ORDER BY run;
