//! The configuration loader on arbitrary text: never panics, and an error
//! never shows a value written after `token`, `tokens`, `secret` or
//! `authorization` (the marker below stands for a secret).
#![no_main]
use libfuzzer_sys::fuzz_target;
use snyk_scim_bridge::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = config::Env::new();
    let _ = config::parse(std::path::Path::new("fuzz.toml"), text, &env);
    // The marker must come only from the planted secret below (the fuzzer
    // learns compared strings and would otherwise write it into a key name).
    if text.contains("S3CRETMARK") {
        return;
    }
    let with_secret = format!("{text}\n[snyk]\ntoken = \"S3CRETMARK-{}\"\n", text.len());
    if let Err(e) = config::parse(std::path::Path::new("fuzz.toml"), &with_secret, &env) {
        assert!(!e.to_string().contains("S3CRETMARK"), "a secret reached an error: {e}");
    }
});
