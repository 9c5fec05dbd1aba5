//! Running one scenario: N keep-alive connections, each sending its next request as soon as
//! the previous answer is read (closed loop), for a duration or a total number of requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde::Serialize;

use crate::client::{Conn, Prepared};
use crate::stats::Latency;
use crate::{BoxError, unix_now};

/// Builds the request for a given time (a fresh signature, token or assertion each call).
pub type Maker = Arc<dyn Fn(i64) -> Result<Prepared, BoxError> + Send + Sync>;

/// Longest error body kept in the summary.
pub const ERROR_SAMPLE_CHARS: usize = 300;

/// How long and how hard.
#[derive(Clone, Debug)]
pub struct Load {
    pub connections: usize,
    /// Measured time (ignored when `total` is set).
    pub duration: Duration,
    /// Unmeasured time before it (connections warm, caches filled).
    pub warmup: Duration,
    /// Sign once per connection and resend the same bytes.
    pub replay: bool,
    /// Stop after this many requests instead of after `duration` (the long run).
    pub total: Option<u64>,
    /// Throughput windows reported in the long run.
    pub windows: u64,
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub signature: &'static str,
    pub connections: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub latency: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Long run: requests per second of each consecutive window of `total / windows` requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub window_rps: Vec<f64>,
}

struct Worker {
    ok: u64,
    errors: u64,
    samples: Vec<u32>,
    first_error: Option<String>,
}

/// What a scenario sends and what a successful answer contains.
pub struct Scenario {
    pub name: String,
    pub maker: Maker,
    /// A string every successful (HTTP 200) answer contains, e.g. `<AssumeRoleResult>`.
    pub expect: &'static str,
    /// False when the request cannot be replayed (a SAML assertion is single-use).
    pub replayable: bool,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn describe(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(ERROR_SAMPLE_CHARS).collect();
    format!("HTTP {status}: {cut}")
}

/// Run `scenario` against `addr` under `load`.
pub async fn run(
    addr: SocketAddr,
    scenario: &Scenario,
    load: &Load,
) -> Result<ScenarioResult, BoxError> {
    let replay = load.replay && scenario.replayable;
    let start = Instant::now();
    let (measure_from, end) = match load.total {
        Some(_) => (start, None),
        None => {
            let from = start + load.warmup;
            (from, Some(from + load.duration))
        }
    };
    let tickets = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let window = load.total.map(|t| (t / load.windows.max(1)).max(1));
    let marks: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        let maker = scenario.maker.clone();
        let expect = scenario.expect.as_bytes();
        let (tickets, completed, marks) = (tickets.clone(), completed.clone(), marks.clone());
        let total = load.total;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let fixed = if replay {
                Some(maker(unix_now())?)
            } else {
                None
            };
            let mut w = Worker {
                ok: 0,
                errors: 0,
                samples: Vec::with_capacity(1 << 16),
                first_error: None,
            };
            loop {
                match (total, end) {
                    (Some(t), _) => {
                        if tickets.fetch_add(1, Ordering::Relaxed) >= t {
                            break;
                        }
                    }
                    (None, Some(e)) => {
                        if Instant::now() >= e {
                            break;
                        }
                    }
                    (None, None) => break,
                }
                let p = match &fixed {
                    Some(p) => p.clone(),
                    None => maker(unix_now())?,
                };
                let t0 = Instant::now();
                let res = conn.send(&p).await;
                let t1 = Instant::now();
                let measured = t0 >= measure_from;
                match res {
                    Ok((status, body)) if status == StatusCode::OK && contains(&body, expect) => {
                        if measured {
                            w.ok += 1;
                            let us = t1.duration_since(t0).as_micros();
                            w.samples.push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                        if let Some(win) = window {
                            let n = completed.fetch_add(1, Ordering::Relaxed) + 1;
                            if n % win == 0
                                && let Ok(mut m) = marks.lock()
                            {
                                m.push(t1);
                            }
                        }
                    }
                    Ok((status, body)) => {
                        if measured {
                            w.errors += 1;
                            w.first_error.get_or_insert_with(|| describe(status, &body));
                        }
                    }
                    Err(e) => {
                        if measured {
                            w.errors += 1;
                            w.first_error
                                .get_or_insert_with(|| format!("transport: {e}"));
                        }
                        conn = Conn::connect(addr).await?;
                    }
                }
            }
            Ok::<Worker, BoxError>(w)
        }));
    }
    let mut ok = 0;
    let mut errors = 0;
    let mut samples = Vec::new();
    let mut first_error = None;
    for t in tasks {
        let w = t.await??;
        ok += w.ok;
        errors += w.errors;
        samples.extend_from_slice(&w.samples);
        if first_error.is_none() {
            first_error = w.first_error;
        }
    }
    let finished = Instant::now();
    let duration_s = match end {
        Some(_) => load.duration.as_secs_f64(),
        None => finished.duration_since(start).as_secs_f64(),
    };
    let mut window_rps = Vec::new();
    if let Some(win) = window {
        let mut m = marks.lock().map(|m| m.clone()).unwrap_or_default();
        m.sort();
        let mut prev = start;
        for t in m {
            let secs = t.duration_since(prev).as_secs_f64();
            if secs > 0.0 {
                window_rps.push(win as f64 / secs);
            }
            prev = t;
        }
    }
    Ok(ScenarioResult {
        scenario: scenario.name.clone(),
        signature: if replay { "replayed" } else { "fresh" },
        connections: load.connections,
        duration_s,
        requests: ok,
        errors,
        rps: if duration_s > 0.0 {
            ok as f64 / duration_s
        } else {
            0.0
        },
        latency: Latency::from_samples(samples),
        first_error,
        window_rps,
    })
}
