//! `huanxin-bench gen DIR ESTATES DWELLINGS`: writes a national-scale registry as the import
//! CSV files (estates.csv, buildings.csv, dwellings-NN.csv), spread over the real community
//! committees of the whole country. Deterministic (fixed seed).
//!
//! `huanxin-bench projects DATABASE_URL N`: adds N projects (one estate each, in its county) with
//! their approval steps, started through 2026 and finished in order, some late, to a database
//! that holds the estates.

use huanxin_store::regions::{shipped_regions, RegionSelection};
use rand::Rng;
use std::io::Write;
use std::path::PathBuf;

/// Dwellings per CSV file, so that each import stays a county-sized file.
const DWELLINGS_PER_FILE: usize = 500_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "projects" {
        let n: usize = args[3].parse().unwrap_or(50_000);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        if let Err(e) = rt.block_on(projects(&args[2], n)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() != 5 || args[1] != "gen" {
        eprintln!("usage: huanxin-bench gen DIR ESTATES DWELLINGS | huanxin-bench projects DATABASE_URL N");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[2]);
    let estates: usize = args[3].parse().unwrap_or(280_000);
    let dwellings: usize = args[4].parse().unwrap_or(4_800_000);
    if let Err(e) = generate(&dir, estates, dwellings) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn generate(dir: &PathBuf, estates: usize, dwellings: usize) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let regions = shipped_regions(&RegionSelection::All)?;
    let communities: Vec<&str> = regions.iter().filter(|r| r.level == 5).map(|r| r.code.as_str()).collect();
    // A rough location per province, so that estates spread over the country's map.
    let centre = |code: &str| -> (f64, f64) {
        let p: u32 = code[..2].parse().unwrap_or(11);
        let lon = 87.0 + f64::from((p * 37) % 40);
        let lat = 22.0 + f64::from((p * 13) % 22);
        (lon, lat)
    };
    let mut rng = huanxin_datagen::rng(42);
    let mut w = csv::Writer::from_path(dir.join("estates.csv"))?;
    w.write_record([
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
    ])?;
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
    let mut written = 0usize;
    let mut file_no = 0;
    let mut d: Option<csv::Writer<std::fs::File>> = None;
    'outer: for (estate, number, floors, stairwells) in building_keys {
        for s in 1..=stairwells {
            for f in 1..=floors {
                for u in 1..=2u8 {
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
async fn projects(url: &str, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    use chrono::{Duration, NaiveDate};
    use huanxin_domain::approvals::{due_on, finish, start, template, DEFAULT_STEPS, MERGED_DESIGN};
    let cal = huanxin_domain::calendar::WorkCalendar::shipped_once()?;
    use huanxin_store::Arg;
    let db = huanxin_store::Db::connect(url).await?;
    let estates: Vec<(i64, String)> =
        db.fetch_all("SELECT id, community_code FROM estates ORDER BY id LIMIT $1", vec![Arg::from(i64::try_from(n)?)]).await?;
    let names: std::collections::HashMap<&str, &str> = DEFAULT_STEPS.iter().chain([&MERGED_DESIGN]).map(|t| (t.code, t.name_zh)).collect();
    let today = NaiveDate::from_ymd_opt(2026, 11, 22).ok_or("date")?;
    let first = db.scalar("SELECT COALESCE(MAX(id), 0) FROM projects", vec![]).await?;
    let mut projects = Vec::new();
    let mut links = Vec::new();
    let mut steps = Vec::new();
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
    let (np, ns) = (projects.len(), steps.len());
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
    tx.commit().await?;
    if db.engine() == huanxin_store::Engine::Postgres {
        // Explicit ids leave the identity sequence behind.
        db.execute("SELECT setval(pg_get_serial_sequence('projects', 'id'), (SELECT MAX(id) FROM projects))", vec![]).await?;
        db.execute("ANALYZE", vec![]).await?;
    }
    println!("{np} projects, {ns} approval steps");
    Ok(())
}
