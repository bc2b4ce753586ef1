-- pgbench side of tests/bench/book-compare.sh: the statement the daemon
-- sends for booking.book, "booking.book"(ctx, params), with the params the
-- daemon side reads from its file built here from the line number alone,
-- by the formulas of tests/bench/book-setup.sql (so both sides book the same
-- breaks, each on its own copy of the template). Run with -M prepared and
--   -D ctx=JSON (the daemon's ctx: the session token's hash, the method)
--   -D nclients=N (as -c) -D n=0 (this client's next operation)
--   -D mode=0|1|2|3 (spread, hot bed, hot worker, hot offer)
--   -D families=.. -D carer0=.. -D person0=.. -D worker0=..
--   -D hot_bed=.. -D hot_worker=.. -D hot_offer=.. -D day0=YYYY-MM-DD -D e0=EPOCH
-- Client c makes lines c, c + N, c + 2N, ... as respite-bench's client c
-- does; :n counts its operations (carried from one transaction to the next
-- by \gset, the only addition to the daemon's statement). The params are
-- text parsed as jsonb, as the daemon's $2 is; times are UTC instants
-- written as the daemon side's file writes them.

\set i :n * :nclients + :client_id
\if :mode = 0
\set w :i % :families
\set t :i / :families
\set cid :carer0 + (:w + :t) % :families
\set pid :person0 + (:w + :t) % :families
\set sid :worker0 + :w
\set s :e0 + 86400 * (1 + :t / 6) + 3600 * (8 + 2 * (:t % 6))
SELECT "booking.book"(:ctx::jsonb,
         format('{"carer_id":%s,"person_id":%s,"supply_id":%s,"start":"%s","end":"%s"}',
                :cid::bigint, :pid::bigint, :sid::bigint,
                rs_ts_text(to_timestamp(:s::bigint)), rs_ts_text(to_timestamp(:s::bigint + 3600)))::jsonb) AS answer,
       :n::int + 1 AS n
\gset
\elif :mode = 1
\set cid :carer0 + :i % :families
\set pid :person0 + :i % :families
\set sid :hot_bed + :i / 729
\set night :i % 729
SELECT "booking.book"(:ctx::jsonb,
         format('{"carer_id":%s,"person_id":%s,"supply_id":%s,"from":"%s","to":"%s"}',
                :cid::bigint, :pid::bigint, :sid::bigint,
                :day0::date + 1 + :night::int, :day0::date + 2 + :night::int)::jsonb) AS answer,
       :n::int + 1 AS n
\gset
\elif :mode = 2
\set cid :carer0 + :i % :families
\set pid :person0 + :i % :families
\set s :e0 + 86400 * (1 + :i / 48) + 1800 * (:i % 48)
SELECT "booking.book"(:ctx::jsonb,
         format('{"carer_id":%s,"person_id":%s,"supply_id":%s,"start":"%s","end":"%s"}',
                :cid::bigint, :pid::bigint, :hot_worker::bigint,
                rs_ts_text(to_timestamp(:s::bigint)), rs_ts_text(to_timestamp(:s::bigint + 1800)))::jsonb) AS answer,
       :n::int + 1 AS n
\gset
\else
\set cid :carer0 + :i % :families
SELECT "booking.book"(:ctx::jsonb,
         format('{"carer_id":%s,"supply_id":%s,"from":"%s","to":"%s"}',
                :cid::bigint, :hot_offer::bigint, :day0::date + 1, :day0::date + 2)::jsonb) AS answer,
       :n::int + 1 AS n
\gset
\endif
