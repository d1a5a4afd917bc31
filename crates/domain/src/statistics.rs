//! Statistics (issue 15): the national indicators of POLICY §4 computed from the records.
//!
//! Each estate's records give its [`EstateFacts`]; [`parts`] turns them into the figures it adds
//! to each indicator and period ("parts"). Storage keeps every estate's parts and, in the same
//! transaction, the totals of every region above it, so a country's figure is one row read and a
//! change shows at every level as soon as it commits. A figure's estates are the ones whose parts
//! make it up ("why 37?"). Definitions: docs/statistics.md.

use crate::reason;
use crate::reasons::Reason;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::BTreeMap;

/// How an indicator's stored value (an integer) is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// 个, 户, 栋, 部: a count.
    Count,
    /// Floor area as the registry keeps it: hundredths of a m², shown in m².
    SquareMetres,
    /// Quantities of scheme lines, stored in hundredths of their unit (m², 个 …).
    Hundredths,
    /// Pipelines: hundredths of a metre, shown in km.
    CentimetresAsKm,
    /// Money in fen, shown in 万元.
    Fen,
}

/// How a figure is counted over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dated {
    /// By the annual plan's year: a month or quarter reads its year's plan.
    PlanYear,
    /// By the month something happened (started, accepted, paid, found, answered).
    Month,
}

/// One indicator: stable code, names, unit and how it is dated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Indicator {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub unit: Unit,
    pub dated: Dated,
}

const fn ind(code: &'static str, zh: &'static str, en: &'static str, unit: Unit, dated: Dated) -> Indicator {
    Indicator { code, zh, en, unit, dated }
}

/// Every indicator kept, in the order reports list them.
pub const INDICATORS: &[Indicator] = {
    use Dated::*;
    use Unit::*;
    &[
        ind("planned_estates", "计划改造小区", "Estates in the plan", Count, PlanYear),
        ind("planned_households", "计划改造户数", "Households in the plan", Count, PlanYear),
        ind("planned_buildings", "计划改造楼栋", "Buildings in the plan", Count, PlanYear),
        ind("planned_floor_area", "计划改造建筑面积", "Floor area in the plan", SquareMetres, PlanYear),
        ind("plan_started_estates", "计划内已开工小区", "Planned estates started", Count, PlanYear),
        ind("plan_started_households", "计划内已开工户数", "Planned households started", Count, PlanYear),
        ind("plan_completed_estates", "计划内已完工小区", "Planned estates completed", Count, PlanYear),
        ind("plan_completed_households", "计划内已完工户数", "Planned households completed", Count, PlanYear),
        ind("plan_contributed_estates", "居民出资小区", "Planned estates with residents' money", Count, PlanYear),
        ind("started_estates", "新开工小区", "Estates started", Count, Month),
        ind("started_households", "新开工户数", "Households started", Count, Month),
        ind("started_buildings", "新开工楼栋", "Buildings started", Count, Month),
        ind("started_floor_area", "新开工建筑面积", "Floor area started", SquareMetres, Month),
        ind("completed_estates", "完工小区", "Estates completed", Count, Month),
        ind("completed_households", "完工户数", "Households completed", Count, Month),
        ind("completed_buildings", "完工楼栋", "Buildings completed", Count, Month),
        ind("completed_floor_area", "完工建筑面积", "Floor area completed", SquareMetres, Month),
        ind("pipe_water", "改造供水管网", "Water pipes renovated", CentimetresAsKm, Month),
        ind("pipe_power", "改造供电线路", "Power lines renovated", CentimetresAsKm, Month),
        ind("pipe_gas", "改造燃气管道", "Gas pipes renovated", CentimetresAsKm, Month),
        ind("pipe_heat", "改造供热管网", "Heating pipes renovated", CentimetresAsKm, Month),
        ind("pipe_telecom", "改造通信线路", "Telecom lines renovated", CentimetresAsKm, Month),
        ind("lifts_added", "加装电梯", "Lifts added", Hundredths, Month),
        ind("energy_retrofit", "建筑节能改造", "Energy-saving retrofit", Hundredths, Month),
        ind("parking_added", "增设停车位", "Parking spaces added", Hundredths, Month),
        ind("chargers_added", "增设充电设施", "Chargers added (EV and e-bike)", Hundredths, Month),
        ind("elderly_care_added", "增设养老服务设施", "Elderly care facilities added", Hundredths, Month),
        ind("childcare_added", "增设托育设施", "Childcare facilities added", Hundredths, Month),
        ind("services_added", "增设其他服务设施", "Other service facilities added", Hundredths, Month),
        ind("culture_sports_added", "增设文化体育活动场地", "Cultural and sports space added", Hundredths, Month),
        ind("invest_central", "完成投资：中央补助", "Investment: central subsidy", Fen, Month),
        ind("invest_provincial", "完成投资：省级补助", "Investment: provincial subsidy", Fen, Month),
        ind("invest_local", "完成投资：市县财政", "Investment: city and county budget", Fen, Month),
        ind("invest_special_bonds", "完成投资：专项债券", "Investment: special bonds", Fen, Month),
        ind("invest_utility", "完成投资：专营单位", "Investment: utility companies", Fen, Month),
        ind("invest_residents", "完成投资：居民出资", "Investment: residents", Fen, Month),
        ind("invest_social_capital", "完成投资：社会资本", "Investment: social capital", Fen, Month),
        ind("invest_bank_credit", "完成投资：银行信贷", "Investment: bank credit", Fen, Month),
        ind("rectifications_found", "回头看发现问题", "Review findings", Count, Month),
        ind("rectifications_closed", "回头看问题已整改", "Review findings closed", Count, Month),
        ind("satisfaction_answers", "满意度调查答卷", "Satisfaction answers", Count, Month),
        ind("satisfaction_satisfied", "满意答卷", "Satisfied answers", Count, Month),
    ]
};

/// The indicator with this code.
pub fn indicator(code: &str) -> Option<&'static Indicator> {
    INDICATORS.iter().find(|i| i.code == code)
}

/// The national menu's items counted in an indicator (a line's quantity, in hundredths of its unit).
/// Pipelines count only lines measured in metres; a region whose menu measures power or gas per
/// household adds a metered line (see docs/statistics.md).
pub const NATIONAL_MAPPING: &[(&str, &str)] = &[
    ("B01", "pipe_water"),
    ("B04", "pipe_telecom"),
    ("B07", "pipe_heat"),
    ("I11", "energy_retrofit"),
    ("I12", "lifts_added"),
    ("I06", "parking_added"),
    ("I07", "chargers_added"),
    ("U05", "elderly_care_added"),
    ("U06", "childcare_added"),
    ("U01", "services_added"),
    ("U02", "services_added"),
    ("U03", "services_added"),
    ("U07", "services_added"),
    ("U08", "services_added"),
    ("U09", "services_added"),
    ("U10", "services_added"),
    ("I09", "culture_sports_added"),
];

/// The indicator a scheme line of menu item `code` counts in, if any.
pub fn mapped_indicator(code: &str) -> Option<&'static str> {
    NATIONAL_MAPPING.iter().find(|(c, _)| *c == code).map(|(_, i)| *i)
}

/// An indicator a menu item's quantities may count in (pipelines, lifts, spaces and facilities).
pub fn mappable(code: &str) -> Option<&'static Indicator> {
    indicator(code).filter(|i| matches!(i.unit, Unit::Hundredths | Unit::CentimetresAsKm))
}

/// Whether a quantity measured in `unit` can count in indicator `code`: pipelines in metres, lifts
/// as lifts, retrofit and care facilities as floor area, parking and chargers as places; other
/// service and cultural facilities as places or floor area (the national menu measures both).
pub fn unit_fits(code: &str, unit: &str) -> bool {
    let fits: &[&str] = match code {
        "pipe_water" | "pipe_power" | "pipe_gas" | "pipe_heat" | "pipe_telecom" => &["m"],
        "lifts_added" => &["部", "台"],
        "energy_retrofit" | "elderly_care_added" | "childcare_added" => &["m²"],
        "parking_added" => &["个"],
        "chargers_added" => &["个", "台"],
        "services_added" | "culture_sports_added" => &["处", "m²"],
        _ => &[],
    };
    fits.contains(&unit.trim())
}

/// The codes of every indicator a menu item may count in, in report order.
pub fn mappable_codes() -> Vec<&'static str> {
    INDICATORS.iter().filter(|i| mappable(i.code).is_some()).map(|i| i.code).collect()
}

/// A region's menu items as stored, by level from the province down: (menu code, indicator), the
/// indicator empty for none and absent for a row written before regions could map (national).
pub type MappingLevel = Vec<(String, Option<String>)>;

/// The indicator each menu code counts in where a region's levels changed it from the national
/// mapping (the most specific level wins, as for the menu itself).
pub fn regional_mapping(levels: &[MappingLevel]) -> BTreeMap<String, Option<&'static str>> {
    let mut out = BTreeMap::new();
    for level in levels {
        for (code, stored) in level {
            let to = match stored {
                None => mapped_indicator(code),
                Some(i) => mappable(i).map(|i| i.code),
            };
            out.insert(code.clone(), to);
        }
    }
    out.retain(|code, to| *to != mapped_indicator(code));
    out
}

/// What an estate's records say, as statistics need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EstateFacts {
    pub households: i64,
    pub buildings: i64,
    pub floor_area: i64,
    /// The year of the first annual plan that lists it.
    pub plan_year: Option<i32>,
    /// The day construction started (the estate first entered 施工中).
    pub started_on: Option<NaiveDate>,
    /// The day acceptance was signed (the estate first became 已验收).
    pub completed_on: Option<NaiveDate>,
    /// Residents' money was recorded for it (net of reversals).
    pub contributed: bool,
    /// The final scheme's lines: menu code, the unit the line was measured in, and its quantity
    /// in hundredths of that unit.
    pub final_lines: Vec<(String, String, i64)>,
    /// Where the menu in force in its community maps a code differently from the national mapping.
    pub mapping: BTreeMap<String, Option<&'static str>>,
    /// Review findings: the day each was found and whether it is closed.
    pub findings: Vec<(NaiveDate, bool)>,
    /// Satisfaction answers: the day of each and whether it was satisfied.
    pub satisfaction: Vec<(NaiveDate, bool)>,
}

/// A period key as stored: `YYYY` for plan-year figures, `YYYY-MM` for monthly ones.
pub fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The parts an estate adds: (indicator code, period key) → value. Zero values are left out, so
/// an estate that counts nowhere has no parts.
pub fn parts(f: &EstateFacts) -> BTreeMap<(&'static str, String), i64> {
    let mut out: BTreeMap<(&'static str, String), i64> = BTreeMap::new();
    let mut add = |code: &'static str, period: String, v: i64| {
        if v != 0 {
            *out.entry((code, period)).or_insert(0) += v;
        }
    };
    if let Some(y) = f.plan_year {
        let p = format!("{y:04}");
        add("planned_estates", p.clone(), 1);
        add("planned_households", p.clone(), f.households);
        add("planned_buildings", p.clone(), f.buildings);
        add("planned_floor_area", p.clone(), f.floor_area);
        if f.started_on.is_some() {
            add("plan_started_estates", p.clone(), 1);
            add("plan_started_households", p.clone(), f.households);
        }
        if f.completed_on.is_some() {
            add("plan_completed_estates", p.clone(), 1);
            add("plan_completed_households", p.clone(), f.households);
        }
        if f.contributed {
            add("plan_contributed_estates", p, 1);
        }
    }
    if let Some(d) = f.started_on {
        let m = month_key(d);
        add("started_estates", m.clone(), 1);
        add("started_households", m.clone(), f.households);
        add("started_buildings", m.clone(), f.buildings);
        add("started_floor_area", m, f.floor_area);
    }
    if let Some(d) = f.completed_on {
        let m = month_key(d);
        add("completed_estates", m.clone(), 1);
        add("completed_households", m.clone(), f.households);
        add("completed_buildings", m.clone(), f.buildings);
        add("completed_floor_area", m.clone(), f.floor_area);
        // What the final scheme renovated counts when it is accepted.
        for (code, unit, qty) in &f.final_lines {
            let to = f.mapping.get(code).copied().unwrap_or_else(|| mapped_indicator(code));
            // A quantity counts only in the unit the indicator is kept in (households are not km).
            if let Some(i) = to.filter(|i| unit_fits(i, unit)) {
                add(i, m.clone(), *qty);
            }
        }
    }
    for (d, closed) in &f.findings {
        add("rectifications_found", month_key(*d), 1);
        add("rectifications_closed", month_key(*d), i64::from(*closed));
    }
    for (d, satisfied) in &f.satisfaction {
        add("satisfaction_answers", month_key(*d), 1);
        add("satisfaction_satisfied", month_key(*d), i64::from(*satisfied));
    }
    out
}

/// What changes when an estate's parts go from `old` to `new`: the differences, zeros left out.
pub fn difference(
    old: &BTreeMap<(&'static str, String), i64>,
    new: &BTreeMap<(&'static str, String), i64>,
) -> BTreeMap<(&'static str, String), i64> {
    let mut out = new.clone();
    for (k, v) in old {
        *out.entry(k.clone()).or_insert(0) -= v;
    }
    out.retain(|_, v| *v != 0);
    out
}

/// The investment indicator of a ledger source code.
pub fn investment_indicator(source: &str) -> Option<&'static str> {
    INDICATORS.iter().find(|i| i.code.strip_prefix("invest_") == Some(source)).map(|i| i.code)
}

/// Is a satisfaction rating a satisfied one: at least 60 % of the scale (3 of 5, 6 of 10)?
pub fn is_satisfied(rating: i64, max_rating: i64) -> bool {
    max_rating > 0 && rating * 10 >= max_rating * 6
}

/// Whether one satisfaction answer is satisfied: its first rating question answered (at least 60 %
/// of the scale), else its first single choice among options naming 满意 (a choice naming 满意 and
/// not 不满意). None when the answer says neither (it is not counted).
pub fn satisfaction_of(questions: &[crate::surveys::Question], answers: &crate::surveys::Answers) -> Option<bool> {
    use crate::surveys::QuestionKind;
    let rated = questions.iter().filter(|q| q.kind == Some(QuestionKind::Rating)).find_map(|q| {
        let r = answers.get(&q.id)?.as_i64()?;
        Some(is_satisfied(r, q.max_rating.unwrap_or(5)))
    });
    if rated.is_some() {
        return rated;
    }
    let pleased = |o: &str| o.contains("满意") && !o.contains("不满意");
    questions.iter().filter(|q| q.kind == Some(QuestionKind::Single) && q.options.iter().any(|o| pleased(o))).find_map(|q| {
        let i = usize::try_from(answers.get(&q.id)?.as_u64()?).ok()?;
        q.options.get(i).map(|o| pleased(o))
    })
}

/// The day in China (UTC+8) of a stored time (RFC 3339) or day (YYYY-MM-DD).
pub fn china_day(stored: &str) -> Option<NaiveDate> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(stored) {
        return Some((t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8)).date_naive());
    }
    NaiveDate::parse_from_str(stored.get(..10)?, "%Y-%m-%d").ok()
}

/// A period asked for: a year, a quarter, a month, or everything since the programme began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Year(i32),
    Quarter(i32, u32),
    Month(i32, u32),
    /// Since 2019, the programme's first year.
    Cumulative,
}

/// The programme's first year: cumulative figures count from here.
pub const FIRST_YEAR: i32 = 2019;

impl Period {
    /// Parses `2024`, `2024-Q2`, `2024-05` or `all`.
    pub fn parse(s: &str) -> Result<Period, Reason> {
        let bad = || reason!("statistics.period_form");
        let s = s.trim();
        if s == "all" {
            return Ok(Period::Cumulative);
        }
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let year = |t: &str| t.parse::<i32>().ok().filter(|y| (FIRST_YEAR..=2100).contains(y) && t.len() == 4 && digits(t));
        let p = match s.split_once('-') {
            None => Period::Year(year(s).ok_or_else(bad)?),
            Some((y, q)) if q.starts_with('Q') => {
                if !digits(&q[1..]) {
                    return Err(bad());
                }
                let n: u32 = q[1..].parse().map_err(|_| bad())?;
                if !(1..=4).contains(&n) || q.len() != 2 {
                    return Err(bad());
                }
                Period::Quarter(year(y).ok_or_else(bad)?, n)
            }
            Some((y, m)) => {
                if !digits(m) {
                    return Err(bad());
                }
                let n: u32 = m.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&n) || m.len() != 2 {
                    return Err(bad());
                }
                Period::Month(year(y).ok_or_else(bad)?, n)
            }
        };
        Ok(p)
    }

    /// The period's code, as parsed.
    pub fn code(&self) -> String {
        match self {
            Period::Year(y) => format!("{y:04}"),
            Period::Quarter(y, q) => format!("{y:04}-Q{q}"),
            Period::Month(y, m) => format!("{y:04}-{m:02}"),
            Period::Cumulative => "all".into(),
        }
    }

    /// The inclusive range of month keys it covers.
    pub fn months(&self) -> (String, String) {
        match *self {
            Period::Year(y) => (format!("{y:04}-01"), format!("{y:04}-12")),
            Period::Quarter(y, q) => (format!("{y:04}-{:02}", q * 3 - 2), format!("{y:04}-{:02}", q * 3)),
            Period::Month(y, m) => (format!("{y:04}-{m:02}"), format!("{y:04}-{m:02}")),
            Period::Cumulative => (format!("{FIRST_YEAR:04}-01"), "9999-12".into()),
        }
    }

    /// The inclusive range of plan years it reads: its own year, or every year for cumulative.
    pub fn plan_years(&self) -> (String, String) {
        match *self {
            Period::Year(y) | Period::Quarter(y, _) | Period::Month(y, _) => (format!("{y:04}"), format!("{y:04}")),
            Period::Cumulative => (format!("{FIRST_YEAR:04}"), "9999".into()),
        }
    }

    /// The same period a year before (none for cumulative).
    pub fn year_before(&self) -> Option<Period> {
        match *self {
            Period::Year(y) => Some(Period::Year(y - 1)),
            Period::Quarter(y, q) => Some(Period::Quarter(y - 1, q)),
            Period::Month(y, m) => Some(Period::Month(y - 1, m)),
            Period::Cumulative => None,
        }
    }

    /// The range of stored period keys an indicator dated as `dated` reads in this period.
    pub fn keys_for(&self, dated: Dated) -> (String, String) {
        match dated {
            Dated::PlanYear => self.plan_years(),
            Dated::Month => self.months(),
        }
    }
}

/// The period key of the cumulative totals (since [`FIRST_YEAR`]); kept in the totals only.
pub const CUMULATIVE_KEY: &str = "0000";

/// The totals a part's period key also counts in, so that a year or the whole programme is one
/// kept row per indicator and region instead of a sum over every month: a month ("2025-03")
/// counts in its year ("2025-00") and, from [`FIRST_YEAR`] on, in the cumulative key; a plan year
/// ("2025") in the cumulative key from [`FIRST_YEAR`] on.
pub fn rollups(period: &str) -> Vec<String> {
    let year: Option<i32> = period.get(..4).and_then(|y| y.parse().ok());
    let mut out = Vec::with_capacity(2);
    if period.len() == 7 && !period.ends_with("-00") {
        out.push(format!("{}-00", &period[..4]));
    }
    if matches!(period.len(), 4 | 7) && period != CUMULATIVE_KEY && !period.ends_with("-00") && year.is_some_and(|y| y >= FIRST_YEAR) {
        out.push(CUMULATIVE_KEY.to_string());
    }
    out
}

/// Which kept totals a period reads: exact keys, and a range of month keys (a quarter's or a
/// month's; never a year key, "YYYY-00" sorting before "YYYY-01").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalKeys {
    pub exact: Vec<String>,
    pub months: Option<(String, String)>,
}

impl Period {
    /// The kept totals this period reads: a year its year rollup and plan year, the whole
    /// programme its cumulative key, a quarter or month its months and its plan year.
    pub fn total_keys(&self) -> TotalKeys {
        match *self {
            Period::Year(y) => TotalKeys { exact: vec![format!("{y:04}-00"), format!("{y:04}")], months: None },
            Period::Cumulative => TotalKeys { exact: vec![CUMULATIVE_KEY.to_string()], months: None },
            Period::Quarter(y, _) | Period::Month(y, _) => TotalKeys { exact: vec![format!("{y:04}")], months: Some(self.months()) },
        }
    }
}

/// A rate in basis points, hundredths of a percent (9286 = 92.86 %), none when nothing was to count.
pub fn rate_bp(part: i64, whole: i64) -> Option<i64> {
    if whole <= 0 {
        return None;
    }
    // Rounded half up, in integers (no float drift in what is published).
    Some((part * 20_000 + whole) / (2 * whole))
}

/// The rates published beside the counts: code, zh, en, part and whole indicator.
pub const RATES: &[(&str, &str, &str, &str, &str)] = &[
    ("start_rate_estates", "开工率（按小区）", "Start rate (estates)", "plan_started_estates", "planned_estates"),
    ("start_rate_households", "开工率（按户）", "Start rate (households)", "plan_started_households", "planned_households"),
    ("completion_rate_estates", "完工率（按小区）", "Completion rate (estates)", "plan_completed_estates", "planned_estates"),
    ("completion_rate_households", "完工率（按户）", "Completion rate (households)", "plan_completed_households", "planned_households"),
    ("contribution_rate", "居民出资率", "Residents' contribution rate", "plan_contributed_estates", "planned_estates"),
    ("rectification_closure_rate", "整改销号率", "Rectification closure rate", "rectifications_closed", "rectifications_found"),
    ("satisfaction_rate", "居民满意度", "Residents' satisfaction", "satisfaction_satisfied", "satisfaction_answers"),
];

/// The weights of the central subsidy's split, in percent, summing to 100 (POLICY §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SplitWeights {
    pub floor_area: i64,
    pub households: i64,
    pub buildings: i64,
    pub estates: i64,
    pub performance: i64,
}

impl SplitWeights {
    /// The factors of the years before 2024: area 40 %, households 30 %, buildings 10 %, estates 10 %,
    /// performance 10 %.
    pub const UNTIL_2023: SplitWeights = SplitWeights { floor_area: 40, households: 30, buildings: 10, estates: 10, performance: 10 };
    /// From 2024: 80 % by task volume (read here as the households to renovate) and 20 % as a
    /// performance reward.
    pub const FROM_2024: SplitWeights = SplitWeights { floor_area: 0, households: 80, buildings: 0, estates: 0, performance: 20 };

    /// The preset for a year.
    pub fn for_year(year: i32) -> SplitWeights {
        if year >= 2024 {
            SplitWeights::FROM_2024
        } else {
            SplitWeights::UNTIL_2023
        }
    }

    fn each(&self) -> [(&'static str, i64); 5] {
        [
            ("floor_area", self.floor_area),
            ("households", self.households),
            ("buildings", self.buildings),
            ("estates", self.estates),
            ("performance", self.performance),
        ]
    }

    /// Checks that each weight is 0–100 and that they sum to 100, naming the field.
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut e = crate::ValidationErrors::default();
        for (name, w) in self.each() {
            if !(0..=100).contains(&w) {
                e.push(&format!("weights.{name}"), w, reason!("statistics.weight_range"));
            }
        }
        // Saturating: a weight of i64::MAX is named above, not an overflow (the attacker's trial).
        let sum: i64 = self.each().iter().fold(0i64, |n, (_, w)| n.saturating_add(*w));
        if e.is_empty() && sum != 100 {
            e.push("weights", sum, reason!("statistics.weights_sum", sum = sum));
        }
        e.into_result(())
    }
}

/// One region's task and performance, as the split reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SplitRegion {
    pub region_code: String,
    pub floor_area: i64,
    pub households: i64,
    pub buildings: i64,
    pub estates: i64,
    /// The region's performance score, 0–100.
    pub performance: i64,
}

/// One region's part of the amount, and what each factor gave it (fen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitShare {
    pub region_code: String,
    pub amount: i64,
    pub by_factor: BTreeMap<&'static str, i64>,
}

/// Splits `amount` fen among `regions`: each factor's pot is its weight's share of the amount, and
/// each pot is shared in proportion to the regions' figures for it. Rounding is by largest
/// remainder (each factor breaking ties from a different region), in integers, so the parts sum to the amount exactly. A
/// pot whose figures are all zero is shared equally.
pub fn split(amount: i64, weights: &SplitWeights, regions: &[SplitRegion]) -> Vec<SplitShare> {
    let mut shares: Vec<SplitShare> =
        regions.iter().map(|r| SplitShare { region_code: r.region_code.clone(), amount: 0, by_factor: BTreeMap::new() }).collect();
    if regions.is_empty() || amount <= 0 {
        return shares;
    }
    let pots = apportion(amount, &weights.each().iter().map(|(_, w)| (*w).max(0)).collect::<Vec<_>>());
    for (k, ((name, _), pot)) in weights.each().iter().zip(pots).enumerate() {
        let figures: Vec<i64> = regions
            .iter()
            .map(|r| {
                match *name {
                    "floor_area" => r.floor_area,
                    "households" => r.households,
                    "buildings" => r.buildings,
                    "estates" => r.estates,
                    _ => r.performance,
                }
                .max(0)
            })
            .collect();
        // Each pot breaks its ties from a different region, so that no region gains every odd fen.
        let by = if figures.iter().all(|f| *f == 0) { vec![1; regions.len()] } else { figures };
        let parts = apportion_from(pot, &by, k);
        for (share, part) in shares.iter_mut().zip(parts) {
            share.amount += part;
            share.by_factor.insert(name, part);
        }
    }
    shares
}

/// `total` in proportion to `by` (non-negative, not all zero), in integers summing to `total`:
/// floors first, then one each to the largest remainders.
pub fn apportion(total: i64, by: &[i64]) -> Vec<i64> {
    apportion_from(total, by, 0)
}

/// [`apportion`], equal remainders going first to the share at `start`, then the ones after it
/// (wrapping round).
pub fn apportion_from(total: i64, by: &[i64], start: usize) -> Vec<i64> {
    let sum: i128 = by.iter().map(|b| i128::from((*b).max(0))).sum();
    if sum == 0 || by.is_empty() {
        return vec![0; by.len()];
    }
    let exact: Vec<(i64, i128)> = by
        .iter()
        .map(|b| {
            let n = i128::from(total) * i128::from((*b).max(0));
            (i64::try_from(n / sum).unwrap_or(0), n % sum)
        })
        .collect();
    let mut parts: Vec<i64> = exact.iter().map(|(f, _)| *f).collect();
    let left = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..by.len()).collect();
    let n = by.len();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(((a + n - start % n) % n).cmp(&((b + n - start % n) % n))));
    for i in order.into_iter().take(usize::try_from(left).unwrap_or(0)) {
        parts[i] += 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_into_their_year_and_the_programme() {
        assert_eq!(rollups("2025-03"), ["2025-00", "0000"]);
        assert_eq!(rollups("2018-12"), ["2018-00"], "before the programme: its year only");
        assert_eq!(rollups("2025"), ["0000"]);
        assert_eq!(rollups("2018"), Vec::<String>::new());
        for kept in ["2025-00", "0000", "", "x"] {
            assert!(rollups(kept).is_empty(), "{kept} is a rollup or not a key");
        }
    }

    #[test]
    fn each_period_reads_its_own_kept_totals() {
        assert_eq!(Period::Year(2025).total_keys(), TotalKeys { exact: vec!["2025-00".into(), "2025".into()], months: None });
        assert_eq!(Period::Cumulative.total_keys().exact, ["0000"]);
        let q = Period::Quarter(2025, 2).total_keys();
        assert_eq!((q.exact, q.months), (vec!["2025".to_string()], Some(("2025-04".to_string(), "2025-06".to_string()))));
    }

    proptest! {
        /// Summing a year's rollup gives the sum of its months, whatever the months hold.
        #[test]
        fn a_year_rollup_is_the_sum_of_its_months(values in proptest::collection::vec((2017i32..2028, 1u32..=12, -1000i64..1000), 0..60)) {
            let mut kept: BTreeMap<String, i64> = BTreeMap::new();
            for (y, m, v) in &values {
                let key = format!("{y:04}-{m:02}");
                *kept.entry(key.clone()).or_insert(0) += v;
                for r in rollups(&key) {
                    *kept.entry(r).or_insert(0) += v;
                }
            }
            for y in 2017..2028 {
                let months: i64 = values.iter().filter(|(yy, _, _)| *yy == y).map(|(_, _, v)| v).sum();
                prop_assert_eq!(kept.get(&format!("{y:04}-00")).copied().unwrap_or(0), months);
            }
            let since: i64 = values.iter().filter(|(y, _, _)| *y >= FIRST_YEAR).map(|(_, _, v)| v).sum();
            prop_assert_eq!(kept.get(CUMULATIVE_KEY).copied().unwrap_or(0), since);
        }
    }
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_planned_started_and_accepted_estate_counts_in_its_plan_year_and_months() {
        let f = EstateFacts {
            households: 120,
            buildings: 6,
            floor_area: 8_000,
            plan_year: Some(2024),
            started_on: Some(day(2024, 3, 10)),
            completed_on: Some(day(2024, 11, 2)),
            contributed: true,
            final_lines: vec![("B01".into(), "m".into(), 150_000), ("I12".into(), "部".into(), 200), ("B05".into(), "m²".into(), 9_900)],
            findings: vec![(day(2025, 5, 1), true), (day(2025, 5, 3), false)],
            satisfaction: vec![(day(2024, 12, 1), true)],
            ..EstateFacts::default()
        };
        let p = parts(&f);
        let get = |c: &'static str, k: &str| p.get(&(c, k.to_string())).copied();
        assert_eq!(get("planned_households", "2024"), Some(120));
        assert_eq!(get("plan_started_estates", "2024"), Some(1));
        assert_eq!(get("plan_contributed_estates", "2024"), Some(1));
        assert_eq!(get("started_floor_area", "2024-03"), Some(8_000));
        assert_eq!(get("completed_estates", "2024-11"), Some(1));
        assert_eq!(get("pipe_water", "2024-11"), Some(150_000), "1.5 km of water pipe, counted at acceptance");
        assert_eq!(get("lifts_added", "2024-11"), Some(200));
        assert_eq!(get("rectifications_found", "2025-05"), Some(2));
        assert_eq!(get("rectifications_closed", "2025-05"), Some(1));
        assert_eq!(get("satisfaction_satisfied", "2024-12"), Some(1));
        assert!(p.keys().all(|(c, _)| indicator(c).is_some()), "every part is a known indicator");
        assert!(!p.keys().any(|(c, _)| *c == "pipe_power"), "road repair (B05) counts in no indicator");
    }

    #[test]
    fn satisfaction_reads_the_first_rating_or_a_choice_naming_satisfaction() {
        use crate::surveys::{Question, QuestionKind};
        let rating = Question { id: "q1".into(), kind: Some(QuestionKind::Rating), max_rating: Some(5), ..Default::default() };
        let choice = Question {
            id: "q2".into(),
            kind: Some(QuestionKind::Single),
            options: vec!["满意".into(), "基本满意".into(), "不满意".into()],
            ..Default::default()
        };
        let answers = |pairs: &[(&str, serde_json::Value)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let both = [rating.clone(), choice.clone()];
        assert_eq!(satisfaction_of(&both, &answers(&[("q1", 4.into()), ("q2", 2.into())])), Some(true), "the rating decides");
        assert_eq!(satisfaction_of(&both, &answers(&[("q1", 2.into())])), Some(false));
        assert_eq!(satisfaction_of(&both, &answers(&[("q2", 1.into())])), Some(true), "基本满意 without a rating");
        assert_eq!(satisfaction_of(&both, &answers(&[("q2", 2.into())])), Some(false), "不满意");
        assert_eq!(satisfaction_of(&both, &answers(&[])), None, "not counted");
        assert_eq!(china_day("2024-12-31T17:00:00.000Z"), Some(day(2025, 1, 1)), "17:00 UTC is the next day in China");
        assert_eq!(china_day("2024-05-03"), Some(day(2024, 5, 3)));
        assert_eq!(china_day("garbage"), None);
    }

    #[test]
    fn a_region_maps_menu_items_to_other_indicators_and_the_most_specific_level_wins() {
        let province: MappingLevel =
            vec![("B02".into(), Some("pipe_power".into())), ("I07".into(), Some(String::new())), ("B06".into(), Some("pipe_gas".into()))];
        let county: MappingLevel =
            vec![("B02".into(), Some("pipe_gas".into())), ("B01".into(), None), ("L01".into(), Some("services_added".into()))];
        let mapping = regional_mapping(&[province.clone(), county]);
        // B01 stored before mapping existed is the national one: not a change.
        assert_eq!(mapping.get("B01"), None);
        assert_eq!(mapping.get("B02"), Some(&Some("pipe_gas")));
        assert_eq!(mapping.get("I07"), Some(&None));
        assert_eq!(mapping.get("L01"), Some(&Some("services_added")));
        // An unknown or non-quantity indicator stored by hand counts nowhere.
        assert_eq!(regional_mapping(&[vec![("I12".into(), Some("planned_estates".into()))]]).get("I12"), Some(&None));
        let f = EstateFacts {
            completed_on: Some(day(2025, 6, 3)),
            final_lines: vec![
                ("B02".into(), "m".into(), 120_000),
                ("I07".into(), "个".into(), 500),
                ("I12".into(), "部".into(), 200),
                ("L01".into(), "处".into(), 100),
                // Gas counted per household is not a length: it never counts in km.
                ("B06".into(), "户".into(), 30_800),
            ],
            mapping: regional_mapping(&[province]),
            ..EstateFacts::default()
        };
        let p = parts(&f);
        assert_eq!(p.get(&("pipe_power", "2025-06".into())), Some(&120_000));
        assert_eq!(p.get(&("chargers_added", "2025-06".into())), None);
        assert_eq!(p.get(&("lifts_added", "2025-06".into())), Some(&200));
        assert_eq!(p.get(&("services_added", "2025-06".into())), None);
        assert_eq!(p.get(&("pipe_gas", "2025-06".into())), None);
    }

    #[test]
    fn an_estate_not_planned_nor_started_has_no_parts() {
        assert!(parts(&EstateFacts { households: 50, ..Default::default() }).is_empty());
    }

    #[test]
    fn periods_parse_and_refuse() {
        assert_eq!(Period::parse("2024"), Ok(Period::Year(2024)));
        assert_eq!(Period::parse("2024-Q2").map(|p| p.months()), Ok(("2024-04".into(), "2024-06".into())));
        assert_eq!(Period::parse("2024-05"), Ok(Period::Month(2024, 5)));
        assert_eq!(Period::parse("all"), Ok(Period::Cumulative));
        for bad in ["", "24", "2024-13", "2024-Q5", "2024-Q", "2024-5", "abcd", "2024-Q12", "99999", "2024-+5", "+024", "2024-Q+1"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::parse("2024-Q3").unwrap().year_before(), Some(Period::Quarter(2023, 3)));
        assert_eq!(Period::Month(2024, 5).keys_for(Dated::PlanYear), ("2024".into(), "2024".into()));
    }

    #[test]
    fn huge_weights_are_named_not_overflowed() {
        let w = SplitWeights { floor_area: i64::MAX, households: i64::MAX, buildings: i64::MIN, estates: 0, performance: 0 };
        let e = w.validate().unwrap_err();
        assert_eq!(e.0.len(), 3, "{e:?}");
    }

    #[test]
    fn rates_round_half_up_in_hundredths_of_a_percent() {
        assert_eq!(rate_bp(26, 28), Some(9286), "Hui'an 2024: 26 of 28 estates = 92.86 %");
        assert_eq!(rate_bp(128, 128), Some(10_000));
        assert_eq!(rate_bp(1, 3), Some(3333));
        assert_eq!(rate_bp(2, 3), Some(6667));
        assert_eq!(rate_bp(1, 0), None);
        assert!(is_satisfied(3, 5) && !is_satisfied(2, 5) && is_satisfied(6, 10) && !is_satisfied(5, 10));
        assert_eq!(investment_indicator("special_bonds"), Some("invest_special_bonds"));
        assert_eq!(investment_indicator("nope"), None);
    }

    fn region(code: &str, area: i64, households: i64, buildings: i64, estates: i64, performance: i64) -> SplitRegion {
        SplitRegion { region_code: code.into(), floor_area: area, households, buildings, estates, performance }
    }

    #[test]
    fn the_subsidy_splits_by_weighted_factors_to_the_fen() {
        let regions = [region("a", 300_000, 3_000, 60, 10, 90), region("b", 100_000, 1_000, 20, 5, 80)];
        let s = split(100_000_000, &SplitWeights::UNTIL_2023, &regions);
        assert_eq!(s.iter().map(|x| x.amount).sum::<i64>(), 100_000_000);
        // Area 40 % (3:1), households 30 % (3:1), buildings 10 % (3:1), estates 10 % (2:1), performance 10 % (9:8).
        assert_eq!(s[0].by_factor["floor_area"], 30_000_000);
        assert_eq!(s[1].by_factor["households"], 7_500_000);
        assert_eq!(s[0].by_factor["estates"], 6_666_667, "2/3 of 10,000,000 rounded to the fen");
        assert_eq!(s[1].by_factor["estates"], 3_333_333);
        assert_eq!(s[0].by_factor["performance"] + s[1].by_factor["performance"], 10_000_000);
        let from_2024 = split(100_000_000, &SplitWeights::for_year(2024), &regions);
        assert_eq!(from_2024[0].by_factor["households"], 60_000_000, "80 % by task volume, 3:1");
        assert_eq!(from_2024[0].by_factor["floor_area"], 0);
        // A factor where every region has nothing is shared equally, not lost.
        let none = split(10, &SplitWeights::UNTIL_2023, &[region("a", 0, 0, 0, 0, 0), region("b", 0, 0, 0, 0, 0)]);
        assert_eq!(none.iter().map(|x| x.amount).collect::<Vec<_>>(), [5, 5]);
    }

    #[test]
    fn weights_must_sum_to_one_hundred() {
        assert!(SplitWeights::UNTIL_2023.validate().is_ok() && SplitWeights::FROM_2024.validate().is_ok());
        let e = SplitWeights { performance: 11, ..SplitWeights::UNTIL_2023 }.validate().unwrap_err();
        assert_eq!(e.0[0].field, "weights");
        let e = SplitWeights { estates: -5, performance: 25, ..SplitWeights::UNTIL_2023 }.validate().unwrap_err();
        assert_eq!(e.0[0].field, "weights.estates");
    }

    fn facts() -> impl Strategy<Value = EstateFacts> {
        let date = (2019i32..2027, 1u32..13, 1u32..29).prop_map(|(y, m, d)| day(y, m, d));
        (
            (0i64..5000, 0i64..40, 0i64..100_000),
            proptest::option::of(2019i32..2027),
            proptest::option::of(date.clone()),
            proptest::option::of(date.clone()),
            any::<bool>(),
            proptest::collection::vec(
                (proptest::sample::select(vec![("B01", "m"), ("I12", "部"), ("B05", "m²"), ("U05", "m²"), ("B06", "户")]), 1i64..1_000_000),
                0..4,
            ),
            proptest::collection::vec((date.clone(), any::<bool>()), 0..5),
            proptest::collection::vec((date, any::<bool>()), 0..5),
        )
            .prop_map(
                |((households, buildings, floor_area), plan_year, started_on, completed_on, contributed, lines, findings, satisfaction)| {
                    EstateFacts {
                        households,
                        buildings,
                        floor_area,
                        plan_year,
                        started_on,
                        completed_on,
                        contributed,
                        final_lines: lines.into_iter().map(|((c, u), q)| (c.to_string(), u.to_string(), q)).collect(),
                        mapping: BTreeMap::new(),
                        findings,
                        satisfaction,
                    }
                },
            )
    }

    proptest! {
        /// Applying the difference from old to new onto old's parts gives new's parts: totals kept
        /// by differences never drift from what the records say.
        #[test]
        fn differences_carry_old_parts_to_new(old in facts(), new in facts()) {
            let (po, pn) = (parts(&old), parts(&new));
            let mut applied = po.clone();
            for (k, v) in difference(&po, &pn) {
                *applied.entry(k).or_insert(0) += v;
            }
            applied.retain(|_, v| *v != 0);
            prop_assert_eq!(applied, pn);
        }

        /// However the amount, weights and figures, the parts sum to the amount exactly and none is negative.
        #[test]
        fn split_parts_sum_to_the_amount(
            amount in 0i64..10_000_000_000_000,
            w in proptest::collection::vec(0i64..50, 5),
            figures in proptest::collection::vec((0i64..10_000_000, 0i64..100_000, 0i64..5_000, 0i64..500, 0i64..101), 1..40),
        ) {
            let weights = SplitWeights { floor_area: w[0], households: w[1], buildings: w[2], estates: w[3], performance: w[4] };
            let regions: Vec<SplitRegion> = figures.iter().enumerate().map(|(i, (a, h, b, e, p))| region(&i.to_string(), *a, *h, *b, *e, *p)).collect();
            let s = split(amount, &weights, &regions);
            if weights.each().iter().any(|(_, w)| *w > 0) {
                prop_assert_eq!(s.iter().map(|x| x.amount).sum::<i64>(), amount);
            }
            prop_assert!(s.iter().all(|x| x.amount >= 0 && x.by_factor.values().sum::<i64>() == x.amount));
        }

        /// Closed findings never exceed found ones, satisfied answers never exceed answers, and a
        /// planned estate's started count is at most its planned count: rates stay within 0–100 %.
        #[test]
        fn rates_stay_within_bounds(f in facts()) {
            let p = parts(&f);
            for (_, _, _, part, whole) in RATES {
                let sum = |c: &str| p.iter().filter(|((k, _), _)| *k == c).map(|(_, v)| *v).sum::<i64>();
                if let Some(r) = rate_bp(sum(part), sum(whole)) {
                    prop_assert!((0..=10_000).contains(&r), "{} {}", part, r);
                }
            }
        }
    }
}
