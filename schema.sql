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
