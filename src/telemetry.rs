//! Logging set-up: `pretty` or `json` lines on stderr, filtered by `RUST_LOG`
//! (default `info`); and the helpers that keep personal data out of logs.
//!
//! Emails reach a log line only through [`email_for_log`] or
//! [`redact_emails`]: unless `log_pii = true`, each email becomes a stable
//! hash (`email:` and the first 12 hex digits of the SHA-256 of the
//! lower-cased address with a fixed prefix), so one person's lines can still
//! be followed without naming them. Secrets are never handed to a log macro.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    // actix-http reports a client's malformed request (a URI over 64 KiB, a
    // broken request line) as ERROR although it is the client's; it answers
    // 400 itself. Without RUST_LOG those lines are left out.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_http::h1::dispatcher=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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

fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-'".contains(c)
}

fn domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".-".contains(c)
}

/// Free text (a planned call, Snyk's message) with every email in it
/// (also percent-encoded, `ann%40example.com`) replaced by its hash, unless
/// `log_pii`.
pub fn redact_emails(text: &str, log_pii: bool) -> Cow<'_, str> {
    if log_pii || !(text.contains('@') || text.contains("%40")) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let at = rest
            .char_indices()
            .find(|(i, c)| *c == '@' || (*c == '%' && rest[*i..].starts_with("%40")));
        let Some((pos, c)) = at else {
            out.push_str(rest);
            break;
        };
        let sep_len = if c == '@' { 1 } else { 3 };
        let before = &rest[..pos];
        let mut start = pos;
        for (i, ch) in before.char_indices().rev() {
            if local_char(ch) {
                start = i;
            } else {
                break;
            }
        }
        let after = &rest[pos + sep_len..];
        let domain_len = after
            .char_indices()
            .find(|(_, ch)| !domain_char(*ch))
            .map_or(after.len(), |(i, _)| i);
        let domain = after[..domain_len].trim_end_matches('.');
        if start == pos || domain.is_empty() {
            out.push_str(&rest[..pos + sep_len]);
            rest = &rest[pos + sep_len..];
            continue;
        }
        out.push_str(&rest[..start]);
        let local = &rest[start..pos];
        out.push_str(&email_hash(&format!("{local}@{domain}")));
        rest = &after[domain.len()..];
    }
    Cow::Owned(out)
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
    fn emails_in_free_text_are_replaced() {
        let h = email_hash("ann.lee@example.com");
        assert_eq!(
            redact_emails("User Ann.Lee@example.com already exists in Snyk", false),
            format!("User {h} already exists in Snyk")
        );
        assert_eq!(
            redact_emails(
                "DELETE /org/o/provision?email=ann.lee%40example.com then",
                false
            ),
            format!("DELETE /org/o/provision?email={h} then")
        );
        assert_eq!(
            redact_emails(
                r#"POST /org/o/provision {"email":"ann.lee@example.com","role":"ADMIN"}"#,
                false
            ),
            format!(r#"POST /org/o/provision {{"email":"{h}","role":"ADMIN"}}"#)
        );
        assert_eq!(
            redact_emails("a@x.com, b@y.com.", false),
            format!("{}, {}.", email_hash("a@x.com"), email_hash("b@y.com"))
        );
        assert_eq!(
            redact_emails("no address @ here", false),
            "no address @ here"
        );
        assert_eq!(redact_emails("ann@x.com", true), "ann@x.com");
    }
}
