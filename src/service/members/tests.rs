//! The fast path of member PATCHes against the general path: for random
//! sequences of PATCHes (Okta's and Entra's member shapes, renames to the
//! same name, other attributes, errors), a store written through the fast
//! path and one written through the general path end in the same state:
//! answers and errors, members, version, outbox targets, holds, audit.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::scim::schema::ResourceKind;
use crate::service::{IfMatch, ScimService};
use crate::store::Store;

const USERS: usize = 5;

/// One store with its users and groups; ids are translated to names for
/// comparison (each store has its own random ids).
struct World {
    service: ScimService,
    store: Store,
    _dir: tempfile::TempDir,
    group: String,
    /// (id, name) of every resource, for translation.
    names: Vec<(String, String)>,
}

impl World {
    async fn new(initial: &[usize]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (service, store, _bell) =
            crate::service::tests::sqlite_service(dir.path(), std::time::Duration::ZERO).await;
        let mut names = Vec::new();
        let mut users = Vec::new();
        for i in 0..USERS {
            let r = service
                .create(
                    ResourceKind::User,
                    &json!({"userName": format!("u{i}@example.com")}),
                    "http://x",
                )
                .await
                .expect("user");
            let id = r.body["id"].as_str().expect("id").to_owned();
            names.push((id.clone(), format!("U{i}")));
            users.push(id);
        }
        let other = service
            .create(
                ResourceKind::Group,
                &json!({"displayName": "H"}),
                "http://x",
            )
            .await
            .expect("group H");
        let other = other.body["id"].as_str().expect("id").to_owned();
        names.push((other, "GROUP_H".into()));
        let members: Vec<Value> = initial
            .iter()
            .map(|&i| json!({"value": users[i % USERS], "display": format!("d{i}")}))
            .collect();
        let g = service
            .create(
                ResourceKind::Group,
                &json!({"displayName": "G", "members": members}),
                "http://x",
            )
            .await
            .expect("group G");
        let group = g.body["id"].as_str().expect("id").to_owned();
        names.push((group.clone(), "GROUP_G".into()));
        Self {
            service,
            store,
            _dir: dir,
            group,
            names,
        }
    }

    fn translate(&self, text: String) -> String {
        self.names
            .iter()
            .fold(text, |t, (id, name)| t.replace(id.as_str(), name))
    }

    /// Member names (U0.., GROUP_H, GROUP_G, or anything else verbatim)
    /// become this store's ids.
    fn localize(&self, ops: &Value) -> Value {
        let mut text = ops.to_string();
        for (id, name) in &self.names {
            text = text.replace(&format!("<{name}>"), id);
        }
        serde_json::from_str(&text).expect("json")
    }

    async fn patch(&self, ops: &Value, fast: bool) -> String {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": self.localize(ops),
        });
        let r = self
            .service
            .patch_in(
                ResourceKind::Group,
                &self.group,
                &body,
                &IfMatch::Any,
                super::super::Reply::full("http://x"),
                fast,
            )
            .await;
        match r {
            Ok(r) => {
                // Members are listed by id, and ids differ between stores:
                // compare them sorted by name.
                let text = self.translate(Value::Object(r.body).to_string());
                let mut body: Value = serde_json::from_str(&text).expect("json");
                if let Some(Value::Array(m)) = body.get_mut("members") {
                    m.sort_by_key(Value::to_string);
                }
                format!("ok {} {}", r.version, canonical(&body))
            }
            Err(e) => {
                let e = crate::scim::error::ScimError::from(e);
                self.translate(format!("err {e:?}"))
            }
        }
    }

    /// Everything a member PATCH writes, in words without ids.
    async fn state(&self) -> String {
        let mut tx = self.store.read().await.expect("tx");
        let group = tx
            .get_resource(ResourceKind::Group, &self.group)
            .await
            .expect("get")
            .map(|g| {
                // Key order is not part of the state (the general path
                // moves keys when it takes `members` out of the document).
                let doc = canonical(&Value::Object(g.doc));
                (g.version, g.created, g.last_modified, doc)
            });
        let members = tx.members(&self.group).await.expect("members");
        let mut members: Vec<String> = members
            .iter()
            .map(|m| {
                self.translate(format!(
                    "{} {:?} {}",
                    m.id,
                    m.kind,
                    canonical(&Value::Object(m.doc.clone()))
                ))
            })
            .collect();
        members.sort();
        let mut targets = Vec::new();
        for (id, _) in &self.names {
            for t in tx.targets_of_user(id).await.expect("targets") {
                targets.push(format!(
                    "{} {} {:?} {} {}",
                    t.user_id, t.org_id, t.status, t.generation, t.next_attempt_at
                ));
            }
        }
        let mut holds: Vec<String> = tx
            .holds()
            .await
            .expect("holds")
            .iter()
            .map(|h| {
                self.translate(format!(
                    "{} {} {:?} {}",
                    h.user_id, h.org_id, h.state, h.reason
                ))
            })
            .collect();
        holds.sort();
        let audit: Vec<String> = tx
            .recent_audit(1000)
            .await
            .expect("audit")
            .iter()
            .map(|a| format!("{} {} {}", a.resource_id, a.operation, a.summary))
            .collect();
        tx.commit().await.expect("commit");
        self.translate(format!(
            "{group:?}\nmembers {members:#?}\ntargets {targets:#?}\nholds {holds:#?}\naudit {audit:#?}"
        ))
    }
}

/// The same JSON with every object's keys sorted.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&o[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// A member reference: a user, the other group, the group itself, unknown.
fn member() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0..USERS).prop_map(|i| format!("<U{i}>")),
        1 => Just("<GROUP_H>".to_owned()),
        1 => Just("<GROUP_G>".to_owned()),
        1 => Just("no-such-id".to_owned()),
    ]
}

fn display() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(None), Just(Some("A")), Just(Some("B"))]
}

fn item() -> impl Strategy<Value = Value> {
    (member(), display()).prop_map(|(m, d)| match d {
        None => json!({"value": m}),
        Some(d) => json!({"value": m, "display": d}),
    })
}

fn op() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (prop::collection::vec(item(), 0..3), any::<bool>()).prop_map(|(items, entra)| {
            json!({"op": if entra { "Add" } else { "add" }, "path": "members", "value": items})
        }),
        3 => member().prop_map(|m| json!({"op": "remove", "path": format!("members[value eq \"{m}\"]")})),
        2 => prop::collection::vec(item(), 1..3)
            .prop_map(|items| json!({"op": "Remove", "path": "members", "value": items})),
        1 => Just(json!({"op": "replace", "value": {"id": "<GROUP_G>", "displayName": "G"}})),
        1 => prop_oneof![Just("x"), Just("y")]
            .prop_map(|v| json!({"op": "replace", "path": "externalId", "value": v})),
        // Shapes that have no scope (both sides take the general path) and errors.
        1 => prop::collection::vec(item(), 0..2)
            .prop_map(|items| json!({"op": "replace", "path": "members", "value": items})),
        1 => Just(json!({"op": "add", "path": "members", "value": [{"display": "no value"}]})),
        1 => Just(json!({"op": "add", "path": "members", "value": [{"value": "<U0>", "type": 7}]})),
        1 => Just(json!({"op": "replace", "value": {"displayName": "H"}})),
        1 => Just(json!({"op": "replace", "path": "displayName", "value": "G2"})),
    ]
}

fn requests() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<Value>>)> {
    (
        prop::collection::vec(0..USERS, 0..4),
        prop::collection::vec(prop::collection::vec(op(), 1..4), 1..5),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_writes_what_the_general_path_writes((initial, requests) in requests()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let fast = World::new(&initial).await;
            let general = World::new(&initial).await;
            for ops in &requests {
                let ops = Value::Array(ops.clone());
                let a = fast.patch(&ops, true).await;
                let b = general.patch(&ops, false).await;
                prop_assert_eq!(a, b, "answer to {}", ops);
                prop_assert_eq!(fast.state().await, general.state().await, "after {}", ops);
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_named_member_is_read_alone() {
    let w = World::new(&[0, 1, 2]).await;
    let r = w
        .patch(
            &json!([{"op": "remove", "path": "members[value eq \"<U1>\"]"}]),
            true,
        )
        .await;
    assert!(r.starts_with("ok 2 "), "{r}");
    let mut tx = w.store.read().await.expect("tx");
    let left = tx.members(&w.group).await.expect("members");
    tx.commit().await.expect("commit");
    let ids: Vec<String> = left.iter().map(|m| w.translate(m.id.clone())).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&"U1".to_owned()));
}
