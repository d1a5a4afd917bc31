//! Escalation (issue 17 §4): who hears of an alarm and when. A chain, per estate and alarm type,
//! lists the tiers in order with the minutes after the alarm was raised at which each is told when
//! nobody has acknowledged it yet: the property company at once, the grid worker after 5 minutes,
//! and so on up to the county's emergency desk. An acknowledgement (or the alarm ending) stops it.
//! Response times per unit and estate are worked out here from the alarms' times.

use crate::reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// Who is told at a step of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The estate's property company (物业).
    Property,
    /// The grid workers of the estate's grid (网格员).
    GridWorker,
    /// The community committee (社区).
    Community,
    /// The street office (街道).
    Street,
    /// The county's emergency desk: its housing bureau's staff (县应急值守).
    County,
}

impl Tier {
    /// Every tier, nearest first.
    pub const ALL: [Tier; 5] = [Tier::Property, Tier::GridWorker, Tier::Community, Tier::Street, Tier::County];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Property => "property",
            Tier::GridWorker => "grid_worker",
            Tier::Community => "community",
            Tier::Street => "street",
            Tier::County => "county",
        }
    }

    /// The Chinese name, as text messages and the desk say it.
    pub fn zh(self) -> &'static str {
        match self {
            Tier::Property => "物业",
            Tier::GridWorker => "网格员",
            Tier::Community => "社区",
            Tier::Street => "街道",
            Tier::County => "县应急值守",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s.trim())
    }
}

/// One step of a chain: who, and how many minutes after the alarm was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStep {
    pub tier: Tier,
    pub after_minutes: i64,
}

/// Most steps a chain may have.
pub const MAX_STEPS: usize = 5;
/// The latest a step may come (a day).
pub const MAX_AFTER_MINUTES: i64 = 24 * 60;

/// The chain used where an estate has none of its own: the property company at once, the grid
/// worker after 5 minutes, the community after 15, the street after 30, the county after 60.
pub fn default_chain() -> Vec<ChainStep> {
    [(Tier::Property, 0), (Tier::GridWorker, 5), (Tier::Community, 15), (Tier::Street, 30), (Tier::County, 60)]
        .into_iter()
        .map(|(tier, after_minutes)| ChainStep { tier, after_minutes })
        .collect()
}

/// Checks a chain: 1 to [`MAX_STEPS`] steps, the first at 0 minutes, each later than the one
/// before and at most a day, no tier twice.
pub fn validate(steps: &[ChainStep]) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::default();
    if steps.is_empty() || steps.len() > MAX_STEPS {
        errors.push("steps", steps.len(), reason!("alarms.chain_length", max = MAX_STEPS));
        return Err(errors);
    }
    if steps[0].after_minutes != 0 {
        errors.push("steps[0].after_minutes", steps[0].after_minutes, reason!("alarms.chain_first_at_once"));
    }
    for (i, s) in steps.iter().enumerate() {
        if !(0..=MAX_AFTER_MINUTES).contains(&s.after_minutes) {
            errors.push(&format!("steps[{i}].after_minutes"), s.after_minutes, reason!("alarms.chain_minutes", max = MAX_AFTER_MINUTES));
        } else if i > 0 && s.after_minutes <= steps[i - 1].after_minutes {
            errors.push(&format!("steps[{i}].after_minutes"), s.after_minutes, reason!("alarms.chain_order"));
        }
        if steps[..i].iter().any(|p| p.tier == s.tier) {
            errors.push(&format!("steps[{i}].tier"), s.tier.as_str(), reason!("alarms.chain_tier_twice"));
        }
    }
    errors.into_result(())
}

/// The last step of `chain` due `minutes_open` whole or part minutes after the alarm was raised,
/// for an alarm nobody has acknowledged (`None` before the first, which is due at once).
pub fn due_step(chain: &[ChainStep], elapsed_ms: i64) -> Option<usize> {
    chain.iter().rposition(|s| elapsed_ms >= s.after_minutes * 60_000)
}

/// The steps to send now: those after `sent` (the last step already sent, `None` for none) up to
/// the one due, for an active alarm only (an acknowledged or ended alarm escalates no further).
pub fn steps_to_send(chain: &[ChainStep], elapsed_ms: i64, sent: Option<usize>, active: bool) -> std::ops::Range<usize> {
    let from = sent.map_or(0, |s| s + 1);
    match due_step(chain, elapsed_ms) {
        Some(due) if active && due >= from => from..due + 1,
        _ => from..from,
    }
}

/// One alarm's times, for response figures: when raised, acknowledged and cleared (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub raised_ms: i64,
    pub acknowledged_ms: Option<i64>,
    pub cleared_ms: Option<i64>,
}

/// Response figures of a unit or an estate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseFigures {
    /// Alarms raised.
    pub alarms: i64,
    /// Of them acknowledged by someone.
    pub acknowledged: i64,
    /// Acknowledged within `within_minutes` (before the chain's second step).
    pub acknowledged_in_time: i64,
    /// Median minutes from raised to acknowledged (whole minutes, rounded up; none when none was).
    pub median_ack_minutes: Option<i64>,
    /// The 90th percentile of the same.
    pub p90_ack_minutes: Option<i64>,
    /// Median minutes from raised to cleared.
    pub median_clear_minutes: Option<i64>,
    /// Acknowledged in time / alarms, in basis points (none without alarms).
    pub in_time_bp: Option<i64>,
}

/// The figures of a set of alarms, "in time" meaning acknowledged within `within_minutes`.
pub fn response_figures(alarms: &[Response], within_minutes: i64) -> ResponseFigures {
    let minutes = |ms: i64| (ms.max(0) + 59_999) / 60_000;
    let mut ack: Vec<i64> = alarms.iter().filter_map(|a| a.acknowledged_ms.map(|t| minutes(t - a.raised_ms))).collect();
    let mut clear: Vec<i64> = alarms.iter().filter_map(|a| a.cleared_ms.map(|t| minutes(t - a.raised_ms))).collect();
    ack.sort_unstable();
    clear.sort_unstable();
    let rank = |v: &[i64], p: usize| (!v.is_empty()).then(|| v[((v.len() * p).div_ceil(100)).saturating_sub(1).min(v.len() - 1)]);
    let in_time = alarms.iter().filter(|a| a.acknowledged_ms.is_some_and(|t| t - a.raised_ms <= within_minutes * 60_000)).count() as i64;
    let n = alarms.len() as i64;
    ResponseFigures {
        alarms: n,
        acknowledged: ack.len() as i64,
        acknowledged_in_time: in_time,
        median_ack_minutes: rank(&ack, 50),
        p90_ack_minutes: rank(&ack, 90),
        median_clear_minutes: rank(&clear, 50),
        in_time_bp: (n > 0).then(|| in_time * 10_000 / n),
    }
}

/// The text message a tier gets, without personal data: the estate, the place, what and how bad.
pub fn message_text(estate: &str, place: &str, alarm_type_zh: &str, severity_zh: &str, tier: Tier, step: usize) -> String {
    let esc = if step == 0 { String::new() } else { format!("（未确认，已升级至{}）", tier.zh()) };
    let at = if place.trim().is_empty() { String::new() } else { format!("{}，", place.trim()) };
    format!("【焕新告警】{estate}，{at}{alarm_type_zh}（{severity_zh}）{esc}。请尽快处置并在系统中确认。")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(steps: &[(Tier, i64)]) -> Vec<ChainStep> {
        steps.iter().map(|&(tier, after_minutes)| ChainStep { tier, after_minutes }).collect()
    }

    #[test]
    fn the_default_chain_is_valid_and_climbs_to_the_county() {
        let c = default_chain();
        assert!(validate(&c).is_ok());
        assert_eq!(c.last().map(|s| s.tier), Some(Tier::County));
    }

    #[test]
    fn chains_are_refused_by_field() {
        let fields = |c: &[ChainStep]| validate(c).unwrap_err().0.into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(&[]), ["steps"]);
        assert_eq!(fields(&chain(&[(Tier::Property, 3)])), ["steps[0].after_minutes"]);
        assert_eq!(fields(&chain(&[(Tier::Property, 0), (Tier::Street, 10), (Tier::County, 10)])), ["steps[2].after_minutes"]);
        assert_eq!(fields(&chain(&[(Tier::Property, 0), (Tier::Property, 10)])), ["steps[1].tier"]);
        assert_eq!(fields(&chain(&[(Tier::Property, 0), (Tier::County, 2000)])), ["steps[1].after_minutes"]);
        let six = chain(&[(Tier::Property, 0), (Tier::GridWorker, 1), (Tier::Community, 2), (Tier::Street, 3), (Tier::County, 4)]);
        assert!(validate(&six).is_ok());
    }

    #[test]
    fn steps_are_sent_once_in_order_and_stop_at_acknowledgement() {
        let c = default_chain();
        let min = 60_000;
        assert_eq!(steps_to_send(&c, 0, None, true), 0..1, "the property company at once");
        assert_eq!(steps_to_send(&c, 4 * min, Some(0), true), 1..1, "nothing new before 5 minutes");
        assert_eq!(steps_to_send(&c, 5 * min, Some(0), true), 1..2);
        assert_eq!(steps_to_send(&c, 31 * min, Some(1), true), 2..4, "a server that was down catches up");
        assert_eq!(steps_to_send(&c, 31 * min, Some(1), false), 2..2, "acknowledged: no more");
        assert_eq!(steps_to_send(&c, 600 * min, Some(4), true), 5..5, "the chain is done");
    }

    #[test]
    fn response_figures_count_acknowledgements_in_time() {
        let min = 60_000;
        let a = |ack: Option<i64>, clear: Option<i64>| Response {
            raised_ms: 1_000,
            acknowledged_ms: ack.map(|m| 1_000 + m),
            cleared_ms: clear.map(|m| 1_000 + m),
        };
        let f = response_figures(&[a(Some(2 * min), Some(20 * min)), a(Some(9 * min), None), a(None, None), a(Some(30_000), None)], 5);
        assert_eq!((f.alarms, f.acknowledged, f.acknowledged_in_time), (4, 3, 2));
        assert_eq!((f.median_ack_minutes, f.p90_ack_minutes), (Some(2), Some(9)));
        assert_eq!(f.median_clear_minutes, Some(20));
        assert_eq!(f.in_time_bp, Some(5_000));
        assert_eq!(response_figures(&[], 5), ResponseFigures::default());
    }

    #[test]
    fn the_message_names_the_place_and_the_escalation() {
        let t = message_text("幸福小区", "3号楼地下室", "燃气泄漏", "紧急", Tier::GridWorker, 1);
        assert_eq!(t, "【焕新告警】幸福小区，3号楼地下室，燃气泄漏（紧急）（未确认，已升级至网格员）。请尽快处置并在系统中确认。");
        assert!(!message_text("幸福小区", "", "烟感", "重要", Tier::Property, 0).contains("升级"));
    }

    proptest! {
        /// Sending what `steps_to_send` says at any sequence of times sends every due step exactly
        /// once, in order, and never one that is not due yet.
        #[test]
        fn each_step_once_in_order(mut times in proptest::collection::vec(0i64..120 * 60_000, 1..30)) {
            times.sort_unstable();
            let c = default_chain();
            let mut sent: Option<usize> = None;
            let mut all = Vec::new();
            for t in &times {
                for s in steps_to_send(&c, *t, sent, true) {
                    prop_assert!(*t >= c[s].after_minutes * 60_000);
                    all.push(s);
                    sent = Some(s);
                }
            }
            let last = *times.last().unwrap_or(&0);
            let due = due_step(&c, last).map_or(0, |d| d + 1);
            prop_assert_eq!(all, (0..due).collect::<Vec<_>>());
        }
    }
}
