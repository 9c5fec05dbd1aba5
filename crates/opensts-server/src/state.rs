//! Shared server state: store, keys, clock and the read-mostly caches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use opensts_core::crypto::MasterKey;
use opensts_core::keyring::KeyRing;
use opensts_core::principal::Principal;
use opensts_core::secret::Secret;
use opensts_policy::Policy;
use opensts_sigv4::SigningKey;
use opensts_store::{AccessKeyRecord, Entity, KeyStatus, Store};

use crate::config::{Config, MAX_SIGNING_KEY_CACHE};
use crate::error::{ApiError, ApiResult};
use crate::iam::model::UserDoc;

/// The source of time. Injected so tests can move it.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock tests can set and advance.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(now))
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A long-term access key resolved for authentication: its record, plaintext secret and the
/// principal it belongs to.
pub struct ResolvedKey {
    pub record: AccessKeyRecord,
    pub secret: Secret,
    pub principal: Principal,
}

/// Everything a request handler can reach.
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub session_ring: RwLock<Arc<KeyRing>>,
    /// Key ring of encoded authorization messages.
    pub message_ring: RwLock<Arc<KeyRing>>,
    pub clock: Arc<dyn Clock>,
    pub default_account_id: String,
    pub cache: Cache,
    /// OIDC discovery + JWKS cache (AssumeRoleWithWebIdentity).
    pub jwks: Arc<opensts_oidc::JwksCache>,
    /// This server as an OIDC issuer (GetWebIdentityToken): base URL and signing keys.
    pub oidc_issuer: Arc<crate::oidc_issuer::OidcIssuer>,
    /// Prometheus metrics of this server.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Per-source and per-account request rate limits.
    pub throttle: crate::throttle::Throttle,
    /// The audit trail, when configured.
    pub audit: Option<crate::audit::AuditLog>,
}

/// Read-mostly caches, invalidated per account by the change poller (see
/// [`crate::app::spawn_change_poller`]).
#[derive(Default)]
pub struct Cache {
    /// Bumped on every invalidation; a loader that saw a different epoch before and after its
    /// store read does not insert what it read (it may be stale).
    epoch: AtomicU64,
    keys: RwLock<HashMap<String, Arc<ResolvedKey>>>,
    signing_keys: RwLock<HashMap<String, SigningKey>>,
    /// IAM entities by (account, kind, lower-cased name); `None` caches an absence.
    entities: RwLock<HashMap<EntityKey, Option<Arc<Entity>>>>,
    /// Parsed policies by (kind, document text): content-addressed, never stale.
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    /// Inline session policies as sent -> their compact form, once validated (content-addressed,
    /// never stale): a client repeating the same `Policy` is not parsed twice.
    session_policies: RwLock<HashMap<String, Arc<str>>>,
    /// Values derived from an entity (a parsed provider document), by the entity's key, with
    /// the entity `Arc` they were derived from: valid only while `entities` hands out that
    /// same `Arc` (a reload after an invalidation makes a new one).
    derived: RwLock<HashMap<EntityKey, DerivedEntry>>,
    /// When the key rings were last reloaded on demand (a token named a key this node did not
    /// have yet; see [`crate::app::refresh_rings_for_unknown_key`]). The lock also makes
    /// concurrent callers wait for one reload.
    pub(crate) ring_refresh: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// (account, kind, lower-cased name).
type EntityKey = (String, String, String);

/// An entity and what was derived from it ([`AppState::entity_derived`]).
type DerivedEntry = (Arc<Entity>, Arc<dyn std::any::Any + Send + Sync>);

/// Most cached entities / parsed policies before the cache is reset.
pub const MAX_ENTITY_CACHE: usize = 200_000;
pub const MAX_POLICY_CACHE: usize = 20_000;

impl Cache {
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Forget everything cached for these accounts (`""` = not account-bound, e.g. key ring).
    pub fn invalidate_accounts(&self, accounts: &[String]) {
        if accounts.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|_, k| !accounts.contains(&k.record.account_id));
        }
        if let Ok(mut ents) = self.entities.write() {
            ents.retain(|(a, _, _), _| !accounts.contains(a));
        }
        if let Ok(mut derived) = self.derived.write() {
            derived.retain(|(a, _, _), _| !accounts.contains(a));
        }
        // Signing keys are derived from immutable secrets keyed by access key id; a deleted
        // or deactivated key is refused before its signing key is used, so they can stay.
    }

    pub fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
        if let Ok(mut sk) = self.signing_keys.write() {
            sk.clear();
        }
        if let Ok(mut ents) = self.entities.write() {
            ents.clear();
        }
        if let Ok(mut derived) = self.derived.write() {
            derived.clear();
        }
    }

    pub fn policy(&self, key: &str) -> Option<Arc<Policy>> {
        self.policies.read().ok()?.get(key).cloned()
    }

    pub fn insert_policy(&self, key: String, policy: Arc<Policy>) {
        insert_capped(&self.policies, MAX_POLICY_CACHE, key, policy);
    }

    pub fn session_policy(&self, doc: &str) -> Option<Arc<str>> {
        self.session_policies.read().ok()?.get(doc).cloned()
    }

    pub fn insert_session_policy(&self, doc: String, compact: Arc<str>) {
        insert_capped(&self.session_policies, MAX_POLICY_CACHE, doc, compact);
    }

    fn cached_entity(&self, key: &EntityKey) -> Option<Option<Arc<Entity>>> {
        self.entities.read().ok()?.get(key).cloned()
    }

    fn insert_entity(&self, epoch_before: u64, key: EntityKey, value: Option<Arc<Entity>>) {
        if self.epoch() != epoch_before {
            return;
        }
        insert_capped(&self.entities, MAX_ENTITY_CACHE, key, value);
    }

    fn cached_key(&self, id: &str) -> Option<Arc<ResolvedKey>> {
        self.keys.read().ok()?.get(id).cloned()
    }

    fn insert_key(&self, epoch_before: u64, key: Arc<ResolvedKey>) {
        if self.epoch() != epoch_before {
            return;
        }
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.record.access_key_id.clone(), key);
        }
    }

    pub fn signing_key(&self, cache_key: &str) -> Option<SigningKey> {
        self.signing_keys.read().ok()?.get(cache_key).cloned()
    }

    pub fn insert_signing_key(&self, cache_key: String, key: SigningKey) {
        insert_capped(&self.signing_keys, MAX_SIGNING_KEY_CACHE, cache_key, key);
    }
}

/// Inserts into a cache that is reset when it holds `cap` entries (a bound on memory that
/// needs no eviction order; every cached value can be derived again).
fn insert_capped<K: std::hash::Hash + Eq, V>(
    cache: &RwLock<HashMap<K, V>>,
    cap: usize,
    key: K,
    value: V,
) {
    if let Ok(mut m) = cache.write() {
        if m.len() >= cap {
            m.clear();
        }
        m.insert(key, value);
    }
}

/// Associated data binding a sealed secret access key to its key id.
pub fn access_key_aad(access_key_id: &str) -> Vec<u8> {
    format!("opensts:access-key:{access_key_id}").into_bytes()
}

impl AppState {
    /// Whether a one-time value (SAML assertion, MFA code) issued at `issued_at` must be
    /// refused because its claim may have been lost in an OS crash
    /// ([`Store::claims_uncertain_until`]); `issuer_skew_secs` is how far ahead of ours the
    /// issuer's clock may be (what a value accepted before the crash could claim as its
    /// issue time).
    pub fn issued_before_claims_horizon(&self, issued_at: i64, issuer_skew_secs: i64) -> bool {
        self.store
            .claims_uncertain_until()
            .is_some_and(|h| issued_at <= h.saturating_add(issuer_skew_secs))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn message_ring(&self) -> Arc<KeyRing> {
        match self.message_ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn session_ring(&self) -> Arc<KeyRing> {
        match self.session_ring.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Seal a new secret access key for storage.
    pub fn seal_access_secret(&self, access_key_id: &str, secret: &str) -> ApiResult<Vec<u8>> {
        self.master_key
            .seal(secret.as_bytes(), &access_key_aad(access_key_id))
            .map_err(|_| ApiError::internal())
    }

    /// Resolve a long-term access key (cached). `Ok(None)` if it does not exist, is inactive,
    /// or its owner is gone.
    pub async fn resolve_access_key(&self, id: &str) -> ApiResult<Option<Arc<ResolvedKey>>> {
        if let Some(k) = self.cache.cached_key(id) {
            return Ok((k.record.status == KeyStatus::Active).then_some(k));
        }
        let epoch = self.cache.epoch();
        let Some(record) = self.store.get_access_key(id).await? else {
            return Ok(None);
        };
        let principal = match &record.user_name {
            None => Principal::Root {
                account_id: record.account_id.clone(),
            },
            Some(name) => {
                let Some(user) = self.get_user_doc(&record.account_id, name).await? else {
                    return Ok(None);
                };
                user.principal(&record.account_id)
            }
        };
        let plain = self
            .master_key
            .open(&record.secret_sealed, &access_key_aad(&record.access_key_id))
            .map_err(|_| {
                tracing::error!(access_key_id = %record.access_key_id, "cannot unseal secret access key (wrong master key?)");
                ApiError::internal()
            })?;
        let secret = String::from_utf8(plain.to_vec()).map_err(|_| ApiError::internal())?;
        let resolved = Arc::new(ResolvedKey {
            record,
            secret: Secret::new(secret),
            principal,
        });
        self.cache.insert_key(epoch, resolved.clone());
        Ok((resolved.record.status == KeyStatus::Active).then_some(resolved))
    }

    /// An IAM entity, through the cache (for authorization and authentication; read-modify-write
    /// handlers read the store directly to get the current version).
    pub async fn entity(
        &self,
        account_id: &str,
        kind: &str,
        name: &str,
    ) -> ApiResult<Option<Arc<Entity>>> {
        let key = (
            account_id.to_string(),
            kind.to_string(),
            opensts_store::name_key(name),
        );
        if let Some(hit) = self.cache.cached_entity(&key) {
            return Ok(hit);
        }
        let epoch = self.cache.epoch();
        let value = self
            .store
            .get_entity(account_id, kind, name)
            .await?
            .map(Arc::new);
        self.cache.insert_entity(epoch, key, value.clone());
        Ok(value)
    }

    /// An entity and a value derived from it by `derive` (e.g. its parsed document), cached
    /// as long as the entity itself is: `derive` runs again only after the entity was
    /// reloaded. Errors of `derive` are not cached.
    pub async fn entity_derived<T, F>(
        &self,
        account_id: &str,
        kind: &str,
        name: &str,
        derive: F,
    ) -> ApiResult<Option<Arc<T>>>
    where
        T: Send + Sync + 'static,
        F: FnOnce(&Entity) -> ApiResult<T>,
    {
        let Some(entity) = self.entity(account_id, kind, name).await? else {
            return Ok(None);
        };
        let key = (
            account_id.to_string(),
            kind.to_string(),
            opensts_store::name_key(name),
        );
        let hit = self.cache.derived.read().ok().and_then(|m| {
            m.get(&key)
                .filter(|(from, _)| Arc::ptr_eq(from, &entity))
                .map(|(_, value)| value.clone())
        });
        if let Some(value) = hit.and_then(|v| v.downcast::<T>().ok()) {
            return Ok(Some(value));
        }
        let value = Arc::new(derive(&entity)?);
        let erased: Arc<dyn std::any::Any + Send + Sync> = value.clone();
        insert_capped(&self.cache.derived, MAX_ENTITY_CACHE, key, (entity, erased));
        Ok(Some(value))
    }

    pub async fn get_user_doc(&self, account_id: &str, name: &str) -> ApiResult<Option<UserDoc>> {
        let Some(e) = self.entity(account_id, "user", name).await? else {
            return Ok(None);
        };
        let doc: UserDoc = serde_json::from_value(e.doc.clone()).map_err(|err| {
            tracing::error!(error = %err, "corrupt user document");
            ApiError::internal()
        })?;
        Ok(Some(doc))
    }
}
