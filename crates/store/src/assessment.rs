//! Assessments (体检): the checklist in force for an estate, findings saved as a draft, and the
//! finished assessment with its score. Scoring is `huanxin_domain::assessment`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::assessment::{self as rules, ChecklistItem, Finding, Level, Score};
use huanxin_domain::regions::RegionCode;
use serde::Serialize;

/// An estate's latest assessment.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub id: i64,
    pub estate_id: i64,
    /// `draft` or `finished`.
    pub status: String,
    pub findings: Vec<Finding>,
    /// The score as it stands (for a draft, what finishing it would give).
    pub score: Score,
    pub assessed_by: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AssessmentRow {
    id: i64,
    status: String,
    assessed_by: String,
    updated_at: String,
    finished_at: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ChecklistRow {
    code: String,
    level: String,
    label_zh: String,
    label_en: String,
    weight: i64,
    active: bool,
}

impl Db {
    /// The checklist in force in a community: the national one, changed by each enclosing region's
    /// rows from the province down (a row with the same code replaces the item, `active = false` drops it).
    pub async fn checklist_for(&self, community_code: &str) -> Result<Vec<ChecklistItem>, StoreError> {
        let mut list = rules::national_checklist();
        let Ok(code) = RegionCode::parse(community_code) else {
            return Ok(list);
        };
        for region in crate::regions::enclosing_regions(&code) {
            let rows: Vec<ChecklistRow> = self
                .fetch_all(
                    "SELECT code, level, label_zh, label_en, weight, active FROM checklist_items WHERE region_code = $1 ORDER BY id",
                    crate::args![region],
                )
                .await?;
            for r in rows {
                let at = list.iter().position(|i| i.code == r.code);
                let item = ChecklistItem {
                    code: r.code,
                    level: Level::parse(&r.level).unwrap_or(Level::Estate),
                    label_zh: r.label_zh,
                    label_en: r.label_en,
                    weight: u32::try_from(r.weight).unwrap_or(0),
                };
                // A changed line keeps its place; a new one goes last; a dropped one goes.
                match (at, r.active) {
                    (Some(i), true) => list[i] = item,
                    (Some(i), false) => {
                        list.remove(i);
                    }
                    (None, true) => list.push(item),
                    (None, false) => {}
                }
            }
        }
        Ok(list)
    }

    /// Sets a region's own version of a checklist line (in the caller's region; a new code adds a
    /// line, `active = false` drops it for the region and below).
    pub async fn set_checklist_item(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &str,
        item: &ChecklistItem,
        active: bool,
    ) -> Result<(), StoreError> {
        let rc = crate::plans::region_in_scope(scope, region, "region")?;
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO checklist_items (region_code, code, level, label_zh, label_en, weight, active) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (region_code, code) DO UPDATE SET level = excluded.level, label_zh = excluded.label_zh, \
             label_en = excluded.label_en, weight = excluded.weight, active = excluded.active",
            crate::args![rc.as_str(), item.code.as_str(), item.level.as_str(), item.label_zh.as_str(), item.label_en.as_str(), i64::from(item.weight), active],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "checklist_item",
                entity_id: format!("{}/{}", rc.as_str(), item.code),
                region_code: rc.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"item": item, "active": active})),
            },
        )
        .await?;
        tx.commit().await
    }

    /// The latest assessment of an estate in scope, if any.
    pub async fn latest_assessment(&self, scope: &Scope, estate_id: i64) -> Result<Option<Assessment>, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let Some(row) = self
            .fetch_optional::<AssessmentRow>(
                "SELECT id, status, assessed_by, updated_at, finished_at FROM assessments WHERE estate_id = $1 ORDER BY id DESC LIMIT 1",
                crate::args![estate_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let findings: Vec<(String, Option<i64>, bool, String)> = self
            .fetch_all(
                "SELECT item, building_id, present, note FROM assessment_findings WHERE assessment_id = $1 ORDER BY id",
                crate::args![row.id],
            )
            .await?;
        let findings: Vec<Finding> =
            findings.into_iter().map(|(item, building_id, present, note)| Finding { item, building_id, present, note }).collect();
        let checklist = self.checklist_for(&estate.community_code).await?;
        let buildings = self.building_ids(estate_id).await?;
        Ok(Some(Assessment {
            id: row.id,
            estate_id,
            status: row.status,
            score: rules::score(&checklist, &buildings, &findings),
            findings,
            assessed_by: row.assessed_by,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        }))
    }

    async fn building_ids(&self, estate_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> =
            self.fetch_all("SELECT id FROM buildings WHERE estate_id = $1 ORDER BY id", crate::args![estate_id]).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Saves the findings of an estate's current assessment (a new draft when the last one is
    /// finished or there is none), replacing what the draft held; `finish` closes it with its score.
    pub async fn save_assessment(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        findings: &[Finding],
        finish: bool,
    ) -> Result<Assessment, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let checklist = self.checklist_for(&estate.community_code).await?;
        let buildings = self.building_ids(estate_id).await?;
        rules::validate_findings(&checklist, &buildings, findings).map_err(StoreError::Invalid)?;
        let score = rules::score(&checklist, &buildings, findings);
        let now = crate::now();
        let mut tx = self.begin().await?;
        let draft: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM assessments WHERE estate_id = $1 AND status = 'draft' ORDER BY id DESC LIMIT 1",
                crate::args![estate_id],
            )
            .await?;
        let id = match draft {
            Some((id,)) => {
                tx.execute("DELETE FROM assessment_findings WHERE assessment_id = $1", crate::args![id]).await?;
                id
            }
            None => {
                tx.fetch_one::<(i64,)>(
                    "INSERT INTO assessments (estate_id, status, assessed_by, created_at, updated_at) \
                     VALUES ($1, 'draft', $2, $3, $3) RETURNING id",
                    crate::args![estate_id, actor.username.as_str(), now.as_str()],
                )
                .await?
                .0
            }
        };
        let rows = findings.iter().map(|f| crate::args![id, f.item.as_str(), f.building_id, f.present, f.note.as_str()]).collect();
        tx.insert_many("assessment_findings", &["assessment_id", "item", "building_id", "present", "note"], rows).await?;
        let breakdown = serde_json::to_string(&score).unwrap_or_default();
        if finish {
            tx.execute(
                "UPDATE assessments SET status = 'finished', score = $1, breakdown = $2, assessed_by = $3, updated_at = $4, finished_at = $4 \
                 WHERE id = $5",
                crate::args![score.total, breakdown, actor.username.as_str(), now.as_str(), id],
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE assessments SET assessed_by = $1, updated_at = $2 WHERE id = $3",
                crate::args![actor.username.as_str(), now.as_str(), id],
            )
            .await?;
        }
        tx.audit(
            actor,
            Change {
                action: if finish { "finish" } else { "save" },
                entity: "assessment",
                entity_id: id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"estate_id": estate_id, "findings": findings.len(), "score": score.total})),
            },
        )
        .await?;
        tx.commit().await?;
        self.latest_assessment(scope, estate_id).await?.ok_or(StoreError::NotFound)
    }
}
