//! The PATCH path parser on arbitrary text: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use snyk_scim_bridge::scim::filter;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = filter::parse_patch_path(text);
    }
});
