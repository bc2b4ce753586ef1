-- Sessions: the identity a request runs as, logins and tokens (only a
-- token's SHA-256 is stored), and the first admin.

CREATE FUNCTION rs_authority(ctx jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (ctx->>'authority_id')::bigint $$;

CREATE FUNCTION rs_user_ctx(uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username,
                              'role', u.role, 'authority_id', u.authority_id,
                              'provider_id', u.provider_id, 'carer_id', u.carer_id)
      FROM app_user u WHERE u.id = uid
$$;

-- Login, step 1: what the daemon needs to verify a password off the loop.
CREATE FUNCTION rs_login_lookup(uname text)
RETURNS TABLE (user_id bigint, salt bytea, hash bytea, iterations int, locked boolean)
LANGUAGE sql STABLE AS $$
    SELECT id, pw_salt, pw_hash, pw_iterations,
           disabled OR coalesce(locked_until > now(), false)
      FROM app_user WHERE username = uname
$$;

-- Login, step 2a: the password matched.
CREATE FUNCTION rs_session_create(uid bigint, token_hash bytea, ttl_seconds int)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    UPDATE app_user SET failed_logins = 0, locked_until = NULL WHERE id = uid;
    DELETE FROM session WHERE user_id = uid AND expires_at < now();
    INSERT INTO session (token_hash, user_id, expires_at)
    VALUES (token_hash, uid, now() + make_interval(secs => ttl_seconds));
    RETURN rs_user_ctx(uid) || jsonb_build_object('expires_at', now() + make_interval(secs => ttl_seconds));
END $$;

-- Login, step 2b: it did not. Locks the account after max_failures.
CREATE FUNCTION rs_login_failed(uid bigint, max_failures int, lockout_seconds int)
RETURNS void LANGUAGE sql AS $$
    UPDATE app_user
       SET failed_logins = failed_logins + 1,
           locked_until = CASE WHEN failed_logins + 1 >= max_failures
                               THEN now() + make_interval(secs => lockout_seconds) END
     WHERE id = uid
$$;

-- A token presented on a new connection or an HTTP request.
CREATE FUNCTION rs_session_resume(th bytea) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT rs_user_ctx(s.user_id) || jsonb_build_object('expires_at', s.expires_at)
      FROM session s JOIN app_user u ON u.id = s.user_id
     WHERE s.token_hash = th AND s.expires_at > now() AND NOT u.disabled
$$;

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
