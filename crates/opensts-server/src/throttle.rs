//! Request throttling: token buckets per source address and per account.
//!
//! The HTTP handler checks the source bucket before authentication (so a flood of unsigned or
//! badly signed requests is refused before any HMAC or store work) and the account bucket
//! right after authentication. A refused request is answered the way AWS does:
//! `Throttling` / `Rate exceeded`, HTTP 400 — clients' standard retry modes back off on it.
//!
//! IPv6 sources are bucketed per /64 (one host usually owns a whole /64). Buckets that refilled
//! completely carry no state worth keeping and are purged when the table grows past
//! [`MAX_TRACKED_KEYS`].

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use http::StatusCode;

use crate::config::OpsConfig;
use crate::error::ApiError;

/// Most buckets tracked per limiter before idle (full) buckets are purged; if every bucket is
/// busy the table is reset (throttling fails open rather than growing without bound).
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// Tolerance when comparing accumulated token counts.
const TOKEN_EPSILON: f64 = 1e-9;

/// AWS's answer to a throttled request.
pub fn throttling_error() -> ApiError {
    ApiError::new("Throttling", StatusCode::BAD_REQUEST, "Rate exceeded")
}

/// Count a request refused by the `scope` limit (`source` or `account`) and answer `Throttling`.
pub fn throttled(metrics: &crate::metrics::Metrics, scope: &'static str) -> ApiError {
    metrics.throttled(scope);
    throttling_error()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A set of token buckets, one per key, each refilling at `rate` tokens per second up to
/// `burst` tokens; a request takes one token.
#[derive(Debug)]
pub struct RateLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `None` when `rate` is zero or negative (unlimited). A zero burst is taken as 1.
    pub fn new(rate: f64, burst: u32) -> Option<RateLimiter<K>> {
        // NaN, infinities, zero and negative rates all mean "no limit".
        if rate.is_nan() || rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        Some(RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Take a token for `key` at `now`; `false` = throttled.
    pub fn check_at(&self, key: &K, now: Instant) -> bool {
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| refill(b.tokens, b.last, now, rate, burst) < burst);
            if buckets.len() >= MAX_TRACKED_KEYS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let tokens = refill(bucket.tokens, bucket.last, now, self.rate, self.burst);
        bucket.last = now.max(bucket.last);
        // The epsilon keeps float rounding of many small refills from losing a token.
        if tokens >= 1.0 - TOKEN_EPSILON {
            bucket.tokens = (tokens - 1.0).max(0.0);
            true
        } else {
            bucket.tokens = tokens;
            false
        }
    }

    pub fn check(&self, key: &K) -> bool {
        self.check_at(key, Instant::now())
    }

    /// Number of buckets tracked.
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn refill(tokens: f64, last: Instant, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(last).as_secs_f64();
    (tokens + elapsed * rate).min(burst)
}

/// The key of a source address: IPv4 as is, IPv6 by its /64 (IPv4-mapped IPv6 as IPv4).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Both limiters of a server.
#[derive(Debug)]
pub struct Throttle {
    per_source: Option<RateLimiter<IpAddr>>,
    per_account: Option<RateLimiter<String>>,
}

impl Throttle {
    pub fn new(ops: &OpsConfig) -> Throttle {
        Throttle {
            per_source: RateLimiter::new(ops.rate_per_source, ops.burst_per_source),
            per_account: RateLimiter::new(ops.rate_per_account, ops.burst_per_account),
        }
    }

    /// `false` when the source address is over its rate.
    pub fn allow_source(&self, ip: IpAddr) -> bool {
        self.per_source
            .as_ref()
            .is_none_or(|l| l.check(&source_key(ip)))
    }

    /// `false` when the account is over its rate.
    pub fn allow_account(&self, account_id: &str) -> bool {
        self.per_account
            .as_ref()
            .is_none_or(|l| l.check(&account_id.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let l = RateLimiter::<&str>::new(2.0, 3).unwrap();
        let t0 = Instant::now();
        assert!(l.check_at(&"a", t0));
        assert!(l.check_at(&"a", t0));
        assert!(l.check_at(&"a", t0));
        assert!(!l.check_at(&"a", t0), "burst of 3 exhausted");
        // Another key has its own bucket.
        assert!(l.check_at(&"b", t0));
        // 0.25 s at 2/s = half a token: still throttled.
        assert!(!l.check_at(&"a", t0 + Duration::from_millis(250)));
        // 0.5 s = one token.
        assert!(l.check_at(&"a", t0 + Duration::from_millis(500)));
        assert!(!l.check_at(&"a", t0 + Duration::from_millis(500)));
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(l.check_at(&"a", later));
        }
        assert!(!l.check_at(&"a", later));
    }

    #[test]
    fn sustained_rate_is_enforced() {
        let l = RateLimiter::<u8>::new(10.0, 1).unwrap();
        let t0 = Instant::now();
        let mut allowed = 0;
        // 1000 attempts over 10 seconds (one every 10 ms) at 10/s: about 100 allowed.
        for i in 0..1000u64 {
            if l.check_at(&0, t0 + Duration::from_millis(i * 10)) {
                allowed += 1;
            }
        }
        assert!((99..=101).contains(&allowed), "{allowed}");
    }

    #[test]
    fn zero_rate_is_unlimited_and_zero_burst_is_one() {
        assert!(RateLimiter::<u8>::new(0.0, 10).is_none());
        assert!(RateLimiter::<u8>::new(-1.0, 10).is_none());
        assert!(RateLimiter::<u8>::new(f64::NAN, 10).is_none());
        let l = RateLimiter::<u8>::new(1.0, 0).unwrap();
        let t0 = Instant::now();
        assert!(l.check_at(&1, t0));
        assert!(!l.check_at(&1, t0));
    }

    #[test]
    fn table_is_bounded() {
        let l = RateLimiter::<u32>::new(1.0, 1).unwrap();
        let t0 = Instant::now();
        for k in 0..(MAX_TRACKED_KEYS as u32) {
            l.check_at(&k, t0);
        }
        assert_eq!(l.len(), MAX_TRACKED_KEYS);
        // All buckets are busy: a new key resets the table instead of growing it.
        assert!(l.check_at(&u32::MAX, t0));
        assert_eq!(l.len(), 1);
        // After refilling, idle buckets are purged first.
        for k in 0..(MAX_TRACKED_KEYS as u32 - 1) {
            l.check_at(&k, t0);
        }
        let later = t0 + Duration::from_secs(5);
        assert!(l.check_at(&(u32::MAX - 1), later));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn ipv6_is_keyed_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_key(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn throttle_answer_is_aws_shaped() {
        let e = throttling_error();
        assert_eq!(e.code, "Throttling");
        assert_eq!(e.message, "Rate exceeded");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.fault, crate::error::Fault::Sender);
    }

    #[test]
    fn throttle_from_config() {
        let ops = OpsConfig {
            rate_per_account: 1.0,
            burst_per_account: 2,
            rate_per_source: 0.0,
            ..OpsConfig::default()
        };
        let t = Throttle::new(&ops);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..100 {
            assert!(t.allow_source(ip), "per-source disabled");
        }
        assert!(t.allow_account("111122223333"));
        assert!(t.allow_account("111122223333"));
        assert!(!t.allow_account("111122223333"));
        assert!(t.allow_account("444455556666"));
    }
}
