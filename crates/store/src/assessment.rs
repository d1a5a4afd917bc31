//! Assessments (体检): the checklist in force for an estate, findings saved as a draft, and the
//! finished assessment with its score. Scoring is `huanxin_domain::assessment`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::assessment::{self as rules, ChecklistItem, Finding, Level, Score};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// An estate's latest assessment.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub id: i64,
    pub estate_id: i64,
    /// `draft` or `finished`.
    pub status: String,
    /// 1 for the estate's first assessment, 2 for the first correction, and so on.
    pub version: i64,
    /// Why this version corrects a finished one (none for the first).
    pub correction_reason: Option<String>,
    pub findings: Vec<Finding>,
    /// The score: as finished (a later change of the checklist does not move it), or for a draft
    /// what finishing it would give.
    pub score: Score,
    pub assessed_by: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// Every version of the estate's assessment, newest first.
    pub versions: Vec<AssessmentVersion>,
}

/// What an editor saves: the findings, whether to finish, and for a correction its reason and the
/// version it started from.
#[derive(Debug, Clone, Copy)]
pub struct AssessmentEdit<'a> {
    pub findings: &'a [Finding],
    pub finish: bool,
    pub correction_reason: Option<&'a str>,
    /// The `updated_at` of the latest version the editor loaded (none: no check).
    pub based_on: Option<&'a str>,
}

/// One version of an estate's assessment, as listed beside the latest.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssessmentVersion {
    pub id: i64,
    pub status: String,
    /// The finished score in hundredths (none for a draft).
    pub score: Option<i64>,
    pub assessed_by: String,
    pub finished_at: Option<String>,
    pub correction_reason: Option<String>,
}

/// Longest reason for correcting a finished assessment.
pub const MAX_CORRECTION_REASON: usize = 500;

#[derive(sqlx::FromRow)]
struct AssessmentRow {
    id: i64,
    status: String,
    assessed_by: String,
    updated_at: String,
    finished_at: Option<String>,
    breakdown: Option<String>,
    correction_reason: Option<String>,
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
                "SELECT id, status, assessed_by, updated_at, finished_at, breakdown, correction_reason FROM assessments \
                 WHERE estate_id = $1 ORDER BY id DESC LIMIT 1",
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
        // A finished assessment keeps the score it was finished with.
        let kept: Option<Score> =
            if row.status == "finished" { row.breakdown.as_deref().and_then(|b| serde_json::from_str(b).ok()) } else { None };
        let score = match kept {
            Some(score) => score,
            None => {
                let checklist = self.checklist_for(&estate.community_code).await?;
                let buildings = self.building_ids(estate_id).await?;
                rules::score(&checklist, &buildings, &findings)
            }
        };
        let versions: Vec<AssessmentVersion> = self
            .fetch_all(
                "SELECT id, status, score, assessed_by, finished_at, correction_reason FROM assessments WHERE estate_id = $1 \
                 ORDER BY id DESC LIMIT 100",
                crate::args![estate_id],
            )
            .await?;
        let (version,): (i64,) =
            self.fetch_one("SELECT COUNT(*) FROM assessments WHERE estate_id = $1 AND id <= $2", crate::args![estate_id, row.id]).await?;
        Ok(Some(Assessment {
            id: row.id,
            estate_id,
            status: row.status,
            version,
            correction_reason: row.correction_reason,
            score,
            findings,
            assessed_by: row.assessed_by,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
            versions,
        }))
    }

    async fn building_ids(&self, estate_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> =
            self.fetch_all("SELECT id FROM buildings WHERE estate_id = $1 ORDER BY id", crate::args![estate_id]).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Saves the findings of an estate's current assessment, replacing what its draft held; `finish`
    /// closes it with its score. A finished assessment is final: changing it starts a new version,
    /// which needs the reason for the correction.
    pub async fn save_assessment(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        edit: &AssessmentEdit<'_>,
    ) -> Result<Assessment, StoreError> {
        let AssessmentEdit { findings, finish, correction_reason, based_on } = *edit;
        let estate = self.get_estate(scope, estate_id).await?;
        let checklist = self.checklist_for(&estate.community_code).await?;
        let buildings = self.building_ids(estate_id).await?;
        rules::validate_findings(&checklist, &buildings, findings).map_err(StoreError::Invalid)?;
        let score = rules::score(&checklist, &buildings, findings);
        let now = crate::now();
        let mut tx = self.begin().await?;
        // Two people correcting at once: the second is told, not silently overwritten. The editor
        // says which save it started from (the latest version's `updated_at`).
        if let Some(based_on) = based_on {
            let latest: Option<(String, String)> = tx
                .fetch_optional(
                    "SELECT a.updated_at, COALESCE(u.display_name, a.assessed_by) FROM assessments a \
                     LEFT JOIN users u ON u.username = a.assessed_by WHERE a.estate_id = $1 ORDER BY a.id DESC LIMIT 1",
                    crate::args![estate_id],
                )
                .await?;
            if let Some((_, by)) = latest.filter(|(at, _)| at != based_on) {
                return Err(StoreError::Conflict(reason!("assessment.changed_meanwhile", who = by)));
            }
        }
        let draft: Option<(i64,)> = tx
            .fetch_optional(
                "SELECT id FROM assessments WHERE estate_id = $1 AND status = 'draft' ORDER BY id DESC LIMIT 1",
                crate::args![estate_id],
            )
            .await?;
        // A reason someone can read: spaces and invisible characters (zero-width, BOM) alone are none.
        let reason = correction_reason.map(str::trim).filter(|r| r.chars().any(|c| !c.is_whitespace() && !is_invisible(c)));
        if let Some(r) = reason {
            if r.chars().count() > MAX_CORRECTION_REASON {
                return Err(StoreError::Invalid(ValidationErrors::one(
                    "correction_reason",
                    r.chars().count(),
                    reason!("field.at_most_chars", max = MAX_CORRECTION_REASON),
                )));
            }
        }
        let id = match draft {
            Some((id,)) => {
                tx.execute("DELETE FROM assessment_findings WHERE assessment_id = $1", crate::args![id]).await?;
                id
            }
            None => {
                let finished: Option<(i64,)> = tx
                    .fetch_optional(
                        "SELECT id FROM assessments WHERE estate_id = $1 AND status = 'finished' LIMIT 1",
                        crate::args![estate_id],
                    )
                    .await?;
                if finished.is_some() && reason.is_none() {
                    return Err(StoreError::Invalid(ValidationErrors::one(
                        "correction_reason",
                        "",
                        reason!("assessment.correction_needs_reason"),
                    )));
                }
                tx.fetch_one::<(i64,)>(
                    "INSERT INTO assessments (estate_id, status, assessed_by, created_at, updated_at, correction_reason) \
                     VALUES ($1, 'draft', $2, $3, $3, $4) RETURNING id",
                    crate::args![estate_id, actor.username.as_str(), now.as_str(), reason.map(str::to_string)],
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
                after: Some(serde_json::json!({"estate_id": estate_id, "findings": findings.len(), "score": score.total,
                    "correction_reason": reason})),
            },
        )
        .await?;
        tx.commit().await?;
        self.latest_assessment(scope, estate_id).await?.ok_or(StoreError::NotFound)
    }
}

/// Characters that print as nothing: format controls (zero-width, direction marks, word joiners,
/// the byte-order mark), the soft hyphen and the Hangul fillers (the attacker's trial).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_that_print_nothing_are_no_reason() {
        for c in ['\u{200E}', '\u{3164}', '\u{200B}', '\u{FEFF}', '\u{00AD}'] {
            assert!(super::is_invisible(c), "{c:?}");
        }
        assert!("燃气".chars().all(|c| !super::is_invisible(c)));
    }
}
