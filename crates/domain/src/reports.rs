//! Statistical reports (issue 15, part 3): the forms of the national survey system, filled by a
//! county from the computed indicators (a figure kept outside Huanxin is typed over the computed
//! one and flagged when they differ), submitted and locked, then reviewed up the ladder — city,
//! province, ministry — each level approving or returning it with a reason. Nobody approves a
//! report they prepared or submitted. A correction after approval is a new version with its
//! reason. Deadlines are working days on the official calendar after the period.

use crate::calendar::WorkCalendar;
use crate::reason;
use crate::reasons::Reason;
use crate::regions::{Level, RegionCode};
use crate::statistics::{self, Period};
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// How often a form is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Yearly,
    Quarterly,
    Monthly,
}

/// From when a form's deadline counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DueFrom {
    /// The period's first day (a plan is reported as the year begins).
    Start,
    /// The day after the period ends (progress and results).
    End,
}

/// One report form: its table number, names, how often, its default deadline and its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Form {
    pub code: &'static str,
    /// 表号, as the survey system numbers its tables.
    pub table: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub frequency: Frequency,
    pub due_from: DueFrom,
    /// Working days after `due_from` by which it is due, unless a region sets its own.
    pub due_working_days: u32,
    /// The indicators it reports, in order (codes of `statistics::INDICATORS`).
    pub cells: &'static [&'static str],
}

/// The forms, in the order the survey system lists them.
pub const FORMS: &[Form] = &[
    Form {
        code: "annual_plan",
        table: "城老改统1表",
        zh: "城镇老旧小区改造年度计划表",
        en: "Annual plan",
        frequency: Frequency::Yearly,
        due_from: DueFrom::Start,
        due_working_days: 20,
        cells: &["planned_estates", "planned_households", "planned_buildings", "planned_floor_area"],
    },
    Form {
        code: "progress",
        table: "城老改统2表",
        zh: "城镇老旧小区改造进度月报表",
        en: "Monthly progress",
        frequency: Frequency::Monthly,
        due_from: DueFrom::End,
        due_working_days: 5,
        cells: &[
            "plan_started_estates",
            "plan_started_households",
            "plan_completed_estates",
            "plan_completed_households",
            "started_estates",
            "started_households",
            "started_buildings",
            "started_floor_area",
            "completed_estates",
            "completed_households",
            "completed_buildings",
            "completed_floor_area",
            "invest_central",
            "invest_provincial",
            "invest_local",
            "invest_special_bonds",
            "invest_utility",
            "invest_residents",
            "invest_social_capital",
            "invest_bank_credit",
        ],
    },
    Form {
        code: "effects",
        table: "城老改统3表",
        zh: "城镇老旧小区改造成效统计表",
        en: "Results of the renewal",
        frequency: Frequency::Yearly,
        due_from: DueFrom::End,
        due_working_days: 15,
        cells: &[
            "pipe_water",
            "pipe_power",
            "pipe_gas",
            "pipe_heat",
            "pipe_telecom",
            "lifts_added",
            "energy_retrofit",
            "parking_added",
            "chargers_added",
            "elderly_care_added",
            "childcare_added",
            "services_added",
            "culture_sports_added",
            "plan_contributed_estates",
            "rectifications_found",
            "rectifications_closed",
            "satisfaction_answers",
            "satisfaction_satisfied",
        ],
    },
    Form {
        code: "project_basics",
        table: "城老改统4表",
        zh: "城镇老旧小区改造项目基本情况季报表",
        en: "Basic project data (quarterly)",
        frequency: Frequency::Quarterly,
        due_from: DueFrom::End,
        due_working_days: 10,
        cells: &[
            "planned_estates",
            "planned_households",
            "planned_buildings",
            "planned_floor_area",
            "plan_started_estates",
            "plan_completed_estates",
            "plan_contributed_estates",
            "started_estates",
            "completed_estates",
        ],
    },
];

/// The form with this code.
pub fn form(code: &str) -> Option<&'static Form> {
    FORMS.iter().find(|f| f.code == code)
}

/// Checks that `period` is one the form is reported for (a year, a quarter or a month).
pub fn check_period(form: &Form, period: &Period) -> Result<(), Reason> {
    let fits = matches!(
        (form.frequency, period),
        (Frequency::Yearly, Period::Year(_)) | (Frequency::Quarterly, Period::Quarter(..)) | (Frequency::Monthly, Period::Month(..))
    );
    if fits {
        Ok(())
    } else {
        Err(reason!("reports.period_kind", form = form.zh, kind = frequency_zh(form.frequency)))
    }
}

fn frequency_zh(f: Frequency) -> &'static str {
    match f {
        Frequency::Yearly => "年度",
        Frequency::Quarterly => "季度",
        Frequency::Monthly => "月度",
    }
}

/// The first day of a period and the day after it ends (none for the cumulative period).
pub fn period_bounds(period: &Period) -> Option<(NaiveDate, NaiveDate)> {
    let first = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let (start, months) = match *period {
        Period::Year(y) => (first(y, 1)?, 12),
        Period::Quarter(y, q) => (first(y, q * 3 - 2)?, 3),
        Period::Month(y, m) => (first(y, m)?, 1),
        Period::Cumulative => return None,
    };
    Some((start, start.checked_add_months(chrono::Months::new(months))?))
}

/// The period of a form whose report falls due next on `today`: last month, last quarter, last
/// year (an annual plan: this year), as a county files them.
pub fn period_due_next(form: &Form, today: NaiveDate) -> Period {
    use chrono::Datelike;
    let last_month = today.with_day(1).and_then(|d| d.pred_opt()).unwrap_or(today);
    match (form.frequency, form.due_from) {
        (Frequency::Monthly, _) => Period::Month(last_month.year(), last_month.month()),
        (Frequency::Quarterly, _) => {
            let q = (today.month() - 1) / 3;
            if q == 0 {
                Period::Quarter(today.year() - 1, 4)
            } else {
                Period::Quarter(today.year(), q)
            }
        }
        (Frequency::Yearly, DueFrom::Start) => Period::Year(today.year()),
        (Frequency::Yearly, DueFrom::End) => Period::Year(today.year() - 1),
    }
}

/// The periods of a form a county's desk watches on `today`: the one falling due next and the
/// two before it (a report left late stays on the desk for a quarter of a year, or two quarters).
pub fn periods_watched(form: &Form, today: NaiveDate) -> Vec<Period> {
    let mut out = vec![period_due_next(form, today)];
    let earlier = match form.frequency {
        Frequency::Monthly => 2,
        Frequency::Quarterly => 1,
        Frequency::Yearly => 0,
    };
    for _ in 0..earlier {
        let before = match out[out.len() - 1] {
            Period::Month(y, 1) => Period::Month(y - 1, 12),
            Period::Month(y, m) => Period::Month(y, m - 1),
            Period::Quarter(y, 1) => Period::Quarter(y - 1, 4),
            Period::Quarter(y, q) => Period::Quarter(y, q - 1),
            other => other,
        };
        out.push(before);
    }
    out
}

/// The day a form's report for `period` is due: `working_days` working days on the official
/// calendar after the period begins (a plan) or ends (the rest); the first working day itself
/// counts as the first (by the 5th working day of the next month).
pub fn due_on(form: &Form, period: &Period, working_days: u32, calendar: &WorkCalendar) -> Option<NaiveDate> {
    let (start, after_end) = period_bounds(period)?;
    let from = match form.due_from {
        DueFrom::Start => start,
        DueFrom::End => after_end,
    };
    let first = calendar.add_working_days(from, 0);
    Some(if working_days <= 1 { first } else { calendar.add_working_days(first, working_days - 1) })
}

/// A change of the working days a form is due in: the day it was made (China time), the level of
/// the region that made it (a county's own setting is more specific than its city's) and the days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineChange {
    pub on: NaiveDate,
    pub level: Level,
    pub working_days: u32,
}

/// The day a county's report of `period` is due, with the region ladder's deadline changes applied
/// in the order they were made: the nearest region's setting in force wins, and a change moves the
/// deadline only of a report not yet due on the day it was made, and never to a day already past
/// (a change makes nobody late after the fact, nor on time after the fact).
pub fn due_with_changes(form: &Form, period: &Period, changes: &[DeadlineChange], calendar: &WorkCalendar) -> Option<NaiveDate> {
    let mut due = due_on(form, period, form.due_working_days, calendar)?;
    let mut sorted = changes.to_vec();
    sorted.sort_by_key(|c| c.on);
    let mut in_force: BTreeMap<Level, u32> = BTreeMap::new();
    for c in sorted {
        if c.on > due {
            break;
        }
        in_force.insert(c.level, c.working_days);
        let days = in_force.last_key_value().map_or(form.due_working_days, |(_, d)| *d);
        let moved = due_on(form, period, days, calendar)?;
        if moved >= c.on {
            due = moved;
        }
    }
    Some(due)
}

/// The most working days a region may give its counties.
pub const MAX_DUE_WORKING_DAYS: u32 = 60;

/// Typed figures, by indicator code, in the indicator's stored unit (counts; hundredths; fen).
pub type Typed = BTreeMap<String, i64>;

/// The largest figure accepted in a cell (a country's investment in fen is far below it).
pub const MAX_CELL: i64 = 1_000_000_000_000_000;

/// Most keys a save may send (every form has far fewer cells).
pub const MAX_CELLS_SENT: usize = 100;

/// Checks typed figures against the form: every key one of its cells, every value a whole number
/// from 0 up (in the cell's stored unit). Problems name `cells.<code>`.
pub fn check_typed(form: &Form, typed: &BTreeMap<String, serde_json::Value>) -> Result<Typed, ValidationErrors> {
    let mut e = ValidationErrors::default();
    let mut out = Typed::new();
    // A body of a million keys gets one problem, not a million (the attacker's trial).
    if typed.len() > MAX_CELLS_SENT {
        e.push("cells", typed.len(), reason!("reports.cell_count", max = MAX_CELLS_SENT));
        return Err(e);
    }
    for (code, v) in typed {
        let field = format!("cells.{}", code.chars().take(40).collect::<String>());
        if !form.cells.contains(&code.as_str()) {
            e.push(&field, code, reason!("reports.unknown_cell", form = form.zh));
            continue;
        }
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(x) if (0..=MAX_CELL).contains(&x) => {
                    out.insert(code.clone(), x);
                }
                Some(x) if x < 0 => e.push(&field, x, reason!("reports.not_negative")),
                _ => e.push(&field, n, reason!("reports.whole_number")),
            },
            other => e.push(&field, other.to_string().chars().take(40).collect::<String>(), reason!("reports.whole_number")),
        }
    }
    if e.0.is_empty() {
        Ok(out)
    } else {
        Err(e)
    }
}

/// Pairs of cells where the first counts part of the second (closed findings of those found):
/// a report whose part exceeds its whole is not submitted.
pub const PART_OF: &[(&str, &str)] = &[
    ("plan_started_estates", "planned_estates"),
    ("plan_completed_estates", "planned_estates"),
    ("plan_contributed_estates", "planned_estates"),
    ("plan_started_households", "planned_households"),
    ("plan_completed_households", "planned_households"),
    ("rectifications_closed", "rectifications_found"),
    ("satisfaction_satisfied", "satisfaction_answers"),
];

/// The cells whose reported value exceeds the whole they are part of, as (part, whole), when both
/// are on the form.
pub fn parts_exceeding(cells: &[Cell]) -> Vec<(&'static str, &'static str)> {
    let value = |c: &str| cells.iter().find(|x| x.code == c).map(|x| x.value);
    PART_OF.iter().filter(|(part, whole)| matches!((value(part), value(whole)), (Some(p), Some(w)) if p > w)).copied().collect()
}

/// Refuses a period the form cannot be filed for yet: a plan once its year has begun, the other
/// forms once their period has ended (a month is reported after it, not while it runs).
pub fn check_fileable(form: &Form, period: &Period, today: NaiveDate) -> Result<(), Reason> {
    match (form.due_from, period_bounds(period)) {
        (DueFrom::Start, Some((start, _))) if start > today => Err(reason!("reports.future_period")),
        (DueFrom::End, Some((_, after_end))) if after_end > today => Err(reason!("reports.period_not_ended")),
        _ => Ok(()),
    }
}

/// Is a reason blank: only spaces or characters that show nothing (zero-width, BOM)?
pub fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c.is_whitespace() || matches!(c, '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{00ad}'))
}

/// One cell as the report shows it: computed, typed (if any), the reported value and whether
/// the typed figure differs from the computed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub unit: statistics::Unit,
    pub computed: i64,
    pub typed: Option<i64>,
    /// What the report says: the typed figure where there is one, else the computed.
    pub value: i64,
    /// `computed` or `typed`.
    pub source: &'static str,
    /// A typed figure that is not the computed one: the level above sees it flagged.
    pub differs: bool,
}

/// The form's cells from the computed figures and the typed ones.
pub fn cells(form: &Form, computed: &BTreeMap<String, i64>, typed: &Typed) -> Vec<Cell> {
    form.cells
        .iter()
        .filter_map(|code| statistics::indicator(code))
        .map(|i| {
            let c = computed.get(i.code).copied().unwrap_or(0);
            let t = typed.get(i.code).copied();
            Cell {
                code: i.code,
                zh: i.zh,
                en: i.en,
                unit: i.unit,
                computed: c,
                typed: t,
                value: t.unwrap_or(c),
                source: if t.is_some() { "typed" } else { "computed" },
                differs: t.is_some_and(|t| t != c),
            }
        })
        .collect()
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being filled by the county; editable.
    Draft,
    /// Submitted and locked, awaiting the review of `awaiting`.
    Submitted,
    /// Returned by a level above with its reason; editable again.
    Returned,
    /// Approved by every level up to the ministry.
    Approved,
    /// Replaced by a later version (a correction approved after it).
    Superseded,
}

impl Status {
    /// The code as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Returned => "returned",
            Status::Approved => "approved",
            Status::Superseded => "superseded",
        }
    }

    /// The status of a stored code.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Draft, Status::Submitted, Status::Returned, Status::Approved, Status::Superseded].into_iter().find(|x| x.as_str() == s)
    }

    /// May the county still change its figures?
    pub fn editable(self) -> bool {
        matches!(self, Status::Draft | Status::Returned)
    }
}

/// The regions that file reports: counties (县级, a city's districts included).
pub fn check_reporting_unit(region: &RegionCode) -> Result<(), Reason> {
    if region.level() == Level::County {
        Ok(())
    } else {
        Err(reason!("reports.county_files"))
    }
}

/// The region that reviews after `region`: its parent, the country after a province; none above
/// the country.
pub fn reviewer_after(region: &RegionCode) -> Option<RegionCode> {
    if *region == RegionCode::country() {
        return None;
    }
    Some(region.ancestors().pop().unwrap_or_else(RegionCode::country))
}

/// What a review does to a submitted report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reviewed {
    /// Approved at this level; the next level up reviews it.
    PassedTo(RegionCode),
    /// Approved at the top: the report is final.
    Approved,
    /// Returned to the county with the reason.
    Returned,
}

/// The state a review reads.
#[derive(Debug, Clone)]
pub struct UnderReview<'a> {
    pub status: Status,
    /// The region whose review is awaited.
    pub awaiting: Option<&'a RegionCode>,
    /// Everyone who saved or submitted it.
    pub authors: &'a [String],
}

/// A review by `reviewer` of region `reviewer_region`: only the awaited region reviews, never the
/// one who prepared or submitted the report, and a return needs a reason.
pub fn review(
    r: &UnderReview<'_>,
    reviewer: &str,
    reviewer_region: &RegionCode,
    approve: bool,
    reason_given: &str,
) -> Result<Reviewed, Reason> {
    if r.status != Status::Submitted {
        return Err(reason!("reports.not_submitted"));
    }
    let Some(awaiting) = r.awaiting else { return Err(reason!("reports.not_submitted")) };
    if reviewer_region != awaiting {
        return Err(reason!("reports.not_your_review", region = awaiting.as_str()));
    }
    if r.authors.iter().any(|a| a == reviewer) {
        return Err(reason!("reports.own_report"));
    }
    if !approve {
        if is_blank(reason_given) {
            return Err(reason!("reports.reason_required"));
        }
        return Ok(Reviewed::Returned);
    }
    Ok(match reviewer_after(awaiting) {
        Some(next) => Reviewed::PassedTo(next),
        None => Reviewed::Approved,
    })
}

/// Is a report late: not submitted by its due day, or submitted after it?
pub fn is_late(due: NaiveDate, submitted_on: Option<NaiveDate>, today: NaiveDate) -> bool {
    match submitted_on {
        Some(d) => d > due,
        None => today > due,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_change_moves_only_reports_not_yet_due_and_never_into_the_past() {
        let cal = WorkCalendar::shipped().unwrap();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let progress = FORMS.iter().find(|f| f.code == "progress").unwrap();
        let october = Period::Month(2026, 10);
        let default = due_on(progress, &october, progress.due_working_days, &cal).unwrap();
        let change = |on, level, working_days| DeadlineChange { on, level, working_days };
        // Set long after October's report was due: October keeps its day.
        assert_eq!(due_with_changes(progress, &october, &[change(day(2026, 12, 1), Level::City, 15)], &cal), Some(default));
        // Set in the first days of November: October's report gets the fifteen days.
        let fifteen = due_on(progress, &october, 15, &cal).unwrap();
        assert_eq!(due_with_changes(progress, &october, &[change(day(2026, 11, 2), Level::City, 15)], &cal), Some(fifteen));
        // Shortened to a day already past on the day of the change: not made late after the fact.
        assert_eq!(due_with_changes(progress, &october, &[change(default, Level::City, 1)], &cal), Some(default));
        // The county's own setting stands over the city's, whichever came first.
        let county_first = [change(day(2026, 11, 2), Level::County, 10), change(day(2026, 11, 3), Level::City, 15)];
        assert_eq!(due_with_changes(progress, &october, &county_first, &cal), due_on(progress, &october, 10, &cal));
    }

    #[test]
    fn the_period_due_next_is_the_last_one_ended_or_this_years_plan() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let form = |code: &str| FORMS.iter().find(|f| f.code == code).unwrap();
        assert_eq!(period_due_next(form("progress"), day(2026, 1, 4)), Period::Month(2025, 12));
        assert_eq!(period_due_next(form("progress"), day(2026, 12, 6)), Period::Month(2026, 11));
        assert_eq!(period_due_next(form("project_basics"), day(2026, 2, 1)), Period::Quarter(2025, 4));
        assert_eq!(period_due_next(form("project_basics"), day(2026, 12, 6)), Period::Quarter(2026, 3));
        assert_eq!(period_due_next(form("annual_plan"), day(2026, 12, 6)), Period::Year(2026));
        assert_eq!(period_due_next(form("effects"), day(2026, 12, 6)), Period::Year(2025));
        assert_eq!(
            periods_watched(form("progress"), day(2026, 2, 3)),
            [Period::Month(2026, 1), Period::Month(2025, 12), Period::Month(2025, 11)]
        );
        assert_eq!(periods_watched(form("project_basics"), day(2026, 2, 3)), [Period::Quarter(2025, 4), Period::Quarter(2025, 3)]);
        assert_eq!(periods_watched(form("annual_plan"), day(2026, 2, 3)), [Period::Year(2026)]);
    }
    use proptest::prelude::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn every_cell_is_an_indicator_and_every_form_code_differs() {
        for f in FORMS {
            for c in f.cells {
                assert!(statistics::indicator(c).is_some(), "{}: {c}", f.code);
            }
        }
        let mut codes: Vec<&str> = FORMS.iter().map(|f| f.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), FORMS.len());
    }

    #[test]
    fn periods_fit_the_frequency() {
        let progress = form("progress").unwrap();
        assert!(check_period(progress, &Period::Month(2026, 11)).is_ok());
        assert!(check_period(progress, &Period::Year(2026)).is_err());
        assert!(check_period(form("annual_plan").unwrap(), &Period::Year(2026)).is_ok());
        assert!(check_period(form("project_basics").unwrap(), &Period::Quarter(2026, 3)).is_ok());
        assert!(check_period(form("effects").unwrap(), &Period::Cumulative).is_err());
    }

    #[test]
    fn progress_is_due_by_the_fifth_working_day_of_the_next_month() {
        let cal = WorkCalendar::shipped().unwrap();
        let progress = form("progress").unwrap();
        // November 2026 ends on a Monday; December's first working days are 1, 2, 3, 4, 7.
        assert_eq!(due_on(progress, &Period::Month(2026, 11), 5, &cal), NaiveDate::from_ymd_opt(2026, 12, 7));
        // September 2026: the National Day week (1–7 October) is not counted.
        let after_holiday = due_on(progress, &Period::Month(2026, 9), 1, &cal).unwrap();
        assert!(after_holiday >= NaiveDate::from_ymd_opt(2026, 10, 8).unwrap(), "{after_holiday}");
        // The annual plan counts from the year's start.
        let plan = due_on(form("annual_plan").unwrap(), &Period::Year(2026), 20, &cal).unwrap();
        assert!(plan > NaiveDate::from_ymd_opt(2026, 1, 26).unwrap() && plan < NaiveDate::from_ymd_opt(2026, 2, 10).unwrap(), "{plan}");
        assert_eq!(due_on(progress, &Period::Cumulative, 5, &cal), None);
    }

    #[test]
    fn typed_figures_are_whole_numbers_of_the_forms_cells() {
        let f = form("annual_plan").unwrap();
        let typed: BTreeMap<String, serde_json::Value> = [
            ("planned_estates".to_string(), serde_json::json!(12)),
            ("planned_households".to_string(), serde_json::json!(-1)),
            ("planned_buildings".to_string(), serde_json::json!("many")),
            ("planned_floor_area".to_string(), serde_json::json!(1.5)),
            ("invest_central".to_string(), serde_json::json!(1)),
        ]
        .into_iter()
        .collect();
        let e = check_typed(f, &typed).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["cells.invest_central", "cells.planned_buildings", "cells.planned_floor_area", "cells.planned_households"]);
        let ok: BTreeMap<String, serde_json::Value> =
            [("planned_estates".to_string(), serde_json::json!(12)), ("planned_households".to_string(), serde_json::Value::Null)]
                .into_iter()
                .collect();
        assert_eq!(check_typed(f, &ok).unwrap(), [("planned_estates".to_string(), 12)].into_iter().collect());
    }

    #[test]
    fn a_typed_figure_is_reported_and_flagged_when_it_differs() {
        let f = form("annual_plan").unwrap();
        let computed: BTreeMap<String, i64> =
            [("planned_estates".to_string(), 28), ("planned_households".to_string(), 900)].into_iter().collect();
        let typed: Typed = [("planned_estates".to_string(), 30), ("planned_households".to_string(), 900)].into_iter().collect();
        let c = cells(f, &computed, &typed);
        assert_eq!((c[0].value, c[0].source, c[0].differs), (30, "typed", true));
        assert_eq!((c[1].value, c[1].source, c[1].differs), (900, "typed", false));
        assert_eq!((c[2].value, c[2].source, c[2].differs), (0, "computed", false));
    }

    #[test]
    fn a_report_climbs_city_province_ministry_and_nobody_approves_their_own() {
        let county = rc("350521000000");
        let city = rc("350500000000");
        let province = rc("350000000000");
        assert_eq!(reviewer_after(&county), Some(city.clone()));
        assert_eq!(reviewer_after(&city), Some(province.clone()));
        assert_eq!(reviewer_after(&province), Some(RegionCode::country()));
        assert_eq!(reviewer_after(&RegionCode::country()), None);
        let authors = ["clerk".to_string(), "head".to_string()];
        let at = |awaiting| UnderReview { status: Status::Submitted, awaiting: Some(awaiting), authors: &authors };
        assert_eq!(review(&at(&city), "city_admin", &city, true, ""), Ok(Reviewed::PassedTo(province.clone())));
        let country = RegionCode::country();
        assert_eq!(review(&at(&country), "minister", &country, true, ""), Ok(Reviewed::Approved));
        assert_eq!(review(&at(&city), "city_admin", &city, false, "  ").unwrap_err().code, "reports.reason_required");
        assert_eq!(review(&at(&city), "city_admin", &city, false, "户数有误"), Ok(Reviewed::Returned));
        assert_eq!(review(&at(&city), "prov", &province, true, "").unwrap_err().code, "reports.not_your_review", "not the province's turn");
        assert_eq!(review(&at(&city), "clerk", &city, true, "").unwrap_err().code, "reports.own_report");
        assert_eq!(review(&at(&city), "head", &city, true, "").unwrap_err().code, "reports.own_report");
        let draft = UnderReview { status: Status::Draft, awaiting: None, authors: &authors };
        assert_eq!(review(&draft, "city_admin", &city, true, "").unwrap_err().code, "reports.not_submitted");
        assert!(check_reporting_unit(&county).is_ok() && check_reporting_unit(&city).is_err());
    }

    #[test]
    fn a_part_never_exceeds_its_whole_nor_a_period_lies_ahead() {
        let f = form("effects").unwrap();
        let computed: BTreeMap<String, i64> =
            [("rectifications_found".to_string(), 1), ("satisfaction_answers".to_string(), 10)].into_iter().collect();
        let typed: Typed = [("rectifications_closed".to_string(), 50), ("satisfaction_satisfied".to_string(), 9)].into_iter().collect();
        assert_eq!(parts_exceeding(&cells(f, &computed, &typed)), vec![("rectifications_closed", "rectifications_found")]);
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let (progress, plan) = (form("progress").unwrap(), form("annual_plan").unwrap());
        assert!(check_fileable(progress, &Period::Month(2026, 11), today).is_ok());
        assert_eq!(check_fileable(progress, &Period::Month(2026, 12), today).unwrap_err().code, "reports.period_not_ended");
        assert!(check_fileable(plan, &Period::Year(2026), today).is_ok(), "a plan is reported as its year begins");
        assert_eq!(check_fileable(plan, &Period::Year(2100), today).unwrap_err().code, "reports.future_period");
        assert!(check_fileable(f, &Period::Year(2026), today).is_err(), "results once the year is over");
        assert!(is_blank(" \u{200b}\u{feff}\u{3000}") && !is_blank("户数有误"));
        let many: BTreeMap<String, serde_json::Value> = (0..1000).map(|i| (format!("k{i}"), serde_json::json!(1))).collect();
        assert_eq!(check_typed(f, &many).unwrap_err().0.len(), 1, "one problem for a flood of keys");
    }

    #[test]
    fn lateness() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 12, n).unwrap();
        assert!(!is_late(d(7), None, d(7)));
        assert!(is_late(d(7), None, d(8)));
        assert!(!is_late(d(7), Some(d(7)), d(20)));
        assert!(is_late(d(7), Some(d(8)), d(8)));
    }

    proptest! {
        /// Whatever the awaited region and reviewer, an approval moves the report exactly one
        /// level up (or ends it at the country), and never by the preparer or submitter.
        #[test]
        fn reviews_move_one_level_up(digits in "[1-9][0-9][0-9][1-9][0-9][1-9]", level in 0usize..4, who in "[a-d]") {
            let code = match level {
                0 => "000000000000".to_string(),
                1 => format!("{}0000000000", &digits[..2]),
                2 => format!("{}00000000", &digits[..4]),
                _ => format!("{}000000", &digits[..6]),
            };
            let Ok(awaiting) = RegionCode::parse(&code) else { return Ok(()) };
            let authors = ["a".to_string(), "b".to_string()];
            let r = UnderReview { status: Status::Submitted, awaiting: Some(&awaiting), authors: &authors };
            match review(&r, &who, &awaiting, true, "") {
                Ok(Reviewed::PassedTo(next)) => {
                    prop_assert!(next.contains(&awaiting) && next != awaiting);
                    prop_assert_eq!(next.level() as usize + 1, awaiting.level() as usize);
                }
                Ok(Reviewed::Approved) => prop_assert_eq!(awaiting, RegionCode::country()),
                Ok(Reviewed::Returned) => prop_assert!(false),
                Err(e) => prop_assert!(who == "a" || who == "b", "{}", e.code),
            }
        }
    }
}
