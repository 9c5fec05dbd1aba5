//! OIDC web identity verification for `AssumeRoleWithWebIdentity`.
//!
//! Two halves:
//! - **Pure token checks** — [`verify_token`]`(token, provider, keys, now)`: size limit, JWS
//!   compact structure, `alg` allow list (RS/PS 256/384/512, ES256/384, EdDSA; never `none`
//!   or HMAC), key selection by `kid` with the algorithm family bound to the key's
//!   `kty`/`crv`, signature, `iss` = provider URL, `aud` (or `azp`) ∈ client ids, `exp`
//!   (required), `nbf`/`iat` (±[`CLOCK_SKEW_SECS`]), `sub` (required), integer timestamps.
//!   [`VerifiedToken`] then yields session tags, source identity and condition keys.
//! - **Keys** — [`JwksCache`] over a [`JwksFetcher`] ([`HttpFetcher`] in production):
//!   discovery → `jwks_uri` → JWKS over HTTPS, cached per provider with bounded
//!   `max-age`, rate-limited refetch on unknown `kid`, stale-while-error.
//!
//! Server use:
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), opensts_oidc::OidcError> {
//! use std::sync::Arc;
//! use opensts_oidc::{HttpFetcher, JwksCache, ProviderConfig, peek_issuer};
//!
//! // once, at start-up (`--ca-file` / OPENSTS_CA_FILE):
//! let fetcher = HttpFetcher::from_ca_file(None)?;
//! let cache = Arc::new(JwksCache::new(Arc::new(fetcher)));
//!
//! // per request: find the IAM OIDC provider by the (unverified) issuer…
//! let iss = peek_issuer(token)?; // then look up "<iss without https://>" in the role's account
//! let provider = ProviderConfig::new(iss, vec!["sts.amazonaws.com".into()])
//!     .with_thumbprints(vec![]);
//! // …and verify.
//! let verified = cache.verify(token, &provider).await?;
//! let _keys = verified.condition_keys();
//! let _tags = verified.session_tags()?;
//! let _source_identity = verified.source_identity()?;
//! # Ok(()) }
//! ```
//! Errors map to STS with [`OidcError::aws_error_code`] / [`OidcError::message`].

mod cache;
mod claims;
mod error;
pub mod http;
mod jose;
mod jwks;
mod verify;

pub use cache::{
    CacheConfig, CacheStats, Clock, DEFAULT_CACHE_TTL_SECS, FAILURE_RETRY_SECS, FetchedJwks,
    JwksCache, JwksFetcher, MAX_CACHE_TTL_SECS, MAX_CACHED_PROVIDERS, MIN_CACHE_TTL_SECS,
    STALE_GRACE_SECS, SystemClock, UNKNOWN_KID_REFETCH_SECS,
};
pub use claims::{
    GITHUB_ACTIONS_HOST, GITHUB_CONDITION_CLAIMS, MAX_SESSION_TAGS, SOURCE_IDENTITY_CLAIM,
    SessionTags, TAGS_CLAIM,
};
pub use error::{IDP_COMMUNICATION_MESSAGE, KEY_RETRIEVAL_MESSAGE, OidcError};
pub use http::{HttpFetcher, HttpFetcherConfig};
pub use jose::{
    ALLOWED_ALGORITHMS, MAX_KID_LEN, MAX_TOKEN_LEN, UnverifiedToken, kid_is_plausible, parse_alg,
    parse_unverified, peek_issuer,
};
pub use jsonwebtoken::Algorithm;
pub use jwks::{Jwks, KeyKind, MAX_JWKS_BYTES, MAX_JWKS_KEYS, VerificationKey};
pub use verify::{
    CLOCK_SKEW_SECS, MAX_AUDIENCES, MAX_KEYS_TRIED, MAX_SUBJECT_LEN, ProviderConfig, VerifiedToken,
    condition_prefix, verify_token,
};
