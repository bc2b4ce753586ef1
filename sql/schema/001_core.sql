-- 001 core: authorities, users, sessions, idempotency, bank holidays.
--
-- sql/schema/ holds the schema migrations: types, tables, constraints,
-- indexes and data changes, applied once each, in name order, one
-- transaction each; the daemon records each file's SHA-256 and refuses to
-- start when an applied file has changed. A released migration is never
-- edited: a change is a new file. Tables live in schema public. The code
-- (functions) is not here: it is in sql/api/, deployed per release.
--
-- 001 to 004 were rewritten once, in release 0.2.0, from the first
-- release's files (which held the functions too) into these schema-only
-- files with the same names and the same resulting schema; 005 removes the
-- first release's functions from a database it made.

CREATE EXTENSION IF NOT EXISTS btree_gist;


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
