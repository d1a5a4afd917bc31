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

both_engines!(alarms_are_one_open_per_device_and_type, devices_are_registered_by_the_registry_desks);

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
