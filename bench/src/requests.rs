//! The requests benchmark (issue 16, part 7).
//!
//! `huanxin-bench requests-seed DATABASE_URL N`: N historical requests over the last two years on
//! the estates of the database (a province's, from `gen … PREFIX`), most of them closed, written
//! straight to the table in batches; prints the county with the most estates.
//!
//! `huanxin-bench requests BASE_URL DATABASE_URL PROVINCE_USER COUNTY_USER PASSWORD`: against the
//! running server, a province's hot spots (7 and 30 days) at 16 clients, beside the raw engine
//! running the same grouped statements at 16 at a time; then a 10,000-row 12345 export of the
//! county's estates (nine in ten addresses name one) imported once, beside the raw engine
//! inserting 10,000 plain rows into the requests table, one statement each, in one transaction;
//! and Open311 GETs (a county's newest 50 requests, one kind's open ones, one request by id) at 16
//! clients, beside the raw engine running the listing's statement at 16 at a time.

use crate::national::{load, login};
use crate::votes::{summary, Api, Error};
use huanxin_domain::requests::categories;
use huanxin_store::{Arg, Db};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes N requests (see the module's doc).
pub async fn seed(url: &str, n: usize) -> Result<(), Error> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let estates: Vec<(i64, String)> = db.fetch_all("SELECT id, community_code FROM estates ORDER BY id", vec![]).await?;
    if estates.is_empty() {
        return Err("no estates: import a registry first".into());
    }
    let leaves: Vec<&str> = categories::leaves().map(|l| l.code).collect();
    let mut rng = huanxin_datagen::rng(16);
    let now = chrono::Utc::now();
    let t = Instant::now();
    let cols = "estate_id, author, channel, category, text, status, due_on, created_at, unit_kind, unit_region, unit_name, county_code";
    let per = 400;
    let mut written = 0;
    while written < n {
        let k = per.min(n - written);
        let mut marks = Vec::with_capacity(k);
        let mut args: Vec<Arg> = Vec::with_capacity(k * 12);
        for i in 0..k {
            // Some estates call far more often than others: the hot spots stand out.
            let e = &estates[(rng.gen_range(0.0f64..1.0).powi(3) * estates.len() as f64) as usize % estates.len()];
            let at = now - chrono::Duration::minutes(rng.gen_range(0..730 * 24 * 60));
            let category = leaves[rng.gen_range(0..leaves.len())];
            let status = if at > now - chrono::Duration::days(10) { "submitted" } else { "closed" };
            let b = i * 12;
            marks.push(format!("({})", (1..=12).map(|j| format!("${}", b + j)).collect::<Vec<_>>().join(", ")));
            args.extend([
                e.0.into(),
                "居民".into(),
                "phone".into(),
                category.into(),
                format!("第{}号诉求", written + i).into(),
                status.into(),
                (at + chrono::Duration::days(5)).format("%Y-%m-%d").to_string().into(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into(),
                "community".into(),
                e.1.as_str().into(),
                "社区居委会".into(),
                e.1.get(..6).unwrap_or("").into(),
            ]);
        }
        db.execute(&format!("INSERT INTO service_requests ({cols}) VALUES {}", marks.join(", ")), args).await?;
        written += k;
    }
    if db.engine() == huanxin_store::Engine::Postgres {
        db.execute("VACUUM ANALYZE service_requests", vec![]).await?;
    }
    eprintln!("  {n} requests on {} estates written in {:.1} s", estates.len(), t.elapsed().as_secs_f64());
    // The county with the most estates, on stdout, for the script's county desk.
    let (county, _): (String, i64) = db
        .fetch_one(
            "SELECT SUBSTR(community_code, 1, 6) AS county, COUNT(*) AS n FROM estates GROUP BY SUBSTR(community_code, 1, 6) ORDER BY n DESC, county LIMIT 1",
            vec![],
        )
        .await?;
    println!("{county}000000");
    Ok(())
}

/// The hot-spot page's grouped statement (by estate and kind over the window) straight on the
/// engine, `clients` at a time for `secs` seconds: latencies in ms.
async fn raw_hotspots(url: &str, prefix: &str, days: i64, clients: usize, secs: f64) -> Result<Vec<f64>, Error> {
    let db = Db::connect(url).await?;
    let since = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let lo = format!("{prefix:0<12}");
    let hi = format!("{:0<12}", prefix.parse::<u64>().map(|p| p + 1).unwrap_or(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (db, since, lo, hi) = (db.clone(), since.clone(), lo.clone(), hi.clone());
        handles.push(tokio::spawn(async move {
            let mut ms = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                let from = "service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.created_at >= $1 \
                            AND e.community_code >= $2 AND e.community_code < $3";
                let args: Vec<Arg> = vec![since.as_str().into(), lo.as_str().into(), hi.as_str().into()];
                let a: Vec<(String, i64)> =
                    db.fetch_all(&format!("SELECT r.category, COUNT(*) FROM {from} GROUP BY r.category"), args.clone()).await?;
                let b: Vec<(i64, i64)> =
                    db.fetch_all(&format!("SELECT e.id, COUNT(*) AS n FROM {from} GROUP BY e.id ORDER BY n DESC LIMIT 200"), args).await?;
                std::hint::black_box((a, b));
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, Error>(ms)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    Ok(all)
}

/// The Open311 listing's statement (a jurisdiction's newest 50 of the last 90 days) straight on
/// the engine, `clients` at a time for `secs` seconds: latencies in ms.
async fn raw_open311(url: &str, county: &str, clients: usize, secs: f64) -> Result<Vec<f64>, Error> {
    let db = Db::connect(url).await?;
    let now = chrono::Utc::now();
    let since = (now - chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let until_t = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let lo = county.get(..6).unwrap_or("").to_string();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut handles = Vec::new();
    for _ in 0..clients {
        let (db, since, until_t, lo) = (db.clone(), since.clone(), until_t.clone(), lo.clone());
        handles.push(tokio::spawn(async move {
            let mut ms = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                // The county's newest 50 by the county's own index, as the listing reads them.
                let rows: Vec<(i64, String, String, String, String, String)> = db
                    .fetch_all(
                        "SELECT r.id, r.status, r.category, r.text, r.created_at, e.name FROM service_requests r JOIN estates e ON e.id = r.estate_id \
                         WHERE r.county_code = $1 AND r.created_at >= $2 AND r.created_at < $3 \
                         ORDER BY r.created_at DESC, r.id DESC LIMIT 50",
                        vec![lo.as_str().into(), since.as_str().into(), until_t.as_str().into()],
                    )
                    .await?;
                std::hint::black_box(rows);
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, Error>(ms)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    Ok(all)
}

fn p99(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(|a, b| a.total_cmp(b));
    ms.get(((ms.len() as f64 - 1.0) * 0.99).round() as usize).copied().unwrap_or(0.0)
}

/// Runs the benchmark (see the module's doc).
pub async fn run(base: &str, url: &str, province_user: &str, county_user: &str, password: &str) -> Result<(), Error> {
    let secs: f64 = std::env::var("SECONDS_EACH").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let clients = 16;
    let api = Arc::new(Api { base: base.to_string(), http: reqwest::Client::builder().pool_max_idle_per_host(64).build()? });
    let token = login(&api, province_user, password).await?;
    let db = Db::connect(url).await?;
    let (region,): (String,) = db.fetch_one("SELECT region_code FROM users WHERE username = $1", vec![province_user.into()]).await?;
    let prefix = region.trim_end_matches('0').to_string();
    let total = db.scalar("SELECT COUNT(*) FROM service_requests", vec![]).await?;
    println!("  {total} requests; hot spots of province {region}, {clients} clients, {secs:.0} s each:");
    // OPEN311_ONLY=1 measures the Open311 GETs alone.
    let only_open311 = std::env::var("OPEN311_ONLY").is_ok_and(|v| v == "1");
    for days in [7, 30].into_iter().filter(|_| !only_open311) {
        let (ms, bad) = load(&api, &token, &format!("/api/v1/requests/hotspots?days={days}"), clients, secs).await?;
        let served = p99(ms.clone());
        let raw = raw_hotspots(url, &prefix, days, clients, secs).await?;
        let raw99 = p99(raw.clone());
        println!(
            "    {days:>2} days: {}{}, {:.0} req/s; raw engine (the grouped statement) {}; p99 ratio {:.2}",
            summary(ms.clone()),
            if bad > 0 { format!(", {bad} not 200") } else { String::new() },
            ms.len() as f64 / secs,
            summary(raw),
            served / raw99.max(1e-9)
        );
    }

    // Open311 GETs of the county (no sign-in: the listing is public, names and phones never in it).
    let (county,): (String,) = db.fetch_one("SELECT region_code FROM users WHERE username = $1", vec![county_user.into()]).await?;
    let jurisdiction = county.trim_end_matches('0');
    let (one,): (i64,) = db
        .fetch_one(
            "SELECT MAX(r.id) FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE e.community_code >= $1 AND e.community_code < $2",
            vec![jurisdiction.into(), format!("{jurisdiction}:").into()],
        )
        .await?;
    println!("  Open311 GETs of county {county}, {clients} clients, {secs:.0} s each:");
    let raw = raw_open311(url, &county, clients, secs).await?;
    let raw99 = p99(raw.clone());
    println!("    raw engine (the listing's statement, newest 50): {}", summary(raw));
    for (what, path) in [
        ("newest 50 of 90 days (the default page)", format!("/open311/v2/requests.json?jurisdiction_id={jurisdiction}")),
        ("one kind, open", format!("/open311/v2/requests.json?jurisdiction_id={jurisdiction}&service_code=repair.water&status=open")),
        ("one by id", format!("/open311/v2/requests/{one}.json?jurisdiction_id={jurisdiction}")),
        ("services", format!("/open311/v2/services.json?jurisdiction_id={jurisdiction}")),
    ] {
        let (ms, bad) = load(&api, "", &path, clients, secs).await?;
        let served = p99(ms.clone());
        println!(
            "    {what}: {}{}, {:.0} req/s; p99 ratio to the raw statement {:.2}",
            summary(ms.clone()),
            if bad > 0 { format!(", {bad} not 200") } else { String::new() },
            ms.len() as f64 / secs,
            served / raw99.max(1e-9)
        );
    }

    if only_open311 {
        return Ok(());
    }

    // The hotline export: the county's estates, nine addresses in ten naming one.
    let county_token = login(&api, county_user, password).await?;
    let lo = county.clone();
    let hi = format!("{:0<12}", county.trim_end_matches('0').parse::<u64>().map(|p| p + 1).unwrap_or(0));
    let names: Vec<(String,)> = db
        .fetch_all("SELECT name FROM estates WHERE community_code >= $1 AND community_code < $2 ORDER BY id", vec![lo.into(), hi.into()])
        .await?;
    if names.is_empty() {
        return Err(format!("no estates in county {county}").into());
    }
    let texts = [
        "楼道灯坏了一个月没人修",
        "小区垃圾清运不及时有异味",
        "电梯经常停运",
        "下水道堵塞污水外溢",
        "施工噪音太大晚上睡不着",
        "加装电梯的政策咨询",
    ];
    let run_id = chrono::Utc::now().timestamp();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["工单编号", "来电时间", "来电人", "电话", "地址", "诉求内容", "诉求类型"].iter().enumerate() {
        ws.write_string(0, c as u16, *h)?;
    }
    let rows = 10_000u32;
    let mut rng = huanxin_datagen::rng(12345);
    for i in 1..=rows {
        let address = if i % 10 == 0 {
            format!("城南菜市场{i}号摊位")
        } else {
            format!("{}{}号楼", names[rng.gen_range(0..names.len())].0, i % 12 + 1)
        };
        let cells = [
            format!("B{run_id}-{i:05}"),
            format!("2026-11-{:02} {:02}:{:02}", i % 28 + 1, i % 24, i % 60),
            "市民".to_string(),
            format!("139{:08}", i),
            address,
            texts[i as usize % texts.len()].to_string(),
            "城乡建设".to_string(),
        ];
        for (c, v) in cells.iter().enumerate() {
            ws.write_string(i, c as u16, v)?;
        }
    }
    let bytes = wb.save_to_buffer()?;
    let t = Instant::now();
    let part = reqwest::multipart::Part::bytes(bytes).file_name("12345.xlsx");
    let res = api
        .http
        .post(format!("{base}/api/v1/requests/hotline"))
        .bearer_auth(&county_token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    let status = res.status().as_u16();
    let report: serde_json::Value = res.json().await?;
    let took = t.elapsed().as_secs_f64();
    if status != 200 {
        return Err(format!("the hotline import answered {status}: {report}").into());
    }
    // The nearest plain equivalent: 10,000 rows into the same table in one transaction.
    let (estate,): (i64,) = db.fetch_one("SELECT MIN(id) FROM estates", vec![]).await?;
    let t = Instant::now();
    // The nearest plain equivalent: 10,000 rows into the same table, one statement each, in one transaction.
    let mut tx = db.begin().await?;
    for i in 0..rows {
        tx.execute(
            "INSERT INTO service_requests (estate_id, author, channel, category, text, status, due_on, created_at, unit_kind, unit_region, unit_name, work_order) \
             VALUES ($1, '居民', 'hotline', 'property', $2, 'submitted', '2026-11-30', $3, 'community', '', '', $4)",
            vec![estate.into(), texts[i as usize % texts.len()].into(), chrono::Utc::now().to_rfc3339().into(), format!("R{run_id}-{i}").into()],
        )
        .await?;
    }
    tx.commit().await?;
    let raw = t.elapsed().as_secs_f64();
    println!(
        "  12345 import, {rows} rows as xlsx ({} filed, {} waiting for an estate): {took:.2} s over HTTP; raw engine: {rows} plain inserts in one transaction {raw:.2} s; ratio {:.1}",
        report["filed"], report["unmatched"], took / raw.max(1e-9)
    );
    Ok(())
}
