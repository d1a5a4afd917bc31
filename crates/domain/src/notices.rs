//! Public notices (公示): a scheme version or another document posted for a period in working days,
//! in two rounds before a scheme is final (两上两下); residents file objections and opinions, staff
//! answer each one.

use crate::calendar::WorkCalendar;
use crate::reason;
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Fewest and most working days a notice may run.
pub const MIN_WORKING_DAYS: u32 = 1;
pub const MAX_WORKING_DAYS: u32 = 30;
/// A notice is posted at most this many days ahead: a date years away is a typing mistake (and a
/// five-digit year once sorted before today as text, so the notice counted as ended).
pub const MAX_DAYS_AHEAD: i64 = 366;

/// A notice as asked for by staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NoticeInput {
    pub title: String,
    pub body: String,
    /// 1 or 2 for the rounds of a scheme's notice; 0 for any other document.
    pub round: i64,
    /// The scheme version posted (rounds 1 and 2).
    pub scheme_version: Option<i64>,
    /// First day on the board, YYYY-MM-DD (China's date).
    pub starts_on: String,
    pub working_days: u32,
}

/// A notice checked: its last day is computed from the official calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNotice {
    pub title: String,
    pub body: String,
    pub round: i64,
    pub scheme_version: Option<i64>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub working_days: u32,
}

/// What is known of the estate's earlier notices when a new one is posted.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoticeHistory {
    /// A round-1 notice of the scheme has ended.
    pub round_1_ended: bool,
}

impl NoticeInput {
    /// Checks the notice against `today`: it may not start in the past, runs 1 to 30 working days,
    /// and a scheme's round 2 comes only after round 1 has ended.
    pub fn validate(&self, today: NaiveDate, cal: &WorkCalendar, history: NoticeHistory) -> Result<ValidNotice, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = self.title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            e.push("title", &self.title, reason!("field.length", max = 200));
        }
        if self.body.chars().count() > 20_000 {
            e.push("body", "…", reason!("field.at_most_chars", max = 20000));
        }
        if !(0..=2).contains(&self.round) {
            e.push("round", self.round, reason!("notices.round_form"));
        }
        if self.round > 0 && self.scheme_version.is_none() {
            e.push("scheme_version", "", reason!("notices.version_required"));
        }
        if self.round == 2 && !history.round_1_ended {
            e.push("round", 2, reason!("notices.round_2_after_round_1"));
        }
        if !(MIN_WORKING_DAYS..=MAX_WORKING_DAYS).contains(&self.working_days) {
            e.push(
                "working_days",
                self.working_days,
                reason!("notices.working_days_range", min_working_days = MIN_WORKING_DAYS, max_working_days = MAX_WORKING_DAYS),
            );
        }
        let starts_on = match NaiveDate::parse_from_str(self.starts_on.trim(), "%Y-%m-%d") {
            Ok(d) if d < today => {
                e.push("starts_on", &self.starts_on, reason!("field.not_past"));
                None
            }
            Ok(d) if (d - today).num_days() > MAX_DAYS_AHEAD => {
                e.push("starts_on", &self.starts_on, reason!("notices.start_too_far", max_days_ahead = MAX_DAYS_AHEAD));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                e.push("starts_on", &self.starts_on, reason!("field.date"));
                None
            }
        };
        match starts_on {
            Some(starts_on) if e.is_empty() => Ok(ValidNotice {
                title,
                body: self.body.trim().to_string(),
                round: self.round,
                scheme_version: self.scheme_version,
                starts_on,
                ends_on: last_day(cal, starts_on, self.working_days),
                working_days: self.working_days,
            }),
            _ => Err(e),
        }
    }
}

/// The last day on the board of a notice of `n` working days from `start` (counted from `start` if
/// it is a working day, else from the next one).
pub fn last_day(cal: &WorkCalendar, start: NaiveDate, n: u32) -> NaiveDate {
    let first = if cal.is_working_day(start) { start } else { cal.add_working_days(start, 1) };
    if n <= 1 {
        first
    } else {
        cal.add_working_days(first, n - 1)
    }
}

/// Where a notice stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Upcoming,
    Open,
    Ended,
}

/// The state of a notice running `starts_on..=ends_on` on `today`.
pub fn state(starts_on: NaiveDate, ends_on: NaiveDate, today: NaiveDate) -> NoticeState {
    if today < starts_on {
        NoticeState::Upcoming
    } else if today <= ends_on {
        NoticeState::Open
    } else {
        NoticeState::Ended
    }
}

/// Objections and opinions are taken while the notice is on the board.
pub fn may_object(s: NoticeState) -> bool {
    s == NoticeState::Open
}

/// Checks an objection's or an answer's text.
pub fn check_text(field: &str, text: &str) -> Result<String, ValidationErrors> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 2_000 {
        return Err(ValidationErrors::one(field, text.chars().take(40).collect::<String>(), reason!("field.length", max = 2000)));
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn five_working_days_skip_the_weekend_and_the_holiday() {
        let cal = WorkCalendar::shipped().unwrap();
        // Monday 2026-09-28; 1-7 October 2026 are the National Day holiday.
        assert_eq!(last_day(&cal, d("2026-09-28"), 5), d("2026-10-09"));
        // A Saturday start counts from Monday.
        assert_eq!(last_day(&cal, d("2026-11-21"), 5), d("2026-11-27"));
        assert_eq!(last_day(&cal, d("2026-11-23"), 1), d("2026-11-23"));
    }

    #[test]
    fn round_two_waits_for_round_one() {
        let cal = WorkCalendar::shipped().unwrap();
        let input = NoticeInput {
            title: "方案第二轮公示".into(),
            round: 2,
            scheme_version: Some(3),
            starts_on: "2026-11-23".into(),
            working_days: 5,
            ..Default::default()
        };
        let e = input.validate(d("2026-11-23"), &cal, NoticeHistory::default()).unwrap_err();
        assert_eq!(e.0[0].field, "round");
        assert!(input.validate(d("2026-11-23"), &cal, NoticeHistory { round_1_ended: true }).is_ok());
        let past = NoticeInput { starts_on: "2026-11-20".into(), working_days: 0, ..input };
        let fields: Vec<_> = past
            .validate(d("2026-11-23"), &cal, NoticeHistory { round_1_ended: true })
            .unwrap_err()
            .0
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["working_days", "starts_on"]);
    }

    #[test]
    fn a_start_years_ahead_is_refused() {
        let cal = WorkCalendar::shipped().unwrap();
        let far = NoticeInput { title: "公示".into(), starts_on: "9999-12-31".into(), working_days: 5, ..Default::default() };
        let e = far.validate(d("2026-11-23"), &cal, NoticeHistory::default()).unwrap_err();
        assert_eq!(e.0[0].field, "starts_on");
        let next_year = NoticeInput { starts_on: "2027-11-23".into(), ..far.clone() };
        assert!(next_year.validate(d("2026-11-23"), &cal, NoticeHistory::default()).is_ok());
        let too_far = NoticeInput { starts_on: "2027-11-25".into(), ..far };
        assert!(too_far.validate(d("2026-11-23"), &cal, NoticeHistory::default()).is_err());
    }

    #[test]
    fn objections_only_while_open() {
        let (s, e) = (d("2026-11-23"), d("2026-11-27"));
        assert_eq!(state(s, e, d("2026-11-22")), NoticeState::Upcoming);
        assert!(may_object(state(s, e, d("2026-11-27"))));
        assert!(!may_object(state(s, e, d("2026-11-28"))));
        assert!(check_text("text", "  ").is_err());
    }
}
