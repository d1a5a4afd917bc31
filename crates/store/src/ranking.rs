//! Saved rankings of candidate estates for the annual plan. The ordering rule is
//! `huanxin_domain::ranking`; this module gathers the candidates and keeps the result.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::ranking::{self as rules, Candidate, Weights};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// A saved ranking.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Ranking {
    pub id: i64,
    pub region_code: String,
    pub year: i64,
    /// The weights used, as JSON.
    pub weights: String,
    pub candidates: i64,
    pub created_by: String,
    pub created_at: String,
}

/// One estate's line in a saved ranking.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RankingEntry {
    pub estate_id: i64,
    pub code: String,
    pub name: String,
    pub community_code: String,
    pub build_year: i64,
    pub households: i64,
    pub status: String,
    pub position: i64,
    pub priority: i64,
    /// The factors (raw value and scaled points) as JSON.
    pub factors: String,
}

/// Rankings cover at most this many estates (a province's candidates; a country's would be one per province).
pub const MAX_CANDIDATES: usize = 50_000;

/// Stages from which an estate is still a candidate for the annual plan.
const CANDIDATE_STAGES: &str = "'surveyed', 'assessed', 'ranked'";

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    build_year: i64,
    households: i64,
    score: Option<i64>,
    dwellings: i64,
    elderly: i64,
}

impl Db {
    /// Ranks the eligible estates of a region (in the caller's scope) that are not yet in a plan,
    /// and saves the ranking; estates in it count as ranked for the lifecycle.
    pub async fn create_ranking(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &str,
        year: i64,
        weights: &Weights,
        eligible_before: i64,
    ) -> Result<Ranking, StoreError> {
        weights.validate().map_err(StoreError::Invalid)?;
        let rc = crate::plans::region_in_scope(scope, region, "region_code")?;
        crate::plans::check_plan_year(year)?;
        let (lo, hi) = rc.subtree_range();
        let rows: Vec<CandidateRow> = self
            .fetch_all(
                &format!(
                    "SELECT e.id, e.build_year, e.households, \
                       (SELECT a.score FROM assessments a WHERE a.estate_id = e.id AND a.status = 'finished' ORDER BY a.id DESC LIMIT 1) AS score, \
                       (SELECT COUNT(*) FROM dwellings d WHERE d.estate_id = e.id) AS dwellings, \
                       (SELECT COUNT(*) FROM dwellings d WHERE d.estate_id = e.id AND d.residents_60_plus > 0) AS elderly \
                     FROM estates e WHERE e.community_code >= $1 AND e.community_code < $2 AND e.build_year < $3 \
                       AND e.status IN ({CANDIDATE_STAGES}) \
                       AND NOT EXISTS (SELECT 1 FROM plan_estates p WHERE p.estate_id = e.id) ORDER BY e.id LIMIT $4"
                ),
                crate::args![lo, hi, eligible_before, i64::try_from(MAX_CANDIDATES + 1).unwrap_or(i64::MAX)],
            )
            .await?;
        if rows.len() > MAX_CANDIDATES {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "region_code",
                region,
                reason!("ranking.too_many_candidates", max_candidates = MAX_CANDIDATES),
            )));
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let willingness = self.willingness_of(&ids).await?;
        let candidates: Vec<Candidate> = rows
            .iter()
            .map(|r| Candidate {
                estate_id: r.id,
                build_year: r.build_year,
                assessment_score: r.score,
                households: r.households,
                dwellings: r.dwellings,
                dwellings_with_elderly: r.elderly,
                willingness: willingness.get(&r.id).copied(),
            })
            .collect();
        let ranked = rules::rank(&candidates, weights, year);
        let weights_json = serde_json::to_string(weights).unwrap_or_default();
        let now = crate::now();
        let mut tx = self.begin().await?;
        let ranking: Ranking = tx
            .fetch_one(
                "INSERT INTO rankings (region_code, year, weights, candidates, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING id, region_code, year, weights, candidates, created_by, created_at",
                crate::args![rc.as_str(), year, weights_json, i64::try_from(ranked.len()).unwrap_or(0), actor.username.as_str(), now],
            )
            .await?;
        let entries = ranked
            .iter()
            .map(|r| {
                let factors = serde_json::json!({"age": r.age, "assessment": r.assessment, "households": r.households,
                    "elderly": r.elderly, "willingness": r.willingness, "assessed": r.assessed});
                crate::args![ranking.id, r.estate_id, i64::from(r.position), r.priority, factors.to_string()]
            })
            .collect();
        tx.insert_rows("ranking_entries", &["ranking_id", "estate_id", "position", "priority", "factors"], entries, "").await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "ranking",
                entity_id: ranking.id.to_string(),
                region_code: rc.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"year": year, "weights": weights, "candidates": ranked.len()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(ranking)
    }

    /// Saved rankings in the caller's region, newest first.
    pub async fn list_rankings(&self, scope: &Scope) -> Result<Vec<Ranking>, StoreError> {
        let Scope::Region(rc) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = rc.subtree_range();
        self.fetch_all(
            "SELECT id, region_code, year, weights, candidates, created_by, created_at FROM rankings \
             WHERE region_code >= $1 AND region_code < $2 ORDER BY id DESC LIMIT 200",
            crate::args![lo, hi],
        )
        .await
    }

    /// One saved ranking in the caller's region, with its entries in order.
    pub async fn get_ranking(&self, scope: &Scope, id: i64) -> Result<(Ranking, Vec<RankingEntry>), StoreError> {
        let Scope::Region(rc) = scope else { return Err(StoreError::NotFound) };
        let ranking: Ranking = self
            .fetch_optional(
                "SELECT id, region_code, year, weights, candidates, created_by, created_at FROM rankings WHERE id = $1",
                crate::args![id],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        if !ranking.region_code.starts_with(rc.prefix()) {
            return Err(StoreError::NotFound);
        }
        let entries = self
            .fetch_all(
                "SELECT r.estate_id, e.code, e.name, e.community_code, e.build_year, e.households, e.status, r.position, r.priority, r.factors \
                 FROM ranking_entries r JOIN estates e ON e.id = r.estate_id WHERE r.ranking_id = $1 ORDER BY r.position",
                crate::args![id],
            )
            .await?;
        Ok((ranking, entries))
    }

    /// Whether an estate appears in any saved ranking.
    pub(crate) async fn is_ranked(&self, estate_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .fetch_optional::<(i64,)>("SELECT estate_id FROM ranking_entries WHERE estate_id = $1 LIMIT 1", crate::args![estate_id])
            .await?
            .is_some())
    }
}
