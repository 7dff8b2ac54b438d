//! The black-box suite: the built `snyk-scim-bridge serve` binary as a
//! separate process, the real clock, the fake Snyk as its own HTTP server
//! (`tests/common/fake_snyk.rs`, written from Snyk's documentation), and SCIM
//! requests sent the way Okta and Entra send them, at their pace: no sleeps
//! between the steps of one flow.
//!
//! Each scenario runs on SQLite, then on PostgreSQL when `TEST_POSTGRES_URL`
//! is set (a database per run, always dropped). Assertions are on the fake's
//! state and calls within bounded waits: 2 s where Snyk does not limit, longer
//! only where a rate limit makes it necessary, and then computed from it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

#[path = "../common/fake_snyk.rs"]
mod fake_snyk;
mod harness;
#[path = "../common/pg.rs"]
mod pg;

mod api_health;
mod concurrent_writes;
mod first_login;
mod lifecycle;
mod privacy;
mod rate_limits;
mod safety;
mod same_email;
mod slow_clients;
mod timing;
