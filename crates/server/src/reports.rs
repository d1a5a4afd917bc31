//! HTTP routes of statistical reports (issue 15, part 3): a county's report of a form and period
//! on screen and as xlsx in the survey system's layout, saved, submitted, reviewed up the ladder,
//! corrected as a new version; who is late or missing below a region; deadlines per region.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::estates::{attachment, XLSX};
use crate::statistics::{known_region, period_of, unit_of};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::reports::{self as rules, Cell, Form, Status};
use huanxin_domain::statistics::{Period, Unit};
use huanxin_domain::ValidationErrors;
use huanxin_store::reports::{Draft, Report, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which form, period and region.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SheetQuery {
    /// A form's code (`GET /reports/forms`).
    pub form: String,
    /// A year, quarter or month, as the form is reported.
    pub period: String,
    /// The county (defaults to the caller's own region).
    pub region: Option<String>,
}

/// A report on screen: its cells, where it stands, its versions and history, and what the caller
/// may do with it.
#[derive(Debug, Serialize)]
pub struct Sheet {
    pub form: &'static Form,
    pub region_code: String,
    pub region_name: String,
    pub period: String,
    pub due_on: Option<String>,
    pub late: bool,
    pub cells: Vec<Cell>,
    /// The latest version (none until the county saves).
    pub report: Option<Report>,
    pub versions: Vec<Report>,
    pub steps: Vec<Step>,
    /// Cells whose typed figure differs from the computed one.
    pub flagged: usize,
    pub may_edit: bool,
    pub may_submit: bool,
    pub may_review: bool,
    pub may_correct: bool,
}

fn form_of(code: &str) -> Result<&'static Form, ApiError> {
    rules::form(code.trim()).ok_or_else(|| {
        let forms: Vec<&str> = rules::FORMS.iter().map(|f| f.code).collect();
        ApiError::Invalid(ValidationErrors::one(
            "form",
            code.chars().take(40).collect::<String>(),
            reason!("reports.unknown_form", forms = forms.join(", ")),
        ))
    })
}

fn form_period(form: &Form, period: &str) -> Result<Period, ApiError> {
    let p = period_of(Some(period))?;
    rules::check_period(form, &p).map_err(|r| ApiError::Invalid(ValidationErrors::one("period", p.code(), r)))?;
    Ok(p)
}

fn own_region(cu: &CurrentUser) -> Option<&RegionCode> {
    match &cu.scope {
        Scope::Region(r) => Some(r),
        Scope::Attached { .. } => None,
    }
}

/// A report the caller may see (its county in the caller's region), else 404.
async fn visible_report(st: &AppState, cu: &CurrentUser, id: i64) -> Result<Report, ApiError> {
    let r = st.db.report(id).await?;
    if !cu.scope.covers_code(&r.region_code) {
        return Err(ApiError::NotFound);
    }
    Ok(r)
}

async fn due_of(st: &AppState, county: &RegionCode, form: &Form, period: &Period) -> Result<Option<chrono::NaiveDate>, ApiError> {
    if rules::check_reporting_unit(county).is_err() {
        return Ok(None);
    }
    Ok(st.db.report_due(county, form, period, crate::lifecycle::calendar()?).await?)
}

fn submitted_day(r: &Report) -> Option<chrono::NaiveDate> {
    r.submitted_at.as_deref().and_then(huanxin_domain::statistics::china_day)
}

/// The sheet of a form, period and region, as `cu` may see it.
async fn sheet(st: &AppState, cu: &CurrentUser, region: RegionCode, form: &'static Form, period: Period) -> Result<Sheet, ApiError> {
    let figures = st.db.statistics(&region, &period).await?;
    let live: BTreeMap<String, i64> = figures.figures.iter().map(|f| (f.code.to_string(), f.value)).collect();
    let versions = st.db.report_versions(&region, form, &period.code()).await?;
    let own = own_region(cu) == Some(&region);
    // The levels above read the latest version handed up; a correction being filled shows in
    // the list of versions only.
    let handed_up = versions.iter().find(|r| Status::parse(&r.status).is_some_and(|s| !s.editable()));
    let latest = if own { versions.first() } else { handed_up.or(versions.first()) }.cloned();
    let status = latest.as_ref().and_then(|r| Status::parse(&r.status));
    // Figures still being filled are the county's own: the levels above see them once submitted.
    let typed = match (&latest, status) {
        (Some(r), Some(s)) if own || !s.editable() => r.typed(),
        _ => BTreeMap::new(),
    };
    let computed =
        latest.as_ref().filter(|_| status.is_some_and(|s| !s.editable())).and_then(Report::computed_at_submission).unwrap_or(live);
    let cells = rules::cells(form, &computed, &typed);
    let steps = match &latest {
        Some(r) => st.db.report_steps(r.id).await?,
        None => vec![],
    };
    let due = due_of(st, &region, form, &period).await?;
    let late = due.is_some_and(|d| rules::is_late(d, latest.as_ref().and_then(submitted_day), huanxin_store::today()));
    let reporting = rules::check_reporting_unit(&region).is_ok();
    let reports = cu.role.allows(huanxin_domain::access::Permission::ReportStatistics);
    let awaiting_me = latest.as_ref().is_some_and(|r| r.awaiting.as_deref() == own_region(cu).map(RegionCode::as_str));
    Ok(Sheet {
        form,
        region_code: figures.region_code,
        region_name: figures.region_name,
        period: period.code(),
        due_on: due.map(|d| d.to_string()),
        late,
        flagged: cells.iter().filter(|c| c.differs).count(),
        cells,
        may_edit: reports && own && reporting && status.is_none_or(Status::editable),
        may_submit: reports && own && status.is_some_and(Status::editable),
        may_review: reports && status == Some(Status::Submitted) && awaiting_me,
        may_correct: reports && own && status == Some(Status::Approved),
        report: latest.map(|r| hide_draft(r, own)),
        versions: versions.into_iter().map(|r| hide_draft(r, own)).collect(),
        steps,
    })
}

/// A version still being filled shows the levels above only that it is being filled.
fn hide_draft(mut r: Report, own: bool) -> Report {
    if !own && Status::parse(&r.status).is_some_and(Status::editable) {
        r.preparer.clear();
        r.phone.clear();
    }
    r
}

/// The report forms of the national survey system.
#[utoipa::path(get, path = "/api/v1/reports/forms", tag = "reports", responses((status = 200)))]
pub async fn forms() -> Json<&'static [Form]> {
    Json(rules::FORMS)
}

/// A county's report of a form and period: computed and typed cells, status, versions, history.
#[utoipa::path(get, path = "/api/v1/reports/sheet", tag = "reports", params(SheetQuery),
    responses((status = 200), (status = 422)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> Result<Json<Sheet>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let form = form_of(&q.form)?;
    let period = form_period(form, &q.period)?;
    Ok(Json(sheet(&st, &cu, region, form, period).await?))
}

/// What a county saves.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SaveRequest {
    pub form: String,
    pub period: String,
    /// 填表人.
    pub preparer: String,
    /// 联系电话.
    pub phone: String,
    /// Typed figures by indicator code, in the indicator's stored unit (whole numbers); null or
    /// absent where the computed figure stands.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub cells: BTreeMap<String, serde_json::Value>,
}

/// Saves the caller's county's report (a draft, or one returned to it).
#[utoipa::path(put, path = "/api/v1/reports/sheet", tag = "reports", request_body = SaveRequest,
    responses((status = 200), (status = 409), (status = 422)))]
pub async fn save(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<SaveRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let region = own_region(&cu).cloned().ok_or(ApiError::Forbidden(reason!("statistics.staff_only")))?;
    let form = form_of(&req.form)?;
    let period = form_period(form, &req.period)?;
    rules::check_reporting_unit(&region).map_err(|r| ApiError::Invalid(ValidationErrors::one("region", region.as_str(), r)))?;
    rules::check_fileable(form, &period, huanxin_store::today())
        .map_err(|r| ApiError::Invalid(ValidationErrors::one("period", period.code(), r)))?;
    let typed = rules::check_typed(form, &req.cells).map_err(ApiError::Invalid)?;
    st.db
        .save_report(&cu.actor(), &region, form, &period.code(), &Draft { typed: &typed, preparer: &req.preparer, phone: &req.phone })
        .await?;
    Ok(Json(sheet(&st, &cu, region, form, period).await?))
}

/// Submits the caller's county's report: locked, with the computed figures of this moment.
#[utoipa::path(post, path = "/api/v1/reports/{id}/submit", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200), (status = 404), (status = 409)))]
pub async fn submit(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Sheet>, ApiError> {
    let r = visible_report(&st, &cu, id).await?;
    let (form, period, region) = parts_of(&r)?;
    if own_region(&cu) != Some(&region) {
        return Err(ApiError::Forbidden(reason!("reports.county_files")));
    }
    let figures = st.db.statistics(&region, &period).await?;
    let computed: BTreeMap<String, i64> =
        figures.figures.iter().filter(|f| form.cells.contains(&f.code)).map(|f| (f.code.to_string(), f.value)).collect();
    let typed = r.typed();
    let mut e = ValidationErrors::default();
    for (part, whole) in rules::parts_exceeding(&rules::cells(form, &computed, &typed)) {
        let name = huanxin_domain::statistics::indicator(whole).map_or(whole, |i| i.zh);
        e.push(&format!("cells.{part}"), part, reason!("reports.part_exceeds_whole", whole = name));
    }
    if !e.0.is_empty() {
        return Err(ApiError::Invalid(e));
    }
    st.db.submit_report(&cu.actor(), id, &computed).await?;
    Ok(Json(sheet(&st, &cu, region, form, period).await?))
}

/// A review: approve, or return with a reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    pub approve: bool,
    #[serde(default)]
    pub reason: String,
}

/// Reviews a report awaiting the caller's region.
#[utoipa::path(post, path = "/api/v1/reports/{id}/review", tag = "reports", params(("id" = i64, Path)), request_body = ReviewRequest,
    responses((status = 200), (status = 404), (status = 409)))]
pub async fn review(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let r = visible_report(&st, &cu, id).await?;
    let (form, period, region) = parts_of(&r)?;
    let own = own_region(&cu).cloned().ok_or(ApiError::Forbidden(reason!("statistics.staff_only")))?;
    st.db.review_report(&cu.actor(), &own, id, req.approve, &req.reason).await?;
    Ok(Json(sheet(&st, &cu, region, form, period).await?))
}

/// Why an approved report is corrected.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CorrectRequest {
    pub reason: String,
}

/// Opens a correction of the caller's county's approved report as a new version.
#[utoipa::path(post, path = "/api/v1/reports/{id}/correct", tag = "reports", params(("id" = i64, Path)), request_body = CorrectRequest,
    responses((status = 200), (status = 404), (status = 409), (status = 422)))]
pub async fn correct(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CorrectRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let r = visible_report(&st, &cu, id).await?;
    let (form, period, region) = parts_of(&r)?;
    if own_region(&cu) != Some(&region) {
        return Err(ApiError::Forbidden(reason!("reports.county_files")));
    }
    st.db.correct_report(&cu.actor(), id, &req.reason).await?;
    Ok(Json(sheet(&st, &cu, region, form, period).await?))
}

fn parts_of(r: &Report) -> Result<(&'static Form, Period, RegionCode), ApiError> {
    let form = rules::form(&r.form).ok_or_else(|| ApiError::Internal(format!("stored form {}", r.form)))?;
    let period = Period::parse(&r.period).map_err(|_| ApiError::Internal(format!("stored period {}", r.period)))?;
    let region = RegionCode::parse(&r.region_code).map_err(|_| ApiError::Internal(format!("stored region {}", r.region_code)))?;
    Ok((form, period, region))
}

/// One county's filing as the level above sees it.
#[derive(Debug, Serialize)]
pub struct FilingRow {
    pub region_code: String,
    pub region_name: String,
    pub report_id: Option<i64>,
    pub version: Option<i64>,
    /// `missing` when nothing was saved, else the report's status.
    pub status: String,
    pub awaiting: Option<String>,
    /// The awaited region's name.
    pub awaiting_name: Option<String>,
    pub submitted_at: Option<String>,
    pub due_on: Option<String>,
    pub late: bool,
}

/// Who filed what below a region.
#[derive(Debug, Serialize)]
pub struct Filings {
    pub form: &'static Form,
    pub period: String,
    pub region_code: String,
    pub rows: Vec<FilingRow>,
    pub late: usize,
    pub missing: usize,
    /// Submitted reports waiting for the caller's region.
    pub awaiting_me: usize,
}

/// The counties under a region with their report of a form and period: submitted, approved,
/// awaiting whom, late, or missing.
#[utoipa::path(get, path = "/api/v1/reports/filings", tag = "reports", params(SheetQuery),
    responses((status = 200), (status = 422)))]
pub async fn filings(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> Result<Json<Filings>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let form = form_of(&q.form)?;
    let period = form_period(form, &q.period)?;
    let today = huanxin_store::today();
    let mine = own_region(&cu).map(RegionCode::as_str);
    let mut rows = Vec::new();
    let found = st.db.report_filings(&region, form, &period.code()).await?;
    let awaited: Vec<String> = found.iter().filter_map(|f| f.report.as_ref()?.awaiting.clone()).collect();
    let names = st.db.region_names(&awaited).await?;
    for f in found {
        let (code, name, report) = (f.region_code, f.region_name, f.report);
        let county = RegionCode::parse(&code).map_err(|_| ApiError::Internal(format!("stored region {code}")))?;
        let due = due_of(&st, &county, form, &period).await?;
        let submitted = f.first_submitted_at.as_deref().and_then(huanxin_domain::statistics::china_day);
        rows.push(FilingRow {
            region_code: code,
            region_name: name,
            report_id: report.as_ref().map(|r| r.id),
            version: report.as_ref().map(|r| r.version),
            status: report.as_ref().map_or("missing".to_string(), |r| r.status.clone()),
            awaiting: report.as_ref().and_then(|r| r.awaiting.clone()),
            awaiting_name: report.as_ref().and_then(|r| r.awaiting.as_ref()).map(|a| {
                names.get(a).cloned().unwrap_or_else(|| {
                    if a == RegionCode::country().as_str() {
                        "住房和城乡建设部".into()
                    } else {
                        a.clone()
                    }
                })
            }),
            submitted_at: report.as_ref().and_then(|r| r.submitted_at.clone()),
            due_on: due.map(|d| d.to_string()),
            late: due.is_some_and(|d| rules::is_late(d, submitted, today)),
        });
    }
    Ok(Json(Filings {
        form,
        period: period.code(),
        region_code: region.as_str().to_string(),
        late: rows.iter().filter(|r| r.late).count(),
        missing: rows.iter().filter(|r| r.status == "missing").count(),
        awaiting_me: rows.iter().filter(|r| r.status == "submitted" && r.awaiting.as_deref() == mine).count(),
        rows,
    }))
}

/// The reports awaiting the caller's region's review.
#[utoipa::path(get, path = "/api/v1/reports/awaiting", tag = "reports", responses((status = 200)))]
pub async fn awaiting(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Awaiting>>, ApiError> {
    let own = own_region(&cu).ok_or(ApiError::Forbidden(reason!("statistics.staff_only")))?;
    let reports = st.db.reports_awaiting(own).await?;
    let codes: Vec<String> = reports.iter().map(|r| r.region_code.clone()).collect();
    let names = st.db.region_names(&codes).await?;
    Ok(Json(
        reports
            .into_iter()
            .map(|report| Awaiting { region_name: names.get(&report.region_code).cloned().unwrap_or_default(), report })
            .collect(),
    ))
}

/// A report awaiting review, with the name of the county that filed it.
#[derive(Debug, Serialize)]
pub struct Awaiting {
    #[serde(flatten)]
    pub report: Report,
    pub region_name: String,
}

/// A deadline set for the counties below the caller's region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeadlineRequest {
    pub form: String,
    /// Working days after the period (a plan: after it begins) on the official calendar.
    pub working_days: i64,
}

/// Sets how many working days the counties under the caller's region have for a form (an
/// administrator's setting; the nearest region's setting wins).
#[utoipa::path(put, path = "/api/v1/reports/deadlines", tag = "reports", request_body = DeadlineRequest,
    responses((status = 200), (status = 403), (status = 422)))]
pub async fn set_deadline(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<DeadlineRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let own = own_region(&cu).cloned().ok_or(ApiError::Forbidden(reason!("statistics.staff_only")))?;
    if own.level() >= huanxin_domain::regions::Level::County {
        return Err(ApiError::Forbidden(reason!("reports.deadline_above_county")));
    }
    let form = form_of(&req.form)?;
    st.db.set_report_deadline(&cu.actor(), &own, form, req.working_days).await?;
    Ok(Json(serde_json::json!({"region_code": own.as_str(), "form": form.code, "working_days": req.working_days})))
}

/// A cell's value in the unit the form shows it in.
fn in_shown_unit(unit: Unit, v: i64) -> f64 {
    match unit {
        Unit::Count => v as f64,
        Unit::SquareMetres | Unit::Hundredths => v as f64 / 100.0,
        Unit::CentimetresAsKm => v as f64 / 100_000.0,
        Unit::Fen => v as f64 / 1_000_000.0,
    }
}

/// The report as xlsx in the survey system's layout: table number and title; reporting unit,
/// region code and period; the cells with their unit, value and whether computed or typed; the
/// preparer, phone and date at the foot. Numbers are written as numbers.
#[utoipa::path(get, path = "/api/v1/reports/sheet.xlsx", tag = "reports", params(SheetQuery),
    responses((status = 200, description = "xlsx"), (status = 422)))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<SheetQuery>,
) -> Result<Response, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let form = form_of(&q.form)?;
    let period = form_period(form, &q.period)?;
    let s = sheet(&st, &cu, region, form, period).await?;
    let bytes = write_sheet(&s).map_err(|e| ApiError::Internal(format!("xlsx: {e}")))?;
    Ok(attachment(bytes, XLSX, &format!("{}-{}-{}.xlsx", form.zh, s.region_code, s.period)))
}

fn write_sheet(s: &Sheet) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, FormatAlign, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("报表")?;
    let title = Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center);
    let bold = Format::new().set_bold();
    let flagged = Format::new().set_background_color("#FDE2E1");
    ws.set_column_width(0, 8)?;
    ws.set_column_width(1, 34)?;
    ws.set_column_width(2, 10)?;
    ws.set_column_width(3, 16)?;
    ws.set_column_width(4, 10)?;
    ws.set_column_width(5, 16)?;
    ws.merge_range(0, 0, 0, 5, s.form.zh, &title)?;
    ws.write_string(1, 4, "表号：")?;
    ws.write_string(1, 5, s.form.table)?;
    ws.write_string(2, 0, "填报单位：")?;
    ws.write_string(2, 1, &s.region_name)?;
    ws.write_string(2, 2, "区划代码：")?;
    ws.write_string(2, 3, &s.region_code)?;
    ws.write_string(2, 4, "报告期：")?;
    ws.write_string(2, 5, &s.period)?;
    for (c, h) in ["序号", "指标名称", "计量单位", "本期数", "来源", "系统计算数"].iter().enumerate() {
        ws.write_string_with_format(4, c as u16, *h, &bold)?;
    }
    for (i, cell) in s.cells.iter().enumerate() {
        let row = 5 + i as u32;
        let unit = unit_of(cell.code, cell.unit);
        ws.write_number(row, 0, (i + 1) as f64)?;
        ws.write_string(row, 1, cell.zh)?;
        ws.write_string(row, 2, unit)?;
        if cell.differs {
            ws.write_number_with_format(row, 3, in_shown_unit(cell.unit, cell.value), &flagged)?;
        } else {
            ws.write_number(row, 3, in_shown_unit(cell.unit, cell.value))?;
        }
        ws.write_string(row, 4, if cell.source == "typed" { "填报" } else { "系统计算" })?;
        ws.write_number(row, 5, in_shown_unit(cell.unit, cell.computed))?;
    }
    let foot = 6 + s.cells.len() as u32;
    let r = s.report.as_ref();
    // The survey system's signatory line: the unit's head and its statistics head sign on paper.
    ws.write_string(foot, 0, "单位负责人：")?;
    ws.write_string(foot, 2, "统计负责人：")?;
    let foot = foot + 1;
    ws.write_string(foot, 0, "填表人：")?;
    ws.write_string(foot, 1, r.map_or("", |r| r.preparer.as_str()))?;
    ws.write_string(foot, 2, "联系电话：")?;
    ws.write_string(foot, 3, r.map_or("", |r| r.phone.as_str()))?;
    ws.write_string(foot, 4, "报出日期：")?;
    let day = r.and_then(|r| r.submitted_at.as_deref()).and_then(huanxin_domain::statistics::china_day);
    ws.write_string(foot, 5, day.map(|d| d.to_string()).unwrap_or_default())?;
    let status = r.map_or("未填报", |r| match Status::parse(&r.status) {
        Some(Status::Draft) => "草稿",
        Some(Status::Submitted) => "已报送，待审核",
        Some(Status::Returned) => "已退回",
        Some(Status::Approved) => "已审定",
        Some(Status::Superseded) => "已被更正",
        None => "",
    });
    ws.write_string(foot + 1, 0, "状态：")?;
    ws.write_string(foot + 1, 1, r.map_or(status.to_string(), |r| format!("{status}（第 {} 版）", r.version)))?;
    if s.flagged > 0 {
        ws.write_string(foot + 2, 0, "说明：")?;
        ws.write_string(foot + 2, 1, format!("{} 项填报数与系统计算数不一致（已标红）", s.flagged))?;
    }
    wb.save_to_buffer()
}
