//! The region tree over HTTP: one region with its ancestors, and the children of a region.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::access::Scope;
use huanxin_domain::regions::RegionCode;
use huanxin_store::regions::Region;

fn parse(code: &str) -> Result<RegionCode, ApiError> {
    RegionCode::parse(code).map_err(|e| ApiError::field("code", code, e))
}

/// A region may be read when it lies inside the caller's region or above it (for breadcrumbs).
fn visible(cu: &CurrentUser, rc: &RegionCode) -> bool {
    cu.scope.sees(rc)
}

/// A region and its ancestors.
#[utoipa::path(get, path = "/api/v1/regions/{code}", tag = "regions", params(("code" = String, Path)),
    responses((status = 200), (status = 404)))]
pub async fn get_region(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rc = parse(&code)?;
    if !visible(&cu, &rc) {
        return Err(ApiError::NotFound);
    }
    let region = st.db.region(&rc).await?;
    let ancestors = st.db.region_ancestors(&rc).await?;
    Ok(Json(serde_json::json!({"region": region, "ancestors": ancestors})))
}

/// The regions directly below one, limited to the caller's subtree.
#[utoipa::path(get, path = "/api/v1/regions/{code}/children", tag = "regions", params(("code" = String, Path)),
    responses((status = 200), (status = 404)))]
pub async fn children(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Vec<Region>>, ApiError> {
    let rc = parse(&code)?;
    if !visible(&cu, &rc) {
        return Err(ApiError::NotFound);
    }
    let rows = st.db.region_children(&rc).await?;
    let rows = match &cu.scope {
        Scope::Region(mine) => rows
            .into_iter()
            .filter(|r| RegionCode::parse(&r.code).map(|c| mine.contains(&c) || c.contains(mine)).unwrap_or(false))
            .collect(),
        Scope::Attached { .. } => rows,
    };
    Ok(Json(rows))
}

/// Options of a subtree listing.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubtreeQuery {
    /// Only regions of this level (1 province … 5 community).
    pub level: Option<i64>,
    /// At most this many (default 1000, at most 10000).
    pub limit: Option<i64>,
}

/// Regions in a subtree, the region itself included, in code order.
#[utoipa::path(get, path = "/api/v1/regions/{code}/subtree", tag = "regions", params(("code" = String, Path), SubtreeQuery),
    responses((status = 200), (status = 404)))]
pub async fn subtree(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(code): ApiPath<String>,
    crate::error::ApiQuery(q): crate::error::ApiQuery<SubtreeQuery>,
) -> Result<Json<Vec<Region>>, ApiError> {
    let rc = parse(&code)?;
    let allowed = match &cu.scope {
        Scope::Region(mine) => mine.contains(&rc),
        Scope::Attached { .. } => false,
    };
    if !allowed {
        return Err(ApiError::NotFound);
    }
    Ok(Json(st.db.region_subtree(&rc, q.level, q.limit.unwrap_or(1000).clamp(1, 10_000)).await?))
}
