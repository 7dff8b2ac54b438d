//! Integration tests: the real application on a random port, driven over HTTP
//! the way Okta, Entra ID and generic SCIM clients drive it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is a panic

mod backends;
mod entra;
mod groups;
mod hardening;
mod helpers;
mod okta;
mod protocol;
mod users;
