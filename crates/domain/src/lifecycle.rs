//! The life of one estate (DESIGN.md) as a state machine: which step may follow which, and what
//! must be true before it does. Storage gathers the [`Facts`]; these functions decide.

use crate::estates::EstateStatus;
use crate::reason;
use crate::reasons::Reason;
use serde::{Deserialize, Serialize};

/// What is known about an estate when a step is asked for, read from the records of each stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// A finished assessment with a score exists.
    pub assessment_scored: bool,
    /// The estate appears in a saved ranking.
    pub ranked: bool,
    /// The estate is in an annual plan.
    pub in_plan: bool,
    /// A scheme with at least one item exists.
    pub scheme_drafted: bool,
    /// Notices of the scheme whose period has ended, in order (round 1, round 2).
    pub notices_closed: u8,
    /// The owners' decision on the scheme passed.
    pub decision_passed: bool,
    /// Approval steps exist for a project of the estate.
    pub approvals_started: bool,
    /// Approval steps still open.
    pub open_approvals: u32,
    /// Construction has a start recorded.
    pub construction_started: bool,
    /// Schedule nodes not yet finished.
    pub open_schedule_nodes: u32,
    /// Checkpoints before completion (design, team selection, material entry, site control) not yet passed.
    pub checkpoints_missing: Vec<String>,
    /// Acceptance signatories who have not signed.
    pub missing_signatures: Vec<String>,
    /// The six-month review has been held.
    pub review_held: bool,
    /// Rectification tasks from the review not yet closed.
    pub open_rectifications: u32,
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    OutOfOrder { from: &'static str, to: &'static str, next: &'static str },
    Finished { from: &'static str },
    Guard(Reason),
}

crate::refusal_display!(Refusal);

impl Refusal {
    /// The refusal's stable code and parameters.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::OutOfOrder { from, to, next } => reason!("lifecycle.out_of_order", to = to, from = from, next = next),
            Refusal::Finished { from } => reason!("lifecycle.last_step", from = from),
            Refusal::Guard(r) => r.clone(),
        }
    }
}

/// Has an estate at `s` reached `stage` (or gone beyond it) in the normal course?
pub fn reached(s: EstateStatus, stage: EstateStatus) -> bool {
    let at = |x: EstateStatus| EstateStatus::ALL.iter().position(|y| *y == x);
    matches!((at(s), at(stage)), (Some(a), Some(b)) if a >= b)
}

/// The step after `s` in the normal course, if any.
pub fn next(s: EstateStatus) -> Option<EstateStatus> {
    let i = EstateStatus::ALL.iter().position(|x| *x == s)?;
    EstateStatus::ALL.get(i + 1).copied()
}

/// Steps back that the practice allows: a scheme revised after a notice's objections or a failed
/// decision goes back to drafting (两上两下), and construction reopens when acceptance finds it unfinished.
pub fn may_return(from: EstateStatus, to: EstateStatus) -> bool {
    use EstateStatus::*;
    matches!((from, to), (Notice1 | Notice2 | Decided, SchemeDrafted) | (Completed, InConstruction))
}

/// Decides whether an estate may move from `from` to `to` given the facts.
pub fn check(from: EstateStatus, to: EstateStatus, f: &Facts) -> Result<(), Refusal> {
    use EstateStatus::*;
    if may_return(from, to) {
        return Ok(());
    }
    match next(from) {
        None => return Err(Refusal::Finished { from: from.as_str() }),
        Some(n) if n != to => return Err(Refusal::OutOfOrder { from: from.as_str(), to: to.as_str(), next: n.as_str() }),
        Some(_) => {}
    }
    let need = |ok: bool, reason: Reason| if ok { Ok(()) } else { Err(Refusal::Guard(reason)) };
    match to {
        Surveyed => Ok(()),
        Assessed => need(f.assessment_scored, reason!("lifecycle.no_scored_assessment")),
        Ranked => need(f.ranked, reason!("lifecycle.not_ranked")),
        InPlan => need(f.in_plan, reason!("lifecycle.not_in_plan")),
        SchemeDrafted => need(f.scheme_drafted, reason!("lifecycle.scheme_empty")),
        Notice1 => need(f.notices_closed >= 1, reason!("lifecycle.notice_not_ended", round = 1)),
        Notice2 => need(f.notices_closed >= 2, reason!("lifecycle.notice_not_ended", round = 2)),
        Decided => need(f.decision_passed, reason!("lifecycle.decision_not_passed")),
        Approved if !f.approvals_started => Err(Refusal::Guard(reason!("lifecycle.no_approval_started"))),
        Approved => need(f.open_approvals == 0, reason!("lifecycle.approvals_open", count = f.open_approvals)),
        InConstruction => need(f.construction_started, reason!("lifecycle.no_construction_start")),
        Completed if f.open_schedule_nodes > 0 => Err(Refusal::Guard(reason!("lifecycle.nodes_open", count = f.open_schedule_nodes))),
        Completed => {
            need(f.checkpoints_missing.is_empty(), reason!("lifecycle.inspections_missing", checkpoints = f.checkpoints_missing.join(", ")))
        }
        Accepted => {
            need(f.missing_signatures.is_empty(), reason!("lifecycle.signatures_missing", parties = f.missing_signatures.join(", ")))
        }
        Reviewed => need(f.review_held, reason!("lifecycle.review_not_held")),
        InUpkeep => need(f.open_rectifications == 0, reason!("lifecycle.rectifications_open", count = f.open_rectifications)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use EstateStatus::*;

    fn all_true() -> Facts {
        Facts {
            assessment_scored: true,
            ranked: true,
            in_plan: true,
            scheme_drafted: true,
            notices_closed: 2,
            decision_passed: true,
            approvals_started: true,
            construction_started: true,
            review_held: true,
            ..Facts::default()
        }
    }

    #[test]
    fn the_whole_course_with_every_fact_in_place() {
        let f = all_true();
        let mut s = Surveyed;
        while let Some(n) = next(s) {
            check(s, n, &f).unwrap();
            s = n;
        }
        assert_eq!(s, InUpkeep);
        assert_eq!(check(InUpkeep, Surveyed, &f), Err(Refusal::Finished { from: "in_upkeep" }));
    }

    #[test]
    fn refusals_name_the_reason() {
        let f = Facts { missing_signatures: vec!["supervisor".into(), "residents".into()], ..all_true() };
        let e = check(Completed, Accepted, &f).unwrap_err();
        assert_eq!(e.to_string(), "not signed yet by: supervisor, residents");
        let e = check(Surveyed, InPlan, &f).unwrap_err();
        assert_eq!(e.to_string(), "in plan cannot follow surveyed: the next step is assessed");
        assert!(check(Decided, Approved, &Facts { open_approvals: 2, ..all_true() }).is_err());
        assert!(check(InPlan, SchemeDrafted, &Facts::default()).is_err());
    }

    #[test]
    fn a_scheme_may_go_back_to_drafting_after_objections() {
        assert!(check(Notice2, SchemeDrafted, &Facts::default()).is_ok());
        assert!(check(Accepted, SchemeDrafted, &all_true()).is_err());
    }

    fn any_status() -> impl Strategy<Value = EstateStatus> {
        (0..EstateStatus::ALL.len()).prop_map(|i| EstateStatus::ALL[i])
    }

    proptest! {
        /// Whatever is asked, with whatever facts, the estate only ever moves one step forward
        /// with its guard satisfied, or back along an allowed return.
        #[test]
        fn no_sequence_of_calls_reaches_an_illegal_state(
            asks in proptest::collection::vec((any_status(), any::<bool>(), 0u32..3), 1..60)
        ) {
            let mut s = Surveyed;
            for (to, facts_hold, open) in asks {
                let f = if facts_hold { Facts { open_approvals: open, ..all_true() } } else { Facts::default() };
                if check(s, to, &f).is_ok() {
                    let forward = next(s) == Some(to);
                    prop_assert!(forward || may_return(s, to), "{s:?} -> {to:?}");
                    if forward && to != Surveyed {
                        prop_assert!(facts_hold, "a guarded step passed without its facts: {s:?} -> {to:?}");
                    }
                    if to == Approved {
                        prop_assert_eq!(open, 0);
                    }
                    s = to;
                }
            }
        }
    }
}
