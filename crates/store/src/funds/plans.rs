//! Co-funding plans per project (who is expected to pay what), residents' contributions pooled into
//! the project's own residents' allocation through the ledger, and the funding picture that sets plan,
//! allocation and payment side by side for reconciliation.

use super::NewEntry;
use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::funds::{self as rules, Account, ContributionInput, FundsPicture, PlanLine, Source, ValidContribution};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::schemes::Payer;
use serde::Serialize;
use std::collections::BTreeMap;

/// A stored line of a co-funding plan.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlanRow {
    pub id: i64,
    pub source: String,
    pub category: String,
    pub item: String,
    pub amount: i64,
    pub reward: bool,
}

/// A project's plan with the schemes' estimate it is set against.
#[derive(Debug, Clone, Serialize)]
pub struct FundingPlan {
    pub project_id: i64,
    pub lines: Vec<PlanRow>,
    /// The estates' schemes' estimate in fen (drafts), and by expected payer.
    pub estimate_fen: i64,
    pub estimate_by_payer: BTreeMap<String, i64>,
}

/// A resident contribution as recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Contribution {
    pub id: i64,
    pub estate_id: i64,
    pub dwelling_id: Option<i64>,
    pub building_id: Option<i64>,
    /// The dwelling ("3号楼 2-301") or the building ("3号楼") it came from.
    pub from_label: String,
    pub households: i64,
    pub amount: i64,
    pub method: String,
    pub purpose: String,
    pub paid_on: String,
    pub ledger_seq: i64,
    /// The entry that reversed it; a reversed contribution is listed but not counted.
    pub reversed_by: Option<i64>,
}

/// Residents' contributions to a project and how many took part.
#[derive(Debug, Clone, Serialize)]
pub struct Contributions {
    pub items: Vec<Contribution>,
    pub total_fen: i64,
    /// Households of the project's estates, and how many contributed.
    pub households: i64,
    pub contributing_households: i64,
    pub household_rate_pct: f64,
    /// Estates of the project, and how many had contributions (惠安: 26 of 28).
    pub estates: i64,
    pub contributing_estates: i64,
    pub estate_rate_pct: f64,
    /// By method (cash, maintenance_fund, provident_fund, bank_credit), fen.
    pub by_method: BTreeMap<String, i64>,
}

/// One row of the funding picture: a source's plan, allocation, payment and what is left.
#[derive(Debug, Clone, Serialize)]
pub struct PictureRow {
    pub source: String,
    pub planned: i64,
    pub rewards: i64,
    pub allocated: i64,
    pub paid: i64,
    /// Allocated and not yet paid.
    pub left: i64,
}

/// Plan, allocation and payment by source, with every difference between them.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub rows: Vec<PictureRow>,
    pub contract_fen: Option<i64>,
    pub estimate_fen: Option<i64>,
    pub differences: Vec<rules::Difference>,
}

/// The plan source a scheme's expected payer suggests.
fn source_for(payer: Payer) -> Source {
    match payer {
        Payer::Government => Source::Local,
        Payer::Utility => Source::Utility,
        Payer::Residents => Source::Residents,
        Payer::Enterprise => Source::SocialCapital,
    }
}

impl Reconciliation {
    fn from_picture(p: &FundsPicture) -> Reconciliation {
        let rows = Source::ALL
            .iter()
            .map(|s| {
                let g = |m: &BTreeMap<Source, i64>| m.get(s).copied().unwrap_or(0);
                PictureRow {
                    source: s.as_str().to_string(),
                    planned: g(&p.planned),
                    rewards: g(&p.rewards),
                    allocated: g(&p.allocated),
                    paid: g(&p.paid),
                    left: g(&p.allocated) - g(&p.paid),
                }
            })
            .filter(|r| r.planned != 0 || r.rewards != 0 || r.allocated != 0 || r.paid != 0)
            .collect();
        Reconciliation { rows, contract_fen: p.contract, estimate_fen: p.estimate, differences: rules::reconcile(p) }
    }
}

fn add_by_source(map: &mut BTreeMap<Source, i64>, rows: Vec<(String, i64)>) -> Result<(), StoreError> {
    for (s, v) in rows {
        let s = Source::parse(&s).ok_or_else(|| StoreError::Config(format!("unknown source {s}")))?;
        *map.entry(s).or_default() += v;
    }
    Ok(())
}

impl Db {
    /// The projects an estate belongs to (id, name); the caller has checked the estate is in scope.
    pub async fn projects_of_estate(&self, estate: crate::reach::EstateInScope) -> Result<Vec<(i64, String)>, StoreError> {
        let estate_id = estate.id();
        self.fetch_all(
            "SELECT p.id, p.name FROM projects p JOIN project_estates pe ON pe.project_id = p.id WHERE pe.estate_id = $1 ORDER BY p.id",
            crate::args![estate_id],
        )
        .await
    }

    /// The schemes' estimate of a project's estates (their drafts), total and by expected payer.
    async fn project_estimate(&self, scope: &Scope, project_id: i64) -> Result<(i64, BTreeMap<String, i64>), StoreError> {
        let (_, estates, _) = self.get_project(scope, project_id).await?;
        let (mut total, mut by_payer) = (0, BTreeMap::new());
        for e in estates {
            let scheme = self.scheme(scope, e.id).await?;
            total += scheme.draft.estimate.total_fen;
            for (payer, fen) in scheme.draft.estimate.by_payer {
                *by_payer.entry(source_for(payer).as_str().to_string()).or_default() += fen;
            }
        }
        Ok((total, by_payer))
    }

    /// A project's co-funding plan with the schemes' estimate.
    pub async fn funding_plan(&self, scope: &Scope, project_id: i64) -> Result<FundingPlan, StoreError> {
        let (estimate_fen, estimate_by_payer) = self.project_estimate(scope, project_id).await?;
        let lines = self
            .fetch_all(
                "SELECT id, source, category, item, amount, reward FROM funding_plan_lines WHERE project_id = $1 ORDER BY id",
                crate::args![project_id],
            )
            .await?;
        Ok(FundingPlan { project_id, lines, estimate_fen, estimate_by_payer })
    }

    /// Replaces a project's co-funding plan with these lines (all or nothing).
    pub async fn set_funding_plan(
        &self,
        actor: &Actor,
        scope: &Scope,
        project_id: i64,
        lines: &[PlanLine],
    ) -> Result<FundingPlan, StoreError> {
        let (project, _, _) = self.get_project(scope, project_id).await?;
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM funding_plan_lines WHERE project_id = $1", crate::args![project_id]).await?;
        for l in lines {
            tx.execute(
                "INSERT INTO funding_plan_lines (project_id, source, category, item, amount, reward) VALUES ($1, $2, $3, $4, $5, $6)",
                crate::args![
                    project_id,
                    l.source.as_str(),
                    l.category.map(|c| c.as_str()).unwrap_or(""),
                    l.item.as_str(),
                    l.amount.0,
                    l.reward
                ],
            )
            .await?;
        }
        tx.audit(
            actor,
            Change {
                action: "set_funding_plan",
                entity: "project",
                entity_id: project_id.to_string(),
                region_code: project.region_code.clone(),
                before: None,
                after: Some(
                    serde_json::json!({"lines": lines.len(), "total": lines.iter().filter(|l| !l.reward).map(|l| l.amount.0).sum::<i64>()}),
                ),
            },
        )
        .await?;
        tx.commit().await?;
        self.funding_plan(scope, project_id).await
    }

    /// Records a resident contribution received: it arrives in the project's residents' allocation
    /// (made on the first contribution) through a ledger entry written in the same transaction.
    pub async fn record_contribution(
        &self,
        actor: &Actor,
        scope: &Scope,
        project_id: i64,
        input: &ContributionInput,
        c: &ValidContribution,
    ) -> Result<Contribution, StoreError> {
        let (estate_id, dwelling_id, building_id, purpose) =
            (input.estate_id, input.dwelling_id, input.building_id, input.purpose.as_str());
        let (project, estates, _) = self.get_project(scope, project_id).await?;
        let invalid =
            |field: &str, v: i64, why: huanxin_domain::Reason| StoreError::Invalid(huanxin_domain::ValidationErrors::one(field, v, why));
        if !estates.iter().any(|e| e.id == estate_id) {
            return Err(invalid("estate_id", estate_id, reason!("funds.not_estate_of_project")));
        }
        if let Some(d) = dwelling_id {
            if self.scalar("SELECT COUNT(*) FROM dwellings WHERE id = $1 AND estate_id = $2", crate::args![d, estate_id]).await? == 0 {
                return Err(invalid("dwelling_id", d, reason!("field.not_dwelling_estate")));
            }
        }
        if let Some(b) = building_id {
            let in_building =
                self.scalar("SELECT COUNT(*) FROM dwellings WHERE building_id = $1 AND estate_id = $2", crate::args![b, estate_id]).await?;
            if self.scalar("SELECT COUNT(*) FROM buildings WHERE id = $1 AND estate_id = $2", crate::args![b, estate_id]).await? == 0 {
                return Err(invalid("building_id", b, reason!("field.not_building_estate")));
            }
            if in_building > 0 && c.households > in_building {
                return Err(invalid("households", c.households, reason!("funds.building_dwellings", count = in_building)));
            }
        }
        let region = RegionCode::parse(&project.region_code).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        let mut head = tx.lock_ledger().await?;
        let pool: Option<(i64,)> = tx.fetch_optional("SELECT id FROM allocations WHERE pool_of = $1", crate::args![project_id]).await?;
        let pool_id = match pool {
            Some((id,)) => {
                tx.execute("UPDATE allocations SET amount = amount + $1 WHERE id = $2", crate::args![c.amount.0, id]).await?;
                id
            }
            None => {
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO allocations (parent_id, region_code, source, year, purpose, amount, categories, projects, created_by, created_at, pool_of) \
                         VALUES (NULL, $1, 'residents', $2, $3, $4, '', $5, $6, $7, $8) RETURNING id",
                        crate::args![
                            region.as_str(),
                            i64::from(chrono::Datelike::year(&c.paid_on)),
                            format!("居民出资：{}", project.name),
                            c.amount.0,
                            project_id.to_string(),
                            actor.username.as_str(),
                            crate::now(),
                            project_id
                        ],
                    )
                    .await?;
                id
            }
        };
        let label: String = match (dwelling_id, building_id) {
            (Some(d), _) => {
                tx.fetch_one::<(String,)>(
                    "SELECT b.number || ' ' || d.number FROM dwellings d JOIN buildings b ON b.id = d.building_id WHERE d.id = $1",
                    crate::args![d],
                )
                .await?
                .0
            }
            (None, Some(b)) => tx.fetch_one::<(String,)>("SELECT number FROM buildings WHERE id = $1", crate::args![b]).await?.0,
            _ => String::new(),
        };
        let memo = format!("居民出资：{label}（{}）{}", c.method.as_str(), purpose.trim());
        let entry = NewEntry {
            debit: Account::Allocation { id: pool_id },
            credit: Account::Source { source: Source::Residents },
            amount: c.amount,
            memo: &memo,
            source: Source::Residents,
            project_id: Some(project_id),
            estate_id: Some(estate_id),
            reverses: None,
        };
        let seq = tx.append_entry(&mut head, actor, &entry).await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO contributions (project_id, estate_id, dwelling_id, building_id, households, amount, method, purpose, paid_on, ledger_seq, entered_by, entered_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
                crate::args![
                    project_id,
                    estate_id,
                    dwelling_id,
                    building_id,
                    c.households,
                    c.amount.0,
                    c.method.as_str(),
                    purpose.trim(),
                    c.paid_on.to_string(),
                    seq,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        tx.refresh_estate_statistics(estate_id).await?;
        tx.audit(
            actor,
            Change {
                action: "contribute",
                entity: "contribution",
                entity_id: id.to_string(),
                region_code: project.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"amount": c.amount.0, "method": c.method.as_str(), "ledger_seq": seq})),
            },
        )
        .await?;
        tx.commit().await?;
        let all = self.contributions(scope, project_id).await?;
        all.items.into_iter().find(|x| x.id == id).ok_or(StoreError::NotFound)
    }

    /// A project's residents' contributions, with participation by household and by estate.
    pub async fn contributions(&self, scope: &Scope, project_id: i64) -> Result<Contributions, StoreError> {
        let (_, estates, _) = self.get_project(scope, project_id).await?;
        let items: Vec<Contribution> = self
            .fetch_all(
                "SELECT c.id, c.estate_id, c.dwelling_id, c.building_id, \
                 COALESCE(bd.number || ' ' || d.number, b.number, '') AS from_label, \
                 c.households, c.amount, c.method, c.purpose, c.paid_on, c.ledger_seq, c.reversed_by FROM contributions c \
                 LEFT JOIN dwellings d ON d.id = c.dwelling_id LEFT JOIN buildings bd ON bd.id = d.building_id \
                 LEFT JOIN buildings b ON b.id = c.building_id WHERE c.project_id = $1 ORDER BY c.id",
                crate::args![project_id],
            )
            .await?;
        let households: i64 = estates.iter().map(|e| e.households).sum();
        let counted: Vec<&Contribution> = items.iter().filter(|c| c.reversed_by.is_none()).collect();
        let dwellings: std::collections::BTreeSet<i64> = counted.iter().filter_map(|c| c.dwelling_id).collect();
        // A building's contribution stands for the households named, counted once per building (its latest).
        let mut by_building: BTreeMap<i64, i64> = BTreeMap::new();
        for c in counted.iter().filter(|c| c.dwelling_id.is_none()) {
            if let Some(b) = c.building_id {
                by_building.insert(b, c.households);
            }
        }
        let contributed = dwellings.len() as i64 + by_building.values().sum::<i64>();
        let (_, contributing_households, household_rate_pct) = rules::participation(households, contributed);
        let estates_with: std::collections::BTreeSet<i64> = counted.iter().map(|c| c.estate_id).collect();
        let (_, contributing_estates, estate_rate_pct) = rules::participation(estates.len() as i64, estates_with.len() as i64);
        let mut by_method = BTreeMap::new();
        for c in &counted {
            *by_method.entry(c.method.clone()).or_default() += c.amount;
        }
        let total_fen = counted.iter().map(|c| c.amount).sum();
        Ok(Contributions {
            total_fen,
            items,
            households,
            contributing_households,
            household_rate_pct,
            estates: estates.len() as i64,
            contributing_estates,
            estate_rate_pct,
            by_method,
        })
    }

    /// A project's plan, allocations naming it alone (its residents' pool included) plus what it
    /// drew from allocations shared with other projects or the whole region (its share of those is
    /// what it was paid from them), payments by source, contract and estimate, with every
    /// difference between them.
    pub async fn project_reconciliation(&self, scope: &Scope, project_id: i64) -> Result<Reconciliation, StoreError> {
        let plan = self.funding_plan(scope, project_id).await?;
        let (contract, paid_by_source) = self.project_funds(scope, project_id).await?;
        let mut p = FundsPicture { contract, estimate: Some(plan.estimate_fen).filter(|e| *e > 0), ..Default::default() };
        for l in &plan.lines {
            let s = Source::parse(&l.source).ok_or_else(|| StoreError::Config(format!("plan line {} source", l.id)))?;
            *(if l.reward { &mut p.rewards } else { &mut p.planned }).entry(s).or_default() += l.amount;
        }
        add_by_source(&mut p.paid, paid_by_source)?;
        let allocated: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT source, CAST(SUM(amount) AS BIGINT) FROM allocations WHERE projects = $1 GROUP BY source",
                crate::args![project_id.to_string()],
            )
            .await?;
        add_by_source(&mut p.allocated, allocated)?;
        let paid = Account::Paid { project_id }.code();
        let drawn_from_shared: Vec<(String, i64)> = self
            .fetch_all(
                // The allocation is found by its key, read from the entry's other account.
                "SELECT e.source, CAST(SUM(CASE WHEN e.debit = $2 THEN e.amount ELSE -e.amount END) AS BIGINT) FROM ledger_entries e \
                 JOIN allocations a ON a.id = (CASE WHEN e.debit = $2 AND e.credit LIKE 'allocation:%' THEN CAST(SUBSTR(e.credit, 12) AS BIGINT) \
                   WHEN e.credit = $2 AND e.debit LIKE 'allocation:%' THEN CAST(SUBSTR(e.debit, 12) AS BIGINT) END) \
                 WHERE e.project_id = $1 AND (e.debit = $2 OR e.credit = $2) AND a.projects <> $3 GROUP BY e.source",
                crate::args![project_id, paid.as_str(), project_id.to_string()],
            )
            .await?;
        add_by_source(&mut p.allocated, drawn_from_shared)?;
        Ok(Reconciliation::from_picture(&p))
    }

    /// A region's plans (its projects'), the allocations that came into it from outside, and what
    /// its projects were paid, by source, with every difference between them.
    pub async fn region_reconciliation(&self, scope: &Scope, region: &RegionCode) -> Result<Reconciliation, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        let (lo, hi) = region.subtree_range();
        let mut p = FundsPicture::default();
        let plan: Vec<(String, bool, i64)> = self
            .fetch_all(
                "SELECT l.source, l.reward, CAST(SUM(l.amount) AS BIGINT) FROM funding_plan_lines l JOIN projects p ON p.id = l.project_id \
                 WHERE p.region_code >= $1 AND p.region_code < $2 GROUP BY l.source, l.reward",
                crate::args![lo.as_str(), hi.as_str()],
            )
            .await?;
        for (s, reward, v) in plan {
            let s = Source::parse(&s).ok_or_else(|| StoreError::Config(format!("unknown source {s}")))?;
            *(if reward { &mut p.rewards } else { &mut p.planned }).entry(s).or_default() += v;
        }
        let allocated: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT a.source, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND (up.id IS NULL OR up.region_code < $1 OR up.region_code >= $2) \
                 GROUP BY a.source",
                crate::args![lo.as_str(), hi.as_str()],
            )
            .await?;
        add_by_source(&mut p.allocated, allocated)?;
        // What its projects were paid, kept with each payment (migration 42), not walked in the ledger.
        let paid: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT source, CAST(SUM(amount) AS BIGINT) FROM funds_paid WHERE region_code = $1 GROUP BY source",
                crate::args![region.as_str()],
            )
            .await?;
        add_by_source(&mut p.paid, paid)?;
        let contract = self
            .scalar(
                "SELECT CAST(COALESCE(SUM(c.amount), 0) AS BIGINT) FROM project_contracts c JOIN projects p ON p.id = c.project_id \
                 WHERE p.region_code >= $1 AND p.region_code < $2",
                crate::args![lo.as_str(), hi.as_str()],
            )
            .await?;
        p.contract = Some(contract).filter(|c| *c > 0);
        Ok(Reconciliation::from_picture(&p))
    }
}
