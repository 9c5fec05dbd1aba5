//! JwksCache policy with a fake clock and a fake fetcher.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{fixtures, jwks_v1, jwks_v2};
use opensts_oidc::{
    CacheConfig, Clock, DEFAULT_CACHE_TTL_SECS, FAILURE_RETRY_SECS, FetchedJwks, Jwks, JwksCache,
    JwksFetcher, MAX_CACHE_TTL_SECS, MIN_CACHE_TTL_SECS, OidcError, ProviderConfig,
    STALE_GRACE_SECS, UNKNOWN_KID_REFETCH_SECS,
};

struct FakeClock(AtomicI64);

impl FakeClock {
    fn at(t: i64) -> Arc<Self> {
        Arc::new(FakeClock(AtomicI64::new(t)))
    }
    fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
    fn advance(&self, d: i64) {
        self.0.fetch_add(d, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct FakeFetcher {
    calls: AtomicUsize,
    next: Mutex<Result<FetchedJwks, OidcError>>,
    delay: Duration,
    seen: Mutex<Vec<ProviderConfig>>,
}

impl FakeFetcher {
    fn new(jwks: Jwks, max_age: Option<i64>) -> Arc<Self> {
        Arc::new(FakeFetcher {
            calls: AtomicUsize::new(0),
            next: Mutex::new(Ok(FetchedJwks { jwks, max_age })),
            delay: Duration::ZERO,
            seen: Mutex::new(Vec::new()),
        })
    }
    fn slow(jwks: Jwks, max_age: Option<i64>, delay: Duration) -> Arc<Self> {
        Arc::new(FakeFetcher {
            calls: AtomicUsize::new(0),
            next: Mutex::new(Ok(FetchedJwks { jwks, max_age })),
            delay,
            seen: Mutex::new(Vec::new()),
        })
    }
    fn set(&self, r: Result<FetchedJwks, OidcError>) {
        *self.next.lock().unwrap() = r;
    }
    fn fail(&self) {
        self.set(Err(OidcError::IdpCommunication(
            "connection refused".into(),
        )));
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl JwksFetcher for FakeFetcher {
    async fn fetch(&self, provider: &ProviderConfig) -> Result<FetchedJwks, OidcError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(provider.clone());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.next.lock().unwrap().clone()
    }
}

const T0: i64 = 1_750_000_000;

fn provider() -> ProviderConfig {
    ProviderConfig::new("https://idp.example.com", vec!["client-a".into()])
}

fn cache(fetcher: Arc<FakeFetcher>, clock: Arc<FakeClock>) -> JwksCache {
    JwksCache::with_config(fetcher, clock, CacheConfig::default())
}

#[tokio::test]
async fn max_age_is_honoured() {
    let f = FakeFetcher::new(jwks_v1(), Some(300));
    let clock = FakeClock::at(T0);
    let c = cache(f.clone(), clock.clone());
    let p = provider();
    c.keys_for(&p, Some("rsa-1")).await.unwrap();
    assert_eq!(f.calls(), 1);
    clock.advance(299);
    c.keys_for(&p, Some("rsa-1")).await.unwrap();
    c.keys_for(&p, None).await.unwrap();
    assert_eq!(f.calls(), 1);
    clock.advance(1);
    c.keys_for(&p, Some("rsa-1")).await.unwrap();
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn ttl_is_clamped_and_defaulted() {
    for (max_age, expected_ttl) in [
        (Some(0), MIN_CACHE_TTL_SECS),
        (Some(-100), MIN_CACHE_TTL_SECS),
        (Some(1), MIN_CACHE_TTL_SECS),
        (Some(10 * 86_400), MAX_CACHE_TTL_SECS),
        (Some(i64::MAX), MAX_CACHE_TTL_SECS),
        (None, DEFAULT_CACHE_TTL_SECS),
    ] {
        let f = FakeFetcher::new(jwks_v1(), max_age);
        let clock = FakeClock::at(T0);
        let c = cache(f.clone(), clock.clone());
        c.keys_for(&provider(), None).await.unwrap();
        clock.set(T0 + expected_ttl - 1);
        c.keys_for(&provider(), None).await.unwrap();
        assert_eq!(f.calls(), 1, "{max_age:?}");
        clock.set(T0 + expected_ttl);
        c.keys_for(&provider(), None).await.unwrap();
        assert_eq!(f.calls(), 2, "{max_age:?}");
    }
}

#[tokio::test]
async fn a_thousand_bogus_kids_cause_at_most_one_fetch_per_window() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let clock = FakeClock::at(fx.now);
    let c = cache(f.clone(), clock.clone());
    let p = fx.provider("default");
    c.keys_for(&p, Some("rsa-1")).await.unwrap();
    assert_eq!(f.calls(), 1);

    // Inside the window of the initial fetch: no refetch at all.
    for i in 0..1000 {
        let r = c.keys_for(&p, Some(&format!("bogus-{i}"))).await.unwrap();
        assert!(!r.contains_kid(&format!("bogus-{i}")));
    }
    assert_eq!(f.calls(), 1);

    // Next window: one refetch for the first bogus kid, none for the other 999.
    clock.advance(UNKNOWN_KID_REFETCH_SECS);
    for i in 0..1000 {
        c.keys_for(&p, Some(&format!("bogus2-{i}"))).await.unwrap();
    }
    assert_eq!(f.calls(), 2);

    // Through the full verifier too (tokens signed with unknown kids).
    let t = &fx.case("unknown_kid").token;
    clock.advance(UNKNOWN_KID_REFETCH_SECS - 1);
    for _ in 0..1000 {
        assert_eq!(c.verify(t, &p).await, Err(OidcError::UnknownKey));
    }
    assert_eq!(f.calls(), 2);
    clock.advance(1);
    for _ in 0..1000 {
        assert_eq!(c.verify(t, &p).await, Err(OidcError::UnknownKey));
    }
    assert_eq!(f.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    let f = FakeFetcher::slow(jwks_v1(), Some(3600), Duration::from_millis(100));
    let clock = FakeClock::at(T0);
    let c = Arc::new(cache(f.clone(), clock.clone()));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let c = c.clone();
        set.spawn(async move { c.keys_for(&provider(), Some(&format!("bogus-{i}"))).await });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().is_ok());
    }
    // cold cache: exactly one fetch serves all 1000 concurrent callers
    assert_eq!(f.calls(), 1);

    clock.advance(UNKNOWN_KID_REFETCH_SECS);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let c = c.clone();
        set.spawn(async move { c.keys_for(&provider(), Some(&format!("again-{i}"))).await });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().is_ok());
    }
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn implausible_kids_never_fetch() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let c = cache(f.clone(), FakeClock::at(fx.now));
    let p = fx.provider("default");
    for name in ["kid_path_traversal", "kid_absolute_path", "kid_too_long"] {
        assert_eq!(
            c.verify(&fx.case(name).token, &p).await,
            Err(OidcError::UnknownKey),
            "{name}"
        );
    }
    assert_eq!(f.calls(), 0);
}

#[tokio::test]
async fn wrong_issuer_or_garbage_never_fetches() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let c = cache(f.clone(), FakeClock::at(fx.now));
    let p = fx.provider("default");
    for name in [
        "wrong_iss",
        "alg_none",
        "hs256_rsa_pem_secret",
        "oversized",
        "missing_iss",
    ] {
        assert!(c.verify(&fx.case(name).token, &p).await.is_err(), "{name}");
    }
    assert!(c.verify("garbage", &p).await.is_err());
    assert_eq!(f.calls(), 0);
}

#[tokio::test]
async fn stale_keys_are_served_within_grace_then_error() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(60));
    let clock = FakeClock::at(fx.now - 100);
    let c = cache(f.clone(), clock.clone());
    let p = fx.provider("default");
    c.keys_for(&p, None).await.unwrap();
    let fresh_until = fx.now - 100 + 60;

    f.fail();
    clock.set(fresh_until + 1);
    // refresh fails, stale keys still verify tokens
    let token = &fx.case("rs256_valid").token;
    assert!(c.verify(token, &p).await.is_ok());
    assert_eq!(f.calls(), 2);
    // no new attempt until FAILURE_RETRY_SECS passed
    clock.advance(FAILURE_RETRY_SECS - 1);
    assert!(c.keys_for(&p, None).await.is_ok());
    assert_eq!(f.calls(), 2);
    clock.advance(1);
    assert!(c.keys_for(&p, None).await.is_ok());
    assert_eq!(f.calls(), 3);

    // last moment of the grace period
    clock.set(fresh_until + STALE_GRACE_SECS - 1);
    assert!(c.keys_for(&p, None).await.is_ok());
    assert_eq!(f.calls(), 4);
    // grace over: the last fetch error surfaces (the failed attempt was 1 s ago, so no
    // new attempt yet)
    clock.set(fresh_until + STALE_GRACE_SECS);
    assert!(matches!(
        c.keys_for(&p, None).await,
        Err(OidcError::IdpCommunication(_))
    ));
    assert_eq!(f.calls(), 4);
    // next attempt, still failing: error, no stale keys any more
    clock.advance(FAILURE_RETRY_SECS);
    assert!(matches!(
        c.verify(token, &p).await,
        Err(OidcError::IdpCommunication(_))
    ));
    assert_eq!(f.calls(), 5);
    // the IdP is back
    f.set(Ok(FetchedJwks {
        jwks: jwks_v1(),
        max_age: Some(60),
    }));
    clock.advance(FAILURE_RETRY_SECS);
    assert!(c.keys_for(&p, None).await.is_ok());
    assert_eq!(f.calls(), 6);
}

#[tokio::test]
async fn unreachable_with_no_keys_is_idp_communication_error() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), None);
    f.fail();
    let clock = FakeClock::at(fx.now);
    let c = cache(f.clone(), clock.clone());
    let p = fx.provider("default");
    let err = c
        .verify(&fx.case("rs256_valid").token, &p)
        .await
        .unwrap_err();
    assert!(matches!(err, OidcError::IdpCommunication(_)));
    assert_eq!(err.aws_error_code(), "IDPCommunicationError");
    assert!(err.is_retryable());
    // negative caching: no new attempt within FAILURE_RETRY_SECS
    for _ in 0..100 {
        assert!(c.keys_for(&p, None).await.is_err());
    }
    assert_eq!(f.calls(), 1);
    clock.advance(FAILURE_RETRY_SECS);
    assert!(c.keys_for(&p, None).await.is_err());
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn unknown_kid_refetch_failure_keeps_fresh_keys() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let clock = FakeClock::at(fx.now);
    let c = cache(f.clone(), clock.clone());
    let p = fx.provider("default");
    c.keys_for(&p, None).await.unwrap();
    f.fail();
    clock.advance(UNKNOWN_KID_REFETCH_SECS);
    assert_eq!(
        c.verify(&fx.case("unknown_kid").token, &p).await,
        Err(OidcError::UnknownKey)
    );
    assert_eq!(f.calls(), 2);
    assert!(c.verify(&fx.case("rs256_valid").token, &p).await.is_ok());
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn key_rotation_new_kid_is_accepted() {
    let fx = fixtures();
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let clock = FakeClock::at(fx.now - 600);
    let c = cache(f.clone(), clock.clone());
    let p = fx.provider("default");
    assert!(c.keys_for(&p, None).await.is_ok());
    // the IdP rotates: rsa-2 appears and is used right away
    f.set(Ok(FetchedJwks {
        jwks: jwks_v2(),
        max_age: Some(3600),
    }));
    clock.set(fx.now);
    let v = c
        .verify(&fx.case("rotated_rs256_valid").token, &p)
        .await
        .unwrap();
    assert_eq!(v.key_id.as_deref(), Some("rsa-2"));
    assert_eq!(f.calls(), 2);
    // old keys keep working, no further fetch
    assert!(c.verify(&fx.case("rs256_valid").token, &p).await.is_ok());
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn empty_key_set_is_a_key_retrieval_error() {
    let f = FakeFetcher::new(Jwks::from_json(br#"{"keys":[]}"#).unwrap(), None);
    let c = cache(f.clone(), FakeClock::at(T0));
    let err = c.keys_for(&provider(), None).await.unwrap_err();
    assert!(matches!(err, OidcError::KeyRetrieval(_)));
    assert_eq!(err.aws_error_code(), "InvalidIdentityToken");
    assert_eq!(
        err.message(),
        "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"
    );
}

#[tokio::test]
async fn thumbprints_are_part_of_the_cache_key_and_invalidate_works() {
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let c = cache(f.clone(), FakeClock::at(T0));
    let plain = provider();
    let pinned =
        provider().with_thumbprints(vec!["990F4193972F2BECF12DDEDA5237F9C952F20D9E".into()]);
    let pinned_lower =
        provider().with_thumbprints(vec!["990f4193972f2becf12ddeda5237f9c952f20d9e".into()]);
    c.keys_for(&plain, None).await.unwrap();
    c.keys_for(&pinned, None).await.unwrap();
    c.keys_for(&pinned_lower, None).await.unwrap();
    assert_eq!(f.calls(), 2);
    assert_eq!(f.seen.lock().unwrap()[1].thumbprints.len(), 1);
    assert_eq!(c.stats().providers, 2);
    c.invalidate("https://idp.example.com");
    assert_eq!(c.stats().providers, 0);
    c.keys_for(&plain, None).await.unwrap();
    assert_eq!(f.calls(), 3);
}

#[tokio::test]
async fn provider_count_is_bounded() {
    let f = FakeFetcher::new(jwks_v1(), Some(3600));
    let clock = FakeClock::at(T0);
    let c = JwksCache::with_config(
        f.clone(),
        clock.clone(),
        CacheConfig {
            max_providers: 3,
            ..CacheConfig::default()
        },
    );
    for i in 0..10 {
        clock.advance(1);
        let p = ProviderConfig::new(format!("https://idp{i}.example.com"), vec![]);
        c.keys_for(&p, None).await.unwrap();
    }
    assert_eq!(c.stats().providers, 3);
}

#[tokio::test]
async fn clock_going_backwards_does_not_wedge_the_cache() {
    let f = FakeFetcher::new(jwks_v1(), Some(60));
    let clock = FakeClock::at(T0);
    let c = cache(f.clone(), clock.clone());
    f.fail();
    assert!(c.keys_for(&provider(), None).await.is_err());
    clock.set(T0 - 10_000);
    f.set(Ok(FetchedJwks {
        jwks: jwks_v1(),
        max_age: Some(60),
    }));
    assert!(c.keys_for(&provider(), None).await.is_ok());
    assert_eq!(f.calls(), 2);
}
