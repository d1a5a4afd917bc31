//! Early warnings and hot spots of requests (分析研判、预警): a warning is raised as a request is
//! filed (in the same transaction), when its text names a danger or when its estate's requests of
//! its kind pile up; the rule is `huanxin_domain::requests::warnings`.

use super::{viewer_clause, ServiceRequest, Viewer};
use crate::audit::{Actor, Change};
use crate::db::{Db, Tx};
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::requests::warnings::{self as rules, WarningKind};
use serde::Serialize;
use std::collections::HashMap;

/// A warning as stored, with its estate's name.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestWarning {
    pub id: i64,
    pub estate_id: i64,
    pub estate_name: String,
    /// The estate's community: whose category tree names the kind.
    pub community_code: String,
    pub category: String,
    /// `danger`, `threshold` or `surge`.
    pub kind: String,
    /// The request that raised it.
    pub request_id: i64,
    /// The danger word, or the counts as "7 days / 90 days before".
    pub detail: String,
    /// Requests of the kind in the estate in the 7 days up to it.
    pub recent: i64,
    /// In the 90 days before those 7.
    pub before: i64,
    pub created_at: String,
    /// How many people the text message reached.
    pub notified: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

const COLS: &str =
    "w.id, w.estate_id, e.name AS estate_name, e.community_code, w.category, w.kind, w.request_id, w.detail, w.recent, w.before_count AS before, \
    w.created_at, w.notified, w.acknowledged_by, w.acknowledged_at";

/// Requests by kind and by estate in a window, for the hot-spot charts and map.
#[derive(Debug, Clone, Serialize)]
pub struct HotSpots {
    pub days: i64,
    pub since: String,
    pub total: i64,
    /// (category, count), most first.
    pub by_category: Vec<(String, i64)>,
    /// The estates with the most requests, most first (at most 200).
    pub by_estate: Vec<EstateHotSpot>,
}

/// One estate's requests in the window.
#[derive(Debug, Clone, Serialize)]
pub struct EstateHotSpot {
    pub estate_id: i64,
    pub estate_name: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub count: i64,
    /// Its most frequent kind (the first by code among equals).
    pub top_category: String,
}

fn days_ago(days: i64) -> String {
    (crate::clock::utc_now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Raises the warnings a newly filed request calls for, in the filing's transaction: a danger once
/// per estate and word in 24 hours, a pile-up once per estate and kind in 7 days.
pub(crate) async fn raise(tx: &mut Tx, r: &ServiceRequest) -> Result<Vec<i64>, StoreError> {
    let mut raised = Vec::new();
    let now = crate::now();
    let week = days_ago(7);
    if let Some(word) = rules::danger_word(&r.text) {
        let seen = tx
            .scalar(
                "SELECT COUNT(*) FROM request_warnings WHERE estate_id = $1 AND kind = 'danger' AND detail = $2 AND created_at >= $3",
                crate::args![r.estate_id, word, days_ago(1)],
            )
            .await?;
        if seen == 0 {
            raised.push(insert(tx, r, WarningKind::Danger, word, 0, 0, &now).await?);
        }
    }
    let recent = tx
        .scalar(
            "SELECT COUNT(*) FROM service_requests WHERE estate_id = $1 AND category = $2 AND created_at >= $3",
            crate::args![r.estate_id, r.category.as_str(), week.as_str()],
        )
        .await?;
    let before = tx
        .scalar(
            "SELECT COUNT(*) FROM service_requests WHERE estate_id = $1 AND category = $2 AND created_at >= $3 AND created_at < $4",
            crate::args![r.estate_id, r.category.as_str(), days_ago(7 + rules::BASELINE_DAYS), week.as_str()],
        )
        .await?;
    if let Some(kind) = rules::pile_up(recent, before) {
        let seen = tx
            .scalar(
                "SELECT COUNT(*) FROM request_warnings WHERE estate_id = $1 AND category = $2 AND kind <> 'danger' AND created_at >= $3",
                crate::args![r.estate_id, r.category.as_str(), week.as_str()],
            )
            .await?;
        if seen == 0 {
            raised.push(insert(tx, r, kind, &format!("{recent}/{before}"), recent, before, &now).await?);
        }
    }
    Ok(raised)
}

async fn insert(
    tx: &mut Tx,
    r: &ServiceRequest,
    kind: WarningKind,
    detail: &str,
    recent: i64,
    before: i64,
    now: &str,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = tx
        .fetch_one(
            "INSERT INTO request_warnings (estate_id, category, kind, request_id, detail, recent, before_count, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            crate::args![r.estate_id, r.category.as_str(), kind.as_str(), r.id, detail, recent, before, now],
        )
        .await?;
    Ok(id)
}

impl Db {
    /// One warning by id (for the message and the answer).
    pub async fn request_warning(&self, id: i64) -> Result<RequestWarning, StoreError> {
        self.fetch_one(
            &format!("SELECT {COLS} FROM request_warnings w JOIN estates e ON e.id = w.estate_id WHERE w.id = $1"),
            crate::args![id],
        )
        .await
    }

    /// Who a warning goes to by text message: the staff of the unit the request is routed to, and
    /// the community's and street's desks and grid workers over the estate (name, phone); each once,
    /// only those with a phone number.
    pub async fn warning_recipients(&self, request_id: i64) -> Result<Vec<(String, String)>, StoreError> {
        let (unit, community): (Option<i64>, String) = self
            .fetch_one(
                "SELECT r.unit_id, e.community_code FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.id = $1",
                crate::args![request_id],
            )
            .await?;
        let street = format!("{}000", community.get(..9).unwrap_or(""));
        let rows: Vec<(String, String)> = self
            .fetch_all(
                "SELECT u.username, u.phone FROM users u WHERE u.active AND u.phone <> '' AND ( \
                 u.id IN (SELECT m.user_id FROM unit_members m WHERE m.unit_id = $1) \
                 OR (u.region_code = $2 AND u.role IN ('community_staff', 'grid_worker')) \
                 OR (u.region_code = $3 AND u.role = 'street_staff')) ORDER BY u.id",
                crate::args![unit.unwrap_or(-1), community.as_str(), street.as_str()],
            )
            .await?;
        Ok(rows)
    }

    /// Records how many people a warning's message reached.
    pub async fn warning_notified(&self, id: i64, reached: i64) -> Result<(), StoreError> {
        self.execute("UPDATE request_warnings SET notified = $1 WHERE id = $2", crate::args![reached, id]).await?;
        Ok(())
    }

    /// The warnings on the requests the viewer sees, the unanswered first, newest first.
    pub async fn request_warnings(&self, viewer: Viewer<'_>, open_only: bool) -> Result<Vec<RequestWarning>, StoreError> {
        let mut args = Vec::new();
        let wh = viewer_clause(viewer, &mut args);
        let open = if open_only { " AND w.acknowledged_at IS NULL" } else { "" };
        self.fetch_all(
            &format!(
                "SELECT {COLS} FROM request_warnings w JOIN estates e ON e.id = w.estate_id JOIN service_requests r ON r.id = w.request_id \
                 WHERE {wh}{open} ORDER BY CASE WHEN w.acknowledged_at IS NULL THEN 0 ELSE 1 END, w.id DESC LIMIT 200"
            ),
            args,
        )
        .await
    }

    /// A desk takes note of a warning on an estate of its region (once).
    pub async fn acknowledge_warning(&self, actor: &Actor, scope: &Scope, id: i64) -> Result<RequestWarning, StoreError> {
        let w = self.request_warning(id).await?;
        let (community,): (String,) = self.fetch_one("SELECT community_code FROM estates WHERE id = $1", crate::args![w.estate_id]).await?;
        if !scope.covers_code(&community) {
            return Err(StoreError::NotFound);
        }
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                "UPDATE request_warnings SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3 AND acknowledged_at IS NULL",
                crate::args![actor.username.as_str(), crate::now(), id],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(reason!("requests.warning_acknowledged")));
        }
        tx.audit(
            actor,
            Change {
                action: "acknowledge",
                entity: "request_warning",
                entity_id: id.to_string(),
                region_code: community,
                before: None,
                after: Some(serde_json::json!({"kind": w.kind, "request_id": w.request_id})),
            },
        )
        .await?;
        tx.commit().await?;
        self.request_warning(id).await
    }

    /// Requests the viewer sees filed in the last `days` days, by kind and by estate: one grouped
    /// read of the window (by estate and kind), summed here, and the leading estates' names.
    pub async fn request_hotspots(&self, viewer: Viewer<'_>, days: i64) -> Result<HotSpots, StoreError> {
        let since = days_ago(days);
        let mut args = crate::args![since.as_str()];
        let wh = viewer_clause(viewer, &mut args);
        let groups: Vec<(i64, String, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT r.estate_id, r.category, COUNT(*) AS n FROM service_requests r JOIN estates e ON e.id = r.estate_id \
                     WHERE r.created_at >= $1 AND {wh} GROUP BY r.estate_id, r.category"
                ),
                args,
            )
            .await?;
        let mut kinds: HashMap<&str, i64> = HashMap::new();
        let mut estates: HashMap<i64, (i64, &str, i64)> = HashMap::new(); // total, top kind, its count
        for (estate, category, n) in &groups {
            *kinds.entry(category.as_str()).or_default() += n;
            let e = estates.entry(*estate).or_insert((0, category.as_str(), 0));
            e.0 += n;
            if *n > e.2 || (*n == e.2 && category.as_str() < e.1) {
                (e.1, e.2) = (category.as_str(), *n);
            }
        }
        let mut by_category: Vec<(String, i64)> = kinds.into_iter().map(|(c, n)| (c.to_string(), n)).collect();
        by_category.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut leading: Vec<(i64, i64, String)> = estates.into_iter().map(|(id, (n, top, _))| (id, n, top.to_string())).collect();
        leading.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        leading.truncate(200);
        let mut by_estate = Vec::with_capacity(leading.len());
        if !leading.is_empty() {
            let ids: Vec<String> = leading.iter().map(|(id, _, _)| id.to_string()).collect();
            let places: Vec<(i64, String, Option<f64>, Option<f64>)> =
                self.fetch_all(&format!("SELECT id, name, lon, lat FROM estates WHERE id IN ({})", ids.join(", ")), vec![]).await?;
            let places: HashMap<i64, (String, Option<f64>, Option<f64>)> =
                places.into_iter().map(|(id, n, lo, la)| (id, (n, lo, la))).collect();
            for (id, count, top_category) in leading {
                let (estate_name, lon, lat) = places.get(&id).cloned().unwrap_or_default();
                by_estate.push(EstateHotSpot { estate_id: id, estate_name, lon, lat, count, top_category });
            }
        }
        let total = by_category.iter().map(|(_, n)| n).sum();
        Ok(HotSpots { days, since, total, by_category, by_estate })
    }
}
