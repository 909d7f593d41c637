-- telebind's whole schema, as the steps that build it.
--
-- Each `-- version: N` block upgrades a database at version N-1 to N; a new
-- file runs every block in order. `PRAGMA user_version` records the last one
-- applied, so an older file upgrades in place at start. Never edit a block
-- that has been released: add a new one below.

-- version: 1
CREATE TABLE organizations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       INTEGER NOT NULL REFERENCES organizations(id),
    name         TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    -- SHA-256 of the key; the key itself is never stored.
    key_hash     BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    archived_at  TEXT
);
CREATE INDEX api_keys_by_org ON api_keys(org_id, id);

CREATE TABLE workflows (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX workflows_by_org ON workflows(org_id, id);

-- version: 2
CREATE TABLE telephony_configurations (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id              INTEGER NOT NULL REFERENCES organizations(id),
    name                TEXT NOT NULL,
    provider            TEXT NOT NULL,
    -- The routing account id (API.md §4.1), '' when the provider has none;
    -- phone numbers are unique on (provider, routing_account, address).
    routing_account     TEXT NOT NULL,
    credentials         TEXT NOT NULL,
    is_default_outbound INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX telephony_configurations_name ON telephony_configurations(org_id, name);
-- At most one default outbound configuration per organization.
CREATE UNIQUE INDEX telephony_configurations_default_outbound
    ON telephony_configurations(org_id) WHERE is_default_outbound;
CREATE INDEX telephony_configurations_by_org ON telephony_configurations(org_id, created_at, id);
