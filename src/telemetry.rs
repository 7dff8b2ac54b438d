//! Logging set-up: `pretty` or `json` lines on stderr, filtered by `RUST_LOG`
//! (default `info`); and the helpers that keep personal data out of logs.
//!
//! Emails reach a log line only as a [`LogEmail`] (or [`email_for_log`]), or
//! replaced in a text about a known user by [`redact_known`]: unless
//! `log_pii = true`, each becomes a stable hash (`email:` and the first 12
//! hex digits of the SHA-256 of the lower-cased address with a fixed prefix),
//! so one person's lines can still be followed without naming them. Free
//! text is never searched for emails. Secrets are never handed to a log macro.

use std::borrow::Cow;
use std::io::IsTerminal;

use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber; a second call is a no-op. `pretty` colours
/// its lines only when stderr is a terminal: written to a pipe or a file (a
/// container's log driver, journald, `2> file`) they carry no ANSI escapes.
pub fn init(format: LogFormat) {
    // actix-http reports a client's malformed request (a URI over 64 KiB, a
    // broken request line) as ERROR although it is the client's; it answers
    // 400 itself. Without RUST_LOG those lines are left out.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_http::h1::dispatcher=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The stable pseudonym of an email: `email:` + 12 hex digits.
pub fn email_hash(email: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"snyk-scim-bridge/email/v1:");
    h.update(email.trim().to_lowercase().as_bytes());
    let digest = h.finalize();
    format!("email:{}", hex::encode(&digest[..6]))
}

/// An email as it may appear in a log line.
pub fn email_for_log(email: &str, log_pii: bool) -> String {
    if log_pii {
        email.to_owned()
    } else {
        email_hash(email)
    }
}

/// An email put into a log field or message: renders as the address with
/// `log_pii`, else as its stable hash. Every email that reaches a log line
/// goes through this type (or [`redact_known`]); nothing is searched for
/// emails after formatting.
#[derive(Clone, Copy)]
pub struct LogEmail<'a> {
    email: &'a str,
    log_pii: bool,
}

impl<'a> LogEmail<'a> {
    pub fn new(email: &'a str, log_pii: bool) -> Self {
        Self { email, log_pii }
    }
}

impl std::fmt::Display for LogEmail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.log_pii {
            f.write_str(self.email)
        } else {
            f.write_str(&email_hash(self.email))
        }
    }
}

impl std::fmt::Debug for LogEmail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `text` (a planned call, Snyk's message about this user) with a *known*
/// email, as written and percent-encoded, replaced by its hash (unless
/// `log_pii`). Case-insensitive; the email comes from the record the text is
/// about, never from looking at the text.
pub fn redact_known<'t>(text: &'t str, email: &str, log_pii: bool) -> Cow<'t, str> {
    if log_pii || email.is_empty() {
        return Cow::Borrowed(text);
    }
    let hash = email_hash(email);
    let mut out = Cow::Borrowed(text);
    // As written, as a query parameter, and inside a JSON string.
    let encoded: String = url_encode(email);
    let json = serde_json::to_string(email).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    for needle in [email.to_owned(), encoded, json] {
        if let Some(replaced) = replace_ci(&out, &needle, &hash) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

/// The email as `application/x-www-form-urlencoded` writes it (`@` as `%40`).
fn url_encode(email: &str) -> String {
    let mut out = String::new();
    for b in email.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `text` with every case-insensitive occurrence of `needle` replaced;
/// `None` when there is none.
fn replace_ci(text: &str, needle: &str, with: &str) -> Option<String> {
    let want: Vec<char> = needle.chars().flat_map(char::to_lowercase).collect();
    if want.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    let mut rest = text;
    'scan: while !rest.is_empty() {
        // Does `rest` start with the needle, compared case-insensitively?
        let mut lowered = Vec::with_capacity(want.len());
        for (i, c) in rest.char_indices() {
            lowered.extend(c.to_lowercase());
            if lowered.len() >= want.len() {
                if lowered == want {
                    out.push_str(with);
                    found = true;
                    rest = &rest[i + c.len_utf8()..];
                    continue 'scan;
                }
                break;
            }
            if lowered[..] != want[..lowered.len()] {
                break;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_case_insensitive() {
        let a = email_hash("Ann.Lee@Example.com");
        assert_eq!(a, email_hash("ann.lee@example.com"));
        assert!(a.starts_with("email:") && a.len() == 6 + 12, "{a}");
        assert_ne!(a, email_hash("ann.lee@example.org"));
        assert_eq!(
            email_for_log("ann@x.com", true),
            "ann@x.com",
            "log_pii = true keeps the address"
        );
        assert_eq!(email_for_log("ann@x.com", false), email_hash("ann@x.com"));
    }

    #[test]
    fn known_emails_are_replaced_wherever_they_appear() {
        for email in [
            "ann.lee@example.com",
            "δοκιμή@example.com",
            "josé.garcía@example.com",
            "\"quoted local\"@example.com",
            "a!b/c#d@example.com",
        ] {
            let h = email_hash(email);
            let shown = LogEmail::new(email, false).to_string();
            assert_eq!(shown, h);
            let said = format!("User {} already exists in Snyk", email.to_uppercase());
            let out = redact_known(&said, email, false);
            assert!(!out.contains(&email.to_uppercase()), "{out}");
            let call = format!("DELETE /org/o/provision?email={}", url_encode(email));
            let out = redact_known(&call, email, false);
            assert!(out.ends_with(&h), "{email}: {out}");
            let body = format!(
                "POST /org/o/provision {}",
                serde_json::json!({"email": email})
            );
            let out = redact_known(&body, email, false);
            assert!(out.contains(&h), "{email}: {out}");
            assert!(!out.contains("example.com"), "{email}: {out}");
        }
        assert_eq!(LogEmail::new("ann@x.com", true).to_string(), "ann@x.com");
        assert_eq!(redact_known("ann@x.com", "ann@x.com", true), "ann@x.com");
        assert_eq!(
            redact_known("nothing here", "ann@x.com", false),
            "nothing here"
        );
    }

    proptest::proptest! {
        #[test]
        fn replacing_a_known_email_never_panics_and_leaves_no_copy(
            prefix in "\\PC{0,12}",
            suffix in "\\PC{0,12}",
            local in "[a-zA-Z0-9éÉßİı.!#]{1,10}",
        ) {
            let email = format!("{local}@example.com");
            let text = format!("{prefix}{}{suffix}", email.to_uppercase());
            let out = redact_known(&text, &email, false);
            let lowered: String = out.chars().flat_map(char::to_lowercase).collect();
            let needle: String = email.chars().flat_map(char::to_lowercase).collect();
            proptest::prop_assert!(!lowered.contains(&needle), "{out}");
        }
    }
}
