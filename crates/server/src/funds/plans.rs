//! HTTP routes of co-funding plans, residents' contributions, reconciliation and the funding picture
//! of an estate.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::funds::{self as rules, ContributionInput, PlanLineInput};
use huanxin_domain::regions::RegionCode;
use huanxin_store::funds::plans::{Contribution, Contributions, FundingPlan, PictureRow, Reconciliation};
use huanxin_store::funds::upkeep::UpkeepAccount;
use serde::{Deserialize, Serialize};

/// A whole plan, replacing the one before.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlanRequest {
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<PlanLineInput>,
}

/// A project's co-funding plan with the schemes' estimate.
#[utoipa::path(get, path = "/api/v1/projects/{id}/funding-plan", tag = "funds", params(("id" = i64, Path)), responses((status = 200, description = "the plan")))]
pub async fn plan(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<FundingPlan>, ApiError> {
    Ok(Json(st.db.funding_plan(&cu.scope, id).await?))
}

/// Replaces a project's co-funding plan (422 naming `lines[i].field` for each bad line; nothing saved then).
#[utoipa::path(put, path = "/api/v1/projects/{id}/funding-plan", tag = "funds", params(("id" = i64, Path)), request_body = PlanRequest,
    responses((status = 200, description = "the plan"), (status = 422)))]
pub async fn set_plan(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<Json<FundingPlan>, ApiError> {
    let lines = rules::validate_plan(&req.lines)?;
    Ok(Json(st.db.set_funding_plan(&cu.actor(), &cu.scope, id, &lines).await?))
}

/// A project's residents' contributions with participation by household and by estate.
#[utoipa::path(get, path = "/api/v1/projects/{id}/contributions", tag = "funds", params(("id" = i64, Path)), responses((status = 200, description = "contributions")))]
pub async fn contributions(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Contributions>, ApiError> {
    Ok(Json(st.db.contributions(&cu.scope, id).await?))
}

/// Records a contribution received from a dwelling or a building; it enters the project's residents' allocation.
#[utoipa::path(post, path = "/api/v1/projects/{id}/contributions", tag = "funds", params(("id" = i64, Path)), request_body(content = Object, description = "ContributionInput"),
    responses((status = 201, description = "the contribution"), (status = 422)))]
pub async fn contribute(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ContributionInput>,
) -> Result<(StatusCode, Json<Contribution>), ApiError> {
    let valid = input.validate()?;
    let c = st.db.record_contribution(&cu.actor(), &cu.scope, id, &input, &valid).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// Plan, allocations naming the project, payments by source, and every difference between them.
#[utoipa::path(get, path = "/api/v1/projects/{id}/reconciliation", tag = "funds", params(("id" = i64, Path)), responses((status = 200, description = "reconciliation")))]
pub async fn project_reconciliation(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Reconciliation>, ApiError> {
    Ok(Json(st.db.project_reconciliation(&cu.scope, id).await?))
}

/// Which region.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionYearQuery {
    pub region: Option<String>,
    pub year: Option<i64>,
}

/// A region's plans, the allocations that came into it and what its projects were paid, with every difference.
/// Every year's together: a plan's year is on each of its rows.
#[utoipa::path(get, path = "/api/v1/funds/reconciliation", tag = "funds", params(crate::funds::RegionQuery), responses((status = 200, description = "reconciliation")))]
pub async fn region_reconciliation(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<crate::funds::RegionQuery>,
) -> Result<Json<Reconciliation>, ApiError> {
    Ok(Json(st.db.region_reconciliation(&cu.scope, &crate::statistics::known_region(&st, &cu, q.region.as_deref()).await?).await?))
}

/// One project of an estate as its funding picture shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EstateProjectFunds {
    pub project_id: i64,
    pub project_name: String,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<PictureRow>,
    pub contract_fen: Option<i64>,
    pub estimate_fen: Option<i64>,
}

/// An estate's funding picture: who pays what in each of its projects, and its maintenance fund.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EstateFunds {
    pub projects: Vec<EstateProjectFunds>,
    #[schema(value_type = Object)]
    pub upkeep: UpkeepAccount,
}

/// What an estate's renewal costs and who pays (its projects' plans and payments by source, no names),
/// and its maintenance fund's balance.
#[utoipa::path(get, path = "/api/v1/estates/{id}/funds", tag = "funds", params(("id" = i64, Path)), responses((status = 200, body = EstateFunds)))]
pub async fn estate(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<EstateFunds>, ApiError> {
    let reached = st.db.estate_in_scope(&cu.scope, id).await?;
    let mut projects = Vec::new();
    for (project_id, project_name) in st.db.projects_of_estate(reached).await? {
        // Residents and parties see the estate; the project's funds are read on its behalf.
        let r = st.db.project_reconciliation(&huanxin_domain::access::Scope::Region(RegionCode::country()), project_id).await?;
        projects.push(EstateProjectFunds {
            project_id,
            project_name,
            rows: r.rows,
            contract_fen: r.contract_fen,
            estimate_fen: r.estimate_fen,
        });
    }
    let mut upkeep = st.db.upkeep(&cu.scope, id).await?;
    if cu.role == huanxin_domain::access::Role::Resident {
        upkeep.movements.iter_mut().for_each(|m| m.entered_by.clear());
    }
    // Spendings asked for and not yet decided are the bureau's working papers.
    if !cu.role.allows(huanxin_domain::access::Permission::ManageFunds) {
        upkeep.requests.clear();
    }
    Ok(Json(EstateFunds { projects, upkeep }))
}
