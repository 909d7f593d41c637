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

-- version: 3
CREATE TABLE phone_numbers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id               INTEGER NOT NULL REFERENCES organizations(id),
    config_id            INTEGER NOT NULL REFERENCES telephony_configurations(id),
    -- Copied from the configuration (and kept in step with it) so that the
    -- inbound routing key below is one unique index across organizations.
    provider             TEXT NOT NULL,
    routing_account      TEXT NOT NULL,
    address              TEXT NOT NULL,
    address_normalized   TEXT NOT NULL,
    address_type         TEXT NOT NULL,
    country_code         TEXT,
    label                TEXT,
    inbound_workflow_id  INTEGER REFERENCES workflows(id),
    is_active            INTEGER NOT NULL DEFAULT 1,
    is_default_caller_id INTEGER NOT NULL DEFAULT 0,
    extra_metadata       TEXT NOT NULL DEFAULT '{}',
    -- The most recent provider push: NULL until the first one.
    last_sync_ok         INTEGER,
    last_sync_message    TEXT,
    last_sync_attached   INTEGER,
    last_sync_at         TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX phone_numbers_address_in_org ON phone_numbers(org_id, address_normalized);
-- Inbound calls are routed on this key; providers without an account are exempt.
CREATE UNIQUE INDEX phone_numbers_routing_key
    ON phone_numbers(provider, routing_account, address_normalized) WHERE routing_account <> '';
-- At most one default caller id per configuration.
CREATE UNIQUE INDEX phone_numbers_default_caller ON phone_numbers(config_id) WHERE is_default_caller_id;
CREATE INDEX phone_numbers_by_config ON phone_numbers(config_id, created_at, id);
CREATE INDEX phone_numbers_by_workflow ON phone_numbers(inbound_workflow_id);

-- version: 4
-- The server.public_base_url of the last push that attached a number: start-up
-- warns when the configured one differs, since carriers then still call the
-- old webhook until the numbers are pushed again (`telebind numbers resync`).
-- One row, rewritten by every successful attach.
CREATE TABLE last_push (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    public_base_url TEXT NOT NULL,
    pushed_at       TEXT NOT NULL
);

-- version: 5
-- Inbound calls pick their candidate configurations by routing account alone.
CREATE INDEX telephony_configurations_routing ON telephony_configurations(provider, routing_account);

-- One row per verified start request (INBOUND.md §10). The configuration,
-- number and workflow ids are not foreign keys: the log outlives them.
CREATE TABLE inbound_calls (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                     INTEGER NOT NULL REFERENCES organizations(id),
    provider                   TEXT NOT NULL,
    call_id                    TEXT NOT NULL,
    telephony_configuration_id INTEGER NOT NULL,
    phone_number_id            INTEGER,
    workflow_id                INTEGER,
    from_number                TEXT,
    to_number                  TEXT,
    to_normalized              TEXT,
    outcome                    TEXT NOT NULL,
    created_at                 TEXT NOT NULL
);
-- A carrier's retry of a call finds its first row (idempotency, §2.4).
CREATE UNIQUE INDEX inbound_calls_call ON inbound_calls(provider, call_id);
CREATE INDEX inbound_calls_by_org ON inbound_calls(org_id, id);
CREATE INDEX inbound_calls_by_age ON inbound_calls(created_at);

-- version: 6
-- SIP trunks (TRUNKS.md §1.2): a configuration's carrier paths, provisioned
-- at the carrier (Cloudonix) under `external_id`, which is never shown.
CREATE TABLE telephony_trunks (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    telephony_configuration_id INTEGER NOT NULL REFERENCES telephony_configurations(id) ON DELETE CASCADE,
    name                       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    enabled                    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    settings                   TEXT NOT NULL DEFAULT '{}',
    external_id                TEXT CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 255),
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL,
    CONSTRAINT uq_telephony_trunks_config_name UNIQUE (telephony_configuration_id, name),
    UNIQUE (telephony_configuration_id, id)
);
-- A number dials out over one trunk of its configuration (the routes check
-- the configuration: a composite key would need phone_numbers rebuilt).
-- RESTRICT: a trunk with numbers is never deleted under them.
ALTER TABLE phone_numbers ADD COLUMN telephony_trunk_id INTEGER REFERENCES telephony_trunks(id) ON DELETE RESTRICT;
CREATE INDEX phone_numbers_by_trunk ON phone_numbers(telephony_trunk_id) WHERE telephony_trunk_id IS NOT NULL;

-- A parked configuration (TRUNKS.md §5): shown, manageable, never routed inbound.
ALTER TABLE telephony_configurations ADD COLUMN inactive INTEGER NOT NULL DEFAULT 0 CHECK (inactive IN (0, 1));
ALTER TABLE telephony_configurations ADD COLUMN inactive_since TEXT;
ALTER TABLE telephony_configurations ADD COLUMN inactive_reason TEXT CHECK (
    (length(inactive_reason) <= 255 OR inactive_reason IS NULL)
    AND ((inactive = 0 AND inactive_since IS NULL AND inactive_reason IS NULL)
         OR (inactive = 1 AND inactive_since IS NOT NULL)));
