//! Issue 13's holes, each reproduced as a tester found it and shown closed: privacy and standing,
//! money and process, data never lost, sessions and headers. On SQLite and on PostgreSQL.

mod common;

use common::{estate_with_dwellings, owners_decided, TestApp};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

both_engines!(
    staff_reset_passwords_only_from_above_and_never_residents,
    one_time_codes_never_reach_the_log,
    a_notice_years_ahead_is_refused,
    pages_and_api_carry_security_headers,
    sign_in_backs_off_per_account_and_address,
    texts_are_bounded_and_links_come_from_the_setting,
    the_one_who_asks_never_approves,
    only_residents_object,
    answers_and_ballots_only_for_those_who_consult_residents,
    only_named_representatives_sign_for_the_residents,
    a_reimport_changes_only_the_columns_it_has,
    a_county_sheet_imports_as_it_comes,
    a_crafted_sheet_is_refused_and_the_server_lives,
    the_lawful_order_holds_across_modules,
    every_figure_a_report_reads_is_checked_against_the_chain,
    an_export_pages_by_key_in_the_list_order,
    published_heads_catch_a_cut_and_rewritten_tail,
);

/// The log as the server writes it, kept for the tests of this binary.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn user_id(admin: &common::Client, name: &str) -> i64 {
    let (_, users) = admin.get("/api/v1/users").await;
    users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap_or_else(|| panic!("{name} in {users}"))["id"].as_i64().unwrap()
}

/// A resident bound to a dwelling by its invitation code, as a tenant (their own name, no phone).
async fn bind_tenant(app: &TestApp, staff: &common::Client, estate: i64, building: i64, dwelling: i64) -> (common::Client, i64) {
    let (s, inv) = staff.post(&format!("/api/v1/estates/{estate}/invitations"), json!({"building_id": building})).await;
    assert_eq!(s, 200, "{inv}");
    let code = inv["invitations"].as_array().unwrap().iter().find(|i| i["dwelling_id"] == dwelling).unwrap()["code"].clone();
    let (s, b) = app.anonymous().post("/api/v1/residents/bind", json!({"code": code, "name": "租户小陈", "phone": ""})).await;
    assert_eq!(s, 200, "{b}");
    let client = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(b["token"].as_str().unwrap().into()) };
    let (_, me) = client.get("/api/v1/auth/me").await;
    (client, me["id"].as_i64().unwrap())
}

fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

// 5. A county admin reset another county admin's password, and a resident's (then voted as them).
async fn staff_reset_passwords_only_from_above_and_never_residents(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let (s, other) = admin
        .post(
            "/api/v1/users",
            json!({"username": "county_admin_2", "password": "another-pass-1", "role": "county_admin", "region_code": "350521000000"}),
        )
        .await;
    assert_eq!(s, 201, "{other}");
    let (s, r) = admin.post(&format!("/api/v1/users/{}/password", other["id"]), json!({"password": "taken-over-1"})).await;
    assert_eq!(s, 403, "a county admin may not reset a peer's password: {r}");
    let clerk = user_id(&admin, "county_staff").await;
    assert_eq!(admin.post(&format!("/api/v1/users/{clerk}/password"), json!({"password": "taken-over-1"})).await.0, 403);
    let street = user_id(&admin, "street_staff").await;
    assert_eq!(admin.post(&format!("/api/v1/users/{street}/password"), json!({"password": "reset-by-county"})).await.0, 204);

    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let (_, resident) = bind_tenant(app, &staff, estate, building, dwellings[0]).await;
    let (s, r) = admin.post(&format!("/api/v1/users/{resident}/password"), json!({"password": "now-i-vote-1"})).await;
    assert_eq!(s, 403, "residents re-bind by code or text message: {r}");

    // The city resets the county clerk: the clerk's session from before the reset ends, and it is audited.
    let before = app.client("county_staff").await;
    assert_eq!(before.get("/api/v1/auth/me").await.0, 200);
    let city = app.client("city_admin").await;
    assert_eq!(city.post(&format!("/api/v1/users/{clerk}/password"), json!({"password": "reset-by-city-1"})).await.0, 204);
    assert_eq!(before.get("/api/v1/auth/me").await.0, 401, "the old session ended");
    let audited = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'set_password' AND entity_id = $1", huanxin_store::args![clerk.to_string()])
        .await
        .unwrap();
    assert_eq!(audited, 1);
}

// 6. The one-time code was written to the log at INFO and the logged code bound a dwelling.
async fn one_time_codes_never_reach_the_log(app: &TestApp) {
    let log = log();
    let (_, _, dwellings) = estate_with_dwellings(app).await;
    app.db.execute("DELETE FROM dwelling_owners WHERE dwelling_id = $1", huanxin_store::args![dwellings[0]]).await.unwrap();
    app.db
        .execute(
            "INSERT INTO dwelling_owners (dwelling_id, name, phone, share_bp) VALUES ($1, '郑业主', '13655554444', 10000)",
            huanxin_store::args![dwellings[0]],
        )
        .await
        .unwrap();
    let (s, _) = app.anonymous().post("/api/v1/residents/otp", json!({"phone": "13655554444"})).await;
    assert_eq!(s, 202);
    let text = app.sms.lock().unwrap()[0]["text"].as_str().unwrap().to_string();
    let code: String = text.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    let written = String::from_utf8_lossy(&log.lock().unwrap()).to_string();
    assert!(written.contains("136****4444"), "the log says a message went to the masked number");
    assert!(!written.contains("验证码"), "no message text in the log");
    assert!(!written.lines().any(|l| l.contains("SMS") && l.contains(&code)), "the code never reaches the log");
    assert!(!written.contains("13655554444"), "nor the whole number");
}

// 11. A notice starting on 9999-12-31 counted as ended at once.
async fn a_notice_years_ahead_is_refused(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, _, _) = estate_with_dwellings(app).await;
    let notices = format!("/api/v1/estates/{estate}/notices");
    let (s, r) = staff.post(&notices, json!({"title": "公示", "round": 0, "starts_on": "9999-12-31", "working_days": 5})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("starts_on")), "{r}");
    let next_month = (today() + chrono::Duration::days(30)).to_string();
    let (s, r) = staff.post(&notices, json!({"title": "公示", "round": 0, "starts_on": next_month, "working_days": 5})).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("upcoming")), "{r}");
    let stored: Vec<(String,)> =
        app.db.fetch_all("SELECT ends_on FROM notices WHERE estate_id = $1", huanxin_store::args![estate]).await.unwrap();
    assert_eq!(stored.len(), 1, "only the sane notice was stored");
}

// 17. No Secure cookie, no CSP, X-Frame-Options, X-Content-Type-Options, Referrer-Policy or HSTS.
async fn pages_and_api_carry_security_headers(app: &TestApp) {
    let http = reqwest::Client::new();
    for path in ["/", "/api/v1/health", "/api/v1/estates"] {
        let res = http.get(format!("{}{path}", app.base)).send().await.unwrap();
        let h = res.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
        if path.starts_with("/api/") {
            assert_eq!(h["cache-control"], "no-store", "API answers are not cached: {path}");
        }
    }
    // A signed-in list (names, phones) is not kept by any cache either.
    let token = app.client("county_admin").await.token.unwrap();
    let res = http.get(format!("{}/api/v1/estates/{}", app.base, app.attached_estate)).bearer_auth(token).send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["cache-control"].to_str().unwrap()), (200, "no-store"));
    // Behind HTTPS: the cookie is Secure and HSTS is sent.
    let https = app.another_server(|c| c.behind_https = true).await;
    let res = http
        .post(format!("{}/api/v1/auth/login", https.base))
        .json(&json!({"username": "county_admin", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    assert!(res.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    https.stop();
}

// 18. Five wrong passwords from anywhere locked the county admin out for 15 minutes, also from elsewhere.
async fn sign_in_backs_off_per_account_and_address(app: &TestApp) {
    let http = reqwest::Client::new();
    let login = |from: &'static str, password: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/v1/auth/login", app.base);
        async move {
            let res = http
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"username": "county_admin", "password": password}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
        }
    };
    for _ in 0..3 {
        assert_eq!(login("203.0.113.9", "wrong-guess").await.0, 401);
    }
    let (s, retry) = login("203.0.113.9", common::PASSWORD).await;
    assert_eq!(s, 429, "the guessing address waits");
    assert!(retry.unwrap().parse::<u64>().unwrap() <= 30, "a back-off of seconds, not a 15-minute lock");
    assert_eq!(login("198.51.100.7", common::PASSWORD).await.0, 200, "the admin at their own desk is not locked out");
    // Kept in the database, per account and the address the trusted proxy (the harness's loopback) names.
    let kept = app.db.scalar("SELECT COUNT(*) FROM throttle WHERE key = 'login:county_admin|203.0.113.9'", vec![]).await.unwrap();
    assert_eq!(kept, 1, "the failures are kept in the database, per account and address");
}

// 19. display_name took 10 MB, codes and names took NUL, invitation links followed the Host header.
async fn texts_are_bounded_and_links_come_from_the_setting(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let (s, r) = admin
        .post(
            "/api/v1/users",
            json!({"username": "long_name", "password": "long-enough-1", "role": "street_staff",
                "region_code": "350521100000", "display_name": "长".repeat(100_000)}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("display_name")), "{r}");
    let (s, r) = admin
        .post(
            "/api/v1/users",
            json!({"username": "nul_name", "password": "long-enough-1", "role": "street_staff",
                "region_code": "350521100000", "display_name": "张\u{0}三"}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("display_name")), "{r}");
    let (s, r) = app.anonymous().post("/api/v1/residents/bind", json!({"code": "ABCDE\u{0}FGHJ", "name": "x", "phone": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("code")), "{r}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM users WHERE username IN ('long_name', 'nul_name')", vec![]).await.unwrap(), 0);

    let staff = app.client("county_staff").await;
    let (estate, building, _) = estate_with_dwellings(app).await;
    let res = staff
        .http
        .post(format!("{}/api/v1/estates/{estate}/invitations", app.base))
        .bearer_auth(staff.token.as_ref().unwrap())
        .header("host", "evil.example")
        .json(&json!({"building_id": building}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let inv: serde_json::Value = res.json().await.unwrap();
    let link = inv["invitations"][0]["link"].as_str().unwrap();
    assert!(link.starts_with("https://hx.example.gov.cn/m/#/bind?code="), "{link}");
}

/// A project at an estate with its contract, money given to the county, and a passed inspection to pay for.
async fn payable_project(app: &TestApp, admin: &common::Client) -> (i64, i64, i64) {
    let estate = app.attached_estate;
    let (s, p) = admin.post("/api/v1/projects", json!({"code": "T-1", "name": "北关改造", "estate_ids": [estate]})).await;
    assert_eq!(s, 201, "{p}");
    let project = p["project"]["id"].as_i64().unwrap();
    let (s, r) = admin.put(&format!("/api/v1/projects/{project}/contract"), json!({"amount": "500000"})).await;
    assert_eq!(s, 200, "{r}");
    let (s, a) = admin
        .post(
            "/api/v1/allocations",
            json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": "中央补助", "amount": "1000000"}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    app.db
        .execute(
            "INSERT INTO inspections (estate_id, checkpoint, held_on, inspector, passed, findings, created_at) VALUES ($1, 'site_control', '2026-05-01', 'supervisor', $2, '', '2026-05-01')",
            huanxin_store::args![estate, true],
        )
        .await
        .unwrap();
    let inspection = app.db.scalar("SELECT MAX(id) FROM inspections", vec![]).await.unwrap();
    (project, a["id"].as_i64().unwrap(), inspection)
}

/// Asks for a payment from the allocation to the project for the passed inspection.
async fn ask_payment(c: &common::Client, (project, allocation, inspection): (i64, i64, i64), amount: &str) -> (u16, serde_json::Value) {
    c.post(
        "/api/v1/disbursements",
        json!({"allocation_id": allocation, "project_id": project, "category": "basic", "payee": "惠安建工",
            "amount": amount, "basis": format!("inspection:{inspection}")}),
    )
    .await
}

// 9. The person who requested a disbursement approved it.
async fn the_one_who_asks_never_approves(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (project, allocation, inspection) = payable_project(app, &admin).await;
    let (s, d) = ask_payment(&staff, (project, allocation, inspection), "1000").await;
    assert_eq!(s, 201, "{d}");
    let approve = format!("/api/v1/disbursements/{}/approve", d["id"]);
    let (s, r) = staff.post(&approve, json!({})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("four eyes"), "{r}");
    let (s, paid) = admin.post(&approve, json!({})).await;
    assert_eq!((s, paid["status"].as_str()), (200, Some("approved")), "{paid}");
    // The approver entered the payment; reversing it is another colleague's.
    let seq = paid["ledger_seq"].as_i64().unwrap();
    let (s, r) = admin.post(&format!("/api/v1/ledger/{seq}/reverse"), json!({"memo": "重复付款"})).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(staff.post(&format!("/api/v1/ledger/{seq}/reverse"), json!({"memo": "重复付款"})).await.0, 201);

    // A second account whose password the requester set is not a second pair of eyes (the attacker's
    // trial), not even after "its user" sets their own: the one who set it could have done that too.
    let (s, sock) = admin
        .post(
            "/api/v1/users",
            json!({"username": "second_hand", "password": "known-to-admin-1", "role": "county_staff", "region_code": "350521000000"}),
        )
        .await;
    assert_eq!(s, 201, "{sock}");
    let login = |password: &'static str| {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1/auth/login", app.base);
        async move {
            let r: serde_json::Value =
                http.post(url).json(&json!({"username": "second_hand", "password": password})).send().await.unwrap().json().await.unwrap();
            common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: r["token"].as_str().map(str::to_string) }
        }
    };
    let second = login("known-to-admin-1").await;
    let (_, me) = second.get("/api/v1/auth/me").await;
    assert_eq!(me["must_set_password"], true, "{me}");
    let (_, d2) = ask_payment(&admin, (project, allocation, inspection), "500").await;
    let approve = format!("/api/v1/disbursements/{}/approve", d2["id"]);
    let (s, r) = second.post(&approve, json!({})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("was once set by the other"), "{r}");
    let (s, r) = second.post("/api/v1/auth/password", json!({"current": "wrong-one-1", "password": "my-own-secret-2"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("current")), "{r}");
    assert_eq!(second.post("/api/v1/auth/password", json!({"current": "known-to-admin-1", "password": "my-own-secret-2"})).await.0, 204);
    assert_eq!(second.get("/api/v1/auth/me").await.0, 401, "signed out everywhere");
    let second = login("my-own-secret-2").await;
    assert_eq!(second.get("/api/v1/auth/me").await.1["must_set_password"], false);
    let (s, r) = second.post(&approve, json!({})).await;
    assert_eq!(s, 409, "the admin once knew this account's password: still not a second pair of eyes: {r}");
    // An account the requester never set a password for is: the city admin made this one.
    let (s, _) = app
        .client("city_admin")
        .await
        .post(
            "/api/v1/users",
            json!({"username": "third_hand", "password": "set-by-the-city-1", "role": "county_staff", "region_code": "350521000000"}),
        )
        .await;
    assert_eq!(s, 201);
    let third = app.anonymous();
    let (_, t) = third.post("/api/v1/auth/login", json!({"username": "third_hand", "password": "set-by-the-city-1"})).await;
    let third = common::Client { token: t["token"].as_str().map(str::to_string), ..third };
    // Not while it signs in with the password the city admin set (the city admin knows it).
    let (s, r) = third.post(&approve, json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("funds.password_not_own")), "{r}");
    assert_eq!(third.post("/api/v1/auth/password", json!({"current": "set-by-the-city-1", "password": "third-own-secret-3"})).await.0, 204);
    let (_, t) = app.anonymous().post("/api/v1/auth/login", json!({"username": "third_hand", "password": "third-own-secret-3"})).await;
    let third = common::Client { token: t["token"].as_str().map(str::to_string), ..app.anonymous() };
    assert_eq!(third.post(&approve, json!({})).await.0, 200, "independent of the county admin who asked, with its own password");

    // The attacker's trial: an administrator makes two accounts, asks with one and approves with the
    // other. Neither has set its own password: refused.
    for name in ["made_c", "made_d"] {
        let body = json!({"username": name, "password": "admin-made-pass-1", "role": "county_staff", "region_code": "350521000000"});
        assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    }
    let made = |name: &'static str| {
        let anon = app.anonymous();
        async move {
            let (_, t) = anon.post("/api/v1/auth/login", json!({"username": name, "password": "admin-made-pass-1"})).await;
            common::Client { token: t["token"].as_str().map(str::to_string), ..anon }
        }
    };
    let (c, d) = (made("made_c").await, made("made_d").await);
    let (s, d3) = ask_payment(&c, (project, allocation, inspection), "300").await;
    assert_eq!(s, 201, "{d3}");
    let (_, work) = d.get("/api/v1/work").await;
    assert!(
        work["items"].as_array().unwrap().iter().all(|i| !(i["kind"] == "payment_to_approve" && i["id"] == d3["id"])),
        "a payment one may not approve is not listed as one's work: {work}"
    );
    let (s, r) = d.post(&format!("/api/v1/disbursements/{}/approve", d3["id"]), json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("funds.password_not_own")), "{r}");

    // The second trial: a chain. The admin makes an administrator, takes it over (sets its own
    // password there), makes a clerk with it, takes that over too, and approves its own payment
    // with the clerk. Whoever could know a password up the chain is not a second pair of eyes.
    let own = |name: &'static str, from: &'static str, to: &'static str| {
        let anon = app.anonymous();
        async move {
            let (_, t) = anon.post("/api/v1/auth/login", json!({"username": name, "password": from})).await;
            let c = common::Client { token: t["token"].as_str().map(str::to_string), ..anon };
            assert_eq!(c.post("/api/v1/auth/password", json!({"current": from, "password": to})).await.0, 204);
            let (_, t) = app.anonymous().post("/api/v1/auth/login", json!({"username": name, "password": to})).await;
            common::Client { token: t["token"].as_str().map(str::to_string), ..app.anonymous() }
        }
    };
    let body = json!({"username": "chain_admin", "password": "admin-made-pass-1", "role": "county_admin", "region_code": "350521000000"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let chain_admin = own("chain_admin", "admin-made-pass-1", "chain-admin-own-2").await;
    let body = json!({"username": "chain_clerk", "password": "chain-made-pass-1", "role": "county_staff", "region_code": "350521000000"});
    assert_eq!(chain_admin.post("/api/v1/users", body).await.0, 201);
    let chain_clerk = own("chain_clerk", "chain-made-pass-1", "chain-clerk-own-2").await;
    let (s, d4) = ask_payment(&admin, (project, allocation, inspection), "200").await;
    assert_eq!(s, 201, "{d4}");
    let (s, r) = chain_clerk.post(&format!("/api/v1/disbursements/{}/approve", d4["id"]), json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("funds.password_kept_by")), "{r}");
    assert_eq!(third.post(&format!("/api/v1/disbursements/{}/approve", d4["id"]), json!({})).await.0, 200, "an independent one may");
}

// 2. Companies and grid workers posted objections under their own names; residents saw "居民".
async fn only_residents_object(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let (s, n) = staff
        .post(
            &format!("/api/v1/estates/{estate}/notices"),
            json!({"title": "公示", "round": 0, "starts_on": today().to_string(), "working_days": 5}),
        )
        .await;
    assert_eq!(s, 200, "{n}");
    // Today may be a holiday: let the notice be on the board.
    app.db
        .execute("UPDATE notices SET starts_on = $1 WHERE id = $2", huanxin_store::args![today().to_string(), n["id"].as_i64().unwrap()])
        .await
        .unwrap();
    let comments = format!("/api/v1/notices/{}/comments", n["id"]);
    for who in ["contractor", "designer", "supervisor", "property_company", "grid_worker"] {
        let (s, r) = app.client(who).await.post(&comments, json!({"kind": "objection", "text": "反对"})).await;
        assert_eq!(s, 403, "{who}: {r}");
    }
    let (s, r) = staff.post(&comments, json!({"kind": "objection", "text": "纸质异议"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("author")), "staff name the resident: {r}");
    assert_eq!(staff.post(&comments, json!({"kind": "objection", "text": "纸质异议", "author": "林阿婆"})).await.0, 200);
    let (resident, _) = bind_tenant(app, &staff, estate, building, dwellings[0]).await;
    assert_eq!(resident.post(&comments, json!({"kind": "opinion", "text": "同意"})).await.0, 200);
    let count = app.db.scalar("SELECT COUNT(*) FROM notice_comments", vec![]).await.unwrap();
    assert_eq!(count, 2);
}

fn sheet_names(bytes: &[u8]) -> Vec<String> {
    use calamine::Reader;
    let wb = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    wb.sheet_names()
}

// 1 and 7. The archive zip gave companies, grid workers and the city every dwelling's vote and named
// answers; survey results showed a neighbour's phone number in free text to everyone.
async fn answers_and_ballots_only_for_those_who_consult_residents(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    // Everyone below reaches the estate: it lies in the grid worker's community, the companies work there.
    app.db.execute("UPDATE estates SET community_code = '350521100001' WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
    for who in ["contractor", "designer", "supervisor", "property_company"] {
        let uid = app.db.scalar("SELECT id FROM users WHERE username = $1", huanxin_store::args![who]).await.unwrap();
        app.db.attach_user_to_estate(&huanxin_store::audit::Actor::system("test"), uid, estate).await.unwrap();
    }
    let now = chrono::Utc::now();
    let (s, page) = staff
        .post(
            &format!("/api/v1/estates/{estate}/decisions"),
            json!({"title": "1单元加装电梯", "matter": "renovate", "scope": "stairwell", "building_id": building, "stairwell": 1,
                "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(3)).to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let decision = page["decision"]["id"].as_i64().unwrap();
    let (s, r) = staff
        .post(&format!("/api/v1/decisions/{decision}/ballots"), json!({"dwelling_id": dwellings[0], "choice": "agree", "voter": "业主甲"}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, survey) = staff
        .post(
            &format!("/api/v1/estates/{estate}/surveys"),
            json!({"title": "问需", "purpose": "needs", "opens_on": today().to_string(),
                "closes_on": (today() + chrono::Duration::days(14)).to_string(),
                "questions": [{"id": "say", "kind": "text", "text": "还有什么想说"}]}),
        )
        .await;
    assert_eq!(s, 201, "{survey}");
    let survey = survey["id"].as_i64().unwrap();
    let (s, r) = staff
        .post(
            &format!("/api/v1/surveys/{survey}/answers"),
            json!({"dwelling_id": dwellings[0], "respondent": "王秀英", "answers": {"say": "楼道灯坏了，找王秀英 13912345678"}}),
        )
        .await;
    assert_eq!(s, 201, "{r}");

    let (s, zip) = staff.get_bytes(&format!("/api/v1/estates/{estate}/archive/export.zip")).await;
    assert_eq!(s, 200);
    let names = zip_sheets(&zip);
    assert!(names.iter().any(|(f, sheets)| f.contains("表决") && sheets.contains(&"选票".to_string())), "{names:?}");
    assert!(names.iter().any(|(f, sheets)| f.contains("问需") && sheets.contains(&"答卷".to_string())), "{names:?}");
    let (_, results) = staff.get(&format!("/api/v1/surveys/{survey}/results")).await;
    assert_eq!(results["results"]["questions"][0]["texts"][0], "楼道灯坏了，找王秀英 13912345678");

    for who in ["contractor", "designer", "supervisor", "property_company", "grid_worker", "city_admin"] {
        let c = app.client(who).await;
        assert_eq!(c.get(&format!("/api/v1/decisions/{decision}/ballots")).await.0, 403, "{who}");
        assert_eq!(c.get_bytes(&format!("/api/v1/surveys/{survey}/export.xlsx")).await.0, 403, "{who}");
        let (s, zip) = c.get_bytes(&format!("/api/v1/estates/{estate}/archive/export.zip")).await;
        assert_eq!(s, 200, "{who} reads the archive");
        for (file, sheets) in zip_sheets(&zip) {
            assert!(!sheets.contains(&"选票".to_string()) && !sheets.contains(&"答卷".to_string()), "{who}: {file} {sheets:?}");
        }
        let (s, results) = c.get(&format!("/api/v1/surveys/{survey}/results")).await;
        assert_eq!(s, 200, "{who}");
        assert_eq!(results["results"]["questions"][0]["texts"][0], "楼道灯坏了，找王** 139********", "{who}");
    }
}

fn zip_sheets(bytes: &[u8]) -> Vec<(String, Vec<String>)> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        if name.ends_with(".xlsx") {
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            out.push((name.clone(), sheet_names(&b)));
        }
    }
    out
}

// 3. Any bound resident, a tenant included, signed the acceptance as the residents' representatives.
async fn only_named_representatives_sign_for_the_residents(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let path = format!("/api/v1/estates/{estate}/acceptance");
    app.db.execute("UPDATE estates SET status = 'completed' WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
    assert_eq!(admin.post(&path, json!({})).await.0, 201);
    let (tenant, _) = bind_tenant(app, &staff, estate, building, dwellings[0]).await;
    let (neighbour, neighbour_id) = bind_tenant(app, &staff, estate, building, dwellings[1]).await;
    let (s, r) = tenant.post(&format!("{path}/signatures"), json!({"signatory": "residents"})).await;
    assert_eq!(s, 422, "{r}");
    let (_, a) = admin.get(&path).await;
    assert!(a["missing"].as_array().unwrap().contains(&json!("residents")), "{a}");
    // Only residents' accounts of the estate may be named; the contractor may not name anyone.
    let (s, r) = admin.put(&format!("{path}/representatives"), json!({"representatives": [{"user_id": 1, "chosen_by": "owners"}]})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("representatives[0].user_id")), "{r}");
    let named = json!({"representatives": [{"user_id": neighbour_id, "chosen_by": "community"}]});
    assert_eq!(app.client("contractor").await.put(&format!("{path}/representatives"), named.clone()).await.0, 403);
    assert_eq!(admin.put(&format!("{path}/representatives"), named).await.0, 200);
    assert_eq!(tenant.post(&format!("{path}/signatures"), json!({"signatory": "residents"})).await.0, 422, "still not named");
    let (s, a) = neighbour.post(&format!("{path}/signatures"), json!({"signatory": "residents", "note": "代表居民同意"})).await;
    assert_eq!(s, 200, "{a}");
    assert!(!a["missing"].as_array().unwrap().contains(&json!("residents")), "{a}");
    // Naming someone else takes the first representative's signature off.
    let (tenant_me, _) = (tenant.get("/api/v1/auth/me").await.1, ());
    let (s, a) = admin
        .put(&format!("{path}/representatives"), json!({"representatives": [{"user_id": tenant_me["id"], "chosen_by": "owners"}]}))
        .await;
    assert_eq!(s, 200, "{a}");
    assert!(a["missing"].as_array().unwrap().contains(&json!("residents")), "{a}");
}

// 13. Re-importing a file with fewer columns blanked the columns it left out and reported "1 updated".
async fn a_reimport_changes_only_the_columns_it_has(app: &TestApp) {
    let c = app.client("county_admin").await;
    let full = "小区编码,小区名称,社区代码,建成年份,地址,户数,经度,纬度,联系电话\n\
                RI-1,重导小区,350521100001,1990,惠安县螺城镇建设路1号,120,118.79,25.03,13905951234\n";
    let (s, r) = c.upload("/api/v1/imports/estates", "full.csv", full.as_bytes().to_vec()).await;
    assert_eq!((s, r["created"].as_i64()), (200, Some(1)), "{r}");
    let d = "小区编码,楼号,层数\nRI-1,1号楼,6\n";
    assert_eq!(c.upload("/api/v1/imports/buildings", "b.csv", d.as_bytes().to_vec()).await.0, 200);
    let d = "小区编码,楼号,单元,楼层,室号,专有面积(㎡),业主,业主电话\nRI-1,1号楼,1,1,101,65.5,张伟,13800138000\n";
    assert_eq!(c.upload("/api/v1/imports/dwellings", "d.csv", d.as_bytes().to_vec()).await.0, 200);

    // The same estate with fewer columns and a new name: the dry run says what would change, then the import.
    let fewer = "小区编码,小区名称,社区代码,建成年份\nRI-1,重导小区（更名）,350521100001,1990\n";
    for dry in [true, false] {
        let path = format!("/api/v1/imports/estates?dry_run={dry}");
        let (s, r) = c.upload(&path, "fewer.csv", fewer.as_bytes().to_vec()).await;
        assert_eq!((s, r["updated"].as_i64()), (200, Some(1)), "{r}");
        assert_eq!(r["changes"], json!([{"row": 2, "key": "RI-1", "field": "name", "from": "重导小区", "to": "重导小区（更名）"}]), "{r}");
    }
    let (_, found) = c.get("/api/v1/estates?q=RI-1").await;
    let e = &found["items"][0];
    assert_eq!(e["name"], "重导小区（更名）");
    assert_eq!((e["address"].as_str(), e["households"].as_i64()), (Some("惠安县螺城镇建设路1号"), Some(120)), "{e}");
    assert!(e["lon"].as_f64().is_some() && e["lat"].as_f64().is_some(), "{e}");
    let phone = app.db.scalar("SELECT COUNT(*) FROM estates WHERE code = 'RI-1' AND phone = '13905951234'", vec![]).await.unwrap();
    assert_eq!(phone, 1, "the phone stays");
    // An empty cell in a present column clears it, and says so.
    let cleared = "小区编码,小区名称,社区代码,建成年份,地址\nRI-1,重导小区（更名）,350521100001,1990,\n";
    let (s, r) = c.upload("/api/v1/imports/estates", "cleared.csv", cleared.as_bytes().to_vec()).await;
    assert_eq!((s, r["changes"][0]["field"].as_str(), r["changes"][0]["to"].as_str()), (200, Some("address"), Some("")), "{r}");

    // A dwelling re-imported without the owners' columns keeps its registered owner.
    let d = "小区编码,楼号,单元,楼层,室号,专有面积(㎡)\nRI-1,1号楼,1,1,101,66\n";
    assert_eq!(c.upload("/api/v1/imports/dwellings", "d2.csv", d.as_bytes().to_vec()).await.0, 200);
    let owners: Vec<(String, String, i64)> = app
        .db
        .fetch_all(
            "SELECT o.name, o.phone, d.exclusive_area FROM dwelling_owners o JOIN dwellings d ON d.id = o.dwelling_id \
             JOIN estates e ON e.id = d.estate_id WHERE e.code = 'RI-1'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(owners, vec![("张伟".to_string(), "13800138000".to_string(), 6600)]);
    // With the owners but not their phones (a co-owner added), the stored phone stays with its owner.
    let d = "小区编码,楼号,单元,楼层,室号,专有面积(㎡),业主,份额(%)\nRI-1,1号楼,1,1,101,66,张伟、李娜,50、50\n";
    let (s, r) = c.upload("/api/v1/imports/dwellings", "d3.csv", d.as_bytes().to_vec()).await;
    assert_eq!(s, 200, "{r}");
    let owners: Vec<(String, String)> = app
        .db
        .fetch_all(
            "SELECT o.name, o.phone FROM dwelling_owners o JOIN dwellings d ON d.id = o.dwelling_id \
             JOIN estates e ON e.id = d.estate_id WHERE e.code = 'RI-1' ORDER BY o.id",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(owners, vec![("张伟".to_string(), "13800138000".to_string()), ("李娜".to_string(), String::new())], "phones kept by name");
    // A building re-imported without its stairwells keeps them.
    app.db
        .execute(
            "UPDATE buildings SET stairwells = 3 WHERE number = '1号楼' AND estate_id = (SELECT id FROM estates WHERE code = 'RI-1')",
            vec![],
        )
        .await
        .unwrap();
    let b = "小区编码,楼号,层数\nRI-1,1号楼,7\n";
    assert_eq!(c.upload("/api/v1/imports/buildings", "b2.csv", b.as_bytes().to_vec()).await.0, 200);
    let kept = app.db.scalar("SELECT stairwells * 100 + floors FROM buildings WHERE number = '1号楼' AND estate_id = (SELECT id FROM estates WHERE code = 'RI-1')", vec![]).await.unwrap();
    assert_eq!(kept, 307);
}

// Imports that take what counties have: a legacy .xls with an instructions sheet, a merged title,
// 序号, headers with units, 1996年 and 1,208, and a 合计 row; one message per unreadable cell;
// GeoJSON with a byte-order mark and a MultiPolygon, and coordinates as text refused.
async fn a_county_sheet_imports_as_it_comes(app: &TestApp) {
    let c = app.client("county_admin").await;
    let xls = include_bytes!("fixtures/county-legacy.xls").to_vec();
    let (s, r) = c.upload("/api/v1/imports/estates", "摸底表.xls", xls).await;
    assert_eq!((s, r["created"].as_i64(), r["sheet"].as_str()), (200, Some(2), Some("小区清单")), "{r}");
    let skipped: Vec<(i64, &str)> =
        r["skipped_rows"].as_array().unwrap().iter().map(|x| (x["row"].as_i64().unwrap(), x["reason"].as_str().unwrap())).collect();
    assert_eq!(skipped, [(1, "title row"), (5, "total row")], "{r}");
    let (_, found) = c.get("/api/v1/estates?q=XLS-2").await;
    let e = &found["items"][0];
    assert_eq!((e["name"].as_str(), e["build_year"].as_i64(), e["households"].as_i64()), (Some("粮站小区"), Some(1996), Some(1208)), "{e}");

    // An unreadable year: one message for the cell, not a second "is required".
    let csv = "小区编码,小区名称,社区代码,建成年份\nYR-1,年份小区,350521100001,一九九五\n";
    let (s, r) = c.upload("/api/v1/imports/estates", "y.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(s, 422, "{r}");
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!((rows[0]["column"].as_str(), rows[0]["reason"].as_str()), (Some("建成年份"), Some("is not a year")));

    // GeoJSON as a GIS tool saves it: a byte-order mark, an estate in two parts.
    let ring = |x: f64| json!([[x, 25.03], [x + 0.001, 25.03], [x + 0.001, 25.031], [x, 25.03]]);
    let feature = |code: &str, geometry: serde_json::Value| json!({"type": "Feature", "properties": {"小区编码": code, "小区名称": "两片小区", "社区代码": "350521100001", "建成年份（年）": "1993年", "地址": "螺城镇两片路"}, "geometry": geometry});
    let multi = json!({"type": "MultiPolygon", "coordinates": [[ring(118.79)], [ring(118.80)]]});
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(serde_json::to_vec(&json!({"type": "FeatureCollection", "features": [feature("MP-1", multi)]})).unwrap());
    let (s, r) = c.upload("/api/v1/imports/estates", "parts.geojson", bytes).await;
    assert_eq!((s, r["created"].as_i64()), (200, Some(1)), "{r}");
    let (_, found) = c.get("/api/v1/estates?q=MP-1").await;
    let e = &found["items"][0];
    assert!((e["lon"].as_f64().unwrap() - 118.7905).abs() < 0.001, "the first part's centre: {e}");
    let outline =
        app.db.scalar("SELECT COUNT(*) FROM estates WHERE code = 'MP-1' AND outline LIKE '%MultiPolygon%'", vec![]).await.unwrap();
    assert_eq!(outline, 1);
    // Re-imported without the address property: the address stays.
    let mut without = feature("MP-1", json!({"type": "Point", "coordinates": [118.79, 25.03]}));
    without["properties"].as_object_mut().unwrap().remove("地址");
    let body = serde_json::to_vec(&json!({"type": "FeatureCollection", "features": [without]})).unwrap();
    assert_eq!(c.upload("/api/v1/imports/estates", "again.geojson", body).await.0, 200);
    let (_, found) = c.get("/api/v1/estates?q=MP-1").await;
    assert_eq!(found["items"][0]["address"], "螺城镇两片路", "{found}");
    // Coordinates as text: refused, not imported without a location.
    let text = feature("MP-2", json!({"type": "Point", "coordinates": ["118.79", "25.03"]}));
    let body = serde_json::to_vec(&json!({"type": "FeatureCollection", "features": [text]})).unwrap();
    let (s, r) = c.upload("/api/v1/imports/estates", "text.geojson", body).await;
    assert_eq!((s, r["rows"][0]["reason"].as_str()), (422, Some("coordinates must be numbers (degrees), not text")), "{r}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM estates WHERE code = 'MP-2'", vec![]).await.unwrap(), 0);
}

// 16. A 4.9 KB xlsx with values in A1 and XFD1048576 aborted the process.
async fn a_crafted_sheet_is_refused_and_the_server_lives(app: &TestApp) {
    let c = app.client("county_admin").await;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "小区编码").unwrap();
    ws.write_string(1_048_575, 16_383, "x").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    assert!(bytes.len() < 10_000);
    let (s, r) = c.upload("/api/v1/imports/estates", "corner.xlsx", bytes).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("file")), "{r}");
    assert!(r["errors"][0]["reason"].as_str().unwrap().contains("too large"), "{r}");
    assert_eq!(c.get("/api/v1/health").await.0, 200, "the server lives");
    // A cell reference that overflows the reader's arithmetic (found by the attacker's trial): refused, not a 500.
    let (s, r) = c.upload("/api/v1/imports/estates", "overflow.xlsx", with_cell_reference("ZZZZZZ99999999999")).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("file")), "{r}");
    assert!(r["errors"][0]["reason"].as_str().unwrap().contains("not a readable"), "{r}");
    assert_eq!(c.get("/api/v1/health").await.0, 200, "the server lives");
}

/// An xlsx whose one cell has the reference given, written into the sheet's XML by hand.
fn with_cell_reference(reference: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut wb = rust_xlsxwriter::Workbook::new();
    wb.add_worksheet().write_string(0, 0, "x").unwrap();
    let plain = wb.save_to_buffer().unwrap();
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(plain)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).unwrap();
        let name = f.name().unwrap().to_string();
        let mut body = Vec::new();
        f.read_to_end(&mut body).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            body = String::from_utf8(body).unwrap().replace("r=\"A1\"", &format!("r=\"{reference}\"")).into_bytes();
        }
        out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(&body).unwrap();
    }
    out.finish().unwrap().into_inner()
}

// 12. A project finished every approval step, the permit included, before the notices and the vote,
// and the contractor reported progress while the scheme was still a draft.
async fn the_lawful_order_holds_across_modules(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let contractor = app.client("contractor").await;
    let estate = app.attached_estate;
    let (s, p) = admin.post("/api/v1/projects", json!({"code": "LO-1", "name": "次序测试", "estate_ids": [estate]})).await;
    assert_eq!(s, 201, "{p}");
    let path = format!("/api/v1/projects/{}/approval", p["project"]["id"]);
    assert_eq!(admin.post(&path, json!({"start": today().to_string()})).await.0, 201);
    let node = contractor
        .post(
            &format!("/api/v1/estates/{estate}/construction/nodes"),
            json!({"name": "外墙保温", "planned_start": today().to_string(), "planned_end": today().to_string()}),
        )
        .await
        .1;
    let progress = format!("/api/v1/schedule-nodes/{}", node["id"]);
    let (s, r) = contractor.put(&progress, json!({"progress_pct": 10})).await;
    assert_eq!(s, 409, "no progress before the permit: {r}");
    let doc = |n: &str| json!({"document_no": format!("惠建审〔2026〕{n}号")});
    // The proposal and the feasibility study may go ahead of the vote; the design may not.
    assert_eq!(admin.post(&format!("{path}/proposal"), doc("1")).await.0, 200);
    assert_eq!(admin.post(&format!("{path}/feasibility"), doc("2")).await.0, 200);
    let (s, r) = admin.post(&format!("{path}/preliminary_design"), doc("3")).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("owners' passed decision"), "{r}");
    // A stairwell's quick vote is not the estate's decision on its scheme.
    let now = chrono::Utc::now();
    let (s, r) = admin
        .post(
            &format!("/api/v1/estates/{estate}/decisions"),
            json!({"title": "方案", "matter": "renovate", "scope": "estate", "on_scheme": true,
                "opens_at": now.to_rfc3339(), "closes_at": (now + chrono::Duration::minutes(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("closes_at")), "a scheme vote stays open for days: {r}");
    let building = app.db.scalar("SELECT MIN(id) FROM buildings WHERE estate_id = $1", huanxin_store::args![estate]).await.unwrap();
    let (s, r) = admin
        .post(
            &format!("/api/v1/estates/{estate}/decisions"),
            json!({"title": "方案", "matter": "renovate", "scope": "stairwell", "building_id": building, "stairwell": 1, "on_scheme": true,
                "opens_at": now.to_rfc3339(), "closes_at": (now + chrono::Duration::days(5)).to_rfc3339()}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("scope")), "{r}");
    // The estate reaches "decided" (its notices ended and the whole estate's vote passed), then every step to the permit.
    owners_decided(app, estate).await;
    for code in ["preliminary_design", "fire_review", "planning_review", "drawing_review"] {
        assert_eq!(admin.post(&format!("{path}/{code}"), doc(code)).await.0, 200, "{code}");
    }
    assert_eq!(contractor.put(&progress, json!({"progress_pct": 10})).await.0, 409, "still no permit");
    let (s, steps) = admin.post(&format!("{path}/construction_permit"), doc("permit")).await;
    assert_eq!(s, 200, "{steps}");
    assert!(steps.as_array().unwrap().iter().all(|s| s["document_no"].as_str().is_some_and(|d| !d.is_empty())), "{steps}");
    let (s, r) = contractor.put(&progress, json!({"progress_pct": 10})).await;
    assert_eq!(s, 200, "{r}");
    let (_, page) = admin.get(&format!("/api/v1/estates/{estate}/construction")).await;
    assert_eq!(page["permit"], "permit");
}

// 15. `huanxin restore` on SQLite deleted the write-ahead log and ran under a live server, losing
// acknowledged writes. Now: refused while the database is held, the backup's chains checked before
// anything moves, the current database kept with its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_waits_for_the_server_and_checks_the_backup() {
    let app = TestApp::spawn(common::Engine::Sqlite).await;
    let admin = app.client("county_admin").await;
    let (s, a) = admin
        .post(
            "/api/v1/allocations",
            json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": "中央补助", "amount": "1000"}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let dir = std::env::temp_dir().join(format!("huanxin-restore-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let backup = dir.join("backup.db");
    app.db.backup(&app.database_url, &backup).await.unwrap();

    // The database being restored into, as a server left it: with rows in its write-ahead log.
    let target = dir.join("huanxin.db").to_string_lossy().to_string();
    let current = huanxin_store::Db::connect(&target).await.unwrap();
    current.execute("CREATE TABLE before_restore (v INTEGER)", vec![]).await.unwrap();
    current.execute("INSERT INTO before_restore VALUES (42)", vec![]).await.unwrap();
    {
        let held = huanxin_store::backup::lock_database(&target).unwrap();
        let e = huanxin_store::backup::restore(&target, &backup).await.unwrap_err().to_string();
        assert!(e.contains("another huanxin process"), "{e}");
        assert!(huanxin_store::backup::lock_database(&target).is_err(), "a second server is refused too");
        drop(held);
    }
    // A tampered backup is refused and nothing moves.
    let tampered = dir.join("tampered.db");
    std::fs::copy(&backup, &tampered).unwrap();
    let t = huanxin_store::Db::connect(&tampered.to_string_lossy()).await.unwrap();
    t.execute("UPDATE ledger_entries SET amount = amount + 1 WHERE seq = 1", vec![]).await.unwrap();
    t.execute("PRAGMA wal_checkpoint(TRUNCATE)", vec![]).await.unwrap();
    t.close().await;
    let e = huanxin_store::backup::restore(&target, &tampered).await.unwrap_err().to_string();
    assert!(e.contains("ledger is broken at entry 1"), "{e}");
    assert_eq!(current.scalar("SELECT MAX(v) FROM before_restore", vec![]).await.unwrap(), 42, "untouched");
    assert!(!dir.join("huanxin.db.restoring").exists());

    let r = huanxin_store::backup::restore(&target, &backup).await.unwrap();
    assert!(r.ledger_entries >= 1, "{r:?}");
    current.close().await;
    let kept = r.kept.expect("the database before the restore is kept");
    let before = huanxin_store::Db::connect(&kept.to_string_lossy()).await.unwrap();
    assert_eq!(before.scalar("SELECT MAX(v) FROM before_restore", vec![]).await.unwrap(), 42, "with what its log held");
    before.close().await;
    let restored = huanxin_store::Db::connect(&target).await.unwrap();
    assert_eq!(restored.scalar("SELECT COUNT(*) FROM allocations", vec![]).await.unwrap(), 1);
    restored.close().await;
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// 10. Changing an allocation's amount, a maintenance-fund movement or a ledger column outside the
// hash (source, project, entered_by…) went unnoticed by the ledger check, while reports read them.
async fn every_figure_a_report_reads_is_checked_against_the_chain(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (project, allocation, inspection) = payable_project(app, &admin).await;
    let (s, d) = ask_payment(&staff, (project, allocation, inspection), "1000").await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(admin.post(&format!("/api/v1/disbursements/{}/approve", d["id"]), json!({})).await.0, 200);
    let estate = app.attached_estate;
    let (s, r) = admin
        .post(&format!("/api/v1/estates/{estate}/upkeep/credits"), json!({"kind": "parking", "amount": "500", "memo": "停车收益"}))
        .await;
    assert_eq!(s, 201, "{r}");
    let verify = || async { admin.get("/api/v1/ledger/verify").await.1 };
    assert_eq!(verify().await["intact"], true, "{}", verify().await);

    let tamper = [
        ("UPDATE allocations SET amount = amount + 100", "UPDATE allocations SET amount = amount - 100", "allocation"),
        // The running balance a payment is checked against (migration 35) is checked against the ledger too.
        (
            "UPDATE account_balances SET balance = balance + 100 WHERE account LIKE 'allocation:%'",
            "UPDATE account_balances SET balance = balance - 100 WHERE account LIKE 'allocation:%'",
            "the balance kept for allocation:",
        ),
        (
            "INSERT INTO account_balances (account, balance) VALUES ('allocation:999999', 5)",
            "DELETE FROM account_balances WHERE account = 'allocation:999999'",
            "the balance kept for allocation:999999",
        ),
        ("UPDATE upkeep_movements SET amount = amount + 1", "UPDATE upkeep_movements SET amount = amount - 1", "maintenance-fund movement"),
        (
            "UPDATE disbursements SET amount = amount + 1 WHERE ledger_seq IS NOT NULL",
            "UPDATE disbursements SET amount = amount - 1 WHERE ledger_seq IS NOT NULL",
            "payment",
        ),
        (
            "UPDATE ledger_entries SET source = 'local' WHERE seq = 2",
            "UPDATE ledger_entries SET source = 'central' WHERE seq = 2",
            "do not match its hash",
        ),
        (
            "UPDATE ledger_entries SET entered_by = 'someone' WHERE seq = 2",
            "UPDATE ledger_entries SET entered_by = 'county_admin' WHERE seq = 2",
            "do not match its hash",
        ),
        (
            "UPDATE ledger_entries SET project_id = NULL WHERE seq = 2",
            "UPDATE ledger_entries SET project_id = (SELECT MIN(id) FROM projects) WHERE seq = 2",
            "do not match its hash",
        ),
        (
            "UPDATE ledger_entries SET hash_v = 1 WHERE seq = 2",
            "UPDATE ledger_entries SET hash_v = 2 WHERE seq = 2",
            "do not match its hash",
        ),
    ];
    let before: Vec<(String, Option<i64>, String)> =
        app.db.fetch_all("SELECT source, project_id, entered_by FROM ledger_entries WHERE seq = 2", vec![]).await.unwrap();
    assert_eq!(before[0].2, "county_admin", "entry 2 is the approved payment: {before:?}");
    for (change, undo, found) in tamper {
        app.db.execute(change, vec![]).await.unwrap();
        let v = verify().await;
        assert_eq!(v["intact"], false, "{change}: {v}");
        assert!(v["broken_at"]["reason"].as_str().unwrap().contains(found), "{change}: {v}");
        app.db.execute(undo, vec![]).await.unwrap();
        assert_eq!(verify().await["intact"], true, "{undo}");
    }
}

// 16 (part). The estate export paged by OFFSET (quadratic, with the totals counted for every page).
// Now by key: more than one page of rows comes out whole, once each, in the list's order.
async fn an_export_pages_by_key_in_the_list_order(app: &TestApp) {
    let c = app.client("county_admin").await;
    let mut csv = String::from("小区编码,小区名称,社区代码,建成年份,户数\n");
    for i in 0..4500 {
        // Names repeat, so the order within one name rests on the id.
        csv.push_str(&format!("EXP-{i:05},导出小区{},350521100001,1990,{}\n", i % 7, i % 50));
    }
    let (s, r) = c.upload("/api/v1/imports/estates", "many.csv", csv.into_bytes()).await;
    assert_eq!((s, r["created"].as_i64()), (200, Some(4500)), "{r}");
    for sort in ["-name", "households", "code"] {
        let (s, bytes) = c.get_bytes(&format!("/api/v1/estates/export.xlsx?q=EXP-&sort={sort}")).await;
        assert_eq!(s, 200);
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let range = wb.worksheet_range("小区").unwrap();
        let codes: Vec<String> = range.rows().skip(1).map(|r| r[0].to_string()).collect();
        assert_eq!(codes.len(), 4500, "{sort}: every row once");
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4500, "{sort}: no row twice");
        // The first and the last page of the list agree with the export's ends.
        let (_, first) = c.get(&format!("/api/v1/estates?q=EXP-&sort={sort}&per_page=500&page=1")).await;
        let (_, last) = c.get(&format!("/api/v1/estates?q=EXP-&sort={sort}&per_page=500&page=9")).await;
        let listed: Vec<String> = first["items"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_string()).collect();
        assert_eq!(&codes[..500], &listed[..], "{sort}");
        let listed: Vec<String> = last["items"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap().to_string()).collect();
        assert_eq!(&codes[4000..], &listed[..], "{sort}");
    }
}

// 10. Deleting the tail of the ledger and rewriting its head went unnoticed: the walk was intact.
// Heads published earlier (a file under the data folder, signed) catch it.
async fn published_heads_catch_a_cut_and_rewritten_tail(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let allocate = |purpose: &'static str| json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": purpose, "amount": "1000"});
    assert_eq!(admin.post("/api/v1/allocations", allocate("第一笔")).await.0, 201);
    let (s, second) = admin.post("/api/v1/allocations", allocate("第二笔")).await;
    assert_eq!(s, 201, "{second}");
    // The server published today's heads when it started; the next day's are published now.
    let day = huanxin_store::today() + chrono::Duration::days(1);
    assert!(huanxin_server::chains::heads_dir(&app.config.data_dir).join(format!("{}.json", huanxin_store::today())).exists());
    let written = huanxin_server::chains::publish(&app.db, &app.config, day).await.unwrap();
    assert!(written.is_some_and(|p| p.ends_with(&format!("heads/{day}.json"))));
    assert!(huanxin_server::chains::heads_dir(&app.config.data_dir).join(format!("{day}.json")).exists());
    assert!(huanxin_server::chains::publish(&app.db, &app.config, day).await.unwrap().is_none(), "once a day");
    let (s, heads) = admin.get("/api/v1/chain-heads").await;
    let ledger = heads["heads"].as_array().unwrap().iter().find(|h| h["chain"] == "ledger").cloned().unwrap();
    let published = ledger["records"].as_i64().unwrap();
    assert_eq!((s, ledger["signature"].as_str().map(str::len)), (200, Some(64)), "{heads}");
    assert_eq!(admin.get("/api/v1/ledger/verify").await.1["intact"], true);

    // A thorough forger removes the second allocation, its entry, and sets the head to the entry before.
    let id = second["id"].as_i64().unwrap();
    for sql in [
        "DELETE FROM ledger_entries WHERE seq = (SELECT MAX(seq) FROM ledger_entries)",
        "UPDATE ledger_head SET entries = entries - 1, hash = (SELECT hash FROM ledger_entries WHERE seq = (SELECT MAX(seq) FROM ledger_entries)) WHERE id = 1",
    ] {
        app.db.execute(sql, vec![]).await.unwrap();
    }
    app.db.execute("DELETE FROM allocations WHERE id = $1", huanxin_store::args![id]).await.unwrap();
    // … and sums the balances kept with each entry again, so they agree with the shortened ledger.
    app.db.rebuild_account_balances().await.unwrap();
    assert!(app.db.verify_ledger().await.unwrap().intact, "the walk alone finds nothing: the hole this closes");
    let (_, v) = admin.get("/api/v1/ledger/verify").await;
    assert_eq!(v["intact"], false, "{v}");
    let reason = v["broken_at"]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("held {published} records when published")), "{v}");

    // A published file changed by hand no longer carries a valid signature.
    let dir = huanxin_server::chains::heads_dir(&app.config.data_dir);
    let file = dir.join(format!("{day}.json"));
    let text =
        std::fs::read_to_string(&file).unwrap().replace(&format!("\"records\": {published}"), &format!("\"records\": {}", published - 1));
    std::fs::write(&file, text).unwrap();
    let problems = huanxin_server::chains::check_published(&app.db, &app.config, |c| c == "ledger").await.unwrap();
    assert!(problems.iter().any(|p| p.problem.contains("signature does not hold")), "{problems:?}");
    // An older day's file copied under a newer day's name is not shown as that day's heads (only
    // the newest file is read for them).
    let later = dir.join(format!("{}.json", day + chrono::Duration::days(1)));
    std::fs::copy(dir.join(format!("{}.json", huanxin_store::today())), &later).unwrap();
    let (_, shown) = admin.get("/api/v1/chain-heads").await;
    assert_eq!((shown["date"].as_str(), shown["heads"].as_array().map(Vec::len)), (Some(""), Some(0)), "{shown}");
    std::fs::remove_file(&later).unwrap();
    // Nor is a copy in a folder beside the days (it would sort after them); and the head changed
    // by hand above is not handed out.
    std::fs::create_dir_all(dir.join("copies")).unwrap();
    std::fs::copy(dir.join(format!("{}.json", huanxin_store::today())), dir.join("copies").join("2099-01-01.json")).unwrap();
    let (_, shown) = admin.get("/api/v1/chain-heads").await;
    assert_eq!(shown["date"], day.to_string(), "{shown}");
    assert!(shown["heads"].as_array().unwrap().iter().all(|h| h["chain"] != "ledger"), "the forged head is not shown: {shown}");
    // The estate export carries contacts' full phone numbers: it is audited like a reveal (the new user's trial).
    let before =
        app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'read_personal_data' AND entity = 'estates'", vec![]).await.unwrap();
    assert_eq!(admin.get_bytes("/api/v1/estates/export.xlsx").await.0, 200);
    let after =
        app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'read_personal_data' AND entity = 'estates'", vec![]).await.unwrap();
    assert_eq!(after, before + 1);
    // Another county's admin sees the ledger head but no other county's ballot chains.
    let (_, theirs) = app.client("other_county_admin").await.get("/api/v1/chain-heads").await;
    assert!(theirs["heads"].as_array().unwrap().iter().all(|h| h["chain"] == "ledger"), "{theirs}");
}
