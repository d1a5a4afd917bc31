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
    let (project, estates, parties) = st.db.get_project(&cu.scope, id).await?;
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
