//! Performance evaluation (`huanxin_domain::evaluation`): schemes per region and year, and one
//! evaluation per region below and year, scored by the region, then reviewed by the level above.
//! State changes are conditional updates, so two clicks at once change an evaluation once.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::evaluation::{self as rules, Given, Scheme};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use serde::Serialize;
use std::collections::BTreeMap;

const COLS: &str =
    "id, evaluator_code, region_code, year, status, own_json, reviewed_json, total, grade, scored_by, submitted_by, submitted_at, reviewed_by, reviewed_at";

/// One region's evaluation for a year.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Evaluation {
    pub id: i64,
    pub evaluator_code: String,
    pub region_code: String,
    pub year: i64,
    /// `draft`, `submitted` or `reviewed`.
    pub status: String,
    #[serde(skip)]
    pub own_json: String,
    #[serde(skip)]
    pub reviewed_json: String,
    /// Hundredths of a point, once reviewed.
    pub total: Option<i64>,
    pub grade: Option<String>,
    pub scored_by: String,
    pub submitted_by: String,
    pub submitted_at: Option<String>,
    pub reviewed_by: String,
    pub reviewed_at: Option<String>,
}

impl Evaluation {
    /// The region's own scores.
    pub fn own(&self) -> BTreeMap<String, Given> {
        serde_json::from_str(&self.own_json).unwrap_or_default()
    }

    /// The reviewer's scores.
    pub fn reviewed(&self) -> BTreeMap<String, Given> {
        serde_json::from_str(&self.reviewed_json).unwrap_or_default()
    }
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Config(e.to_string()))
}

impl Db {
    /// A region's scheme for a year, if it set one.
    pub async fn evaluation_scheme(&self, region: &RegionCode, year: i64) -> Result<Option<Scheme>, StoreError> {
        let row: Option<(String,)> = self
            .fetch_optional(
                "SELECT scheme_json FROM evaluation_schemes WHERE region_code = $1 AND year = $2",
                crate::args![region.as_str(), year],
            )
            .await?;
        Ok(row.and_then(|(j,)| serde_json::from_str(&j).ok()))
    }

    /// Sets a region's scheme for a year; refused once an evaluation under it was submitted.
    pub async fn set_evaluation_scheme(&self, actor: &Actor, region: &RegionCode, year: i64, scheme: &Scheme) -> Result<(), StoreError> {
        rules::validate(scheme).map_err(StoreError::Invalid)?;
        let mut tx = self.begin().await?;
        let used = tx
            .scalar(
                "SELECT COUNT(*) FROM evaluations WHERE evaluator_code = $1 AND year = $2 AND status <> 'draft'",
                crate::args![region.as_str(), year],
            )
            .await?;
        if used > 0 {
            return Err(StoreError::Conflict(reason!("evaluation.scheme_in_use", year = year)));
        }
        tx.execute(
            "INSERT INTO evaluation_schemes (region_code, year, scheme_json, set_by, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (region_code, year) DO UPDATE SET scheme_json = excluded.scheme_json, set_by = excluded.set_by, set_at = excluded.set_at",
            crate::args![region.as_str(), year, json(scheme)?, actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set_scheme",
                entity: "evaluation_scheme",
                entity_id: format!("{}-{year}", region.as_str()),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::to_value(scheme).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await
    }

    /// A region's evaluation for a year, if begun.
    pub async fn evaluation(&self, region: &RegionCode, year: i64) -> Result<Option<Evaluation>, StoreError> {
        self.fetch_optional(
            &format!("SELECT {COLS} FROM evaluations WHERE region_code = $1 AND year = $2"),
            crate::args![region.as_str(), year],
        )
        .await
    }

    /// The evaluations a region holds of the regions below for a year.
    pub async fn evaluations_by(&self, evaluator: &RegionCode, year: i64) -> Result<Vec<Evaluation>, StoreError> {
        self.fetch_all(
            &format!("SELECT {COLS} FROM evaluations WHERE evaluator_code = $1 AND year = $2 ORDER BY region_code"),
            crate::args![evaluator.as_str(), year],
        )
        .await
    }

    /// Saves a region's own scores (begins its evaluation); refused once submitted.
    pub async fn save_own_scores(
        &self,
        actor: &Actor,
        evaluator: &RegionCode,
        region: &RegionCode,
        year: i64,
        own: &BTreeMap<String, Given>,
    ) -> Result<Evaluation, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE evaluations SET own_json = $1, scored_by = $2 WHERE region_code = $3 AND year = $4 AND status = 'draft'",
                crate::args![json(own)?, actor.username.as_str(), region.as_str(), year],
            )
            .await?;
        if changed == 0 {
            let exists = tx
                .scalar("SELECT COUNT(*) FROM evaluations WHERE region_code = $1 AND year = $2", crate::args![region.as_str(), year])
                .await?;
            if exists > 0 {
                return Err(StoreError::Conflict(reason!("evaluation.locked")));
            }
            tx.execute(
                "INSERT INTO evaluations (evaluator_code, region_code, year, status, own_json, reviewed_json, scored_by, reviewed_by) \
                 VALUES ($1, $2, $3, 'draft', $4, '{}', $5, '')",
                crate::args![evaluator.as_str(), region.as_str(), year, json(own)?, actor.username.as_str()],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("evaluation.locked")),
                other => other,
            })?;
        }
        tx.audit(actor, change("self_score", region, year, serde_json::to_value(own).unwrap_or_default())).await?;
        tx.commit().await?;
        self.evaluation(region, year).await?.ok_or(StoreError::NotFound)
    }

    /// Submits a region's self-evaluation for review by the level above.
    pub async fn submit_evaluation(&self, actor: &Actor, region: &RegionCode, year: i64) -> Result<Evaluation, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE evaluations SET status = 'submitted', submitted_by = $1, submitted_at = $2 WHERE region_code = $3 AND year = $4 AND status = 'draft'",
                crate::args![actor.username.as_str(), crate::now(), region.as_str(), year],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("evaluation.locked")));
        }
        tx.audit(actor, change("submit", region, year, serde_json::json!({}))).await?;
        tx.commit().await?;
        self.evaluation(region, year).await?.ok_or(StoreError::NotFound)
    }

    /// The level above's review: its scores, the total and grade; never by who scored it.
    pub async fn review_evaluation(
        &self,
        actor: &Actor,
        region: &RegionCode,
        year: i64,
        reviewed: &BTreeMap<String, Given>,
        total: i64,
        grade: &str,
    ) -> Result<Evaluation, StoreError> {
        let e = self.evaluation(region, year).await?.ok_or(StoreError::NotFound)?;
        if e.scored_by == actor.username {
            return Err(StoreError::Conflict(reason!("evaluation.own_evaluation")));
        }
        if e.submitted_by == actor.username {
            return Err(StoreError::Conflict(reason!("evaluation.own_evaluation")));
        }
        // Four eyes: neither who scored nor who submitted is an account whose password the
        // reviewer set (or that still signs in with someone else's).
        for author in [&e.scored_by, &e.submitted_by].into_iter().filter(|a| !a.is_empty()) {
            if let Some(refusal) = self.hands_refusal(author, &actor.username).await? {
                return Err(StoreError::Conflict(refusal.reason()));
            }
        }
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE evaluations SET status = 'reviewed', reviewed_json = $1, total = $2, grade = $3, reviewed_by = $4, reviewed_at = $5 \
                 WHERE id = $6 AND status = 'submitted'",
                crate::args![json(reviewed)?, total, grade, actor.username.as_str(), crate::now(), e.id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("evaluation.not_submitted")));
        }
        tx.audit(actor, change("review", region, year, serde_json::json!({"scores": reviewed, "total": total, "grade": grade}))).await?;
        tx.commit().await?;
        self.evaluation(region, year).await?.ok_or(StoreError::NotFound)
    }
}

fn change<'a>(action: &'a str, region: &RegionCode, year: i64, after: serde_json::Value) -> Change<'a> {
    Change {
        action,
        entity: "evaluation",
        entity_id: format!("{}-{year}", region.as_str()),
        region_code: region.as_str().to_string(),
        before: None,
        after: Some(after),
    }
}

impl Db {
    /// The regions one level below `region` that have estates, with their names.
    pub async fn regions_below_with_estates(&self, region: &RegionCode) -> Result<Vec<(String, String)>, StoreError> {
        let Some(next) = huanxin_domain::regions::Level::from_number(region.level() as i64 + 1) else { return Ok(vec![]) };
        let (lo, hi) = region.subtree_range();
        let rows: Vec<(String,)> = self
            .fetch_all(
                &format!(
                    "SELECT DISTINCT SUBSTR(community_code, 1, {n}) FROM estates WHERE community_code >= $1 AND community_code < $2 ORDER BY 1",
                    n = next.prefix_len()
                ),
                crate::args![lo, hi],
            )
            .await?;
        let codes: Vec<String> = rows.into_iter().map(|(c,)| format!("{c:0<12}")).collect();
        let names = self.region_names(&codes).await?;
        Ok(codes.into_iter().map(|c| (names.get(&c).cloned().unwrap_or_else(|| c.clone()), c)).map(|(n, c)| (c, n)).collect())
    }
}

/// An archive document cited as evidence for a score.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EvidenceDocument {
    pub id: i64,
    pub title: String,
    pub section: String,
    pub kind: String,
    pub estate_id: i64,
    pub estate_name: String,
    pub uploaded_at: String,
}

const EVIDENCE_COLS: &str = "d.id, d.title, d.section, d.kind, d.estate_id, e.name AS estate_name, d.uploaded_at";

impl Db {
    /// The documents among `ids` filed in the archive of an estate of `region` (others left out).
    pub async fn evidence_documents(&self, region: &RegionCode, ids: &[i64]) -> Result<Vec<EvidenceDocument>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let (lo, hi) = region.subtree_range();
        let marks: Vec<String> = (3..ids.len() + 3).map(|k| format!("${k}")).collect();
        let mut args = crate::args![lo, hi];
        args.extend(ids.iter().map(|id| crate::Arg::from(*id)));
        self.fetch_all(
            &format!(
                "SELECT {EVIDENCE_COLS} FROM documents d JOIN estates e ON e.id = d.estate_id \
                 WHERE e.community_code >= $1 AND e.community_code < $2 AND d.id IN ({}) ORDER BY d.id",
                marks.join(", ")
            ),
            args,
        )
        .await
    }

    /// Documents of `region`'s estates' archives whose title or estate name holds `text`, newest
    /// first, at most 50: what an evaluator picks evidence from.
    pub async fn region_documents(&self, region: &RegionCode, text: &str) -> Result<Vec<EvidenceDocument>, StoreError> {
        let (lo, hi) = region.subtree_range();
        let like = format!("%{}%", text.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.fetch_all(
            &format!(
                "SELECT {EVIDENCE_COLS} FROM documents d JOIN estates e ON e.id = d.estate_id \
                 WHERE e.community_code >= $1 AND e.community_code < $2 AND (d.title LIKE $3 ESCAPE '\\' OR e.name LIKE $3 ESCAPE '\\') \
                 ORDER BY d.id DESC LIMIT 50"
            ),
            crate::args![lo, hi, like],
        )
        .await
    }
}
