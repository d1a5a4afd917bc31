//! The review (回头看) within six months of acceptance, and the rectification tasks (整改) its findings
//! become: an owner, a deadline, a supervised flag (挂牌督办), closed by someone other than the owner.

use crate::reason;
use crate::reasons::Reason;
use crate::ValidationErrors;
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Months after acceptance by which the review is due.
pub const REVIEW_WITHIN_MONTHS: u32 = 6;
/// Days before the due date from which the review shows as coming up.
pub const REMIND_DAYS_BEFORE: i64 = 30;

/// The date the review is due, six months after acceptance.
pub fn review_due(accepted_on: NaiveDate) -> NaiveDate {
    accepted_on.checked_add_months(Months::new(REVIEW_WITHIN_MONTHS)).unwrap_or(NaiveDate::MAX)
}

/// Where a review stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    NotYetDue,
    /// Within the reminder window before the due date.
    DueSoon,
    Overdue,
    Held,
}

/// The review's state on `today`.
pub fn review_state(accepted_on: NaiveDate, held: bool, today: NaiveDate) -> ReviewState {
    let due = review_due(accepted_on);
    if held {
        ReviewState::Held
    } else if today > due {
        ReviewState::Overdue
    } else if (due - today).num_days() <= REMIND_DAYS_BEFORE {
        ReviewState::DueSoon
    } else {
        ReviewState::NotYetDue
    }
}

/// A rectification task as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskInput {
    pub finding: String,
    /// The account responsible for fixing it.
    pub owner: String,
    /// YYYY-MM-DD.
    pub deadline: String,
    /// 挂牌督办: followed by the bureau until closed.
    pub supervised: bool,
}

/// Most days a rectification may be given.
pub const MAX_TASK_DAYS: i64 = 365;

impl TaskInput {
    /// Checks the task against the day it is set: a deadline not before it and within a year.
    pub fn validate(&self, today: NaiveDate) -> Result<NaiveDate, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let finding = self.finding.trim();
        if finding.is_empty() || finding.chars().count() > 500 {
            e.push("finding", finding, reason!("field.length", max = 500));
        }
        if self.owner.trim().is_empty() {
            e.push("owner", &self.owner, reason!("review.owner_required"));
        }
        let deadline = NaiveDate::parse_from_str(self.deadline.trim(), "%Y-%m-%d").ok();
        match deadline {
            None => e.push("deadline", &self.deadline, reason!("field.date")),
            Some(d) if d < today => e.push("deadline", &self.deadline, reason!("review.not_before_today")),
            Some(d) if (d - today).num_days() > MAX_TASK_DAYS => e.push("deadline", &self.deadline, reason!("review.within_year")),
            Some(_) => {}
        }
        e.into_result(deadline.unwrap_or(today))
    }
}

/// May `closer` close a task owned by `owner` with `evidence` photos filed? The closing check is
/// someone else's, and checks the evidence of the fix.
pub fn may_close(owner: &str, closer: &str, evidence: usize) -> Result<(), Reason> {
    if owner == closer {
        Err(reason!("review.owner_cannot_close"))
    } else if evidence == 0 {
        Err(reason!("review.no_evidence"))
    } else {
        Ok(())
    }
}

/// Closed tasks as a share of all, in basis points (10000 = all closed; none at all counts as all closed).
pub fn closure_rate_bp(closed: i64, total: i64) -> i64 {
    if total <= 0 {
        10_000
    } else {
        closed.clamp(0, total) * 10_000 / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_review_is_due_six_months_after_acceptance_with_a_reminder_before() {
        assert_eq!(review_due(d("2026-03-31")), d("2026-09-30"));
        assert_eq!(review_state(d("2026-03-31"), false, d("2026-06-01")), ReviewState::NotYetDue);
        assert_eq!(review_state(d("2026-03-31"), false, d("2026-09-05")), ReviewState::DueSoon);
        assert_eq!(review_state(d("2026-03-31"), false, d("2026-10-01")), ReviewState::Overdue);
        assert_eq!(review_state(d("2026-03-31"), true, d("2026-10-01")), ReviewState::Held);
    }

    #[test]
    fn tasks_need_a_finding_an_owner_and_a_sensible_deadline() {
        let today = d("2026-11-22");
        let ok =
            TaskInput {
                finding: "3号楼雨水管渗漏".into(), owner: "contractor".into(), deadline: "2026-12-15".into(), supervised: true
            };
        assert_eq!(ok.validate(today).unwrap(), d("2026-12-15"));
        let bad = TaskInput { finding: " ".into(), owner: "".into(), deadline: "2026-11-01".into(), supervised: false };
        let fields: Vec<String> = bad.validate(today).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["finding", "owner", "deadline"]);
        let far = TaskInput { deadline: "2028-01-01".into(), ..ok.clone() };
        assert!(far.validate(today).is_err());
        let garbage = TaskInput { deadline: "soon".into(), ..ok };
        assert!(garbage.validate(today).is_err());
    }

    #[test]
    fn the_owner_does_not_close_their_own_task() {
        assert!(may_close("contractor", "contractor", 2).is_err());
        assert!(may_close("contractor", "county_staff", 1).is_ok());
        assert!(may_close("contractor", "county_staff", 0).unwrap_err().to_string().contains("no evidence"));
    }

    proptest! {
        #[test]
        fn closure_rate_stays_within_bounds(closed in -5i64..200, total in -5i64..200) {
            let r = closure_rate_bp(closed, total);
            prop_assert!((0..=10_000).contains(&r));
            if total > 0 && closed >= total { prop_assert_eq!(r, 10_000); }
        }

        #[test]
        fn the_due_date_is_after_acceptance(days in 0i64..20_000) {
            let accepted = d("2000-01-01") + chrono::Duration::days(days);
            let due = review_due(accepted);
            prop_assert!(due > accepted);
            prop_assert!((due - accepted).num_days() <= 184);
        }
    }
}
