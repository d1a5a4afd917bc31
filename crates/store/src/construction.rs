//! Construction of an estate: its schedule nodes and their progress, inspections at the five
//! checkpoints and design changes. The rules are `huanxin_domain::construction`.

use crate::archive::{AttachedTo, Document, DOC_COLS};
use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::today;
use huanxin_domain::access::Scope;
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::construction::{
    self as rules, Checkpoint, LogAuthor, MaterialInput, NodeInput, NodeState, NodeWeight, Progress, ProgressInput, Rollup, SiteLogInput,
};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// A schedule node with its state today.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleNode {
    pub id: i64,
    pub estate_id: i64,
    pub building_id: Option<i64>,
    pub name: String,
    pub weight: i64,
    pub planned_start: String,
    pub planned_end: String,
    pub actual_start: Option<String>,
    pub actual_end: Option<String>,
    pub progress_pct: i64,
    pub state: NodeState,
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    id: i64,
    estate_id: i64,
    building_id: Option<i64>,
    name: String,
    weight: i64,
    planned_start: String,
    planned_end: String,
    actual_start: Option<String>,
    actual_end: Option<String>,
    progress_pct: i64,
}

const NODE_COLS: &str = "id, estate_id, building_id, name, weight, planned_start, planned_end, actual_start, actual_end, progress_pct";

fn day(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

impl NodeRow {
    fn progress(&self) -> Progress {
        Progress {
            progress_pct: self.progress_pct,
            actual_start: self.actual_start.as_deref().and_then(day),
            actual_end: self.actual_end.as_deref().and_then(day),
        }
    }

    fn into_node(self, today: chrono::NaiveDate) -> ScheduleNode {
        let state = match (day(&self.planned_start), day(&self.planned_end)) {
            (Some(s), Some(e)) => rules::node_state(s, e, &self.progress(), today),
            _ => NodeState::NotStarted,
        };
        ScheduleNode {
            id: self.id,
            estate_id: self.estate_id,
            building_id: self.building_id,
            name: self.name,
            weight: self.weight,
            planned_start: self.planned_start,
            planned_end: self.planned_end,
            actual_start: self.actual_start,
            actual_end: self.actual_end,
            progress_pct: self.progress_pct,
            state,
        }
    }
}

/// An inspection at a checkpoint.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Inspection {
    pub id: i64,
    pub checkpoint: String,
    pub held_on: String,
    pub inspector: String,
    pub passed: bool,
    pub findings: String,
}

/// A design change request and its delivery.
#[derive(Debug, Clone, Serialize)]
pub struct DesignChange {
    pub id: i64,
    pub estate_id: i64,
    pub requested_by: String,
    pub requested_on: String,
    pub reason: String,
    pub due_on: String,
    pub delivered_by: Option<String>,
    pub delivered_on: Option<String>,
    pub answer: String,
    pub late: bool,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    estate_id: i64,
    requested_by: String,
    requested_on: String,
    reason: String,
    due_on: String,
    delivered_by: Option<String>,
    delivered_on: Option<String>,
    answer: String,
}

const CHANGE_COLS: &str = "id, estate_id, requested_by, requested_on, reason, due_on, delivered_by, delivered_on, answer";

impl ChangeRow {
    fn into_change(self, today: chrono::NaiveDate) -> DesignChange {
        let late = day(&self.due_on).is_some_and(|due| rules::design_change_late(due, self.delivered_on.as_deref().and_then(day), today));
        DesignChange {
            id: self.id,
            estate_id: self.estate_id,
            requested_by: self.requested_by,
            requested_on: self.requested_on,
            reason: self.reason,
            due_on: self.due_on,
            delivered_by: self.delivered_by,
            delivered_on: self.delivered_on,
            answer: self.answer,
            late,
        }
    }
}

/// Where a checkpoint stands: passed or not, and its latest inspection.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointStatus {
    pub checkpoint: Checkpoint,
    pub passed: bool,
    pub last: Option<Inspection>,
}

/// A site log (施工日志) with its photos.
#[derive(Debug, Clone, Serialize)]
pub struct SiteLog {
    pub id: i64,
    pub author: String,
    pub day: String,
    pub weather: String,
    pub text: String,
    pub written_by: String,
    pub photos: Vec<Document>,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    author: String,
    day: String,
    weather: String,
    text: String,
    written_by: String,
}

/// A material entry record (材料进场).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MaterialEntry {
    pub id: i64,
    pub material: String,
    pub spec: String,
    pub quantity_hundredths: i64,
    pub unit: String,
    pub supplier: String,
    pub certificate: bool,
    pub accepted: bool,
    pub note: String,
    pub recorded_by: String,
    pub recorded_on: String,
}

const MATERIAL_COLS: &str =
    "id, material, spec, quantity_hundredths, unit, supplier, certificate, accepted, note, recorded_by, recorded_on";

/// Site logs listed on the construction page, newest first.
const LOGS_SHOWN: i64 = 50;

/// An estate's construction page.
#[derive(Debug, Clone, Serialize)]
pub struct Construction {
    pub estate_id: i64,
    pub nodes: Vec<ScheduleNode>,
    pub progress: Rollup,
    pub checkpoints: Vec<CheckpointStatus>,
    pub inspections: Vec<Inspection>,
    pub design_changes: Vec<DesignChange>,
    /// The newest site logs with their photos.
    pub site_logs: Vec<SiteLog>,
    pub materials: Vec<MaterialEntry>,
    /// Whether construction may be recorded: `permit` (a project of the estate has its construction
    /// permit), `exception` (the bureau recorded why before it, see `permit_note`) or `waiting`.
    pub permit: String,
    pub permit_note: String,
}

/// A project's progress: each estate's and the whole, weighted by the estates' schedules.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectProgress {
    pub project_id: i64,
    pub progress_bp: i64,
    pub estates: Vec<EstateProgress>,
}

/// One estate's line of a project's progress.
#[derive(Debug, Clone, Serialize)]
pub struct EstateProgress {
    pub estate_id: i64,
    pub name: String,
    pub progress_bp: i64,
    pub nodes: i64,
    pub late_nodes: i64,
    pub open_design_changes: i64,
    /// Rectification tasks from the review not yet closed.
    pub open_rectifications: i64,
}

impl Db {
    async fn nodes(&self, estate_id: i64) -> Result<Vec<NodeRow>, StoreError> {
        self.fetch_all(
            &format!("SELECT {NODE_COLS} FROM schedule_nodes WHERE estate_id = $1 ORDER BY planned_start, id"),
            crate::args![estate_id],
        )
        .await
    }

    /// An estate's construction: schedule with states, progress roll-up, checkpoints and design changes.
    pub async fn construction(&self, scope: &Scope, estate_id: i64) -> Result<Construction, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let today = today();
        let rows = self.nodes(estate_id).await?;
        let progress = rules::rollup(
            &rows
                .iter()
                .map(|n| NodeWeight { building_id: n.building_id, weight: n.weight, progress_pct: n.progress_pct })
                .collect::<Vec<_>>(),
        );
        let nodes = rows.into_iter().map(|n| n.into_node(today)).collect();
        let inspections: Vec<Inspection> = self
            .fetch_all(
                "SELECT id, checkpoint, held_on, inspector, passed, findings FROM inspections WHERE estate_id = $1 ORDER BY id",
                crate::args![estate_id],
            )
            .await?;
        let checkpoints = Checkpoint::ALL
            .iter()
            .map(|&c| CheckpointStatus {
                checkpoint: c,
                passed: inspections.iter().any(|i| i.checkpoint == c.as_str() && i.passed),
                last: inspections.iter().rev().find(|i| i.checkpoint == c.as_str()).cloned(),
            })
            .collect();
        let changes: Vec<ChangeRow> = self
            .fetch_all(&format!("SELECT {CHANGE_COLS} FROM design_changes WHERE estate_id = $1 ORDER BY id"), crate::args![estate_id])
            .await?;
        let logs: Vec<LogRow> = self
            .fetch_all(
                &format!("SELECT id, author, day, weather, text, written_by FROM site_logs WHERE estate_id = $1 ORDER BY day DESC, id DESC LIMIT {LOGS_SHOWN}"),
                crate::args![estate_id],
            )
            .await?;
        let photos: Vec<Document> = match logs.last() {
            None => Vec::new(),
            Some(oldest) => {
                self.fetch_all(
                    &format!("SELECT {DOC_COLS} FROM documents WHERE estate_id = $1 AND site_log_id IS NOT NULL AND site_log_id >= $2 ORDER BY id"),
                    crate::args![estate_id, logs.iter().map(|l| l.id).min().unwrap_or(oldest.id)],
                )
                .await?
            }
        };
        let site_logs = logs
            .into_iter()
            .map(|l| SiteLog {
                photos: photos.iter().filter(|p| p.site_log_id == Some(l.id)).cloned().collect(),
                id: l.id,
                author: l.author,
                day: l.day,
                weather: l.weather,
                text: l.text,
                written_by: l.written_by,
            })
            .collect();
        let materials = self
            .fetch_all(&format!("SELECT {MATERIAL_COLS} FROM material_entries WHERE estate_id = $1 ORDER BY id"), crate::args![estate_id])
            .await?;
        let exception: Option<(String, String)> =
            self.fetch_optional("SELECT reason, recorded_by FROM permit_exceptions WHERE estate_id = $1", crate::args![estate_id]).await?;
        let (permit, permit_note) = match (self.construction_permitted(estate_id).await?, exception) {
            (Err(_), _) => ("waiting".to_string(), String::new()),
            (Ok(()), Some((reason, by))) => ("exception".to_string(), format!("{reason}（{by}）")),
            (Ok(()), None) => ("permit".to_string(), String::new()),
        };
        Ok(Construction {
            permit,
            permit_note,
            estate_id,
            nodes,
            progress,
            checkpoints,
            inspections,
            design_changes: changes.into_iter().map(|c| c.into_change(today)).collect(),
            site_logs,
            materials,
        })
    }

    /// Writes a site log for `author`'s party with its photos (filed in the archive's construction
    /// section), all or nothing.
    pub async fn write_site_log(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        author: LogAuthor,
        input: &SiteLogInput,
        photos: Vec<(String, Vec<u8>)>,
    ) -> Result<SiteLog, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        self.construction_permitted(estate_id).await?.map_err(StoreError::Conflict)?;
        let mut problems = ValidationErrors::default();
        let day = match input.validate(today()) {
            Ok(d) => Some(d),
            Err(v) => {
                problems.0.extend(v.0);
                None
            }
        };
        if photos.len() > 20 {
            problems.push("photos", photos.len(), reason!("construction.too_many_log_photos"));
        }
        let title = format!("施工日志 {}", day.map(|d| d.to_string()).unwrap_or_default());
        let checked = crate::archive::check_photos(photos, "construction", "photos_during", &title, &mut problems);
        let (Some(day), true) = (day, problems.is_empty()) else {
            return Err(StoreError::Invalid(problems));
        };
        self.stage_documents(&checked).await?;
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO site_logs (estate_id, author, day, weather, text, written_by, written_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                crate::args![estate_id, author.as_str(), day.to_string(), input.weather.trim(), input.text.trim(), actor.username.as_str(), crate::now()],
            )
            .await?;
        let mut docs = Vec::new();
        for c in checked {
            docs.push(tx.insert_document(actor, estate_id, c, AttachedTo { site_log_id: Some(id), ..Default::default() }).await?);
        }
        tx.audit(
            actor,
            Change {
                action: "write_site_log",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(
                    serde_json::json!({"author": author.as_str(), "day": day.to_string(), "text": input.text.trim(), "photos": docs.len()}),
                ),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SiteLog {
            id,
            author: author.as_str().to_string(),
            day: day.to_string(),
            weather: input.weather.trim().to_string(),
            text: input.text.trim().to_string(),
            written_by: actor.username.clone(),
            photos: docs,
        })
    }

    /// Records a material delivery at entry (accepted or refused, with or without its certificate).
    pub async fn record_material(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        input: &MaterialInput,
    ) -> Result<MaterialEntry, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        self.construction_permitted(estate_id).await?.map_err(StoreError::Conflict)?;
        let m = input.validate().map_err(StoreError::Invalid)?;
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO material_entries (estate_id, material, spec, quantity_hundredths, unit, supplier, certificate, accepted, note, recorded_by, recorded_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                crate::args![
                    estate_id,
                    input.material.trim(),
                    input.spec.trim(),
                    m.quantity_hundredths,
                    input.unit.trim(),
                    input.supplier.trim(),
                    input.certificate,
                    input.accepted,
                    input.note.trim(),
                    actor.username.as_str(),
                    today().to_string()
                ],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "record_material",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::to_value(input).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_one(&format!("SELECT {MATERIAL_COLS} FROM material_entries WHERE id = $1"), crate::args![id]).await
    }

    /// Adds a node to an estate's schedule; its building, if named, must be the estate's.
    pub async fn add_schedule_node(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        input: &NodeInput,
    ) -> Result<ScheduleNode, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let node = input.validate().map_err(StoreError::Invalid)?;
        if let Some(b) = node.building_id {
            let n = self.scalar("SELECT COUNT(*) FROM buildings WHERE id = $1 AND estate_id = $2", crate::args![b, estate_id]).await?;
            if n == 0 {
                return Err(StoreError::Invalid(ValidationErrors::one("building_id", b, reason!("field.not_building_estate"))));
            }
        }
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO schedule_nodes (estate_id, building_id, name, weight, planned_start, planned_end, progress_pct, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) RETURNING id",
                crate::args![
                    estate_id,
                    node.building_id,
                    node.name.as_str(),
                    node.weight,
                    node.planned_start.to_string(),
                    node.planned_end.to_string(),
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "add_schedule_node",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::to_value(input).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await?;
        let row: NodeRow = self.fetch_one(&format!("SELECT {NODE_COLS} FROM schedule_nodes WHERE id = $1"), crate::args![id]).await?;
        Ok(row.into_node(today()))
    }

    /// Records progress on a schedule node.
    pub async fn report_progress(
        &self,
        actor: &Actor,
        scope: &Scope,
        node_id: i64,
        input: &ProgressInput,
    ) -> Result<ScheduleNode, StoreError> {
        let row: NodeRow = self.fetch_one(&format!("SELECT {NODE_COLS} FROM schedule_nodes WHERE id = $1"), crate::args![node_id]).await?;
        let estate = self.get_estate(scope, row.estate_id).await?;
        self.construction_permitted(row.estate_id).await?.map_err(StoreError::Conflict)?;
        let before = row.progress();
        let p = input.apply(before.actual_start, today()).map_err(StoreError::Invalid)?;
        let mut tx = self.begin().await?;
        tx.execute(
            "UPDATE schedule_nodes SET progress_pct = $1, actual_start = $2, actual_end = $3, updated_by = $4, updated_at = $5 WHERE id = $6",
            crate::args![
                p.progress_pct,
                p.actual_start.map(|d| d.to_string()),
                p.actual_end.map(|d| d.to_string()),
                actor.username.as_str(),
                crate::now(),
                node_id
            ],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "report_progress",
                entity: "schedule_node",
                entity_id: node_id.to_string(),
                region_code: estate.community_code,
                before: Some(
                    serde_json::json!({"progress_pct": row.progress_pct, "actual_start": row.actual_start, "actual_end": row.actual_end}),
                ),
                after: Some(serde_json::to_value(input).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await?;
        let row: NodeRow = self.fetch_one(&format!("SELECT {NODE_COLS} FROM schedule_nodes WHERE id = $1"), crate::args![node_id]).await?;
        Ok(row.into_node(today()))
    }

    /// Records an inspection at a checkpoint; a failed one needs its findings.
    pub async fn record_inspection(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        checkpoint: &str,
        passed: bool,
        findings: &str,
    ) -> Result<Inspection, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let mut e = ValidationErrors::default();
        let cp = Checkpoint::parse(checkpoint);
        if cp.is_none() {
            e.push("checkpoint", checkpoint, reason!("construction.checkpoint_kind"));
        }
        if !passed && findings.trim().is_empty() {
            e.push("findings", findings, reason!("construction.say_what_failed"));
        }
        if findings.chars().count() > 2_000 {
            e.push("findings", findings, reason!("field.at_most_chars", max = 2000));
        }
        let (Some(cp), true) = (cp, e.is_empty()) else {
            return Err(StoreError::Invalid(e));
        };
        if !cp.before_permit() {
            self.construction_permitted(estate_id).await?.map_err(StoreError::Conflict)?;
        }
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO inspections (estate_id, checkpoint, held_on, inspector, passed, findings, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                crate::args![estate_id, cp.as_str(), today().to_string(), actor.username.as_str(), passed, findings.trim(), crate::now()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "record_inspection",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"checkpoint": cp.as_str(), "passed": passed, "findings": findings.trim()})),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_one("SELECT id, checkpoint, held_on, inspector, passed, findings FROM inspections WHERE id = $1", crate::args![id]).await
    }

    /// Requests a design change; it is due two working days later.
    pub async fn request_design_change(
        &self,
        actor: &Actor,
        scope: &Scope,
        calendar: &WorkCalendar,
        estate_id: i64,
        reason: &str,
    ) -> Result<DesignChange, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(StoreError::Invalid(ValidationErrors::one("reason", reason, reason!("field.length", max = 2000))));
        }
        let today = today();
        let due = rules::design_change_due(calendar, today);
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO design_changes (estate_id, requested_by, requested_on, reason, due_on) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                crate::args![estate_id, actor.username.as_str(), today.to_string(), reason, due.to_string()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "request_design_change",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"reason": reason, "due_on": due.to_string()})),
            },
        )
        .await?;
        tx.commit().await?;
        self.design_change(id).await
    }

    async fn design_change(&self, id: i64) -> Result<DesignChange, StoreError> {
        let row: ChangeRow = self.fetch_one(&format!("SELECT {CHANGE_COLS} FROM design_changes WHERE id = $1"), crate::args![id]).await?;
        Ok(row.into_change(today()))
    }

    /// Delivers a design change with the designer's answer (once).
    pub async fn deliver_design_change(
        &self,
        actor: &Actor,
        scope: &Scope,
        change_id: i64,
        answer: &str,
    ) -> Result<DesignChange, StoreError> {
        let change = self.design_change(change_id).await?;
        let estate = self.get_estate(scope, change.estate_id).await?;
        if change.delivered_on.is_some() {
            return Err(StoreError::Conflict(reason!("construction.change_delivered")));
        }
        let answer = answer.trim();
        if answer.is_empty() || answer.chars().count() > 2_000 {
            return Err(StoreError::Invalid(ValidationErrors::one("answer", answer, reason!("field.length", max = 2000))));
        }
        let mut tx = self.begin().await?;
        tx.execute(
            "UPDATE design_changes SET delivered_by = $1, delivered_on = $2, answer = $3 WHERE id = $4 AND delivered_on IS NULL",
            crate::args![actor.username.as_str(), today().to_string(), answer, change_id],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "deliver_design_change",
                entity: "design_change",
                entity_id: change_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"answer": answer})),
            },
        )
        .await?;
        tx.commit().await?;
        self.design_change(change_id).await
    }

    /// The construction facts of an estate for the lifecycle: started, open nodes, checkpoints missing.
    pub(crate) async fn construction_facts(&self, estate_id: i64) -> Result<(bool, u32, Vec<String>), StoreError> {
        let started = self
            .scalar("SELECT COUNT(*) FROM schedule_nodes WHERE estate_id = $1 AND actual_start IS NOT NULL", crate::args![estate_id])
            .await?;
        let open =
            self.scalar("SELECT COUNT(*) FROM schedule_nodes WHERE estate_id = $1 AND actual_end IS NULL", crate::args![estate_id]).await?;
        let passed: Vec<(String,)> =
            self.fetch_all("SELECT DISTINCT checkpoint FROM inspections WHERE estate_id = $1 AND passed", crate::args![estate_id]).await?;
        let passed: Vec<Checkpoint> = passed.iter().filter_map(|(c,)| Checkpoint::parse(c)).collect();
        let missing = rules::checkpoints_missing(&passed).into_iter().map(|c| c.as_str().to_string()).collect();
        Ok((started > 0, u32::try_from(open).unwrap_or(u32::MAX), missing))
    }

    /// A project's progress over its estates in scope, each weighted by its schedule.
    pub async fn project_progress(&self, scope: &Scope, project_id: i64) -> Result<ProjectProgress, StoreError> {
        let (_, estates, _) = self.read_project(scope, project_id).await?;
        let today = today();
        let mut lines = Vec::new();
        let mut weights = Vec::new();
        for e in estates {
            let (estate_id, name) = (e.id, e.name);
            let rows = self.nodes(estate_id).await?;
            let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
            let rollup = rules::rollup(
                &rows
                    .iter()
                    .map(|n| NodeWeight { building_id: n.building_id, weight: n.weight, progress_pct: n.progress_pct })
                    .collect::<Vec<_>>(),
            );
            let late = rows.into_iter().map(|n| n.into_node(today)).filter(|n| n.state == NodeState::Late).count();
            let open_changes = self
                .scalar("SELECT COUNT(*) FROM design_changes WHERE estate_id = $1 AND delivered_on IS NULL", crate::args![estate_id])
                .await?;
            let open_tasks = self
                .scalar("SELECT COUNT(*) FROM rectifications WHERE estate_id = $1 AND closed_at IS NULL", crate::args![estate_id])
                .await?;
            weights.push((rollup.total_weight, rollup.estate_bp));
            lines.push(EstateProgress {
                estate_id,
                name,
                progress_bp: rollup.estate_bp,
                nodes: count,
                late_nodes: i64::try_from(late).unwrap_or(i64::MAX),
                open_design_changes: open_changes,
                open_rectifications: open_tasks,
            });
        }
        Ok(ProjectProgress { project_id, progress_bp: rules::weighted_bp(weights), estates: lines })
    }
}
