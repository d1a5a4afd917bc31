//! The estate's life: the facts each step is judged on, the step itself, and the timeline.
//! The rules are in `huanxin_domain::lifecycle`; this module reads and writes.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::estates::EstateStatus;
use huanxin_domain::lifecycle::{self, Facts, Refusal};
use huanxin_domain::reason;
use serde::Serialize;

/// One step in an estate's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EstateEvent {
    pub id: i64,
    pub from_status: String,
    pub to_status: String,
    pub note: String,
    pub username: String,
    /// The account's display name (the user name when the account is gone).
    pub display_name: String,
    pub at: String,
}

/// Why a step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    /// What the records of each stage say about one estate, for the lifecycle's guards.
    pub async fn lifecycle_facts(&self, estate: crate::reach::EstateInScope) -> Result<Facts, StoreError> {
        let estate_id = estate.id();
        let scored =
            self.scalar("SELECT COUNT(*) FROM assessments WHERE estate_id = $1 AND status = 'finished'", crate::args![estate_id]).await?;
        let ranked = self.is_ranked(estate_id).await?;
        let in_plan = self.is_planned(estate_id).await?;
        let scheme_drafted = self.has_scheme(estate_id).await?;
        let (approvals_started, open_approvals) = self.approval_facts(estate_id).await?;
        let missing_signatures = self.missing_signatures(estate_id).await?;
        let (review_held, open_rectifications) = self.review_facts(estate_id).await?;
        let (construction_started, open_schedule_nodes, checkpoints_missing) = self.construction_facts(estate_id).await?;
        let notices_closed = self.notices_closed(estate_id).await?;
        let decision_passed = self.scheme_decision_passed(estate_id).await?;
        Ok(Facts {
            assessment_scored: scored > 0,
            ranked,
            in_plan,
            scheme_drafted,
            approvals_started,
            open_approvals,
            missing_signatures,
            review_held,
            open_rectifications,
            construction_started,
            open_schedule_nodes,
            checkpoints_missing,
            notices_closed,
            decision_passed,
        })
    }

    /// Moves an estate to `to` if the lifecycle allows it now; records the step and an audit entry.
    pub async fn advance_estate(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        to: EstateStatus,
        note: &str,
    ) -> Result<EstateEvent, StepError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let from = EstateStatus::parse(&estate.status)
            .ok_or_else(|| StoreError::Config(format!("estate {estate_id} has an unknown status {}", estate.status)))?;
        let facts = self.lifecycle_facts(crate::reach::EstateInScope::trusted(estate.id)).await?;
        lifecycle::check(from, to, &facts)?;
        let mut tx = self.begin().await?;
        // The status is compared again inside the transaction, so that two steps at once cannot both pass.
        let changed = tx
            .execute(
                "UPDATE estates SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                crate::args![to.as_str(), crate::now(), estate_id, from.as_str()],
            )
            .await?;
        if changed == 0 {
            return Err(StepError::Refused(Refusal::Guard(reason!("lifecycle.estate_changed_meanwhile"))));
        }
        let at = crate::now();
        let event: EstateEvent = tx
            .fetch_one(
                "INSERT INTO estate_events (estate_id, from_status, to_status, note, user_id, username, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, from_status, to_status, note, username, username AS display_name, at",
                crate::args![estate_id, from.as_str(), to.as_str(), note, actor.user_id, actor.username.as_str(), at],
            )
            .await?;
        tx.refresh_estate_statistics(estate_id).await?;
        tx.audit(
            actor,
            Change {
                action: "advance",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code.clone(),
                before: Some(serde_json::json!({"status": from.as_str()})),
                after: Some(serde_json::json!({"status": to.as_str(), "note": note})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    /// An estate's steps, oldest first.
    pub async fn estate_timeline(&self, scope: &Scope, estate_id: i64) -> Result<Vec<EstateEvent>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            "SELECT v.id, v.from_status, v.to_status, v.note, v.username, COALESCE(u.display_name, v.username) AS display_name, v.at \
             FROM estate_events v LEFT JOIN users u ON u.username = v.username WHERE v.estate_id = $1 ORDER BY v.id",
            crate::args![estate_id],
        )
        .await
    }
}
