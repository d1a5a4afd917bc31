//! Alarms in storage (issue 17): a device registered once by serial; messages arriving together
//! make one open alarm per device and type with every repeat counted; the alarm's life through
//! people's steps; the dead letters. On both engines.

mod common;

use common::TestApp;
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::{AlarmStep, DeviceKind, Severity};
use huanxin_domain::regions::RegionCode;
use huanxin_store::alarms::{AlarmError, NewDevice};
use huanxin_store::audit::Actor;
use huanxin_store::StoreError;

both_engines!(
    alarms_are_one_open_per_device_and_type,
    devices_are_registered_by_the_registry_desks,
    the_ingest_turns_signed_messages_into_alarms_and_the_rest_into_dead_letters,
    a_redelivered_batch_stores_nothing_twice_and_old_telemetry_goes,
    cameras_push_events_with_their_snapshots,
    alarms_climb_their_chain_until_someone_acknowledges,
    regions_and_estates_override_the_rules_and_the_ingest_follows,
    devices_come_from_a_spreadsheet_all_or_none
);

/// Over HTTP: the desks that keep the registry register a device, its key shown once; every role
/// of the region lists the devices without keys; bad input is named; another county sees nothing.
async fn devices_are_registered_by_the_registry_desks(app: &TestApp) {
    use serde_json::json;
    let staff = app.client("county_staff").await;
    let (estate, building, _) = common::estate_with_dwellings(app).await;
    let path = format!("/api/v1/estates/{estate}/devices");
    let device = json!({"kind": "可燃气体探测器", "serial": "GD-7", "building_id": building, "place": "2号楼地下室", "vendor": "汉威"});
    assert_eq!(app.client("designer").await.post(&path, device.clone()).await.0, 403);
    for (body, field) in [
        (json!({"kind": "toaster", "serial": "X-1"}), "kind"),
        (json!({"kind": "camera", "serial": "a b"}), "serial"),
        (json!({"kind": "camera", "serial": "C-1", "building_id": app.other_county_estate * 1000}), "building_id"),
        (json!({"kind": "camera", "serial": "C-1", "place": "x".repeat(101)}), "place"),
    ] {
        let (s, r) = staff.post(&path, body).await;
        assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some(field)), "{r}");
    }
    let (s, made) = staff.post(&path, device.clone()).await;
    assert_eq!((s, made["kind"].as_str(), made["device_key"].as_str().map(str::len)), (201, Some("gas_detector"), Some(48)), "{made}");
    let (s, r) = staff.post(&path, device).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("alarms.serial_taken")), "{r}");
    let (_, listed) = staff.get(&path).await;
    assert_eq!((listed.as_array().unwrap().len(), listed[0]["serial"].as_str()), (1, Some("GD-7")));
    assert!(!listed.to_string().contains("device_key"), "the key is shown once: {listed}");
    assert_eq!(app.client("other_county_admin").await.get(&path).await.0, 404);
    let (s, alarms) = staff.get(&format!("/api/v1/estates/{estate}/alarms")).await;
    assert_eq!((s, alarms), (200, json!([])));
}

async fn alarms_are_one_open_per_device_and_type(app: &TestApp) {
    let scope = Scope::Region(RegionCode::parse("350521").unwrap());
    let elsewhere = Scope::Region(RegionCode::parse("350502").unwrap());
    let actor = Actor { user_id: None, username: "county_staff".into(), request_id: String::new() };
    let estate = app.db.scalar("SELECT MIN(id) FROM estates WHERE community_code LIKE '350521%'", vec![]).await.unwrap();
    let new = NewDevice {
        estate_id: estate,
        building_id: None,
        place: "2号楼地下室".into(),
        kind: DeviceKind::GasDetector,
        vendor: "汉威".into(),
        model: "JT-KB".into(),
        serial: "GD-0001".into(),
        key: "k-0001".into(),
    };
    let device = app.db.register_device(&actor, &scope, &new).await.unwrap();
    match app.db.register_device(&actor, &scope, &new).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].code, "alarms.serial_taken"),
        other => panic!("a serial is registered once: {other:?}"),
    }
    match app.db.register_device(&actor, &scope, &NewDevice { serial: "GD 1/#".into(), ..new.clone() }).await {
        Err(StoreError::Invalid(e)) => assert_eq!(e.0[0].field, "serial"),
        other => panic!("a serial fit for a topic: {other:?}"),
    }
    assert!(matches!(
        app.db.register_device(&actor, &elsewhere, &NewDevice { serial: "GD-9".into(), ..new.clone() }).await,
        Err(StoreError::NotFound)
    ));
    let (found, key) = app.db.device_with_key("GD-0001").await.unwrap().unwrap();
    assert_eq!((found.id, key.as_str()), (device.id, "k-0001"));

    // Two hundred messages at once: one alarm, every one counted, the worst severity kept.
    let mut all = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (db, device) = (app.db.clone(), device.clone());
        let severity = if i == 117 { Severity::Critical } else { Severity::Major };
        all.spawn(async move { db.raise_alarm(&device, "gas_leak", severity, &huanxin_store::now(), "lel 30").await });
    }
    let mut ids = std::collections::BTreeSet::new();
    while let Some(r) = all.join_next().await {
        ids.insert(r.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1, "one alarm however many arrive together");
    let open = app.db.alarms_of(&scope, estate).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].repeats, open[0].severity.as_str(), open[0].state.as_str()), (200, "critical", "active"));
    let id = open[0].id;

    // People's steps, in order; another county does not see it.
    assert!(matches!(
        app.db.alarm_step(&actor, &elsewhere, id, AlarmStep::Acknowledge, "").await,
        Err(AlarmError::Store(StoreError::NotFound))
    ));
    assert!(matches!(app.db.alarm_step(&actor, &scope, id, AlarmStep::Close, "").await, Err(AlarmError::Refused(_))), "cleared first");
    let a = app.db.alarm_step(&actor, &scope, id, AlarmStep::Acknowledge, "").await.unwrap();
    assert_eq!((a.state.as_str(), a.acknowledged_by.as_deref()), ("acknowledged", Some("county_staff")));
    assert!(matches!(app.db.alarm_step(&actor, &scope, id, AlarmStep::Acknowledge, "").await, Err(AlarmError::Refused(_))));
    let again = app.db.raise_alarm(&device, "gas_leak", Severity::Major, &huanxin_store::now(), "").await.unwrap();
    assert_eq!((again.id, again.repeats, again.state.as_str()), (id, 201, "acknowledged"), "still open: counted on it");
    let a = app.db.alarm_step(&actor, &scope, id, AlarmStep::ClearByHand, "阀门已关闭，通风后复测 0%").await.unwrap();
    assert_eq!((a.state.as_str(), a.note.as_str()), ("cleared", "阀门已关闭，通风后复测 0%"));
    let a = app.db.alarm_step(&actor, &scope, id, AlarmStep::Close, "").await.unwrap();
    assert_eq!((a.state.as_str(), a.note.as_str()), ("closed", "阀门已关闭，通风后复测 0%"));

    // Once cleared, the next one is a new alarm; the rule clears an open one by itself.
    let next = app.db.raise_alarm(&device, "gas_leak", Severity::Major, &huanxin_store::now(), "").await.unwrap();
    assert_ne!(next.id, id);
    assert_eq!(next.repeats, 1);
    let cleared = app.db.clear_alarm_by_rule(device.id, "gas_leak", &huanxin_store::now()).await.unwrap().unwrap();
    assert_eq!((cleared.id, cleared.state.as_str(), cleared.cleared_by.as_deref()), (next.id, "cleared", Some("rule")));
    assert!(app.db.clear_alarm_by_rule(device.id, "gas_leak", &huanxin_store::now()).await.unwrap().is_none(), "nothing open");

    app.db
        .record_dead_letter("mqtt", "huanxin/v1/GD-0001/telemetry", "signature", "the signature does not match", b"{\"values\":{}}\x07")
        .await
        .unwrap();
    let (code, payload): (String, String) = app.db.fetch_one("SELECT code, payload FROM dead_letters", vec![]).await.unwrap();
    assert_eq!((code.as_str(), payload.as_str()), ("signature", "{\"values\":{}}"));
}

/// The broker the tests publish to (Mosquitto on the machine; `scripts/test` starts it).
fn broker() -> (String, u16) {
    let addr = std::env::var("HUANXIN_TEST_MQTT").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let (h, p) = addr.rsplit_once(':').unwrap();
    (h.to_string(), p.parse().unwrap())
}

/// A device's publisher: signs what it sends with the device's key, as a device does.
struct Publisher {
    client: rumqttc::v5::AsyncClient,
    root: String,
}

impl Publisher {
    async fn connect(root: &str) -> Publisher {
        let (host, port) = broker();
        let id = format!("pub-{}", uuid::Uuid::new_v4().simple());
        let mut opts = rumqttc::v5::MqttOptions::new(id, host, port);
        opts.set_max_packet_size(Some(256 * 1024));
        let (client, mut el) = rumqttc::v5::AsyncClient::new(opts, 100);
        tokio::spawn(async move { while el.poll().await.is_ok() {} });
        Publisher { client, root: root.to_string() }
    }

    async fn send(&self, serial: &str, channel: &str, key: &str, payload: &str) {
        let topic = format!("{}/v1/{serial}/{channel}", self.root);
        let sig = huanxin_domain::alarms::telemetry::signature(key.as_bytes(), &topic, payload.as_bytes());
        let props = rumqttc::v5::mqttbytes::v5::PublishProperties { user_properties: vec![("sig".into(), sig)], ..Default::default() };
        self.client
            .publish_with_properties(topic, rumqttc::v5::mqttbytes::QoS::AtLeastOnce, false, payload.to_string(), props)
            .await
            .unwrap();
    }
}

/// Polls `check` until it answers (at most 20 s).
async fn until<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Over the real broker: a gas detector's readings held above 25 % LEL raise a critical alarm the
/// board shows; messages with a wrong signature, a bad payload, a far-off clock or an unknown
/// serial go to the dead letters by reason; people take the alarm's steps by role.
async fn the_ingest_turns_signed_messages_into_alarms_and_the_rest_into_dead_letters(app: &TestApp) {
    use serde_json::json;
    let staff = app.client("county_staff").await;
    let (estate, _, _) = common::estate_with_dwellings(app).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let serial = format!("GD-{}", &run[..8]);
    let (_, made) = staff.post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "gas_detector", "serial": serial})).await;
    let key = made["device_key"].as_str().unwrap().to_string();
    let device_id = made["id"].as_i64().unwrap();
    let root = format!("t{}", &run[..12]);
    let (host, port) = broker();
    let cfg = huanxin_server::alarms::ingest::IngestConfig {
        host,
        port,
        client_id: format!("ingest-{run}"),
        root: root.clone(),
        rate: Default::default(),
        retention: Default::default(),
        username: String::new(),
        password: String::new(),
    };
    let quiet_serial = format!("GQ-{}", &run[..8]);
    let (_, quiet) =
        staff.post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "gas_detector", "serial": quiet_serial})).await;
    let quiet_key = quiet["device_key"].as_str().unwrap().to_string();
    let stats = std::sync::Arc::new(huanxin_server::alarms::ingest::IngestStats::default());
    huanxin_server::alarms::ingest::spawn(app.db.clone(), cfg, stats.clone());
    let publisher = Publisher::connect(&root).await;
    // Heartbeats until the ingest's subscription is in place.
    let beats = std::sync::atomic::AtomicU64::new(0);
    until("the ingest to subscribe", || async {
        publisher.send(&serial, "heartbeat", &key, &json!({"ts": chrono::Utc::now().timestamp_millis()}).to_string()).await;
        beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (stats.received.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    let received = || stats.received.load(std::sync::atomic::Ordering::Relaxed);
    let sent = beats.load(std::sync::atomic::Ordering::Relaxed);
    until("every heartbeat taken", || async { (received() >= sent).then_some(()) }).await;
    // The last two messages of a burst, and then silence: both are stored without waiting for a
    // message after them (the batcher once waited for a third, holding an alarm for as long).
    let t = chrono::Utc::now().timestamp_millis();
    publisher.send(&quiet_serial, "telemetry", &quiet_key, &json!({"ts": t - 1, "values": {"lel": 1.0}}).to_string()).await;
    publisher.send(&quiet_serial, "telemetry", &quiet_key, &json!({"ts": t, "values": {"lel": 2.0}}).to_string()).await;
    let quiet_id = quiet["id"].as_i64().unwrap();
    until("the burst's last two readings stored", || async {
        let n = app.db.scalar("SELECT COUNT(*) FROM telemetry WHERE device_id = $1", huanxin_store::args![quiet_id]).await.unwrap();
        (n == 2).then_some(())
    })
    .await;

    let now = chrono::Utc::now().timestamp_millis();
    for (i, lel) in [(0, 30.0), (6, 31.5), (12, 32.0)] {
        publisher.send(&serial, "telemetry", &key, &json!({"ts": now - 20_000 + i * 1000, "values": {"lel": lel}}).to_string()).await;
    }
    publisher.send(&serial, "telemetry", "another-key", &json!({"values": {"lel": 0}}).to_string()).await;
    publisher.send(&serial, "event", &key, "{not json").await;
    publisher.send(&serial, "heartbeat", &key, &json!({"ts": now + 3_600_000}).to_string()).await;
    publisher.send("NO-SUCH-DEVICE", "heartbeat", &key, &json!({"ts": now}).to_string()).await;
    publisher.send(&serial, "heartbeat", &key, &json!({"ts": i64::MIN}).to_string()).await;

    // A smoke detector registered while the ingest runs is picked up; a captured "smoke over"
    // sent again after the device spoke later clears nothing.
    let smoke = format!("SD-{}", &run[..8]);
    let (_, made) = staff.post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "smoke_detector", "serial": smoke})).await;
    let smoke_key = made["device_key"].as_str().unwrap().to_string();
    let smoke_alarm = until("the new device's alarm", || async {
        let t = chrono::Utc::now().timestamp_millis();
        publisher.send(&smoke, "event", &smoke_key, &json!({"ts": t, "event": "smoke"}).to_string()).await;
        let (_, b) = staff.get("/api/v1/alarms?state=open&alarm_type=smoke").await;
        b.as_array().and_then(|a| a.iter().find(|x| x["serial"] == smoke.as_str()).cloned())
    })
    .await;
    let t = chrono::Utc::now().timestamp_millis();
    publisher.send(&smoke, "heartbeat", &smoke_key, &json!({"ts": t}).to_string()).await;
    publisher.send(&smoke, "event", &smoke_key, &json!({"ts": t - 5_000, "event": "smoke", "active": false}).to_string()).await;

    let board = until("the alarm on the board", || async {
        let (_, b) = staff.get(&format!("/api/v1/alarms?state=open&estate_id={estate}&alarm_type=gas_leak")).await;
        b.as_array().filter(|a| !a.is_empty()).cloned()
    })
    .await;
    assert_eq!((board.len(), board[0]["alarm_type"].as_str(), board[0]["severity"].as_str()), (1, Some("gas_leak"), Some("critical")));
    assert_eq!(board[0]["serial"].as_str(), Some(serial.as_str()));
    let id = board[0]["id"].as_i64().unwrap();
    let (_, a) = staff.get(&format!("/api/v1/alarms/{}", smoke_alarm["id"])).await;
    assert_eq!(a["state"].as_str(), Some("active"), "a replayed event clears nothing: {a}");
    for (q, field) in [("severity=bogus", "severity"), ("alarm_type=x;drop", "alarm_type"), ("estate_id=abc", "estate_id")] {
        let (s, r) = staff.get(&format!("/api/v1/alarms?{q}")).await;
        assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some(field)), "{q}: {r}");
    }
    let (s, r) = staff.get(&format!("/api/v1/devices/{device_id}/telemetry?hours=0")).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("hours")), "{r}");
    let (_, map) = staff.get("/api/v1/alarms/map").await;
    assert_eq!((map[0]["estate_id"].as_i64(), map[0]["worst"].as_str()), (Some(estate), Some("critical")), "{map}");

    let letters = until("the dead letters", || async {
        let (_, d) = staff.get("/api/v1/alarms/dead-letters").await;
        let codes: std::collections::BTreeSet<String> =
            d.as_array().unwrap().iter().map(|l| l["code"].as_str().unwrap().to_string()).collect();
        (codes.len() >= 3).then_some(codes)
    })
    .await;
    assert_eq!(letters.into_iter().collect::<Vec<_>>(), ["not_json", "signature", "time"], "a county sees its devices' refusals");
    let unknown = until("the unknown device's letter", || async {
        let (_, d) = app.client("ministry_admin").await.get("/api/v1/alarms/dead-letters").await;
        d.as_array().unwrap().iter().find(|l| l["code"] == "unknown_device" && l["topic"].as_str().unwrap().contains("NO-SUCH")).cloned()
    })
    .await;
    assert_eq!(unknown["estate_id"], serde_json::Value::Null);
    let (_, other) = app.client("other_county_admin").await.get("/api/v1/alarms/dead-letters").await;
    assert_eq!(other, json!([]), "another county sees none of them");

    // The readings are kept; the chart reads them.
    let points = until("the readings", || async {
        let (_, p) = staff.get(&format!("/api/v1/devices/{device_id}/telemetry?hours=1")).await;
        p.as_array().filter(|p| !p.is_empty()).cloned()
    })
    .await;
    assert!(points.iter().all(|p| p["metric"] == "lel"), "{points:?}");
    assert_eq!(points.iter().map(|p| p["n"].as_i64().unwrap()).sum::<i64>(), 3, "the bad-signature reading is not kept");
    let (_, longer) = staff.get(&format!("/api/v1/devices/{device_id}/telemetry?hours=72")).await;
    assert_eq!(
        longer.as_array().unwrap().iter().map(|p| p["n"].as_i64().unwrap()).sum::<i64>(),
        3,
        "the hours not yet rolled up: {longer}"
    );
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/devices/{device_id}/telemetry")).await.0, 404);

    // Steps by role.
    let path = |step: &str| format!("/api/v1/alarms/{id}/{step}");
    assert_eq!(app.client("city_admin").await.post(&path("acknowledge"), json!({})).await.0, 403, "the levels above watch");
    assert_eq!(app.client("other_county_admin").await.post(&path("acknowledge"), json!({})).await.0, 404);
    let (s, a) = staff.post(&path("acknowledge"), json!({})).await;
    assert_eq!((s, a["state"].as_str()), (200, Some("acknowledged")));
    let (s, r) = staff.post(&path("clear"), json!({"note": " \u{200b} "})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("alarms.note_required")), "{r}");
    let (s, r) = staff.post(&path("close"), json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("alarms.not_cleared")), "{r}");
    let (s, a) = staff.post(&path("clear"), json!({"note": "关阀通风，复测 0%"})).await;
    assert_eq!((s, a["state"].as_str()), (200, Some("cleared")));
    let (s, a) = staff.post(&path("close"), json!({})).await;
    assert_eq!((s, a["state"].as_str(), a["note"].as_str()), (200, Some("closed"), Some("关阀通风，复测 0%")));
}

/// A batch the broker delivers again after a crash stores its readings once; the upkeep rolls
/// ended hours up and lets go of raw hours older than the retention.
async fn a_redelivered_batch_stores_nothing_twice_and_old_telemetry_goes(app: &TestApp) {
    use huanxin_store::alarms::ingest::{hour_of, IngestBatch, Reading};
    use huanxin_store::alarms::telemetry::Retention;
    let now = chrono::Utc::now().timestamp_millis();
    let current = hour_of(now);
    let reading = |device_id, at_ms, value| Reading { device_id, at_ms, metric: "lel".into(), value };
    let batch = IngestBatch {
        readings: vec![
            reading(1, now - 3_600_000, 1.0),
            reading(1, now - 3_600_000 + 1, 3.0),
            reading(2, now, 5.0),
            reading(1, now - 40 * 86_400_000, 9.0),
        ],
        ..Default::default()
    };
    let hourly = || async {
        let sql = "SELECT n, total FROM telemetry_hourly WHERE device_id = 1 AND hour = $1";
        app.db.fetch_one::<(i64, f64)>(sql, huanxin_store::args![hour_of(now - 3_600_000)]).await.unwrap()
    };
    assert_eq!(app.db.apply_ingest(&batch, current).await.unwrap().stored, 4);
    assert_eq!(app.db.apply_ingest(&batch, current).await.unwrap().stored, 0, "delivered again: nothing twice");
    let done = app.db.telemetry_upkeep(now, Retention::default()).await.unwrap();
    assert!(done.raw_dropped >= 1, "{done:?}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM telemetry", vec![]).await.unwrap(), 3);
    let (n, total) = hourly().await;
    assert_eq!((n, total), (2, 4.0));
    // A late reading takes its hour out of the rolled-up ones; the next upkeep counts it.
    app.db
        .apply_ingest(&IngestBatch { readings: vec![reading(1, now - 3_600_000 + 2, 5.0)], ..Default::default() }, current)
        .await
        .unwrap();
    app.db.telemetry_upkeep(now, Retention::default()).await.unwrap();
    let (n, total) = hourly().await;
    assert_eq!((n, total), (3, 9.0));
}

/// Cameras push over HTTP: a Hikvision alert with its snapshot raises a fire alarm that keeps the
/// picture; a Dahua event raises its own; a wrong key and a body that is no event are refused and
/// kept as dead letters.
async fn cameras_push_events_with_their_snapshots(app: &TestApp) {
    use serde_json::json;
    let staff = app.client("county_staff").await;
    let (estate, _, _) = common::estate_with_dwellings(app).await;
    let (_, made) =
        staff.post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "camera", "serial": "CAM-7", "place": "东门"})).await;
    let key = made["device_key"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let url = |k: &str| format!("{}/api/v1/camera-events/CAM-7/{k}", app.base);
    let alert = r#"<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>192.168.1.64</ipAddress><portNo>80</portNo><protocol>HTTP</protocol><macAddress>44:47:cc:11:22:33</macAddress>
<channelID>1</channelID><dateTime>2026-12-06T20:15:02+08:00</dateTime><activePostCount>1</activePostCount>
<eventType>fireDetection</eventType><eventState>active</eventState><eventDescription>fire detection alarm</eventDescription>
</EventNotificationAlert>"#;
    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10][..], b"JFIF\0", &[0u8; 64], &[0xFF, 0xD9]].concat();
    let form = reqwest::multipart::Form::new()
        .part("EventNotificationAlert", reqwest::multipart::Part::bytes(alert.as_bytes().to_vec()).mime_str("application/xml").unwrap())
        .part("Picture", reqwest::multipart::Part::bytes(jpeg.clone()).file_name("fire.jpg").mime_str("image/jpeg").unwrap());
    let r = http.post(url(&key)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, board) = staff.get("/api/v1/alarms?state=open&alarm_type=fire").await;
    assert_eq!((board[0]["serial"].as_str(), board[0]["severity"].as_str()), (Some("CAM-7"), Some("critical")), "{board}");
    let id = board[0]["id"].as_i64().unwrap();
    let shot = staff.req(reqwest::Method::GET, &format!("/api/v1/alarms/{id}/snapshot")).send().await.unwrap();
    assert_eq!(shot.headers()["content-type"], "image/jpeg");
    assert_eq!(shot.bytes().await.unwrap().to_vec(), jpeg, "the picture is kept as sent");
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/alarms/{id}/snapshot")).await.0, 404);

    let r = http
        .post(url(&key))
        .header("content-type", "application/json")
        .body(r#"{"Code":"LeaveDetection","Action":"Start","Index":0,"Data":{"LocaleTime":"2026-12-06 20:15:02"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, board) = staff.get("/api/v1/alarms?state=open&alarm_type=guard_off_post").await;
    assert_eq!(board.as_array().unwrap().len(), 1, "{board}");
    let r = http
        .post(url(&key))
        .header("content-type", "application/xml")
        .body(alert.replace("<eventState>active", "<eventState>inactive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, a) = staff.get(&format!("/api/v1/alarms/{id}")).await;
    assert_eq!((a["state"].as_str(), a["cleared_by"].as_str()), (Some("cleared"), Some("rule")), "the camera says the fire is over: {a}");

    let wrong = http.post(url("0000")).header("content-type", "application/xml").body(alert.to_string()).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    // A NUL in the serial is refused like any unknown camera, on PostgreSQL too (it refuses NUL in text).
    let nul = format!("{}/api/v1/camera-events/CAM%007/{key}", app.base);
    let r = http.post(nul).header("content-type", "application/xml").body(alert.to_string()).send().await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let junk = http.post(url(&key)).header("content-type", "application/xml").body("<html>not an event</html>").send().await.unwrap();
    assert_eq!(junk.status(), 422);
    let letters = until("the camera's dead letter", || async {
        let (_, d) = staff.get("/api/v1/alarms/dead-letters").await;
        d.as_array().unwrap().iter().find(|l| l["code"] == "camera").cloned()
    })
    .await;
    assert_eq!(letters["source"].as_str(), Some("http"));
}

/// Reads server-sent events from a response until one of `kind` for `alarm` comes, returning it.
async fn next_event(res: &mut reqwest::Response, buf: &mut String, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap();
                if want(&v) {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(20), res.chunk()).await.expect("an event within 20 s");
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the feed stays open")));
    }
}

/// Escalation: the property company is texted at once, the grid worker after 5 minutes without an
/// acknowledgement (the alarm's time is moved back instead of waiting), each step once even when
/// two servers look at the same moment; an acknowledgement stops it. The desks' live feed hears
/// of their own county's alarms only. Chains per estate are checked by field; photos of the
/// response are kept; response figures count the acknowledgement.
async fn alarms_climb_their_chain_until_someone_acknowledges(app: &TestApp) {
    use huanxin_server::alarms::escalation::escalate;
    use serde_json::json;
    let estate = app.attached_estate;
    let staff = app.client("county_staff").await;
    let (_, made) = staff
        .post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "gas_detector", "serial": "GD-ESC", "place": "3号楼地下室"}))
        .await;
    let device_id = made["id"].as_i64().unwrap();
    let worker: i64 = app.db.scalar("SELECT id FROM users WHERE username = 'grid_worker'", vec![]).await.unwrap();
    let community: String =
        app.db.fetch_one::<(String,)>("SELECT community_code FROM estates WHERE id = $1", huanxin_store::args![estate]).await.unwrap().0;
    let grid = app
        .db
        .scalar(
            "INSERT INTO grids (region_code, code, name, created_by, created_at) VALUES ($1, 'G-1', '北关一网格', 'test', '2026-01-01T00:00:00Z') RETURNING id",
            huanxin_store::args![community.as_str()],
        )
        .await
        .unwrap();
    app.db.execute("INSERT INTO grid_estates (grid_id, estate_id) VALUES ($1, $2)", huanxin_store::args![grid, estate]).await.unwrap();
    app.db.execute("INSERT INTO grid_workers (grid_id, user_id) VALUES ($1, $2)", huanxin_store::args![grid, worker]).await.unwrap();

    // Chains are checked by field; another county cannot set one.
    let path = format!("/api/v1/estates/{estate}/alarm-chains/gas_leak");
    let (s, r) =
        staff.put(&path, json!({"steps": [{"tier": "property", "after_minutes": 0}, {"tier": "mayor", "after_minutes": 5}]})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("steps[1].tier")), "{r}");
    let (s, r) =
        staff.put(&path, json!({"steps": [{"tier": "property", "after_minutes": 0}, {"tier": "street", "after_minutes": 0}]})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("alarms.chain_order")), "{r}");
    assert_eq!(
        app.client("other_county_admin").await.put(&path, json!({"steps": [{"tier": "property", "after_minutes": 0}]})).await.0,
        404
    );
    let chain = json!([{"tier": "property", "after_minutes": 0}, {"tier": "grid_worker", "after_minutes": 5}, {"tier": "county", "after_minutes": 15}]);
    let (s, chains) = staff.put(&path, json!({"steps": chain})).await;
    assert_eq!(s, 200, "{chains}");
    assert_eq!(chains.as_array().unwrap().iter().find(|c| c["alarm_type"] == "gas_leak").unwrap()["steps"], chain);

    // The desk's feed, and another county's.
    let mut feed = staff.req(reqwest::Method::GET, "/api/v1/alarms/feed").send().await.unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut other_feed = app.client("other_county_admin").await.req(reqwest::Method::GET, "/api/v1/alarms/feed").send().await.unwrap();
    let (mut buf, mut other_buf) = (String::new(), String::new());
    // A person keeps a few feeds open, not thousands.
    let mut more = Vec::new();
    for _ in 1..huanxin_server::alarms::escalation::FEEDS_PER_USER {
        more.push(staff.req(reqwest::Method::GET, "/api/v1/alarms/feed").send().await.unwrap());
    }
    assert!(more.iter().all(|r| r.status() == 200));
    let (s, r) = staff.get("/api/v1/alarms/feed").await;
    assert_eq!((s, r["code"].as_str()), (429, Some("alarms.feeds_open")), "{r}");
    drop(more);

    let device = app.db.device(&Scope::Region(RegionCode::country()), device_id).await.unwrap();
    let alarm = app.db.raise_alarm(&device, "gas_leak", Severity::Critical, &huanxin_store::now(), "lel 31").await.unwrap();
    let raised = next_event(&mut feed, &mut buf, |e| e["alarm_id"] == alarm.id).await;
    assert_eq!((raised["kind"].as_str(), raised["tier"].as_str()), (Some("raised"), Some("property")), "{raised}");
    let url = format!("/api/v1/alarms/{}/notifications", alarm.id);
    let (desk, url) = (&staff, url.as_str());
    let notes = move || async move { desk.get(url).await.1 };
    let first = notes().await;
    let sms: Vec<_> = first.as_array().unwrap().iter().filter(|n| n["channel"] == "sms").collect();
    assert_eq!(sms.len(), 1, "the property company's one account: {first}");
    assert_eq!((sms[0]["tier"].as_str(), sms[0]["status"].as_str()), (Some("property"), Some("sent")), "{first}");
    assert!(sms[0]["recipient"].as_str().unwrap().contains("139****0000"), "the number masked: {first}");
    let texted =
        app.sms.lock().unwrap().iter().filter(|m| m["text"].as_str().unwrap_or("").contains("3号楼地下室，燃气泄漏（紧急）")).count();
    assert_eq!(texted, 1, "one text to the property company");

    // Five minutes later, nobody has acknowledged: the grid worker is told, once, by one of two servers.
    let back =
        |min: i64| (huanxin_store::clock::utc_now() - chrono::Duration::minutes(min)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.db
        .execute(
            "UPDATE alarms SET first_at = $1, escalate_at = $2 WHERE id = $3",
            huanxin_store::args![back(6).as_str(), back(0).as_str(), alarm.id],
        )
        .await
        .unwrap();
    let (one, two) = (
        huanxin_server::AppState::new(app.db.clone(), app.config.clone()).unwrap(),
        huanxin_server::AppState::new(app.db.clone(), app.config.clone()).unwrap(),
    );
    let (a, b) = tokio::join!(escalate(&one), escalate(&two));
    assert!(a.unwrap() + b.unwrap() <= 1, "the running server may have sent it first; never twice");
    let after = until("the grid worker told", || async {
        let n = notes().await;
        n.as_array().unwrap().iter().any(|n| n["tier"] == "grid_worker" && n["channel"] == "feed").then_some(n)
    })
    .await;
    let to_worker: Vec<_> = after.as_array().unwrap().iter().filter(|n| n["tier"] == "grid_worker" && n["channel"] == "sms").collect();
    assert_eq!((to_worker.len(), to_worker[0]["step"].as_i64()), (1, Some(1)), "{after}");

    // The property company acknowledges from its phone: no more steps, however late.
    let company = app.client("property_company").await;
    let (s, a) = company.post(&format!("/api/v1/alarms/{}/acknowledge", alarm.id), json!({})).await;
    assert_eq!((s, a["state"].as_str()), (200, Some("acknowledged")), "{a}");
    let acked = next_event(&mut feed, &mut buf, |e| e["alarm_id"] == alarm.id && e["kind"] == "acknowledged").await;
    assert_eq!(acked["estate_id"].as_i64(), Some(estate));
    app.db.execute("UPDATE alarms SET first_at = $1 WHERE id = $2", huanxin_store::args![back(60).as_str(), alarm.id]).await.unwrap();
    assert_eq!(escalate(&one).await.unwrap(), 0);
    assert_eq!(notes().await.as_array().unwrap().len(), after.as_array().unwrap().len(), "nothing after the acknowledgement");

    // The other county's desk heard nothing of it: the first event it gets is its own county's.
    let other_admin = app.client("other_county_admin").await;
    let (_, cam) = other_admin
        .post(&format!("/api/v1/estates/{}/devices", app.other_county_estate), json!({"kind": "smoke_detector", "serial": "SD-LC"}))
        .await;
    let theirs = app.db.device(&Scope::Region(RegionCode::country()), cam["id"].as_i64().unwrap()).await.unwrap();
    let their_alarm = app.db.raise_alarm(&theirs, "smoke", Severity::Major, &huanxin_store::now(), "").await.unwrap();
    let heard = next_event(&mut other_feed, &mut other_buf, |_| true).await;
    assert_eq!(heard["alarm_id"].as_i64(), Some(their_alarm.id), "not the other county's alarm: {heard}");

    // A photo of the scene, kept with the alarm; the wrong kind of file is refused by name.
    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10][..], b"JFIF\0", &[0u8; 64], &[0xFF, 0xD9]].concat();
    let form = reqwest::multipart::Form::new()
        .part("photos", reqwest::multipart::Part::bytes(jpeg.clone()).file_name("scene.jpg").mime_str("image/jpeg").unwrap());
    let r = company.req(reqwest::Method::POST, &format!("/api/v1/alarms/{}/photos", alarm.id)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let photos: serde_json::Value = r.json().await.unwrap();
    let sha = photos[0]["sha256"].as_str().unwrap().to_string();
    let got = staff.req(reqwest::Method::GET, &format!("/api/v1/alarms/{}/photos/{sha}", alarm.id)).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), jpeg);
    let form =
        reqwest::multipart::Form::new().part("photos", reqwest::multipart::Part::bytes(b"%PDF-1.4 x".to_vec()).file_name("scene.jpg"));
    let r = company.req(reqwest::Method::POST, &format!("/api/v1/alarms/{}/photos", alarm.id)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(other_admin.get(&format!("/api/v1/alarms/{}/photos", alarm.id)).await.0, 404);
    // Once closed, the evidence is what it was.
    for s in ["clear", "close"] {
        assert_eq!(company.post(&format!("/api/v1/alarms/{}/{s}", alarm.id), json!({"note": "已关阀通风"})).await.0, 200, "{s}");
    }
    let form = reqwest::multipart::Form::new().part("photos", reqwest::multipart::Part::bytes(jpeg.clone()).file_name("later.jpg"));
    let r = company.req(reqwest::Method::POST, &format!("/api/v1/alarms/{}/photos", alarm.id)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 409);

    // The response figures: this estate's alarm acknowledged (late, after the grid worker was told).
    let (s, figures) = staff.get("/api/v1/alarms/response?days=7").await;
    assert_eq!(s, 200);
    let row = figures.as_array().unwrap().iter().find(|r| r["by"] == "estate" && r["id"] == estate).cloned().unwrap();
    assert_eq!((row["figures"]["alarms"].as_i64(), row["figures"]["acknowledged"].as_i64()), (Some(1), Some(1)), "{row}");
    assert_eq!(row["figures"]["acknowledged_in_time"].as_i64(), Some(0), "acknowledged after 6 minutes: {row}");
    assert_eq!(staff.get("/api/v1/alarms/response?days=0").await.0, 422);
}

/// Rule overrides: the county lowers the gas threshold for all its estates, an estate shortens its
/// silence; the nearest wins field by field; the running ingest takes them without a restart: a
/// reading of 7 % LEL stored without an alarm before the change raises one after it. Bad overrides
/// are named by field; another county cannot set this county's.
async fn regions_and_estates_override_the_rules_and_the_ingest_follows(app: &TestApp) {
    use serde_json::json;
    use std::sync::atomic::Ordering::Relaxed;
    let estate = app.attached_estate;
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let serial = format!("GD-{}", &run[..8]);
    let (_, made) = staff.post(&format!("/api/v1/estates/{estate}/devices"), json!({"kind": "gas_detector", "serial": serial})).await;
    let key = made["device_key"].as_str().unwrap().to_string();
    let root = format!("t{}", &run[..12]);
    let (host, port) = broker();
    let cfg = huanxin_server::alarms::ingest::IngestConfig {
        host,
        port,
        client_id: format!("ingest-{run}"),
        root: root.clone(),
        rate: Default::default(),
        retention: Default::default(),
        username: String::new(),
        password: String::new(),
    };
    let stats = std::sync::Arc::new(huanxin_server::alarms::ingest::IngestStats::default());
    huanxin_server::alarms::ingest::spawn(app.db.clone(), cfg, stats.clone());
    let publisher = Publisher::connect(&root).await;
    let reading = || json!({"ts": chrono::Utc::now().timestamp_millis(), "values": {"lel": 7.0}}).to_string();
    until("a reading of 7 % LEL stored", || async {
        publisher.send(&serial, "telemetry", &key, &reading()).await;
        (stats.readings_stored.load(Relaxed) > 0).then_some(())
    })
    .await;
    let open_leak = || async {
        let (_, board) = staff.get("/api/v1/alarms?state=open&alarm_type=gas_leak").await;
        board.as_array().unwrap().iter().find(|a| a["serial"] == serial.as_str()).cloned()
    };
    assert!(open_leak().await.is_none(), "below the national 10 % LEL: no alarm");

    let lower = json!({"metrics": [{"metric": "lel", "alarm_type": "gas_leak", "levels": [{"at_least": 5.0, "for_secs": 0, "severity": "major"}], "clear_after_secs": 30}]});
    let (s, r) = admin
        .put(
            "/api/v1/alarm-rules/350521000000/gas_detector",
            json!({"metrics": [{"metric": "temp_c", "alarm_type": "x", "levels": [], "clear_after_secs": 0}]}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("metrics[0].metric")), "{r}");
    assert_eq!(admin.put("/api/v1/alarm-rules/350521000000/toaster", lower.clone()).await.0, 422);
    assert_eq!(app.client("other_county_admin").await.put("/api/v1/alarm-rules/350521000000/gas_detector", lower.clone()).await.0, 404);
    // The county's code as people write it (6 digits) is kept in its 12-digit form, so it applies.
    assert_eq!(admin.put("/api/v1/alarm-rules/350521/gas_detector", lower).await.0, 204);
    let (s, rules) = staff.put(&format!("/api/v1/estates/{estate}/alarm-rules/gas_detector"), json!({"offline_after_minutes": 3})).await;
    assert_eq!(s, 200, "{rules}");
    let gas = rules.as_array().unwrap().iter().find(|k| k["kind"] == "gas_detector").unwrap().clone();
    assert_eq!(gas["rules"]["metrics"][0]["levels"][0]["at_least"].as_f64(), Some(5.0), "the county's threshold: {gas}");
    assert_eq!(gas["rules"]["offline_after_minutes"].as_i64(), Some(3), "the estate's silence");
    let places: Vec<_> = gas["overrides"].as_array().unwrap().iter().map(|o| o["place"].as_str().unwrap().to_string()).collect();
    assert_eq!(places, ["350521000000".to_string(), format!("estate:{estate}")]);
    let smoke = rules.as_array().unwrap().iter().find(|k| k["kind"] == "smoke_detector").unwrap();
    assert_eq!(smoke["overrides"], json!([]), "other kinds keep the national rules");
    let (s, r) = staff.put(&format!("/api/v1/estates/{estate}/alarm-rules/gas_detector"), json!({"offline_after_minutes": 0})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("offline_after_minutes")), "{r}");

    // The running ingest reads the change: the same reading now raises a major alarm.
    let alarm = until("the lowered threshold raising an alarm", || async {
        publisher.send(&serial, "telemetry", &key, &reading()).await;
        open_leak().await
    })
    .await;
    assert_eq!(alarm["severity"].as_str(), Some("major"), "{alarm}");
}

/// The installer's list: every refused cell named by row and column (an estate of another county,
/// a kind nobody knows, a serial twice, a building the estate does not have) and nothing
/// registered; the corrected list registers every device, each key shown once.
async fn devices_come_from_a_spreadsheet_all_or_none(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, _, _) = common::estate_with_dwellings(app).await;
    let (code, number): (String, String) = app
        .db
        .fetch_one(
            "SELECT e.code, b.number FROM estates e JOIN buildings b ON b.estate_id = e.id WHERE e.id = $1 ORDER BY b.id LIMIT 1",
            huanxin_store::args![estate],
        )
        .await
        .unwrap();
    let (other_code,): (String,) =
        app.db.fetch_one("SELECT code FROM estates WHERE id = $1", huanxin_store::args![app.other_county_estate]).await.unwrap();
    let headers = ["小区编码", "设备类型", "设备序列号", "楼栋号", "安装位置", "厂商", "型号"];
    let row =
        |c: &str, k: &str, s: &str, b: &str| vec![c.to_string(), k.into(), s.into(), b.into(), "地下室".into(), "汉威".into(), "JT".into()];
    let xlsx = |rows: Vec<Vec<String>>| huanxin_server::tabular::write_xlsx("设备", &headers, &rows).unwrap();
    let bad = vec![
        row(&code, "可燃气体探测器", "IM-1", &number),
        row(&other_code, "烟感", "IM-2", ""),
        row(&code, "toaster", "IM-3", ""),
        row(&code, "烟感", "IM-1", ""),
        row(&code, "烟感", "IM-5", "no-such-building"),
    ];
    let (s, body) = staff.upload("/api/v1/devices/import", "devices.xlsx", xlsx(bad)).await;
    assert_eq!(s, 422, "{body}");
    let found: Vec<(i64, String)> = body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        found,
        [(3, "小区编码".to_string()), (4, "设备类型".to_string()), (5, "设备序列号".to_string()), (6, "楼栋号".to_string())],
        "another county's estate is no estate here: {body}"
    );
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM devices WHERE serial LIKE 'IM-%'", vec![]).await.unwrap(), 0, "nothing registered");

    let good = vec![row(&code, "可燃气体探测器", "IM-1", &number), row(&code, "smoke_detector", "IM-2", "")];
    let (s, done) = staff.upload("/api/v1/devices/import", "devices.xlsx", xlsx(good)).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["created"].as_i64(), Some(2), "{done}");
    assert_eq!(done["devices"][0]["device_key"].as_str().map(str::len), Some(48));
    let (_, listed) = staff.get(&format!("/api/v1/estates/{estate}/devices")).await;
    let first = listed.as_array().unwrap().iter().find(|d| d["serial"] == "IM-1").unwrap();
    assert!(first["building_id"].as_i64().is_some(), "the building found by its number: {first}");
    assert_eq!(app.client("designer").await.upload("/api/v1/devices/import", "devices.xlsx", xlsx(vec![])).await.0, 403);
}
