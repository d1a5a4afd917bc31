//! HTTP routes of smart alarms (issue 17): an estate's devices (registered by the desks that keep
//! the registry, the key shown once) and its alarms. The ingest and the board are still to come
//! (docs/alarms.md).

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::alarms::DeviceKind;
use huanxin_domain::reason;
use huanxin_store::alarms::{Alarm, Device, NewDevice};
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
    let key = {
        use rand::RngCore;
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
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
