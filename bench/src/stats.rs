//! Percentiles of samples, and the report every scenario prints and writes.

use std::{path::Path, time::Duration};

use serde::Serialize;
use serde_json::Value;

/// Percentiles of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Summary {
    /// Number of samples.
    pub(crate) count: usize,
    /// Median.
    pub(crate) p50_us: f64,
    /// 90th percentile.
    pub(crate) p90_us: f64,
    /// 99th percentile.
    pub(crate) p99_us: f64,
    /// Largest sample.
    pub(crate) max_us: f64,
    /// Mean.
    pub(crate) mean_us: f64,
}

impl Summary {
    /// Summarises `samples` (sorted in place).
    pub(crate) fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let count = samples.len();
        if count == 0 {
            return Self::default();
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let at = |q: f64| {
            let rank = ((q * count as f64).ceil() as usize).clamp(1, count) - 1;
            samples.get(rank).copied().map_or(0.0, us)
        };
        let total: f64 = samples.iter().copied().map(us).sum();
        Self {
            count,
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            max_us: samples.last().copied().map_or(0.0, us),
            mean_us: total / count as f64,
        }
    }
}

/// Points of an empirical CDF (latency in ms, fraction), at most `points` of them.
pub(crate) fn cdf(sorted: &[Duration], points: usize) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = (n / points.max(1)).max(1);
    let mut out: Vec<(f64, f64)> = sorted
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == n)
        .map(|(i, d)| (d.as_secs_f64() * 1e3, (i + 1) as f64 / n as f64))
        .collect();
    out.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    out
}

/// A table of rows (printed) plus the JSON written next to it.
#[derive(Debug)]
pub(crate) struct Report {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    json: Vec<Value>,
}

impl Report {
    /// An empty report with these column headers.
    pub(crate) fn new(title: &str, headers: &[&str]) -> Self {
        Self {
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            json: Vec::new(),
        }
    }

    /// Adds one printed row and its JSON record.
    pub(crate) fn row(&mut self, cells: Vec<String>, json: Value) {
        self.rows.push(cells);
        self.json.push(json);
    }

    /// The report as a Markdown table.
    pub(crate) fn table(&self) -> String {
        let mut out = format!("### {}\n\n| {} |\n|", self.title, self.headers.join(" | "));
        for _ in &self.headers {
            out.push_str("---|");
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }

    /// Writes `<name>.json` and `<name>.md` into `dir`.
    pub(crate) fn write(&self, dir: &Path, name: &str, meta: &Value) -> std::io::Result<()> {
        let json = serde_json::json!({
            "scenario": name,
            "title": self.title,
            "meta": meta,
            "results": self.json,
        });
        let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{name}.json")), text)?;
        std::fs::write(dir.join(format!("{name}.md")), self.table())
    }
}

/// `a / b`, or 0 when `b` is 0.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Formats a number with up to `digits` decimals.
pub(crate) fn f(value: f64, digits: usize) -> String {
    format!("{value:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_hundred() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let sum = Summary::of(&mut s);
        assert_eq!(sum.count, 100);
        assert!((sum.p50_us - 50.0).abs() < 1e-6);
        assert!((sum.p99_us - 99.0).abs() < 1e-6);
        assert!((sum.max_us - 100.0).abs() < 1e-6);
    }

    #[test]
    fn empty_samples_give_zeros() {
        let sum = Summary::of(&mut []);
        assert_eq!(sum.count, 0);
        assert!(cdf(&[], 10).is_empty());
    }

    #[test]
    fn cdf_ends_at_one() {
        let s: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        let points = cdf(&s, 50);
        assert!(points.len() <= 52);
        assert_eq!(points.last().map(|p| p.1), Some(1.0));
    }
}
