//! Service requests (民生接待 / 诉求) of an estate: filed by residents from the phone or taken by
//! staff, moved on by staff with an answer, rated by the resident. The rules are
//! `huanxin_domain::requests`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::requests::{self as rules, Category, Refusal, Status};
use serde::Serialize;

/// A request as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ServiceRequest {
    pub id: i64,
    pub estate_id: i64,
    pub dwelling_id: Option<i64>,
    pub author: String,
    pub channel: String,
    pub category: String,
    pub text: String,
    pub status: String,
    pub due_on: String,
    pub created_at: String,
    pub answer: String,
    pub handled_by: Option<String>,
    pub handled_at: Option<String>,
    pub resolved_at: Option<String>,
    pub rating: Option<i64>,
}

const COLS: &str = "id, estate_id, dwelling_id, author, channel, category, text, status, due_on, created_at, answer, handled_by, \
    handled_at, resolved_at, rating";

/// A request with its estate's name, as listed for a region.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestInRegion {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub request: ServiceRequest,
    pub estate_name: String,
}

/// Which requests a region's list shows: a status (`open` for every unresolved one), a category, a page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RequestFilter {
    pub status: Option<String>,
    pub category: Option<String>,
    /// From 1.
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Why a request step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    /// Files a request for an estate in scope; due in the category's working days.
    #[allow(clippy::too_many_arguments)]
    pub async fn file_request(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        dwelling_id: Option<i64>,
        author: &str,
        channel: &str,
        category: Category,
        text: &str,
    ) -> Result<ServiceRequest, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        if let Some(d) = dwelling_id {
            if self.scalar("SELECT COUNT(*) FROM dwellings WHERE id = $1 AND estate_id = $2", crate::args![d, estate_id]).await? == 0 {
                return Err(huanxin_domain::ValidationErrors::one("dwelling_id", d, reason!("field.not_dwelling_estate")).into());
            }
        }
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let due = rules::due_on(cal, category, crate::today());
        let mut tx = self.begin().await?;
        let r: ServiceRequest = tx
            .fetch_one(
                &format!(
                    "INSERT INTO service_requests (estate_id, dwelling_id, user_id, author, channel, category, text, status, due_on, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'submitted', $8, $9) RETURNING {COLS}"
                ),
                crate::args![estate_id, dwelling_id, actor.user_id, author, channel, category.as_str(), text, due.to_string(), crate::now()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "file",
                entity: "service_request",
                entity_id: r.id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"category": category.as_str(), "channel": channel})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// An estate's requests, newest first; `only_user` limits them to one resident's own.
    pub async fn requests_of(&self, scope: &Scope, estate_id: i64, only_user: Option<i64>) -> Result<Vec<ServiceRequest>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            &format!("SELECT {COLS} FROM service_requests WHERE estate_id = $1 AND ($2 IS NULL OR user_id = $2) ORDER BY id DESC"),
            crate::args![estate_id, only_user],
        )
        .await
    }

    /// Requests on every estate in scope (a resident: their own), filtered by status and category,
    /// the open ones soonest due first, then the resolved newest first; with the total and the page
    /// and page size used (out-of-range values are brought within 1 and 200).
    pub async fn requests_in_scope(
        &self,
        scope: &Scope,
        only_user: Option<i64>,
        filter: &RequestFilter,
    ) -> Result<(i64, i64, i64, Vec<RequestInRegion>), StoreError> {
        let mut args = Vec::new();
        let mut wh = crate::estates::scope_clause(scope, &mut args);
        if let Some(u) = only_user {
            args.push(u.into());
            wh.push_str(&format!(" AND r.user_id = ${}", args.len()));
        }
        match filter.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some("open") => wh.push_str(" AND r.status <> 'resolved'"),
            Some(st) => {
                args.push(st.into());
                wh.push_str(&format!(" AND r.status = ${}", args.len()));
            }
            None => {}
        }
        if let Some(c) = filter.category.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            args.push(c.into());
            wh.push_str(&format!(" AND r.category = ${}", args.len()));
        }
        let per_page = filter.per_page.unwrap_or(50).clamp(1, 200);
        let page = filter.page.unwrap_or(1).clamp(1, 1_000_000);
        let from = format!("service_requests r JOIN estates e ON e.id = r.estate_id WHERE {wh}");
        let total = self.scalar(&format!("SELECT COUNT(*) FROM {from}"), args.clone()).await?;
        let cols = COLS.split(", ").map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT {cols}, e.name AS estate_name FROM {from} \
                     ORDER BY CASE WHEN r.status = 'resolved' THEN 1 ELSE 0 END, \
                     CASE WHEN r.status = 'resolved' THEN '' ELSE r.due_on END, r.id DESC LIMIT {} OFFSET {}",
                    per_page,
                    (page - 1) * per_page
                ),
                args,
            )
            .await?;
        Ok((total, page, per_page, rows))
    }

    /// A resident's own requests in every estate, newest first.
    pub async fn my_requests(&self, user_id: i64) -> Result<Vec<ServiceRequest>, StoreError> {
        self.fetch_all(&format!("SELECT {COLS} FROM service_requests WHERE user_id = $1 ORDER BY id DESC"), crate::args![user_id]).await
    }

    async fn request(&self, scope: &Scope, id: i64) -> Result<(ServiceRequest, String), StoreError> {
        let r: ServiceRequest = self.fetch_one(&format!("SELECT {COLS} FROM service_requests WHERE id = $1"), crate::args![id]).await?;
        let estate = self.get_estate(scope, r.estate_id).await?;
        Ok((r, estate.community_code))
    }

    /// Staff move a request on (in progress, or resolved with an answer).
    pub async fn handle_request(
        &self,
        actor: &Actor,
        scope: &Scope,
        id: i64,
        to: Status,
        answer: &str,
    ) -> Result<ServiceRequest, RequestError> {
        let (r, region) = self.request(scope, id).await?;
        let from = Status::parse(&r.status).ok_or_else(|| StoreError::Config(format!("request {id} has an unknown status")))?;
        let next = rules::handle(from, to, answer)?;
        let now = crate::now();
        let resolved_at = (next == Status::Resolved).then(|| now.clone());
        let answer = if answer.trim().is_empty() { r.answer.clone() } else { answer.trim().to_string() };
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE service_requests SET status = $1, answer = $2, handled_by = $3, handled_at = $4, resolved_at = $5 \
                 WHERE id = $6 AND status = $7",
                crate::args![next.as_str(), answer.as_str(), actor.username.as_str(), now.as_str(), resolved_at, id, from.as_str()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("requests.changed_meanwhile")).into());
        }
        tx.audit(
            actor,
            Change {
                action: "handle",
                entity: "service_request",
                entity_id: id.to_string(),
                region_code: region,
                before: Some(serde_json::json!({"status": from.as_str()})),
                after: Some(serde_json::json!({"status": next.as_str(), "answer": answer})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.request(scope, id).await?.0)
    }

    /// The resident who filed a resolved request rates it.
    pub async fn rate_request(&self, actor: &Actor, scope: &Scope, id: i64, rating: i64) -> Result<ServiceRequest, RequestError> {
        let (r, region) = self.request(scope, id).await?;
        let status = Status::parse(&r.status).ok_or_else(|| StoreError::Config(format!("request {id} has an unknown status")))?;
        rules::check_rating(status, r.rating, rating)?;
        let mut tx = self.begin().await?;
        // Rated once: of two ratings sent together, the second finds the first.
        let changed =
            tx.execute("UPDATE service_requests SET rating = $1 WHERE id = $2 AND rating IS NULL", crate::args![rating, id]).await?;
        if changed == 0 {
            return Err(Refusal::AlreadyRated.into());
        }
        tx.audit(
            actor,
            Change {
                action: "rate",
                entity: "service_request",
                entity_id: id.to_string(),
                region_code: region,
                before: None,
                after: Some(serde_json::json!({"rating": rating})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(self.request(scope, id).await?.0)
    }

    /// Whether a request is in the caller's scope (`NotFound` otherwise).
    pub async fn request_in_scope(&self, scope: &Scope, id: i64) -> Result<(), StoreError> {
        self.request(scope, id).await.map(|_| ())
    }

    /// Who filed a request (its resident account), for "only the author rates it".
    pub async fn request_author(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let (u,): (Option<i64>,) = self.fetch_one("SELECT user_id FROM service_requests WHERE id = $1", crate::args![id]).await?;
        Ok(u)
    }
}
