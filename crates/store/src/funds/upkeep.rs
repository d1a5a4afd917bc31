//! Upkeep accounts: each estate's maintenance fund (维修资金) in the ledger. Deposits and public
//! revenue (parking, advertising) are credited to it; spending from it needs the owners' passed
//! decision on using the fund, unless it is an emergency repair (shown as such), and two people:
//! one asks for it, another approves it (four eyes), and only then is it written to the ledger.

use super::{FundsError, NewEntry};
use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::decisions::Matter;
use huanxin_domain::funds::{self as rules, Account, DecisionFacts, Fen, RevenueKind, Source};
use huanxin_domain::reason;
use serde::Serialize;

/// One movement of a maintenance fund.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UpkeepMovement {
    pub id: i64,
    /// deposit, parking, advertising, other (money in) or spending (money out).
    pub kind: String,
    pub amount: i64,
    pub memo: String,
    pub payee: String,
    pub decision_id: Option<i64>,
    pub emergency: bool,
    pub ledger_seq: i64,
    pub entered_by: String,
    pub entered_at: String,
}

/// A spending asked for from a maintenance fund, waiting for (or given) a colleague's decision.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UpkeepRequest {
    pub id: i64,
    pub amount: i64,
    pub memo: String,
    pub payee: String,
    pub decision_id: Option<i64>,
    pub emergency: bool,
    pub requested_by: String,
    pub requested_at: String,
    /// requested, approved or refused.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub note: String,
}

/// An estate's maintenance fund: balance derived from the ledger, its movements and the spendings
/// asked for (waiting ones first), newest first.
#[derive(Debug, Clone, Serialize)]
pub struct UpkeepAccount {
    pub estate_id: i64,
    pub balance: i64,
    pub credited: i64,
    pub spent: i64,
    pub movements: Vec<UpkeepMovement>,
    pub requests: Vec<UpkeepRequest>,
}

/// A spending asked for.
#[derive(Debug, Clone)]
pub struct Spending<'a> {
    pub amount: Fen,
    pub memo: &'a str,
    pub payee: &'a str,
    pub decision_id: Option<i64>,
    pub emergency: bool,
}

impl Db {
    /// An estate's maintenance fund.
    pub async fn upkeep(&self, scope: &Scope, estate_id: i64) -> Result<UpkeepAccount, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let mut tx = self.begin_snapshot().await?;
        let balance = tx.balance(&Account::Upkeep { estate_id }.code()).await?;
        let movements: Vec<UpkeepMovement> = tx
            .fetch_all(
                "SELECT id, kind, amount, memo, payee, decision_id, emergency, ledger_seq, entered_by, entered_at FROM upkeep_movements \
                 WHERE estate_id = $1 ORDER BY id DESC LIMIT 500",
                crate::args![estate_id],
            )
            .await?;
        let spent = -tx.balance(&Account::Revenue { estate_id }.code()).await? - balance;
        let requests: Vec<UpkeepRequest> = tx
            .fetch_all(
                "SELECT id, amount, memo, payee, decision_id, emergency, requested_by, requested_at, status, decided_by, decided_at, note \
                 FROM upkeep_requests WHERE estate_id = $1 ORDER BY CASE WHEN status = 'requested' THEN 0 ELSE 1 END, id DESC LIMIT 100",
                crate::args![estate_id],
            )
            .await?;
        Ok(UpkeepAccount { estate_id, balance, credited: balance + spent, spent, movements, requests })
    }

    /// The facts of the owners' decision a spending names, as far as they are known before the ledger is locked.
    async fn decision_facts(&self, estate_id: i64, decision_id: Option<i64>) -> Result<Option<DecisionFacts>, StoreError> {
        let Some(id) = decision_id else { return Ok(None) };
        let row: Option<(i64, String, Option<bool>, Option<i64>)> =
            self.fetch_optional("SELECT estate_id, matter, passed, amount FROM decisions WHERE id = $1", crate::args![id]).await?;
        let (e, matter, passed, allowed) = row.ok_or_else(|| {
            StoreError::Invalid(huanxin_domain::ValidationErrors::one("decision_id", id, reason!("upkeep.no_such_decision")))
        })?;
        Ok(Some(DecisionFacts {
            same_estate: e == estate_id,
            on_the_fund: matter == Matter::UseMaintenanceFund.as_str(),
            passed: passed == Some(true),
            allowed: allowed.map(Fen),
            spent: Fen(0),
        }))
    }

    /// Asks for a spending from the fund. It is checked now (balance, the owners' decision) so the
    /// clerk hears at once, and again when a colleague approves it.
    pub async fn request_upkeep_spending(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        s: &Spending<'_>,
    ) -> Result<UpkeepAccount, FundsError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let decision = self.decision_facts(estate_id, s.decision_id).await?;
        let mut tx = self.begin().await?;
        check_spending(&mut tx, estate_id, s, decision).await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO upkeep_requests (estate_id, amount, memo, payee, decision_id, emergency, requested_by, requested_at, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'requested') RETURNING id",
                crate::args![
                    estate_id,
                    s.amount.0,
                    s.memo.trim(),
                    s.payee.trim(),
                    s.decision_id,
                    s.emergency,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "request_upkeep_spending",
                entity: "upkeep_request",
                entity_id: id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"amount": s.amount.0, "decision_id": s.decision_id, "emergency": s.emergency})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.upkeep(scope, estate_id).await?)
    }

    /// Approves (another person than the one who asked) or refuses a spending asked for. Approval
    /// writes it to the ledger, checked again under the ledger's lock; refusal says why. The one who
    /// asked may withdraw their own request by refusing it.
    pub async fn decide_upkeep_spending(
        &self,
        actor: &Actor,
        scope: &Scope,
        request_id: i64,
        approve: bool,
        note: &str,
    ) -> Result<UpkeepAccount, FundsError> {
        let row: Option<(i64, UpkeepRequest)> = self
            .fetch_optional::<UpkeepRequestRow>(
                "SELECT estate_id, id, amount, memo, payee, decision_id, emergency, requested_by, requested_at, status, decided_by, decided_at, note \
                 FROM upkeep_requests WHERE id = $1",
                crate::args![request_id],
            )
            .await?
            .map(|r| (r.estate_id, r.request));
        let (estate_id, r) = row.ok_or(StoreError::NotFound)?;
        let estate = self.get_estate(scope, estate_id).await?;
        if r.status != "requested" {
            return Err(StoreError::Conflict(reason!("upkeep.already_decided", status = r.status)).into());
        }
        if !approve {
            if note.trim().is_empty() {
                return Err(StoreError::Invalid(huanxin_domain::ValidationErrors::one(
                    "note",
                    "",
                    reason!("upkeep.refusal_reason_required"),
                ))
                .into());
            }
            let mut tx = self.begin().await?;
            let changed = tx
                .execute(
                    "UPDATE upkeep_requests SET status = 'refused', decided_by = $1, decided_at = $2, note = $3 WHERE id = $4 AND status = 'requested'",
                    crate::args![actor.username.as_str(), crate::now(), note.trim(), request_id],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::Conflict(reason!("upkeep.changed_meanwhile")).into());
            }
            tx.audit(
                actor,
                Change {
                    action: "refuse_upkeep_spending",
                    entity: "upkeep_request",
                    entity_id: request_id.to_string(),
                    region_code: estate.community_code.clone(),
                    before: None,
                    after: Some(serde_json::json!({"note": note.trim()})),
                },
            )
            .await?;
            tx.commit().await?;
            return Ok(self.upkeep(scope, estate_id).await?);
        }
        rules::check_four_eyes(&r.requested_by, &actor.username, "asked for", "approve")?;
        if let Some(refusal) = self.hands_refusal(&r.requested_by, &actor.username).await? {
            return Err(refusal.into());
        }
        let s = Spending { amount: Fen(r.amount), memo: &r.memo, payee: &r.payee, decision_id: r.decision_id, emergency: r.emergency };
        let accounts = (Account::UpkeepSpent { estate_id }, Account::Upkeep { estate_id });
        self.upkeep_movement(actor, scope, estate_id, "spending", accounts, &s, Some((request_id, note))).await
    }

    // One writer of fund movements: credits, and spendings when approved (with the request they settle).
    #[allow(clippy::too_many_arguments)]
    async fn upkeep_movement(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        kind: &str,
        entry_accounts: (Account, Account),
        s: &Spending<'_>,
        approving: Option<(i64, &str)>,
    ) -> Result<UpkeepAccount, FundsError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let decision = self.decision_facts(estate_id, s.decision_id).await?;
        let mut tx = self.begin().await?;
        let mut head = tx.lock_ledger().await?;
        if kind == "spending" {
            check_spending(&mut tx, estate_id, s, decision).await?;
        }
        let memo = match kind {
            "spending" if s.emergency => format!("维修资金应急支出：{}（{}）", s.memo.trim(), s.payee.trim()),
            "spending" => format!("维修资金支出：{}（{}）", s.memo.trim(), s.payee.trim()),
            _ => format!("维修资金收入（{kind}）：{}", s.memo.trim()),
        };
        let (debit, credit) = entry_accounts;
        let entry = NewEntry {
            debit,
            credit,
            amount: s.amount,
            memo: &memo,
            source: Source::Residents,
            project_id: None,
            estate_id: Some(estate_id),
            reverses: None,
        };
        let seq = tx.append_entry(&mut head, actor, &entry).await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO upkeep_movements (estate_id, kind, amount, memo, payee, decision_id, emergency, ledger_seq, entered_by, entered_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                crate::args![
                    estate_id,
                    kind,
                    s.amount.0,
                    s.memo.trim(),
                    s.payee.trim(),
                    s.decision_id,
                    s.emergency,
                    seq,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        if let Some((request_id, note)) = approving {
            let changed = tx
                .execute(
                    "UPDATE upkeep_requests SET status = 'approved', decided_by = $1, decided_at = $2, note = $3, movement_id = $4 \
                     WHERE id = $5 AND status = 'requested'",
                    crate::args![actor.username.as_str(), crate::now(), note.trim(), id, request_id],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::Conflict(reason!("upkeep.changed_meanwhile")).into());
            }
        }
        tx.audit(
            actor,
            Change {
                action: if kind == "spending" { "spend_upkeep" } else { "credit_upkeep" },
                entity: "upkeep_movement",
                entity_id: id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(
                    serde_json::json!({"amount": s.amount.0, "kind": kind, "decision_id": s.decision_id, "emergency": s.emergency}),
                ),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.upkeep(scope, estate_id).await?)
    }

    /// Credits a deposit or public revenue to an estate's maintenance fund.
    pub async fn credit_upkeep(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        kind: RevenueKind,
        amount: Fen,
        memo: &str,
    ) -> Result<UpkeepAccount, FundsError> {
        let s = Spending { amount, memo, payee: "", decision_id: None, emergency: false };
        let accounts = (Account::Upkeep { estate_id }, Account::Revenue { estate_id });
        self.upkeep_movement(actor, scope, estate_id, kind.as_str(), accounts, &s, None).await
    }
}

/// A request row with its estate.
#[derive(sqlx::FromRow)]
struct UpkeepRequestRow {
    estate_id: i64,
    #[sqlx(flatten)]
    request: UpkeepRequest,
}

/// Checks a spending against the fund's balance and the owners' decision, within `tx`. What was
/// spent under the decision is read in the same transaction (under the ledger's lock when
/// approving), so two spendings cannot together pass what the owners allowed.
async fn check_spending(
    tx: &mut crate::db::Tx,
    estate_id: i64,
    s: &Spending<'_>,
    decision: Option<DecisionFacts>,
) -> Result<(), FundsError> {
    let balance = tx.balance(&Account::Upkeep { estate_id }.code()).await?;
    let decision = match (decision, s.decision_id) {
        (Some(d), Some(id)) => {
            let spent = tx
                .scalar(
                    "SELECT CAST(COALESCE(SUM(m.amount), 0) AS BIGINT) FROM upkeep_movements m WHERE m.decision_id = $1 \
                     AND m.kind = 'spending' AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = m.ledger_seq)",
                    crate::args![id],
                )
                .await?;
            Some(DecisionFacts { spent: Fen(spent), ..d })
        }
        (d, _) => d,
    };
    rules::check_upkeep_spending(Fen(balance), s.amount, s.emergency, decision)?;
    Ok(())
}
