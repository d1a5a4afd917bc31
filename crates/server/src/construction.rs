//! HTTP routes of construction under supervision: the schedule and its progress, inspections at
//! the five checkpoints, design changes, and a project's progress.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::lifecycle::calendar;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::construction::{self as rules, NodeInput, ProgressInput};
use huanxin_domain::reason;
use huanxin_store::construction::{Construction, DesignChange, Inspection, ProjectProgress, ScheduleNode};
use serde::Deserialize;

fn allow(ok: bool, cu: &CurrentUser, what: &str) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(reason!("construction.may_not", role = cu.role.as_str(), what = what)))
    }
}

/// An estate's construction: schedule nodes (planned, actual, state), progress by building and for
/// the estate, the five checkpoints with their inspections, and design changes with their due day.
#[utoipa::path(get, path = "/api/v1/estates/{id}/construction", tag = "construction", params(("id" = i64, Path)),
    responses((status = 200, description = "schedule, progress, checkpoints, design changes"), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Construction>, ApiError> {
    Ok(Json(st.db.construction(&cu.scope, id).await?))
}

/// Why construction is recorded before the permit.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct PermitException {
    pub reason: String,
}

/// The bureau records that construction may be recorded at this estate before the permit (an
/// emergency repair, works exempt from a permit), with the reason; audited.
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/permit-exception", tag = "construction", params(("id" = i64, Path)),
    request_body = PermitException, responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub async fn permit_exception(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<PermitException>,
) -> Result<axum::http::StatusCode, ApiError> {
    // The housing bureau's call: county desks and above, not the street or the community.
    if !matches!(cu.role.level(), Some(l) if l <= huanxin_domain::regions::Level::County) {
        return Err(ApiError::Forbidden(reason!("construction.exception_bureau_only")));
    }
    let reason = huanxin_domain::construction::check_exception_reason(&req.reason)?;
    st.db.record_permit_exception(&cu.actor(), &cu.scope, id, &reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Adds a node to the estate's schedule (the contractor or the bureau).
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/nodes", tag = "construction", params(("id" = i64, Path)),
    request_body(content_type = "application/json", description = "name, building_id, planned_start, planned_end, weight"),
    responses((status = 201, description = "the node"), (status = 403), (status = 404), (status = 422)))]
pub async fn add_node(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NodeInput>,
) -> Result<(StatusCode, Json<ScheduleNode>), ApiError> {
    allow(rules::may_report_progress(cu.role), &cu, "plan the schedule")?;
    let node = st.db.add_schedule_node(&cu.actor(), &cu.scope, id, &input).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok((StatusCode::CREATED, Json(node)))
}

/// Reports progress on a schedule node (0–100 %, with the actual start and end).
#[utoipa::path(put, path = "/api/v1/schedule-nodes/{id}", tag = "construction", params(("id" = i64, Path)),
    request_body(content_type = "application/json", description = "progress_pct, actual_start, actual_end"),
    responses((status = 200, description = "the node"), (status = 403), (status = 404), (status = 422)))]
pub async fn report_progress(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ProgressInput>,
) -> Result<Json<ScheduleNode>, ApiError> {
    allow(rules::may_report_progress(cu.role), &cu, "report progress")?;
    let node = st.db.report_progress(&cu.actor(), &cu.scope, id, &input).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok(Json(node))
}

/// An inspection as submitted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InspectionRequest {
    /// design, team_selection, material_entry, site_control or completion_acceptance.
    pub checkpoint: String,
    pub passed: bool,
    #[serde(default)]
    pub findings: String,
}

/// Records an inspection at one of the five checkpoints (the supervising engineer or the bureau).
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/inspections", tag = "construction", params(("id" = i64, Path)),
    request_body = InspectionRequest, responses((status = 201, description = "the inspection"), (status = 403), (status = 404), (status = 409, description = "waits for the construction permit (or the bureau's exception) and the owners' decision"), (status = 422)))]
pub async fn inspect(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<InspectionRequest>,
) -> Result<(StatusCode, Json<Inspection>), ApiError> {
    allow(rules::may_inspect(cu.role), &cu, "record inspections")?;
    let i = st.db.record_inspection(&cu.actor(), &cu.scope, id, &req.checkpoint, req.passed, &req.findings).await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// A design change request, or its delivery.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangeText {
    /// Why the change is needed (request) or what was changed (delivery).
    #[serde(alias = "answer")]
    pub text: String,
}

/// Requests a design change; the designer has two working days to deliver it.
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/design-changes", tag = "construction", params(("id" = i64, Path)),
    request_body = ChangeText, responses((status = 201, description = "the request with its due day"), (status = 404), (status = 422)))]
pub async fn request_change(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ChangeText>,
) -> Result<(StatusCode, Json<DesignChange>), ApiError> {
    let change = st.db.request_design_change(&cu.actor(), &cu.scope, calendar()?, id, &req.text).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok((StatusCode::CREATED, Json(change)))
}

/// Delivers a design change (the designer, or the bureau on its behalf); late if after the due day.
#[utoipa::path(post, path = "/api/v1/design-changes/{id}/deliver", tag = "construction", params(("id" = i64, Path)),
    request_body = ChangeText, responses((status = 200, description = "the delivered change"), (status = 403), (status = 404), (status = 409)))]
pub async fn deliver_change(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ChangeText>,
) -> Result<Json<DesignChange>, ApiError> {
    allow(rules::may_deliver_design_change(cu.role), &cu, "deliver design changes")?;
    let change = st.db.deliver_design_change(&cu.actor(), &cu.scope, id, &req.text).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok(Json(change))
}

/// A project's progress: each estate's weighted progress, late nodes and open design changes, and the whole.
#[utoipa::path(get, path = "/api/v1/projects/{id}/progress", tag = "construction", params(("id" = i64, Path)),
    responses((status = 200, description = "progress by estate and for the project"), (status = 404)))]
pub async fn project_progress(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProjectProgress>, ApiError> {
    Ok(Json(st.db.project_progress(&cu.scope, id).await?))
}

/// A multipart form's text fields and its files (every field that carries a file name).
pub(crate) async fn read_form(
    mut multipart: axum::extract::Multipart,
) -> Result<(std::collections::HashMap<String, String>, Vec<(String, Vec<u8>)>), ApiError> {
    let mut fields = std::collections::HashMap::new();
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| crate::estates::multipart_error(&e))? {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(file_name) = field.file_name().map(str::to_string) {
            let bytes = field.bytes().await.map_err(|e| crate::estates::multipart_error(&e))?;
            files.push((file_name, bytes.to_vec()));
        } else {
            let value = field.text().await.map_err(|e| crate::estates::multipart_error(&e))?;
            fields.insert(name, value);
        }
    }
    Ok((fields, files))
}

/// Writes a site log for the caller's party (contractor, supervising engineer, residents'
/// supervisors, bureau) with up to 20 photos, which are filed in the archive.
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/logs", tag = "construction", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "fields `day` (YYYY-MM-DD, today if empty), `weather`, `text`, and files `photos`"),
    responses((status = 201, description = "the log with its photos"), (status = 403), (status = 404), (status = 409, description = "waits for the construction permit (or the bureau's exception) and the owners' decision"), (status = 422)))]
pub async fn write_log(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(StatusCode, Json<huanxin_store::construction::SiteLog>), ApiError> {
    let author = rules::log_author(cu.role)
        .ok_or_else(|| ApiError::Forbidden(reason!("construction.no_site_logs_for_role", role = cu.role.as_str())))?;
    let (fields, photos) = read_form(multipart).await?;
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let input = rules::SiteLogInput { day: field("day"), weather: field("weather"), text: field("text") };
    let log = st.db.write_site_log(&cu.actor(), &cu.scope, id, author, &input, photos).await?;
    Ok((StatusCode::CREATED, Json(log)))
}

/// Records a material delivery at entry (the contractor, the supervising engineer or the bureau).
#[utoipa::path(post, path = "/api/v1/estates/{id}/construction/materials", tag = "construction", params(("id" = i64, Path)),
    request_body(content_type = "application/json", description = "material, spec, quantity, unit, supplier, certificate, accepted, note"),
    responses((status = 201, description = "the record"), (status = 403), (status = 404), (status = 409, description = "waits for the construction permit (or the bureau's exception) and the owners' decision"), (status = 422)))]
pub async fn record_material(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<rules::MaterialInput>,
) -> Result<(StatusCode, Json<huanxin_store::construction::MaterialEntry>), ApiError> {
    allow(rules::may_report_progress(cu.role) || rules::may_inspect(cu.role), &cu, "record material entries")?;
    Ok((StatusCode::CREATED, Json(st.db.record_material(&cu.actor(), &cu.scope, id, &input).await?)))
}
