//! Cameras pushing their AI events over HTTP (docs/alarms.md): `POST /api/v1/camera-events/{serial}/{key}`
//! with a Hikvision `EventNotificationAlert` (XML alone, or the multipart form with the snapshot
//! picture) or a Dahua event (JSON). A camera cannot sign or sign in: its address carries its serial
//! and the key it was registered with, compared in constant time (403 when either is wrong). What cannot be read goes to the
//! dead letters with the reason; the snapshot is kept with the alarm it raised.

use crate::error::{ApiError, ApiPath};
use crate::AppState;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use huanxin_domain::alarms::camera::{self, CameraError, CameraEvent, MAX_EVENT_BYTES};
use huanxin_domain::alarms::telemetry::{plain_name, shown_topic, valid_serial};
use huanxin_domain::alarms::DeviceKind;
use huanxin_domain::reason;
use huanxin_store::alarms::ingest::{AlarmChange, DeadLetterRow, IngestBatch};

/// Largest snapshot kept (a camera's JPEG is a few hundred KB).
const MAX_SNAPSHOT_BYTES: usize = 4 * 1024 * 1024;

/// At most this many refused camera pushes are kept per [`REFUSALS_EVERY_MS`] on a server (the MQTT
/// ingest has the same cap): a flood of made-up addresses cannot push real dead letters out.
const REFUSALS_KEPT: u32 = 100;
const REFUSALS_EVERY_MS: i64 = 10_000;

/// True when one more refusal may be kept in this window.
fn may_keep_refusal() -> bool {
    static WINDOW: std::sync::Mutex<(i64, u32)> = std::sync::Mutex::new((0, 0));
    let now = crate::alarms::ingest::now_ms();
    let mut w = WINDOW.lock().unwrap_or_else(|p| p.into_inner());
    if now - w.0 >= REFUSALS_EVERY_MS {
        *w = (now, 0);
    }
    w.1 += 1;
    w.1 <= REFUSALS_KEPT
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a camera sent: its event (or why not) and its snapshot.
struct Received {
    event: Result<CameraEvent, CameraError>,
    body: Vec<u8>,
    snapshot: Option<(Vec<u8>, String)>,
}

async fn read(st: &AppState, req: Request) -> Result<Received, ApiError> {
    let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if kind.starts_with("multipart/") {
        let mut form = axum::extract::Multipart::from_request(req, st)
            .await
            .map_err(|r| ApiError::field("body", "", reason!("request.form_required", body_text = r.body_text())))?;
        let (mut xml, mut snapshot) = (None, None);
        while let Some(field) = form.next_field().await.map_err(|e| crate::estates::multipart_error(&e))? {
            let part = field.content_type().unwrap_or("").to_ascii_lowercase();
            let name = field.file_name().or(field.name()).unwrap_or("").to_ascii_lowercase();
            let bytes = field.bytes().await.map_err(|e| crate::estates::multipart_error(&e))?;
            if part.starts_with("image/") && snapshot.is_none() && bytes.len() <= MAX_SNAPSHOT_BYTES {
                // Kept only when its bytes are the picture its part says (JPEG or PNG).
                let as_named = if part.contains("png") { "snapshot.png" } else { "snapshot.jpg" };
                if let Ok(found) = huanxin_domain::archive::check_file(as_named, &bytes) {
                    snapshot = Some((bytes.to_vec(), found.mime.to_string()));
                }
            } else if (part.contains("xml") || name.ends_with(".xml")) && xml.is_none() {
                xml = Some(bytes.to_vec());
            }
        }
        let body = xml.unwrap_or_default();
        let event = if body.is_empty() { Err(CameraError::Missing("EventNotificationAlert")) } else { camera::hikvision(&body) };
        return Ok(Received { event, body, snapshot });
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_EVENT_BYTES + 1)
        .await
        .map_err(|_| ApiError::TooLarge(reason!("alarms.event_too_large")))?
        .to_vec();
    let event = if kind.contains("json") || body.first() == Some(&b'{') { camera::dahua(&body) } else { camera::hikvision(&body) };
    Ok(Received { event, body, snapshot: None })
}

/// A camera's event: raises or clears the alarm its type maps to (an event type no rule names is
/// taken and does nothing).
#[utoipa::path(post, path = "/api/v1/camera-events/{serial}/{key}", tag = "alarms",
    params(("serial" = String, Path), ("key" = String, Path, description = "the device key given at registration")),
    request_body(content_type = "application/xml", description = "Hikvision EventNotificationAlert; or multipart/form-data with it and the snapshot (image/jpeg); or Dahua's event JSON"),
    responses((status = 200, description = "taken"), (status = 403, description = "no such camera or a wrong key"), (status = 413), (status = 422, description = "not an event")))]
pub async fn receive(
    State(st): State<AppState>,
    ApiPath((serial, key)): ApiPath<(String, String)>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    // A serial the registry could not hold is refused before any query (a NUL would fail one on PostgreSQL).
    let found = if valid_serial(&serial) { st.db.ingest_device(&serial).await? } else { None };
    // A wrong key on a real camera is kept for its county to see; an unknown serial for the country's.
    let estate_id = found.as_ref().map(|d| d.estate_id);
    let Some(device) = found.filter(|d| same_secret(d.device_key.as_bytes(), key.as_bytes())) else {
        if may_keep_refusal() {
            let letter = DeadLetterRow {
                estate_id,
                source: "http".into(),
                topic: format!("camera-events/{}", shown_topic(&serial, 64)),
                code: if estate_id.is_some() { "signature" } else { "unknown_device" }.into(),
                detail: if estate_id.is_some() { "a wrong key" } else { "no such camera" }.into(),
                payload: Vec::new(),
            };
            st.db.apply_ingest(&IngestBatch { dead: vec![letter], ..Default::default() }, 0).await?;
        }
        return Err(ApiError::Forbidden(reason!("alarms.camera_key")));
    };
    let got = read(&st, req).await?;
    let topic = format!("camera-events/{}", device.serial);
    let event = match got.event {
        Ok(e) if plain_name(&e.event, 64) => e,
        Ok(_) => return Err(refused(&st, &device, &topic, &CameraError::Missing("eventType"), &got.body)),
        Err(e) => return Err(refused(&st, &device, &topic, &e, &got.body)),
    };
    let kind = DeviceKind::parse(&device.kind).unwrap_or(DeviceKind::Camera);
    let rules = st.db.rule_overrides().await?.rules_for(kind, &device.community_code, device.estate_id);
    let Some(rule) = rules.for_event(&event.event) else { return Ok(StatusCode::OK) };
    let at = huanxin_store::now();
    let change = if event.active {
        AlarmChange::Raise {
            device_id: device.id,
            estate_id: device.estate_id,
            alarm_type: rule.alarm_type.clone(),
            severity: rule.severity,
            at,
            detail: format!("{} ch{}", event.event, event.channel),
        }
    } else {
        AlarmChange::Clear { device_id: device.id, alarm_type: rule.alarm_type.clone(), at }
    };
    let snapshot = got.snapshot.as_ref().map(|(b, m)| (b.as_slice(), m.as_str()));
    st.db.camera_event(&device, &change, snapshot).await?;
    Ok(StatusCode::OK)
}

/// Keeps a camera's unreadable message as a dead letter and says why.
fn refused(st: &AppState, device: &huanxin_store::alarms::ingest::IngestDevice, topic: &str, why: &CameraError, body: &[u8]) -> ApiError {
    let letter = DeadLetterRow {
        estate_id: Some(device.estate_id),
        source: "http".into(),
        topic: topic.to_string(),
        code: "camera".into(),
        detail: why.to_string(),
        payload: body.to_vec(),
    };
    let db = st.db.clone();
    let keep = may_keep_refusal();
    tokio::spawn(async move {
        if !keep {
            return;
        }
        if let Err(e) = db.apply_ingest(&IngestBatch { dead: vec![letter], ..Default::default() }, 0).await {
            tracing::warn!(error = %e, "camera dead letter not kept");
        }
    });
    ApiError::field("body", why.to_string().chars().take(80).collect::<String>(), reason!("alarms.camera_event"))
}
