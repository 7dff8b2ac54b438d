//! Comparing a presented secret with a configured one: both are reduced to
//! SHA-256 digests and compared in constant time, so neither the content nor
//! the length of a configured secret leaks through timing. Every token,
//! webhook secret and admin token check goes through here.
//!
//! Pure; never logs, never keeps the secret itself.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The digest of a configured secret, kept instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

impl SecretDigest {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `given` is the secret, in constant time.
    pub fn matches(&self, given: &str) -> bool {
        bool::from(Self::of(given).0.ct_eq(&self.0))
    }
}

/// Whether a presented secret (absent: no) equals the configured one.
pub fn secrets_match(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| SecretDigest::of(expected).matches(g))
}

/// Constant-time equality of two strings of any length (e.g. MACs in hex).
pub fn equal_in_constant_time(a: &str, b: &str) -> bool {
    SecretDigest::of(a).matches(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches() {
        let d = SecretDigest::of("s3cret-token");
        assert!(d.matches("s3cret-token"));
        assert!(!d.matches("s3cret-token "));
        assert!(!d.matches(""));
        assert!(secrets_match(Some("a"), "a"));
        assert!(!secrets_match(None, "a"));
        assert!(!secrets_match(Some("b"), "a"));
        assert!(equal_in_constant_time("abc", "abc"));
        assert!(!equal_in_constant_time("abc", "abcd"));
        assert_eq!(format!("{d:?}"), "SecretDigest(..)");
    }
}
