//! HTTP routes of grid management (网格化管理): the desks draw or import a community's grids and
//! name their workers and responsible person; grid workers walk the weekly hazard check of their
//! estates from the phone (photos and position; a hazard becomes a routed request); desks read the
//! week's coverage, the patrols and each worker's workload; desks and grid workers record dispute
//! mediations with the signed agreement.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::access::{Permission, Role};
use huanxin_domain::grids::{self as rules, PatrolInput};
use huanxin_domain::reason;
use huanxin_store::grids::{Coverage, Grid, GridImport, GridInput, Mediation, MediationInput, Patrol, RoundEstate, WorkerLoad};
use serde::Deserialize;

/// The grids of the caller's region, with this week's patrols.
#[utoipa::path(get, path = "/api/v1/grids", tag = "grids", responses((status = 200, description = "grids"), (status = 403)))]
pub async fn list(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Grid>>, ApiError> {
    Ok(Json(st.db.grids(&cu.scope).await?))
}

/// Creates a grid of a community, or redraws the one with its code: name, boundary, estates.
#[utoipa::path(post, path = "/api/v1/grids", tag = "grids", request_body = Object,
    responses((status = 200, description = "the grid"), (status = 403), (status = 422)))]
pub async fn save(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(input): ApiJson<GridInput>,
) -> Result<Json<Grid>, ApiError> {
    Ok(Json(st.db.save_grid(&cu.actor(), &cu.scope, &input).await?))
}

/// Imports grids from a GeoJSON file (field `file`; `community` for features that name none):
/// each estate whose point lies in a grid joins it. All or nothing.
#[utoipa::path(post, path = "/api/v1/grids/import", tag = "grids",
    request_body(content_type = "multipart/form-data", description = "file `file` (GeoJSON FeatureCollection of Polygon or MultiPolygon, properties name, code, community_code), field `community`"),
    responses((status = 200, description = "what was imported"), (status = 403), (status = 422)))]
pub async fn import(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<Json<GridImport>, ApiError> {
    let (fields, files) = crate::construction::read_form(multipart).await?;
    let Some((_, bytes)) = files.into_iter().next() else {
        return Err(ApiError::field("file", "", reason!("field.file_missing")));
    };
    let features = rules::read_geojson(&bytes)?;
    let community = fields.get("community").map(|c| c.trim()).filter(|c| !c.is_empty());
    Ok(Json(st.db.import_grids(&cu.actor(), &cu.scope, community, &features).await?))
}

/// A grid's people: its workers and its responsible person, by user name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct People {
    pub workers: Vec<String>,
    pub leader: String,
}

/// Sets a grid's workers (grid worker accounts of its community) and responsible person.
#[utoipa::path(put, path = "/api/v1/grids/{id}/people", tag = "grids", params(("id" = i64, Path)), request_body = Object,
    responses((status = 200, description = "the grid"), (status = 403), (status = 404), (status = 422)))]
pub async fn set_people(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(p): ApiJson<People>,
) -> Result<Json<Grid>, ApiError> {
    if p.workers.len() > 50 {
        return Err(ApiError::field("workers", p.workers.len(), reason!("field.at_most", max = 50)));
    }
    Ok(Json(st.db.set_grid_people(&cu.actor(), &cu.scope, id, &p.workers, &p.leader).await?))
}

/// A week, by any day of it (this week when none).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WeekQuery {
    pub week: Option<String>,
    /// How many weeks back the workload counts (4 by default).
    pub weeks: Option<u32>,
}

fn week(q: &WeekQuery) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match q.week.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => Ok(None),
        Some(w) => match chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d") {
            Ok(d) if rules::week_in_range(d) => Ok(Some(d)),
            Ok(_) => Err(ApiError::field("week", w, reason!("grids.week_range"))),
            Err(_) => Err(ApiError::field("week", w, reason!("field.date"))),
        },
    }
}

/// The estates of the region's grids and their patrols in a week: those not patrolled come first.
#[utoipa::path(get, path = "/api/v1/grids/coverage", tag = "grids", params(("week" = Option<String>, Query)),
    responses((status = 200, description = "each estate in a grid and its patrols that week"), (status = 403), (status = 422)))]
pub async fn coverage(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<WeekQuery>,
) -> Result<Json<Vec<Coverage>>, ApiError> {
    let day = week(&q)?.unwrap_or_else(huanxin_store::today);
    Ok(Json(st.db.grid_coverage(&cu.scope, day).await?))
}

/// The region's patrols in a week, newest first.
#[utoipa::path(get, path = "/api/v1/grids/patrols", tag = "grids", params(("week" = Option<String>, Query)),
    responses((status = 200, description = "patrols"), (status = 403), (status = 422)))]
pub async fn patrols(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<WeekQuery>,
) -> Result<Json<Vec<Patrol>>, ApiError> {
    Ok(Json(st.db.patrols(&cu.scope, week(&q)?).await?))
}

/// Each grid worker's patrols, hazards and on-time rates over the last weeks.
#[utoipa::path(get, path = "/api/v1/grids/workload", tag = "grids", params(("weeks" = Option<u32>, Query)),
    responses((status = 200, description = "per grid worker"), (status = 403), (status = 422)))]
pub async fn workload(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<WeekQuery>,
) -> Result<Json<Vec<WorkerLoad>>, ApiError> {
    Ok(Json(st.db.grid_workload(&cu.scope, q.weeks.unwrap_or(4)).await?))
}

/// The weekly hazard check's items.
#[utoipa::path(get, path = "/api/v1/grids/checklist", tag = "grids", responses((status = 200, description = "items")))]
pub async fn checklist() -> Json<&'static [rules::CheckItem]> {
    Json(rules::WEEKLY_CHECK)
}

fn require_grid_worker(cu: &CurrentUser) -> Result<(), ApiError> {
    if cu.role == Role::GridWorker {
        Ok(())
    } else {
        Err(ApiError::Forbidden(reason!("grids.only_grid_workers")))
    }
}

/// Who enters a paper form or ballot for a household: the desks that consult residents, or a grid
/// worker going door to door in an estate of their own grids.
pub(crate) async fn may_collect(st: &AppState, cu: &CurrentUser, estate_id: i64) -> Result<(), ApiError> {
    if cu.role != Role::GridWorker {
        return cu.require(Permission::ConsultResidents);
    }
    if st.db.works_on_estate(cu.user.id, estate_id).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(reason!("grids.not_your_estate")))
    }
}

/// Opens an opinion round (征求意见) on every estate of a grid: the same questions, collected online
/// and door to door by the grid's workers, each estate's answers counted as a survey of its own.
#[utoipa::path(post, path = "/api/v1/grids/{id}/opinion-rounds", tag = "grids", params(("id" = i64, Path)), request_body = Object,
    responses((status = 201, description = "the surveys, one per estate"), (status = 403), (status = 404), (status = 422)))]
pub async fn opinion_round(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<huanxin_domain::surveys::SurveyInput>,
) -> Result<(StatusCode, Json<Vec<huanxin_store::surveys::Survey>>), ApiError> {
    let input = huanxin_domain::surveys::SurveyInput { purpose: "opinion".into(), ..input };
    let valid = input.validate(huanxin_store::today())?;
    let estates = st.db.grid_estate_ids(&cu.scope, id).await?;
    if estates.is_empty() {
        return Err(ApiError::Conflict(reason!("grids.no_estates")));
    }
    Ok((StatusCode::CREATED, Json(st.db.create_surveys(&cu.actor(), &cu.scope, &estates, &valid).await?)))
}

/// A grid worker's round: the estates of their grids, the ones not patrolled this week first.
#[utoipa::path(get, path = "/api/v1/grids/round", tag = "grids", responses((status = 200, description = "estates"), (status = 403)))]
pub async fn round(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<RoundEstate>>, ApiError> {
    require_grid_worker(&cu)?;
    Ok(Json(st.db.my_round(cu.user.id).await?))
}

/// Records a patrol from the phone: field `patrol` (JSON: estate_id, items, lon, lat, note) and
/// up to 9 `photos`; each hazard is filed as a request and routed.
#[utoipa::path(post, path = "/api/v1/grids/patrols", tag = "grids",
    request_body(content_type = "multipart/form-data", description = "field `patrol` (JSON: estate_id, items [{code, ok, note}], lon, lat, note), files `photos`"),
    responses((status = 201, description = "the patrol"), (status = 403), (status = 422)))]
pub async fn record_patrol(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(StatusCode, Json<Patrol>), ApiError> {
    require_grid_worker(&cu)?;
    let (fields, photos) = crate::construction::read_form(multipart).await?;
    let raw = fields.get("patrol").map(String::as_str).unwrap_or("");
    let input: PatrolInput =
        serde_json::from_str(raw).map_err(|e| ApiError::field("patrol", "", reason!("request.bad_json", detail = e)))?;
    let hazards = input.validate()?;
    let (patrol, warnings) = st.db.record_patrol(&cu.actor(), cu.user.id, &cu.user.display_name, &input, &hazards, photos).await?;
    for w in warnings {
        crate::requests::notify_warning(&st, w);
    }
    Ok((StatusCode::CREATED, Json(patrol)))
}

/// Desks and grid workers keep mediation records (they name the parties).
fn may_mediate(cu: &CurrentUser) -> Result<(), ApiError> {
    if cu.role == Role::GridWorker {
        return Ok(());
    }
    cu.require(Permission::DispatchRequests)
}

/// An estate's dispute mediation records.
#[utoipa::path(get, path = "/api/v1/estates/{id}/mediations", tag = "grids", params(("id" = i64, Path)),
    responses((status = 200, description = "records"), (status = 403), (status = 404)))]
pub async fn mediations(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Mediation>>, ApiError> {
    may_mediate(&cu)?;
    Ok(Json(st.db.mediations(&cu.scope, id).await?))
}

/// A mediation's signed agreement, for the desks and grid workers who keep mediations.
#[utoipa::path(get, path = "/api/v1/estates/{id}/mediations/{mediation}/agreement", tag = "grids",
    params(("id" = i64, Path), ("mediation" = i64, Path)),
    responses((status = 200, description = "the file"), (status = 403), (status = 404)))]
pub async fn agreement(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, mediation)): ApiPath<(i64, i64)>,
) -> Result<axum::response::Response, ApiError> {
    may_mediate(&cu)?;
    let (name, mime, bytes) = st.db.mediation_agreement(&cu.scope, id, mediation).await?;
    Ok(crate::estates::attachment(bytes, &mime, &name))
}

/// Records a mediation: fields held_on, parties, issue, outcome (agreed, not_agreed, referred),
/// agreement, and the signed agreement as file `agreement_file` (kept with the mediation).
#[utoipa::path(post, path = "/api/v1/estates/{id}/mediations", tag = "grids", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "fields held_on, parties, issue, outcome, agreement; file `agreement_file`"),
    responses((status = 201, description = "the record"), (status = 403), (status = 404), (status = 422)))]
pub async fn record_mediation(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(StatusCode, Json<Mediation>), ApiError> {
    may_mediate(&cu)?;
    let (fields, files) = crate::construction::read_form(multipart).await?;
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let input = MediationInput {
        held_on: field("held_on"),
        parties: field("parties"),
        issue: field("issue"),
        outcome: field("outcome"),
        agreement: field("agreement"),
    };
    let m = st.db.record_mediation(&cu.actor(), &cu.scope, id, &input, files.into_iter().next()).await?;
    Ok((StatusCode::CREATED, Json(m)))
}
