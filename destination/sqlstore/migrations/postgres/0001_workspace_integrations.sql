-- One row per saved storage configuration of a workspace.
CREATE TABLE workspace_integrations (
    id                    text        PRIMARY KEY,
    workspace_id          text        NOT NULL,
    provider              text        NOT NULL,
    name                  text        NOT NULL,
    is_active             boolean     NOT NULL,
    is_default            boolean     NOT NULL,
    -- The provider configuration without secrets (destination.Config as JSON).
    config                jsonb       NOT NULL,
    -- Sealed secrets by field: {"secretAccessKey": {"ciphertext": base64, "keyId": n, "hint": "••••WXYZ"}}.
    -- keyId is the keyset key that sealed the value (for rotation sweeps).
    secrets               jsonb       NOT NULL,
    -- The most recent connection test; all NULL when there was none.
    last_test_ok          boolean,
    last_test_code        text,
    last_test_message     text,
    last_test_warnings    jsonb,
    last_tested_at        timestamptz,
    last_test_duration_ms bigint,
    version               bigint      NOT NULL CHECK (version > 0),
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);

-- At most one default per workspace, whatever the concurrency.
CREATE UNIQUE INDEX workspace_integrations_one_default
    ON workspace_integrations (workspace_id) WHERE is_default;

-- List: a workspace's integrations by creation time, then ID.
CREATE INDEX workspace_integrations_by_workspace
    ON workspace_integrations (workspace_id, created_at, id);
