-- Sessions: the identity a request runs as, logins and tokens (only a
-- token's SHA-256 is stored), and the first admin.

CREATE FUNCTION rs_authority(ctx jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (ctx->>'authority_id')::bigint $$;

-- The identity of a user row, as ctx carries it (an expression: inlined
-- where it is used).
CREATE FUNCTION rs_user_json(u app_user) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username,
                              'role', u.role, 'authority_id', u.authority_id,
                              'provider_id', u.provider_id, 'carer_id', u.carer_id)
$$;

-- (This and rs_session_resume run in every call's gate: PL/pgSQL, so that
-- their plans are kept; as SQL functions they were planned every call.)
CREATE FUNCTION rs_user_ctx(uid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT rs_user_json(u) FROM app_user u WHERE u.id = uid);
END $$;

-- Logins are throttled (11_throttle.sql) by what was typed, never by
-- whether it names an account, so a name that does not exist is counted,
-- refused and answered exactly like one that does:
--   login_user_addr  this name from this address (limit max_failures):
--                    guessing one account from one place;
--   login_user       this name from anywhere (user_max_failures, higher):
--                    guessing one account from many places;
--   login_addr       this address across all names (addr_max_failures):
--                    spraying guesses over many accounts.
-- The first two are claimed before the password is hashed, so guesses in
-- flight count. Why the pair, and the account limit above it: a single
-- address must not shut an account for everyone else. Its own guesses
-- make only it wait, and the waits grow until it adds failures no faster
-- than the decay forgives them: with the defaults (5, waits doubling from
-- 1 s, one forgiven a minute) its count levels off near 11, below the
-- account's 20, so the right password from another address still gets
-- in. Guesses from several addresses, whose counts add up on the
-- account, do throttle the account itself. login_addr counts
-- completed failures only: an address's successes (a busy office, a test
-- suite on 127.0.0.1) never count against it, and the daemon bounds how
-- many logins one address may have in flight instead.
--
-- s: the daemon's login settings, {"max_failures", "user_max_failures",
-- "addr_max_failures", "delay_s", "cap_s", "decay_s"} (daemon/login.c).

-- The limits of one login scope, for the rs_throttle_* functions.
CREATE FUNCTION rs_login_lim(s jsonb, max_key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('max', s->max_key, 'delay_s', s->'delay_s',
                              'cap_s', s->'cap_s', 'decay_s', s->'decay_s')
$$;

-- The keys a login claims, in the one order they are locked in.
CREATE FUNCTION rs_login_claims(uname text, addr text, s jsonb,
                                OUT scopes text[], OUT keys text[], OUT lims jsonb[])
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    scopes := ARRAY['login_user_addr', 'login_user'];
    keys := ARRAY[uname || '@' || addr, uname];
    lims := ARRAY[rs_login_lim(s, 'max_failures'), rs_login_lim(s, 'user_max_failures')];
END $$;

-- Login, step 1, before any hashing: the throttles, then what the daemon
-- needs to verify the password off the loop. wait_s > 0: refused, by
-- scope `throttled_by`, and nothing else is returned. Else the account,
-- or NULLs for a name that does not exist (the daemon then hashes against
-- a dummy). A disabled account is returned as usable = false and checked
-- like any other, so that it cannot be told apart either.
CREATE FUNCTION rs_login_begin(uname text, addr text, s jsonb)
RETURNS TABLE (wait_s int, throttled_by text, uid bigint, salt bytea, hash bytea,
               iterations int, usable boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c record := rs_login_claims(uname, addr, s);
    w int := rs_throttle_check('login_addr', addr);
    got record;
BEGIN
    IF w > 0 THEN
        RETURN QUERY SELECT w, 'login_addr'::text, NULL::bigint, NULL::bytea, NULL::bytea,
                            NULL::int, NULL::boolean;
        RETURN;
    END IF;
    got := rs_throttle_claim(c.scopes, c.keys, c.lims);
    IF got.wait_s > 0 THEN
        RETURN QUERY SELECT got.wait_s, got.scope, NULL::bigint, NULL::bytea, NULL::bytea,
                            NULL::int, NULL::boolean;
        RETURN;
    END IF;
    RETURN QUERY SELECT 0, NULL::text, u.id, u.pw_salt, u.pw_hash, u.pw_iterations, NOT u.disabled
                   FROM (SELECT 1) one LEFT JOIN app_user u ON u.username = uname;
END $$;

-- Login, step 2a: the password matched an account in use. Refunds this
-- attempt's own claim (failures before it stay) and opens the session.
-- app_user.failed_logins and locked_until are left alone (006).
CREATE FUNCTION rs_login_succeeded(uid bigint, uname text, addr text, s jsonb,
                                   th bytea, ttl_seconds int)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c record := rs_login_claims(uname, addr, s);
    expires timestamptz := now() + make_interval(secs => ttl_seconds);
BEGIN
    PERFORM rs_throttle_refund(c.scopes, c.keys, c.lims);
    DELETE FROM session x WHERE x.user_id = uid AND x.expires_at < now();
    INSERT INTO session (token_hash, user_id, expires_at) VALUES (th, uid, expires);
    RETURN rs_user_ctx(uid) || jsonb_build_object('expires_at', expires);
END $$;

-- Login, step 2b: a wrong password, an unknown name or a disabled
-- account. The claims already count it; the address counts it now.
CREATE FUNCTION rs_login_failed(uname text, addr text, s jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rs_throttle_fail('login_addr', addr, rs_login_lim(s, 'addr_max_failures'));
END $$;

-- A token presented on a new connection or an HTTP request.
CREATE FUNCTION rs_session_resume(th bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT rs_user_json(u) || jsonb_build_object('expires_at', s.expires_at)
              FROM session s JOIN app_user u ON u.id = s.user_id
             WHERE s.token_hash = th AND s.expires_at > now() AND NOT u.disabled);
END $$;

-- The identity a call runs as, looked up in the call's own transaction
-- (called by every gate wrapper, 00_gate.sql): the daemon sends only the
-- session token's hash, so a logout, a disabled account or a changed
-- role, authority or provider takes effect on the next call of every open
-- connection. Without a token the call is anonymous; callers of these
-- functions from SQL itself (demo data, SQL tests) pass an identity
-- directly, as the database trusts its own users.
CREATE FUNCTION rs_session_ctx(ctx jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    who jsonb;
BEGIN
    IF NOT ctx ? 'token_hash' THEN
        RETURN ctx;
    END IF;
    who := rs_session_resume(decode(ctx->>'token_hash', 'hex'));
    IF who IS NULL THEN
        PERFORM rs_raise('unauthorized', 'your session has ended: log in again');
    END IF;
    RETURN (ctx - 'token_hash') || (who - 'expires_at');
END $$;

CREATE FUNCTION rs_session_delete(th bytea) RETURNS boolean
LANGUAGE sql AS $$
    WITH d AS (DELETE FROM session WHERE token_hash = th RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

-- The first admin, created by the daemon at start when no admin exists.
CREATE FUNCTION rs_bootstrap_admin(uname text, salt bytea, hash bytea, iterations int)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM app_user WHERE role = 'admin') THEN
        RETURN false;
    END IF;
    INSERT INTO app_user (username, role, pw_salt, pw_hash, pw_iterations)
    VALUES (uname, 'admin', salt, hash, iterations);
    RETURN true;
END $$;
