-- Webhook intake (Okta Event Hooks, the signed generic webhook). Same schema
-- in migrations/sqlite and migrations/postgres. Times are Unix milliseconds.

-- Event ids already applied, per source, for deduplication. Rows older than
-- the source's dedupe_retention_secs (by received_at) are purged on intake.
CREATE TABLE webhook_events (
    source        TEXT    NOT NULL,             -- okta | generic
    event_id      TEXT    NOT NULL,             -- Okta's uuid, or the generic event's id
    published_at  BIGINT  NOT NULL,             -- when the event happened (Okta published / occurred_at)
    received_at   BIGINT  NOT NULL,             -- when the bridge stored it
    PRIMARY KEY (source, event_id)
);
CREATE INDEX webhook_events_received ON webhook_events (source, received_at);

-- Per (source subject, aspect) the publication time of the last event applied,
-- so that an older event delivered late never overwrites a newer state.
-- subject: okta:<Okta user id> | generic:<externalId or lower-cased userName>
-- aspect:  lifecycle (value active | inactive | deleted) | profile
--          | member:<lower-cased group displayName> (value member | removed)
CREATE TABLE webhook_applied (
    subject       TEXT    NOT NULL,
    aspect        TEXT    NOT NULL,
    value         TEXT,
    published_at  BIGINT  NOT NULL,
    event_id      TEXT    NOT NULL,
    PRIMARY KEY (subject, aspect)
);
