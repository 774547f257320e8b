-- One row per saved storage configuration of a workspace.
-- Timestamps are UTC text with exactly six fractional digits (2026-05-17T04:00:15.123456Z), so
-- text order is time order.
CREATE TABLE workspace_integrations (
    id                    TEXT    NOT NULL PRIMARY KEY,
    workspace_id          TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    is_active             INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    is_default            INTEGER NOT NULL CHECK (is_default IN (0, 1)),
    -- The provider configuration without secrets (destination.Config as JSON).
    config                TEXT    NOT NULL,
    -- Sealed secrets by field: {"secretAccessKey": {"ciphertext": base64, "keyId": n, "hint": "••••WXYZ"}}.
    -- keyId is the keyset key that sealed the value (for rotation sweeps).
    secrets               TEXT    NOT NULL,
    -- The most recent connection test; all NULL when there was none.
    last_test_ok          INTEGER,
    last_test_code        TEXT,
    last_test_message     TEXT,
    last_test_warnings    TEXT,
    last_tested_at        TEXT,
    last_test_duration_ms INTEGER,
    version               INTEGER NOT NULL CHECK (version > 0),
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

-- At most one default per workspace, whatever the concurrency.
CREATE UNIQUE INDEX workspace_integrations_one_default
    ON workspace_integrations (workspace_id) WHERE is_default = 1;

-- List: a workspace's integrations by creation time, then ID.
CREATE INDEX workspace_integrations_by_workspace
    ON workspace_integrations (workspace_id, created_at, id);
