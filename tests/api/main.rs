//! Integration tests: the real application on a random port, driven over HTTP
//! the way Okta, Entra ID and generic SCIM clients drive it.

mod backends;
mod entra;
mod groups;
mod helpers;
mod okta;
mod protocol;
mod users;
