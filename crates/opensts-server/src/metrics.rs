//! Prometheus metrics: a small hand-rolled registry rendered in the text exposition format.
//!
//! Why not the `metrics` + `metrics-exporter-prometheus` crates: their recorder is process-global,
//! so several servers in one process (the integration tests) would share counters, and the
//! exporter pulls in a dozen crates for what is here a handful of counters and one histogram
//! family. Every label value is a `&'static str` from a bounded set (action names from the
//! action table, AWS error codes, reason codes), so label cardinality cannot be driven by clients.
//!
//! Series:
//! * `opensts_requests_total{api,action,code}` — API requests by action and outcome (`OK` or the
//!   AWS error code).
//! * `opensts_request_duration_seconds{api,action}` — latency histogram per action.
//! * `opensts_throttled_total{scope}` — requests refused with `Throttling` (`source`/`account`).
//! * `opensts_jwks_fetches_total`, `opensts_jwks_fetch_failures_total{reason}` — OIDC
//!   discovery + JWKS fetches.
//! * `opensts_federation_rejections_total{protocol,reason}` — refused AssumeRoleWithSAML /
//!   AssumeRoleWithWebIdentity calls.
//! * `opensts_key_info{purpose,key_id,state}` — every key of the key rings (`current`/`retired`);
//!   `opensts_current_key_id{purpose}` — the sealing key's id.
//! * `opensts_audit_events_total`, `opensts_audit_write_errors_total`, `opensts_tls_reloads_total{result}`,
//!   `opensts_inflight_requests`, `opensts_build_info{version}`.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use opensts_oidc::{FetchedJwks, JwksFetcher, OidcError, ProviderConfig};

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters keyed by a tuple of static label values.
struct CounterFamily<K> {
    map: RwLock<HashMap<K, Arc<AtomicU64>>>,
}

impl<K> Default for CounterFamily<K> {
    fn default() -> Self {
        CounterFamily {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone + Ord> CounterFamily<K> {
    fn cell(&self, key: &K) -> Option<Arc<AtomicU64>> {
        if let Ok(m) = self.map.read()
            && let Some(c) = m.get(key)
        {
            return Some(c.clone());
        }
        let mut m = self.map.write().ok()?;
        Some(m.entry(key.clone()).or_default().clone())
    }

    fn inc(&self, key: K) {
        if let Some(c) = self.cell(&key) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Vec<(K, u64)> {
        let mut v: Vec<(K, u64)> = match self.map.read() {
            Ok(m) => m
                .iter()
                .map(|(k, c)| (k.clone(), c.load(Ordering::Relaxed)))
                .collect(),
            Err(_) => Vec::new(),
        };
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[derive(Default)]
struct Histogram {
    /// Per-bucket (non-cumulative) counts; the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        if let Some(b) = self.buckets.get(idx) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// One key of a key ring, as shown by `opensts_key_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub purpose: &'static str,
    pub key_id: u32,
    pub current: bool,
}

/// The registry. One per server (not process-global).
#[derive(Default)]
pub struct Metrics {
    requests: CounterFamily<(&'static str, &'static str, &'static str)>,
    latency: RwLock<HashMap<(&'static str, &'static str), Arc<Histogram>>>,
    throttled: CounterFamily<&'static str>,
    jwks_fetches: AtomicU64,
    jwks_failures: CounterFamily<&'static str>,
    federation_rejections: CounterFamily<(&'static str, &'static str)>,
    audit_events: AtomicU64,
    audit_errors: AtomicU64,
    tls_reloads: CounterFamily<&'static str>,
    inflight: AtomicI64,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// One finished API request: `code` is `OK` or the AWS error code.
    pub fn observe_request(
        &self,
        api: &'static str,
        action: &'static str,
        code: &'static str,
        elapsed: Duration,
    ) {
        self.requests.inc((api, action, code));
        let key = (api, action);
        let hist = match self.latency.read() {
            Ok(m) => m.get(&key).cloned(),
            Err(_) => None,
        };
        let hist = match hist {
            Some(h) => Some(h),
            None => self
                .latency
                .write()
                .ok()
                .map(|mut m| m.entry(key).or_default().clone()),
        };
        if let Some(h) = hist {
            h.observe(elapsed);
        }
    }

    pub fn throttled(&self, scope: &'static str) {
        self.throttled.inc(scope);
    }

    pub fn jwks_fetch(&self) {
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn jwks_failure(&self, reason: &'static str) {
        self.jwks_failures.inc(reason);
    }

    /// A refused federation call (`protocol` = `saml` or `oidc`).
    pub fn federation_rejection(&self, protocol: &'static str, reason: &'static str) {
        self.federation_rejections.inc((protocol, reason));
    }

    pub fn audit_event(&self) {
        self.audit_events.fetch_add(1, Ordering::Relaxed);
    }

    pub fn audit_error(&self) {
        self.audit_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS certificate reload (`result` = `ok` or `error`).
    pub fn tls_reload(&self, result: &'static str) {
        self.tls_reloads.inc(result);
    }

    /// Count a request as in flight until the guard is dropped.
    pub fn inflight(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(self.clone())
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self, keys: &[KeyInfo]) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "opensts_build_info",
            "gauge",
            "Build information.",
        );
        let _ = writeln!(
            out,
            "opensts_build_info{{version=\"{}\"}} 1",
            esc(env!("CARGO_PKG_VERSION"))
        );

        header(
            &mut out,
            "opensts_requests_total",
            "counter",
            "API requests by action and outcome (OK or the AWS error code).",
        );
        for ((api, action, code), n) in self.requests.snapshot() {
            let _ = writeln!(
                out,
                "opensts_requests_total{{api=\"{}\",action=\"{}\",code=\"{}\"}} {n}",
                esc(api),
                esc(action),
                esc(code)
            );
        }

        header(
            &mut out,
            "opensts_request_duration_seconds",
            "histogram",
            "API request latency by action.",
        );
        let mut hists: Vec<((&'static str, &'static str), Arc<Histogram>)> =
            match self.latency.read() {
                Ok(m) => m.iter().map(|(k, h)| (*k, h.clone())).collect(),
                Err(_) => Vec::new(),
            };
        hists.sort_by(|a, b| a.0.cmp(&b.0));
        for ((api, action), h) in hists {
            let labels = format!("api=\"{}\",action=\"{}\"", esc(api), esc(action));
            let mut cumulative = 0u64;
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += h.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "opensts_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "opensts_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "opensts_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "opensts_request_duration_seconds_count{{{labels}}} {count}"
            );
        }

        header(
            &mut out,
            "opensts_throttled_total",
            "counter",
            "Requests refused with Throttling, by bucket scope (source or account).",
        );
        for (scope, n) in self.throttled.snapshot() {
            let _ = writeln!(
                out,
                "opensts_throttled_total{{scope=\"{}\"}} {n}",
                esc(scope)
            );
        }

        header(
            &mut out,
            "opensts_jwks_fetches_total",
            "counter",
            "OIDC discovery + JWKS fetches.",
        );
        let _ = writeln!(
            out,
            "opensts_jwks_fetches_total {}",
            self.jwks_fetches.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "opensts_jwks_fetch_failures_total",
            "counter",
            "Failed OIDC discovery + JWKS fetches by reason.",
        );
        for (reason, n) in self.jwks_failures.snapshot() {
            let _ = writeln!(
                out,
                "opensts_jwks_fetch_failures_total{{reason=\"{}\"}} {n}",
                esc(reason)
            );
        }

        header(
            &mut out,
            "opensts_federation_rejections_total",
            "counter",
            "Refused AssumeRoleWithSAML (saml) and AssumeRoleWithWebIdentity (oidc) calls by reason.",
        );
        for ((protocol, reason), n) in self.federation_rejections.snapshot() {
            let _ = writeln!(
                out,
                "opensts_federation_rejections_total{{protocol=\"{}\",reason=\"{}\"}} {n}",
                esc(protocol),
                esc(reason)
            );
        }

        header(
            &mut out,
            "opensts_key_info",
            "gauge",
            "Keys of the key rings: 1 per key, state current (seals) or retired (verifies only).",
        );
        for k in keys {
            let state = if k.current { "current" } else { "retired" };
            let _ = writeln!(
                out,
                "opensts_key_info{{purpose=\"{}\",key_id=\"{}\",state=\"{state}\"}} 1",
                esc(k.purpose),
                k.key_id
            );
        }
        header(
            &mut out,
            "opensts_current_key_id",
            "gauge",
            "Id of the key that seals new tokens/messages, per key ring.",
        );
        for k in keys.iter().filter(|k| k.current) {
            let _ = writeln!(
                out,
                "opensts_current_key_id{{purpose=\"{}\"}} {}",
                esc(k.purpose),
                k.key_id
            );
        }

        header(
            &mut out,
            "opensts_audit_events_total",
            "counter",
            "Audit events written.",
        );
        let _ = writeln!(
            out,
            "opensts_audit_events_total {}",
            self.audit_events.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "opensts_audit_write_errors_total",
            "counter",
            "Audit events that could not be written.",
        );
        let _ = writeln!(
            out,
            "opensts_audit_write_errors_total {}",
            self.audit_errors.load(Ordering::Relaxed)
        );

        header(
            &mut out,
            "opensts_tls_reloads_total",
            "counter",
            "TLS certificate reloads by result.",
        );
        for (result, n) in self.tls_reloads.snapshot() {
            let _ = writeln!(
                out,
                "opensts_tls_reloads_total{{result=\"{}\"}} {n}",
                esc(result)
            );
        }

        header(
            &mut out,
            "opensts_inflight_requests",
            "gauge",
            "API requests being processed.",
        );
        let _ = writeln!(
            out,
            "opensts_inflight_requests {}",
            self.inflight.load(Ordering::Relaxed)
        );
        out
    }
}

/// Decrements the in-flight gauge when dropped.
pub struct InflightGuard(Arc<Metrics>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escape a label value (`\`, `"`, newline).
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\\', '"', '\n']) {
        std::borrow::Cow::Owned(
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n"),
        )
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

tokio::task_local! {
    static REJECTION: Cell<Option<&'static str>>;
}

/// Called by the federation handlers when they refuse a SAML assertion or a web identity token:
/// records the stable reason code for `opensts_federation_rejections_total`. Outside a request
/// scope (unit tests of handlers) it does nothing.
pub fn note_rejection(reason: &'static str) {
    let _ = REJECTION.try_with(|c| c.set(Some(reason)));
}

/// Run `f` with a rejection-reason slot; returns its output and the reason noted, if any.
pub async fn with_rejection_scope<F: std::future::Future>(
    f: F,
) -> (F::Output, Option<&'static str>) {
    REJECTION
        .scope(Cell::new(None), async move {
            let out = f.await;
            let reason = REJECTION.try_with(Cell::get).ok().flatten();
            (out, reason)
        })
        .await
}

/// A [`JwksFetcher`] that counts fetches and failures.
pub struct CountingFetcher {
    inner: Arc<dyn JwksFetcher>,
    metrics: Arc<Metrics>,
}

impl CountingFetcher {
    pub fn new(inner: Arc<dyn JwksFetcher>, metrics: Arc<Metrics>) -> CountingFetcher {
        CountingFetcher { inner, metrics }
    }
}

#[async_trait]
impl JwksFetcher for CountingFetcher {
    async fn fetch(&self, provider: &ProviderConfig) -> Result<FetchedJwks, OidcError> {
        self.metrics.jwks_fetch();
        let result = self.inner.fetch(provider).await;
        if let Err(e) = &result {
            self.metrics.jwks_failure(e.reason_code());
        }
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_and_histograms_render() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.observe_request("sts", "GetCallerIdentity", "OK", Duration::from_millis(2));
        }
        m.observe_request(
            "sts",
            "GetCallerIdentity",
            "InvalidClientTokenId",
            Duration::from_secs(20),
        );
        m.throttled("account");
        m.federation_rejection("oidc", "bad_signature");
        let text = m.render(&[
            KeyInfo {
                purpose: "session-token",
                key_id: 1,
                current: false,
            },
            KeyInfo {
                purpose: "session-token",
                key_id: 2,
                current: true,
            },
        ]);
        assert!(text.contains(
            "opensts_requests_total{api=\"sts\",action=\"GetCallerIdentity\",code=\"OK\"} 3\n"
        ));
        assert!(text.contains(
            "opensts_requests_total{api=\"sts\",action=\"GetCallerIdentity\",code=\"InvalidClientTokenId\"} 1\n"
        ));
        assert!(text.contains(
            "opensts_request_duration_seconds_bucket{api=\"sts\",action=\"GetCallerIdentity\",le=\"0.0025\"} 3\n"
        ));
        assert!(text.contains(
            "opensts_request_duration_seconds_bucket{api=\"sts\",action=\"GetCallerIdentity\",le=\"10\"} 3\n"
        ));
        assert!(text.contains(
            "opensts_request_duration_seconds_bucket{api=\"sts\",action=\"GetCallerIdentity\",le=\"+Inf\"} 4\n"
        ));
        assert!(text.contains(
            "opensts_request_duration_seconds_count{api=\"sts\",action=\"GetCallerIdentity\"} 4\n"
        ));
        let sum = line(&text, "opensts_request_duration_seconds_sum").unwrap();
        let v: f64 = sum.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((v - 20.006).abs() < 1e-6, "{v}");
        assert!(text.contains("opensts_throttled_total{scope=\"account\"} 1\n"));
        assert!(text.contains(
            "opensts_federation_rejections_total{protocol=\"oidc\",reason=\"bad_signature\"} 1\n"
        ));
        assert!(text.contains(
            "opensts_key_info{purpose=\"session-token\",key_id=\"1\",state=\"retired\"} 1\n"
        ));
        assert!(text.contains("opensts_current_key_id{purpose=\"session-token\"} 2\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(esc("plain"), "plain");
    }

    #[test]
    fn inflight_guard_counts() {
        let m = Arc::new(Metrics::new());
        let g = m.inflight();
        assert!(m.render(&[]).contains("opensts_inflight_requests 1\n"));
        drop(g);
        assert!(m.render(&[]).contains("opensts_inflight_requests 0\n"));
    }

    #[tokio::test]
    async fn rejection_scope_captures_reason() {
        let ((), reason) = with_rejection_scope(async { note_rejection("expired") }).await;
        assert_eq!(reason, Some("expired"));
        let ((), none) = with_rejection_scope(async {}).await;
        assert_eq!(none, None);
        note_rejection("outside"); // no scope: ignored
    }
}
