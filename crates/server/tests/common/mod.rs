//! Test harness: the real server on port 0 with a fresh database (SQLite file or a new
//! PostgreSQL database), a small slice of the demo county, and one account per role.
#![allow(dead_code)]

use huanxin_domain::access::{Role, Scope};
use huanxin_domain::estates::EstateInput;
use huanxin_domain::regions::RegionCode;
use huanxin_server::{AppState, Config};
use huanxin_store::accounts::NewUser;
use huanxin_store::audit::Actor;
use huanxin_store::Db;
use std::sync::{Arc, Mutex, OnceLock};

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Password of every test account.
pub const PASSWORD: &str = "test-password-1";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub other_county_estate: i64,
    pub attached_estate: i64,
    pub database_url: String,
    /// Text messages the server sent, as its SMS webhook received them.
    pub sms: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The settings the server runs with.
    pub config: Config,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pg_admin_url: Option<(String, String)>,
}

fn hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| huanxin_server::auth::hash_password(PASSWORD).unwrap())
}

/// The PostgreSQL server used by tests (trust auth on the local machine by default).
pub fn pg_url() -> String {
    std::env::var("HUANXIN_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The test accounts: name, role, region.
pub const USERS: &[(&str, Role, &str)] = &[
    ("ministry_admin", Role::MinistryAdmin, "000000000000"),
    ("province_admin", Role::ProvinceAdmin, "350000000000"),
    ("city_admin", Role::CityAdmin, "350500000000"),
    ("county_admin", Role::CountyAdmin, "350521000000"),
    ("county_staff", Role::CountyStaff, "350521000000"),
    ("street_staff", Role::StreetStaff, "350521100000"),
    ("community_staff", Role::CommunityStaff, "350521100001"),
    ("other_county_admin", Role::CountyAdmin, "350502000000"),
    ("designer", Role::Designer, "350521000000"),
    ("contractor", Role::Contractor, "350521000000"),
    ("supervisor", Role::Supervisor, "350521000000"),
    ("property_company", Role::PropertyCompany, "350521000000"),
    ("utility", Role::Utility, "350521000000"),
    ("grid_worker", Role::GridWorker, "350521100001"),
    ("resident", Role::Resident, "350521100001"),
];

/// The basemap the test servers are configured with.
pub const TEST_BASEMAP: &str =
    "https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=vec&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=test \
    https://t1.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=cva&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=test";

/// Number of demo estates loaded for tests.
pub const ESTATES: usize = 24;

impl TestApp {
    /// Starts a server on a fresh database of the given engine.
    pub async fn spawn(engine: Engine) -> TestApp {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("huanxin-test-{id}"));
        // An SMS webhook that keeps what it receives.
        let sms: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let sink = sms.clone();
        let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/sms", hook.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(hook, app).await });
        // Requests come from the loopback, which the harness trusts as a proxy: a test names the
        // client's address with X-Forwarded-For.
        let mut config = Config {
            data_dir: dir,
            regions: "350521,350502".into(),
            sms_webhook: hook_url,
            public_url: "https://hx.example.gov.cn".into(),
            trusted_proxies: "127.0.0.1".into(),
            // A licensed basemap as a deployment sets it (Tianditu's vector layer and its labels).
            basemap: TEST_BASEMAP.into(),
            basemap_attribution: "天地图".into(),
            ..Config::default()
        };
        let mut pg_admin_url = None;
        if let Engine::Postgres = engine {
            let admin = pg_url();
            let name = format!("hx_test_{}", &id[..16]);
            let admin_db = Db::connect(&admin).await.expect("PostgreSQL for tests (set HUANXIN_TEST_PG_URL)");
            admin_db.execute(&format!("CREATE DATABASE {name}"), vec![]).await.unwrap();
            admin_db.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
            config.database_url = format!("{base}/{name}");
            pg_admin_url = Some((admin, name));
        }
        let database_url = config.effective_database_url();
        let db = huanxin_server::open_database(&config).await.unwrap();
        let actor = Actor::system("test");
        let scope = Scope::Region(RegionCode::country());
        let data = huanxin_datagen::demo_county(1, ESTATES);
        let rows: Vec<_> = data.iter().enumerate().map(|(i, g)| (i + 2, g.estate.validate(2026).unwrap())).collect();
        db.import_estates(&actor, &scope, "test", false, &rows).await.unwrap();
        let b: Vec<_> =
            data.iter().flat_map(|g| g.buildings.iter()).map(|b| (2, b.estate_code.clone(), b.validate(2026).unwrap())).collect();
        db.import_buildings(&actor, &scope, "test", false, &b).await.unwrap();
        let d: Vec<_> = data
            .iter()
            .take(3)
            .flat_map(|g| g.dwellings.iter())
            .map(|d| (2, d.estate_code.clone(), d.building_number.clone(), d.validate().unwrap()))
            .collect();
        db.import_dwellings(&actor, &scope, "test", false, &d).await.unwrap();
        let other = EstateInput {
            code: "LC-0001".into(),
            name: "鲤城老宿舍".into(),
            community_code: first_community(&db, "350502").await,
            build_year: Some(1988),
            lon: Some(118.58),
            lat: Some(24.91),
            phone: "13800138000".into(),
            ..Default::default()
        };
        let other = db.create_estate(&actor, &scope, &other.validate(2026).unwrap()).await.unwrap();
        let attached = db.scalar("SELECT MIN(id) FROM estates WHERE community_code = '350521100001'", vec![]).await.unwrap();
        assert!(attached > 0, "the seed puts estates in 北关社区");
        for (name, role, region) in USERS {
            let u = db
                .create_user(
                    &actor,
                    &NewUser {
                        username: name.to_string(),
                        display_name: name.to_string(),
                        password_hash: hash().to_string(),
                        role: *role,
                        region: RegionCode::parse(region).unwrap(),
                        phone: "13900000000".into(),
                    },
                )
                .await
                .unwrap();
            if role.is_attachment_scoped() {
                db.attach_user_to_estate(&actor, u.id, attached).await.unwrap();
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = AppState::new(db.clone(), config.clone()).unwrap();
        tokio::spawn(huanxin_server::serve(st, listener, async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            db,
            other_county_estate: other.id,
            attached_estate: attached,
            database_url,
            sms,
            config,
            shutdown: Some(tx),
            pg_admin_url,
        }
    }

    /// A second server on the same database with changed settings.
    pub async fn another_server(&self, change: impl FnOnce(&mut Config)) -> OtherServer {
        let mut config = self.config.clone();
        change(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = AppState::new(self.db.clone(), config).unwrap();
        tokio::spawn(async move {
            let app = huanxin_server::router(st).into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        OtherServer { base, shutdown: tx }
    }

    /// A client signed in as `user` (bearer token).
    pub async fn client(&self, user: &str) -> Client {
        let c = reqwest::Client::new();
        let res = c
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login as {user}");
        let body: serde_json::Value = res.json().await.unwrap();
        Client { base: self.base.clone(), http: c, token: Some(body["token"].as_str().unwrap().to_string()) }
    }

    /// A client that is not signed in.
    pub fn anonymous(&self) -> Client {
        Client { base: self.base.clone(), http: reqwest::Client::new(), token: None }
    }

    /// Stops the server and drops a PostgreSQL test database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.db.close().await;
        if let Some((admin, name)) = self.pg_admin_url.take() {
            if let Ok(a) = Db::connect(&admin).await {
                let _ = a.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), vec![]).await;
                a.close().await;
            }
        }
    }
}

/// A second server started by [`TestApp::another_server`].
pub struct OtherServer {
    pub base: String,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

impl OtherServer {
    /// Stops it (the database stays open for the first).
    pub fn stop(self) {
        let _ = self.shutdown.send(());
    }
}

async fn first_community(db: &Db, county: &str) -> String {
    let rc = RegionCode::parse(county).unwrap();
    db.region_subtree(&rc, Some(5), 1).await.unwrap()[0].code.clone()
}

/// An estate of the test county with dwellings in the registry, and one of its buildings with the
/// dwellings of its first stairwell.
pub async fn estate_with_dwellings(app: &TestApp) -> (i64, i64, Vec<i64>) {
    let estate = app.db.scalar("SELECT MIN(estate_id) FROM dwellings", vec![]).await.unwrap();
    let building =
        app.db.scalar("SELECT MIN(building_id) FROM dwellings WHERE estate_id = $1", huanxin_store::args![estate]).await.unwrap();
    let ids: Vec<(i64,)> = app
        .db
        .fetch_all("SELECT id FROM dwellings WHERE building_id = $1 AND stairwell = 1 ORDER BY id", huanxin_store::args![building])
        .await
        .unwrap();
    (estate, building, ids.into_iter().map(|(i,)| i).collect())
}

/// The owners' passed decision on an estate's scheme, as a closed vote leaves it, and the estate
/// moved on to "decided" (as the lifecycle's step would after both notices).
pub async fn owners_decided(app: &TestApp, estate: i64) {
    app.db
        .execute(
            "INSERT INTO decisions (estate_id, title, matter, scope_kind, opens_at, closes_at, on_scheme, rules_json, head_hash, closed_at, passed, created_by, created_at) \
             VALUES ($1, '改造方案表决', 'renovate', 'estate', '2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z', TRUE, '{}', '', '2026-01-12T00:00:00Z', TRUE, 'test', '2026-01-05T00:00:00Z')",
            huanxin_store::args![estate],
        )
        .await
        .unwrap();
    app.db.execute("UPDATE estates SET status = 'decided' WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
}

/// A small HTTP client bound to the server.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Client {
    pub fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET, returning status and JSON (Null when the body is not JSON).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// GET raw bytes.
    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let res = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.bytes().await.unwrap().to_vec())
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let res = self.req(reqwest::Method::POST, path).json(&body).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let res = self.req(reqwest::Method::PUT, path).json(&body).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POST a raw body with a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
        let res = self.req(reqwest::Method::POST, path).header("content-type", content_type).body(body).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Announces an upload of `length` bytes and reads the answer to the headers alone: a server
    /// that refuses by size answers before the body and closes, which a client still writing the
    /// body may see only as a broken pipe.
    pub async fn announce_upload(&self, path: &str, length: usize) -> u16 {
        self.crafted_upload(path, length, b"").await.0
    }

    /// Starts a multipart upload (boundary `x`) announcing `length` bytes and sends `sent` of
    /// them; the connection stays open, the rest unsent.
    pub async fn open_upload(&self, path: &str, length: usize, sent: &[u8]) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let host = self.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(sent).await.unwrap();
        tcp
    }

    /// As `open_upload`, then the server's answer, which must come before the rest of the body:
    /// its status and its text.
    pub async fn crafted_upload(&self, path: &str, length: usize, sent: &[u8]) -> (u16, String) {
        use tokio::io::AsyncReadExt;
        let mut tcp = self.open_upload(path, length, sent).await;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the server answers before the body")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        (text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), text)
    }

    /// Uploads a file as the multipart field `file`.
    pub async fn upload(&self, path: &str, filename: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        let res = self.req(reqwest::Method::POST, path).multipart(form).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}

impl Client {
    /// Posts a multipart form: text `fields` and the file as the field `file`.
    pub async fn upload_form(&self, path: &str, fields: &[(&str, &str)], filename: &str, bytes: Vec<u8>) -> (u16, serde_json::Value) {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
        let res = self.req(reqwest::Method::POST, path).multipart(form).send().await.unwrap();
        let s = res.status().as_u16();
        (s, res.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// Defines each test twice, once per engine: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::common::TestApp::spawn($crate::common::Engine::Sqlite).await;
                    super::$name(&app).await;
                    app.stop().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let app = $crate::common::TestApp::spawn($crate::common::Engine::Postgres).await;
                    super::$name(&app).await;
                    app.stop().await;
                }
            }
        )*
    };
}
