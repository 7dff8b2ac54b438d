//! The SCIM 2.0 protocol core (RFC 7643, RFC 7644): schemas, resource
//! normalisation and projection, the filter language, the PATCH engine, list
//! queries and the error type.
//!
//! Architecture invariant: everything here is pure. No module under `scim/`
//! imports sqlx, reqwest or actix, reads the clock, or does I/O; the
//! `arch_rules` test checks the imports.

pub mod error;
pub mod filter;
pub mod patch;
pub mod query;
pub mod resource;
pub mod schema;
