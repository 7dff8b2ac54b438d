-- The sync engine: one outbox row per (user, org) target, the access the
-- bridge has applied in Snyk, every Snyk call (sent or, in dry run, only
-- recorded), and role drift seen by reconciliation. Same schema as
-- migrations/postgres. Times are Unix milliseconds.
CREATE TABLE sync_targets (
    user_id           TEXT    NOT NULL,
    org_id            TEXT    NOT NULL,
    status            TEXT    NOT NULL,         -- idle | pending | failed | dead
    generation        BIGINT  NOT NULL,         -- bumped by every change; collapses flapping
    attempts          BIGINT  NOT NULL,
    next_attempt_at   BIGINT  NOT NULL,
    first_failure_at  BIGINT,
    lease_owner       TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    last_error_ref    TEXT,
    updated_at        BIGINT  NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX sync_targets_due ON sync_targets (status, next_attempt_at);

CREATE TABLE snyk_access (
    user_id       TEXT    NOT NULL,
    org_id        TEXT    NOT NULL,
    email         TEXT    NOT NULL,             -- the email Snyk knows this access by
    state         TEXT    NOT NULL,             -- pending | member | external
    role          TEXT    NOT NULL,             -- ADMIN | COLLABORATOR | RESTRICTED_COLLABORATOR | custom:<publicId>
    snyk_user_id  TEXT,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX snyk_access_org ON snyk_access (org_id);

CREATE TABLE snyk_calls (
    seq         BIGSERIAL PRIMARY KEY,
    at          BIGINT  NOT NULL,
    user_id     TEXT,
    org_id      TEXT,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    body        TEXT,
    dry_run     BIGINT  NOT NULL,
    status      BIGINT,                        -- HTTP status; NULL when not sent
    outcome     TEXT    NOT NULL,               -- ok | dry_run | retry | rate_limited | failed | dead
    message     TEXT,
    request_id  TEXT,
    error_ref   TEXT
);
CREATE INDEX snyk_calls_user ON snyk_calls (user_id);

CREATE TABLE sync_drift (
    user_id        TEXT    NOT NULL,
    org_id         TEXT    NOT NULL,
    expected_role  TEXT    NOT NULL,
    actual_role    TEXT    NOT NULL,
    seen_at        BIGINT  NOT NULL,
    PRIMARY KEY (user_id, org_id)
);

CREATE TABLE sync_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
