//! HTTP routes of smart alarms (issue 17): an estate's devices (registered by the desks that keep
//! the registry, the key shown once), the alarm board and each alarm's steps, a device's chart,
//! the ingest's status and its dead letters (docs/alarms.md).

pub mod camera;
pub mod escalation;
pub mod import;
pub mod ingest;
pub mod simulate;

use crate::auth::CurrentUser;
use crate::error::ApiQuery;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::access::Permission;
use huanxin_domain::alarms::escalation::{ChainStep, Tier};
use huanxin_domain::alarms::rules::{estate_place, RulesOverride};
use huanxin_domain::alarms::AlarmStep;
use huanxin_domain::alarms::DeviceKind;
use huanxin_domain::reason;
use huanxin_store::alarms::escalation::{AlarmPhoto, EstateChain, Notification, ResponseRow};
use huanxin_store::alarms::ingest::DeadLetter;
use huanxin_store::alarms::rules::KindRules;
use huanxin_store::alarms::telemetry::Point;
use huanxin_store::alarms::{Alarm, BoardAlarm, BoardFilter, Device, EstateAlarms, NewDevice};
use serde::Deserialize;

/// A device to register on an estate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DeviceRequest {
    /// gas_detector, smoke_detector, water_sensor, door_access, ebike_charger, lift_monitor or camera (or the Chinese name).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub serial: String,
    pub building_id: Option<i64>,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub model: String,
}

/// An estate's devices (their keys are never shown again).
#[utoipa::path(get, path = "/api/v1/estates/{id}/devices", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "devices"), (status = 404)))]
pub async fn devices(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Device>>, ApiError> {
    Ok(Json(st.db.devices_of(&cu.scope, id).await?))
}

/// Registers a device on an estate: the answer carries `device_key` once, for the installer to
/// put on the device (it signs its messages with it).
#[utoipa::path(post, path = "/api/v1/estates/{id}/devices", tag = "alarms", params(("id" = i64, Path)), request_body = DeviceRequest,
    responses((status = 201, description = "the device, with its key shown once"), (status = 403), (status = 404), (status = 422)))]
pub async fn register(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<DeviceRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let kind = DeviceKind::parse(&req.kind).ok_or_else(|| ApiError::field("kind", &req.kind, reason!("alarms.kind")))?;
    for (field, value, max) in [("place", &req.place, 100), ("vendor", &req.vendor, 50), ("model", &req.model, 50)] {
        if value.chars().count() > max || value.chars().any(char::is_control) {
            return Err(ApiError::field(field, value.chars().take(40).collect::<String>(), reason!("field.at_most_chars", max = max)));
        }
    }
    let key = crate::random_key();
    let new = NewDevice {
        estate_id: id,
        building_id: req.building_id,
        place: req.place,
        kind,
        vendor: req.vendor,
        model: req.model,
        serial: req.serial.trim().to_string(),
        key: key.clone(),
    };
    let device = st.db.register_device(&cu.actor(), &cu.scope, &new).await?;
    let mut v = serde_json::to_value(&device).map_err(|e| ApiError::Internal(e.to_string()))?;
    v["device_key"] = key.into();
    Ok((StatusCode::CREATED, Json(v)))
}

/// An estate's alarms, the open ones first.
#[utoipa::path(get, path = "/api/v1/estates/{id}/alarms", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "alarms"), (status = 404)))]
pub async fn alarms(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Alarm>>, ApiError> {
    Ok(Json(st.db.alarms_of(&cu.scope, id).await?))
}

/// The board's filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    pub estate_id: Option<i64>,
    /// gas_leak, smoke, fire, intrusion, offline…
    pub alarm_type: Option<String>,
    /// warning, minor, major or critical.
    pub severity: Option<String>,
    /// `open` (active or acknowledged), active, acknowledged, cleared or closed.
    pub state: Option<String>,
}

/// The alarm board: the alarms of the estates in scope, open and worst first.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "alarms", params(BoardQuery), responses((status = 200, description = "alarms")))]
pub async fn board(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> Result<Json<Vec<BoardAlarm>>, ApiError> {
    if let Some(s) = q.state.as_deref().filter(|s| !s.is_empty()) {
        if s != "open" && huanxin_domain::alarms::AlarmState::parse(s).is_none() {
            return Err(ApiError::field("state", s, reason!("alarms.state_filter")));
        }
    }
    if let Some(s) = q.severity.as_deref().filter(|s| !s.is_empty()) {
        if huanxin_domain::alarms::Severity::parse(s).is_none() {
            return Err(ApiError::field("severity", s, reason!("alarms.severity_filter")));
        }
    }
    if let Some(t) = q.alarm_type.as_deref().filter(|t| !t.is_empty()) {
        if t.len() > 40 || !t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(ApiError::field("alarm_type", t.chars().take(40).collect::<String>(), reason!("alarms.type_filter")));
        }
    }
    let f = BoardFilter { estate_id: q.estate_id, alarm_type: q.alarm_type, severity: q.severity, state: q.state };
    Ok(Json(st.db.alarm_board(&cu.scope, &f).await?))
}

/// The estates in scope with open alarms, how many and the worst (the map's layer).
#[utoipa::path(get, path = "/api/v1/alarms/map", tag = "alarms", responses((status = 200, description = "estates with open alarms")))]
pub async fn map(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<EstateAlarms>>, ApiError> {
    Ok(Json(st.db.estates_alarming(&cu.scope).await?))
}

/// One alarm of an estate in scope.
#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "the alarm"), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Alarm>, ApiError> {
    Ok(Json(st.db.alarm(&cu.scope, id).await?))
}

/// A person's note on a step (required to clear by hand).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StepRequest {
    #[serde(default)]
    pub note: String,
}

async fn take_step(st: &AppState, cu: &CurrentUser, id: i64, step: AlarmStep, note: &str) -> Result<Json<Alarm>, ApiError> {
    cu.require(Permission::RespondAlarms)?;
    if note.chars().count() > 500 || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field("note", note.chars().take(40).collect::<String>(), reason!("field.at_most_chars", max = 500)));
    }
    if step == AlarmStep::ClearByHand && huanxin_domain::reports::is_blank(note) {
        return Err(ApiError::field("note", "", reason!("alarms.note_required")));
    }
    let a = st.db.alarm_step(&cu.actor(), &cu.scope, id, step, note).await?;
    tell_feed(st, &a).await;
    Ok(Json(a))
}

/// Acknowledges an open alarm: someone is on it.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/acknowledge", tag = "alarms", params(("id" = i64, Path)), request_body = StepRequest,
    responses((status = 200, description = "acknowledged"), (status = 403), (status = 404), (status = 409)))]
pub async fn acknowledge(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StepRequest>,
) -> Result<Json<Alarm>, ApiError> {
    take_step(&st, &cu, id, AlarmStep::Acknowledge, &req.note).await
}

/// Clears an open alarm by hand, with a note saying what was found.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/clear", tag = "alarms", params(("id" = i64, Path)), request_body = StepRequest,
    responses((status = 200, description = "cleared"), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn clear(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StepRequest>,
) -> Result<Json<Alarm>, ApiError> {
    take_step(&st, &cu, id, AlarmStep::ClearByHand, &req.note).await
}

/// Closes a cleared alarm.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/close", tag = "alarms", params(("id" = i64, Path)), request_body = StepRequest,
    responses((status = 200, description = "closed"), (status = 403), (status = 404), (status = 409)))]
pub async fn close(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StepRequest>,
) -> Result<Json<Alarm>, ApiError> {
    take_step(&st, &cu, id, AlarmStep::Close, &req.note).await
}

/// A device of an estate in scope.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "the device"), (status = 404)))]
pub async fn device(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(st.db.device(&cu.scope, id).await?))
}

/// How far back a chart reaches.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// Hours back from now (24 by default; per minute up to 48, per hour beyond, at most two years).
    pub hours: Option<i64>,
}

/// A device's readings: per minute over the last day, per hour over longer spans.
#[utoipa::path(get, path = "/api/v1/devices/{id}/telemetry", tag = "alarms", params(("id" = i64, Path), SeriesQuery),
    responses((status = 200, description = "points"), (status = 404)))]
pub async fn telemetry(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> Result<Json<Vec<Point>>, ApiError> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=24 * 730).contains(&hours) {
        return Err(ApiError::field("hours", hours, reason!("alarms.hours")));
    }
    let now = huanxin_store::clock::utc_now().timestamp_millis();
    Ok(Json(st.db.device_series(&cu.scope, id, hours, now).await?))
}

/// What the MQTT ingest has done since the server started.
#[utoipa::path(get, path = "/api/v1/alarms/ingest", tag = "alarms", responses((status = 200, description = "counters", body = ingest::IngestStatus)))]
pub async fn ingest_status(State(st): State<AppState>) -> Json<ingest::IngestStatus> {
    Json(st.ingest.status(!st.config.mqtt_url.trim().is_empty()))
}

/// Messages the ingest refused, newest first: those of devices of estates in scope (those of
/// unknown devices to the whole country's administrators).
#[utoipa::path(get, path = "/api/v1/alarms/dead-letters", tag = "alarms", responses((status = 200, description = "dead letters"), (status = 403)))]
pub async fn dead_letters(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    Ok(Json(st.db.dead_letters(&cu.scope, 200).await?))
}

/// The snapshot a camera sent with the alarm's event.
#[utoipa::path(get, path = "/api/v1/alarms/{id}/snapshot", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "the picture", content_type = "image/jpeg"), (status = 404)))]
pub async fn snapshot(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (mime, bytes) = st.db.alarm_snapshot(&cu.scope, id).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, mime), (axum::http::header::CACHE_CONTROL, "private, max-age=3600".to_string())], bytes)
        .into_response())
}

/// The live feed of the alarms in scope (server-sent events, one `alarm` event per change: raised,
/// escalated, acknowledged, cleared, closed), for the desk's board and its sound.
#[utoipa::path(get, path = "/api/v1/alarms/feed", tag = "alarms",
    responses((status = 200, description = "text/event-stream of `alarm` events", body = escalation::FeedEvent, content_type = "text/event-stream")))]
pub async fn feed(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    headers: axum::http::HeaderMap,
) -> Result<
    axum::response::sse::Sse<impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>>,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let listener = escalation::Listener::of(&st, &cu).await?;
    let (rx, seat) =
        st.alarm_feed.subscribe(cu.user.id).ok_or(ApiError::TooMany(reason!("alarms.feeds_open", max = escalation::FEEDS_PER_USER)))?;
    // The stream ends when the session does (signed out, or the account disabled): looked at
    // every 30 s.
    let check = tokio::time::interval(std::time::Duration::from_secs(30));
    let session = crate::auth::bearer_or_cookie(&headers).map(|t| crate::auth::token_hash(&t)).unwrap_or_default();
    let state = (rx, listener, seat, check, st.clone(), (session, cu.user.id));
    let stream = futures_util::stream::unfold(state, |(mut rx, listener, seat, mut check, st, cu)| async move {
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(e) if listener.hears(&e) => {
                        let ev = Event::default().event("alarm").json_data(&e).unwrap_or_else(|_| Event::default().comment("unreadable"));
                        return Some((Ok(ev), (rx, listener, seat, check, st, cu)));
                    }
                    Ok(_) => {}
                    // A desk that fell behind is told to reload its board rather than dropped.
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("reload").data("lagged")), (rx, listener, seat, check, st, cu)))
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = check.tick() => {
                    if !crate::auth::still_signed_in(&st, &cu.0, cu.1).await {
                        return None;
                    }
                }
            }
        }
    });
    // A closed page is noticed at the next keep-alive, which gives its place back.
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(10))))
}

/// Tells the feed of a step someone took on an alarm.
async fn tell_feed(st: &AppState, a: &Alarm) {
    if let Ok(e) =
        st.db.get_estate(&huanxin_domain::access::Scope::Region(huanxin_domain::regions::RegionCode::country()), a.estate_id).await
    {
        crate::cluster::announce(
            st,
            crate::cluster::Change::Alarm(escalation::FeedEvent {
                kind: a.state.clone(),
                alarm_id: a.id,
                estate_id: a.estate_id,
                estate_name: e.name,
                community_code: e.community_code,
                alarm_type: a.alarm_type.clone(),
                severity: a.severity.clone(),
                tier: None,
                at: huanxin_store::now(),
            }),
        );
    }
}

/// Who was told of an alarm, when, how and with what outcome (its escalation, in order).
#[utoipa::path(get, path = "/api/v1/alarms/{id}/notifications", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "notifications"), (status = 404)))]
pub async fn notifications(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Notification>>, ApiError> {
    Ok(Json(st.db.alarm_notifications(&cu.scope, id).await?))
}

/// An estate's escalation chains: per alarm type, `*` for the rest (the default when none is set).
#[utoipa::path(get, path = "/api/v1/estates/{id}/alarm-chains", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "chains"), (status = 404)))]
pub async fn chains(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<EstateChain>>, ApiError> {
    Ok(Json(st.db.alarm_chains(&cu.scope, id).await?))
}

/// A chain to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChainRequest {
    /// In order: `{"tier": "property" | "grid_worker" | "community" | "street" | "county", "after_minutes": 0}`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<serde_json::Value>,
}

/// Sets an estate's escalation chain for an alarm type (`*`: every type without its own).
#[utoipa::path(put, path = "/api/v1/estates/{id}/alarm-chains/{alarm_type}", tag = "alarms",
    params(("id" = i64, Path), ("alarm_type" = String, Path)), request_body = ChainRequest,
    responses((status = 200, description = "the estate's chains"), (status = 403), (status = 404), (status = 422)))]
pub async fn set_chain(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, alarm_type)): ApiPath<(i64, String)>,
    ApiJson(req): ApiJson<ChainRequest>,
) -> Result<Json<Vec<EstateChain>>, ApiError> {
    if alarm_type != huanxin_store::alarms::escalation::EVERY_TYPE
        && (alarm_type.len() > 40 || alarm_type.is_empty() || !alarm_type.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(ApiError::field("alarm_type", alarm_type.chars().take(40).collect::<String>(), reason!("alarms.type_filter")));
    }
    let mut steps = Vec::new();
    for (i, s) in req.steps.iter().enumerate() {
        let tier = s.get("tier").and_then(|t| t.as_str()).unwrap_or("");
        let tier = Tier::parse(tier).ok_or_else(|| ApiError::field(&format!("steps[{i}].tier"), tier, reason!("alarms.chain_tier")))?;
        let minutes = s.get("after_minutes").and_then(serde_json::Value::as_i64).ok_or_else(|| {
            ApiError::field(
                &format!("steps[{i}].after_minutes"),
                s.get("after_minutes").map(|v| v.to_string()).unwrap_or_default(),
                reason!("field.not_number"),
            )
        })?;
        steps.push(ChainStep { tier, after_minutes: minutes });
    }
    Ok(Json(st.db.set_alarm_chain(&cu.actor(), &cu.scope, id, &alarm_type, &steps).await?))
}

/// Adds the responder's photos of the scene (1 to 3 jpg, png or webp) to an alarm.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/photos", tag = "alarms", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "files `photos` (1 to 3 jpg, png or webp)"),
    responses((status = 201, description = "the alarm's photos"), (status = 403), (status = 404), (status = 413), (status = 422)))]
pub async fn add_photos(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(StatusCode, Json<Vec<AlarmPhoto>>), ApiError> {
    let (_, files) = crate::construction::read_form(multipart).await?;
    if files.is_empty() || files.len() > 3 {
        return Err(ApiError::field("photos", files.len(), reason!("alarms.photo_required")));
    }
    let mut photos = Vec::new();
    for (name, bytes) in files {
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(ApiError::field("photos", name, reason!("field.at_most_mb", max = MAX_PHOTO_BYTES >> 20)));
        }
        match huanxin_domain::archive::check_file(&name, &bytes) {
            Ok(t) if t.mime.starts_with("image/") => photos.push((bytes, t.mime)),
            Ok(_) => return Err(ApiError::field("photos", name, reason!("alarms.photo_required"))),
            Err(why) => return Err(ApiError::field("photos", name, why)),
        }
    }
    Ok((StatusCode::CREATED, Json(st.db.add_alarm_photos(&cu.actor(), &cu.scope, id, photos).await?)))
}

/// The photos of an alarm's response.
#[utoipa::path(get, path = "/api/v1/alarms/{id}/photos", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "photos"), (status = 404)))]
pub async fn photos(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<AlarmPhoto>>, ApiError> {
    Ok(Json(st.db.alarm_photos(&cu.scope, id).await?))
}

/// One photo of an alarm's response.
#[utoipa::path(get, path = "/api/v1/alarms/{id}/photos/{sha256}", tag = "alarms", params(("id" = i64, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "the picture", content_type = "image/jpeg"), (status = 404)))]
pub async fn photo(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, sha)): ApiPath<(i64, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (mime, bytes) = st.db.alarm_photo(&cu.scope, id, &sha).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, mime), (axum::http::header::CACHE_CONTROL, "private, max-age=3600".to_string())], bytes)
        .into_response())
}

/// Largest photo of a response (a phone's picture is a few MB).
const MAX_PHOTO_BYTES: usize = 10 << 20;

/// The period of the response figures.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResponseQuery {
    /// Days back from today (30 by default, at most 366).
    pub days: Option<i64>,
}

/// Response times of the alarms in scope: per estate and per unit of the people who acknowledged
/// (acknowledged within 5 minutes counts as in time: before the default chain's second step).
#[utoipa::path(get, path = "/api/v1/alarms/response", tag = "alarms", params(ResponseQuery),
    responses((status = 200, description = "figures per unit and estate"), (status = 422)))]
pub async fn response(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<ResponseQuery>,
) -> Result<Json<Vec<ResponseRow>>, ApiError> {
    let days = q.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::field("days", days, reason!("alarms.days")));
    }
    let since = (huanxin_store::clock::utc_now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(Json(st.db.alarm_response(&cu.scope, &since, IN_TIME_MINUTES).await?))
}

/// "In time" for the response figures: before the default chain's second step.
const IN_TIME_MINUTES: i64 = 5;

/// Every device kind's rules on an estate, and the overrides (region by region, then the estate's) that made them.
#[utoipa::path(get, path = "/api/v1/estates/{id}/alarm-rules", tag = "alarms", params(("id" = i64, Path)),
    responses((status = 200, description = "per kind: the rules that apply and the overrides"), (status = 404)))]
pub async fn estate_rules(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<KindRules>>, ApiError> {
    Ok(Json(st.db.estate_rules(&cu.scope, id).await?))
}

fn kind_of(kind: &str) -> Result<DeviceKind, ApiError> {
    DeviceKind::parse(kind).ok_or_else(|| ApiError::field("kind", kind.chars().take(40).collect::<String>(), reason!("alarms.rule_kind")))
}

/// Changes a device kind's rules on one estate: thresholds and how long they are held, an event's
/// severity, the silence before offline (what it leaves out follows the regions above; `{}` resets).
#[utoipa::path(put, path = "/api/v1/estates/{id}/alarm-rules/{kind}", tag = "alarms", params(("id" = i64, Path), ("kind" = String, Path)),
    request_body(content = Object, description = "`{metrics: [{metric, alarm_type, levels: [{at_least, for_secs, severity}], clear_after_secs}], events: [{event, alarm_type, severity}], offline_after_minutes}`"),
    responses((status = 200, description = "the estate's rules"), (status = 403), (status = 404), (status = 422)))]
pub async fn set_estate_rules(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((id, kind)): ApiPath<(i64, String)>,
    ApiJson(o): ApiJson<RulesOverride>,
) -> Result<Json<Vec<KindRules>>, ApiError> {
    let kind = kind_of(&kind)?;
    st.db.set_rule_override(&cu.actor(), &cu.scope, &estate_place(id), kind, &o).await?;
    Ok(Json(st.db.estate_rules(&cu.scope, id).await?))
}

/// Changes a device kind's rules for a region and every estate in it (the nearest region wins).
#[utoipa::path(put, path = "/api/v1/alarm-rules/{region}/{kind}", tag = "alarms", params(("region" = String, Path), ("kind" = String, Path)),
    request_body(content = Object, description = "as for an estate"),
    responses((status = 204, description = "set"), (status = 403), (status = 404), (status = 422)))]
pub async fn set_region_rules(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath((region, kind)): ApiPath<(String, String)>,
    ApiJson(o): ApiJson<RulesOverride>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_of(&kind)?;
    st.db.set_rule_override(&cu.actor(), &cu.scope, &region, kind, &o).await?;
    Ok(StatusCode::NO_CONTENT)
}
