//! 我的工作台 (my work): what waits for each role, most pressing first, with its deadline counted
//! in working days. Which kinds of work a role sees, and the order of a list, are decided here.

use crate::access::Role;
use crate::calendar::WorkCalendar;
use chrono::NaiveDate;
use serde::Serialize;
use std::cmp::Ordering;

/// A kind of work that waits for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// An approval step started and not finished (its limit in working days).
    ApprovalStep,
    /// A public notice running or about to start: post it, answer objections, close it.
    NoticeRunning,
    /// An owners' vote open: collect and enter paper ballots, close it when it ends.
    VoteOpen,
    /// A needs or satisfaction survey open: collect answers.
    SurveyOpen,
    /// A milestone payment asked for by a colleague, waiting for a second person.
    PaymentToApprove,
    /// A spending from a maintenance fund asked for by a colleague, waiting for a second person.
    SpendingToApprove,
    /// A resident's service request not yet resolved.
    RequestDue,
    /// An early warning from requests (a danger named, a pile-up) not yet taken note of.
    RequestWarning,
    /// A rectification task of the six-month review not yet closed.
    RectificationDue,
    /// A schedule node to report progress on (for the bureau: only nodes behind plan).
    NodeToReport,
    /// A design change not yet delivered (two working days).
    DesignChangeDue,
    /// Today's site log not yet written for an estate in construction.
    SiteLogToday,
    /// A checkpoint of an estate in construction not yet passed.
    CheckpointToInspect,
    /// A material entry refused or without its certificate, on an estate still in construction.
    MaterialToFollow,
    /// An acceptance that still needs the caller's party's signature.
    AcceptanceToSign,
    /// A county's statistical report due within five working days or late, not yet submitted.
    ReportToFile,
    /// A report of a region below submitted and waiting for the caller's region to review it.
    ReportToReview,
}

/// A report falls on a county's desk this many working days before it is due.
pub const REPORT_DUE_SOON_DAYS: i64 = 5;

impl WorkKind {
    /// The API code.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::ApprovalStep => "approval_step",
            WorkKind::NoticeRunning => "notice_running",
            WorkKind::VoteOpen => "vote_open",
            WorkKind::SurveyOpen => "survey_open",
            WorkKind::PaymentToApprove => "payment_to_approve",
            WorkKind::SpendingToApprove => "spending_to_approve",
            WorkKind::RequestDue => "request_due",
            WorkKind::RequestWarning => "request_warning",
            WorkKind::RectificationDue => "rectification_due",
            WorkKind::NodeToReport => "node_to_report",
            WorkKind::DesignChangeDue => "design_change_due",
            WorkKind::SiteLogToday => "site_log_today",
            WorkKind::CheckpointToInspect => "checkpoint_to_inspect",
            WorkKind::MaterialToFollow => "material_to_follow",
            WorkKind::AcceptanceToSign => "acceptance_to_sign",
            WorkKind::ReportToFile => "report_to_file",
            WorkKind::ReportToReview => "report_to_review",
        }
    }

    /// The kinds of work a role's desk lists, in the order its page groups them. Government desks
    /// above the county review their regions' reports and watch their regions (see the regions
    /// overview); residents use the phone pages.
    pub fn for_role(role: Role) -> &'static [WorkKind] {
        use WorkKind::*;
        match role {
            Role::CountyAdmin | Role::CountyStaff => &[
                ApprovalStep,
                PaymentToApprove,
                SpendingToApprove,
                VoteOpen,
                NoticeRunning,
                RequestWarning,
                RequestDue,
                RectificationDue,
                NodeToReport,
                DesignChangeDue,
                AcceptanceToSign,
                ReportToFile,
            ],
            Role::StreetStaff | Role::CommunityStaff => {
                &[RequestWarning, NoticeRunning, VoteOpen, SurveyOpen, RequestDue, AcceptanceToSign]
            }
            // Grid workers collect survey answers and paper ballots door to door, and go to see a warning.
            Role::GridWorker => &[RequestWarning, SurveyOpen, VoteOpen],
            // Each company lists only what it can act on: the contractor reports nodes (the designer
            // delivers design changes, the supervisor inspects).
            Role::Contractor => &[NodeToReport, SiteLogToday, AcceptanceToSign, RequestDue],
            Role::Supervisor => &[CheckpointToInspect, MaterialToFollow, SiteLogToday, AcceptanceToSign],
            Role::Designer => &[DesignChangeDue, AcceptanceToSign],
            Role::PropertyCompany => &[RequestDue, RectificationDue],
            Role::Utility => &[RequestDue],
            Role::MinistryAdmin | Role::MinistryStaff | Role::ProvinceAdmin | Role::ProvinceStaff | Role::CityAdmin | Role::CityStaff => {
                &[ReportToReview]
            }
            Role::Resident => &[],
        }
    }

    /// True when this kind waits on `day`: a day's site log is due on working days only (sites
    /// rest on weekends and holidays of the official calendar).
    pub fn waits_on(self, working_day: bool) -> bool {
        working_day || self != WorkKind::SiteLogToday
    }

    /// True when the bureau's desk sees only the late ones of this kind (a county has hundreds of
    /// open schedule nodes; the contractor reports them, the bureau follows those behind plan).
    pub fn late_only_for(self, role: Role) -> bool {
        self == WorkKind::NodeToReport && matches!(role, Role::CountyAdmin | Role::CountyStaff)
    }
}

/// One thing that waits: what, where, since when and by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkItem {
    pub kind: WorkKind,
    /// The record's id (a step's project, a notice, a vote, a payment …).
    pub id: i64,
    pub estate_id: Option<i64>,
    pub estate_name: String,
    pub project_id: Option<i64>,
    /// What it is, in the record's own words (a notice's title, a node's name, a finding).
    pub what: String,
    /// A short figure where one helps: "ballots 120 / 300", a party to sign for, a checkpoint.
    pub detail: String,
    /// The day it began to wait (YYYY-MM-DD).
    pub since: String,
    /// The day it is due, if it has a deadline.
    pub due_on: Option<String>,
    /// Working days from today to the deadline: 0 is today, negative is late.
    pub days_left: Option<i64>,
    /// The region a report is of (reports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
}

/// Working days from `today` to `due`: 0 when due today, negative when late (the count of working
/// days it has been late), positive when still ahead.
pub fn days_left(cal: &WorkCalendar, today: NaiveDate, due: NaiveDate) -> i64 {
    cal.working_days_between(today, due)
}

/// Orders a list: items with a deadline first, the earliest (most late) first; then those without
/// one, the longest waiting first; ties by kind and id so the order is stable between calls.
pub fn order(items: &mut [WorkItem]) {
    items.sort_by(|a, b| {
        let due = match (&a.due_on, &b.due_on) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        due.then_with(|| a.since.cmp(&b.since)).then_with(|| a.kind.as_str().cmp(b.kind.as_str())).then_with(|| a.id.cmp(&b.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_site_log_is_due_on_a_rest_day() {
        assert!(WorkKind::SiteLogToday.waits_on(true) && !WorkKind::SiteLogToday.waits_on(false));
        assert!(WorkKind::NodeToReport.waits_on(false), "other work waits whatever the day");
    }
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn item(id: i64, since: &str, due: Option<&str>) -> WorkItem {
        WorkItem {
            kind: WorkKind::RequestDue,
            id,
            estate_id: None,
            estate_name: String::new(),
            project_id: None,
            what: String::new(),
            detail: String::new(),
            since: since.into(),
            due_on: due.map(Into::into),
            days_left: None,
            region_code: None,
        }
    }

    #[test]
    fn days_left_counts_working_days_both_ways() {
        let cal = WorkCalendar::shipped().unwrap();
        // Friday 2026-12-04; Monday 2026-12-07 is one working day ahead.
        assert_eq!(days_left(&cal, d("2026-12-04"), d("2026-12-04")), 0);
        assert_eq!(days_left(&cal, d("2026-12-04"), d("2026-12-07")), 1);
        assert_eq!(days_left(&cal, d("2026-12-07"), d("2026-12-04")), -1);
        // National Day week: 2026-09-30 (Wednesday) to 2026-10-09 is one working day (10-09).
        assert_eq!(days_left(&cal, d("2026-09-30"), d("2026-10-09")), cal.working_days_between(d("2026-09-30"), d("2026-10-09")));
    }

    #[test]
    fn late_first_then_due_then_waiting_longest() {
        let mut v = vec![
            item(1, "2026-11-01", None),
            item(2, "2026-11-20", Some("2026-12-10")),
            item(3, "2026-10-01", None),
            item(4, "2026-11-25", Some("2026-11-30")),
        ];
        order(&mut v);
        assert_eq!(v.iter().map(|i| i.id).collect::<Vec<_>>(), vec![4, 2, 3, 1]);
    }

    #[test]
    fn every_desk_has_work_and_residents_none() {
        for role in Role::ALL {
            assert_eq!(WorkKind::for_role(role).is_empty(), role == Role::Resident, "{role:?}");
        }
        // Reports fall on the desks that file and review them.
        for role in Role::ALL {
            let reports = WorkKind::for_role(role).iter().any(|k| matches!(k, WorkKind::ReportToFile | WorkKind::ReportToReview));
            assert_eq!(reports, role.allows(crate::access::Permission::ReportStatistics), "{role:?}");
        }
    }

    proptest! {
        #[test]
        fn days_left_is_antisymmetric(a in 0i64..800, b in 0i64..800) {
            let cal = WorkCalendar::shipped().unwrap();
            let base = d("2025-01-01");
            let x = base + chrono::Days::new(a as u64);
            let y = base + chrono::Days::new(b as u64);
            prop_assert_eq!(days_left(&cal, x, y), -days_left(&cal, y, x));
            // Never late before the due day, never ahead after it.
            let left = days_left(&cal, x, y);
            prop_assert!(if y >= x { left >= 0 } else { left <= 0 }, "{} days left from {} to {}", left, x, y);
        }

        #[test]
        fn order_puts_every_dated_item_before_every_undated(dues in proptest::collection::vec(proptest::option::of(0u32..60), 0..30)) {
            let mut v: Vec<WorkItem> = dues.iter().enumerate().map(|(i, d)| {
                item(i as i64, "2026-11-01", d.map(|n| format!("2026-12-{:02}", n % 28 + 1)).as_deref())
            }).collect();
            order(&mut v);
            let first_undated = v.iter().position(|i| i.due_on.is_none()).unwrap_or(v.len());
            prop_assert!(v[first_undated..].iter().all(|i| i.due_on.is_none()));
            prop_assert!(v[..first_undated].windows(2).all(|w| w[0].due_on <= w[1].due_on));
        }
    }
}
