//! "What is late in my region": the dashboard's list of late approval steps, schedule nodes,
//! design changes and rectification tasks. Answers are kept for a few seconds per region and
//! dropped at once when this server records a change to any of them, so that a province's many
//! desks opening the dashboard together do not each recount the whole province.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use huanxin_domain::access::Scope;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer is trusted when nothing was recorded through this server (another server on
/// the same PostgreSQL may have recorded something).
const TTL: Duration = Duration::from_secs(10);

/// Items listed per kind.
const LIMIT: usize = 100;

/// An answer: when it was computed, after how many changes, and its JSON.
type Kept = (Instant, u64, Arc<Vec<u8>>);

/// Recent answers by region, and the count of changes recorded so far.
#[derive(Default)]
pub struct LateCache {
    entries: Mutex<HashMap<String, Kept>>,
    computing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    changes: AtomicU64,
}

impl LateCache {
    /// Forgets every answer: something late may have changed.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        let map = self.entries.lock().ok()?;
        let (at, changes, body) = map.get(key)?;
        (at.elapsed() < TTL && *changes == self.changes.load(Ordering::SeqCst)).then(|| body.clone())
    }

    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.computing.lock() {
            Ok(mut map) => {
                if map.len() > 1_000 {
                    map.retain(|_, m| Arc::strong_count(m) > 1);
                }
                map.entry(key.to_string()).or_default().clone()
            }
            Err(_) => Arc::default(),
        }
    }

    /// Keeps an answer computed when `changes` changes had been recorded, unless more came since.
    fn put(&self, key: String, changes: u64, body: Arc<Vec<u8>>) {
        if let Ok(mut map) = self.entries.lock() {
            if changes != self.changes.load(Ordering::SeqCst) {
                return;
            }
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, (Instant::now(), changes, body));
        }
    }
}

impl LateCache {
    /// The kept answer for `key`, else `compute`'s, kept; one computation per key at a time (the
    /// others wait for its answer).
    pub(crate) async fn kept_or<F, Fut>(&self, key: String, compute: F) -> Result<Arc<Vec<u8>>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, ApiError>>,
    {
        if let Some(body) = self.get(&key) {
            return Ok(body);
        }
        let slot = self.slot(&key);
        let _computing = slot.lock().await;
        if let Some(body) = self.get(&key) {
            return Ok(body);
        }
        let changes = self.changes.load(Ordering::SeqCst);
        let body = Arc::new(compute().await?);
        self.put(key, changes, body.clone());
        Ok(body)
    }
}

/// A kept JSON answer as a response.
pub(crate) fn json(body: Arc<Vec<u8>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.as_ref().clone()).into_response()
}

/// What is late in the caller's region today: approval steps past their deadline (working days),
/// schedule nodes behind plan, design changes past their two working days, rectification tasks past
/// their deadline; for each the total and the 100 most late.
#[utoipa::path(get, path = "/api/v1/late", tag = "lifecycle",
    responses((status = 200, description = "approvals, schedule_nodes, design_changes, rectifications: each {total, items}")))]
pub async fn overview(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Response, ApiError> {
    let today = huanxin_store::today();
    let key = match &cu.scope {
        Scope::Region(rc) => format!("{today}|r{}", rc.as_str()),
        Scope::Attached { user_id } => format!("{today}|u{user_id}"),
    };
    let body = st
        .late
        .kept_or(key, || async {
            let overview = st.db.late_overview(&cu.scope, crate::lifecycle::calendar()?, today, LIMIT).await?;
            serde_json::to_vec(&overview).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    Ok(json(body))
}
