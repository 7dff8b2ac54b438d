#![allow(dead_code)]
//! A stateful, in-process fake of the Snyk v1 API, for tests.
//!
//! Include it from a test binary with
//! `#[path = "../common/fake_snyk.rs"] mod fake_snyk;` (or through a `common` module).
//! It only needs crates that are dependencies of the package (actix-web, tokio,
//! serde_json, uuid, chrono); it does not use the crate's own code.
//!
//! Behaviour follows `/work/shared/docs/seed-snyk-provision-api.txt` and section 2 of
//! `/work/shared/docs/reference-snyk-api-idps-peers.md`. Where those facts are
//! unconfirmed, the behaviour is configurable:
//! * the answer to `POST /org/{id}/provision` for an email that already belongs to a
//!   Snyk user ([`FakeSnyk::set_already_exists_response`]; default 400);
//! * the answer to `DELETE /org/{id}/provision?email=` when nothing is pending
//!   ([`FakeSnyk::set_delete_missing_provision_response`]; default 200 `{"ok":true}`);
//! * whether a pending provision leaves `GET /org/{id}/provision` after the user's first
//!   login ([`FakeSnyk::set_keep_pending_after_login`]; default: it leaves);
//! * whether `GET /org/{id}/members` lists org admins. The docs say it returns "all
//!   non-admin members" (`includeGroupAdmins=true` adds Group Admins only), so by
//!   default org members with role `admin` are left out
//!   ([`FakeSnyk::set_org_members_list_admins`] puts them back);
//! * the shape of the rate limit, which Snyk does not document for v1
//!   ([`FakeSnyk::set_rate_limit`]: fixed windows starting at the first request, so not
//!   aligned with the wall-clock minute; [`FakeSnyk::set_rolling_rate_limit`]; and
//!   [`FakeSnyk::set_quiet_period_rate_limit`], the rule Snyk documents for REST: 429
//!   "until requests stop for the duration of the rate-limiting interval").
//!
//! `GET /group/{id}/orgs` (Snyk's v1 "List all organizations in a group") answers
//! `{name, id, orgs: [{id, name, slug}]}` for the orgs of the group.
//!
//! API health: `GET /v1/user/me` answers the token's user ([`FakeSnyk::set_me`]);
//! `GET /v1/group/{id}/roles` the predefined org roles plus [`FakeSnyk::add_role`]'s;
//! REST `GET /rest/self/personal_access_tokens?version=` one token per
//! [`FakeSnyk::set_token_expiries`] entry (default: one, 60 days away). Lifecycle
//! switches, matched on method and path suffix: [`FakeSnyk::answer_gone`] (410),
//! [`FakeSnyk::answer_with`] (any status) and
//! [`FakeSnyk::add_sunset_headers`] (`Sunset` and `Deprecation` on the answer).
//!
//! Per request, in this order: the call is recorded (arrival order), the token is
//! checked (401), injected failures are served ([`FakeSnyk::fail_next`]), the rate
//! limit is applied (429, no `Retry-After`), the latency is slept, then the endpoint
//! runs against the state. Failures, 401s and 429s are answered without latency.
//!
//! Groups and organisations: an org added with [`FakeSnyk::add_org`] belongs to no
//! particular group and is treated as part of *every* group (the common single-group
//! set-up); [`FakeSnyk::add_org_in_group`] ties an org to one group.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{Value, json};

/// Default message template of the "user already exists" answer; `{email}` is
/// replaced by the email of the request.
pub const DEFAULT_ALREADY_EXISTS_MESSAGE: &str = "User {email} already exists in Snyk";

/// Roles accepted by `POST /org/{id}/provision` in the `role` field.
pub const PROVISION_ROLES: [&str; 3] = ["ADMIN", "COLLABORATOR", "RESTRICTED_COLLABORATOR"];

/// Roles accepted by the v1 members endpoints in the `role` field.
pub const MEMBER_ROLES: [&str; 3] = ["admin", "collaborator", "restrictedCollaborator"];

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub method: String,
    /// Path without the `/v1` prefix, e.g. `/org/{id}/provision` (the raw path when it
    /// does not start with `/v1`).
    pub path: String,
    /// Raw query string (still percent-encoded), "" when absent.
    pub query: String,
    /// Parsed JSON body; `None` for an empty body; `Some(Value::String(raw))` when the
    /// body was not valid JSON.
    pub body: Option<Value>,
    /// Final status; 0 while the request is still being handled, 499 when the client
    /// went away before the answer.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request received (including 401, 429 and injected failures).
    pub total_requests: usize,
    /// Requests answered 429 by the rate limiter.
    pub too_many_requests: usize,
    /// When a rate limit is set: requests let through (not 429) in each fixed window,
    /// window 0 starting at the first request after `set_rate_limit`. Empty otherwise.
    pub per_window: Vec<u32>,
}

/// Maps a provision role to the spelling of the members API.
pub fn provision_role_to_member_role(role: &str) -> Option<&'static str> {
    match role {
        "ADMIN" => Some("admin"),
        "COLLABORATOR" => Some("collaborator"),
        "RESTRICTED_COLLABORATOR" => Some("restrictedCollaborator"),
        _ => None,
    }
}

/// A running fake. Dropping it stops the server.
pub struct FakeSnyk {
    /// `http://127.0.0.1:{port}/v1`
    pub base_url: String,
    inner: Arc<Inner>,
    handle: actix_web::dev::ServerHandle,
}

struct Inner {
    token: String,
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    email: String,
    name: String,
    username: String,
    /// Groups the user is a member of.
    groups: BTreeSet<String>,
    /// Groups the user administers.
    admin_of: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Pending {
    email: String,
    role: Option<String>,
    role_public_id: Option<String>,
    created: String,
}

impl Pending {
    /// The role as the provision API spells it (`ADMIN`…, or the public id).
    fn provision_role(&self) -> String {
        self.role
            .clone()
            .or_else(|| self.role_public_id.clone())
            .unwrap_or_default()
    }

    /// The role as the members API spells it.
    fn member_role(&self) -> String {
        match (&self.role, &self.role_public_id) {
            (Some(role), _) => provision_role_to_member_role(role)
                .unwrap_or(role)
                .to_owned(),
            (None, Some(id)) => id.clone(),
            (None, None) => String::new(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "email": self.email,
            "role": self.role.clone().unwrap_or_default(),
            "rolePublicId": self.role_public_id.clone().unwrap_or_default(),
            "created": self.created,
        })
    }
}

#[derive(Debug, Clone)]
struct Org {
    name: String,
    /// `None`: part of every group.
    group: Option<String>,
    /// (user id, member role), in insertion order.
    members: Vec<(String, String)>,
    pending: Vec<Pending>,
}

impl Org {
    fn new(id: &str) -> Org {
        Org {
            name: id.to_owned(),
            group: None,
            members: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn in_group(&self, group_id: &str) -> bool {
        self.group.as_deref().is_none_or(|g| g == group_id)
    }

    fn set_member(&mut self, user_id: &str, role: &str) {
        match self.members.iter_mut().find(|(id, _)| id == user_id) {
            Some(member) => member.1 = role.to_owned(),
            None => self.members.push((user_id.to_owned(), role.to_owned())),
        }
    }

    fn member_role(&self, user_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(id, _)| id == user_id)
            .map(|(_, role)| role.as_str())
    }
}

/// How the rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKind {
    /// Fixed windows, the first starting at the first request after the limit is set.
    Fixed,
    /// At most `per_window` accepted requests in any `window`-long interval.
    Rolling,
    /// Rolling count; once over it, 429 until no request arrived for a whole `window`
    /// (every request during the block, refused or not, extends it).
    QuietPeriod,
}

struct RateLimit {
    kind: RateKind,
    per_window: u32,
    window: Duration,
    start: Option<Instant>,
    counts: Vec<u32>,
    /// Arrival times of accepted requests (rolling and quiet-period kinds).
    accepted: std::collections::VecDeque<Instant>,
    /// Quiet-period kind: blocked until this instant (extended by every request).
    blocked_until: Option<Instant>,
}

struct State {
    groups: BTreeSet<String>,
    orgs: BTreeMap<String, Org>,
    users: Vec<User>,
    calls: Vec<RecordedCall>,
    already_exists: (u16, String),
    delete_missing_provision: (u16, String),
    keep_pending_after_login: bool,
    org_members_list_admins: bool,
    rate_limit: Option<RateLimit>,
    /// Arrival time of every request let through by the rate limiter.
    accepted_at: Vec<Instant>,
    fail_remaining: usize,
    fail_status: u16,
    latency: Duration,
    total_requests: usize,
    too_many_requests: usize,
    /// The token's own user id (`GET /user/me`).
    me: String,
    /// (group, publicId, name): custom roles.
    roles: Vec<(String, String, String)>,
    /// `expires_at` of each listed personal access token (`None`: null).
    token_expiries: Vec<Option<String>>,
    /// (method, path suffix, status) answered with that status (410: Gone).
    forced: Vec<(String, String, u16)>,
    /// (method, path suffix) given Sunset and Deprecation headers.
    sunset: Vec<(String, String)>,
}

/// Whether a (method, path suffix) switch matches a call.
fn switched(list: &[(String, String)], method: &str, path: &str) -> bool {
    list.iter()
        .any(|(m, p)| m == method && path.ends_with(p.as_str()))
}

impl State {
    fn new() -> State {
        State {
            groups: BTreeSet::new(),
            orgs: BTreeMap::new(),
            users: Vec::new(),
            calls: Vec::new(),
            already_exists: (400, DEFAULT_ALREADY_EXISTS_MESSAGE.to_owned()),
            delete_missing_provision: (200, String::new()),
            keep_pending_after_login: false,
            org_members_list_admins: false,
            rate_limit: None,
            accepted_at: Vec::new(),
            fail_remaining: 0,
            fail_status: 500,
            latency: Duration::ZERO,
            total_requests: 0,
            too_many_requests: 0,
            me: "fake-token-user".to_owned(),
            roles: Vec::new(),
            token_expiries: vec![Some(
                (chrono::Utc::now() + chrono::Duration::days(60))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )],
            forced: Vec::new(),
            sunset: Vec::new(),
        }
    }

    fn org_mut(&mut self, org_id: &str) -> &mut Org {
        self.orgs
            .entry(org_id.to_owned())
            .or_insert_with(|| Org::new(org_id))
    }

    fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    fn user(&self, user_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == user_id)
    }

    fn user_mut(&mut self, user_id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id == user_id)
    }

    /// Creates the user or updates its email.
    fn upsert_user(&mut self, user_id: &str, email: &str) -> &mut User {
        let index = match self.users.iter().position(|u| u.id == user_id) {
            Some(index) => index,
            None => {
                self.users.push(new_user(user_id, email));
                self.users.len() - 1
            }
        };
        let user = &mut self.users[index];
        if !user.email.eq(email) {
            *user = User {
                groups: std::mem::take(&mut user.groups),
                admin_of: std::mem::take(&mut user.admin_of),
                ..new_user(user_id, email)
            };
        }
        user
    }

    /// The groups a member of `org_id` belongs to by that membership.
    fn groups_of_org(&self, org_id: &str) -> Vec<String> {
        match self.orgs.get(org_id).and_then(|o| o.group.clone()) {
            Some(group) => vec![group],
            None => self.groups.iter().cloned().collect(),
        }
    }

    /// Makes `user_id` a member of `org_id` with `role`, and of the org's group(s).
    fn join_org(&mut self, org_id: &str, user_id: &str, role: &str) {
        self.org_mut(org_id).set_member(user_id, role);
        let groups = self.groups_of_org(org_id);
        if let Some(user) = self.user_mut(user_id) {
            user.groups.extend(groups);
        }
    }

    fn is_group_member(&self, group_id: &str, user: &User) -> bool {
        user.groups.contains(group_id)
            || user.admin_of.contains(group_id)
            || self
                .orgs
                .values()
                .any(|o| o.in_group(group_id) && o.member_role(&user.id).is_some())
    }

    fn first_login(&mut self, org_id: &str, email: &str) -> Option<String> {
        let org = self.orgs.get_mut(org_id)?;
        let index = org
            .pending
            .iter()
            .position(|p| p.email.eq_ignore_ascii_case(email))?;
        let pending = if self.keep_pending_after_login {
            org.pending[index].clone()
        } else {
            org.pending.remove(index)
        };
        let user_id = match self.user_by_email(email) {
            Some(user) => user.id.clone(),
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                self.users.push(new_user(&id, &pending.email));
                id
            }
        };
        self.join_org(org_id, &user_id, &pending.member_role());
        Some(user_id)
    }
}

fn new_user(user_id: &str, email: &str) -> User {
    let local = email.split('@').next().unwrap_or(email);
    User {
        id: user_id.to_owned(),
        email: email.to_owned(),
        name: local.to_owned(),
        username: email.to_owned(),
        groups: BTreeSet::new(),
        admin_of: BTreeSet::new(),
    }
}

impl FakeSnyk {
    /// Binds 127.0.0.1:0 and serves the fake there; requests must carry
    /// `Authorization: token <token>` (scheme case-insensitive).
    pub async fn start(token: &str) -> FakeSnyk {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake snyk: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("fake snyk: local addr").port();
        let inner = Arc::new(Inner {
            token: token.to_owned(),
            state: Mutex::new(State::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let data = web::Data::new(Arc::clone(&inner));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("fake snyk: listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeSnyk {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            inner,
            handle,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    // ----- seeding -------------------------------------------------------------------

    /// Adds an organisation that belongs to every group (no-op when it exists).
    pub fn add_org(&self, org_id: &str) {
        self.state().org_mut(org_id);
    }

    /// Adds an organisation tied to one group (creating both if needed).
    pub fn add_org_in_group(&self, group_id: &str, org_id: &str) {
        let mut st = self.state();
        st.groups.insert(group_id.to_owned());
        st.org_mut(org_id).group = Some(group_id.to_owned());
    }

    /// Sets the name shown in `GET /group/{id}/members` `orgs[].name` (default: the id).
    pub fn set_org_name(&self, org_id: &str, name: &str) {
        self.state().org_mut(org_id).name = name.to_owned();
    }

    pub fn add_group(&self, group_id: &str) {
        self.state().groups.insert(group_id.to_owned());
    }

    /// A Snyk user who has logged in before and is a member of the group (not of any
    /// org). Creates the group if needed; updates the email if the user exists.
    pub fn add_existing_user(&self, group_id: &str, user_id: &str, email: &str) {
        let mut st = self.state();
        st.groups.insert(group_id.to_owned());
        st.upsert_user(user_id, email)
            .groups
            .insert(group_id.to_owned());
    }

    /// A group administrator: listed with `groupRole: "admin"` by the group members API
    /// and, with `includeGroupAdmins=true`, with role `admin` by the org members API of
    /// every org of the group.
    pub fn add_group_admin(&self, group_id: &str, user_id: &str, email: &str) {
        let mut st = self.state();
        st.groups.insert(group_id.to_owned());
        let user = st.upsert_user(user_id, email);
        user.groups.insert(group_id.to_owned());
        user.admin_of.insert(group_id.to_owned());
    }

    /// An existing user who is a member of the org with `role` (members-API spelling:
    /// "admin" | "collaborator" | "restrictedCollaborator" | custom role public id).
    /// Creates the org if needed; the user also becomes a member of the org's group(s).
    pub fn add_org_member(&self, org_id: &str, user_id: &str, email: &str, role: &str) {
        let mut st = self.state();
        st.org_mut(org_id);
        st.upsert_user(user_id, email);
        st.join_org(org_id, user_id, role);
    }

    /// Adds a pending provision directly (provision spelling: `ADMIN`…, or when
    /// `role` is not one of those, it is taken as a rolePublicId).
    pub fn add_pending(&self, org_id: &str, email: &str, role: &str) {
        let mut st = self.state();
        let pending = Pending {
            email: email.to_owned(),
            role: PROVISION_ROLES.contains(&role).then(|| role.to_owned()),
            role_public_id: (!PROVISION_ROLES.contains(&role)).then(|| role.to_owned()),
            created: now(),
        };
        upsert_pending(st.org_mut(org_id), pending);
    }

    // ----- simulated Snyk-side events ------------------------------------------------

    /// The user with a pending provision in `org_id` logs in for the first time: the
    /// pending provision disappears (unless `set_keep_pending_after_login(true)`), the
    /// user (new id unless the email already belongs to a user) becomes an org member
    /// with the provisioned role. Returns the user id, `None` if nothing was pending.
    pub fn simulate_first_login(&self, org_id: &str, email: &str) -> Option<String> {
        self.state().first_login(org_id, email)
    }

    /// Like `simulate_first_login`, for every org where the email has a pending
    /// provision (what a real first login presumably does). Returns the user id.
    pub fn simulate_first_login_all_orgs(&self, email: &str) -> Option<String> {
        let mut st = self.state();
        let orgs: Vec<String> = st
            .orgs
            .iter()
            .filter(|(_, o)| {
                o.pending
                    .iter()
                    .any(|p| p.email.eq_ignore_ascii_case(email))
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut user_id = None;
        for org in orgs {
            user_id = st.first_login(&org, email).or(user_id);
        }
        user_id
    }

    /// A hand change of a member's role in Snyk (drift). Panics if not a member.
    pub fn set_member_role(&self, org_id: &str, user_id: &str, role: &str) {
        let mut st = self.state();
        let org = st.org_mut(org_id);
        assert!(
            org.member_role(user_id).is_some(),
            "fake snyk: {user_id} is not a member of org {org_id}"
        );
        org.set_member(user_id, role);
    }

    /// A hand removal from an org in Snyk (drift); the user stays a group member.
    pub fn remove_org_member(&self, org_id: &str, user_id: &str) {
        if let Some(org) = self.state().orgs.get_mut(org_id) {
            org.members.retain(|(id, _)| id != user_id);
        }
    }

    // ----- inspection ----------------------------------------------------------------

    /// (email, role or rolePublicId) of the pending provisions of the org.
    pub fn pending(&self, org_id: &str) -> Vec<(String, String)> {
        self.state()
            .orgs
            .get(org_id)
            .map(|o| {
                o.pending
                    .iter()
                    .map(|p| (p.email.clone(), p.provision_role()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// (user id, email, role) of the org's members, members-API role spelling.
    pub fn members(&self, org_id: &str) -> Vec<(String, String, String)> {
        let st = self.state();
        let Some(org) = st.orgs.get(org_id) else {
            return Vec::new();
        };
        org.members
            .iter()
            .map(|(id, role)| {
                let email = st.user(id).map(|u| u.email.clone()).unwrap_or_default();
                (id.clone(), email, role.clone())
            })
            .collect()
    }

    /// The id of the Snyk user with that email (case-insensitive).
    pub fn user_id_for(&self, email: &str) -> Option<String> {
        self.state().user_by_email(email).map(|u| u.id.clone())
    }

    /// Ids of the groups the user is a member of.
    pub fn user_groups(&self, user_id: &str) -> Vec<String> {
        let st = self.state();
        let Some(user) = st.user(user_id) else {
            return Vec::new();
        };
        st.groups
            .iter()
            .filter(|g| st.is_group_member(g, user))
            .cloned()
            .collect()
    }

    /// Every request received, in arrival order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state().calls.clone()
    }

    /// Calls other than GET (the writes), in arrival order.
    pub fn write_calls(&self) -> Vec<RecordedCall> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method != "GET")
            .cloned()
            .collect()
    }

    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    pub fn reset_max_in_flight(&self) {
        self.inner.max_in_flight.store(0, Ordering::SeqCst);
    }

    pub fn stats(&self) -> Stats {
        let st = self.state();
        Stats {
            total_requests: st.total_requests,
            too_many_requests: st.too_many_requests,
            per_window: st
                .rate_limit
                .as_ref()
                .map(|r| r.counts.clone())
                .unwrap_or_default(),
        }
    }

    // ----- behaviour knobs -----------------------------------------------------------

    /// What `POST /org/{id}/provision` answers for an email that belongs to an existing
    /// Snyk user (unconfirmed in reality). `{email}` in `message` is replaced by the
    /// email. Default: 400 "User {email} already exists in Snyk".
    pub fn set_already_exists_response(&self, status: u16, message: &str) {
        self.state().already_exists = (status, message.to_owned());
    }

    /// What `DELETE /org/{id}/provision?email=` answers when nothing is pending for the
    /// email (unconfirmed in reality). 2xx answers `{"ok":true}`; other statuses answer
    /// a v1 error with `message` (`{email}` replaced). Default: 200.
    pub fn set_delete_missing_provision_response(&self, status: u16, message: &str) {
        self.state().delete_missing_provision = (status, message.to_owned());
    }

    /// Whether a pending provision stays listed after the user's first login
    /// (unconfirmed in reality). Default: false (it disappears).
    pub fn set_keep_pending_after_login(&self, keep: bool) {
        self.state().keep_pending_after_login = keep;
    }

    /// Fixed windows of `window`, the first starting at the next request; once
    /// `per_window` requests were let through in the current window, every request until
    /// the window ends gets 429 without `Retry-After`. Resets the window counts.
    pub fn set_rate_limit(&self, per_window: u32, window: Duration) {
        self.set_rate_limit_of(RateKind::Fixed, per_window, window);
    }

    /// At most `per_window` requests in any interval of `window`; 429 (no `Retry-After`)
    /// for the requests over it.
    pub fn set_rolling_rate_limit(&self, per_window: u32, window: Duration) {
        self.set_rate_limit_of(RateKind::Rolling, per_window, window);
    }

    /// Snyk's REST rule: over `per_window` in a rolling `window`, every request gets 429
    /// until requests stop for a whole `window`; each request during the block extends it.
    pub fn set_quiet_period_rate_limit(&self, per_window: u32, window: Duration) {
        self.set_rate_limit_of(RateKind::QuietPeriod, per_window, window);
    }

    pub fn set_rate_limit_of(&self, kind: RateKind, per_window: u32, window: Duration) {
        let mut st = self.state();
        st.rate_limit = Some(RateLimit {
            kind,
            per_window,
            window,
            start: None,
            counts: Vec::new(),
            accepted: std::collections::VecDeque::new(),
            blocked_until: None,
        });
        st.accepted_at.clear();
    }

    /// Arrival times of the requests the rate limiter let through since it was set.
    pub fn accepted_at(&self) -> Vec<Instant> {
        self.state().accepted_at.clone()
    }

    /// The most requests let through in any interval of `window` (a sliding check of
    /// [`Self::accepted_at`]).
    pub fn max_accepted_in(&self, window: Duration) -> usize {
        let times = self.accepted_at();
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi].duration_since(times[lo]) >= window {
                lo += 1;
            }
            best = best.max(hi + 1 - lo);
        }
        best
    }

    /// Whether `GET /org/{id}/members` lists members whose role is `admin` (default
    /// false: the docs say it returns all non-admin members).
    pub fn set_org_members_list_admins(&self, list: bool) {
        self.state().org_members_list_admins = list;
    }

    pub fn clear_rate_limit(&self) {
        self.state().rate_limit = None;
    }

    /// The next `n` requests (any endpoint, after the auth check) get `status` with a
    /// v1 error body and an `x-error-reference` header.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut st = self.state();
        st.fail_remaining = n;
        st.fail_status = status;
    }

    /// The id `GET /user/me` answers for the token's user.
    pub fn set_me(&self, user_id: &str) {
        self.state().me = user_id.to_owned();
    }

    /// A custom org role of the group, listed by `GET /group/{id}/roles`.
    pub fn add_role(&self, group_id: &str, public_id: &str, name: &str) {
        self.state()
            .roles
            .push((group_id.into(), public_id.into(), name.into()));
    }

    /// The `expires_at` (RFC 3339, or `None` for null) of each listed token.
    pub fn set_token_expiries(&self, expiries: &[Option<&str>]) {
        self.state().token_expiries = expiries.iter().map(|e| e.map(str::to_owned)).collect();
    }

    /// Calls of `method` whose path (v1 without `/v1`, REST with `/rest`) ends
    /// with `suffix` are answered 410 Gone.
    pub fn answer_gone(&self, method: &str, suffix: &str) {
        self.answer_with(method, suffix, 410);
    }

    /// Such calls are answered `status` with a v1 error body, every time.
    pub fn answer_with(&self, method: &str, suffix: &str, status: u16) {
        self.state()
            .forced
            .push((method.into(), suffix.into(), status));
    }

    /// Answers to such calls carry `Sunset` and `Deprecation` headers.
    pub fn add_sunset_headers(&self, method: &str, suffix: &str) {
        self.state().sunset.push((method.into(), suffix.into()));
    }

    /// Every answer that reaches an endpoint is delayed by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.state().latency = d;
    }
}

impl Drop for FakeSnyk {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only awaits completion.
        std::mem::drop(self.handle.stop(false));
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn upsert_pending(org: &mut Org, pending: Pending) {
    match org
        .pending
        .iter_mut()
        .find(|p| p.email.eq_ignore_ascii_case(&pending.email))
    {
        Some(existing) => *existing = pending,
        None => org.pending.push(pending),
    }
}

// ----- HTTP plumbing -----------------------------------------------------------------

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }
}

fn error(status: u16, message: &str) -> Reply {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    Reply {
        status,
        body: json!({ "code": status, "message": message, "error": reason }),
    }
}

fn not_found() -> Reply {
    error(404, "Not found")
}

fn unauthorised() -> Reply {
    Reply {
        status: 401,
        body: json!({ "code": 401, "error": "Not authorised", "message": "Not authorised" }),
    }
}

fn to_response(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    builder.insert_header(("snyk-request-id", uuid::Uuid::new_v4().to_string()));
    if reply.status >= 400 {
        builder.insert_header(("x-error-reference", uuid::Uuid::new_v4().to_string()));
    }
    builder
        .content_type("application/json; charset=utf-8")
        .body(reply.body.to_string())
}

fn authorised(req: &HttpRequest, token: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.trim().splitn(2, char::is_whitespace);
    let scheme = parts.next().unwrap_or_default();
    let credential = parts.next().unwrap_or_default().trim();
    scheme.eq_ignore_ascii_case("token") && !credential.is_empty() && credential == token
}

enum Body {
    Empty,
    Json(Value),
    Invalid,
}

fn parse_body(bytes: &Bytes) -> Body {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Body::Empty;
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Body::Json(value),
        Err(_) => Body::Invalid,
    }
}

/// Decrements the in-flight count and fills in the recorded status (499 if the
/// request was dropped before an answer).
struct InFlight {
    inner: Arc<Inner>,
    call: usize,
    status: u16,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut st = self.inner.lock();
        if let Some(call) = st.calls.get_mut(self.call) {
            call.status = self.status;
        }
    }
}

enum Gate {
    Fail(u16),
    TooMany,
    Pass(Duration),
}

async fn handle(req: HttpRequest, bytes: Bytes, data: web::Data<Arc<Inner>>) -> HttpResponse {
    let inner: Arc<Inner> = Arc::clone(data.get_ref());
    let now_in_flight = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);

    let method = req.method().as_str().to_owned();
    let raw_path = req.path().to_owned();
    let path = match raw_path.strip_prefix("/v1") {
        Some("") => Some("/".to_owned()),
        Some(rest) if rest.starts_with('/') => Some(rest.to_owned()),
        _ => None,
    };
    let query = req.query_string().to_owned();
    let body = parse_body(&bytes);
    let recorded_body = match &body {
        Body::Empty => None,
        Body::Json(value) => Some(value.clone()),
        Body::Invalid => Some(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    };

    let call = {
        let mut st = inner.lock();
        st.total_requests += 1;
        st.calls.push(RecordedCall {
            method: method.clone(),
            path: path.clone().unwrap_or_else(|| raw_path.clone()),
            query: query.clone(),
            body: recorded_body,
            status: 0,
            at: Instant::now(),
        });
        st.calls.len() - 1
    };
    let mut guard = InFlight {
        inner: Arc::clone(&inner),
        call,
        status: 499,
    };

    let switch_path = path.clone().unwrap_or_else(|| raw_path.clone());
    let reply = 'reply: {
        if !authorised(&req, &inner.token) {
            break 'reply unauthorised();
        }
        let forced = inner
            .lock()
            .forced
            .iter()
            .find(|(m, p, _)| *m == method && switch_path.ends_with(p.as_str()))
            .map(|f| f.2);
        if let Some(status) = forced {
            break 'reply error(status, "Forced answer (410: Gone, end of life)");
        }
        let gate = {
            let mut st = inner.lock();
            gate(&mut st)
        };
        match gate {
            Gate::Fail(status) => break 'reply error(status, "Injected failure"),
            Gate::TooMany => {
                break 'reply Reply {
                    status: 429,
                    body: json!({ "code": 429, "message": "Too many requests", "error": "Too Many Requests" }),
                };
            }
            Gate::Pass(latency) => {
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
            }
        }
        let Some(path) = path else {
            if method == "GET" && raw_path == "/rest/self/personal_access_tokens" {
                break 'reply personal_access_tokens(&inner.lock(), &query);
            }
            break 'reply not_found();
        };
        let mut st = inner.lock();
        route(&mut st, &method, &path, &query, &body)
    };
    guard.status = reply.status;
    drop(guard);
    let sunset = switched(&inner.lock().sunset, &method, &switch_path);
    let mut resp = to_response(reply);
    if sunset {
        use actix_web::http::header::{HeaderName, HeaderValue};
        for (k, v) in [
            ("sunset", "Sat, 01 May 2027 00:00:00 GMT"),
            ("deprecation", "Mon, 01 Feb 2027 00:00:00 GMT"),
        ] {
            resp.headers_mut()
                .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
    }
    resp
}

/// REST: the caller's tokens, JSON:API; `version` is required.
fn personal_access_tokens(st: &State, query: &str) -> Reply {
    if !query.split('&').any(|p| p.starts_with("version=")) {
        return error(400, "version is required");
    }
    let data: Vec<Value> = st
        .token_expiries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({"id": format!("0000000{i}-0000-4000-8000-000000000000"), "type": "personal_access_token",
                   "attributes": {"name": format!("token {i}"), "created_at": now(), "expires_at": e}})
        })
        .collect();
    Reply::ok(json!({"jsonapi": {"version": "1.0"}, "data": data, "links": {}}))
}

fn gate(st: &mut State) -> Gate {
    if st.fail_remaining > 0 {
        st.fail_remaining -= 1;
        return Gate::Fail(st.fail_status);
    }
    if let Some(limit) = st.rate_limit.as_mut() {
        let now = Instant::now();
        if !limit_admits(limit, now) {
            st.too_many_requests += 1;
            return Gate::TooMany;
        }
        st.accepted_at.push(now);
    }
    Gate::Pass(st.latency)
}

/// Whether the rate limit lets a request arriving at `now` through (and counts it).
fn limit_admits(limit: &mut RateLimit, now: Instant) -> bool {
    match limit.kind {
        RateKind::Fixed => {
            let start = *limit.start.get_or_insert(now);
            let window_nanos = limit.window.as_nanos().max(1);
            let index = (now.duration_since(start).as_nanos() / window_nanos) as usize;
            if limit.counts.len() <= index {
                limit.counts.resize(index + 1, 0);
            }
            if limit.counts[index] >= limit.per_window {
                return false;
            }
            limit.counts[index] += 1;
            true
        }
        RateKind::Rolling => {
            while limit
                .accepted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= limit.window)
            {
                limit.accepted.pop_front();
            }
            if limit.accepted.len() >= limit.per_window as usize {
                return false;
            }
            limit.accepted.push_back(now);
            true
        }
        RateKind::QuietPeriod => {
            if let Some(until) = limit.blocked_until {
                if now < until {
                    limit.blocked_until = Some(now + limit.window);
                    return false;
                }
                limit.blocked_until = None;
                limit.accepted.clear();
            }
            while limit
                .accepted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= limit.window)
            {
                limit.accepted.pop_front();
            }
            if limit.accepted.len() >= limit.per_window as usize {
                limit.blocked_until = Some(now + limit.window);
                return false;
            }
            limit.accepted.push_back(now);
            true
        }
    }
}

// ----- endpoints ---------------------------------------------------------------------

fn route(st: &mut State, method: &str, path: &str, query: &str, body: &Body) -> Reply {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let params: HashMap<String, String> = web::Query::<HashMap<String, String>>::from_query(query)
        .map(|q| q.into_inner())
        .unwrap_or_default();
    match segments.as_slice() {
        ["org", org_id, rest @ ..] => {
            let known = matches!(
                (method, rest),
                ("POST" | "GET" | "DELETE", ["provision"])
                    | ("GET", ["members"])
                    | ("PUT" | "DELETE", ["members", _])
                    | ("PUT", ["members", "update", _])
            );
            if !known {
                return not_found();
            }
            if !st.orgs.contains_key(*org_id) {
                return error(404, "Org not found");
            }
            match (method, rest) {
                ("POST", ["provision"]) => provision(st, org_id, body),
                ("GET", ["provision"]) => list_provisions(st, org_id, &params),
                ("DELETE", ["provision"]) => delete_provision(st, org_id, &params),
                ("GET", ["members"]) => list_org_members(st, org_id, &params),
                ("PUT", ["members", "update", user_id]) => {
                    update_member_role_public_id(st, org_id, user_id, body)
                }
                ("PUT", ["members", user_id]) => update_member_role(st, org_id, user_id, body),
                ("DELETE", ["members", user_id]) => remove_member(st, org_id, user_id),
                _ => not_found(),
            }
        }
        ["group", group_id, "orgs"] if method == "GET" => {
            if !st.groups.contains(*group_id) {
                return error(404, "Group not found");
            }
            list_group_orgs(st, group_id)
        }
        ["user", "me"] if method == "GET" => {
            let me = st.user(&st.me).cloned();
            Reply::ok(
                json!({"id": st.me, "username": me.as_ref().map(|u| u.username.clone()),
                             "email": me.map(|u| u.email)}),
            )
        }
        ["group", group_id, "roles"] if method == "GET" => {
            if !st.groups.contains(*group_id) {
                return error(404, "Group not found");
            }
            let mut roles = vec![
                json!({"name": "Org Admin", "description": "", "publicId": "00000000-0000-4000-8000-00000000ad01", "customRole": false}),
                json!({"name": "Org Collaborator", "description": "", "publicId": "00000000-0000-4000-8000-00000000c001", "customRole": false}),
            ];
            for (_, id, name) in st.roles.iter().filter(|(g, _, _)| g == group_id) {
                roles.push(
                    json!({"name": name, "description": "", "publicId": id, "customRole": true}),
                );
            }
            Reply::ok(Value::Array(roles))
        }
        ["group", group_id, "members"] if method == "GET" => {
            if !st.groups.contains(*group_id) {
                return error(404, "Group not found");
            }
            list_group_members(st, group_id)
        }
        ["group", group_id, "org", org_id, "members"] if method == "POST" => {
            add_group_member_to_org(st, group_id, org_id, body)
        }
        _ => not_found(),
    }
}

/// The body as a JSON object; `Empty` counts as `{}`.
fn object(body: &Body) -> Result<serde_json::Map<String, Value>, Reply> {
    match body {
        Body::Empty => Ok(serde_json::Map::new()),
        Body::Invalid => Err(error(400, "Invalid JSON body")),
        Body::Json(Value::Object(map)) => Ok(map.clone()),
        Body::Json(_) => Err(error(400, "Request body must be a JSON object")),
    }
}

/// A string field: absent, null and "" count as absent; any other non-string is a 400.
fn string_field(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, Reply> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(error(400, &format!("{key} must be a string"))),
    }
}

macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(reply) => return reply,
        }
    };
}

fn provision(st: &mut State, org_id: &str, body: &Body) -> Reply {
    let obj = try_reply!(object(body));
    let Some(email) = try_reply!(string_field(&obj, "email")) else {
        return error(400, "email is required");
    };
    if !email.contains('@') {
        return error(
            400,
            &format!("email \"{email}\" is not a valid email address"),
        );
    }
    let role = try_reply!(string_field(&obj, "role"));
    let role_public_id = try_reply!(string_field(&obj, "rolePublicId"));
    match (&role, &role_public_id) {
        (Some(_), Some(_)) => {
            return error(400, "Provide either role or rolePublicId, not both");
        }
        (None, None) => return error(400, "One of role or rolePublicId is required"),
        (Some(role), None) if !PROVISION_ROLES.contains(&role.as_str()) => {
            return error(
                400,
                &format!(
                    "Invalid role \"{role}\": must be one of ADMIN, COLLABORATOR, RESTRICTED_COLLABORATOR"
                ),
            );
        }
        _ => {}
    }
    if st.user_by_email(&email).is_some() {
        let (status, template) = st.already_exists.clone();
        let message = template.replace("{email}", &email);
        return if (200..300).contains(&status) {
            Reply {
                status,
                body: json!({ "email": email, "message": message }),
            }
        } else {
            error(status, &message)
        };
    }
    let pending = Pending {
        email,
        role,
        role_public_id,
        created: now(),
    };
    let json = pending.to_json();
    upsert_pending(st.org_mut(org_id), pending);
    Reply::ok(json)
}

fn positive(params: &HashMap<String, String>, key: &str) -> Result<Option<usize>, Reply> {
    match params.get(key) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(error(400, &format!("{key} must be a positive integer"))),
        },
    }
}

fn list_provisions(st: &State, org_id: &str, params: &HashMap<String, String>) -> Reply {
    let per_page = try_reply!(positive(params, "perPage"));
    let page = try_reply!(positive(params, "page")).unwrap_or(1);
    let all = &st.orgs[org_id].pending;
    let items: Vec<Value> = match per_page {
        None => all.iter().map(Pending::to_json).collect(),
        Some(per_page) => all
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .map(Pending::to_json)
            .collect(),
    };
    Reply::ok(Value::Array(items))
}

fn delete_provision(st: &mut State, org_id: &str, params: &HashMap<String, String>) -> Reply {
    let Some(email) = params
        .get("email")
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
    else {
        return error(400, "email query parameter is required");
    };
    let (missing_status, missing_message) = st.delete_missing_provision.clone();
    let org = st.org_mut(org_id);
    let before = org.pending.len();
    org.pending.retain(|p| !p.email.eq_ignore_ascii_case(email));
    let status = if org.pending.len() < before {
        200
    } else if (200..300).contains(&missing_status) {
        missing_status
    } else {
        return error(missing_status, &missing_message.replace("{email}", email));
    };
    Reply {
        status,
        body: json!({ "ok": true }),
    }
}

fn member_json(user: Option<&User>, user_id: &str, role: &str) -> Value {
    match user {
        Some(u) => json!({
            "id": u.id, "name": u.name, "username": u.username, "email": u.email, "role": role,
        }),
        None => {
            json!({ "id": user_id, "name": null, "username": null, "email": null, "role": role })
        }
    }
}

fn list_org_members(st: &State, org_id: &str, params: &HashMap<String, String>) -> Reply {
    let org = &st.orgs[org_id];
    let mut items: Vec<Value> = org
        .members
        .iter()
        .filter(|(_, role)| st.org_members_list_admins || role != "admin")
        .map(|(id, role)| member_json(st.user(id), id, role))
        .collect();
    let include_admins = params
        .get("includeGroupAdmins")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if include_admins {
        for user in &st.users {
            let administers = user.admin_of.iter().any(|g| org.in_group(g));
            let listed = items.iter().any(|i| i["id"] == json!(user.id));
            if administers && !listed {
                items.push(member_json(Some(user), &user.id, "admin"));
            }
        }
    }
    Reply::ok(Value::Array(items))
}

fn update_member_role(st: &mut State, org_id: &str, user_id: &str, body: &Body) -> Reply {
    if st.orgs[org_id].member_role(user_id).is_none() {
        return error(404, "Member not found");
    }
    let obj = try_reply!(object(body));
    let Some(role) = try_reply!(string_field(&obj, "role")) else {
        return error(400, "role is required");
    };
    if !MEMBER_ROLES.contains(&role.as_str()) {
        return error(
            400,
            &format!(
                "Invalid role \"{role}\": must be one of admin, collaborator, restrictedCollaborator"
            ),
        );
    }
    st.org_mut(org_id).set_member(user_id, &role);
    Reply::ok(json!({}))
}

fn update_member_role_public_id(st: &mut State, org_id: &str, user_id: &str, body: &Body) -> Reply {
    if st.orgs[org_id].member_role(user_id).is_none() {
        return error(404, "Member not found");
    }
    let obj = try_reply!(object(body));
    let Some(role_public_id) = try_reply!(string_field(&obj, "rolePublicId")) else {
        return error(400, "rolePublicId is required");
    };
    st.org_mut(org_id).set_member(user_id, &role_public_id);
    Reply::ok(json!({}))
}

fn remove_member(st: &mut State, org_id: &str, user_id: &str) -> Reply {
    // Keep the user in the org's group(s) explicitly: removal from an org leaves a
    // group member.
    let groups = st.groups_of_org(org_id);
    let org = st.org_mut(org_id);
    if org.member_role(user_id).is_none() {
        return error(404, "Member not found");
    }
    org.members.retain(|(id, _)| id != user_id);
    if let Some(user) = st.user_mut(user_id) {
        user.groups.extend(groups);
    }
    Reply::ok(json!({}))
}

fn list_group_members(st: &State, group_id: &str) -> Reply {
    let items: Vec<Value> = st
        .users
        .iter()
        .filter(|u| st.is_group_member(group_id, u))
        .map(|u| {
            let orgs: Vec<Value> = st
                .orgs
                .values()
                .filter(|o| o.in_group(group_id))
                .filter_map(|o| {
                    o.member_role(&u.id)
                        .map(|role| json!({ "name": o.name, "role": role }))
                })
                .collect();
            let mut item = json!({
                "id": u.id, "name": u.name, "username": u.username, "email": u.email, "orgs": orgs,
            });
            if u.admin_of.contains(group_id) {
                item["groupRole"] = json!("admin");
            }
            item
        })
        .collect();
    Reply::ok(Value::Array(items))
}

fn list_group_orgs(st: &State, group_id: &str) -> Reply {
    let orgs: Vec<Value> = st
        .orgs
        .iter()
        .filter(|(_, o)| o.in_group(group_id))
        .map(|(id, o)| json!({ "id": id, "name": o.name, "slug": o.name.to_lowercase() }))
        .collect();
    Reply::ok(json!({ "name": group_id, "id": group_id, "orgs": orgs }))
}

fn add_group_member_to_org(st: &mut State, group_id: &str, org_id: &str, body: &Body) -> Reply {
    if !st.groups.contains(group_id) {
        return error(404, "Group not found");
    }
    if !st.orgs.get(org_id).is_some_and(|o| o.in_group(group_id)) {
        return error(404, "Org not found");
    }
    let obj = try_reply!(object(body));
    let Some(user_id) = try_reply!(string_field(&obj, "userId")) else {
        return error(400, "userId is required");
    };
    let Some(role) = try_reply!(string_field(&obj, "role")) else {
        return error(400, "role is required");
    };
    if !MEMBER_ROLES.contains(&role.as_str()) {
        return error(
            400,
            &format!(
                "Invalid role \"{role}\": must be one of admin, collaborator, restrictedCollaborator"
            ),
        );
    }
    let in_group = st
        .user(&user_id)
        .is_some_and(|u| st.is_group_member(group_id, u));
    if !in_group {
        return error(404, "User is not a member of the group");
    }
    st.join_org(org_id, &user_id, &role);
    Reply::ok(json!({}))
}
