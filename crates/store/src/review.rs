//! The six-month review (回头看) of an accepted estate and its rectification tasks (整改), with the
//! closure rate and overdue tasks of a region. The rules are `huanxin_domain::review`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::estates::scope_clause;
use crate::today;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::review::{self as rules, ReviewState, TaskInput};
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// A held review.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Review {
    pub held_on: String,
    pub held_by: String,
    pub summary: String,
}

/// A rectification task.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Task {
    /// Photos of the fix filed by the owner (or the bureau).
    #[sqlx(skip)]
    pub evidence: Vec<crate::archive::Document>,
    pub id: i64,
    pub estate_id: i64,
    pub finding: String,
    pub owner: String,
    pub deadline: String,
    pub supervised: bool,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub closing_note: String,
}

/// An estate's review: when it is due, where it stands, the review if held and its tasks.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewPage {
    pub accepted_on: Option<String>,
    pub due_on: Option<String>,
    pub state: Option<ReviewState>,
    pub review: Option<Review>,
    pub tasks: Vec<Task>,
}

/// Rectification in a region: how many tasks, closed, overdue, and the closure rate; and the same
/// for each region one level down.
#[derive(Debug, Clone, Serialize)]
pub struct RectificationSummary {
    pub tasks: i64,
    pub closed: i64,
    pub overdue: i64,
    pub supervised_open: i64,
    pub closure_rate_bp: i64,
    pub by_region: Vec<RegionRectification>,
}

/// One region's line of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct RegionRectification {
    pub region_code: String,
    pub name: String,
    pub tasks: i64,
    pub closed: i64,
    pub overdue: i64,
    pub closure_rate_bp: i64,
}

const COUNTS: &str = "COUNT(*), COALESCE(SUM(CASE WHEN r.closed_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
    COALESCE(SUM(CASE WHEN r.closed_at IS NULL AND r.deadline < $1 THEN 1 ELSE 0 END), 0), \
    COALESCE(SUM(CASE WHEN r.closed_at IS NULL AND r.supervised THEN 1 ELSE 0 END), 0)";

const TASKS_IN_SCOPE: &str = "rectifications r JOIN estates e ON e.id = r.estate_id";

const TASK_COLS: &str = "id, estate_id, finding, owner, deadline, supervised, closed_by, closed_at, closing_note";

impl Db {
    /// The day an estate was accepted (its last step to `accepted`), if it was.
    async fn accepted_on(&self, estate_id: i64) -> Result<Option<chrono::NaiveDate>, StoreError> {
        let at: Option<(String,)> = self
            .fetch_optional(
                "SELECT at FROM estate_events WHERE estate_id = $1 AND to_status = 'accepted' ORDER BY id DESC LIMIT 1",
                crate::args![estate_id],
            )
            .await?;
        Ok(at.and_then(|(at,)| chrono::NaiveDate::parse_from_str(at.get(..10)?, "%Y-%m-%d").ok()))
    }

    /// An estate's review page.
    pub async fn review(&self, scope: &Scope, estate_id: i64) -> Result<ReviewPage, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let accepted = self.accepted_on(estate_id).await?;
        let review: Option<Review> =
            self.fetch_optional("SELECT held_on, held_by, summary FROM reviews WHERE estate_id = $1", crate::args![estate_id]).await?;
        let mut tasks: Vec<Task> = self
            .fetch_all(&format!("SELECT {TASK_COLS} FROM rectifications WHERE estate_id = $1 ORDER BY id"), crate::args![estate_id])
            .await?;
        let evidence: Vec<crate::archive::Document> = self
            .fetch_all(
                &format!(
                    "SELECT {} FROM documents WHERE estate_id = $1 AND rectification_id IS NOT NULL ORDER BY id",
                    crate::archive::DOC_COLS
                ),
                crate::args![estate_id],
            )
            .await?;
        for t in &mut tasks {
            t.evidence = evidence.iter().filter(|d| d.rectification_id == Some(t.id)).cloned().collect();
        }
        Ok(ReviewPage {
            accepted_on: accepted.map(|d| d.to_string()),
            due_on: accepted.map(|d| rules::review_due(d).to_string()),
            state: accepted.map(|d| rules::review_state(d, review.is_some(), today())),
            review,
            tasks,
        })
    }

    /// Records the review of an accepted estate (once) with its findings as rectification tasks.
    pub async fn hold_review(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        summary: &str,
        tasks: &[TaskInput],
    ) -> Result<ReviewPage, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        if self.accepted_on(estate_id).await?.is_none() {
            return Err(StoreError::Conflict(reason!("review.not_accepted")));
        }
        let exists = self.scalar("SELECT COUNT(*) FROM reviews WHERE estate_id = $1", crate::args![estate_id]).await?;
        if exists > 0 {
            return Err(StoreError::Conflict(reason!("review.already_held")));
        }
        if summary.chars().count() > 2_000 {
            return Err(StoreError::Invalid(ValidationErrors::one("summary", summary, reason!("field.at_most_chars", max = 2000))));
        }
        let mut problems = ValidationErrors::default();
        let mut deadlines = Vec::new();
        for (i, t) in tasks.iter().enumerate() {
            match t.validate(today()) {
                Ok(d) => deadlines.push(d),
                Err(v) => {
                    for e in v.0 {
                        problems.0.push(huanxin_domain::FieldError { field: format!("tasks[{i}].{}", e.field), ..e });
                    }
                }
            }
        }
        let owners: Vec<&str> = tasks.iter().map(|t| t.owner.trim()).filter(|o| !o.is_empty()).collect();
        let mut known = std::collections::HashSet::new();
        if !owners.is_empty() {
            let ph: Vec<String> = (1..=owners.len()).map(|i| format!("${i}")).collect();
            let rows: Vec<(String,)> = self
                .fetch_all(
                    &format!("SELECT username FROM users WHERE username IN ({})", ph.join(",")),
                    owners.iter().map(|o| crate::Arg::from(*o)).collect(),
                )
                .await?;
            known.extend(rows.into_iter().map(|r| r.0));
        }
        for (i, t) in tasks.iter().enumerate() {
            if !t.owner.trim().is_empty() && !known.contains(t.owner.trim()) {
                problems.push(&format!("tasks[{i}].owner"), &t.owner, reason!("review.not_account"));
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let mut tx = self.begin().await?;
        let now = crate::now();
        tx.execute(
            "INSERT INTO reviews (estate_id, held_on, held_by, summary) VALUES ($1, $2, $3, $4)",
            crate::args![estate_id, today().to_string(), actor.username.as_str(), summary.trim()],
        )
        .await?;
        for (t, deadline) in tasks.iter().zip(&deadlines) {
            tx.execute(
                "INSERT INTO rectifications (estate_id, finding, owner, deadline, supervised, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                crate::args![estate_id, t.finding.trim(), t.owner.trim(), deadline.to_string(), t.supervised, now.clone()],
            )
            .await?;
        }
        tx.refresh_estate_statistics(estate_id).await?;
        tx.audit(
            actor,
            Change {
                action: "hold_review",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"summary": summary.trim(), "tasks": tasks})),
            },
        )
        .await?;
        tx.commit().await?;
        self.review(scope, estate_id).await
    }

    /// Closes a rectification task after checking the fix; the task's owner may not close it.
    pub async fn close_task(&self, actor: &Actor, scope: &Scope, task_id: i64, note: &str) -> Result<Task, StoreError> {
        let task: Task = self.fetch_one(&format!("SELECT {TASK_COLS} FROM rectifications WHERE id = $1"), crate::args![task_id]).await?;
        let estate = self.get_estate(scope, task.estate_id).await?;
        if task.closed_at.is_some() {
            return Err(StoreError::Conflict(reason!("review.already_closed")));
        }
        let evidence = self.scalar("SELECT COUNT(*) FROM documents WHERE rectification_id = $1", crate::args![task_id]).await?;
        rules::may_close(&task.owner, &actor.username, usize::try_from(evidence).unwrap_or(0)).map_err(StoreError::Conflict)?;
        if note.trim().is_empty() || note.chars().count() > 500 {
            return Err(StoreError::Invalid(ValidationErrors::one("note", note, reason!("review.check_note_required"))));
        }
        let mut tx = self.begin().await?;
        tx.execute(
            "UPDATE rectifications SET closed_by = $1, closed_at = $2, closing_note = $3 WHERE id = $4 AND closed_at IS NULL",
            crate::args![actor.username.as_str(), crate::now(), note.trim(), task_id],
        )
        .await?;
        tx.refresh_estate_statistics(task.estate_id).await?;
        tx.audit(
            actor,
            Change {
                action: "close",
                entity: "rectification",
                entity_id: task_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"note": note.trim()})),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_one(&format!("SELECT {TASK_COLS} FROM rectifications WHERE id = $1"), crate::args![task_id]).await
    }

    /// A rectification task in scope.
    pub async fn task(&self, scope: &Scope, task_id: i64) -> Result<Task, StoreError> {
        let task: Task = self.fetch_one(&format!("SELECT {TASK_COLS} FROM rectifications WHERE id = $1"), crate::args![task_id]).await?;
        self.get_estate(scope, task.estate_id).await?;
        Ok(task)
    }

    /// Files photos of a task's fix as its evidence (in the archive's review section), all or nothing.
    pub async fn add_evidence(
        &self,
        actor: &Actor,
        scope: &Scope,
        task_id: i64,
        photos: Vec<(String, Vec<u8>)>,
    ) -> Result<Task, StoreError> {
        let task = self.task(scope, task_id).await?;
        let estate = self.get_estate(scope, task.estate_id).await?;
        if task.closed_at.is_some() {
            return Err(StoreError::Conflict(reason!("review.already_closed")));
        }
        let mut problems = ValidationErrors::default();
        if photos.is_empty() || photos.len() > 20 {
            problems.push("photos", photos.len(), reason!("review.photo_count"));
        }
        let title = format!("整改佐证：{}", task.finding);
        let checked = crate::archive::check_photos(photos, "review", "rectification_evidence", &title, &mut problems);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        self.stage_documents(&checked).await?;
        let mut tx = self.begin().await?;
        let mut ids = Vec::new();
        for c in checked {
            let attached = crate::archive::AttachedTo { rectification_id: Some(task_id), ..Default::default() };
            ids.push(tx.insert_document(actor, task.estate_id, c, attached).await?.id);
        }
        tx.audit(
            actor,
            Change {
                action: "add_evidence",
                entity: "rectification",
                entity_id: task_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"documents": ids})),
            },
        )
        .await?;
        tx.commit().await?;
        let mut task = self.task(scope, task_id).await?;
        task.evidence = self
            .fetch_all(
                &format!("SELECT {} FROM documents WHERE rectification_id = $1 ORDER BY id", crate::archive::DOC_COLS),
                crate::args![task_id],
            )
            .await?;
        Ok(task)
    }

    /// Rectification in the caller's scope: totals, overdue and supervised open tasks, closure rate.
    pub async fn rectification_summary(&self, scope: &Scope) -> Result<RectificationSummary, StoreError> {
        let mut args = crate::args![today().to_string()];
        // Tasks are scoped through their estate, like every estate query.
        let sc = scope_clause(scope, &mut args);
        let (tasks, closed, overdue, supervised_open): (i64, i64, i64, i64) =
            self.fetch_one(&format!("SELECT {COUNTS} FROM {TASKS_IN_SCOPE} WHERE {sc}"), args.clone()).await?;
        // One level down from the caller's region (a county sees its streets); none for attached accounts.
        let child_len = match scope {
            Scope::Region(rc) => [2usize, 4, 6, 9, 12].into_iter().find(|l| *l > rc.prefix().len()),
            Scope::Attached { .. } => None,
        };
        let mut by_region = Vec::new();
        if let Some(len) = child_len {
            let rows: Vec<(String, i64, i64, i64, i64)> = self
                .fetch_all(
                    &format!(
                        "SELECT SUBSTR(e.community_code, 1, {len}) AS part, {COUNTS} FROM {TASKS_IN_SCOPE} WHERE {sc} \
                         GROUP BY SUBSTR(e.community_code, 1, {len}) ORDER BY part"
                    ),
                    args,
                )
                .await?;
            let codes: Vec<String> = rows.iter().map(|r| format!("{:0<12}", r.0)).collect();
            let names = self.region_names(&codes).await?;
            by_region = rows
                .into_iter()
                .zip(codes)
                .map(|((_, tasks, closed, overdue, _), code)| RegionRectification {
                    name: names.get(&code).cloned().unwrap_or_default(),
                    region_code: code,
                    tasks,
                    closed,
                    overdue,
                    closure_rate_bp: rules::closure_rate_bp(closed, tasks),
                })
                .collect();
        }
        Ok(RectificationSummary {
            tasks,
            closed,
            overdue,
            supervised_open,
            closure_rate_bp: rules::closure_rate_bp(closed, tasks),
            by_region,
        })
    }

    /// The lifecycle's review facts: whether the review was held, and its tasks still open.
    pub(crate) async fn review_facts(&self, estate_id: i64) -> Result<(bool, u32), StoreError> {
        let held = self.scalar("SELECT COUNT(*) FROM reviews WHERE estate_id = $1", crate::args![estate_id]).await? > 0;
        let open =
            self.scalar("SELECT COUNT(*) FROM rectifications WHERE estate_id = $1 AND closed_at IS NULL", crate::args![estate_id]).await?;
        Ok((held, u32::try_from(open).unwrap_or(u32::MAX)))
    }
}
