//! The time the system runs on: the real clock, except while `huanxin demo` writes a programme's
//! history with its real past dates through the same API everyone uses.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the epoch the clock is held at, or `NOT_SET` for the real clock.
static HELD_AT: AtomicI64 = AtomicI64::new(NOT_SET);
const NOT_SET: i64 = i64::MIN;

/// The time now: the real clock unless the demo holds it at a moment of its history.
pub fn utc_now() -> DateTime<Utc> {
    match HELD_AT.load(Ordering::Relaxed) {
        NOT_SET => Utc::now(),
        ms => DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now),
    }
}

/// Holds the clock at `at` (the demo's history), or lets it run again with `None`. Only the demo
/// builder calls it, before the server takes requests.
pub fn hold(at: Option<DateTime<Utc>>) {
    HELD_AT.store(at.map_or(NOT_SET, |t| t.timestamp_millis()), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_clock_reads_the_held_time_and_runs_again_when_let_go() {
        let past = DateTime::parse_from_rfc3339("2021-03-01T02:00:00Z").map(|t| t.with_timezone(&Utc)).ok();
        hold(past);
        assert_eq!(Some(utc_now()), past);
        hold(None);
        assert!(utc_now() > DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap());
    }
}
