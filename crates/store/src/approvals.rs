//! A project's approval steps: started from the template, finished one by one, late ones found.
//! Deadlines and order are `huanxin_domain::approvals` with the working-day calendar.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use chrono::NaiveDate;
use huanxin_domain::access::Scope;
use huanxin_domain::approvals::{self as rules, StepRefusal, StepState};
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// One approval step with its deadline.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalStep {
    pub code: String,
    pub name: String,
    pub limit_days: u32,
    pub after: Vec<String>,
    pub started_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub done_on: Option<NaiveDate>,
    /// Working days late today (or when it was done).
    pub days_late: i64,
    /// The number of the document it ended with (批复文号), and its scan in the archive.
    pub document_no: String,
    pub document_id: Option<i64>,
    /// Open and waiting for the owners' decision on the scheme of an estate of the project.
    pub waits_for_owners: bool,
}

/// A late step somewhere in the caller's region.
#[derive(Debug, Clone, Serialize)]
pub struct LateStep {
    pub project_id: i64,
    pub project_code: String,
    pub project_name: String,
    #[serde(flatten)]
    pub step: ApprovalStep,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    project_id: i64,
    code: String,
    name: String,
    limit_days: i64,
    after_codes: String,
    started_on: Option<String>,
    due_on: Option<String>,
    done_on: Option<String>,
    document_no: String,
    document_id: Option<i64>,
}

fn date(s: &Option<String>) -> Option<NaiveDate> {
    s.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

fn state(r: &StepRow) -> StepState {
    StepState {
        code: r.code.clone(),
        limit_days: u32::try_from(r.limit_days).unwrap_or(0),
        after: r.after_codes.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect(),
        started_on: date(&r.started_on),
        done_on: date(&r.done_on),
    }
}

fn view(cal: &WorkCalendar, r: &StepRow, today: NaiveDate) -> ApprovalStep {
    let s = state(r);
    ApprovalStep {
        due_on: date(&r.due_on).or_else(|| rules::due_on(cal, &s)),
        days_late: rules::days_late(cal, &s, today),
        code: s.code,
        name: r.name.clone(),
        limit_days: s.limit_days,
        after: s.after,
        started_on: s.started_on,
        done_on: s.done_on,
        document_no: r.document_no.clone(),
        document_id: r.document_id,
        waits_for_owners: false,
    }
}

/// The estates of a project that have not reached "decided" in their life, by name.
fn undecided_estates(estates: &[crate::projects::ProjectEstate]) -> Vec<String> {
    let decided = |status: &str| {
        huanxin_domain::estates::EstateStatus::parse(status)
            .is_some_and(|s| huanxin_domain::lifecycle::reached(s, huanxin_domain::estates::EstateStatus::Decided))
    };
    estates.iter().filter(|e| !decided(&e.status)).map(|e| e.name.clone()).collect()
}

const STEP_COLS: &str = "project_id, code, name, limit_days, after_codes, started_on, due_on, done_on, document_no, document_id";

/// The document a step ended with: its number and, if filed, its scan in the archive.
#[derive(Debug, Clone, Default)]
pub struct StepDocument {
    pub number: String,
    pub document_id: Option<i64>,
}

impl Db {
    /// May construction be recorded at this estate? When a project of it has its construction
    /// permit, or the bureau recorded an exception (returned with its reason).
    pub async fn construction_permitted(&self, estate_id: i64) -> Result<Result<(), huanxin_domain::Reason>, StoreError> {
        let permits = self
            .scalar(
                "SELECT COUNT(*) FROM approval_steps s JOIN project_estates pe ON pe.project_id = s.project_id \
                 WHERE pe.estate_id = $1 AND s.code = 'construction_permit' AND s.done_on IS NOT NULL",
                crate::args![estate_id],
            )
            .await?;
        let exceptions = self.scalar("SELECT COUNT(*) FROM permit_exceptions WHERE estate_id = $1", crate::args![estate_id]).await?;
        // The bureau's exception stands in for the permit, never for the owners: without their
        // passed decision on the scheme nothing is built (a permit implies it; an exception does not).
        let status: Option<(String,)> = self.fetch_optional("SELECT status FROM estates WHERE id = $1", crate::args![estate_id]).await?;
        let decided = status
            .and_then(|(s,)| huanxin_domain::estates::EstateStatus::parse(&s))
            .is_some_and(|s| huanxin_domain::lifecycle::reached(s, huanxin_domain::estates::EstateStatus::Decided));
        Ok(if permits > 0 || (exceptions > 0 && decided) {
            Ok(())
        } else if exceptions > 0 {
            Err(reason!("construction.exception_not_for_owners"))
        } else {
            Err(reason!("construction.waits_for_permit"))
        })
    }

    /// The bureau's exception: construction may be recorded before the permit, for the reason given (audited).
    pub async fn record_permit_exception(&self, actor: &Actor, scope: &Scope, estate_id: i64, reason: &str) -> Result<(), StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO permit_exceptions (estate_id, reason, recorded_by, recorded_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (estate_id) DO UPDATE SET reason = excluded.reason, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
            crate::args![estate_id, reason, actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "permit_exception",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"reason": reason})),
            },
        )
        .await?;
        tx.commit().await
    }
}

/// Why an approval step could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Refused(#[from] StepRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    /// Starts a project's approval from the template (design steps merged if asked) on `start`.
    pub async fn start_approval(
        &self,
        actor: &Actor,
        scope: &Scope,
        project_id: i64,
        merge_design: bool,
        start: NaiveDate,
    ) -> Result<(), StoreError> {
        let (project, _, _) = self.get_project(scope, project_id).await?;
        let steps = rules::start(&rules::template(merge_design), start);
        let cal = WorkCalendar::shipped_once().map_err(|e| StoreError::Config(format!("calendar data: {e}")))?;
        let names: std::collections::HashMap<&str, &str> =
            rules::DEFAULT_STEPS.iter().chain([&rules::MERGED_DESIGN]).map(|t| (t.code, t.name_zh)).collect();
        let mut tx = self.begin().await?;
        let have = tx.scalar("SELECT COUNT(*) FROM approval_steps WHERE project_id = $1", crate::args![project_id]).await?;
        if have > 0 {
            return Err(StoreError::Conflict(reason!("approvals.already_started")));
        }
        let rows = steps
            .iter()
            .map(|s| {
                crate::args![
                    project_id,
                    s.code.as_str(),
                    names.get(s.code.as_str()).copied().unwrap_or(""),
                    i64::from(s.limit_days),
                    s.after.join(","),
                    s.started_on.map(|d| d.to_string()),
                    rules::due_on(cal, s).map(|d| d.to_string()),
                    Option::<String>::None
                ]
            })
            .collect();
        tx.insert_rows(
            "approval_steps",
            &["project_id", "code", "name", "limit_days", "after_codes", "started_on", "due_on", "done_on"],
            rows,
            "",
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "start_approval",
                entity: "project",
                entity_id: project_id.to_string(),
                region_code: project.region_code,
                before: None,
                after: Some(serde_json::json!({"merge_design": merge_design, "start": start.to_string()})),
            },
        )
        .await?;
        tx.commit().await
    }

    /// A project's approval steps with deadlines and lateness on `today`.
    pub async fn approval(
        &self,
        scope: &Scope,
        project_id: i64,
        cal: &WorkCalendar,
        today: NaiveDate,
    ) -> Result<Vec<ApprovalStep>, StoreError> {
        self.read_project(scope, project_id).await?;
        // Waiting is about every estate of the project, also those outside a street's view.
        let (_, estates, _) = self.get_project(&Scope::Region(RegionCode::country()), project_id).await?;
        let waiting = !undecided_estates(&estates).is_empty();
        let rows: Vec<StepRow> = self
            .fetch_all(&format!("SELECT {STEP_COLS} FROM approval_steps WHERE project_id = $1 ORDER BY id"), crate::args![project_id])
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let mut v = view(cal, r, today);
                v.waits_for_owners = waiting && v.done_on.is_none() && rules::needs_owners_decision(&v.code);
                v
            })
            .collect())
    }

    /// Records a step as done on `date`; the steps waiting only for it start that day.
    pub async fn finish_approval_step(
        &self,
        actor: &Actor,
        scope: &Scope,
        project_id: i64,
        code: &str,
        date: NaiveDate,
        document: &StepDocument,
    ) -> Result<(), ApprovalError> {
        let (project, estates, _) = self.get_project(scope, project_id).await?;
        // The lawful order across modules: the design and what follows it wait for the owners.
        if rules::needs_owners_decision(code) {
            // "Decided" in the estate's life: the scheme drafted, both notices ended, the owners'
            // estate-wide decision on it passed (a stage a revised scheme goes back from).
            let waiting = undecided_estates(&estates);
            if !waiting.is_empty() {
                return Err(StepRefusal::WaitsForOwners(code.to_string(), waiting.join("、")).into());
            }
        }
        if let Some(doc) = document.document_id {
            let ids: Vec<String> = estates.iter().map(|e| e.id.to_string()).collect();
            let filed = if ids.is_empty() {
                0
            } else {
                self.scalar(
                    &format!("SELECT COUNT(*) FROM documents WHERE id = $1 AND estate_id IN ({})", ids.join(",")),
                    crate::args![doc],
                )
                .await?
            };
            if filed == 0 {
                return Err(StoreError::Invalid(ValidationErrors::one("document_id", doc, reason!("approvals.scan_not_in_archive"))).into());
            }
        }
        let mut tx = self.begin().await?;
        let rows: Vec<StepRow> = tx
            .fetch_all(&format!("SELECT {STEP_COLS} FROM approval_steps WHERE project_id = $1 ORDER BY id"), crate::args![project_id])
            .await?;
        if rows.is_empty() {
            return Err(StoreError::Invalid(ValidationErrors::one("code", code, reason!("approvals.not_started"))).into());
        }
        let before: Vec<StepState> = rows.iter().map(state).collect();
        let mut after = before.clone();
        rules::finish(&mut after, code, date)?;
        let cal = WorkCalendar::shipped_once().map_err(|e| StoreError::Config(format!("calendar data: {e}")))?;
        for (old, new) in before.iter().zip(&after) {
            if old != new {
                // The deadline is fixed when a step starts, on the calendar of that day.
                tx.execute(
                    "UPDATE approval_steps SET started_on = $1, due_on = $2, done_on = $3 WHERE project_id = $4 AND code = $5",
                    crate::args![
                        new.started_on.map(|d| d.to_string()),
                        rules::due_on(cal, new).map(|d| d.to_string()),
                        new.done_on.map(|d| d.to_string()),
                        project_id,
                        new.code.as_str()
                    ],
                )
                .await?;
            }
        }
        tx.execute(
            "UPDATE approval_steps SET document_no = $1, document_id = $2 WHERE project_id = $3 AND code = $4",
            crate::args![document.number.as_str(), document.document_id, project_id, code],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "finish_step",
                entity: "project",
                entity_id: project_id.to_string(),
                region_code: project.region_code,
                before: None,
                after: Some(serde_json::json!({"step": code, "done_on": date.to_string(), "document_no": document.number, "document_id": document.document_id})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Open steps past their deadline in the caller's region: how many, and the `limit` most late.
    /// Deadlines are stored when a step starts, so the database finds the late ones by index.
    pub async fn late_approval_steps(
        &self,
        scope: &Scope,
        cal: &WorkCalendar,
        today: NaiveDate,
        limit: usize,
    ) -> Result<(usize, Vec<LateStep>), StoreError> {
        let Scope::Region(rc) = scope else { return Ok((0, Vec::new())) };
        let (lo, hi) = rc.subtree_range();
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            step: StepRow,
            project_code: String,
            project_name: String,
        }
        // Country-wide, the open steps past their deadline are few: read them from their index
        // rather than visiting every project of the country.
        let region = if rc.prefix().is_empty() { "1 = 1" } else { "p.region_code >= $2 AND p.region_code < $3" };
        let mut args = crate::args![today.to_string()];
        if !rc.prefix().is_empty() {
            args.extend(crate::args![lo, hi]);
        }
        let rows: Vec<Row> = self
            .fetch_all(
                &format!(
                    "SELECT s.project_id, s.code, s.name, s.limit_days, s.after_codes, s.started_on, s.due_on, s.done_on, s.document_no, s.document_id, \
                     p.code AS project_code, p.name AS project_name FROM approval_steps s JOIN projects p ON p.id = s.project_id \
                     WHERE s.done_on IS NULL AND s.due_on < $1 AND {region}"
                ),
                args,
            )
            .await?;
        let mut late: Vec<LateStep> = rows
            .iter()
            .map(|r| LateStep {
                project_id: r.step.project_id,
                project_code: r.project_code.clone(),
                project_name: r.project_name.clone(),
                step: view(cal, &r.step, today),
            })
            .filter(|l| l.step.days_late > 0)
            .collect();
        late.sort_by(|a, b| b.step.days_late.cmp(&a.step.days_late).then(a.project_id.cmp(&b.project_id)));
        let total = late.len();
        late.truncate(limit);
        Ok((total, late))
    }

    /// Approval facts of an estate: whether any project of it has started an approval, and how many steps are open.
    pub(crate) async fn approval_facts(&self, estate_id: i64) -> Result<(bool, u32), StoreError> {
        let (total, open): (i64, i64) = self
            .fetch_one(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN s.done_on IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM approval_steps s JOIN project_estates pe ON pe.project_id = s.project_id WHERE pe.estate_id = $1",
                crate::args![estate_id],
            )
            .await?;
        Ok((total > 0, u32::try_from(open).unwrap_or(u32::MAX)))
    }
}
