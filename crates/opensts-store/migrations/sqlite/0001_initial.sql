-- OpenSTS schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql.
-- Migrations are embedded with sqlx::migrate! and must never be edited once released
-- (sqlx checks their checksums): add a new numbered file instead.
-- No PRAGMAs here: migrations run inside a transaction, where most PRAGMAs are ignored.

-- Accounts (the unit of isolation).
CREATE TABLE accounts (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- Long-term access keys, looked up by id across accounts.
-- user_name is NULL for root keys; user_name_key is the lower-cased user name, computed by the
-- store (the same folding as entities.name_key), so the case-insensitive lookup by user is one
-- index seek and folds identically on every backend.
CREATE TABLE access_keys (
    access_key_id TEXT    NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    user_name     TEXT,
    user_name_key TEXT,
    secret_sealed BLOB    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at    INTEGER NOT NULL
);
CREATE INDEX access_keys_by_user ON access_keys (account_id, user_name_key);

-- Every IAM entity as a JSON document; name_key is the lower-cased name.
CREATE TABLE entities (
    account_id TEXT    NOT NULL REFERENCES accounts (id),
    kind       TEXT    NOT NULL,
    name_key   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    doc        TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, name_key)
);

-- The global change counter: exactly one row.
CREATE TABLE change_counter (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);

-- The counter value of the last change of each account ('' = not account-bound: key ring).
CREATE TABLE account_generations (
    account_id TEXT    NOT NULL PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE INDEX account_generations_by_generation ON account_generations (generation);

-- Key ring: key material sealed by the master key.
CREATE TABLE keyring (
    purpose         TEXT    NOT NULL,
    key_id          INTEGER NOT NULL,
    material_sealed BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER,
    PRIMARY KEY (purpose, key_id)
);

-- One-time claims (used MFA codes, SAML assertion ids, ...).
CREATE TABLE one_time_claims (
    scope      TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX one_time_claims_by_expiry ON one_time_claims (expires_at);

-- Small server-wide settings.
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
