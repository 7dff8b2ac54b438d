//! Resource normalisation from arbitrary JSON: never panics, and a
//! normalised document normalises to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use snyk_scim_bridge::scim::{resource, schema::ResourceKind};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for kind in [ResourceKind::User, ResourceKind::Group] {
        if let Ok(doc) = resource::normalize(kind, &input) {
            let again = resource::normalize(kind, &Value::Object(doc.clone()))
                .expect("a normalised document is valid");
            assert_eq!(again, doc, "normalize is idempotent");
        }
    }
});
