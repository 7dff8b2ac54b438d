//! The generic webhook: the signature header parser on arbitrary text and
//! the event parser on arbitrary JSON never panic; a body signed with the
//! documented recipe verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use snyk_scim_bridge::webhook::generic;

const SECRET: &[u8] = b"fuzz-secret-0123456789-0123456789-abcdef";

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (head, body) = data.split_at(split);
    if let Ok(header) = std::str::from_utf8(head) {
        let _ = generic::verify(Some(header), body, SECRET, 1_700_000_000, 300);
    }
    let signed = generic::sign(SECRET, 1_700_000_000, body);
    assert!(generic::verify(Some(&signed), body, SECRET, 1_700_000_000, 300).is_ok());
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let _ = generic::parse(&v);
    }
});
