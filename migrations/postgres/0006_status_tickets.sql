-- The /status sign-in links that have been used: a link is good once, also
-- across replicas. Rows are removed once the link has expired anyway. Same
-- schema in migrations/sqlite and migrations/postgres. Times are Unix ms.
CREATE TABLE status_tickets_used (
    ticket      TEXT    PRIMARY KEY,
    expires_at  BIGINT  NOT NULL
);
