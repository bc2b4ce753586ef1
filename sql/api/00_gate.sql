-- The gate and the conventions every code file follows.
--
-- This folder is the code of one release, deployed whole by the daemon into
-- a schema of its own (api_<version>) after the schema migrations of
-- sql/schema/ have run; files load in name order, each function is defined
-- once in the tree, and nothing here holds data. The daemon's connections
-- run with search_path = <release schema>, public: tables are in public.
--
--  * Each JSON-RPC method served by SQL has an implementation named like
--    the method with '_' for '.': booking.hold -> booking_hold(ctx, p),
--    returning jsonb. It holds the business rules only: the daemon's gate
--    has checked roles, params shapes and bounds (daemon/*_params.c), and
--    rs_gate_build() below wraps it in the role check and idempotency.
--  * ctx is built by the daemon from the session:
--      {"user_id":1,"role":"carer","authority_id":1,"provider_id":null,
--       "carer_id":3,"method":"booking.hold","request_seq":7,...}
--  * Errors are raised with rs_raise(reason, message, data): the exception
--    MESSAGE is a stable reason from protocol/reasons.def (or
--    'invalid_params' with data {"field":..,"reason":..}); DETAIL carries
--    the JSON data. The daemon turns them into JSON-RPC errors.

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

-- Idempotency, called by the generated wrapper of every mutating method. Returns the stored
-- response of an earlier identical request, or NULL when this request is
-- new (its key is then claimed until the transaction ends; a concurrent
-- duplicate waits on the primary key and then sees the stored answer).
CREATE FUNCTION idem_begin(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k   text := p->>'idempotency_key';
    h   text;
    row idempotency;
BEGIN
    IF k IS NULL THEN
        RETURN NULL;
    END IF;
    h := md5((p - 'idempotency_key')::text);
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

-- The one gate, generated at deploy time from api_method (the daemon's
-- method table, inserted into this release's schema before the code
-- loads): for each method served by SQL, a wrapper named exactly like the
-- method, e.g. "booking.hold"(ctx, p), that finds the session the call
-- runs as (rs_session_ctx), checks its role (again: the daemon checked the
-- role it knew first; this is the database's own defence) and, for
-- mutating methods called with an idempotency key, replays or records the
-- answer under it (a call without one costs nothing more). The SQL is
-- built here once, at deploy; calls run static code.
CREATE FUNCTION rs_gate_build() RETURNS int
LANGUAGE plpgsql AS $gate$
DECLARE
    m api_method;
    impl text;
    body text;
    n int := 0;
BEGIN
    FOR m IN SELECT * FROM api_method WHERE in_sql ORDER BY name LOOP
        impl := replace(m.name, '.', '_');
        IF to_regprocedure(format('%I.%I(jsonb, jsonb)', current_schema(), impl)) IS NULL THEN
            RAISE EXCEPTION 'method % has no function %(ctx jsonb, p jsonb) in this release',
                m.name, impl;
        END IF;
        body := CASE WHEN m.mutating
            THEN format('IF p ? ''idempotency_key'' THEN
        prior := idem_begin(ctx, p);
        IF prior IS NOT NULL THEN
            RETURN prior;
        END IF;
        RETURN idem_end(ctx, p, %I(ctx, p));
    END IF;
    RETURN %I(ctx, p);', impl, impl)
            ELSE format('RETURN %I(ctx, p);', impl) END;
        EXECUTE format($f$CREATE FUNCTION %I(ctx jsonb, p jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $w$
DECLARE
    prior jsonb;
BEGIN
    ctx := rs_session_ctx(ctx);
    IF NOT (coalesce(ctx->>'role', 'anonymous') = ANY (%L::text[])) THEN
        PERFORM rs_raise('forbidden', 'your role may not do this');
    END IF;
    %s
END $w$$f$, m.name, m.roles, body);
        n := n + 1;
    END LOOP;
    RETURN n;
END $gate$;
