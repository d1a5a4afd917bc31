//! The requests of a week in a region, for the weekly digest per street
//! (`domain::requests::digest`).

use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use serde::Serialize;

/// A request of the week, with its place, as the digest lists it (no names or phones).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DigestRequest {
    pub id: i64,
    pub community_code: String,
    pub estate_name: String,
    pub category: String,
    pub channel: String,
    pub status: String,
    pub due_on: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
    pub unit_name: String,
    pub supervised: bool,
    pub warned: bool,
}

impl Db {
    /// The requests filed in the caller's region from `from` to before `to` (UTC, as stored), by
    /// community and time.
    pub async fn digest_requests(&self, scope: &Scope, from: &str, to: &str) -> Result<Vec<DigestRequest>, StoreError> {
        let mut args = crate::args![from, to];
        let wh = crate::estates::scope_clause(scope, &mut args);
        self.fetch_all(
            &format!(
                "SELECT r.id, e.community_code, e.name AS estate_name, r.category, r.channel, r.status, r.due_on, r.created_at, r.resolved_at, \
                 r.unit_name, r.supervised_by IS NOT NULL AS supervised, \
                 EXISTS (SELECT 1 FROM request_warnings w WHERE w.request_id = r.id) AS warned \
                 FROM service_requests r JOIN estates e ON e.id = r.estate_id \
                 WHERE r.created_at >= $1 AND r.created_at < $2 AND {wh} ORDER BY e.community_code, r.created_at LIMIT 100000"
            ),
            args,
        )
        .await
    }
}
