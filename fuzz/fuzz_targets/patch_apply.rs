//! PATCH on a stored resource: an arbitrary JSON PatchOp body applied to a
//! stored User and a stored Group never panics, leaves the document
//! untouched when it fails, and yields a document that normalises.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use snyk_scim_bridge::scim::{patch, resource, schema::ResourceKind};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(ops) = patch::parse(&body) else {
        return;
    };
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ann@example.com",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Snyk Admins",
        "members": [{"value": "u-1", "display": "ann"}, {"value": "u-2"}]
    });
    for (kind, stored) in [(ResourceKind::User, user), (ResourceKind::Group, group)] {
        let Ok(mut doc) = resource::normalize(kind, &stored) else {
            continue;
        };
        if kind == ResourceKind::Group {
            doc.insert("members".into(), stored["members"].clone());
        }
        let before = doc.clone();
        match patch::apply(kind, &mut doc, &ops) {
            Ok(()) => {
                let _ = resource::normalize(kind, &Value::Object(doc));
            }
            Err(_) => assert_eq!(doc, before, "a failed PATCH changed the document"),
        }
    }
});
