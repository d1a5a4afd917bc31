//! The MQTT ingest (docs/alarms.md): one persistent MQTT 5 session (clean start off, a week's
//! session expiry) subscribed with QoS 1 to `{root}/v1/+/+`. Messages are read in batches; each
//! batch is checked (topic, device, signature, rate, payload), run through the device's rules,
//! and stored in one transaction; only then is the broker acknowledged, so that a server killed
//! mid-batch gets the batch again from the broker and stores nothing twice. A message that cannot
//! be taken goes to the dead letters and never stops the ones after it.

use huanxin_domain::alarms::ingest::{check_offline, on_message, DeviceState, Effect, RateLimit};
use huanxin_domain::alarms::rules::Rules;
use huanxin_domain::alarms::telemetry::{self, DeadLetter, Message};
use huanxin_domain::alarms::DeviceKind;
use huanxin_store::alarms::ingest::{hour_of, AlarmChange, DeadLetterRow, IngestBatch, IngestDevice, Reading};
use huanxin_store::alarms::rules::Overrides;
use huanxin_store::alarms::telemetry::Retention;
use huanxin_store::Db;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The ingest's settings (from [`crate::Config`]).
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// The topics' first level (`huanxin`).
    pub root: String,
    pub rate: RateLimit,
    pub retention: Retention,
    /// The broker's user name and password for the ingest (empty: none).
    pub username: String,
    pub password: String,
}

impl IngestConfig {
    /// Reads `mqtt://host:port` and the other settings; `None` when no broker is configured.
    pub fn from_config(c: &crate::Config) -> Result<Option<IngestConfig>, String> {
        let url = c.mqtt_url.trim();
        if url.is_empty() {
            return Ok(None);
        }
        let rest = url.strip_prefix("mqtt://").ok_or_else(|| format!("mqtt_url must start with mqtt:// (got {url})"))?;
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| format!("mqtt_url: bad port {p}"))?),
            None => (rest.trim_end_matches('/').to_string(), 1883),
        };
        if c.mqtt_topic_root.is_empty() || c.mqtt_topic_root.contains(['+', '#']) {
            return Err("mqtt_topic_root must be a plain topic level".into());
        }
        Ok(Some(IngestConfig {
            host,
            port,
            client_id: c.mqtt_client_id.clone(),
            root: c.mqtt_topic_root.trim_end_matches('/').to_string(),
            rate: RateLimit { per_second: c.device_rate_per_second.max(0.1), burst: (c.device_rate_per_second * 5.0).max(10.0) },
            retention: Retention { raw_days: c.telemetry_raw_days, hourly_days: c.telemetry_hourly_days },
            username: c.mqtt_username.clone(),
            password: c.mqtt_password.clone(),
        }))
    }
}

/// What the ingest has done since the server started (the board shows it; the benchmark reads it).
#[derive(Debug, Default)]
pub struct IngestStats {
    /// This server runs the ingest (in a cluster, one does; the others stand by).
    pub leading: AtomicBool,
    pub connected: AtomicBool,
    pub received: AtomicU64,
    pub readings_stored: AtomicU64,
    pub alarms_raised: AtomicU64,
    pub dead_letters: AtomicU64,
    pub rate_limited: AtomicU64,
    pub batches: AtomicU64,
    pub store_retries: AtomicU64,
    /// Refusals counted but not kept (beyond the dead letters' pace).
    pub dead_letters_suppressed: AtomicU64,
}

/// The stats as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestStatus {
    pub configured: bool,
    pub connected: bool,
    pub received: u64,
    pub readings_stored: u64,
    pub alarms_raised: u64,
    pub dead_letters: u64,
    pub rate_limited: u64,
    pub batches: u64,
}

impl IngestStats {
    /// A reading of the counters.
    pub fn status(&self, configured: bool) -> IngestStatus {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IngestStatus {
            configured,
            connected: self.connected.load(Ordering::Relaxed),
            received: g(&self.received),
            readings_stored: g(&self.readings_stored),
            alarms_raised: g(&self.alarms_raised),
            dead_letters: g(&self.dead_letters),
            rate_limited: g(&self.rate_limited),
            batches: g(&self.batches),
        }
    }
}

/// Messages waiting between the broker's connection and the batcher; when full, the connection
/// stops reading and the broker keeps the rest.
const QUEUE: usize = 50_000;
/// At most this many messages in one transaction.
const MAX_BATCH: usize = 20_000;
/// How long the batcher gathers after the first message of a batch.
const GATHER: Duration = Duration::from_millis(15);
/// When devices' last-heard times are written, and when silence is checked.
const HEARD_EVERY: Duration = Duration::from_secs(10);
const OFFLINE_EVERY: Duration = Duration::from_secs(30);
const UPKEEP_EVERY: Duration = Duration::from_secs(600);
/// Devices registered since are picked up this often.
const NEW_DEVICES_EVERY: Duration = Duration::from_secs(5);
/// The same refusal of the same topic is kept once in this long (the rest are counted).
const DEAD_LETTER_EVERY_MS: i64 = 10_000;
/// At most this many refusals of one code are kept per DEAD_LETTER_EVERY_MS, whatever the topics
/// (a flood of made-up serials).
const DEAD_LETTERS_PER_CODE: u32 = 100;

/// The running ingest's tasks.
pub struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the ingest: what it had not acknowledged the broker sends to the next session.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Runs the ingest on one server of a cluster at a time (the broker session is one per
/// deployment): the server that takes the lead runs it; when that server dies another takes the
/// lead within seconds and the broker hands it the session with what was not acknowledged.
pub fn spawn_led(db: Db, cfg: IngestConfig, stats: Arc<IngestStats>) {
    tokio::spawn(async move {
        while !db.is_closed() {
            match db.try_lead("mqtt-ingest").await {
                Ok(Some(mut lead)) => {
                    stats.leading.store(true, Ordering::Relaxed);
                    tracing::info!("this server runs the MQTT ingest");
                    let running = spawn(db.clone(), cfg.clone(), stats.clone());
                    while lead.still_held().await && !db.is_closed() {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    running.stop();
                    stats.leading.store(false, Ordering::Relaxed);
                    stats.connected.store(false, Ordering::Relaxed);
                    tracing::warn!("the MQTT ingest stopped here: this server lost its lead (its database connection)");
                }
                Ok(None) => {}
                Err(e) if !db.is_closed() => tracing::warn!(error = %e, "cannot ask for the lead of the MQTT ingest"),
                Err(_) => return,
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    });
}

/// Starts the ingest: the broker's connection and the batcher, and the telemetry upkeep.
pub fn spawn(db: Db, cfg: IngestConfig, stats: Arc<IngestStats>) -> Running {
    let mut opts = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    opts.set_clean_start(false)
        .set_session_expiry_interval(Some(7 * 24 * 3600))
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_receive_maximum(Some(u16::MAX))
        // Larger messages are dropped by the broker rather than sent to be refused here.
        .set_max_packet_size(Some(64 * 1024))
        .set_request_channel_capacity(QUEUE);
    if !cfg.username.is_empty() {
        opts.set_credentials(cfg.username.clone(), cfg.password.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(opts, QUEUE);
    let (tx, rx) = mpsc::channel::<Publish>(QUEUE);
    let filter = format!("{}/v1/+/+", cfg.root);
    let conn_stats = stats.clone();
    let sub_client = client.clone();
    let connection = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(c))) => {
                    conn_stats.connected.store(true, Ordering::Relaxed);
                    tracing::info!(session_present = c.session_present, "MQTT ingest connected");
                    if let Err(e) = sub_client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(error = %e, "MQTT subscribe not sent");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if conn_stats.connected.swap(false, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "MQTT ingest disconnected; reconnecting");
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    let batcher = tokio::spawn(async move {
        let mut ingest = Ingest::new(db, cfg, stats);
        ingest.run(rx, client).await;
    });
    Running { tasks: vec![connection, batcher] }
}

/// A registered device as the ingest holds it.
struct Known {
    device: IngestDevice,
    rules: Rules,
    state: DeviceState,
    /// Messages dropped over the limit since the last rate dead letter.
    limited: u64,
    limited_noted_at: i64,
}

struct Ingest {
    db: Db,
    cfg: IngestConfig,
    stats: Arc<IngestStats>,
    devices: HashMap<String, Known>,
    /// The newest device id held: those after it are read every NEW_DEVICES_EVERY.
    newest_device: i64,
    /// Per refusal code, the window's start (ms) and the letters kept in it.
    per_code: HashMap<&'static str, (i64, u32)>,
    /// Devices heard since the last write of last-heard times, with the newest time (ms).
    heard: HashMap<i64, i64>,
    /// When each (topic, code) refusal was last kept.
    refused: HashMap<(String, &'static str), i64>,
    /// The regions' and estates' rule overrides, and the stamp they were read at.
    overrides: Overrides,
    overrides_stamp: Option<(i64, Option<String>)>,
}

/// A device's rules: its kind's, with the overrides of the places above it.
fn rules_of(overrides: &Overrides, d: &IngestDevice) -> Rules {
    let kind = DeviceKind::parse(&d.kind).unwrap_or(DeviceKind::GasDetector);
    overrides.rules_for(kind, &d.community_code, d.estate_id)
}

/// The server's clock in ms since the epoch.
pub fn now_ms() -> i64 {
    huanxin_store::clock::utc_now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Ingest {
    fn new(db: Db, cfg: IngestConfig, stats: Arc<IngestStats>) -> Ingest {
        Ingest {
            db,
            cfg,
            stats,
            devices: HashMap::new(),
            newest_device: 0,
            per_code: HashMap::new(),
            heard: HashMap::new(),
            refused: HashMap::new(),
            overrides: Overrides::default(),
            overrides_stamp: None,
        }
    }

    /// Holds the devices registered since the last look, and the rules anew when a region or an
    /// estate changed them (what a device is holding above a level goes on being held).
    async fn pick_up_devices(&mut self) -> Result<(), huanxin_store::StoreError> {
        let stamp = self.db.rule_overrides_stamp().await?;
        if self.overrides_stamp.as_ref() != Some(&stamp) {
            self.overrides = self.db.rule_overrides().await?;
            self.overrides_stamp = Some(stamp);
            for k in self.devices.values_mut() {
                k.rules = rules_of(&self.overrides, &k.device);
            }
        }
        for d in self.db.ingest_devices_after(self.newest_device).await? {
            self.newest_device = self.newest_device.max(d.id);
            let known = Ingest::known(&self.overrides, d);
            self.devices.insert(known.device.serial.clone(), known);
        }
        Ok(())
    }

    fn known(overrides: &Overrides, device: IngestDevice) -> Known {
        let last_heard =
            device.last_heard_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp_millis());
        let state = DeviceState { last_heard, ..Default::default() };
        Known { rules: rules_of(overrides, &device), device, state, limited: 0, limited_noted_at: 0 }
    }

    async fn run(&mut self, mut rx: mpsc::Receiver<Publish>, client: AsyncClient) {
        while let Err(e) = self.pick_up_devices().await {
            tracing::warn!(error = %e, "devices not read; trying again");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.upkeep().await;
        let mut last_pick_up = Instant::now();
        let mut last_heard_write = Instant::now();
        let mut last_offline_check = Instant::now();
        let mut last_upkeep = Instant::now();
        let mut buf: Vec<Publish> = Vec::new();
        loop {
            let got = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
            match got {
                Ok(None) => return,
                Ok(Some(first)) => {
                    buf.push(first);
                    let until = tokio::time::Instant::now() + GATHER;
                    while buf.len() < MAX_BATCH {
                        match tokio::time::timeout_at(until, rx.recv()).await {
                            Ok(Some(p)) => {
                                buf.push(p);
                                // Only what is already there: `recv_many` would wait for one
                                // more message, holding the last of a burst (an alarm) until
                                // another device spoke.
                                while buf.len() < MAX_BATCH {
                                    match rx.try_recv() {
                                        Ok(p) => buf.push(p),
                                        Err(_) => break,
                                    }
                                }
                            }
                            Ok(None) | Err(_) => break,
                        }
                        if rx.is_empty() {
                            break;
                        }
                    }
                }
                Err(_) => {}
            }
            if last_pick_up.elapsed() >= NEW_DEVICES_EVERY {
                last_pick_up = Instant::now();
                if let Err(e) = self.pick_up_devices().await {
                    tracing::warn!(error = %e, "new devices not read");
                }
            }
            let now = now_ms();
            let mut batch = IngestBatch::default();
            for p in &buf {
                // A message that trips a bug is refused by itself; the ingest goes on.
                let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.take(p, now, &mut batch)));
                if taken.is_err() {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    self.refuse(&mut batch, now, None, &topic, DeadLetter::Field("payload"), &p.payload);
                }
            }
            if last_offline_check.elapsed() >= OFFLINE_EVERY {
                last_offline_check = Instant::now();
                self.check_silence(now, &mut batch);
            }
            if last_heard_write.elapsed() >= HEARD_EVERY && !self.heard.is_empty() {
                last_heard_write = Instant::now();
                batch.heard = self.heard.drain().map(|(id, at)| (id, rfc3339(at))).collect();
            }
            if !(batch.readings.is_empty() && batch.changes.is_empty() && batch.dead.is_empty() && batch.heard.is_empty()) {
                self.store(&batch, now).await;
            }
            self.stats.received.fetch_add(buf.len() as u64, Ordering::Relaxed);
            // Acknowledged only now that the batch is stored.
            for p in buf.drain(..) {
                if let Err(e) = client.ack(&p).await {
                    tracing::warn!(error = %e, "MQTT acknowledgement not sent");
                }
            }
            if last_upkeep.elapsed() >= UPKEEP_EVERY {
                last_upkeep = Instant::now();
                self.upkeep().await;
            }
        }
    }

    /// Stores a batch, trying again until the database takes it: the broker is not
    /// acknowledged meanwhile, so nothing is lost while the database is away.
    async fn store(&mut self, batch: &IngestBatch, now: i64) {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.db.apply_ingest(batch, hour_of(now)).await {
                Ok(done) => {
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats.readings_stored.fetch_add(done.stored, Ordering::Relaxed);
                    self.stats.alarms_raised.fetch_add(done.raised.iter().filter(|a| a.repeats == 1).count() as u64, Ordering::Relaxed);
                    self.stats.dead_letters.fetch_add(batch.dead.len() as u64, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    self.stats.store_retries.fetch_add(1, Ordering::Relaxed);
                    // The database answers, yet refuses the batch: the batch is at fault. Its
                    // failure is kept and the ingest goes on rather than stall for ever.
                    if self.db.scalar("SELECT CAST(1 AS BIGINT)", vec![]).await.is_ok() && wait >= Duration::from_millis(800) {
                        tracing::error!(error = %e, readings = batch.readings.len(), "ingest batch refused by the database; kept as a dead letter");
                        let letter = IngestBatch {
                            dead: vec![DeadLetterRow {
                                estate_id: None,
                                source: "mqtt".into(),
                                topic: String::new(),
                                code: "store".into(),
                                detail: format!("{} readings, {} alarm changes not stored: {e}", batch.readings.len(), batch.changes.len()),
                                payload: Vec::new(),
                            }],
                            ..Default::default()
                        };
                        if self.db.apply_ingest(&letter, hour_of(now)).await.is_ok() {
                            return;
                        }
                    }
                    tracing::warn!(error = %e, "ingest batch not stored; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn upkeep(&self) {
        match self.db.telemetry_upkeep(now_ms(), self.cfg.retention).await {
            Ok(u) if u.hours_rolled_up + u.raw_dropped as usize + u.hourly_dropped as usize > 0 => {
                tracing::info!(
                    rolled = u.hours_rolled_up,
                    raw_dropped = u.raw_dropped,
                    hourly_dropped = u.hourly_dropped,
                    "telemetry upkeep"
                )
            }
            Ok(_) => {}
            Err(e) if !self.db.is_closed() => tracing::warn!(error = %e, "telemetry upkeep failed"),
            Err(_) => {}
        }
    }

    /// Keeps a refusal, at most once per topic and code in [`DEAD_LETTER_EVERY_MS`].
    fn refuse(&mut self, batch: &mut IngestBatch, now: i64, estate_id: Option<i64>, topic: &str, why: DeadLetter, payload: &[u8]) {
        let key = (topic.chars().take(200).collect::<String>(), why.code());
        let window = self.per_code.entry(why.code()).or_insert((now, 0));
        if now - window.0 >= DEAD_LETTER_EVERY_MS {
            *window = (now, 0);
        }
        if self.refused.get(&key).is_some_and(|at| now - at < DEAD_LETTER_EVERY_MS) || window.1 >= DEAD_LETTERS_PER_CODE {
            self.stats.dead_letters_suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        window.1 += 1;
        if self.refused.len() > 100_000 {
            self.refused.clear();
        }
        self.refused.insert(key, now);
        batch.dead.push(DeadLetterRow {
            estate_id,
            source: "mqtt".into(),
            topic: telemetry::shown_topic(topic, 200),
            code: why.code().into(),
            detail: why.to_string(),
            payload: payload.to_vec(),
        });
    }

    /// Reads one message into the batch.
    fn take(&mut self, p: &Publish, now: i64, batch: &mut IngestBatch) {
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        let Some((serial, channel)) = telemetry::parse_topic(&self.cfg.root, &topic) else {
            return self.refuse(batch, now, None, &topic, DeadLetter::Topic, &p.payload);
        };
        let serial = serial.to_string();
        if !self.devices.contains_key(&serial) {
            return self.refuse(batch, now, None, &topic, DeadLetter::UnknownDevice, &p.payload);
        }
        let sig = p.properties.as_ref().and_then(|pr| pr.user_properties.iter().find(|(k, _)| k == "sig")).map(|(_, v)| v.as_str());
        let Some(dev) = self.devices.get_mut(&serial) else { return };
        let estate_id = Some(dev.device.estate_id);
        if !sig.is_some_and(|s| telemetry::verify(dev.device.device_key.as_bytes(), &topic, &p.payload, s)) {
            return self.refuse(batch, now, estate_id, &topic, DeadLetter::Signature, &p.payload);
        }
        if !dev.state.bucket.take(self.cfg.rate, now) {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            dev.limited += 1;
            // Flagged once a minute per device, with how many were dropped.
            if now - dev.limited_noted_at >= 60_000 {
                dev.limited_noted_at = now;
                let n = std::mem::take(&mut dev.limited);
                batch.dead.push(DeadLetterRow {
                    estate_id,
                    source: "mqtt".into(),
                    topic: topic.clone(),
                    code: DeadLetter::RateLimited.code().into(),
                    detail: format!("{} ({n})", DeadLetter::RateLimited),
                    payload: p.payload.to_vec(),
                });
            }
            return;
        }
        let msg = match telemetry::parse(channel, &p.payload, now) {
            Ok(m) => m,
            Err(why) => return self.refuse(batch, now, estate_id, &topic, why, &p.payload),
        };
        let Some(dev) = self.devices.get_mut(&serial) else { return };
        let (device_id, estate) = (dev.device.id, dev.device.estate_id);
        if let Message::Telemetry { at, values } = &msg {
            batch.readings.extend(values.iter().map(|(metric, value)| Reading {
                device_id,
                at_ms: *at,
                metric: metric.clone(),
                value: *value,
            }));
        }
        let at = match &msg {
            Message::Telemetry { at, .. } | Message::Event { at, .. } | Message::Heartbeat { at } => *at,
        };
        let effects = on_message(&dev.rules, &mut dev.state, &msg);
        let heard = self.heard.entry(device_id).or_insert(at);
        *heard = (*heard).max(at);
        push_effects(batch, device_id, estate, &rfc3339(at), effects);
    }

    /// Raises the offline alarm of each device silent too long.
    fn check_silence(&mut self, now: i64, batch: &mut IngestBatch) {
        for dev in self.devices.values_mut() {
            if let Some(effect) = check_offline(&dev.rules, &mut dev.state, now) {
                push_effects(batch, dev.device.id, dev.device.estate_id, &rfc3339(now), vec![effect]);
            }
        }
    }
}

fn push_effects(batch: &mut IngestBatch, device_id: i64, estate_id: i64, at: &str, effects: Vec<Effect>) {
    for e in effects {
        batch.changes.push(match e {
            Effect::Raise { alarm_type, severity, detail } => {
                AlarmChange::Raise { device_id, estate_id, alarm_type, severity, at: at.to_string(), detail }
            }
            Effect::Clear { alarm_type } => AlarmChange::Clear { device_id, alarm_type, at: at.to_string() },
        });
    }
}
