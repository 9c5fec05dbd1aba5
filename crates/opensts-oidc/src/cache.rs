//! Per-issuer JWKS cache in front of a [`JwksFetcher`].
//!
//! Policy (all times in seconds, see [`CacheConfig`]):
//! - A successful fetch is fresh for the JWKS response's `Cache-Control: max-age` / `Expires`
//!   lifetime, clamped to `[min_ttl, max_ttl]` (`default_ttl` when the IdP sends neither).
//! - A token whose `kid` is not in the fresh set triggers one refetch, at most once per
//!   `unknown_kid_refetch` per provider, so a flood of bogus `kid`s costs the IdP at most one
//!   request per window. Implausible `kid`s (see [`crate::kid_is_plausible`]) never refetch.
//! - Concurrent misses share one fetch (single flight per provider).
//! - When a refresh fails, the previous keys keep being served until `stale_grace` after they
//!   went stale; failed fetches are retried at most once per `failure_retry`, and in between
//!   the last error is returned at once when there are no usable keys.
//! - Entries are keyed by the provider URL *and* its thumbprints, so keys fetched under one
//!   provider's pinning are never served to a provider with other pins.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::error::OidcError;
use crate::jose::{kid_is_plausible, parse_unverified};
use crate::jwks::Jwks;
use crate::verify::{ProviderConfig, VerifiedToken, check_issuer, verify_parsed};

/// Lower bound on how long fetched keys are considered fresh.
pub const MIN_CACHE_TTL_SECS: i64 = 60;
/// Upper bound on how long fetched keys are considered fresh.
pub const MAX_CACHE_TTL_SECS: i64 = 24 * 3600;
/// Freshness when the IdP sends no caching headers.
pub const DEFAULT_CACHE_TTL_SECS: i64 = 3600;
/// At most one unknown-`kid` refetch per provider per this many seconds.
pub const UNKNOWN_KID_REFETCH_SECS: i64 = 15;
/// After a failed fetch, no new attempt for this many seconds.
pub const FAILURE_RETRY_SECS: i64 = 10;
/// How long stale keys keep being served while the IdP cannot be reached.
pub const STALE_GRACE_SECS: i64 = 6 * 3600;
/// At most this many providers are cached; the least recently used is dropped beyond it.
pub const MAX_CACHED_PROVIDERS: usize = 4096;

/// A source of "now" in Unix seconds (fake in tests).
pub trait Clock: Send + Sync {
    /// Current time, Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A key set as fetched, with the lifetime the IdP asked for.
#[derive(Debug, Clone)]
pub struct FetchedJwks {
    /// The parsed keys.
    pub jwks: Jwks,
    /// Seconds from `Cache-Control: max-age` / `Expires`, `None` when absent. Negative or zero
    /// values mean "stale now"; the cache clamps to its bounds anyway.
    pub max_age: Option<i64>,
}

/// Gets a provider's current key set (discovery + JWKS). Only the URL and thumbprints of
/// `provider` may be used to decide what to fetch; never anything from a token.
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    /// Fetches the key set of `provider`.
    async fn fetch(&self, provider: &ProviderConfig) -> Result<FetchedJwks, OidcError>;
}

/// Cache tuning; [`Default`] uses the constants of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub min_ttl_secs: i64,
    pub max_ttl_secs: i64,
    pub default_ttl_secs: i64,
    pub unknown_kid_refetch_secs: i64,
    pub failure_retry_secs: i64,
    pub stale_grace_secs: i64,
    pub max_providers: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            min_ttl_secs: MIN_CACHE_TTL_SECS,
            max_ttl_secs: MAX_CACHE_TTL_SECS,
            default_ttl_secs: DEFAULT_CACHE_TTL_SECS,
            unknown_kid_refetch_secs: UNKNOWN_KID_REFETCH_SECS,
            failure_retry_secs: FAILURE_RETRY_SECS,
            stale_grace_secs: STALE_GRACE_SECS,
            max_providers: MAX_CACHED_PROVIDERS,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    url: String,
    thumbprints: Vec<String>,
}

impl CacheKey {
    fn of(p: &ProviderConfig) -> Self {
        let mut thumbprints: Vec<String> = p
            .thumbprints
            .iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        thumbprints.sort();
        thumbprints.dedup();
        CacheKey {
            url: p.url.clone(),
            thumbprints,
        }
    }
}

#[derive(Default)]
struct EntryState {
    keys: Option<Arc<Jwks>>,
    fresh_until: i64,
    last_attempt: Option<i64>,
    last_error: Option<OidcError>,
    /// Bumped at the start and end of every fetch; waiters use it to see that a fetch
    /// happened while they queued.
    generation: u64,
}

struct Slot {
    state: Mutex<EntryState>,
    fetch_lock: tokio::sync::Mutex<()>,
    last_used: AtomicI64,
}

enum Decision {
    Serve(Arc<Jwks>),
    Fail(OidcError),
    Fetch,
}

/// Statistics for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Providers currently cached.
    pub providers: usize,
}

/// The JWKS cache. Cheap to share (`Arc<JwksCache>`); all methods take `&self`.
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetcher>,
    clock: Arc<dyn Clock>,
    config: CacheConfig,
    entries: Mutex<HashMap<CacheKey, Arc<Slot>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl JwksCache {
    /// A cache over `fetcher` with the system clock and default tuning.
    pub fn new(fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self::with_config(fetcher, Arc::new(SystemClock), CacheConfig::default())
    }

    /// A cache with an explicit clock and tuning.
    pub fn with_config(
        fetcher: Arc<dyn JwksFetcher>,
        clock: Arc<dyn Clock>,
        config: CacheConfig,
    ) -> Self {
        JwksCache {
            fetcher,
            clock,
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies `token` for `provider`: structural checks and the issuer first (no fetch for
    /// a token of another issuer or with an implausible `kid`), then keys from the cache
    /// (fetching as described in the module docs), then [`crate::verify_token`]'s checks at
    /// the cache clock's "now".
    pub async fn verify(
        &self,
        token: &str,
        provider: &ProviderConfig,
    ) -> Result<VerifiedToken, OidcError> {
        let t = parse_unverified(token)?;
        check_issuer(&t, provider)?;
        if let Some(kid) = &t.kid
            && !kid_is_plausible(kid)
        {
            return Err(OidcError::UnknownKey);
        }
        let keys = self.keys_for(provider, t.kid.as_deref()).await?;
        verify_parsed(t, provider, &keys, self.clock.now())
    }

    /// The key set to verify a token with `kid` for `provider`, fetching when needed.
    pub async fn keys_for(
        &self,
        provider: &ProviderConfig,
        kid: Option<&str>,
    ) -> Result<Arc<Jwks>, OidcError> {
        let slot = self.slot(provider);
        let now = self.clock.now();
        slot.last_used.store(now, Ordering::Relaxed);
        let wanted = kid.filter(|k| kid_is_plausible(k));

        let seen_generation = {
            let st = lock(&slot.state);
            match self.decide(&st, wanted, now) {
                Decision::Serve(k) => return Ok(k),
                Decision::Fail(e) => return Err(e),
                Decision::Fetch => st.generation,
            }
        };

        let _single_flight = slot.fetch_lock.lock().await;
        {
            let mut st = lock(&slot.state);
            if st.generation != seen_generation {
                // Another request fetched while we waited: use its outcome, do not refetch.
                return self.serve_without_fetch(&st, self.clock.now());
            }
            st.generation += 1;
            st.last_attempt = Some(self.clock.now());
        }

        let result = self.fetcher.fetch(provider).await;
        let now = self.clock.now();
        let mut st = lock(&slot.state);
        st.generation += 1;
        match result {
            Ok(f) if !f.jwks.is_empty() => {
                let ttl = f
                    .max_age
                    .unwrap_or(self.config.default_ttl_secs)
                    .clamp(self.config.min_ttl_secs, self.config.max_ttl_secs);
                let keys = Arc::new(f.jwks);
                tracing::debug!(
                    issuer = %provider.url,
                    keys = keys.len(),
                    skipped = keys.skipped(),
                    ttl,
                    "fetched OIDC provider keys"
                );
                st.keys = Some(keys.clone());
                st.fresh_until = now.saturating_add(ttl);
                st.last_error = None;
                Ok(keys)
            }
            other => {
                let err = match other {
                    Err(e) => e,
                    Ok(_) => OidcError::KeyRetrieval("JWKS has no usable signature keys".into()),
                };
                tracing::warn!(
                    issuer = %provider.url,
                    reason = err.reason_code(),
                    detail = err.detail(),
                    "fetching OIDC provider keys failed"
                );
                st.last_error = Some(err.clone());
                match &st.keys {
                    Some(k)
                        if now < st.fresh_until.saturating_add(self.config.stale_grace_secs) =>
                    {
                        Ok(k.clone())
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// Forgets every cached key set of the provider with this URL (call when an IAM OIDC
    /// provider is deleted or its thumbprints change).
    pub fn invalidate(&self, url: &str) {
        lock(&self.entries).retain(|k, _| k.url != url);
    }

    /// Current statistics.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            providers: lock(&self.entries).len(),
        }
    }

    fn slot(&self, provider: &ProviderConfig) -> Arc<Slot> {
        let key = CacheKey::of(provider);
        let mut entries = lock(&self.entries);
        if let Some(s) = entries.get(&key) {
            return s.clone();
        }
        if entries.len() >= self.config.max_providers.max(1) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, s)| s.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(EntryState::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            last_used: AtomicI64::new(self.clock.now()),
        });
        entries.insert(key, slot.clone());
        slot
    }

    fn elapsed_since(t: Option<i64>, now: i64) -> Option<i64> {
        // A clock that went backwards counts as "long ago" so nothing gets stuck.
        t.map(|t| now - t).filter(|d| *d >= 0)
    }

    fn recently_failed(&self, st: &EntryState, now: i64) -> bool {
        st.last_error.is_some()
            && Self::elapsed_since(st.last_attempt, now)
                .is_some_and(|d| d < self.config.failure_retry_secs)
    }

    fn decide(&self, st: &EntryState, wanted_kid: Option<&str>, now: i64) -> Decision {
        match &st.keys {
            Some(keys) if now < st.fresh_until => match wanted_kid {
                Some(kid) if !keys.contains_kid(kid) => {
                    let may_refetch = Self::elapsed_since(st.last_attempt, now)
                        .is_none_or(|d| d >= self.config.unknown_kid_refetch_secs);
                    if may_refetch {
                        Decision::Fetch
                    } else {
                        Decision::Serve(keys.clone())
                    }
                }
                _ => Decision::Serve(keys.clone()),
            },
            Some(keys) => {
                if self.recently_failed(st, now) {
                    if now < st.fresh_until.saturating_add(self.config.stale_grace_secs) {
                        Decision::Serve(keys.clone())
                    } else {
                        Decision::Fail(st.last_error.clone().unwrap_or_else(no_keys))
                    }
                } else {
                    Decision::Fetch
                }
            }
            None => {
                if self.recently_failed(st, now) {
                    Decision::Fail(st.last_error.clone().unwrap_or_else(no_keys))
                } else {
                    Decision::Fetch
                }
            }
        }
    }

    fn serve_without_fetch(&self, st: &EntryState, now: i64) -> Result<Arc<Jwks>, OidcError> {
        match &st.keys {
            Some(k) if now < st.fresh_until.saturating_add(self.config.stale_grace_secs) => {
                Ok(k.clone())
            }
            _ => Err(st.last_error.clone().unwrap_or_else(no_keys)),
        }
    }
}

fn no_keys() -> OidcError {
    OidcError::KeyRetrieval("no keys available".into())
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("config", &self.config)
            .field("providers", &lock(&self.entries).len())
            .finish_non_exhaustive()
    }
}
