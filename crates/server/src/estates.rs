//! The registry over HTTP: estates, buildings and dwellings; list, detail, edit, import and export.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::tabular::{self, Column};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Datelike;
use huanxin_domain::access::Permission;
use huanxin_domain::estates::{
    self as dom, BuildingInput, BuildingRecord, Datum, DwellingInput, DwellingRecord, EstateInput, EstateRecord, OwnerInput,
};
use huanxin_domain::reason;
use huanxin_domain::sheets;
use huanxin_domain::ValidationErrors;
use huanxin_store::estates::{Building, Dwelling, Estate, EstateFilter, EstateTotals, RowError};
use huanxin_store::imports::{ImportKind, IMPORT_CHUNK};
use serde::{Deserialize, Serialize};

fn current_year() -> i64 {
    i64::from(huanxin_store::today().year())
}

/// An estate as the API shows it: areas in m², eligibility, the names of its regions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EstateView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub address: String,
    pub community_code: String,
    pub community_name: String,
    pub street_name: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub outline: Option<serde_json::Value>,
    pub build_year: i64,
    pub eligible: bool,
    pub building_count: i64,
    pub households: i64,
    pub floor_area_m2: f64,
    pub ownership_type: String,
    pub management_status: String,
    pub has_owners_committee: bool,
    pub person_in_charge: String,
    /// Masked unless the role may read personal data.
    pub phone: String,
    pub status: String,
    pub updated_at: String,
}

/// Phones are always masked in lists, details and exports; the `reveal` endpoints show them and
/// audit the read.
async fn views(st: &AppState, _cu: &CurrentUser, rows: Vec<Estate>) -> Result<Vec<EstateView>, ApiError> {
    estate_views(&st.db, st.config.eligible_before_year, false, rows).await
}

/// Turns stored estates into API views; phones are masked unless `unmasked`.
pub async fn estate_views(
    db: &huanxin_store::Db,
    eligible_before: i64,
    unmasked: bool,
    rows: Vec<Estate>,
) -> Result<Vec<EstateView>, ApiError> {
    let mut codes: Vec<String> = rows
        .iter()
        .flat_map(|e| [e.community_code.clone(), format!("{}000", &e.community_code[..9.min(e.community_code.len())])])
        .collect();
    codes.sort();
    codes.dedup();
    let names = db.region_names(&codes).await?;
    Ok(rows
        .into_iter()
        .map(|e| {
            let street = format!("{}000", &e.community_code[..9.min(e.community_code.len())]);
            EstateView {
                id: e.id,
                aliases: e.aliases.split('、').filter(|a| !a.is_empty()).map(str::to_string).collect(),
                community_name: names.get(&e.community_code).cloned().unwrap_or_default(),
                street_name: names.get(&street).cloned().unwrap_or_default(),
                outline: e.outline.as_deref().and_then(|o| serde_json::from_str(o).ok()),
                eligible: dom::is_eligible(e.build_year, eligible_before),
                floor_area_m2: e.floor_area as f64 / 100.0,
                phone: if unmasked { e.phone.clone() } else { dom::mask_phone(&e.phone) },
                code: e.code,
                name: e.name,
                address: e.address,
                community_code: e.community_code,
                lon: e.lon,
                lat: e.lat,
                build_year: e.build_year,
                building_count: e.building_count,
                households: e.households,
                ownership_type: e.ownership_type,
                management_status: e.management_status,
                has_owners_committee: e.has_owners_committee,
                person_in_charge: e.person_in_charge,
                status: e.status,
                updated_at: e.updated_at,
            }
        })
        .collect())
}

/// A page of estates with totals over every match.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EstatePage {
    pub items: Vec<EstateView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    #[schema(value_type = Object)]
    pub totals: EstateTotals,
}

/// Query parameters of the estate list (see the store's filter for meanings).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EstateQuery {
    pub region: Option<String>,
    pub build_year_from: Option<i64>,
    pub build_year_to: Option<i64>,
    pub eligible: Option<bool>,
    pub status: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl From<EstateQuery> for EstateFilter {
    fn from(q: EstateQuery) -> Self {
        EstateFilter {
            region: q.region,
            build_year_from: q.build_year_from,
            build_year_to: q.build_year_to,
            eligible: q.eligible,
            status: q.status,
            q: q.q,
            sort: q.sort,
            page: q.page,
            per_page: q.per_page,
        }
    }
}

/// Lists estates in the caller's scope, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/estates", tag = "estates", params(EstateQuery),
    responses((status = 200, body = EstatePage), (status = 422)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<EstateQuery>,
) -> Result<Json<EstatePage>, ApiError> {
    let f: EstateFilter = q.into();
    let (rows, totals) = st.db.list_estates(&cu.scope, &f, st.config.eligible_before_year, Some(&st.totals)).await?;
    Ok(Json(EstatePage {
        items: views(&st, &cu, rows).await?,
        total: totals.estates,
        page: f.page.unwrap_or(1).max(1),
        per_page: f.per_page.unwrap_or(20).clamp(1, 500),
        totals,
    }))
}

/// Counts by status and by build decade in the caller's scope.
#[utoipa::path(get, path = "/api/v1/estates/summary", tag = "estates", responses((status = 200)))]
pub async fn summary(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<serde_json::Value>, ApiError> {
    let (by_status, by_decade) = st.db.estate_breakdown(&cu.scope).await?;
    let (_, totals) = st
        .db
        .list_estates(
            &cu.scope,
            &EstateFilter { per_page: Some(1), ..Default::default() },
            st.config.eligible_before_year,
            Some(&st.totals),
        )
        .await?;
    Ok(Json(serde_json::json!({
        "totals": totals,
        "by_status": by_status.into_iter().map(|(s, n)| serde_json::json!({"status": s, "count": n})).collect::<Vec<_>>(),
        "by_decade": by_decade.into_iter().map(|(d, n)| serde_json::json!({"decade": d, "count": n})).collect::<Vec<_>>(),
    })))
}

/// One estate in the caller's scope.
#[utoipa::path(get, path = "/api/v1/estates/{id}", tag = "estates", params(("id" = i64, Path)),
    responses((status = 200, body = EstateView), (status = 404)))]
pub async fn get_one(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<EstateView>, ApiError> {
    let e = st.db.get_estate(&cu.scope, id).await?;
    let mut v = views(&st, &cu, vec![e]).await?;
    v.pop().map(Json).ok_or(ApiError::NotFound)
}

/// Registers an estate in the caller's region.
#[utoipa::path(post, path = "/api/v1/estates", tag = "estates", request_body(content = Object, description = "EstateInput"),
    responses((status = 201, body = EstateView), (status = 409), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(input): ApiJson<EstateInput>,
) -> Result<Response, ApiError> {
    let rec = input.validate(current_year())?;
    let e = st.db.create_estate(&cu.actor(), &cu.scope, &rec).await?;
    st.registry_changed();
    let mut v = views(&st, &cu, vec![e]).await?;
    Ok((axum::http::StatusCode::CREATED, Json(v.pop())).into_response())
}

/// Replaces an estate's registry fields.
#[utoipa::path(put, path = "/api/v1/estates/{id}", tag = "estates", params(("id" = i64, Path)),
    request_body(content = Object, description = "EstateInput"),
    responses((status = 200, body = EstateView), (status = 404), (status = 422)))]
pub async fn update(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<EstateInput>,
) -> Result<Json<EstateView>, ApiError> {
    let rec = input.validate(current_year())?;
    let e = st.db.update_estate(&cu.actor(), &cu.scope, id, &rec).await?;
    st.registry_changed();
    let mut v = views(&st, &cu, vec![e]).await?;
    v.pop().map(Json).ok_or(ApiError::NotFound)
}

/// The buildings of an estate.
#[utoipa::path(get, path = "/api/v1/estates/{id}/buildings", tag = "estates", params(("id" = i64, Path)),
    responses((status = 200), (status = 404)))]
pub async fn buildings(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Building>>, ApiError> {
    Ok(Json(st.db.list_buildings(&cu.scope, id).await?))
}

/// Adds a building to an estate.
#[utoipa::path(post, path = "/api/v1/estates/{id}/buildings", tag = "estates", params(("id" = i64, Path)),
    request_body(content = Object, description = "BuildingInput"),
    responses((status = 201), (status = 404), (status = 409), (status = 422)))]
pub async fn create_building(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<BuildingInput>,
) -> Result<Response, ApiError> {
    let rec = input.validate(current_year())?;
    let b = st.db.create_building(&cu.actor(), &cu.scope, id, &rec).await?;
    Ok((axum::http::StatusCode::CREATED, Json(b)).into_response())
}

/// Paging of dwellings.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DwellingQuery {
    pub building_id: Option<i64>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// A page of an estate's dwellings with owners (names shown; phones masked unless allowed).
#[utoipa::path(get, path = "/api/v1/estates/{id}/dwellings", tag = "estates", params(("id" = i64, Path), DwellingQuery),
    responses((status = 200), (status = 404)))]
pub async fn dwellings(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DwellingQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // Neighbours' names are not residents' business (PIPL); their own homes are at /residents/me.
    if cu.role == huanxin_domain::access::Role::Resident {
        return Err(ApiError::Forbidden(reason!("estates.residents_own_dwellings_only")));
    }
    let (mut rows, total) = st.db.list_dwellings(&cu.scope, id, q.building_id, q.page.unwrap_or(1), q.per_page.unwrap_or(50)).await?;
    for d in &mut rows {
        for o in &mut d.owners {
            o.phone = dom::mask_phone(&o.phone);
        }
    }
    let items: Vec<serde_json::Value> = rows.iter().map(dwelling_json).collect();
    Ok(Json(serde_json::json!({"items": items, "total": total})))
}

/// The estate's contact unmasked, for roles that may read personal data; the read is audited.
#[utoipa::path(post, path = "/api/v1/estates/{id}/reveal", tag = "estates", params(("id" = i64, Path)),
    responses((status = 200), (status = 403), (status = 404)))]
pub async fn reveal_contact(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let e = st.db.get_estate(&cu.scope, id).await?;
    let what = serde_json::json!({"field": "phone", "estate": e.code});
    st.db.audit_read(&cu.actor(), "estate", id.to_string(), e.community_code.clone(), what).await?;
    Ok(Json(serde_json::json!({"person_in_charge": e.person_in_charge, "phone": e.phone})))
}

/// The owners of one dwelling with phones unmasked; the read is audited.
#[utoipa::path(post, path = "/api/v1/estates/{id}/dwellings/{dwelling_id}/reveal", tag = "estates",
    params(("id" = i64, Path), ("dwelling_id" = i64, Path)), responses((status = 200), (status = 403), (status = 404)))]
pub async fn reveal_owners(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, dwelling_id)): ApiPath<(i64, i64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (e, reached) = st.db.reach_estate(&cu.scope, id).await?;
    let owners = st.db.dwelling_owners(reached, dwelling_id).await?;
    let what = serde_json::json!({"field": "owner_phones", "dwelling_id": dwelling_id});
    st.db.audit_read(&cu.actor(), "dwelling", dwelling_id.to_string(), e.community_code, what).await?;
    Ok(Json(serde_json::json!({"owners": owners})))
}

fn dwelling_json(d: &Dwelling) -> serde_json::Value {
    serde_json::json!({
        "id": d.id, "building_id": d.building_id, "building_number": d.building_number, "stairwell": d.stairwell,
        "floor": d.floor, "number": d.number, "exclusive_area_m2": d.exclusive_area as f64 / 100.0,
        "occupancy": d.occupancy, "residents_60_plus": d.residents_60_plus, "owners": d.owners,
    })
}

/// Columns of the estate import and export.
pub const ESTATE_COLUMNS: &[Column] = &[
    Column { key: "code", header: "小区编码", required: true, example: "HA-0001" },
    Column { key: "name", header: "小区名称", required: true, example: "螺城花园" },
    Column { key: "aliases", header: "别名", required: false, example: "老粮站宿舍" },
    Column { key: "address", header: "地址", required: false, example: "惠安县螺城镇建设路12号" },
    Column { key: "community_code", header: "社区代码", required: true, example: "350521100001" },
    Column { key: "lon", header: "经度", required: false, example: "118.7969" },
    Column { key: "lat", header: "纬度", required: false, example: "25.0306" },
    Column { key: "datum", header: "坐标系", required: false, example: "WGS84" },
    Column { key: "build_year", header: "建成年份", required: true, example: "1995" },
    Column { key: "building_count", header: "楼栋数", required: false, example: "6" },
    Column { key: "households", header: "户数", required: false, example: "180" },
    Column { key: "floor_area_m2", header: "建筑面积(㎡)", required: false, example: "15600.5" },
    Column { key: "ownership_type", header: "产权类型", required: false, example: "房改房" },
    Column { key: "management_status", header: "物业管理", required: false, example: "无物业" },
    Column { key: "has_owners_committee", header: "业委会", required: false, example: "否" },
    Column { key: "person_in_charge", header: "负责人", required: false, example: "陈明" },
    Column { key: "phone", header: "联系电话", required: false, example: "13905951234" },
];

/// Columns of the building import.
pub const BUILDING_COLUMNS: &[Column] = &[
    Column { key: "estate_code", header: "小区编码", required: true, example: "HA-0001" },
    Column { key: "number", header: "楼号", required: true, example: "1号楼" },
    Column { key: "floors", header: "层数", required: true, example: "6" },
    Column { key: "stairwells", header: "单元数", required: false, example: "2" },
    Column { key: "has_lift", header: "电梯", required: false, example: "否" },
    Column { key: "structure", header: "结构", required: false, example: "砖混" },
    Column { key: "build_year", header: "建成年份", required: false, example: "1995" },
];

/// Columns of the dwelling import. Several owners are separated by `、`.
pub const DWELLING_COLUMNS: &[Column] = &[
    Column { key: "estate_code", header: "小区编码", required: true, example: "HA-0001" },
    Column { key: "building_number", header: "楼号", required: true, example: "1号楼" },
    Column { key: "stairwell", header: "单元", required: false, example: "1" },
    Column { key: "floor", header: "楼层", required: true, example: "3" },
    Column { key: "number", header: "室号", required: true, example: "301" },
    Column { key: "exclusive_area_m2", header: "专有面积(㎡)", required: true, example: "65.5" },
    Column { key: "owners", header: "业主", required: false, example: "张伟、李娜" },
    Column { key: "owner_phones", header: "业主电话", required: false, example: "13800138000、" },
    Column { key: "owner_shares", header: "份额(%)", required: false, example: "50、50" },
    Column { key: "occupancy", header: "居住情况", required: false, example: "自住" },
    Column { key: "residents_60_plus", header: "60岁以上人数", required: false, example: "1" },
];

fn columns_of(kind: &str) -> Result<&'static [Column], ApiError> {
    match kind {
        "estates" => Ok(ESTATE_COLUMNS),
        "buildings" => Ok(BUILDING_COLUMNS),
        "dwellings" => Ok(DWELLING_COLUMNS),
        _ => Err(ApiError::field("kind", kind, reason!("estates.import_kind"))),
    }
}

const TEMPLATE_NAMES: [(&str, &str); 3] = [("estates", "小区"), ("buildings", "楼栋"), ("dwellings", "房屋")];

/// A download of `bytes` named `filename` (Chinese names kept, RFC 5987).
pub(crate) fn attachment(bytes: Vec<u8>, content_type: &str, filename: &str) -> Response {
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition(filename))], bytes).into_response()
}

/// `Content-Disposition` of a download: an ASCII fallback name and the real one percent-encoded.
pub(crate) fn disposition(filename: &str) -> String {
    let encoded: String = filename
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    format!("attachment; filename=\"export.{}\"; filename*=UTF-8''{encoded}", filename.rsplit('.').next().unwrap_or("bin"))
}

pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The import template as xlsx, with Chinese headers and an example row.
#[utoipa::path(get, path = "/api/v1/imports/{kind}/template.xlsx", tag = "imports", params(("kind" = String, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn template_xlsx(ApiPath(kind): ApiPath<String>) -> Result<Response, ApiError> {
    let cols = columns_of(&kind)?;
    let zh = TEMPLATE_NAMES.iter().find(|(k, _)| *k == kind).map(|(_, z)| *z).unwrap_or("导入");
    Ok(attachment(tabular::template_xlsx(zh, cols)?, XLSX, &format!("{zh}导入模板.xlsx")))
}

/// The import template as CSV (UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/imports/{kind}/template.csv", tag = "imports", params(("kind" = String, Path)),
    responses((status = 200, content_type = "text/csv")))]
pub async fn template_csv(ApiPath(kind): ApiPath<String>) -> Result<Response, ApiError> {
    let cols = columns_of(&kind)?;
    let zh = TEMPLATE_NAMES.iter().find(|(k, _)| *k == kind).map(|(_, z)| *z).unwrap_or("导入");
    Ok(attachment(tabular::template_csv(cols), "text/csv; charset=utf-8", &format!("{zh}导入模板.csv")))
}

/// Exports the filtered estate list (all pages, up to 300,000 rows) as xlsx.
#[utoipa::path(get, path = "/api/v1/estates/export.xlsx", tag = "estates", params(EstateQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<EstateQuery>,
) -> Result<Response, ApiError> {
    let f: EstateFilter = q.into();
    let unmasked = cu.role.allows(Permission::ReadPersonalData);
    // Contacts' full phone numbers leave the server in this file: the read is audited, as one
    // estate's reveal is (found by the new user's trial).
    if unmasked {
        let region = match &cu.scope {
            huanxin_domain::access::Scope::Region(r) => r.as_str().to_string(),
            huanxin_domain::access::Scope::Attached { .. } => String::new(),
        };
        let what = serde_json::json!({"field": "phone", "export": "estates", "filter": f.q.clone().unwrap_or_default()});
        st.db.audit_read(&cu.actor(), "estates", "export.xlsx".to_string(), region, what).await?;
    }
    let bytes = export_workbook(&st.db, &cu.scope, &f, st.config.eligible_before_year, unmasked).await?;
    Ok(attachment(bytes, XLSX, "小区清单.xlsx"))
}

/// The estate list as an xlsx workbook (all pages, up to 300,000 rows), as the export endpoint and CLI give it.
pub async fn export_workbook(
    db: &huanxin_store::Db,
    scope: &huanxin_domain::access::Scope,
    f: &EstateFilter,
    eligible_before: i64,
    unmasked: bool,
) -> Result<Vec<u8>, ApiError> {
    let rows = db.export_estates(scope, f, eligible_before, 300_000).await?;
    let views = estate_views(db, eligible_before, unmasked, rows).await?;
    let mut headers: Vec<&str> = ESTATE_COLUMNS.iter().filter(|c| c.key != "datum").map(|c| c.header).collect();
    headers.extend(["街道", "社区", "符合改造条件", "状态"]);
    let label = |list: &[(&str, &str)], code: &str| {
        list.iter().find(|(c, _)| *c == code).map(|(_, l)| l.to_string()).unwrap_or_else(|| code.to_string())
    };
    let table: Vec<Vec<String>> = views
        .iter()
        .map(|e| {
            vec![
                e.code.clone(),
                e.name.clone(),
                e.aliases.join("、"),
                e.address.clone(),
                e.community_code.clone(),
                e.lon.map(|v| format!("{v:.6}")).unwrap_or_default(),
                e.lat.map(|v| format!("{v:.6}")).unwrap_or_default(),
                e.build_year.to_string(),
                e.building_count.to_string(),
                e.households.to_string(),
                format!("{:.2}", e.floor_area_m2),
                label(&dom::OWNERSHIP_TYPES, &e.ownership_type),
                label(&dom::MANAGEMENT_STATUSES, &e.management_status),
                if e.has_owners_committee { "是" } else { "否" }.into(),
                e.person_in_charge.clone(),
                e.phone.clone(),
                e.street_name.clone(),
                e.community_name.clone(),
                if e.eligible { "是" } else { "否" }.into(),
                dom::EstateStatus::zh_of(&e.status),
            ]
        })
        .collect();
    tabular::write_xlsx("小区", &headers, &table)
}

/// Options of an import.
#[derive(Deserialize, utoipa::IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and report, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Datum of coordinates when the file has no 坐标系 column: wgs84 (default) or gcj02.
    pub datum: Option<String>,
    /// The sheet of an xlsx workbook to read; by default the first whose header has the import's columns.
    pub sheet: Option<String>,
}

/// The result of an import that was accepted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub blank_rows_skipped: usize,
    /// Title rows above the header and 合计 rows below the data, passed over.
    pub skipped_rows: Vec<tabular::SkippedRow>,
    /// The xlsx sheet read, when the workbook has more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    pub dry_run: bool,
    /// Every field the import changes (or, in a dry run, would change) on records already stored.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<huanxin_store::estates::FieldChange>,
    pub changes_unreported: usize,
}

fn yes(s: &str) -> Result<bool, huanxin_domain::Reason> {
    match s.trim().to_lowercase().as_str() {
        "" | "否" | "无" | "no" | "false" | "0" | "n" => Ok(false),
        "是" | "有" | "yes" | "true" | "1" | "y" => Ok(true),
        other => Err(reason!("estates.not_yes_or_no", value = other)),
    }
}

/// Reads a row's cells; a cell that cannot be read gets one message, not a second from the rules.
struct RowReader<'a> {
    cells: &'a [String],
    positions: &'a [Option<usize>],
    columns: &'a [Column],
    row: usize,
    errors: Vec<RowError>,
}

impl<'a> RowReader<'a> {
    fn text(&self, key: &str) -> String {
        self.columns
            .iter()
            .position(|c| c.key == key)
            .and_then(|i| self.positions[i])
            .and_then(|p| self.cells.get(p))
            .cloned()
            .unwrap_or_default()
    }

    fn header(&self, key: &str) -> String {
        self.columns.iter().find(|c| c.key == key).map(|c| c.header.to_string()).unwrap_or_else(|| key.to_string())
    }

    fn fail(&mut self, key: &str, value: &str, reason: huanxin_domain::Reason) {
        let column = self.header(key);
        self.errors.push(RowError::new(self.row, &column, value, reason));
    }

    /// A cell read by `parse`, or `None` when empty or unreadable (then noted).
    fn parsed<T>(&mut self, key: &str, parse: fn(&str) -> Result<T, huanxin_domain::Reason>) -> Option<T> {
        let t = self.text(key);
        if t.is_empty() {
            return None;
        }
        match parse(&t) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.fail(key, &t, reason);
                None
            }
        }
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        self.parsed(key, sheets::parse_whole)
    }

    fn year(&mut self, key: &str) -> Option<i64> {
        self.parsed(key, sheets::parse_year)
    }

    fn float(&mut self, key: &str) -> Option<f64> {
        self.parsed(key, sheets::parse_number)
    }

    fn boolean(&mut self, key: &str) -> bool {
        let t = self.text(key);
        yes(&t).unwrap_or_else(|e| {
            self.fail(key, &t, e);
            false
        })
    }

    fn absorb(&mut self, v: ValidationErrors) {
        for e in v.0 {
            let header = self.header(&e.field);
            // The cell already has its message (say, "is not a year"); "is required" would repeat it.
            if self.errors.iter().any(|known| known.column == header) {
                continue;
            }
            self.errors.push(RowError::from_field(self.row, header, e));
        }
    }
}

fn estate_from_row(r: &mut RowReader, default_datum: Datum) -> EstateInput {
    let datum = match r.text("datum").to_lowercase().replace(['-', ' '], "").as_str() {
        "" => default_datum,
        "wgs84" | "cgcs2000" | "gps" => Datum::Wgs84,
        "gcj02" | "高德" | "腾讯" | "火星" => Datum::Gcj02,
        other => {
            let other = other.to_string();
            r.fail("datum", &other, reason!("estates.datum"));
            default_datum
        }
    };
    EstateInput {
        code: r.text("code"),
        name: r.text("name"),
        aliases: r.text("aliases").split(['、', ',', '，', ';']).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        address: r.text("address"),
        community_code: r.text("community_code"),
        lon: r.float("lon"),
        lat: r.float("lat"),
        datum,
        outline: None,
        build_year: r.year("build_year"),
        building_count: r.int("building_count"),
        households: r.int("households"),
        floor_area_m2: r.float("floor_area_m2"),
        ownership_type: r.text("ownership_type"),
        management_status: r.text("management_status"),
        has_owners_committee: r.boolean("has_owners_committee"),
        person_in_charge: r.text("person_in_charge"),
        phone: r.text("phone"),
    }
}

/// GeoJSON features read as estates, and the column keys any feature's properties hold.
type GeoJsonRows = (Vec<(usize, EstateInput, Vec<RowError>)>, Vec<&'static str>);

/// Reads GeoJSON features (UTF-8, with or without a byte-order mark) as estate rows: properties by
/// the same headers or keys, geometry as the point (Point) or the outline (Polygon or
/// MultiPolygon, whose first outer ring's vertex average becomes the point). Coordinates written
/// as text are refused, not imported as an estate without a location.
fn geojson_estates(bytes: &[u8], datum: Datum) -> Result<GeoJsonRows, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::field("file", "", reason!("estates.not_valid_geojson", e = e)))?;
    let features = v
        .get("features")
        .and_then(|f| f.as_array())
        .ok_or_else(|| ApiError::field("file", "", reason!("estates.geojson_not_collection")))?;
    let mut out = Vec::new();
    let mut keys: Vec<&'static str> = Vec::new();
    let column_keys: Vec<String> = ESTATE_COLUMNS.iter().map(|c| sheets::header_key(c.header)).collect();
    for (i, f) in features.iter().enumerate() {
        let props = f.get("properties").and_then(|p| p.as_object()).cloned().unwrap_or_default();
        // As many properties as a sheet may have columns: a feature with 300,000 is refused, not matched name by name.
        if props.len() > tabular::MAX_COLUMNS {
            let reason = format!("has {} properties (at most {})", props.len(), tabular::MAX_COLUMNS);
            return Err(ApiError::field(
                "file",
                format!("feature {}", i + 1),
                reason!("estates.feature_too_large", value = i + 1, reason = reason),
            ));
        }
        // Each property name in its comparable form, once.
        let named: Vec<(String, &serde_json::Value)> = props.iter().map(|(k, v)| (sheets::header_key(k), v)).collect();
        for (c, ck) in ESTATE_COLUMNS.iter().zip(&column_keys) {
            if !keys.contains(&c.key) && (props.contains_key(c.key) || named.iter().any(|(k, _)| k == ck)) {
                keys.push(c.key);
            }
        }
        let cells: Vec<String> = ESTATE_COLUMNS
            .iter()
            .zip(&column_keys)
            .map(|(c, ck)| {
                props
                    .get(c.key)
                    .or_else(|| named.iter().find(|(k, _)| k == ck).map(|(_, v)| *v))
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            })
            .collect();
        let positions: Vec<Option<usize>> = (0..ESTATE_COLUMNS.len()).map(Some).collect();
        let mut r = RowReader { cells: &cells, positions: &positions, columns: ESTATE_COLUMNS, row: i + 1, errors: vec![] };
        // A NUL can be neither stored nor shown (as in a sheet's cell): the property is named.
        for (c, cell) in ESTATE_COLUMNS.iter().zip(&cells) {
            if cell.contains('\0') {
                r.fail(c.key, &cell.replace('\0', "\u{FFFD}"), reason!("request.control_characters"));
            }
        }
        let mut input = estate_from_row(&mut r, datum);
        let geom = f.get("geometry").cloned().unwrap_or(serde_json::Value::Null);
        let kind = geom.get("type").and_then(|t| t.as_str());
        if matches!(kind, Some("Point" | "Polygon" | "MultiPolygon")) && !numbers_only(geom.get("coordinates")) {
            r.fail("lon", &compact(geom.get("coordinates")), reason!("estates.coordinates_text"));
        }
        match kind {
            Some("Point") => {
                let c = geom.get("coordinates");
                input.lon = c.and_then(|c| c.get(0)).and_then(|x| x.as_f64());
                input.lat = c.and_then(|c| c.get(1)).and_then(|x| x.as_f64());
            }
            Some(shape @ ("Polygon" | "MultiPolygon")) => {
                let outer = if shape == "Polygon" { "/coordinates/0" } else { "/coordinates/0/0" };
                let ring: Vec<(f64, f64)> = geom
                    .pointer(outer)
                    .and_then(|r| r.as_array())
                    .map(|pts| pts.iter().filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?))).collect())
                    .unwrap_or_default();
                if !ring.is_empty() && input.lon.is_none() {
                    let n = ring.len().saturating_sub(1).max(1) as f64;
                    input.lon = Some(ring.iter().take(n as usize).map(|p| p.0).sum::<f64>() / n);
                    input.lat = Some(ring.iter().take(n as usize).map(|p| p.1).sum::<f64>() / n);
                }
                input.outline = Some(if input.datum == Datum::Gcj02 { to_wgs84_polygon(&geom) } else { geom.clone() });
            }
            None if geom.is_null() => {}
            other => r.fail("lon", other.unwrap_or("?"), reason!("estates.geometry_kind")),
        }
        let errors = std::mem::take(&mut r.errors);
        out.push((i + 1, input, errors));
    }
    Ok((out, keys))
}

/// True when every leaf of GeoJSON coordinates is a number (text such as "118.79" is not).
fn numbers_only(v: Option<&serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Number(_)) => true,
        Some(serde_json::Value::Array(items)) => items.iter().all(|i| numbers_only(Some(i))),
        _ => false,
    }
}

/// A short text of a JSON value, for a message.
fn compact(v: Option<&serde_json::Value>) -> String {
    v.map(|v| v.to_string().chars().take(60).collect()).unwrap_or_default()
}

fn to_wgs84_polygon(geom: &serde_json::Value) -> serde_json::Value {
    /// Converts every position ([lon, lat]) however deep the rings nest (Polygon, MultiPolygon).
    fn convert(v: &mut serde_json::Value) {
        let Some(items) = v.as_array_mut() else { return };
        if let (Some(lon), Some(lat)) = (items.first().and_then(|x| x.as_f64()), items.get(1).and_then(|x| x.as_f64())) {
            let (a, b) = huanxin_domain::geo::gcj02_to_wgs84(lon, lat);
            *v = serde_json::json!([a, b]);
        } else {
            items.iter_mut().for_each(convert);
        }
    }
    let mut g = geom.clone();
    if let Some(c) = g.get_mut("coordinates") {
        convert(c);
    }
    g
}

fn split_list(s: &str) -> Vec<String> {
    s.split(['、', ',', '，', ';', '；']).map(|x| x.trim().to_string()).collect()
}

/// Imports estates, buildings or dwellings from an uploaded xlsx, csv or (estates) GeoJSON file.
/// All rows are checked first; if any is wrong, nothing is written and every problem is listed.
#[utoipa::path(post, path = "/api/v1/imports/{kind}", tag = "imports", params(("kind" = String, Path), ImportQuery),
    request_body(content_type = "multipart/form-data", description = "field `file`: the xlsx, csv or GeoJSON file"),
    responses((status = 200, body = ImportResult), (status = 413), (status = 422, description = "rows: the row-level report")))]
pub async fn import(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    crate::error::ApiMultipart(mut multipart): crate::error::ApiMultipart,
) -> Result<Json<ImportResult>, ApiError> {
    columns_of(&kind)?;
    // Several `file` fields import together, as one, as `huanxin import` does with several files.
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| multipart_error(&e))? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_string();
            let bytes = field.bytes().await.map_err(|e| multipart_error(&e))?;
            files.push(ImportFile::Bytes(name, bytes.to_vec()));
        }
    }
    if files.is_empty() {
        return Err(ApiError::field("file", "", reason!("field.file_missing")));
    }
    let result = import_files(&st.db, &cu.actor(), &cu.scope, &kind, files, &q).await?;
    if !result.dry_run {
        st.registry_changed();
    }
    Ok(Json(result))
}

/// A file to import: in memory (an upload), or on disk, read only when its turn comes.
pub enum ImportFile {
    Bytes(String, Vec<u8>),
    Path(std::path::PathBuf),
}

impl ImportFile {
    fn name(&self) -> String {
        match self {
            ImportFile::Bytes(name, _) => name.clone(),
            ImportFile::Path(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    fn load(self) -> Result<(String, Vec<u8>), ApiError> {
        let name = self.name();
        match self {
            ImportFile::Bytes(_, bytes) => Ok((name, bytes)),
            ImportFile::Path(p) => std::fs::read(&p)
                .map(|b| (name, b))
                .map_err(|e| ApiError::field("file", p.display(), reason!("import.file_unreadable", detail = e))),
        }
    }

    /// About how many rows: lines of a CSV (enough to choose between row-by-row and bulk loading).
    fn expected_rows(&self) -> Result<usize, ApiError> {
        let count = |b: &[u8]| b.iter().filter(|c| **c == b'\n').count();
        match self {
            ImportFile::Bytes(_, bytes) => Ok(count(bytes)),
            // Counted in blocks, so a file is held in memory only once, when its turn comes.
            ImportFile::Path(p) => {
                use std::io::Read;
                let fail = |e: std::io::Error| ApiError::field("file", p.display(), reason!("import.file_unreadable", detail = e));
                let mut file = std::fs::File::open(p).map_err(fail)?;
                let (mut block, mut lines) = (vec![0u8; 1 << 16], 0);
                loop {
                    let n = file.read(&mut block).map_err(fail)?;
                    if n == 0 {
                        return Ok(lines);
                    }
                    lines += count(&block[..n]);
                }
            }
        }
    }
}

/// Imports the rows of one or more files of one kind (the files of a county's dwellings, say) as
/// one import: a reader thread turns each file into checked records chunk by chunk while the store
/// writes the chunk before, all in one transaction that rolls back if any row of any file is wrong.
/// With several files, each problem names its file, and indexes and keys dropped for a bulk load
/// are rebuilt once at the end instead of after every file.
pub async fn import_files(
    db: &huanxin_store::Db,
    actor: &huanxin_store::audit::Actor,
    scope: &huanxin_domain::access::Scope,
    kind: &str,
    files: Vec<ImportFile>,
    options: &ImportQuery,
) -> Result<ImportResult, ApiError> {
    let (datum, dry_run) = (options.datum.as_deref(), options.dry_run);
    let columns = columns_of(kind)?;
    let import_kind = match kind {
        "estates" => ImportKind::Estates,
        "buildings" => ImportKind::Buildings,
        _ => ImportKind::Dwellings,
    };
    let datum = match datum.map(str::to_lowercase).as_deref() {
        None | Some("") | Some("wgs84") | Some("cgcs2000") => Datum::Wgs84,
        Some("gcj02") => Datum::Gcj02,
        Some(other) => return Err(ApiError::field("datum", other, reason!("estates.datum_short"))),
    };
    let several = files.len() > 1;
    let expected_rows = files.iter().map(ImportFile::expected_rows).sum::<Result<usize, ApiError>>()?;
    let source_name = files.iter().map(ImportFile::name).collect::<Vec<_>>().join(", ");
    let mut import = db.begin_import(actor, scope, &source_name, import_kind, dry_run, expected_rows).await?;
    let (mut blank, mut skipped, mut sheet_read) = (0, Vec::new(), None);
    for file in files {
        let (name, bytes) = file.load()?;
        if several {
            import.next_file(&name);
        }
        // Reading a workbook is CPU work: off the async workers.
        let (file_name, sheet) = (name.clone(), options.sheet.clone());
        let read = tokio::task::spawn_blocking(move || row_source(&file_name, bytes, import_kind, columns, datum, sheet.as_deref()))
            .await
            .map_err(|e| {
                // A crafted file can make the xlsx library panic (an overflowing cell reference): the
                // file is refused, the server goes on.
                if e.is_panic() {
                    ApiError::field("file", &name, reason!("estates.file_damaged"))
                } else {
                    ApiError::Internal(format!("file reader stopped: {e}"))
                }
            })?;
        let (source, read_before) = match read {
            Err(ApiError::ImportRejected(rows)) => {
                let named = rows.into_iter().map(|r| RowError { file: if several { name.clone() } else { r.file.clone() }, ..r }).collect();
                return Err(ApiError::ImportRejected(named));
            }
            other => other?,
        };
        import.only_columns(source.stored_columns(columns));
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<ReadChunk>(2);
        let year = current_year();
        let reader = tokio::task::spawn_blocking(move || read_chunks(import_kind, source, columns, datum, year, &sender));
        while let Some(chunk) = receiver.recv().await {
            import.reject(chunk.errors);
            match &chunk.records {
                Records::Estates(r) => import.add_estates(r).await?,
                Records::Buildings(r) => import.add_buildings(r).await?,
                Records::Dwellings(r) => import.add_dwellings(r).await?,
            }
        }
        let read_after = reader.await.map_err(|e| ApiError::Internal(format!("file reader stopped: {e}")))??;
        for part in [read_before, read_after] {
            blank += part.blank_rows_skipped;
            skipped.extend(
                part.skipped.into_iter().map(|r| tabular::SkippedRow { file: if several { name.clone() } else { r.file.clone() }, ..r }),
            );
            sheet_read = sheet_read.or(part.sheet);
        }
    }
    if import.rows() == 0 && !import.has_errors() {
        return Err(ApiError::field("file", "", reason!("estates.file_has_no_data_rows")));
    }
    let rows = import.rows();
    let summary = import.finish().await.map_err(|rows| with_headers(rows, columns))?;
    Ok(ImportResult {
        rows: if dry_run { rows } else { summary.created + summary.updated },
        created: summary.created,
        updated: summary.updated,
        blank_rows_skipped: blank,
        skipped_rows: skipped,
        sheet: sheet_read,
        dry_run,
        changes: summary.changes,
        changes_unreported: summary.changes_unreported,
    })
}

/// How one file's rows will be read (CSV as it goes, an xlsx sheet, or GeoJSON features), and the
/// blank rows an xlsx sheet skipped.
fn row_source(
    name: &str,
    bytes: Vec<u8>,
    import_kind: ImportKind,
    columns: &'static [Column],
    datum: Datum,
    sheet: Option<&str>,
) -> Result<(RowSource, RowsPassedOver), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::field("file", name, reason!("field.file_empty")));
    }
    let lower = name.to_lowercase();
    let text_start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes).trim_ascii_start();
    let is_geojson = lower.ends_with(".geojson") || lower.ends_with(".json") || text_start.first() == Some(&b'{');
    if is_geojson && import_kind != ImportKind::Estates {
        return Err(ApiError::field("file", name, reason!("estates.geojson_estates_only")));
    }
    if is_geojson {
        let (features, keys) = geojson_estates(&bytes, datum)?;
        Ok((RowSource::GeoJson(features, keys), RowsPassedOver::default()))
    } else if tabular::is_zip(&bytes) || tabular::is_xls(&bytes) {
        let table =
            if tabular::is_zip(&bytes) { tabular::read_xlsx(&bytes, columns, sheet)? } else { tabular::read_xls(&bytes, columns, sheet)? };
        let positions = table.column_positions(columns).map_err(ApiError::ImportRejected)?;
        let passed = RowsPassedOver { blank_rows_skipped: table.blank_rows_skipped, skipped: table.skipped, sheet: Some(table.sheet) };
        Ok((RowSource::Cells(table.rows, positions), passed))
    } else {
        let (headers, rows) = tabular::CsvRows::open(bytes, columns)?;
        let positions = tabular::column_positions(&headers, columns).map_err(ApiError::ImportRejected)?;
        Ok((RowSource::Csv(Box::new(rows), positions), RowsPassedOver::default()))
    }
}

/// Rows a reader passed over: blank ones, titles and 合计 rows, and the sheet it read.
#[derive(Default)]
struct RowsPassedOver {
    blank_rows_skipped: usize,
    skipped: Vec<tabular::SkippedRow>,
    sheet: Option<String>,
}

/// Where an import's rows come from: CSV read as it goes, an xlsx sheet's rows, or GeoJSON features.
enum RowSource {
    Csv(Box<tabular::CsvRows>, Vec<Option<usize>>),
    Cells(Vec<(usize, Vec<String>)>, Vec<Option<usize>>),
    /// The features, and the column keys any feature's properties hold.
    GeoJson(Vec<(usize, EstateInput, Vec<RowError>)>, Vec<&'static str>),
}

impl RowSource {
    /// The stored columns the file has: what a re-import may change. A column the file leaves
    /// out (a property no feature of a GeoJSON file has) keeps its stored value.
    fn stored_columns(&self, columns: &[Column]) -> Option<Vec<String>> {
        let geojson_positions: Vec<Option<usize>>;
        let positions = match self {
            RowSource::Csv(_, p) | RowSource::Cells(_, p) => p,
            RowSource::GeoJson(_, keys) => {
                // Coordinates come from the geometry, which every feature has or lacks on purpose.
                geojson_positions =
                    columns.iter().map(|c| (keys.contains(&c.key) || ["lon", "lat", "datum"].contains(&c.key)).then_some(0)).collect();
                &geojson_positions
            }
        };
        fn stored(key: &str) -> &str {
            match key {
                "floor_area_m2" => "floor_area",
                "exclusive_area_m2" => "exclusive_area",
                "owners" | "owner_shares" => "owners",
                other => other,
            }
        }
        Some(columns.iter().zip(positions).filter(|(_, p)| p.is_some()).map(|(c, _)| stored(c.key).to_string()).collect())
    }
}

/// Records that passed the row checks, by kind.
enum Records {
    Estates(Vec<(usize, EstateRecord)>),
    Buildings(Vec<(usize, String, BuildingRecord)>),
    Dwellings(Vec<(usize, String, String, DwellingRecord)>),
}

/// A chunk of a file as read: its good records and the problems of its other rows.
struct ReadChunk {
    records: Records,
    errors: Vec<RowError>,
}

impl ReadChunk {
    fn new(kind: ImportKind) -> Self {
        let records = match kind {
            ImportKind::Estates => Records::Estates(Vec::with_capacity(IMPORT_CHUNK)),
            ImportKind::Buildings => Records::Buildings(Vec::with_capacity(IMPORT_CHUNK)),
            ImportKind::Dwellings => Records::Dwellings(Vec::with_capacity(IMPORT_CHUNK)),
        };
        ReadChunk { records, errors: Vec::new() }
    }

    fn len(&self) -> usize {
        self.errors.len()
            + match &self.records {
                Records::Estates(r) => r.len(),
                Records::Buildings(r) => r.len(),
                Records::Dwellings(r) => r.len(),
            }
    }

    /// Reads one row's cells as a record of this chunk's kind, or notes its problems.
    fn push_cells(&mut self, mut r: RowReader, datum: Datum, year: i64) {
        let row = r.row;
        // A NUL can be neither stored (PostgreSQL refuses it in text) nor shown: the cell is named.
        let with_nul: Vec<&'static str> = r
            .columns
            .iter()
            .zip(r.positions)
            .filter(|(_, p)| p.and_then(|p| r.cells.get(p)).is_some_and(|cell| cell.contains('\0')))
            .map(|(c, _)| c.key)
            .collect();
        if !with_nul.is_empty() {
            for key in with_nul {
                let shown = r.text(key).replace('\0', "\u{FFFD}");
                r.fail(key, &shown, reason!("request.control_characters"));
            }
            self.errors.extend(r.errors);
            return;
        }
        let result = match &mut self.records {
            Records::Estates(_) => {
                let input = estate_from_row(&mut r, datum);
                return self.push_estate(input, r, year);
            }
            Records::Buildings(out) => building_from_row(r, year).map(|(code, rec)| out.push((row, code, rec))),
            Records::Dwellings(out) => dwelling_from_row(r).map(|(code, bnum, rec)| out.push((row, code, bnum, rec))),
        };
        if let Err(errors) = result {
            self.errors.extend(errors);
        }
    }

    /// Checks an estate read from a row or a GeoJSON feature.
    fn push_estate(&mut self, input: EstateInput, r: RowReader, year: i64) {
        let row = r.row;
        match (&mut self.records, checked_record(input.validate(year), r)) {
            (Records::Estates(out), Ok(rec)) => out.push((row, rec)),
            (_, Err(errors)) => self.errors.extend(errors),
            // Only estate chunks are given estates.
            (_, Ok(_)) => {}
        }
    }
}

/// The reader thread: reads the rows, checks each and hands them over in chunks. Returns the
/// rows passed over as it read, or the error that made the file unreadable.
fn read_chunks(
    kind: ImportKind,
    source: RowSource,
    columns: &'static [Column],
    datum: Datum,
    year: i64,
    out: &tokio::sync::mpsc::Sender<ReadChunk>,
) -> Result<RowsPassedOver, ApiError> {
    let mut sink = ChunkSink { kind, chunk: ReadChunk::new(kind), out };
    match source {
        RowSource::GeoJson(rows, _) => {
            let positions = vec![None; columns.len()];
            for (row, input, errors) in rows {
                let r = RowReader { cells: &[], positions: &positions, columns, row, errors };
                sink.chunk.push_estate(input, r, year);
                if !sink.hand_over(false) {
                    return Ok(RowsPassedOver::default());
                }
            }
            sink.hand_over(true);
            Ok(RowsPassedOver::default())
        }
        RowSource::Csv(mut rows, positions) => {
            read_cells(&mut sink, rows.by_ref(), &positions, columns, datum, year)?;
            Ok(RowsPassedOver { blank_rows_skipped: rows.blank_rows_skipped, skipped: rows.skipped, sheet: None })
        }
        RowSource::Cells(rows, positions) => {
            read_cells(&mut sink, rows.into_iter().map(Ok), &positions, columns, datum, year)?;
            Ok(RowsPassedOver::default())
        }
    }
}

/// Rows of cells into chunks.
fn read_cells(
    sink: &mut ChunkSink,
    rows: impl Iterator<Item = Result<(usize, Vec<String>), ApiError>>,
    positions: &[Option<usize>],
    columns: &'static [Column],
    datum: Datum,
    year: i64,
) -> Result<(), ApiError> {
    for item in rows {
        let (row, cells) = item?;
        let r = RowReader { cells: &cells, positions, columns, row, errors: vec![] };
        sink.chunk.push_cells(r, datum, year);
        if !sink.hand_over(false) {
            return Ok(());
        }
    }
    sink.hand_over(true);
    Ok(())
}

/// The chunk being filled and where full ones go.
struct ChunkSink<'a> {
    kind: ImportKind,
    chunk: ReadChunk,
    out: &'a tokio::sync::mpsc::Sender<ReadChunk>,
}

impl ChunkSink<'_> {
    /// Hands the chunk over when full, or at the end when not empty; false when the importer has stopped.
    fn hand_over(&mut self, at_end: bool) -> bool {
        let n = self.chunk.len();
        if n < IMPORT_CHUNK && !(at_end && n > 0) {
            return true;
        }
        self.out.blocking_send(std::mem::replace(&mut self.chunk, ReadChunk::new(self.kind))).is_ok()
    }
}

/// A validated record, or the row's problems (those found reading the cells and by the rules).
fn checked_record<T>(validated: Result<T, ValidationErrors>, mut r: RowReader) -> Result<T, Vec<RowError>> {
    match validated {
        Ok(rec) if r.errors.is_empty() => Ok(rec),
        Ok(_) => Err(r.errors),
        Err(v) => {
            r.absorb(v);
            Err(r.errors)
        }
    }
}

fn building_from_row(mut r: RowReader, year: i64) -> Result<(String, BuildingRecord), Vec<RowError>> {
    let input = BuildingInput {
        estate_code: r.text("estate_code"),
        number: r.text("number"),
        floors: r.int("floors"),
        stairwells: r.int("stairwells"),
        has_lift: r.boolean("has_lift"),
        structure: r.text("structure"),
        build_year: r.year("build_year"),
    };
    let code = input.estate_code.trim().to_string();
    checked_record(input.validate(year), r).map(|rec| (code, rec))
}

fn dwelling_from_row(mut r: RowReader) -> Result<(String, String, DwellingRecord), Vec<RowError>> {
    let names = split_list(&r.text("owners"));
    let phones = split_list(&r.text("owner_phones"));
    let shares_text = r.text("owner_shares");
    let shares: Vec<Option<i64>> = if shares_text.trim().is_empty() {
        vec![None; names.len()]
    } else {
        split_list(&shares_text)
            .iter()
            .map(|s| huanxin_domain::units::Area::parse_m2(s.trim_end_matches('%')).ok().map(|a| a.hundredths()))
            .collect()
    };
    if !shares_text.trim().is_empty() && (shares.len() != names.len() || shares.iter().any(Option::is_none)) {
        r.fail("owner_shares", &shares_text, reason!("estates.shares_per_owner"));
    }
    let owners = names
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty())
        .map(|(i, n)| OwnerInput {
            name: n.clone(),
            phone: phones.get(i).cloned().unwrap_or_default(),
            share_bp: shares.get(i).copied().flatten(),
        })
        .collect();
    let input = DwellingInput {
        estate_code: r.text("estate_code"),
        building_number: r.text("building_number"),
        stairwell: r.int("stairwell"),
        floor: r.int("floor"),
        number: r.text("number"),
        exclusive_area_m2: r.float("exclusive_area_m2"),
        owners,
        occupancy: r.text("occupancy"),
        residents_60_plus: r.int("residents_60_plus"),
    };
    let (code, bnum) = (input.estate_code.trim().to_string(), input.building_number.trim().to_string());
    // Shares are checked in basis points under `owners`; the sheet has them in a column of their
    // own, in percent, so the problem is named there with what the cell says.
    let validated = input.validate().map_err(|mut v| {
        for e in v.0.iter_mut().filter(|e| e.field == "owners" && e.code.starts_with("estates.shares_")) {
            e.field = "owner_shares".into();
            e.value = shares_text.trim().to_string();
        }
        v
    });
    checked_record(validated, r).map(|rec| (code, bnum, rec))
}

/// The store's row errors, with column keys replaced by the file's headers.
fn with_headers(rows: Vec<RowError>, columns: &[Column]) -> ApiError {
    ApiError::ImportRejected(
        rows.into_iter()
            .map(|mut r| {
                if let Some(c) = columns.iter().find(|c| c.key == r.column) {
                    r.column = c.header.to_string();
                }
                r
            })
            .collect(),
    )
}

pub(crate) fn multipart_error(e: &axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(reason!("estates.file_too_large"))
    } else {
        ApiError::BadRequest(reason!("estates.upload_unreadable", body_text = e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON values of any shape, a few levels deep.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(serde_json::Value::Number).unwrap_or_default()),
            "[A-Za-z0-9 .,年㎡-]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map("[a-z]{1,10}|type|coordinates|小区编码|建成年份", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("HUANXIN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// GeoJSON of any shape: features, geometries and properties at random; read or refused,
        /// never a panic.
        #[test]
        fn fuzz_geojson(geometry in json_value(), properties in json_value(), kind in prop::sample::select(vec!["Point", "Polygon", "MultiPolygon", "LineString", ""])) {
            let mut geometry = geometry;
            if let Some(g) = geometry.as_object_mut() {
                g.insert("type".into(), kind.into());
            }
            let doc = serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry, "properties": properties}]});
            let bytes = serde_json::to_vec(&doc).unwrap();
            for datum in [Datum::Wgs84, Datum::Gcj02] {
                if let Ok((rows, _)) = geojson_estates(&bytes, datum) {
                    for (_, input, _) in rows {
                        let _ = input.validate(2026);
                    }
                }
            }
        }
    }
}
