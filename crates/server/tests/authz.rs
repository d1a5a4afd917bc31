//! The authorization matrix: every API route, taken from the router's own table, for every role,
//! in its own county and against another county's. A route without a row below fails the test,
//! as does a route whose guard differs from its row, a role let past a guard it lacks, any 5xx,
//! and another county's estate or region answered or changed.

mod common;

use common::{TestApp, USERS};
use huanxin_domain::access::Permission::{self, *};
use std::collections::BTreeMap;

/// Who may call a route: anyone, any signed-in user, or holders of a permission.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Guard {
    Public,
    SignedIn,
    P(Permission),
}
use Guard::*;

/// Every route and its guard, as reviewed. A new route needs a row here.
const MATRIX: &[(&str, &str, Guard)] = &[
    ("GET", "/health", Public),
    ("GET", "/health/live", Public),
    ("GET", "/health/ready", Public),
    ("POST", "/auth/login", Public),
    ("POST", "/auth/logout", Public),
    ("POST", "/residents/bind", Public),
    ("POST", "/residents/otp", Public),
    ("POST", "/residents/otp/verify", Public),
    ("GET", "/public/estates/{code}", Public),
    ("GET", "/public/estates/{code}/photos/{id}", Public),
    ("GET", "/regions/{code}", P(ReadRegistry)),
    ("GET", "/regions/{code}/children", P(ReadRegistry)),
    ("GET", "/regions/{code}/subtree", P(ReadRegistry)),
    ("GET", "/estates", P(ReadRegistry)),
    ("GET", "/estates/export.xlsx", P(ReadRegistry)),
    ("GET", "/estates/summary", P(ReadRegistry)),
    ("GET", "/estates/{id}", P(ReadRegistry)),
    ("GET", "/estates/{id}/buildings", P(ReadRegistry)),
    ("GET", "/estates/{id}/devices", P(ReadRegistry)),
    ("GET", "/estates/{id}/alarms", P(ReadRegistry)),
    ("POST", "/estates/{id}/devices", P(WriteRegistry)),
    ("GET", "/alarms", P(ReadRegistry)),
    ("GET", "/alarms/map", P(ReadRegistry)),
    ("GET", "/alarms/ingest", P(ReadRegistry)),
    ("GET", "/alarms/dead-letters", P(WriteRegistry)),
    ("GET", "/alarms/{id}", P(ReadRegistry)),
    ("GET", "/alarms/{id}/snapshot", P(ReadRegistry)),
    ("GET", "/alarms/feed", P(ReadRegistry)),
    ("GET", "/alarms/response", P(ReadRegistry)),
    ("GET", "/alarms/{id}/notifications", P(ReadRegistry)),
    ("GET", "/alarms/{id}/photos", P(ReadRegistry)),
    ("GET", "/alarms/{id}/photos/{sha256}", P(ReadRegistry)),
    ("GET", "/estates/{id}/alarm-chains", P(ReadRegistry)),
    ("PUT", "/estates/{id}/alarm-chains/{alarm_type}", P(WriteRegistry)),
    ("GET", "/estates/{id}/alarm-rules", P(ReadRegistry)),
    ("POST", "/devices/import", P(WriteRegistry)),
    ("GET", "/devices/template.xlsx", P(ReadRegistry)),
    ("PUT", "/estates/{id}/alarm-rules/{kind}", P(WriteRegistry)),
    ("PUT", "/alarm-rules/{region}/{kind}", P(ManageMenu)),
    ("POST", "/alarms/{id}/photos", P(RespondAlarms)),
    ("POST", "/camera-events/{serial}/{key}", Public),
    ("POST", "/alarms/{id}/acknowledge", P(RespondAlarms)),
    ("POST", "/alarms/{id}/clear", P(RespondAlarms)),
    ("POST", "/alarms/{id}/close", P(RespondAlarms)),
    ("GET", "/devices/{id}", P(ReadRegistry)),
    ("GET", "/devices/{id}/telemetry", P(ReadRegistry)),
    ("GET", "/estates/{id}/dwellings", P(ReadRegistry)),
    ("GET", "/estates/{id}/lifecycle", P(ReadRegistry)),
    ("GET", "/estates/{id}/assessment", P(ReadRegistry)),
    ("GET", "/calendar/deadline", P(ReadRegistry)),
    ("GET", "/rankings", P(ReadRegistry)),
    ("GET", "/rankings/{id}", P(ReadRegistry)),
    ("GET", "/rankings/{id}/export.xlsx", P(ReadRegistry)),
    ("GET", "/plans", P(ReadRegistry)),
    ("GET", "/plans/{id}", P(ReadRegistry)),
    ("GET", "/projects", P(ReadRegistry)),
    ("GET", "/projects/{id}", P(ReadRegistry)),
    ("GET", "/projects/{id}/approval", P(ReadRegistry)),
    ("GET", "/approvals/late", P(ReadRegistry)),
    ("GET", "/late", P(ReadRegistry)),
    ("GET", "/statistics", P(ReadRegistry)),
    ("GET", "/statistics/months", P(ReadRegistry)),
    ("GET", "/statistics/counted", P(ReadRegistry)),
    ("GET", "/statistics/export.xlsx", P(ReadRegistry)),
    ("GET", "/statistics/places", P(ReadRegistry)),
    ("POST", "/statistics/chart.xlsx", P(ReadRegistry)),
    ("GET", "/work", P(ReadRegistry)),
    // Companies and residents watch no region: refused in the handler (403).
    ("GET", "/work/regions", P(ReadRegistry)),
    ("GET", "/requests", P(ReadRequests)),
    ("GET", "/requests/{id}", P(ReadRequests)),
    ("GET", "/requests/hotspots", P(ReadRegistry)),
    ("GET", "/request-warnings", P(ReadRequests)),
    ("POST", "/request-warnings/{id}/acknowledge", P(DispatchRequests)),
    ("POST", "/requests/hotline", P(DispatchRequests)),
    ("GET", "/requests/hotline/unmatched", P(DispatchRequests)),
    ("GET", "/requests/digest.xlsx", P(DispatchRequests)),
    ("POST", "/requests/hotline/unmatched/{id}/match", P(DispatchRequests)),
    ("GET", "/open311/clients", P(ManageUsers)),
    ("POST", "/open311/clients", P(ManageUsers)),
    ("POST", "/open311/clients/{id}/revoke", P(ManageUsers)),
    ("GET", "/grids", P(DispatchRequests)),
    ("POST", "/grids", P(DispatchRequests)),
    ("POST", "/grids/import", P(DispatchRequests)),
    ("PUT", "/grids/{id}/people", P(DispatchRequests)),
    ("GET", "/grids/coverage", P(DispatchRequests)),
    ("GET", "/grids/patrols", P(DispatchRequests)),
    ("GET", "/grids/workload", P(DispatchRequests)),
    ("POST", "/grids/{id}/opinion-rounds", P(DispatchRequests)),
    // The checklist is for anyone signed in; a round and patrols only for grid workers, and
    // mediations for desks and grid workers: refused in the handler (403).
    ("GET", "/grids/checklist", SignedIn),
    ("GET", "/grids/round", SignedIn),
    ("POST", "/grids/patrols", SignedIn),
    ("GET", "/estates/{id}/mediations", SignedIn),
    ("POST", "/estates/{id}/mediations", SignedIn),
    ("GET", "/estates/{id}/mediations/{mediation}/agreement", SignedIn),
    ("POST", "/requests/{id}/return", P(HandleRequests)),
    ("POST", "/requests/{id}/transfer", P(DispatchRequests)),
    ("POST", "/requests/{id}/merge", P(DispatchRequests)),
    ("POST", "/requests/{id}/category", P(DispatchRequests)),
    ("POST", "/requests/{id}/callback", P(DispatchRequests)),
    ("GET", "/request-units", P(DispatchRequests)),
    ("POST", "/request-units", P(ManageUsers)),
    ("POST", "/request-units/{id}/members", P(ManageUsers)),
    ("GET", "/request-categories", P(ReadRegistry)),
    ("PUT", "/request-categories/{region}/{code}", P(ManageMenu)),
    ("POST", "/request-categories/{region}/{code}/reset", P(ManageMenu)),
    ("POST", "/requests/suggest-category", P(ReadRequests)),
    ("GET", "/checklist", P(ReadRegistry)),
    ("GET", "/menu", P(ReadRegistry)),
    ("GET", "/estates/{id}/scheme", P(ReadRegistry)),
    ("GET", "/estates/{id}/scheme/versions/{no}", P(ReadRegistry)),
    ("GET", "/estates/{id}/scheme/diff", P(ReadRegistry)),
    ("GET", "/estates/{id}/scheme/export.xlsx", P(ReadRegistry)),
    ("GET", "/estates/{id}/scheme/export.pdf", P(ReadRegistry)),
    ("GET", "/estates/{id}/acceptance", P(ReadRegistry)),
    ("GET", "/estates/{id}/review", P(ReadRegistry)),
    ("GET", "/rectifications/summary", P(ReadRegistry)),
    ("GET", "/estates/{id}/archive", P(ReadRegistry)),
    ("GET", "/estates/{id}/photos", P(ReadRegistry)),
    ("GET", "/estates/{id}/archive/export.zip", P(ReadRegistry)),
    ("GET", "/documents/{id}/file", P(ReadRegistry)),
    ("GET", "/estates/{id}/construction", P(ReadRegistry)),
    ("GET", "/projects/{id}/progress", P(ReadRegistry)),
    ("POST", "/estates/{id}/construction/logs", P(ReadRegistry)),
    ("POST", "/rectifications/{id}/evidence", P(ReadRegistry)),
    ("GET", "/decision-rules/{region}", P(ReadRegistry)),
    ("GET", "/estates/{id}/decisions", P(ReadRegistry)),
    ("GET", "/decisions/{id}", P(ReadRegistry)),
    ("GET", "/decisions/{id}/verify", P(ReadRegistry)),
    ("GET", "/decisions/{id}/scheme", P(ReadRegistry)),
    ("GET", "/people", P(ReadRegistry)),
    ("GET", "/map/config", P(ReadRegistry)),
    ("GET", "/estates/{id}/notices", P(ReadRegistry)),
    ("GET", "/notices/{id}/scheme", P(ReadRegistry)),
    ("GET", "/residents/me", P(ReadRegistry)),
    ("POST", "/decisions/{id}/ballots", P(ReadRegistry)),
    ("POST", "/notices/{id}/comments", P(ReadRegistry)),
    ("GET", "/estates/{id}/surveys", P(ReadRegistry)),
    ("GET", "/surveys/{id}", P(ReadRegistry)),
    ("GET", "/surveys/{id}/results", P(ReadRegistry)),
    ("POST", "/surveys/{id}/answers", P(ReadRegistry)),
    ("POST", "/surveys/{id}/photos", P(ReadRegistry)),
    ("GET", "/public-pages/{region}", P(ReadRegistry)),
    ("GET", "/estates/{id}/public-page", P(ReadRegistry)),
    ("GET", "/archive-checklist", P(ReadRegistry)),
    ("GET", "/estates/{id}/requests", P(ReadRegistry)),
    ("POST", "/estates/{id}/requests", P(ReadRegistry)),
    ("GET", "/residents/requests", P(ReadRegistry)),
    ("POST", "/requests/{id}/rating", P(ReadRegistry)),
    ("GET", "/estates/{id}/funds", P(ReadRegistry)),
    ("GET", "/chain-heads", P(ReadRegistry)),
    ("POST", "/estates", P(WriteRegistry)),
    ("PUT", "/estates/{id}", P(WriteRegistry)),
    ("POST", "/estates/{id}/buildings", P(WriteRegistry)),
    ("POST", "/imports/{kind}", P(WriteRegistry)),
    ("GET", "/imports/{kind}/template.xlsx", P(WriteRegistry)),
    ("GET", "/imports/{kind}/template.csv", P(WriteRegistry)),
    ("GET", "/users", P(ManageUsers)),
    ("POST", "/users", P(ManageUsers)),
    ("POST", "/users/{id}/password", P(ManageUsers)),
    ("POST", "/users/{id}/estates", P(ManageUsers)),
    ("GET", "/audit", P(ReadAudit)),
    ("POST", "/estates/{id}/reveal", P(ReadPersonalData)),
    ("POST", "/estates/{id}/dwellings/{dwelling_id}/reveal", P(ReadPersonalData)),
    ("PUT", "/estates/{id}/assessment", P(Assess)),
    ("POST", "/estates/{id}/lifecycle", P(AdvanceStage)),
    ("POST", "/rankings", P(AdvanceStage)),
    ("POST", "/plans", P(AdvanceStage)),
    ("POST", "/plans/{id}/estates", P(AdvanceStage)),
    ("POST", "/plans/{id}/carry-over", P(AdvanceStage)),
    ("POST", "/projects", P(AdvanceStage)),
    ("POST", "/projects/{id}/parties", P(AdvanceStage)),
    ("POST", "/projects/{id}/approval", P(AdvanceStage)),
    ("POST", "/projects/{id}/approval/{code}", P(AdvanceStage)),
    ("POST", "/estates/{id}/construction/permit-exception", P(AdvanceStage)),
    ("POST", "/estates/{id}/scheme/versions", P(AdvanceStage)),
    ("POST", "/estates/{id}/acceptance", P(AdvanceStage)),
    ("GET", "/estates/{id}/acceptance/candidates", P(AdvanceStage)),
    ("PUT", "/estates/{id}/acceptance/representatives", P(AdvanceStage)),
    ("POST", "/estates/{id}/review", P(AdvanceStage)),
    ("POST", "/rectifications/{id}/close", P(AdvanceStage)),
    ("PUT", "/estates/{id}/scheme", P(DraftScheme)),
    ("PUT", "/menu/{region}/{code}", P(ManageMenu)),
    ("PUT", "/checklist/{region}/{code}", P(ManageMenu)),
    ("PUT", "/decision-rules/{region}", P(ManageMenu)),
    ("PUT", "/public-pages/{region}", P(ManageMenu)),
    ("PUT", "/estates/{id}/public-page", P(ManageMenu)),
    ("PUT", "/archive-checklist/{region}", P(ManageMenu)),
    ("POST", "/estates/{id}/acceptance/signatures", P(SignAcceptance)),
    ("POST", "/estates/{id}/archive", P(FileDocuments)),
    ("POST", "/estates/{id}/construction/nodes", P(RecordConstruction)),
    ("PUT", "/schedule-nodes/{id}", P(RecordConstruction)),
    ("POST", "/estates/{id}/construction/inspections", P(RecordConstruction)),
    ("POST", "/estates/{id}/construction/design-changes", P(RecordConstruction)),
    ("POST", "/design-changes/{id}/deliver", P(RecordConstruction)),
    ("POST", "/estates/{id}/construction/materials", P(RecordConstruction)),
    ("POST", "/estates/{id}/decisions", P(ConsultResidents)),
    ("POST", "/decisions/{id}/close", P(ConsultResidents)),
    ("POST", "/estates/{id}/notices", P(ConsultResidents)),
    ("POST", "/notice-comments/{id}/answer", P(ConsultResidents)),
    ("POST", "/estates/{id}/invitations", P(ConsultResidents)),
    ("POST", "/estates/{id}/invitations.pdf", P(ConsultResidents)),
    ("GET", "/estates/{id}/residents", P(ConsultResidents)),
    ("POST", "/estates/{id}/residents/verify", P(ConsultResidents)),
    ("POST", "/requests/{id}/handle", P(HandleRequests)),
    ("POST", "/estates/{id}/surveys", P(ConsultResidents)),
    ("GET", "/decisions/{id}/ballots", P(ReadResidentsAnswers)),
    ("GET", "/surveys/{id}/export.xlsx", P(ReadResidentsAnswers)),
    ("GET", "/allocations", P(ManageFunds)),
    ("POST", "/allocations", P(ManageFunds)),
    ("POST", "/funds/subsidy-split", P(ManageFunds)),
    ("GET", "/reports/forms", P(ReportStatistics)),
    ("GET", "/reports/sheet", P(ReportStatistics)),
    ("PUT", "/reports/sheet", P(ReportStatistics)),
    ("GET", "/reports/sheet.xlsx", P(ReportStatistics)),
    ("GET", "/reports/filings", P(ReportStatistics)),
    ("GET", "/reports/awaiting", P(ReportStatistics)),
    ("POST", "/reports/{id}/submit", P(ReportStatistics)),
    ("POST", "/reports/{id}/review", P(ReportStatistics)),
    ("POST", "/reports/{id}/correct", P(ReportStatistics)),
    ("PUT", "/reports/deadlines", P(ManageUsers)),
    ("PUT", "/evaluations/scheme", P(ManageUsers)),
    ("GET", "/evaluations/scheme", P(ReportStatistics)),
    ("GET", "/evaluations", P(ReportStatistics)),
    ("GET", "/evaluations/export.xlsx", P(ReportStatistics)),
    ("GET", "/evaluations/sheet", P(ReportStatistics)),
    ("GET", "/evaluations/documents", P(ReportStatistics)),
    ("PUT", "/evaluations/sheet", P(ReportStatistics)),
    ("POST", "/evaluations/submit", P(ReportStatistics)),
    ("POST", "/evaluations/review", P(ReportStatistics)),
    ("PUT", "/projects/{id}/contract", P(ManageFunds)),
    ("GET", "/projects/{id}/funds", P(ManageFunds)),
    ("GET", "/disbursements", P(ManageFunds)),
    ("POST", "/disbursements", P(ManageFunds)),
    ("POST", "/disbursements/{id}/approve", P(ManageFunds)),
    ("POST", "/ledger/{seq}/reverse", P(ManageFunds)),
    ("GET", "/ledger/verify", P(ManageFunds)),
    ("GET", "/ledger/verify/job", P(ManageFunds)),
    ("POST", "/ledger/verify/job", P(ManageFunds)),
    ("GET", "/ledger/export.xlsx", P(ManageFunds)),
    ("GET", "/projects/{id}/funding-plan", P(ManageFunds)),
    ("PUT", "/projects/{id}/funding-plan", P(ManageFunds)),
    ("GET", "/projects/{id}/contributions", P(ManageFunds)),
    ("POST", "/projects/{id}/contributions", P(ManageFunds)),
    ("GET", "/projects/{id}/reconciliation", P(ManageFunds)),
    ("GET", "/projects/{id}/payment-bases", P(ManageFunds)),
    ("GET", "/projects/{id}/payable-allocations", P(ManageFunds)),
    ("GET", "/funds/reconciliation", P(ManageFunds)),
    ("GET", "/funds/report", P(ManageFunds)),
    ("GET", "/funds/by-source", P(ManageFunds)),
    ("GET", "/funds/report.xlsx", P(ManageFunds)),
    ("GET", "/estates/{id}/upkeep", P(ManageFunds)),
    ("POST", "/estates/{id}/upkeep/credits", P(ManageFunds)),
    ("POST", "/estates/{id}/upkeep/spendings", P(ManageFunds)),
    ("POST", "/upkeep-requests/{id}/approve", P(ManageFunds)),
    ("POST", "/upkeep-requests/{id}/refuse", P(ManageFunds)),
    ("GET", "/auth/me", SignedIn),
    ("POST", "/auth/password", SignedIn),
    ("GET", "/auth/roles", SignedIn),
];

/// The region and estate a request is made against.
#[derive(Clone, Copy)]
struct Place<'a> {
    estate: i64,
    region: &'a str,
}

/// The path with its parameters filled for `place`: estates and regions from it, other ids that
/// exist nowhere (the guard answers before the handler looks them up).
fn fill(path: &str, place: Place) -> String {
    let mut out = String::new();
    let mut previous = "";
    for segment in path.split('/').skip(1) {
        let value = match segment {
            "{id}" if previous == "estates" => place.estate.to_string(),
            "{region}" => place.region.to_string(),
            "{code}" if previous == "regions" || previous == "menu" || previous == "checklist" => place.region.to_string(),
            "{kind}" if path.contains("alarm-rules") => "gas_detector".to_string(),
            "{kind}" => "estates".to_string(),
            "{no}" => "1".to_string(),
            s if s.starts_with('{') => "987654321".to_string(),
            s => s.to_string(),
        };
        out.push('/');
        out.push_str(&value);
        previous = segment;
    }
    // Required query parameters, so that the scope is what answers; a region's settings are read by
    // a query parameter, which the place decides too.
    if path.ends_with("/scheme/diff") {
        out.push_str("?from=1&to=2");
    }
    if ["/menu", "/checklist", "/archive-checklist"].contains(&path) {
        out.push_str(&format!("?region={}", place.region));
    }
    out
}

/// True when the route names an estate or a region that the place decides.
fn placed(path: &str) -> bool {
    path.starts_with("/estates/{id}") || path.contains("{region}") || ["/menu", "/checklist", "/archive-checklist"].contains(&path)
}

async fn call(c: &common::Client, method: &str, path: &str) -> (u16, String) {
    let url = format!("/api/v1{path}");
    let req = match method {
        "GET" => c.req(reqwest::Method::GET, &url),
        "POST" => c.req(reqwest::Method::POST, &url).json(&serde_json::json!({})),
        "PUT" => c.req(reqwest::Method::PUT, &url).json(&serde_json::json!({})),
        other => panic!("no such method in the matrix: {other}"),
    };
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    // A live feed never ends: its status is the answer.
    if res.headers().get("content-type").is_some_and(|t| t == "text/event-stream") {
        return (status, String::new());
    }
    (status, res.text().await.unwrap_or_default())
}

/// The guard's own refusal (code `auth.may_not` naming the permission), as opposed to a handler's
/// 403 (a designer may read construction but not plan the schedule: the handler says so).
fn refused_by_guard(status: u16, body: &str, guard: Guard) -> bool {
    let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match guard {
        P(p) => status == 403 && problem["code"] == "auth.may_not" && problem["params"]["permission"] == p.as_code().as_str(),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_every_role_own_county_and_another() {
    let app = TestApp::spawn(common::Engine::Sqlite).await;
    let routes = huanxin_server::api_routes();

    // The table and the router agree, route for route.
    let declared: BTreeMap<(&str, &str), Guard> = routes
        .iter()
        .map(|r| {
            let guard = match (r.public, r.permission) {
                (true, _) => Public,
                (false, None) => SignedIn,
                (false, Some(p)) => P(p),
            };
            ((r.method, r.path), guard)
        })
        .collect();
    let expected: BTreeMap<(&str, &str), Guard> = MATRIX.iter().map(|(m, p, g)| ((*m, *p), *g)).collect();
    let unlisted: Vec<_> = declared.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(unlisted.is_empty(), "routes without a row in the authorization matrix: {unlisted:?}");
    let gone: Vec<_> = expected.keys().filter(|k| !declared.contains_key(*k)).collect();
    assert!(gone.is_empty(), "rows for routes the router does not have: {gone:?}");
    let changed: Vec<_> = declared.iter().filter(|(k, g)| expected[*k] != **g).collect();
    assert!(changed.is_empty(), "routes whose guard differs from the matrix: {changed:?}");

    let own = Place { estate: app.attached_estate, region: "350521000000" };
    let other = Place { estate: app.other_county_estate, region: "350502000000" };
    let mut failures = Vec::new();

    // Not signed in: only the public routes answer.
    let anonymous = app.anonymous();
    for (method, path, guard) in MATRIX {
        let (status, body) = call(&anonymous, method, &fill(path, own)).await;
        let ok = match guard {
            Public => status != 401 && status < 500,
            _ => status == 401,
        };
        if !ok {
            failures.push(format!("anonymous {method} {path}: {status} {}", body.chars().take(120).collect::<String>()));
        }
    }

    for (user, role, region) in USERS {
        let c = app.client(user).await;
        let home_is_other = *user == "other_county_admin";
        // The ministry, the province and the city hold both counties.
        let holds_both = ["000000000000", "350000000000", "350500000000"].contains(region);
        for (method, path, guard) in MATRIX {
            // Signing out or binding as a signed-in user is not what the matrix is about.
            if *guard == Public {
                continue;
            }
            let allowed = match guard {
                P(p) => role.allows(*p),
                _ => true,
            };
            let (status, body) = call(&c, method, &fill(path, if home_is_other { other } else { own })).await;
            let what = format!("{user} {method} {path}: {status} {}", body.chars().take(160).collect::<String>());
            if status >= 500 {
                failures.push(format!("server error: {what}"));
            } else if !allowed && !refused_by_guard(status, &body, *guard) {
                failures.push(format!("let past the guard: {what}"));
            } else if allowed && refused_by_guard(status, &body, *guard) {
                failures.push(format!("refused by the guard although allowed: {what}"));
            }
            // The same route against the other county's estate or region: never answered or changed.
            if allowed && placed(path) && !holds_both {
                let (status, body) = call(&c, method, &fill(path, if home_is_other { own } else { other })).await;
                if !(300..500).contains(&status) || (*method == "GET" && status != 403 && status != 404) {
                    failures
                        .push(format!("another county's: {user} {method} {path}: {status} {}", body.chars().take(160).collect::<String>()));
                }
            }
        }
    }
    app.stop().await;
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}
