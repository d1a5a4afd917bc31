//! The alarm ingest benchmark (issue 17, part 8), driven by `bench/alarms.sh`:
//!
//! - `huanxin-bench alarms-seed DATABASE_URL N`: N devices spread over the registry's estates
//!   (every 8th a door contact, the rest gas detectors), each with a key the load knows
//!   (SHA-256 of its serial), written straight into the database.
//! - `huanxin-bench alarms-load HOST:PORT BASE_URL USER PASSWORD N RATE SECONDS`: publishes the N
//!   devices' signed gas readings with QoS 1 at RATE messages a second for SECONDS, with one
//!   door-forced alarm a second timed from publish to visible in `GET /api/v1/alarms`; then a burst
//!   of 1,000 alarms from 1,000 devices in one second, timed until the map counts all of them.
//! - `huanxin-bench alarms-kill HOST:PORT N RATE SECONDS`: publishes at RATE for SECONDS and prints
//!   how many messages the broker acknowledged (the script kills and restarts the server meanwhile
//!   and compares with the readings stored; `scripts/cluster` kills the ingest's leader instead).
//!   Topics start with HUANXIN_MQTT_TOPIC_ROOT as the servers' do (`huanxin` by default).
//! - `huanxin-bench alarms-broker HOST:PORT RATE SECONDS`: the broker alone, publish to subscribe
//!   with QoS 1 and no work done: the ceiling any ingest on this machine can reach.
//! - `huanxin-bench alarms-raw DATABASE_URL ROWS`: the raw engine's rate for the nearest plain
//!   equivalent of the ingest's writes: the same rows into a table of the same shape and key, in
//!   transactions of 2,000, by plain multi-row INSERT (SQLite) or COPY (PostgreSQL).

use crate::national::login;
use crate::votes::Api;
use huanxin_domain::alarms::DeviceKind;
use huanxin_server::alarms::simulate::{Publisher, SimDevice};
use huanxin_store::{Arg, Db};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The topics' root: the servers' `mqtt_topic_root` (HUANXIN_MQTT_TOPIC_ROOT), `huanxin` by default.
fn root() -> String {
    std::env::var("HUANXIN_MQTT_TOPIC_ROOT").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "huanxin".into())
}
const PUBLISHERS: usize = 4;

/// The bench's device number `i`: its serial, key and kind.
fn device(i: usize) -> SimDevice {
    let (serial, kind) =
        if i.is_multiple_of(8) { (format!("DA-{i:06}"), DeviceKind::DoorAccess) } else { (format!("GD-{i:06}"), DeviceKind::GasDetector) };
    let key = hex::encode(Sha256::digest(format!("bench/{serial}")));
    SimDevice { serial, key, kind }
}

/// Writes `n` devices over the estates of the database.
pub async fn seed(url: &str, n: usize) -> Result<(), Error> {
    let db = Db::connect(url).await?;
    let estates: Vec<(i64,)> = db.fetch_all("SELECT id FROM estates ORDER BY id", vec![]).await?;
    if estates.is_empty() {
        return Err("import estates first".into());
    }
    let now = huanxin_store::now();
    let rows: Vec<Vec<Arg>> = (0..n)
        .map(|i| {
            let d = device(i);
            huanxin_store::args![estates[i % estates.len()].0, d.kind.as_str(), d.serial, d.key, "bench", now.as_str()]
        })
        .collect();
    let mut tx = db.begin().await?;
    tx.insert_many("devices", &["estate_id", "kind", "serial", "device_key", "created_by", "created_at"], rows).await?;
    tx.commit().await?;
    println!("{n} devices over {} estates", estates.len());
    Ok(())
}

fn broker(addr: &str) -> Result<(String, u16), Error> {
    let (h, p) = addr.rsplit_once(':').ok_or("HOST:PORT")?;
    Ok((h.to_string(), p.parse()?))
}

fn publishers(addr: &str, tag: &str) -> Result<Vec<Publisher>, Error> {
    let (host, port) = broker(addr)?;
    Ok((0..PUBLISHERS).map(|i| Publisher::connect(&host, port, &format!("bench-{tag}-{}-{i}", std::process::id()), &root())).collect())
}

fn acked(ps: &[Publisher]) -> u64 {
    ps.iter().map(|p| p.acked.load(Ordering::Relaxed)).sum()
}

/// Publishes gas readings of the devices (skipping door contacts) at `rate` a second for
/// `secs`; each device's times strictly rising. Returns the messages sent.
async fn publish_readings(ps: &[Publisher], devices: &[SimDevice], rate: f64, secs: f64, last_ts: &mut [i64]) -> Result<u64, Error> {
    publish_readings_noting(ps, devices, rate, secs, last_ts, &mut None).await
}

/// As [`publish_readings`], writing each message's serial and time to `sent` when given.
async fn publish_readings_noting(
    ps: &[Publisher],
    devices: &[SimDevice],
    rate: f64,
    secs: f64,
    last_ts: &mut [i64],
    sent_log: &mut Option<std::io::BufWriter<std::fs::File>>,
) -> Result<u64, Error> {
    use std::io::Write;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut i = 0usize;
    while start.elapsed().as_secs_f64() < secs {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        let now = huanxin_server::alarms::ingest::now_ms();
        while sent < due {
            i = (i + 1) % devices.len();
            if devices[i].kind != DeviceKind::GasDetector {
                continue;
            }
            let ts = now.max(last_ts[i] + 1);
            last_ts[i] = ts;
            let lel = (sent % 30) as f64 / 10.0;
            ps[i % ps.len()].send(&devices[i], "telemetry", format!(r#"{{"ts":{ts},"values":{{"lel":{lel:.1}}}}}"#)).await?;
            if let Some(log) = sent_log.as_mut() {
                writeln!(log, "{}\t{ts}", devices[i].serial)?;
            }
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(sent)
}

async fn ingest_stored(api: &Api, token: &str) -> Result<u64, Error> {
    let v: serde_json::Value = api.http.get(format!("{}/api/v1/alarms/ingest", api.base)).bearer_auth(token).send().await?.json().await?;
    Ok(v["readings_stored"].as_u64().unwrap_or(0))
}

async fn open_alarms(api: &Api, token: &str) -> Result<i64, Error> {
    let v: serde_json::Value = api.http.get(format!("{}/api/v1/alarms/map", api.base)).bearer_auth(token).send().await?.json().await?;
    Ok(v.as_array().map_or(0, |a| a.iter().map(|e| e["open"].as_i64().unwrap_or(0)).sum()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The sustained load with its probes, then the burst.
pub async fn load(addr: &str, base: &str, user: &str, password: &str, n: usize, rate: f64, secs: f64) -> Result<(), Error> {
    let api = Arc::new(Api { base: base.to_string(), http: reqwest::Client::new() });
    let token = login(&api, user, password).await?;
    let devices: Arc<Vec<SimDevice>> = Arc::new((0..n).map(device).collect());
    let ps = publishers(addr, "load")?;
    // The ingest's session must be up before anything is published: the first time, the broker
    // keeps nothing for a session it has not seen.
    let t = Instant::now();
    loop {
        let v: serde_json::Value =
            api.http.get(format!("{}/api/v1/alarms/ingest", api.base)).bearer_auth(&token).send().await?.json().await?;
        if v["connected"] == true || t.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored_before = ingest_stored(&api, &token).await?;

    // One door forced open a second, timed until the board shows it.
    let doors: Vec<usize> = (0..n).filter(|i| i.is_multiple_of(8)).collect();
    let probe_count = (secs as usize).min(doors.len() / 2);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let probes = {
        let (api, token, devices, latencies, p) = (api.clone(), token.clone(), devices.clone(), latencies.clone(), ps[0].clone());
        let doors = doors.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            for door in doors.iter().take(probe_count) {
                tick.tick().await;
                let d = &devices[*door];
                let t = Instant::now();
                let ts = huanxin_server::alarms::ingest::now_ms();
                p.send(d, "event", format!(r#"{{"ts":{ts},"event":"forced_open"}}"#)).await?;
                loop {
                    let v: serde_json::Value = api
                        .http
                        .get(format!("{}/api/v1/alarms?alarm_type=forced_open&state=open", api.base))
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .json()
                        .await?;
                    if v.as_array().is_some_and(|a| a.iter().any(|x| x["serial"] == d.serial.as_str())) {
                        break;
                    }
                    if t.elapsed() > Duration::from_secs(30) {
                        return Err::<(), Error>(format!("alarm of {} not seen in 30 s", d.serial).into());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if let Ok(mut l) = latencies.lock() {
                    l.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Ok(())
        })
    };
    let started = Instant::now();
    let mut last_ts = vec![0i64; n];
    let sent = publish_readings(&ps, &devices, rate, secs, &mut last_ts).await?;
    let publish_secs = started.elapsed().as_secs_f64();
    probes.await??;
    // Wait until everything published is stored.
    let mut stored = ingest_stored(&api, &token).await? - stored_before;
    while stored < sent && started.elapsed().as_secs_f64() < publish_secs + 120.0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stored = ingest_stored(&api, &token).await? - stored_before;
    }
    let all_secs = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(f64::total_cmp);
    println!(
        "  sustained: {sent} readings published in {publish_secs:.1} s ({:.0} msg/s, broker acked {}), {stored} stored by {all_secs:.1} s: {:.0} msg/s stored",
        sent as f64 / publish_secs,
        acked(&ps),
        stored as f64 / all_secs
    );
    println!(
        "  publish → alarm visible in the API under that load ({} alarms, one a second): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        l.len(),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or(f64::NAN)
    );

    // The burst: 1,000 door contacts held open within one second.
    let before = open_alarms(&api, &token).await?;
    let burst: Vec<usize> = doors.iter().copied().skip(probe_count).take(1000).collect();
    let t = Instant::now();
    let now = huanxin_server::alarms::ingest::now_ms();
    for (k, i) in burst.iter().enumerate() {
        ps[k % ps.len()].send(&devices[*i], "event", format!(r#"{{"ts":{now},"event":"held_open"}}"#)).await?;
    }
    let sent_in = t.elapsed().as_secs_f64();
    let want = before + burst.len() as i64;
    let mut seen = before;
    while seen < want && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = open_alarms(&api, &token).await?;
    }
    println!(
        "  burst: {} alarms from {} devices sent in {:.2} s, all {} visible in the API after {:.2} s",
        burst.len(),
        burst.len(),
        sent_in,
        seen - before,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Publishes at `rate` for `secs` and prints what the broker acknowledged (for the SIGKILL test).
pub async fn kill_load(addr: &str, n: usize, rate: f64, secs: f64) -> Result<(), Error> {
    let devices: Vec<SimDevice> = (0..n).map(device).collect();
    let ps = publishers(addr, "kill")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut last_ts = vec![0i64; n];
    // HUANXIN_BENCH_SENT names a file for every message sent (serial, time), to find any missing.
    let mut log = match std::env::var("HUANXIN_BENCH_SENT") {
        Ok(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        Err(_) => None,
    };
    let sent = publish_readings_noting(&ps, &devices, rate, secs, &mut last_ts, &mut log).await?;
    if let Some(mut log) = log {
        std::io::Write::flush(&mut log)?;
    }
    let t = Instant::now();
    while acked(&ps) < sent && t.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("sent {sent}, acknowledged by the broker {}", acked(&ps));
    println!("{}", acked(&ps));
    Ok(())
}

/// The broker alone: publish to a plain QoS 1 subscriber.
pub async fn broker_only(addr: &str, rate: f64, secs: f64) -> Result<(), Error> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    let (host, port) = broker(addr)?;
    let mut opts = rumqttc::v5::MqttOptions::new(format!("bench-raw-sub-{}", std::process::id()), host, port);
    opts.set_receive_maximum(Some(u16::MAX)).set_max_packet_size(Some(64 * 1024));
    let (sub, mut el) = rumqttc::v5::AsyncClient::new(opts, 1000);
    sub.subscribe(format!("{}/v1/+/+", root()), QoS::AtLeastOnce).await?;
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(rumqttc::v5::Event::Incoming(Packet::Publish(_))) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let devices: Vec<SimDevice> = (0..10_000).map(device).collect();
    let ps = publishers(addr, "raw")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let mut last_ts = vec![0i64; devices.len()];
    let sent = publish_readings(&ps, &devices, rate, secs, &mut last_ts).await?;
    while got.load(Ordering::Relaxed) < sent && t.elapsed().as_secs_f64() < secs + 30.0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{:.0}", got.load(Ordering::Relaxed) as f64 / secs);
    Ok(())
}

/// The raw engine's rate for the ingest's writes: rows per second.
pub async fn raw(url: &str, rows: usize) -> Result<(), Error> {
    use sqlx::{Connection, Executor};
    let batch = 2_000usize;
    let now = chrono::Utc::now().timestamp_millis();
    let row = |i: usize| {
        let at = now + i as i64;
        (at.div_euclid(3_600_000), (i % 10_000) as i64, at, (i % 30) as f64 / 10.0)
    };
    let t;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        c.execute("DROP TABLE IF EXISTS raw_telemetry; CREATE TABLE raw_telemetry (hour BIGINT NOT NULL, device_id BIGINT NOT NULL, metric TEXT NOT NULL, at_ms BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (hour, device_id, metric, at_ms))").await?;
        t = Instant::now();
        for start in (0..rows).step_by(batch) {
            let mut tx = c.begin().await?;
            let mut copy = tx.copy_in_raw("COPY raw_telemetry (hour, device_id, metric, at_ms, value) FROM STDIN").await?;
            let mut buf = String::with_capacity(batch * 48);
            for i in start..(start + batch).min(rows) {
                let (h, d, at, v) = row(i);
                buf.push_str(&format!("{h}\t{d}\tlel\t{at}\t{v}\n"));
            }
            copy.send(buf.into_bytes()).await?;
            copy.finish().await?;
            tx.commit().await?;
        }
    } else {
        let _ = std::fs::remove_file(url);
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(url)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
        c.execute("CREATE TABLE raw_telemetry (hour BIGINT NOT NULL, device_id BIGINT NOT NULL, metric TEXT NOT NULL, at_ms BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (hour, device_id, metric, at_ms)) WITHOUT ROWID").await?;
        t = Instant::now();
        let per = 500usize;
        for start in (0..rows).step_by(batch) {
            let mut tx = c.begin().await?;
            let end = (start + batch).min(rows);
            for s in (start..end).step_by(per) {
                let e = (s + per).min(end);
                let ph = vec!["(?, ?, 'lel', ?, ?)"; e - s].join(",");
                let sql = format!("INSERT INTO raw_telemetry (hour, device_id, metric, at_ms, value) VALUES {ph} ON CONFLICT DO NOTHING");
                let mut q = sqlx::query(&sql);
                for i in s..e {
                    let (h, d, at, v) = row(i);
                    q = q.bind(h).bind(d).bind(at).bind(v);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
    }
    println!("{:.0}", rows as f64 / t.elapsed().as_secs_f64());
    Ok(())
}
