//! Latency percentiles from all samples (sorted; exact, no histogram buckets).

use serde::Serialize;

/// Latency summary in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
fn percentile(sorted: &[u32], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied().map(u64::from).unwrap_or(0)
}

impl Latency {
    pub fn from_samples(mut samples: Vec<u32>) -> Latency {
        samples.sort_unstable();
        let sum: u64 = samples.iter().map(|&s| u64::from(s)).sum();
        Latency {
            p50_us: percentile(&samples, 0.50),
            p90_us: percentile(&samples, 0.90),
            p99_us: percentile(&samples, 0.99),
            p999_us: percentile(&samples, 0.999),
            max_us: samples.last().copied().map(u64::from).unwrap_or(0),
            mean_us: sum.checked_div(samples.len() as u64).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let l = Latency::from_samples((1..=1000).rev().collect());
        assert_eq!(
            (l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us),
            (500, 900, 990, 999, 1000)
        );
        assert_eq!(l.mean_us, 500);
        assert_eq!(Latency::from_samples(vec![]).p99_us, 0);
    }
}
