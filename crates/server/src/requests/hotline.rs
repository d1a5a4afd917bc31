//! HTTP routes of the 12345 hotline import: the hotline's xlsx (or csv) export in, each work order
//! once; rows are checked first and the file refused whole, by row and column, when any is wrong;
//! work orders whose address names no single estate wait for a clerk.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::tabular::{self, Column};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::reason;
use huanxin_domain::requests::{self as rules, hotline};
use huanxin_store::estates::RowError;
use huanxin_store::requests::hotline::{HotlineReport, HotlineRow, UnmatchedOrder};
use huanxin_store::requests::ServiceRequest;
use serde::Deserialize;

const fn col(key: &'static str, header: &'static str, required: bool, example: &'static str) -> Column {
    Column { key, header, required, example }
}

/// The columns of a hotline export this reads, and the others such exports carry, read and left.
pub const COLUMNS: &[Column] = &[
    col("work_order", "工单编号", true, "GD20261102000123"),
    col("called_at", "来电时间", true, "2026-11-02 08:15"),
    col("caller", "来电人", false, "王女士"),
    col("phone", "电话", false, "13800000000"),
    col("phone_alt", "联系电话", false, ""),
    col("address", "地址", true, "惠安县螺城镇北关小区3号楼"),
    col("text", "诉求内容", true, "3号楼楼道灯坏了一个月没人修"),
    col("kind", "诉求类型", false, "城乡建设"),
    col("title", "标题", false, ""),
    col("state", "工单状态", false, ""),
    col("source", "诉求来源", false, ""),
    col("urgency", "紧急程度", false, ""),
    col("area", "所属区域", false, ""),
    col("unit", "承办单位", false, ""),
    col("dispatched_at", "派单时间", false, ""),
    col("limit", "办理时限", false, ""),
    col("finished_at", "办结时间", false, ""),
    col("reply", "回复内容", false, ""),
    col("satisfaction", "满意度", false, ""),
];

fn read(name: &str, bytes: &[u8]) -> Result<tabular::Table, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::field("file", name, reason!("field.file_empty")));
    }
    let table = if tabular::is_zip(bytes) {
        tabular::read_xlsx(bytes, COLUMNS, None)?
    } else if tabular::is_xls(bytes) {
        tabular::read_xls(bytes, COLUMNS, None)?
    } else {
        tabular::read_csv(bytes, COLUMNS)?
    };
    Ok(table)
}

/// Checks every row; the rows read, or every problem by row and column.
pub fn check(table: &tabular::Table) -> Result<Vec<(usize, [String; 7])>, Vec<RowError>> {
    let positions = table.column_positions(COLUMNS)?;
    let at = |cells: &Vec<String>, key: &str| {
        COLUMNS
            .iter()
            .position(|c| c.key == key)
            .and_then(|k| positions[k])
            .and_then(|p| cells.get(p))
            .map_or(String::new(), |v| v.trim().to_string())
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut first_row: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let earliest = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let latest = huanxin_store::today() + chrono::Duration::days(1);
    for (row, cells) in &table.rows {
        let order = at(cells, "work_order");
        let called = at(cells, "called_at");
        let address = at(cells, "address");
        let text = at(cells, "text");
        let phone = Some(at(cells, "phone")).filter(|p| !p.is_empty()).unwrap_or_else(|| at(cells, "phone_alt"));
        let before = errors.len();
        if order.is_empty() || order.chars().count() > 64 {
            errors.push(RowError::new(*row, "工单编号", &order, reason!("field.length", max = 64)));
        } else if let Some(first) = first_row.insert(order.clone(), *row) {
            errors.push(RowError::new(*row, "工单编号", &order, reason!("requests.work_order_repeated", row = first)));
        }
        match hotline::call_time(&called) {
            None => errors.push(RowError::new(*row, "来电时间", &called, reason!("requests.call_time"))),
            // A call from before the hotline or from the future is a typo, never overdue or due forever.
            Some(t) if t.date() < earliest || t.date() > latest => {
                errors.push(RowError::new(*row, "来电时间", &called, reason!("requests.call_time_range")))
            }
            Some(_) => {}
        }
        if address.is_empty() || address.chars().count() > 200 {
            errors.push(RowError::new(*row, "地址", &address, reason!("field.length", max = 200)));
        }
        if text.is_empty() || text.chars().count() > 2_000 {
            errors.push(RowError::new(*row, "诉求内容", &text, reason!("field.length", max = 2000)));
        }
        if phone.chars().count() > 40 {
            errors.push(RowError::new(*row, "电话", &phone, reason!("field.at_most_chars", max = 40)));
        }
        if errors.len() == before {
            let caller: String = at(cells, "caller").chars().take(64).collect();
            let kind: String = at(cells, "kind").chars().take(64).collect();
            out.push((*row, [order, called, caller, phone, address, text, kind]));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Imports a 12345 hotline export (field `file`: xlsx, xls or csv) into the caller's region: each
/// work order once; those whose address names one estate filed and routed, the others kept for a
/// clerk. A wrong row refuses the whole file, every problem named by row and column.
#[utoipa::path(post, path = "/api/v1/requests/hotline", tag = "requests",
    request_body(content_type = "multipart/form-data", description = "field `file`: the hotline's export"),
    responses((status = 200, description = "rows, filed, unmatched, already_imported"), (status = 413), (status = 422, description = "rows: the row-level report")))]
pub async fn import(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiMultipart(mut multipart): crate::error::ApiMultipart,
) -> Result<Json<HotlineReport>, ApiError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| crate::estates::multipart_error(&e))? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_string();
            let bytes = field.bytes().await.map_err(|e| crate::estates::multipart_error(&e))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let (name, bytes) = file.ok_or_else(|| ApiError::field("file", "", reason!("field.file_missing")))?;
    let layer = st.classifier.layer(&st, super::county_of(&cu.user.region_code).as_deref()).await?;
    let tree = super::caller_tree(&st, &cu).await?;
    // Reading, checking and classifying ten thousand rows is CPU work: off the async workers.
    let rows = tokio::task::spawn_blocking(move || -> Result<Vec<HotlineRow>, ApiError> {
        let table = read(&name, &bytes)?;
        let checked = check(&table).map_err(ApiError::ImportRejected)?;
        Ok(checked
            .into_iter()
            .filter_map(|(row, [work_order, called, caller, phone, address, text, kind])| {
                let called_at = hotline::call_time(&called)?;
                // The hotline's type is a word more for the model (城乡建设 says little, 燃气 much).
                let code =
                    rules::classify::SHIPPED.suggest_with(&layer, &format!("{text} {kind}")).into_iter().find_map(|s| tree.leaf(&s.code));
                let category = code.or_else(|| tree.leaf("suggestion"))?.clone();
                Some(HotlineRow { row, work_order, called_at, caller, phone, address, text, kind, category })
            })
            .collect())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let report = st.db.import_hotline(&cu.actor(), &cu.scope, rows).await?;
    for w in &report.warnings {
        super::notify_warning(&st, *w);
    }
    Ok(Json(report))
}

/// The hotline's work orders waiting for a clerk to choose their estate.
#[utoipa::path(get, path = "/api/v1/requests/hotline/unmatched", tag = "requests",
    responses((status = 200, description = "work orders with the estates their address could mean")))]
pub async fn unmatched(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<UnmatchedOrder>>, ApiError> {
    Ok(Json(st.db.hotline_unmatched(&cu.scope).await?))
}

/// The estate a clerk chose for a waiting work order, and the category if not the model's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MatchOrder {
    pub estate_id: i64,
    #[serde(default)]
    pub category: String,
}

/// Files a waiting work order on the estate the clerk chose (an estate of their region).
#[utoipa::path(post, path = "/api/v1/requests/hotline/unmatched/{id}/match", tag = "requests", params(("id" = i64, Path)), request_body = MatchOrder,
    responses((status = 200, description = "the request filed"), (status = 404), (status = 409), (status = 422)))]
pub async fn match_order(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<MatchOrder>,
) -> Result<Json<ServiceRequest>, ApiError> {
    let waiting = st.db.hotline_waiting(&cu.scope, id).await?;
    let code = if req.category.trim().is_empty() { waiting.category.clone() } else { req.category.trim().to_string() };
    // The tree where the chosen estate lies (an estate out of reach is refused by the store, by its field).
    let tree = match st.db.get_estate(&cu.scope, req.estate_id).await {
        Ok(e) => st.db.category_tree_at(&e.community_code).await?,
        Err(_) => super::caller_tree(&st, &cu).await?,
    };
    let category = tree.leaf(&code).ok_or_else(|| ApiError::field("category", &code, rules::category_refusal(&tree, &code)))?;
    let (r, warnings) = st.db.match_hotline(&cu.actor(), &cu.scope, id, req.estate_id, category).await?;
    for w in warnings {
        super::notify_warning(&st, w);
    }
    Ok(Json(r))
}
