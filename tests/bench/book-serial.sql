-- book-serial.sql: booking calls one after the other in one backend, each
-- committed, as the daemon would make them (the same gate function, the
-- same ctx), for profiling the SQL alone (docs/BENCHMARKS.md, "Bookings at
-- database speed"): wall time per call, and, with pg_stat_statements or
-- track_functions on, statement and function counts per call; run in a
-- backend under callgrind, its instructions.
--
--   psql -X -v token=TOKEN -v from=N -v count=N -v what=holdconfirm|book \
--        -f tests/bench/book-serial.sql DB
--
-- on a database filled by tests/bench/booking-setup.sql (its bench.hold
-- lines n > from, count of them; use each line once), TOKEN a session of
-- bench_coord. The first 20 calls are left out of the timings (plans and
-- caches being made). Statement tracking follows the session's settings:
-- SET pg_stat_statements.track and track_functions before, or not.

\set ON_ERROR_STOP 1
SELECT set_config('search_path', (SELECT schema_name FROM code_release ORDER BY deployed_at DESC LIMIT 1)
                                 || ',public', false) AS path,
       set_config('serial.token', :'token', false) AS token,
       set_config('serial.from', :'from', false) AS from_n,
       set_config('serial.count', :'count', false) AS count_n,
       set_config('serial.what', :'what', false) AS what \gset
CREATE TEMP TABLE serial_times (n int, first_ms float8, second_ms float8);
DO $$
DECLARE
    th text := encode(sha256(convert_to(current_setting('serial.token'), 'UTF8')), 'hex');
    book boolean := current_setting('serial.what') = 'book';
    ctx1 jsonb := jsonb_build_object('token_hash', th, 'request_seq', 1, 'hold_ttl_s', 900,
                                     'method', CASE WHEN book THEN 'booking.book' ELSE 'booking.hold' END);
    ctx2 jsonb := jsonb_build_object('token_hash', th, 'request_seq', 2, 'hold_ttl_s', 900,
                                     'method', 'booking.confirm');
    l record;
    t0 timestamptz;
    t1 timestamptz;
    t2 timestamptz;
    h jsonb;
BEGIN
    FOR l IN SELECT n, params FROM bench.hold WHERE n > current_setting('serial.from')::int
              ORDER BY n LIMIT current_setting('serial.count')::int LOOP
        t0 := clock_timestamp();
        IF book THEN
            h := "booking.book"(ctx1, l.params);
        ELSE
            h := "booking.hold"(ctx1, l.params);
        END IF;
        COMMIT;
        t1 := clock_timestamp();
        IF NOT book THEN
            PERFORM "booking.confirm"(ctx2, jsonb_build_object('booking_id', h->'booking_id'));
            COMMIT;
        END IF;
        t2 := clock_timestamp();
        INSERT INTO serial_times VALUES (l.n, extract(epoch FROM t1 - t0) * 1000,
                                         CASE WHEN NOT book THEN extract(epoch FROM t2 - t1) * 1000 END);
    END LOOP;
END $$;
SELECT :'what' AS what, count(*) AS calls,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY first_ms)::numeric, 3) AS first_p50_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY second_ms)::numeric, 3) AS confirm_p50_ms,
       round(avg(first_ms + coalesce(second_ms, 0))::numeric, 3) AS avg_ms_per_booking
  FROM serial_times WHERE n > :from + 20;
