//! The owners' vote benchmark, driven over HTTP against a running server.
//!
//! `huanxin-bench voters DIR`: two estates in 北关社区 (N0000000 with 10,000 dwellings, N0000001
//! with 5,000), each dwelling with its own owner (name and phone), as import CSV files.
//!
//! `huanxin-bench votes BASE_URL USER PASSWORD DIR`: binds every owner of the first estate with an
//! invitation code, sets up a decision, then has the 10,000 owners vote online arriving evenly over
//! 60 s (and again as fast as 64 connections go, on a second decision); checks that nothing was lost
//! or counted twice and that the chain verifies (and again arriving over 20 s); then enters 5,000 paper ballots on the second
//! estate and times the tally of its 5,000-dwelling electorate.

use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// Writes the two estates, their buildings and dwellings.
pub fn voters(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let mut rng = huanxin_datagen::rng(7);
    let mut e = csv::Writer::from_path(dir.join("estates.csv"))?;
    e.write_record(crate::ESTATE_HEADERS)?;
    let mut b = csv::Writer::from_path(dir.join("buildings.csv"))?;
    b.write_record(["小区编码", "楼号", "层数", "单元数", "电梯", "结构", "建成年份"])?;
    let mut d = csv::Writer::from_path(dir.join("dwellings.csv"))?;
    d.write_record([
        "小区编码",
        "楼号",
        "单元",
        "楼层",
        "室号",
        "专有面积(㎡)",
        "业主",
        "业主电话",
        "份额(%)",
        "居住情况",
        "60岁以上人数",
    ])?;
    let mut owner = 0u32;
    for (i, dwellings) in [(0usize, 10_000usize), (1, 5_000)] {
        e.write_record(huanxin_datagen::national_estate_row(&mut rng, i, "350521100001", 118.8, 25.03))?;
        // Buildings of 6 floors, 2 stairwells, 2 dwellings per landing: 24 dwellings each (the last one part-filled).
        let mut written = 0;
        for k in 1..=dwellings.div_ceil(24) {
            b.write_record([format!("N{i:07}"), format!("{k}号楼"), "6".into(), "2".into(), "否".into(), "砖混".into(), String::new()])?;
            for s in 1..=2 {
                for f in 1..=6 {
                    for u in 1..=2 {
                        if written == dwellings {
                            continue;
                        }
                        written += 1;
                        owner += 1;
                        d.write_record([
                            format!("N{i:07}"),
                            format!("{k}号楼"),
                            s.to_string(),
                            f.to_string(),
                            format!("{s}-{f}{u:02}"),
                            format!("{}.{:02}", rng.gen_range(40..120), rng.gen_range(0..100)),
                            format!("业主{owner}"),
                            format!("139{owner:08}"),
                            String::new(),
                            "自住".into(),
                            "0".into(),
                        ])?;
                    }
                }
            }
        }
    }
    e.flush()?;
    b.flush()?;
    d.flush()?;
    println!("2 estates, 15,000 dwellings -> {}", dir.display());
    Ok(())
}

/// A client of the server under test.
pub(crate) struct Api {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
}

impl Api {
    /// One call; the status and the JSON body (null when there is none).
    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> Result<(u16, Value), Error> {
        let mut r = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(b);
        }
        let res = r.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50, p99 and max of latencies in ms.
pub(crate) fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", percentile(&ms, 0.5), percentile(&ms, 0.99), ms.last().copied().unwrap_or(0.0))
}

/// Casts one ballot per (token, dwelling) pair; `pace` spreads the starts evenly over that time,
/// else `connections` run back to back. Returns (latencies in ms, statuses by code, seconds taken).
async fn cast_all(
    api: Arc<Api>,
    decision: i64,
    voters: &[(String, i64)],
    pace: Option<Duration>,
    connections: usize,
) -> Result<(Vec<f64>, HashMap<u16, usize>, f64), Error> {
    let start = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(if pace.is_some() { 10_000 } else { connections }));
    let mut handles = Vec::with_capacity(voters.len());
    let n = voters.len().max(1) as u32;
    for (i, (token, dwelling)) in voters.iter().cloned().enumerate() {
        if let Some(p) = pace {
            let at = start + p * (i as u32) / n;
            tokio::time::sleep_until(at.into()).await;
        }
        let permit = gate.clone().acquire_owned().await?;
        let api = api.clone();
        let choice = ["agree", "agree", "agree", "agree", "agree", "agree", "agree", "disagree", "disagree", "abstain"][i % 10];
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/decisions/{decision}/ballots"),
                    &token,
                    Some(&json!({"dwelling_id": dwelling, "choice": choice})),
                )
                .await;
            drop(permit);
            (t.elapsed().as_secs_f64() * 1000.0, r.map(|(s, _)| s).unwrap_or(0))
        }));
    }
    let mut ms = Vec::with_capacity(handles.len());
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for h in handles {
        let (t, s) = h.await?;
        ms.push(t);
        *statuses.entry(s).or_default() += 1;
    }
    Ok((ms, statuses, start.elapsed().as_secs_f64()))
}

async fn estate_id(api: &Api, token: &str, code: &str) -> Result<i64, Error> {
    let (_, page) = api.call(reqwest::Method::GET, &format!("/api/v1/estates?q={code}"), token, None).await?;
    page["items"][0]["id"].as_i64().ok_or_else(|| format!("estate {code} not found: {page}").into())
}

async fn new_decision(api: &Api, token: &str, estate: i64, title: &str) -> Result<i64, Error> {
    let now = chrono::Utc::now();
    let body = json!({"title": title, "matter": "renovate", "scope": "estate",
        "opens_at": (now - chrono::Duration::minutes(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::hours(2)).to_rfc3339()});
    let (s, page) = api.call(reqwest::Method::POST, &format!("/api/v1/estates/{estate}/decisions"), token, Some(&body)).await?;
    if s != 200 {
        return Err(format!("decision refused: {page}").into());
    }
    page["decision"]["id"].as_i64().ok_or_else(|| "no decision id".into())
}

/// Checks a decision after voting: ballots counted, none twice, the chain intact.
async fn check(api: &Api, token: &str, decision: i64, expected: usize) -> Result<String, Error> {
    let (_, page) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{decision}"), token, None).await?;
    let counted = page["tally"]["ballots"].as_i64().unwrap_or(-1);
    let (_, list) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{decision}/ballots"), token, None).await?;
    let rows = list.as_array().map(Vec::len).unwrap_or(0);
    let distinct = list
        .as_array()
        .map(|l| l.iter().filter_map(|b| b["dwelling_id"].as_i64()).collect::<std::collections::HashSet<_>>().len())
        .unwrap_or(0);
    let (_, v) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{decision}/verify"), token, None).await?;
    let lost = expected as i64 - counted;
    Ok(format!(
        "stored {rows}, counted {counted}, distinct dwellings {distinct}: lost {lost}, double {}; chain intact {}; passed {}",
        rows - distinct,
        v["intact"],
        page["tally"]["passed"]
    ))
}

/// The HTTP part of the benchmark (see the module's doc).
pub async fn votes(base: &str, user: &str, password: &str, dir: &Path) -> Result<(), Error> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(30)).build()?;
    let api = Arc::new(Api { base: base.trim_end_matches('/').to_string(), http });
    let res =
        api.http.post(format!("{}/api/v1/auth/login", api.base)).json(&json!({"username": user, "password": password})).send().await?;
    let staff = res.json::<Value>().await?["token"].as_str().ok_or("login failed")?.to_string();

    // Owners as registered: (building, dwelling number) -> (name, phone).
    let mut owners: HashMap<(String, String), (String, String)> = HashMap::new();
    let mut r = csv::Reader::from_path(dir.join("dwellings.csv"))?;
    for row in r.records() {
        let row = row?;
        if &row[0] == "N0000000" {
            owners.insert((row[1].to_string(), row[4].to_string()), (row[6].to_string(), row[7].to_string()));
        }
    }
    let a = estate_id(&api, &staff, "N0000000").await?;
    let t = Instant::now();
    let (s, inv) = api.call(reqwest::Method::POST, &format!("/api/v1/estates/{a}/invitations"), &staff, Some(&json!({}))).await?;
    if s != 200 {
        return Err(format!("invitations refused: {inv}").into());
    }
    let invitations = inv["invitations"].as_array().cloned().unwrap_or_default();
    println!("  invitation codes: {} issued in {:.2} s", invitations.len(), t.elapsed().as_secs_f64());

    // Every owner binds from "their phone" (32 at a time).
    let t = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut handles = Vec::new();
    for i in &invitations {
        let key = (i["building_number"].as_str().unwrap_or("").to_string(), i["number"].as_str().unwrap_or("").to_string());
        let (name, phone) = owners.get(&key).cloned().ok_or_else(|| format!("no owner for {key:?}"))?;
        let code = i["code"].as_str().unwrap_or("").to_string();
        let dwelling = i["dwelling_id"].as_i64().unwrap_or(0);
        let (api, permit, staff) = (api.clone(), gate.clone().acquire_owned().await?, staff.clone());
        handles.push(tokio::spawn(async move {
            let mut ms = [0.0f64; 3];
            let t = Instant::now();
            let r = api
                .http
                .post(format!("{}/api/v1/residents/bind", api.base))
                .json(&json!({"code": code, "name": name, "phone": phone}))
                .send()
                .await;
            let body: Value = match r {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            let token = body["token"].as_str().map(str::to_string);
            ms[0] = t.elapsed().as_secs_f64() * 1000.0;
            // What the owner typed is only a claim: the desk checks the certificate (an owner's
            // standing is never taken from the phone typed at binding).
            let mut owner = false;
            if let Some(tk) = &token {
                let t = Instant::now();
                let me = api.call(reqwest::Method::GET, "/api/v1/auth/me", tk, None).await.map(|(_, m)| m).unwrap_or(Value::Null);
                ms[1] = t.elapsed().as_secs_f64() * 1000.0;
                let t = Instant::now();
                let check = json!({"dwelling_id": dwelling, "user_id": me["id"], "certificate_no": format!("压测产权证{dwelling:08}")});
                let verified =
                    api.call(reqwest::Method::POST, &format!("/api/v1/estates/{a}/residents/verify"), &staff, Some(&check)).await;
                owner = matches!(verified, Ok((200, _)));
                ms[2] = t.elapsed().as_secs_f64() * 1000.0;
            }
            drop(permit);
            (token, owner, dwelling, ms)
        }));
    }
    let mut voters = Vec::new();
    let mut not_owner = 0;
    let mut per_step: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for h in handles {
        let (token, owner, dwelling, ms) = h.await?;
        for (all, one) in per_step.iter_mut().zip(ms) {
            all.push(one);
        }
        match token {
            Some(tk) if owner => voters.push((tk, dwelling)),
            _ => not_owner += 1,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("  bound and verified {} owners in {secs:.1} s ({} failed or not owners)", voters.len(), not_owner);
    for (what, ms) in
        ["the owner binds (POST /residents/bind)", "the owner's phone reads /auth/me", "the clerk verifies (POST …/residents/verify)"]
            .iter()
            .zip(per_step)
    {
        println!("    {what}: {}", summary(ms));
    }
    println!("  {}", crate::raw::ratio_line("bindings (three requests each, 32 at a time)", voters.len() as f64 / secs));

    // 10,000 owners arrive evenly over 60 s.
    let d1 = new_decision(&api, &staff, a, "加装电梯与外立面改造（压测一）").await?;
    let (ms, statuses, secs) = cast_all(api.clone(), d1, &voters, Some(Duration::from_secs(60)), 0).await?;
    println!("  {} ballots arriving over 60 s: done in {secs:.1} s, {}; statuses {statuses:?}", voters.len(), summary(ms));
    // Each owner tries again (a double tap, a second phone): every one must be refused.
    let (_, again, _) = cast_all(api.clone(), d1, &voters[..1000.min(voters.len())], None, 64).await?;
    println!("  1,000 second ballots for the same dwellings: statuses {again:?}");
    println!("  check: {}", check(&api, &staff, d1, voters.len()).await?);

    // A busier closing night: the same owners arrive over 20 s (500 a second).
    let d1b = new_decision(&api, &staff, a, "加装电梯与外立面改造（压测一·二十秒）").await?;
    let (ms, statuses, secs) = cast_all(api.clone(), d1b, &voters, Some(Duration::from_secs(20)), 0).await?;
    println!("  {} ballots arriving over 20 s: done in {secs:.1} s, {}; statuses {statuses:?}", voters.len(), summary(ms));
    println!("  check: {}", check(&api, &staff, d1b, voters.len()).await?);

    // The same owners on a second decision, as fast as 64 connections go.
    let d2 = new_decision(&api, &staff, a, "加装电梯与外立面改造（压测二）").await?;
    let (ms, statuses, secs) = cast_all(api.clone(), d2, &voters, None, 64).await?;
    println!(
        "  {} ballots, 64 connections back to back: {secs:.1} s ({:.0} ballots/s), {}; statuses {statuses:?}",
        voters.len(),
        voters.len() as f64 / secs,
        summary(ms)
    );
    println!("  {}", crate::raw::ratio_line("ballot write path, 64 connections", voters.len() as f64 / secs));
    println!("  check: {}", check(&api, &staff, d2, voters.len()).await?);

    // The tally of a 5,000-dwelling estate, after 5,000 paper ballots.
    let b = estate_id(&api, &staff, "N0000001").await?;
    let d3 = new_decision(&api, &staff, b, "改造方案表决（纸质票）").await?;
    let (_, dwellings) =
        api.call(reqwest::Method::GET, &format!("/api/v1/estates/{b}/dwellings?per_page=1000&page=1"), &staff, None).await?;
    let total = dwellings["total"].as_i64().unwrap_or(0);
    let mut ids = Vec::new();
    for page in 1..=(total + 999) / 1000 {
        let (_, p) =
            api.call(reqwest::Method::GET, &format!("/api/v1/estates/{b}/dwellings?per_page=1000&page={page}"), &staff, None).await?;
        ids.extend(p["items"].as_array().cloned().unwrap_or_default().iter().filter_map(|d| d["id"].as_i64()));
    }
    let t = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut handles = Vec::new();
    for (i, id) in ids.iter().copied().enumerate() {
        let (api, staff, permit) = (api.clone(), staff.clone(), gate.clone().acquire_owned().await?);
        handles.push(tokio::spawn(async move {
            let choice = if i % 5 == 0 { "disagree" } else { "agree" };
            let r = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/decisions/{d3}/ballots"),
                    &staff,
                    Some(&json!({"dwelling_id": id, "choice": choice, "voter": format!("业主{i}")})),
                )
                .await;
            drop(permit);
            r.map(|(s, _)| s).unwrap_or(0)
        }));
    }
    let mut ok = 0;
    for h in handles {
        if h.await? == 200 {
            ok += 1;
        }
    }
    println!("  {ok} paper ballots entered by staff (16 at a time) in {:.1} s", t.elapsed().as_secs_f64());
    let mut ms = Vec::new();
    let mut last = Value::Null;
    for _ in 0..200 {
        let t = Instant::now();
        let (_, page) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{d3}"), &staff, None).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        last = page;
    }
    println!(
        "  tally of {} dwellings / {} owners with {} ballots (GET /decisions/{{id}}, 200 times): {}",
        ids.len(),
        last["tally"]["electorate"]["owners"],
        last["tally"]["ballots"],
        summary(ms)
    );
    Ok(())
}

/// `huanxin-bench crash-votes BASE_URL USER PASSWORD PID SERVER_BIN PIDFILE`: paper ballots for a
/// new decision on the 5,000-dwelling estate arrive evenly over 60 s; 20 s in, the server (PID) is
/// killed with SIGKILL and started again (SERVER_BIN serve, with this process's environment; its
/// pid written to PIDFILE), and the ballots go on. Afterwards every acknowledged ballot (200 with a
/// receipt) must be in the chain, nothing twice, the chain intact and the running counts right.
pub async fn crash_votes(base: &str, user: &str, password: &str, pid: u32, server_bin: &str, pidfile: &Path) -> Result<(), Error> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(30)).build()?;
    let api = Arc::new(Api { base: base.trim_end_matches('/').to_string(), http });
    let login = json!({"username": user, "password": password});
    let res = api.http.post(format!("{}/api/v1/auth/login", api.base)).json(&login).send().await?;
    let staff = res.json::<Value>().await?["token"].as_str().ok_or("login failed")?.to_string();
    let b = estate_id(&api, &staff, "N0000001").await?;
    let d = new_decision(&api, &staff, b, "断电演练：表决中途进程被杀").await?;
    let mut ids = Vec::new();
    for page in 1..=5 {
        let (_, p) =
            api.call(reqwest::Method::GET, &format!("/api/v1/estates/{b}/dwellings?per_page=1000&page={page}"), &staff, None).await?;
        ids.extend(p["items"].as_array().cloned().unwrap_or_default().iter().filter_map(|d| d["id"].as_i64()));
    }
    let start = Instant::now();
    let n = ids.len().max(1) as u32;
    let killer = {
        let (server_bin, pidfile) = (server_bin.to_string(), pidfile.to_path_buf());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(20)).await;
            let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().map(|s| s.success()).unwrap_or(false);
            let at = start.elapsed().as_secs_f64();
            // As a supervisor would: start again once the process is gone (a zombie has let go of
            // its files, and with them the SQLite file's lock), not while the kernel still tears it down.
            let gone = || {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .map(|s| s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
                    .unwrap_or(true)
            };
            for _ in 0..500 {
                if gone() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let log = std::fs::File::create(pidfile.with_extension("log")).ok();
            let child = std::process::Command::new(server_bin)
                .arg("serve")
                .stdout(std::process::Stdio::null())
                .stderr(log.map(std::process::Stdio::from).unwrap_or_else(std::process::Stdio::null))
                .spawn();
            if let Ok(c) = &child {
                let _ = std::fs::write(&pidfile, c.id().to_string());
            }
            (killed, at, child.is_ok())
        })
    };
    let mut handles = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().copied().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs(60) * (i as u32) / n).into()).await;
        let (api, staff) = (api.clone(), staff.clone());
        handles.push(tokio::spawn(async move {
            let body =
                json!({"dwelling_id": id, "choice": if i.is_multiple_of(4) { "disagree" } else { "agree" }, "voter": format!("业主{i}")});
            let r = api.call(reqwest::Method::POST, &format!("/api/v1/decisions/{d}/ballots"), &staff, Some(&body)).await;
            (id, r.map(|(s, _)| s).unwrap_or(0))
        }));
    }
    let (mut acknowledged, mut refused, mut failed) = (Vec::new(), 0, 0);
    for h in handles {
        match h.await? {
            (id, 200) => acknowledged.push(id),
            (_, 0) => failed += 1,
            _ => refused += 1,
        }
    }
    let (killed, at, restarted) = killer.await?;
    println!(
        "  kill -9 at {at:.1} s (killed {killed}, restarted {restarted}): {} ballots acknowledged, {failed} without an answer (server down), {refused} refused",
        acknowledged.len()
    );
    let (_, list) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{d}/ballots"), &staff, None).await?;
    let stored: std::collections::HashSet<i64> =
        list.as_array().map(|l| l.iter().filter_map(|b| b["dwelling_id"].as_i64()).collect()).unwrap_or_default();
    let rows = list.as_array().map(Vec::len).unwrap_or(0);
    let lost = acknowledged.iter().filter(|id| !stored.contains(id)).count();
    let (_, v) = api.call(reqwest::Method::GET, &format!("/api/v1/decisions/{d}/verify"), &staff, None).await?;
    println!(
        "  after the restart: stored {rows}, distinct {}; acknowledged but lost {lost}; stored without an answer {}; chain and counts intact {}",
        stored.len(),
        rows.saturating_sub(acknowledged.len()),
        v["intact"]
    );
    Ok(())
}
