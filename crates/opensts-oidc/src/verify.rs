//! Token verification against a provider and a key set. Pure: no I/O, time is an input.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::{OidcError, sanitize};
use crate::jose::{UnverifiedToken, kid_is_plausible, parse_unverified};
use crate::jwks::{Jwks, VerificationKey};

/// Allowed clock skew, in seconds, for `nbf` and `iat` being in the future. `exp` gets none:
/// a token is expired once `now >= exp`.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// At most this many candidate keys are tried per token (all compatible keys when the token
/// has no `kid`, or several keys sharing its `kid`).
pub const MAX_KEYS_TRIED: usize = 8;

/// Longest accepted `sub` (AWS's `SubjectFromWebIdentityToken` is at most 255 characters).
pub const MAX_SUBJECT_LEN: usize = 255;

/// At most this many `aud` values are considered.
pub const MAX_AUDIENCES: usize = 100;

/// An IAM OIDC provider as the verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The provider URL, e.g. `https://token.actions.githubusercontent.com`. Must equal the
    /// token's `iss` exactly (byte for byte; no normalisation of a trailing `/`).
    pub url: String,
    /// The provider's ClientIDList: the accepted audiences.
    pub client_ids: Vec<String>,
    /// The provider's ThumbprintList (40 hex chars each, any case). Only the key fetcher uses
    /// them; see [`crate::http`].
    pub thumbprints: Vec<String>,
}

impl ProviderConfig {
    /// A provider with no thumbprints.
    pub fn new(url: impl Into<String>, client_ids: Vec<String>) -> Self {
        ProviderConfig {
            url: url.into(),
            client_ids,
            thumbprints: Vec::new(),
        }
    }

    /// Sets the thumbprints.
    pub fn with_thumbprints(mut self, thumbprints: Vec<String>) -> Self {
        self.thumbprints = thumbprints;
        self
    }

    /// The provider URL without `https://`: the prefix of its condition keys and the tail of
    /// its ARN (`arn:aws:iam::<acct>:oidc-provider/<this>`).
    pub fn condition_prefix(&self) -> &str {
        condition_prefix(&self.url)
    }
}

/// `url` without its `https://` scheme.
pub fn condition_prefix(url: &str) -> &str {
    url.strip_prefix("https://").unwrap_or(url)
}

/// A token whose signature, issuer, audience and lifetime have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// `iss` (equal to the provider URL).
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// The client id that matched: the first `aud` value in the provider's list, else `azp`.
    pub audience: String,
    /// All `aud` values, in token order.
    pub audiences: Vec<String>,
    /// `azp`, when present.
    pub azp: Option<String>,
    /// `amr` (a string becomes a one-element list).
    pub amr: Vec<String>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
    /// `exp`.
    pub expires_at: i64,
    /// `iat`, when present.
    pub issued_at: Option<i64>,
    /// `nbf`, when present.
    pub not_before: Option<i64>,
    /// The header's `kid`, when present.
    pub key_id: Option<String>,
    /// The header's `alg`.
    pub algorithm: Algorithm,
}

/// Verifies `token` for `provider` with `keys` at time `now` (Unix seconds).
///
/// Order: structure and `alg` (no key needed) → `iss` equals the provider URL → key by `kid`
/// (or every compatible key when there is no `kid`; at most [`MAX_KEYS_TRIED`])
/// → signature → claims (`aud`/`azp`, `sub`, `exp`, `nbf`, `iat`, `amr`). The algorithm
/// family must match the key's `kty`/`crv` (and the key's own `alg` when it has one), and no
/// HMAC algorithm is ever accepted, so an RSA public key can never be used as an HMAC secret.
pub fn verify_token(
    token: &str,
    provider: &ProviderConfig,
    keys: &Jwks,
    now: i64,
) -> Result<VerifiedToken, OidcError> {
    verify_parsed(parse_unverified(token)?, provider, keys, now)
}

pub(crate) fn verify_parsed(
    t: UnverifiedToken,
    provider: &ProviderConfig,
    keys: &Jwks,
    now: i64,
) -> Result<VerifiedToken, OidcError> {
    check_issuer(&t, provider)?;
    verify_signature(&t, keys)?;
    check_claims(t, provider, now)
}

/// The issuer check alone (so the cache can refuse before fetching anything).
pub(crate) fn check_issuer(
    t: &UnverifiedToken,
    provider: &ProviderConfig,
) -> Result<(), OidcError> {
    match t.claims.get("iss") {
        None => Err(OidcError::MissingClaim("iss")),
        Some(Value::String(s)) if s.is_empty() => Err(OidcError::MissingClaim("iss")),
        Some(Value::String(s)) if *s == provider.url => Ok(()),
        Some(Value::String(s)) => Err(OidcError::IssuerMismatch(sanitize(s, 256))),
        Some(_) => Err(OidcError::InvalidClaim {
            claim: "iss",
            problem: "must be a string",
        }),
    }
}

fn verify_signature(t: &UnverifiedToken, keys: &Jwks) -> Result<(), OidcError> {
    let candidates: Vec<&VerificationKey> = match &t.kid {
        Some(kid) => {
            if !kid_is_plausible(kid) {
                return Err(OidcError::UnknownKey);
            }
            let with_kid: Vec<&VerificationKey> = keys
                .keys()
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect();
            if with_kid.is_empty() {
                return Err(OidcError::UnknownKey);
            }
            let usable: Vec<&VerificationKey> = with_kid
                .into_iter()
                .filter(|k| k.allows(t.alg))
                .take(MAX_KEYS_TRIED)
                .collect();
            if usable.is_empty() {
                return Err(OidcError::KeyAlgorithmMismatch);
            }
            usable
        }
        None => {
            let usable: Vec<&VerificationKey> = keys
                .keys()
                .iter()
                .filter(|k| k.allows(t.alg))
                .take(MAX_KEYS_TRIED)
                .collect();
            if usable.is_empty() {
                return Err(OidcError::UnknownKey);
            }
            usable
        }
    };
    for k in candidates {
        // Defence in depth: the key's family must be the algorithm's family (never HMAC).
        if k.key.family() != t.alg.family() {
            continue;
        }
        if signature_ok(t, k) {
            return Ok(());
        }
    }
    Err(OidcError::InvalidSignature)
}

/// Verifies with jsonwebtoken's aws-lc-rs backend directly (not through its process-wide
/// provider selection, which panics at run time if feature unification ever enables both of
/// its crypto backends).
fn signature_ok(t: &UnverifiedToken, k: &VerificationKey) -> bool {
    match (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory)(&t.alg, &k.key) {
        Ok(v) => v.verify(t.signing_input.as_bytes(), &t.signature).is_ok(),
        Err(_) => false,
    }
}

fn check_claims(
    t: UnverifiedToken,
    provider: &ProviderConfig,
    now: i64,
) -> Result<VerifiedToken, OidcError> {
    let c = &t.claims;
    let issuer = provider.url.clone();

    let subject = match c.get("sub") {
        None => return Err(OidcError::MissingClaim("sub")),
        Some(Value::String(s)) if s.is_empty() => return Err(OidcError::MissingClaim("sub")),
        Some(Value::String(s)) if s.chars().count() > MAX_SUBJECT_LEN => {
            return Err(OidcError::InvalidClaim {
                claim: "sub",
                problem: "must be at most 255 characters",
            });
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(OidcError::InvalidClaim {
                claim: "sub",
                problem: "must be a string",
            });
        }
    };

    let audiences = string_or_list(c.get("aud"), "aud")?;
    if audiences.is_empty() {
        return Err(OidcError::MissingClaim("aud"));
    }
    if audiences.len() > MAX_AUDIENCES {
        return Err(OidcError::InvalidClaim {
            claim: "aud",
            problem: "too many values",
        });
    }
    let azp = match c.get("azp") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(OidcError::InvalidClaim {
                claim: "azp",
                problem: "must be a string",
            });
        }
    };

    // The audience is decided before the lifetime: a token for someone else is refused as
    // such even when it is also expired.
    let audience = audiences
        .iter()
        .find(|a| provider.client_ids.iter().any(|id| id == *a))
        .cloned()
        .or_else(|| {
            azp.as_ref()
                .filter(|z| provider.client_ids.iter().any(|id| id == *z))
                .cloned()
        })
        .ok_or(OidcError::IncorrectAudience)?;

    let expires_at = match int_claim(c, "exp")? {
        Some(e) => e,
        None => return Err(OidcError::MissingClaim("exp")),
    };
    let not_before = int_claim(c, "nbf")?;
    let issued_at = int_claim(c, "iat")?;
    if now >= expires_at {
        return Err(OidcError::Expired);
    }
    if not_before.is_some_and(|nbf| nbf > now.saturating_add(CLOCK_SKEW_SECS)) {
        return Err(OidcError::NotYetValid);
    }
    if issued_at.is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECS)) {
        return Err(OidcError::IssuedInFuture);
    }

    let amr = string_or_list(c.get("amr"), "amr")?;

    Ok(VerifiedToken {
        issuer,
        subject,
        audience,
        audiences,
        azp,
        amr,
        key_id: t.kid,
        algorithm: t.alg,
        claims: t.claims,
        expires_at,
        issued_at,
        not_before,
    })
}

/// A NumericDate that must be a JSON integer (AWS: "timestamps must be integers").
fn int_claim(c: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, OidcError> {
    match c.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => Ok(Some(v)),
            None => Err(OidcError::InvalidClaim {
                claim: name,
                problem: "timestamps must be integers",
            }),
        },
        Some(_) => Err(OidcError::InvalidClaim {
            claim: name,
            problem: "timestamps must be integers",
        }),
    }
}

/// A claim that is a string or an array of strings (absent → empty).
fn string_or_list(v: Option<&Value>, name: &'static str) -> Result<Vec<String>, OidcError> {
    let bad = OidcError::InvalidClaim {
        claim: name,
        problem: "must be a string or an array of strings",
    };
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad.clone()))
            .collect(),
        Some(_) => Err(bad),
    }
}
