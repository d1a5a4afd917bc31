//! HTTP routes of annual plans: targets, the estates in a plan, carry-over and progress.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Datelike;
use huanxin_domain::plans::Targets;
use huanxin_store::plans::{Plan, PlanEntry};
use serde::{Deserialize, Serialize};

/// A plan to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlanRequest {
    /// The region (defaults to the caller's own).
    #[serde(default)]
    pub region_code: String,
    /// The year (defaults to next year).
    pub year: Option<i64>,
    /// Estates, households, buildings and floor area (hundredths of m²) to start.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub targets: Targets,
}

/// A plan with its estates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanPage {
    #[schema(value_type = Object)]
    pub plan: Plan,
    #[schema(value_type = Vec<Object>)]
    pub estates: Vec<PlanEntry>,
}

/// Estates to put into a plan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddEstates {
    pub estate_ids: Vec<i64>,
    /// Why a plan of a year already over changes (required then; kept in the audit log).
    #[serde(default)]
    pub reason: String,
}

/// Creates the plan of a region for a year.
#[utoipa::path(post, path = "/api/v1/plans", tag = "lifecycle", request_body = PlanRequest,
    responses((status = 201, body = PlanPage), (status = 409), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<(StatusCode, Json<PlanPage>), ApiError> {
    let region = if req.region_code.trim().is_empty() { cu.user.region_code.clone() } else { req.region_code.trim().to_string() };
    let year = req.year.unwrap_or_else(|| i64::from(huanxin_store::today().year()) + 1);
    let plan = st.db.create_plan(&cu.actor(), &cu.scope, &region, year, &req.targets).await?;
    let (plan, estates) = st.db.get_plan(&cu.scope, plan.id).await?;
    Ok((StatusCode::CREATED, Json(PlanPage { plan, estates })))
}

/// Plans in the caller's region with their progress.
#[utoipa::path(get, path = "/api/v1/plans", tag = "lifecycle", responses((status = 200)))]
pub async fn list(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Plan>>, ApiError> {
    Ok(Json(st.db.list_plans(&cu.scope).await?))
}

/// One plan with its estates and progress.
#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = PlanPage), (status = 404)))]
pub async fn get_one(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanPage>, ApiError> {
    let (plan, estates) = st.db.get_plan(&cu.scope, id).await?;
    Ok(Json(PlanPage { plan, estates }))
}

/// Puts estates into a plan.
#[utoipa::path(post, path = "/api/v1/plans/{id}/estates", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = AddEstates, responses((status = 200, body = PlanPage), (status = 422)))]
pub async fn add_estates(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AddEstates>,
) -> Result<Json<PlanPage>, ApiError> {
    st.db.add_to_plan(&cu.actor(), &cu.scope, id, &req.estate_ids, st.config.eligible_before_year, &req.reason).await?;
    let (plan, estates) = st.db.get_plan(&cu.scope, id).await?;
    Ok(Json(PlanPage { plan, estates }))
}

/// Carries last year's unfinished estates of the same region into this plan.
#[utoipa::path(post, path = "/api/v1/plans/{id}/carry-over", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = PlanPage), (status = 404)))]
pub async fn carry_over(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanPage>, ApiError> {
    st.db.carry_over(&cu.actor(), &cu.scope, id).await?;
    let (plan, estates) = st.db.get_plan(&cu.scope, id).await?;
    Ok(Json(PlanPage { plan, estates }))
}
