//! HTTP routes of the estate's life: its steps and timeline, its assessment, and the working-day calendar.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::acceptance::Signatory;
use huanxin_domain::assessment::{ChecklistItem, Finding};
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::estates::EstateStatus;
use huanxin_domain::lifecycle::{self, Facts};
use huanxin_domain::reason;
use huanxin_domain::review::TaskInput;
use huanxin_store::acceptance::Acceptance;
use huanxin_store::assessment::{Assessment, AssessmentEdit};
use huanxin_store::lifecycle::{EstateEvent, StepError};
use huanxin_store::review::{RectificationSummary, ReviewPage, Task};
use serde::{Deserialize, Serialize};

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Refused(r) => ApiError::Conflict(r.reason()),
            StepError::Store(s) => s.into(),
        }
    }
}

/// A step asked for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StepRequest {
    /// The status to move to (e.g. `assessed`).
    pub to: String,
    /// Why, for the timeline.
    #[serde(default)]
    pub note: String,
}

/// Where an estate stands: its status, the next step, what that step still needs, and its timeline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lifecycle {
    pub status: String,
    pub next: Option<String>,
    /// Why the next step would be refused now (empty when it may be taken): code, params, reason.
    #[schema(value_type = Option<Object>)]
    pub blocked_by: Option<huanxin_domain::Reason>,
    #[schema(value_type = Object)]
    pub facts: Facts,
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<EstateEvent>,
}

/// An estate's stage, next step and timeline.
#[utoipa::path(get, path = "/api/v1/estates/{id}/lifecycle", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = Lifecycle), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Lifecycle>, ApiError> {
    let (estate, reached) = st.db.reach_estate(&cu.scope, id).await?;
    let timeline = st.db.estate_timeline(&cu.scope, id).await?;
    let facts = st.db.lifecycle_facts(reached).await?;
    let status = EstateStatus::parse(&estate.status);
    let next = status.and_then(lifecycle::next);
    let blocked_by = match (status, next) {
        (Some(s), Some(n)) => lifecycle::check(s, n, &facts).err().map(|r| r.reason()),
        _ => None,
    };
    Ok(Json(Lifecycle { status: estate.status, next: next.map(|n| n.as_str().to_string()), blocked_by, facts, timeline }))
}

/// Moves an estate to its next stage (or back where the practice allows); 409 names why not.
#[utoipa::path(post, path = "/api/v1/estates/{id}/lifecycle", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = StepRequest, responses((status = 200, description = "the step as recorded"), (status = 409), (status = 422)))]
pub async fn step(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StepRequest>,
) -> Result<Json<EstateEvent>, ApiError> {
    let to = EstateStatus::parse(&req.to).ok_or_else(|| ApiError::field("to", &req.to, reason!("lifecycle.stage_kind")))?;
    if req.note.chars().count() > 1000 {
        return Err(ApiError::field("note", "", reason!("field.at_most_chars", max = 1000)));
    }
    let event = st.db.advance_estate(&cu.actor(), &cu.scope, id, to, req.note.trim()).await?;
    st.registry_changed();
    Ok(Json(event))
}

/// The checklist in force for an estate, its buildings and its latest assessment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssessmentPage {
    #[schema(value_type = Vec<Object>)]
    pub checklist: Vec<ChecklistItem>,
    #[schema(value_type = Vec<Object>)]
    pub buildings: Vec<huanxin_store::estates::Building>,
    #[schema(value_type = Option<Object>)]
    pub assessment: Option<Assessment>,
}

/// An estate's assessment: checklist, buildings and the latest findings with their score.
#[utoipa::path(get, path = "/api/v1/estates/{id}/assessment", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = AssessmentPage), (status = 404)))]
pub async fn assessment(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AssessmentPage>, ApiError> {
    let estate = st.db.get_estate(&cu.scope, id).await?;
    Ok(Json(AssessmentPage {
        checklist: st.db.checklist_for(&estate.community_code).await?,
        buildings: st.db.list_buildings(&cu.scope, id).await?,
        assessment: st.db.latest_assessment(&cu.scope, id).await?,
    }))
}

/// Findings to save.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssessmentRequest {
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Finding>,
    /// Close the assessment with its score (otherwise it stays a draft).
    #[serde(default)]
    pub finish: bool,
    /// Why a finished assessment is corrected (needed to start a new version over a finished one).
    #[serde(default)]
    pub correction_reason: Option<String>,
    /// The `updated_at` of the latest version the editor loaded: refused (409) if someone saved since.
    #[serde(default)]
    pub based_on: Option<String>,
}

/// Saves the findings of an estate's assessment; `finish` closes it with its score.
#[utoipa::path(put, path = "/api/v1/estates/{id}/assessment", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = AssessmentRequest, responses((status = 200, description = "the assessment with its score"), (status = 409), (status = 422)))]
pub async fn save_assessment(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AssessmentRequest>,
) -> Result<Json<Assessment>, ApiError> {
    if req.findings.len() > 5_000 {
        return Err(ApiError::field("findings", req.findings.len(), reason!("lifecycle.too_many_findings")));
    }
    let edit = AssessmentEdit {
        findings: &req.findings,
        finish: req.finish,
        correction_reason: req.correction_reason.as_deref(),
        based_on: req.based_on.as_deref(),
    };
    Ok(Json(st.db.save_assessment(&cu.actor(), &cu.scope, id, &edit).await?))
}

/// The shipped working-day calendar, read once.
pub fn calendar() -> Result<&'static WorkCalendar, ApiError> {
    WorkCalendar::shipped_once().map_err(|e| ApiError::Internal(format!("calendar data: {e}")))
}

/// A deadline question: `days` working days after `from`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineQuery {
    /// Start date, YYYY-MM-DD.
    pub from: String,
    /// Working days to add (0 to 1,000).
    pub days: u32,
}

/// The working-day deadline, and which years the calendar holds (provisional ones flagged).
#[utoipa::path(get, path = "/api/v1/calendar/deadline", tag = "lifecycle", params(DeadlineQuery),
    responses((status = 200, description = "deadline"), (status = 422)))]
pub async fn deadline(ApiQuery(q): ApiQuery<DeadlineQuery>) -> Result<Json<serde_json::Value>, ApiError> {
    let from = chrono::NaiveDate::parse_from_str(q.from.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::field("from", &q.from, reason!("field.date")))?;
    if q.days > 1000 {
        return Err(ApiError::field("days", q.days, reason!("field.at_most", max = 1000)));
    }
    let cal = calendar()?;
    let due = cal.add_working_days(from, q.days);
    let years: Vec<serde_json::Value> =
        cal.years().into_iter().map(|(y, provisional)| serde_json::json!({"year": y, "provisional": provisional})).collect();
    Ok(Json(serde_json::json!({
        "from": from.to_string(),
        "days": q.days,
        "due": due.to_string(),
        "calendar_years": years,
        "beyond_calendar": !cal.years().iter().any(|(y, _)| *y == chrono::Datelike::year(&due)),
    })))
}

/// The parties an acceptance needs (empty: all seven).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OpenAcceptance {
    #[serde(default)]
    pub signatories: Vec<String>,
}

/// A signature for one party.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignRequest {
    /// contractor, supervisor, designer, bureau, street, community or residents.
    pub signatory: String,
    /// False records an objection; the party then stays missing.
    #[serde(default = "yes")]
    pub agree: bool,
    #[serde(default)]
    pub note: String,
}

fn yes() -> bool {
    true
}

/// An estate's acceptance (null before it is opened).
#[utoipa::path(get, path = "/api/v1/estates/{id}/acceptance", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, description = "the acceptance (an object), or null before one is opened"), (status = 404)))]
pub async fn acceptance(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Option<Acceptance>>, ApiError> {
    Ok(Json(st.db.acceptance(&cu.scope, id).await?))
}

/// Opens an estate's acceptance with the parties who must sign.
#[utoipa::path(post, path = "/api/v1/estates/{id}/acceptance", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = OpenAcceptance, responses((status = 201, body = Object), (status = 409), (status = 422)))]
pub async fn open_acceptance(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<OpenAcceptance>,
) -> Result<(axum::http::StatusCode, Json<Acceptance>), ApiError> {
    let a = st.db.open_acceptance(&cu.actor(), &cu.scope, id, &req.signatories).await?;
    Ok((axum::http::StatusCode::CREATED, Json(a)))
}

/// Signs an estate's acceptance for the caller's own party.
#[utoipa::path(post, path = "/api/v1/estates/{id}/acceptance/signatures", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = SignRequest, responses((status = 200, body = Object), (status = 409, description = "not open"), (status = 422)))]
pub async fn sign_acceptance(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SignRequest>,
) -> Result<Json<Acceptance>, ApiError> {
    let signatory =
        Signatory::parse(&req.signatory).ok_or_else(|| ApiError::field("signatory", &req.signatory, reason!("lifecycle.party_kind")))?;
    huanxin_domain::acceptance::check_signature(req.agree, &req.note)?;
    Ok(Json(st.db.sign_acceptance(&cu.actor(), cu.role, &cu.scope, id, signatory, req.agree, &req.note).await?))
}

/// One representative: a resident's account of the estate, and who chose them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RepresentativeInput {
    pub user_id: i64,
    /// `owners` (业主推选) or `community` (社区推荐).
    pub chosen_by: String,
}

/// The residents' representatives named on an acceptance.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RepresentativesRequest {
    pub representatives: Vec<RepresentativeInput>,
}

/// Residents' accounts of the estate that may be named representatives (name, dwelling, standing).
#[utoipa::path(get, path = "/api/v1/estates/{id}/acceptance/candidates", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 403), (status = 404)))]
pub async fn representative_candidates(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<huanxin_store::acceptance::Candidate>>, ApiError> {
    Ok(Json(st.db.representative_candidates(&cu.scope, id).await?))
}

/// Names the residents' representatives (chosen by the owners or the community); only they sign
/// for the residents, and a residents' signature by someone no longer named stops counting.
#[utoipa::path(put, path = "/api/v1/estates/{id}/acceptance/representatives", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = RepresentativesRequest, responses((status = 200, body = Object), (status = 409), (status = 422)))]
pub async fn set_representatives(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RepresentativesRequest>,
) -> Result<Json<Acceptance>, ApiError> {
    huanxin_domain::acceptance::check_representatives(req.representatives.len())?;
    let chosen: Vec<(i64, String)> = req.representatives.into_iter().map(|r| (r.user_id, r.chosen_by)).collect();
    Ok(Json(st.db.set_representatives(&cu.actor(), &cu.scope, id, &chosen).await?))
}

/// The review's summary and the findings to rectify.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub tasks: Vec<TaskInput>,
}

/// How the fix was checked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CloseTask {
    pub note: String,
}

/// An estate's six-month review: due date, state, the review and its rectification tasks.
#[utoipa::path(get, path = "/api/v1/estates/{id}/review", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub async fn review(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReviewPage>, ApiError> {
    Ok(Json(st.db.review(&cu.scope, id).await?))
}

/// Records the review of an accepted estate with its findings as rectification tasks.
#[utoipa::path(post, path = "/api/v1/estates/{id}/review", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = ReviewRequest, responses((status = 201, body = Object), (status = 409), (status = 422)))]
pub async fn hold_review(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<(axum::http::StatusCode, Json<ReviewPage>), ApiError> {
    let page = st.db.hold_review(&cu.actor(), &cu.scope, id, &req.summary, &req.tasks).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok((axum::http::StatusCode::CREATED, Json(page)))
}

/// Closes a rectification task (not by its owner).
#[utoipa::path(post, path = "/api/v1/rectifications/{id}/close", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = CloseTask, responses((status = 200, body = Object), (status = 409), (status = 422)))]
pub async fn close_task(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CloseTask>,
) -> Result<Json<Task>, ApiError> {
    let task = st.db.close_task(&cu.actor(), &cu.scope, id, &req.note).await?;
    crate::cluster::announce(&st, crate::cluster::Change::Late);
    Ok(Json(task))
}

/// Rectification in the caller's region: tasks, closed, overdue, supervised open, closure rate.
#[utoipa::path(get, path = "/api/v1/rectifications/summary", tag = "lifecycle", responses((status = 200, body = Object)))]
pub async fn rectification_summary(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
) -> Result<Json<RectificationSummary>, ApiError> {
    Ok(Json(st.db.rectification_summary(&cu.scope).await?))
}

/// Files photos of a rectification task's fix as its evidence (the task's owner, or the bureau); a
/// task is closed only once it has evidence.
#[utoipa::path(post, path = "/api/v1/rectifications/{id}/evidence", tag = "lifecycle", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "files `photos`"),
    responses((status = 201, description = "the task with its evidence"), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn add_evidence(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(axum::http::StatusCode, Json<Task>), ApiError> {
    let task = st.db.task(&cu.scope, id).await?;
    if task.owner != cu.user.username && !cu.role.allows(huanxin_domain::access::Permission::AdvanceStage) {
        return Err(ApiError::Forbidden(reason!("lifecycle.evidence_owner_only")));
    }
    let (_, photos) = crate::construction::read_form(multipart).await?;
    let task = st.db.add_evidence(&cu.actor(), &cu.scope, id, photos).await?;
    Ok((axum::http::StatusCode::CREATED, Json(task)))
}

/// A region's assessment checklist: the lines in force there, and the national defaults (to
/// bring back a line the region dropped).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChecklistPage {
    pub region_code: String,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<huanxin_domain::assessment::ChecklistItem>,
    #[schema(value_type = Vec<Object>)]
    pub national: Vec<huanxin_domain::assessment::ChecklistItem>,
}

/// Which region's checklist to read; the caller's own if not given.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChecklistQuery {
    pub region: Option<String>,
}

/// The assessment checklist in force in a region (the national one with the changes of every
/// enclosing region).
#[utoipa::path(get, path = "/api/v1/checklist", tag = "lifecycle", params(ChecklistQuery), responses((status = 200, body = ChecklistPage)))]
pub async fn checklist(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<ChecklistQuery>,
) -> Result<Json<ChecklistPage>, ApiError> {
    let region = q.region.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| cu.user.region_code.clone());
    let rc = cu.region_readable(&region)?;
    Ok(Json(ChecklistPage {
        region_code: rc.as_str().to_string(),
        items: st.db.checklist_for(rc.as_str()).await?,
        national: huanxin_domain::assessment::national_checklist(),
    }))
}

/// Sets a region's own version of a checklist line: label, level, weight, or drops it.
#[utoipa::path(put, path = "/api/v1/checklist/{region}/{code}", tag = "lifecycle", params(("region" = String, Path), ("code" = String, Path)),
    request_body(content = Object, description = "level, label_zh, label_en, weight (1–100), active"),
    responses((status = 200, body = ChecklistPage), (status = 422)))]
pub async fn set_checklist_item(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((region, code)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<huanxin_domain::assessment::ChecklistInput>,
) -> Result<Json<ChecklistPage>, ApiError> {
    let (item, active) = input.validate(&code)?;
    st.db.set_checklist_item(&cu.actor(), &cu.scope, &region, &item, active).await?;
    checklist(State(st), Extension(cu), ApiQuery(ChecklistQuery { region: Some(region) })).await
}
