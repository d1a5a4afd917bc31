//! The ingest's writes: a batch of messages (readings, alarms raised and cleared, dead letters,
//! when devices were last heard) stored in one transaction, so that the broker is acknowledged
//! only for what is on disk, and a batch redelivered after a crash stores nothing twice (a
//! reading's key is its device, metric and time).

use super::{clear_statement, raise_statement, Alarm};
use crate::{Arg, Db, StoreError};
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::Severity;
use std::collections::BTreeSet;

/// A device as the ingest holds it in memory, with its key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IngestDevice {
    pub id: i64,
    pub estate_id: i64,
    pub kind: String,
    pub serial: String,
    pub device_key: String,
    pub last_heard_at: Option<String>,
    /// The estate's community (for the rules of the regions above it).
    pub community_code: String,
}

const INGEST_COLS: &str = "d.id, d.estate_id, d.kind, d.serial, d.device_key, d.last_heard_at, e.community_code";
const INGEST_FROM: &str = "devices d JOIN estates e ON e.id = d.estate_id";

/// One reading of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device_id: i64,
    pub at_ms: i64,
    pub metric: String,
    pub value: f64,
}

/// An alarm raised or cleared by a rule, in the order the messages came.
#[derive(Debug, Clone)]
pub enum AlarmChange {
    Raise { device_id: i64, estate_id: i64, alarm_type: String, severity: Severity, at: String, detail: String },
    Clear { device_id: i64, alarm_type: String, at: String },
}

/// A message the ingest could not take, with why.
#[derive(Debug, Clone)]
pub struct DeadLetterRow {
    /// The device's estate when the device is known.
    pub estate_id: Option<i64>,
    pub source: String,
    pub topic: String,
    pub code: String,
    pub detail: String,
    pub payload: Vec<u8>,
}

/// What one batch writes.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub readings: Vec<Reading>,
    pub changes: Vec<AlarmChange>,
    pub dead: Vec<DeadLetterRow>,
    /// Devices heard, with the newest time (RFC 3339) of each.
    pub heard: Vec<(i64, String)>,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Readings stored (a redelivered one is not stored again).
    pub stored: u64,
    pub raised: Vec<Alarm>,
    pub cleared: Vec<Alarm>,
}

/// A payload as the dead-letter list shows it: at most 2 KB, no control characters.
pub(super) fn shown_payload(payload: &[u8]) -> String {
    String::from_utf8_lossy(&payload[..payload.len().min(2048)]).chars().filter(|c| !c.is_control() || *c == '\n').collect()
}

/// The hour (since the epoch) a time in ms falls in.
pub fn hour_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(3_600_000)
}

impl Db {
    /// Every device, for the ingest to hold in memory.
    pub async fn ingest_devices(&self) -> Result<Vec<IngestDevice>, StoreError> {
        self.fetch_all(&format!("SELECT {INGEST_COLS} FROM {INGEST_FROM} ORDER BY d.id"), vec![]).await
    }

    /// One device by serial (a camera's HTTP push names itself).
    pub async fn ingest_device(&self, serial: &str) -> Result<Option<IngestDevice>, StoreError> {
        self.fetch_optional(&format!("SELECT {INGEST_COLS} FROM {INGEST_FROM} WHERE d.serial = $1"), crate::args![serial]).await
    }

    /// A camera's event: the alarm raised or cleared, its snapshot kept with the alarm raised, the
    /// device heard now; one transaction.
    pub async fn camera_event(
        &self,
        device: &IngestDevice,
        change: &AlarmChange,
        snapshot: Option<(&[u8], &str)>,
    ) -> Result<Option<Alarm>, StoreError> {
        // A store that is down costs the alarm its picture, never the alarm.
        let snapshot = match snapshot {
            Some((bytes, mime)) if matches!(change, AlarmChange::Raise { .. }) => {
                let upload = crate::Upload::from(bytes.to_vec());
                match self.stage_file(&upload).await {
                    Ok(()) => Some((upload, mime)),
                    Err(e) => {
                        tracing::warn!(error = %e, "a camera's snapshot not kept: the file store cannot be reached");
                        None
                    }
                }
            }
            Some((bytes, mime)) => Some((crate::Upload::from(bytes.to_vec()), mime)),
            None => None,
        };
        let mut tx = self.begin().await?;
        let alarm = match change {
            AlarmChange::Raise { device_id, estate_id, alarm_type, severity, at, detail } => {
                let (sql, args) = raise_statement(*device_id, *estate_id, alarm_type, *severity, at, detail);
                let a: Alarm = tx.fetch_one(&sql, args).await?;
                if let Some((upload, mime)) = snapshot {
                    let sha = tx.put_file(upload, mime).await?;
                    tx.execute("UPDATE alarms SET snapshot = $1 WHERE id = $2", crate::args![sha.as_str(), a.id]).await?;
                }
                Some(a)
            }
            AlarmChange::Clear { device_id, alarm_type, at } => {
                let (sql, args) = clear_statement(*device_id, alarm_type, at);
                tx.fetch_optional::<Alarm>(&sql, args).await?
            }
        };
        tx.execute("UPDATE devices SET last_heard_at = $1 WHERE id = $2", crate::args![crate::now(), device.id]).await?;
        tx.commit().await?;
        match alarm {
            Some(a) => {
                Ok(Some(self.fetch_one(&format!("SELECT {} FROM alarms WHERE id = $1", super::ALARM_COLS), crate::args![a.id]).await?))
            }
            None => Ok(None),
        }
    }

    /// The devices registered after the one numbered `id` (the ingest picks them up as they come).
    pub async fn ingest_devices_after(&self, id: i64) -> Result<Vec<IngestDevice>, StoreError> {
        self.fetch_all(&format!("SELECT {INGEST_COLS} FROM {INGEST_FROM} WHERE d.id > $1 ORDER BY d.id"), crate::args![id]).await
    }

    /// Stores a batch in one transaction. `current_hour` is the hour now: readings of an hour
    /// before it take that hour out of the rolled-up ones, so that its aggregates are made again.
    pub async fn apply_ingest(&self, batch: &IngestBatch, current_hour: i64) -> Result<Applied, StoreError> {
        let mut out = Applied::default();
        let mut tx = self.begin().await?;
        if !batch.readings.is_empty() {
            let past: BTreeSet<i64> = batch.readings.iter().map(|r| hour_of(r.at_ms)).filter(|h| *h < current_hour).collect();
            let rows: Vec<Vec<Arg>> =
                batch.readings.iter().map(|r| crate::args![hour_of(r.at_ms), r.device_id, r.metric.as_str(), r.at_ms, r.value]).collect();
            out.stored =
                tx.insert_rows("telemetry", &["hour", "device_id", "metric", "at_ms", "value"], rows, "ON CONFLICT DO NOTHING").await?;
            for h in past {
                tx.execute("DELETE FROM telemetry_rollups WHERE hour = $1", crate::args![h]).await?;
            }
        }
        for change in &batch.changes {
            match change {
                AlarmChange::Raise { device_id, estate_id, alarm_type, severity, at, detail } => {
                    let (sql, args) = raise_statement(*device_id, *estate_id, alarm_type, *severity, at, detail);
                    out.raised.push(tx.fetch_one(&sql, args).await?);
                }
                AlarmChange::Clear { device_id, alarm_type, at } => {
                    let (sql, args) = clear_statement(*device_id, alarm_type, at);
                    if let Some(a) = tx.fetch_optional::<Alarm>(&sql, args).await? {
                        out.cleared.push(a);
                    }
                }
            }
        }
        if !batch.dead.is_empty() {
            let now = crate::now();
            let rows = batch
                .dead
                .iter()
                .map(|d| {
                    crate::args![
                        now.as_str(),
                        d.estate_id,
                        d.source.as_str(),
                        d.topic.chars().take(200).collect::<String>(),
                        d.code.as_str(),
                        d.detail.chars().take(500).collect::<String>(),
                        shown_payload(&d.payload)
                    ]
                })
                .collect();
            tx.insert_many("dead_letters", &["received_at", "estate_id", "source", "topic", "code", "detail", "payload"], rows).await?;
        }
        if !batch.heard.is_empty() {
            let rows = batch.heard.iter().map(|(id, at)| crate::args![*id, at.as_str()]).collect();
            tx.execute_with_rows(
                &[("id", "BIGINT"), ("at", "TEXT")],
                rows,
                "UPDATE devices SET last_heard_at = huanxin_src.at FROM huanxin_src \
                 WHERE devices.id = huanxin_src.id AND (devices.last_heard_at IS NULL OR devices.last_heard_at < huanxin_src.at)",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The dead letters of devices of estates in scope, newest first (at most `limit`); those of
    /// unknown devices only to the whole country's scope (whose they are cannot be told).
    pub async fn dead_letters(&self, scope: &Scope, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
        let mut args = vec![];
        let clause = crate::estates::scope_clause(scope, &mut args);
        let everyone = matches!(scope, Scope::Region(rc) if rc.prefix().is_empty());
        args.push(limit.clamp(1, 1000).into());
        let unknown = if everyone { "OR d.estate_id IS NULL" } else { "" };
        self.fetch_all(
            &format!(
                "SELECT d.id, d.received_at, d.estate_id, d.source, d.topic, d.code, d.detail, d.payload FROM dead_letters d \
                 LEFT JOIN estates e ON e.id = d.estate_id WHERE (e.id IS NOT NULL AND {clause}) {unknown} ORDER BY d.id DESC LIMIT ${}",
                args.len()
            ),
            args,
        )
        .await
    }
}

/// A message the ingest refused, as listed.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub received_at: String,
    pub estate_id: Option<i64>,
    pub source: String,
    pub topic: String,
    pub code: String,
    pub detail: String,
    pub payload: String,
}
