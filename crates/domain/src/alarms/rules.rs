//! What readings and events mean: per device kind, thresholds held for a while (gas ≥ 25 % LEL
//! for 10 s is critical, ≥ 10 % major), camera events by type, and silence (no heartbeat for N
//! minutes: offline). A region or an estate overrides a kind's rules field by field.

use super::{DeviceKind, Severity};
use crate::reason;
use crate::regions::RegionCode;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// One level of a metric: reached when the reading stays at or above `at_least` for `for_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub at_least: f64,
    pub for_secs: u32,
    pub severity: Severity,
}

/// The rule of one metric of a kind: its levels (any order) and when the alarm clears: the
/// reading below the lowest level for `clear_after_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRule {
    /// The telemetry key (`lel`, `water_level_cm`, `temp_c`…).
    pub metric: String,
    /// The alarm type raised (`gas_leak`, `flood`…): one open alarm per device and type.
    pub alarm_type: String,
    pub levels: Vec<Level>,
    pub clear_after_secs: u32,
}

/// A camera's event type (as the vendor names it, lower case) and what it raises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRule {
    pub event: String,
    pub alarm_type: String,
    pub severity: Severity,
}

/// A kind's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    pub metrics: Vec<MetricRule>,
    pub events: Vec<EventRule>,
    /// No heartbeat or message for this long: the device is offline (an alarm of type `offline`).
    pub offline_after_minutes: u32,
}

/// The alarm type of a device that went silent.
pub const OFFLINE: &str = "offline";

fn metric(metric: &str, alarm_type: &str, levels: &[(f64, u32, Severity)], clear_after_secs: u32) -> MetricRule {
    MetricRule {
        metric: metric.into(),
        alarm_type: alarm_type.into(),
        levels: levels.iter().map(|&(at_least, for_secs, severity)| Level { at_least, for_secs, severity }).collect(),
        clear_after_secs,
    }
}

fn event(event: &str, alarm_type: &str, severity: Severity) -> EventRule {
    EventRule { event: event.to_lowercase(), alarm_type: alarm_type.into(), severity }
}

/// The national default rules of a kind.
pub fn defaults(kind: DeviceKind) -> Rules {
    use Severity::*;
    let (metrics, events, offline) = match kind {
        DeviceKind::GasDetector => (vec![metric("lel", "gas_leak", &[(10.0, 10, Major), (25.0, 10, Critical)], 30)], vec![], 10),
        DeviceKind::SmokeDetector => (
            vec![metric("smoke", "smoke", &[(1.0, 0, Critical)], 60)],
            vec![event("smoke", "smoke", Critical), event("tamper", "tamper", Minor)],
            30,
        ),
        DeviceKind::WaterSensor => (vec![metric("water_level_cm", "flood", &[(5.0, 30, Major), (30.0, 30, Critical)], 300)], vec![], 30),
        DeviceKind::DoorAccess => (vec![], vec![event("forced_open", "forced_open", Major), event("held_open", "held_open", Minor)], 30),
        DeviceKind::EbikeCharger => (
            vec![metric("temp_c", "charger_overheat", &[(60.0, 30, Major), (80.0, 10, Critical)], 120)],
            vec![event("short_circuit", "charger_fault", Critical)],
            30,
        ),
        DeviceKind::LiftMonitor => (vec![], vec![event("trapped", "lift_trapped", Critical), event("fault", "lift_fault", Major)], 15),
        // Hikvision's and Dahua's names of the events the seeds speak of (lower case).
        DeviceKind::Camera => (
            vec![],
            vec![
                event("firedetection", "fire", Critical),
                event("smokedetection", "fire", Critical),
                event("smokeandfiredetection", "fire", Critical),
                event("firewarning", "fire", Critical),
                event("fielddetection", "intrusion", Major),
                event("linedetection", "intrusion", Major),
                event("regionentrance", "intrusion", Major),
                event("crosslinedetection", "intrusion", Major),
                event("crossregiondetection", "intrusion", Major),
                event("illegalparking", "illegal_parking", Minor),
                event("parkingdetection", "illegal_parking", Minor),
                event("leaveposition", "guard_off_post", Minor),
                event("leavedetection", "guard_off_post", Minor),
            ],
            10,
        ),
    };
    Rules { metrics, events, offline_after_minutes: offline }
}

/// A region's or an estate's change to a kind's rules: another metric's levels, another
/// severity for an event type, another silence; what it leaves out follows the level above.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RulesOverride {
    pub metrics: Vec<MetricRule>,
    pub events: Vec<EventRule>,
    pub offline_after_minutes: Option<u32>,
}

impl Rules {
    /// These rules with `o` laid on them: a metric or an event named there replaces this one's.
    pub fn with(mut self, o: &RulesOverride) -> Rules {
        for m in &o.metrics {
            self.metrics.retain(|x| x.metric != m.metric);
            self.metrics.push(m.clone());
        }
        for e in &o.events {
            let e = EventRule { event: e.event.to_lowercase(), ..e.clone() };
            self.events.retain(|x| x.event != e.event);
            self.events.push(e);
        }
        self.offline_after_minutes = o.offline_after_minutes.unwrap_or(self.offline_after_minutes);
        self
    }

    /// A kind's national rules with the overrides of the places above a device laid on in order,
    /// the outermost first (see [`override_places`]).
    pub fn effective<'a>(kind: DeviceKind, overrides: impl IntoIterator<Item = &'a RulesOverride>) -> Rules {
        overrides.into_iter().fold(defaults(kind), |r, o| r.with(o))
    }

    /// What a camera or device event of this type raises, if anything.
    pub fn for_event(&self, event: &str) -> Option<&EventRule> {
        let event = event.trim().to_lowercase();
        self.events.iter().find(|e| e.event == event)
    }
}

/// Where one metric of one device stands between readings: since when each level has held, and
/// since when the reading has been below every level. Kept per device and metric by the ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// Per level of the rule (in the rule's order), the time (ms) it has held since.
    pub since: Vec<Option<i64>>,
    pub below_since: Option<i64>,
    /// The last reading's time: an older one arriving late changes nothing.
    pub last_at: Option<i64>,
}

/// What a reading means for the metric's alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Quiet,
    /// A level has held long enough: raise (or raise the severity of) the alarm.
    Raise(Severity),
    /// Below every level long enough: the open alarm clears.
    Clear,
}

/// Reads one value at `at` (ms since the epoch) against the rule, updating `held`. A reading not
/// newer than the last one (late, or the same sent again), or not a number, changes nothing.
pub fn evaluate(rule: &MetricRule, held: &mut Held, value: f64, at: i64) -> Verdict {
    if !value.is_finite() || held.last_at.is_some_and(|last| at <= last) {
        return Verdict::Quiet;
    }
    held.last_at = Some(at);
    held.since.resize(rule.levels.len(), None);
    let mut worst: Option<Severity> = None;
    for (level, since) in rule.levels.iter().zip(held.since.iter_mut()) {
        if value >= level.at_least {
            let from = *since.get_or_insert(at);
            if at - from >= i64::from(level.for_secs) * 1000 {
                worst = worst.max(Some(level.severity));
            }
        } else {
            *since = None;
        }
    }
    let lowest = rule.levels.iter().map(|l| l.at_least).fold(f64::INFINITY, f64::min);
    if value < lowest {
        let from = *held.below_since.get_or_insert(at);
        if at - from >= i64::from(rule.clear_after_secs) * 1000 {
            return Verdict::Clear;
        }
    } else {
        held.below_since = None;
    }
    worst.map_or(Verdict::Quiet, Verdict::Raise)
}

/// True when a device last heard at `last_heard` (ms) is offline at `now` under `rules`.
pub fn is_offline(rules: &Rules, last_heard: i64, now: i64) -> bool {
    now - last_heard >= i64::from(rules.offline_after_minutes) * 60_000
}

/// Where an override can be set: a region by its code, or an estate as `estate:{id}`.
pub fn estate_place(estate_id: i64) -> String {
    format!("estate:{estate_id}")
}

/// The places whose overrides apply to a device of an estate in `community`, outermost first: the
/// country, the province, city, county, street, the community, then the estate. The nearest wins
/// field by field (a metric or an event it names replaces the one above).
pub fn override_places(community: &RegionCode, estate_id: i64) -> Vec<String> {
    let mut places = vec![RegionCode::country().as_str().to_string()];
    places.extend(community.ancestors().iter().map(|r| r.as_str().to_string()));
    places.push(community.as_str().to_string());
    places.push(estate_place(estate_id));
    places.dedup();
    places
}

/// The highest reading a metric can have (a threshold above it would never raise anything).
pub fn max_reading(metric: &str) -> f64 {
    match metric {
        "lel" => 100.0,
        "smoke" => 1.0,
        "water_level_cm" => 1_000.0,
        "temp_c" => 300.0,
        _ => 1_000_000.0,
    }
}

/// Most event types an override may name.
pub const MAX_OVERRIDE_EVENTS: usize = 50;

/// Checks an override of a kind's rules: it names metrics the kind has (1 to 4 levels each, a
/// reading from 0 to what the metric can read, held 0 to 3,600 s, higher levels more severe,
/// clearing after 0 to 86,400 s), at most 50 event types, names of plain letters, digits and
/// `_-.` (up to 64), and a silence of 1 to 1,440 minutes.
pub fn validate_override(kind: DeviceKind, o: &RulesOverride) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if o.events.len() > MAX_OVERRIDE_EVENTS {
        errors.push("events", o.events.len(), reason!("field.at_most", max = MAX_OVERRIDE_EVENTS));
        return Err(errors);
    }
    let known = defaults(kind);
    let plain = |s: &str| super::telemetry::plain_name(s, 64);
    for (i, m) in o.metrics.iter().enumerate() {
        let at = |f: &str| format!("metrics[{i}].{f}");
        if !known.metrics.iter().any(|k| k.metric == m.metric) {
            errors.push(&at("metric"), &m.metric, reason!("alarms.rule_metric", kind = kind.as_str()));
        }
        if !plain(&m.alarm_type) {
            errors.push(&at("alarm_type"), &m.alarm_type, reason!("alarms.type_filter"));
        }
        if m.levels.is_empty() || m.levels.len() > 4 {
            errors.push(&at("levels"), m.levels.len(), reason!("alarms.rule_levels"));
        }
        let ceiling = max_reading(&m.metric);
        for (j, l) in m.levels.iter().enumerate() {
            if !(l.at_least.is_finite() && (0.0..=ceiling).contains(&l.at_least)) {
                errors.push(&format!("metrics[{i}].levels[{j}].at_least"), l.at_least, reason!("alarms.rule_reading", max = ceiling));
            } else if m.levels[..j].iter().any(|p| (p.at_least < l.at_least) != (p.severity < l.severity) || p.at_least == l.at_least) {
                errors.push(&format!("metrics[{i}].levels[{j}].severity"), l.severity.as_str(), reason!("alarms.rule_level_order"));
            }
            if l.for_secs > 3_600 {
                errors.push(&format!("metrics[{i}].levels[{j}].for_secs"), l.for_secs, reason!("alarms.rule_seconds", max = 3_600));
            }
        }
        if m.clear_after_secs > 86_400 {
            errors.push(&at("clear_after_secs"), m.clear_after_secs, reason!("alarms.rule_seconds", max = 86_400));
        }
        if o.metrics[..i].iter().any(|p| p.metric == m.metric) {
            errors.push(&at("metric"), &m.metric, reason!("field.listed_twice"));
        }
    }
    for (i, e) in o.events.iter().enumerate() {
        if !plain(&e.event) {
            errors.push(&format!("events[{i}].event"), &e.event, reason!("alarms.type_filter"));
        }
        if !plain(&e.alarm_type) {
            errors.push(&format!("events[{i}].alarm_type"), &e.alarm_type, reason!("alarms.type_filter"));
        }
    }
    if let Some(m) = o.offline_after_minutes.filter(|m| !(1..=1_440).contains(m)) {
        errors.push("offline_after_minutes", m, reason!("alarms.rule_offline"));
    }
    errors.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gas() -> MetricRule {
        defaults(DeviceKind::GasDetector).metrics.remove(0)
    }

    #[test]
    fn gas_is_major_at_10_and_critical_at_25_held_for_10_seconds() {
        let rule = gas();
        let mut held = Held::default();
        assert_eq!(evaluate(&rule, &mut held, 30.0, 0), Verdict::Quiet, "not yet held");
        assert_eq!(evaluate(&rule, &mut held, 30.0, 9_999), Verdict::Quiet);
        assert_eq!(evaluate(&rule, &mut held, 30.0, 10_000), Verdict::Raise(Severity::Critical));
        let mut held = Held::default();
        evaluate(&rule, &mut held, 12.0, 0);
        assert_eq!(evaluate(&rule, &mut held, 12.0, 10_000), Verdict::Raise(Severity::Major));
        // A dip below the level starts the count again.
        let mut held = Held::default();
        evaluate(&rule, &mut held, 30.0, 0);
        evaluate(&rule, &mut held, 5.0, 5_000);
        assert_eq!(evaluate(&rule, &mut held, 30.0, 10_000), Verdict::Quiet);
    }

    #[test]
    fn it_clears_after_a_while_below_and_ignores_late_or_bad_readings() {
        let rule = gas();
        let mut held = Held::default();
        evaluate(&rule, &mut held, 30.0, 0);
        evaluate(&rule, &mut held, 30.0, 10_000);
        assert_eq!(evaluate(&rule, &mut held, 2.0, 20_000), Verdict::Quiet);
        assert_eq!(evaluate(&rule, &mut held, 90.0, 15_000), Verdict::Quiet, "an older reading arriving late changes nothing");
        assert_eq!(evaluate(&rule, &mut held, f64::NAN, 40_000), Verdict::Quiet);
        assert_eq!(evaluate(&rule, &mut held, 2.0, 50_000), Verdict::Clear);
    }

    #[test]
    fn overrides_replace_by_name_and_camera_events_match_any_case() {
        let o = RulesOverride {
            metrics: vec![metric("lel", "gas_leak", &[(5.0, 5, Severity::Major)], 10)],
            events: vec![event("FieldDetection", "intrusion", Severity::Critical)],
            offline_after_minutes: Some(3),
        };
        let gas = defaults(DeviceKind::GasDetector).with(&o);
        assert_eq!((gas.metrics.len(), gas.metrics[0].levels[0].at_least, gas.offline_after_minutes), (1, 5.0, 3));
        let cam = defaults(DeviceKind::Camera).with(&o);
        assert_eq!(cam.for_event("fieldDetection").map(|e| e.severity), Some(Severity::Critical));
        assert_eq!(cam.for_event("SmokeDetection").map(|e| e.alarm_type.as_str()), Some("fire"));
        assert!(cam.for_event("VMD").is_none(), "plain motion raises nothing");
        assert!(is_offline(&cam, 0, 3 * 60_000) && !is_offline(&cam, 1, 3 * 60_000), "silent for the overridden 3 minutes");
    }

    #[test]
    fn overrides_apply_outermost_first_and_the_nearest_wins() {
        let community = RegionCode::parse("350521100001").unwrap();
        assert_eq!(
            override_places(&community, 7),
            ["000000000000", "350000000000", "350500000000", "350521000000", "350521100000", "350521100001", "estate:7"]
        );
        let county = RulesOverride {
            metrics: vec![metric("lel", "gas_leak", &[(20.0, 5, Severity::Critical)], 30)],
            offline_after_minutes: Some(20),
            ..Default::default()
        };
        let estate = RulesOverride { offline_after_minutes: Some(5), ..Default::default() };
        let r = Rules::effective(DeviceKind::GasDetector, [&county, &estate]);
        assert_eq!(r.metrics[0].levels, vec![Level { at_least: 20.0, for_secs: 5, severity: Severity::Critical }], "the county's levels");
        assert_eq!(r.offline_after_minutes, 5, "the estate's silence, nearer than the county's");
    }

    #[test]
    fn overrides_are_checked_by_field() {
        let fields = |o: &RulesOverride| {
            validate_override(DeviceKind::GasDetector, o).unwrap_err().0.into_iter().map(|e| e.field).collect::<Vec<_>>()
        };
        let bad = RulesOverride {
            metrics: vec![
                metric("temp_c", "x", &[(1.0, 1, Severity::Minor)], 1),
                metric("lel", "gas leak", &[(f64::NAN, 4_000, Severity::Minor)], 100_000),
            ],
            events: vec![event("a/b", "ok", Severity::Minor)],
            offline_after_minutes: Some(0),
        };
        assert_eq!(
            fields(&bad),
            [
                "metrics[0].metric",
                "metrics[1].alarm_type",
                "metrics[1].levels[0].at_least",
                "metrics[1].levels[0].for_secs",
                "metrics[1].clear_after_secs",
                "events[0].event",
                "offline_after_minutes"
            ]
        );
        assert!(validate_override(DeviceKind::GasDetector, &RulesOverride::default()).is_ok());
        let upside_down = RulesOverride {
            metrics: vec![metric("lel", "gas_leak", &[(30.0, 10, Severity::Major), (25.0, 10, Severity::Critical)], 30)],
            ..Default::default()
        };
        assert_eq!(fields(&upside_down), ["metrics[0].levels[1].severity"], "a lower reading may not be more severe");
        let never = RulesOverride { metrics: vec![metric("lel", "gas_leak", &[(1_000.0, 10, Severity::Major)], 30)], ..Default::default() };
        assert_eq!(fields(&never), ["metrics[0].levels[0].at_least"], "above 100 % LEL nothing would ever raise");
        let many = RulesOverride { events: (0..51).map(|i| event(&format!("e{i}"), "x", Severity::Minor)).collect(), ..Default::default() };
        assert_eq!(fields(&many), ["events"]);
    }

    proptest! {
        /// Nothing is raised before a level has held for its time, whatever the readings; a
        /// constant reading at a level is raised exactly when its time has passed.
        #[test]
        fn never_raised_early(readings in proptest::collection::vec((0.0f64..40.0, 0i64..3_000), 1..60)) {
            let rule = gas();
            let mut held = Held::default();
            let mut at = 0i64;
            let mut above_since: Option<i64> = None;
            let mut last: Option<i64> = None;
            for (v, dt) in readings {
                at += dt;
                let verdict = evaluate(&rule, &mut held, v, at);
                // A reading not newer than the last is a replay and changes nothing.
                if last.is_some_and(|l| at <= l) {
                    prop_assert_eq!(verdict, Verdict::Quiet);
                    continue;
                }
                last = Some(at);
                above_since = if v >= 10.0 { Some(above_since.unwrap_or(at)) } else { None };
                if let Verdict::Raise(_) = verdict {
                    prop_assert!(above_since.is_some_and(|s| at - s >= 10_000), "raised at {} since {:?}", at, above_since);
                }
            }
        }
    }
}
