//! The demo in full swing: built through the API on a fresh database, it passes the ledger and
//! ballot checks, holds a record at every stage it promises, and comes out the same twice (every
//! table's count, the ledger's chain head, each decision's counts).

use huanxin_server::demo::{self, DemoSummary, Size};
use huanxin_server::{AppState, Config};
use huanxin_store::Db;

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

async fn build() -> (DemoSummary, Vec<(String, i64)>, Vec<String>, Db, std::path::PathBuf) {
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
    (made, counts, heads, db, dir)
}

async fn texts(db: &Db, sql: &str) -> Vec<String> {
    db.fetch_all::<(String,)>(sql, vec![]).await.unwrap().into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_full_swing_is_built_through_the_api_and_the_same_twice() {
    let (first, counts, heads, db, dir) = build().await;
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
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);

    let (second, counts2, heads2, db2, dir2) = build().await;
    assert_eq!(first, second);
    assert_eq!(counts, counts2);
    assert_eq!(heads, heads2, "the ledger's chain head and every decision's counts are the same");
    db2.close().await;
    let _ = std::fs::remove_dir_all(dir2);
}
