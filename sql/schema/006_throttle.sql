-- 006 throttle: attempts at guessing a secret, counted per scope and key.
--
-- One table for every throttle (logins now; setup codes and emergency-card
-- PINs later), keyed by what the caller submitted: a scope says what is
-- counted ('login_user', 'login_user_addr', 'login_addr', ...) and the key
-- is the username as typed (case folded), the source address, or both.
-- Keys never depend on whether they name a record, so a throttle tells
-- nobody what exists. The rules (decay, delays) are code: sql/api/11_throttle.sql.
--
-- It replaces app_user.failed_logins and locked_until, which the first
-- releases kept per account: the columns stay while daemons of the
-- previous release may still run on this database (they keep using them);
-- a later migration drops them.

CREATE TABLE auth_throttle (
    scope          text NOT NULL,
    key            text NOT NULL,
    -- Failures counted as of updated_at; one is forgiven every decay_s
    -- seconds after it (the rate of the last write), so no count is sticky.
    failures       real NOT NULL DEFAULT 0 CHECK (failures >= 0),
    decay_s        real NOT NULL CHECK (decay_s > 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- No attempt on this key before then (NULL: none pending).
    blocked_until  timestamptz,
    -- When the row means nothing any more (its failures forgiven and its
    -- wait over): the janitor deletes it after that.
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX auth_throttle_expiry ON auth_throttle (expires_at);

COMMENT ON COLUMN app_user.failed_logins IS
    'unused from the release that added auth_throttle (006) on; kept for older daemons, dropped later';
COMMENT ON COLUMN app_user.locked_until IS
    'unused from the release that added auth_throttle (006) on; kept for older daemons, dropped later';
