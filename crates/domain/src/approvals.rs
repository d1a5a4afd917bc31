//! Approvals (审批): steps with time limits in working days. Steps whose predecessors are done run
//! (several may run in parallel); the design approvals may be merged into one (POLICY §8).

use crate::calendar::WorkCalendar;
use crate::reason;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One step of the approval template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepTemplate {
    pub code: &'static str,
    pub name_zh: &'static str,
    /// Time limit in working days.
    pub limit_days: u32,
    /// Steps that must be done before this one starts.
    pub after: &'static [&'static str],
}

/// The default approval steps of a renewal project. Proposal, feasibility and preliminary design
/// may be merged into one step (海纳尔); fire and planning reviews run in parallel after the design;
/// the construction permit takes 3 working days instead of 7 (勉县).
pub const DEFAULT_STEPS: &[StepTemplate] = &[
    StepTemplate { code: "proposal", name_zh: "项目建议书审批", limit_days: 5, after: &[] },
    StepTemplate { code: "feasibility", name_zh: "可行性研究报告审批", limit_days: 5, after: &["proposal"] },
    StepTemplate { code: "preliminary_design", name_zh: "初步设计及概算审批", limit_days: 5, after: &["feasibility"] },
    StepTemplate { code: "fire_review", name_zh: "消防设计审查", limit_days: 5, after: &["preliminary_design"] },
    StepTemplate { code: "planning_review", name_zh: "规划审查", limit_days: 5, after: &["preliminary_design"] },
    StepTemplate { code: "drawing_review", name_zh: "施工图审查", limit_days: 7, after: &["fire_review", "planning_review"] },
    StepTemplate { code: "construction_permit", name_zh: "施工许可", limit_days: 3, after: &["drawing_review"] },
];

/// The merged step that replaces proposal, feasibility and preliminary design.
pub const MERGED_DESIGN: StepTemplate =
    StepTemplate { code: "merged_design", name_zh: "项目建议书、可研、初步设计合并审批", limit_days: 7, after: &[] };

/// The steps of a project's approval: the default template, with the first three merged when asked.
pub fn template(merge_design: bool) -> Vec<StepTemplate> {
    if !merge_design {
        return DEFAULT_STEPS.to_vec();
    }
    let merged = ["proposal", "feasibility", "preliminary_design"];
    let mut out = vec![MERGED_DESIGN.clone()];
    for s in DEFAULT_STEPS.iter().filter(|s| !merged.contains(&s.code)) {
        let mut s = s.clone();
        if s.after.iter().any(|a| merged.contains(a)) {
            s.after = &["merged_design"];
        }
        out.push(s);
    }
    out
}

/// A step as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    pub code: String,
    pub limit_days: u32,
    pub after: Vec<String>,
    /// When it started (its predecessors were all done), if it has.
    pub started_on: Option<NaiveDate>,
    pub done_on: Option<NaiveDate>,
}

/// When a step is due: its limit in working days after it started.
pub fn due_on(cal: &WorkCalendar, s: &StepState) -> Option<NaiveDate> {
    s.started_on.map(|d| cal.add_working_days(d, s.limit_days))
}

/// Working days a step is late on `today` (0 when not late or done in time; counted to the day it was done).
pub fn days_late(cal: &WorkCalendar, s: &StepState, today: NaiveDate) -> i64 {
    match due_on(cal, s) {
        Some(due) => cal.working_days_between(due, s.done_on.unwrap_or(today)).max(0),
        None => 0,
    }
}

/// Does this step settle the design or follow it? Then it waits for the owners' passed decision on
/// the scheme of every estate of the project (Civil Code Art. 278: renovating is the owners' to
/// decide). Only the proposal and the feasibility study may go ahead of the vote.
pub fn needs_owners_decision(code: &str) -> bool {
    !matches!(code, "proposal" | "feasibility")
}

/// Checks the number of the document a step ended with (批复文号, e.g. 惠发改〔2026〕12号).
pub fn check_document_no(v: &str) -> Result<String, crate::ValidationErrors> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(crate::ValidationErrors::one("document_no", v, reason!("approvals.document_no_required")));
    }
    Ok(t.to_string())
}

/// Why a step cannot be finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRefusal {
    Unknown(String),
    AlreadyDone(String),
    NotStarted(String, String),
    BeforeStart,
    WaitsForOwners(String, String),
}

crate::refusal_display!(StepRefusal);

impl StepRefusal {
    /// The refusal's stable code and parameters.
    pub fn reason(&self) -> crate::Reason {
        match self {
            StepRefusal::Unknown(step) => crate::reason!("approvals.unknown_step", step = step),
            StepRefusal::AlreadyDone(step) => crate::reason!("approvals.step_done", step = step),
            StepRefusal::NotStarted(step, waits) => crate::reason!("approvals.step_waits", step = step, waits = waits),
            StepRefusal::BeforeStart => crate::reason!("approvals.before_start"),
            StepRefusal::WaitsForOwners(step, estates) => crate::reason!("approvals.waits_for_owners", step = step, estates = estates),
        }
    }
}

/// Finishes step `code` on `date`, and starts every step whose predecessors are now all done.
pub fn finish(steps: &mut [StepState], code: &str, date: NaiveDate) -> Result<(), StepRefusal> {
    let i = steps.iter().position(|s| s.code == code).ok_or_else(|| StepRefusal::Unknown(code.to_string()))?;
    if steps[i].done_on.is_some() {
        return Err(StepRefusal::AlreadyDone(code.to_string()));
    }
    let Some(started) = steps[i].started_on else {
        let waiting: Vec<String> = steps[i].after.iter().filter(|a| !is_done(steps, a)).cloned().collect();
        return Err(StepRefusal::NotStarted(code.to_string(), waiting.join(", ")));
    };
    if date < started {
        return Err(StepRefusal::BeforeStart);
    }
    steps[i].done_on = Some(date);
    for j in 0..steps.len() {
        if steps[j].started_on.is_none() && steps[j].after.iter().all(|a| is_done(steps, a)) {
            steps[j].started_on = Some(date);
        }
    }
    Ok(())
}

fn is_done(steps: &[StepState], code: &str) -> bool {
    steps.iter().any(|s| s.code == code && s.done_on.is_some())
}

/// The steps of a template, started on `start` where they wait for nothing.
pub fn start(template: &[StepTemplate], start: NaiveDate) -> Vec<StepState> {
    template
        .iter()
        .map(|t| StepState {
            code: t.code.to_string(),
            limit_days: t.limit_days,
            after: t.after.iter().map(|a| a.to_string()).collect(),
            started_on: t.after.is_empty().then_some(start),
            done_on: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn design_and_what_follows_wait_for_the_owners() {
        assert!(!needs_owners_decision("proposal") && !needs_owners_decision("feasibility"));
        for code in ["merged_design", "preliminary_design", "fire_review", "planning_review", "drawing_review", "construction_permit"] {
            assert!(needs_owners_decision(code), "{code}");
        }
        assert!(check_document_no("惠发改〔2026〕12号").is_ok() && check_document_no("  ").is_err());
    }

    #[test]
    fn merged_design_replaces_three_steps_and_reviews_run_in_parallel() {
        let t = template(true);
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].code, "merged_design");
        let mut steps = start(&t, d("2026-11-02"));
        finish(&mut steps, "merged_design", d("2026-11-06")).unwrap();
        let running: Vec<&str> = steps.iter().filter(|s| s.started_on.is_some() && s.done_on.is_none()).map(|s| s.code.as_str()).collect();
        assert_eq!(running, ["fire_review", "planning_review"]);
        assert_eq!(
            finish(&mut steps, "drawing_review", d("2026-11-09")),
            Err(StepRefusal::NotStarted("drawing_review".into(), "fire_review, planning_review".into()))
        );
    }

    #[test]
    fn due_dates_skip_holidays_and_lateness_counts_working_days() {
        let cal = WorkCalendar::shipped().unwrap();
        let mut steps = start(&template(false), d("2026-09-28"));
        // 5 working days from Monday 28 September: 29, 30 September, then the holiday week, 8, 9, 10 (a make-up Saturday) October.
        assert_eq!(due_on(&cal, &steps[0]), Some(d("2026-10-10")));
        assert_eq!(days_late(&cal, &steps[0], d("2026-10-09")), 0);
        assert_eq!(days_late(&cal, &steps[0], d("2026-10-13")), 2);
        finish(&mut steps, "proposal", d("2026-10-12")).unwrap();
        assert_eq!(days_late(&cal, &steps[0], d("2026-12-31")), 1, "late by the day it was done");
        assert_eq!(finish(&mut steps, "proposal", d("2026-10-13")), Err(StepRefusal::AlreadyDone("proposal".into())));
    }

    proptest! {
        /// Finishing steps in any order never starts a step before all its predecessors are done,
        /// and every step finishes once the ones before it have.
        #[test]
        fn steps_start_only_after_their_predecessors(order in proptest::sample::subsequence((0..7usize).collect::<Vec<_>>(), 7).prop_shuffle(), merge in any::<bool>()) {
            let t = template(merge);
            let mut steps = start(&t, d("2026-11-02"));
            let mut day = d("2026-11-02");
            for _round in 0..7 {
                for &i in &order {
                    if i < steps.len() {
                        let code = steps[i].code.clone();
                        let _ = finish(&mut steps, &code, day);
                    }
                }
                day += chrono::Duration::days(1);
            }
            for s in &steps {
                if let Some(started) = s.started_on {
                    for a in &s.after {
                        let pre = steps.iter().find(|p| &p.code == a).unwrap();
                        prop_assert!(pre.done_on.is_some_and(|done| done <= started));
                    }
                }
                prop_assert!(s.done_on.is_some(), "{} never finished", s.code);
            }
        }
    }
}
