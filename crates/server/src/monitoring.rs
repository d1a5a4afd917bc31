//! Telling operators how the server is (issue 18 §4, docs/deploy.md): liveness (the process
//! answers) and readiness (its database answers and takes writes, its broker is connected when one
//! is configured) for load balancers and orchestrators, and metrics for Prometheus at `/metrics`:
//! requests and their latencies by route, the job queue, the ingest's counts and the database pool.

use crate::auth::ClientAddr;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Latency buckets in seconds: a page's list is a few milliseconds, an export a few seconds.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's metrics recorder (one per process: tests start several servers in one).
fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("huanxin_http_request_duration_seconds".into()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Counts every request by method, route (as declared, so ids do not make new series) and status
/// class, and times it.
pub async fn count_requests(req: Request, next: Next) -> Response {
    if recorder().is_none() {
        return next.run(req).await;
    }
    let route = req.extensions().get::<MatchedPath>().map_or("other", |p| p.as_str()).to_string();
    // Any word is a method to hyper: only the standard ones make series of their own.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let res = next.run(req).await;
    let status = format!("{}xx", res.status().as_u16() / 100);
    metrics::counter!("huanxin_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("huanxin_http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    res
}

/// Liveness: the process answers (nothing else is asked, so a slow database does not get a live
/// server restarted).
#[utoipa::path(get, path = "/api/v1/health/live", tag = "system", responses((status = 200, description = "the process answers")))]
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "live", "server": crate::cluster::server_name(), "version": env!("CARGO_PKG_VERSION") }))
}

/// Readiness: whether this server should be sent requests: its database answers within 2 s and
/// takes writes, its file store answers within 2 s, and its MQTT broker is connected when it runs
/// the ingest. 503 names what is not.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "system",
    responses((status = 200, description = "ready: checks {database, writes, broker}"), (status = 503, description = "not ready; the failing check says why")))]
pub async fn ready(State(st): State<AppState>) -> Response {
    let database = match tokio::time::timeout(Duration::from_secs(2), st.db.scalar("SELECT CAST(1 AS BIGINT)", vec![])).await {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            "数据库无法访问 (the database does not answer; the server's log says why)".to_string()
        }
        Err(_) => "数据库 2 秒内未应答 (the database did not answer within 2 s)".to_string(),
    };
    let writes = match st.db.write_failure() {
        None => "ok".to_string(),
        Some(e) => format!("磁盘已满或无法写入 (writes are failing): {e}"),
    };
    let configured = !st.config.mqtt_url.trim().is_empty();
    // In a cluster one server runs the ingest; the others stand by, ready all the same.
    let leading = st.ingest.leading.load(Ordering::Relaxed);
    // Anyone may ask: the store's address and its error go to the log, not to the answer.
    let files = match tokio::time::timeout(Duration::from_secs(2), st.db.files().check()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the file store cannot be reached");
            "文件存储无法访问 (the file store cannot be reached; the server's log says why)".to_string()
        }
        Err(_) => "文件存储 2 秒内未应答 (the file store did not answer within 2 s)".to_string(),
    };
    let connected = st.ingest.connected.load(Ordering::Relaxed);
    let broker = match (configured, leading, connected) {
        (false, _, _) => "not configured",
        (true, false, _) => "standby",
        (true, true, true) => "ok",
        (true, true, false) => "未连接到 MQTT 服务器 (not connected to the broker)",
    };
    let ok = database == "ok" && writes == "ok" && files == "ok" && !(configured && leading && !connected);
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not ready" },
        "server": crate::cluster::server_name(),
        "checks": { "database": database, "writes": writes, "files": files, "broker": broker },
    });
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

/// Prometheus's text format. Open to this machine (or through a trusted proxy, from its client's
/// address being this machine) or to a bearer of `metrics_token`.
pub async fn metrics_page(State(st): State<AppState>, ClientAddr(ip): ClientAddr, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = st.config.metrics_token.trim();
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Without a token: this machine's own scraper, not a client a proxy on this machine forwards.
    let allowed = if token.is_empty() {
        ip.is_loopback() && !headers.contains_key("x-forwarded-for") && !headers.contains_key("forwarded")
    } else {
        bearer.is_some_and(|b| crate::alarms::camera::same_secret(b.as_bytes(), token.as_bytes()))
    };
    if !allowed {
        return Err(ApiError::Unauthenticated);
    }
    let Some(handle) = recorder() else {
        return Err(ApiError::Internal("the metrics recorder could not be installed".into()));
    };
    gauges(&st).await;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response())
}

/// Reads what is counted elsewhere into gauges, at the moment of the scrape.
async fn gauges(st: &AppState) {
    if let Ok(jobs) = st.db.job_counts().await {
        metrics::gauge!("huanxin_jobs", "state" => "queued").set(jobs.queued as f64);
        metrics::gauge!("huanxin_jobs", "state" => "running").set(jobs.running as f64);
        metrics::gauge!("huanxin_jobs_failed_last_day").set(jobs.failed_last_day as f64);
    }
    let (open, idle) = st.db.pool_connections();
    metrics::gauge!("huanxin_db_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("huanxin_db_connections", "state" => "idle").set(idle as f64);
    let i = &st.ingest;
    metrics::gauge!("huanxin_ingest_leading").set(if i.leading.load(Ordering::Relaxed) { 1.0 } else { 0.0 });
    metrics::gauge!("huanxin_ingest_connected").set(if i.connected.load(Ordering::Relaxed) { 1.0 } else { 0.0 });
    for (name, v) in [
        ("huanxin_ingest_received_total", &i.received),
        ("huanxin_ingest_readings_stored_total", &i.readings_stored),
        ("huanxin_ingest_alarms_raised_total", &i.alarms_raised),
        ("huanxin_ingest_dead_letters_total", &i.dead_letters),
        ("huanxin_ingest_rate_limited_total", &i.rate_limited),
        ("huanxin_ingest_batches_total", &i.batches),
    ] {
        metrics::counter!(name).absolute(v.load(Ordering::Relaxed));
    }
    metrics::gauge!("huanxin_alarm_feeds_open").set(st.alarm_feed.open_feeds() as f64);
    metrics::gauge!("huanxin_uploads_running").set(st.uploads.running() as f64);
}
