//! Statistical reports (`huanxin_domain::reports`): each version of a county's report of a form
//! and period, its steps (saved, submitted, approved, returned, corrected) and the deadlines a
//! region sets for its counties. State changes are conditional updates (`WHERE status = …`), so
//! two clicks at once change a report once.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use chrono::NaiveDate;
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::reports::{self as rules, Form, Reviewed, Status, Typed, UnderReview};
use huanxin_domain::statistics::Period;
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::BTreeMap;

const REPORT_COLS: &str = "id, region_code, form, period, version, status, awaiting, typed_json, computed_json, preparer, phone, \
    correction_reason, submitted_by, submitted_at, approved_at, created_by, created_at";

/// One version of a county's report.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Report {
    pub id: i64,
    pub region_code: String,
    pub form: String,
    pub period: String,
    pub version: i64,
    pub status: String,
    /// The region whose review is awaited (while submitted).
    pub awaiting: Option<String>,
    #[serde(skip)]
    pub typed_json: String,
    /// The computed figures as they were when it was submitted.
    #[serde(skip)]
    pub computed_json: Option<String>,
    pub preparer: String,
    pub phone: String,
    /// Why this version corrects an approved one (empty for the first).
    pub correction_reason: String,
    pub submitted_by: String,
    pub submitted_at: Option<String>,
    pub approved_at: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

impl Report {
    /// The typed figures.
    pub fn typed(&self) -> Typed {
        serde_json::from_str(&self.typed_json).unwrap_or_default()
    }

    /// The computed figures kept at submission, if it was submitted.
    pub fn computed_at_submission(&self) -> Option<BTreeMap<String, i64>> {
        self.computed_json.as_deref().and_then(|j| serde_json::from_str(j).ok())
    }

    fn state(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Draft)
    }
}

/// One step of a report's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Step {
    pub action: String,
    pub region_code: String,
    pub username: String,
    pub reason: String,
    pub at: String,
}

/// A county below a region with the latest version of its report and when it first submitted one.
#[derive(Debug, Clone)]
pub struct Filed {
    pub region_code: String,
    pub region_name: String,
    pub report: Option<Report>,
    pub first_submitted_at: Option<String>,
}

/// What a county saves: its typed figures and who prepared it.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub typed: &'a Typed,
    pub preparer: &'a str,
    pub phone: &'a str,
}

impl Db {
    /// A report by id, with no scope check (the caller checks its region).
    pub async fn report(&self, id: i64) -> Result<Report, StoreError> {
        self.fetch_one(&format!("SELECT {REPORT_COLS} FROM stat_reports WHERE id = $1"), crate::args![id]).await
    }

    /// Every version of a county's report of a form and period, latest first.
    pub async fn report_versions(&self, region: &RegionCode, form: &Form, period: &str) -> Result<Vec<Report>, StoreError> {
        self.fetch_all(
            &format!("SELECT {REPORT_COLS} FROM stat_reports WHERE region_code = $1 AND form = $2 AND period = $3 ORDER BY version DESC"),
            crate::args![region.as_str(), form.code, period],
        )
        .await
    }

    /// A report's steps, oldest first.
    pub async fn report_steps(&self, id: i64) -> Result<Vec<Step>, StoreError> {
        self.fetch_all(
            "SELECT action, region_code, username, reason, at FROM stat_report_steps WHERE report_id = $1 ORDER BY id",
            crate::args![id],
        )
        .await
    }

    /// Saves a county's figures: the open version is changed, or the first version made; a
    /// submitted or approved report is locked.
    pub async fn save_report(
        &self,
        actor: &Actor,
        region: &RegionCode,
        form: &Form,
        period: &str,
        d: &Draft<'_>,
    ) -> Result<Report, StoreError> {
        rules::check_reporting_unit(region).map_err(|r| StoreError::Invalid(ValidationErrors::one("region", region.as_str(), r)))?;
        let mut e = ValidationErrors::default();
        let (preparer, phone) = (d.preparer.trim(), d.phone.trim());
        if preparer.is_empty() || preparer.chars().count() > 50 {
            e.push("preparer", preparer, reason!("reports.preparer_required"));
        }
        if phone.is_empty() || phone.chars().count() > 30 {
            e.push("phone", phone, reason!("reports.preparer_required"));
        }
        if !e.0.is_empty() {
            return Err(StoreError::Invalid(e));
        }
        let typed = serde_json::to_string(d.typed).map_err(|x| StoreError::Config(x.to_string()))?;
        let latest = self.report_versions(region, form, period).await?.into_iter().next();
        let mut tx = self.begin().await?;
        let report: Report = match &latest {
            Some(r) if r.state().editable() => {
                let changed = tx
                    .execute(
                        "UPDATE stat_reports SET typed_json = $1, preparer = $2, phone = $3 WHERE id = $4 AND status IN ('draft', 'returned')",
                        crate::args![typed.as_str(), preparer, phone, r.id],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::Conflict(reason!("reports.locked")));
                }
                tx.fetch_one(&format!("SELECT {REPORT_COLS} FROM stat_reports WHERE id = $1"), crate::args![r.id]).await?
            }
            Some(_) => return Err(StoreError::Conflict(reason!("reports.locked"))),
            None => tx
                .fetch_one(
                    &format!(
                        "INSERT INTO stat_reports (region_code, form, period, version, status, typed_json, preparer, phone, correction_reason, \
                         submitted_by, created_by, created_at) VALUES ($1, $2, $3, 1, 'draft', $4, $5, $6, '', '', $7, $8) RETURNING {REPORT_COLS}"
                    ),
                    crate::args![region.as_str(), form.code, period, typed.as_str(), preparer, phone, actor.username.as_str(), crate::now()],
                )
                .await
                .map_err(|x| match x {
                    StoreError::Duplicate(_) => StoreError::Conflict(reason!("reports.open_version", version = 1)),
                    other => other,
                })?,
        };
        step(&mut tx, report.id, "saved", region.as_str(), &actor.username, "").await?;
        // The figures of a draft are the county's own until submitted (the audit is read above
        // it): the save names the cells typed; the submission records the figures.
        let cells: Vec<&String> = d.typed.keys().collect();
        tx.audit(actor, change("save", &report, Some(serde_json::json!({"typed_cells": cells})))).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Submits the open version, locked from now on, with the computed figures of this moment; the
    /// level above reviews it next.
    pub async fn submit_report(&self, actor: &Actor, id: i64, computed: &BTreeMap<String, i64>) -> Result<Report, StoreError> {
        let r = self.report(id).await?;
        if !r.state().editable() {
            return Err(StoreError::Conflict(reason!("reports.locked")));
        }
        let region = RegionCode::parse(&r.region_code).map_err(|x| StoreError::Config(x.to_string()))?;
        let Some(next) = rules::reviewer_after(&region) else { return Err(StoreError::Conflict(reason!("reports.county_files"))) };
        let snapshot = serde_json::to_string(computed).map_err(|x| StoreError::Config(x.to_string()))?;
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE stat_reports SET status = 'submitted', awaiting = $1, computed_json = $2, submitted_by = $3, submitted_at = $4 \
                 WHERE id = $5 AND status IN ('draft', 'returned')",
                crate::args![next.as_str(), snapshot.as_str(), actor.username.as_str(), crate::now(), id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("reports.locked")));
        }
        step(&mut tx, id, "submitted", &r.region_code, &actor.username, "").await?;
        tx.audit(
            actor,
            change(
                "submit",
                &r,
                Some(serde_json::json!({"awaiting": next.as_str(), "computed": computed, "typed": r.typed(), "preparer": r.preparer, "phone": r.phone})),
            ),
        )
        .await?;
        tx.commit().await?;
        self.report(id).await
    }

    /// A review by a user of `reviewer_region`: approve (on to the next level, or final at the
    /// country, replacing an earlier approved version) or return with a reason.
    pub async fn review_report(
        &self,
        actor: &Actor,
        reviewer_region: &RegionCode,
        id: i64,
        approve: bool,
        reason_given: &str,
    ) -> Result<Report, StoreError> {
        let r = self.report(id).await?;
        let awaiting = r.awaiting.as_deref().and_then(|a| RegionCode::parse(a).ok());
        let authors: Vec<String> = self
            .fetch_all::<(String,)>(
                "SELECT DISTINCT username FROM stat_report_steps WHERE report_id = $1 AND action IN ('saved', 'submitted')",
                crate::args![id],
            )
            .await?
            .into_iter()
            .map(|(u,)| u)
            .chain([r.created_by.clone(), r.submitted_by.clone()])
            .collect();
        if !approve && rules::is_blank(reason_given) {
            return Err(StoreError::Invalid(ValidationErrors::one("reason", "", reason!("reports.reason_required"))));
        }
        // Four eyes: an author whose password the reviewer set (or who still signs in with a
        // password someone else set) is not another pair of eyes.
        for a in authors.iter().filter(|a| !a.is_empty() && **a != actor.username) {
            if let Some(refusal) = self.hands_refusal(a, &actor.username).await? {
                return Err(StoreError::Conflict(refusal.reason()));
            }
        }
        let under = UnderReview { status: r.state(), awaiting: awaiting.as_ref(), authors: &authors };
        let outcome = rules::review(&under, &actor.username, reviewer_region, approve, reason_given).map_err(StoreError::Conflict)?;
        let reason_given = reason_given.trim();
        if reason_given.chars().count() > 500 {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "reason",
                reason_given.chars().count(),
                reason!("field.at_most_chars", max = 500),
            )));
        }
        let was = r.awaiting.clone().unwrap_or_default();
        let mut tx = self.begin().await?;
        let (sql, args, action) = match &outcome {
            Reviewed::PassedTo(next) => (
                "UPDATE stat_reports SET awaiting = $1 WHERE id = $2 AND status = 'submitted' AND awaiting = $3",
                crate::args![next.as_str(), id, was.as_str()],
                "approved",
            ),
            Reviewed::Approved => (
                "UPDATE stat_reports SET status = 'approved', awaiting = NULL, approved_at = $1 WHERE id = $2 AND status = 'submitted' AND awaiting = $3",
                crate::args![crate::now(), id, was.as_str()],
                "approved",
            ),
            Reviewed::Returned => (
                "UPDATE stat_reports SET status = 'returned', awaiting = NULL WHERE id = $1 AND status = 'submitted' AND awaiting = $2",
                crate::args![id, was.as_str()],
                "returned",
            ),
        };
        if tx.execute(sql, args).await? == 0 {
            return Err(StoreError::Conflict(reason!("reports.not_submitted")));
        }
        if outcome == Reviewed::Approved {
            tx.execute(
                "UPDATE stat_reports SET status = 'superseded' WHERE region_code = $1 AND form = $2 AND period = $3 AND version < $4 AND status = 'approved'",
                crate::args![r.region_code.as_str(), r.form.as_str(), r.period.as_str(), r.version],
            )
            .await?;
        }
        step(&mut tx, id, action, reviewer_region.as_str(), &actor.username, reason_given).await?;
        tx.audit(
            actor,
            change(if approve { "approve" } else { "return" }, &r, Some(serde_json::json!({"level": was, "reason": reason_given}))),
        )
        .await?;
        tx.commit().await?;
        self.report(id).await
    }

    /// Opens a correction of an approved report: a new version with its reason, the figures copied
    /// for the county to change and submit again.
    pub async fn correct_report(&self, actor: &Actor, id: i64, why: &str) -> Result<Report, StoreError> {
        let r = self.report(id).await?;
        let why = why.trim();
        if rules::is_blank(why) || why.chars().count() > 500 {
            return Err(StoreError::Invalid(ValidationErrors::one("reason", why, reason!("reports.correction_reason_required"))));
        }
        if r.state() != Status::Approved {
            return Err(StoreError::Conflict(reason!("reports.correct_approved_only")));
        }
        let mut tx = self.begin().await?;
        let open = tx
            .scalar(
                "SELECT COUNT(*) FROM stat_reports WHERE region_code = $1 AND form = $2 AND period = $3 AND version > $4",
                crate::args![r.region_code.as_str(), r.form.as_str(), r.period.as_str(), r.version],
            )
            .await?;
        if open > 0 {
            return Err(StoreError::Conflict(reason!("reports.open_version", version = r.version + 1)));
        }
        let made: Report = tx
            .fetch_one(
                &format!(
                    "INSERT INTO stat_reports (region_code, form, period, version, status, typed_json, preparer, phone, correction_reason, \
                     submitted_by, created_by, created_at) VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, '', $9, $10) RETURNING {REPORT_COLS}"
                ),
                crate::args![
                    r.region_code.as_str(),
                    r.form.as_str(),
                    r.period.as_str(),
                    r.version + 1,
                    r.typed_json.as_str(),
                    r.preparer.as_str(),
                    r.phone.as_str(),
                    why,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await
            .map_err(|x| match x {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("reports.open_version", version = r.version + 1)),
                other => other,
            })?;
        step(&mut tx, made.id, "corrected", &r.region_code, &actor.username, why).await?;
        tx.audit(actor, change("correct", &made, Some(serde_json::json!({"corrects": r.id, "reason": why})))).await?;
        tx.commit().await?;
        Ok(made)
    }

    /// The reports awaiting the review of `region`.
    pub async fn reports_awaiting(&self, region: &RegionCode) -> Result<Vec<Report>, StoreError> {
        self.fetch_all(
            &format!("SELECT {REPORT_COLS} FROM stat_reports WHERE awaiting = $1 AND status = 'submitted' ORDER BY submitted_at, id"),
            crate::args![region.as_str()],
        )
        .await
    }

    /// The counties under `region` that report (those with estates in the registry), each with the
    /// latest version of its report of a form and period.
    pub async fn report_filings(&self, region: &RegionCode, form: &Form, period: &str) -> Result<Vec<Filed>, StoreError> {
        let counties = if region.level() == huanxin_domain::regions::Level::County {
            vec![self.region(region).await?]
        } else {
            self.region_subtree(region, Some(3), 100_000).await?
        };
        let latest: Vec<Report> = {
            let (lo, hi) = region.subtree_range();
            self.fetch_all(
                &format!(
                    "SELECT {REPORT_COLS} FROM stat_reports r WHERE form = $1 AND period = $2 AND region_code >= $3 AND region_code < $4 \
                     AND version = (SELECT MAX(version) FROM stat_reports x WHERE x.region_code = r.region_code AND x.form = r.form AND x.period = r.period)"
                ),
                crate::args![form.code, period, lo, hi],
            )
            .await?
        };
        let mut by_region: BTreeMap<String, Report> = latest.into_iter().map(|r| (r.region_code.clone(), r)).collect();
        // Lateness goes by the first submission of the period: a correction later does not make
        // a report filed on time late, nor a late one on time.
        let (lo, hi) = region.subtree_range();
        let first: BTreeMap<String, String> = self
            .fetch_all::<(String, Option<String>)>(
                "SELECT region_code, MIN(submitted_at) FROM stat_reports WHERE form = $1 AND period = $2 AND region_code >= $3 AND region_code < $4 \
                 GROUP BY region_code",
                crate::args![form.code, period, lo, hi],
            )
            .await?
            .into_iter()
            .filter_map(|(c, at)| Some((c, at?)))
            .collect();
        // The counties with estates, in one read of the estates' index (not one query per county).
        let (lo, hi) = region.subtree_range();
        let with_estates: std::collections::BTreeSet<String> = self
            .fetch_all::<(String,)>(
                "SELECT DISTINCT SUBSTR(community_code, 1, 6) FROM estates WHERE community_code >= $1 AND community_code < $2",
                crate::args![lo, hi],
            )
            .await?
            .into_iter()
            .map(|(c,)| format!("{c}000000"))
            .collect();
        let mut out = Vec::new();
        for c in counties {
            let report = by_region.remove(&c.code);
            if report.is_some() || with_estates.contains(&c.code) {
                out.push(Filed { first_submitted_at: first.get(&c.code).cloned(), region_code: c.code, region_name: c.name, report });
            }
        }
        Ok(out)
    }

    /// The day a county's report of a form and period is due: the form's default working days,
    /// moved by the deadline changes of the county and the regions above it made before the report
    /// was due (`reports::due_with_changes`).
    pub async fn report_due(
        &self,
        county: &RegionCode,
        form: &Form,
        period: &Period,
        cal: &WorkCalendar,
    ) -> Result<Option<NaiveDate>, StoreError> {
        let changes = self.report_deadline_changes(county, form).await?;
        Ok(rules::due_with_changes(form, period, &changes, cal))
    }

    /// The deadline changes of a form made by a county and the regions above it, in order.
    pub(crate) async fn report_deadline_changes(&self, county: &RegionCode, form: &Form) -> Result<Vec<rules::DeadlineChange>, StoreError> {
        let mut codes: Vec<String> = vec![RegionCode::country().as_str().to_string()];
        codes.extend(county.ancestors().iter().map(|a| a.as_str().to_string()));
        codes.push(county.as_str().to_string());
        codes.resize(5, String::new());
        let rows: Vec<(String, i64, String)> = self
            .fetch_all(
                "SELECT region_code, working_days, set_at FROM report_deadline_changes WHERE form = $1 AND region_code IN ($2, $3, $4, $5, $6) ORDER BY id",
                crate::args![form.code, codes[0].as_str(), codes[1].as_str(), codes[2].as_str(), codes[3].as_str(), codes[4].as_str()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(code, days, at)| {
                Some(rules::DeadlineChange {
                    on: huanxin_domain::statistics::china_day(&at)?,
                    level: RegionCode::parse(&code).ok()?.level(),
                    working_days: u32::try_from(days).ok()?,
                })
            })
            .collect())
    }

    /// Sets the working days the counties under `region` have for a form.
    pub async fn set_report_deadline(&self, actor: &Actor, region: &RegionCode, form: &Form, days: i64) -> Result<(), StoreError> {
        if !(1..=i64::from(rules::MAX_DUE_WORKING_DAYS)).contains(&days) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "working_days",
                days,
                reason!("reports.due_range", max = rules::MAX_DUE_WORKING_DAYS),
            )));
        }
        let mut tx = self.begin().await?;
        let now = crate::now();
        tx.execute(
            "INSERT INTO report_deadlines (region_code, form, working_days, set_by, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (region_code, form) DO UPDATE SET working_days = excluded.working_days, set_by = excluded.set_by, set_at = excluded.set_at",
            crate::args![region.as_str(), form.code, days, actor.username.as_str(), now.as_str()],
        )
        .await?;
        tx.execute(
            "INSERT INTO report_deadline_changes (region_code, form, working_days, set_by, set_at) VALUES ($1, $2, $3, $4, $5)",
            crate::args![region.as_str(), form.code, days, actor.username.as_str(), now.as_str()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set_deadline",
                entity: "report_form",
                entity_id: form.code.to_string(),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"working_days": days})),
            },
        )
        .await?;
        tx.commit().await
    }
}

async fn step(tx: &mut crate::db::Tx, id: i64, action: &str, region: &str, username: &str, why: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO stat_report_steps (report_id, action, region_code, username, reason, at) VALUES ($1, $2, $3, $4, $5, $6)",
        crate::args![id, action, region, username, why, crate::now()],
    )
    .await?;
    Ok(())
}

fn change<'a>(action: &'a str, r: &Report, after: Option<serde_json::Value>) -> Change<'a> {
    Change {
        action,
        entity: "stat_report",
        entity_id: r.id.to_string(),
        region_code: r.region_code.clone(),
        before: Some(serde_json::json!({"form": r.form, "period": r.period, "version": r.version, "status": r.status})),
        after,
    }
}
