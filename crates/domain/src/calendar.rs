//! Working days: weekends and official holidays are off, make-up workdays (调休) are on.
//!
//! The calendar is data (`data/calendar.csv`, written by `scripts/gen-calendar.py` from the State
//! Council's yearly notices); a year not yet published is marked provisional (statutory holidays
//! only) and should be replaced when the notice appears.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The shipped calendar file.
const SHIPPED: &str = include_str!("../data/calendar.csv");

/// Why a calendar file could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CalendarError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

/// What kind of day a calendar line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// An official holiday (off even on a weekday).
    Holiday,
    /// A make-up workday (on even at the weekend).
    Workday,
}

/// The official calendar of holidays and make-up workdays.
#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    days: BTreeMap<NaiveDate, DayKind>,
    provisional_years: BTreeSet<i32>,
}

impl WorkCalendar {
    /// The calendar shipped with Huanxin.
    pub fn shipped() -> Result<WorkCalendar, CalendarError> {
        Self::from_csv(SHIPPED)
    }

    /// The shipped calendar, read once per process.
    pub fn shipped_once() -> Result<&'static WorkCalendar, CalendarError> {
        static CAL: std::sync::OnceLock<Result<WorkCalendar, CalendarError>> = std::sync::OnceLock::new();
        CAL.get_or_init(Self::shipped).as_ref().map_err(Clone::clone)
    }

    /// Reads `date,kind,status` lines (kind: holiday|workday; status: official|provisional).
    pub fn from_csv(text: &str) -> Result<WorkCalendar, CalendarError> {
        let mut cal = WorkCalendar::default();
        for (i, line) in text.lines().enumerate().skip(1) {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: &str| CalendarError::Line { line: line_no, reason: reason.to_string() };
            let mut parts = line.split(',').map(str::trim);
            let date = parts.next().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).ok_or_else(|| bad("not a date"))?;
            let kind = match parts.next() {
                Some("holiday") => DayKind::Holiday,
                Some("workday") => DayKind::Workday,
                _ => return Err(bad("kind must be holiday or workday")),
            };
            match parts.next() {
                Some("official") | None => {}
                Some("provisional") => {
                    cal.provisional_years.insert(date.year());
                }
                Some(_) => return Err(bad("status must be official or provisional")),
            }
            if cal.days.insert(date, kind).is_some_and(|k| k != kind) {
                return Err(bad("the date is listed as both holiday and workday"));
            }
        }
        Ok(cal)
    }

    /// Whether work is done on `d`.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match self.days.get(&d) {
            Some(DayKind::Workday) => true,
            Some(DayKind::Holiday) => false,
            None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The deadline `n` working days after `start` (the start day itself is not counted; with
    /// `n = 0` the first working day from `start` on).
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut d = start;
        if n == 0 {
            while !self.is_working_day(d) {
                d += Duration::days(1);
            }
            return d;
        }
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days after `from` up to and including `to` (negative when `to` is earlier).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let (lo, hi, sign) = if to >= from { (from, to, 1) } else { (to, from, -1) };
        let mut n = 0;
        let mut d = lo;
        while d < hi {
            d += Duration::days(1);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n * sign
    }

    /// Years the calendar holds, and whether each is still provisional.
    pub fn years(&self) -> Vec<(i32, bool)> {
        let years: BTreeSet<i32> = self.days.keys().map(|d| d.year()).collect();
        years.into_iter().map(|y| (y, self.provisional_years.contains(&y))).collect()
    }

    /// Whether `year` is in the calendar with its official days.
    pub fn is_official(&self, year: i32) -> bool {
        self.days.keys().any(|d| d.year() == year) && !self.provisional_years.contains(&year)
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
    fn the_shipped_calendar_reads_and_holds_this_year_and_next() {
        let cal = WorkCalendar::shipped().unwrap();
        assert!(cal.is_official(2026));
        assert!(cal.years().iter().any(|(y, _)| *y == 2027));
    }

    #[test]
    fn spring_festival_2026_and_its_make_up_days() {
        let cal = WorkCalendar::shipped().unwrap();
        // 2026-02-14 is a Saturday worked in lieu; 2026-02-16 a Monday off.
        assert!(cal.is_working_day(d("2026-02-14")));
        assert!(!cal.is_working_day(d("2026-02-16")));
        assert!(!cal.is_working_day(d("2026-02-23")));
        // Friday 2026-02-13 plus 3 working days: Sat 14 (make-up), then Tue 24, Wed 25.
        assert_eq!(cal.add_working_days(d("2026-02-13"), 3), d("2026-02-25"));
        // National Day week 2026: Sunday 09-20 and Saturday 10-10 are worked.
        assert!(cal.is_working_day(d("2026-09-20")));
        assert!(cal.is_working_day(d("2026-10-10")));
        assert_eq!(cal.add_working_days(d("2026-09-30"), 1), d("2026-10-08"));
    }

    #[test]
    fn zero_days_lands_on_the_first_working_day() {
        let cal = WorkCalendar::shipped().unwrap();
        assert_eq!(cal.add_working_days(d("2026-10-01"), 0), d("2026-10-08"));
        assert_eq!(cal.add_working_days(d("2026-11-23"), 0), d("2026-11-23"));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(
            WorkCalendar::from_csv("date,kind,status\n2026-13-01,holiday,official\n").err(),
            Some(CalendarError::Line { line: 2, reason: "not a date".into() })
        );
        assert!(WorkCalendar::from_csv("h\n2026-01-01,feast,official\n").is_err());
        assert!(WorkCalendar::from_csv("h\n2026-01-01,holiday,official\n2026-01-01,workday,official\n").is_err());
    }

    proptest! {
        #[test]
        fn adding_then_counting_gives_back_the_days(offset in 0i64..800, n in 1u32..60) {
            let cal = WorkCalendar::shipped().unwrap();
            let start = d("2025-01-01") + Duration::days(offset);
            let end = cal.add_working_days(start, n);
            prop_assert!(cal.is_working_day(end));
            prop_assert_eq!(cal.working_days_between(start, end), i64::from(n));
            prop_assert_eq!(cal.working_days_between(end, start), -i64::from(n));
        }

        #[test]
        fn deadlines_never_move_backwards(offset in 0i64..800, n in 1u32..40) {
            let cal = WorkCalendar::shipped().unwrap();
            let start = d("2025-01-01") + Duration::days(offset);
            prop_assert!(cal.add_working_days(start, n + 1) > cal.add_working_days(start, n));
            prop_assert!(cal.add_working_days(start, n) >= start);
        }
    }
}
