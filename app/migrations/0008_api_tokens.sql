-- Who may use the API: tokens (only a hash of each secret is kept), console sessions (only a
-- hash of each cookie), and who last changed a silence. Numbered 0008 to stay clear of the
-- 0006/0007 files other branches add.

CREATE TABLE api_tokens (
    id           text        PRIMARY KEY,          -- the public part of the token (ap_<id>_…)
    name         text        NOT NULL,
    role         text        NOT NULL,
    secret_hash  text        NOT NULL,             -- sha256 of the secret part, hex
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    revoked_at   timestamptz,
    revoked_by   text
);
-- A name means one live token: revoke the old one before reusing its name.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE api_sessions (
    cookie_hash  text        PRIMARY KEY,          -- sha256 of the cookie value, hex
    token_id     text        REFERENCES api_tokens (id),  -- NULL: bootstrap token or proxy
    name         text        NOT NULL,
    role         text        NOT NULL,
    via          text        NOT NULL CHECK (via IN ('token', 'proxy')),
    csrf         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX api_sessions_expiry ON api_sessions (expires_at);

ALTER TABLE silences ADD COLUMN updated_by text;
