//! Annual plans (年度计划): targets per region and year, and progress against them as the national
//! statistics count it (an estate is started once in construction, completed once completed).

use crate::estates::EstateStatus;
use crate::reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// What a region sets out to do in a year (or what it has done).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Targets {
    pub estates: i64,
    pub households: i64,
    pub buildings: i64,
    /// Floor area in hundredths of m².
    pub floor_area: i64,
}

impl Targets {
    /// Refuses negative or absurd targets; names each field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut e = ValidationErrors::default();
        for (field, v, max) in [
            ("targets.estates", self.estates, 1_000_000),
            ("targets.households", self.households, 100_000_000),
            ("targets.buildings", self.buildings, 10_000_000),
            ("targets.floor_area", self.floor_area, 1_000_000_000_000),
        ] {
            if !(0..=max).contains(&v) {
                e.push(field, v, reason!("field.between", min = 0, max = max));
            }
        }
        e.into_result(())
    }

    fn add(&mut self, e: &PlanEstate) {
        self.estates += 1;
        self.households += e.households;
        self.buildings += e.buildings;
        self.floor_area += e.floor_area;
    }
}

/// One estate of a plan, as progress needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanEstate {
    pub status: EstateStatus,
    pub households: i64,
    pub buildings: i64,
    pub floor_area: i64,
}

/// Where a plan stands against its targets. Rates are in hundredths of a percent of the target
/// (0 when the target is 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub planned: Targets,
    pub started: Targets,
    pub completed: Targets,
    /// Started estates / target estates.
    pub start_rate_estates: i64,
    /// Started households / target households.
    pub start_rate_households: i64,
    /// Completed estates / target estates.
    pub completion_rate_estates: i64,
}

/// Started: construction has begun (in construction or any later stage).
pub fn is_started(s: EstateStatus) -> bool {
    stage_index(s) >= stage_index(EstateStatus::InConstruction)
}

/// Completed: the works are finished (completed or any later stage).
pub fn is_completed(s: EstateStatus) -> bool {
    stage_index(s) >= stage_index(EstateStatus::Completed)
}

fn stage_index(s: EstateStatus) -> usize {
    EstateStatus::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn rate(done: i64, target: i64) -> i64 {
    if target > 0 {
        done.saturating_mul(10_000) / target
    } else {
        0
    }
}

/// Progress of a plan's estates against its targets.
pub fn progress(targets: &Targets, estates: &[PlanEstate]) -> Progress {
    let mut p = Progress::default();
    for e in estates {
        p.planned.add(e);
        if is_started(e.status) {
            p.started.add(e);
        }
        if is_completed(e.status) {
            p.completed.add(e);
        }
    }
    p.start_rate_estates = rate(p.started.estates, targets.estates);
    p.start_rate_households = rate(p.started.households, targets.households);
    p.completion_rate_estates = rate(p.completed.estates, targets.estates);
    p
}

/// May a region make an annual plan? A county or a level above it: a street's or community's desk
/// would otherwise list estates in a plan of its own and keep them from the county's.
pub fn may_plan_at(level: crate::regions::Level) -> Result<(), crate::Reason> {
    if level > crate::regions::Level::County {
        return Err(reason!("plans.county_or_above"));
    }
    Ok(())
}

/// Most characters of the reason for changing a past year's plan.
pub const MAX_REASON_CHARS: usize = 200;

/// A plan of a year already over is a record its year's figures and reports were made from: it
/// takes more estates only with a reason, kept in the audit log (a county entering its earlier
/// years, or a correction), never silently.
pub fn check_past_year_change(plan_year: i64, this_year: i64, reason: &str) -> Result<(), crate::ValidationErrors> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(crate::ValidationErrors::one(
            "reason",
            reason.chars().count(),
            crate::reason!("field.at_most_chars", max = MAX_REASON_CHARS),
        ));
    }
    if plan_year < this_year && reason.is_empty() {
        return Err(crate::ValidationErrors::one("reason", "", crate::reason!("plans.past_year_reason", year = plan_year)));
    }
    Ok(())
}

/// May an estate be put into a plan by hand? Only a candidate: built before the programme's
/// cut-off year, not yet past planning (surveyed, assessed or ranked), and in no plan of any year
/// (an unfinished estate moves to the next year by carry-over, which keeps its history).
pub fn may_add(status: EstateStatus, build_year: i64, eligible_before: i64, planned_in: Option<i64>) -> Result<(), crate::Reason> {
    if build_year >= eligible_before {
        return Err(reason!("plans.not_eligible", build_year = build_year, before = eligible_before));
    }
    // An estate already in a plan is at 列入计划 or beyond: name the plan, the more useful answer.
    if let Some(year) = planned_in {
        return Err(reason!("plans.planned_in", year = year));
    }
    if !matches!(status, EstateStatus::Surveyed | EstateStatus::Assessed | EstateStatus::Ranked) {
        return Err(reason!("plans.past_planning", stage = status.zh()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_past_years_plan_changes_only_with_a_reason() {
        assert!(check_past_year_change(2026, 2026, "").is_ok(), "this year's plan");
        assert!(check_past_year_change(2027, 2026, "").is_ok(), "next year's plan");
        let e = check_past_year_change(2025, 2026, "  ").unwrap_err();
        assert_eq!((e.0[0].field.as_str(), e.0[0].code.as_str()), ("reason", "plans.past_year_reason"));
        assert!(check_past_year_change(2025, 2026, "补录 2025 年计划").is_ok());
        assert_eq!(check_past_year_change(2025, 2026, &"长".repeat(201)).unwrap_err().0[0].code, "field.at_most_chars");
    }

    #[test]
    fn plans_are_made_by_a_county_or_above() {
        use crate::regions::Level;
        assert!(may_plan_at(Level::County).is_ok() && may_plan_at(Level::Country).is_ok());
        assert_eq!(may_plan_at(Level::Street).unwrap_err().code, "plans.county_or_above");
        assert_eq!(may_plan_at(Level::Community).unwrap_err().code, "plans.county_or_above");
    }

    #[test]
    fn only_candidates_are_put_into_a_plan_by_hand() {
        assert!(may_add(EstateStatus::Ranked, 1990, 2001, None).is_ok());
        assert!(may_add(EstateStatus::Surveyed, 2000, 2001, None).is_ok());
        assert_eq!(may_add(EstateStatus::Surveyed, 2001, 2001, None).unwrap_err().code, "plans.not_eligible");
        assert_eq!(may_add(EstateStatus::InUpkeep, 1990, 2001, None).unwrap_err().code, "plans.past_planning");
        assert_eq!(may_add(EstateStatus::Ranked, 1990, 2001, Some(2025)).unwrap_err().code, "plans.planned_in");
    }
    use proptest::prelude::*;

    fn e(status: EstateStatus, households: i64) -> PlanEstate {
        PlanEstate { status, households, buildings: 2, floor_area: 100_000 }
    }

    #[test]
    fn started_and_completed_follow_the_stages() {
        let t = Targets { estates: 4, households: 1000, ..Targets::default() };
        let p = progress(&t, &[e(EstateStatus::InPlan, 100), e(EstateStatus::InConstruction, 200), e(EstateStatus::Accepted, 300)]);
        assert_eq!(p.planned.estates, 3);
        assert_eq!(p.started.estates, 2);
        assert_eq!(p.started.households, 500);
        assert_eq!(p.completed.estates, 1);
        assert_eq!(p.start_rate_estates, 5000);
        assert_eq!(p.start_rate_households, 5000);
        assert_eq!(p.completion_rate_estates, 2500);
    }

    #[test]
    fn targets_are_checked_by_field() {
        let bad = Targets { estates: -1, households: 10, buildings: 0, floor_area: 0 };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.0[0].field, "targets.estates");
        assert!(Targets::default().validate().is_ok());
    }

    fn any_status() -> impl Strategy<Value = EstateStatus> {
        (0..EstateStatus::ALL.len()).prop_map(|i| EstateStatus::ALL[i])
    }

    proptest! {
        #[test]
        fn completed_within_started_within_planned(
            list in proptest::collection::vec((any_status(), 0i64..5000), 0..50),
            target in 0i64..60,
        ) {
            let estates: Vec<PlanEstate> = list.iter().map(|(s, h)| e(*s, *h)).collect();
            let p = progress(&Targets { estates: target, ..Targets::default() }, &estates);
            prop_assert!(p.completed.estates <= p.started.estates && p.started.estates <= p.planned.estates);
            prop_assert!(p.completed.households <= p.started.households && p.started.households <= p.planned.households);
            prop_assert_eq!(p.planned.estates as usize, estates.len());
        }
    }
}
