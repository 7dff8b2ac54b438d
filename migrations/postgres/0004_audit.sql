-- The audit trail: who changed what over SCIM and when (audit_events), the
-- outbox work each change queued (audit_queued), and which SCIM request caused
-- each Snyk call (sync_targets.request_id, copied into snyk_calls). Same
-- columns as migrations/postgres. Times are Unix milliseconds. Rows older than
-- audit_retention_days are purged by the worker, snyk_calls included.
CREATE TABLE audit_events (
    seq            BIGSERIAL PRIMARY KEY,
    at             BIGINT  NOT NULL,
    request_id     TEXT,                      -- the HTTP request id (X-Request-Id)
    principal      TEXT    NOT NULL,          -- token#N | jwt:<sub> | system; never a secret
    resource_type  TEXT    NOT NULL,          -- User | Group
    resource_id    TEXT    NOT NULL,
    operation      TEXT    NOT NULL,          -- create | replace | patch | delete
    summary        TEXT    NOT NULL,          -- changed attribute names, member counts
    user_email     TEXT                       -- Users: the lower-cased sync email at the time
);
CREATE INDEX audit_events_resource ON audit_events (resource_id);
CREATE INDEX audit_events_request ON audit_events (request_id);
CREATE INDEX audit_events_email ON audit_events (user_email);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_queued (
    seq         BIGSERIAL PRIMARY KEY,
    at          BIGINT  NOT NULL,
    request_id  TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    org_id      TEXT    NOT NULL
);
CREATE INDEX audit_queued_user ON audit_queued (user_id);
CREATE INDEX audit_queued_at ON audit_queued (at);

ALTER TABLE sync_targets ADD COLUMN request_id TEXT;     -- the last SCIM request that queued it
ALTER TABLE snyk_calls ADD COLUMN scim_request_id TEXT;  -- the SCIM request whose change caused the call
CREATE INDEX snyk_calls_at ON snyk_calls (at);
