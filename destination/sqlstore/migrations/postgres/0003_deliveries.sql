-- One row per render delivery (the CDN copy's progress is the render's status), and one row per
-- destination of it. Written by queue workers through the DeliveryStore methods of the Store.
CREATE TABLE deliveries (
    workspace_id  text        NOT NULL,
    render_id     text        NOT NULL,
    status        text        NOT NULL,
    object_key    text        NOT NULL,
    url           text        NOT NULL,
    size_bytes    bigint      NOT NULL,
    checksum      text        NOT NULL,
    attempts      integer     NOT NULL,
    error_code    text        NOT NULL,
    error_message text        NOT NULL,
    created_at    timestamptz NOT NULL,
    -- NULL until the transition happened.
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz,
    PRIMARY KEY (workspace_id, render_id)
);

CREATE TABLE delivery_outputs (
    workspace_id   text        NOT NULL,
    render_id      text        NOT NULL,
    integration_id text        NOT NULL,
    -- Order in which outputs were added.
    position       integer     NOT NULL,
    provider       text        NOT NULL,
    status         text        NOT NULL,
    object_key     text        NOT NULL,
    url            text        NOT NULL,
    size_bytes     bigint      NOT NULL,
    checksum       text        NOT NULL,
    attempts       integer     NOT NULL,
    error_code     text        NOT NULL,
    error_message  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz,
    PRIMARY KEY (workspace_id, render_id, integration_id),
    FOREIGN KEY (workspace_id, render_id) REFERENCES deliveries (workspace_id, render_id) ON DELETE CASCADE
);
