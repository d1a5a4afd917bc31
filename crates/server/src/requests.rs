//! HTTP routes of service requests (民生接待 / 诉求): residents file them from the phone and follow
//! their status; staff take them by phone or at the desk, answer and resolve them; residents rate.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::access::{Permission, Role};
use huanxin_domain::reason;
use huanxin_domain::requests::{Category, RequestInput, Status};
use huanxin_store::requests::{RequestError, RequestFilter, ServiceRequest};
use serde::Deserialize;

/// Staff move a request on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HandleRequest {
    /// `in_progress` or `resolved`.
    pub status: String,
    #[serde(default)]
    pub answer: String,
}

/// A resident's rating of a resolved request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Rating {
    pub rating: i64,
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        match e {
            // A missing answer and a rating out of range are bad input, named by their field; the
            // rest are steps the request's state does not allow.
            RequestError::Refused(r @ huanxin_domain::requests::Refusal::AnswerMissing) => ApiError::field("answer", "", r.reason()),
            RequestError::Refused(r @ huanxin_domain::requests::Refusal::BadRating) => ApiError::field("rating", "", r.reason()),
            RequestError::Refused(r) => ApiError::Conflict(r.reason()),
            RequestError::Store(s) => s.into(),
        }
    }
}

/// Files a request: a resident for their estate (and one of their dwellings), staff on someone's behalf.
#[utoipa::path(post, path = "/api/v1/estates/{id}/requests", tag = "requests", params(("id" = i64, Path)),
    request_body = Object, responses((status = 201, description = "the request"), (status = 403), (status = 422)))]
pub async fn file(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<RequestInput>,
) -> Result<(StatusCode, Json<ServiceRequest>), ApiError> {
    let (category, text) = input.validate()?;
    let (author, channel) = if cu.role == Role::Resident {
        if let Some(d) = input.dwelling_id {
            if st.db.is_owner_of(cu.user.id, d).await?.is_none() {
                return Err(ApiError::Forbidden(reason!("field.not_your_dwelling")));
            }
        }
        (cu.user.display_name.clone(), "online")
    } else {
        cu.require(Permission::ConsultResidents)?;
        if input.author.trim().is_empty() {
            return Err(ApiError::field("author", "", reason!("requests.requester_required")));
        }
        // A person's name as the caller gave it, as long as a name (the text holds the rest).
        if input.author.trim().chars().count() > 64 {
            return Err(ApiError::field("author", input.author.trim().chars().count(), reason!("field.at_most_chars", max = 64)));
        }
        (input.author.trim().to_string(), "desk")
    };
    let r = st.db.file_request(&cu.actor(), &cu.scope, id, input.dwelling_id, &author, channel, category, &text).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// An estate's requests: all of them for staff, a resident's own for a resident.
#[utoipa::path(get, path = "/api/v1/estates/{id}/requests", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, description = "requests"), (status = 403), (status = 404)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ServiceRequest>>, ApiError> {
    cu.require(Permission::ReadRequests)?;
    let only = (cu.role == Role::Resident).then_some(cu.user.id);
    Ok(Json(st.db.requests_of(&cu.scope, id, only).await?))
}

/// Requests on every estate in the caller's scope (a resident: their own), open ones soonest due
/// first: `{items, total, page, per_page}`.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests",
    params(("status" = Option<String>, Query, description = "open, submitted, in_progress or resolved"),
           ("category" = Option<String>, Query), ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    responses((status = 200, description = "a page of requests with their estate's name, and how many match"), (status = 422)))]
pub async fn region(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(f): ApiQuery<RequestFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty() && *s != "open" && Status::parse(s).is_none()) {
        return Err(ApiError::field("status", s, reason!("requests.status_filter")));
    }
    if let Some(c) = f.category.as_deref().filter(|c| !c.is_empty() && Category::parse(c).is_none()) {
        return Err(ApiError::field("category", c, reason!("requests.category_kind")));
    }
    let only = (cu.role == Role::Resident).then_some(cu.user.id);
    let (total, page, per_page, items) = st.db.requests_in_scope(&cu.scope, only, &f).await?;
    Ok(Json(serde_json::json!({"items": items, "total": total, "page": page, "per_page": per_page})))
}

/// The signed-in resident's requests with their status.
#[utoipa::path(get, path = "/api/v1/residents/requests", tag = "requests", responses((status = 200, description = "requests")))]
pub async fn mine(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<ServiceRequest>>, ApiError> {
    Ok(Json(st.db.my_requests(cu.user.id).await?))
}

/// Moves a request on: in progress, or resolved with an answer (409 names why not).
#[utoipa::path(post, path = "/api/v1/requests/{id}/handle", tag = "requests", params(("id" = i64, Path)),
    request_body = HandleRequest, responses((status = 200, description = "the request"), (status = 409), (status = 422)))]
pub async fn handle(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<HandleRequest>,
) -> Result<Json<ServiceRequest>, ApiError> {
    let to = Status::parse(&req.status)
        .filter(|s| *s != Status::Submitted)
        .ok_or_else(|| ApiError::field("status", &req.status, reason!("requests.status_kind")))?;
    Ok(Json(st.db.handle_request(&cu.actor(), &cu.scope, id, to, &req.answer).await?))
}

/// The resident who filed a resolved request rates it (1 to 5).
#[utoipa::path(post, path = "/api/v1/requests/{id}/rating", tag = "requests", params(("id" = i64, Path)),
    request_body = Rating, responses((status = 200, description = "the request"), (status = 403), (status = 409)))]
pub async fn rate(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Rating>,
) -> Result<Json<ServiceRequest>, ApiError> {
    // Out of scope is "not found" before anything else is said about the request.
    st.db.request_in_scope(&cu.scope, id).await?;
    if st.db.request_author(id).await? != Some(cu.user.id) {
        return Err(ApiError::Forbidden(reason!("requests.rater_is_filer")));
    }
    Ok(Json(st.db.rate_request(&cu.actor(), &cu.scope, id, req.rating).await?))
}

/// A request's text, for a suggested category.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SuggestCategory {
    /// Missing is refused as empty, by the field's name.
    #[serde(default)]
    pub text: String,
}

/// A category of the tree with its names, and how sure the model is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SuggestedCategory {
    pub code: String,
    pub zh: String,
    pub en: String,
    /// The group it belongs to.
    pub parent: Option<String>,
    /// 0 to 1.
    pub confidence: f64,
}

/// The national tree of request categories: groups and their kinds, with the working days each is due in.
#[utoipa::path(get, path = "/api/v1/request-categories", tag = "requests", responses((status = 200, description = "the tree, each group followed by its kinds")))]
pub async fn categories() -> Json<&'static [huanxin_domain::requests::categories::RequestCategory]> {
    Json(huanxin_domain::requests::categories::TREE)
}

/// Suggests the category of a request from its text: the three likeliest kinds with their
/// confidence (the one who files confirms or picks another); none when the text has no word or
/// character the model has seen.
#[utoipa::path(post, path = "/api/v1/requests/suggest-category", tag = "requests", request_body = SuggestCategory,
    responses((status = 200, description = "the three likeliest categories, the likeliest first; empty when the text gives nothing to go on"), (status = 422)))]
pub async fn suggest_category(ApiJson(req): ApiJson<SuggestCategory>) -> Result<Json<Vec<SuggestedCategory>>, ApiError> {
    let text = req.text.trim().to_string();
    let length = text.chars().count();
    if length == 0 || length > 2_000 {
        return Err(ApiError::field("text", length, reason!("field.length", max = 2000)));
    }
    // The first call loads the dictionary and trains the model (under a second): off the async workers.
    let found = tokio::task::spawn_blocking(move || huanxin_domain::requests::classify::SHIPPED.suggest(&text))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let out = found
        .into_iter()
        .filter_map(|s| {
            let c = huanxin_domain::requests::categories::category(&s.code)?;
            Some(SuggestedCategory {
                code: c.code.into(),
                zh: c.zh.into(),
                en: c.en.into(),
                parent: c.parent.map(str::to_string),
                confidence: (s.confidence * 1000.0).round() / 1000.0,
            })
        })
        .take(3)
        .collect();
    Ok(Json(out))
}
