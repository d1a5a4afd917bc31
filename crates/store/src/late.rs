//! "What is late in my region": approval steps past their deadline, schedule nodes behind plan,
//! design changes past their two working days and rectification tasks past their deadline, each
//! counted and listed most late first. Every kind is found by a partial index on its open rows.

use crate::approvals::LateStep;
use crate::db::{Arg, Db};
use crate::error::StoreError;
use chrono::NaiveDate;
use huanxin_domain::access::Scope;
use huanxin_domain::calendar::WorkCalendar;
use serde::Serialize;

/// One kind of late work: how many in all, and the most late.
#[derive(Debug, Clone, Serialize)]
pub struct LateList<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// A late piece of work on an estate (a schedule node, a design change or a rectification task).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LateWork {
    pub id: i64,
    pub estate_id: i64,
    pub estate_name: String,
    /// The node's name, the change's reason or the task's finding.
    pub what: String,
    /// The day it was due (a node not started: its planned start).
    pub due_on: String,
    /// Who must act, by name: the task's owner, the change's requester, the node's contractor.
    pub who: String,
    /// Rectification tasks: supervised (挂牌督办).
    pub supervised: bool,
}

/// Everything late in a region.
#[derive(Debug, Clone, Serialize)]
pub struct LateOverview {
    pub today: String,
    pub approvals: LateList<LateStep>,
    /// Nodes not finished by their planned end, or not started by their planned start.
    pub schedule_nodes: LateList<LateWork>,
    pub design_changes: LateList<LateWork>,
    pub rectifications: LateList<LateWork>,
}

impl Db {
    /// Counts and lists (the `limit` most late) one kind of late work on estates in the scope.
    /// `from_where` joins the work to its estate `e`; `due` is the column it was due by.
    async fn late_work(
        &self,
        scope: &Scope,
        select: &str,
        from_where: &str,
        due: &str,
        today: NaiveDate,
        limit: usize,
    ) -> Result<LateList<LateWork>, StoreError> {
        let mut args = vec![Arg::from(today.to_string())];
        let region = format!(" AND {}", crate::estates::scope_clause(scope, &mut args));
        let total = self.scalar(&format!("SELECT COUNT(*) FROM {from_where}{region}"), args.clone()).await?;
        let items = if total == 0 {
            Vec::new()
        } else {
            self.fetch_all(&format!("SELECT {select} FROM {from_where}{region} ORDER BY {due}, e.id LIMIT {limit}"), args).await?
        };
        Ok(LateList { total, items })
    }

    /// What is late in the caller's region on `today`, with the `limit` most late of each kind.
    pub async fn late_overview(
        &self,
        scope: &Scope,
        cal: &WorkCalendar,
        today: NaiveDate,
        limit: usize,
    ) -> Result<LateOverview, StoreError> {
        let (approvals_total, approvals) = self.late_approval_steps(scope, cal, today, limit).await?;
        let ended = self
            .late_work(
                scope,
                "n.id, n.estate_id, e.name AS estate_name, n.name AS what, n.planned_end AS due_on, \
                 COALESCE((SELECT pp.company FROM project_parties pp JOIN project_estates pe ON pe.project_id = pp.project_id WHERE pe.estate_id = n.estate_id AND pp.role = 'contractor' ORDER BY pp.id LIMIT 1), '') AS who, FALSE AS supervised",
                "schedule_nodes n JOIN estates e ON e.id = n.estate_id WHERE n.actual_end IS NULL AND n.planned_end < $1",
                "n.planned_end",
                today,
                limit,
            )
            .await?;
        // Not started on time but not yet past its end (those are counted above).
        let unstarted = self
            .late_work(
                scope,
                "n.id, n.estate_id, e.name AS estate_name, n.name AS what, n.planned_start AS due_on, \
                 COALESCE((SELECT pp.company FROM project_parties pp JOIN project_estates pe ON pe.project_id = pp.project_id WHERE pe.estate_id = n.estate_id AND pp.role = 'contractor' ORDER BY pp.id LIMIT 1), '') AS who, FALSE AS supervised",
                "schedule_nodes n JOIN estates e ON e.id = n.estate_id \
                 WHERE n.actual_start IS NULL AND n.planned_start < $1 AND n.planned_end >= $1",
                "n.planned_start",
                today,
                limit,
            )
            .await?;
        let mut nodes = ended.items;
        nodes.extend(unstarted.items);
        nodes.sort_by(|a, b| a.due_on.cmp(&b.due_on).then(a.id.cmp(&b.id)));
        nodes.truncate(limit);
        let design_changes = self
            .late_work(
                scope,
                "c.id, c.estate_id, e.name AS estate_name, c.reason AS what, c.due_on, COALESCE(u.display_name, c.requested_by) AS who, FALSE AS supervised",
                "design_changes c JOIN estates e ON e.id = c.estate_id LEFT JOIN users u ON u.username = c.requested_by \
                 WHERE c.delivered_on IS NULL AND c.due_on < $1",
                "c.due_on",
                today,
                limit,
            )
            .await?;
        let rectifications = self
            .late_work(
                scope,
                "r.id, r.estate_id, e.name AS estate_name, r.finding AS what, r.deadline AS due_on, COALESCE(u.display_name, r.owner) AS who, r.supervised",
                "rectifications r JOIN estates e ON e.id = r.estate_id LEFT JOIN users u ON u.username = r.owner \
                 WHERE r.closed_at IS NULL AND r.deadline < $1",
                "r.deadline",
                today,
                limit,
            )
            .await?;
        Ok(LateOverview {
            today: today.to_string(),
            approvals: LateList { total: i64::try_from(approvals_total).unwrap_or(i64::MAX), items: approvals },
            schedule_nodes: LateList { total: ended.total + unstarted.total, items: nodes },
            design_changes,
            rectifications,
        })
    }
}
