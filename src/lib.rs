//! snyk-scim-bridge: a SCIM 2.0 service provider that keeps Snyk organization
//! access in step with an identity provider.
//!
//! Module map (see docs/ARCHITECTURE.md for the invariants of each):
//!
//! - [`config`]: the TOML file and environment, validated into typed settings.
//! - [`domain`]: newtypes built once at the edge (ids, emails, roles).
//! - [`scim`]: the pure protocol core (schemas, filters, PATCH, projection).
//! - [`store`]: the only module with SQL; SQLite and PostgreSQL.
//! - [`service`]: SCIM use cases, one store transaction each.
//! - [`sync`]: desired vs applied access, the outbox worker, reconciliation.
//! - [`snyk`]: the Snyk v1 client and its error classes.
//! - [`auth`]: bearer tokens and JWTs.
//! - [`http`]: the only module that knows actix-web.
//! - [`clock`]: injected time.
//! - [`telemetry`]: logging set-up, and emails hashed out of logs.
//! - [`metrics`]: the Prometheus recorder behind `/metrics`.
//! - [`audit`]: who changed what (the audit trail) and `status --user`.
//! - [`health`]: per-component health for the `/status` page.
//! - [`api_health`]: the Snyk token's expiry and the call kinds Snyk retires, as stored.
//! - [`webhook`]: Okta Event Hook and generic webhook bodies, signatures, ordering (pure).
//! - [`cli`]: the command line.

pub mod api_health;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod health;
pub mod http;
pub mod metrics;
pub mod pacing;
pub mod scim;
pub mod secret;
pub mod service;
pub mod snyk;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod webhook;
