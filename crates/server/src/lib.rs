//! Huanxin's HTTP server: the JSON API under `/api/v1`, map tiles, and the embedded web UI.
//!
//! One module per domain area, the same names as in the domain and store crates. Every API route
//! except sign-in and health passes through [`auth::authenticate`], which fixes the caller's scope.

pub mod accounts;
pub mod archive;
pub mod audit;
pub mod auth;
pub mod construction;
pub mod decisions;
pub mod demo;
pub mod error;
pub mod estates;
pub mod funds;
pub mod late;
pub mod lifecycle;
pub mod map;
pub mod notices;
pub mod openapi;
pub mod pdf;
pub mod plans;
pub mod projects;
pub mod public;
pub mod ranking;
pub mod regions;
pub mod requests;
pub mod residents;
pub mod schemes;
pub mod sms;
pub mod surveys;
pub mod tabular;
pub mod web;

use axum::http::HeaderName;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use huanxin_domain::access::Permission;
use huanxin_store::regions::RegionSelection;
use huanxin_store::Db;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
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
    /// Which regions to load: `all`, or county codes separated by commas (6 digits each).
    #[serde(deserialize_with = "text_or_number")]
    pub regions: String,
    /// Chinese font for PDF (`path` or `path#index` in a collection); empty: the system's Noto CJK or WenQuanYi.
    pub pdf_font: String,
    /// Where residents' one-time codes are POSTed as JSON besides the log (empty: the log only).
    pub sms_webhook: String,
    /// The address residents and printed invitation slips open, e.g. `https://hx.example.gov.cn`
    /// (empty: `http://` and the `bind` address). Never taken from a request's Host header.
    pub public_url: String,
    /// Served over HTTPS (directly or by a proxy): the session cookie is `Secure` and HSTS is sent.
    pub behind_https: bool,
    /// Proxies whose `X-Forwarded-For` names the client (IP addresses or CIDR blocks, separated by
    /// commas); empty: the connection's own address is the client's.
    #[serde(deserialize_with = "text_or_number")]
    pub trusted_proxies: String,
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
            regions: "all".into(),
            pdf_font: String::new(),
            sms_webhook: String::new(),
            public_url: String::new(),
            behind_https: false,
            trusted_proxies: String::new(),
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
    /// The ledger check running in the background (see [`funds::LedgerJob`]).
    pub ledger_job: Arc<std::sync::Mutex<funds::LedgerJob>>,
    /// A real hash to verify against when the user name is unknown (constant-time sign-in).
    pub dummy_hash: Arc<String>,
    /// Residents' one-time codes go out through it.
    pub sms: sms::SmsGateway,
}

impl AppState {
    /// State for a database that is already migrated.
    pub fn new(db: Db, config: Config) -> Result<AppState, error::ApiError> {
        let sms = sms::SmsGateway::new(&config.sms_webhook);
        Ok(AppState {
            db,
            config: Arc::new(config),
            sessions: Arc::new(auth::SessionCache::default()),
            tiles: Arc::new(map::TileCache::default()),
            totals: Arc::new(huanxin_store::estates::TotalsCache::default()),
            late: Arc::new(late::LateCache::default()),
            ledger_job: Arc::default(),
            sms,
            dummy_hash: Arc::new(auth::hash_password("not-a-real-password")?),
        })
    }
}

impl AppState {
    /// Drops what was derived from the registry (map points, list totals) after a change.
    pub fn registry_changed(&self) {
        self.tiles.invalidate();
        self.totals.clear();
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

/// The whole application: API, tiles, docs and web UI.
pub fn router(st: AppState) -> Router {
    let read = with_permission(
        Router::new()
            .route("/regions/{code}", get(regions::get_region))
            .route("/regions/{code}/children", get(regions::children))
            .route("/regions/{code}/subtree", get(regions::subtree))
            .route("/estates", get(estates::list))
            .route("/estates/export.xlsx", get(estates::export_xlsx))
            .route("/estates/summary", get(estates::summary))
            .route("/estates/{id}", get(estates::get_one))
            .route("/estates/{id}/buildings", get(estates::buildings))
            .route("/estates/{id}/dwellings", get(estates::dwellings))
            .route("/estates/{id}/lifecycle", get(lifecycle::show))
            .route("/estates/{id}/assessment", get(lifecycle::assessment))
            .route("/calendar/deadline", get(lifecycle::deadline))
            .route("/rankings", get(ranking::list))
            .route("/rankings/{id}", get(ranking::get_one))
            .route("/rankings/{id}/export.xlsx", get(ranking::export_xlsx))
            .route("/plans", get(plans::list))
            .route("/plans/{id}", get(plans::get_one))
            .route("/projects", get(projects::list))
            .route("/projects/{id}", get(projects::get_one))
            .route("/projects/{id}/approval", get(projects::approval))
            .route("/approvals/late", get(projects::late))
            .route("/late", get(late::overview))
            .route("/checklist", get(lifecycle::checklist))
            .route("/menu", get(schemes::menu))
            .route("/estates/{id}/scheme", get(schemes::show))
            .route("/estates/{id}/scheme/versions/{no}", get(schemes::version))
            .route("/estates/{id}/scheme/diff", get(schemes::diff))
            .route("/estates/{id}/scheme/export.xlsx", get(schemes::export_xlsx))
            .route("/estates/{id}/scheme/export.pdf", get(schemes::export_pdf))
            .route("/estates/{id}/acceptance", get(lifecycle::acceptance))
            .route("/estates/{id}/review", get(lifecycle::review))
            .route("/rectifications/summary", get(lifecycle::rectification_summary))
            .route("/estates/{id}/archive", get(archive::show))
            .route("/estates/{id}/photos", get(archive::photos))
            .route("/estates/{id}/archive/export.zip", get(archive::export_zip))
            .route("/documents/{id}/file", get(archive::file))
            .route("/estates/{id}/construction", get(construction::show))
            .route("/projects/{id}/progress", get(construction::project_progress))
            // Who may write is the domain's rule for each party (checked in the handlers).
            .route("/estates/{id}/construction/logs", post(construction::write_log))
            .route("/rectifications/{id}/evidence", post(lifecycle::add_evidence))
            .route("/decision-rules/{region}", get(decisions::rules))
            .route("/estates/{id}/decisions", get(decisions::list))
            .route("/decisions/{id}", get(decisions::show))
            .route("/decisions/{id}/verify", get(decisions::verify))
            .route("/estates/{id}/notices", get(notices::list))
            .route("/residents/me", get(residents::me))
            // Residents vote and comment for themselves; staff enter paper (checked in the handlers).
            .route("/decisions/{id}/ballots", post(decisions::cast))
            .route("/notices/{id}/comments", post(notices::comment))
            .route("/estates/{id}/surveys", get(surveys::list))
            .route("/surveys/{id}", get(surveys::show))
            .route("/surveys/{id}/results", get(surveys::results))
            .route("/surveys/{id}/answers", post(surveys::answer))
            .route("/surveys/{id}/photos", post(surveys::photos))
            .route("/public-pages/{region}", get(public::setting))
            .route("/estates/{id}/public-page", get(public::estate_state))
            .route("/archive-checklist", get(archive::checklist))
            .route("/estates/{id}/requests", get(requests::list).post(requests::file))
            .route("/residents/requests", get(requests::mine))
            .route("/requests/{id}/rating", post(requests::rate))
            .route("/estates/{id}/funds", get(funds::plans::estate)),
        Permission::ReadRegistry,
    );
    let money = with_permission(
        Router::new()
            .route("/allocations", get(funds::list).post(funds::create))
            .route("/projects/{id}/contract", axum::routing::put(funds::set_contract))
            .route("/projects/{id}/funds", get(funds::project))
            .route("/disbursements", get(funds::disbursements).post(funds::request))
            .route("/disbursements/{id}/approve", post(funds::approve))
            .route("/ledger/{seq}/reverse", post(funds::reverse))
            .route("/ledger/verify", get(funds::verify))
            .route("/ledger/verify/job", get(funds::verify_job).post(funds::start_verify))
            .route("/ledger/export.xlsx", get(funds::export_xlsx))
            .route("/projects/{id}/funding-plan", get(funds::plans::plan).put(funds::plans::set_plan))
            .route("/projects/{id}/contributions", get(funds::plans::contributions).post(funds::plans::contribute))
            .route("/projects/{id}/reconciliation", get(funds::plans::project_reconciliation))
            .route("/projects/{id}/payment-bases", get(funds::payment_bases))
            .route("/projects/{id}/payable-allocations", get(funds::payable_allocations))
            .route("/funds/reconciliation", get(funds::plans::region_reconciliation))
            .route("/funds/report", get(funds::reports::report))
            .route("/funds/report.xlsx", get(funds::reports::report_xlsx))
            .route("/estates/{id}/upkeep", get(funds::upkeep::show))
            .route("/estates/{id}/upkeep/credits", post(funds::upkeep::credit))
            .route("/estates/{id}/upkeep/spendings", post(funds::upkeep::spend)),
        Permission::ManageFunds,
    );
    let consult = with_permission(
        Router::new()
            .route("/estates/{id}/decisions", post(decisions::create))
            .route("/decisions/{id}/close", post(decisions::close))
            .route("/estates/{id}/notices", post(notices::post_notice))
            .route("/notice-comments/{id}/answer", post(notices::answer))
            .route("/estates/{id}/invitations", post(residents::invitations))
            .route("/estates/{id}/invitations.pdf", post(residents::invitations_pdf))
            .route("/estates/{id}/residents", get(residents::bound))
            .route("/estates/{id}/residents/verify", post(residents::verify_owner))
            .route("/requests/{id}/handle", post(requests::handle))
            .route("/estates/{id}/surveys", post(surveys::create)),
        Permission::ConsultResidents,
    );
    let answers = with_permission(
        Router::new()
            .route("/decisions/{id}/ballots", get(decisions::ballots))
            .route("/surveys/{id}/export.xlsx", get(surveys::export_xlsx)),
        Permission::ReadResidentsAnswers,
    );
    let assess = with_permission(
        Router::new().route("/estates/{id}/assessment", axum::routing::put(lifecycle::save_assessment)),
        Permission::Assess,
    );
    let advance = with_permission(
        Router::new()
            .route("/estates/{id}/lifecycle", post(lifecycle::step))
            .route("/rankings", post(ranking::create))
            .route("/plans", post(plans::create))
            .route("/plans/{id}/estates", post(plans::add_estates))
            .route("/plans/{id}/carry-over", post(plans::carry_over))
            .route("/projects", post(projects::create))
            .route("/projects/{id}/parties", post(projects::add_party))
            .route("/projects/{id}/approval", post(projects::start_approval))
            .route("/projects/{id}/approval/{code}", post(projects::finish_step))
            .route("/estates/{id}/construction/permit-exception", post(construction::permit_exception))
            .route("/estates/{id}/scheme/versions", post(schemes::issue))
            .route("/estates/{id}/acceptance", post(lifecycle::open_acceptance))
            .route("/estates/{id}/acceptance/candidates", get(lifecycle::representative_candidates))
            .route("/estates/{id}/acceptance/representatives", axum::routing::put(lifecycle::set_representatives))
            .route("/estates/{id}/review", post(lifecycle::hold_review))
            .route("/rectifications/{id}/close", post(lifecycle::close_task)),
        Permission::AdvanceStage,
    );
    let draft =
        with_permission(Router::new().route("/estates/{id}/scheme", axum::routing::put(schemes::save_draft)), Permission::DraftScheme);
    let file = with_permission(Router::new().route("/estates/{id}/archive", post(archive::file_document)), Permission::FileDocuments);
    let build = with_permission(
        Router::new()
            .route("/estates/{id}/construction/nodes", post(construction::add_node))
            .route("/schedule-nodes/{id}", axum::routing::put(construction::report_progress))
            .route("/estates/{id}/construction/inspections", post(construction::inspect))
            .route("/estates/{id}/construction/design-changes", post(construction::request_change))
            .route("/design-changes/{id}/deliver", post(construction::deliver_change))
            .route("/estates/{id}/construction/materials", post(construction::record_material)),
        Permission::RecordConstruction,
    );
    let sign = with_permission(
        Router::new().route("/estates/{id}/acceptance/signatures", post(lifecycle::sign_acceptance)),
        Permission::SignAcceptance,
    );
    let menu = with_permission(
        Router::new()
            .route("/menu/{region}/{code}", axum::routing::put(schemes::set_menu_item))
            .route("/checklist/{region}/{code}", axum::routing::put(lifecycle::set_checklist_item))
            .route("/decision-rules/{region}", axum::routing::put(decisions::set_rules))
            .route("/public-pages/{region}", axum::routing::put(public::set_setting))
            .route("/estates/{id}/public-page", axum::routing::put(public::set_estate_state))
            .route("/archive-checklist/{region}", axum::routing::put(archive::set_line)),
        Permission::ManageMenu,
    );
    let write = with_permission(
        Router::new()
            .route("/estates", post(estates::create))
            .route("/estates/{id}", axum::routing::put(estates::update))
            .route("/estates/{id}/buildings", post(estates::create_building))
            .route("/imports/{kind}", post(estates::import))
            .route("/imports/{kind}/template.xlsx", get(estates::template_xlsx))
            .route("/imports/{kind}/template.csv", get(estates::template_csv)),
        Permission::WriteRegistry,
    );
    let admin = with_permission(
        Router::new()
            .route("/users", get(accounts::list).post(accounts::create))
            .route("/users/{id}/password", post(accounts::set_password))
            .route("/users/{id}/estates", post(accounts::attach_estate)),
        Permission::ManageUsers,
    );
    let audit = with_permission(Router::new().route("/audit", get(audit::list)), Permission::ReadAudit);
    let personal = with_permission(
        Router::new()
            .route("/estates/{id}/reveal", post(estates::reveal_contact))
            .route("/estates/{id}/dwellings/{dwelling_id}/reveal", post(estates::reveal_owners)),
        Permission::ReadPersonalData,
    );
    let me = Router::new()
        .route("/auth/me", get(auth::me))
        .route("/auth/password", post(auth::change_own_password))
        .route("/auth/roles", get(accounts::roles));
    let protected = read
        .merge(write)
        .merge(admin)
        .merge(audit)
        .merge(personal)
        .merge(assess)
        .merge(advance)
        .merge(draft)
        .merge(menu)
        .merge(sign)
        .merge(file)
        .merge(build)
        .merge(consult)
        .merge(answers)
        .merge(money)
        .merge(me)
        .route_layer(middleware::from_fn_with_state(st.clone(), auth::authenticate));
    let api = Router::new()
        .route("/health", get(health))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/residents/bind", post(residents::bind))
        .route("/residents/otp", post(residents::send_otp))
        .route("/residents/otp/verify", post(residents::verify_otp))
        .route("/public/estates/{code}", get(public::page))
        .route("/public/estates/{code}/photos/{id}", get(public::photo))
        .merge(protected);
    let tiles = Router::new()
        .route("/tiles/{z}/{x}/{y}", get(map::tile))
        .route_layer(middleware::from_fn_with_state(st.clone(), auth::authenticate));
    let body_limit = st.config.max_upload_mb * 1024 * 1024;
    let hsts = st.config.behind_https;
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::docs_page))
        .merge(tiles)
        .fallback(web::static_file)
        .with_state(st)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(body_limit, refuse_oversize))
        .layer(middleware::from_fn_with_state(hsts, security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
}

/// What the pages may load: our own scripts and styles (Element Plus sets inline styles), pictures
/// from here, data and blob URLs (map canvases, previews) and a licensed raster basemap over HTTPS;
/// MapLibre runs its workers from blob URLs. Nothing may frame the pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; child-src 'self' blob:; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Sets the security headers on every answer (pages, API, files); HSTS only when served over HTTPS.
async fn security_headers(
    axum::extract::State(hsts): axum::extract::State<bool>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
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
async fn refuse_oversize(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Result<axum::response::Response, error::ApiError> {
    let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(error::ApiError::TooLarge(format!("the request is larger than the upload limit of {} MiB", limit / (1024 * 1024))));
    }
    Ok(next.run(req).await)
}

/// Opens and migrates the database and loads regions if empty.
pub async fn open_database(config: &Config) -> Result<Db, huanxin_store::StoreError> {
    if config.database_url.trim().is_empty() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| huanxin_store::StoreError::Config(format!("cannot create {}: {e}", config.data_dir.display())))?;
    }
    let db = Db::connect(&config.effective_database_url()).await?;
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
    let warm = st.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.tiles.warm(&warm).await {
            tracing::warn!(error = %e, "map points not preloaded");
        }
    });
    let app = router(st).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    db.close().await;
    Ok(())
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
    fn one_county_given_as_a_number_is_read_as_its_code() {
        let c: Config = serde_json::from_value(serde_json::json!({"regions": 350521})).unwrap();
        assert_eq!(c.regions, "350521");
        let c: Config = serde_json::from_value(serde_json::json!({"regions": "350521,350502"})).unwrap();
        assert_eq!(c.regions, "350521,350502");
    }
}
