//! The demo in full swing: built through the API on a fresh database, it passes the ledger and
//! ballot checks, holds a record at every stage it promises, and comes out the same twice (every
//! table's count, the ledger's chain head, each decision's counts).

use huanxin_domain::access::Role;
use huanxin_domain::work::WorkKind;
use huanxin_server::demo::{self, DemoSummary, Size};
use huanxin_server::{AppState, Config};
use huanxin_store::Db;
use serde_json::Value;

const TABLES: &[&str] = &[
    "estates",
    "estate_events",
    "assessments",
    "assessment_findings",
    "rankings",
    "annual_plans",
    "plan_estates",
    "surveys",
    "survey_answers",
    "scheme_items",
    "scheme_versions",
    "notices",
    "notice_comments",
    "decisions",
    "ballots",
    "projects",
    "project_parties",
    "approval_steps",
    "schedule_nodes",
    "inspections",
    "design_changes",
    "material_entries",
    "site_logs",
    "acceptances",
    "acceptance_signatures",
    "reviews",
    "rectifications",
    "documents",
    "allocations",
    "disbursements",
    "contributions",
    "ledger_entries",
    "upkeep_movements",
    "service_requests",
    "resident_dwellings",
];

/// A day in the past, so that no step of the history is clamped to the real clock.
fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

async fn build() -> (DemoSummary, Vec<(String, i64)>, Vec<String>, Db, std::path::PathBuf, AppState) {
    let dir = std::env::temp_dir().join(format!("huanxin-demo-{}", uuid::Uuid::new_v4().simple()));
    let config = Config { data_dir: dir.clone(), regions: "350521,350502,350582".into(), ..Config::default() };
    let db = huanxin_server::open_database(&config).await.unwrap();
    let st = AppState::new(db.clone(), config).unwrap();
    let made = demo::load_demo(&st, 2026, today(), Some(Size::small()), Box::new(|_| {})).await.unwrap();
    let mut counts = Vec::new();
    for t in TABLES {
        counts.push((t.to_string(), db.scalar(&format!("SELECT COUNT(*) FROM {t}"), vec![]).await.unwrap()));
    }
    let mut heads = Vec::new();
    // The ledger is written one entry after another: its head is the same each time. Ballots go
    // 64 at a time through the group writer, so their order in a chain (and the chain's head) may
    // differ; each decision's running counts may not.
    let counted = "SELECT CAST(ballot_count AS TEXT) || ' ' || CAST(agree_area AS TEXT) || ' ' || CAST(agree_owners AS TEXT) || ' ' || \
                   CAST(disagree_area AS TEXT) || ' ' || CAST(abstain_owners AS TEXT) || ' ' || COALESCE(CAST(passed AS TEXT), '-') \
                   FROM decisions ORDER BY id";
    for q in ["SELECT hash FROM ledger_entries ORDER BY seq DESC LIMIT 1", counted] {
        heads.extend(texts(&db, q).await);
    }
    (made, counts, heads, db, dir, st)
}

async fn texts(db: &Db, sql: &str) -> Vec<String> {
    db.fetch_all::<(String,)>(sql, vec![]).await.unwrap().into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_full_swing_is_built_through_the_api_and_the_same_twice() {
    let (first, counts, heads, db, dir, st) = build().await;
    // Every table the programme promises holds records.
    for (t, n) in &counts {
        assert!(*n > 0, "the demo left {t} empty");
    }
    // Stages across the lifecycle, each as the walk left it.
    for status in
        ["in_upkeep", "reviewed", "accepted", "in_construction", "decided", "notice_1", "notice_2", "in_plan", "ranked", "assessed"]
    {
        let n = db.scalar("SELECT COUNT(*) FROM estates WHERE status = $1", huanxin_store::args![status]).await.unwrap();
        assert!(n > 0, "no estate at {status}");
    }
    // The chains are whole.
    assert!(db.verify_ledger().await.unwrap().broken_at.is_none(), "the ledger is intact");
    let scope = huanxin_domain::access::Scope::Region(huanxin_domain::regions::RegionCode::country());
    for id in db.decision_ids().await.unwrap() {
        let v = db.verify_ballots(db.decision_in_scope(&scope, id).await.unwrap()).await.unwrap();
        assert!(v.broken_at.is_none(), "decision {id}'s ballots are intact");
    }
    // History is dated in the past: the first events are a year before the day built.
    let first_event = texts(&db, "SELECT MIN(at) FROM estate_events").await;
    assert!(first_event[0].as_str() < "2025-12-01", "history starts in the past: {first_event:?}");
    assert!(huanxin_store::clock::utc_now().date_naive() > today(), "the clock runs again");
    statistics_follow_the_demo(&db).await;
    each_role_finds_its_work(&st, &db).await;
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);

    let (second, counts2, heads2, db2, dir2, _) = build().await;
    assert_eq!(first, second);
    assert_eq!(counts, counts2);
    assert_eq!(heads, heads2, "the ledger's chain head and every decision's counts are the same");
    db2.close().await;
    let _ = std::fs::remove_dir_all(dir2);
}

async fn count(db: &Db, sql: &str, args: Vec<huanxin_store::Arg>) -> i64 {
    db.scalar(sql, args).await.unwrap()
}

fn total(work: &Value, kind: &str) -> i64 {
    work["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == kind).map(|k| k["total"].as_i64().unwrap()).unwrap_or(-1)
}

fn items<'a>(work: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    work["items"].as_array().unwrap().iter().filter(move |i| i["kind"] == kind)
}

/// 我的工作台 on the demo: each role's kinds, totals equal to the records counted directly, the
/// order (late first), deadlines in working days, scope and four eyes; the regions one level down;
/// the county's list of requests.
async fn each_role_finds_its_work(st: &AppState, db: &Db) {
    let mut desk = demo::desk::Desk::new(st);
    for u in [
        "county_admin",
        "county_staff",
        "contractor",
        "supervisor",
        "designer",
        "property_company",
        "street_staff",
        "grid_worker",
        "city_admin",
        "resident",
    ] {
        let id = count(db, "SELECT id FROM users WHERE username = $1", huanxin_store::args![u]).await;
        desk.sign_in(st, u, id).await.unwrap();
    }
    let day = huanxin_store::today().to_string();
    let hui_an = huanxin_store::args!["350521000000", "350522000000"];
    let county = desk.get("county_admin", "/work").await.unwrap();
    let kinds: Vec<&str> = county["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    let expected: Vec<&str> = WorkKind::for_role(Role::CountyAdmin).iter().map(|k| k.as_str()).collect();
    assert_eq!(kinds, expected);
    // Each total is what the records say, counted here without the work page's queries.
    let truth = [
        ("vote_open", "SELECT COUNT(*) FROM decisions d JOIN estates e ON e.id = d.estate_id WHERE d.closed_at IS NULL AND e.community_code >= $1 AND e.community_code < $2"),
        ("rectification_due", "SELECT COUNT(*) FROM rectifications r JOIN estates e ON e.id = r.estate_id WHERE r.closed_at IS NULL AND e.community_code >= $1 AND e.community_code < $2"),
        ("request_due", "SELECT COUNT(*) FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.status IN ('submitted', 'in_progress', 'returned') \
            AND ((r.unit_id IS NULL AND r.unit_region = '350521000000') OR r.supervised_by = '350521000000') AND e.community_code >= $1 AND e.community_code < $2"),
        ("approval_step", "SELECT COUNT(*) FROM approval_steps s JOIN projects p ON p.id = s.project_id WHERE s.started_on IS NOT NULL AND s.done_on IS NULL AND p.region_code >= $1 AND p.region_code < $2"),
        ("payment_to_approve", "SELECT COUNT(*) FROM disbursements d JOIN projects p ON p.id = d.project_id WHERE d.status = 'requested' AND d.requested_by <> 'county_admin' AND p.region_code >= $1 AND p.region_code < $2"),
    ];
    for (kind, sql) in truth {
        assert_eq!(total(&county, kind), count(db, sql, hui_an.clone()).await, "{kind}");
    }
    let late_nodes = count(
        db,
        "SELECT COUNT(*) FROM schedule_nodes n JOIN estates e ON e.id = n.estate_id WHERE n.actual_end IS NULL \
         AND (n.planned_end < $3 OR (n.actual_start IS NULL AND n.planned_start < $3)) AND e.community_code >= $1 AND e.community_code < $2",
        huanxin_store::args!["350521000000", "350522000000", day.clone()],
    )
    .await;
    assert_eq!(total(&county, "node_to_report"), late_nodes, "the county follows only the nodes behind plan");
    let busy = county["kinds"].as_array().unwrap().iter().filter(|k| k["total"].as_i64().unwrap() > 0).count();
    assert!(busy >= 4, "a county in full swing has work of many kinds: {}", county["kinds"]);
    // Late first, then by deadline; undated items last; days left agree with the deadline.
    let list = county["items"].as_array().unwrap();
    let dues: Vec<Option<&str>> = list.iter().map(|i| i["due_on"].as_str()).collect();
    let first_undated = dues.iter().position(Option::is_none).unwrap_or(dues.len());
    assert!(dues[first_undated..].iter().all(Option::is_none), "undated items come last");
    assert!(dues[..first_undated].windows(2).all(|w| w[0] <= w[1]), "dated items by deadline");
    for i in list {
        if let (Some(due), Some(left)) = (i["due_on"].as_str(), i["days_left"].as_i64()) {
            assert!(if due < day.as_str() { left <= 0 } else { left >= 0 }, "days left {left} for {due} on {day}");
        }
    }
    // Work left open on the day: a payment and a spending to approve, an acceptance to sign.
    for kind in ["payment_to_approve", "spending_to_approve", "acceptance_to_sign"] {
        assert!(total(&county, kind) > 0, "the county has a {kind}");
    }
    // Four eyes: one's own payment request is not one's work to approve (the staff asked for it).
    let staff = desk.get("county_staff", "/work").await.unwrap();
    assert_eq!(total(&staff, "payment_to_approve"), 0, "the staff's own request waits for the admin");
    assert_eq!(total(&staff, "spending_to_approve"), 0);
    for i in items(&county, "payment_to_approve") {
        let by = db
            .fetch_one::<(String,)>("SELECT requested_by FROM disbursements WHERE id = $1", huanxin_store::args![i["id"].as_i64().unwrap()])
            .await
            .unwrap()
            .0;
        assert_ne!(by, "county_admin");
    }

    // The contractor's work lies in its own estates; today's logs are counted from the records.
    let contractor = desk.get("contractor", "/work").await.unwrap();
    let cid = count(db, "SELECT id FROM users WHERE username = 'contractor'", vec![]).await;
    let mine: std::collections::HashSet<i64> = db
        .fetch_all::<(i64,)>("SELECT estate_id FROM user_estates WHERE user_id = $1", huanxin_store::args![cid])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    for i in contractor["items"].as_array().unwrap() {
        assert!(mine.contains(&i["estate_id"].as_i64().unwrap()), "the contractor sees only its estates: {i}");
    }
    let logs_due = count(
        db,
        "SELECT COUNT(*) FROM estates e JOIN user_estates u ON u.estate_id = e.id WHERE u.user_id = $1 AND e.status = 'in_construction' \
         AND NOT EXISTS (SELECT 1 FROM site_logs l WHERE l.estate_id = e.id AND l.day = $2 AND l.author = 'contractor')",
        huanxin_store::args![cid, day.clone()],
    )
    .await;
    assert!(logs_due > 0, "the demo's contractor builds");
    // A day's log is due on working days of the official calendar only.
    let working_day = huanxin_server::lifecycle::calendar().unwrap().is_working_day(huanxin_store::today());
    assert_eq!(total(&contractor, "site_log_today").max(0), if working_day { logs_due } else { 0 }, "working day: {working_day}");
    assert!(total(&contractor, "node_to_report") > 0, "the contractor has nodes to report");
    // The supervisor's next checkpoints are named by their codes.
    let supervisor = desk.get("supervisor", "/work").await.unwrap();
    for i in items(&supervisor, "checkpoint_to_inspect") {
        assert!(huanxin_domain::construction::Checkpoint::parse(i["detail"].as_str().unwrap()).is_some());
    }
    for (user, role) in [
        ("designer", Role::Designer),
        ("property_company", Role::PropertyCompany),
        ("street_staff", Role::StreetStaff),
        ("grid_worker", Role::GridWorker),
    ] {
        let w = desk.get(user, "/work").await.unwrap();
        assert_eq!(w["kinds"].as_array().unwrap().len(), WorkKind::for_role(role).len(), "{user}");
    }
    let property = desk.get("property_company", "/work").await.unwrap();
    assert!(total(&property, "request_due") > 0, "requests on the estates the property company manages");
    // The property company answers them; the grid worker, who collects, does not.
    let first = items(&property, "request_due").next().unwrap()["id"].as_i64().unwrap();
    match desk.post("grid_worker", &format!("/requests/{first}/handle"), serde_json::json!({"status": "in_progress"})).await {
        Err(demo::desk::DemoError::Refused { status, .. }) => assert_eq!(status, 403),
        other => panic!("a grid worker does not handle requests: {other:?}"),
    }
    let body = serde_json::json!({"status": "resolved", "answer": "已派维修工上门处理"});
    desk.post("property_company", &format!("/requests/{first}/handle"), body).await.unwrap();
    let after = desk.get("property_company", "/work").await.unwrap();
    assert_eq!(total(&after, "request_due"), total(&property, "request_due") - 1);
    let street = desk.get("street_staff", "/work").await.unwrap();
    assert!(
        total(&street, "vote_open") + total(&street, "notice_running") + total(&street, "survey_open") > 0,
        "the street consults residents"
    );

    // The city watches its counties: every estate counted once, the ones building now too.
    // Its own desk holds only its counties' reports to review (none are filed in the demo).
    let city = desk.get("city_admin", "/work").await.unwrap();
    assert_eq!(city["kinds"], serde_json::json!([{"kind": "report_to_review", "total": 0}]), "{city}");
    let regions = desk.get("city_admin", "/work/regions").await.unwrap();
    let rows = regions["rows"].as_array().unwrap();
    let sum = |f: &str| rows.iter().map(|r| r[f].as_i64().unwrap()).sum::<i64>();
    let city_range = huanxin_store::args!["350500000000", "350600000000"];
    assert_eq!(
        sum("estates"),
        count(db, "SELECT COUNT(*) FROM estates WHERE community_code >= $1 AND community_code < $2", city_range.clone()).await
    );
    assert_eq!(
        sum("in_construction"),
        count(
            db,
            "SELECT COUNT(*) FROM estates WHERE status = 'in_construction' AND community_code >= $1 AND community_code < $2",
            city_range
        )
        .await
    );
    let hui = rows.iter().find(|r| r["code"] == "350521000000").expect("惠安县 is a row");
    assert!(hui["planned"].as_i64().unwrap() > 0 && hui["estates"].as_i64().unwrap() > 0, "{hui}");
    match desk.get("contractor", "/work/regions").await {
        Err(demo::desk::DemoError::Refused { status, .. }) => assert_eq!(status, 403),
        other => panic!("a company watches no region: {other:?}"),
    }

    // The county's own inbox (routed to its bureau or supervised from it) is the work page's count.
    let open = desk.get("county_admin", "/requests?status=open&mine=true&per_page=5").await.unwrap();
    let county = desk.get("county_admin", "/work").await.unwrap();
    assert_eq!(open["total"].as_i64().unwrap(), total(&county, "request_due"));
    assert!(open["items"].as_array().unwrap().len() <= 5);
    match desk.get("county_admin", "/requests?status=lost").await {
        Err(demo::desk::DemoError::Refused { status, .. }) => assert_eq!(status, 422),
        other => panic!("an unknown status is refused: {other:?}"),
    }
    // A resident sees their own requests only.
    let rid = count(db, "SELECT id FROM users WHERE username = 'resident'", vec![]).await;
    let theirs = desk.get("resident", "/requests").await.unwrap();
    assert_eq!(
        theirs["total"].as_i64().unwrap(),
        count(db, "SELECT COUNT(*) FROM service_requests WHERE user_id = $1", huanxin_store::args![rid]).await
    );
}

/// The statistics kept as the demo was written equal what a rebuild from the records gives (no
/// write of the demo bypassed them), and the country's figures show a programme in full swing.
async fn statistics_follow_the_demo(db: &Db) {
    let totals = "SELECT region_code || ' ' || indicator || ' ' || period || ' ' || CAST(value AS TEXT) FROM stat_totals \
                  WHERE value <> 0 ORDER BY region_code, indicator, period";
    let kept = texts(db, totals).await;
    assert!(db.statistics_disagreements().await.unwrap().is_empty());
    db.rebuild_statistics().await.unwrap();
    assert_eq!(kept, texts(db, totals).await, "the kept statistics are what the records say");
    let country = huanxin_domain::regions::RegionCode::country();
    let all = db.statistics(&country, &huanxin_domain::statistics::Period::Cumulative).await.unwrap();
    let fig = |c: &str| all.figures.iter().find(|f| f.code == c).unwrap().value;
    for c in ["planned_estates", "started_estates", "completed_estates", "invest_central", "rectifications_found", "satisfaction_answers"] {
        assert!(fig(c) > 0, "the demo counts in {c}: {all:?}");
    }
    assert!(fig("completed_estates") <= fig("started_estates"));
    let satisfied = fig("satisfaction_satisfied") * 100 / fig("satisfaction_answers");
    assert!((75..=100).contains(&satisfied), "about nine in ten satisfied: {satisfied} %");
}
