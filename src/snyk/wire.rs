//! Snyk's v1 wire format: the method, path, query and body of every call the
//! bridge makes, and how Snyk spells roles. The only place that knows them:
//! the planner speaks in [`SnykOp`]s, the rest of the engine in requests it
//! does not look inside.
//!
//! Pure: builds values, sends nothing. Also here: which REST `version` the
//! bridge pins, the REST base derived from the v1 base, and the call kinds
//! (`METHOD template`) that Snyk's lifecycle alerts block.

use reqwest::Method;
use serde_json::{Value, json};

use crate::domain::{SnykOp, SnykRole};

/// The REST API version the bridge pins (`?version=`); the personal access
/// token list is GA since this version.
pub const REST_VERSION: &str = "2024-03-19";

/// Which of Snyk's APIs a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `snyk.api_url`, e.g. `https://api.snyk.io/v1`.
    V1,
    /// The REST base beside it ([`rest_base`]).
    Rest,
}

/// The REST base beside a v1 base: a trailing `/v1` becomes `/rest`
/// (`https://api.eu.snyk.io/v1` -> `https://api.eu.snyk.io/rest`). `None`
/// when the v1 base does not end in `/v1` (a legacy `https://snyk.io/api`):
/// the REST calls are then not made.
pub fn rest_base(api_url: &str) -> Option<String> {
    let base = api_url.trim_end_matches('/');
    base.strip_suffix("/v1")
        .filter(|host| host.contains("://") && !host.ends_with('/'))
        .map(|host| format!("{host}/rest"))
}

/// One call, before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub api: Api,
    /// Relative to the API's base, e.g. `/org/{orgId}/provision`.
    pub path: String,
    /// Query parameters, encoded when sent (`application/x-www-form-urlencoded`).
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Request {
    fn new(method: Method, path: String) -> Self {
        Self {
            method,
            api: Api::V1,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The path with its query, encoded exactly as it is sent.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let mut url = match reqwest::Url::parse("http://snyk.invalid/") {
            Ok(u) => u,
            Err(_) => return self.path.clone(),
        };
        url.query_pairs_mut()
            .extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())));
        format!("{}?{}", self.path, url.query().unwrap_or_default())
    }

    /// The bounded name of this call: `METHOD template`, e.g.
    /// `POST /org/{orgId}/provision` or `GET /rest/self/personal_access_tokens`.
    /// What a lifecycle alert blocks and the metrics label.
    pub fn kind(&self) -> String {
        format!("{} {}", self.method, self.template())
    }

    /// The path as a template, REST paths under `/rest`.
    pub fn template(&self) -> String {
        match self.api {
            Api::V1 => endpoint_template(&self.path),
            Api::Rest => format!("/rest{}", endpoint_template(&self.path)),
        }
    }

    /// `METHOD /path?query {body}`: what `plan` prints, dry run records and
    /// the logs show.
    pub fn describe(&self) -> String {
        match &self.body {
            Some(b) => format!("{} {} {b}", self.method, self.path_and_query()),
            None => format!("{} {}", self.method, self.path_and_query()),
        }
    }
}

/// The call that carries out one operation.
pub fn request(op: &SnykOp) -> Request {
    match op {
        SnykOp::Provision { org, email, role } => {
            let body = match role {
                SnykRole::Custom(id) => json!({"email": email.as_str(), "rolePublicId": id}),
                builtin => json!({"email": email.as_str(), "role": builtin.to_string()}),
            };
            Request::new(Method::POST, format!("/org/{org}/provision")).with_body(body)
        }
        SnykOp::DeleteProvision { org, email } => {
            let mut r = Request::new(Method::DELETE, format!("/org/{org}/provision"));
            r.query.push(("email", email.as_str().to_owned()));
            r
        }
        SnykOp::UpdateMemberRole {
            org,
            snyk_user_id,
            role,
        } => match role {
            SnykRole::Custom(id) => Request::new(
                Method::PUT,
                format!("/org/{org}/members/update/{snyk_user_id}"),
            )
            .with_body(json!({"rolePublicId": id})),
            builtin => Request::new(Method::PUT, format!("/org/{org}/members/{snyk_user_id}"))
                .with_body(json!({"role": member_role_name(builtin)})),
        },
        SnykOp::RemoveMember { org, snyk_user_id } => {
            Request::new(Method::DELETE, format!("/org/{org}/members/{snyk_user_id}"))
        }
    }
}

/// `METHOD /path?query {body}` of an operation.
pub fn describe(op: &SnykOp) -> String {
    request(op).describe()
}

pub fn list_provisions(org: &str) -> Request {
    Request::new(Method::GET, format!("/org/{org}/provision"))
}

/// "All non-admin members" (Snyk's docs): no `includeGroupAdmins`, so only
/// real members of the org are listed.
pub fn list_org_members(org: &str) -> Request {
    Request::new(Method::GET, format!("/org/{org}/members"))
}

pub fn list_group_members(group: &str) -> Request {
    Request::new(Method::GET, format!("/group/{group}/members"))
}

pub fn list_group_orgs(group: &str) -> Request {
    Request::new(Method::GET, format!("/group/{group}/orgs"))
}

/// The org roles of the group: `[{name, description, publicId, customRole?}]`.
pub fn list_group_roles(group: &str) -> Request {
    Request::new(Method::GET, format!("/group/{group}/roles"))
}

/// The token's own user (v1 "Get my details"): whether the token is accepted.
pub fn user_me() -> Request {
    Request::new(Method::GET, "/user/me".to_owned())
}

/// REST: the caller's personal access tokens, with `expires_at`.
pub fn personal_access_tokens() -> Request {
    let mut r = Request::new(Method::GET, "/self/personal_access_tokens".to_owned());
    r.api = Api::Rest;
    r.query.push(("version", REST_VERSION.to_owned()));
    r
}

/// Add an existing group member to an org. The endpoint takes built-in role
/// names only: a custom role is added as collaborator (the engine then sets
/// the custom role with a role update).
pub fn add_group_member_to_org(group: &str, org: &str, user_id: &str, role: &SnykRole) -> Request {
    Request::new(Method::POST, format!("/group/{group}/org/{org}/members"))
        .with_body(json!({"userId": user_id, "role": member_role_name(&added_role(role))}))
}

/// The role [`add_group_member_to_org`] actually grants.
pub fn added_role(role: &SnykRole) -> SnykRole {
    match role {
        SnykRole::Custom(_) => SnykRole::Collaborator,
        other => other.clone(),
    }
}

/// Role names as the v1 member endpoints spell them.
pub fn member_role_name(role: &SnykRole) -> String {
    match role {
        SnykRole::Admin => "admin".to_owned(),
        SnykRole::Collaborator => "collaborator".to_owned(),
        SnykRole::RestrictedCollaborator => "restrictedCollaborator".to_owned(),
        SnykRole::Custom(id) => id.clone(),
    }
}

/// The role of a member as the v1 members lists report it (an unknown
/// spelling is taken as a custom role, and shows as drift).
pub fn parse_member_role(name: &str) -> SnykRole {
    match name {
        "admin" => SnykRole::Admin,
        "collaborator" => SnykRole::Collaborator,
        "restrictedCollaborator" | "restricted_collaborator" => SnykRole::RestrictedCollaborator,
        other => {
            SnykRole::parse_builtin(other).unwrap_or_else(|_| SnykRole::Custom(other.to_owned()))
        }
    }
}

/// The path template ([`endpoint_template`]) of every call the client makes:
/// the bounded set of `endpoint` label values, each reported (at zero) on
/// `/metrics` from the start.
pub const ENDPOINTS: [&str; 7] = [
    "/org/{orgId}/provision",
    "/org/{orgId}/members",
    "/org/{orgId}/members/{userId}",
    "/org/{orgId}/members/update/{userId}",
    "/group/{groupId}/members",
    "/group/{groupId}/orgs",
    "/group/{groupId}/org/{orgId}/members",
];

/// A Snyk v1 path as a template: ids after `org`, `group` and `members`
/// become `{orgId}`, `{groupId}`, `{userId}`; the query is dropped.
pub fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    let mut out = String::new();
    let mut prev = "";
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match prev {
            "org" => out.push_str("{orgId}"),
            "group" => out.push_str("{groupId}"),
            // `members/update/{userId}` (a custom role): `update` is a word
            // of the path, the id follows it.
            "members" if seg == "update" => {
                out.push_str(seg);
                continue;
            }
            "members" | "user" => out.push_str("{userId}"),
            _ => out.push_str(seg),
        }
        prev = seg;
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, SnykOrgId};

    fn org() -> SnykOrgId {
        SnykOrgId::parse("6b7a7c5e-1111-4c4c-9d9d-000000000001").expect("org")
    }

    fn email(s: &str) -> Email {
        Email::parse(s).expect("email")
    }

    #[test]
    fn every_operation_on_the_wire() {
        let o = "6b7a7c5e-1111-4c4c-9d9d-000000000001";
        let cases = [
            (
                SnykOp::Provision {
                    org: org(),
                    email: email("a@x.com"),
                    role: SnykRole::Admin,
                },
                format!(r#"POST /org/{o}/provision {{"email":"a@x.com","role":"ADMIN"}}"#),
            ),
            (
                SnykOp::Provision {
                    org: org(),
                    email: email("a+b@x.com"),
                    role: SnykRole::Custom("pub-1".into()),
                },
                format!(
                    r#"POST /org/{o}/provision {{"email":"a+b@x.com","rolePublicId":"pub-1"}}"#
                ),
            ),
            (
                SnykOp::DeleteProvision {
                    org: org(),
                    email: email("a+b@x.com"),
                },
                format!("DELETE /org/{o}/provision?email=a%2Bb%40x.com"),
            ),
            (
                SnykOp::UpdateMemberRole {
                    org: org(),
                    snyk_user_id: "u1".into(),
                    role: SnykRole::Collaborator,
                },
                format!(r#"PUT /org/{o}/members/u1 {{"role":"collaborator"}}"#),
            ),
            (
                SnykOp::UpdateMemberRole {
                    org: org(),
                    snyk_user_id: "u1".into(),
                    role: SnykRole::Custom("r-1".into()),
                },
                format!(r#"PUT /org/{o}/members/update/u1 {{"rolePublicId":"r-1"}}"#),
            ),
            (
                SnykOp::RemoveMember {
                    org: org(),
                    snyk_user_id: "u1".into(),
                },
                format!("DELETE /org/{o}/members/u1"),
            ),
        ];
        for (op, want) in cases {
            assert_eq!(describe(&op), want);
        }
    }

    #[test]
    fn adding_with_a_custom_role_adds_a_collaborator() {
        let r = add_group_member_to_org("g", "o", "u", &SnykRole::Custom("x".into()));
        assert_eq!(
            r.describe(),
            r#"POST /group/g/org/o/members {"userId":"u","role":"collaborator"}"#
        );
        assert_eq!(
            added_role(&SnykRole::Custom("x".into())),
            SnykRole::Collaborator
        );
    }

    #[test]
    fn member_role_names_round_trip() {
        for r in [
            SnykRole::Admin,
            SnykRole::Collaborator,
            SnykRole::RestrictedCollaborator,
            SnykRole::Custom("x".into()),
        ] {
            assert_eq!(parse_member_role(&member_role_name(&r)), r);
        }
    }
    #[test]
    fn endpoints_are_templates() {
        let o = "6b7a7c5e-1111-4c4c-9d9d-000000000001";
        let g = "9f0e0d0c-2222-4b4b-8a8a-000000000001";
        for (path, want) in [
            (format!("/org/{o}/provision"), "/org/{orgId}/provision"),
            (
                format!("/org/{o}/provision?email=a%40x.com"),
                "/org/{orgId}/provision",
            ),
            (
                format!("/org/{o}/members?includeGroupAdmins=true"),
                "/org/{orgId}/members",
            ),
            (
                format!("/org/{o}/members/u-1"),
                "/org/{orgId}/members/{userId}",
            ),
            (
                format!("/org/{o}/members/update/u-1"),
                "/org/{orgId}/members/update/{userId}",
            ),
            (format!("/group/{g}/members"), "/group/{groupId}/members"),
            (format!("/group/{g}/orgs"), "/group/{groupId}/orgs"),
            (
                format!("/group/{g}/org/{o}/members"),
                "/group/{groupId}/org/{orgId}/members",
            ),
            (
                format!("/org/{o}/members/update/u-1"),
                "/org/{orgId}/members/update/{userId}",
            ),
            ("-".to_owned(), "/-"),
        ] {
            assert_eq!(endpoint_template(&path), want, "{path}");
        }
        // Every call the client makes has its template in ENDPOINTS.
        let user = "u-1";
        let role = SnykRole::Custom("custom-role".into());
        let calls = [
            request(&SnykOp::Provision {
                org: org(),
                email: email("a@x.com"),
                role: SnykRole::Admin,
            }),
            request(&SnykOp::DeleteProvision {
                org: org(),
                email: email("a@x.com"),
            }),
            request(&SnykOp::UpdateMemberRole {
                org: org(),
                snyk_user_id: user.into(),
                role: SnykRole::Admin,
            }),
            request(&SnykOp::UpdateMemberRole {
                org: org(),
                snyk_user_id: user.into(),
                role: role.clone(),
            }),
            request(&SnykOp::RemoveMember {
                org: org(),
                snyk_user_id: user.into(),
            }),
            list_provisions(o),
            list_org_members(o),
            list_group_members(g),
            list_group_orgs(g),
            add_group_member_to_org(g, o, user, &role),
        ];
        for c in calls {
            let t = endpoint_template(&c.path);
            assert!(ENDPOINTS.contains(&t.as_str()), "{t} not in ENDPOINTS");
        }
    }

    #[test]
    fn the_rest_base_sits_beside_the_v1_base() {
        for (v1, rest) in [
            ("https://api.snyk.io/v1", Some("https://api.snyk.io/rest")),
            (
                "https://api.eu.snyk.io/v1/",
                Some("https://api.eu.snyk.io/rest"),
            ),
            ("http://127.0.0.1:9/v1", Some("http://127.0.0.1:9/rest")),
            ("https://snyk.io/api", None),
            ("https://api.snyk.io/v10", None),
            ("/v1", None),
        ] {
            assert_eq!(rest_base(v1).as_deref(), rest, "{v1}");
        }
    }

    #[test]
    fn call_kinds_are_bounded_and_rest_calls_pin_a_version() {
        let p = personal_access_tokens();
        assert_eq!(p.kind(), "GET /rest/self/personal_access_tokens");
        assert_eq!(
            p.path_and_query(),
            format!("/self/personal_access_tokens?version={REST_VERSION}")
        );
        let op = SnykOp::Provision {
            org: org(),
            email: email("a@x.com"),
            role: SnykRole::Admin,
        };
        assert_eq!(request(&op).kind(), "POST /org/{orgId}/provision");
        assert_eq!(list_group_roles("g").kind(), "GET /group/{groupId}/roles");
    }
}
