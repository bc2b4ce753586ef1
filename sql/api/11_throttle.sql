-- Throttles: one mechanism for every secret a caller can guess (passwords
-- now; setup codes and emergency-card PINs later), its state in
-- auth_throttle (006) so that every daemon sees the same counts.
--
-- A key's failures decay: one is forgiven every decay_s seconds. Once the
-- count reaches the limit `max`, each failure makes the key wait before
-- its next attempt: delay_s seconds, doubling with every further failure,
-- at most cap_s. A wait, never a lock: nobody can keep a key shut for
-- longer than the failures they go on paying for, and it reopens by
-- itself.
--
-- Limits travel with every call, from the daemon's settings (a reload
-- applies to the next call):
--     lim = {"max": n, "delay_s": s, "cap_s": s, "decay_s": s}
--
-- Callers about to check a guess CLAIM an attempt first
-- (rs_throttle_claim): the claim counts as a failure at once, so guesses
-- in flight (a batch, concurrent connections, several daemons) are
-- counted before any of them is checked; a success then REFUNDS its own
-- claim (rs_throttle_refund), never the failures before it. A scope that
-- counts completed failures only is checked with rs_throttle_check and
-- charged with rs_throttle_fail.

-- A key as stored: login names are compared without case, so "Carer" and
-- "carer" share one count.
CREATE FUNCTION rs_throttle_key(sc text, k text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN sc IN ('login_user', 'login_user_addr') THEN lower(k) ELSE k END
$$;

-- t's failures at `at`, after decay. A transaction's now() is when it
-- began, so the one that waited longest for a row may hold an older
-- now() than the row's last write: no decay then, never a negative one.
CREATE FUNCTION rs_throttle_count(t auth_throttle, at timestamptz) RETURNS real
LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(0, t.failures
                       - greatest(0, extract(epoch FROM at - t.updated_at)) / t.decay_s)::real
$$;

-- Whole seconds until `until` (0: it has passed, or there is none).
CREATE FUNCTION rs_throttle_wait_s(until timestamptz) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN until > now() THEN ceil(extract(epoch FROM until - now()))::int ELSE 0 END
$$;

-- The wait a count earns: none below max, then delay_s doubling with each
-- failure past it, at most cap_s.
CREATE FUNCTION rs_throttle_delay(failures real, lim jsonb) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ceil(failures) < (lim->>'max')::int THEN NULL
           ELSE make_interval(secs => least((lim->>'cap_s')::float8,
                    (lim->>'delay_s')::float8 * 2 ^ least(ceil(failures) - (lim->>'max')::int, 40)))
           END
$$;

-- Seconds before (sc, k) may be tried again, without counting anything.
CREATE FUNCTION rs_throttle_check(sc text, k text) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT rs_throttle_wait_s(t.blocked_until) FROM auth_throttle t
                      WHERE t.scope = sc AND t.key = rs_throttle_key(sc, k)), 0)
$$;

-- The row of (sc, k), made if need be and locked until the transaction
-- ends: every change to one key, from any daemon, waits its turn here.
CREATE FUNCTION rs_throttle_lock(sc text, k text, lim jsonb) RETURNS auth_throttle
LANGUAGE sql AS $$
    INSERT INTO auth_throttle AS t (scope, key, decay_s, expires_at)
    VALUES (sc, rs_throttle_key(sc, k), (lim->>'decay_s')::real, now())
    ON CONFLICT (scope, key) DO UPDATE SET scope = t.scope
    RETURNING t.*
$$;

-- Stores f failures on t's key as of now (or of its last write, if that
-- is later), with no attempt before `until`.
CREATE FUNCTION rs_throttle_store(t auth_throttle, f real, until timestamptz, lim jsonb)
RETURNS void LANGUAGE sql AS $$
    WITH w AS (SELECT greatest(now(), t.updated_at) AS at, (lim->>'decay_s')::real AS decay)
    UPDATE auth_throttle
       SET failures = f, decay_s = w.decay, updated_at = w.at, blocked_until = until,
           expires_at = greatest(until, w.at + make_interval(secs => f * w.decay))
      FROM w
     WHERE scope = t.scope AND key = t.key
$$;

-- One more failure on the locked row t; from max on, the wait it earns
-- (never shortening a wait already set).
CREATE FUNCTION rs_throttle_add(t auth_throttle, lim jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    f real := rs_throttle_count(t, now()) + 1;
    d interval := rs_throttle_delay(f, lim);
BEGIN
    PERFORM rs_throttle_store(t, f,
        CASE WHEN d IS NULL THEN t.blocked_until ELSE greatest(t.blocked_until, now() + d) END, lim);
END $$;

-- Claims one attempt on every key at once, all or nothing. wait_s = 0:
-- go ahead, the attempt now counts as a failure on each key until
-- rs_throttle_refund says otherwise. Else nothing is counted, and wait_s
-- is the longest wait and `scope` the scope imposing it. A key seen
-- waiting is refused without a lock or a write, so a flood of refused
-- attempts neither queues on the row nor churns it. Rows are locked in
-- the order given: callers give scopes in one fixed order, so two claims
-- never deadlock.
CREATE FUNCTION rs_throttle_claim(scopes text[], keys text[], lims jsonb[],
                                  OUT wait_s int, OUT scope text)
LANGUAGE plpgsql AS $$
DECLARE
    rows auth_throttle[];
    t auth_throttle;
    w int;
BEGIN
    wait_s := 0;
    FOR i IN 1 .. cardinality(scopes) LOOP
        w := rs_throttle_check(scopes[i], keys[i]);
        IF w > wait_s THEN
            wait_s := w;
            scope := scopes[i];
        END IF;
    END LOOP;
    IF wait_s > 0 THEN
        RETURN;
    END IF;
    FOR i IN 1 .. cardinality(scopes) LOOP
        t := rs_throttle_lock(scopes[i], keys[i], lims[i]);
        rows := rows || t;
        w := rs_throttle_wait_s(t.blocked_until);
        IF w > wait_s THEN
            wait_s := w;
            scope := scopes[i];
        END IF;
    END LOOP;
    IF wait_s > 0 THEN
        RETURN;
    END IF;
    FOR i IN 1 .. cardinality(scopes) LOOP
        PERFORM rs_throttle_add(rows[i], lims[i]);
    END LOOP;
END $$;

-- A claimed attempt succeeded: takes back its own failure on every key,
-- and the wait with it once the count is below the limit again. Failures
-- before it stay, so a success never wipes out someone else's guesses.
CREATE FUNCTION rs_throttle_refund(scopes text[], keys text[], lims jsonb[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t auth_throttle;
    f real;
BEGIN
    FOR i IN 1 .. cardinality(scopes) LOOP
        t := rs_throttle_lock(scopes[i], keys[i], lims[i]);
        f := greatest(0, rs_throttle_count(t, now()) - 1);
        PERFORM rs_throttle_store(t, f,
            CASE WHEN ceil(f) < (lims[i]->>'max')::int THEN NULL ELSE t.blocked_until END, lims[i]);
    END LOOP;
END $$;

-- A completed failure, for scopes that count only those.
CREATE FUNCTION rs_throttle_fail(sc text, k text, lim jsonb) RETURNS void
LANGUAGE sql AS $$
    SELECT rs_throttle_add(rs_throttle_lock(sc, k, lim), lim)
$$;

-- Housekeeping (rs_janitor): rows whose failures are forgiven and whose
-- wait is over, a batch at a time. SKIP LOCKED: a key being claimed is
-- left for the next round, and the janitor never waits on a login.
CREATE FUNCTION rs_throttle_expire() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM auth_throttle d
     WHERE (d.scope, d.key) IN (SELECT t.scope, t.key FROM auth_throttle t
                                 WHERE t.expires_at < now()
                                 ORDER BY t.expires_at LIMIT 1000
                                 FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- One throttle as an admin sees it.
CREATE FUNCTION rs_throttle_json(t auth_throttle) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('scope', t.scope, 'key', t.key,
                              'failures', round(rs_throttle_count(t, now())::numeric, 1),
                              'retry_after_s', rs_throttle_wait_s(t.blocked_until),
                              'blocked_until', CASE WHEN t.blocked_until > now() THEN t.blocked_until END,
                              'updated_at', t.updated_at)
$$;

-- throttle.list: the throttles in force (failures not yet forgiven, or a
-- wait not yet over), by scope and key.
CREATE FUNCTION throttle_list(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := coalesce((p->>'limit')::int, 50);
    off int := coalesce((p->>'offset')::int, 0);
    items jsonb;
BEGIN
    SELECT coalesce(jsonb_agg(x.j ORDER BY x.scope, x.key), '[]') INTO items
      FROM (SELECT t.scope, t.key, rs_throttle_json(t) AS j FROM auth_throttle t
             WHERE t.expires_at > now()
               AND (NOT p ? 'scope' OR t.scope = p->>'scope')
               AND (NOT p ? 'key' OR t.key = rs_throttle_key(t.scope, p->>'key'))
             ORDER BY t.scope, t.key LIMIT lim + 1 OFFSET off) x;
    RETURN jsonb_build_object(
        'throttles', CASE WHEN jsonb_array_length(items) > lim THEN items - lim ELSE items END,
        'next_offset', CASE WHEN jsonb_array_length(items) > lim THEN off + lim END);
END $$;

-- throttle.clear: forgets one key's failures and wait at once (a user
-- locked out by someone else's guesses, an office behind one address). The
-- server log keeps who cleared which scope; the key itself (a name, an
-- address) only as a digest.
CREATE FUNCTION throttle_clear(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    sc text := p->>'scope';
    k text := rs_throttle_key(p->>'scope', p->>'key');
    gone auth_throttle;
BEGIN
    DELETE FROM auth_throttle t WHERE t.scope = sc AND t.key = k RETURNING * INTO gone;
    RAISE LOG 'event=throttle_clear user_id=% scope=% key_sha256=% cleared=% failures=%',
        ctx->>'user_id', sc, left(encode(sha256(convert_to(k, 'UTF8')), 'hex'), 12),
        gone.scope IS NOT NULL, coalesce(round(rs_throttle_count(gone, now())::numeric, 1), 0);
    RETURN jsonb_build_object('scope', sc, 'key', k, 'cleared', gone.scope IS NOT NULL);
END $$;
