//! Service requests (民生接待 / 诉求): a resident's repair request, complaint, suggestion or question,
//! its handling by staff (accepted, answered, resolved) within working-day limits, and the
//! resident's rating once it is resolved.

pub mod categories;
pub mod classify;
pub mod digest;
pub mod hotline;
pub mod open311;
pub mod routing;
pub mod warnings;

use crate::calendar::WorkCalendar;
use crate::reason;
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Where a request stands: filed and routed to a unit, taken on by it, given back to the
/// dispatcher, answered, and closed by the callback visit or the resident's rating (or merged into
/// another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Submitted,
    InProgress,
    Returned,
    Resolved,
    Closed,
}

impl Status {
    /// Every status, in the order a request moves through them.
    pub const ALL: [Status; 5] = [Status::Submitted, Status::InProgress, Status::Returned, Status::Resolved, Status::Closed];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::InProgress => "in_progress",
            Status::Returned => "returned",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// True while the request still waits for its answer (the clock of its due day runs).
    pub fn is_open(self) -> bool {
        matches!(self, Status::Submitted | Status::InProgress | Status::Returned)
    }
}

/// A request as filed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestInput {
    /// A leaf of the category tree (`repair.water`, `dispute`, …).
    pub category: String,
    pub text: String,
    /// The dwelling it concerns (a resident's own), if any.
    pub dwelling_id: Option<i64>,
    /// Staff taking a request by phone or at the reception desk name who made it.
    pub author: String,
    /// How staff received it: `phone`, `wechat`, `reception`, `letter` or `patrol` (residents file `online`).
    pub channel: String,
    /// The category the model suggested, as shown to the one who filed (kept to learn from corrections).
    pub suggested_category: Option<String>,
}

/// The ways staff take a request; residents file theirs `online`, hotline work orders come `hotline`.
pub const STAFF_CHANNELS: [&str; 5] = ["phone", "wechat", "reception", "letter", "patrol"];

impl RequestInput {
    /// Checks the category (a leaf of the region's tree, in use), the text and the channel.
    pub fn validate(&self, tree: &categories::Tree) -> Result<(categories::Category, String), ValidationErrors> {
        let mut e = ValidationErrors::default();
        let category = tree.leaf(&self.category).cloned();
        if category.is_none() {
            e.push("category", &self.category, category_refusal(tree, &self.category));
        }
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > 2_000 {
            e.push("text", text.chars().take(40).collect::<String>(), reason!("field.length", max = 2000));
        }
        if !self.channel.is_empty() && !STAFF_CHANNELS.contains(&self.channel.as_str()) {
            e.push("channel", &self.channel, reason!("requests.channel_kind"));
        }
        if let Some(s) = self.suggested_category.as_deref().filter(|s| !s.is_empty() && tree.category(s).is_none()) {
            e.push("suggested_category", s, reason!("requests.category_kind"));
        }
        match category {
            Some(c) if e.is_empty() => Ok((c, text.to_string())),
            _ => Err(e),
        }
    }
}

/// The leaf of the national tree with this code: requests are filed under leaves only.
pub fn leaf(code: &str) -> Option<&'static categories::RequestCategory> {
    categories::leaves().find(|c| c.code == code.trim())
}

/// Why `code` is no category to file a new request under in `tree`: retired there, or none.
pub fn category_refusal(tree: &categories::Tree, code: &str) -> crate::reasons::Reason {
    if tree.category(code).is_some_and(|c| c.leaf && c.retired) {
        reason!("requests.category_retired")
    } else {
        reason!("requests.category_kind")
    }
}

/// The day a request filed on `day` is due, `working_days` after it on the official calendar.
/// A danger (0 working days) is due the day it is filed, rest day or not.
pub fn due_on(cal: &WorkCalendar, working_days: u32, day: NaiveDate) -> NaiveDate {
    if working_days == 0 {
        return day;
    }
    cal.add_working_days(day, working_days)
}

/// A resident's rating at most this is "not satisfied": the request is handled again.
pub const UNSATISFIED_AT_MOST: i64 = 2;

/// Why a handling step is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Answered or closed already: nothing more to handle.
    NotOpen,
    AnswerMissing,
    ReasonMissing,
    NotResolved,
    BadRating,
    AlreadyRated,
    /// Given back to the dispatcher: it must be routed again before it is handled.
    Returned,
    /// A request is merged into one of the same estate and category that is still open.
    NotDuplicate,
    /// Taken on already.
    AlreadyAccepted,
}

crate::refusal_display!(Refusal);

impl Refusal {
    /// The refusal's stable code.
    pub fn reason(&self) -> crate::Reason {
        match self {
            Refusal::NotOpen => crate::reason!("requests.already_resolved"),
            Refusal::AnswerMissing => crate::reason!("requests.answer_missing"),
            Refusal::ReasonMissing => crate::reason!("requests.reason_missing"),
            Refusal::NotResolved => crate::reason!("requests.not_resolved"),
            Refusal::BadRating => crate::reason!("requests.bad_rating"),
            Refusal::AlreadyRated => crate::reason!("requests.already_rated"),
            Refusal::Returned => crate::reason!("requests.returned_to_dispatch"),
            Refusal::NotDuplicate => crate::reason!("requests.not_duplicate"),
            Refusal::AlreadyAccepted => crate::reason!("requests.already_accepted"),
        }
    }
}

/// A step in handling a request. The unit it is routed to accepts, resolves or returns it; the
/// dispatcher (the community, street or county desk) transfers it to another unit or merges it;
/// the callback visit (回访) or the resident's rating closes an answered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Accept,
    Resolve {
        answer: &'a str,
    },
    ReturnToDispatch {
        reason: &'a str,
    },
    Transfer {
        reason: &'a str,
    },
    Merge,
    /// A callback visit: satisfied closes it with the rating; not satisfied reopens it.
    Callback {
        satisfied: bool,
        rating: i64,
    },
    /// The resident's own rating from the phone.
    Rate {
        rating: i64,
    },
}

/// Where `step` takes a request standing at `from` (with a rating `rated` already or not).
pub fn step(from: Status, rated: Option<i64>, step: Step<'_>) -> Result<Status, Refusal> {
    match step {
        Step::Accept | Step::Resolve { .. } | Step::ReturnToDispatch { .. } => {
            if !from.is_open() {
                return Err(Refusal::NotOpen);
            }
            if from == Status::Returned {
                return Err(Refusal::Returned);
            }
            match step {
                Step::Resolve { answer } if answer.trim().is_empty() => Err(Refusal::AnswerMissing),
                Step::Resolve { .. } => Ok(Status::Resolved),
                Step::ReturnToDispatch { reason } if reason.trim().is_empty() => Err(Refusal::ReasonMissing),
                Step::ReturnToDispatch { .. } => Ok(Status::Returned),
                _ if from == Status::InProgress => Err(Refusal::AlreadyAccepted),
                _ => Ok(Status::InProgress),
            }
        }
        Step::Transfer { reason } => match () {
            _ if !from.is_open() => Err(Refusal::NotOpen),
            _ if reason.trim().is_empty() => Err(Refusal::ReasonMissing),
            _ => Ok(Status::Submitted),
        },
        Step::Merge if from.is_open() => Ok(Status::Closed),
        Step::Merge => Err(Refusal::NotOpen),
        Step::Callback { satisfied, rating } => {
            check_rating(from, rated, rating)?;
            Ok(if satisfied { Status::Closed } else { Status::InProgress })
        }
        // Not satisfied (a low rating) sends it back to be handled again, as a callback would.
        Step::Rate { rating } => {
            check_rating(from, rated, rating)?;
            Ok(if rating <= UNSATISFIED_AT_MOST { Status::InProgress } else { Status::Closed })
        }
    }
}

/// A rating is given once, 1 to 5, to an answered request.
pub fn check_rating(status: Status, rated: Option<i64>, rating: i64) -> Result<(), Refusal> {
    if rated.is_some() || status == Status::Closed {
        return Err(Refusal::AlreadyRated);
    }
    if status != Status::Resolved {
        return Err(Refusal::NotResolved);
    }
    if !(1..=5).contains(&rating) {
        return Err(Refusal::BadRating);
    }
    Ok(())
}

/// How alike two texts are (0 to 1): the share of adjacent character pairs they have in common
/// (Jaccard), which bears typos, added words and another word order.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    fn pairs(t: &str) -> std::collections::HashSet<(char, char)> {
        let chars: Vec<char> = t.chars().filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation()).collect();
        chars.windows(2).map(|w| (w[0], w[1])).collect()
    }
    let (a, b) = (pairs(a), pairs(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Texts at least this alike are likely the same matter.
pub const DUPLICATE_SIMILARITY: f64 = 0.3;
/// Requests filed within this many days of each other may be duplicates.
pub const DUPLICATE_DAYS: i64 = 7;

/// True when two requests are likely one matter: the same estate and category, filed within 7
/// days of each other, and texts at least [`DUPLICATE_SIMILARITY`] alike.
pub fn likely_duplicates(a: (i64, &str, NaiveDate, &str), b: (i64, &str, NaiveDate, &str)) -> bool {
    a.0 == b.0 && a.1 == b.1 && (a.2 - b.2).num_days().abs() <= DUPLICATE_DAYS && text_similarity(a.3, b.3) >= DUPLICATE_SIMILARITY
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_are_checked_and_due_in_working_days() {
        let bad = RequestInput { category: "repair".into(), text: " ".into(), channel: "fax".into(), ..Default::default() };
        let fields: Vec<String> = bad.validate(&categories::Tree::national()).unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["category", "text", "channel"], "a group with kinds is no leaf");
        let ok = RequestInput { category: "repair.lift".into(), text: "电梯停了".into(), ..Default::default() };
        assert_eq!(ok.validate(&categories::Tree::national()).unwrap().0.working_days, 2);
        let cal = WorkCalendar::shipped().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert_eq!(due_on(&cal, 5, d), NaiveDate::from_ymd_opt(2026, 10, 13).unwrap(), "over the National Day week");
        assert_eq!(due_on(&cal, 0, d), d, "a danger is due the day it is filed");
        let saturday = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        assert_eq!(due_on(&cal, 0, saturday), saturday, "on a rest day too");
    }

    #[test]
    fn each_step_has_its_conditions() {
        use Status::*;
        assert_eq!(step(Submitted, None, Step::Resolve { answer: "" }), Err(Refusal::AnswerMissing));
        assert_eq!(step(Submitted, None, Step::Accept), Ok(InProgress));
        assert_eq!(step(Resolved, None, Step::Accept), Err(Refusal::NotOpen));
        assert_eq!(step(Returned, None, Step::Accept), Err(Refusal::Returned), "a returned request is routed again first");
        assert_eq!(step(InProgress, None, Step::ReturnToDispatch { reason: " " }), Err(Refusal::ReasonMissing));
        assert_eq!(step(Returned, None, Step::Transfer { reason: "属供水公司" }), Ok(Submitted));
        assert_eq!(step(Closed, None, Step::Merge), Err(Refusal::NotOpen));
        assert_eq!(step(InProgress, None, Step::Callback { satisfied: true, rating: 5 }), Err(Refusal::NotResolved));
        assert_eq!(step(Resolved, None, Step::Callback { satisfied: false, rating: 2 }), Ok(InProgress), "not satisfied reopens it");
        assert_eq!(step(Resolved, None, Step::Rate { rating: 6 }), Err(Refusal::BadRating));
        assert_eq!(step(Resolved, Some(4), Step::Rate { rating: 5 }), Err(Refusal::AlreadyRated));
        assert_eq!(step(Resolved, None, Step::Rate { rating: 4 }), Ok(Closed));
        assert_eq!(step(Resolved, None, Step::Rate { rating: 2 }), Ok(InProgress), "not satisfied: handled again");
        assert_eq!(step(InProgress, None, Step::Accept), Err(Refusal::AlreadyAccepted), "taken on once");
    }

    #[test]
    fn duplicates_are_the_same_matter_within_a_week() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let a = (7, "repair.lift", d, "3号楼电梯又停了，老人上不去");
        assert!(likely_duplicates(a, (7, "repair.lift", d + chrono::Days::new(2), "3号楼电梯停了，老人上不去楼")));
        assert!(!likely_duplicates(a, (7, "repair.lift", d + chrono::Days::new(8), "3号楼电梯又停了，老人上不去")), "a week apart");
        assert!(!likely_duplicates(a, (8, "repair.lift", d, "3号楼电梯又停了，老人上不去")), "another estate");
        assert!(!likely_duplicates(a, (7, "repair.lift", d, "5号楼电梯按钮失灵")), "another matter");
    }

    proptest! {
        /// No sequence of steps leaves "closed", reaches "resolved" without an answer, or rates twice.
        #[test]
        fn closed_is_final_and_answers_are_given(steps in proptest::collection::vec((0usize..7, any::<bool>(), 0i64..7), 1..40)) {
            let mut s = Status::Submitted;
            let mut rated = None;
            for (k, yes, rating) in steps {
                let text = if yes { "已修复" } else { "" };
                let st = [
                    Step::Accept,
                    Step::Resolve { answer: text },
                    Step::ReturnToDispatch { reason: text },
                    Step::Transfer { reason: text },
                    Step::Merge,
                    Step::Callback { satisfied: yes, rating },
                    Step::Rate { rating },
                ][k];
                if let Ok(n) = step(s, rated, st) {
                    prop_assert!(s != Status::Closed);
                    if n == Status::Resolved {
                        prop_assert!(yes);
                    }
                    if matches!(st, Step::Callback { .. } | Step::Rate { .. }) {
                        prop_assert!(rated.is_none() && (1..=5).contains(&rating));
                        // Only the rating that closes it is kept; a reopening visit's is in the timeline.
                        if n == Status::Closed {
                            rated = Some(rating);
                        }
                    }
                    s = n;
                }
            }
        }

        /// Similarity is symmetric, between 0 and 1, and a text is wholly like itself.
        #[test]
        fn similarity_is_a_measure(a in "[电梯漏水停了楼道灯坏 ]{0,12}", b in "[电梯漏水停了楼道灯坏 ]{0,12}") {
            let s = text_similarity(&a, &b);
            prop_assert!((0.0..=1.0).contains(&s));
            prop_assert!((s - text_similarity(&b, &a)).abs() < 1e-12);
            if a.chars().filter(|c| !c.is_whitespace()).count() >= 2 {
                prop_assert!((text_similarity(&a, &a) - 1.0).abs() < 1e-12);
            }
        }
    }
}
