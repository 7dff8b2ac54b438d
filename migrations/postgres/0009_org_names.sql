-- Snyk org names as `GET /group/{groupId}/orgs` last listed them, so the
-- operator's views (`status`, `plan`, `/status`) show an org as `name (id)`.
-- Written whenever the bridge reads that list (reconciliation, `plan`,
-- `sync`); a display cache only: no decision of the bridge reads it. Same
-- schema in migrations/sqlite and migrations/postgres. Times are Unix ms.
CREATE TABLE snyk_org_names (
    org_id   TEXT    PRIMARY KEY,
    name     TEXT    NOT NULL,
    seen_at  BIGINT  NOT NULL
);
