//! 我的工作台: the records that wait for a role in the caller's scope (see
//! `huanxin_domain::work` for which kinds each role sees and their order), and for the desks above
//! the county, their regions one level down: starts, completions and late work.

use crate::db::{Arg, Db};
use crate::error::StoreError;
use chrono::NaiveDate;
use huanxin_domain::acceptance::{self, Signatory};
use huanxin_domain::access::{Role, Scope};
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::construction::Checkpoint;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::work::{self, WorkItem, WorkKind};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Items read per kind: a desk works from the top of its list.
const PER_KIND: usize = 50;

/// What waits for the caller: the items (ordered) and, per kind, how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct MyWork {
    pub today: String,
    pub role: Role,
    pub kinds: Vec<KindCount>,
    pub items: Vec<WorkItem>,
}

/// How many items of a kind wait (the list shows at most 50 of each).
#[derive(Debug, Clone, Serialize)]
pub struct KindCount {
    pub kind: WorkKind,
    pub total: i64,
}

/// A row as read, before the deadline is counted.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    estate_id: Option<i64>,
    estate_name: String,
    project_id: Option<i64>,
    what: String,
    detail: String,
    since: String,
    due_on: Option<String>,
    /// Who asked for it (payments and spendings: four eyes is checked on it).
    #[sqlx(default)]
    asker: Option<String>,
    /// The region a report is of.
    #[sqlx(default)]
    region_code: Option<String>,
}

/// Who asks: role, scope and name (four eyes: one's own requests are not one's work to approve).
pub struct Caller<'a> {
    pub role: Role,
    pub scope: &'a Scope,
    pub username: &'a str,
}

/// One region one level below the caller's: its programme this year and what is late in it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegionWork {
    pub code: String,
    pub name: String,
    pub estates: i64,
    /// Estates in this year's annual plans.
    pub planned: i64,
    /// Estates whose construction first started this year (the stage step to 施工中), as statistics count them.
    pub started: i64,
    /// Estates accepted this year (every party signed), as statistics count them.
    pub accepted: i64,
    /// Estates in construction today.
    pub in_construction: i64,
    pub late_approvals: i64,
    /// Nodes not finished by their planned end or not started by their planned start.
    pub late_nodes: i64,
    pub late_rectifications: i64,
}

/// The regions one level below the caller's, for the year of `today`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionsWork {
    pub today: String,
    pub year: i32,
    pub region: String,
    pub rows: Vec<RegionWork>,
}

impl Db {
    /// Counts and reads (the [`PER_KIND`] first by `order`) one kind of work. `from_where` names
    /// the estate `e` and holds `{scope}` where the caller's scope goes.
    async fn work_rows(
        &self,
        from_where: &str,
        select: &str,
        order: &str,
        mut args: Vec<Arg>,
        scope: &Scope,
    ) -> Result<(i64, Vec<Row>), StoreError> {
        let from_where = from_where.replace("{scope}", &crate::estates::scope_clause(scope, &mut args));
        let total = self.scalar(&format!("SELECT COUNT(*) FROM {from_where}"), args.clone()).await?;
        if total == 0 {
            return Ok((0, Vec::new()));
        }
        let rows = self.fetch_all(&format!("SELECT {select} FROM {from_where} ORDER BY {order} LIMIT {PER_KIND}"), args).await?;
        Ok((total, rows))
    }

    /// Everything that waits for the caller on `today`, most pressing first.
    pub async fn my_work(&self, caller: &Caller<'_>, cal: &WorkCalendar, today: NaiveDate) -> Result<MyWork, StoreError> {
        let mut kinds = Vec::new();
        let mut items = Vec::new();
        let working_day = cal.is_working_day(today);
        for &kind in WorkKind::for_role(caller.role).iter().filter(|k| k.waits_on(working_day)) {
            let (mut total, mut rows) = match kind {
                WorkKind::ReportToFile => self.reports_to_file(caller.scope, cal, today).await?,
                _ => self.work_of_kind(caller, kind, today).await?,
            };
            // Money or a report the caller may not approve (a colleague whose password they set, or
            // the other way round; a password someone else set) is not their work.
            if matches!(kind, WorkKind::PaymentToApprove | WorkKind::SpendingToApprove | WorkKind::ReportToReview) {
                let mut kept = Vec::with_capacity(rows.len());
                for r in rows {
                    let asker = r.asker.clone().unwrap_or_default();
                    if self.hands_refusal(&asker, caller.username).await?.is_none() {
                        kept.push(r);
                    } else {
                        total -= 1;
                    }
                }
                rows = kept;
            }
            kinds.push(KindCount { kind, total });
            items.extend(rows.into_iter().map(|r| {
                let days_left =
                    r.due_on.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).map(|d| work::days_left(cal, today, d));
                WorkItem {
                    kind,
                    id: r.id,
                    estate_id: r.estate_id,
                    estate_name: r.estate_name,
                    project_id: r.project_id,
                    what: r.what,
                    detail: r.detail,
                    since: r.since,
                    due_on: r.due_on,
                    days_left,
                    region_code: r.region_code,
                }
            }));
        }
        work::order(&mut items);
        Ok(MyWork { today: today.to_string(), role: caller.role, kinds, items })
    }

    async fn work_of_kind(&self, caller: &Caller<'_>, kind: WorkKind, today: NaiveDate) -> Result<(i64, Vec<Row>), StoreError> {
        let scope = caller.scope;
        let day = today.to_string();
        // A project is in scope when one of its estates is.
        const PROJECT_IN_SCOPE: &str =
            "p.id IN (SELECT pe.project_id FROM project_estates pe JOIN estates e ON e.id = pe.estate_id WHERE {scope})";
        match kind {
            WorkKind::ApprovalStep => {
                self.work_rows(
                    &format!("approval_steps s JOIN projects p ON p.id = s.project_id WHERE s.started_on IS NOT NULL AND s.done_on IS NULL AND {PROJECT_IN_SCOPE}"),
                    "s.id, CAST(NULL AS BIGINT) AS estate_id, p.name AS estate_name, s.project_id, s.name AS what, p.code AS detail, s.started_on AS since, s.due_on",
                    "s.due_on, s.id",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::PaymentToApprove => {
                self.work_rows(
                    &format!("disbursements d JOIN projects p ON p.id = d.project_id WHERE d.status = 'requested' AND d.requested_by <> $1 AND {PROJECT_IN_SCOPE}"),
                    "d.id, CAST(NULL AS BIGINT) AS estate_id, p.name AS estate_name, d.project_id, d.payee AS what, CAST(d.amount AS TEXT) AS detail, \
                     SUBSTR(d.requested_at, 1, 10) AS since, CAST(NULL AS TEXT) AS due_on, d.requested_by AS asker",
                    "d.requested_at, d.id",
                    crate::args![caller.username],
                    scope,
                )
                .await
            }
            WorkKind::SpendingToApprove => {
                self.work_rows(
                    "upkeep_requests u JOIN estates e ON e.id = u.estate_id WHERE u.status = 'requested' AND u.requested_by <> $1 AND {scope}",
                    "u.id, u.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, u.memo AS what, CAST(u.amount AS TEXT) AS detail, \
                     SUBSTR(u.requested_at, 1, 10) AS since, CAST(NULL AS TEXT) AS due_on, u.requested_by AS asker",
                    "u.requested_at, u.id",
                    crate::args![caller.username],
                    scope,
                )
                .await
            }
            WorkKind::VoteOpen => {
                self.work_rows(
                    "decisions d JOIN estates e ON e.id = d.estate_id WHERE d.closed_at IS NULL AND {scope}",
                    "d.id, d.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, d.title AS what, \
                     CAST(d.ballot_count AS TEXT) || '/' || CAST((SELECT COUNT(*) FROM decision_electors x WHERE x.decision_id = d.id) AS TEXT) AS detail, \
                     SUBSTR(d.opens_at, 1, 10) AS since, SUBSTR(d.closes_at, 1, 10) AS due_on",
                    "d.closes_at, d.id",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::NoticeRunning => {
                // Running today, or starting within three days (to be posted on the board).
                let soon = (today + chrono::Days::new(3)).to_string();
                self.work_rows(
                    "notices n JOIN estates e ON e.id = n.estate_id WHERE n.ends_on >= $1 AND n.starts_on <= $2 AND {scope}",
                    "n.id, n.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, n.title AS what, \
                     CAST((SELECT COUNT(*) FROM notice_comments c WHERE c.notice_id = n.id AND c.answer IS NULL) AS TEXT) AS detail, \
                     n.starts_on AS since, n.ends_on AS due_on",
                    "n.ends_on, n.id",
                    crate::args![day, soon],
                    scope,
                )
                .await
            }
            WorkKind::SurveyOpen => {
                self.work_rows(
                    "surveys s JOIN estates e ON e.id = s.estate_id WHERE s.opens_on <= $1 AND s.closes_on >= $1 AND {scope}",
                    "s.id, s.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, s.title AS what, \
                     CAST((SELECT COUNT(*) FROM survey_answers a WHERE a.survey_id = s.id) AS TEXT) || '/' || CAST(e.households AS TEXT) AS detail, \
                     s.opens_on AS since, s.closes_on AS due_on",
                    "s.closes_on, s.id",
                    crate::args![day],
                    scope,
                )
                .await
            }
            WorkKind::RequestWarning => {
                // The request's id rides in the detail, after the kind and category: the item opens the request.
                self.work_rows(
                    "request_warnings w JOIN estates e ON e.id = w.estate_id JOIN service_requests r ON r.id = w.request_id \
                     WHERE w.acknowledged_at IS NULL AND {scope}",
                    "w.id, w.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, r.text AS what, \
                     w.kind || '|' || w.category || '|' || CAST(w.request_id AS TEXT) AS detail, SUBSTR(w.created_at, 1, 10) AS since, \
                     SUBSTR(w.created_at, 1, 10) AS due_on",
                    "w.id DESC",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::RequestDue => {
                // An organisation's staff: what is routed to their unit; a desk: what is routed to
                // its own office or supervised from it (挂牌督办).
                let (mine, arg): (&str, Arg) = match scope {
                    Scope::Attached { user_id } => ("r.unit_id = (SELECT m.unit_id FROM unit_members m WHERE m.user_id = $1)", (*user_id).into()),
                    Scope::Region(rc) => ("((r.unit_id IS NULL AND r.unit_region = $1) OR r.supervised_by = $1) AND {scope}", rc.as_str().into()),
                };
                self.work_rows(
                    &format!(
                        "service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.status IN ('submitted', 'in_progress', 'returned') AND {mine}"
                    ),
                    "r.id, r.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, r.text AS what, \
                     CASE WHEN r.supervised_by IS NULL THEN r.category ELSE 'supervised' END AS detail, \
                     SUBSTR(r.created_at, 1, 10) AS since, r.due_on",
                    "r.due_on, r.id",
                    vec![arg],
                    scope,
                )
                .await
            }
            WorkKind::RectificationDue => {
                self.work_rows(
                    "rectifications r JOIN estates e ON e.id = r.estate_id WHERE r.closed_at IS NULL AND {scope}",
                    "r.id, r.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, r.finding AS what, \
                     CASE WHEN r.supervised THEN 'supervised' ELSE '' END AS detail, SUBSTR(r.created_at, 1, 10) AS since, r.deadline AS due_on",
                    "r.deadline, r.id",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::NodeToReport => {
                // Late as "what is late" counts it: not finished by its planned end, or not started by its start.
                let late_only = if kind.late_only_for(caller.role) {
                    " AND (n.planned_end < $1 OR (n.actual_start IS NULL AND n.planned_start < $1))"
                } else {
                    ""
                };
                self.work_rows(
                    &format!("schedule_nodes n JOIN estates e ON e.id = n.estate_id WHERE n.actual_end IS NULL AND n.planned_start <= $1{late_only} AND {{scope}}"),
                    "n.id, n.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, n.name AS what, CAST(n.progress_pct AS TEXT) AS detail, \
                     n.planned_start AS since, n.planned_end AS due_on",
                    "n.planned_end, n.id",
                    crate::args![day],
                    scope,
                )
                .await
            }
            WorkKind::DesignChangeDue => {
                self.work_rows(
                    "design_changes c JOIN estates e ON e.id = c.estate_id LEFT JOIN users u ON u.username = c.requested_by \
                     WHERE c.delivered_on IS NULL AND {scope}",
                    "c.id, c.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, c.reason AS what, \
                     COALESCE(u.display_name, c.requested_by) AS detail, \
                     c.requested_on AS since, c.due_on",
                    "c.due_on, c.id",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::SiteLogToday => {
                let Some(author) = huanxin_domain::construction::log_author(caller.role) else { return Ok((0, Vec::new())) };
                self.work_rows(
                    "estates e WHERE e.status = 'in_construction' AND NOT EXISTS \
                     (SELECT 1 FROM site_logs l WHERE l.estate_id = e.id AND l.day = $1 AND l.author = $2) AND {scope}",
                    "e.id, e.id AS estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, e.name AS what, $2 AS detail, \
                     $1 AS since, $1 AS due_on",
                    "e.id",
                    crate::args![day, author.as_str()],
                    scope,
                )
                .await
            }
            WorkKind::MaterialToFollow => {
                self.work_rows(
                    "material_entries m JOIN estates e ON e.id = m.estate_id \
                     WHERE (m.accepted = FALSE OR m.certificate = FALSE) AND e.status = 'in_construction' AND {scope}",
                    "m.id, m.estate_id, e.name AS estate_name, CAST(NULL AS BIGINT) AS project_id, m.material AS what, \
                     CASE WHEN m.accepted THEN 'no_certificate' ELSE 'refused' END AS detail, m.recorded_on AS since, CAST(NULL AS TEXT) AS due_on",
                    "m.recorded_on, m.id",
                    Vec::new(),
                    scope,
                )
                .await
            }
            WorkKind::CheckpointToInspect => self.checkpoints_to_inspect(scope).await,
            WorkKind::AcceptanceToSign => self.acceptances_to_sign(caller).await,
            WorkKind::ReportToReview => {
                let Scope::Region(own) = scope else { return Ok((0, Vec::new())) };
                let reports = self.reports_awaiting(own).await?;
                let codes: Vec<String> = reports.iter().map(|r| r.region_code.clone()).collect();
                let names = self.region_names(&codes).await?;
                let rows: Vec<Row> = reports
                    .into_iter()
                    .take(PER_KIND)
                    .map(|r| Row {
                        id: r.id,
                        estate_id: None,
                        estate_name: names.get(&r.region_code).cloned().unwrap_or_else(|| r.region_code.clone()),
                        project_id: None,
                        what: r.form.clone(),
                        detail: r.period.clone(),
                        since: r.submitted_at.as_deref().and_then(huanxin_domain::statistics::china_day).map(|d| d.to_string()).unwrap_or_default(),
                        due_on: None,
                        // Four eyes, as the review checks it: not one's own colleague's.
                        asker: Some(r.submitted_by),
                        region_code: Some(r.region_code),
                    })
                    .collect();
                Ok((rows.len() as i64, rows))
            }
            // Counted with the calendar in `my_work`.
            WorkKind::ReportToFile => Ok((0, Vec::new())),
        }
    }

    /// The reports a county files that are due within [`work::REPORT_DUE_SOON_DAYS`] working days
    /// or late, for the periods of each form its desk watches, and not yet handed up.
    async fn reports_to_file(&self, scope: &Scope, cal: &WorkCalendar, today: NaiveDate) -> Result<(i64, Vec<Row>), StoreError> {
        use huanxin_domain::reports as forms;
        let Scope::Region(own) = scope else { return Ok((0, Vec::new())) };
        if forms::check_reporting_unit(own).is_err() {
            return Ok((0, Vec::new()));
        }
        let name = self.region_names(&[own.as_str().to_string()]).await?.remove(own.as_str()).unwrap_or_default();
        let mut rows = Vec::new();
        for form in forms::FORMS {
            // The form's deadline changes read once for every period watched.
            let changes = self.report_deadline_changes(own, form).await?;
            for period in forms::periods_watched(form, today) {
                let Some(due) = forms::due_with_changes(form, &period, &changes, cal) else { continue };
                if work::days_left(cal, today, due) > work::REPORT_DUE_SOON_DAYS {
                    continue;
                }
                let latest = self.report_versions(own, form, &period.code()).await?.into_iter().next();
                if latest.as_ref().and_then(|r| forms::Status::parse(&r.status)).is_some_and(|s| !s.editable()) {
                    continue;
                }
                rows.push(Row {
                    id: latest.map_or(0, |r| r.id),
                    estate_id: None,
                    estate_name: name.clone(),
                    project_id: None,
                    what: form.code.to_string(),
                    detail: period.code(),
                    since: forms::period_bounds(&period).map(|(s, _)| s.to_string()).unwrap_or_default(),
                    due_on: Some(due.to_string()),
                    asker: None,
                    region_code: Some(own.as_str().to_string()),
                });
            }
        }
        Ok((rows.len() as i64, rows))
    }

    /// Estates in approval or construction and the first checkpoint each has not yet passed (before
    /// the permit only the design and the choice of teams are checked).
    async fn checkpoints_to_inspect(&self, scope: &Scope) -> Result<(i64, Vec<Row>), StoreError> {
        let mut args = Vec::new();
        let region = crate::estates::scope_clause(scope, &mut args);
        let estates: Vec<(i64, String, String, String)> = self
            .fetch_all(
                &format!("SELECT e.id, e.name, e.status, SUBSTR(e.updated_at, 1, 10) FROM estates e WHERE e.status IN ('approved', 'in_construction') AND {region} ORDER BY e.id"),
                args.clone(),
            )
            .await?;
        let passed: Vec<(i64, String)> = self
            .fetch_all(
                &format!(
                    "SELECT i.estate_id, i.checkpoint FROM inspections i JOIN estates e ON e.id = i.estate_id \
                     WHERE i.passed = TRUE AND e.status IN ('approved', 'in_construction') AND {region}"
                ),
                args,
            )
            .await?;
        let passed: HashSet<(i64, String)> = passed.into_iter().collect();
        let mut rows: Vec<Row> = estates
            .into_iter()
            .filter_map(|(id, name, status, since)| {
                let next = Checkpoint::BEFORE_COMPLETION
                    .into_iter()
                    .filter(|c| status == "in_construction" || c.before_permit())
                    .find(|c| !passed.contains(&(id, c.as_str().to_string())))?;
                Some(Row {
                    id,
                    estate_id: Some(id),
                    estate_name: name.clone(),
                    project_id: None,
                    what: name,
                    detail: next.as_str().into(),
                    since,
                    due_on: None,
                    asker: None,
                    region_code: None,
                })
            })
            .collect();
        let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        rows.sort_by(|a, b| a.since.cmp(&b.since).then(a.id.cmp(&b.id)));
        rows.truncate(PER_KIND);
        Ok((total, rows))
    }

    /// Open acceptances (the estate not yet accepted) that need the caller's party and
    /// that party has not yet agreed to; residents' representatives sign from the phone.
    async fn acceptances_to_sign(&self, caller: &Caller<'_>) -> Result<(i64, Vec<Row>), StoreError> {
        let Some(mine) = Signatory::ALL.into_iter().find(|s| s.may_be_signed_by(caller.role) && *s != Signatory::Residents) else {
            return Ok((0, Vec::new()));
        };
        let mut args = Vec::new();
        let region = crate::estates::scope_clause(caller.scope, &mut args);
        let open: Vec<(i64, i64, String, String, String)> = self
            .fetch_all(
                &format!(
                    "SELECT a.id, a.estate_id, e.name, a.required, SUBSTR(a.opened_at, 1, 10) FROM acceptances a JOIN estates e ON e.id = a.estate_id \
                     WHERE e.status NOT IN ('accepted', 'reviewed', 'in_upkeep') AND {region} ORDER BY a.opened_at, a.id"
                ),
                args.clone(),
            )
            .await?;
        let agreed: Vec<(i64, String)> = self
            .fetch_all(
                &format!(
                    "SELECT s.acceptance_id, s.signatory FROM acceptance_signatures s JOIN acceptances a ON a.id = s.acceptance_id \
                     JOIN estates e ON e.id = a.estate_id WHERE s.agree = TRUE AND e.status NOT IN ('accepted', 'reviewed', 'in_upkeep') AND {region}"
                ),
                args,
            )
            .await?;
        let mut agreed_by: HashMap<i64, Vec<Signatory>> = HashMap::new();
        for (id, code) in agreed {
            if let Some(s) = Signatory::parse(&code) {
                agreed_by.entry(id).or_default().push(s);
            }
        }
        let mut rows: Vec<Row> = open
            .into_iter()
            .filter(|(id, _, _, required, _)| {
                let codes: Vec<String> = required.split(',').filter(|c| !c.trim().is_empty()).map(str::to_string).collect();
                let required = acceptance::required(&codes).unwrap_or_else(|_| Signatory::ALL.to_vec());
                acceptance::missing(&required, agreed_by.get(id).map(Vec::as_slice).unwrap_or(&[])).contains(&mine)
            })
            .map(|(id, estate_id, name, _, since)| Row {
                id,
                estate_id: Some(estate_id),
                estate_name: name.clone(),
                project_id: None,
                what: name,
                detail: mine.as_str().into(),
                since,
                due_on: None,
                asker: None,
                region_code: None,
            })
            .collect();
        let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        rows.truncate(PER_KIND);
        Ok((total, rows))
    }

    /// The regions one level below `region`: estates, this year's plan, starts and acceptances, and
    /// what is late in each, counted by the first digits of the estates' community codes.
    pub async fn regions_work(&self, region: &RegionCode, today: NaiveDate) -> Result<RegionsWork, StoreError> {
        use chrono::Datelike;
        let children = self.region_children(region).await?;
        let year = today.year();
        let mut rows: Vec<RegionWork> =
            children.iter().map(|c| RegionWork { code: c.code.clone(), name: c.name.clone(), ..RegionWork::default() }).collect();
        let Some(digits) = children.first().and_then(|c| RegionCode::parse(&c.code).ok()).map(|c| c.prefix().len()) else {
            return Ok(RegionsWork { today: today.to_string(), year, region: region.as_str().to_string(), rows });
        };
        let (lo, hi) = region.subtree_range();
        let in_region = "e.community_code >= $1 AND e.community_code < $2";
        let group = format!("SUBSTR(e.community_code, 1, {digits})");
        let day = today.to_string();
        let counts = [
            (
                format!(
                    "SELECT {group} AS g, COUNT(*) AS n FROM estates e WHERE {in_region} GROUP BY {group}"
                ),
                crate::args![lo.clone(), hi.clone()],
            ),
            (
                format!("SELECT {group} AS g, COUNT(*) AS n FROM estates e WHERE {in_region} AND e.status = 'in_construction' GROUP BY {group}"),
                crate::args![lo.clone(), hi.clone()],
            ),
            (
                // By the estates of each project: a county's projects are the county's, their estates lie in streets.
                format!(
                    "SELECT {group} AS g, COUNT(DISTINCT s.id) AS n FROM approval_steps s JOIN project_estates pe ON pe.project_id = s.project_id \
                     JOIN estates e ON e.id = pe.estate_id WHERE {in_region} AND s.done_on IS NULL AND s.due_on < $3 GROUP BY {group}"
                ),
                crate::args![lo.clone(), hi.clone(), day.clone()],
            ),
            (
                format!(
                    "SELECT {group} AS g, COUNT(*) AS n FROM schedule_nodes n JOIN estates e ON e.id = n.estate_id \
                     WHERE {in_region} AND n.actual_end IS NULL AND (n.planned_end < $3 OR (n.actual_start IS NULL AND n.planned_start < $3)) GROUP BY {group}"
                ),
                crate::args![lo.clone(), hi.clone(), day.clone()],
            ),
            (
                format!(
                    "SELECT {group} AS g, COUNT(*) AS n FROM rectifications r JOIN estates e ON e.id = r.estate_id \
                     WHERE {in_region} AND r.closed_at IS NULL AND r.deadline < $3 GROUP BY {group}"
                ),
                crate::args![lo, hi, day],
            ),
        ];
        let mut found: Vec<HashMap<String, i64>> = Vec::with_capacity(counts.len());
        for (sql, args) in counts {
            let pairs: Vec<(String, i64)> = self.fetch_all(&sql, args).await?;
            found.push(pairs.into_iter().collect());
        }
        // This year's plan, starts and acceptances as statistics keep them (the estates in this
        // year's plan; first started, accepted this year): a few kept rows, not the events walked.
        let kept: Vec<(String, String, i64)> = self
            .fetch_all(
                "SELECT region_code, indicator, value FROM stat_totals WHERE parent_code = $1 AND \
                 ((indicator = 'planned_estates' AND period = $2) OR (indicator IN ('started_estates', 'completed_estates') AND period = $3))",
                crate::args![region.as_str(), format!("{year:04}"), format!("{year:04}-00")],
            )
            .await?;
        let kept: HashMap<(String, String), i64> = kept.into_iter().map(|(r, i, v)| ((r, i), v)).collect();
        for row in rows.iter_mut() {
            let prefix = RegionCode::parse(&row.code).map(|c| c.prefix().to_string()).unwrap_or_default();
            // In the order of `counts` above.
            let n = |i: usize| found.get(i).and_then(|m| m.get(&prefix)).copied().unwrap_or(0);
            let k = |i: &str| kept.get(&(row.code.clone(), i.to_string())).copied().unwrap_or(0);
            (row.planned, row.started, row.accepted) = (k("planned_estates"), k("started_estates"), k("completed_estates"));
            row.estates = n(0);
            row.in_construction = n(1);
            row.late_approvals = n(2);
            row.late_nodes = n(3);
            row.late_rectifications = n(4);
        }
        Ok(RegionsWork { today: today.to_string(), year, region: region.as_str().to_string(), rows })
    }
}
