-- 001 core: authorities, users, sessions, idempotency, error helpers.
--
-- Conventions every later migration follows:
--  * Tables live in schema public; the functions the daemon calls live in
--    schema api, one per JSON-RPC method: api.<noun>_<verb>(ctx jsonb, p jsonb)
--    returns jsonb. ctx is built by the daemon from the session:
--      {"user_id":1,"role":"carer","authority_id":1,"provider_id":null,
--       "carer_id":3,"method":"booking.hold","request_id":"..."}
--  * Errors are raised with rs_raise(reason, message, data): the exception
--    MESSAGE is a stable reason from protocol/reasons.def (or
--    'invalid_params' with data {"field":..,"reason":..}); DETAIL carries
--    the JSON data. The daemon turns them into JSON-RPC errors.
--  * Migrations run inside one transaction each; no BEGIN/COMMIT here.

CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE SCHEMA IF NOT EXISTS api;

CREATE TABLE authority (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,       -- ONS code, e.g. E08000012
    name        text NOT NULL
);

CREATE TYPE user_role AS ENUM ('admin', 'coordinator', 'provider', 'carer', 'call_handler');

CREATE TABLE app_user (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    role            user_role NOT NULL,
    authority_id    bigint REFERENCES authority(id),
    -- PBKDF2-HMAC-SHA256; the iteration count is stored so it can be raised
    -- later without invalidating existing passwords.
    pw_salt         bytea NOT NULL,
    pw_hash         bytea NOT NULL,
    pw_iterations   int NOT NULL CHECK (pw_iterations >= 1000),
    failed_logins   int NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Admins are the only role without an authority: every other user works
    -- inside one council's tenancy boundary.
    CHECK (role = 'admin' OR authority_id IS NOT NULL)
);

-- Sessions live here, not in a daemon's memory, so any daemon can serve a
-- token. Only the SHA-256 of the token is stored.
CREATE TABLE session (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX session_expiry ON session (expires_at);

-- A retried mutating request returns the first answer. The row is written
-- in the same transaction as the change, so it exists exactly when the
-- change does.
CREATE TABLE idempotency (
    user_id      bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
    key          text NOT NULL,
    method       text NOT NULL,
    params_hash  text NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE TABLE bank_holiday (
    day     date PRIMARY KEY,
    name    text NOT NULL,
    status  text NOT NULL CHECK (status IN ('published', 'projected', 'admin'))
);

CREATE FUNCTION rs_raise(reason text, message text, data jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = reason, DETAIL = coalesce(data, '{}')::text, HINT = message;
END $$;

-- Invalid params found only by looking at the data (end before start,
-- unknown capability...): same shape as the daemon's schema errors.
CREATE FUNCTION rs_bad_param(field text, why text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'invalid_params',
        DETAIL = jsonb_build_object('field', field, 'reason', why)::text, HINT = why;
END $$;

-- Idempotency: call first in a mutating api function. Returns the stored
-- response of an earlier identical request, or NULL when this request is
-- new (its key is then claimed until the transaction ends; a concurrent
-- duplicate waits on the primary key and then sees the stored answer).
CREATE FUNCTION idem_begin(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k   text := p->>'idempotency_key';
    h   text := md5((p - 'idempotency_key')::text);
    row idempotency;
BEGIN
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO idempotency (user_id, key, method, params_hash)
    VALUES ((ctx->>'user_id')::bigint, k, ctx->>'method', h)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT * INTO row FROM idempotency
     WHERE user_id = (ctx->>'user_id')::bigint AND key = k;
    IF row.method <> ctx->>'method' OR row.params_hash <> h THEN
        PERFORM rs_raise('idempotency_mismatch',
            'this idempotency key was used for a different request',
            jsonb_build_object('idempotency_key', k));
    END IF;
    RETURN row.response || '{"replayed": true}';
END $$;

CREATE FUNCTION idem_end(ctx jsonb, p jsonb, response jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF p ? 'idempotency_key' THEN
        UPDATE idempotency SET response = idem_end.response
         WHERE user_id = (ctx->>'user_id')::bigint AND key = p->>'idempotency_key';
    END IF;
    RETURN response;
END $$;

-- Role and tenancy guards used at the top of api functions.
CREATE FUNCTION rs_require_role(ctx jsonb, VARIADIC roles text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (ctx->>'role' = ANY (roles)) THEN
        PERFORM rs_raise('forbidden', 'your role may not do this');
    END IF;
END $$;

CREATE FUNCTION rs_authority(ctx jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (ctx->>'authority_id')::bigint $$;

-- The identity a request runs as. Later migrations replace this function to
-- add the provider or family a user belongs to.
CREATE FUNCTION rs_user_ctx(uid bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('user_id', u.id, 'username', u.username,
                              'role', u.role, 'authority_id', u.authority_id)
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

-- Periodic housekeeping, run by every daemon's janitor timer. Safe to run
-- concurrently from several daemons: each step is one set-based statement.
-- Later migrations replace it to expire holds and offers as well.
CREATE FUNCTION rs_janitor() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    DELETE FROM session WHERE expires_at < now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN jsonb_build_object('sessions_expired', n);
END $$;
