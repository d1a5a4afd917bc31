//! Annual plans: targets per region and year, the estates in each plan, last year's unfinished
//! estates carried over, and progress (`huanxin_domain::plans`).

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::estates::EstateStatus;
use huanxin_domain::plans::{self as rules, PlanEstate, Progress, Targets};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// An annual plan with its progress.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub id: i64,
    pub region_code: String,
    pub year: i64,
    pub targets: Targets,
    pub progress: Progress,
    pub created_by: String,
    pub created_at: String,
}

/// An estate in a plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlanEntry {
    pub estate_id: i64,
    pub code: String,
    pub name: String,
    pub community_code: String,
    pub status: String,
    pub households: i64,
    pub building_count: i64,
    pub floor_area: i64,
    pub carried_over: bool,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    id: i64,
    region_code: String,
    year: i64,
    target_estates: i64,
    target_households: i64,
    target_buildings: i64,
    target_floor_area: i64,
    created_by: String,
    created_at: String,
}

const PLAN_COLS: &str =
    "id, region_code, year, target_estates, target_households, target_buildings, target_floor_area, created_by, created_at";

/// The region named in a request, if it lies in the caller's region (plans and rankings).
pub(crate) fn region_in_scope(scope: &Scope, region: &str, field: &str) -> Result<RegionCode, StoreError> {
    let rc = RegionCode::parse(region).map_err(|e| StoreError::Invalid(ValidationErrors::one(field, region, e)))?;
    if scope.covers(&rc) {
        Ok(rc)
    } else {
        Err(StoreError::Invalid(ValidationErrors::one(field, region, reason!("field.outside_region"))))
    }
}

/// A plan year Huanxin accepts (plans and rankings).
pub(crate) fn check_plan_year(year: i64) -> Result<(), StoreError> {
    if (2000..=2100).contains(&year) {
        Ok(())
    } else {
        Err(StoreError::Invalid(ValidationErrors::one("year", year, reason!("field.between", min = 2000, max = 2100))))
    }
}

impl Db {
    /// Creates the plan of a region for a year (one per region and year).
    pub async fn create_plan(&self, actor: &Actor, scope: &Scope, region: &str, year: i64, t: &Targets) -> Result<Plan, StoreError> {
        let rc = region_in_scope(scope, region, "region_code")?;
        rules::may_plan_at(rc.level()).map_err(|r| StoreError::Invalid(ValidationErrors::one("region_code", rc.as_str(), r)))?;
        t.validate().map_err(StoreError::Invalid)?;
        check_plan_year(year)?;
        let mut tx = self.begin().await?;
        let row: PlanRow = tx
            .fetch_one(
                &format!(
                    "INSERT INTO annual_plans (region_code, year, target_estates, target_households, target_buildings, target_floor_area, \
                     created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {PLAN_COLS}"
                ),
                crate::args![rc.as_str(), year, t.estates, t.households, t.buildings, t.floor_area, actor.username.as_str(), crate::now()],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("plans.duplicate", region = rc.as_str(), year = year)),
                other => other,
            })?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "plan",
                entity_id: row.id.to_string(),
                region_code: rc.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"year": year, "targets": t})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.get_plan(scope, row.id).await?.0)
    }

    /// Plans in the caller's region, newest year first, with their progress.
    pub async fn list_plans(&self, scope: &Scope) -> Result<Vec<Plan>, StoreError> {
        let Scope::Region(rc) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = rc.subtree_range();
        let rows: Vec<PlanRow> = self
            .fetch_all(
                &format!("SELECT {PLAN_COLS} FROM annual_plans WHERE region_code >= $1 AND region_code < $2 ORDER BY year DESC, region_code LIMIT 500"),
                crate::args![lo, hi],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let entries = self.plan_entries(r.id).await?;
            out.push(plan_of(r, &entries));
        }
        Ok(out)
    }

    /// One plan in the caller's region, with its estates.
    pub async fn get_plan(&self, scope: &Scope, id: i64) -> Result<(Plan, Vec<PlanEntry>), StoreError> {
        let Scope::Region(rc) = scope else { return Err(StoreError::NotFound) };
        let row: PlanRow = self
            .fetch_optional(&format!("SELECT {PLAN_COLS} FROM annual_plans WHERE id = $1"), crate::args![id])
            .await?
            .ok_or(StoreError::NotFound)?;
        if !row.region_code.starts_with(rc.prefix()) {
            return Err(StoreError::NotFound);
        }
        let entries = self.plan_entries(id).await?;
        Ok((plan_of(row, &entries), entries))
    }

    async fn plan_entries(&self, plan_id: i64) -> Result<Vec<PlanEntry>, StoreError> {
        self.fetch_all(
            "SELECT e.id AS estate_id, e.code, e.name, e.community_code, e.status, e.households, e.building_count, e.floor_area, p.carried_over \
             FROM plan_estates p JOIN estates e ON e.id = p.estate_id WHERE p.plan_id = $1 ORDER BY e.code",
            crate::args![plan_id],
        )
        .await
    }

    /// Puts estates into a plan: each must lie in the plan's region and be a candidate
    /// (`domain::plans::may_add`: eligible, not past planning, in no plan yet), listed once.
    pub async fn add_to_plan(
        &self,
        actor: &Actor,
        scope: &Scope,
        plan_id: i64,
        estate_ids: &[i64],
        eligible_before: i64,
        reason: &str,
    ) -> Result<usize, StoreError> {
        let (plan, _) = self.get_plan(scope, plan_id).await?;
        let this_year = i64::from(chrono::Datelike::year(&crate::today()));
        rules::check_past_year_change(plan.year, this_year, reason).map_err(StoreError::Invalid)?;
        if estate_ids.is_empty() || estate_ids.len() > 10_000 {
            return Err(StoreError::Invalid(ValidationErrors::one("estate_ids", estate_ids.len(), reason!("plans.estate_count"))));
        }
        let plan_region = RegionCode::parse(&plan.region_code).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut errors = ValidationErrors::default();
        let mut tx = self.begin().await?;
        let mut seen = std::collections::HashSet::new();
        let mut moving = Vec::with_capacity(estate_ids.len());
        for (i, id) in estate_ids.iter().enumerate() {
            let field = format!("estate_ids[{i}]");
            if !seen.insert(*id) {
                errors.push(&field, id, reason!("field.listed_twice"));
                continue;
            }
            let found: Option<(String, String, i64)> =
                tx.fetch_optional("SELECT community_code, status, build_year FROM estates WHERE id = $1", crate::args![*id]).await?;
            match found {
                Some((cc, status, build_year)) if cc.starts_with(plan_region.prefix()) => {
                    let planned: Option<(i64,)> = tx
                        .fetch_optional("SELECT year FROM plan_estates WHERE estate_id = $1 ORDER BY year LIMIT 1", crate::args![*id])
                        .await?;
                    let status =
                        EstateStatus::parse(&status).ok_or_else(|| StoreError::Config(format!("estate {id} has an unknown status")))?;
                    match rules::may_add(status, build_year, eligible_before, planned.map(|p| p.0)) {
                        Ok(()) => moving.push((*id, status)),
                        Err(r) => errors.push(&field, id, r),
                    }
                }
                _ => errors.push(&field, id, reason!("plans.estate_outside_region")),
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        let now = crate::now();
        let rows = estate_ids.iter().map(|id| crate::args![plan_id, *id, plan.year, false, now.as_str()]).collect();
        tx.insert_rows("plan_estates", &["plan_id", "estate_id", "year", "carried_over", "added_at"], rows, "").await?;
        // The plan is the decision that lists an estate: its stage follows at once (列入计划), so that
        // an estate put in by hand before an assessment or a ranking does not wait on steps it skipped.
        let note = format!("列入 {} 年度改造计划", plan.year);
        for (id, from) in moving {
            let changed = tx
                .execute(
                    "UPDATE estates SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                    crate::args![EstateStatus::InPlan.as_str(), now.as_str(), id, from.as_str()],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::Conflict(reason!("lifecycle.estate_changed_meanwhile")));
            }
            tx.execute(
                "INSERT INTO estate_events (estate_id, from_status, to_status, note, user_id, username, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                crate::args![
                    id,
                    from.as_str(),
                    EstateStatus::InPlan.as_str(),
                    note.as_str(),
                    actor.user_id,
                    actor.username.as_str(),
                    now.as_str()
                ],
            )
            .await?;
        }
        tx.refresh_estates_statistics(estate_ids).await?;
        tx.audit(
            actor,
            Change {
                action: "add_estates",
                entity: "plan",
                entity_id: plan_id.to_string(),
                region_code: plan.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"estate_ids": estate_ids, "reason": reason.trim()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(estate_ids.len())
    }

    /// Carries last year's unfinished estates of the same region into this plan.
    pub async fn carry_over(&self, actor: &Actor, scope: &Scope, plan_id: i64) -> Result<usize, StoreError> {
        let (plan, _) = self.get_plan(scope, plan_id).await?;
        let previous: Option<(i64,)> = self
            .fetch_optional(
                "SELECT id FROM annual_plans WHERE region_code = $1 AND year = $2",
                crate::args![plan.region_code.as_str(), plan.year - 1],
            )
            .await?;
        let Some((previous,)) = previous else { return Ok(0) };
        let unfinished: Vec<i64> = self
            .plan_entries(previous)
            .await?
            .into_iter()
            .filter(|e| EstateStatus::parse(&e.status).is_some_and(|s| !rules::is_completed(s)))
            .map(|e| e.estate_id)
            .collect();
        let mut tx = self.begin().await?;
        let mut added = 0;
        let now = crate::now();
        for id in &unfinished {
            added += tx
                .execute(
                    "INSERT INTO plan_estates (plan_id, estate_id, year, carried_over, added_at) VALUES ($1, $2, $3, TRUE, $4) \
                     ON CONFLICT DO NOTHING",
                    crate::args![plan_id, *id, plan.year, now.as_str()],
                )
                .await?;
        }
        tx.audit(
            actor,
            Change {
                action: "carry_over",
                entity: "plan",
                entity_id: plan_id.to_string(),
                region_code: plan.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"from_plan": previous, "added": added})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(usize::try_from(added).unwrap_or(0))
    }

    /// Whether an estate is in any annual plan.
    pub(crate) async fn is_planned(&self, estate_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .fetch_optional::<(i64,)>("SELECT plan_id FROM plan_estates WHERE estate_id = $1 LIMIT 1", crate::args![estate_id])
            .await?
            .is_some())
    }
}

fn plan_of(r: PlanRow, entries: &[PlanEntry]) -> Plan {
    let targets = Targets {
        estates: r.target_estates,
        households: r.target_households,
        buildings: r.target_buildings,
        floor_area: r.target_floor_area,
    };
    let estates: Vec<PlanEstate> = entries
        .iter()
        .map(|e| PlanEstate {
            status: EstateStatus::parse(&e.status).unwrap_or(EstateStatus::Surveyed),
            households: e.households,
            buildings: e.building_count,
            floor_area: e.floor_area,
        })
        .collect();
    Plan {
        id: r.id,
        region_code: r.region_code,
        year: r.year,
        progress: rules::progress(&targets, &estates),
        targets,
        created_by: r.created_by,
        created_at: r.created_at,
    }
}
