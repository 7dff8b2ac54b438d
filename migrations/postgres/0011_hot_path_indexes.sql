-- Indexes for statements that ran on every write or every worker heartbeat
-- and read a whole table (issue 11; found by reading each hot statement's
-- plan at 50,000 users and targets):
--
-- The worker renews and releases its leases by owner: with no index on
-- lease_owner that was a scan of every target. Only leased rows are
-- indexed (the few in flight).
CREATE INDEX sync_targets_lease ON sync_targets (lease_owner) WHERE lease_owner IS NOT NULL;
-- A user change clears that user's rejected holds: on (state) alone that
-- read every rejected hold. (state, user_id) keeps the per-state counts.
DROP INDEX safety_holds_state;
CREATE INDEX safety_holds_state ON safety_holds (state, user_id);
