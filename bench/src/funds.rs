//! The funds benchmark.
//!
//! `huanxin-bench ledger DATABASE_URL ENTRIES`: writes a ledger of ENTRIES hash-chained entries
//! straight into a migrated database that holds at least one estate: 20,000 projects in 100
//! counties (200 each, with contract sums), a central allocation per county cut into one child per
//! project, a local allocation per project, and payments to the projects from both spread evenly
//! from January 2024 to October 2026 (about 500 per project). Adds the project `BENCH-P0` on the
//! first estate with a passed inspection, for the concurrent payments. Deterministic.
//!
//! `huanxin-bench funds BASE_URL USER PASSWORD`: against a running server on that database, times a
//! project's balances by source (`GET /projects/{id}/funds`) and a county's report for a year
//! (`GET /funds/report`), then has 32 clients ask for and approve 10,000-yuan payments against
//! one allocation of PAYMENTS × 10,000 yuan (2,000 by default) until it is spent, and checks it was never overspent.

use crate::votes::{summary, Api, Error};
use huanxin_domain::chain;
use huanxin_domain::funds::entry_text;
use huanxin_store::{Arg, Db};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const COUNTIES: usize = 100;
const PROJECTS_PER_COUNTY: usize = 200;
const LEDGER_COLS: [&str; 12] =
    ["seq", "debit", "credit", "amount", "memo", "source", "project_id", "entered_by", "at", "prev_hash", "hash", "estate_id"];

/// Appends entries to a batch with their chain hashes.
struct Chain {
    seq: i64,
    head: String,
    rows: Vec<Vec<Arg>>,
}

impl Chain {
    /// Appends one entry; `what` is its memo and source.
    fn push(&mut self, debit: String, credit: String, amount: i64, what: (&str, &str), project: Option<i64>, at: &str) {
        let (memo, source) = what;
        self.seq += 1;
        let hash = chain::link(&self.head, &entry_text(self.seq, &debit, &credit, amount, memo, at));
        let prev = std::mem::replace(&mut self.head, hash.clone());
        self.rows.push(vec![
            Arg::from(self.seq),
            Arg::from(debit),
            Arg::from(credit),
            Arg::from(amount),
            Arg::from(memo),
            Arg::from(source),
            Arg::from(project),
            Arg::from("bench"),
            Arg::from(at),
            Arg::from(prev),
            Arg::from(hash),
            Arg::from(None::<i64>),
        ]);
    }

    async fn flush(&mut self, db: &Db) -> Result<(), Error> {
        let rows = std::mem::take(&mut self.rows);
        let mut tx = db.begin().await?;
        tx.insert_rows("ledger_entries", &LEDGER_COLS, rows, "").await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Writes the ledger (see the module's doc).
pub async fn seed(url: &str, entries: i64) -> Result<(), Error> {
    let started = Instant::now();
    let db = Db::connect(url).await?;
    if db.scalar("SELECT entries FROM ledger_head WHERE id = 1", vec![]).await? != 0 {
        return Err("the ledger is not empty".into());
    }
    // The projects already in the database (the national benchmark's) or, when there are none,
    // PROJECTS_PER_COUNTY new ones in each of the first COUNTIES counties.
    let existing: Vec<(i64, String)> = db.fetch_all("SELECT id, region_code FROM projects ORDER BY id", vec![]).await?;
    let made_here = existing.is_empty();
    let list: Vec<(i64, String)> = if made_here {
        let counties: Vec<(String,)> =
            db.fetch_all(&format!("SELECT code FROM regions WHERE level = 3 ORDER BY code LIMIT {COUNTIES}"), vec![]).await?;
        let first = db.scalar("SELECT COALESCE(MAX(id), 0) FROM projects", vec![]).await? + 1;
        counties
            .iter()
            .flat_map(|(c,)| std::iter::repeat_n(c.clone(), PROJECTS_PER_COUNTY))
            .enumerate()
            .map(|(i, c)| (first + i as i64, c))
            .collect()
    } else {
        existing.into_iter().map(|(id, region)| (id, format!("{:0<12}", &region[..6.min(region.len())]))).collect()
    };
    let mut counties: Vec<String> = list.iter().map(|(_, c)| c.clone()).collect();
    counties.sort();
    counties.dedup();
    let county_index: std::collections::HashMap<&str, usize> = counties.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let projects_in = |c: &str| list.iter().filter(|(_, x)| x == c).count() as i64;
    let first_allocation = db.scalar("SELECT COALESCE(MAX(id), 0) FROM allocations", vec![]).await? + 1;
    let n_projects = list.len() as i64;
    let allocation_entries = counties.len() as i64 + 2 * n_projects;
    let payments = (entries - allocation_entries).max(0);
    let per_project = payments / n_projects.max(1) + 1;
    // Each payment is at most 500 yuan, so a project's allocations always cover it.
    let child_amount = 50_000 * per_project;
    let (mut projects, mut contracts, mut allocations) = (Vec::new(), Vec::new(), Vec::new());
    let mut chain = Chain { seq: 0, head: chain::GENESIS.to_string(), rows: Vec::new() };
    let at0 = "2024-01-01T00:00:00.000Z";
    for (c, county) in counties.iter().enumerate() {
        let top = first_allocation + c as i64;
        let amount = child_amount * projects_in(county);
        allocations.push(allocation_row(top, None, county, "central", "中央补助资金", amount, ""));
        chain.push(format!("allocation:{top}"), "source:central".into(), amount, ("中央补助资金", "central"), None, at0);
    }
    let child_of = |i: i64| first_allocation + counties.len() as i64 + 2 * i;
    for (i, (pid, county)) in list.iter().enumerate() {
        let (i, pid) = (i as i64, *pid);
        let c = county_index.get(county.as_str()).copied().unwrap_or(0);
        if made_here {
            projects.push(vec![
                Arg::from(pid),
                Arg::from(format!("BL-{pid}")),
                Arg::from(format!("资金项目{pid}")),
                Arg::from(county.as_str()),
                Arg::from("bench"),
                Arg::from(at0),
            ]);
        }
        contracts.push(vec![Arg::from(pid), Arg::from(4 * child_amount), Arg::from("bench"), Arg::from(at0)]);
        let (child, local) = (child_of(i), child_of(i) + 1);
        allocations.push(allocation_row(
            child,
            Some(first_allocation + c as i64),
            county,
            "central",
            "项目中央补助",
            child_amount,
            &pid.to_string(),
        ));
        allocations.push(allocation_row(local, None, county, "local", "项目地方配套", child_amount, &pid.to_string()));
        chain.push(
            format!("allocation:{child}"),
            format!("allocation:{}", first_allocation + c as i64),
            child_amount,
            ("项目中央补助", "central"),
            None,
            at0,
        );
        chain.push(format!("allocation:{local}"), "source:local".into(), child_amount, ("项目地方配套", "local"), None, at0);
    }
    let mut tx = db.begin().await?;
    tx.insert_rows("projects", &["id", "code", "name", "region_code", "created_by", "created_at"], projects, "").await?;
    tx.insert_rows("project_contracts", &["project_id", "amount", "updated_by", "updated_at"], contracts, "").await?;
    tx.insert_rows(
        "allocations",
        &["id", "parent_id", "region_code", "source", "year", "purpose", "amount", "categories", "projects", "created_by", "created_at"],
        allocations,
        "",
    )
    .await?;
    tx.commit().await?;
    chain.flush(&db).await?;

    // Payments, evenly from 2024-01-01 to 2026-10-31, alternating central and local per project.
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).ok_or("date")?.and_hms_opt(0, 0, 0).ok_or("time")?;
    let span = 1034 * 86_400i64; // seconds to 2026-10-31
    let mut rng = huanxin_datagen::rng(11);
    for k in 0..payments {
        let i = k % n_projects;
        let pid = list[i as usize].0;
        let (allocation, source) = if (k / n_projects) % 2 == 0 { (child_of(i), "central") } else { (child_of(i) + 1, "local") };
        let at = (start + chrono::Duration::seconds(k * span / payments.max(1))).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        chain.push(
            format!("paid:{pid}"),
            format!("allocation:{allocation}"),
            rng.gen_range(1_000..=50_000),
            ("付款", source),
            Some(pid),
            &at,
        );
        if chain.rows.len() == 100_000 {
            chain.flush(&db).await?;
        }
        if (k + 1) % 1_000_000 == 0 {
            eprintln!("  {} entries written, {:.0} s", chain.seq, started.elapsed().as_secs_f64());
        }
    }
    chain.flush(&db).await?;
    db.execute("UPDATE ledger_head SET entries = $1, hash = $2 WHERE id = 1", vec![Arg::from(chain.seq), Arg::from(chain.head.clone())])
        .await?;
    // Written past the server's append, so the balances it keeps with each entry are summed once here.
    db.rebuild_account_balances().await?;
    let t = Instant::now();
    db.rebuild_funds_paid().await?;
    eprintln!("  funds report figures kept from the ledger in {:.1} s", t.elapsed().as_secs_f64());

    // The project for the concurrent payments: the first estate, a passed inspection, a large contract.
    let estate = db.scalar("SELECT COALESCE(MIN(id), 0) FROM estates", vec![]).await?;
    if estate == 0 {
        return Err("import an estate first".into());
    }
    let region: (String,) = db.fetch_one("SELECT community_code FROM estates WHERE id = $1", vec![Arg::from(estate)]).await?;
    let p0 = db.scalar("SELECT COALESCE(MAX(id), 0) FROM projects", vec![]).await? + 1;
    let mut tx = db.begin().await?;
    tx.insert_rows(
        "projects",
        &["id", "code", "name", "region_code", "created_by", "created_at"],
        vec![vec![
            Arg::from(p0),
            Arg::from("BENCH-P0"),
            Arg::from("并发拨付项目"),
            Arg::from(format!("{:0<12}", &region.0[..6])),
            Arg::from("bench"),
            Arg::from(at0),
        ]],
        "",
    )
    .await?;
    tx.insert_rows("project_estates", &["project_id", "estate_id"], vec![vec![Arg::from(p0), Arg::from(estate)]], "").await?;
    tx.insert_rows(
        "project_contracts",
        &["project_id", "amount", "updated_by", "updated_at"],
        vec![vec![Arg::from(p0), Arg::from(1_000_000_000_000i64), Arg::from("bench"), Arg::from(at0)]],
        "",
    )
    .await?;
    tx.insert_rows(
        "inspections",
        &["estate_id", "checkpoint", "held_on", "inspector", "passed", "findings", "created_at"],
        vec![vec![
            Arg::from(estate),
            Arg::from("site_control"),
            Arg::from("2026-05-01"),
            Arg::from("bench"),
            Arg::from(true),
            Arg::from(""),
            Arg::from(at0),
        ]],
        "",
    )
    .await?;
    tx.commit().await?;
    if let huanxin_store::Engine::Postgres = db.engine() {
        // Ids were given explicitly; move the sequences past them.
        for t in ["projects", "allocations"] {
            db.execute(&format!("SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t}))"), vec![]).await?;
        }
        // As autovacuum would after a load: statistics, and the visibility map that index-only scans need.
        db.execute("VACUUM ANALYZE", vec![]).await?;
    } else {
        db.execute("ANALYZE", vec![]).await?;
    }
    println!(
        "  ledger: {} entries ({} projects in {} counties, {} payments each) written in {:.0} s",
        chain.seq,
        n_projects,
        counties.len(),
        per_project - 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn allocation_row(id: i64, parent: Option<i64>, region: &str, source: &str, purpose: &str, amount: i64, projects: &str) -> Vec<Arg> {
    vec![
        Arg::from(id),
        Arg::from(parent),
        Arg::from(region),
        Arg::from(source),
        Arg::from(2024i64),
        Arg::from(purpose),
        Arg::from(amount),
        Arg::from(""),
        Arg::from(projects),
        Arg::from("bench"),
        Arg::from("2024-01-01T00:00:00.000Z"),
    ]
}

/// Times `n` GETs of `path(i)`, one after the other.
async fn time_gets(api: &Api, token: &str, n: usize, path: impl Fn(usize) -> String) -> Result<Vec<f64>, Error> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let (s, body) = api.call(reqwest::Method::GET, &path(i), token, None).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if s != 200 {
            return Err(format!("{} answered {s}: {body}", path(i)).into());
        }
    }
    Ok(ms)
}

/// The HTTP part of the benchmark (see the module's doc).
pub async fn run(base: &str, user: &str, password: &str) -> Result<(), Error> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).timeout(Duration::from_secs(60)).build()?;
    let api = Arc::new(Api { base: base.trim_end_matches('/').to_string(), http });
    let (_, login) = {
        let res =
            api.http.post(format!("{}/api/v1/auth/login", api.base)).json(&json!({"username": user, "password": password})).send().await?;
        (res.status(), res.json::<serde_json::Value>().await?)
    };
    let token = login["token"].as_str().ok_or("login failed")?.to_string();
    // Four eyes: payments asked for by `user` are approved by `{user}_approver` (same password).
    let approver: serde_json::Value = api
        .http
        .post(format!("{}/api/v1/auth/login", api.base))
        .json(&json!({"username": format!("{user}_approver"), "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let approver = approver["token"].as_str().ok_or_else(|| format!("login as {user}_approver failed"))?.to_string();
    let (_, projects) = api.call(reqwest::Method::GET, "/api/v1/projects", &token, None).await?;
    let ids: Vec<i64> = projects.as_array().map(|a| a.iter().filter_map(|p| p["id"].as_i64()).collect()).unwrap_or_default();
    if ids.is_empty() {
        return Err("no projects".into());
    }
    let mut rng = huanxin_datagen::rng(5);
    let picks: Vec<i64> = (0..300).map(|_| ids[rng.gen_range(0..ids.len())]).collect();
    let ms = time_gets(&api, &token, picks.len(), |i| format!("/api/v1/projects/{}/funds", picks[i])).await?;
    println!("  a project's balances by source (GET /projects/{{id}}/funds, {} projects): {}", picks.len(), summary(ms));
    let (_, body) = api.call(reqwest::Method::GET, &format!("/api/v1/projects/{}/funds", picks[0]), &token, None).await?;
    println!("    e.g. project {}: {}", picks[0], body["paid_by_source"]);

    let counties: Vec<String> = {
        let (_, list) = api.call(reqwest::Method::GET, "/api/v1/projects", &token, None).await?;
        let mut c: Vec<String> =
            list.as_array().map(|a| a.iter().filter_map(|p| p["region_code"].as_str().map(String::from)).collect()).unwrap_or_default();
        c.sort();
        c.dedup();
        c
    };
    let ms =
        time_gets(&api, &token, 60, |i| format!("/api/v1/funds/report?region={}&year={}", counties[i % counties.len()], 2024 + (i % 3)))
            .await?;
    println!(
        "  a county's report for a year (GET /funds/report, by source, region and month; {} counties × 3 years): {}",
        counties.len().min(60),
        summary(ms)
    );
    let (_, r) = api.call(reqwest::Method::GET, &format!("/api/v1/funds/report?region={}&year=2025", counties[0]), &token, None).await?;
    println!(
        "    e.g. county {} in 2025: {} months, paid {} fen, rate {}%",
        counties[0],
        r["by_month"].as_array().map(Vec::len).unwrap_or(0),
        r["paid"],
        r["rate_pct"]
    );

    // 32 clients against one allocation of PAYMENTS × 10,000 yuan, 10,000 yuan at a time.
    let payments: i64 = std::env::var("PAYMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let p0 =
        projects.as_array().and_then(|a| a.iter().find(|p| p["code"] == "BENCH-P0")).and_then(|p| p["id"].as_i64()).ok_or("no BENCH-P0")?;
    let (_, p0_page) = api.call(reqwest::Method::GET, &format!("/api/v1/projects/{p0}"), &token, None).await?;
    let region = p0_page["project"]["region_code"].as_str().ok_or("p0 region")?.to_string();
    let (s, alloc) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/allocations",
            &token,
            Some(&json!({"region_code": region, "source": "central", "year": 2026, "purpose": "并发测试", "amount": (payments * 10_000).to_string(), "projects": [p0]})),
        )
        .await?;
    if s != 201 {
        return Err(format!("allocation refused: {alloc}").into());
    }
    let (_, bases) = api.call(reqwest::Method::GET, &format!("/api/v1/projects/{p0}/payment-bases"), &token, None).await?;
    let basis = bases[0]["basis"].as_str().ok_or("no payment basis")?.to_string();
    let allocation = alloc["id"].as_i64().ok_or("allocation id")?;
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..32 {
        let (api, token, approver, basis) = (api.clone(), token.clone(), approver.clone(), basis.clone());
        handles.push(tokio::spawn(async move {
            let (mut approved, mut refused, mut ms) = (0usize, 0usize, Vec::new());
            loop {
                let body = json!({"allocation_id": allocation, "project_id": p0, "category": "basic", "payee": "并发测试", "amount": "10000", "basis": basis});
                let t = Instant::now();
                let (asked, d) = api.call(reqwest::Method::POST, "/api/v1/disbursements", &token, Some(&body)).await?;
                // A request the allocation can no longer pay is refused when asked for (funds.overspend).
                if asked == 409 && d["code"] == "funds.overspend" {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    refused += 1;
                    break;
                }
                let id = d["id"].as_i64().ok_or_else(|| format!("no disbursement id: {d}"))?;
                let (s, _) = api.call(reqwest::Method::POST, &format!("/api/v1/disbursements/{id}/approve"), &approver, Some(&json!({}))).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                match s {
                    200 => approved += 1,
                    409 => {
                        refused += 1;
                        break;
                    }
                    other => return Err::<_, Error>(format!("approve answered {other}").into()),
                }
            }
            Ok((approved, refused, ms))
        }));
    }
    let (mut approved, mut refused, mut all) = (0, 0, Vec::new());
    for h in handles {
        let (a, r, ms) = h.await??;
        approved += a;
        refused += r;
        all.extend(ms);
    }
    let secs = started.elapsed().as_secs_f64();
    let (_, list) = api.call(reqwest::Method::GET, "/api/v1/allocations", &token, None).await?;
    let left =
        list.as_array().and_then(|a| a.iter().find(|x| x["id"] == allocation)).and_then(|x| x["left"].as_i64()).ok_or("allocation gone")?;
    let (_, funds) = api.call(reqwest::Method::GET, &format!("/api/v1/projects/{p0}/funds"), &token, None).await?;
    println!(
        "  32 clients paying 10,000 yuan each against one {}-yuan allocation: {approved} approved, {refused} refused, left {left} fen, \
         project paid {}; {:.1} s, request+approve {}",
        payments * 10_000,
        funds["paid_by_source"],
        secs,
        summary(all)
    );
    println!("  {}", crate::raw::ratio_line("disbursements asked and decided, 32 clients", (approved + refused) as f64 / secs));
    if approved as i64 != payments || left != 0 {
        return Err(format!("overspent or lost: {approved} approved, {left} fen left").into());
    }
    Ok(())
}
