-- 007 booking probes: an index for the availability check of a stay.
--
-- A hold of a bed or a Shared Lives stay asks "is a published range of
-- nights of this supply around these nights". The exclusion constraint's
-- gist index (002) can answer it, but PostgreSQL preferred a sequential
-- scan of every supply's night ranges, a cost that grew with everybody
-- else's availability. Ranges of one supply are disjoint, so only the last
-- one starting on or before the first night can contain the stay: one
-- btree step, as avail_span_probe does for visits (002).
--
-- An index only: release 0.2.0's code, which does not use it, keeps
-- working while both run.

CREATE INDEX avail_nights_probe ON avail_nights (supply_id, lower(nights)) INCLUDE (nights);
