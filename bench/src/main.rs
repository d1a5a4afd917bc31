//! `huanxin-bench gen DIR ESTATES DWELLINGS [PREFIX]`: writes a national-scale registry as the import
//! CSV files (estates.csv, buildings.csv, dwellings-NN.csv), spread over the real community
//! committees of the whole country (or of the regions whose code starts with PREFIX, `35` for
//! Fujian). Deterministic (fixed seed).
//!
//! `huanxin-bench projects DATABASE_URL N [spread]`: adds N projects (one estate each, in its county; `spread`: over the whole registry) with
//! their approval steps, started through 2026 and finished in order, some late, to a database
//! that holds the estates.
//!
//! `huanxin-bench ledger DATABASE_URL ENTRIES` and `huanxin-bench funds BASE_URL USER PASSWORD`: the
//! funds benchmark (see `funds.rs`).
//!
//! `huanxin-bench voters DIR` and `huanxin-bench votes BASE_URL USER PASSWORD DIR`: the owners'
//! vote benchmark (see `votes.rs`); `huanxin-bench crash-votes …` kills the server mid-vote.
//!
//! `huanxin-bench national DATABASE_URL SIGNER` and `huanxin-bench dashboards BASE_URL DATABASE_URL USER
//! COUNTY_USER PASSWORD`: the national statistics benchmark (see `national.rs`); `huanxin-bench rebuild
//! DATABASE_URL` rebuilds the kept statistics of a database, timed.
//!
//! `huanxin-bench classify [TEXTS]`: the request classifier's accuracy and rate (see `classify.rs`).
//!
//! `huanxin-bench requests-seed DATABASE_URL N` and `huanxin-bench requests BASE_URL DATABASE_URL
//! PROVINCE_USER COUNTY_USER PASSWORD`: the requests benchmark (see `requests.rs`).
//!
//! `huanxin-bench raw-chain DATABASE_URL N`: the raw engine's chained-insert rate (see `raw.rs`).
//!
//! `huanxin-bench profile-ballot DATABASE_URL N`: where a ballot's time goes (see `profile.rs`).
//!
//! `huanxin-bench alarms-seed|alarms-load|alarms-kill|alarms-broker|alarms-raw …`: the alarm
//! ingest benchmark (see `alarms.rs` and `bench/alarms.sh`).

mod alarms;
mod classify;
mod funds;
mod national;
mod profile;
mod raw;
mod requests;
mod votes;

use huanxin_store::regions::{shipped_regions, RegionSelection};
use rand::Rng;
use std::io::Write;
use std::path::PathBuf;

/// The estate import file's header (the registry's import columns).
pub(crate) const ESTATE_HEADERS: [&str; 17] = [
    "小区编码",
    "小区名称",
    "别名",
    "地址",
    "社区代码",
    "经度",
    "纬度",
    "坐标系",
    "建成年份",
    "楼栋数",
    "户数",
    "建筑面积(㎡)",
    "产权类型",
    "物业管理",
    "业委会",
    "负责人",
    "联系电话",
];

/// Dwellings per CSV file, so that each import stays a county-sized file.
const DWELLINGS_PER_FILE: usize = 500_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 3 && args[1].starts_with("alarms-") {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        let num = |i: usize| args.get(i).and_then(|a| a.parse::<f64>().ok()).unwrap_or(0.0);
        let r = rt.block_on(async {
            match (args[1].as_str(), args.len()) {
                ("alarms-seed", 4) => alarms::seed(&args[2], num(3) as usize).await,
                ("alarms-load", 9) => alarms::load(&args[2], &args[3], &args[4], &args[5], num(6) as usize, num(7), num(8)).await,
                ("alarms-kill", 6) => alarms::kill_load(&args[2], num(3) as usize, num(4), num(5)).await,
                ("alarms-broker", 5) => alarms::broker_only(&args[2], num(3), num(4)).await,
                ("alarms-raw", 4) => alarms::raw(&args[2], num(3) as usize).await,
                _ => Err("see the usage at the top of bench/src/alarms.rs".into()),
            }
        });
        if let Err(e) = r {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 4 && args[1] == "raw-chain" {
        let n: usize = args[3].parse().unwrap_or(2_000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        match rt.block_on(raw::raw_chain(&args[2], n)) {
            // The rate alone on stdout, so a script can keep it.
            Ok(rate) => println!("{rate:.0}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if args.len() == 4 && args[1] == "profile-ballot" {
        let n: usize = args[3].parse().unwrap_or(2_000);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(profile::profile_ballot(&args[2], n)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if (args.len() == 4 || args.len() == 5) && args[1] == "projects" {
        let n: usize = args[3].parse().unwrap_or(50_000);
        let spread = args.get(4).is_some_and(|a| a == "spread");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(projects(&args[2], n, spread)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 4 && args[1] == "ledger" {
        let n: i64 = args[3].parse().unwrap_or(10_000_000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(funds::seed(&args[2], n)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 4 && args[1] == "national" {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(national::seed(&args[2], &args[3])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 4 && args[1] == "requests-seed" {
        let n: usize = args[3].parse().unwrap_or(1_000_000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(requests::seed(&args[2], n)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 7 && args[1] == "requests" {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(requests::run(&args[2], &args[3], &args[4], &args[5], &args[6])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if (args.len() == 2 || args.len() == 3) && args[1] == "classify" {
        let texts = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(200_000);
        if let Err(e) = classify::run(texts) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 3 && args[1] == "rebuild" {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(national::rebuild(&args[2])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 7 && args[1] == "dashboards" {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(national::dashboards(&args[2], &args[3], &args[4], &args[5], &args[6])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 5 && args[1] == "funds" {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(funds::run(&args[2], &args[3], &args[4])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 8 && args[1] == "crash-votes" {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        let pid: u32 = args[5].parse().unwrap_or(0);
        if let Err(e) = rt.block_on(votes::crash_votes(&args[2], &args[3], &args[4], pid, &args[6], std::path::Path::new(&args[7]))) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 3 && args[1] == "voters" {
        if let Err(e) = votes::voters(std::path::Path::new(&args[2])) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() == 6 && args[1] == "votes" {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(votes::votes(&args[2], &args[3], &args[4], std::path::Path::new(&args[5]))) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if (args.len() != 5 && args.len() != 6) || args[1] != "gen" {
        eprintln!(
            "usage: huanxin-bench gen DIR ESTATES DWELLINGS [PREFIX] | requests-seed DATABASE_URL N \
             | requests BASE_URL DATABASE_URL PROVINCE_USER COUNTY_USER PASSWORD | projects DATABASE_URL N [spread] | voters DIR | votes BASE_URL USER PASSWORD DIR \
             | ledger DATABASE_URL ENTRIES | funds BASE_URL USER PASSWORD | national DATABASE_URL SIGNER | rebuild DATABASE_URL \
             | dashboards BASE_URL DATABASE_URL USER COUNTY_USER PASSWORD | raw-chain DATABASE_URL N | profile-ballot DATABASE_URL N"
        );
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[2]);
    let estates: usize = args[3].parse().unwrap_or(280_000);
    let dwellings: usize = args[4].parse().unwrap_or(4_800_000);
    let prefix = args.get(5).map_or("", String::as_str);
    if let Err(e) = generate(&dir, estates, dwellings, prefix) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn generate(dir: &PathBuf, estates: usize, dwellings: usize, prefix: &str) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let regions = shipped_regions(&RegionSelection::All)?;
    let communities: Vec<&str> = regions.iter().filter(|r| r.level == 5 && r.code.starts_with(prefix)).map(|r| r.code.as_str()).collect();
    if communities.is_empty() {
        return Err(format!("no community's code starts with {prefix}").into());
    }
    // A rough location per province, so that estates spread over the country's map.
    let centre = |code: &str| -> (f64, f64) {
        let p: u32 = code[..2].parse().unwrap_or(11);
        let lon = 87.0 + f64::from((p * 37) % 40);
        let lat = 22.0 + f64::from((p * 13) % 22);
        (lon, lat)
    };
    let mut rng = huanxin_datagen::rng(42);
    let mut w = csv::Writer::from_path(dir.join("estates.csv"))?;
    w.write_record(ESTATE_HEADERS)?;
    let mut b = csv::Writer::from_path(dir.join("buildings.csv"))?;
    b.write_record(["小区编码", "楼号", "层数", "单元数", "电梯", "结构", "建成年份"])?;
    let mut buildings_total = 0usize;
    let mut building_keys: Vec<(u32, u16, u8, u8)> = Vec::new(); // estate, number, floors, stairwells
    for i in 0..estates {
        let cc = communities[rng.gen_range(0..communities.len())];
        let (lon, lat) = centre(cc);
        let (dlon, dlat) = (rng.gen_range(-3.0..3.0), rng.gen_range(-2.0..2.0));
        let row = huanxin_datagen::national_estate_row(&mut rng, i, cc, lon + dlon, lat + dlat);
        w.write_record(&row)?;
        // About 5.4 buildings per estate: 1.5 million for 280,000 estates.
        let n = rng.gen_range(1..=10u16);
        for k in 1..=n {
            let floors = rng.gen_range(4..=7u8);
            let stairwells = rng.gen_range(1..=3u8);
            b.write_record([
                format!("N{i:07}"),
                format!("{k}号楼"),
                floors.to_string(),
                stairwells.to_string(),
                "否".into(),
                "砖混".into(),
                String::new(),
            ])?;
            building_keys.push((i as u32, k, floors, stairwells));
            buildings_total += 1;
        }
    }
    w.flush()?;
    b.flush()?;
    // Two flats a floor make about 34 million dwellings for 1.5 million buildings; the national
    // 48 million need a third on some floors, as many older blocks have.
    let stairwell_floors: usize = building_keys.iter().map(|&(_, _, f, s)| usize::from(f) * usize::from(s)).sum();
    let per_floor = dwellings.div_ceil(stairwell_floors.max(1)).clamp(2, 9) as u8;
    let mut written = 0usize;
    let mut file_no = 0;
    let mut d: Option<csv::Writer<std::fs::File>> = None;
    'outer: for (estate, number, floors, stairwells) in building_keys {
        for s in 1..=stairwells {
            for f in 1..=floors {
                for u in 1..=per_floor {
                    if written == dwellings {
                        break 'outer;
                    }
                    if written.is_multiple_of(DWELLINGS_PER_FILE) {
                        if let Some(mut old) = d.take() {
                            old.flush()?;
                        }
                        file_no += 1;
                        let mut nw = csv::Writer::from_path(dir.join(format!("dwellings-{file_no:02}.csv")))?;
                        nw.write_record([
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
                        d = Some(nw);
                    }
                    if let Some(dw) = d.as_mut() {
                        dw.write_record([
                            format!("N{estate:07}"),
                            format!("{number}号楼"),
                            s.to_string(),
                            f.to_string(),
                            format!("{s}-{f}{u:02}"),
                            format!("{}.{:02}", rng.gen_range(40..120), rng.gen_range(0..100)),
                            "业主甲".into(),
                            String::new(),
                            String::new(),
                            "自住".into(),
                            rng.gen_range(0..3).to_string(),
                        ])?;
                    }
                    written += 1;
                }
            }
        }
    }
    if let Some(mut dw) = d {
        dw.flush()?;
    }
    let mut info = std::fs::File::create(dir.join("SIZES"))?;
    writeln!(info, "estates {estates}\nbuildings {buildings_total}\ndwellings {written}\ndwelling_files {file_no}")?;
    println!("estates {estates}, buildings {buildings_total}, dwellings {written} in {file_no} files -> {}", dir.display());
    Ok(())
}

/// Adds `n` projects with approval steps; see the module comment.
async fn projects(url: &str, n: usize, spread: bool) -> Result<(), Box<dyn std::error::Error>> {
    use chrono::{Duration, NaiveDate};
    use huanxin_domain::approvals::{due_on, finish, start, template, DEFAULT_STEPS, MERGED_DESIGN};
    let cal = huanxin_domain::calendar::WorkCalendar::shipped_once()?;
    use huanxin_store::Arg;
    let db = huanxin_store::Db::connect(url).await?;
    // The first n estates, or with `spread` every k-th, so that the projects cover the whole
    // registry (its files come region by region).
    let all: Vec<(i64, String)> = db.fetch_all("SELECT id, community_code FROM estates ORDER BY id", vec![]).await?;
    let step = if spread { (all.len() / n.max(1)).max(1) } else { 1 };
    let estates: Vec<(i64, String)> = all.into_iter().step_by(step).take(n).collect();
    let names: std::collections::HashMap<&str, &str> = DEFAULT_STEPS.iter().chain([&MERGED_DESIGN]).map(|t| (t.code, t.name_zh)).collect();
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).ok_or("date")?;
    let first = db.scalar("SELECT COALESCE(MAX(id), 0) FROM projects", vec![]).await?;
    let mut projects = Vec::new();
    let mut links = Vec::new();
    let mut steps = Vec::new();
    let (mut nodes, mut changes, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (estate, community)) in estates.iter().enumerate() {
        let id = first + 1 + i64::try_from(i)?;
        let county = format!("{:0<12}", &community[..6]);
        projects.push(vec![
            Arg::from(id),
            Arg::from(format!("BP-{id}")),
            Arg::from(format!("项目{id}")),
            Arg::from(county),
            Arg::from("bench"),
            Arg::from("2026-01-01T00:00:00Z"),
        ]);
        links.push(vec![Arg::from(id), Arg::from(*estate)]);
        let started = NaiveDate::from_ymd_opt(2026, 1, 1).ok_or("date")? + Duration::days(i64::try_from(i % 320)?);
        let mut state = start(&template(i % 3 == 0), started);
        // Finish steps in order, each taking its limit give or take a few days, until today.
        for k in 0..state.len() {
            let Some(began) = state[k].started_on else { continue };
            let took = i64::from(state[k].limit_days) + i64::try_from((i + k) % 9)? - 3;
            let done = began + Duration::days(took.max(1));
            if done > today {
                break;
            }
            let code = state[k].code.clone();
            let _ = finish(&mut state, &code, done);
        }
        schedule(i, *estate, started, today, &mut nodes, &mut changes, &mut tasks)?;
        for s in &state {
            steps.push(vec![
                Arg::from(id),
                Arg::from(s.code.as_str()),
                Arg::from(names.get(s.code.as_str()).copied().unwrap_or("")),
                Arg::from(i64::from(s.limit_days)),
                Arg::from(s.after.join(",")),
                Arg::from(s.started_on.map(|d| d.to_string())),
                Arg::from(due_on(cal, s).map(|d| d.to_string())),
                Arg::from(s.done_on.map(|d| d.to_string())),
            ]);
        }
    }
    let (np, ns, nn, nc, nt) = (projects.len(), steps.len(), nodes.len(), changes.len(), tasks.len());
    let mut tx = db.begin().await?;
    tx.insert_rows("projects", &["id", "code", "name", "region_code", "created_by", "created_at"], projects, "").await?;
    tx.insert_rows("project_estates", &["project_id", "estate_id"], links, "").await?;
    tx.insert_rows(
        "approval_steps",
        &["project_id", "code", "name", "limit_days", "after_codes", "started_on", "due_on", "done_on"],
        steps,
        "",
    )
    .await?;
    let node_cols = [
        "estate_id",
        "name",
        "weight",
        "planned_start",
        "planned_end",
        "actual_start",
        "actual_end",
        "progress_pct",
        "updated_by",
        "updated_at",
    ];
    tx.insert_rows("schedule_nodes", &node_cols, nodes, "").await?;
    tx.insert_rows(
        "design_changes",
        &["estate_id", "requested_by", "requested_on", "reason", "due_on", "delivered_by", "delivered_on", "answer"],
        changes,
        "",
    )
    .await?;
    tx.insert_rows(
        "rectifications",
        &["estate_id", "finding", "owner", "deadline", "supervised", "created_at", "closed_by", "closed_at"],
        tasks,
        "",
    )
    .await?;
    tx.commit().await?;
    if db.engine() == huanxin_store::Engine::Postgres {
        // Explicit ids leave the identity sequence behind.
        db.execute("SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT MAX(id) FROM projects))", vec![]).await?;
        db.execute("ANALYZE", vec![]).await?;
    }
    println!("{np} projects, {ns} approval steps, {nn} schedule nodes, {nc} design changes, {nt} rectification tasks");
    Ok(())
}

/// A project's construction as it would stand today: six schedule nodes from about five months after
/// its approval began, finished a few days either side of plan, one in thirteen left behind; a design
/// change in every tenth project (one in three of them still open), two rectification tasks in every
/// eighth (a third of them open).
fn schedule(
    i: usize,
    estate: i64,
    started: chrono::NaiveDate,
    today: chrono::NaiveDate,
    nodes: &mut Vec<Vec<huanxin_store::Arg>>,
    changes: &mut Vec<Vec<huanxin_store::Arg>>,
    tasks: &mut Vec<Vec<huanxin_store::Arg>>,
) -> Result<(), Box<dyn std::error::Error>> {
    use chrono::Duration;
    use huanxin_store::Arg;
    let opt = |d: Option<chrono::NaiveDate>| Arg::from(d.map(|d| d.to_string()));
    let base = started + Duration::days(150);
    for k in 0..6i64 {
        let start = base + Duration::days(15 * k);
        let end = start + Duration::days(30);
        let slip = i64::try_from((i + usize::try_from(k)?) % 7)? - 2;
        let behind = (i * 7 + usize::try_from(k)?).is_multiple_of(13);
        let (actual_start, actual_end, pct) = if end + Duration::days(slip) < today && !behind {
            (Some(start), Some(end + Duration::days(slip)), 100)
        } else if start + Duration::days(i64::try_from(i % 3)?) <= today {
            (Some(start + Duration::days(i64::try_from(i % 3)?)), None, 50)
        } else {
            (None, None, 0)
        };
        nodes.push(vec![
            Arg::from(estate),
            Arg::from(["拆除清理", "管网改造", "外墙保温", "屋面防水", "道路铺装", "绿化照明"][usize::try_from(k)?]),
            Arg::from(k + 1),
            Arg::from(start.to_string()),
            Arg::from(end.to_string()),
            opt(actual_start),
            opt(actual_end),
            Arg::from(pct),
            Arg::from("bench"),
            Arg::from("2026-11-01T00:00:00Z"),
        ]);
    }
    if i.is_multiple_of(10) && base < today {
        let asked = base + Duration::days(20);
        let due = asked + Duration::days(2);
        let open = i.is_multiple_of(30);
        changes.push(vec![
            Arg::from(estate),
            Arg::from("contractor"),
            Arg::from(asked.to_string()),
            Arg::from("雨棚改为钢结构"),
            Arg::from(due.to_string()),
            Arg::from((!open).then_some("designer".to_string())),
            opt((!open).then_some(due)),
            Arg::from(if open { "" } else { "已出具变更图" }),
        ]);
    }
    if i.is_multiple_of(8) {
        for t in 0..2i64 {
            let deadline = started + Duration::days(200 + 30 * t);
            let open = (i / 8 + usize::try_from(t)?).is_multiple_of(3);
            tasks.push(vec![
                Arg::from(estate),
                Arg::from(["雨水管渗漏", "扶手松动"][usize::try_from(t)?]),
                Arg::from("contractor"),
                Arg::from(deadline.to_string()),
                Arg::from(t == 0),
                Arg::from("2026-06-01T00:00:00Z"),
                Arg::from((!open).then_some("county_staff".to_string())),
                Arg::from((!open).then_some(format!("{deadline}T00:00:00Z"))),
            ]);
        }
    }
    Ok(())
}
