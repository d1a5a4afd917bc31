//! Service requests (民生接待 / 诉求) of an estate: filed by residents from the phone or taken by
//! staff, filed under the category tree, routed to the unit that handles them, handed over,
//! escalated when late, closed by a callback visit or the resident's rating. The rules are
//! `huanxin_domain::requests`.

use crate::audit::{Actor, Change};
use crate::db::{Db, Tx};
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::categories::Category;
use huanxin_domain::requests::routing::{self, UnitKind};
use huanxin_domain::requests::{self as rules, Refusal, Status, Step};
use huanxin_domain::ValidationErrors;
use serde::Serialize;

pub mod categories;
pub mod digest;
pub mod hotline;
pub mod open311;
pub mod warnings;

/// A request as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ServiceRequest {
    pub id: i64,
    pub estate_id: i64,
    pub dwelling_id: Option<i64>,
    pub author: String,
    /// `online` (a resident), `phone`, `wechat`, `reception`, `letter`, `patrol` or `hotline`.
    pub channel: String,
    /// A leaf of the category tree.
    pub category: String,
    /// What the model suggested to the one who filed it, if anything.
    pub suggested_category: Option<String>,
    /// The staff member who confirmed or corrected the category.
    pub category_confirmed_by: Option<String>,
    pub text: String,
    /// `submitted`, `in_progress`, `returned`, `resolved` or `closed`.
    pub status: String,
    pub due_on: String,
    pub created_at: String,
    /// The kind of unit it is routed to.
    pub unit_kind: String,
    /// The region of that unit (the office's own region, or the organisation's).
    pub unit_region: String,
    /// The organisation it is routed to; none for a region's office.
    pub unit_id: Option<i64>,
    pub unit_name: String,
    pub answer: String,
    pub handled_by: Option<String>,
    pub handled_at: Option<String>,
    pub resolved_at: Option<String>,
    pub rating: Option<i64>,
    /// The region whose office supervises it since it went late (挂牌督办).
    pub supervised_by: Option<String>,
    pub supervised_at: Option<String>,
    /// The request it was merged into as a duplicate.
    pub merged_into: Option<i64>,
    pub closed_at: Option<String>,
    /// The 12345 hotline's work order number, for one imported from it.
    pub work_order: Option<String>,
    /// The caller's phone as the hotline gave it; shown masked.
    #[serde(serialize_with = "masked")]
    pub caller_phone: String,
}

fn masked<S: serde::Serializer>(phone: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&huanxin_domain::estates::mask_phone(phone))
}

const COLS: &str = "id, estate_id, dwelling_id, author, channel, category, suggested_category, category_confirmed_by, text, status, \
    due_on, created_at, unit_kind, unit_region, unit_id, unit_name, answer, handled_by, handled_at, resolved_at, rating, \
    supervised_by, supervised_at, merged_into, closed_at, work_order, caller_phone";

/// A request with its estate's name, as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestInRegion {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub request: ServiceRequest,
    pub estate_name: String,
}

/// One step in a request's life, as its timeline shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    /// `file`, `route`, `accept`, `resolve`, `return`, `transfer`, `merge`, `category`, `escalate`,
    /// `callback` or `rate`.
    pub action: String,
    /// The unit it went to (route, transfer, escalate).
    pub unit_name: String,
    pub note: String,
    pub rating: Option<i64>,
}

/// A unit requests are routed to: an organisation with its staff, registered for a region.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RequestUnit {
    pub id: i64,
    pub region_code: String,
    pub kind: String,
    pub name: String,
    pub phone: String,
    /// How many staff accounts are its members.
    pub members: i64,
}

/// Which requests a list shows: a status (`open` for every unanswered one), a category or group, only
/// the caller's unit's, only those supervised, a page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RequestFilter {
    pub status: Option<String>,
    /// A leaf, or a group (every kind in it).
    pub category: Option<String>,
    /// `true`: only those routed to the caller's own office or supervised from it (a desk); an
    /// organisation sees only its unit's anyway.
    pub mine: Option<bool>,
    /// `true`: only those under supervision (挂牌督办).
    pub supervised: Option<bool>,
    /// From 1.
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Who is looking at requests, which decides the ones they see and handle.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// A region's desk or grid worker: every request on the estates of their region; their own
    /// office's inbox is those routed to the office of their region.
    Desk(&'a Scope),
    /// An organisation's staff: the requests routed to their unit only (none without a unit).
    Unit(Option<i64>),
    /// A resident: their own.
    Resident(i64),
}

/// Where a request is sent: a region's office or an organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub kind: UnitKind,
    pub region: String,
    pub unit_id: Option<i64>,
    pub name: String,
}

/// Why a request step did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A staff member's step on a request, with what it carries.
#[derive(Debug, Clone)]
pub enum Action {
    Accept,
    Resolve {
        answer: String,
    },
    ReturnToDispatch {
        reason: String,
    },
    Transfer {
        to: Target,
        reason: String,
    },
    Merge {
        into: i64,
    },
    Callback {
        satisfied: bool,
        rating: i64,
        note: String,
    },
    /// The resident's own rating from the phone (the note is empty).
    Rate {
        rating: i64,
        note: String,
    },
}

pub(crate) fn viewer_clause(viewer: Viewer<'_>, args: &mut Vec<crate::db::Arg>) -> String {
    match viewer {
        Viewer::Desk(scope) => crate::estates::scope_clause(scope, args),
        Viewer::Unit(unit) => {
            args.push(unit.unwrap_or(-1).into());
            format!("r.unit_id = ${}", args.len())
        }
        Viewer::Resident(user) => {
            args.push(user.into());
            format!("r.user_id = ${}", args.len())
        }
    }
}

impl Db {
    /// The four kinds requests were filed under before the tree (repair, complaint, suggestion,
    /// question) become leaves: suggestions and questions keep their name, repairs and complaints
    /// take the likeliest leaf the shipped model finds in their text (a repair one of the repair
    /// kinds). Nobody saw these suggestions, so none is kept as one.
    pub async fn map_old_request_categories(&self) -> Result<usize, StoreError> {
        let old: Vec<(i64, String, String)> =
            self.fetch_all("SELECT id, category, text FROM service_requests WHERE category IN ('repair', 'complaint')", vec![]).await?;
        if old.is_empty() {
            return Ok(0);
        }
        let mapped: Vec<(i64, String)> = tokio::task::spawn_blocking(move || {
            old.into_iter()
                .map(|(id, kind, text)| {
                    let found = rules::classify::SHIPPED.suggest(&text);
                    let fits = |c: &&rules::classify::Suggestion| {
                        if kind == "repair" {
                            c.code.starts_with("repair.")
                        } else {
                            !matches!(c.code.as_str(), "suggestion" | "question")
                        }
                    };
                    let code =
                        found.iter().find(fits).map_or(if kind == "repair" { "repair.water" } else { "property" }, |s| s.code.as_str());
                    (id, code.to_string())
                })
                .collect()
        })
        .await
        .map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        for (id, code) in &mapped {
            tx.execute("UPDATE service_requests SET category = $1 WHERE id = $2", crate::args![code.as_str(), *id]).await?;
        }
        tx.commit().await?;
        Ok(mapped.len())
    }

    /// The unit of this kind that serves an estate: its region's office, the property company or
    /// contractor whose staff are attached to it, or the utility registered for the most specific
    /// region holding it. `None` when there is none.
    pub async fn unit_for(&self, estate_id: i64, community: &str, kind: UnitKind) -> Result<Option<Target>, StoreError> {
        let community =
            RegionCode::parse(community).map_err(|_| StoreError::Config(format!("estate {estate_id} has a bad community code")))?;
        if let Some(office) = routing::office_region(kind, &community) {
            let name = self.region_names(&[office.as_str().to_string()]).await?.remove(office.as_str()).unwrap_or_default();
            return Ok(Some(Target { kind, region: office.as_str().to_string(), unit_id: None, name }));
        }
        let found: Option<(i64, String, String)> = if matches!(kind, UnitKind::Property | UnitKind::Contractor) {
            self.fetch_optional(
                "SELECT u.id, u.region_code, u.name FROM request_units u JOIN unit_members m ON m.unit_id = u.id \
                 JOIN user_estates ue ON ue.user_id = m.user_id WHERE u.kind = $1 AND ue.estate_id = $2 ORDER BY u.id LIMIT 1",
                crate::args![kind.as_str(), estate_id],
            )
            .await?
        } else {
            // A unit nobody works for takes no request.
            let all: Vec<(i64, String, String)> = self
                .fetch_all(
                    "SELECT u.id, u.region_code, u.name FROM request_units u WHERE u.kind = $1 \
                     AND EXISTS (SELECT 1 FROM unit_members m WHERE m.unit_id = u.id)",
                    crate::args![kind.as_str()],
                )
                .await?;
            all.into_iter()
                .filter(|(_, r, _)| RegionCode::parse(r).is_ok_and(|r| r.contains(&community)))
                .max_by_key(|(id, r, _)| (r.trim_end_matches('0').len(), -id))
        };
        Ok(found.map(|(id, region, name)| Target { kind, region, unit_id: Some(id), name }))
    }

    /// Where a new request on an estate goes: the unit of its category's `kind`, or the
    /// community's office when the place has no such unit.
    pub async fn route_for(&self, estate_id: i64, community: &str, kind: UnitKind) -> Result<Target, StoreError> {
        if let Some(t) = self.unit_for(estate_id, community, kind).await? {
            return Ok(t);
        }
        self.unit_for(estate_id, community, UnitKind::Community)
            .await?
            .ok_or_else(|| StoreError::Config(format!("estate {estate_id} has no community office")))
    }

    /// A unit by id, as the caller may name it for a transfer: registered for a region holding the
    /// estate's community (a unit elsewhere is refused by the field).
    pub async fn unit_serving(&self, unit_id: i64, community: &str) -> Result<Target, StoreError> {
        let u: Option<(String, String, String)> =
            self.fetch_optional("SELECT region_code, kind, name FROM request_units WHERE id = $1", crate::args![unit_id]).await?;
        let serves = |r: &str| matches!((RegionCode::parse(r), RegionCode::parse(community)), (Ok(r), Ok(c)) if r.contains(&c));
        match u {
            Some((region, kind, name)) if serves(&region) => {
                let kind = UnitKind::parse(&kind).ok_or_else(|| StoreError::Config(format!("unit {unit_id} has an unknown kind")))?;
                Ok(Target { kind, region, unit_id: Some(unit_id), name })
            }
            _ => Err(ValidationErrors::one("unit_id", unit_id, reason!("requests.unit_outside_region")).into()),
        }
    }

    /// Files a request for an estate in scope, routed by its category and due in its working days.
    #[allow(clippy::too_many_arguments)]
    pub async fn file_request(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        dwelling_id: Option<i64>,
        author: &str,
        channel: &str,
        category: &Category,
        text: &str,
        suggested: Option<&str>,
        confirmed_by: Option<&str>,
    ) -> Result<(ServiceRequest, Vec<i64>), StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        if let Some(d) = dwelling_id {
            if self.scalar("SELECT COUNT(*) FROM dwellings WHERE id = $1 AND estate_id = $2", crate::args![d, estate_id]).await? == 0 {
                return Err(ValidationErrors::one("dwelling_id", d, reason!("field.not_dwelling_estate")).into());
            }
        }
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let due = rules::due_on(cal, category.working_days, crate::today());
        let to = self.route_for(estate_id, &estate.community_code, category.unit_kind).await?;
        let mut tx = self.begin().await?;
        let new = NewRequest {
            estate_id,
            dwelling_id,
            author,
            channel,
            category,
            text,
            suggested: suggested.map(str::to_string),
            confirmed_by: confirmed_by.map(str::to_string),
            work_order: None,
            caller_phone: "",
            // Only a resident filing for themselves is the request's owner (who rates it).
            user_id: if channel == "online" { actor.user_id } else { None },
            created_at: crate::now(),
            due,
            to: &to,
        };
        let (r, warnings) = insert_request(&mut tx, actor, &new).await?;
        tx.audit(
            actor,
            Change {
                action: "file",
                entity: "service_request",
                entity_id: r.id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"category": category.code, "channel": channel, "unit": to.name})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((r, warnings))
    }

    /// An estate's requests the viewer sees, newest first.
    pub async fn requests_of(&self, scope: &Scope, viewer: Viewer<'_>, estate_id: i64) -> Result<Vec<ServiceRequest>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let mut args = crate::args![estate_id];
        let wh = viewer_clause(viewer, &mut args);
        let cols = prefixed(COLS);
        self.fetch_all(
            &format!("SELECT {cols} FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.estate_id = $1 AND {wh} ORDER BY r.id DESC"),
            args,
        )
        .await
    }

    /// Requests the viewer sees, filtered; the open ones soonest due first, then the rest newest
    /// first; with the total and the page and page size used (out-of-range values are brought
    /// within 1 and 200). `office` is the viewer's own region, for `mine` at a desk.
    pub async fn requests_in_scope(
        &self,
        viewer: Viewer<'_>,
        office: Option<&str>,
        filter: &RequestFilter,
    ) -> Result<(i64, i64, i64, Vec<RequestInRegion>), StoreError> {
        let mut args = Vec::new();
        let mut wh = viewer_clause(viewer, &mut args);
        match filter.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some("open") => wh.push_str(" AND r.status IN ('submitted', 'in_progress', 'returned')"),
            Some(st) => {
                args.push(st.into());
                wh.push_str(&format!(" AND r.status = ${}", args.len()));
            }
            None => {}
        }
        if let Some(c) = filter.category.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            args.push(c.into());
            args.push(format!("{c}.%").into());
            wh.push_str(&format!(" AND (r.category = ${} OR r.category LIKE ${})", args.len() - 1, args.len()));
        }
        if filter.mine == Some(true) {
            if let (Viewer::Desk(_), Some(office)) = (viewer, office) {
                args.push(office.into());
                wh.push_str(&format!(" AND ((r.unit_id IS NULL AND r.unit_region = ${0}) OR r.supervised_by = ${0})", args.len()));
            }
        }
        if filter.supervised == Some(true) {
            wh.push_str(" AND r.supervised_by IS NOT NULL");
        }
        let per_page = filter.per_page.unwrap_or(50).clamp(1, 200);
        let page = filter.page.unwrap_or(1).clamp(1, 1_000_000);
        let from = format!("service_requests r JOIN estates e ON e.id = r.estate_id WHERE {wh}");
        let total = self.scalar(&format!("SELECT COUNT(*) FROM {from}"), args.clone()).await?;
        let cols = prefixed(COLS);
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT {cols}, e.name AS estate_name FROM {from} \
                     ORDER BY CASE WHEN r.status IN ('submitted', 'in_progress', 'returned') THEN 0 ELSE 1 END, \
                     CASE WHEN r.status IN ('submitted', 'in_progress', 'returned') THEN r.due_on ELSE '' END, r.id DESC LIMIT {} OFFSET {}",
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

    /// One request the viewer sees, with its estate's community (`NotFound` otherwise).
    pub async fn request_seen(&self, viewer: Viewer<'_>, id: i64) -> Result<(ServiceRequest, String), StoreError> {
        let mut args = crate::args![id];
        let wh = viewer_clause(viewer, &mut args);
        let cols = prefixed(COLS);
        let (r, community): (ServiceRequest, String) = self
            .fetch_one::<RequestWithPlace>(
                &format!(
                    "SELECT {cols}, e.community_code FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.id = $1 AND {wh}"
                ),
                args,
            )
            .await
            .map(|w| (w.request, w.community_code))?;
        Ok((r, community))
    }

    /// A request's timeline, oldest first.
    pub async fn request_events(&self, viewer: Viewer<'_>, id: i64) -> Result<Vec<RequestEvent>, StoreError> {
        self.request_seen(viewer, id).await?;
        self.fetch_all(
            // People by the name they go by; the system and client applications by their marks.
            "SELECT ev.id, ev.at, COALESCE(u.display_name, ev.actor) AS actor, ev.action, ev.unit_name, ev.note, ev.rating \
             FROM request_events ev LEFT JOIN users u ON u.username = ev.actor WHERE ev.request_id = $1 ORDER BY ev.id",
            crate::args![id],
        )
        .await
    }

    /// Open requests likely the same matter as this one (same estate and category, within 7 days,
    /// similar text), most alike first.
    pub async fn likely_duplicates(&self, viewer: Viewer<'_>, id: i64) -> Result<Vec<ServiceRequest>, StoreError> {
        let (r, _) = self.request_seen(viewer, id).await?;
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(""), "%Y-%m-%d").ok();
        let Some(filed) = day(&r.created_at) else { return Ok(vec![]) };
        let mut args = crate::args![r.estate_id, r.category.as_str(), id];
        let wh = viewer_clause(viewer, &mut args);
        let cols = prefixed(COLS);
        let near: Vec<ServiceRequest> = self
            .fetch_all(
                &format!(
                    "SELECT {cols} FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE r.estate_id = $1 AND r.category = $2 \
                     AND r.id <> $3 AND r.status IN ('submitted', 'in_progress', 'returned') AND {wh} ORDER BY r.id DESC LIMIT 200"
                ),
                args,
            )
            .await?;
        let mut out: Vec<(f64, ServiceRequest)> = near
            .into_iter()
            .filter(|o| {
                day(&o.created_at).is_some_and(|d| {
                    rules::likely_duplicates((r.estate_id, &r.category, filed, &r.text), (o.estate_id, &o.category, d, &o.text))
                })
            })
            .map(|o| (rules::text_similarity(&r.text, &o.text), o))
            .collect();
        out.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(out.into_iter().map(|(_, o)| o).take(10).collect())
    }

    /// Takes a step on a request the viewer sees. Who may take which step is the caller's
    /// (`may_handle`, `may_dispatch`); this checks the request's state and writes the step with
    /// its event and audit entry, or nothing.
    pub async fn step_request(&self, actor: &Actor, viewer: Viewer<'_>, id: i64, action: Action) -> Result<ServiceRequest, RequestError> {
        let (r, community) = self.request_seen(viewer, id).await?;
        let from = Status::parse(&r.status).ok_or_else(|| StoreError::Config(format!("request {id} has an unknown status")))?;
        let rule_step = match &action {
            Action::Accept => Step::Accept,
            Action::Resolve { answer } => Step::Resolve { answer },
            Action::ReturnToDispatch { reason } => Step::ReturnToDispatch { reason },
            Action::Transfer { reason, .. } => Step::Transfer { reason },
            Action::Merge { .. } => Step::Merge,
            Action::Callback { satisfied, rating, .. } => Step::Callback { satisfied: *satisfied, rating: *rating },
            Action::Rate { rating, .. } => Step::Rate { rating: *rating },
        };
        let next = rules::step(from, r.rating, rule_step)?;
        let now = crate::now();
        let mut tx = self.begin().await?;
        // Every write is guarded by the status read above: of two steps taken together, the second
        // finds the request moved and is refused whole.
        let guard = crate::args![id, from.as_str()];
        let (sql, mut args, name, note, rating): (&str, Vec<crate::db::Arg>, String, String, Option<i64>) = match &action {
            Action::Accept => (
                "UPDATE service_requests SET status = $3, handled_by = $4, handled_at = $5 WHERE id = $1 AND status = $2",
                crate::args![next.as_str(), actor.username.as_str(), now.as_str()],
                String::new(),
                String::new(),
                None,
            ),
            Action::Resolve { answer } => (
                "UPDATE service_requests SET status = $3, handled_by = $4, handled_at = $5, resolved_at = $5, answer = $6 \
                 WHERE id = $1 AND status = $2",
                crate::args![next.as_str(), actor.username.as_str(), now.as_str(), answer.trim()],
                String::new(),
                answer.trim().to_string(),
                None,
            ),
            // Given back to the community's desk, which routes it again.
            Action::ReturnToDispatch { reason } => {
                let desk = self
                    .unit_for(r.estate_id, &community, UnitKind::Community)
                    .await?
                    .ok_or_else(|| StoreError::Config(format!("request {id}'s estate has no community office")))?;
                (
                    "UPDATE service_requests SET status = $3, handled_by = $4, handled_at = $5, unit_kind = $6, unit_region = $7, \
                     unit_id = NULL, unit_name = $8 WHERE id = $1 AND status = $2",
                    crate::args![
                        next.as_str(),
                        actor.username.as_str(),
                        now.as_str(),
                        desk.kind.as_str(),
                        desk.region.as_str(),
                        desk.name.clone()
                    ],
                    desk.name,
                    reason.trim().to_string(),
                    None,
                )
            }
            Action::Transfer { to, reason } => (
                "UPDATE service_requests SET status = $3, unit_kind = $4, unit_region = $5, unit_id = $6, unit_name = $7 \
                 WHERE id = $1 AND status = $2",
                crate::args![next.as_str(), to.kind.as_str(), to.region.as_str(), to.unit_id, to.name.as_str()],
                to.name.clone(),
                reason.trim().to_string(),
                None,
            ),
            Action::Merge { into } => {
                let (other, _) = self.request_seen(viewer, *into).await?;
                if other.id == id
                    || other.estate_id != r.estate_id
                    || other.category != r.category
                    || !matches!(Status::parse(&other.status), Some(s) if s.is_open())
                {
                    return Err(Refusal::NotDuplicate.into());
                }
                (
                    "UPDATE service_requests SET status = $3, merged_into = $4, closed_at = $5 WHERE id = $1 AND status = $2",
                    crate::args![next.as_str(), *into, now.as_str()],
                    String::new(),
                    format!("#{into}"),
                    None,
                )
            }
            // Not satisfied: handled again, due anew from today; the rating that closes it is kept.
            Action::Callback { rating, note, .. } | Action::Rate { rating, note } => {
                let closed = next == Status::Closed;
                let due = if closed { r.due_on.clone() } else { self.reopened_due(&community, &r.category).await?.to_string() };
                (
                    "UPDATE service_requests SET status = $3, rating = $4, closed_at = $5, due_on = $6 WHERE id = $1 AND status = $2 AND rating IS NULL",
                    crate::args![next.as_str(), closed.then_some(*rating), closed.then(|| now.clone()), due],
                    String::new(),
                    note.trim().to_string(),
                    Some(*rating),
                )
            }
        };
        let mut all = guard;
        all.append(&mut args);
        if tx.execute(sql, all).await? == 0 {
            return Err(StoreError::Conflict(reason!("requests.changed_meanwhile")).into());
        }
        let what = match &action {
            Action::Accept => "accept",
            Action::Resolve { .. } => "resolve",
            Action::ReturnToDispatch { .. } => "return",
            Action::Transfer { .. } => "transfer",
            Action::Merge { .. } => "merge",
            Action::Callback { .. } => "callback",
            Action::Rate { .. } => "rate",
        };
        event(&mut tx, id, actor, what, &name, &note, rating).await?;
        tx.audit(
            actor,
            Change {
                action: what,
                entity: "service_request",
                entity_id: id.to_string(),
                region_code: community,
                before: Some(serde_json::json!({"status": from.as_str(), "unit": r.unit_name})),
                after: Some(serde_json::json!({"status": next.as_str(), "unit": if name.is_empty() { r.unit_name.clone() } else { name }, "note": note})),
            },
        )
        .await?;
        tx.commit().await?;
        // As it now stands, also when the step took it out of the caller's sight (given back, transferred).
        Ok(self.fetch_one(&format!("SELECT {COLS} FROM service_requests WHERE id = $1"), crate::args![id]).await?)
    }

    /// Staff confirm or correct a request's category: its due day follows the category's working
    /// days from the day it was filed, and one not yet taken on goes to the new category's unit
    /// (`to`). Returns the request and the correction to learn (county, category, text) when
    /// it may teach the model: a change of the model's suggestion, not away from a danger, by
    /// someone other than who filed it.
    pub async fn confirm_request_category(
        &self,
        actor: &Actor,
        viewer: Viewer<'_>,
        id: i64,
        category: &Category,
    ) -> Result<(ServiceRequest, Option<(String, String, String)>), RequestError> {
        let (r, community) = self.request_seen(viewer, id).await?;
        let from = Status::parse(&r.status).ok_or_else(|| StoreError::Config(format!("request {id} has an unknown status")))?;
        if !from.is_open() {
            return Err(Refusal::NotOpen.into());
        }
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let filed = chrono::DateTime::parse_from_rfc3339(&r.created_at)
            .map_or_else(|_| crate::today(), |t| (t + chrono::Duration::hours(8)).date_naive());
        let due = rules::due_on(cal, category.working_days, filed).to_string();
        // Not yet taken on: it goes where the new category goes.
        let to = if from == Status::Submitted && category.code != r.category {
            Some(self.route_for(r.estate_id, &community, category.unit_kind).await?)
        } else {
            None
        };
        let (filer,): (String,) = self
            .fetch_optional(
                "SELECT actor FROM request_events WHERE request_id = $1 AND action = 'file' ORDER BY id LIMIT 1",
                crate::args![id],
            )
            .await?
            .unwrap_or_default();
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE service_requests SET category = $1, category_confirmed_by = $2, due_on = $3 WHERE id = $4 AND category = $5 AND status = $6",
                crate::args![category.code.as_str(), actor.username.as_str(), due.as_str(), id, r.category.as_str(), from.as_str()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("requests.changed_meanwhile")).into());
        }
        event(&mut tx, id, actor, "category", "", &category.code, None).await?;
        if let Some(to) = &to {
            tx.execute(
                "UPDATE service_requests SET unit_kind = $1, unit_region = $2, unit_id = $3, unit_name = $4 WHERE id = $5",
                crate::args![to.kind.as_str(), to.region.as_str(), to.unit_id, to.name.as_str(), id],
            )
            .await?;
            event(&mut tx, id, actor, "route", &to.name, &category.code, None).await?;
        }
        tx.audit(
            actor,
            Change {
                action: "category",
                entity: "service_request",
                entity_id: id.to_string(),
                region_code: community.clone(),
                before: Some(serde_json::json!({"category": r.category, "due_on": r.due_on, "unit": r.unit_name})),
                after: Some(
                    serde_json::json!({"category": category.code, "due_on": due, "unit": to.as_ref().map_or(&r.unit_name, |t| &t.name)}),
                ),
            },
        )
        .await?;
        tx.commit().await?;
        let learn = r
            .suggested_category
            .as_deref()
            .filter(|s| rules::classify::may_learn(s, &category.code) && filer != actor.username)
            .map(|_| (community.get(..6).unwrap_or("").to_string(), category.code.to_string(), r.text.clone()));
        Ok((self.request_seen(viewer, id).await?.0, learn))
    }

    /// Every correction desks made to a suggested category on a request someone else filed, by
    /// county (county, category, text), oldest first: what each county's layer of the model learns.
    /// Corrections away from a danger are left out ([`rules::classify::may_learn`]).
    pub async fn category_corrections(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows: Vec<(String, String, String, String)> = self
            .fetch_all(
                "SELECT SUBSTR(e.community_code, 1, 6), r.suggested_category, r.category, r.text FROM service_requests r \
                 JOIN estates e ON e.id = r.estate_id \
                 WHERE r.category_confirmed_by IS NOT NULL AND r.suggested_category IS NOT NULL AND r.suggested_category <> r.category \
                 AND NOT EXISTS (SELECT 1 FROM request_events f WHERE f.request_id = r.id AND f.action = 'file' AND f.actor = r.category_confirmed_by) \
                 ORDER BY r.id",
                vec![],
            )
            .await?;
        Ok(rows.into_iter().filter(|(_, s, c, _)| rules::classify::may_learn(s, c)).map(|(county, _, c, t)| (county, c, t)).collect())
    }

    /// Puts every request still open after its due day under the supervision of the office above
    /// the unit that has it (挂牌督办), once; returns how many were escalated.
    pub async fn escalate_late_requests(&self, today: chrono::NaiveDate) -> Result<usize, StoreError> {
        let late: Vec<(i64, String, String, String, String)> = self
            .fetch_all(
                "SELECT r.id, r.unit_region, r.unit_kind, r.status, e.community_code FROM service_requests r JOIN estates e ON e.id = r.estate_id \
                 WHERE r.status IN ('submitted', 'in_progress', 'returned') AND r.due_on < $1 AND r.supervised_by IS NULL ORDER BY r.id LIMIT 5000",
                crate::args![today.to_string()],
            )
            .await?;
        let actor = Actor::system("escalation");
        let mut done = 0;
        for (id, unit_region, kind, status, community) in late {
            let handling = RegionCode::parse(&unit_region).or_else(|_| RegionCode::parse(&community));
            let (Ok(handling), Some(kind)) = (handling, UnitKind::parse(&kind)) else { continue };
            let Some(up) = routing::escalation_region(&handling, kind) else { continue };
            let name = self.region_names(&[up.as_str().to_string()]).await?.remove(up.as_str()).unwrap_or_default();
            let now = crate::now();
            let mut tx = self.begin().await?;
            let n = tx
                .execute(
                    "UPDATE service_requests SET supervised_by = $1, supervised_at = $2 WHERE id = $3 AND status = $4 AND supervised_by IS NULL",
                    crate::args![up.as_str(), now.as_str(), id, status.as_str()],
                )
                .await?;
            if n == 0 {
                continue;
            }
            event(&mut tx, id, &actor, "escalate", &name, "逾期未办结，挂牌督办", None).await?;
            tx.audit(
                &actor,
                Change {
                    action: "escalate",
                    entity: "service_request",
                    entity_id: id.to_string(),
                    region_code: community,
                    before: None,
                    after: Some(serde_json::json!({"supervised_by": up.as_str()})),
                },
            )
            .await?;
            tx.commit().await?;
            done += 1;
        }
        Ok(done)
    }

    /// An estate's name and address, for a request seen by a unit not attached to it.
    pub async fn estate_name_and_address(&self, estate_id: i64) -> Result<(String, String), StoreError> {
        self.fetch_one("SELECT name, address FROM estates WHERE id = $1", crate::args![estate_id]).await
    }

    /// Who filed a request (its resident account), for "only the author rates it".
    pub async fn request_author(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let (u,): (Option<i64>,) = self.fetch_one("SELECT user_id FROM service_requests WHERE id = $1", crate::args![id]).await?;
        Ok(u)
    }

    /// The unit a user is a member of.
    pub async fn unit_of(&self, user_id: i64) -> Result<Option<i64>, StoreError> {
        let u: Option<(i64,)> = self.fetch_optional("SELECT unit_id FROM unit_members WHERE user_id = $1", crate::args![user_id]).await?;
        Ok(u.map(|(u,)| u))
    }

    /// The units registered in or above the caller's region (the ones that may serve its estates)
    /// and below it.
    pub async fn request_units(&self, scope: &Scope) -> Result<Vec<RequestUnit>, StoreError> {
        let all: Vec<RequestUnit> = self
            .fetch_all(
                "SELECT u.id, u.region_code, u.kind, u.name, u.phone, (SELECT COUNT(*) FROM unit_members m WHERE m.unit_id = u.id) AS members \
                 FROM request_units u ORDER BY u.region_code, u.kind, u.name",
                vec![],
            )
            .await?;
        Ok(all
            .into_iter()
            .filter(|u| matches!(scope, Scope::Region(_)) && RegionCode::parse(&u.region_code).is_ok_and(|r| scope.sees(&r)))
            .collect())
    }

    /// Registers a unit for a region in scope.
    pub async fn create_request_unit(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &RegionCode,
        kind: UnitKind,
        name: &str,
        phone: &str,
    ) -> Result<RequestUnit, StoreError> {
        if !scope.covers(region) {
            return Err(ValidationErrors::one("region_code", region.as_str(), reason!("field.outside_region")).into());
        }
        if kind.office_level().is_some() {
            return Err(ValidationErrors::one("kind", kind.as_str(), reason!("requests.unit_kind")).into());
        }
        self.region(region).await.map_err(|_| ValidationErrors::one("region_code", region.as_str(), reason!("field.unknown_region")))?;
        let mut tx = self.begin().await?;
        if tx.scalar("SELECT COUNT(*) FROM request_units WHERE region_code = $1 AND name = $2", crate::args![region.as_str(), name]).await?
            > 0
        {
            return Err(ValidationErrors::one("name", name, reason!("requests.unit_exists")).into());
        }
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO request_units (region_code, kind, name, phone, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                crate::args![region.as_str(), kind.as_str(), name, phone, crate::now()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "request_unit",
                entity_id: id.to_string(),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"kind": kind.as_str(), "name": name})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(RequestUnit {
            id,
            region_code: region.as_str().to_string(),
            kind: kind.as_str().into(),
            name: name.into(),
            phone: phone.into(),
            members: 0,
        })
    }

    /// Makes a user of the unit's kind of organisation (property company, contractor, utility) a
    /// member of a unit in the caller's region; one already in another unit is refused by name.
    pub async fn add_unit_member(&self, actor: &Actor, scope: &Scope, unit_id: i64, user_id: i64) -> Result<(), StoreError> {
        let (region, kind): (String, String) =
            self.fetch_one("SELECT region_code, kind FROM request_units WHERE id = $1", crate::args![unit_id]).await?;
        if !scope.covers_code(&region) {
            return Err(StoreError::NotFound);
        }
        let (role,): (String,) = self.fetch_one("SELECT role FROM users WHERE id = $1", crate::args![user_id]).await?;
        let fits = match kind.as_str() {
            "property" => "property_company",
            "contractor" => "contractor",
            _ => "utility",
        };
        if role != fits {
            return Err(ValidationErrors::one("username", role, reason!("requests.member_role", kind = kind, role = fits)).into());
        }
        let already: Option<(String,)> = self
            .fetch_optional(
                "SELECT u.name FROM unit_members m JOIN request_units u ON u.id = m.unit_id WHERE m.user_id = $1 AND m.unit_id <> $2",
                crate::args![user_id, unit_id],
            )
            .await?;
        if let Some((unit,)) = already {
            return Err(ValidationErrors::one("username", user_id, reason!("requests.member_of_other_unit", unit = unit)).into());
        }
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM unit_members WHERE user_id = $1", crate::args![user_id]).await?;
        tx.execute("INSERT INTO unit_members (user_id, unit_id) VALUES ($1, $2)", crate::args![user_id, unit_id]).await?;
        tx.audit(
            actor,
            Change {
                action: "add_member",
                entity: "request_unit",
                entity_id: unit_id.to_string(),
                region_code: region,
                before: None,
                after: Some(serde_json::json!({"user_id": user_id})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A request about to be written, routed and with its due day.
pub(crate) struct NewRequest<'a> {
    pub estate_id: i64,
    pub dwelling_id: Option<i64>,
    pub author: &'a str,
    pub channel: &'a str,
    pub category: &'a Category,
    pub text: &'a str,
    pub suggested: Option<String>,
    pub confirmed_by: Option<String>,
    /// The hotline's work order: the importing desk's region and its number.
    pub work_order: Option<(&'a str, &'a str)>,
    pub caller_phone: &'a str,
    /// The resident's account who filed it (none for staff filing on someone's behalf).
    pub user_id: Option<i64>,
    pub created_at: String,
    pub due: chrono::NaiveDate,
    pub to: &'a Target,
}

/// Writes a request with its first two events (filed, routed) and the warnings it raises.
pub(crate) async fn insert_request(tx: &mut Tx, actor: &Actor, n: &NewRequest<'_>) -> Result<(ServiceRequest, Vec<i64>), StoreError> {
    let r: ServiceRequest = tx
        .fetch_one(
            &format!(
                "INSERT INTO service_requests (estate_id, dwelling_id, user_id, author, channel, category, suggested_category, \
                 category_confirmed_by, text, status, due_on, created_at, unit_kind, unit_region, unit_id, unit_name, work_order, caller_phone, \
                 work_order_region, county_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'submitted', $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 (SELECT SUBSTR(community_code, 1, 6) FROM estates WHERE id = $1)) RETURNING {COLS}"
            ),
            crate::args![
                n.estate_id,
                n.dwelling_id,
                n.user_id,
                n.author,
                n.channel,
                n.category.code.as_str(),
                n.suggested.clone(),
                n.confirmed_by.clone(),
                n.text,
                n.due.to_string(),
                n.created_at.as_str(),
                n.to.kind.as_str(),
                n.to.region.as_str(),
                n.to.unit_id,
                n.to.name.as_str(),
                n.work_order.map(|(_, o)| o.to_string()),
                n.caller_phone,
                n.work_order.map(|(r, _)| r.to_string())
            ],
        )
        .await?;
    event(tx, r.id, actor, "file", "", n.channel, None).await?;
    event(tx, r.id, actor, "route", &n.to.name, &n.category.code, None).await?;
    let warnings = warnings::raise(tx, &r).await?;
    Ok((r, warnings))
}

impl Db {
    /// The due day of a request handled again from today: its category's working days where
    /// its estate lies (five for a category the tree no longer has).
    async fn reopened_due(&self, community: &str, category: &str) -> Result<chrono::NaiveDate, StoreError> {
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let days = self.category_tree_at(community).await?.category(category).map_or(5, |c| c.working_days);
        Ok(rules::due_on(cal, days, crate::today()))
    }
}

#[derive(sqlx::FromRow)]
struct RequestWithPlace {
    #[sqlx(flatten)]
    request: ServiceRequest,
    community_code: String,
}

fn prefixed(cols: &str) -> String {
    cols.split(',').map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

async fn event(tx: &mut Tx, id: i64, actor: &Actor, action: &str, unit: &str, note: &str, rating: Option<i64>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO request_events (request_id, at, actor, action, unit_name, note, rating) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        crate::args![id, crate::now(), actor.username.as_str(), action, unit, note, rating],
    )
    .await?;
    Ok(())
}
