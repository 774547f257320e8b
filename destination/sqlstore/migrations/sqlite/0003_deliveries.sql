-- One row per render delivery (the CDN copy's progress is the render's status), and one row per
-- destination of it. Written by queue workers through the DeliveryStore methods of the Store.
-- Timestamps are UTC text with exactly six fractional digits, so text order is time order.
CREATE TABLE deliveries (
    workspace_id  TEXT    NOT NULL,
    render_id     TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    object_key    TEXT    NOT NULL,
    url           TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    checksum      TEXT    NOT NULL,
    attempts      INTEGER NOT NULL,
    error_code    TEXT    NOT NULL,
    error_message TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    -- NULL until the transition happened.
    started_at    TEXT,
    finished_at   TEXT,
    updated_at    TEXT,
    PRIMARY KEY (workspace_id, render_id)
);

CREATE TABLE delivery_outputs (
    workspace_id   TEXT    NOT NULL,
    render_id      TEXT    NOT NULL,
    integration_id TEXT    NOT NULL,
    -- Order in which outputs were added.
    position       INTEGER NOT NULL,
    provider       TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    object_key     TEXT    NOT NULL,
    url            TEXT    NOT NULL,
    size_bytes     INTEGER NOT NULL,
    checksum       TEXT    NOT NULL,
    attempts       INTEGER NOT NULL,
    error_code     TEXT    NOT NULL,
    error_message  TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    updated_at     TEXT,
    PRIMARY KEY (workspace_id, render_id, integration_id),
    FOREIGN KEY (workspace_id, render_id) REFERENCES deliveries (workspace_id, render_id) ON DELETE CASCADE
);
