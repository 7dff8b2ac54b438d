//! The Okta Event Hook body parser on arbitrary JSON: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use snyk_scim_bridge::webhook::okta;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<Value>(data) {
        let _ = okta::parse(&body, None);
        let _ = okta::parse(&body, Some("0oa1b2c3d4"));
    }
});
