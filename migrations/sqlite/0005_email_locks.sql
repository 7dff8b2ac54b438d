-- One row per email that some user was given: writers that give a user an
-- email upsert its row first, which serialises them on PostgreSQL (a row
-- lock; SQLite writers are serialised already), so two concurrent requests
-- can never both make an active user with the same email. Same schema in
-- migrations/sqlite and migrations/postgres.
CREATE TABLE scim_email_locks (
    email_lc  TEXT PRIMARY KEY
);
