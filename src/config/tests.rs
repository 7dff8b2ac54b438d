//! Tests of the configuration loader: every rule, every error message, the example file.

use super::*;

const ORG: &str = "6b7a7c5e-1111-4c4c-9d9d-000000000001";

fn minimal() -> String {
    format!(
        r#"
database_url = "sqlite://x.db"
[scim]
tokens = ["0123456789abcdef0123"]
[snyk]
token = "snyk-secret-value"
[[mappings]]
group = "Snyk Admins"
org_id = "{ORG}"
role = "ADMIN"
"#
    )
}

fn parse_str(text: &str, env: &Env) -> Result<Config, ConfigError> {
    parse(Path::new("bridge.toml"), text, env)
}

fn issues_of(text: &str, env: &Env) -> Vec<ConfigIssue> {
    match parse_str(text, env) {
        Err(ConfigError::Invalid { issues, .. }) => issues,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn minimal_file_gets_the_documented_defaults() {
    let c = parse_str(&minimal(), &Env::new()).expect("valid");
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.snyk.api_url, "https://api.snyk.io/v1");
    assert!(!c.snyk.dry_run);
    assert_eq!(c.snyk.requests_per_minute, 1800);
    assert_eq!(c.snyk.max_concurrent_requests, 10);
    assert_eq!(c.snyk.rate_window_secs, 60);
    assert_eq!(c.snyk.reconcile_interval_secs, 300);
    assert_eq!(c.snyk.group_id, None);
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert!(c.webhooks.okta_authorization.is_none());
    assert!(!c.log_pii);
    assert_eq!(c.audit_retention_days, 365);
    assert!(c.admin.token.is_none());
    assert_eq!(c.mappings.len(), 1);
    assert_eq!(c.mappings[0].role, SnykRole::Admin);
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let text = minimal().replace("[snyk]", "[snyk]\nrequest_per_minute = 5");
    match parse_str(&text, &Env::new()) {
        Err(ConfigError::Syntax { message, .. }) => {
            assert!(message.contains("request_per_minute"), "{message}")
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn environment_secrets_override_the_file() {
    let mut env = Env::new();
    env.insert("SNYK_TOKEN".into(), "from-env".into());
    env.insert(
        "SCIM_TOKENS".into(),
        "aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb".into(),
    );
    let c = parse_str(&minimal(), &env).expect("valid");
    assert_eq!(
        c.snyk.token.as_ref().map(|t| t.expose_secret().to_owned()),
        Some("from-env".to_owned())
    );
    assert_eq!(c.scim.tokens.len(), 2);
    assert_eq!(c.scim.tokens[1].expose_secret(), "bbbbbbbbbbbbbbbbbbbb");
}

#[test]
fn required_keys_are_named() {
    let keys: Vec<String> = issues_of("", &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(
        keys,
        ["database_url", "scim.tokens", "snyk.token", "mappings"]
    );
}

#[test]
fn observability_keys_and_the_admin_token() {
    let text = format!(
        "log_pii = true\naudit_retention_days = 30\n{}\n[admin]\ntoken = \"admin-token-from-file-0001\"\n",
        minimal()
    );
    let c = parse_str(&text, &Env::new()).expect("valid");
    assert!(c.log_pii);
    assert_eq!(c.audit_retention_days, 30);
    assert_eq!(
        c.admin.token.as_ref().map(|t| t.expose_secret().to_owned()),
        Some("admin-token-from-file-0001".to_owned())
    );
    let mut env = Env::new();
    env.insert("ADMIN_TOKEN".into(), "admin-token-from-env-0002".into());
    let c = parse_str(&text, &env).expect("valid");
    assert_eq!(
        c.admin.token.as_ref().map(|t| t.expose_secret().to_owned()),
        Some("admin-token-from-env-0002".to_owned())
    );
    assert!(!format!("{c:?}").contains("admin-token-from"));
    let short = text.replace("admin-token-from-file-0001", "short");
    let keys: Vec<String> = issues_of(&short, &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["admin.token"]);
    let zero = text.replace("audit_retention_days = 30", "audit_retention_days = 0");
    let keys: Vec<String> = issues_of(&zero, &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["audit_retention_days"]);
}

#[test]
fn dry_run_needs_no_snyk_token() {
    let text = minimal().replace("token = \"snyk-secret-value\"", "dry_run = true");
    let c = parse_str(&text, &Env::new()).expect("valid");
    assert!(c.snyk.dry_run);
    assert!(c.snyk.token.is_none());
}

#[test]
fn mapping_rules_are_checked_per_entry() {
    let text = minimal()
        + r#"
[[mappings]]
group = "Devs"
org_id = "not-a-uuid"
role = "ADMIN"
[[mappings]]
group = "Devs"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000002"
role = "ADMIN"
role_public_id = "abc"
[[mappings]]
group = "Devs"
org_id = "6b7a7c5e-1111-4c4c-9d9d-000000000002"
role = "OWNER"
"#;
    let issues = issues_of(&text, &Env::new());
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["mappings[1].org_id", "mappings[2]", "mappings[3].role"]
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug() {
    let text = minimal().replace("sqlite://x.db", "mysql://x");
    let err = parse_str(&text, &Env::new()).expect_err("invalid");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("snyk-secret-value"));
    let c = parse_str(&minimal(), &Env::new()).expect("valid");
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("snyk-secret-value"), "{dbg}");
    assert!(!dbg.contains("0123456789abcdef0123"), "{dbg}");
}

#[test]
fn errors_are_rendered_with_file_and_key() {
    let text = minimal().replace("listen", "x") + "listen = \"nope\"\n";
    // `listen` after a table header belongs to the last table: put it first instead.
    let text = format!(
        "listen = \"nope\"\n{}",
        text.replace("listen = \"nope\"\n", "")
    );
    let err = parse_str(&text, &Env::new()).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "bridge.toml: listen: must be host:port, e.g. 127.0.0.1:8080"
    );
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../examples/bridge.toml");
    let c = parse_str(text, &Env::new()).expect("examples/bridge.toml must be valid");
    assert!(c.snyk.dry_run, "the example runs without a Snyk token");
    assert!(matches!(c.database_url, DatabaseUrl::Sqlite(_)));
}

const WEBHOOK_SECRET: &str = "generic-webhook-secret-0123456789abcdef";

#[test]
fn webhooks_are_off_by_default_with_documented_defaults() {
    let c = parse_str(&minimal(), &Env::new()).expect("valid");
    assert!(c.webhooks.generic.is_none());
    assert!(c.webhooks.okta_app_id.is_none());
    assert_eq!(c.webhooks.okta_dedupe_retention_secs, 7 * 24 * 3600);
}

#[test]
fn okta_webhook_keys_are_read_and_checked() {
    let text = minimal()
        + "[webhooks.okta]\nauthorization = \"okta-hook-secret\"\ndedupe_retention_secs = 86400\napp_id = \"0oa1\"\n";
    let c = parse_str(&text, &Env::new()).expect("valid");
    assert_eq!(c.webhooks.okta_dedupe_retention_secs, 86_400);
    assert_eq!(c.webhooks.okta_app_id.as_deref(), Some("0oa1"));
    let text = minimal() + "[webhooks.okta]\ndedupe_retention_secs = 60\n";
    let keys: Vec<String> = issues_of(&text, &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(
        keys,
        [
            "webhooks.okta.authorization",
            "webhooks.okta.dedupe_retention_secs"
        ]
    );
}

#[test]
fn generic_webhook_gets_its_defaults() {
    let text = minimal() + &format!("[webhooks.generic]\nsecret = \"{WEBHOOK_SECRET}\"\n");
    let c = parse_str(&text, &Env::new()).expect("valid");
    let g = c.webhooks.generic.expect("generic webhook on");
    assert_eq!(g.secret.expose_secret(), WEBHOOK_SECRET);
    assert_eq!(g.replay_window_secs, 300);
    assert_eq!(g.dedupe_retention_secs, 7 * 24 * 3600);
}

#[test]
fn generic_webhook_rules_name_their_key_and_never_the_secret() {
    let text =
        minimal() + "[webhooks.generic]\nsecret = \"short-secret\"\nreplay_window_secs = 0\n";
    let issues = issues_of(&text, &Env::new());
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "webhooks.generic.secret",
            "webhooks.generic.replay_window_secs"
        ]
    );
    let err = parse_str(&text, &Env::new()).expect_err("invalid");
    assert!(!format!("{err} {err:?}").contains("short-secret"));
    let text =
        minimal() + "[webhooks.generic]\nreplay_window_secs = 600\ndedupe_retention_secs = 60\n";
    let keys: Vec<String> = issues_of(&text, &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(
        keys,
        [
            "webhooks.generic.secret",
            "webhooks.generic.dedupe_retention_secs"
        ]
    );
}

#[test]
fn webhook_secret_from_the_environment_overrides_and_enables() {
    let mut env = Env::new();
    env.insert("WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    let text =
        minimal() + "[webhooks.generic]\nsecret = \"file-secret-file-secret-file-secret-0\"\n";
    let c = parse_str(&text, &env).expect("valid");
    let g = c.webhooks.generic.expect("on");
    assert_eq!(g.secret.expose_secret(), WEBHOOK_SECRET);
    let c = parse_str(&minimal(), &env).expect("valid");
    assert!(
        c.webhooks.generic.is_some(),
        "WEBHOOK_SECRET alone enables it"
    );
    let dbg = format!("{:?}", c.webhooks);
    assert!(!dbg.contains(WEBHOOK_SECRET), "{dbg}");
}

#[test]
fn toml_errors_name_the_line_never_the_value() {
    let secret = "sup3r-s3cret-t0ken-value-0123456789";
    let cases = [
        // A misspelled key under [scim].
        format!("database_url = \"sqlite://b.db\"\n[scim]\ntoken = [\"{secret}\"]\n"),
        // A syntax error on a secret's line (unterminated string).
        format!("database_url = \"sqlite://b.db\"\n[scim]\ntokens = [\"{secret}]\n"),
        // A wrong type: a string where a list is expected.
        format!("database_url = \"sqlite://b.db\"\n[scim]\ntokens = \"{secret}\"\n"),
        // A wrong type for the Snyk token.
        format!("database_url = \"sqlite://b.db\"\n[snyk]\ntoken = [\"{secret}\"]\n"),
    ];
    for text in cases {
        let e = parse(Path::new("bridge.toml"), &text, &Env::new()).expect_err("invalid");
        let shown = e.to_string();
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
        assert!(
            !shown.contains("sup3r"),
            "part of the secret leaked: {shown}"
        );
        assert!(shown.contains("line 3"), "the line is named: {shown}");
    }
}

#[test]
fn safety_rails_are_on_by_default_and_their_keys_are_checked() {
    let c = parse_str(&minimal(), &Env::new()).expect("valid");
    assert_eq!(c.safety, SafetySettings::default());
    assert!(c.safety.breaker);
    assert_eq!(c.safety.removal_delay_secs, 10);
    let text = format!(
        "{}\n[safety]\nmax_removals = 3\nprotected_emails = [\"Boss@Example.com\"]\n",
        minimal()
    );
    let c = parse_str(&text, &Env::new()).expect("valid");
    assert_eq!(c.safety.max_removals, 3);
    assert!(
        c.safety
            .is_protected(&crate::domain::Email::parse("boss@example.com").expect("email"))
    );
    let text = format!(
        "{}\n[safety]\nmax_removal_percent = 150\nwindow_secs = 0\nprotected_emails = [\"nobody\"]\nremoval_delay_secs = 7200\n",
        minimal()
    );
    let keys: Vec<String> = issues_of(&text, &Env::new())
        .into_iter()
        .map(|i| i.key)
        .collect();
    for key in [
        "safety.max_removal_percent",
        "safety.window_secs",
        "safety.protected_emails[0]",
        "safety.removal_delay_secs",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not named in {keys:?}");
    }
}

#[test]
fn the_rate_window_is_read_and_bounded() {
    let with =
        |v: &str| minimal().replace("[snyk]\n", &format!("[snyk]\nrate_window_secs = {v}\n"));
    let c = parse_str(&with("10"), &Env::new()).expect("valid");
    assert_eq!(c.snyk.rate_window_secs, 10);
    for bad in ["0", "3601"] {
        let issues = issues_of(&with(bad), &Env::new());
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].key, "snyk.rate_window_secs");
        assert!(
            issues[0].message.contains("between 1 and 3600"),
            "{issues:?}"
        );
    }
}
