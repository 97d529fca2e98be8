//! Counters shared by the load threads, the once-a-second progress line and
//! the final latency report (hdrhistogram, microseconds).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency recorded (60 s, in µs); larger values are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Distinct error causes kept for the report; more are counted as "other".
const MAX_CAUSES: usize = 16;

/// Live totals, updated by every load task.
#[derive(Debug, Default)]
pub struct Counters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// Errors by cause (a response code, a transport failure).
    causes: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    pub fn add(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts a failed request and why it failed.
    pub fn error(&self, cause: impl Into<String>) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut causes = self.causes.lock().unwrap_or_else(|p| p.into_inner());
        let cause = cause.into();
        let key = match causes.len() < MAX_CAUSES || causes.contains_key(&cause) {
            true => cause,
            false => "other".to_owned(),
        };
        *causes.entry(key).or_default() += 1;
    }

    /// "cause x count" for each cause seen, most frequent first.
    pub fn error_causes(&self) -> Vec<String> {
        let causes = self.causes.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = causes.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1));
        all.iter().map(|(c, n)| format!("{c} x {n}")).collect()
    }

    fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// A latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant digits over 1 µs..60 s: a few hundred KiB. The bounds
    // are constants hdrhistogram accepts, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, latency: Duration) {
    let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
    let _ = h.record(us);
}

/// One progress line: rates over the last interval.
pub fn progress_line(
    elapsed: Duration,
    delta_msgs: u64,
    delta_bytes: u64,
    interval: Duration,
    errors: u64,
) -> String {
    let secs = interval.as_secs_f64().max(1e-9);
    format!(
        "[{:>6.1}s] {:>10.0} msg/s {:>9.1} MB/s  errors {}",
        elapsed.as_secs_f64(),
        delta_msgs as f64 / secs,
        delta_bytes as f64 / secs / 1e6,
        errors
    )
}

/// The final report.
pub fn report(
    what: &str,
    total_msgs: u64,
    total_bytes: u64,
    errors: u64,
    elapsed: Duration,
    h: &Histogram<u64>,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut out = format!(
        "{what}: {total_msgs} messages, {:.1} MB in {:.2}s = {:.0} msg/s, {:.1} MB/s, {errors} errors\n",
        total_bytes as f64 / 1e6,
        secs,
        total_msgs as f64 / secs,
        total_bytes as f64 / secs / 1e6,
    );
    if h.is_empty() {
        out.push_str("latency: no samples\n");
        return out;
    }
    out.push_str(&format!(
        "latency (us): p50 {} p90 {} p99 {} p99.9 {} max {} (n = {})\n",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len()
    ));
    out
}

/// Prints a progress line every second until `done` is set.
pub fn spawn_progress(
    counters: Arc<Counters>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut last = (0, 0);
        let mut last_at = start;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last_at.elapsed() < Duration::from_secs(1) {
                continue;
            }
            let (msgs, bytes, errors) = counters.snapshot();
            let now = Instant::now();
            println!(
                "{}",
                progress_line(
                    start.elapsed(),
                    msgs - last.0,
                    bytes - last.1,
                    now - last_at,
                    errors
                )
            );
            last = (msgs, bytes);
            last_at = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_percentiles() {
        let mut h = new_histogram();
        for us in 1..=1000 {
            record(&mut h, Duration::from_micros(us));
        }
        let text = report("produce", 1000, 1_000_000, 2, Duration::from_secs(2), &h);
        assert!(text.contains("500 msg/s"), "{text}");
        assert!(text.contains("0.5 MB/s"), "{text}");
        assert!(text.contains("p50 500"), "{text}");
        assert!(text.contains("p99 990"), "{text}");
        assert!(text.contains("max 1000"), "{text}");
        assert!(text.contains("2 errors"));
    }

    #[test]
    fn empty_histogram_and_progress_line() {
        let h = new_histogram();
        assert!(report("consume", 0, 0, 0, Duration::from_secs(1), &h).contains("no samples"));
        let line = progress_line(
            Duration::from_secs(3),
            2000,
            4_000_000,
            Duration::from_secs(2),
            1,
        );
        assert!(
            line.contains("1000 msg/s") && line.contains("2.0 MB/s") && line.contains("errors 1"),
            "{line}"
        );
    }

    #[test]
    fn errors_are_counted_by_cause_most_frequent_first() {
        let c = Counters::default();
        c.error("code 12 (timeout)");
        for _ in 0..3 {
            c.error("code 11 (no slave)");
        }
        assert_eq!(c.errors.load(Ordering::Relaxed), 4);
        assert_eq!(
            c.error_causes(),
            ["code 11 (no slave) x 3", "code 12 (timeout) x 1"]
        );
        for i in 0..40 {
            c.error(format!("transport: {i}"));
        }
        let causes = c.error_causes();
        assert_eq!(causes.len(), MAX_CAUSES + 1, "bounded, the rest as other");
        assert!(causes.contains(&"other x 26".to_owned()), "{causes:?}");
    }

    #[test]
    fn huge_latencies_are_clamped() {
        let mut h = new_histogram();
        record(&mut h, Duration::from_secs(3600));
        assert!(h.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 100);
    }
}
