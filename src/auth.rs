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

use dashmap::DashMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
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

#[derive(Clone, Debug)]
pub struct Authenticator {
    token_digests: Arc<Vec<[u8; 32]>>,
    jwt: Option<Arc<JwtVerifier>>,
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
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
    pub fn new(settings: &ScimSettings, http: reqwest::Client) -> Result<Self, String> {
        let token_digests = settings
            .tokens
            .iter()
            .map(|t| digest(t.expose_secret()))
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
        let d = digest(token);
        let mut found = None;
        for (i, known) in self.token_digests.iter().enumerate() {
            // Check every token, so timing does not tell which one matched.
            if bool::from(known.ct_eq(&d)) && found.is_none() {
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

const JWKS_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(30);

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
    fn new(s: &JwtSettings, http: reqwest::Client) -> Result<Self, String> {
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
                    return Err("scim.jwt.public_key_pem: not an RSA or EC public key".to_owned());
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

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.leeway = 60;
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
        let claims = serde_json::json!({"iss": iss, "aud": aud, "sub": "entra-provisioning", "exp": now + exp_offset});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .expect("encode")
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
}
