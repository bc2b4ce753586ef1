-- ---------------------------------------------------------------------------
-- Params. The daemon's gate has already checked every field's type, shape
-- and bounds against the method's C schema (daemon/*_params.c, the one
-- source for them, documented in protocol/PROTOCOL.md), so these readers
-- only read: a JSON null reads as SQL NULL. What SQL still checks is what
-- needs the data: codes in the vocabulary, dates against today, fields
-- that depend on the kind of supply, records the caller may use. Those
-- errors name the field, with its path inside arrays ("ranges[3].to");
-- `at` is the path prefix of the object being read.

CREATE FUNCTION rs_p_text(obj jsonb, key text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT obj ->> key $$;

CREATE FUNCTION rs_p_enum(obj jsonb, key text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT obj ->> key $$;

CREATE FUNCTION rs_p_int(obj jsonb, key text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (obj ->> key)::bigint $$;

CREATE FUNCTION rs_p_num(obj jsonb, key text) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT (obj ->> key)::float8 $$;

CREATE FUNCTION rs_p_bool(obj jsonb, key text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT (obj ->> key)::boolean $$;

-- STABLE, as the cast from text is: declared IMMUTABLE it could not be
-- inlined and ran as a function, planned again in every transaction.
CREATE FUNCTION rs_p_date(obj jsonb, key text) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (obj ->> key)::date $$;

-- RFC 3339 with an explicit offset (the gate checked): an instant.
CREATE FUNCTION rs_p_ts(obj jsonb, key text) RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT (obj ->> key)::timestamptz $$;

CREATE FUNCTION rs_p_time(obj jsonb, key text) RETURNS time
LANGUAGE sql STABLE AS $$ SELECT (obj ->> key)::time $$;

CREATE FUNCTION rs_p_array(obj jsonb, key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(obj -> key, 'null') $$;

CREATE FUNCTION rs_p_object(obj jsonb, key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(obj -> key, 'null') $$;

-- Present and not null, for fields required only in some cases (the gate
-- checks the fields a method always requires).
CREATE FUNCTION rs_p_required(obj jsonb, key text, at text DEFAULT '')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF obj -> key IS NULL OR jsonb_typeof(obj -> key) = 'null' THEN
        PERFORM rs_bad_param(at || key, 'required');
    END IF;
END $$;

-- Refuses members other than `allowed`: the fields that apply to one kind
-- of supply or range (the gate knows every field of every kind; which
-- apply depends on the data).
CREATE FUNCTION rs_p_only(obj jsonb, allowed text[], at text, why text DEFAULT 'unknown field')
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
BEGIN
    SELECT key INTO k FROM jsonb_object_keys(obj) AS key
     WHERE NOT key = ANY (allowed) ORDER BY key LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM rs_bad_param(at || k, why);
    END IF;
END $$;

-- An array of ids, in order; NULL when absent. (PL/pgSQL, not SQL: an SQL
-- function with a subquery is never inlined and is planned again in every
-- transaction; here the plan is kept and an absent key costs no query.)
CREATE FUNCTION rs_p_ids(obj jsonb, key text) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(obj -> key) IS DISTINCT FROM 'array' THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT e::bigint FROM jsonb_array_elements_text(obj -> key)
                        WITH ORDINALITY AS t(e, i) ORDER BY i);
END $$;

-- A postcode district (the outward code: L17, CH41), in capitals without
-- spaces: its format is a rule of the data, not a length the gate knows.
CREATE FUNCTION rs_p_district(p jsonb, at text DEFAULT '') RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    d text := upper(replace(rs_p_text(p, 'postcode_district'), ' ', ''));
BEGIN
    IF d IS NOT NULL AND d !~ '^[A-Z]{1,2}[0-9][0-9A-Z]?$' THEN
        PERFORM rs_bad_param(at || 'postcode_district', 'not a postcode district (e.g. L17, CH41)');
    END IF;
    RETURN d;
END $$;

-- An array of capability codes, each one checked against the vocabulary;
-- the first unknown one is named with its index: "needs[2]".
CREATE FUNCTION rs_p_caps(obj jsonb, key text, at text DEFAULT '')
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    a jsonb := rs_p_array(obj, key);
    bad record;
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT e.value, e.n - 1 AS i INTO bad
      FROM jsonb_array_elements(a) WITH ORDINALITY AS e(value, n)
     WHERE NOT EXISTS (SELECT 1 FROM capability c WHERE c.code = e.value #>> '{}')
     ORDER BY e.n LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('%s%s[%s]', at, key, bad.i),
                             'unknown capability ' || (bad.value #>> '{}'));
    END IF;
    RETURN ARRAY(SELECT DISTINCT e #>> '{}' FROM jsonb_array_elements(a) e ORDER BY 1);
END $$;

-- Languages are given as ISO 639-1 codes ("pa") and must be in the
-- vocabulary as lang:<code>. Returns the codes without the prefix.
CREATE FUNCTION rs_p_langs(obj jsonb, key text, at text DEFAULT '')
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    a jsonb := rs_p_array(obj, key);
    bad record;
BEGIN
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT e.value, e.n - 1 AS i INTO bad
      FROM jsonb_array_elements(a) WITH ORDINALITY AS e(value, n)
     WHERE NOT EXISTS (SELECT 1 FROM capability c
                        WHERE c.category = 'language' AND c.code = 'lang:' || (e.value #>> '{}'))
     ORDER BY e.n LIMIT 1;
    IF FOUND THEN
        PERFORM rs_bad_param(format('%s%s[%s]', at, key, bad.i),
            'unknown language ' || (bad.value #>> '{}') || ' (ISO 639-1 code from capability.list)');
    END IF;
    RETURN ARRAY(SELECT DISTINCT e #>> '{}' FROM jsonb_array_elements(a) e ORDER BY 1);
END $$;

CREATE FUNCTION rs_p_limit(p jsonb, dflt int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce((p ->> 'limit')::int, dflt) $$;

CREATE FUNCTION rs_p_offset(p jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce((p ->> 'offset')::int, 0) $$;

-- An optional array of supply kinds (PL/pgSQL for the reason given at
-- rs_p_ids).
CREATE FUNCTION rs_p_kinds(p jsonb, key text) RETURNS supply_kind[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF jsonb_typeof(p -> key) IS DISTINCT FROM 'array' THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT e::supply_kind FROM jsonb_array_elements_text(p -> key)
                        WITH ORDINALITY AS t(e, i) ORDER BY i);
END $$;
