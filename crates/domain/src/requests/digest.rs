//! The weekly digest per street (issue 16, part 4): what was filed in a week (Monday to Sunday)
//! in each street's communities, how much of it is answered, on time or late, under supervision
//! or warned about, and the kinds most asked about.

use super::Status;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// A request of the week as the digest counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRow {
    /// The community's 12-digit code; its street is the first nine digits.
    pub community: String,
    pub category: String,
    pub status: Status,
    pub due_on: NaiveDate,
    /// The day it was answered (Beijing), if it was.
    pub answered_on: Option<NaiveDate>,
    pub supervised: bool,
    pub warned: bool,
}

/// A street's week.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreetWeek {
    /// The street's 12-digit code.
    pub street: String,
    pub filed: u32,
    pub answered: u32,
    pub answered_on_time: u32,
    /// Still open and past their due day at the digest's day.
    pub late_open: u32,
    pub supervised: u32,
    pub warned: u32,
    /// Requests per category group, most first.
    pub groups: Vec<(String, u32)>,
}

impl StreetWeek {
    /// The share of answered requests answered by their due day, in per cent (none: 100).
    pub fn on_time_rate(&self) -> f64 {
        if self.answered == 0 {
            100.0
        } else {
            (f64::from(self.answered_on_time) * 1000.0 / f64::from(self.answered)).round() / 10.0
        }
    }
}

/// The Monday and Sunday of the week before the one `today` is in: the digest's default week.
pub fn last_week(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = crate::grids::week_of(today) - Duration::days(7);
    (monday, monday + Duration::days(6))
}

/// The street a community lies in.
pub fn street_of(community: &str) -> String {
    format!("{:0<12}", community.get(..9).unwrap_or(community))
}

/// Counts the week's requests by street, streets in code order; `today` decides what is late.
pub fn by_street(rows: &[DigestRow], today: NaiveDate) -> Vec<StreetWeek> {
    let mut streets: BTreeMap<String, (StreetWeek, BTreeMap<String, u32>)> = BTreeMap::new();
    for r in rows {
        let street = street_of(&r.community);
        let (w, groups) = streets.entry(street.clone()).or_insert_with(|| (StreetWeek { street, ..Default::default() }, BTreeMap::new()));
        w.filed += 1;
        if let Some(day) = r.answered_on {
            w.answered += 1;
            if day <= r.due_on {
                w.answered_on_time += 1;
            }
        } else if r.status.is_open() && r.due_on < today {
            w.late_open += 1;
        }
        w.supervised += u32::from(r.supervised);
        w.warned += u32::from(r.warned);
        let group = r.category.split('.').next().unwrap_or(&r.category).to_string();
        *groups.entry(group).or_default() += 1;
    }
    streets
        .into_values()
        .map(|(mut w, groups)| {
            let mut g: Vec<(String, u32)> = groups.into_iter().collect();
            g.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            w.groups = g;
            w
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

    fn row(community: &str, category: &str, status: Status, due: &str, answered: Option<&str>) -> DigestRow {
        DigestRow {
            community: community.into(),
            category: category.into(),
            status,
            due_on: d(due),
            answered_on: answered.map(d),
            supervised: false,
            warned: false,
        }
    }

    #[test]
    fn a_week_counted_by_street() {
        let rows = vec![
            row("350521100001", "repair.water", Status::Closed, "2026-11-27", Some("2026-11-26")),
            row("350521100002", "repair.lift", Status::Resolved, "2026-11-25", Some("2026-11-27")),
            row("350521100001", "environment.noise", Status::Submitted, "2026-11-28", None),
            DigestRow { supervised: true, warned: true, ..row("350521101001", "safety.gas_smell", Status::InProgress, "2026-12-10", None) },
        ];
        let weeks = by_street(&rows, d("2026-12-02"));
        assert_eq!(weeks.len(), 2);
        let first = &weeks[0];
        assert_eq!(first.street, "350521100000");
        assert_eq!((first.filed, first.answered, first.answered_on_time, first.late_open), (3, 2, 1, 1));
        assert_eq!(first.on_time_rate(), 50.0);
        assert_eq!(first.groups, vec![("repair".to_string(), 2), ("environment".to_string(), 1)]);
        assert_eq!((weeks[1].supervised, weeks[1].warned, weeks[1].late_open), (1, 1, 0), "not yet due is not late");
    }

    #[test]
    fn last_week_is_monday_to_sunday_before_this_one() {
        assert_eq!(last_week(d("2026-12-06")), (d("2026-11-23"), d("2026-11-29")));
        assert_eq!(last_week(d("2026-12-07")), (d("2026-11-30"), d("2026-12-06")));
        assert_eq!(street_of("350521100001"), "350521100000");
    }

    proptest! {
        #[test]
        fn every_request_counts_once(n in 0usize..40, seed in 0u64..1000) {
            let rows: Vec<DigestRow> = (0..n)
                .map(|i| {
                    let k = (seed as usize + i * 7) % 5;
                    row(&format!("35052110{k}001"), ["repair.water", "dispute", "safety.gas_smell"][i % 3], Status::ALL[i % 5], "2026-11-27", (i % 2 == 0).then_some("2026-11-26"))
                })
                .collect();
            let weeks = by_street(&rows, d("2026-12-02"));
            prop_assert_eq!(weeks.iter().map(|w| w.filed as usize).sum::<usize>(), n);
            prop_assert!(weeks.iter().all(|w| w.answered_on_time <= w.answered && w.groups.iter().map(|g| g.1).sum::<u32>() == w.filed));
        }
    }
}
