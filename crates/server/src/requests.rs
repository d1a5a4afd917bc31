//! HTTP routes of service requests (民生接待 / 诉求): residents file them from the phone, staff take
//! them by phone, WeChat, reception, letter or on patrol; each is filed under the category tree
//! (the model suggests one, staff confirm or correct it, and corrections teach the model), routed
//! to the unit that handles it, handed over with a timeline, put under supervision when late and
//! closed by a callback visit or the resident's rating.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::access::{Permission, Role, Scope};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::categories::{Category, CategorySetting, Tree};
use huanxin_domain::requests::classify::Classifier;
use huanxin_domain::requests::routing::UnitKind;
use huanxin_domain::requests::{self as rules, RequestInput, Status};
use huanxin_store::requests::{Action, RequestError, RequestEvent, RequestFilter, RequestUnit, ServiceRequest, Target, Viewer};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::RwLock;

pub mod digest;
pub mod hotline;
pub mod open311;

/// The category model: the shipped examples, and per county the corrections its desks made to
/// suggestions on requests others filed (a correction teaches only its own county, never takes a
/// text away from a danger, and never comes from the one who filed it). Each county's layer is
/// read once from the database and then learns one correction at a time; each server learns the
/// corrections made through it at once and the others' when it starts.
#[derive(Default)]
pub struct LearnedModel {
    local: tokio::sync::OnceCell<RwLock<HashMap<String, Classifier>>>,
}

/// The county a user's suggestions learn from: the first six digits of a region at county level
/// or below; none above.
pub fn county_of(region: &str) -> Option<String> {
    let county = region.get(..6)?;
    (county.get(4..6) != Some("00")).then(|| county.to_string())
}

impl LearnedModel {
    async fn layers(&self, st: &AppState) -> Result<&RwLock<HashMap<String, Classifier>>, ApiError> {
        self.local
            .get_or_try_init(|| async {
                let corrections = st.db.category_corrections().await?;
                tokio::task::spawn_blocking(move || {
                    let mut layers: HashMap<String, Classifier> = HashMap::new();
                    for (county, code, text) in &corrections {
                        layers.entry(county.clone()).or_default().learn(code, text);
                    }
                    RwLock::new(layers)
                })
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))
            })
            .await
    }

    /// A county's corrections (empty for none), to read many texts off the async workers.
    pub async fn layer(&self, st: &AppState, county: Option<&str>) -> Result<Classifier, ApiError> {
        let layers = self.layers(st).await?.read().map_err(|_| ApiError::Internal("category model poisoned".into()))?;
        Ok(county.and_then(|c| layers.get(c)).cloned().unwrap_or_default())
    }

    /// The likeliest categories for a text, as the county's desks have taught them.
    pub async fn suggest(&self, st: &AppState, county: Option<&str>, text: &str) -> Result<Vec<rules::classify::Suggestion>, ApiError> {
        let layers = self.layers(st).await?.read().map_err(|_| ApiError::Internal("category model poisoned".into()))?;
        let none = Classifier::default();
        // At most 2,000 characters: well under a millisecond of segmenting, on the async worker.
        Ok(rules::classify::SHIPPED.suggest_with(county.and_then(|c| layers.get(c)).unwrap_or(&none), text))
    }

    /// Learns one correction into its county's layer.
    pub async fn learn(&self, st: &AppState, county: &str, code: &str, text: &str) -> Result<(), ApiError> {
        let mut layers = self.layers(st).await?.write().map_err(|_| ApiError::Internal("category model poisoned".into()))?;
        layers.entry(county.to_string()).or_default().learn(code, text);
        Ok(())
    }
}

/// Which requests the caller sees: a desk its region's, an organisation its unit's, a resident
/// their own.
async fn viewer<'a>(st: &AppState, cu: &'a CurrentUser) -> Result<Viewer<'a>, ApiError> {
    Ok(match cu.role {
        Role::Resident => Viewer::Resident(cu.user.id),
        r if r.is_attachment_scoped() => Viewer::Unit(st.db.unit_of(cu.user.id).await?),
        _ => Viewer::Desk(&cu.scope),
    })
}

/// Only a desk routes requests (transfers, merges, corrects the category, calls back).
fn require_dispatch(cu: &CurrentUser) -> Result<(), ApiError> {
    cu.require(Permission::DispatchRequests)
}

/// The unit a request is routed to handles it: its organisation's staff, or a desk over the office.
fn may_handle(cu: &CurrentUser, r: &ServiceRequest) -> Result<(), ApiError> {
    cu.require(Permission::HandleRequests)?;
    let ok = match (&cu.scope, r.unit_id) {
        // Organisations see only their unit's requests, so seeing it is being its unit.
        (Scope::Attached { .. }, Some(_)) => true,
        (Scope::Region(_), None) => cu.scope.covers_code(&r.unit_region),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(reason!("requests.not_your_unit", unit = r.unit_name)))
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        use huanxin_domain::requests::Refusal;
        match e {
            // Missing words and a rating out of range are bad input, named by their field; the
            // rest are steps the request's state does not allow.
            RequestError::Refused(r @ Refusal::AnswerMissing) => ApiError::field("answer", "", r.reason()),
            RequestError::Refused(r @ Refusal::ReasonMissing) => ApiError::field("reason", "", r.reason()),
            RequestError::Refused(r @ Refusal::BadRating) => ApiError::field("rating", "", r.reason()),
            RequestError::Refused(r) => ApiError::Conflict(r.reason()),
            RequestError::Store(s) => s.into(),
        }
    }
}

/// Files a request: a resident for their estate (and one of their dwellings), staff and grid
/// workers on someone's behalf, with the channel it came by.
#[utoipa::path(post, path = "/api/v1/estates/{id}/requests", tag = "requests", params(("id" = i64, Path)),
    request_body = Object, responses((status = 201, description = "the request, routed"), (status = 403), (status = 422)))]
pub async fn file(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<RequestInput>,
) -> Result<(StatusCode, Json<ServiceRequest>), ApiError> {
    let suggested = input.suggested_category.as_deref().filter(|s| !s.is_empty());
    let (author, channel, confirmed_by) = if cu.role == Role::Resident {
        if let Some(d) = input.dwelling_id {
            if st.db.is_owner_of(cu.user.id, d).await?.is_none() {
                return Err(ApiError::Forbidden(reason!("field.not_your_dwelling")));
            }
        }
        (cu.user.display_name.clone(), "online".to_string(), None)
    } else {
        if cu.role != Role::GridWorker {
            cu.require(Permission::ConsultResidents)?;
        }
        if input.author.trim().is_empty() {
            return Err(ApiError::field("author", "", reason!("requests.requester_required")));
        }
        // A person's name as the caller gave it, as long as a name (the text holds the rest).
        if input.author.trim().chars().count() > 64 {
            return Err(ApiError::field("author", input.author.trim().chars().count(), reason!("field.at_most_chars", max = 64)));
        }
        let channel = if input.channel.is_empty() {
            if cu.role == Role::GridWorker {
                "patrol"
            } else {
                "phone"
            }
        } else {
            &input.channel
        };
        // Staff choosing the category is their confirmation of it.
        (input.author.trim().to_string(), channel.to_string(), Some(cu.user.username.as_str()))
    };
    // Filed under the tree where the estate lies (an estate out of sight is not found).
    let estate = st.db.get_estate(&cu.scope, id).await?;
    let (category, text) = input.validate(&st.db.category_tree_at(&estate.community_code).await?)?;
    let r = st
        .db
        .file_request(&cu.actor(), &cu.scope, id, input.dwelling_id, &author, &channel, &category, &text, suggested, confirmed_by)
        .await?;
    // Filing teaches the model nothing: only a desk's correction of someone else's filing does.
    let (r, warnings) = r;
    for w in warnings {
        notify_warning(&st, w);
    }
    Ok((StatusCode::CREATED, Json(r)))
}

/// An estate's requests the caller sees: a desk all of them, an organisation its unit's, a
/// resident their own.
#[utoipa::path(get, path = "/api/v1/estates/{id}/requests", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, description = "requests"), (status = 403), (status = 404)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ServiceRequest>>, ApiError> {
    cu.require(Permission::ReadRequests)?;
    // An organisation reads an estate's list only for the estates it is attached to (a utility
    // reads its requests from `/requests`): an estate elsewhere is not found.
    let v = viewer(&st, &cu).await?;
    Ok(Json(st.db.requests_of(&cu.scope, v, id).await?))
}

/// Requests the caller sees, open ones soonest due first: `{items, total, page, per_page}`.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests",
    params(("status" = Option<String>, Query, description = "open, submitted, in_progress, returned, resolved or closed"),
           ("category" = Option<String>, Query, description = "a leaf or a group of the tree"),
           ("mine" = Option<bool>, Query, description = "only those routed to the caller's own office or unit"),
           ("supervised" = Option<bool>, Query, description = "only those under supervision (挂牌督办)"),
           ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    responses((status = 200, description = "a page of requests with their estate's name, and how many match"), (status = 422)))]
pub async fn region(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(f): ApiQuery<RequestFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty() && *s != "open" && Status::parse(s).is_none()) {
        return Err(ApiError::field("status", s, reason!("requests.status_filter")));
    }
    let tree = caller_tree(&st, &cu).await?;
    if let Some(c) = f.category.as_deref().filter(|c| !c.is_empty() && tree.category(c).is_none()) {
        return Err(ApiError::field("category", c, reason!("requests.category_kind")));
    }
    let v = viewer(&st, &cu).await?;
    let office = match &cu.scope {
        Scope::Region(rc) => Some(rc.as_str().to_string()),
        Scope::Attached { .. } => None,
    };
    let (total, page, per_page, items) = st.db.requests_in_scope(v, office.as_deref(), &f).await?;
    Ok(Json(serde_json::json!({"items": items, "total": total, "page": page, "per_page": per_page})))
}

/// One request with its timeline, the open requests likely the same matter, and what the caller
/// may do with it.
#[derive(Debug, serde::Serialize)]
pub struct RequestDetail {
    pub request: ServiceRequest,
    /// Where: the estate's name and address (a unit may not be attached to the estate).
    pub estate_name: String,
    pub estate_address: String,
    pub events: Vec<RequestEvent>,
    pub duplicates: Vec<ServiceRequest>,
    /// The caller's unit or office has it: accept, resolve, return.
    pub may_handle: bool,
    /// The caller routes requests: transfer, merge, correct the category, call back.
    pub may_dispatch: bool,
}

/// A request, its timeline (every hand-over), likely duplicates and what the caller may do.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, description = "the request"), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RequestDetail>, ApiError> {
    let v = viewer(&st, &cu).await?;
    let (request, _) = st.db.request_seen(v, id).await?;
    let events = st.db.request_events(v, id).await?;
    let dispatch = cu.role.allows(Permission::DispatchRequests);
    let duplicates = if dispatch { st.db.likely_duplicates(v, id).await? } else { Vec::new() };
    let may_handle = may_handle(&cu, &request).is_ok();
    let (estate_name, estate_address) = st.db.estate_name_and_address(request.estate_id).await?;
    Ok(Json(RequestDetail { request, estate_name, estate_address, events, duplicates, may_handle, may_dispatch: dispatch }))
}

/// The signed-in resident's requests with their status.
#[utoipa::path(get, path = "/api/v1/residents/requests", tag = "requests", responses((status = 200, description = "requests")))]
pub async fn mine(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<ServiceRequest>>, ApiError> {
    Ok(Json(st.db.my_requests(cu.user.id).await?))
}

/// The unit that has a request moves it on.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HandleRequest {
    /// `in_progress` (taken on) or `resolved` (answered).
    pub status: String,
    #[serde(default)]
    pub answer: String,
}

async fn take_step(st: &AppState, cu: &CurrentUser, id: i64, action: Action) -> Result<Json<ServiceRequest>, ApiError> {
    let v = viewer(st, cu).await?;
    Ok(Json(st.db.step_request(&cu.actor(), v, id, action).await?))
}

/// Takes a request on or answers it (the unit it is routed to; 409 names why not).
#[utoipa::path(post, path = "/api/v1/requests/{id}/handle", tag = "requests", params(("id" = i64, Path)),
    request_body = HandleRequest, responses((status = 200, description = "the request"), (status = 403), (status = 409), (status = 422)))]
pub async fn handle(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<HandleRequest>,
) -> Result<Json<ServiceRequest>, ApiError> {
    let action = match req.status.trim() {
        "in_progress" => Action::Accept,
        "resolved" => Action::Resolve { answer: req.answer.clone() },
        other => return Err(ApiError::field("status", other, reason!("requests.status_kind"))),
    };
    let (r, _) = st.db.request_seen(viewer(&st, &cu).await?, id).await?;
    may_handle(&cu, &r)?;
    take_step(&st, &cu, id, action).await
}

/// Why a request is given back or sent elsewhere.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StepReason {
    #[serde(default)]
    pub reason: String,
}

/// The unit gives a request back to the dispatcher (not its matter), with the reason.
#[utoipa::path(post, path = "/api/v1/requests/{id}/return", tag = "requests", params(("id" = i64, Path)),
    request_body = StepReason, responses((status = 200, description = "the request"), (status = 403), (status = 409), (status = 422)))]
pub async fn give_back(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StepReason>,
) -> Result<Json<ServiceRequest>, ApiError> {
    let (r, _) = st.db.request_seen(viewer(&st, &cu).await?, id).await?;
    may_handle(&cu, &r)?;
    if req.reason.chars().count() > 500 {
        return Err(ApiError::field("reason", req.reason.chars().count(), reason!("field.at_most_chars", max = 500)));
    }
    take_step(&st, &cu, id, Action::ReturnToDispatch { reason: req.reason }).await
}

/// Where a request is transferred: a registered unit by id, or a kind (an office of the estate's
/// place, or the estate's own property company, contractor or utility of that kind).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TransferRequest {
    pub unit_id: Option<i64>,
    #[serde(default)]
    pub unit_kind: String,
    #[serde(default)]
    pub reason: String,
}

/// The dispatcher sends a request to another unit, with the reason; it starts there as submitted.
#[utoipa::path(post, path = "/api/v1/requests/{id}/transfer", tag = "requests", params(("id" = i64, Path)),
    request_body = TransferRequest, responses((status = 200, description = "the request"), (status = 403), (status = 409), (status = 422)))]
pub async fn transfer(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Result<Json<ServiceRequest>, ApiError> {
    require_dispatch(&cu)?;
    let (r, community) = st.db.request_seen(viewer(&st, &cu).await?, id).await?;
    if req.reason.chars().count() > 500 {
        return Err(ApiError::field("reason", req.reason.chars().count(), reason!("field.at_most_chars", max = 500)));
    }
    let to: Target = match (req.unit_id, req.unit_kind.trim()) {
        (Some(unit), _) => st.db.unit_serving(unit, &community).await?,
        (None, kind) => {
            let kind = UnitKind::parse(kind).ok_or_else(|| ApiError::field("unit_kind", kind, reason!("requests.unit_kind")))?;
            st.db
                .unit_for(r.estate_id, &community, kind)
                .await?
                .ok_or_else(|| ApiError::field("unit_kind", kind.as_str(), reason!("requests.no_unit_of_kind")))?
        }
    };
    if to.unit_id == r.unit_id
        && to.region == r.unit_region
        && to.kind.as_str() == r.unit_kind
        && Status::parse(&r.status) != Some(Status::Returned)
    {
        return Err(ApiError::field("unit_id", to.name, reason!("requests.same_unit")));
    }
    take_step(&st, &cu, id, Action::Transfer { to, reason: req.reason }).await
}

/// The request a duplicate is merged into.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MergeRequest {
    pub into: i64,
}

/// The dispatcher merges a duplicate into an open request of the same estate and category; the
/// duplicate is closed and points to the one kept.
#[utoipa::path(post, path = "/api/v1/requests/{id}/merge", tag = "requests", params(("id" = i64, Path)),
    request_body = MergeRequest, responses((status = 200, description = "the merged request"), (status = 403), (status = 404), (status = 409)))]
pub async fn merge(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<MergeRequest>,
) -> Result<Json<ServiceRequest>, ApiError> {
    require_dispatch(&cu)?;
    take_step(&st, &cu, id, Action::Merge { into: req.into }).await
}

/// The category staff confirm or choose.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfirmCategory {
    #[serde(default)]
    pub category: String,
}

/// The dispatcher confirms or corrects a request's category; a correction of the model's
/// suggestion teaches the model at once.
#[utoipa::path(post, path = "/api/v1/requests/{id}/category", tag = "requests", params(("id" = i64, Path)),
    request_body = ConfirmCategory, responses((status = 200, description = "the request"), (status = 403), (status = 409), (status = 422)))]
pub async fn confirm_category(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ConfirmCategory>,
) -> Result<Json<ServiceRequest>, ApiError> {
    require_dispatch(&cu)?;
    let v = viewer(&st, &cu).await?;
    let (_, community) = st.db.request_seen(v, id).await?;
    let tree = st.db.category_tree_at(&community).await?;
    let category = tree
        .leaf(&req.category)
        .ok_or_else(|| ApiError::field("category", &req.category, rules::category_refusal(&tree, &req.category)))?;
    let (r, learn) = st.db.confirm_request_category(&cu.actor(), v, id, category).await?;
    if let Some((county, code, text)) = learn {
        st.classifier.learn(&st, &county, &code, &text).await?;
    }
    Ok(Json(r))
}

/// A callback visit (回访): was the resident satisfied, their rating, a note.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Callback {
    pub satisfied: bool,
    pub rating: i64,
    #[serde(default)]
    pub note: String,
}

/// The dispatcher's callback visit on an answered request: satisfied closes it with the rating,
/// not satisfied sends it back to the unit to handle again.
#[utoipa::path(post, path = "/api/v1/requests/{id}/callback", tag = "requests", params(("id" = i64, Path)),
    request_body = Callback, responses((status = 200, description = "the request"), (status = 403), (status = 409), (status = 422)))]
pub async fn callback(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Callback>,
) -> Result<Json<ServiceRequest>, ApiError> {
    require_dispatch(&cu)?;
    if req.note.chars().count() > 500 {
        return Err(ApiError::field("note", req.note.chars().count(), reason!("field.at_most_chars", max = 500)));
    }
    if !req.satisfied && req.note.trim().is_empty() {
        return Err(ApiError::field("note", "", reason!("requests.reason_missing")));
    }
    // Four eyes: who answered it does not also sign it off.
    let (r, _) = st.db.request_seen(viewer(&st, &cu).await?, id).await?;
    if r.handled_by.as_deref() == Some(cu.user.username.as_str()) && r.status == Status::Resolved.as_str() {
        return Err(ApiError::Forbidden(reason!("requests.callback_by_other")));
    }
    take_step(&st, &cu, id, Action::Callback { satisfied: req.satisfied, rating: req.rating, note: req.note }).await
}

/// A resident's rating of an answered request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Rating {
    pub rating: i64,
}

/// The resident who filed an answered request rates it (1 to 5), which closes it.
#[utoipa::path(post, path = "/api/v1/requests/{id}/rating", tag = "requests", params(("id" = i64, Path)),
    request_body = Rating, responses((status = 200, description = "the request"), (status = 403), (status = 404), (status = 409)))]
pub async fn rate(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Rating>,
) -> Result<Json<ServiceRequest>, ApiError> {
    // Out of sight is "not found" before anything else is said about the request.
    st.db.request_seen(viewer(&st, &cu).await?, id).await?;
    if st.db.request_author(id).await? != Some(cu.user.id) {
        return Err(ApiError::Forbidden(reason!("requests.rater_is_filer")));
    }
    take_step(&st, &cu, id, Action::Rate { rating: req.rating, note: String::new() }).await
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

/// The category tree in force in the caller's region (the national tree with the changes of
/// the regions enclosing it and its own).
pub(crate) async fn caller_tree(st: &AppState, cu: &CurrentUser) -> Result<Tree, ApiError> {
    let region = RegionCode::parse(&cu.user.region_code).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(st.db.category_tree(&region).await?)
}

/// The tree of request categories in force in the caller's region: groups and their kinds, with
/// the working days each is due in, the kind of unit each goes to first, whether it is retired,
/// and the region whose setting it follows (`set_in`).
#[utoipa::path(get, path = "/api/v1/request-categories", tag = "requests", responses((status = 200, description = "the tree, each group followed by its kinds")))]
pub async fn categories(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(caller_tree(&st, &cu).await?.all().to_vec()))
}

/// A region's change to one category; every field left out follows the regions above.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CategoryChange {
    /// Another Chinese name; a kind of the region's own must have one.
    pub zh: Option<String>,
    pub en: Option<String>,
    /// Working days to answer, 0 (at once) to 60: leaves only.
    pub working_days: Option<u32>,
    /// property, contractor, community, street, bureau, water, power, gas or telecom: leaves only.
    pub unit_kind: Option<String>,
    /// No longer offered to file under (kinds only; a group keeps one in use).
    #[serde(default)]
    pub retired: bool,
}

/// A region of the administrator's own scope (a desk's region, not an organisation's account).
fn settings_region(cu: &CurrentUser, region: &str) -> Result<RegionCode, ApiError> {
    let rc = RegionCode::parse(region).map_err(|r| ApiError::field("region", region, r))?;
    match &cu.scope {
        Scope::Region(own) if own.contains(&rc) => Ok(rc),
        Scope::Region(_) => Err(ApiError::field("region", region, reason!("field.outside_region"))),
        Scope::Attached { .. } => Err(ApiError::Forbidden(reason!("statistics.staff_only"))),
    }
}

/// Sets a region's change to a category, or adds a kind of its own (`code` = `group.name`); the
/// regions below follow it unless they set their own.
#[utoipa::path(put, path = "/api/v1/request-categories/{region}/{code}", tag = "requests",
    params(("region" = String, Path), ("code" = String, Path)), request_body = CategoryChange,
    responses((status = 200, description = "the region's tree as it now stands"), (status = 403), (status = 422)))]
pub async fn set_category(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((region, code)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<CategoryChange>,
) -> Result<Json<Vec<Category>>, ApiError> {
    let region = settings_region(&cu, &region)?;
    let unit_kind = match req.unit_kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(UnitKind::parse(k).ok_or_else(|| ApiError::field("unit_kind", k, reason!("requests.category_unit_kind")))?),
    };
    let setting = CategorySetting { code, zh: req.zh, en: req.en, working_days: req.working_days, unit_kind, retired: req.retired };
    Ok(Json(st.db.set_category(&cu.actor(), &region, &setting).await?.all().to_vec()))
}

/// Takes back a region's change to a category: the regions above decide again.
#[utoipa::path(post, path = "/api/v1/request-categories/{region}/{code}/reset", tag = "requests",
    params(("region" = String, Path), ("code" = String, Path)),
    responses((status = 200, description = "the region's tree as it now stands"), (status = 403), (status = 409), (status = 422)))]
pub async fn reset_category(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> Result<Json<Vec<Category>>, ApiError> {
    let region = settings_region(&cu, &region)?;
    Ok(Json(st.db.reset_category(&cu.actor(), &region, &code).await?.all().to_vec()))
}

/// Suggests the category of a request from its text: the three likeliest kinds with their
/// confidence (the one who files confirms or picks another); none when the text has no word or
/// character the model has seen.
#[utoipa::path(post, path = "/api/v1/requests/suggest-category", tag = "requests", request_body = SuggestCategory,
    responses((status = 200, description = "the three likeliest categories, the likeliest first; empty when the text gives nothing to go on", body = [SuggestedCategory]), (status = 422)))]
pub async fn suggest_category(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<SuggestCategory>,
) -> Result<Json<Vec<SuggestedCategory>>, ApiError> {
    let text = req.text.trim().to_string();
    let length = text.chars().count();
    if length == 0 || length > 2_000 {
        return Err(ApiError::field("text", length, reason!("field.length", max = 2000)));
    }
    let found = st.classifier.suggest(&st, county_of(&cu.user.region_code).as_deref(), &text).await?;
    let tree = caller_tree(&st, &cu).await?;
    let out = found
        .into_iter()
        .filter_map(|s| {
            let c = tree.leaf(&s.code)?;
            Some(SuggestedCategory {
                code: c.code.clone(),
                zh: c.zh.clone(),
                en: c.en.clone(),
                parent: c.parent.clone(),
                confidence: (s.confidence * 1000.0).round() / 1000.0,
            })
        })
        .take(3)
        .collect();
    Ok(Json(out))
}

/// The units requests may be routed to in and above the caller's region, with how many staff each has.
#[utoipa::path(get, path = "/api/v1/request-units", tag = "requests", responses((status = 200, description = "units")))]
pub async fn units(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<RequestUnit>>, ApiError> {
    Ok(Json(st.db.request_units(&cu.scope).await?))
}

/// A unit to register: an organisation (property company, contractor, water, power, gas, telecom).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUnit {
    #[serde(default)]
    pub region_code: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
}

/// Registers a unit for a region in the caller's (an administrator's) region.
#[utoipa::path(post, path = "/api/v1/request-units", tag = "requests", request_body = NewUnit,
    responses((status = 201, description = "the unit"), (status = 422)))]
pub async fn create_unit(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<NewUnit>,
) -> Result<(StatusCode, Json<RequestUnit>), ApiError> {
    let region = RegionCode::parse(&req.region_code).map_err(|r| ApiError::field("region_code", &req.region_code, r))?;
    let kind = UnitKind::parse(&req.kind).ok_or_else(|| ApiError::field("kind", &req.kind, reason!("requests.unit_kind")))?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", name.chars().count(), reason!("field.length", max = 100)));
    }
    if req.phone.chars().count() > 40 {
        return Err(ApiError::field("phone", req.phone.chars().count(), reason!("field.at_most_chars", max = 40)));
    }
    let u = st.db.create_request_unit(&cu.actor(), &cu.scope, &region, kind, name, req.phone.trim()).await?;
    Ok((StatusCode::CREATED, Json(u)))
}

/// A staff account to make a unit's member, by its user name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMember {
    #[serde(default)]
    pub username: String,
}

/// Makes an organisation's staff account (property company, contractor, utility) a member of a
/// unit in the caller's region.
#[utoipa::path(post, path = "/api/v1/request-units/{id}/members", tag = "requests", params(("id" = i64, Path)), request_body = NewMember,
    responses((status = 204, description = "added"), (status = 404), (status = 422)))]
pub async fn add_member(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewMember>,
) -> Result<StatusCode, ApiError> {
    let user = st
        .db
        .user_by_name(req.username.trim())
        .await?
        .filter(|u| Role::parse(&u.role).is_some_and(Role::is_request_unit) && cu.scope.covers_code(&u.region_code))
        .ok_or_else(|| ApiError::field("username", &req.username, reason!("requests.member_kind")))?;
    st.db.add_unit_member(&cu.actor(), &cu.scope, id, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Texts the responsible people about a warning, off the request's path: the filing never waits
/// for the SMS provider, and a message that fails is logged and left out of the count reached.
pub(crate) fn notify_warning(st: &AppState, id: i64) {
    let st = st.clone();
    tokio::spawn(async move {
        let sent = async {
            let w = st.db.request_warning(id).await?;
            let who = st.db.warning_recipients(w.request_id).await?;
            let tree = st.db.category_tree_at(&w.community_code).await?;
            let kind = tree.zh(&w.category);
            let text = match w.kind.as_str() {
                "danger" => {
                    format!("【焕新预警】{}有居民反映“{}”（{}），诉求#{}，请立即核实处置。", w.estate_name, w.detail, kind, w.request_id)
                }
                _ => format!(
                    "【焕新预警】{}近7日{}类诉求{}件（此前90日{}件），请关注研判。诉求#{}",
                    w.estate_name, kind, w.recent, w.before, w.request_id
                ),
            };
            let mut reached = 0;
            for (user, phone) in &who {
                match st.sms.send(phone, &text).await {
                    Ok(()) => reached += 1,
                    Err(e) => tracing::warn!(user, error = %e, "warning not sent"),
                }
            }
            st.db.warning_notified(id, reached).await?;
            Ok::<(), ApiError>(())
        };
        if let Err(e) = sent.await {
            tracing::warn!(warning = id, error = %e, "warning not notified");
        }
    });
}

/// Which warnings a list shows.
#[derive(Debug, Deserialize)]
pub struct WarningFilter {
    /// `true`: only those nobody has taken note of.
    #[serde(default)]
    pub open: bool,
}

/// Early warnings on the requests the caller sees: a danger named in a text, an estate's requests
/// of one kind piling up in a week or rising well above their usual rate (the unanswered first).
#[utoipa::path(get, path = "/api/v1/request-warnings", tag = "requests", params(("open" = Option<bool>, Query, description = "only those nobody has taken note of")),
    responses((status = 200, description = "warnings with their estate, kind, counts and who took note")))]
pub async fn warnings(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(f): ApiQuery<WarningFilter>,
) -> Result<Json<Vec<huanxin_store::requests::warnings::RequestWarning>>, ApiError> {
    // Warnings are the desks' (they count other people's requests): others have none to read.
    if !matches!(cu.scope, Scope::Region(_)) {
        return Ok(Json(Vec::new()));
    }
    let v = viewer(&st, &cu).await?;
    Ok(Json(st.db.request_warnings(v, f.open).await?))
}

/// A desk takes note of a warning on an estate of its region (once; 409 after).
#[utoipa::path(post, path = "/api/v1/request-warnings/{id}/acknowledge", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, description = "the warning"), (status = 404), (status = 409)))]
pub async fn acknowledge_warning(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<huanxin_store::requests::warnings::RequestWarning>, ApiError> {
    Ok(Json(st.db.acknowledge_warning(&cu.actor(), &cu.scope, id).await?))
}

/// The window of the hot spots.
#[derive(Debug, Deserialize)]
pub struct HotSpotWindow {
    /// 7 or 30 (default 7).
    pub days: Option<i64>,
}

/// Hot spots: the requests the caller sees of the last 7 or 30 days by kind and by estate (with
/// the estate's position for the map's heat layer); at most a minute old.
#[utoipa::path(get, path = "/api/v1/requests/hotspots", tag = "requests", params(("days" = Option<i64>, Query, description = "7 or 30")),
    responses((status = 200, description = "counts by kind and by estate"), (status = 422)))]
pub async fn hotspots(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(w): ApiQuery<HotSpotWindow>,
) -> Result<Json<huanxin_store::requests::warnings::HotSpots>, ApiError> {
    let days = w.days.unwrap_or(7);
    if days != 7 && days != 30 {
        return Err(ApiError::field("days", days, reason!("requests.hotspot_days")));
    }
    let v = viewer(&st, &cu).await?;
    let key = match v {
        Viewer::Desk(Scope::Region(rc)) => format!("region:{}", rc.as_str()),
        Viewer::Desk(Scope::Attached { user_id }) => format!("user:{user_id}"),
        Viewer::Resident(user_id) => format!("user:{user_id}"),
        Viewer::Unit(unit) => format!("unit:{}", unit.unwrap_or(-1)),
    };
    Ok(Json((*st.hotspots.get(&st, v, key, days).await?).clone()))
}

/// How long a region's hot spots are kept: an analysis a minute old is as good, and a province's
/// window of a million requests is read once a minute, not by every desk that opens the page.
const HOTSPOTS_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

type KeptHotSpots = (std::time::Instant, std::sync::Arc<huanxin_store::requests::warnings::HotSpots>);

/// Recent hot spots by viewer and window; one reading at a time, the others wait for it.
#[derive(Default)]
pub struct HotSpotCache {
    entries: std::sync::Mutex<HashMap<(String, i64), KeptHotSpots>>,
    reading: tokio::sync::Mutex<()>,
}

impl HotSpotCache {
    fn kept(&self, key: &(String, i64)) -> Option<std::sync::Arc<huanxin_store::requests::warnings::HotSpots>> {
        let map = self.entries.lock().ok()?;
        map.get(key).filter(|(at, _)| at.elapsed() < HOTSPOTS_KEPT).map(|(_, h)| h.clone())
    }

    async fn get(
        &self,
        st: &AppState,
        viewer: Viewer<'_>,
        key: String,
        days: i64,
    ) -> Result<std::sync::Arc<huanxin_store::requests::warnings::HotSpots>, ApiError> {
        let key = (key, days);
        if let Some(h) = self.kept(&key) {
            return Ok(h);
        }
        let _one = self.reading.lock().await;
        if let Some(h) = self.kept(&key) {
            return Ok(h);
        }
        let h = std::sync::Arc::new(st.db.request_hotspots(viewer, days).await?);
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 1_000 {
                map.retain(|_, (at, _)| at.elapsed() < HOTSPOTS_KEPT);
            }
            map.insert(key, (std::time::Instant::now(), h.clone()));
        }
        Ok(h)
    }
}
