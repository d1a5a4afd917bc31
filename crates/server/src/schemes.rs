//! HTTP routes of the renovation menu and of estates' schemes: the draft, issued versions, what
//! changed between two versions, and the scheme as a spreadsheet for posting in the estate.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::estates::{attachment, XLSX};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::reason;
use huanxin_domain::schemes::{self as rules, Category, LineChange, MenuItem, MenuItemInput, Payer, SchemeItemInput, Stage, UNITS};
use huanxin_store::schemes::{Concerned, OwnerScheme, Scheme, SchemeSheet, SchemeVersion};
use serde::{Deserialize, Serialize};

/// The menu in force in a region, with the words its forms need.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MenuPage {
    pub region_code: String,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<MenuItem>,
    /// Category codes with their Chinese names, in menu order: `[code, name]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub categories: Vec<(String, String)>,
    /// Payer codes with their Chinese names: `[code, name]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub payers: Vec<(String, String)>,
    pub units: Vec<String>,
    /// The indicators an item's quantities may count in: `[code, Chinese name, English name, [units that fit]]`.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub indicators: Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)>,
}

/// Which region's menu (defaults to the caller's own).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MenuQuery {
    pub region: Option<String>,
}

/// The menu in force in a region.
#[utoipa::path(get, path = "/api/v1/menu", tag = "schemes", params(MenuQuery), responses((status = 200, body = MenuPage)))]
pub async fn menu(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<MenuQuery>,
) -> Result<Json<MenuPage>, ApiError> {
    let region = q.region.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| cu.user.region_code.clone());
    let rc = cu.region_readable(&region)?;
    let items = st.db.menu_for(&rc).await?;
    Ok(Json(MenuPage {
        region_code: rc.as_str().to_string(),
        items,
        categories: Category::ALL.iter().map(|c| (c.as_str().to_string(), c.zh().to_string())).collect(),
        payers: Payer::ALL.iter().map(|p| (p.as_str().to_string(), p.zh().to_string())).collect(),
        units: UNITS.iter().map(|u| u.to_string()).collect(),
        indicators: huanxin_domain::statistics::INDICATORS
            .iter()
            .filter(|i| huanxin_domain::statistics::mappable(i.code).is_some())
            .map(|i| (i.code, i.zh, i.en, UNITS.iter().copied().filter(|u| huanxin_domain::statistics::unit_fits(i.code, u)).collect()))
            .collect(),
    }))
}

/// Sets a region's own version of a menu item: its price, name, unit, payer, or takes it off.
#[utoipa::path(put, path = "/api/v1/menu/{region}/{code}", tag = "schemes", params(("region" = String, Path), ("code" = String, Path)),
    request_body(content = Object, description = "category, name, unit, unit_price_fen, payer, active, indicator (the statistical indicator its quantities count in; empty for none, absent to keep the one in force)"),
    responses((status = 200, body = MenuPage), (status = 422)))]
pub async fn set_menu_item(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((region, code)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<MenuItemInput>,
) -> Result<Json<MenuPage>, ApiError> {
    let item = input.validate(&code)?;
    st.db.set_menu_item(&cu.actor(), &cu.scope, &region, &item, input.indicator.is_none()).await?;
    menu(State(st), Extension(cu), ApiQuery(MenuQuery { region: Some(region) })).await
}

/// An estate's scheme: the draft with its estimate, and the versions issued.
#[utoipa::path(get, path = "/api/v1/estates/{id}/scheme", tag = "schemes", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Scheme>, ApiError> {
    issued_only_for_residents(&cu, 0)?;
    Ok(Json(st.db.scheme(&cu.scope, id).await?))
}

/// The lines of the draft, replacing the ones saved before.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DraftRequest {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<SchemeItemInput>,
}

/// Saves the draft of an estate's scheme.
#[utoipa::path(put, path = "/api/v1/estates/{id}/scheme", tag = "schemes", params(("id" = i64, Path)), request_body = DraftRequest,
    responses((status = 200, body = Object), (status = 409, description = "the scheme is final"), (status = 422)))]
pub async fn save_draft(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<DraftRequest>,
) -> Result<Json<Scheme>, ApiError> {
    Ok(Json(st.db.save_scheme_draft(&cu.actor(), &cu.scope, id, &req.items).await?))
}

/// The stage to issue the draft as.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IssueRequest {
    /// `notice_1`, `notice_2` or `final`.
    pub stage: String,
}

/// Issues the draft as a frozen version: for the first or second notice round, or as final.
#[utoipa::path(post, path = "/api/v1/estates/{id}/scheme/versions", tag = "schemes", params(("id" = i64, Path)),
    request_body = IssueRequest, responses((status = 201, body = Object), (status = 409, description = "out of order"), (status = 422)))]
pub async fn issue(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<SchemeVersion>), ApiError> {
    let stage = Stage::parse(&req.stage).ok_or_else(|| ApiError::field("stage", &req.stage, reason!("schemes.stage_kind")))?;
    Ok((StatusCode::CREATED, Json(st.db.issue_scheme(&cu.actor(), &cu.scope, id, stage).await?)))
}

/// One version (0 = the draft) with its lines and estimate.
#[utoipa::path(get, path = "/api/v1/estates/{id}/scheme/versions/{no}", tag = "schemes", params(("id" = i64, Path), ("no" = i64, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub async fn version(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, no)): ApiPath<(i64, i64)>,
) -> Result<Json<SchemeSheet>, ApiError> {
    issued_only_for_residents(&cu, no)?;
    Ok(Json(st.db.scheme_version(&cu.scope, id, no).await?))
}

/// Two versions to compare (0 = the draft).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: i64,
    pub to: i64,
}

/// What changed between two versions, line by line, and the totals of both.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SchemeDiff {
    pub from_total_fen: i64,
    pub to_total_fen: i64,
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<LineChange>,
}

/// Compares two versions of an estate's scheme.
#[utoipa::path(get, path = "/api/v1/estates/{id}/scheme/diff", tag = "schemes", params(("id" = i64, Path), DiffQuery),
    responses((status = 200, body = SchemeDiff), (status = 404)))]
pub async fn diff(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<SchemeDiff>, ApiError> {
    issued_only_for_residents(&cu, q.from.min(q.to))?;
    let from = st.db.scheme_version(&cu.scope, id, q.from).await?;
    let to = st.db.scheme_version(&cu.scope, id, q.to).await?;
    Ok(Json(SchemeDiff {
        from_total_fen: from.estimate.total_fen,
        to_total_fen: to.estimate.total_fen,
        changes: rules::diff(&from.items, &to.items),
    }))
}

/// Which version to export (defaults to the draft).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    pub version: Option<i64>,
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

/// The scheme as a spreadsheet: the lines, then the totals by category and by payer.
#[utoipa::path(get, path = "/api/v1/estates/{id}/scheme/export.xlsx", tag = "schemes", params(("id" = i64, Path), ExportQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (status = 404)))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    issued_only_for_residents(&cu, q.version.unwrap_or(0))?;
    let (bytes, name) = scheme_xlsx(&st.db, &cu.scope, id, q.version.unwrap_or(0)).await?;
    Ok(attachment(bytes, XLSX, &name))
}

/// The scheme sheet of version `no` (0: the draft) as xlsx, and its file name; the archive files it too.
pub(crate) async fn scheme_xlsx(
    db: &huanxin_store::Db,
    scope: &huanxin_domain::access::Scope,
    id: i64,
    no: i64,
) -> Result<(Vec<u8>, String), ApiError> {
    let s = scheme_rows(db, scope, id, no).await?;
    let bytes = crate::tabular::write_xlsx("改造方案", &SHEET_HEADERS, &s.rows)?;
    Ok((bytes, format!("改造方案-{}-{}-v{no}-{}.xlsx", s.estate.code, s.estate.name, s.stage)))
}

/// Columns of the scheme sheet.
const SHEET_HEADERS: [&str; 10] = ["类别", "编码", "改造内容", "部位", "数量", "单位", "单价(元)", "金额(元)", "出资方", "备注"];

/// A scheme version laid out as rows (the lines, a blank row, then the totals).
struct SchemeRows {
    estate: huanxin_store::estates::Estate,
    stage: String,
    saved: String,
    rows: Vec<Vec<String>>,
}

/// The scheme as a PDF for posting in the estate (公示) and filing: the estate, the version and its
/// stage, the lines by place, the totals by category and by payer.
#[utoipa::path(get, path = "/api/v1/estates/{id}/scheme/export.pdf", tag = "schemes", params(("id" = i64, Path), ExportQuery),
    responses((status = 200, content_type = "application/pdf"), (status = 404), (status = 503, description = "no Chinese font on the server")))]
pub async fn export_pdf(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let no = q.version.unwrap_or(0);
    issued_only_for_residents(&cu, no)?;
    let font = crate::pdf::font(&st.config.pdf_font)?;
    let s = scheme_rows(&st.db, &cu.scope, id, no).await?;
    let stage_zh = match s.stage.as_str() {
        "notice_1" => "第一轮公示稿",
        "notice_2" => "第二轮公示稿",
        "final" => "定稿",
        _ => "草稿",
    };
    let subtitle = vec![
        format!("小区：{}（{}） {}", s.estate.name, s.estate.code, s.estate.address),
        format!("版本：v{no} {stage_zh}    编制：{}", s.saved),
        "一区一策、一楼一策；金额按数量 × 单价估算，以最终结算为准。".to_string(),
    ];
    let widths = [7.0, 5.0, 16.0, 7.0, 8.0, 4.0, 8.0, 9.0, 7.0, 9.0];
    let columns: Vec<crate::pdf::Column<'_>> = SHEET_HEADERS
        .iter()
        .zip(widths)
        .enumerate()
        .map(|(i, (h, w))| crate::pdf::Column { header: h, width: w, right: matches!(i, 4 | 6 | 7) })
        .collect();
    let title = format!("{} 改造方案", s.estate.name);
    let bytes = tokio::task::spawn_blocking(move || crate::pdf::table_pdf(font, &title, &subtitle, &columns, &s.rows))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let name = format!("改造方案-{id}-v{no}.pdf");
    Ok(attachment(bytes, "application/pdf", &name))
}

async fn scheme_rows(db: &huanxin_store::Db, scope: &huanxin_domain::access::Scope, id: i64, no: i64) -> Result<SchemeRows, ApiError> {
    let estate = db.get_estate(scope, id).await?;
    let sheet = db.scheme_version(scope, id, no).await?;
    let buildings = db.list_buildings(scope, id).await?;
    let building_name = |b: Option<i64>| match b {
        None => "全小区".to_string(),
        Some(b) => buildings.iter().find(|x| x.id == b).map(|x| x.number.clone()).unwrap_or_else(|| b.to_string()),
    };
    let mut rows: Vec<Vec<String>> = sheet
        .items
        .iter()
        .map(|i| {
            vec![
                i.category.zh().to_string(),
                i.menu_code.clone(),
                i.name.clone(),
                building_name(i.building_id),
                format!("{:.2}", i.quantity_hundredths as f64 / 100.0),
                i.unit.clone(),
                yuan(i.unit_price_fen),
                yuan(i.cost_fen()),
                i.payer.zh().to_string(),
                i.note.clone(),
            ]
        })
        .collect();
    let total_row = |label: String, fen: i64| {
        vec![String::new(), String::new(), label, String::new(), String::new(), String::new(), String::new(), yuan(fen)]
    };
    rows.push(vec![]);
    for (c, fen) in &sheet.estimate.by_category {
        rows.push(total_row(format!("小计：{}", c.zh()), *fen));
    }
    for (p, fen) in &sheet.estimate.by_payer {
        rows.push(total_row(format!("出资：{}", p.zh()), *fen));
    }
    rows.push(total_row("合计".into(), sheet.estimate.total_fen));
    let stage = sheet.version.as_ref().map(|v| v.stage.clone()).unwrap_or_else(|| "draft".into());
    let saved =
        sheet.version.as_ref().map(|v| format!("{} {}", v.saved_by, v.saved_at.get(..10).unwrap_or(&v.saved_at))).unwrap_or_default();
    Ok(SchemeRows { estate, stage, saved, rows })
}

/// The caller's own dwellings, whose share of the residents' part a scheme shows (none for staff).
async fn own_households(st: &AppState, cu: &CurrentUser) -> Result<Vec<i64>, ApiError> {
    if cu.role != huanxin_domain::access::Role::Resident {
        return Ok(Vec::new());
    }
    Ok(st.db.my_dwellings(cu.user.id).await?.into_iter().map(|d| d.dwelling_id).collect())
}

/// The scheme an owner decides on in a vote, or none for a vote on another matter.
pub async fn for_decision(
    st: &AppState,
    cu: &CurrentUser,
    d: &huanxin_store::decisions::Decision,
) -> Result<Option<OwnerScheme>, ApiError> {
    let concerned = match (d.on_scheme, d.matter.as_str(), d.scope_kind.as_str(), d.building_id, d.stairwell) {
        (true, _, _, _, _) => Concerned::Estate,
        (false, "renovate", "building", Some(b), _) => Concerned::Building(b),
        (false, "renovate", "stairwell", Some(b), Some(s)) => Concerned::Stairwell(b, s),
        _ => return Ok(None),
    };
    let Some(version) = st.db.scheme_version_at(d.estate_id, &d.created_at).await? else { return Ok(None) };
    let households = own_households(st, cu).await?;
    Ok(Some(st.db.owner_scheme(&cu.scope, d.estate_id, version, concerned, &households).await?))
}

/// The scheme a notice puts on the board, or none for a notice of something else.
pub async fn for_notice(st: &AppState, cu: &CurrentUser, n: &huanxin_store::notices::Notice) -> Result<Option<OwnerScheme>, ApiError> {
    let Some(version) = n.scheme_version else { return Ok(None) };
    let households = own_households(st, cu).await?;
    Ok(Some(st.db.owner_scheme(&cu.scope, n.estate_id, version, Concerned::Estate, &households).await?))
}

/// Residents read the versions put on the board or to the vote, not the desk's working draft
/// (version 0) that may still change.
fn issued_only_for_residents(cu: &CurrentUser, version_no: i64) -> Result<(), ApiError> {
    if cu.role == huanxin_domain::access::Role::Resident && version_no <= 0 {
        return Err(ApiError::Forbidden(reason!("schemes.residents_see_issued_versions")));
    }
    Ok(())
}
