//! Upkeep accounts: each estate's maintenance fund (维修资金) in the ledger. Deposits and public
//! revenue (parking, advertising) are credited to it; spending from it needs the owners' passed
//! decision on using the fund, unless it is an emergency repair (shown as such).

use super::{FundsError, NewEntry};
use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::decisions::Matter;
use huanxin_domain::funds::{self as rules, Account, DecisionFacts, Fen, RevenueKind, Source};
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

/// An estate's maintenance fund: balance derived from the ledger, and its movements, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct UpkeepAccount {
    pub estate_id: i64,
    pub balance: i64,
    pub credited: i64,
    pub spent: i64,
    pub movements: Vec<UpkeepMovement>,
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
        Ok(UpkeepAccount { estate_id, balance, credited: balance + spent, spent, movements })
    }

    async fn upkeep_movement(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        kind: &str,
        entry_accounts: (Account, Account),
        s: &Spending<'_>,
    ) -> Result<UpkeepAccount, FundsError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let decision = match s.decision_id {
            Some(id) => {
                let row: Option<(i64, String, Option<bool>, Option<i64>)> =
                    self.fetch_optional("SELECT estate_id, matter, passed, amount FROM decisions WHERE id = $1", crate::args![id]).await?;
                let (e, matter, passed, allowed) = row.ok_or_else(|| {
                    StoreError::Invalid(huanxin_domain::ValidationErrors::one("decision_id", id, "no such owners' decision"))
                })?;
                Some(DecisionFacts {
                    same_estate: e == estate_id,
                    on_the_fund: matter == Matter::UseMaintenanceFund.as_str(),
                    passed: passed == Some(true),
                    allowed: allowed.map(Fen),
                    spent: Fen(0),
                })
            }
            None => None,
        };
        let mut tx = self.begin().await?;
        let mut head = tx.lock_ledger().await?;
        if kind == "spending" {
            let balance = tx.balance(&Account::Upkeep { estate_id }.code()).await?;
            // What was spent under the decision is read under the ledger's lock, so two spendings
            // cannot together pass what the owners allowed.
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
        self.upkeep_movement(actor, scope, estate_id, kind.as_str(), accounts, &s).await
    }

    /// Spends from an estate's maintenance fund, checked against its balance and the owners' decision.
    pub async fn spend_upkeep(&self, actor: &Actor, scope: &Scope, estate_id: i64, s: &Spending<'_>) -> Result<UpkeepAccount, FundsError> {
        let accounts = (Account::UpkeepSpent { estate_id }, Account::Upkeep { estate_id });
        self.upkeep_movement(actor, scope, estate_id, "spending", accounts, s).await
    }
}
