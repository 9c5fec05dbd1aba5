//! OpenSTS as an OpenID Connect issuer: outbound web identity federation
//! (`GetWebIdentityToken`). See `docs/outbound-federation.md` for the operator's view and the
//! claim set.
//!
//! * **Issuer per account**: `<issuer base URL>/accounts/<ACCOUNT>`, where the base URL is
//!   `--issuer-base-url` / `OPENSTS_ISSUER_BASE_URL` (default `http[s]://<listen address>`).
//!   Discovery is served at `<issuer>/.well-known/openid-configuration`, the key set at
//!   `<issuer>/.well-known/jwks.json` (public, no authentication, `Cache-Control: public`),
//!   for every account that has enabled the feature at least once (IAM
//!   `EnableOutboundWebIdentityFederation`; the per-account switch is the entity
//!   [`KIND_ACCOUNT_SETTINGS`]/[`OUTBOUND_FEDERATION_SETTING`]).
//! * **Signing keys** are server-wide, one key ring per algorithm ([`JWKS_RS256_PURPOSE`]:
//!   RSA 2048 / RS256, [`JWKS_ES384_PURPOSE`]: P-384 / ES384), generated with aws-lc-rs on
//!   first use, stored as PKCS#8 sealed by the master key (AAD binds purpose and key id) in the
//!   store's key ring table. The newest non-retired key of a ring signs; rotation
//!   ([`rotate_jwks_keys`], `opensts keys rotate --purpose jwks`) adds a key and retires the
//!   others. A retired key stays in the JWKS until every token it can have signed has
//!   expired ([`MAX_TOKEN_DURATION_SECS`] plus the key grace of [`crate::keys`]) and is then
//!   pruned from the store.
//! * **Tokens** are compact JWS (`alg`, `kid`, `typ: JWT`) signed with aws-lc-rs directly
//!   (RS256 = RSASSA-PKCS1-v1_5/SHA-256, ES384 = ECDSA P-384/SHA-384 in the fixed `r‖s`
//!   form), see [`sign_jwt`].
//! * **Own tokens back in**: [`LocalIssuerFetcher`] resolves this server's own issuer URLs
//!   from the in-memory key set, so `AssumeRoleWithWebIdentity` accepts tokens from
//!   `GetWebIdentityToken` when the account registers its issuer URL as an IAM OIDC provider
//!   (which requires an `https://` issuer base URL, as IAM accepts only HTTPS providers).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use opensts_core::crypto::MasterKey;
use opensts_oidc::{FetchedJwks, Jwks, JwksFetcher, OidcError, ProviderConfig};
use opensts_store::{KeyringRecord, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::app::StartError;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::keys::RotateReport;
use crate::state::{AppState, Clock};

/// Key-ring purpose of the RS256 signing keys (RSA 2048).
pub const JWKS_RS256_PURPOSE: &str = "jwks-rs256";
/// Key-ring purpose of the ES384 signing keys (ECDSA P-384).
pub const JWKS_ES384_PURPOSE: &str = "jwks-es384";
/// Both signing-key rings.
pub const JWKS_PURPOSES: &[&str] = &[JWKS_RS256_PURPOSE, JWKS_ES384_PURPOSE];
/// `--purpose jwks`: both signing-key rings.
pub const JWKS_PURPOSE_ALIAS: &str = "jwks";

/// Longest token lifetime (`DurationSeconds` ≤ 3600): how long a retired key must stay
/// published.
pub const MAX_TOKEN_DURATION_SECS: i64 = 3600;
/// `Cache-Control: max-age` of the JWKS. Rotation publishes the new key and signs with it at
/// once; verifiers holding a cached set refetch on the unknown `kid` (as JWT libraries do).
pub const JWKS_MAX_AGE_SECS: i64 = 300;
/// `Cache-Control: max-age` of the discovery document (it changes only with the base URL).
pub const DISCOVERY_MAX_AGE_SECS: i64 = 3600;

/// Entity kind of per-account settings documents.
pub const KIND_ACCOUNT_SETTINGS: &str = "account-settings";
/// Name of the outbound web identity federation switch among an account's settings.
pub const OUTBOUND_FEDERATION_SETTING: &str = "outbound-web-identity-federation";
/// The claim under which AWS nests its identity and context claims.
pub const AWS_CLAIMS_NAMESPACE: &str = "https://sts.amazonaws.com/";
/// Path of an account's issuer below the base URL: `/accounts/<ACCOUNT>`.
pub const ISSUER_ACCOUNTS_PATH: &str = "/accounts/";

/// Associated-data prefix binding a sealed signing key to its ring and id.
const KEY_AAD_PREFIX: &str = "opensts-jwks-key-v1";
/// How many times generating a first key / rotating retries when another process inserted
/// the same key id first.
const KEY_INSERT_ATTEMPTS: usize = 5;

/// A JWS algorithm this issuer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Es384,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Rs256, SigningAlg::Es384];

    /// `RS256` / `ES384` (case-sensitive, as JOSE names are).
    pub fn parse(s: &str) -> Option<SigningAlg> {
        match s {
            "RS256" => Some(SigningAlg::Rs256),
            "ES384" => Some(SigningAlg::Es384),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es384 => "ES384",
        }
    }

    /// The key ring holding this algorithm's keys.
    pub fn purpose(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => JWKS_RS256_PURPOSE,
            SigningAlg::Es384 => JWKS_ES384_PURPOSE,
        }
    }

    pub fn from_purpose(purpose: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.purpose() == purpose)
    }
}

/// Whether `purpose` is one of the signing-key rings (their material is a sealed PKCS#8
/// private key, not a data key: [`crate::app::load_keyring`] cannot open them).
pub fn is_jwks_purpose(purpose: &str) -> bool {
    SigningAlg::from_purpose(purpose).is_some()
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// One signing key: private half, public JWK, ring bookkeeping.
pub struct SigningKey {
    pub alg: SigningAlg,
    pub key_id: u32,
    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub kid: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    signer: Signer,
    /// The public JWK as published.
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("key_id", &self.key_id)
            .field("kid", &self.kid)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 thumbprint over the required members in lexicographic order.
fn thumbprint(canonical_json: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical_json.as_bytes()).as_ref())
}

impl SigningKey {
    /// Parse a PKCS#8 private key of `alg` and derive its public JWK and `kid`.
    pub fn from_pkcs8(
        alg: SigningAlg,
        key_id: u32,
        created_at: i64,
        retired_at: Option<i64>,
        pkcs8: &[u8],
    ) -> Result<SigningKey, String> {
        let (signer, kid, jwk) = match alg {
            SigningAlg::Rs256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| format!("RSA key: {e}"))?;
                let pk = kp.public_key();
                let n = b64(pk.modulus().big_endian_without_leading_zero());
                let e = b64(pk.exponent().big_endian_without_leading_zero());
                let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
                let jwk =
                    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
                (Signer::Rsa(kp), kid, jwk)
            }
            SigningAlg::Es384 => {
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8)
                    .map_err(|e| format!("P-384 key: {e}"))?;
                // Uncompressed point: 0x04 | x (48) | y (48).
                let point = kp.public_key().as_ref();
                let (x, y) = match point.split_first() {
                    Some((4, xy)) if xy.len() == 96 => xy.split_at(48),
                    _ => return Err("P-384 public key is not an uncompressed point".into()),
                };
                let (x, y) = (b64(x), b64(y));
                let kid = thumbprint(&format!(
                    r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#
                ));
                let jwk = json!({"kty": "EC", "use": "sig", "alg": "ES384", "kid": kid, "crv": "P-384", "x": x, "y": y});
                (Signer::Ec(kp), kid, jwk)
            }
        };
        Ok(SigningKey {
            alg,
            key_id,
            kid,
            created_at,
            retired_at,
            signer,
            jwk,
        })
    }

    /// The public JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Whether the key is in the published set at `now`: active, or retired less than
    /// [`crate::keys::removable_at`] ago (the longest token it signed has expired by then).
    pub fn is_published(&self, now: i64) -> bool {
        match self.retired_at {
            None => true,
            Some(t) => now < crate::keys::removable_at(self.alg.purpose(), t),
        }
    }

    /// Raw JWS signature over `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Signer::Ec(kp) => kp
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
    }
}

/// A fresh private key of `alg` as PKCS#8 (CPU-heavy for RSA: call off the async runtime).
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Zeroizing<Vec<u8>>, String> {
    match alg {
        SigningAlg::Rs256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| "RSA key generation failed".to_string())?;
            let der = <RsaKeyPair as AsDer<Pkcs8V1Der<'static>>>::as_der(&kp)
                .map_err(|_| "RSA key serialization failed".to_string())?;
            Ok(Zeroizing::new(der.as_ref().to_vec()))
        }
        SigningAlg::Es384 => {
            let doc = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P384_SHA384_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| "P-384 key generation failed".to_string())?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
    }
}

/// Compact JWS of `claims` signed by `key`: `b64(header).b64(payload).b64(signature)`.
pub fn sign_jwt(key: &SigningKey, claims: &Value) -> Result<String, String> {
    let header = json!({"alg": key.alg.as_str(), "kid": key.kid, "typ": "JWT"});
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let mut out = format!("{}.{}", b64(&header), b64(&payload));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64(&sig));
    Ok(out)
}

/// The signing keys of every ring, as loaded from the store.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key that signs `alg` tokens: the highest non-retired id of its ring.
    pub fn current(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.retired_at.is_none())
            .max_by_key(|k| k.key_id)
            .cloned()
    }

    /// The published JWKS at `now` (RS256 keys first, each ring by ascending id).
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.is_published(now))
            .map(|k| k.jwk.clone())
            .collect();
        json!({ "keys": keys })
    }
}

fn key_aad(purpose: &str, key_id: u32) -> Vec<u8> {
    format!("{KEY_AAD_PREFIX}|{purpose}|{key_id}").into_bytes()
}

fn open_record(master: &MasterKey, r: &KeyringRecord) -> Result<SigningKey, StartError> {
    let alg = SigningAlg::from_purpose(&r.purpose)
        .ok_or_else(|| StartError::Config(format!("{} is not a JWKS key ring", r.purpose)))?;
    let pkcs8 = master
        .open(&r.material_sealed, &key_aad(&r.purpose, r.key_id))
        .map_err(|_| {
            StartError::Config(format!(
                "cannot unseal key {} of the {} key ring: the master key differs from the one that sealed it",
                r.key_id, r.purpose
            ))
        })?;
    SigningKey::from_pkcs8(alg, r.key_id, r.created_at, r.retired_at, &pkcs8).map_err(|e| {
        StartError::Config(format!(
            "key {} of the {} key ring: {e}",
            r.key_id, r.purpose
        ))
    })
}

/// Load every signing key of both rings (unsealing each: a different master key fails).
pub async fn load_key_set(store: &dyn Store, master: &MasterKey) -> Result<KeySet, StartError> {
    let mut keys = Vec::new();
    for purpose in JWKS_PURPOSES {
        for r in store.keyring_list(purpose).await? {
            keys.push(Arc::new(open_record(master, &r)?));
        }
    }
    Ok(KeySet { keys })
}

/// Generate a key of `alg` and insert it as `key_id` (`Conflict` if the id exists).
async fn insert_new_key(
    store: &dyn Store,
    master: &MasterKey,
    alg: SigningAlg,
    key_id: u32,
    now: i64,
) -> Result<(), StartError> {
    let pkcs8 = tokio::task::spawn_blocking(move || generate_pkcs8(alg))
        .await
        .map_err(|e| StartError::Config(format!("key generation task: {e}")))?
        .map_err(StartError::Config)?;
    let purpose = alg.purpose();
    let sealed = master
        .seal(&pkcs8, &key_aad(purpose, key_id))
        .map_err(|e| StartError::Config(format!("sealing a new signing key: {e}")))?;
    store
        .keyring_insert(&KeyringRecord {
            purpose: purpose.to_string(),
            key_id,
            material_sealed: sealed,
            created_at: now,
            retired_at: None,
        })
        .await?;
    Ok(())
}

/// Rotate one signing-key ring: add key `max + 1`, retire the others, prune the expired
/// ones. The existing keys are unsealed first, so a different master key is refused before
/// anything is written. (`crate::keys::rotate` dispatches here for the JWKS purposes.)
pub async fn rotate_jwks_purpose(
    store: &dyn Store,
    master: &MasterKey,
    purpose: &str,
    now: i64,
) -> Result<RotateReport, StartError> {
    let alg = SigningAlg::from_purpose(purpose)
        .ok_or_else(|| StartError::Config(format!("{purpose} is not a JWKS key ring")))?;
    for _ in 0..KEY_INSERT_ATTEMPTS {
        let records = store.keyring_list(purpose).await?;
        for r in &records {
            open_record(master, r)?;
        }
        let max = records.iter().map(|r| r.key_id).max().unwrap_or(0);
        let new_id = max
            .checked_add(1)
            .ok_or_else(|| StartError::Config(format!("key ring {purpose}: key ids exhausted")))?;
        match insert_new_key(store, master, alg, new_id, now).await {
            Ok(()) => {}
            Err(StartError::Store(StoreError::Conflict { .. })) => continue,
            Err(e) => return Err(e),
        }
        let mut retired = Vec::new();
        for r in records.iter().filter(|r| r.retired_at.is_none()) {
            match store.keyring_retire(purpose, r.key_id, now).await {
                Ok(()) => retired.push(r.key_id),
                Err(StoreError::NotFound(_) | StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let removed = crate::keys::prune(store, purpose, now).await?;
        return Ok(RotateReport {
            purpose: purpose.to_string(),
            new_key_id: new_id,
            retired,
            removed,
        });
    }
    Err(StartError::Config(format!(
        "key ring {purpose} kept changing during rotation; try again"
    )))
}

/// Rotate both signing-key rings (`opensts keys rotate --purpose jwks`).
pub async fn rotate_jwks_keys(
    store: &dyn Store,
    master: &MasterKey,
    now: i64,
) -> Result<Vec<RotateReport>, StartError> {
    let mut out = Vec::with_capacity(JWKS_PURPOSES.len());
    for purpose in JWKS_PURPOSES {
        out.push(rotate_jwks_purpose(store, master, purpose, now).await?);
    }
    Ok(out)
}

/// The issuer: base URL and the in-memory signing keys (reloaded on key-ring changes).
pub struct OidcIssuer {
    /// Set once the listener is bound (the default base URL names its address).
    base_url: RwLock<String>,
    keys: RwLock<Arc<KeySet>>,
    /// Serializes first-key generation in this process.
    generate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcIssuer")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl OidcIssuer {
    pub fn new(base_url: String, keys: KeySet) -> OidcIssuer {
        OidcIssuer {
            base_url: RwLock::new(base_url),
            keys: RwLock::new(Arc::new(keys)),
            generate: tokio::sync::Mutex::new(()),
        }
    }

    /// Load the signing keys from the store (none exist until the feature is first used).
    pub async fn load(
        store: &dyn Store,
        master: &MasterKey,
        base_url: String,
    ) -> Result<OidcIssuer, StartError> {
        Ok(OidcIssuer::new(
            base_url,
            load_key_set(store, master).await?,
        ))
    }

    /// The issuer base URL (no trailing `/`).
    pub fn base_url(&self) -> String {
        match self.base_url.read() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Set the base URL (at start-up, once the listener's address is known).
    pub fn set_base_url(&self, base_url: String) {
        match self.base_url.write() {
            Ok(mut b) => *b = base_url,
            Err(poisoned) => *poisoned.into_inner() = base_url,
        }
    }

    /// `<base>/accounts/<account>`: the `iss` of the account's tokens.
    pub fn issuer(&self, account_id: &str) -> String {
        format!("{}{ISSUER_ACCOUNTS_PATH}{account_id}", self.base_url())
    }

    /// The account whose issuer `url` is, if it is one of ours.
    pub fn account_of_issuer<'a>(&self, url: &'a str) -> Option<&'a str> {
        let base = self.base_url();
        if base.is_empty() {
            return None;
        }
        let account = url
            .strip_prefix(base.as_str())?
            .strip_prefix(ISSUER_ACCOUNTS_PATH)?;
        opensts_core::ids::is_valid_account_id(account).then_some(account)
    }

    pub fn key_set(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, set: KeySet) {
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
    }

    /// Reload the keys from the store (after a key-ring change by any process).
    pub async fn reload(&self, store: &dyn Store, master: &MasterKey) -> Result<(), StartError> {
        let set = load_key_set(store, master).await?;
        self.replace(set);
        Ok(())
    }

    /// The key signing `alg` tokens; the ring's first key is generated (and stored) if it has
    /// none. Several processes may race: the loser of the insert uses the winner's key.
    pub async fn current_key(
        &self,
        store: &dyn Store,
        master: &MasterKey,
        alg: SigningAlg,
        now: i64,
    ) -> Result<Arc<SigningKey>, StartError> {
        if let Some(k) = self.key_set().current(alg) {
            return Ok(k);
        }
        let _guard = self.generate.lock().await;
        for _ in 0..KEY_INSERT_ATTEMPTS {
            self.reload(store, master).await?;
            if let Some(k) = self.key_set().current(alg) {
                return Ok(k);
            }
            let next_id = self
                .key_set()
                .keys
                .iter()
                .filter(|k| k.alg == alg)
                .map(|k| k.key_id)
                .max()
                .unwrap_or(0)
                .saturating_add(1);
            match insert_new_key(store, master, alg, next_id, now).await {
                Ok(()) => tracing::info!(
                    purpose = alg.purpose(),
                    key_id = next_id,
                    "generated a JWKS signing key"
                ),
                Err(StartError::Store(StoreError::Conflict { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StartError::Config(format!(
            "key ring {}: no signing key after {KEY_INSERT_ATTEMPTS} attempts",
            alg.purpose()
        )))
    }

    /// Make sure both rings have a signing key (EnableOutboundWebIdentityFederation).
    pub async fn ensure_keys(
        &self,
        store: &dyn Store,
        master: &MasterKey,
        now: i64,
    ) -> Result<(), StartError> {
        for alg in SigningAlg::ALL {
            self.current_key(store, master, alg, now).await?;
        }
        Ok(())
    }

    /// The published JWKS at `now`.
    pub fn jwks(&self, now: i64) -> Value {
        self.key_set().jwks(now)
    }

    /// The OpenID Provider configuration of `account`'s issuer.
    pub fn discovery(&self, account_id: &str) -> Value {
        let issuer = self.issuer(account_id);
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": SigningAlg::ALL.map(SigningAlg::as_str),
            "scopes_supported": ["openid"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", AWS_CLAIMS_NAMESPACE],
        })
    }
}

/// The issuer base URL: `--issuer-base-url` (checked: `http(s)://host[:port][/path]`, no
/// query, fragment or user info; a trailing `/` is dropped) or `http[s]://<listen address>`.
pub fn issuer_base_url(
    configured: Option<&str>,
    local: SocketAddr,
    tls: bool,
) -> Result<String, StartError> {
    let Some(url) = configured else {
        let scheme = if tls { "https" } else { "http" };
        return Ok(format!("{scheme}://{local}"));
    };
    let bad = |why: &str| StartError::Config(format!("--issuer-base-url {url:?}: {why}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// (or http://)"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(bad("needs a host and no user info"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(bad("no query, fragment, spaces or non-ASCII characters"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The base URL from the configuration after the listener is bound.
pub fn base_url_for(config: &Config, local: SocketAddr, tls: bool) -> Result<String, StartError> {
    issuer_base_url(config.issuer_base_url.as_deref(), local, tls)
}

// ---- the per-account switch ----

/// The outbound web identity federation setting of an account (entity
/// [`KIND_ACCOUNT_SETTINGS`] / [`OUTBOUND_FEDERATION_SETTING`]). Absent = never enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundFederationDoc {
    pub enabled: bool,
    /// When it was last enabled / disabled (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
}

/// The account's setting, through the entity cache.
pub async fn outbound_setting(
    state: &AppState,
    account_id: &str,
) -> ApiResult<Option<OutboundFederationDoc>> {
    let Some(e) = state
        .entity(
            account_id,
            KIND_ACCOUNT_SETTINGS,
            OUTBOUND_FEDERATION_SETTING,
        )
        .await?
    else {
        return Ok(None);
    };
    crate::actions::iam::decode_entity(&e).map(Some)
}

// ---- public HTTP endpoints ----

/// `GET <issuer>/.well-known/openid-configuration` and `GET <issuer>/.well-known/jwks.json`
/// for every account (no authentication).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/accounts/{account}/.well-known/openid-configuration",
            get(discovery_endpoint),
        )
        .route(
            "/accounts/{account}/.well-known/jwks.json",
            get(jwks_endpoint),
        )
}

fn json_response(body: &Value, max_age: i64) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = (status, text).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Whether `account` publishes an issuer: it exists and enabled the feature at least once
/// (tokens issued before a Disable stay verifiable).
async fn publishes(state: &AppState, account: &str) -> Result<bool, Response> {
    if !opensts_core::ids::is_valid_account_id(account) {
        return Ok(false);
    }
    match outbound_setting(state, account).await {
        Ok(s) => Ok(s.is_some()),
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            Err(plain(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))
        }
        Err(_) => Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

async fn discovery_endpoint(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Response {
    match publishes(&state, &account).await {
        Ok(true) => json_response(
            &state.oidc_issuer.discovery(&account),
            DISCOVERY_MAX_AGE_SECS,
        ),
        Ok(false) => plain(StatusCode::NOT_FOUND, "no such issuer"),
        Err(resp) => resp,
    }
}

async fn jwks_endpoint(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Response {
    match publishes(&state, &account).await {
        Ok(true) => json_response(&state.oidc_issuer.jwks(state.now()), JWKS_MAX_AGE_SECS),
        Ok(false) => plain(StatusCode::NOT_FOUND, "no such issuer"),
        Err(resp) => resp,
    }
}

// ---- our own tokens in AssumeRoleWithWebIdentity ----

/// A [`JwksFetcher`] that answers for this server's own issuer URLs from the in-memory key
/// set (no network: every node holding the store's key rings verifies its tokens the same
/// way) and hands every other provider to `inner`. Thumbprints do not apply (no TLS).
pub struct LocalIssuerFetcher {
    inner: Arc<dyn JwksFetcher>,
    issuer: Arc<OidcIssuer>,
    clock: Arc<dyn Clock>,
}

impl LocalIssuerFetcher {
    pub fn new(
        inner: Arc<dyn JwksFetcher>,
        issuer: Arc<OidcIssuer>,
        clock: Arc<dyn Clock>,
    ) -> LocalIssuerFetcher {
        LocalIssuerFetcher {
            inner,
            issuer,
            clock,
        }
    }
}

#[async_trait]
impl JwksFetcher for LocalIssuerFetcher {
    async fn fetch(&self, provider: &ProviderConfig) -> Result<FetchedJwks, OidcError> {
        if self.issuer.account_of_issuer(&provider.url).is_none() {
            return self.inner.fetch(provider).await;
        }
        let doc = self.issuer.jwks(self.clock.now());
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| OidcError::KeyRetrieval(format!("own JWKS: {e}")))?;
        let jwks = Jwks::from_json(&bytes)?;
        if jwks.is_empty() {
            return Err(OidcError::KeyRetrieval(format!(
                "{}: no signing keys yet",
                provider.url
            )));
        }
        Ok(FetchedJwks {
            jwks,
            max_age: Some(opensts_oidc::MIN_CACHE_TTL_SECS),
        })
    }
}

// ---- the claim set ----

/// Largest serialized JWT payload (claims JSON, bytes) `GetWebIdentityToken` signs; larger →
/// `JWTPayloadSizeExceededException`. Leaves the compact token (base64url, header and an
/// RSA-2048 signature) near 11,500 characters, within HTTP header limits and the 20,000
/// characters `AssumeRoleWithWebIdentity` accepts.
pub const MAX_JWT_PAYLOAD_BYTES: usize = 8192;

/// What goes into one token.
#[derive(Debug, Clone, Default)]
pub struct TokenClaims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub jti: String,
    pub account_id: String,
    pub region: String,
    pub principal_tags: Vec<(String, String)>,
    pub request_tags: Vec<(String, String)>,
    pub source_identity: Option<String>,
}

fn tag_object(tags: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in tags {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(m)
}

impl TokenClaims {
    /// The payload: registered claims plus AWS's namespace object (see the module docs and
    /// `docs/outbound-federation.md`).
    pub fn to_json(&self) -> Value {
        let aud = match self.audiences.as_slice() {
            [one] => Value::String(one.clone()),
            many => Value::Array(many.iter().cloned().map(Value::String).collect()),
        };
        let mut aws = Map::new();
        aws.insert("aws_account".into(), Value::String(self.account_id.clone()));
        aws.insert("source_region".into(), Value::String(self.region.clone()));
        if !self.principal_tags.is_empty() {
            aws.insert("principal_tags".into(), tag_object(&self.principal_tags));
        }
        if !self.request_tags.is_empty() {
            aws.insert("request_tags".into(), tag_object(&self.request_tags));
        }
        if let Some(si) = &self.source_identity {
            aws.insert("source_identity".into(), Value::String(si.clone()));
        }
        json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": aud,
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
            "jti": self.jti,
            AWS_CLAIMS_NAMESPACE: Value::Object(aws),
        })
    }
}

/// `JWTPayloadSizeExceededException` (400).
pub fn payload_too_large(size: usize) -> ApiError {
    ApiError::new(
        "JWTPayloadSizeExceededException",
        StatusCode::BAD_REQUEST,
        format!(
            "The requested token payload size ({size} bytes) exceeds the maximum allowed size of {MAX_JWT_PAYLOAD_BYTES} bytes. Reduce the number of request tags."
        ),
    )
}

/// Sign `claims` with the current `alg` key; `JWTPayloadSizeExceededException` if the
/// payload is too large.
pub async fn issue_token(
    state: &AppState,
    alg: SigningAlg,
    claims: &TokenClaims,
    now: i64,
) -> ApiResult<String> {
    let payload = claims.to_json();
    let size = serde_json::to_vec(&payload)
        .map_err(|_| ApiError::internal())?
        .len();
    if size > MAX_JWT_PAYLOAD_BYTES {
        return Err(payload_too_large(size));
    }
    let key = state
        .oidc_issuer
        .current_key(state.store.as_ref(), &state.master_key, alg, now)
        .await
        .map_err(|e| match e {
            StartError::Store(s) => ApiError::from(s),
            other => {
                tracing::error!(error = %other, "no JWKS signing key");
                ApiError::internal()
            }
        })?;
    sign_jwt(&key, &payload).map_err(|e| {
        tracing::error!(error = %e, "signing a web identity token failed");
        ApiError::internal()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;
    const ACCOUNT: &str = "111122223333";

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let s = opensts_store::open_store(&url).await.unwrap();
        s.migrate().await.unwrap();
        (dir, s)
    }

    fn claims(issuer: &str, aud: &[&str], now: i64) -> TokenClaims {
        TokenClaims {
            issuer: issuer.into(),
            subject: format!("arn:aws:iam::{ACCOUNT}:role/app"),
            audiences: aud.iter().map(|s| s.to_string()).collect(),
            issued_at: now,
            expires_at: now + 300,
            jti: "j1".into(),
            account_id: ACCOUNT.into(),
            region: "us-east-1".into(),
            principal_tags: vec![("team".into(), "data".into())],
            request_tags: vec![("job".into(), "42".into())],
            source_identity: Some("alice".into()),
        }
    }

    fn verify(
        token: &str,
        issuer: &OidcIssuer,
        aud: &str,
        now: i64,
    ) -> opensts_oidc::VerifiedToken {
        let jwks = Jwks::from_json(&serde_json::to_vec(&issuer.jwks(now)).unwrap()).unwrap();
        let provider = ProviderConfig::new(issuer.issuer(ACCOUNT), vec![aud.to_string()]);
        opensts_oidc::verify_token(token, &provider, &jwks, now).unwrap()
    }

    #[tokio::test]
    async fn sign_and_verify_both_algorithms() {
        let (_dir, store) = store().await;
        let master = MasterKey::generate();
        let issuer = OidcIssuer::load(store.as_ref(), &master, "https://sts.example.com".into())
            .await
            .unwrap();
        assert!(issuer.key_set().keys().is_empty());
        assert_eq!(issuer.jwks(T0), json!({"keys": []}));
        issuer
            .ensure_keys(store.as_ref(), &master, T0)
            .await
            .unwrap();
        let set = issuer.key_set();
        assert_eq!(set.keys().len(), 2);
        for alg in SigningAlg::ALL {
            let key = issuer
                .current_key(store.as_ref(), &master, alg, T0)
                .await
                .unwrap();
            assert_eq!(key.key_id, 1);
            assert_eq!(key.kid.len(), 43);
            let c = claims(
                &issuer.issuer(ACCOUNT),
                &["https://api.example.com", "other"],
                T0,
            );
            let token = sign_jwt(&key, &c.to_json()).unwrap();
            let v = verify(&token, &issuer, "other", T0 + 1);
            assert_eq!(v.subject, format!("arn:aws:iam::{ACCOUNT}:role/app"));
            assert_eq!(v.audiences, vec!["https://api.example.com", "other"]);
            assert_eq!(
                v.claims[AWS_CLAIMS_NAMESPACE]["request_tags"]["job"],
                json!("42")
            );
            // The header names the algorithm and the key.
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                header,
                json!({"alg": alg.as_str(), "kid": key.kid, "typ": "JWT"})
            );
        }
        // Keys survive a reload (sealed in the store), with the same kids; a different master
        // key cannot open them.
        let again = OidcIssuer::load(store.as_ref(), &master, "https://x".into())
            .await
            .unwrap();
        let kids = |s: &KeySet| s.keys().iter().map(|k| k.kid.clone()).collect::<Vec<_>>();
        assert_eq!(kids(&again.key_set()), kids(&set));
        assert!(
            OidcIssuer::load(store.as_ref(), &MasterKey::generate(), "https://x".into())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn rotation_keeps_old_keys_published_until_their_tokens_expire() {
        let (_dir, store) = store().await;
        let master = MasterKey::generate();
        let issuer = OidcIssuer::load(store.as_ref(), &master, "https://sts.example.com".into())
            .await
            .unwrap();
        let old = issuer
            .current_key(store.as_ref(), &master, SigningAlg::Es384, T0)
            .await
            .unwrap();
        let old_token =
            sign_jwt(&old, &claims(&issuer.issuer(ACCOUNT), &["a"], T0).to_json()).unwrap();

        let t1 = T0 + 100;
        let reports = rotate_jwks_keys(store.as_ref(), &master, t1).await.unwrap();
        assert_eq!(reports.len(), 2);
        let es = reports
            .iter()
            .find(|r| r.purpose == JWKS_ES384_PURPOSE)
            .unwrap();
        assert_eq!((es.new_key_id, es.retired.clone()), (2, vec![1]));
        // The RS256 ring was empty: rotation creates its first key.
        let rs = reports
            .iter()
            .find(|r| r.purpose == JWKS_RS256_PURPOSE)
            .unwrap();
        assert_eq!((rs.new_key_id, rs.retired.clone()), (1, vec![]));

        issuer.reload(store.as_ref(), &master).await.unwrap();
        let new = issuer.key_set().current(SigningAlg::Es384).unwrap();
        assert_eq!(new.key_id, 2);
        assert_ne!(new.kid, old.kid);
        let published = |now: i64| -> Vec<String> {
            issuer.jwks(now)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(published(t1).contains(&old.kid));
        assert!(published(t1).contains(&new.kid));
        // The token signed before the rotation still verifies.
        verify(&old_token, &issuer, "a", T0 + 200);

        // After the longest token plus the grace, the retired key leaves the JWKS and the
        // prune removes it from the store.
        let due = crate::keys::removable_at(JWKS_ES384_PURPOSE, t1);
        assert_eq!(
            due,
            t1 + MAX_TOKEN_DURATION_SECS + crate::keys::RETIRED_KEY_GRACE_SECS
        );
        assert!(published(due - 1).contains(&old.kid));
        assert!(!published(due).contains(&old.kid));
        assert_eq!(
            crate::keys::prune(store.as_ref(), JWKS_ES384_PURPOSE, due)
                .await
                .unwrap(),
            vec![1]
        );
        issuer.reload(store.as_ref(), &master).await.unwrap();
        assert!(issuer.key_set().keys().iter().all(|k| k.kid != old.kid));
        assert!(!published(t1).contains(&old.kid));
    }

    #[test]
    fn issuer_urls() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            issuer_base_url(None, local, false).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            issuer_base_url(None, local, true).unwrap(),
            "https://127.0.0.1:8080"
        );
        assert_eq!(
            issuer_base_url(Some("https://sts.example.com/"), local, false).unwrap(),
            "https://sts.example.com"
        );
        assert_eq!(
            issuer_base_url(Some("https://example.com/sts"), local, false).unwrap(),
            "https://example.com/sts"
        );
        for bad in [
            "sts.example.com",
            "ftp://x",
            "https://",
            "https://u@x",
            "https://x?a",
            "https://x/a b",
        ] {
            assert!(issuer_base_url(Some(bad), local, false).is_err(), "{bad}");
        }
        let issuer = OidcIssuer::new("https://sts.example.com".into(), KeySet::default());
        assert_eq!(
            issuer.issuer(ACCOUNT),
            "https://sts.example.com/accounts/111122223333"
        );
        assert_eq!(
            issuer.account_of_issuer("https://sts.example.com/accounts/111122223333"),
            Some(ACCOUNT)
        );
        assert_eq!(
            issuer.account_of_issuer("https://sts.example.com/accounts/1111"),
            None
        );
        assert_eq!(
            issuer.account_of_issuer("https://other.example.com/accounts/111122223333"),
            None
        );
        let d = issuer.discovery(ACCOUNT);
        assert_eq!(
            d["issuer"],
            json!("https://sts.example.com/accounts/111122223333")
        );
        assert_eq!(
            d["jwks_uri"],
            json!("https://sts.example.com/accounts/111122223333/.well-known/jwks.json")
        );
    }

    #[test]
    fn claim_set() {
        let mut c = claims("https://i/accounts/111122223333", &["one"], T0);
        let j = c.to_json();
        assert_eq!(j["aud"], json!("one"));
        assert_eq!(j["nbf"], json!(T0));
        assert_eq!(
            j[AWS_CLAIMS_NAMESPACE],
            json!({"aws_account": ACCOUNT, "source_region": "us-east-1",
                   "principal_tags": {"team": "data"}, "request_tags": {"job": "42"},
                   "source_identity": "alice"})
        );
        c.principal_tags.clear();
        c.request_tags.clear();
        c.source_identity = None;
        c.audiences = vec!["a".into(), "b".into()];
        let j = c.to_json();
        assert_eq!(j["aud"], json!(["a", "b"]));
        assert_eq!(
            j[AWS_CLAIMS_NAMESPACE],
            json!({"aws_account": ACCOUNT, "source_region": "us-east-1"})
        );
    }
}
