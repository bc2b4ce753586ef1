-- ---------------------------------------------------------------------------
-- Tenancy. Admins see everything; everyone else works inside their
-- authority; a provider user manages only its own provider. A record the
-- caller may not see is answered as if it did not exist (not_found, with
-- the same message and data), so ids cannot be probed across
-- authorities; one it may see but not change (another provider in the
-- directory) is forbidden.

CREATE FUNCTION rs_provider_for(ctx jsonb, pid bigint, manage boolean) RETURNS provider
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr provider;
BEGIN
    SELECT * INTO pr FROM provider WHERE id = pid;
    IF NOT FOUND OR (ctx->>'role' <> 'admin' AND pr.authority_id IS DISTINCT FROM rs_authority(ctx)) THEN
        PERFORM rs_raise('not_found', 'no such provider', jsonb_build_object('provider_id', pid));
    END IF;
    IF ctx->>'role' = 'admin' THEN
        RETURN pr;
    END IF;
    IF (manage AND ctx->>'role' = 'provider'
           AND pr.id IS DISTINCT FROM (ctx->>'provider_id')::bigint)
       OR (manage AND NOT ctx->>'role' IN ('coordinator', 'provider')) THEN
        PERFORM rs_raise('forbidden', 'this provider is not yours to see or change',
                         jsonb_build_object('provider_id', pid));
    END IF;
    RETURN pr;
END $$;

-- The authority a new record goes into: admins must name one that exists;
-- everyone else works in their own and may only name that. `what` says
-- what is being added, for the refusal.
CREATE FUNCTION rs_target_authority(ctx jsonb, v_auth bigint, what text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF ctx->>'role' = 'admin' THEN
        IF v_auth IS NULL THEN
            PERFORM rs_bad_param('authority_id', 'required');
        END IF;
        IF NOT EXISTS (SELECT 1 FROM authority WHERE id = v_auth) THEN
            PERFORM rs_raise('not_found', 'no such authority', jsonb_build_object('authority_id', v_auth));
        END IF;
        RETURN v_auth;
    END IF;
    IF v_auth IS NOT NULL AND v_auth <> rs_authority(ctx) THEN
        PERFORM rs_raise('forbidden', format('you may add %s only to your own authority', what));
    END IF;
    RETURN rs_authority(ctx);
END $$;

-- The provider a provider-side call acts on: provider users default to
-- their own; coordinators and admins must say which.
CREATE FUNCTION rs_provider_param(ctx jsonb, p jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    pid bigint := rs_p_int(p, 'provider_id');
BEGIN
    IF pid IS NULL AND ctx->>'role' = 'provider' THEN
        pid := (ctx->>'provider_id')::bigint;
        IF pid IS NULL THEN
            PERFORM rs_raise('forbidden', 'your account is not linked to a provider');
        END IF;
    END IF;
    IF pid IS NULL THEN
        PERFORM rs_bad_param('provider_id', 'required');
    END IF;
    RETURN pid;
END $$;
