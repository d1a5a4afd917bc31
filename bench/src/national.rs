//! The national statistics benchmark (issue 15, part 8).
//!
//! `huanxin-bench national DATABASE_URL SIGNER`: on a database holding the national registry, the
//! projects (`huanxin-bench projects`) and the ledger (`huanxin-bench ledger`), writes what the
//! programme's records would hold since 2019: every estate in a county's annual plan (2019–2026),
//! construction started and acceptance signed by plan year (all of the early years, part of the
//! late ones), residents' money on most, the final scheme's lines (water pipes, lifts, chargers) of
//! every accepted estate, review findings (most closed); then rebuilds the kept statistics from
//! those records, timed. It also readies `ACCEPTANCE_READY` estates of the busiest county for
//! acceptance (completed, with the bureau's signature by the account SIGNER) and prints that
//! county's code last. Writes straight into the database, as the other loaders do. Deterministic.
//!
//! `huanxin-bench dashboards BASE_URL DATABASE_URL USER COUNTY_USER PASSWORD`: against a running
//! server on that database, 16 clients on each dashboard request of the cockpit in turn (p50, p99,
//! max, rate); the raw engine's rate for the statistics page's own statements, 16 at a time, in the
//! same run, and the ratio; the national workbooks; and how long an acceptance takes to show in
//! the ministry's count.

use crate::votes::{summary, Api, Error};
use chrono::Datelike;
use huanxin_store::{Arg, Db};
use rand::Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Estates left completed and signed, for the acceptance-to-ministry timing.
const ACCEPTANCE_READY: usize = 10;
/// The last day the loader records anything on.
const LAST_DAY: &str = "2026-11-28";

fn day(s: &str) -> Result<chrono::NaiveDate, Error> {
    Ok(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")?)
}

/// Writes the programme's records and rebuilds the statistics (see the module's doc).
pub async fn seed(url: &str, signer: &str) -> Result<(), Error> {
    let started = Instant::now();
    let db = Db::connect(url).await?;
    let signer_id = db.scalar("SELECT COALESCE(MIN(id), 0) FROM users WHERE username = $1", vec![Arg::from(signer)]).await?;
    if signer_id == 0 {
        return Err(format!("no account {signer}: add it first").into());
    }
    let estates: Vec<(i64, String)> = db.fetch_all("SELECT id, community_code FROM estates ORDER BY id", vec![]).await?;
    if estates.is_empty() {
        return Err("import the estates first".into());
    }
    let projects: Vec<(i64, String)> = db.fetch_all("SELECT id, region_code FROM projects ORDER BY id", vec![]).await?;
    let mut project_of_county: BTreeMap<String, i64> = BTreeMap::new();
    for (id, region) in &projects {
        project_of_county.entry(region[..6.min(region.len())].to_string()).or_insert(*id);
    }
    let any_project = projects.first().map(|p| p.0).ok_or("add the projects first (huanxin-bench projects)")?;
    let mut per_county: BTreeMap<String, usize> = BTreeMap::new();
    for (_, c) in &estates {
        *per_county.entry(c[..6].to_string()).or_insert(0) += 1;
    }
    let busiest = per_county.iter().max_by_key(|(_, n)| **n).map(|(c, _)| c.clone()).ok_or("no county")?;

    let mut rng = huanxin_datagen::rng(15);
    let last = day(LAST_DAY)?;
    let first_plan = db.scalar("SELECT COALESCE(MAX(id), 0) FROM annual_plans", vec![]).await? + 1;
    let first_version = db.scalar("SELECT COALESCE(MAX(id), 0) FROM scheme_versions", vec![]).await? + 1;
    let mut plan_ids: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let (mut members, mut events, mut contributions, mut versions, mut items, mut findings) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut started_ids, mut accepted_ids, mut ready_ids) = (Vec::new(), Vec::new(), Vec::new());
    for (id, community) in &estates {
        let county = community[..6].to_string();
        let year = 2019 + rng.gen_range(0..8i64);
        let next_plan = first_plan + plan_ids.len() as i64;
        let plan = *plan_ids.entry((county.clone(), year)).or_insert(next_plan);
        members.push(vec![Arg::from(plan), Arg::from(*id), Arg::from(year), Arg::from(format!("{year}-01-15T02:00:00.000Z"))]);
        let start_share = if year <= 2025 { 100 } else { 75 };
        if rng.gen_range(0..100) >= start_share {
            continue;
        }
        let start = day(&format!("{year}-03-01"))? + chrono::Duration::days(rng.gen_range(0..270));
        if start > last {
            continue;
        }
        let at = |d: chrono::NaiveDate| format!("{d}T03:{:02}:00.000Z", d.ordinal0() % 60);
        events.push(vec![Arg::from(*id), Arg::from("approved"), Arg::from("in_construction"), Arg::from("bench"), Arg::from(at(start))]);
        if rng.gen_range(0..100) < 88 {
            let project = project_of_county.get(&county).copied().unwrap_or(any_project);
            contributions.push(vec![
                Arg::from(project),
                Arg::from(*id),
                Arg::from(rng.gen_range(20..200i64)),
                Arg::from(rng.gen_range(100_000..5_000_000i64)),
                Arg::from("transfer"),
                Arg::from(start.to_string()),
                Arg::from(0i64),
                Arg::from("bench"),
                Arg::from(at(start)),
            ]);
        }
        // A few estates of the busiest county, begun this year, wait for their acceptance.
        if county == busiest && year == 2026 && ready_ids.len() < ACCEPTANCE_READY {
            ready_ids.push(*id);
            continue;
        }
        let complete_share = match year {
            ..=2024 => 100,
            2025 => 85,
            _ => 15,
        };
        let done = start + chrono::Duration::days(rng.gen_range(120..300));
        if rng.gen_range(0..100) >= complete_share || done > last {
            started_ids.push(*id);
            continue;
        }
        accepted_ids.push(*id);
        events.push(vec![Arg::from(*id), Arg::from("completed"), Arg::from("accepted"), Arg::from("bench"), Arg::from(at(done))]);
        let version = first_version + versions.len() as i64;
        versions.push(vec![
            Arg::from(version),
            Arg::from(*id),
            Arg::from(1i64),
            Arg::from("final"),
            Arg::from(0i64),
            Arg::from(3i64),
            Arg::from("bench"),
            Arg::from(at(start)),
        ]);
        let lifts = if rng.gen_range(0..5) == 0 { rng.gen_range(1..5i64) } else { 0 };
        for (code, category, name, unit, qty) in [
            ("B01", "basic", "供水管网改造", "m", rng.gen_range(200..800i64)),
            ("I12", "improvement", "加装电梯", "部", lifts),
            ("I07", "improvement", "充电设施", "个", rng.gen_range(5..40i64)),
        ] {
            if qty > 0 {
                items.push(vec![
                    Arg::from(version),
                    Arg::from(code),
                    Arg::from(category),
                    Arg::from(name),
                    Arg::from(unit),
                    Arg::from(qty * 100),
                    Arg::from(10_000i64),
                    Arg::from("government"),
                ]);
            }
        }
        let found = done + chrono::Duration::days(180);
        if accepted_ids.len().is_multiple_of(4) && found <= last {
            for finding in ["雨水管渗漏", "扶手松动"] {
                let closed = rng.gen_range(0..10) != 0;
                findings.push(vec![
                    Arg::from(*id),
                    Arg::from(finding),
                    Arg::from("contractor"),
                    Arg::from((found + chrono::Duration::days(30)).to_string()),
                    Arg::from(false),
                    Arg::from(at(found)),
                    Arg::from(closed.then(|| "bench".to_string())),
                    Arg::from(closed.then(|| at(found + chrono::Duration::days(20)))),
                ]);
            }
        }
    }
    let plans: Vec<Vec<Arg>> = plan_ids
        .iter()
        .map(|((county, year), id)| {
            vec![
                Arg::from(*id),
                Arg::from(format!("{county}000000")),
                Arg::from(*year),
                Arg::from(0i64),
                Arg::from(0i64),
                Arg::from(0i64),
                Arg::from(0i64),
                Arg::from("bench"),
                Arg::from(format!("{year}-01-10T02:00:00.000Z")),
            ]
        })
        .collect();
    let counts = (members.len(), events.len(), contributions.len(), items.len(), findings.len());
    let mut tx = db.begin().await?;
    tx.insert_rows(
        "annual_plans",
        &[
            "id",
            "region_code",
            "year",
            "target_estates",
            "target_households",
            "target_buildings",
            "target_floor_area",
            "created_by",
            "created_at",
        ],
        plans,
        "",
    )
    .await?;
    tx.insert_rows("plan_estates", &["plan_id", "estate_id", "year", "added_at"], members, "").await?;
    tx.insert_rows("estate_events", &["estate_id", "from_status", "to_status", "username", "at"], events, "").await?;
    tx.insert_rows(
        "contributions",
        &["project_id", "estate_id", "households", "amount", "method", "paid_on", "ledger_seq", "entered_by", "entered_at"],
        contributions,
        "",
    )
    .await?;
    tx.insert_rows(
        "scheme_versions",
        &["id", "estate_id", "version_no", "stage", "total_fen", "items", "saved_by", "saved_at"],
        versions,
        "",
    )
    .await?;
    tx.insert_rows(
        "scheme_items",
        &["version_id", "menu_code", "category", "name", "unit", "quantity_hundredths", "unit_price_fen", "payer"],
        items,
        "",
    )
    .await?;
    tx.insert_rows(
        "rectifications",
        &["estate_id", "finding", "owner", "deadline", "supervised", "created_at", "closed_by", "closed_at"],
        findings,
        "",
    )
    .await?;
    // Statuses as the records say (the plan for the rest).
    tx.execute("UPDATE estates SET status = 'in_plan' WHERE status = 'surveyed'", vec![]).await?;
    for (ids, status) in [(&started_ids, "in_construction"), (&accepted_ids, "accepted"), (&ready_ids, "completed")] {
        for chunk in ids.chunks(5_000) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            tx.execute(&format!("UPDATE estates SET status = '{status}' WHERE id IN ({})", list.join(",")), vec![]).await?;
        }
    }
    // The acceptances waiting only for the step: the bureau signed.
    for id in &ready_ids {
        let acceptance: (i64,) = tx
            .fetch_one(
                "INSERT INTO acceptances (estate_id, required, opened_by, opened_at) VALUES ($1, 'bureau', 'bench', $2) RETURNING id",
                vec![Arg::from(*id), Arg::from("2026-11-20T02:00:00.000Z")],
            )
            .await?;
        tx.execute(
            "INSERT INTO acceptance_signatures (acceptance_id, signatory, user_id, username, agree, signed_at) \
             VALUES ($1, 'bureau', $2, $3, TRUE, '2026-11-21T02:00:00.000Z')",
            vec![Arg::from(acceptance.0), Arg::from(signer_id), Arg::from(signer)],
        )
        .await?;
    }
    tx.commit().await?;
    if db.engine() == huanxin_store::Engine::Postgres {
        for t in ["annual_plans", "scheme_versions"] {
            db.execute(&format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))"), vec![]).await?;
        }
        db.execute("VACUUM ANALYZE", vec![]).await?;
    } else {
        db.execute("ANALYZE", vec![]).await?;
    }
    eprintln!(
        "  records: {} plan entries, {} steps, {} contributions, {} scheme lines, {} findings, in {:.0} s",
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        counts.4,
        started.elapsed().as_secs_f64()
    );
    rebuilt(&db).await?;
    println!("{busiest}000000");
    Ok(())
}

/// Rebuilds the kept statistics of the database at `url` from its records, timed.
pub async fn rebuild(url: &str) -> Result<(), Error> {
    rebuilt(&Db::connect(url).await?).await
}

async fn rebuilt(db: &Db) -> Result<(), Error> {
    let t = Instant::now();
    db.rebuild_statistics().await?;
    let parts = db.scalar("SELECT COUNT(*) FROM stat_parts", vec![]).await?;
    let totals = db.scalar("SELECT COUNT(*) FROM stat_totals", vec![]).await?;
    eprintln!("  statistics rebuilt from the records in {:.1} s: {parts} parts, {totals} kept totals", t.elapsed().as_secs_f64());
    if db.engine() == huanxin_store::Engine::Postgres {
        db.execute("VACUUM ANALYZE stat_parts", vec![]).await?;
        db.execute("VACUUM ANALYZE stat_totals", vec![]).await?;
    }
    Ok(())
}

/// Logs in; the session token.
pub(crate) async fn login(api: &Api, user: &str, password: &str) -> Result<String, Error> {
    let res =
        api.http.post(format!("{}/api/v1/auth/login", api.base)).json(&json!({"username": user, "password": password})).send().await?;
    let body: serde_json::Value = res.json().await?;
    Ok(body["token"].as_str().ok_or_else(|| format!("login as {user} failed: {body}"))?.to_string())
}

/// `clients` clients asking for `path` back to back for `secs` seconds: latencies in ms, and
/// the number of answers other than 200.
pub(crate) async fn load(api: &Arc<Api>, token: &str, path: &str, clients: usize, secs: f64) -> Result<(Vec<f64>, usize), Error> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (api, token, path) = (api.clone(), token.to_string(), path.to_string());
        handles.push(tokio::spawn(async move {
            let (mut ms, mut bad) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let t = Instant::now();
                let res = api.http.get(format!("{}{path}", api.base)).bearer_auth(&token).send().await?;
                let ok = res.status().as_u16() == 200;
                let _ = res.bytes().await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                bad += usize::from(!ok);
            }
            Ok::<_, Error>((ms, bad))
        }));
    }
    let (mut all, mut bad) = (Vec::new(), 0);
    for h in handles {
        let (ms, b) = h.await??;
        all.extend(ms);
        bad += b;
    }
    Ok((all, bad))
}

/// The statistics page's own statements for the country and a year (this year's totals, the year
/// before's, the provinces'), run straight on the engine by `clients` tasks for `secs` seconds:
/// pages per second.
/// The funds report's own statements for the country as the server runs them once warm
/// (`Db::funds_report`: the ledger's length, which says the allocations' sums it keeps still hold,
/// and what was paid by row, source and month), `clients` at a time: reports per second.
async fn raw_funds_rate(url: &str, clients: usize, secs: f64) -> Result<f64, Error> {
    let db = Db::connect(url).await?;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                db.scalar("SELECT entries FROM ledger_head WHERE id = 1", vec![]).await?;
                let _: Vec<(String, String, String, i64)> = db
                    .fetch_all(
                        "SELECT paid_at, source, month, amount FROM funds_paid WHERE region_code = $1 AND month <= $2",
                        vec![Arg::from("000000000000"), Arg::from("2025-12")],
                    )
                    .await?;
                n += 1;
            }
            Ok::<_, Error>(n)
        }));
    }
    let mut reports = 0;
    for h in handles {
        reports += h.await??;
    }
    Ok(reports as f64 / t.elapsed().as_secs_f64())
}

async fn raw_page_rate(url: &str, clients: usize, secs: f64) -> Result<f64, Error> {
    let db = Db::connect(url).await?;
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let t = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..clients {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            // The same statements as `Db::statistics` and `Db::statistics_children` for a year.
            let totals = "SELECT indicator, CAST(SUM(value) AS BIGINT) FROM stat_totals WHERE region_code = $1 \
                 AND (period IN ($2, $3)) GROUP BY indicator";
            let children = "SELECT t.region_code, t.indicator, CAST(SUM(t.value) AS BIGINT) FROM stat_totals t \
                 WHERE t.parent_code = $1 AND (t.period IN ($2, $3)) GROUP BY t.region_code, t.indicator";
            while Instant::now() < until {
                for y in ["2025", "2024"] {
                    let _: Vec<(String, i64)> =
                        db.fetch_all(totals, vec![Arg::from("000000000000"), Arg::from(format!("{y}-00")), Arg::from(y)]).await?;
                }
                let _: Vec<(String, String, i64)> =
                    db.fetch_all(children, vec![Arg::from("000000000000"), Arg::from("2025-00"), Arg::from("2025")]).await?;
                n += 1;
            }
            Ok::<_, Error>(n)
        }));
    }
    let mut pages = 0;
    for h in handles {
        pages += h.await??;
    }
    Ok(pages as f64 / t.elapsed().as_secs_f64())
}

/// The ministry's count of accepted estates (cumulative).
async fn completed_at_ministry(api: &Api, token: &str) -> Result<i64, Error> {
    let (s, body) = api.call(reqwest::Method::GET, "/api/v1/statistics?period=all", token, None).await?;
    if s != 200 {
        return Err(format!("statistics answered {s}").into());
    }
    body["figures"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["code"] == "completed_estates"))
        .and_then(|x| x["value"].as_i64())
        .ok_or_else(|| "no completed_estates figure".into())
}

/// Times the dashboards, the workbooks and an acceptance's way to the ministry (see the module's doc).
pub async fn dashboards(base: &str, url: &str, user: &str, county_user: &str, password: &str) -> Result<(), Error> {
    let secs: f64 = std::env::var("SECONDS_EACH").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let clients = 16;
    let api = Arc::new(Api { base: base.to_string(), http: reqwest::Client::builder().pool_max_idle_per_host(64).build()? });
    let token = login(&api, user, password).await?;
    let county_token = login(&api, county_user, password).await?;
    let db = Db::connect(url).await?;
    let province: (String,) =
        db.fetch_one("SELECT region_code FROM stat_totals WHERE parent_code = '000000000000' ORDER BY region_code LIMIT 1", vec![]).await?;
    let province = province.0;
    let paths = [
        ("statistics, the country, 2025", "/api/v1/statistics?period=2025".to_string()),
        ("statistics, the country, since 2019", "/api/v1/statistics?period=all".to_string()),
        ("statistics, a province, 2025", format!("/api/v1/statistics?region={province}&period=2025")),
        ("monthly trend, 2025", "/api/v1/statistics/months?year=2025".to_string()),
        ("map places (provinces)", "/api/v1/statistics/places".to_string()),
        ("why? estates accepted in 2025", "/api/v1/statistics/counted?period=2025&indicator=completed_estates".to_string()),
        ("funds by source (the cockpit's panel), 2025", "/api/v1/funds/by-source?year=2025".to_string()),
        ("funds report, the country, 2025", "/api/v1/funds/report?year=2025".to_string()),
        ("late work by region", "/api/v1/work/regions".to_string()),
    ];
    println!("  dashboards, the ministry, {clients} clients, {secs:.0} s each:");
    let (mut page_rate, mut funds_rate) = (0.0, 0.0);
    for (name, path) in &paths {
        let (ms, bad) = load(&api, &token, path, clients, secs).await?;
        let rate = ms.len() as f64 / secs;
        if path == "/api/v1/statistics?period=2025" {
            page_rate = rate;
        }
        if path == "/api/v1/funds/report?year=2025" {
            funds_rate = rate;
        }
        println!("    {name:<38} {}, {rate:.0} req/s{}", summary(ms), if bad > 0 { format!(", {bad} not 200") } else { String::new() });
    }
    let raw = raw_page_rate(url, clients, secs).await?;
    println!("  raw engine: {raw:.0} statistics pages/s (the page's three statements, {clients} at a time); the page over HTTP: {page_rate:.0}/s, ratio {:.2}", page_rate / raw.max(1e-9));
    let raw = raw_funds_rate(url, clients, secs).await?;
    println!("  raw engine: {raw:.0} funds reports/s (the report's statements once warm, {clients} at a time); the report over HTTP: {funds_rate:.0}/s, ratio {:.2}", funds_rate / raw.max(1e-9));
    // The ledger-walking ones once each: at national scale one takes tens of seconds.
    for (name, path, times) in [
        ("national statistics workbook (since 2019)", "/api/v1/statistics/export.xlsx?period=all", 5),
        ("national report form: progress, 2025-10", "/api/v1/reports/sheet.xlsx?form=progress&period=2025-10", 5),
        ("national report form: effects, 2025", "/api/v1/reports/sheet.xlsx?form=effects&period=2025", 5),
        ("national funds workbook (2025)", "/api/v1/funds/report.xlsx?year=2025", 5),
    ] {
        let mut ms = Vec::new();
        for _ in 0..times {
            let t = Instant::now();
            let res = api.http.get(format!("{base}{path}")).bearer_auth(&token).send().await?;
            let status = res.status().as_u16();
            let bytes = res.bytes().await?;
            if status != 200 || !(bytes.starts_with(b"PK") || bytes.starts_with(b"{")) {
                return Err(format!("{path} answered {status}").into());
            }
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("    {name:<38} {} ({times} in a row, 1 client)", summary(ms));
    }
    // An acceptance recorded by the county, then the ministry's count read until it shows it.
    let ready: Vec<(i64,)> = db.fetch_all("SELECT id FROM estates WHERE status = 'completed' ORDER BY id", vec![]).await?;
    let (mut step_ms, mut seen_ms) = (Vec::new(), Vec::new());
    for (id,) in ready {
        let before = completed_at_ministry(&api, &token).await?;
        let t = Instant::now();
        let (s, body) = api
            .call(reqwest::Method::POST, &format!("/api/v1/estates/{id}/lifecycle"), &county_token, Some(&json!({"to": "accepted"})))
            .await?;
        if s != 200 {
            return Err(format!("accepting estate {id} answered {s}: {body}").into());
        }
        step_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        loop {
            if completed_at_ministry(&api, &token).await? > before {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(format!("estate {id}'s acceptance did not show at the ministry in 30 s").into());
            }
        }
        seen_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    if step_ms.is_empty() {
        return Err("no estate waits for its acceptance: run the loader on a fresh database".into());
    }
    println!("    acceptance recorded by the county      {} ({} estates)", summary(step_ms.clone()), step_ms.len());
    println!("    … in the ministry's count              {}", summary(seen_ms));
    Ok(())
}
