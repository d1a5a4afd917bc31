//! `huanxin`: one binary for the whole system — serve, demo, migrate, import, export, backup,
//! restore and user administration.

use clap::{Parser, Subcommand};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use huanxin_domain::access::{scope_for, Role, Scope};
use huanxin_domain::reasons::{localized, Lang};
use huanxin_domain::regions::RegionCode;
use huanxin_server::{auth, demo, estates, AppState, Config};
use huanxin_store::audit::Actor;
use huanxin_store::estates::EstateFilter;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "huanxin", version, about = "焕新 Huanxin: old-estate renewal, end to end")]
struct Cli {
    /// TOML settings file (default: huanxin.toml if present). HUANXIN_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and API.
    Serve,
    /// Create demo data in the data folder if it is empty, then serve: 惠安县's renewal programme
    /// 2021 to today in full swing (with 鲤城区 and 晋江市 lighter), one account per role.
    Demo {
        /// Only the registry of 惠安县 and the accounts, no programme.
        #[arg(long)]
        empty: bool,
        /// Also devices on the property company's and the first estates, sending simulated
        /// readings and events to the MQTT broker (`mqtt_url`, else 127.0.0.1:1883), so that the
        /// alarm board is alive.
        #[arg(long)]
        devices: bool,
    },
    /// Publish simulated readings and events for every registered device to the MQTT broker
    /// (`mqtt_url`): gas leaks, overheating chargers, camera events, devices falling silent.
    SimulateDevices {
        /// Seconds between two messages of one device.
        #[arg(long, default_value_t = 10)]
        every: u64,
    },
    /// Bring the database schema up to date and load regions.
    Migrate,
    /// Import estates, buildings or dwellings from xlsx, csv or (estates) GeoJSON, all or nothing;
    /// several files of one kind are imported together, as one.
    Import {
        /// estates, buildings or dwellings
        kind: String,
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Coordinates in the file are GCJ-02 (Amap/Tencent) when no 坐标系 column says otherwise.
        #[arg(long)]
        gcj02: bool,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The sheet of an xlsx/xls workbook to read (default: the first with the import's columns).
        #[arg(long)]
        sheet: Option<String>,
    },
    /// Export estates (optionally of one region) to an xlsx file.
    Export {
        file: PathBuf,
        #[arg(long)]
        region: Option<String>,
    },
    /// Write a consistent backup while the server runs.
    Backup { file: PathBuf },
    /// Walk the ballot chain of one decision (or of every decision) and say whether it is intact;
    /// exits with 1 when a chain is broken.
    VerifyBallots { decision: Option<i64> },
    /// Walk the whole funds ledger's hash chain and check it against the heads published under
    /// the data folder; exits with 1 when it is broken.
    VerifyLedger,
    /// Publish today's heads of the ledger and of every ballot chain (the server does it daily).
    PublishHeads,
    /// Restore a backup: refused while a server holds a SQLite database; its chains are verified first
    /// and the current database is kept beside it.
    Restore { file: PathBuf },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Print the settings in effect (secrets hidden).
    Config,
    /// Files' contents and where they are kept.
    Files {
        #[command(subcommand)]
        action: FilesAction,
    },
}

#[derive(Subcommand)]
enum FilesAction {
    /// Move files kept in the database to the file store (`file_store`: the folder or S3), a batch
    /// at a time; safe to stop and run again, and to run while servers serve.
    Migrate,
    /// Remove objects of the file store that no file row names, written more than `grace_hours`
    /// ago (the servers also do this daily).
    Sweep {
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Keep objects younger than this: they may belong to an upload still under way.
        #[arg(long, default_value_t = huanxin_server::jobs::SWEEP_GRACE_HOURS)]
        grace_hours: i64,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is read from HUANXIN_NEW_PASSWORD or standard input.
    Add {
        username: String,
        /// One of the roles (county_admin, county_staff, street_staff, …).
        #[arg(long)]
        role: String,
        /// 12-digit region code at the role's level.
        #[arg(long)]
        region: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Set a user's password (from HUANXIN_NEW_PASSWORD or standard input).
    Passwd { username: String },
    /// List users.
    List,
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    let file = path.cloned().or_else(|| Some(PathBuf::from("huanxin.toml")).filter(|p| p.exists()));
    if let Some(f) = file {
        if !f.exists() {
            return Err(format!("settings file {} not found", f.display()));
        }
        fig = fig.merge(Toml::file(f));
    }
    fig = fig.merge(Env::prefixed("HUANXIN_"));
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if std::env::var("HUANXIN_DATABASE_URL").is_err() {
            fig = fig.merge(Serialized::default("database_url", url));
        }
    }
    fig.extract().map_err(|e| format!("settings: {e}"))
}

fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("HUANXIN_NEW_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (then Enter):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn serve(config: Config, db: huanxin_store::Db) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(&config.bind).await.map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("焕新 Huanxin is running at http://{addr}  (database: {:?})", db.engine());
    let st = AppState::new(db, config).map_err(|e| e.to_string())?;
    huanxin_server::serve(st, listener, shutdown_signal()).await.map_err(|e| e.to_string())
}

/// Starts the simulated devices in the background, publishing to the configured broker.
fn spawn_simulator(config: &Config, sims: Vec<huanxin_server::alarms::simulate::SimDevice>, every: u64) -> Result<(), String> {
    use huanxin_server::alarms::{ingest::IngestConfig, simulate};
    let Some(mqtt) = IngestConfig::from_config(config)? else {
        return Err("set mqtt_url (HUANXIN_MQTT_URL=mqtt://127.0.0.1:1883) for the simulated devices".into());
    };
    let publishers: Vec<_> = (0..2)
        .map(|i| simulate::Publisher::connect(&mqtt.host, mqtt.port, &format!("huanxin-sim-{}-{i}", std::process::id()), &mqtt.root))
        .collect();
    tokio::spawn(async move {
        if let Err(e) = simulate::run(sims, publishers, std::time::Duration::from_secs(every.max(1))).await {
            tracing::warn!(error = %e, "simulated devices stopped");
        }
    });
    Ok(())
}

/// The folder files are kept in, when the file store is a folder.
fn files_folder(config: &Config) -> Option<PathBuf> {
    match config.file_store.trim() {
        "" | "folder" => {
            Some(if config.files_dir.as_os_str().is_empty() { config.data_dir.join("files") } else { config.files_dir.clone() })
        }
        _ => None,
    }
}

/// A size in bytes as people read it.
fn size_shown(bytes: u64) -> String {
    match bytes {
        b if b < 1_000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} KB", b as f64 / 1e3),
        b if b < 1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.2} GB", b as f64 / 1e9),
    }
}

/// Where backups in one folder keep the files: `files/` beside them, shared by every backup
/// there, so a nightly backup copies only the day's new files.
fn backup_files(backup: &std::path::Path) -> PathBuf {
    backup.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).join("files")
}

/// `path` with `suffix` added to its file name (`b.db` → `b.db.partial`).
fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copies the files under `from` that `to` lacks (files never change: they are named by their
/// SHA-256), keeping the folders; answers how many files and bytes were copied.
fn copy_new_files(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let (mut n, mut bytes) = (0, 0);
    if !from.is_dir() {
        return Ok((0, 0));
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            let (a, b) = copy_new_files(&entry.path(), &target)?;
            n += a;
            bytes += b;
        } else if !target.exists() {
            // Written under another name first, so a copy cut off is never taken for a whole file.
            let partial = with_suffix(&target, ".partial");
            bytes += std::fs::copy(entry.path(), &partial)?;
            std::fs::rename(&partial, &target)?;
            n += 1;
        }
    }
    Ok((n, bytes))
}

/// The serving lock on a SQLite database: one server per file (and no restore under it).
fn serving_lock(config: &Config) -> Result<Option<huanxin_store::backup::ServerLock>, String> {
    if config.database_url.trim().is_empty() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    }
    huanxin_store::backup::lock_database(&config.effective_database_url()).map_err(|e| e.to_string())
}

/// Draws the demo's progress on the terminal: a bar and the share done.
fn progress_bar(done: f64) {
    use std::io::Write;
    let width = 40;
    let filled = ((done.clamp(0.0, 1.0) * width as f64) as usize).min(width);
    eprint!(
        "\r构建演示数据 Building the demo [{}{}] {:>3.0}%",
        "#".repeat(filled),
        " ".repeat(width - filled),
        done.clamp(0.0, 1.0) * 100.0
    );
    let _ = std::io::stderr().flush();
}

fn year() -> i64 {
    use chrono::Datelike;
    i64::from(huanxin_store::today().year())
}

async fn run(cli: Cli) -> Result<(), String> {
    let config = load_config(cli.config.as_ref())?;
    let e = |e: huanxin_store::StoreError| e.to_string();
    match cli.command {
        Command::Config => {
            println!("{}", toml_like(&config.redacted()));
            Ok(())
        }
        Command::Files { action: FilesAction::Migrate } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let (count, bytes) = db.files_in_database().await.map_err(e)?;
            println!(
                "{count} files ({}) in the database; moving them to {}",
                size_shown(u64::try_from(bytes).unwrap_or(0)),
                db.files().shown()
            );
            let (mut moved, mut moved_bytes) = (0u64, 0u64);
            loop {
                let (n, b) = db.move_files_out(100).await.map_err(e)?;
                if n == 0 {
                    break;
                }
                moved += n;
                moved_bytes += b;
                eprint!("\r{moved} / {count} files, {}", size_shown(moved_bytes));
            }
            eprintln!();
            println!("moved {moved} files ({}); none left in the database", size_shown(moved_bytes));
            db.close().await;
            Ok(())
        }
        Command::Files { action: FilesAction::Sweep { dry_run, grace_hours } } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let grace = chrono::Duration::hours(grace_hours.max(0));
            let sweep = db.sweep_files(grace, dry_run).await.map_err(e)?;
            let verb = if dry_run { "would remove" } else { "removed" };
            println!(
                "{} objects in {}; {verb} {} that no file names ({})",
                sweep.objects,
                db.files().shown(),
                sweep.orphans,
                size_shown(sweep.orphan_bytes)
            );
            db.close().await;
            Ok(())
        }
        Command::Serve => {
            let _lock = serving_lock(&config)?;
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            serve(config, db).await
        }
        Command::Demo { empty, devices } => {
            let mut config = config;
            if devices && config.mqtt_url.trim().is_empty() {
                config.mqtt_url = "mqtt://127.0.0.1:1883".into();
            }
            let _lock = serving_lock(&config)?;
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let st = AppState::new(db.clone(), config.clone()).map_err(|e| e.to_string())?;
            let started = std::time::Instant::now();
            let size = (!empty).then(demo::Size::full);
            let made = demo::load_demo(&st, year(), huanxin_store::today(), size, Box::new(progress_bar)).await.map_err(|e| match e {
                demo::DemoError::RegionsMissing(why) => why,
                e => format!(
                    "{e}\nthe demo is half built: empty the database (the data folder {}, or the PostgreSQL database) and start again",
                    config.data_dir.display()
                ),
            })?;
            let zh = lang() == Lang::Zh;
            if made.estates == 0 && zh {
                println!("数据目录中已有小区：演示数据只在空库中生成（请将 HUANXIN_DATA_DIR 设为新目录）；现按已有数据启动");
            } else if made.estates == 0 {
                println!(
                    "the data folder already holds estates: the demo is built only in an empty one (set HUANXIN_DATA_DIR to a new folder); serving what is there"
                );
            } else {
                eprintln!();
                let p = &made.programme;
                let secs = started.elapsed().as_secs_f64();
                let (estates, walked, calls, ballots, answers, password) =
                    (made.estates, p.walked, p.calls, p.ballots, p.answers, demo::DEMO_PASSWORD);
                if zh {
                    println!(
                        "演示数据已生成，用时 {secs:.0} 秒：{estates} 个小区，其中 {walked} 个走过改造流程（{calls} 次调用、{ballots} 张选票、{answers} 份问卷）；请以 county_admin / {password} 登录"
                    );
                } else {
                    println!(
                        "demo data created in {secs:.0} s: {estates} estates, {walked} of them walked through the programme ({calls} calls, {ballots} ballots, {answers} survey answers); sign in as county_admin / {password}"
                    );
                }
            }
            if devices {
                let sims = demo::demo_devices(&st).await.map_err(|e| e.to_string())?;
                println!("{} simulated devices publish to {}", sims.len(), config.mqtt_url);
                spawn_simulator(&config, sims, 10)?;
            }
            serve(config, db).await
        }
        Command::SimulateDevices { every } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let sims: Vec<_> = db
                .ingest_devices()
                .await
                .map_err(e)?
                .into_iter()
                .filter_map(|d| {
                    Some(huanxin_server::alarms::simulate::SimDevice {
                        kind: huanxin_domain::alarms::DeviceKind::parse(&d.kind)?,
                        serial: d.serial,
                        key: d.device_key,
                    })
                })
                .collect();
            if sims.is_empty() {
                return Err(
                    "no devices are registered: register some (POST /api/v1/estates/{id}/devices) or run `huanxin demo --devices`".into()
                );
            }
            println!("{} devices, one message each every {every} s, to {}", sims.len(), config.mqtt_url);
            spawn_simulator(&config, sims, every)?;
            shutdown_signal().await;
            Ok(())
        }
        Command::Migrate => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            println!("database up to date ({:?})", db.engine());
            Ok(())
        }
        Command::Import { kind, files, gcj02, dry_run, sheet } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let scope = Scope::Region(RegionCode::country());
            let options = estates::ImportQuery { dry_run, datum: gcj02.then(|| "gcj02".to_string()), sheet };
            let files = files.into_iter().map(estates::ImportFile::Path).collect();
            let result = estates::import_files(&db, &Actor::system("import"), &scope, &kind, files, &options).await;
            // Closing checkpoints SQLite's write-ahead log into the database file.
            db.close().await;
            let zh = lang() == Lang::Zh;
            match result {
                Ok(r) => {
                    if zh {
                        println!(
                            "共 {} 行：新增 {}，更新 {}，跳过空行 {}{}",
                            r.rows,
                            r.created,
                            r.updated,
                            r.blank_rows_skipped,
                            if r.dry_run { "（试导入：未写入任何数据）" } else { "" }
                        );
                    } else {
                        println!(
                            "{} rows: {} created, {} updated, {} blank rows skipped{}",
                            r.rows,
                            r.created,
                            r.updated,
                            r.blank_rows_skipped,
                            if r.dry_run { " (dry run: nothing written)" } else { "" }
                        );
                    }
                    for s in &r.skipped_rows {
                        let file = if s.file.is_empty() { String::new() } else { format!("{}, ", s.file) };
                        if zh {
                            let why = match s.reason.as_str() {
                                "title" => "标题行",
                                "total" => "合计行",
                                "footer" => "落款行",
                                other => other,
                            };
                            println!("{file}第 {} 行已跳过（{why}）：“{}”", s.row, s.value);
                        } else {
                            println!("{file}row {} passed over ({}): '{}'", s.row, s.reason, s.value);
                        }
                    }
                    Ok(())
                }
                Err(huanxin_server::error::ApiError::ImportRejected(rows)) => {
                    for r in rows.iter().take(200) {
                        let file = if r.file.is_empty() { String::new() } else { format!("{}, ", r.file) };
                        let why = localized(&r.code, &r.params, &r.reason, lang());
                        if zh {
                            eprintln!("{file}第 {} 行，{} 列：“{}” {why}", r.row, r.column, r.value);
                        } else {
                            eprintln!("{file}row {}, column {}: '{}' {why}", r.row, r.column, r.value);
                        }
                    }
                    Err(if zh {
                        format!("共 {} 处问题，未导入任何数据", rows.len())
                    } else {
                        format!("{} problems; nothing was imported", rows.len())
                    })
                }
                Err(huanxin_server::error::ApiError::Invalid(v)) => Err(v
                    .0
                    .iter()
                    .map(|e| format!("{}: {}", e.field, localized(&e.code, &e.params, &e.reason, lang())))
                    .collect::<Vec<_>>()
                    .join("; ")),
                Err(other) => Err(other.reason().text(lang())),
            }
        }
        Command::Export { file, region } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let f = EstateFilter { region, ..Default::default() };
            let scope = Scope::Region(RegionCode::country());
            let bytes = estates::export_workbook(&db, &scope, &f, config.eligible_before_year, false).await.map_err(|e| e.to_string())?;
            std::fs::write(&file, bytes).map_err(|err| format!("{}: {err}", file.display()))?;
            println!("written {}", file.display());
            Ok(())
        }
        Command::Backup { file } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            if let Some(folder) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
            }
            db.backup(&config.effective_database_url(), &file).await.map_err(e)?;
            println!("backup written to {} (the database: every record, the ledger, ballots, audit)", file.display());
            // Files' contents are in the file store: a folder's are copied beside the backup (only
            // new ones, kept by their SHA-256); an object store keeps its own (versioning, replication).
            match files_folder(&config) {
                Some(dir) => {
                    let to = backup_files(&file);
                    let (n, bytes) = copy_new_files(&dir, &to).map_err(|e| format!("files not copied to {}: {e}", to.display()))?;
                    println!(
                        "files: {n} new ({}) copied from {} to {} (shared by the backups in that folder)",
                        size_shown(bytes),
                        dir.display(),
                        to.display()
                    );
                }
                None if config.file_store.trim() == "s3" => {
                    println!("files: in the S3 bucket {}, not in this backup: keep the bucket versioned or replicated", config.s3_bucket)
                }
                None => println!("files: in the database, so in this backup"),
            }
            Ok(())
        }
        Command::VerifyBallots { decision } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let scope = Scope::Region(RegionCode::country());
            let ids = match decision {
                Some(id) => vec![id],
                None => db.decision_ids().await.map_err(e)?,
            };
            let mut broken = 0;
            for id in ids {
                // The operator's CLI reaches every decision.
                let reached = db.decision_in_scope(&scope, id).await;
                let v = match reached {
                    Ok(r) => db.verify_ballots(r).await,
                    Err(err) => Err(err),
                }
                .map_err(|err| match err {
                    huanxin_store::StoreError::NotFound => format!("there is no decision {id}"),
                    other => other.to_string(),
                })?;
                let chain = format!("ballots:{id}");
                let published = huanxin_server::chains::check_published(&db, &config, |c| c == chain).await.map_err(|e| e.to_string())?;
                let v = match (v.broken_at.is_none(), published.into_iter().next()) {
                    (true, Some(d)) => huanxin_store::decisions::Verification {
                        intact: false,
                        broken_at: Some(huanxin_domain::chain::Break { seq: d.records, reason: d.problem }),
                        ..v
                    },
                    _ => v,
                };
                match &v.broken_at {
                    None => println!("decision {id}: intact, {} ballots, head {}", v.ballots, v.head_hash),
                    Some(b) => {
                        broken += 1;
                        println!("decision {id}: BROKEN at ballot {}: {}", b.seq, b.reason);
                    }
                }
            }
            if broken > 0 {
                Err(format!("{broken} ballot chains are broken"))
            } else {
                Ok(())
            }
        }
        Command::PublishHeads => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let written = huanxin_server::chains::publish(&db, &config, huanxin_store::today()).await.map_err(|e| e.to_string())?;
            db.close().await;
            match written {
                Some(place) => println!("chain heads published: {place}"),
                None => println!("today's chain heads were already published"),
            }
            Ok(())
        }
        Command::VerifyLedger => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let started = std::time::Instant::now();
            let v = db.verify_ledger().await.map_err(e)?;
            let v = huanxin_server::funds::against_published(&db, &config, v).await.map_err(|e| e.to_string())?;
            let secs = started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { v.entries as f64 / secs } else { 0.0 };
            match &v.broken_at {
                None => {
                    println!("ledger intact: {} entries, head {} ({secs:.2} s, {rate:.0} entries/s)", v.entries, v.head_hash);
                    Ok(())
                }
                Some(b) => Err(format!("ledger BROKEN at entry {}: {}", b.seq, b.reason)),
            }
        }
        Command::Restore { file } => {
            // Onto a new machine: the data folder is made as `serve` would.
            if config.database_url.trim().is_empty() {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
            }
            let r = huanxin_store::backup::restore(&config.effective_database_url(), &file).await.map_err(e)?;
            let beside = backup_files(&file);
            if let (Some(dir), true) = (files_folder(&config), beside.is_dir()) {
                let (n, _) = copy_new_files(&beside, &dir).map_err(|e| format!("files not restored to {}: {e}", dir.display()))?;
                println!("files: {n} restored from {} to {}", beside.display(), dir.display());
            }
            println!(
                "restored from {} (ledger intact: {} entries; ballots of {} decisions intact){}",
                file.display(),
                r.ledger_entries,
                r.decisions_checked,
                r.kept.map(|k| format!("; the database before it is kept as {}", k.display())).unwrap_or_default()
            );
            Ok(())
        }
        Command::User { action } => {
            let db = huanxin_server::open_database(&config).await.map_err(e)?;
            let actor = Actor::system("cli");
            match action {
                UserAction::Add { username, role, region, name } => {
                    let role = Role::parse(&role).ok_or_else(|| format!("unknown role '{role}'"))?;
                    let region = RegionCode::parse(&region).map_err(|e| e.to_string())?;
                    scope_for(role, &region, 0).map_err(|e| e.to_string())?;
                    let password = read_password()?;
                    auth::check_password_strength(&password).map_err(|e| format!("password {e}"))?;
                    let hash = auth::hash_password(&password).map_err(|e| e.to_string())?;
                    let display_name = if name.is_empty() { username.clone() } else { name };
                    let u = db
                        .create_user(
                            &actor,
                            &huanxin_store::accounts::NewUser {
                                username,
                                display_name,
                                password_hash: hash,
                                role,
                                region,
                                phone: String::new(),
                            },
                        )
                        .await
                        .map_err(e)?;
                    println!("user {} created ({}, {})", u.username, u.role, u.region_code);
                    Ok(())
                }
                UserAction::Passwd { username } => {
                    let u = db.user_by_name(&username).await.map_err(e)?.ok_or_else(|| format!("no user '{username}'"))?;
                    let password = read_password()?;
                    auth::check_password_strength(&password).map_err(|e| format!("password {e}"))?;
                    let hash = auth::hash_password(&password).map_err(|e| e.to_string())?;
                    db.set_password(&actor, u.id, &hash).await.map_err(e)?;
                    println!("password of {username} changed; their sessions were ended");
                    Ok(())
                }
                UserAction::List => {
                    for u in db.list_users(&Scope::Region(RegionCode::country())).await.map_err(e)? {
                        println!("{:<20} {:<18} {} {}", u.username, u.role, u.region_code, if u.active { "" } else { "(inactive)" });
                    }
                    Ok(())
                }
            }
        }
    }
}

/// Every setting as `name = value` lines (TOML), in the order they are declared.
fn toml_like(c: &Config) -> String {
    match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// mimalloc: the import and list paths allocate many small strings; it is markedly faster there than glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The language of the CLI's messages: Chinese when the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`) is zh.
fn lang() -> Lang {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())).unwrap_or_default();
    Lang::from_locale(&locale)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HUANXIN_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{}: {msg}", if lang() == Lang::Zh { "错误" } else { "error" });
            ExitCode::FAILURE
        }
    }
}
