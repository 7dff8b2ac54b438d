//! Configuration: the TOML file of `docs/interface.md`, secrets from the environment,
//! and every rule that makes a file valid.
//!
//! This module parses once, at the edge: what leaves it is a [`Config`] whose
//! fields are already typed (socket address, database kind, org ids, roles).
//! It reads the file and the environment and nothing else; it never logs a
//! secret, and a [`ConfigError`] names the file and the key, never the value of
//! a secret.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{GroupName, SnykOrgId, SnykRole};

mod safety;
pub use safety::SafetySettings;
mod lines;
pub use lines::mapping_lines;

/// Where the configuration came from, for messages.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_API_URL: &str = "https://api.snyk.io/v1";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: DatabaseUrl,
    pub log_format: LogFormat,
    pub scim: ScimSettings,
    pub snyk: SnykSettings,
    pub mappings: Vec<Mapping>,
    pub webhooks: WebhookSettings,
    /// Log emails as written (`true`) or as a stable hash (`false`, the default).
    pub log_pii: bool,
    /// Audit events and recorded Snyk calls older than this are purged.
    pub audit_retention_days: u32,
    /// `[admin]`: the token of the `/status` page (absent: no status page).
    pub admin: AdminSettings,
    /// `[safety]`: the deletion circuit breaker, the empty-push guard and
    /// protected accounts.
    pub safety: SafetySettings,
}

/// `[admin]`: access to the read-only status page.
#[derive(Debug, Clone, Default)]
pub struct AdminSettings {
    /// `admin.token`, or `ADMIN_TOKEN` in the environment.
    pub token: Option<SecretString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A database URL whose backend is known.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

/// A `database_url` with a scheme the bridge does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must start with sqlite:// or postgres://")]
pub struct UnknownDatabaseScheme;

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, UnknownDatabaseScheme> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(UnknownDatabaseScheme)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Sqlite(u) | Self::Postgres(u) => u,
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// A PostgreSQL URL may carry a password: show only the scheme.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(u) => write!(f, "Sqlite({u:?})"),
            Self::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// Static bearer tokens; any one is accepted.
    pub tokens: Vec<SecretString>,
    pub jwt: Option<JwtSettings>,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most resources one list response returns (published as filter.maxResults).
    pub max_results: usize,
    /// Most operations one bulk request may carry (published as bulk.maxOperations).
    pub bulk_max_operations: usize,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub key: JwtKey,
}

#[derive(Debug, Clone)]
pub enum JwtKey {
    JwksUrl(String),
    PublicKeyPem(String),
    Hs256Secret(SecretString),
}

#[derive(Debug, Clone)]
pub struct SnykSettings {
    pub api_url: String,
    pub token: Option<SecretString>,
    pub group_id: Option<String>,
    pub dry_run: bool,
    pub requests_per_minute: u32,
    pub max_concurrent_requests: u32,
    /// The interval Snyk counts calls in (60: its "per minute"): what the
    /// pacer learns its budget over after a 429, and the longest pause
    /// between two probes.
    pub rate_window_secs: u64,
    pub reconcile_interval_secs: u64,
    /// After failing this long, an operation goes to the dead-letter state.
    pub retry_max_secs: u64,
    /// Per-call timeout.
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub group: GroupName,
    pub org_id: SnykOrgId,
    pub role: SnykRole,
}

#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    pub okta_authorization: Option<SecretString>,
    /// How long processed Okta event uuids are kept for deduplication.
    pub okta_dedupe_retention_secs: u64,
    /// Only `application.user_membership.*` events for this Okta app instance
    /// id are applied (assignment = active, unassignment = inactive); without
    /// it those events are ignored.
    pub okta_app_id: Option<String>,
    /// The signed generic webhook (`/webhooks/events`), when configured.
    pub generic: Option<GenericWebhookSettings>,
}

/// `[webhooks.generic]`: the HMAC secret, the replay window and how long
/// event ids are kept for deduplication.
#[derive(Debug, Clone)]
pub struct GenericWebhookSettings {
    pub secret: SecretString,
    pub replay_window_secs: u64,
    pub dedupe_retention_secs: u64,
}

/// Default for `dedupe_retention_secs`: 7 days.
pub const DEFAULT_DEDUPE_RETENTION_SECS: u64 = 7 * 24 * 3600;
/// Default for `[webhooks.generic] replay_window_secs`: 5 minutes.
pub const DEFAULT_REPLAY_WINDOW_SECS: u64 = 300;

/// One thing wrong with a configuration, located by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the file: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{}", render_issues(file, issues))]
    Invalid {
        file: PathBuf,
        issues: Vec<ConfigIssue>,
    },
}

fn render_issues(file: &Path, issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}: {}: {}", file.display(), i.key, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// The file as written. Every table denies unknown keys.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    #[serde(default)]
    scim: RawScim,
    #[serde(default)]
    snyk: RawSnyk,
    #[serde(default)]
    mappings: Vec<RawMapping>,
    #[serde(default)]
    webhooks: RawWebhooks,
    log_pii: Option<bool>,
    audit_retention_days: Option<u32>,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    safety: safety::RawSafety,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScim {
    #[serde(default)]
    tokens: Vec<String>,
    jwt: Option<RawJwt>,
    max_body_bytes: Option<usize>,
    max_results: Option<usize>,
    bulk_max_operations: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    issuer: Option<String>,
    audience: Option<String>,
    jwks_url: Option<String>,
    public_key_pem: Option<String>,
    hs256_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnyk {
    api_url: Option<String>,
    token: Option<String>,
    group_id: Option<String>,
    dry_run: Option<bool>,
    requests_per_minute: Option<u32>,
    max_concurrent_requests: Option<u32>,
    rate_window_secs: Option<u64>,
    reconcile_interval_secs: Option<u64>,
    retry_max_secs: Option<u64>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    group: Option<String>,
    org_id: Option<String>,
    role: Option<String>,
    role_public_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    okta: Option<RawOkta>,
    generic: Option<RawGeneric>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOkta {
    authorization: Option<String>,
    dedupe_retention_secs: Option<u64>,
    app_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneric {
    secret: Option<String>,
    replay_window_secs: Option<u64>,
    dedupe_retention_secs: Option<u64>,
}

/// The environment variables this module reads, passed in so tests can set them.
pub type Env = BTreeMap<String, String>;

/// The process environment, restricted to the variables this module reads.
pub fn process_env() -> Env {
    ["SNYK_TOKEN", "SCIM_TOKENS", "ADMIN_TOKEN", "WEBHOOK_SECRET"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect()
}

/// Resolve the path: the flag, then `$BRIDGE_CONFIG`, then `bridge.toml`.
pub fn resolve_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("BRIDGE_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("bridge.toml"))
}

/// Read and validate a configuration file.
pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    parse(path, &text, env)
}

/// Validate configuration text (the file name is only used in messages).
pub fn parse(file: &Path, text: &str, env: &Env) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_owned(),
        message: describe_toml_error(&e, text),
    })?;
    let mut issues = Vec::new();
    let config = validate(raw, env, &mut issues);
    match config {
        Some(c) if issues.is_empty() => Ok(c),
        _ => Err(ConfigError::Invalid {
            file: file.to_owned(),
            issues,
        }),
    }
}

/// A TOML error as the line it is on and what is wrong, never the value:
/// toml's own rendering quotes the offending line, which may hold a secret,
/// and serde's "invalid type" messages quote the value.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|span| text.get(..span.start).unwrap_or("").matches('\n').count() + 1);
    let message = scrub_value(e.message().trim());
    match line {
        Some(n) => format!("line {n}: {message}"),
        None => message,
    }
}

/// serde's messages that quote a value ("invalid type: string \"...\",
/// expected ...", "invalid value: ...", "unknown variant `...`") keep only
/// what was expected.
fn scrub_value(message: &str) -> String {
    for prefix in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ] {
        if message.starts_with(prefix) {
            return match message.rfind(", expected ") {
                Some(i) => format!("{prefix} (value not shown){}", &message[i..]),
                None => format!("{prefix} (value not shown)"),
            };
        }
    }
    message.to_owned()
}

fn issue(issues: &mut Vec<ConfigIssue>, key: impl Into<String>, message: impl Into<String>) {
    issues.push(ConfigIssue {
        key: key.into(),
        message: message.into(),
    });
}

fn validate(raw: RawConfig, env: &Env, issues: &mut Vec<ConfigIssue>) -> Option<Config> {
    let listen = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    if !valid_listen(&listen) {
        issue(issues, "listen", "must be host:port, e.g. 127.0.0.1:8080");
    }

    let database_url = match raw.database_url.as_deref() {
        None => {
            issue(issues, "database_url", "is required");
            None
        }
        Some(u) => DatabaseUrl::parse(u)
            .map_err(|m| issue(issues, "database_url", m.to_string()))
            .ok(),
    };

    let scim = validate_scim(raw.scim, env, issues);
    let snyk = validate_snyk(raw.snyk, env, issues);

    if raw.mappings.is_empty() {
        issue(
            issues,
            "mappings",
            "at least one [[mappings]] entry is required",
        );
    }
    let mappings: Vec<Mapping> = raw
        .mappings
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| validate_mapping(i, m, issues))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (i, m) in mappings.iter().enumerate() {
        if !seen.insert((m.group.key(), m.org_id.clone())) {
            issue(
                issues,
                format!("mappings[{i}]"),
                format!(
                    "group {:?} is mapped to org {} more than once; the first entry would always win",
                    m.group.as_str(),
                    m.org_id
                ),
            );
        }
    }

    let webhooks = validate_webhooks(raw.webhooks, env, issues);
    let safety = safety::validate_safety(raw.safety, issues);

    let audit_retention_days = raw.audit_retention_days.unwrap_or(365);
    if audit_retention_days == 0 {
        issue(issues, "audit_retention_days", "must be at least 1");
    }
    let admin_token = env
        .get("ADMIN_TOKEN")
        .cloned()
        .or(raw.admin.token)
        .filter(|t| !t.trim().is_empty());
    if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
        issue(
            issues,
            "admin.token",
            "is shorter than 16 characters; use a long random secret",
        );
    }

    Some(Config {
        listen,
        database_url: database_url?,
        log_format: raw.log_format.unwrap_or(LogFormat::Pretty),
        scim: scim?,
        snyk: snyk?,
        mappings,
        webhooks,
        log_pii: raw.log_pii.unwrap_or(false),
        audit_retention_days,
        admin: AdminSettings {
            token: admin_token.map(SecretString::from),
        },
        safety,
    })
}

fn validate_webhooks(
    raw: RawWebhooks,
    env: &Env,
    issues: &mut Vec<ConfigIssue>,
) -> WebhookSettings {
    let mut out = WebhookSettings {
        okta_dedupe_retention_secs: DEFAULT_DEDUPE_RETENTION_SECS,
        ..WebhookSettings::default()
    };
    if let Some(o) = raw.okta {
        out.okta_authorization = match o.authorization {
            Some(a) if !a.trim().is_empty() => Some(SecretString::from(a)),
            _ => {
                issue(
                    issues,
                    "webhooks.okta.authorization",
                    "is required when [webhooks.okta] is present",
                );
                None
            }
        };
        out.okta_dedupe_retention_secs = o
            .dedupe_retention_secs
            .unwrap_or(DEFAULT_DEDUPE_RETENTION_SECS);
        if out.okta_dedupe_retention_secs < 3600 {
            issue(
                issues,
                "webhooks.okta.dedupe_retention_secs",
                "must be at least 3600 seconds (Okta redelivers within hours)",
            );
        }
        out.okta_app_id = match o.app_id {
            Some(a) if a.trim().is_empty() => {
                issue(issues, "webhooks.okta.app_id", "must not be empty");
                None
            }
            a => a,
        };
    }
    let env_secret = env.get("WEBHOOK_SECRET").filter(|s| !s.is_empty()).cloned();
    if raw.generic.is_some() || env_secret.is_some() {
        let g = raw.generic.unwrap_or_default();
        let secret = env_secret.or(g.secret);
        let replay_window_secs = g.replay_window_secs.unwrap_or(DEFAULT_REPLAY_WINDOW_SECS);
        let dedupe_retention_secs = g
            .dedupe_retention_secs
            .unwrap_or(DEFAULT_DEDUPE_RETENTION_SECS);
        match &secret {
            None => issue(
                issues,
                "webhooks.generic.secret",
                "is required when [webhooks.generic] is present (or set WEBHOOK_SECRET)",
            ),
            Some(s) if s.chars().count() < 32 => issue(
                issues,
                "webhooks.generic.secret",
                "must be at least 32 characters; use a long random secret",
            ),
            Some(_) => {}
        }
        if !(1..=3600).contains(&replay_window_secs) {
            issue(
                issues,
                "webhooks.generic.replay_window_secs",
                "must be between 1 and 3600 seconds",
            );
        }
        if dedupe_retention_secs < replay_window_secs {
            issue(
                issues,
                "webhooks.generic.dedupe_retention_secs",
                "must be at least replay_window_secs",
            );
        }
        out.generic = secret.map(|s| GenericWebhookSettings {
            secret: SecretString::from(s),
            replay_window_secs,
            dedupe_retention_secs,
        });
    }
    out
}

fn valid_listen(listen: &str) -> bool {
    match listen.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

fn validate_scim(raw: RawScim, env: &Env, issues: &mut Vec<ConfigIssue>) -> Option<ScimSettings> {
    let mut tokens: Vec<String> = raw.tokens;
    if let Some(from_env) = env.get("SCIM_TOKENS") {
        tokens = from_env
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
    }
    for (i, t) in tokens.iter().enumerate() {
        if t.trim().is_empty() {
            issue(issues, format!("scim.tokens[{i}]"), "must not be empty");
        } else if t.len() < 16 {
            issue(
                issues,
                format!("scim.tokens[{i}]"),
                "is shorter than 16 characters; use a long random secret",
            );
        }
    }
    let jwt = raw.jwt.and_then(|j| validate_jwt(j, issues));
    if tokens.is_empty() && jwt.is_none() {
        issue(
            issues,
            "scim.tokens",
            "no way to authenticate the IdP: set scim.tokens, SCIM_TOKENS or [scim.jwt]",
        );
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(1024 * 1024);
    if max_body_bytes < 1024 {
        issue(issues, "scim.max_body_bytes", "must be at least 1024");
    }
    let max_results = raw.max_results.unwrap_or(1000);
    if max_results == 0 {
        issue(issues, "scim.max_results", "must be at least 1");
    }
    let bulk_max_operations = raw.bulk_max_operations.unwrap_or(1000);
    if bulk_max_operations == 0 {
        issue(issues, "scim.bulk_max_operations", "must be at least 1");
    }
    Some(ScimSettings {
        tokens: tokens.into_iter().map(SecretString::from).collect(),
        jwt,
        max_body_bytes,
        max_results,
        bulk_max_operations,
    })
}

fn validate_jwt(raw: RawJwt, issues: &mut Vec<ConfigIssue>) -> Option<JwtSettings> {
    let issuer = raw.issuer.filter(|s| !s.is_empty());
    let audience = raw.audience.filter(|s| !s.is_empty());
    if issuer.is_none() {
        issue(issues, "scim.jwt.issuer", "is required");
    }
    if audience.is_none() {
        issue(issues, "scim.jwt.audience", "is required");
    }
    let keys = [
        raw.jwks_url.map(JwtKey::JwksUrl),
        raw.public_key_pem.map(JwtKey::PublicKeyPem),
        raw.hs256_secret
            .map(|s| JwtKey::Hs256Secret(SecretString::from(s))),
    ];
    let mut given: Vec<JwtKey> = keys.into_iter().flatten().collect();
    if given.len() != 1 {
        issue(
            issues,
            "scim.jwt",
            "set exactly one of jwks_url, public_key_pem, hs256_secret",
        );
        return None;
    }
    let key = given.pop()?;
    match &key {
        JwtKey::JwksUrl(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
            issue(issues, "scim.jwt.jwks_url", "must be an http(s) URL");
        }
        JwtKey::PublicKeyPem(p) if !p.contains("-----BEGIN") => {
            issue(issues, "scim.jwt.public_key_pem", "is not a PEM public key");
        }
        JwtKey::Hs256Secret(s) if s.expose_secret().len() < 32 => {
            issue(
                issues,
                "scim.jwt.hs256_secret",
                "must be at least 32 characters",
            );
        }
        _ => {}
    }
    Some(JwtSettings {
        issuer: issuer?,
        audience: audience?,
        key,
    })
}

fn validate_snyk(raw: RawSnyk, env: &Env, issues: &mut Vec<ConfigIssue>) -> Option<SnykSettings> {
    let dry_run = raw.dry_run.unwrap_or(false);
    let token = env
        .get("SNYK_TOKEN")
        .cloned()
        .or(raw.token)
        .filter(|t| !t.trim().is_empty());
    if token.is_none() && !dry_run {
        issue(
            issues,
            "snyk.token",
            "is required unless snyk.dry_run = true (or set SNYK_TOKEN)",
        );
    }
    let api_url = raw
        .api_url
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        issue(issues, "snyk.api_url", "must be an http(s) URL");
    }
    if let Some(g) = &raw.group_id
        && uuid::Uuid::parse_str(g).is_err()
    {
        issue(issues, "snyk.group_id", "must be a UUID");
    }
    let requests_per_minute = raw.requests_per_minute.unwrap_or(1800);
    if requests_per_minute == 0 {
        issue(issues, "snyk.requests_per_minute", "must be at least 1");
    }
    let max_concurrent_requests = raw.max_concurrent_requests.unwrap_or(10);
    if max_concurrent_requests == 0 {
        issue(issues, "snyk.max_concurrent_requests", "must be at least 1");
    }
    let rate_window_secs = raw.rate_window_secs.unwrap_or(60);
    if !(1..=3600).contains(&rate_window_secs) {
        issue(
            issues,
            "snyk.rate_window_secs",
            "must be between 1 and 3600 seconds",
        );
    }
    let reconcile_interval_secs = raw.reconcile_interval_secs.unwrap_or(300);
    if reconcile_interval_secs < 10 {
        issue(
            issues,
            "snyk.reconcile_interval_secs",
            "must be at least 10 seconds",
        );
    }
    let retry_max_secs = raw.retry_max_secs.unwrap_or(86_400);
    if retry_max_secs < 60 {
        issue(issues, "snyk.retry_max_secs", "must be at least 60 seconds");
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(30);
    if !(1..=300).contains(&timeout_secs) {
        issue(
            issues,
            "snyk.timeout_secs",
            "must be between 1 and 300 seconds",
        );
    }
    Some(SnykSettings {
        api_url,
        retry_max_secs,
        timeout_secs,
        token: token.map(SecretString::from),
        group_id: raw.group_id,
        dry_run,
        requests_per_minute,
        max_concurrent_requests,
        rate_window_secs,
        reconcile_interval_secs,
    })
}

fn validate_mapping(i: usize, raw: RawMapping, issues: &mut Vec<ConfigIssue>) -> Option<Mapping> {
    let key = |k: &str| format!("mappings[{i}].{k}");
    let before = issues.len();
    let group = match raw.group.as_deref().map(GroupName::parse) {
        None => {
            issue(issues, key("group"), "is required");
            None
        }
        Some(Err(m)) => {
            issue(issues, key("group"), m.to_string());
            None
        }
        Some(Ok(g)) => Some(g),
    };
    let org_id = match raw.org_id.as_deref().map(SnykOrgId::parse) {
        None => {
            issue(issues, key("org_id"), "is required");
            None
        }
        Some(Err(m)) => {
            issue(issues, key("org_id"), m.to_string());
            None
        }
        Some(Ok(o)) => Some(o),
    };
    let role = match (raw.role.as_deref(), raw.role_public_id.as_deref()) {
        (Some(_), Some(_)) | (None, None) => {
            issue(
                issues,
                format!("mappings[{i}]"),
                "set exactly one of role and role_public_id",
            );
            None
        }
        (Some(r), None) => SnykRole::parse_builtin(r)
            .map_err(|m| issue(issues, key("role"), m.to_string()))
            .ok(),
        (None, Some(p)) => SnykRole::parse_custom(p)
            .map_err(|m| issue(issues, key("role_public_id"), m.to_string()))
            .ok(),
    };
    if issues.len() != before {
        return None;
    }
    Some(Mapping {
        group: group?,
        org_id: org_id?,
        role: role?,
    })
}

/// The mapping table as `check-config` prints it.
pub fn render_mappings(mappings: &[Mapping]) -> String {
    let mut out = String::from("precedence  group -> org_id  role\n");
    for (i, m) in mappings.iter().enumerate() {
        out.push_str(&format!(
            "{:>10}  {:?} -> {}  {}\n",
            i + 1,
            m.group.as_str(),
            m.org_id,
            m.role
        ));
    }
    out
}

#[cfg(test)]
mod tests;
