//! What one device's messages mean, without I/O: the ingest keeps a [`DeviceState`] per device
//! and asks [`on_message`] what each message raises or clears, [`RateLimit`] whether the device
//! sends faster than it may, and [`check_offline`] whether it has gone silent.

use super::rules::{evaluate, is_offline, Held, Rules, Verdict, OFFLINE};
use super::telemetry::Message;
use super::Severity;
use std::collections::HashMap;

/// What a message does to a device's alarms.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Raise the alarm of this type (or count a repeat on the open one).
    Raise { alarm_type: String, severity: Severity, detail: String },
    /// The condition ended: the open alarm of this type clears by rule.
    Clear { alarm_type: String },
}

/// A device's standing between messages: each metric's held levels, when it was last heard,
/// whether its offline alarm is up, and its rate bucket.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    pub held: HashMap<String, Held>,
    /// The newest message's time (ms), heartbeat or not.
    pub last_heard: Option<i64>,
    /// The newest event's time (ms): an event at or before it is a replay.
    pub last_event: Option<i64>,
    /// True while the device's offline alarm is raised.
    pub offline: bool,
    pub bucket: Bucket,
}

/// How fast one device may send: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// Twenty a second, a hundred at once: far above a sensor's minute or a camera's bursts.
    fn default() -> Self {
        RateLimit { per_second: 20.0, burst: 100.0 }
    }
}

/// A token bucket: full at first, refilled at the limit's rate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bucket {
    /// Tokens spent beyond a full bucket's refill (a fresh bucket has spent none).
    spent: f64,
    /// When (ms) `spent` was last brought up to date.
    at: Option<i64>,
}

impl Bucket {
    /// Takes one message received at `now` (ms, the server's clock): false when the device is
    /// over its limit (the message is dropped and flagged).
    pub fn take(&mut self, limit: RateLimit, now: i64) -> bool {
        let elapsed = self.at.map_or(0, |at| (now - at).max(0)) as f64 / 1000.0;
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        self.spent = (self.spent - elapsed * limit.per_second).max(0.0);
        if self.spent + 1.0 > limit.burst {
            return false;
        }
        self.spent += 1.0;
        true
    }
}

/// What `msg` raises or clears on a device with `rules`, updating its state. Any message from a
/// device marked offline clears that alarm. An event older than the device's newest message, or
/// not newer than its newest event, changes nothing: it is late, or a captured one sent again.
pub fn on_message(rules: &Rules, state: &mut DeviceState, msg: &Message) -> Vec<Effect> {
    let mut out = Vec::new();
    let at = match msg {
        Message::Telemetry { at, .. } | Message::Event { at, .. } | Message::Heartbeat { at } => *at,
    };
    if matches!(msg, Message::Event { .. }) {
        if state.last_heard.is_some_and(|last| at < last) || state.last_event.is_some_and(|last| at <= last) {
            return out;
        }
        state.last_event = Some(at);
    }
    state.last_heard = Some(state.last_heard.map_or(at, |l| l.max(at)));
    if state.offline {
        state.offline = false;
        out.push(Effect::Clear { alarm_type: OFFLINE.into() });
    }
    match msg {
        Message::Heartbeat { .. } => {}
        Message::Telemetry { at, values } => {
            for (metric, value) in values {
                let Some(rule) = rules.metrics.iter().find(|m| &m.metric == metric) else { continue };
                let held = state.held.entry(metric.clone()).or_default();
                match evaluate(rule, held, *value, *at) {
                    Verdict::Quiet => {}
                    Verdict::Raise(severity) => {
                        out.push(Effect::Raise { alarm_type: rule.alarm_type.clone(), severity, detail: format!("{metric}={value}") })
                    }
                    Verdict::Clear => out.push(Effect::Clear { alarm_type: rule.alarm_type.clone() }),
                }
            }
        }
        Message::Event { event, active, .. } => {
            if let Some(rule) = rules.for_event(event) {
                out.push(if *active {
                    Effect::Raise { alarm_type: rule.alarm_type.clone(), severity: rule.severity, detail: event.clone() }
                } else {
                    Effect::Clear { alarm_type: rule.alarm_type.clone() }
                });
            }
        }
    }
    out
}

/// The offline alarm to raise when a device heard before has been silent too long at `now` (ms);
/// once per silence.
pub fn check_offline(rules: &Rules, state: &mut DeviceState, now: i64) -> Option<Effect> {
    let last = state.last_heard?;
    if state.offline || !is_offline(rules, last, now) {
        return None;
    }
    state.offline = true;
    Some(Effect::Raise { alarm_type: OFFLINE.into(), severity: Severity::Minor, detail: format!("{} min", (now - last) / 60_000) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::rules::defaults;
    use crate::alarms::DeviceKind;
    use proptest::prelude::*;

    const T0: i64 = 1_796_000_000_000;

    fn lel(at: i64, v: f64) -> Message {
        Message::Telemetry { at, values: vec![("lel".into(), v)] }
    }

    #[test]
    fn a_gas_leak_is_raised_after_ten_seconds_and_cleared_after_thirty_below() {
        let rules = defaults(DeviceKind::GasDetector);
        let mut s = DeviceState::default();
        assert!(on_message(&rules, &mut s, &lel(T0, 30.0)).is_empty());
        assert_eq!(
            on_message(&rules, &mut s, &lel(T0 + 10_000, 30.0)),
            vec![Effect::Raise { alarm_type: "gas_leak".into(), severity: Severity::Critical, detail: "lel=30".into() }]
        );
        assert!(on_message(&rules, &mut s, &lel(T0 + 11_000, 1.0)).is_empty());
        assert_eq!(on_message(&rules, &mut s, &lel(T0 + 41_000, 1.0)), vec![Effect::Clear { alarm_type: "gas_leak".into() }]);
    }

    #[test]
    fn camera_events_start_and_stop_and_unknown_ones_do_nothing() {
        let rules = defaults(DeviceKind::Camera);
        let mut s = DeviceState::default();
        let ev = |at: i64, event: &str, active| Message::Event { at, event: event.into(), active };
        assert!(matches!(&on_message(&rules, &mut s, &ev(T0, "fireDetection", true))[..],
            [Effect::Raise { alarm_type, severity: Severity::Critical, .. }] if alarm_type == "fire"));
        assert_eq!(on_message(&rules, &mut s, &ev(T0 + 1_000, "fireDetection", false)), vec![Effect::Clear { alarm_type: "fire".into() }]);
        assert!(on_message(&rules, &mut s, &ev(T0 + 2_000, "videoloss", true)).is_empty());
        // The start sent again as captured, with its own time: a replay, nothing raised.
        assert!(on_message(&rules, &mut s, &ev(T0, "fireDetection", true)).is_empty());
        // The newest event sent again (the same time as the newest): a replay too.
        assert!(on_message(&rules, &mut s, &ev(T0 + 2_000, "fireDetection", true)).is_empty());
        on_message(&rules, &mut s, &Message::Heartbeat { at: T0 + 60_000 });
        assert!(on_message(&rules, &mut s, &ev(T0 + 3_000, "fireDetection", true)).is_empty(), "older than the newest message");
    }

    #[test]
    fn silence_raises_offline_once_and_the_next_message_clears_it() {
        let rules = defaults(DeviceKind::GasDetector);
        let mut s = DeviceState::default();
        assert_eq!(check_offline(&rules, &mut s, T0), None, "never heard: not offline");
        on_message(&rules, &mut s, &Message::Heartbeat { at: T0 });
        assert_eq!(check_offline(&rules, &mut s, T0 + 9 * 60_000), None);
        assert!(matches!(check_offline(&rules, &mut s, T0 + 10 * 60_000), Some(Effect::Raise { .. })));
        assert_eq!(check_offline(&rules, &mut s, T0 + 11 * 60_000), None, "once per silence");
        assert_eq!(
            on_message(&rules, &mut s, &Message::Heartbeat { at: T0 + 12 * 60_000 }),
            vec![Effect::Clear { alarm_type: OFFLINE.into() }]
        );
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let limit = RateLimit { per_second: 10.0, burst: 5.0 };
        let mut b = Bucket::default();
        assert_eq!((0..8).filter(|_| b.take(limit, T0)).count(), 5);
        assert!(b.take(limit, T0 + 100), "a tenth of a second refills one");
        assert!(!b.take(limit, T0 + 100));
        // A clock going back never refills.
        assert!(!b.take(limit, T0));
    }

    proptest! {
        /// Over any stretch of time a device gets at most the burst plus the rate through.
        #[test]
        fn the_bucket_never_lets_more_through_than_burst_plus_rate(gaps in proptest::collection::vec(0i64..200, 1..500)) {
            let limit = RateLimit { per_second: 20.0, burst: 10.0 };
            let mut b = Bucket::default();
            let mut now = T0;
            let mut passed = 0.0;
            for g in &gaps {
                now += g;
                if b.take(limit, now) { passed += 1.0; }
            }
            let span = (now - T0) as f64 / 1000.0;
            prop_assert!(passed <= limit.burst + span * limit.per_second + 1e-9);
        }
    }
}
