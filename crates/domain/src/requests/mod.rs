//! Service requests (民生接待 / 诉求): a resident's repair request, complaint, suggestion or question,
//! its handling by staff (accepted, answered, resolved) within working-day limits, and the
//! resident's rating once it is resolved.

pub mod categories;
pub mod classify;

use crate::calendar::WorkCalendar;
use crate::reason;
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Repair,
    Complaint,
    Suggestion,
    Question,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 4] = [Category::Repair, Category::Complaint, Category::Suggestion, Category::Question];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Repair => "repair",
            Category::Complaint => "complaint",
            Category::Suggestion => "suggestion",
            Category::Question => "question",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    /// Working days to resolve: repairs and complaints sooner.
    pub fn working_days(self) -> u32 {
        match self {
            Category::Repair | Category::Complaint => 5,
            Category::Suggestion | Category::Question => 10,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Submitted,
    InProgress,
    Resolved,
}

impl Status {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Submitted, Status::InProgress, Status::Resolved].into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// A request as filed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestInput {
    pub category: String,
    pub text: String,
    /// The dwelling it concerns (a resident's own), if any.
    pub dwelling_id: Option<i64>,
    /// Staff taking a request by phone or at the reception desk name who made it.
    pub author: String,
}

impl RequestInput {
    /// Checks the category and text.
    pub fn validate(&self) -> Result<(Category, String), ValidationErrors> {
        let mut e = ValidationErrors::default();
        let category = Category::parse(&self.category);
        if category.is_none() {
            e.push("category", &self.category, reason!("requests.category_kind"));
        }
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > 2_000 {
            e.push("text", text.chars().take(40).collect::<String>(), reason!("field.length", max = 2000));
        }
        match category {
            Some(c) if e.is_empty() => Ok((c, text.to_string())),
            _ => Err(e),
        }
    }
}

/// The day a request filed on `day` is due.
pub fn due_on(cal: &WorkCalendar, category: Category, day: NaiveDate) -> NaiveDate {
    cal.add_working_days(day, category.working_days())
}

/// Why a handling step is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AlreadyResolved,
    AnswerMissing,
    NotResolved,
    BadRating,
    AlreadyRated,
}

crate::refusal_display!(Refusal);

impl Refusal {
    /// The refusal's stable code.
    pub fn reason(&self) -> crate::Reason {
        match self {
            Refusal::AlreadyResolved => crate::reason!("requests.already_resolved"),
            Refusal::AnswerMissing => crate::reason!("requests.answer_missing"),
            Refusal::NotResolved => crate::reason!("requests.not_resolved"),
            Refusal::BadRating => crate::reason!("requests.bad_rating"),
            Refusal::AlreadyRated => crate::reason!("requests.already_rated"),
        }
    }
}

/// Staff move a request on: to in progress (an answer optional) or resolved (an answer required).
pub fn handle(from: Status, to: Status, answer: &str) -> Result<Status, Refusal> {
    if from == Status::Resolved {
        return Err(Refusal::AlreadyResolved);
    }
    if to == Status::Resolved && answer.trim().is_empty() {
        return Err(Refusal::AnswerMissing);
    }
    Ok(if to == Status::Submitted { from } else { to })
}

/// The resident rates a resolved request, 1 to 5, once (the rating closes it for the statistics).
pub fn check_rating(status: Status, rated: Option<i64>, rating: i64) -> Result<(), Refusal> {
    if status != Status::Resolved {
        return Err(Refusal::NotResolved);
    }
    if rated.is_some() {
        return Err(Refusal::AlreadyRated);
    }
    if !(1..=5).contains(&rating) {
        return Err(Refusal::BadRating);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_are_checked_and_due_in_working_days() {
        let bad = RequestInput { category: "rant".into(), text: " ".into(), ..Default::default() };
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["category", "text"]);
        let cal = WorkCalendar::shipped().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert_eq!(due_on(&cal, Category::Repair, d), NaiveDate::from_ymd_opt(2026, 10, 13).unwrap(), "over the National Day week");
    }

    #[test]
    fn resolving_needs_an_answer_and_rating_a_resolution() {
        assert_eq!(handle(Status::Submitted, Status::Resolved, ""), Err(Refusal::AnswerMissing));
        assert_eq!(handle(Status::Submitted, Status::InProgress, ""), Ok(Status::InProgress));
        assert_eq!(handle(Status::Resolved, Status::InProgress, "x"), Err(Refusal::AlreadyResolved));
        assert_eq!(check_rating(Status::InProgress, None, 5), Err(Refusal::NotResolved));
        assert_eq!(check_rating(Status::Resolved, None, 6), Err(Refusal::BadRating));
    }

    proptest! {
        /// No sequence of handling steps leaves "resolved" or reaches it without an answer.
        #[test]
        fn resolved_is_final_and_answered(steps in proptest::collection::vec((0usize..3, any::<bool>()), 1..30)) {
            let all = [Status::Submitted, Status::InProgress, Status::Resolved];
            let mut s = Status::Submitted;
            for (to, answered) in steps {
                let answer = if answered { "已修复" } else { "" };
                if let Ok(n) = handle(s, all[to], answer) {
                    prop_assert!(s != Status::Resolved);
                    if n == Status::Resolved {
                        prop_assert!(answered);
                    }
                    s = n;
                }
            }
        }
    }
}
