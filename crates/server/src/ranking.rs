//! HTTP routes of rankings: rank a region's candidate estates, browse saved rankings, export one.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::estates::{attachment, XLSX};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::Datelike;
use huanxin_domain::ranking::Weights;
use huanxin_store::ranking::{Ranking, RankingEntry};
use serde::{Deserialize, Serialize};

/// What to rank.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RankingRequest {
    /// The region whose candidate estates are ranked (defaults to the caller's own).
    #[serde(default)]
    pub region_code: String,
    /// The plan year (defaults to next year).
    pub year: Option<i64>,
    /// Factor weights, 0–100 each (defaults: age 25, assessment 35, households 15, elderly 15, willingness 10).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub weights: Weights,
}

/// A saved ranking with its entries in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RankingPage {
    #[schema(value_type = Object)]
    pub ranking: Ranking,
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<RankingEntry>,
}

/// Ranks the eligible estates of a region that are not yet in a plan, and saves the ranking.
#[utoipa::path(post, path = "/api/v1/rankings", tag = "lifecycle", request_body = RankingRequest,
    responses((status = 201, body = RankingPage), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<RankingRequest>,
) -> Result<(StatusCode, Json<RankingPage>), ApiError> {
    let region = if req.region_code.trim().is_empty() { cu.user.region_code.clone() } else { req.region_code.trim().to_string() };
    let year = req.year.unwrap_or_else(|| i64::from(huanxin_store::today().year()) + 1);
    let ranking = st.db.create_ranking(&cu.actor(), &cu.scope, &region, year, &req.weights, st.config.eligible_before_year).await?;
    let (ranking, entries) = st.db.get_ranking(&cu.scope, ranking.id).await?;
    Ok((StatusCode::CREATED, Json(RankingPage { ranking, entries })))
}

/// Saved rankings in the caller's region, newest first.
#[utoipa::path(get, path = "/api/v1/rankings", tag = "lifecycle", responses((status = 200)))]
pub async fn list(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Ranking>>, ApiError> {
    Ok(Json(st.db.list_rankings(&cu.scope).await?))
}

/// One saved ranking with its entries.
#[utoipa::path(get, path = "/api/v1/rankings/{id}", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = RankingPage), (status = 404)))]
pub async fn get_one(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RankingPage>, ApiError> {
    let (ranking, entries) = st.db.get_ranking(&cu.scope, id).await?;
    Ok(Json(RankingPage { ranking, entries }))
}

/// One saved ranking as an xlsx workbook, with every factor's value and points.
#[utoipa::path(get, path = "/api/v1/rankings/{id}/export.xlsx", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (status = 404)))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (ranking, entries) = st.db.get_ranking(&cu.scope, id).await?;
    // The weights the ranking was made with, shown beside each factor's points.
    let weights: Weights = serde_json::from_str(&ranking.weights).unwrap_or_default();
    let headers: Vec<String> = vec![
        "排名".to_string(),
        "小区编码".to_string(),
        "小区名称".to_string(),
        "社区代码".to_string(),
        "建成年份".to_string(),
        "户数".to_string(),
        "阶段".to_string(),
        "优先度".to_string(),
        "房龄(年)".to_string(),
        format!("房龄得分(权重{})", weights.age),
        "体检评分".to_string(),
        format!("体检得分(权重{})", weights.assessment),
        format!("户数得分(权重{})", weights.households),
        "老年住户占比(%)".to_string(),
        format!("老年得分(权重{})", weights.elderly),
    ];
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let points = |v: i64| format!("{:.2}", v as f64 / 100.0);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let f: serde_json::Value = serde_json::from_str(&e.factors).unwrap_or_default();
            let n = |k: &str, part: &str| f[k][part].as_i64().unwrap_or(0);
            vec![
                e.position.to_string(),
                e.code.clone(),
                e.name.clone(),
                e.community_code.clone(),
                e.build_year.to_string(),
                e.households.to_string(),
                huanxin_domain::estates::EstateStatus::zh_of(&e.status),
                points(e.priority),
                n("age", "value").to_string(),
                points(n("age", "scaled")),
                // An estate without a finished assessment is not scored 0 for it (older rankings lack the mark).
                if f["assessed"].as_bool() == Some(false) { "未体检".to_string() } else { points(n("assessment", "value")) },
                if f["assessed"].as_bool() == Some(false) { String::new() } else { points(n("assessment", "scaled")) },
                points(n("households", "scaled")),
                points(n("elderly", "value")),
                points(n("elderly", "scaled")),
            ]
        })
        .collect();
    let bytes = crate::tabular::write_xlsx("排序", &headers, &rows)?;
    Ok(attachment(bytes, XLSX, &format!("改造排序-{}-{}.xlsx", ranking.region_code, ranking.year)))
}
