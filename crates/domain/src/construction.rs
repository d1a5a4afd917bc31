//! Construction under supervision: schedule nodes planned against actual, progress as a weighted
//! tree (nodes roll up to buildings, the estate and the project), inspections at the five
//! checkpoints (滨州), and design changes delivered within two working days (广安).

use crate::access::Role;
use crate::calendar::WorkCalendar;
use crate::reason;
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The five checkpoints of supervised construction, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checkpoint {
    Design,
    TeamSelection,
    MaterialEntry,
    SiteControl,
    CompletionAcceptance,
}

impl Checkpoint {
    /// Checked before building starts (the design and the choice of the teams); the others are
    /// construction records that wait for the permit.
    pub fn before_permit(self) -> bool {
        matches!(self, Checkpoint::Design | Checkpoint::TeamSelection)
    }

    /// Every checkpoint, in order.
    pub const ALL: [Checkpoint; 5] = [
        Checkpoint::Design,
        Checkpoint::TeamSelection,
        Checkpoint::MaterialEntry,
        Checkpoint::SiteControl,
        Checkpoint::CompletionAcceptance,
    ];

    /// The checkpoints that must have passed before the works count as completed (the last one is
    /// the completion acceptance itself).
    pub const BEFORE_COMPLETION: [Checkpoint; 4] =
        [Checkpoint::Design, Checkpoint::TeamSelection, Checkpoint::MaterialEntry, Checkpoint::SiteControl];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Checkpoint::Design => "design",
            Checkpoint::TeamSelection => "team_selection",
            Checkpoint::MaterialEntry => "material_entry",
            Checkpoint::SiteControl => "site_control",
            Checkpoint::CompletionAcceptance => "completion_acceptance",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Checkpoint> {
        Checkpoint::ALL.iter().copied().find(|c| c.as_str() == s.trim())
    }
}

/// The checkpoints before completion that have not passed, given those that have.
pub fn checkpoints_missing(passed: &[Checkpoint]) -> Vec<Checkpoint> {
    Checkpoint::BEFORE_COMPLETION.iter().copied().filter(|c| !passed.contains(c)).collect()
}

/// Who records an inspection: the supervising engineer and the bureau's desks.
pub fn may_inspect(role: Role) -> bool {
    role == Role::Supervisor || (role.level().is_some() && !matches!(role, Role::GridWorker | Role::CommunityStaff))
}

/// Who reports progress on the schedule: the contractor and the bureau's desks.
pub fn may_report_progress(role: Role) -> bool {
    role == Role::Contractor || (role.level().is_some() && !matches!(role, Role::GridWorker | Role::CommunityStaff))
}

/// Who delivers a design change: the designer, or the bureau's desks on its behalf.
pub fn may_deliver_design_change(role: Role) -> bool {
    role == Role::Designer || (role.level().is_some() && !matches!(role, Role::GridWorker | Role::CommunityStaff))
}

/// Largest weight of one schedule node (weights are relative shares of the works).
pub const MAX_WEIGHT: i64 = 1_000_000;

/// A schedule node as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInput {
    pub name: String,
    /// The building the node belongs to; none for works on the whole estate.
    pub building_id: Option<i64>,
    /// YYYY-MM-DD.
    pub planned_start: String,
    /// YYYY-MM-DD.
    pub planned_end: String,
    /// The node's share of the works (e.g. its cost in yuan); 1 if not given.
    pub weight: Option<i64>,
}

fn date(e: &mut ValidationErrors, field: &str, s: &str) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    if d.is_none() {
        e.push(field, s, reason!("field.date"));
    }
    d
}

/// A checked schedule node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub building_id: Option<i64>,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub weight: i64,
}

impl NodeInput {
    /// Checks the node: a name, dates with the end not before the start, a positive weight.
    pub fn validate(&self) -> Result<Node, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            e.push("name", name, reason!("field.length", max = 100));
        }
        let start = date(&mut e, "planned_start", &self.planned_start);
        let end = date(&mut e, "planned_end", &self.planned_end);
        if let (Some(s), Some(en)) = (start, end) {
            if en < s {
                e.push("planned_end", &self.planned_end, reason!("construction.not_before_planned_start"));
            }
        }
        let weight = self.weight.unwrap_or(1);
        if !(1..=MAX_WEIGHT).contains(&weight) {
            e.push("weight", weight, reason!("field.between", min = 1, max = MAX_WEIGHT));
        }
        let day = NaiveDate::MIN;
        e.into_result(Node {
            name: name.to_string(),
            building_id: self.building_id,
            planned_start: start.unwrap_or(day),
            planned_end: end.unwrap_or(day),
            weight,
        })
    }
}

/// A node's progress as reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressInput {
    /// 0 to 100.
    pub progress_pct: i64,
    /// The day the work started; today if progress is first reported without it.
    pub actual_start: Option<String>,
    /// The day the work finished; today if progress reaches 100 without it.
    pub actual_end: Option<String>,
}

/// The actual dates and percentage after a progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub progress_pct: i64,
    pub actual_start: Option<NaiveDate>,
    pub actual_end: Option<NaiveDate>,
}

impl ProgressInput {
    /// Applies a report to a node that had started on `started` (if at all): progress within 0–100,
    /// no dates in the future, an end only at 100 % and not before the start.
    pub fn apply(&self, started: Option<NaiveDate>, today: NaiveDate) -> Result<Progress, ValidationErrors> {
        let mut e = ValidationErrors::default();
        if !(0..=100).contains(&self.progress_pct) {
            e.push("progress_pct", self.progress_pct, reason!("field.between", min = 0, max = 100));
        }
        let given_start = self.actual_start.as_deref().filter(|s| !s.trim().is_empty()).and_then(|s| date(&mut e, "actual_start", s));
        let given_end = self.actual_end.as_deref().filter(|s| !s.trim().is_empty()).and_then(|s| date(&mut e, "actual_end", s));
        for (field, d) in [("actual_start", given_start), ("actual_end", given_end)] {
            if d.is_some_and(|d| d > today) {
                e.push(field, d.map(|d| d.to_string()).unwrap_or_default(), reason!("field.not_future"));
            }
        }
        let start = given_start.or(started).or((self.progress_pct > 0).then_some(today));
        let end = if self.progress_pct == 100 { given_end.or(Some(today)) } else { None };
        if given_end.is_some() && self.progress_pct != 100 {
            e.push("actual_end", self.actual_end.clone().unwrap_or_default(), reason!("construction.finish_needs_100"));
        }
        if let (Some(s), Some(en)) = (start, end) {
            if en < s {
                e.push("actual_end", en.to_string(), reason!("construction.not_before_actual_start"));
            }
        }
        e.into_result(Progress { progress_pct: self.progress_pct, actual_start: start, actual_end: end })
    }
}

/// Where a schedule node stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    NotStarted,
    InProgress,
    Done,
    /// Not finished by its planned end, or not started by its planned start.
    Late,
}

/// A node's state on `today`.
pub fn node_state(planned_start: NaiveDate, planned_end: NaiveDate, p: &Progress, today: NaiveDate) -> NodeState {
    if p.actual_end.is_some() {
        NodeState::Done
    } else if today > planned_end || (p.actual_start.is_none() && today > planned_start) {
        NodeState::Late
    } else if p.actual_start.is_some() {
        NodeState::InProgress
    } else {
        NodeState::NotStarted
    }
}

/// Weighted progress of some parts, in basis points: Σ weight × pct / Σ weight (10000 = done).
pub fn weighted_bp(parts: impl IntoIterator<Item = (i64, i64)>) -> i64 {
    let (mut num, mut den) = (0i128, 0i128);
    for (weight, pct_bp) in parts {
        num += i128::from(weight.max(0)) * i128::from(pct_bp);
        den += i128::from(weight.max(0));
    }
    if den == 0 {
        0
    } else {
        i64::try_from(num / den).unwrap_or(0)
    }
}

/// One node as the roll-up sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeWeight {
    pub building_id: Option<i64>,
    pub weight: i64,
    pub progress_pct: i64,
}

/// Progress of one estate: the estate, each building (`None`: works on the whole estate) and the
/// estate's total weight, which weighs it within its project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollup {
    pub estate_bp: i64,
    pub total_weight: i64,
    pub by_building: Vec<(Option<i64>, i64)>,
}

/// Rolls an estate's nodes up to its buildings and to the estate.
pub fn rollup(nodes: &[NodeWeight]) -> Rollup {
    let mut buildings: Vec<Option<i64>> = nodes.iter().map(|n| n.building_id).collect();
    buildings.sort();
    buildings.dedup();
    let by_building = buildings
        .into_iter()
        .map(|b| (b, weighted_bp(nodes.iter().filter(|n| n.building_id == b).map(|n| (n.weight, n.progress_pct * 100)))))
        .collect();
    Rollup {
        estate_bp: weighted_bp(nodes.iter().map(|n| (n.weight, n.progress_pct * 100))),
        total_weight: nodes.iter().map(|n| n.weight.max(0)).sum(),
        by_building,
    }
}

/// Working days a designer has to deliver a requested design change (广安).
pub const DESIGN_CHANGE_WORKING_DAYS: u32 = 2;

/// The day a design change requested on `requested_on` is due.
pub fn design_change_due(calendar: &WorkCalendar, requested_on: NaiveDate) -> NaiveDate {
    calendar.add_working_days(requested_on, DESIGN_CHANGE_WORKING_DAYS)
}

/// True when a design change is late: delivered after its due day, or still open past it.
pub fn design_change_late(due_on: NaiveDate, delivered_on: Option<NaiveDate>, today: NaiveDate) -> bool {
    delivered_on.unwrap_or(today) > due_on
}

/// Who wrote a site log: the contractor's daily log, the supervising engineer's, the residents'
/// supervisors' (居民监督员) or the bureau's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogAuthor {
    Contractor,
    Supervisor,
    Residents,
    Bureau,
}

impl LogAuthor {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogAuthor::Contractor => "contractor",
            LogAuthor::Supervisor => "supervisor",
            LogAuthor::Residents => "residents",
            LogAuthor::Bureau => "bureau",
        }
    }
}

/// The party a role writes site logs for, if any: residents write as the residents' supervisors.
pub fn log_author(role: Role) -> Option<LogAuthor> {
    match role {
        Role::Contractor => Some(LogAuthor::Contractor),
        Role::Supervisor => Some(LogAuthor::Supervisor),
        Role::Resident => Some(LogAuthor::Residents),
        Role::GridWorker | Role::Designer | Role::PropertyCompany | Role::Utility => None,
        _ => Some(LogAuthor::Bureau),
    }
}

/// Days back a site log may be written for (a log is kept day by day, not rewritten later).
pub const LOG_DAYS_BACK: i64 = 7;

/// A site log as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteLogInput {
    /// YYYY-MM-DD; today if empty.
    pub day: String,
    pub weather: String,
    pub text: String,
}

impl SiteLogInput {
    /// Checks the log: a day within the last week and not in the future, some text.
    pub fn validate(&self, today: NaiveDate) -> Result<NaiveDate, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let day = if self.day.trim().is_empty() { Some(today) } else { date(&mut e, "day", &self.day) };
        if let Some(d) = day {
            if d > today {
                e.push("day", &self.day, reason!("field.not_future"));
            } else if (today - d).num_days() > LOG_DAYS_BACK {
                e.push("day", &self.day, reason!("construction.log_date_window", log_days_back = LOG_DAYS_BACK));
            }
        }
        if self.weather.chars().count() > 20 {
            e.push("weather", &self.weather, reason!("field.at_most_chars", max = 20));
        }
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > 2_000 {
            e.push("text", text, reason!("field.length", max = 2000));
        }
        e.into_result(day.unwrap_or(today))
    }
}

/// A material entry record (材料进场) as submitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MaterialInput {
    pub material: String,
    pub spec: String,
    pub quantity: f64,
    pub unit: String,
    pub supplier: String,
    /// The delivery came with its quality certificate (合格证).
    pub certificate: bool,
    /// Accepted on inspection at entry; a refused delivery needs a note.
    pub accepted: bool,
    pub note: String,
}

/// A checked material entry; quantity in hundredths of the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub quantity_hundredths: i64,
}

impl MaterialInput {
    /// Checks the record: names, a positive quantity of at most a million units, a unit, and a
    /// note when the delivery was refused or came without a certificate.
    pub fn validate(&self) -> Result<Material, ValidationErrors> {
        let mut e = ValidationErrors::default();
        for (field, value, max) in [("material", &self.material, 100), ("unit", &self.unit, 10), ("supplier", &self.supplier, 100)] {
            let v = value.trim();
            if v.is_empty() || v.chars().count() > max {
                e.push(field, v, reason!("field.length", max = max));
            }
        }
        if self.spec.chars().count() > 100 {
            e.push("spec", &self.spec, reason!("field.at_most_chars", max = 100));
        }
        let q = if self.quantity.is_finite() { (self.quantity * 100.0).round() } else { -1.0 };
        if !(1.0..=100_000_000.0).contains(&q) {
            e.push("quantity", self.quantity, reason!("field.positive_up_to_million"));
        }
        if (!self.accepted || !self.certificate) && self.note.trim().is_empty() {
            e.push("note", &self.note, reason!("construction.delivery_reason_required"));
        }
        if self.note.chars().count() > 500 {
            e.push("note", &self.note, reason!("field.at_most_chars", max = 500));
        }
        // The float was checked to lie within 1..=1e8 above, so the cast is exact.
        e.into_result(Material { quantity_hundredths: q.max(0.0) as i64 })
    }
}

/// Checks the reason the bureau gives for construction records ahead of the permit (an emergency
/// repair, a permit exempt by law): it is audited, so it must say something.
pub fn check_exception_reason(v: &str) -> Result<String, crate::ValidationErrors> {
    let t = v.trim();
    if t.chars().count() < 4 || t.chars().count() > 500 {
        return Err(crate::ValidationErrors::one("reason", v, reason!("construction.exception_reason_required")));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn nodes_need_an_end_not_before_their_start() {
        let ok = NodeInput {
            name: "外墙保温".into(),
            planned_start: "2026-10-01".into(),
            planned_end: "2026-10-20".into(),
            ..Default::default()
        };
        assert_eq!(ok.validate().unwrap().weight, 1);
        let bad = NodeInput { planned_end: "2026-09-30".into(), weight: Some(0), ..ok.clone() };
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["planned_end", "weight"]);
    }

    #[test]
    fn progress_reports_set_dates_and_refuse_the_impossible() {
        let today = d("2026-11-20");
        let p = ProgressInput { progress_pct: 40, ..Default::default() }.apply(None, today).unwrap();
        assert_eq!((p.actual_start, p.actual_end), (Some(today), None));
        let p = ProgressInput { progress_pct: 100, ..Default::default() }.apply(Some(d("2026-11-01")), today).unwrap();
        assert_eq!((p.actual_start, p.actual_end), (Some(d("2026-11-01")), Some(today)));
        let e = ProgressInput { progress_pct: 101, actual_end: Some("2026-12-01".into()), ..Default::default() }
            .apply(None, today)
            .unwrap_err();
        let fields: Vec<String> = e.0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["progress_pct", "actual_end", "actual_end"]);
        let e = ProgressInput { progress_pct: 100, actual_end: Some("2026-10-01".into()), ..Default::default() }
            .apply(Some(d("2026-10-05")), today)
            .unwrap_err();
        assert_eq!(e.0[0].reason, "must not be before actual_start");
    }

    #[test]
    fn states_follow_the_plan_and_the_day() {
        let (s, e) = (d("2026-11-01"), d("2026-11-10"));
        let none = Progress { progress_pct: 0, actual_start: None, actual_end: None };
        assert_eq!(node_state(s, e, &none, d("2026-10-30")), NodeState::NotStarted);
        assert_eq!(node_state(s, e, &none, d("2026-11-02")), NodeState::Late, "not started on time");
        let going = Progress { progress_pct: 50, actual_start: Some(s), actual_end: None };
        assert_eq!(node_state(s, e, &going, d("2026-11-05")), NodeState::InProgress);
        assert_eq!(node_state(s, e, &going, d("2026-11-11")), NodeState::Late);
        let done = Progress { progress_pct: 100, actual_start: Some(s), actual_end: Some(d("2026-11-12")) };
        assert_eq!(node_state(s, e, &done, d("2026-12-01")), NodeState::Done);
    }

    #[test]
    fn progress_rolls_up_by_weight() {
        let nodes = [
            NodeWeight { building_id: Some(1), weight: 300, progress_pct: 100 },
            NodeWeight { building_id: Some(1), weight: 100, progress_pct: 0 },
            NodeWeight { building_id: Some(2), weight: 100, progress_pct: 50 },
            NodeWeight { building_id: None, weight: 500, progress_pct: 20 },
        ];
        let r = rollup(&nodes);
        assert_eq!(r.by_building, vec![(None, 2000), (Some(1), 7500), (Some(2), 5000)]);
        // (300×100 + 0 + 100×50 + 500×20) / 1000 = 45 %.
        assert_eq!(r.estate_bp, 4500);
        assert_eq!(r.total_weight, 1000);
        assert_eq!(rollup(&[]).estate_bp, 0);
    }

    #[test]
    fn design_changes_are_due_two_working_days_later() {
        let cal = WorkCalendar::shipped().unwrap();
        // Friday 2026-11-20: due Tuesday 2026-11-24.
        let due = design_change_due(&cal, d("2026-11-20"));
        assert_eq!(due, d("2026-11-24"));
        assert!(!design_change_late(due, Some(d("2026-11-24")), d("2026-12-01")));
        assert!(design_change_late(due, Some(d("2026-11-25")), d("2026-11-25")));
        assert!(design_change_late(due, None, d("2026-11-25")));
        assert!(!design_change_late(due, None, d("2026-11-23")));
    }

    #[test]
    fn only_the_four_checkpoints_before_completion_are_required() {
        assert_eq!(
            checkpoints_missing(&[Checkpoint::Design, Checkpoint::SiteControl]),
            vec![Checkpoint::TeamSelection, Checkpoint::MaterialEntry]
        );
        assert!(checkpoints_missing(&Checkpoint::BEFORE_COMPLETION).is_empty());
        assert!(may_inspect(Role::Supervisor) && !may_inspect(Role::Contractor) && may_inspect(Role::CountyStaff));
        assert!(may_deliver_design_change(Role::Designer) && !may_deliver_design_change(Role::Contractor));
        assert!(may_report_progress(Role::Contractor) && !may_report_progress(Role::Resident));
    }

    #[test]
    fn site_logs_are_kept_day_by_day_by_their_party() {
        let today = d("2026-11-20");
        let ok = SiteLogInput { text: "3号楼外墙保温施工，检查脚手架".into(), ..Default::default() };
        assert_eq!(ok.validate(today), Ok(today));
        let old = SiteLogInput { day: "2026-11-01".into(), ..ok.clone() };
        assert!(old.validate(today).unwrap_err().0[0].reason.contains("last 7 days"));
        let future = SiteLogInput { day: "2026-11-21".into(), text: " ".into(), ..Default::default() };
        let fields: Vec<String> = future.validate(today).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["day", "text"]);
        assert_eq!(log_author(Role::Resident), Some(LogAuthor::Residents));
        assert_eq!(log_author(Role::CountyStaff), Some(LogAuthor::Bureau));
        assert_eq!(log_author(Role::Designer), None);
    }

    #[test]
    fn material_entries_need_a_reason_when_refused_or_uncertified() {
        let ok = MaterialInput {
            material: "挤塑聚苯板".into(),
            quantity: 1200.5,
            unit: "m²".into(),
            supplier: "泉州建材".into(),
            certificate: true,
            accepted: true,
            ..Default::default()
        };
        assert_eq!(ok.validate().unwrap().quantity_hundredths, 120_050);
        let refused = MaterialInput { accepted: false, ..ok.clone() };
        assert_eq!(refused.validate().unwrap_err().0[0].field, "note");
        let bad = MaterialInput { quantity: -1.0, unit: String::new(), ..ok };
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["unit", "quantity"]);
    }

    proptest! {
        /// The roll-up never leaves 0–100 % and is exactly 100 % when every node is done.
        #[test]
        fn rollup_stays_within_bounds(parts in proptest::collection::vec((1i64..1_000_000, 0i64..=100, 0i64..4), 0..40)) {
            let nodes: Vec<NodeWeight> = parts.iter().map(|&(w, p, b)| NodeWeight { building_id: Some(b), weight: w, progress_pct: p }).collect();
            let r = rollup(&nodes);
            prop_assert!((0..=10_000).contains(&r.estate_bp));
            prop_assert!(r.by_building.iter().all(|(_, bp)| (0..=10_000).contains(bp)));
            let done: Vec<NodeWeight> = nodes.iter().map(|n| NodeWeight { progress_pct: 100, ..*n }).collect();
            prop_assert_eq!(rollup(&done).estate_bp, if nodes.is_empty() { 0 } else { 10_000 });
        }
    }
}
