-- 005: code moves out of the migrations.
--
-- The first release (0.1.0) created its functions inside migrations 001 to
-- 004, in schema public (helpers) and schema api (one per method). From
-- this release on, migrations hold only the schema, and each release's code
-- is deployed whole into a schema of its own (see sql/api/00_gate.sql), so
-- the unversioned copies are removed here. What stays in public is what the
-- tables themselves need: rs_capabilities_known(), the trigger function of
-- 002, and the functions of extensions (btree_gist).
--
-- Daemons of 0.1.0 use the functions removed here: stop them before
-- upgrading from that release (the README says so).

DROP SCHEMA IF EXISTS api CASCADE;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
           AND p.proname <> 'rs_capabilities_known'
           AND NOT EXISTS (SELECT 1 FROM pg_depend d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP FUNCTION %s', f);
    END LOOP;
END $$;

-- Composite types only the first release's functions used.
DROP TYPE IF EXISTS booking_req;
DROP TYPE IF EXISTS booking_shape;
