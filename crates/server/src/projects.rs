//! HTTP routes of projects: create, browse, and name the companies that do the work.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::access::Permission;
use huanxin_domain::estates::mask_phone;
use huanxin_domain::projects::{PartyInput, ProjectInput};
use huanxin_domain::reason;
use huanxin_store::projects::{Party, Project, ProjectEstate};
use serde::Serialize;

/// A project with its estates and parties.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectPage {
    #[schema(value_type = Object)]
    pub project: Project,
    #[schema(value_type = Vec<Object>)]
    pub estates: Vec<ProjectEstate>,
    #[schema(value_type = Vec<Object>)]
    pub parties: Vec<Party>,
}

fn masked(cu: &CurrentUser, mut parties: Vec<Party>) -> Vec<Party> {
    if !cu.role.allows(Permission::ReadPersonalData) {
        for p in &mut parties {
            p.phone = mask_phone(&p.phone);
        }
    }
    parties
}

async fn page(st: &AppState, cu: &CurrentUser, id: i64) -> Result<ProjectPage, ApiError> {
    let (project, estates, parties) = st.db.read_project(&cu.scope, id).await?;
    Ok(ProjectPage { project, estates, parties: masked(cu, parties) })
}

/// Creates a project of estates in one county of the caller's region.
#[utoipa::path(post, path = "/api/v1/projects", tag = "lifecycle", request_body(content = Object, description = "ProjectInput"),
    responses((status = 201, body = ProjectPage), (status = 409), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(input): ApiJson<ProjectInput>,
) -> Result<(StatusCode, Json<ProjectPage>), ApiError> {
    let project = st.db.create_project(&cu.actor(), &cu.scope, &input).await?;
    Ok((StatusCode::CREATED, Json(page(&st, &cu, project.id).await?)))
}

/// Projects the caller may see (their region's, or those their company works on).
#[utoipa::path(get, path = "/api/v1/projects", tag = "lifecycle", responses((status = 200)))]
pub async fn list(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(st.db.list_projects(&cu.scope).await?))
}

/// One project with its estates and parties.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = ProjectPage), (status = 404)))]
pub async fn get_one(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectPage>, ApiError> {
    Ok(Json(page(&st, &cu, id).await?))
}

/// Names a designer, contractor or supervising engineer; their account then sees the project's estates.
#[utoipa::path(post, path = "/api/v1/projects/{id}/parties", tag = "lifecycle", params(("id" = i64, Path)),
    request_body(content = Object, description = "PartyInput"), responses((status = 200, body = ProjectPage), (status = 422)))]
pub async fn add_party(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<PartyInput>,
) -> Result<Json<ProjectPage>, ApiError> {
    st.db.add_party(&cu.actor(), &cu.scope, id, &input).await?;
    st.registry_changed();
    Ok(Json(page(&st, &cu, id).await?))
}

impl From<huanxin_store::approvals::ApprovalError> for ApiError {
    fn from(e: huanxin_store::approvals::ApprovalError) -> Self {
        match e {
            huanxin_store::approvals::ApprovalError::Refused(r) => ApiError::Conflict(r.reason()),
            huanxin_store::approvals::ApprovalError::Store(s) => s.into(),
        }
    }
}

/// Today in China (deadlines are kept in Asia/Shanghai dates).
fn today() -> chrono::NaiveDate {
    huanxin_store::today()
}

fn parse_date(field: &str, s: &Option<String>) -> Result<chrono::NaiveDate, ApiError> {
    match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(today()),
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| ApiError::field(field, d, reason!("field.date"))),
    }
}

/// How to start a project's approval.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct StartApproval {
    /// Merge proposal, feasibility and preliminary design into one step.
    #[serde(default)]
    pub merge_design: bool,
    /// The start date (default today).
    pub start: Option<String>,
}

/// A step done.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct FinishStep {
    /// The day it was done (default today).
    pub date: Option<String>,
    /// The number of the document it ended with (批复文号).
    #[serde(default)]
    pub document_no: String,
    /// Its scan, filed in the archive of one of the project's estates.
    pub document_id: Option<i64>,
}

/// A project's approval steps with deadlines in working days and lateness.
#[utoipa::path(get, path = "/api/v1/projects/{id}/approval", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200), (status = 404)))]
pub async fn approval(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<huanxin_store::approvals::ApprovalStep>>, ApiError> {
    Ok(Json(st.db.approval(&cu.scope, id, crate::lifecycle::calendar()?, today()).await?))
}

/// Starts a project's approval from the template.
#[utoipa::path(post, path = "/api/v1/projects/{id}/approval", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = StartApproval, responses((status = 201), (status = 409), (status = 422)))]
pub async fn start_approval(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StartApproval>,
) -> Result<(StatusCode, Json<Vec<huanxin_store::approvals::ApprovalStep>>), ApiError> {
    let start = parse_date("start", &req.start)?;
    st.db.start_approval(&cu.actor(), &cu.scope, id, req.merge_design, start).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok((StatusCode::CREATED, Json(st.db.approval(&cu.scope, id, crate::lifecycle::calendar()?, today()).await?)))
}

/// Records an approval step as done; 409 names why not (not started yet, already done).
#[utoipa::path(post, path = "/api/v1/projects/{id}/approval/{code}", tag = "lifecycle",
    params(("id" = i64, Path), ("code" = String, Path)), request_body = FinishStep, responses((status = 200), (status = 409)))]
pub async fn finish_step(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, code)): ApiPath<(i64, String)>,
    ApiJson(req): ApiJson<FinishStep>,
) -> Result<Json<Vec<huanxin_store::approvals::ApprovalStep>>, ApiError> {
    let date = parse_date("date", &req.date)?;
    if date > today() {
        return Err(ApiError::field("date", date, reason!("field.not_future")));
    }
    let number = huanxin_domain::approvals::check_document_no(&req.document_no)?;
    let document = huanxin_store::approvals::StepDocument { number, document_id: req.document_id };
    st.db.finish_approval_step(&cu.actor(), &cu.scope, id, &code, date, &document).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok(Json(st.db.approval(&cu.scope, id, crate::lifecycle::calendar()?, today()).await?))
}

/// Late approval steps in the caller's region: how many, and the 200 most late.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LateSteps {
    pub total: usize,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<huanxin_store::approvals::LateStep>,
}

/// Approval steps past their deadline in the caller's region, most late first ("what is late in my region").
#[utoipa::path(get, path = "/api/v1/approvals/late", tag = "lifecycle", responses((status = 200, body = LateSteps)))]
pub async fn late(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<LateSteps>, ApiError> {
    let (total, items) = st.db.late_approval_steps(&cu.scope, crate::lifecycle::calendar()?, today(), 200).await?;
    Ok(Json(LateSteps { total, items }))
}
