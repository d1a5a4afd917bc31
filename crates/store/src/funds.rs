//! Funds: allocations handed down from a source, project contracts, disbursements approved against
//! allocation, earmark and contract, and the ledger — double entry, append-only, hash-chained, every
//! balance derived from it. Every entry is written under the ledger head's row lock, so two payments
//! that together would overspend are decided one after the other: exactly one wins. The rules are
//! `huanxin_domain::funds`.

use crate::audit::{Actor, Change};
use crate::db::{Db, Engine, Tx};
use crate::error::StoreError;
use crate::group_commit::{GroupCommit, Steps};
use huanxin_domain::access::Scope;
use huanxin_domain::chain;
use huanxin_domain::funds::{self as rules, Account, Basis, BasisFacts, Earmark, Fen, PaymentContext, Refusal, Source, ValidAllocation};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::schemes::Category;
use serde::Serialize;

pub mod plans;
pub mod reports;
pub mod upkeep;

/// An allocation with what is left of it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Allocation {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub region_code: String,
    pub source: String,
    pub year: i64,
    pub purpose: String,
    pub amount: i64,
    pub categories: String,
    pub projects: String,
    pub created_by: String,
    pub created_at: String,
    /// The project whose residents' contributions this allocation pools (none for budget allocations).
    pub pool_of: Option<i64>,
    /// Fen not yet allocated further or paid (derived from the ledger).
    #[sqlx(skip)]
    pub left: i64,
    /// The entry that funded a budget allocation, while it may still be reversed (none for
    /// residents' pools, whose contributions are reversed one by one, and once reversed).
    #[sqlx(skip)]
    pub funding_seq: Option<i64>,
}

const ALLOCATION_COLS: &str =
    "id, parent_id, region_code, source, year, purpose, amount, categories, projects, created_by, created_at, pool_of";

/// A disbursement and where it stands.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Disbursement {
    pub id: i64,
    pub allocation_id: i64,
    pub project_id: i64,
    pub category: String,
    pub payee: String,
    pub amount: i64,
    pub status: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub ledger_seq: Option<i64>,
    /// What it pays for: `milestone:<schedule node>` or `inspection:<inspection>`.
    pub basis: String,
    /// The ledger entry that reversed the payment (its status is then `reversed`).
    pub reversed_by: Option<i64>,
}

const DISBURSEMENT_COLS: &str =
    "id, allocation_id, project_id, category, payee, amount, status, reason, requested_by, requested_at, decided_by, decided_at, ledger_seq, basis, reversed_by";

/// Filters for the disbursement list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct DisbursementFilter {
    pub project_id: Option<i64>,
    /// `requested`, `approved` or `reversed`.
    pub status: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Something a payment may be made for: a finished schedule node or a passed inspection.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentBasis {
    /// `milestone:<id>` or `inspection:<id>`.
    pub basis: String,
    pub estate_name: String,
    /// The node's name, or the inspection's checkpoint code.
    pub name: String,
    /// When it was finished or held.
    pub day: String,
}

/// One line of the fund ledger as exported.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LedgerLine {
    pub seq: i64,
    pub at: String,
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub memo: String,
    pub source: String,
    pub project: Option<String>,
}

/// The outcome of walking the whole ledger.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LedgerCheck {
    pub entries: i64,
    pub intact: bool,
    pub broken_at: Option<chain::Break>,
    pub head_hash: String,
}

/// Why money did not move.
#[derive(Debug, thiserror::Error)]
pub enum FundsError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    debit: String,
    credit: String,
    amount: i64,
    source: String,
    project_id: Option<i64>,
    estate_id: Option<i64>,
    reverses: Option<i64>,
    entered_by: String,
}

#[derive(sqlx::FromRow)]
struct StoredEntry {
    seq: i64,
    debit: String,
    credit: String,
    amount: i64,
    memo: String,
    at: String,
    prev_hash: String,
    hash: String,
    source: String,
    project_id: Option<i64>,
    estate_id: Option<i64>,
    reverses: Option<i64>,
    entered_by: String,
    hash_v: i64,
}

impl StoredEntry {
    /// The text its hash covers, by the version it was written with.
    fn text(&self) -> String {
        if self.hash_v == 1 {
            return rules::entry_text(self.seq, &self.debit, &self.credit, self.amount, &self.memo, &self.at);
        }
        let context = rules::EntryContext {
            source: &self.source,
            project_id: self.project_id,
            estate_id: self.estate_id,
            reverses: self.reverses,
            entered_by: &self.entered_by,
        };
        rules::entry_text_v2(self.seq, &self.debit, &self.credit, self.amount, &self.memo, &self.at, &context)
    }
}

/// What is known about paying `project` from `allocation`, read within `tx`.
async fn payment_context(tx: &mut Tx, allocation: &Allocation, project: &crate::projects::Project) -> Result<PaymentContext, StoreError> {
    // One statement: what is left of the allocation, what the project was paid, its contract.
    let (left, paid, contract): (i64, i64, Option<i64>) = tx
        .fetch_one(
            &format!("SELECT {}, {}, (SELECT amount FROM project_contracts WHERE project_id = $3)", kept_balance("$1"), kept_balance("$2")),
            crate::args![Account::Allocation { id: allocation.id }.code(), Account::Paid { project_id: project.id }.code(), project.id],
        )
        .await?;
    Ok(PaymentContext {
        allocation_left: Fen(left),
        earmark: earmark_of(allocation),
        // Without a contract recorded there is nothing to pay against.
        contract_left: Fen(contract.unwrap_or(0) - paid),
        project_open: project.status == "active",
        project_in_region: matches!(
            (RegionCode::parse(&allocation.region_code), RegionCode::parse(&project.region_code)),
            (Ok(given_to), Ok(at)) if given_to.contains(&at)
        ),
    })
}

/// Each account's balance summed over the ledger (`account`, `s`): what `account_balances` keeps.
const LEDGER_SUMS: &str = "SELECT account, SUM(amount) AS s FROM (SELECT debit AS account, amount FROM ledger_entries \
                           UNION ALL SELECT credit AS account, -amount AS amount FROM ledger_entries) moves GROUP BY account";

/// The kept balance of the account named by `param` (0 for an account without entries), as an expression.
fn kept_balance(param: &str) -> String {
    format!("COALESCE((SELECT balance FROM account_balances WHERE account = {param}), 0)")
}

fn earmark_of(a: &Allocation) -> Earmark {
    Earmark {
        categories: a.categories.split(',').filter_map(Category::parse).collect(),
        projects: a.projects.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
    }
}

impl Tx {
    /// The balance of one account (debits less credits), kept with each entry (migration 35).
    async fn balance(&mut self, account: &str) -> Result<i64, StoreError> {
        self.scalar(&format!("SELECT {}", kept_balance("$1")), crate::args![account]).await
    }

    /// Takes the ledger's lock (the head row) for the rest of the transaction; returns (entries, hash).
    async fn lock_ledger(&mut self) -> Result<(i64, String), StoreError> {
        let sql = match self.engine() {
            Engine::Postgres => "SELECT entries, hash FROM ledger_head WHERE id = 1 FOR UPDATE",
            Engine::Sqlite => "SELECT entries, hash FROM ledger_head WHERE id = 1",
        };
        self.fetch_one(sql, vec![]).await
    }

    /// Appends one entry after the head (the lock must be held) and moves the head; returns its number.
    async fn append_entry(&mut self, head: &mut (i64, String), actor: &Actor, e: &NewEntry<'_>) -> Result<i64, StoreError> {
        let seq = head.0 + 1;
        let at = crate::now();
        let (d, c) = (e.debit.code(), e.credit.code());
        let context = rules::EntryContext {
            source: e.source.as_str(),
            project_id: e.project_id,
            estate_id: e.estate_id,
            reverses: e.reverses,
            entered_by: &actor.username,
        };
        let hash = chain::link(&head.1, &rules::entry_text_v2(seq, &d, &c, e.amount.0, e.memo, &at, &context));
        self.execute(
            "INSERT INTO ledger_entries (seq, debit, credit, amount, memo, source, project_id, estate_id, reverses, entered_by, at, prev_hash, hash, hash_v) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 2)",
            crate::args![
                seq,
                d.as_str(),
                c.as_str(),
                e.amount.0,
                e.memo,
                e.source.as_str(),
                e.project_id,
                e.estate_id,
                e.reverses,
                actor.username.as_str(),
                at.as_str(),
                head.1.as_str(),
                hash.as_str()
            ],
        )
        .await?;
        self.execute("UPDATE ledger_head SET entries = $1, hash = $2 WHERE id = 1", crate::args![seq, hash.as_str()]).await?;
        // Both accounts' balances in one statement; an entry within one account changes neither.
        if d != c {
            self.execute(
                "INSERT INTO account_balances (account, balance) VALUES ($1, $2), ($3, $4) \
             ON CONFLICT (account) DO UPDATE SET balance = account_balances.balance + excluded.balance",
                crate::args![d.as_str(), e.amount.0, c.as_str(), -e.amount.0],
            )
            .await?;
        }
        // Investment completed (statistics): money paid to a project, or taken back by a reversal.
        let paid = match (&e.debit, &e.credit) {
            (Account::Paid { project_id }, _) => Some((*project_id, e.amount.0)),
            (_, Account::Paid { project_id }) => Some((*project_id, -e.amount.0)),
            _ => None,
        };
        if let Some((project, delta)) = paid {
            // The allocation paid from (the other account), whose region the funds report counts it at.
            let allocation = match (&e.debit, &e.credit) {
                (Account::Allocation { id }, _) | (_, Account::Allocation { id }) => Some(*id),
                _ => None,
            };
            let regions: Option<(String, Option<String>)> = self
                .fetch_optional(
                    "SELECT region_code, (SELECT region_code FROM allocations WHERE id = $2) FROM projects WHERE id = $1",
                    crate::args![project, allocation],
                )
                .await?;
            if let (Some((region, paying)), Some(day)) = (regions, huanxin_domain::statistics::china_day(&at)) {
                let month = huanxin_domain::statistics::month_key(day);
                if let Some(indicator) = huanxin_domain::statistics::investment_indicator(e.source.as_str()) {
                    self.add_part("project", project, &region, indicator, &month, delta).await?;
                }
                let paying = paying.unwrap_or_else(|| region.clone());
                let row = crate::funds::reports::PaidRow {
                    project_region: region,
                    paying_region: paying,
                    source: e.source.as_str().to_string(),
                    month,
                };
                self.keep_funds_paid(&[(row, delta)]).await?;
            }
        }
        *head = (seq, hash);
        Ok(seq)
    }
}

/// The approval writer: payments approved, grouped into shared commits under the ledger's lock.
pub(crate) type ApprovalWriter = std::sync::Arc<GroupCommit<ApprovalWrite, Result<i64, ApprovalRefused>>>;

/// Where an approval's writing time goes (`huanxin-bench` prints it after the funds run).
pub static APPROVAL_STEPS: Steps = Steps::new(&[
    "group: write lock and BEGIN",
    "group: COMMIT (flush to disk)",
    "the ledger's lock (once per group)",
    "one approval: what is left, the checks, the entry",
    "the group's audit records (one statement)",
]);

/// A payment to approve, with what was read and checked of it beforehand.
pub(crate) struct ApprovalWrite {
    id: i64,
    actor: Actor,
    allocation: Allocation,
    project: crate::projects::Project,
    category: Category,
    source: Source,
    amount: Fen,
    payee: String,
}

/// Why the writer did not pay: a rule (nothing left, earmark, contract…), or someone else decided first.
pub(crate) enum ApprovalRefused {
    Rule(Refusal),
    ChangedMeanwhile,
}

/// Approves the payments of one group under the ledger's lock, taken once: each is checked against
/// what is left after the group's earlier payments (read in the same transaction), so the group can
/// never overspend what one-by-one approval would have refused.
fn approve_group<'a>(tx: &'a mut Tx, group: &'a [ApprovalWrite]) -> crate::group_commit::Applied<'a, Vec<Result<i64, ApprovalRefused>>> {
    Box::pin(async move {
        let t = std::time::Instant::now();
        let mut head = tx.lock_ledger().await?;
        APPROVAL_STEPS.add(2, t);
        let mut answers = Vec::with_capacity(group.len());
        let mut records = Vec::with_capacity(group.len());
        for w in group {
            let t = std::time::Instant::now();
            answers.push(approve_one(tx, &mut head, w, &mut records).await?);
            APPROVAL_STEPS.add(3, t);
        }
        let t = std::time::Instant::now();
        tx.audit_many(records).await?;
        APPROVAL_STEPS.add(4, t);
        Ok(answers)
    })
}

async fn approve_one(
    tx: &mut Tx,
    head: &mut (i64, String),
    w: &ApprovalWrite,
    records: &mut Vec<(Actor, Change<'static>)>,
) -> Result<Result<i64, ApprovalRefused>, StoreError> {
    let ctx = payment_context(tx, &w.allocation, &w.project).await?;
    if let Err(r) = rules::check_payment(&ctx, w.project.id, w.category, w.amount) {
        return Ok(Err(ApprovalRefused::Rule(r)));
    }
    // Marked first, conditionally, so that a refusal leaves nothing in the group's transaction.
    let seq = head.0 + 1;
    let changed = tx
        .execute(
            "UPDATE disbursements SET status = 'approved', decided_by = $1, decided_at = $2, ledger_seq = $3 WHERE id = $4 AND status = 'requested'",
            crate::args![w.actor.username.as_str(), crate::now(), seq, w.id],
        )
        .await?;
    if changed == 0 {
        return Ok(Err(ApprovalRefused::ChangedMeanwhile));
    }
    let memo = format!("付款：{}（{}）", w.payee, w.project.name);
    let entry = NewEntry {
        debit: Account::Paid { project_id: w.project.id },
        credit: Account::Allocation { id: w.allocation.id },
        amount: w.amount,
        memo: &memo,
        source: w.source,
        project_id: Some(w.project.id),
        estate_id: None,
        reverses: None,
    };
    let appended = tx.append_entry(head, &w.actor, &entry).await?;
    if appended != seq {
        return Err(StoreError::Config(format!("disbursement {} was marked with entry {seq} but written as {appended}", w.id)));
    }
    let change = Change {
        action: "approve",
        entity: "disbursement",
        entity_id: w.id.to_string(),
        region_code: w.project.region_code.clone(),
        before: Some(serde_json::json!({"status": "requested"})),
        after: Some(serde_json::json!({"status": "approved", "ledger_seq": seq})),
    };
    records.push((w.actor.clone(), change));
    Ok(Ok(seq))
}

/// The asking writer: payments asked for, grouped into shared commits (asking takes no ledger lock,
/// but each ask is a commit of its own, and the disk's flush is what a busy desk waits on).
pub(crate) type RequestWriter = std::sync::Arc<GroupCommit<RequestWrite, Result<Disbursement, Refusal>>>;

/// Where an ask's writing time goes.
pub static REQUEST_STEPS: Steps = Steps::new(&[
    "group: write lock and BEGIN",
    "group: COMMIT (flush to disk)",
    "one ask: what is left, the checks, the row",
    "the group's audit records (one statement)",
]);

/// A payment asked for, with what was read and checked of it beforehand.
pub(crate) struct RequestWrite {
    actor: Actor,
    allocation: Allocation,
    project: crate::projects::Project,
    category: Category,
    payee: String,
    amount: Fen,
    basis: Basis,
}

/// Records the asks of one group. Each is checked against what is left (no contract, beyond what is
/// left, another region…) so the clerk hears at once; the approval checks again under the ledger's lock.
fn request_group<'a>(tx: &'a mut Tx, group: &'a [RequestWrite]) -> crate::group_commit::Applied<'a, Vec<Result<Disbursement, Refusal>>> {
    Box::pin(async move {
        let mut answers = Vec::with_capacity(group.len());
        let mut records = Vec::with_capacity(group.len());
        for w in group {
            let t = std::time::Instant::now();
            answers.push(request_one(tx, w, &mut records).await?);
            REQUEST_STEPS.add(2, t);
        }
        let t = std::time::Instant::now();
        tx.audit_many(records).await?;
        REQUEST_STEPS.add(3, t);
        Ok(answers)
    })
}

async fn request_one(
    tx: &mut Tx,
    w: &RequestWrite,
    records: &mut Vec<(Actor, Change<'static>)>,
) -> Result<Result<Disbursement, Refusal>, StoreError> {
    let ctx = payment_context(tx, &w.allocation, &w.project).await?;
    if let Err(r) = rules::check_payment(&ctx, w.project.id, w.category, w.amount) {
        return Ok(Err(r));
    }
    let d: Disbursement = tx
        .fetch_one(
            &format!(
                "INSERT INTO disbursements (allocation_id, project_id, category, payee, amount, status, requested_by, requested_at, basis) \
                 VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8) RETURNING {DISBURSEMENT_COLS}"
            ),
            crate::args![
                w.allocation.id,
                w.project.id,
                w.category.as_str(),
                w.payee.as_str(),
                w.amount.0,
                w.actor.username.as_str(),
                crate::now(),
                w.basis.code()
            ],
        )
        .await?;
    let change = Change {
        action: "request",
        entity: "disbursement",
        entity_id: d.id.to_string(),
        region_code: w.project.region_code.clone(),
        before: None,
        after: Some(serde_json::json!({"amount": w.amount.0, "allocation_id": w.allocation.id})),
    };
    records.push((w.actor.clone(), change));
    Ok(Ok(d))
}

/// A ledger entry to append.
struct NewEntry<'a> {
    debit: Account,
    credit: Account,
    amount: Fen,
    memo: &'a str,
    source: Source,
    project_id: Option<i64>,
    estate_id: Option<i64>,
    reverses: Option<i64>,
}

impl Db {
    /// An allocation in scope, with what is left of it.
    pub async fn allocation(&self, scope: &Scope, id: i64) -> Result<Allocation, StoreError> {
        let mut a: Allocation =
            self.fetch_one(&format!("SELECT {ALLOCATION_COLS} FROM allocations WHERE id = $1"), crate::args![id]).await?;
        if !scope.covers_code(&a.region_code) {
            return Err(StoreError::NotFound);
        }
        // One row read: no snapshot needed.
        a.left = self.scalar(&format!("SELECT {}", kept_balance("$1")), crate::args![Account::Allocation { id }.code()]).await?;
        Ok(a)
    }

    /// Allocations given to a region or below it, newest first, with what is left of each.
    pub async fn allocations(&self, scope: &Scope, region: &RegionCode) -> Result<Vec<Allocation>, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        let (lo, hi) = region.subtree_range();
        let mut rows: Vec<Allocation> = self
            .fetch_all(
                &format!(
                    "SELECT {ALLOCATION_COLS} FROM allocations WHERE region_code >= $1 AND region_code < $2 ORDER BY id DESC LIMIT 500"
                ),
                crate::args![lo, hi],
            )
            .await?;
        let mut tx = self.begin_snapshot().await?;
        for a in &mut rows {
            let account = Account::Allocation { id: a.id }.code();
            a.left = tx.balance(&account).await?;
            if a.pool_of.is_none() {
                // The one entry into a budget allocation that is not itself a reversal is its funding.
                let funding: Option<(i64,)> = tx
                    .fetch_optional(
                        "SELECT e.seq FROM ledger_entries e WHERE e.debit = $1 AND e.reverses IS NULL \
                         AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.seq) ORDER BY e.seq LIMIT 1",
                        crate::args![account.as_str()],
                    )
                    .await?;
                a.funding_seq = funding.map(|(s,)| s);
            }
        }
        Ok(rows)
    }

    /// Allocations the caller may pay a project from: given to the project's region or one above
    /// it, earmarked to no project or to this one (a residents' pool only to its own), with money
    /// left; newest first.
    pub async fn payable_allocations(&self, scope: &Scope, project_id: i64) -> Result<Vec<Allocation>, StoreError> {
        let (project, _, _) = self.get_project(scope, project_id).await?;
        let at = RegionCode::parse(&project.region_code).map_err(|e| StoreError::Config(format!("project {project_id}: {e}")))?;
        let mut regions: Vec<String> = at.ancestors().iter().map(|r| r.as_str().to_string()).collect();
        regions.extend([RegionCode::country().as_str().to_string(), at.as_str().to_string()]);
        regions.retain(|r| scope.covers_code(r));
        if regions.is_empty() {
            return Ok(vec![]);
        }
        let placeholders: Vec<String> = (3..3 + regions.len()).map(|i| format!("${i}")).collect();
        let mut args = crate::args![format!("%,{project_id},%"), project_id];
        args.extend(regions.into_iter().map(crate::Arg::from));
        let rows: Vec<Allocation> = self
            .fetch_all(
                &format!(
                    "SELECT {ALLOCATION_COLS} FROM allocations WHERE region_code IN ({}) \
                     AND (projects = '' OR ',' || projects || ',' LIKE $1) AND (pool_of IS NULL OR pool_of = $2) ORDER BY id DESC LIMIT 500",
                    placeholders.join(", ")
                ),
                args,
            )
            .await?;
        let mut tx = self.begin_snapshot().await?;
        let mut payable = Vec::new();
        for mut a in rows {
            a.left = tx.balance(&Account::Allocation { id: a.id }.code()).await?;
            if a.left > 0 {
                payable.push(a);
            }
        }
        Ok(payable)
    }

    /// Records an allocation: from its source, or cut from a parent allocation (which must cover it,
    /// and whose region must hold the child's). Its ledger entry is written in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_allocation(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &RegionCode,
        year: i64,
        purpose: &str,
        parent_id: Option<i64>,
        a: &ValidAllocation,
    ) -> Result<Allocation, FundsError> {
        let made = self.create_allocations(actor, scope, year, purpose, parent_id, &[(region.clone(), a.clone())]).await?;
        let id = made.first().copied().ok_or_else(|| StoreError::Config("no allocation was made".into()))?;
        Ok(self.allocation(scope, id).await?)
    }

    /// Records several allocations of the same year, purpose and parent in one transaction (a
    /// subsidy split handed down at once): all or none. Returns their ids in order. A region that
    /// cannot take one is named by its place (`shares[2].region_code`) when there are several.
    pub async fn create_allocations(
        &self,
        actor: &Actor,
        scope: &Scope,
        year: i64,
        purpose: &str,
        parent_id: Option<i64>,
        items: &[(RegionCode, ValidAllocation)],
    ) -> Result<Vec<i64>, FundsError> {
        let field = |i: usize| if items.len() == 1 { "region_code".to_string() } else { format!("shares[{i}].region_code") };
        let parent = match parent_id {
            Some(p) => Some(self.allocation(scope, p).await?),
            None => None,
        };
        let mut problems = huanxin_domain::ValidationErrors::default();
        // Each share's earmark as it will be kept: a parent's earmark and year hold for its children.
        let mut earmarks = Vec::with_capacity(items.len());
        let parent_region = match &parent {
            Some(p) => Some(RegionCode::parse(&p.region_code).map_err(|e| StoreError::Config(e.to_string()))?),
            None => None,
        };
        for (i, (region, a)) in items.iter().enumerate() {
            if !scope.covers_code(region.as_str()) {
                problems.push(&field(i), region.as_str(), reason!("field.outside_region"));
            } else if parent_region.as_ref().is_some_and(|p| !p.contains(region)) {
                problems.push(&field(i), region.as_str(), reason!("funds.outside_parent_region"));
            } else if let Scope::Region(own) = scope {
                if let Err((name, r)) = rules::may_give(own, parent_region.as_ref(), region) {
                    let f = if name == "parent_id" { "parent_id".to_string() } else { field(i) };
                    problems.push(
                        &f,
                        if name == "parent_id" { parent_id.unwrap_or(0).to_string() } else { region.as_str().to_string() },
                        r,
                    );
                }
            }
            match &parent {
                Some(p) => match rules::child_earmark(&earmark_of(p), p.year, p.pool_of, &a.earmark, year) {
                    Ok(e) => earmarks.push(e),
                    Err(errs) => {
                        for mut f in errs.0 {
                            if items.len() > 1 {
                                f.field = format!("shares[{i}].{}", f.field);
                            }
                            problems.0.push(f);
                        }
                    }
                },
                None => earmarks.push(a.earmark.clone()),
            }
            // One problem list per share is enough: a split's shares differ only in region and amount.
            if problems.0.len() > 20 {
                break;
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems).into());
        }
        // Checked for the whole at once, so that a split too large says so with what is really left;
        // each share is checked again under the ledger's lock below.
        if let Some(p) = &parent {
            let total = items.iter().try_fold(Fen(0), |t, (_, a)| t.checked_add(a.amount)).ok_or(rules::Refusal::NotPositive)?;
            rules::check_sub_allocation(Fen(p.left), total)?;
        }
        let mut tx = self.begin().await?;
        let mut head = tx.lock_ledger().await?;
        let mut made = Vec::with_capacity(items.len());
        for ((region, a), earmark) in items.iter().zip(&earmarks) {
            let source = match (&parent, a.source) {
                (Some(p), _) => {
                    Source::parse(&p.source).ok_or_else(|| StoreError::Config(format!("allocation {} has an unknown source", p.id)))?
                }
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(StoreError::Invalid(huanxin_domain::ValidationErrors::one("source", "", reason!("field.required"))).into())
                }
            };
            // Checked against what is left after the ones made before it in this transaction.
            if let Some(p) = &parent {
                let left = tx.balance(&Account::Allocation { id: p.id }.code()).await?;
                rules::check_sub_allocation(Fen(left), a.amount)?;
            }
            let categories: Vec<&str> = earmark.categories.iter().map(|c| c.as_str()).collect();
            let projects: Vec<String> = earmark.projects.iter().map(|p| p.to_string()).collect();
            let (id,): (i64,) = tx
                .fetch_one(
                    "INSERT INTO allocations (parent_id, region_code, source, year, purpose, amount, categories, projects, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    crate::args![
                        parent_id,
                        region.as_str(),
                        source.as_str(),
                        year,
                        purpose.trim(),
                        a.amount.0,
                        categories.join(","),
                        projects.join(","),
                        actor.username.as_str(),
                        crate::now()
                    ],
                )
                .await?;
            let credit = match &parent {
                Some(p) => Account::Allocation { id: p.id },
                None => Account::Source { source },
            };
            let entry = NewEntry {
                debit: Account::Allocation { id },
                credit,
                amount: a.amount,
                memo: purpose.trim(),
                source,
                project_id: None,
                estate_id: None,
                reverses: None,
            };
            tx.append_entry(&mut head, actor, &entry).await?;
            tx.audit(
                actor,
                Change {
                    action: "allocate",
                    entity: "allocation",
                    entity_id: id.to_string(),
                    region_code: region.as_str().to_string(),
                    before: None,
                    after: Some(serde_json::json!({"amount": a.amount.0, "source": source.as_str(), "parent_id": parent_id})),
                },
            )
            .await?;
            made.push(id);
        }
        tx.commit().await?;
        Ok(made)
    }

    /// Sets the contract sum of a project (the most its disbursements may add up to); never below
    /// what the project has been paid.
    pub async fn set_contract(&self, actor: &Actor, scope: &Scope, project_id: i64, amount: Fen) -> Result<(), StoreError> {
        let (project, _, _) = self.get_project(scope, project_id).await?;
        let mut tx = self.begin().await?;
        tx.lock_ledger().await?;
        let paid = tx.balance(&Account::Paid { project_id }.code()).await?;
        if amount.0 < paid {
            return Err(StoreError::Invalid(huanxin_domain::ValidationErrors::one(
                "amount",
                amount.yuan(),
                reason!("funds.below_paid", fen = Fen(paid).yuan()),
            )));
        }
        tx.execute("DELETE FROM project_contracts WHERE project_id = $1", crate::args![project_id]).await?;
        tx.execute(
            "INSERT INTO project_contracts (project_id, amount, updated_by, updated_at) VALUES ($1, $2, $3, $4)",
            crate::args![project_id, amount.0, actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set_contract",
                entity: "project",
                entity_id: project_id.to_string(),
                region_code: project.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"amount": amount.0})),
            },
        )
        .await?;
        tx.commit().await
    }

    /// What a project's payments may be made for now: its estates' finished schedule nodes and passed inspections.
    pub async fn payment_bases(&self, scope: &Scope, project_id: i64) -> Result<Vec<PaymentBasis>, StoreError> {
        self.get_project(scope, project_id).await?;
        self.fetch_all(
            "SELECT 'inspection:' || CAST(i.id AS TEXT) AS basis, e.name AS estate_name, i.checkpoint AS name, i.held_on AS day \
             FROM inspections i JOIN estates e ON e.id = i.estate_id JOIN project_estates pe ON pe.estate_id = i.estate_id \
             WHERE pe.project_id = $1 AND i.passed = $2 \
             UNION ALL SELECT 'milestone:' || CAST(n.id AS TEXT), e.name, n.name, COALESCE(n.actual_end, n.planned_end) \
             FROM schedule_nodes n JOIN estates e ON e.id = n.estate_id JOIN project_estates pe ON pe.estate_id = n.estate_id \
             WHERE pe.project_id = $1 AND n.progress_pct >= 100 ORDER BY 4 DESC LIMIT 500",
            crate::args![project_id, true],
        )
        .await
    }

    /// Is a payment's basis met: a finished schedule node or a passed inspection of the project's estates?
    /// A node or inspection of another county is answered as missing, so its id tells nothing.
    async fn check_basis(&self, project_estates: &[i64], basis: Basis) -> Result<(), FundsError> {
        let first = project_estates.first().copied().unwrap_or(0);
        let same_county = "(SELECT substr(e.community_code, 1, 6) FROM estates e WHERE e.id = b.estate_id) = \
                           (SELECT substr(e.community_code, 1, 6) FROM estates e WHERE e.id = $2)";
        let row: Option<(i64, bool)> = match basis {
            Basis::Milestone { node_id } => self
                .fetch_optional::<(i64, i64)>(
                    &format!("SELECT b.estate_id, b.progress_pct FROM schedule_nodes b WHERE b.id = $1 AND {same_county}"),
                    crate::args![node_id, first],
                )
                .await?
                .map(|(e, pct)| (e, pct >= 100)),
            Basis::Inspection { inspection_id } => {
                self.fetch_optional(
                    &format!("SELECT b.estate_id, b.passed FROM inspections b WHERE b.id = $1 AND {same_county}"),
                    crate::args![inspection_id, first],
                )
                .await?
            }
        };
        let facts = row.map(|(estate, met)| BasisFacts { in_project: project_estates.contains(&estate), met });
        Ok(rules::check_basis(basis, facts)?)
    }

    /// Asks for a payment from an allocation to a project's payee for a milestone reached or an
    /// inspection passed (approved separately).
    #[allow(clippy::too_many_arguments)]
    pub async fn request_disbursement(
        &self,
        actor: &Actor,
        scope: &Scope,
        allocation_id: i64,
        project_id: i64,
        category: Category,
        payee: &str,
        amount: Fen,
        basis: Basis,
    ) -> Result<Disbursement, FundsError> {
        let allocation = self.allocation(scope, allocation_id).await?;
        let (project, estates) = self.project_with_estates(scope, project_id).await?;
        self.check_basis(&estates, basis).await?;
        let write = RequestWrite { actor: actor.clone(), allocation, project, category, payee: payee.trim().to_string(), amount, basis };
        let writer = crate::group_commit::running(&self.request_writer, || {
            GroupCommit::start(self.without_writers(), request_group, &REQUEST_STEPS)
        })?;
        Ok(writer.submit(write).await??)
    }

    /// Disbursements of projects in scope, newest first, filtered by project and status, a page at a
    /// time, with how many match.
    pub async fn disbursements(&self, scope: &Scope, f: &DisbursementFilter) -> Result<(Vec<Disbursement>, i64), StoreError> {
        let cols: Vec<String> = DISBURSEMENT_COLS.split(", ").map(|c| format!("d.{c}")).collect();
        let (lo, hi) = match scope {
            Scope::Region(r) => r.subtree_range(),
            Scope::Attached { .. } => return Ok((vec![], 0)),
        };
        let mut args = crate::args![lo, hi];
        let mut wh = String::from("p.region_code >= $1 AND p.region_code < $2");
        if let Some(project) = f.project_id {
            args.push(project.into());
            wh.push_str(&format!(" AND d.project_id = ${}", args.len()));
        }
        if let Some(status) = f.status.as_ref().filter(|s| !s.is_empty()) {
            args.push(status.into());
            wh.push_str(&format!(" AND d.status = ${}", args.len()));
        }
        let from = "FROM disbursements d JOIN projects p ON p.id = d.project_id";
        let total = self.scalar(&format!("SELECT COUNT(*) {from} WHERE {wh}"), args.clone()).await?;
        let per_page = f.per_page.unwrap_or(50).clamp(1, 500);
        let offset = (f.page.unwrap_or(1).max(1) - 1).saturating_mul(per_page);
        args.push(per_page.into());
        args.push(offset.into());
        let n = args.len();
        let rows = self
            .fetch_all(&format!("SELECT {} {from} WHERE {wh} ORDER BY d.id DESC LIMIT ${} OFFSET ${n}", cols.join(", "), n - 1), args)
            .await?;
        Ok((rows, total))
    }

    /// A disbursement, if its project is in scope.
    pub async fn disbursement(&self, scope: &Scope, id: i64) -> Result<Disbursement, StoreError> {
        let d: Disbursement =
            self.fetch_one(&format!("SELECT {DISBURSEMENT_COLS} FROM disbursements WHERE id = $1"), crate::args![id]).await?;
        self.project_with_estates(scope, d.project_id).await?;
        Ok(d)
    }

    /// Approves a disbursement: under the ledger's lock, checks what is left of the allocation, its
    /// earmark, what is left of the contract and that the project is open, then pays it.
    pub async fn approve_disbursement(&self, actor: &Actor, scope: &Scope, id: i64) -> Result<Disbursement, FundsError> {
        let d: Disbursement =
            self.fetch_one(&format!("SELECT {DISBURSEMENT_COLS} FROM disbursements WHERE id = $1"), crate::args![id]).await?;
        let (project, estates) = self.project_with_estates(scope, d.project_id).await?;
        if d.status != "requested" {
            return Err(StoreError::Conflict(reason!("funds.disbursement_already", status = d.status)).into());
        }
        rules::check_four_eyes(&d.requested_by, &actor.username, "asked for", "approve")?;
        if let Some(refusal) = self.hands_refusal(&d.requested_by, &actor.username).await? {
            return Err(refusal.into());
        }
        let allocation = self.allocation(scope, d.allocation_id).await?;
        if let Some(basis) = Basis::parse(&d.basis) {
            self.check_basis(&estates, basis).await?;
        }
        let category =
            Category::parse(&d.category).ok_or_else(|| StoreError::Config(format!("disbursement {id} has an unknown category")))?;
        let source = Source::parse(&allocation.source)
            .ok_or_else(|| StoreError::Config(format!("allocation {} has an unknown source", allocation.id)))?;
        let write =
            ApprovalWrite { id, actor: actor.clone(), allocation, project, category, source, amount: Fen(d.amount), payee: d.payee };
        let writer = crate::group_commit::running(&self.approval_writer, || {
            GroupCommit::start(self.without_writers(), approve_group, &APPROVAL_STEPS)
        })?;
        match writer.submit(write).await? {
            Ok(_) => {}
            Err(ApprovalRefused::Rule(r)) => return Err(r.into()),
            Err(ApprovalRefused::ChangedMeanwhile) => {
                return Err(StoreError::Conflict(reason!("funds.disbursement_changed_meanwhile")).into())
            }
        }
        Ok(self.disbursement(scope, id).await?)
    }

    /// Corrects an entry in scope with its reversing entry (entries are never edited); an entry is
    /// reversed once, and never when the money has moved on from the account it went to.
    pub async fn reverse_entry(&self, actor: &Actor, scope: &Scope, seq: i64, memo: &str) -> Result<i64, FundsError> {
        let row: Option<EntryRow> = self
            .fetch_optional(
                "SELECT debit, credit, amount, source, project_id, estate_id, reverses, entered_by FROM ledger_entries WHERE seq = $1",
                crate::args![seq],
            )
            .await?;
        let Some(EntryRow { debit, credit, amount, source, project_id, estate_id, reverses, entered_by }) = row else {
            return Err(StoreError::NotFound.into());
        };
        let account =
            |code: &str| Account::parse(code).ok_or_else(|| StoreError::Config(format!("entry {seq} has an unknown account {code}")));
        let (debit, credit) = (account(&debit)?, account(&credit)?);
        // The entry is in scope when its project, estate or allocation is.
        let region = match (project_id, estate_id, &debit, &credit) {
            (Some(p), _, _, _) => self.get_project(scope, p).await?.0.region_code,
            (None, Some(e), _, _) => self.get_estate(scope, e).await?.community_code,
            (None, None, Account::Allocation { id }, _) | (None, None, _, Account::Allocation { id }) => {
                self.allocation(scope, *id).await?.region_code
            }
            _ => return Err(StoreError::NotFound.into()),
        };
        // A wrong reversal is put right by recording the movement again, so that what an
        // allocation was given only ever shrinks by reversal.
        if let Some(original) = reverses {
            return Err(StoreError::Conflict(reason!("funds.reversal_of_reversal", seq = seq, original = original)).into());
        }
        rules::check_four_eyes(&entered_by, &actor.username, "entered", "reverse it")?;
        if let Some(refusal) = self.hands_refusal(&entered_by, &actor.username).await? {
            return Err(refusal.into());
        }
        let mut tx = self.begin().await?;
        let mut head = tx.lock_ledger().await?;
        if tx.scalar("SELECT COUNT(*) FROM ledger_entries WHERE reverses = $1", crate::args![seq]).await? > 0 {
            return Err(StoreError::Conflict(reason!("funds.already_reversed", seq = seq)).into());
        }
        let original = rules::Entry { debit: debit.clone(), credit: credit.clone(), amount: Fen(amount) };
        rules::check_reversal(&original, Fen(tx.balance(&debit.code()).await?))?;
        let source = Source::parse(&source).ok_or_else(|| StoreError::Config(format!("entry {seq} source")))?;
        let memo = format!("冲正第 {seq} 笔：{memo}");
        let entry =
            NewEntry { debit: credit, credit: debit, amount: Fen(amount), memo: &memo, source, project_id, estate_id, reverses: Some(seq) };
        let new_seq = tx.append_entry(&mut head, actor, &entry).await?;
        // The payment or contribution the entry recorded is marked; money taken back from an
        // allocation (a contribution's pool included) leaves what it was given.
        tx.execute("UPDATE disbursements SET status = 'reversed', reversed_by = $1 WHERE ledger_seq = $2", crate::args![new_seq, seq])
            .await?;
        tx.execute("UPDATE contributions SET reversed_by = $1 WHERE ledger_seq = $2", crate::args![new_seq, seq]).await?;
        if let Some(estate) = estate_id {
            tx.refresh_estate_statistics(estate).await?;
        }
        if let Some(id) = rules::funded_allocation(&original) {
            tx.execute("UPDATE allocations SET amount = amount - $1 WHERE id = $2", crate::args![amount, id]).await?;
        }
        tx.audit(
            actor,
            Change {
                action: "reverse",
                entity: "ledger_entry",
                entity_id: seq.to_string(),
                region_code: region,
                before: None,
                after: Some(serde_json::json!({"reversed_by": new_seq})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(new_seq)
    }

    /// What a project has been paid, by source (fen), and its contract sum.
    pub async fn project_funds(&self, scope: &Scope, project_id: i64) -> Result<(Option<i64>, Vec<(String, i64)>), StoreError> {
        self.get_project(scope, project_id).await?;
        let contract: Option<(i64,)> =
            self.fetch_optional("SELECT amount FROM project_contracts WHERE project_id = $1", crate::args![project_id]).await?;
        let paid = Account::Paid { project_id }.code();
        let by_source: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT source, CAST(COALESCE(SUM(CASE WHEN debit = $2 THEN amount ELSE -amount END), 0) AS BIGINT) FROM ledger_entries \
                 WHERE project_id = $1 AND (debit = $2 OR credit = $2) GROUP BY source ORDER BY source",
                crate::args![project_id, paid.as_str()],
            )
            .await?;
        Ok((contract.map(|(c,)| c), by_source))
    }

    /// The ledger entries that move a region's allocations (for the fund ledger, 资金使用台账), in
    /// order: all of them, read a batch at a time by entry number (it once stopped silently at 200,000).
    pub async fn ledger_of_region(&self, scope: &Scope, region: &RegionCode) -> Result<Vec<LedgerLine>, StoreError> {
        const BATCH: i64 = 50_000;
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        let (lo, hi) = region.subtree_range();
        let mut out: Vec<LedgerLine> = Vec::new();
        loop {
            let after = out.last().map(|l| l.seq).unwrap_or(0);
            let batch: Vec<LedgerLine> = self
                .fetch_all(
                    "SELECT e.seq, e.at, e.debit, e.credit, e.amount, e.memo, e.source, p.name AS project FROM ledger_entries e \
                     LEFT JOIN projects p ON p.id = e.project_id \
                     WHERE e.seq > $3 AND (e.debit IN (SELECT 'allocation:' || id FROM allocations WHERE region_code >= $1 AND region_code < $2) \
                        OR e.credit IN (SELECT 'allocation:' || id FROM allocations WHERE region_code >= $1 AND region_code < $2)) \
                     ORDER BY e.seq LIMIT $4",
                    crate::args![lo.as_str(), hi.as_str(), after, BATCH],
                )
                .await?;
            let n = batch.len() as i64;
            out.extend(batch);
            if n < BATCH {
                return Ok(out);
            }
        }
    }

    /// One batch of the ledger in order from `from`. SQLite hands it over as one JSON text: decoding
    /// row by row through its driver costs more than the hashing (PostgreSQL's rows come fast).
    async fn ledger_batch(&self, from: i64, limit: i64) -> Result<Vec<StoredEntry>, StoreError> {
        const COLS: &str =
            "seq, debit, credit, amount, memo, at, prev_hash, hash, source, project_id, estate_id, reverses, entered_by, hash_v";
        if self.engine() == Engine::Postgres {
            return self
                .fetch_all(&format!("SELECT {COLS} FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2"), crate::args![from, limit])
                .await;
        }
        let (text,): (Option<String>,) = self
            .fetch_one(
                &format!("SELECT json_group_array(json_array({COLS})) FROM (SELECT {COLS} FROM ledger_entries WHERE seq >= $1 ORDER BY seq LIMIT $2)"),
                crate::args![from, limit],
            )
            .await?;
        type Row = (i64, String, String, i64, String, String, String, String, String, Option<i64>, Option<i64>, Option<i64>, String, i64);
        let rows: Vec<Row> =
            serde_json::from_str(text.as_deref().unwrap_or("[]")).map_err(|e| StoreError::Config(format!("ledger batch: {e}")))?;
        let mut rows: Vec<StoredEntry> = rows
            .into_iter()
            .map(|(seq, debit, credit, amount, memo, at, prev_hash, hash, source, project_id, estate_id, reverses, entered_by, hash_v)| {
                StoredEntry {
                    seq,
                    debit,
                    credit,
                    amount,
                    memo,
                    at,
                    prev_hash,
                    hash,
                    source,
                    project_id,
                    estate_id,
                    reverses,
                    entered_by,
                    hash_v,
                }
            })
            .collect();
        // The aggregate keeps the inner order in practice; sorting makes it certain (cheap when sorted).
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }

    /// Walks the whole ledger in order and compares its end with the head. The next batch is read
    /// while the one before is checked, and each batch's hashes are checked on every core.
    pub async fn verify_ledger(&self) -> Result<LedgerCheck, StoreError> {
        self.verify_ledger_counting(&std::sync::atomic::AtomicI64::new(0)).await
    }

    /// The number of entries the ledger head records (what a walk of the chain has to cover).
    pub async fn ledger_entries(&self) -> Result<i64, StoreError> {
        self.scalar("SELECT entries FROM ledger_head WHERE id = 1", vec![]).await
    }

    /// [`Db::verify_ledger`], adding to `walked` as each batch is checked (for a progress bar).
    pub async fn verify_ledger_counting(&self, walked: &std::sync::atomic::AtomicI64) -> Result<LedgerCheck, StoreError> {
        const BATCH: i64 = 20_000;
        let (count, head): (i64, String) = self.fetch_one("SELECT entries, hash FROM ledger_head WHERE id = 1", vec![]).await?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<StoredEntry>>(2);
        let reader = async move {
            let mut from = 1;
            loop {
                let rows = self.ledger_batch(from, BATCH).await?;
                let Some(last) = rows.last() else { break };
                from = last.seq + 1;
                if sender.send(rows).await.is_err() {
                    break; // the checker found a break and stopped
                }
            }
            Ok::<(), StoreError>(())
        };
        let checker = async move {
            let (mut prev, mut expected) = (chain::GENESIS.to_string(), 1i64);
            while let Some(rows) = receiver.recv().await {
                let start = (prev, expected);
                let (next, broken) = tokio::task::spawn_blocking(move || check_batch(start, rows))
                    .await
                    .map_err(|e| StoreError::Config(format!("ledger check: {e}")))?;
                (prev, expected) = next;
                walked.store(expected - 1, std::sync::atomic::Ordering::Relaxed);
                if broken.is_some() {
                    return Ok::<_, StoreError>((prev, expected, broken));
                }
            }
            Ok((prev, expected, None))
        };
        let (read, checked) = tokio::join!(reader, checker);
        let (prev, expected, mut broken) = checked?;
        if broken.is_none() {
            read?;
        }
        let walked = expected - 1;
        if broken.is_none() && (walked != count || prev != head) {
            broken = Some(chain::Break {
                seq: walked.min(count) + 1,
                reason: format!("the head records {count} entries, the ledger holds {walked}"),
            });
        }
        if broken.is_none() {
            broken = self.derived_figures_disagree().await?;
        }
        Ok(LedgerCheck { entries: walked, intact: broken.is_none(), broken_at: broken, head_hash: head })
    }
}

impl Db {
    /// Sums every account's balance from the ledger again, for a ledger loaded in bulk past
    /// [`Tx::append_entry`] (the benchmark's): the same sum as migration 35.
    pub async fn rebuild_account_balances(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM account_balances", vec![]).await?;
        tx.execute(&format!("INSERT INTO account_balances (account, balance) SELECT account, s FROM ({LEDGER_SUMS}) l"), vec![]).await?;
        tx.commit().await
    }

    /// Figures that reports and balances read outside the ledger, compared with the ledger they
    /// must agree with: what each allocation was given (funding less reversals), and the amount of
    /// every payment, contribution and maintenance-fund movement with the entry that recorded it.
    async fn derived_figures_disagree(&self) -> Result<Option<chain::Break>, StoreError> {
        // No ORDER BY … LIMIT 1 here: with it PostgreSQL expects the first allocation to differ and
        // walks allocations × ledger sums in a nested loop (80–100 s at 40,000 allocations and
        // 200,000 entries); without it, hash joins take 0.2 s. Normally no row comes back.
        let given: Vec<(i64, i64, i64)> = self
            .fetch_all(
                "SELECT a.id, a.amount, CAST(COALESCE(g.s, 0) - COALESCE(t.s, 0) AS BIGINT) FROM allocations a \
                 LEFT JOIN (SELECT debit AS acc, SUM(amount) AS s FROM ledger_entries WHERE reverses IS NULL AND debit LIKE 'allocation:%' \
                            AND (credit LIKE 'source:%' OR credit LIKE 'allocation:%') GROUP BY debit) g ON g.acc = 'allocation:' || a.id \
                 LEFT JOIN (SELECT credit AS acc, SUM(amount) AS s FROM ledger_entries WHERE reverses IS NOT NULL AND credit LIKE 'allocation:%' \
                            AND (debit LIKE 'source:%' OR debit LIKE 'allocation:%') GROUP BY credit) t ON t.acc = 'allocation:' || a.id \
                 WHERE a.amount <> COALESCE(g.s, 0) - COALESCE(t.s, 0)",
                vec![],
            )
            .await?;
        // Two one-sided joins, not a FULL OUTER JOIN: SQLite ran that one as a nested loop over the
        // summed ledger (122 s at 200,000 entries; these take 0.3 s).
        let mut balances: Vec<(String, i64, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT l.account, COALESCE(b.balance, 0), CAST(l.s AS BIGINT) FROM ({LEDGER_SUMS}) l \
                     LEFT JOIN account_balances b ON b.account = l.account WHERE COALESCE(b.balance, 0) <> l.s"
                ),
                vec![],
            )
            .await?;
        balances.extend(
            self.fetch_all::<(String, i64, i64)>(
                "SELECT b.account, b.balance, CAST(0 AS BIGINT) FROM account_balances b WHERE b.balance <> 0 \
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.debit = b.account) \
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.credit = b.account)",
                vec![],
            )
            .await?,
        );
        if let Some((account, kept, ledger)) = balances.into_iter().min() {
            return Ok(Some(chain::Break {
                seq: 0,
                reason: format!("the balance kept for {account} is {kept} fen, the ledger's {ledger} fen (changed outside the ledger)"),
            }));
        }
        if let Some((id, amount, ledger)) = given.into_iter().min_by_key(|(id, _, _)| *id) {
            return Ok(Some(chain::Break {
                seq: 0,
                reason: format!("allocation {id} records {amount} fen given, the ledger {ledger} fen (changed outside the ledger)"),
            }));
        }
        for (table, what) in
            [("disbursements", "payment"), ("contributions", "contribution"), ("upkeep_movements", "maintenance-fund movement")]
        {
            let differs: Option<(i64, i64, i64, i64)> = self
                .fetch_optional(
                    &format!(
                        "SELECT x.id, x.amount, e.seq, e.amount FROM {table} x JOIN ledger_entries e ON e.seq = x.ledger_seq \
                         WHERE x.amount <> e.amount ORDER BY x.id LIMIT 1"
                    ),
                    vec![],
                )
                .await?;
            if let Some((id, amount, seq, entry)) = differs {
                return Ok(Some(chain::Break {
                    seq,
                    reason: format!("{what} {id} records {amount} fen, its entry {entry} fen (changed outside the ledger)"),
                }));
            }
        }
        Ok(None)
    }
}

/// Checks one batch that should start at entry `expected` after the hash `prev`: numbering and links
/// in order, each entry's hash (computed on every core). Returns where the walk got to and the first break.
fn check_batch(start: (String, i64), rows: Vec<StoredEntry>) -> ((String, i64), Option<chain::Break>) {
    let (mut prev, mut expected) = start;
    let hash_ok = |r: &StoredEntry| (r.hash_v == 1 || r.hash_v == 2) && chain::link(&r.prev_hash, &r.text()) == r.hash;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1);
    let chunk = rows.len().div_ceil(threads).max(1);
    let ok: Vec<bool> = std::thread::scope(|s| {
        let parts: Vec<_> = rows.chunks(chunk).map(|part| s.spawn(move || part.iter().map(hash_ok).collect::<Vec<bool>>())).collect();
        parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    for (i, r) in rows.into_iter().enumerate() {
        let reason = if r.seq != expected {
            Some(format!("entry {expected} is missing (found {})", r.seq))
        } else if r.prev_hash != prev {
            Some("does not link to the entry before it".to_string())
        } else if !ok.get(i).copied().unwrap_or(false) {
            Some("its contents do not match its hash (changed after it was written)".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return ((prev, expected), Some(chain::Break { seq: expected, reason }));
        }
        prev = r.hash;
        expected += 1;
    }
    ((prev, expected), None)
}
