-- Demo data 00: one authority and one user per role.
--
-- scripts/demo.sh loads every sql/demo/*.sql in name order, after the
-- migrations, with psql -v ON_ERROR_STOP=1 --single-transaction, until one
-- load has succeeded for the database (it then marks the database with a
-- COMMENT). So demo files take no BEGIN/COMMIT of their own, may rely on
-- every migration and on the files before them, and should be idempotent
-- (ON CONFLICT DO NOTHING), as this one is, so that loading twice is harmless.
--
-- These are PUBLIC demo credentials, printed by demo.sh; never load this
-- file into a real deployment.
--
--   username   password        role
--   admin      demo-admin      admin (no authority)
--   coord      demo-coord      coordinator, Liverpool
--   provider   demo-provider   provider, Liverpool
--   carer      demo-carer      carer, Liverpool
--   handler    demo-handler    call_handler, Liverpool
--
-- pw_hash = PBKDF2-HMAC-SHA256(password as UTF-8, pw_salt, 200000
-- iterations, 32 bytes), precomputed once with random 16-byte salts.

INSERT INTO authority (code, name)
VALUES ('E08000012', 'Liverpool')
ON CONFLICT (code) DO NOTHING;

INSERT INTO app_user (username, role, authority_id, pw_salt, pw_hash, pw_iterations)
SELECT v.username, v.role::user_role,
       CASE WHEN v.in_liverpool THEN a.id END,
       v.salt, v.hash, 200000
  FROM (VALUES
    ('admin', 'admin', false,
     '\x2536847e16e7cb64738536e540ce5df6'::bytea,
     '\x5dd2e064159c1ebae3ca118bd4b175d1569a28cfe3dd0a8ce4306e3ba9df5855'::bytea),
    ('coord', 'coordinator', true,
     '\x6fc05a8f62d1fae38236adc902e9263c'::bytea,
     '\x35f73b6b1d85895aa0386c6d8e79755bf8a2cc3972ef9b7f85370fc615abf04a'::bytea),
    ('provider', 'provider', true,
     '\xa6b37052eebf479b7d600a7d0f8a4ea0'::bytea,
     '\x2ea7c3d1d21c1902b00a45944ef24b9d4b3ffa878803d4fded2bc4f9b0a860ca'::bytea),
    ('carer', 'carer', true,
     '\xd2061b2ad2952a40264cfb3eede0cd0c'::bytea,
     '\x19fe90abe135878663a5d532a8e41639085bd01ce1a03fdaf9b5d40cd7e9b58f'::bytea),
    ('handler', 'call_handler', true,
     '\x1e2ae4cf0a0341a65d735f0dc22fd052'::bytea,
     '\xbb950a2c9d53f1ae4c95b8b37ce61ec852ea1789ca9783b39f85fefa4631f4bf'::bytea)
  ) AS v (username, role, in_liverpool, salt, hash)
  JOIN authority a ON a.code = 'E08000012'
ON CONFLICT (username) DO NOTHING;
