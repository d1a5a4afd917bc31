//! Devices and alarms (issue 17): an estate's devices with their keys, alarms kept one open per
//! device and type however many messages arrive at once (ThingsBoard's duplicate alarms under
//! parallel processing, issue #5652, cannot happen: the database's unique key decides), and the
//! dead letters of the ingest.

use crate::audit::{Actor, Change};
use crate::{Db, StoreError};
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::{self as domain, AlarmRefusal, AlarmState, AlarmStep, DeviceKind, Severity};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

pub mod escalation;
pub mod ingest;
pub mod rules;
pub mod telemetry;

/// A device as the registry keeps it (its key is never read out).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Device {
    pub id: i64,
    pub estate_id: i64,
    pub building_id: Option<i64>,
    /// Where it is installed (a stairwell, the pump room, the gate).
    pub place: String,
    pub kind: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub last_heard_at: Option<String>,
    pub created_at: String,
}

const DEVICE_COLS: &str = "id, estate_id, building_id, place, kind, vendor, model, serial, last_heard_at, created_at";

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub estate_id: i64,
    pub building_id: Option<i64>,
    pub place: String,
    pub kind: DeviceKind,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    /// The key it signs its messages with (shown once to who registers it).
    pub key: String,
}

/// An estate an import names: its id, community and buildings by number.
#[derive(Debug, Clone)]
pub struct ImportPlace {
    pub estate_id: i64,
    pub community_code: String,
    pub buildings: HashMap<String, i64>,
}

/// An alarm.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Alarm {
    pub id: i64,
    pub device_id: i64,
    pub estate_id: i64,
    pub alarm_type: String,
    pub severity: String,
    pub state: String,
    /// How many times it was raised while open (the first included).
    pub repeats: i64,
    pub first_at: String,
    pub last_at: String,
    pub detail: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub cleared_by: Option<String>,
    pub cleared_at: Option<String>,
    pub note: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    /// The SHA-256 of the snapshot a camera sent with it, if any.
    pub snapshot: Option<String>,
}

const ALARM_COLS: &str = "id, device_id, estate_id, alarm_type, severity, state, repeats, first_at, last_at, detail, \
    acknowledged_by, acknowledged_at, cleared_by, cleared_at, note, closed_by, closed_at, snapshot";

/// What a step on an alarm can meet.
#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error(transparent)]
    Refused(#[from] AlarmRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn rank(s: Severity) -> i64 {
    s as i64
}

/// The key an open alarm holds: one per device and type.
fn open_key(device_id: i64, alarm_type: &str) -> String {
    format!("{device_id}/{alarm_type}")
}

/// Raising an alarm as one statement: a repeat counts on the open alarm of the device and type,
/// whose severity rises to the worst seen, never falls.
fn raise_statement(
    device_id: i64,
    estate_id: i64,
    alarm_type: &str,
    severity: Severity,
    at: &str,
    detail: &str,
) -> (String, Vec<crate::Arg>) {
    (
        format!(
            "INSERT INTO alarms (device_id, estate_id, alarm_type, severity, severity_rank, state, open_key, repeats, first_at, last_at, detail, \
             escalate_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, 1, $7, $7, $8, $7) \
             ON CONFLICT (open_key) DO UPDATE SET repeats = alarms.repeats + 1, last_at = excluded.last_at, \
             severity = CASE WHEN excluded.severity_rank > alarms.severity_rank THEN excluded.severity ELSE alarms.severity END, \
             severity_rank = CASE WHEN excluded.severity_rank > alarms.severity_rank THEN excluded.severity_rank ELSE alarms.severity_rank END \
             RETURNING {ALARM_COLS}"
        ),
        crate::args![
            device_id,
            estate_id,
            alarm_type,
            severity.as_str(),
            rank(severity),
            open_key(device_id, alarm_type),
            at,
            detail.chars().take(200).collect::<String>()
        ],
    )
}

/// Clearing by rule the open alarm of a device and type (none open: no row).
fn clear_statement(device_id: i64, alarm_type: &str, at: &str) -> (String, Vec<crate::Arg>) {
    (
        format!(
            "UPDATE alarms SET state = 'cleared', open_key = NULL, cleared_by = 'rule', cleared_at = $2, escalate_at = NULL \
             WHERE open_key = $1 RETURNING {ALARM_COLS}"
        ),
        crate::args![open_key(device_id, alarm_type), at],
    )
}

impl Db {
    /// Registers a device on an estate in scope; a serial is registered once (422 by the field).
    pub async fn register_device(&self, actor: &Actor, scope: &Scope, d: &NewDevice) -> Result<Device, StoreError> {
        let estate = self.get_estate(scope, d.estate_id).await?;
        if !domain::telemetry::valid_serial(&d.serial) {
            return Err(ValidationErrors::one("serial", &d.serial, reason!("alarms.serial_form")).into());
        }
        if let Some(b) = d.building_id {
            if self.scalar("SELECT COUNT(*) FROM buildings WHERE id = $1 AND estate_id = $2", crate::args![b, d.estate_id]).await? == 0 {
                return Err(ValidationErrors::one("building_id", b, reason!("field.not_building_estate")).into());
            }
        }
        let mut tx = self.begin().await?;
        let device: Device = tx
            .fetch_one(
                &format!(
                    "INSERT INTO devices (estate_id, building_id, place, kind, vendor, model, serial, device_key, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {DEVICE_COLS}"
                ),
                crate::args![
                    d.estate_id,
                    d.building_id,
                    d.place.trim(),
                    d.kind.as_str(),
                    d.vendor.trim(),
                    d.model.trim(),
                    d.serial.as_str(),
                    d.key.as_str(),
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => ValidationErrors::one("serial", &d.serial, reason!("alarms.serial_taken")).into(),
                other => other,
            })?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "device",
                entity_id: device.id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"serial": device.serial, "kind": device.kind, "place": device.place})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(device)
    }

    /// The estates in scope among `codes`, each with its id, community and buildings by number
    /// (for an import naming estates by code).
    pub async fn device_import_places(&self, scope: &Scope, codes: &[String]) -> Result<HashMap<String, ImportPlace>, StoreError> {
        let mut out = HashMap::new();
        for chunk in codes.chunks(500) {
            let mut args = vec![];
            let cond = crate::estates::scope_clause(scope, &mut args);
            let list: Vec<String> = chunk
                .iter()
                .map(|c| {
                    args.push(c.as_str().into());
                    format!("${}", args.len())
                })
                .collect();
            let rows: Vec<(i64, String, String)> = self
                .fetch_all(
                    &format!("SELECT e.id, e.code, e.community_code FROM estates e WHERE {cond} AND e.code IN ({})", list.join(", ")),
                    args,
                )
                .await?;
            for (id, code, community_code) in rows {
                let buildings: Vec<(String, i64)> =
                    self.fetch_all("SELECT number, id FROM buildings WHERE estate_id = $1", crate::args![id]).await?;
                out.insert(code, ImportPlace { estate_id: id, community_code, buildings: buildings.into_iter().collect() });
            }
        }
        Ok(out)
    }

    /// Which of `serials` are registered already.
    pub async fn taken_serials(&self, serials: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        for chunk in serials.chunks(500) {
            let args: Vec<crate::Arg> = chunk.iter().map(|s| s.as_str().into()).collect();
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let rows: Vec<(String,)> =
                self.fetch_all(&format!("SELECT serial FROM devices WHERE serial IN ({})", list.join(", ")), args).await?;
            out.extend(rows.into_iter().map(|r| r.0));
        }
        Ok(out)
    }

    /// Registers checked devices (an import's rows) in one transaction: all or none.
    pub async fn register_devices(&self, actor: &Actor, devices: &[(NewDevice, String)]) -> Result<Vec<Device>, StoreError> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(devices.len());
        for (d, community_code) in devices {
            let device: Device = tx
                .fetch_one(
                    &format!(
                        "INSERT INTO devices (estate_id, building_id, place, kind, vendor, model, serial, device_key, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {DEVICE_COLS}"
                    ),
                    crate::args![
                        d.estate_id,
                        d.building_id,
                        d.place.trim(),
                        d.kind.as_str(),
                        d.vendor.trim(),
                        d.model.trim(),
                        d.serial.as_str(),
                        d.key.as_str(),
                        actor.username.as_str(),
                        crate::now()
                    ],
                )
                .await?;
            tx.audit(
                actor,
                Change {
                    action: "import",
                    entity: "device",
                    entity_id: device.id.to_string(),
                    region_code: community_code.clone(),
                    before: None,
                    after: Some(serde_json::json!({"serial": device.serial, "kind": device.kind, "place": device.place})),
                },
            )
            .await?;
            out.push(device);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// An estate's devices.
    pub async fn devices_of(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Device>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(&format!("SELECT {DEVICE_COLS} FROM devices WHERE estate_id = $1 ORDER BY id"), crate::args![estate_id]).await
    }

    /// A device by its serial with its key, for the ingest to check a message's signature.
    pub async fn device_with_key(&self, serial: &str) -> Result<Option<(Device, String)>, StoreError> {
        let found: Option<(i64,)> = self.fetch_optional("SELECT id FROM devices WHERE serial = $1", crate::args![serial]).await?;
        let Some((id,)) = found else { return Ok(None) };
        let device: Device = self.fetch_one(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1"), crate::args![id]).await?;
        let (key,): (String,) = self.fetch_one("SELECT device_key FROM devices WHERE id = $1", crate::args![id]).await?;
        Ok(Some((device, key)))
    }

    /// Raises an alarm of a device, or counts a repeat on the open one of that type (its severity
    /// rises to the worst seen, never falls): one statement, so that messages arriving together
    /// make one alarm.
    pub async fn raise_alarm(
        &self,
        device: &Device,
        alarm_type: &str,
        severity: Severity,
        at: &str,
        detail: &str,
    ) -> Result<Alarm, StoreError> {
        let (sql, args) = raise_statement(device.id, device.estate_id, alarm_type, severity, at, detail);
        self.fetch_one(&sql, args).await
    }

    /// The rule saw a condition end: the open alarm of that type clears (none open: nothing).
    pub async fn clear_alarm_by_rule(&self, device_id: i64, alarm_type: &str, at: &str) -> Result<Option<Alarm>, StoreError> {
        let (sql, args) = clear_statement(device_id, alarm_type, at);
        self.fetch_optional(&sql, args).await
    }

    /// An alarm of an estate in scope.
    pub async fn alarm(&self, scope: &Scope, id: i64) -> Result<Alarm, StoreError> {
        let a: Alarm = self.fetch_one(&format!("SELECT {ALARM_COLS} FROM alarms WHERE id = $1"), crate::args![id]).await?;
        self.get_estate(scope, a.estate_id).await?;
        Ok(a)
    }

    /// Someone acknowledges, clears (with a note) or closes an alarm of an estate in scope. The
    /// step is taken only from the state it was read in: of two people at once, the second is told.
    pub async fn alarm_step(&self, actor: &Actor, scope: &Scope, id: i64, step: AlarmStep, note: &str) -> Result<Alarm, AlarmError> {
        let a = self.alarm(scope, id).await?;
        let from = AlarmState::parse(&a.state).ok_or_else(|| StoreError::Config(format!("alarm {id} has an unknown state")))?;
        let to = domain::step(from, step)?;
        let now = crate::now();
        let who = actor.username.as_str();
        let (sql, args) = match step {
            AlarmStep::Acknowledge => ("acknowledged_by = $3, acknowledged_at = $4, escalate_at = NULL", crate::args![who, now.as_str()]),
            AlarmStep::ClearByHand | AlarmStep::ClearByRule => (
                "open_key = NULL, cleared_by = $3, cleared_at = $4, note = $5, escalate_at = NULL",
                crate::args![who, now.as_str(), note.trim()],
            ),
            AlarmStep::Close => (
                "closed_by = $3, closed_at = $4, note = CASE WHEN $5 = '' THEN note ELSE $5 END",
                crate::args![who, now.as_str(), note.trim()],
            ),
        };
        let mut all = crate::args![id, from.as_str()];
        all.extend(args);
        let (region_code,): (String,) =
            self.fetch_one("SELECT community_code FROM estates WHERE id = $1", crate::args![a.estate_id]).await?;
        let mut tx = self.begin().await?;
        let sql = format!("UPDATE alarms SET state = '{}', {sql} WHERE id = $1 AND state = $2", to.as_str());
        if tx.execute(&sql, all).await? == 0 {
            return Err(StoreError::Conflict(reason!("alarms.changed_meanwhile")).into());
        }
        tx.audit(
            actor,
            Change {
                action: to.as_str(),
                entity: "alarm",
                entity_id: id.to_string(),
                region_code,
                before: Some(serde_json::json!({"state": from.as_str()})),
                after: Some(serde_json::json!({"state": to.as_str(), "note": note.trim()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.alarm(scope, id).await?)
    }

    /// An estate's alarms, the open ones first, newest first.
    pub async fn alarms_of(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Alarm>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            &format!(
                "SELECT {ALARM_COLS} FROM alarms WHERE estate_id = $1 \
                 ORDER BY CASE WHEN state IN ('active', 'acknowledged') THEN 0 ELSE 1 END, last_at DESC, id DESC LIMIT 500"
            ),
            crate::args![estate_id],
        )
        .await
    }

    /// Keeps a message the ingest could not read, with why (the payload cut to 2 KB).
    pub async fn record_dead_letter(&self, source: &str, topic: &str, code: &str, detail: &str, payload: &[u8]) -> Result<(), StoreError> {
        let shown = ingest::shown_payload(payload);
        self.execute(
            "INSERT INTO dead_letters (received_at, source, topic, code, detail, payload) VALUES ($1, $2, $3, $4, $5, $6)",
            crate::args![
                crate::now(),
                source,
                topic.chars().take(200).collect::<String>(),
                code,
                detail.chars().take(500).collect::<String>(),
                shown
            ],
        )
        .await?;
        Ok(())
    }
}

/// An alarm on the board, with where it is.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BoardAlarm {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub alarm: Alarm,
    pub estate_name: String,
    pub community_code: String,
    pub serial: String,
    pub kind: String,
    pub place: String,
}

/// The board's filters (each optional).
#[derive(Debug, Clone, Default)]
pub struct BoardFilter {
    pub estate_id: Option<i64>,
    pub alarm_type: Option<String>,
    pub severity: Option<String>,
    /// `open` (active or acknowledged) or one state.
    pub state: Option<String>,
}

/// An estate's open alarms rolled up, for the map.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EstateAlarms {
    pub estate_id: i64,
    pub estate_name: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub open: i64,
    #[serde(skip)]
    pub worst_rank: i64,
    /// The worst open severity.
    #[sqlx(skip)]
    pub worst: String,
}

impl Db {
    /// The alarms of the estates in scope, filtered, open ones first, worst first (at most 500).
    pub async fn alarm_board(&self, scope: &Scope, f: &BoardFilter) -> Result<Vec<BoardAlarm>, StoreError> {
        let mut args = vec![];
        let mut cond = vec![crate::estates::scope_clause(scope, &mut args)];
        if let Some(e) = f.estate_id {
            args.push(e.into());
            cond.push(format!("a.estate_id = ${}", args.len()));
        }
        if let Some(t) = f.alarm_type.as_deref().filter(|t| !t.is_empty()) {
            args.push(t.into());
            cond.push(format!("a.alarm_type = ${}", args.len()));
        }
        if let Some(s) = f.severity.as_deref().filter(|s| !s.is_empty()) {
            args.push(s.into());
            cond.push(format!("a.severity = ${}", args.len()));
        }
        match f.state.as_deref() {
            None | Some("") => {}
            Some("open") => cond.push("a.open_key IS NOT NULL".into()),
            Some(s) => {
                args.push(s.into());
                cond.push(format!("a.state = ${}", args.len()));
            }
        }
        let cols: String = ALARM_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        self.fetch_all(
            &format!(
                "SELECT {cols}, e.name AS estate_name, e.community_code, d.serial, d.kind, d.place FROM alarms a \
                 JOIN estates e ON e.id = a.estate_id JOIN devices d ON d.id = a.device_id WHERE {} \
                 ORDER BY CASE WHEN a.open_key IS NOT NULL THEN 0 ELSE 1 END, a.severity_rank DESC, a.last_at DESC, a.id DESC LIMIT 500",
                cond.join(" AND ")
            ),
            args,
        )
        .await
    }

    /// Each estate in scope with open alarms: how many and the worst (the map's layer).
    pub async fn estates_alarming(&self, scope: &Scope) -> Result<Vec<EstateAlarms>, StoreError> {
        let mut args = vec![];
        let clause = crate::estates::scope_clause(scope, &mut args);
        let mut rows: Vec<EstateAlarms> = self
            .fetch_all(
                &format!(
                    "SELECT e.id AS estate_id, e.name AS estate_name, e.lon, e.lat, COUNT(*) AS open, MAX(a.severity_rank) AS worst_rank \
                     FROM alarms a JOIN estates e ON e.id = a.estate_id \
                     WHERE a.open_key IS NOT NULL AND {clause} GROUP BY e.id, e.name, e.lon, e.lat ORDER BY 6 DESC, 5 DESC LIMIT 5000"
                ),
                args,
            )
            .await?;
        for r in &mut rows {
            r.worst = Severity::from_rank(r.worst_rank).map_or("", Severity::as_str).to_string();
        }
        Ok(rows)
    }

    /// A device of an estate in scope.
    pub async fn device(&self, scope: &Scope, id: i64) -> Result<Device, StoreError> {
        let d: Device = self.fetch_one(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1"), crate::args![id]).await?;
        self.get_estate(scope, d.estate_id).await?;
        Ok(d)
    }
}

impl Db {
    /// The snapshot of an alarm in scope: its type and bytes (404 when it has none).
    pub async fn alarm_snapshot(&self, scope: &Scope, id: i64) -> Result<(String, Vec<u8>), StoreError> {
        let a = self.alarm(scope, id).await?;
        let sha = a.snapshot.ok_or(StoreError::NotFound)?;
        let (mime,): (String,) = self.fetch_one("SELECT content_type FROM files WHERE sha256 = $1", crate::args![sha.as_str()]).await?;
        Ok((mime, self.file_content(&sha).await?))
    }
}
