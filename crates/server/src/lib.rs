//! Huanxin's HTTP server: the JSON API under `/api/v1`, map tiles, and the embedded web UI.
//!
//! One module per domain area, the same names as in the domain and store crates. Every API route
//! except sign-in and health passes through [`auth::authenticate`], which fixes the caller's scope.

use huanxin_domain::reason;
pub mod accounts;
pub mod alarms;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod chains;
pub mod cluster;
pub mod construction;
pub mod decisions;
pub mod demo;
pub mod error;
pub mod estates;
pub mod evaluation;
pub mod funds;
pub mod grids;
pub mod jobs;
pub mod late;
pub mod lifecycle;
pub mod map;
pub mod monitoring;
pub mod notices;
pub mod openapi;
pub mod pdf;
pub mod plans;
pub mod projects;
pub mod public;
pub mod ranking;
pub mod regions;
pub mod reports;
pub mod requests;
pub mod residents;
pub mod schemes;
pub mod sms;
pub mod statistics;
pub mod surveys;
pub mod tabular;
pub mod uploads;
pub mod web;
pub mod work;

use axum::http::HeaderName;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use huanxin_domain::access::Permission;
use huanxin_store::regions::RegionSelection;
use huanxin_store::Db;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Settings: defaults, then a TOML file, then `HUANXIN_*` variables (the CLI merges them).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Folder for the SQLite file, uploads and backups.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for the embedded SQLite file in `data_dir`.
    pub database_url: String,
    /// Estates built before this year qualify (national rule: 2001).
    pub eligible_before_year: i64,
    /// How long a web session lasts.
    pub session_hours: i64,
    /// Largest accepted upload, in MiB.
    pub max_upload_mb: usize,
    /// Largest archive document (drawings, scanned volumes), in MiB: streamed to the file store
    /// through a temporary file in `data_dir/uploads`, never whole in memory.
    pub max_file_mb: usize,
    /// Archive documents this server receives at once (each holds a connection and up to
    /// `max_file_mb` of temporary file); an account may run two of them.
    pub max_uploads: usize,
    /// Which regions to load: `all`, or county codes separated by commas (6 digits each).
    #[serde(deserialize_with = "text_or_number")]
    pub regions: String,
    /// Chinese font for PDF (`path` or `path#index` in a collection); empty: the system's Noto CJK or WenQuanYi.
    pub pdf_font: String,
    /// Where residents' one-time codes are POSTed as JSON besides the log (empty: the log only).
    pub sms_webhook: String,
    /// Where every alarm notification is also POSTed as JSON (empty: none), e.g. the county's
    /// emergency platform or a WeCom group robot's relay.
    pub alarm_webhook: String,
    /// The address residents and printed invitation slips open, e.g. `https://hx.example.gov.cn`
    /// (empty: `http://` and the `bind` address). Never taken from a request's Host header.
    pub public_url: String,
    /// Served over HTTPS (directly or by a proxy): the session cookie is `Secure` and HSTS is sent.
    pub behind_https: bool,
    /// Proxies whose `X-Forwarded-For` names the client (IP addresses or CIDR blocks, separated by
    /// commas); empty: the connection's own address is the client's.
    #[serde(deserialize_with = "text_or_number")]
    pub trusted_proxies: String,
    /// A licensed raster basemap: tile URL templates with `{z}`, `{x}`, `{y}`, separated by spaces,
    /// each drawn as one layer in order (e.g. Tianditu's `vec_w` then its labels `cva_w`, each with
    /// the deployment's `tk`); empty: a plain background under Huanxin's own estate tiles.
    pub basemap: String,
    /// The basemap's attribution shown on the map (e.g. `天地图 GS(2024)0650号`).
    pub basemap_attribution: String,
    /// The MQTT broker devices publish to, `mqtt://host:port` (empty: no ingest).
    pub mqtt_url: String,
    /// The ingest's MQTT client id: its persistent session on the broker (one per deployment).
    pub mqtt_client_id: String,
    /// The ingest's user name on the broker (empty: anonymous). With a broker ACL reserving the
    /// ingest's client id and subscription to this user, nobody else can take over its session.
    pub mqtt_username: String,
    /// The ingest's password on the broker.
    pub mqtt_password: String,
    /// The topics' first level: devices publish to `{root}/v1/{serial}/telemetry|event|heartbeat`.
    pub mqtt_topic_root: String,
    /// How many messages a second one device may send (five times that at once); more are dropped and flagged.
    pub device_rate_per_second: f64,
    /// Days raw telemetry is kept.
    pub telemetry_raw_days: i64,
    /// Days hourly telemetry aggregates are kept.
    pub telemetry_hourly_days: i64,
    /// The bearer token Prometheus sends for `/metrics` (empty: `/metrics` answers this machine only).
    pub metrics_token: String,
    /// Where files' contents go: `folder` (`files_dir`), `s3` (the `s3_*` settings; several
    /// servers), or `database` (in the database, as before issue 18).
    pub file_store: String,
    /// The folder of `file_store = folder` (empty: `files` in `data_dir`).
    pub files_dir: PathBuf,
    /// The S3-compatible store's address, e.g. `http://minio:9000` (empty: AWS by region).
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    /// Bucket in the path (`http://host/bucket/key`), as MinIO and most on-premises stores want.
    pub s3_path_style: bool,
    /// The secret that signs the published chain heads, at least 32 characters; the same on every
    /// server of a cluster (needed with `file_store = s3`). Empty: `heads/.key` in `data_dir`.
    pub chain_key: String,
}

/// Reads a setting that is text even when it looks like a number: `HUANXIN_REGIONS=350521` (one
/// county) reaches the settings as an integer.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        S(String),
        N(u64),
    }
    Ok(match Text::deserialize(d)? {
        Text::S(s) => s,
        Text::N(n) => n.to_string(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            eligible_before_year: huanxin_domain::estates::DEFAULT_ELIGIBLE_BEFORE_YEAR,
            session_hours: 12,
            max_upload_mb: 20,
            max_file_mb: 2048,
            max_uploads: 16,
            regions: "all".into(),
            pdf_font: String::new(),
            sms_webhook: String::new(),
            alarm_webhook: String::new(),
            public_url: String::new(),
            behind_https: false,
            trusted_proxies: String::new(),
            basemap: String::new(),
            basemap_attribution: String::new(),
            mqtt_url: String::new(),
            mqtt_client_id: "huanxin-ingest".into(),
            mqtt_username: String::new(),
            mqtt_password: String::new(),
            mqtt_topic_root: huanxin_domain::alarms::telemetry::DEFAULT_ROOT.into(),
            device_rate_per_second: 20.0,
            telemetry_raw_days: 30,
            telemetry_hourly_days: 730,
            metrics_token: String::new(),
            file_store: "folder".into(),
            files_dir: PathBuf::new(),
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: String::new(),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            s3_path_style: true,
            chain_key: String::new(),
        }
    }
}

impl Config {
    /// The database URL in use: the configured one, or the SQLite file in the data folder.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.trim().is_empty() {
            self.data_dir.join("huanxin.db").to_string_lossy().into_owned()
        } else {
            self.database_url.trim().to_string()
        }
    }

    /// The settings for display, with the database password hidden.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        c.database_url = redact_url(&c.database_url);
        if !c.mqtt_password.is_empty() {
            c.mqtt_password = "***".into();
        }
        if !c.metrics_token.is_empty() {
            c.metrics_token = "***".into();
        }
        if !c.s3_secret_key.is_empty() {
            c.s3_secret_key = "***".into();
        }
        if !c.chain_key.is_empty() {
            c.chain_key = "***".into();
        }
        c
    }

    /// The address residents open: `public_url`, else the `bind` address (a wildcard bind read as
    /// the loopback, which only this machine reaches: set `public_url` for phones).
    pub fn public_base(&self) -> String {
        let configured = self.public_url.trim().trim_end_matches('/');
        if !configured.is_empty() {
            return configured.to_string();
        }
        let bind = self.bind.trim().replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
        let scheme = if self.behind_https { "https" } else { "http" };
        format!("{scheme}://{bind}")
    }

    /// Where files' contents go, from the `file_store` settings.
    pub fn file_store(&self) -> Result<huanxin_store::files::FileStore, huanxin_store::StoreError> {
        use huanxin_store::files::{FileStore, S3Settings};
        let key = self.chain_key.trim();
        if !key.is_empty() && key.len() < 32 {
            return Err(huanxin_store::StoreError::Config(
                "chain_key must be at least 32 characters (e.g. `openssl rand -hex 32`), or empty for heads/.key".into(),
            ));
        }
        match self.file_store.trim() {
            "" | "folder" => {
                let dir = if self.files_dir.as_os_str().is_empty() { self.data_dir.join("files") } else { self.files_dir.clone() };
                FileStore::folder(&dir)
            }
            "database" => Ok(FileStore::Database),
            "s3" => {
                if self.s3_bucket.trim().is_empty() {
                    return Err(huanxin_store::StoreError::Config("file_store = s3 needs s3_bucket".into()));
                }
                if self.chain_key.trim().len() < 32 {
                    return Err(huanxin_store::StoreError::Config(
                        "file_store = s3 (several servers) also needs chain_key: one secret of at least 32 characters that every \
                         server shares, to sign the published chain heads (e.g. `openssl rand -hex 32`)"
                            .into(),
                    ));
                }
                FileStore::s3(&S3Settings {
                    endpoint: self.s3_endpoint.trim().to_string(),
                    bucket: self.s3_bucket.trim().to_string(),
                    region: self.s3_region.trim().to_string(),
                    access_key: self.s3_access_key.clone(),
                    secret_key: self.s3_secret_key.clone(),
                    path_style: self.s3_path_style,
                })
            }
            other => Err(huanxin_store::StoreError::Config(format!("file_store is folder, s3 or database, not '{other}'"))),
        }
    }

    /// The region selection from the `regions` setting.
    pub fn region_selection(&self) -> RegionSelection {
        let r = self.regions.trim();
        if r.is_empty() || r.eq_ignore_ascii_case("all") {
            RegionSelection::All
        } else {
            RegionSelection::Counties(r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        }
    }
}

/// A secret shown once to who asks for it (a device's key, an Open311 api_key): 24 random bytes
/// from the operating system, as hex.
pub fn random_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Hides the password of a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Shared state of the running server.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// Recently read sessions (see [`auth::SessionCache`]).
    pub sessions: Arc<auth::SessionCache>,
    pub tiles: Arc<map::TileCache>,
    /// Recent list totals (see the store's `TotalsCache`).
    pub totals: Arc<huanxin_store::estates::TotalsCache>,
    /// Recent "what is late" answers (see [`late::LateCache`]).
    pub late: Arc<late::LateCache>,
    /// Where the regions lie on the dashboards' map (see [`statistics::PlacesCache`]).
    pub places: Arc<statistics::PlacesCache>,
    /// Allocated sums by source (see the store's `AllocatedCache`).
    pub allocated: Arc<huanxin_store::funds::reports::AllocatedCache>,
    /// A real hash to verify against when the user name is unknown (constant-time sign-in).
    pub dummy_hash: Arc<String>,
    /// Residents' one-time codes go out through it.
    pub sms: sms::SmsGateway,
    /// The request category model with staff's corrections (see [`requests::LearnedModel`]).
    pub classifier: Arc<requests::LearnedModel>,
    /// Recent hot spots (see [`requests::HotSpotCache`]).
    pub hotspots: Arc<requests::HotSpotCache>,
    /// What the MQTT ingest has done (see [`alarms::ingest`]).
    pub ingest: Arc<alarms::ingest::IngestStats>,
    /// The desks' live feed of alarms (see [`alarms::escalation`]).
    pub alarm_feed: alarms::escalation::Feed,
    /// The archive documents being received (see [`uploads::UploadSlots`]).
    pub uploads: Arc<uploads::UploadSlots>,
}

impl AppState {
    /// State for a database that is already migrated.
    pub fn new(db: Db, config: Config) -> Result<AppState, error::ApiError> {
        let sms = sms::SmsGateway::new(&config.sms_webhook);
        let uploads = Arc::new(uploads::UploadSlots::new(config.max_uploads));
        Ok(AppState {
            db,
            config: Arc::new(config),
            sessions: Arc::new(auth::SessionCache::default()),
            tiles: Arc::new(map::TileCache::default()),
            totals: Arc::new(huanxin_store::estates::TotalsCache::default()),
            late: Arc::new(late::LateCache::default()),
            places: Arc::default(),
            allocated: Arc::default(),
            sms,
            classifier: Arc::default(),
            hotspots: Arc::default(),
            ingest: Arc::default(),
            alarm_feed: alarms::escalation::Feed::default(),
            uploads,
            dummy_hash: Arc::new(auth::hash_password("not-a-real-password")?),
        })
    }
}

impl AppState {
    /// Drops what was derived from the registry (map points, list totals, the dashboards' places)
    /// after a change.
    pub fn registry_changed(&self) {
        cluster::announce(self, cluster::Change::Registry);
    }
}

/// Health: answers when the server and its database are up, and says when writes are failing (a
/// full disk): then 503 with the error, until a write succeeds again.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", responses((status = 200, description = "up"), (status = 503, description = "writes are failing")))]
pub async fn health(axum::extract::State(st): axum::extract::State<AppState>) -> Result<axum::response::Response, error::ApiError> {
    use axum::response::IntoResponse;
    st.db.scalar("SELECT CAST(1 AS BIGINT)", vec![]).await?;
    let engine = format!("{:?}", st.db.engine()).to_lowercase();
    Ok(match st.db.write_failure() {
        None => Json(serde_json::json!({"status": "ok", "database": engine, "version": env!("CARGO_PKG_VERSION")})).into_response(),
        Some(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "degraded", "database": engine, "version": env!("CARGO_PKG_VERSION"),
                "write_error": format!("磁盘已满或无法写入 (writes are failing): {e}")})),
        )
            .into_response(),
    })
}

fn with_permission(r: Router<AppState>, p: Permission) -> Router<AppState> {
    r.route_layer(middleware::from_fn_with_state(p, auth::require_permission))
}

/// One API route as declared: its method, its path under `/api/v1` and the permission that
/// guards it (`None`: any signed-in user; `public`: no sign-in). The authorization matrix test
/// walks this table, so a route cannot be added without being in it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub permission: Option<Permission>,
    pub public: bool,
}

/// A group of API routes behind one permission, each recorded as it is added.
struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
    permission: Option<Permission>,
    public: bool,
}

impl Routes {
    /// Routes for signed-in users holding `permission` (any signed-in user when `None`).
    fn new(permission: Option<Permission>) -> Self {
        Routes { router: Router::new(), specs: Vec::new(), permission, public: false }
    }

    /// Routes anyone may call without signing in.
    fn public() -> Self {
        Routes { public: true, ..Routes::new(None) }
    }

    fn add(mut self, method: &'static str, path: &'static str, route: axum::routing::MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.specs.push(RouteSpec { method, path, permission: self.permission, public: self.public });
        self
    }

    fn get<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, get(handler))
    }

    fn post<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, post(handler))
    }

    fn put<H: axum::handler::Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("PUT", path, axum::routing::put(handler))
    }

    /// The group's router, behind its permission check.
    fn into_router(self) -> Router<AppState> {
        match self.permission {
            Some(p) => with_permission(self.router, p),
            None => self.router,
        }
    }
}

/// Every API route as declared, for the authorization matrix and the API's own checks.
pub fn api_routes() -> Vec<RouteSpec> {
    let (open, protected) = api_groups();
    open.specs.into_iter().chain(protected.into_iter().flat_map(|g| g.specs)).collect()
}

/// The API's routes: those open to anyone, and the groups for signed-in users by permission.
fn api_groups() -> (Routes, Vec<Routes>) {
    let read = Routes::new(Some(Permission::ReadRegistry))
        .get("/regions/{code}", regions::get_region)
        .get("/regions/{code}/children", regions::children)
        .get("/regions/{code}/subtree", regions::subtree)
        .get("/estates", estates::list)
        .get("/estates/export.xlsx", estates::export_xlsx)
        .get("/estates/summary", estates::summary)
        .get("/estates/{id}", estates::get_one)
        .get("/estates/{id}/buildings", estates::buildings)
        .get("/estates/{id}/dwellings", estates::dwellings)
        .get("/estates/{id}/devices", alarms::devices)
        .get("/estates/{id}/alarms", alarms::alarms)
        .get("/alarms", alarms::board)
        .get("/alarms/map", alarms::map)
        .get("/alarms/ingest", alarms::ingest_status)
        .get("/alarms/feed", alarms::feed)
        .get("/alarms/response", alarms::response)
        .get("/alarms/{id}", alarms::show)
        .get("/alarms/{id}/snapshot", alarms::snapshot)
        .get("/alarms/{id}/notifications", alarms::notifications)
        .get("/alarms/{id}/photos", alarms::photos)
        .get("/alarms/{id}/photos/{sha256}", alarms::photo)
        .get("/estates/{id}/alarm-chains", alarms::chains)
        .get("/estates/{id}/alarm-rules", alarms::estate_rules)
        .get("/devices/template.xlsx", alarms::import::template)
        .get("/devices/{id}", alarms::device)
        .get("/devices/{id}/telemetry", alarms::telemetry)
        .get("/estates/{id}/lifecycle", lifecycle::show)
        .get("/estates/{id}/assessment", lifecycle::assessment)
        .get("/calendar/deadline", lifecycle::deadline)
        .get("/rankings", ranking::list)
        .get("/rankings/{id}", ranking::get_one)
        .get("/rankings/{id}/export.xlsx", ranking::export_xlsx)
        .get("/plans", plans::list)
        .get("/plans/{id}", plans::get_one)
        .get("/projects", projects::list)
        .get("/projects/{id}", projects::get_one)
        .get("/projects/{id}/approval", projects::approval)
        .get("/approvals/late", projects::late)
        .get("/late", late::overview)
        .get("/statistics", statistics::page)
        .get("/statistics/months", statistics::months)
        .get("/statistics/counted", statistics::counted)
        .get("/statistics/export.xlsx", statistics::export_xlsx)
        .get("/statistics/places", statistics::places)
        .post("/statistics/chart.xlsx", statistics::chart_xlsx)
        .get("/work", work::mine)
        .get("/work/regions", work::regions)
        .get("/people", accounts::people)
        .get("/map/config", map::config)
        .get("/checklist", lifecycle::checklist)
        .get("/menu", schemes::menu)
        .get("/estates/{id}/scheme", schemes::show)
        .get("/estates/{id}/scheme/versions/{no}", schemes::version)
        .get("/estates/{id}/scheme/diff", schemes::diff)
        .get("/estates/{id}/scheme/export.xlsx", schemes::export_xlsx)
        .get("/estates/{id}/scheme/export.pdf", schemes::export_pdf)
        .get("/estates/{id}/acceptance", lifecycle::acceptance)
        .get("/estates/{id}/review", lifecycle::review)
        .get("/rectifications/summary", lifecycle::rectification_summary)
        .get("/estates/{id}/archive", archive::show)
        .get("/estates/{id}/photos", archive::photos)
        .get("/estates/{id}/archive/export.zip", archive::export_zip)
        .get("/documents/{id}/file", archive::file)
        .get("/estates/{id}/construction", construction::show)
        .get("/projects/{id}/progress", construction::project_progress)
        // Who may write is the domain's rule for each party (checked in the handlers).
        .post("/estates/{id}/construction/logs", construction::write_log)
        .post("/rectifications/{id}/evidence", lifecycle::add_evidence)
        .get("/decision-rules/{region}", decisions::rules)
        .get("/estates/{id}/decisions", decisions::list)
        .get("/decisions/{id}", decisions::show)
        .get("/decisions/{id}/verify", decisions::verify)
        .get("/decisions/{id}/scheme", decisions::scheme)
        .get("/estates/{id}/notices", notices::list)
        .get("/notices/{id}/scheme", notices::scheme)
        .get("/residents/me", residents::me)
        // Residents vote and comment for themselves; staff enter paper (checked in the handlers).
        .post("/decisions/{id}/ballots", decisions::cast)
        .post("/notices/{id}/comments", notices::comment)
        .get("/estates/{id}/surveys", surveys::list)
        .get("/surveys/{id}", surveys::show)
        .get("/surveys/{id}/results", surveys::results)
        .post("/surveys/{id}/answers", surveys::answer)
        .post("/surveys/{id}/photos", surveys::photos)
        .get("/public-pages/{region}", public::setting)
        .get("/estates/{id}/public-page", public::estate_state)
        .get("/archive-checklist", archive::checklist)
        // Residents, desks and property companies read them (`read_requests`, checked in the handler:
        // the path is shared with filing, which more roles may do).
        .get("/estates/{id}/requests", requests::list)
        .post("/estates/{id}/requests", requests::file)
        .get("/residents/requests", requests::mine)
        .post("/requests/{id}/rating", requests::rate)
        .get("/estates/{id}/funds", funds::plans::estate)
        .get("/chain-heads", chains::latest);
    let money = Routes::new(Some(Permission::ManageFunds))
        .get("/allocations", funds::list)
        .post("/allocations", funds::create)
        .post("/funds/subsidy-split", statistics::subsidy_split)
        .put("/projects/{id}/contract", funds::set_contract)
        .get("/projects/{id}/funds", funds::project)
        .get("/disbursements", funds::disbursements)
        .post("/disbursements", funds::request)
        .post("/disbursements/{id}/approve", funds::approve)
        .post("/ledger/{seq}/reverse", funds::reverse)
        .get("/ledger/verify", funds::verify)
        .get("/ledger/verify/job", funds::verify_job)
        .post("/ledger/verify/job", funds::start_verify)
        .get("/ledger/export.xlsx", funds::export_xlsx)
        .get("/projects/{id}/funding-plan", funds::plans::plan)
        .put("/projects/{id}/funding-plan", funds::plans::set_plan)
        .get("/projects/{id}/contributions", funds::plans::contributions)
        .post("/projects/{id}/contributions", funds::plans::contribute)
        .get("/projects/{id}/reconciliation", funds::plans::project_reconciliation)
        .get("/projects/{id}/payment-bases", funds::payment_bases)
        .get("/projects/{id}/payable-allocations", funds::payable_allocations)
        .get("/funds/reconciliation", funds::plans::region_reconciliation)
        .get("/funds/report", funds::reports::report)
        .get("/funds/by-source", funds::reports::by_source)
        .get("/funds/report.xlsx", funds::reports::report_xlsx)
        .get("/estates/{id}/upkeep", funds::upkeep::show)
        .post("/estates/{id}/upkeep/credits", funds::upkeep::credit)
        .post("/estates/{id}/upkeep/spendings", funds::upkeep::spend)
        .post("/upkeep-requests/{id}/approve", funds::upkeep::approve)
        .post("/upkeep-requests/{id}/refuse", funds::upkeep::refuse);
    let consult = Routes::new(Some(Permission::ConsultResidents))
        .post("/estates/{id}/decisions", decisions::create)
        .post("/decisions/{id}/close", decisions::close)
        .post("/estates/{id}/notices", notices::post_notice)
        .post("/notice-comments/{id}/answer", notices::answer)
        .post("/estates/{id}/invitations", residents::invitations)
        .post("/estates/{id}/invitations.pdf", residents::invitations_pdf)
        .get("/estates/{id}/residents", residents::bound)
        .post("/estates/{id}/residents/verify", residents::verify_owner)
        .post("/estates/{id}/surveys", surveys::create);
    // Hot spots are counts, with nobody's words or name: every level reads them for its region.
    // So is the category tree: names and working days, which every level that sets them reads.
    let hot = Routes::new(Some(Permission::ReadRegistry))
        .get("/requests/hotspots", requests::hotspots)
        .get("/request-categories", requests::categories);
    let requests = Routes::new(Some(Permission::ReadRequests))
        .get("/requests", requests::region)
        .get("/request-warnings", requests::warnings)
        .get("/requests/{id}", requests::show)
        .post("/requests/suggest-category", requests::suggest_category);
    let handle = Routes::new(Some(Permission::HandleRequests))
        .post("/requests/{id}/handle", requests::handle)
        .post("/requests/{id}/return", requests::give_back);
    let dispatch = Routes::new(Some(Permission::DispatchRequests))
        .post("/requests/{id}/transfer", requests::transfer)
        .post("/requests/{id}/merge", requests::merge)
        .post("/requests/{id}/category", requests::confirm_category)
        .post("/requests/{id}/callback", requests::callback)
        .post("/request-warnings/{id}/acknowledge", requests::acknowledge_warning)
        .post("/requests/hotline", requests::hotline::import)
        .get("/requests/hotline/unmatched", requests::hotline::unmatched)
        .get("/requests/digest.xlsx", requests::digest::export_xlsx)
        .post("/requests/hotline/unmatched/{id}/match", requests::hotline::match_order)
        .get("/request-units", requests::units);
    let units = Routes::new(Some(Permission::ManageUsers))
        .post("/request-units", requests::create_unit)
        .post("/request-units/{id}/members", requests::add_member)
        .get("/open311/clients", requests::open311::clients)
        .post("/open311/clients", requests::open311::create_client)
        .post("/open311/clients/{id}/revoke", requests::open311::revoke_client);
    let grid_desks = Routes::new(Some(Permission::DispatchRequests))
        .get("/grids", grids::list)
        .post("/grids", grids::save)
        .post("/grids/import", grids::import)
        .put("/grids/{id}/people", grids::set_people)
        .get("/grids/coverage", grids::coverage)
        .get("/grids/patrols", grids::patrols)
        .get("/grids/workload", grids::workload)
        .post("/grids/{id}/opinion-rounds", grids::opinion_round);
    let grid_field = Routes::new(None)
        .get("/grids/checklist", grids::checklist)
        .get("/grids/round", grids::round)
        .post("/grids/patrols", grids::record_patrol)
        .get("/estates/{id}/mediations", grids::mediations)
        .post("/estates/{id}/mediations", grids::record_mediation)
        .get("/estates/{id}/mediations/{mediation}/agreement", grids::agreement);
    let answers = Routes::new(Some(Permission::ReadResidentsAnswers))
        .get("/decisions/{id}/ballots", decisions::ballots)
        .get("/surveys/{id}/export.xlsx", surveys::export_xlsx);
    let assess = Routes::new(Some(Permission::Assess)).put("/estates/{id}/assessment", lifecycle::save_assessment);
    let advance = Routes::new(Some(Permission::AdvanceStage))
        .post("/estates/{id}/lifecycle", lifecycle::step)
        .post("/rankings", ranking::create)
        .post("/plans", plans::create)
        .post("/plans/{id}/estates", plans::add_estates)
        .post("/plans/{id}/carry-over", plans::carry_over)
        .post("/projects", projects::create)
        .post("/projects/{id}/parties", projects::add_party)
        .post("/projects/{id}/approval", projects::start_approval)
        .post("/projects/{id}/approval/{code}", projects::finish_step)
        .post("/estates/{id}/construction/permit-exception", construction::permit_exception)
        .post("/estates/{id}/scheme/versions", schemes::issue)
        .post("/estates/{id}/acceptance", lifecycle::open_acceptance)
        .get("/estates/{id}/acceptance/candidates", lifecycle::representative_candidates)
        .put("/estates/{id}/acceptance/representatives", lifecycle::set_representatives)
        .post("/estates/{id}/review", lifecycle::hold_review)
        .post("/rectifications/{id}/close", lifecycle::close_task);
    let draft = Routes::new(Some(Permission::DraftScheme)).put("/estates/{id}/scheme", schemes::save_draft);
    // Its body is limited by `max_file_mb` in `limit_bodies`, not by the default limit.
    let file = Routes::new(Some(Permission::FileDocuments)).add(
        "POST",
        "/estates/{id}/archive",
        post(archive::file_document).layer(axum::extract::DefaultBodyLimit::disable()),
    );
    let build = Routes::new(Some(Permission::RecordConstruction))
        .post("/estates/{id}/construction/nodes", construction::add_node)
        .put("/schedule-nodes/{id}", construction::report_progress)
        .post("/estates/{id}/construction/inspections", construction::inspect)
        .post("/estates/{id}/construction/design-changes", construction::request_change)
        .post("/design-changes/{id}/deliver", construction::deliver_change)
        .post("/estates/{id}/construction/materials", construction::record_material);
    let respond = Routes::new(Some(Permission::RespondAlarms))
        .post("/alarms/{id}/acknowledge", alarms::acknowledge)
        .post("/alarms/{id}/clear", alarms::clear)
        .post("/alarms/{id}/close", alarms::close)
        .post("/alarms/{id}/photos", alarms::add_photos);
    let sign = Routes::new(Some(Permission::SignAcceptance)).post("/estates/{id}/acceptance/signatures", lifecycle::sign_acceptance);
    let menu = Routes::new(Some(Permission::ManageMenu))
        .put("/menu/{region}/{code}", schemes::set_menu_item)
        .put("/checklist/{region}/{code}", lifecycle::set_checklist_item)
        .put("/decision-rules/{region}", decisions::set_rules)
        .put("/public-pages/{region}", public::set_setting)
        .put("/estates/{id}/public-page", public::set_estate_state)
        .put("/archive-checklist/{region}", archive::set_line)
        .put("/request-categories/{region}/{code}", requests::set_category)
        .put("/alarm-rules/{region}/{kind}", alarms::set_region_rules)
        .post("/request-categories/{region}/{code}/reset", requests::reset_category);
    let write = Routes::new(Some(Permission::WriteRegistry))
        .post("/estates", estates::create)
        .put("/estates/{id}", estates::update)
        .post("/estates/{id}/buildings", estates::create_building)
        .post("/estates/{id}/devices", alarms::register)
        .post("/devices/import", alarms::import::import)
        .get("/alarms/dead-letters", alarms::dead_letters)
        .put("/estates/{id}/alarm-chains/{alarm_type}", alarms::set_chain)
        .put("/estates/{id}/alarm-rules/{kind}", alarms::set_estate_rules)
        .post("/imports/{kind}", estates::import)
        .get("/imports/{kind}/template.xlsx", estates::template_xlsx)
        .get("/imports/{kind}/template.csv", estates::template_csv);
    let admin = Routes::new(Some(Permission::ManageUsers))
        .get("/users", accounts::list)
        .post("/users", accounts::create)
        .post("/users/{id}/password", accounts::set_password)
        .post("/users/{id}/estates", accounts::attach_estate)
        .put("/reports/deadlines", reports::set_deadline)
        .put("/evaluations/scheme", evaluation::set_scheme);
    let report = Routes::new(Some(Permission::ReportStatistics))
        .get("/reports/forms", reports::forms)
        .get("/reports/sheet", reports::show)
        .put("/reports/sheet", reports::save)
        .get("/reports/sheet.xlsx", reports::export_xlsx)
        .get("/reports/filings", reports::filings)
        .get("/reports/awaiting", reports::awaiting)
        .post("/reports/{id}/submit", reports::submit)
        .post("/reports/{id}/review", reports::review)
        .post("/reports/{id}/correct", reports::correct)
        .get("/evaluations/scheme", evaluation::scheme)
        .get("/evaluations", evaluation::list)
        .get("/evaluations/export.xlsx", evaluation::export_xlsx)
        .get("/evaluations/sheet", evaluation::show)
        .get("/evaluations/documents", evaluation::documents)
        .put("/evaluations/sheet", evaluation::save)
        .post("/evaluations/submit", evaluation::submit)
        .post("/evaluations/review", evaluation::review);
    let audit = Routes::new(Some(Permission::ReadAudit)).get("/audit", audit::list);
    let personal = Routes::new(Some(Permission::ReadPersonalData))
        .post("/estates/{id}/reveal", estates::reveal_contact)
        .post("/estates/{id}/dwellings/{dwelling_id}/reveal", estates::reveal_owners);
    let me =
        Routes::new(None).get("/auth/me", auth::me).post("/auth/password", auth::change_own_password).get("/auth/roles", accounts::roles);
    let open = Routes::public()
        .get("/health", health)
        .get("/health/live", monitoring::live)
        .get("/health/ready", monitoring::ready)
        .post("/auth/login", auth::login)
        .post("/auth/logout", auth::logout)
        .post("/residents/bind", residents::bind)
        .post("/residents/otp", residents::send_otp)
        .post("/residents/otp/verify", residents::verify_otp)
        .get("/public/estates/{code}", public::page)
        .get("/public/estates/{code}/photos/{id}", public::photo)
        .post("/camera-events/{serial}/{key}", alarms::camera::receive);
    (
        open,
        vec![
            read, write, admin, audit, personal, assess, advance, draft, menu, sign, file, build, consult, answers, requests, hot, handle,
            dispatch, units, grid_desks, grid_field, money, report, respond, me,
        ],
    )
}

/// The whole application: API, tiles, docs and web UI.
pub fn router(st: AppState) -> Router {
    let (open, groups) = api_groups();
    let protected = groups
        .into_iter()
        .fold(Router::new(), |all, group| all.merge(group.into_router()))
        .route_layer(middleware::from_fn_with_state(st.clone(), auth::authenticate));
    let api = open.into_router().merge(protected);
    let tiles = Router::new()
        .route("/tiles/{z}/{x}/{y}", get(map::tile))
        .route_layer(middleware::from_fn_with_state(st.clone(), auth::authenticate));
    let limits = BodyLimits { upload: st.config.max_upload_mb * 1024 * 1024, file: st.config.max_file_mb * 1024 * 1024 };
    let headers = SecurityHeaders {
        hsts: st.config.behind_https,
        csp: axum::http::HeaderValue::from_str(&content_security_policy(&map::basemap_origins(&st.config.basemap)))
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
    };
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .nest("/open311/v2", requests::open311::router())
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::docs_page))
        .route("/metrics", get(monitoring::metrics_page))
        .merge(tiles)
        .fallback(web::static_file)
        .with_state(st)
        .layer(middleware::from_fn(monitoring::count_requests))
        .layer(axum::extract::DefaultBodyLimit::max(limits.upload))
        // A body that stops arriving (nothing for 30 s) ends its request and frees the connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(HEADER_READ_TIMEOUT))
        .layer(middleware::from_fn_with_state(limits, limit_bodies))
        // A panicking handler's 500 is made inside the headers layer, so it carries them too.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(middleware::from_fn_with_state(headers, security_headers))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // The path only: a query may carry a secret (an Open311 api_key, as some clients send it).
            tracing::info_span!("request", method = %req.method(), path = %logged_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// The path as the request log shows it: a camera's key (the last segment of its event address)
/// is a secret and shown as `***`.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/api/v1/camera-events/").and_then(|rest| rest.split_once('/')) {
        Some((serial, _key)) => format!("/api/v1/camera-events/{serial}/***").into(),
        None => path.into(),
    }
}

/// What the pages may load: our own scripts and styles (Element Plus sets inline styles), pictures
/// from here, data and blob URLs (map canvases, previews) and a licensed raster basemap over HTTPS;
/// MapLibre runs its workers from blob URLs. Nothing may frame the pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The policy with a configured basemap's servers allowed to serve tiles (MapLibre fetches them).
fn content_security_policy(basemap_origins: &[String]) -> String {
    if basemap_origins.is_empty() {
        return CONTENT_SECURITY_POLICY.to_string();
    }
    let extra = basemap_origins.join(" ");
    CONTENT_SECURITY_POLICY
        .replace("connect-src 'self';", &format!("connect-src 'self' {extra};"))
        .replace("img-src 'self' data: blob: https:;", &format!("img-src 'self' data: blob: https: {extra};"))
}

/// What every answer carries, fixed at start.
#[derive(Clone)]
struct SecurityHeaders {
    hsts: bool,
    csp: axum::http::HeaderValue,
}

/// Sets the security headers on every answer (pages, API, files); HSTS only when served over HTTPS.
async fn security_headers(
    axum::extract::State(SecurityHeaders { hsts, csp }): axum::extract::State<SecurityHeaders>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    // API answers carry names, phones and money: no shared or browser cache keeps them unless
    // the route says otherwise (public photos, map tiles, archive files).
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    res
}

/// Refuses a request whose declared length is over the limit before reading any of its body
/// (bodies without a length are cut off by `DefaultBodyLimit` as they are read).
/// The largest bodies taken, in bytes: any request, and an archive document.
#[derive(Clone, Copy)]
struct BodyLimits {
    upload: usize,
    file: usize,
}

/// Refuses a body whose declared length is over its route's limit before reading it (an archive
/// document's body, which the default limit does not cover, is cut off as it streams by its handler).
async fn limit_bodies(
    axum::extract::State(limits): axum::extract::State<BodyLimits>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Result<axum::response::Response, error::ApiError> {
    let document = archive::is_document_upload(req.method(), req.uri().path());
    let limit = if document { limits.file } else { limits.upload };
    let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(error::ApiError::TooLarge(reason!("server.upload_too_large", limit = limit / (1024 * 1024))));
    }
    Ok(next.run(req).await)
}

/// Opens and migrates the database and loads regions if empty.
pub async fn open_database(config: &Config) -> Result<Db, huanxin_store::StoreError> {
    if config.database_url.trim().is_empty() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| huanxin_store::StoreError::Config(format!("cannot create {}: {e}", config.data_dir.display())))?;
    }
    let db = Db::connect(&config.effective_database_url()).await?.with_files(config.file_store()?);
    db.migrate().await?;
    let n = db.load_regions(&config.region_selection()).await?;
    if n > 0 {
        tracing::info!(regions = n, "regions loaded");
    }
    Ok(db)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    st: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let db = st.db.clone();
    jobs::spawn(&st);
    cluster::spawn_listener(&st);
    alarms::escalation::spawn(&st);
    match alarms::ingest::IngestConfig::from_config(&st.config) {
        Ok(Some(cfg)) => alarms::ingest::spawn_led(st.db.clone(), cfg, st.ingest.clone()),
        Ok(None) => {}
        Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
    }
    let warm = st.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.tiles.warm(&warm).await {
            tracing::warn!(error = %e, "map points not preloaded");
        }
    });
    serve_connections(router(st), listener, shutdown).await;
    db.close().await;
    Ok(())
}

/// How long a connection may take to send a request's headers, and may stay open with none: a
/// client that opens connections and sends nothing does not hold the server's sockets.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest the server waits for requests in flight (and live feeds) when stopping.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Accepts connections until `shutdown`, each served by hyper's HTTP/1.1 with the header read
/// timeout (axum's own `serve` has none, and its HTTP/2 detection waits for a first byte without
/// limit), then lets those open finish. HTTP/2 and TLS are the proxy's (docs/deploy.md).
async fn serve_connections(app: Router, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
            req
        });
        let conn = builder.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://hx:secret@db:5432/hx"), "postgres://hx:***@db:5432/hx");
        assert_eq!(redact_url("postgres://localhost/hx"), "postgres://localhost/hx");
    }

    #[test]
    fn a_cameras_key_never_reaches_the_request_log() {
        assert_eq!(logged_path("/api/v1/camera-events/CAM-1/s3cret"), "/api/v1/camera-events/CAM-1/***");
        assert_eq!(logged_path("/api/v1/camera-events/CAM-1/s3cret/x"), "/api/v1/camera-events/CAM-1/***");
        assert_eq!(logged_path("/api/v1/alarms/7"), "/api/v1/alarms/7");
        assert_eq!(logged_path("/api/v1/camera-events/CAM-1"), "/api/v1/camera-events/CAM-1");
    }

    #[test]
    fn one_county_given_as_a_number_is_read_as_its_code() {
        let c: Config = serde_json::from_value(serde_json::json!({"regions": 350521})).unwrap();
        assert_eq!(c.regions, "350521");
        let c: Config = serde_json::from_value(serde_json::json!({"regions": "350521,350502"})).unwrap();
        assert_eq!(c.regions, "350521,350502");
    }
}
