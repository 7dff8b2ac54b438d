//! Who is calling: static bearer tokens and, optionally, JWT bearer tokens
//! (Entra ID's OAuth mode).
//!
//! Static tokens are compared in constant time through their SHA-256 digests
//! (so neither content nor length leaks through timing). JWTs are checked for
//! signature, issuer, audience and expiry; keys come from a JWKS URL (cached,
//! refreshed when a token names an unknown `kid`, at most every 30 seconds),
//! an inline PEM key, or an HS256 secret. This module never logs a token, and
//! its errors never contain one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::secret::SecretDigest;
use dashmap::DashMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;

use tokio::sync::Mutex;

use crate::config::{JwtKey, JwtSettings, ScimSettings};

/// An authenticated caller, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The n-th configured static token (0-based), never the token itself.
    StaticToken(usize),
    /// A JWT's `sub` claim.
    Jwt { subject: String },
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StaticToken(i) => write!(f, "token#{}", i + 1),
            Self::Jwt { subject } => write!(f, "jwt:{subject}"),
        }
    }
}

impl Principal {
    /// The principal in a log line: a JWT subject that is an email address
    /// is shown as its hash unless `log_pii`.
    pub fn for_log(&self, log_pii: bool) -> String {
        match self {
            Self::Jwt { subject } if subject.contains('@') => {
                format!("jwt:{}", crate::telemetry::LogEmail::new(subject, log_pii))
            }
            other => other.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token was sent")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
    #[error("the JWT was rejected: {0}")]
    JwtRejected(String),
    #[error("the JWT signing keys could not be fetched")]
    KeysUnavailable,
}

/// Why the authenticator cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("scim.jwt.public_key_pem: not an RSA or EC public key")]
    NotAPublicKey,
}

/// The clock difference tolerated on `exp` and `nbf` (seconds).
pub const JWT_LEEWAY_SECS: u64 = 60;

#[derive(Clone, Debug)]
pub struct Authenticator {
    token_digests: Arc<Vec<SecretDigest>>,
    jwt: Option<Arc<JwtVerifier>>,
}

/// The token of an `Authorization: Bearer ...` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Authenticator {
    pub fn new(settings: &ScimSettings, http: reqwest::Client) -> Result<Self, AuthSetupError> {
        let token_digests = settings
            .tokens
            .iter()
            .map(|t| SecretDigest::of(t.expose_secret()))
            .collect();
        let jwt = settings
            .jwt
            .as_ref()
            .map(|j| JwtVerifier::new(j, http).map(Arc::new))
            .transpose()?;
        Ok(Self {
            token_digests: Arc::new(token_digests),
            jwt,
        })
    }

    /// Check an `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header.and_then(bearer_token).ok_or(AuthError::Missing)?;
        let mut found = None;
        for (i, known) in self.token_digests.iter().enumerate() {
            // Check every token, so timing does not tell which one matched.
            if known.matches(token) && found.is_none() {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            return Ok(Principal::StaticToken(i));
        }
        match &self.jwt {
            Some(v) if token.matches('.').count() == 2 => v.verify(token).await,
            _ => Err(AuthError::Invalid),
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    oid: Option<String>,
}

#[cfg(not(test))]
const JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);
#[cfg(test)]
const JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::ZERO;

#[derive(Debug)]
struct JwtVerifier {
    issuer: String,
    audience: String,
    source: KeySource,
}

#[derive(Debug)]
enum KeySource {
    Static(Box<DecodingKey>, Algorithm),
    Jwks {
        url: String,
        http: reqwest::Client,
        keys: DashMap<String, (DecodingKey, Algorithm)>,
        last_fetch: Mutex<Option<Instant>>,
    },
}

impl JwtVerifier {
    fn new(s: &JwtSettings, http: reqwest::Client) -> Result<Self, AuthSetupError> {
        let source = match &s.key {
            JwtKey::Hs256Secret(secret) => KeySource::Static(
                Box::new(DecodingKey::from_secret(secret.expose_secret().as_bytes())),
                Algorithm::HS256,
            ),
            JwtKey::PublicKeyPem(pem) => {
                if let Ok(k) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                    KeySource::Static(Box::new(k), Algorithm::RS256)
                } else if let Ok(k) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                    KeySource::Static(Box::new(k), Algorithm::ES256)
                } else {
                    return Err(AuthSetupError::NotAPublicKey);
                }
            }
            JwtKey::JwksUrl(url) => KeySource::Jwks {
                url: url.clone(),
                http,
                keys: DashMap::new(),
                last_fetch: Mutex::new(None),
            },
        };
        Ok(Self {
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            source,
        })
    }

    /// `exp`, `iss` and `aud` must be present and right; `nbf`, when
    /// present, must have passed. Clocks may differ by up to `JWT_LEEWAY_SECS`.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.validate_exp = true;
        v.validate_nbf = true;
        v.leeway = JWT_LEEWAY_SECS;
        v
    }

    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (key, alg) = match &self.source {
            KeySource::Static(k, alg) => ((**k).clone(), *alg),
            KeySource::Jwks { .. } => self.jwks_key(header.kid.as_deref()).await?,
        };
        if header.alg != alg {
            return Err(AuthError::JwtRejected(format!(
                "algorithm {:?} is not the key's {:?}",
                header.alg, alg
            )));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation(alg))
            .map_err(|e| AuthError::JwtRejected(format!("{:?}", e.kind())))?;
        let subject = data
            .claims
            .sub
            .or(data.claims.oid)
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Principal::Jwt { subject })
    }

    async fn jwks_key(&self, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), AuthError> {
        let KeySource::Jwks {
            url,
            http,
            keys,
            last_fetch,
        } = &self.source
        else {
            return Err(AuthError::KeysUnavailable);
        };
        let kid = kid.ok_or_else(|| AuthError::JwtRejected("the token names no kid".into()))?;
        if let Some(k) = keys.get(kid) {
            return Ok(k.value().clone());
        }
        {
            let mut last = last_fetch.lock().await;
            let due = last.is_none_or(|t| t.elapsed() >= JWKS_REFRESH_MIN_INTERVAL);
            if due {
                *last = Some(Instant::now());
                let set = fetch_jwks(http, url).await?;
                keys.clear();
                for jwk in &set.keys {
                    let (Some(id), Ok(key)) =
                        (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
                    else {
                        continue;
                    };
                    let alg = jwk
                        .common
                        .key_algorithm
                        .and_then(|a| a.to_string().parse::<Algorithm>().ok())
                        .unwrap_or(Algorithm::RS256);
                    keys.insert(id, (key, alg));
                }
                tracing::info!(keys = keys.len(), "fetched JWT signing keys");
            }
        }
        keys.get(kid).map(|k| k.value().clone()).ok_or_else(|| {
            AuthError::JwtRejected("the token's kid is not among the signing keys".into())
        })
    }
}

async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<JwkSet, AuthError> {
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "fetching the JWKS failed");
            AuthError::KeysUnavailable
        })?;
    if !resp.status().is_success() {
        tracing::warn!(status = %resp.status(), "the JWKS URL answered with an error");
        return Err(AuthError::KeysUnavailable);
    }
    resp.json::<JwkSet>().await.map_err(|e| {
        tracing::warn!(error = %e, "the JWKS document could not be parsed");
        AuthError::KeysUnavailable
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(tokens: &[&str], jwt: Option<JwtSettings>) -> ScimSettings {
        ScimSettings {
            tokens: tokens
                .iter()
                .map(|t| SecretString::from(t.to_string()))
                .collect(),
            jwt,
            max_body_bytes: 1 << 20,
            max_results: 100,
            bulk_max_operations: 10,
        }
    }

    #[tokio::test]
    async fn static_tokens_any_of_several() {
        let a = Authenticator::new(
            &settings(&["first-token-aaaaaaaa", "second-token-bbbbbbb"], None),
            reqwest::Client::new(),
        )
        .expect("auth");
        assert_eq!(
            a.authenticate(Some("Bearer second-token-bbbbbbb")).await,
            Ok(Principal::StaticToken(1))
        );
        assert_eq!(
            a.authenticate(Some("bearer first-token-aaaaaaaa")).await,
            Ok(Principal::StaticToken(0))
        );
        assert_eq!(
            a.authenticate(Some("Bearer nope")).await,
            Err(AuthError::Invalid)
        );
        assert_eq!(
            a.authenticate(Some("first-token-aaaaaaaa")).await,
            Err(AuthError::Missing)
        );
        assert_eq!(a.authenticate(None).await, Err(AuthError::Missing));
    }

    fn hs_settings() -> JwtSettings {
        JwtSettings {
            issuer: "https://sts.windows.net/tenant/".into(),
            audience: "8adf8e6e-67b2-4cf2-a259-e3dc5476c621".into(),
            key: JwtKey::Hs256Secret(SecretString::from(
                "0123456789abcdef0123456789abcdef".to_string(),
            )),
        }
    }

    fn hs_token(iss: &str, aud: &str, exp_offset: i64) -> String {
        let now = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp();
        hs_token_with(
            serde_json::json!({"iss": iss, "aud": aud, "sub": "entra-provisioning", "exp": now + exp_offset}),
        )
    }

    #[tokio::test]
    async fn jwt_checks_issuer_audience_and_expiry() {
        let a = Authenticator::new(&settings(&[], Some(hs_settings())), reqwest::Client::new())
            .expect("auth");
        let aud = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";
        let iss = "https://sts.windows.net/tenant/";
        let ok = hs_token(iss, aud, 600);
        assert_eq!(
            a.authenticate(Some(&format!("Bearer {ok}"))).await,
            Ok(Principal::Jwt {
                subject: "entra-provisioning".into()
            })
        );
        for bad in [
            hs_token("https://evil/", aud, 600),
            hs_token(iss, "other", 600),
            hs_token(iss, aud, -3600),
        ] {
            let r = a.authenticate(Some(&format!("Bearer {bad}"))).await;
            assert!(matches!(r, Err(AuthError::JwtRejected(_))), "{r:?}");
        }
    }

    fn hs_token_with(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .expect("encode")
    }

    #[tokio::test]
    async fn jwt_requires_exp_iss_and_aud_and_honours_nbf() {
        let a = Authenticator::new(&settings(&[], Some(hs_settings())), reqwest::Client::new())
            .expect("auth");
        let aud = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";
        let iss = "https://sts.windows.net/tenant/";
        let now = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp();
        let ok = hs_token_with(
            serde_json::json!({"iss": iss, "aud": aud, "sub": "s", "exp": now + 600, "nbf": now - 10}),
        );
        assert!(a.authenticate(Some(&format!("Bearer {ok}"))).await.is_ok());
        let within_leeway = hs_token_with(
            serde_json::json!({"iss": iss, "aud": aud, "sub": "s", "exp": now + 600, "nbf": now + 30}),
        );
        assert!(
            a.authenticate(Some(&format!("Bearer {within_leeway}")))
                .await
                .is_ok()
        );
        for (what, claims) in [
            (
                "nbf an hour ahead",
                serde_json::json!({"iss": iss, "aud": aud, "sub": "s", "exp": now + 7200, "nbf": now + 3600}),
            ),
            (
                "no iss",
                serde_json::json!({"aud": aud, "sub": "s", "exp": now + 600}),
            ),
            (
                "no aud",
                serde_json::json!({"iss": iss, "sub": "s", "exp": now + 600}),
            ),
            (
                "no exp",
                serde_json::json!({"iss": iss, "aud": aud, "sub": "s"}),
            ),
        ] {
            let t = hs_token_with(claims);
            let r = a.authenticate(Some(&format!("Bearer {t}"))).await;
            assert!(matches!(r, Err(AuthError::JwtRejected(_))), "{what}: {r:?}");
        }
    }

    /// A 2048-bit RSA key made for these tests only.
    const TEST_RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDpGo7wdZ13i7gj\nskzV9bi/1BDhytgxxQ+nH8UYnERJLTvchv4izl0RGO/PUA3DnDmd2LN8C4Urpe4q\nbs+bmh+/Ir4z+QMjcBJ5RfDn8YGl0dBNsCmtvd4BktL8UlTXhzeVTc/Cu+ESrSC1\n89evL/bTYlGkku6XRBRFn//2lT6yfS0KnEaJcSQG9ErQgUaIneg8j0SE6WPT/bF8\nJj/GtQLkB2jmTR5zgnbr42CQ37C/zuQzG5gQGINjru+ZKc3HuyQJMh1zsmUwQzkf\nayFbtKPfamVHkMyZ/2EUDNoiFJobZfJc1SmNpT/QGZak4TWxoEeX/UwEUUsdmDkk\nkdidvORpAgMBAAECggEADDikPd8svlPI97YlaSJU6VnI+M2VwCZAx9ZWkw++VMfW\nV52MPW7sWjUgfZII5rSOIMR3xI0mEj/E2Nyubc4K1A6SQk9P5s+9aDZOhxqWXYc+\nkJQn20AVH6f+/9OhNxuTwnQt7FvFVSFWkbOTH1A4dKS2+xXpBG1BUtUsqlTw0JK9\n6DHi54UeVKwS+rJbIhUg8k0hOD/js8VGNSftrBvefG1FX057QZWTKZFJm/azA4R1\n4JCo6P95m8zT5YixRjrGTxvI9ODC6EI3xrSqfM9SKfgxdSXv2+FFtxYzsMCYrqm+\nPk+BLJdfbwvzHLZBnmdCRRQAxdXKwa8/bUbfh2vYAQKBgQD1tp2dbk2qJi/n4zwa\n/fV2qYO9ySnBa6ArT0+dWj4R3JU9OGNcE6E616p4vK6mjyG/EAnYAZwYzvGcb4kA\nh9ue5JfnBHDiEv+Wl3UU0l5SUmlxaOEgN3sD5y4Zuso0GSgln/g0JVWMeLibhVPx\na59jOsWhP0YxbUwi9Q3qdsK3KQKBgQDy3M1BloR+NwOXxKPN7i1u70beP7BwXZBW\nm9dRW/VoNyW+QzuGK13AdtVtjAwpUTMmjPnMczA6Dr8itQ7cOxnkXo96ocqeKIFS\nl7kp7jtGbYkw3T3BHGXY08Sd6TTVhhV/2Cabsi4Ftn5S/Xm4wCBunukmT7rjfONm\nBCGF+NSrQQKBgQDEv5ZToihEL1G6z4SoZGQxwSjBRhvOShy1sUshx0neSY+its0w\nxHMcx+YzyXnb2s59zBzlvtw8LTDgP5snNqIQCCDuFetBy06nSd2xb4WhS2YtLnrd\nri8tf+a1KZGRx/cSsZYwQxjOYzgHJ+qAbNnyvfPT2vOczlThxPGApdniiQKBgG9t\neUtPeQjDywU2NoXEctoENLrB8/0KILBsHjV5ALbJHqsWA9iCSyiEHVZ+vBG07MgS\nRIZWj1kD7RRKiD/pae7Kp//2/ZTlNrijXlRrtoyQszJVQAE7O0tpljtxhUk2lOSs\nUsJ61PzQB1OicteeZwL6LDTkvfWkFl13Jb5nNYRBAoGBAJMWeLgzJJokxJeKM+5I\n5awNMrseaD6CxZ4jKdo5gsdwG4QMw94NMWJ64cVj6RyIFMgf9lJmSTEVeki5tvYA\nTxzI0x/LNwk8b8oLDEy0WVZDezTYkBhrDKmZQA9vL02KlKnEQNrRjf6gA+UxzcjO\nLN1hNHOL3VAabeuutXWHdSFN\n-----END PRIVATE KEY-----";
    const TEST_RSA_N: &str = "6RqO8HWdd4u4I7JM1fW4v9QQ4crYMcUPpx_FGJxESS073Ib-Is5dERjvz1ANw5w5ndizfAuFK6XuKm7Pm5ofvyK-M_kDI3ASeUXw5_GBpdHQTbAprb3eAZLS_FJU14c3lU3PwrvhEq0gtfPXry_202JRpJLul0QURZ__9pU-sn0tCpxGiXEkBvRK0IFGiJ3oPI9EhOlj0_2xfCY_xrUC5Ado5k0ec4J26-NgkN-wv87kMxuYEBiDY67vmSnNx7skCTIdc7JlMEM5H2shW7Sj32plR5DMmf9hFAzaIhSaG2XyXNUpjaU_0BmWpOE1saBHl_1MBFFLHZg5JJHYnbzkaQ";

    fn rs_token(kid: &str, iss: &str) -> String {
        let now = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp();
        let claims =
            serde_json::json!({"iss": iss, "aud": "aud-1", "sub": "svc", "exp": now + 600});
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_RSA_PEM.as_bytes()).expect("pem");
        jsonwebtoken::encode(&header, &claims, &key).expect("encode")
    }

    fn jwks(kids: &[&str]) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = kids
            .iter()
            .map(|k| serde_json::json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k, "n": TEST_RSA_N, "e": "AQAB"}))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    #[tokio::test]
    async fn jwks_keys_are_cached_and_refreshed_on_an_unknown_kid() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let settings = JwtSettings {
            issuer: "https://issuer/".into(),
            audience: "aud-1".into(),
            key: JwtKey::JwksUrl(format!("{}/keys", server.uri())),
        };
        let a =
            Authenticator::new(&settings_with_jwt(settings), reqwest::Client::new()).expect("auth");
        // First the IdP signs with k1 only.
        let first = Mock::given(method("GET"))
            .and(path("/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["k1"])))
            .expect(1)
            .mount_as_scoped(&server)
            .await;
        let t1 = rs_token("k1", "https://issuer/");
        for _ in 0..3 {
            assert_eq!(
                a.authenticate(Some(&format!("Bearer {t1}"))).await,
                Ok(Principal::Jwt {
                    subject: "svc".into()
                })
            );
        }
        drop(first); // verifies exactly one fetch for three tokens: the keys are cached
        // The IdP rotates to k2: an unknown kid refreshes the set.
        Mock::given(method("GET"))
            .and(path("/keys"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["k1", "k2"])))
            .expect(1)
            .mount(&server)
            .await;
        let t2 = rs_token("k2", "https://issuer/");
        assert_eq!(
            a.authenticate(Some(&format!("Bearer {t2}"))).await,
            Ok(Principal::Jwt {
                subject: "svc".into()
            })
        );
        // Wrong issuer with a good key: rejected.
        let bad = rs_token("k2", "https://evil/");
        assert!(matches!(
            a.authenticate(Some(&format!("Bearer {bad}"))).await,
            Err(AuthError::JwtRejected(_))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_jwks_rejects_the_token() {
        let settings = JwtSettings {
            issuer: "https://issuer/".into(),
            audience: "aud-1".into(),
            key: JwtKey::JwksUrl("http://127.0.0.1:9/keys".into()),
        };
        let a =
            Authenticator::new(&settings_with_jwt(settings), reqwest::Client::new()).expect("auth");
        let t = rs_token("k1", "https://issuer/");
        assert_eq!(
            a.authenticate(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::KeysUnavailable)
        );
    }

    #[tokio::test]
    async fn an_inline_pem_public_key_verifies_rs256() {
        let settings = JwtSettings {
            issuer: "https://issuer/".into(),
            audience: "aud-1".into(),
            key: JwtKey::PublicKeyPem(TEST_RSA_PUBLIC_PEM.into()),
        };
        let a =
            Authenticator::new(&settings_with_jwt(settings), reqwest::Client::new()).expect("auth");
        let t = rs_token("any", "https://issuer/");
        assert_eq!(
            a.authenticate(Some(&format!("Bearer {t}"))).await,
            Ok(Principal::Jwt {
                subject: "svc".into()
            })
        );
    }

    fn settings_with_jwt(j: JwtSettings) -> ScimSettings {
        settings(&[], Some(j))
    }

    const TEST_RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA6RqO8HWdd4u4I7JM1fW4\nv9QQ4crYMcUPpx/FGJxESS073Ib+Is5dERjvz1ANw5w5ndizfAuFK6XuKm7Pm5of\nvyK+M/kDI3ASeUXw5/GBpdHQTbAprb3eAZLS/FJU14c3lU3PwrvhEq0gtfPXry/2\n02JRpJLul0QURZ//9pU+sn0tCpxGiXEkBvRK0IFGiJ3oPI9EhOlj0/2xfCY/xrUC\n5Ado5k0ec4J26+NgkN+wv87kMxuYEBiDY67vmSnNx7skCTIdc7JlMEM5H2shW7Sj\n32plR5DMmf9hFAzaIhSaG2XyXNUpjaU/0BmWpOE1saBHl/1MBFFLHZg5JJHYnbzk\naQIDAQAB\n-----END PUBLIC KEY-----";
}
