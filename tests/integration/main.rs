//! The integration tests in one binary (one link instead of nine): the
//! storage contract on both backends, the sync scenarios in-process with a
//! manual clock, webhooks, observability, process-level crash and takeover
//! tests, the fake Snyk's own tests, and the architecture rules. The SCIM
//! protocol tests are `tests/api/`, the black-box suite `tests/blackbox/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

#[path = "../common/app.rs"]
mod app;
#[path = "../common/fake_snyk.rs"]
mod fake_snyk;
#[path = "../common/pg.rs"]
mod pg;

mod api_health;
mod arch_rules;
mod fake_snyk_selftest;
mod group_patch_scope;
mod healthcheck;
mod observability;
mod operator_views;
mod store_contract;
mod sync_processes;
mod sync_scenarios;
mod webhooks;
