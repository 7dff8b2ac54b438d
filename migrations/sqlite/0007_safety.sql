-- The safety rails (sync::rails): removals and downgrades the bridge holds
-- back or refused, and the log the deletion circuit breaker counts. Same
-- schema in migrations/sqlite and migrations/postgres. Times are Unix ms.

-- One row per (user, org) whose planned removal or downgrade is not simply
-- sent: marked (an empty push was seen), waiting (the removal delay),
-- held (an operator must approve or reject), approved, rejected (drift until
-- the IdP changes again), refused (protected account, last admin).
CREATE TABLE safety_holds (
    user_id     TEXT    NOT NULL,
    org_id      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    email       TEXT,
    change      TEXT,
    request_id  TEXT,
    since       INTEGER  NOT NULL,
    updated_at  INTEGER  NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX safety_holds_state ON safety_holds (state);

-- Every (user, org) whose removal or downgrade the worker planned in the
-- breaker's sliding window (sent or not; the first planning counts). Rows
-- older than the window are dropped when a new removal is logged.
CREATE TABLE safety_removals (
    user_id     TEXT    NOT NULL,
    org_id      TEXT    NOT NULL,
    planned_at  INTEGER  NOT NULL,
    sent        INTEGER  NOT NULL,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX safety_removals_at ON safety_removals (planned_at);
