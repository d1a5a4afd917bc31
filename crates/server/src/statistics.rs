//! HTTP routes of statistics (issue 15): a region's indicators for a period with the regions one
//! level down, month by month, the estates or projects a figure counts, and the xlsx of it all.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiQuery};
use crate::estates::{attachment, XLSX};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::statistics::{self as rules, Indicator, Period, Unit};
use huanxin_domain::ValidationErrors;
use huanxin_store::statistics::{ChildFigures, Counted, Figures};
use serde::{Deserialize, Serialize};

/// Which region and period.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// A region in the caller's scope (defaults to the caller's own).
    pub region: Option<String>,
    /// `2024`, `2024-Q2`, `2024-05` or `all` (since 2019); defaults to this year.
    pub period: Option<String>,
}

/// Which figure's estates or projects.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountedQuery {
    pub region: Option<String>,
    pub period: Option<String>,
    /// The indicator's code (see `indicators` in `GET /statistics`).
    pub indicator: String,
}

/// Which region and year, month by month.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthsQuery {
    pub region: Option<String>,
    pub year: Option<i32>,
}

/// A region's statistics page.
#[derive(Debug, Serialize)]
pub struct StatisticsPage {
    #[serde(flatten)]
    pub figures: Figures,
    /// The regions one level down that have any figure.
    pub children: Vec<ChildFigures>,
    /// The regions above, from the country down (for the breadcrumb), within the caller's scope.
    pub trail: Vec<(String, String)>,
    pub indicators: &'static [Indicator],
}

/// The estates or projects a figure counts.
#[derive(Debug, Serialize)]
pub struct CountedPage {
    pub indicator: &'static Indicator,
    pub total: i64,
    pub items: Vec<Counted>,
}

/// The region asked for, checked against the caller's scope (their own by default).
pub(crate) fn region_of(cu: &CurrentUser, asked: Option<&str>) -> Result<RegionCode, ApiError> {
    let Scope::Region(own) = &cu.scope else {
        return Err(ApiError::Forbidden(reason!("statistics.staff_only")));
    };
    let Some(asked) = asked.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(own.clone()) };
    let shown: String = asked.chars().take(40).collect();
    let rc = RegionCode::parse(asked).map_err(|r| ApiError::Invalid(ValidationErrors::one("region", &shown, r)))?;
    if !own.contains(&rc) {
        return Err(ApiError::Invalid(ValidationErrors::one("region", &shown, reason!("field.outside_region"))));
    }
    Ok(rc)
}

/// The region asked for, as [`region_of`] gives it, refused by name when it is not a known
/// region (a made-up code under one's own would otherwise answer zeros).
pub(crate) async fn known_region(st: &AppState, cu: &CurrentUser, asked: Option<&str>) -> Result<RegionCode, ApiError> {
    let rc = region_of(cu, asked)?;
    let own = matches!(&cu.scope, Scope::Region(own) if *own == rc);
    if !own && rc != RegionCode::country() && st.db.region_names(&[rc.as_str().to_string()]).await?.is_empty() {
        return Err(ApiError::Invalid(ValidationErrors::one("region", rc.as_str(), reason!("field.unknown_region"))));
    }
    Ok(rc)
}

pub(crate) fn period_of(asked: Option<&str>) -> Result<Period, ApiError> {
    match asked.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            use chrono::Datelike;
            Ok(Period::Year(huanxin_store::today().year()))
        }
        Some(p) => {
            Period::parse(p).map_err(|r| ApiError::Invalid(ValidationErrors::one("period", p.chars().take(40).collect::<String>(), r)))
        }
    }
}

/// The regions from the caller's own down to `region`, with their names.
async fn trail(st: &AppState, cu: &CurrentUser, region: &RegionCode) -> Result<Vec<(String, String)>, ApiError> {
    let Scope::Region(own) = &cu.scope else { return Ok(vec![]) };
    let mut codes: Vec<RegionCode> = vec![RegionCode::country()];
    codes.extend(region.ancestors());
    if *region != RegionCode::country() {
        codes.push(region.clone());
    }
    let mut out = Vec::new();
    for c in codes.into_iter().filter(|c| own.contains(c)) {
        let name = if c == RegionCode::country() {
            "全国".to_string()
        } else {
            st.db.region_names(&[c.as_str().to_string()]).await?.into_iter().next().map(|(_, n)| n).unwrap_or_else(|| c.as_str().into())
        };
        out.push((c.as_str().to_string(), name));
    }
    Ok(out)
}

/// A region's indicators for a period (with the same period a year before), its rates (with their
/// names), and the regions one level down.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "statistics", params(StatisticsQuery),
    responses((status = 200, description = "figures, rates, children, trail, indicators"), (status = 422)))]
pub async fn page(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<StatisticsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let period = period_of(q.period.as_deref())?;
    let figures = st.db.statistics(&region, &period).await?;
    let children = st.db.statistics_children(&region, &period).await?;
    let trail = trail(&st, &cu, &region).await?;
    let page = StatisticsPage { figures, children, trail, indicators: rules::INDICATORS };
    Ok(Json(serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?))
}

/// A region's monthly indicators over one year.
#[utoipa::path(get, path = "/api/v1/statistics/months", tag = "statistics", params(MonthsQuery),
    responses((status = 200, description = "[[month, {indicator: value}]]"), (status = 422)))]
pub async fn months(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<MonthsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let year = match q.year {
        Some(y) if (rules::FIRST_YEAR..=2100).contains(&y) => y,
        Some(y) => return Err(ApiError::Invalid(ValidationErrors::one("year", y, reason!("statistics.year_range")))),
        None => {
            use chrono::Datelike;
            huanxin_store::today().year()
        }
    };
    let rows = st.db.statistics_by_month(&region, year).await?;
    Ok(Json(serde_json::json!(rows)))
}

/// The estates (or, for investment, the projects) one figure counts, the largest part first: "why 37?".
#[utoipa::path(get, path = "/api/v1/statistics/counted", tag = "statistics", params(CountedQuery),
    responses((status = 200, description = "indicator, total, items"), (status = 422)))]
pub async fn counted(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<CountedQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let period = period_of(q.period.as_deref())?;
    let indicator = rules::indicator(q.indicator.trim()).ok_or_else(|| {
        ApiError::Invalid(ValidationErrors::one(
            "indicator",
            q.indicator.chars().take(60).collect::<String>(),
            reason!("statistics.unknown_indicator"),
        ))
    })?;
    let (items, total) = st.db.statistics_counted(&region, &period, indicator.code, 1_000).await?;
    let page = CountedPage { indicator, total, items };
    Ok(Json(serde_json::to_value(page).map_err(|e| ApiError::Internal(e.to_string()))?))
}

/// A value as shown in its unit: counts as they are, m² and menu quantities to two decimals, pipelines in km, money in 万元.
pub fn shown(unit: Unit, v: i64) -> String {
    match unit {
        Unit::Count => v.to_string(),
        Unit::SquareMetres | Unit::Hundredths => format!("{:.2}", v as f64 / 100.0),
        Unit::CentimetresAsKm => format!("{:.3}", v as f64 / 100_000.0),
        Unit::Fen => format!("{:.2}", v as f64 / 1_000_000.0),
    }
}

/// The unit an indicator is shown in: a count's unit follows what it counts.
pub fn unit_of(code: &str, unit: Unit) -> &'static str {
    match code {
        c if c.ends_with("_households") => "户",
        c if c.ends_with("_buildings") => "栋",
        c if c.starts_with("rectifications_") => "项",
        c if c.starts_with("satisfaction_") => "份",
        _ => unit_zh(unit),
    }
}

/// The unit a value is shown in.
pub fn unit_zh(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "个",
        Unit::SquareMetres => "m²",
        Unit::Hundredths => "",
        Unit::CentimetresAsKm => "km",
        Unit::Fen => "万元",
    }
}

/// The region's figures and its regions one level down as xlsx: one row per region, one column
/// per indicator and rate, the region asked for first.
#[utoipa::path(get, path = "/api/v1/statistics/export.xlsx", tag = "statistics", params(StatisticsQuery),
    responses((status = 200, description = "xlsx"), (status = 422)))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<StatisticsQuery>,
) -> Result<Response, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let period = period_of(q.period.as_deref())?;
    let figures = st.db.statistics(&region, &period).await?;
    let children = st.db.statistics_children(&region, &period).await?;
    let mut headers: Vec<String> = vec!["区划代码".into(), "区划名称".into(), "统计期".into()];
    for i in rules::INDICATORS {
        let unit = unit_of(i.code, i.unit);
        headers.push(if unit.is_empty() { i.zh.to_string() } else { format!("{}（{unit}）", i.zh) });
    }
    for (_, zh, _, _, _) in rules::RATES {
        headers.push(format!("{zh}（%）"));
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let row = |code: &str, name: &str, value: &dyn Fn(&str) -> i64| {
        let mut r = vec![code.to_string(), name.to_string(), period.code()];
        for i in rules::INDICATORS {
            r.push(shown(i.unit, value(i.code)));
        }
        for (_, _, _, part, whole) in rules::RATES {
            r.push(rules::rate_bp(value(part), value(whole)).map(|p| format!("{:.2}", p as f64 / 100.0)).unwrap_or_default());
        }
        r
    };
    let own = |c: &str| figures.figures.iter().find(|f| f.code == c).map(|f| f.value).unwrap_or(0);
    let mut rows = vec![row(&figures.region_code, &figures.region_name, &own)];
    for child in &children {
        let v = |c: &str| child.values.get(c).copied().unwrap_or(0);
        rows.push(row(&child.region_code, &child.region_name, &v));
    }
    let bytes = crate::tabular::write_xlsx("统计", &headers, &rows)?;
    Ok(attachment(bytes, XLSX, &format!("改造统计-{}-{}.xlsx", figures.region_code, period.code())))
}

/// What to split, and (optionally) the allocations to make of it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SplitRequest {
    /// The region whose regions one level down share the amount (defaults to the caller's own).
    pub region: Option<String>,
    /// The plan year whose tasks are shared by (planned floor area, households, buildings, estates).
    pub year: i32,
    /// Yuan, at most two decimals.
    pub amount: String,
    /// Percent per factor summing to 100; defaults to the year's preset (POLICY §5).
    #[schema(value_type = Option<Object>)]
    pub weights: Option<rules::SplitWeights>,
    /// Performance score (0–100) per region code; 100 for a region not named.
    #[serde(default)]
    pub performance: std::collections::BTreeMap<String, i64>,
    /// When given, each region's part becomes an allocation to it, all in one transaction.
    pub allocate: Option<SplitAllocate>,
}

/// The allocations a split becomes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SplitAllocate {
    /// The allocation the parts are cut from (none: a top-level allocation from `source`).
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub source: String,
    pub purpose: String,
}

/// Most performance scores one split takes (more regions than any level has below it).
const MAX_SCORES: usize = 500;

/// One region's part, with the figures it was shared by.
#[derive(Debug, Serialize)]
pub struct SplitLine {
    pub region_name: String,
    #[serde(flatten)]
    pub figures: rules::SplitRegion,
    #[serde(flatten)]
    pub share: rules::SplitShare,
}

/// Splits an amount (the central subsidy, say) among the regions one level down by weighted factors
/// (floor area, households, buildings and estates planned in the year, and performance), to the
/// fen, the parts summing to the amount; with `allocate`, the parts become allocations at once.
#[utoipa::path(post, path = "/api/v1/funds/subsidy-split", tag = "funds", request_body = SplitRequest,
    responses((status = 200, description = "year, amount, weights, shares, allocations"), (status = 422)))]
pub async fn subsidy_split(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiJson(req): crate::error::ApiJson<SplitRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let region = known_region(&st, &cu, req.region.as_deref()).await?;
    // A province has fewer than 50 cities, a city fewer than 50 counties: a longer list is not a list of scores.
    if req.performance.len() > MAX_SCORES {
        return Err(ApiError::Invalid(ValidationErrors::one(
            "performance",
            req.performance.len(),
            reason!("statistics.too_many_scores", max = MAX_SCORES),
        )));
    }
    let mut e = ValidationErrors::default();
    if !(rules::FIRST_YEAR..=2100).contains(&req.year) {
        e.push("year", req.year, reason!("statistics.year_range"));
    }
    let amount = huanxin_domain::funds::amount_field("amount", &req.amount, &mut e);
    let weights = req.weights.unwrap_or_else(|| rules::SplitWeights::for_year(req.year));
    if let Err(w) = weights.validate() {
        e.0.extend(w.0);
    }
    let children = st.db.statistics_children(&region, &Period::Year(req.year)).await?;
    let tasks: Vec<&ChildFigures> = children.iter().filter(|c| c.values.get("planned_estates").copied().unwrap_or(0) > 0).collect();
    for (code, score) in &req.performance {
        let field = format!("performance.{}", code.chars().take(20).collect::<String>());
        if !tasks.iter().any(|c| &c.region_code == code) {
            e.push(&field, code.chars().take(20).collect::<String>(), reason!("statistics.not_sharing"));
        } else if !(0..=100).contains(score) {
            e.push(&field, score, reason!("statistics.score_range"));
        }
    }
    if e.is_empty() && tasks.is_empty() {
        e.push("year", req.year, reason!("statistics.no_tasks"));
    }
    let Some(amount) = amount.filter(|_| e.is_empty()) else { return Err(ApiError::Invalid(e)) };
    // A score not typed is the region's reviewed evaluation by this level: the split's year's,
    // else the year before's; 100 for a region not yet evaluated.
    let mut evaluated: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for y in [i64::from(req.year) - 1, i64::from(req.year)] {
        for ev in st.db.evaluations_by(&region, y).await? {
            if let Some(total) = ev.total {
                evaluated.insert(ev.region_code, (total + 50) / 100);
            }
        }
    }
    let regions: Vec<rules::SplitRegion> = tasks
        .iter()
        .map(|c| {
            let v = |k: &str| c.values.get(k).copied().unwrap_or(0);
            rules::SplitRegion {
                region_code: c.region_code.clone(),
                floor_area: v("planned_floor_area"),
                households: v("planned_households"),
                buildings: v("planned_buildings"),
                estates: v("planned_estates"),
                performance: req.performance.get(&c.region_code).or_else(|| evaluated.get(&c.region_code)).copied().unwrap_or(100),
            }
        })
        .collect();
    let shares = rules::split(amount.0, &weights, &regions);
    let mut allocations = Vec::new();
    if let Some(a) = &req.allocate {
        let mut items = Vec::new();
        let mut problems = ValidationErrors::default();
        for s in shares.iter().filter(|s| s.amount > 0) {
            let input = huanxin_domain::funds::AllocationInput {
                parent_id: a.parent_id,
                region_code: s.region_code.clone(),
                source: a.source.clone(),
                year: i64::from(req.year),
                purpose: a.purpose.clone(),
                amount: huanxin_domain::funds::Fen(s.amount).yuan(),
                categories: vec![],
                projects: vec![],
            };
            match (input.validate(), RegionCode::parse(&s.region_code)) {
                (Ok(valid), Ok(rc)) => items.push((rc, valid)),
                (Err(v), _) => problems.0.extend(v.0.into_iter().map(|mut f| {
                    f.field = format!("allocate.{}", f.field);
                    f
                })),
                (_, Err(r)) => problems.push("shares.region_code", &s.region_code, r),
            }
            if !problems.is_empty() {
                // Every part has the same purpose and source: the first part's problems are everyone's.
                return Err(ApiError::Invalid(problems));
            }
        }
        allocations = st.db.create_allocations(&cu.actor(), &cu.scope, i64::from(req.year), &a.purpose, a.parent_id, &items).await?;
    }
    let lines: Vec<SplitLine> = regions
        .into_iter()
        .zip(shares)
        .zip(&tasks)
        .map(|((figures, share), c)| SplitLine { region_name: c.region_name.clone(), figures, share })
        .collect();
    Ok(Json(serde_json::json!({
        "region_code": region.as_str(),
        "year": req.year,
        "amount": amount.0,
        "weights": weights,
        "shares": lines,
        "allocations": allocations,
    })))
}

/// Where the regions one level down lie (the mean position of their estates), for the map.
#[utoipa::path(get, path = "/api/v1/statistics/places", tag = "statistics", params(crate::funds::RegionQuery),
    responses((status = 200, description = "[{region_code, name, lon, lat, estates}]"), (status = 422)))]
pub async fn places(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<crate::funds::RegionQuery>,
) -> Result<Json<Vec<huanxin_store::statistics::Place>>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    if let Some(p) = st.places.get(region.as_str()) {
        return Ok(Json(p));
    }
    // One computation at a time: sixteen dashboards opening together wait for the first.
    let _one = st.places.computing.lock().await;
    if let Some(p) = st.places.get(region.as_str()) {
        return Ok(Json(p));
    }
    let places = st.db.statistics_places(&region).await?;
    st.places.put(region.as_str(), places.clone());
    Ok(Json(places))
}

/// Where the regions one level down lie, by region, kept a short while: the mean position of a
/// country's estates reads every estate, and it moves only when the registry does (a change
/// through this server drops it at once, as it does the map's tiles).
#[derive(Default)]
pub struct PlacesCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Vec<huanxin_store::statistics::Place>)>>,
    computing: tokio::sync::Mutex<()>,
}

/// How long kept places are trusted when nothing was written through this server.
const PLACES_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl PlacesCache {
    fn get(&self, region: &str) -> Option<Vec<huanxin_store::statistics::Place>> {
        let map = self.entries.lock().ok()?;
        let (at, p) = map.get(region)?;
        (at.elapsed() < PLACES_TTL).then(|| p.clone())
    }

    fn put(&self, region: &str, places: Vec<huanxin_store::statistics::Place>) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(region.to_string(), (std::time::Instant::now(), places));
        }
    }

    /// Forgets everything (after a change to the registry).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

/// A chart's data, as the page shows it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChartData {
    /// The sheet's title (the chart's name).
    pub title: String,
    pub headers: Vec<String>,
    /// Rows of strings and numbers.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Most rows and columns a chart's export takes.
const CHART_ROWS: usize = 5000;
const CHART_COLUMNS: usize = 60;

/// Any chart's data as xlsx (the dashboard's "export" on each chart): numbers stay numbers.
#[utoipa::path(post, path = "/api/v1/statistics/chart.xlsx", tag = "statistics", request_body = ChartData,
    responses((status = 200, description = "xlsx"), (status = 422)))]
pub async fn chart_xlsx(
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiJson(c): crate::error::ApiJson<ChartData>,
) -> Result<Response, ApiError> {
    region_of(&cu, None)?;
    let mut e = ValidationErrors::default();
    // Excel's sheet names: no []:*?/\\, no control or non-characters, at most 31, not starting or
    // ending with an apostrophe.
    let kept: String = c
        .title
        .chars()
        .filter(|ch| !"[]:*?/\\".contains(*ch) && !ch.is_control() && !matches!(*ch, '\u{fffe}' | '\u{ffff}'))
        .take(31)
        .collect();
    let title = kept.trim().trim_matches('\'').trim().to_string();
    if title.is_empty() {
        e.push("title", &c.title, reason!("field.required"));
    }
    if c.headers.is_empty() || c.headers.len() > CHART_COLUMNS || c.headers.iter().any(|h| h.chars().count() > 200) {
        e.push("headers", c.headers.len(), reason!("statistics.chart_shape", rows = CHART_ROWS, columns = CHART_COLUMNS));
    }
    if c.rows.len() > CHART_ROWS {
        e.push("rows", c.rows.len(), reason!("statistics.chart_shape", rows = CHART_ROWS, columns = CHART_COLUMNS));
    }
    for (i, row) in c.rows.iter().enumerate() {
        let bad = row.len() > c.headers.len()
            || row.iter().any(|v| match v {
                serde_json::Value::String(s) => s.chars().count() > 200,
                serde_json::Value::Number(n) => n.as_f64().is_none_or(|f| !f.is_finite()),
                serde_json::Value::Null => false,
                _ => true,
            });
        if bad {
            e.push(&format!("rows[{i}]"), row.len(), reason!("statistics.chart_cell"));
        }
        if e.0.len() >= 20 {
            break;
        }
    }
    if !e.0.is_empty() {
        return Err(ApiError::Invalid(e));
    }
    let bytes = write_chart(&title, &c).map_err(|x| ApiError::Internal(format!("xlsx: {x}")))?;
    Ok(attachment(bytes, XLSX, &format!("{title}.xlsx")))
}

fn write_chart(title: &str, c: &ChartData) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(title)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (j, h) in c.headers.iter().enumerate() {
        ws.write_string_with_format(0, j as u16, h, &bold)?;
        ws.set_column_width(j as u16, 14)?;
    }
    for (i, row) in c.rows.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let (r, col) = (i as u32 + 1, j as u16);
            match v {
                serde_json::Value::Number(n) => {
                    ws.write_number(r, col, n.as_f64().unwrap_or(0.0))?;
                }
                serde_json::Value::String(s) => {
                    ws.write_string(r, col, s)?;
                }
                _ => {}
            }
        }
    }
    wb.save_to_buffer()
}
