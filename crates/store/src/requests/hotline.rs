//! 12345 hotline work orders imported from the hotline's xlsx export: each work order once, its
//! address matched to an estate of the importing desk's region (`domain::requests::hotline`); the
//! ones matched are filed and routed like any request, in one transaction for the whole file; the
//! others wait for a clerk to choose the estate.

use super::{insert_request, NewRequest, ServiceRequest, Target};
use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::requests::categories::Category;
use huanxin_domain::requests::hotline::{match_address, AddressMatch, Place};
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One work order read from the file, checked, with the category the model gave its text.
#[derive(Debug, Clone)]
pub struct HotlineRow {
    /// The row number in the file, as the user sees it.
    pub row: usize,
    pub work_order: String,
    /// When the call came, Beijing time.
    pub called_at: chrono::NaiveDateTime,
    pub caller: String,
    pub phone: String,
    pub address: String,
    pub text: String,
    /// The hotline's own type (诉求类型), kept with an unmatched row.
    pub kind: String,
    pub category: Category,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HotlineReport {
    pub rows: usize,
    /// Filed as requests on the estate their address names.
    pub filed: usize,
    /// Waiting for a clerk: no estate, or several.
    pub unmatched: usize,
    /// Imported before (by work order): left as they are.
    pub already_imported: usize,
    /// The warnings the filed requests raised (for the text messages).
    #[serde(skip)]
    pub warnings: Vec<i64>,
}

/// A work order no single estate was found for.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UnmatchedOrder {
    pub id: i64,
    pub work_order: String,
    pub called_at: String,
    pub caller: String,
    pub address: String,
    pub text: String,
    pub kind: String,
    /// The category the model gave its text.
    pub category: String,
    /// The estates the address could mean, as ids joined by commas (empty: none).
    pub candidates: String,
    pub imported_by: String,
    pub imported_at: String,
}

fn utc(beijing: chrono::NaiveDateTime) -> String {
    (beijing - chrono::Duration::hours(8)).and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Db {
    /// The estates of a scope as the address matcher sees them, with their community.
    async fn hotline_places(&self, scope: &Scope) -> Result<Vec<(Place, String)>, StoreError> {
        let mut args = Vec::new();
        let wh = crate::estates::scope_clause(scope, &mut args);
        let rows: Vec<(i64, String, String, String, String)> =
            self.fetch_all(&format!("SELECT e.id, e.name, e.aliases, e.address, e.community_code FROM estates e WHERE {wh}"), args).await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, aliases, address, community)| {
                let aliases = aliases.split('、').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect();
                (Place { id, name, aliases, address }, community)
            })
            .collect())
    }

    /// The work orders of `orders` a region has already imported (filed or waiting for a clerk).
    async fn known_work_orders(&self, region: &str, orders: &[String]) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        for chunk in orders.chunks(500) {
            let marks: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("${i}")).collect();
            let mut args: Vec<crate::db::Arg> = vec![region.into()];
            args.extend(chunk.iter().map(|o| o.as_str().into()));
            let list = marks.join(", ");
            let found: Vec<(String,)> = self
                .fetch_all(
                    &format!(
                        "SELECT work_order FROM service_requests WHERE work_order_region = $1 AND work_order IN ({list}) \
                         UNION SELECT work_order FROM hotline_unmatched WHERE region_code = $1 AND work_order IN ({list})"
                    ),
                    args,
                )
                .await?;
            known.extend(found.into_iter().map(|(o,)| o));
        }
        Ok(known)
    }

    /// Imports checked work orders for the desk's region: each new one filed on the estate its
    /// address names, or kept for a clerk; all in one transaction. A work order given twice in
    /// the file is refused by its row before anything is written.
    pub async fn import_hotline(&self, actor: &Actor, scope: &Scope, rows: Vec<HotlineRow>) -> Result<HotlineReport, StoreError> {
        let Scope::Region(region) = scope else { return Err(StoreError::NotFound) };
        let mut seen = HashMap::new();
        for r in &rows {
            if let Some(first) = seen.insert(r.work_order.clone(), r.row) {
                return Err(ValidationErrors::one(
                    &format!("row {} 工单编号", r.row),
                    &r.work_order,
                    reason!("requests.work_order_repeated", row = first),
                )
                .into());
            }
        }
        let orders: Vec<String> = rows.iter().map(|r| r.work_order.clone()).collect();
        let known = self.known_work_orders(region.as_str(), &orders).await?;
        let places = self.hotline_places(scope).await?;
        let only: Vec<Place> = places.iter().map(|(p, _)| p.clone()).collect();
        let community: HashMap<i64, &str> = places.iter().map(|(p, c)| (p.id, c.as_str())).collect();
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let mut report = HotlineReport { rows: rows.len(), ..Default::default() };
        let mut routes: HashMap<(i64, String), Target> = HashMap::new();
        let mut trees: HashMap<String, huanxin_domain::requests::categories::Tree> = HashMap::new();
        let mut plan = Vec::new();
        for r in &rows {
            if known.contains(&r.work_order) {
                report.already_imported += 1;
                continue;
            }
            let found = match_address(&only, &r.address);
            // Dated and routed by the tree where the estate lies; a kind retired there keeps the
            // desk's (a call that came is never refused).
            let mut category = r.category.clone();
            if let AddressMatch::One(estate) = found {
                let place = community.get(&estate).copied().unwrap_or("");
                if !trees.contains_key(place) {
                    trees.insert(place.to_string(), self.category_tree_at(place).await?);
                }
                if let Some(c) = trees.get(place).and_then(|t| t.leaf(&r.category.code)) {
                    category = c.clone();
                }
                let key = (estate, category.code.clone());
                if let std::collections::hash_map::Entry::Vacant(slot) = routes.entry(key) {
                    slot.insert(self.route_for(estate, place, category.unit_kind).await?);
                }
            }
            plan.push((r, category, found));
        }
        let now = crate::now();
        let mut tx = self.begin().await?;
        for (r, category, found) in plan {
            match found {
                AddressMatch::One(estate) => {
                    let to = routes.get(&(estate, category.code.clone())).ok_or_else(|| StoreError::Config("route not prepared".into()))?;
                    let author = if r.caller.is_empty() { "12345热线来电" } else { r.caller.as_str() };
                    let new = NewRequest {
                        estate_id: estate,
                        dwelling_id: None,
                        author,
                        channel: "hotline",
                        category: &category,
                        text: &r.text,
                        suggested: Some(category.code.to_string()),
                        confirmed_by: None,
                        work_order: Some((region.as_str(), &r.work_order)),
                        caller_phone: &r.phone,
                        user_id: None,
                        created_at: utc(r.called_at),
                        due: huanxin_domain::requests::due_on(cal, category.working_days, r.called_at.date()),
                        to,
                    };
                    let (_, warnings) = insert_request(&mut tx, actor, &new).await?;
                    report.warnings.extend(warnings);
                    report.filed += 1;
                }
                AddressMatch::Several(_) | AddressMatch::None => {
                    let candidates = match found {
                        AddressMatch::Several(ids) => ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                        _ => String::new(),
                    };
                    tx.execute(
                        "INSERT INTO hotline_unmatched (region_code, work_order, called_at, caller, caller_phone, address, text, kind, category, \
                         candidates, imported_by, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        crate::args![
                            region.as_str(),
                            r.work_order.as_str(),
                            utc(r.called_at),
                            r.caller.as_str(),
                            r.phone.as_str(),
                            r.address.as_str(),
                            r.text.as_str(),
                            r.kind.as_str(),
                            r.category.code.as_str(),
                            candidates,
                            actor.username.as_str(),
                            now.as_str()
                        ],
                    )
                    .await?;
                    report.unmatched += 1;
                }
            }
        }
        tx.audit(
            actor,
            Change {
                action: "import",
                entity: "hotline",
                entity_id: String::new(),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"rows": report.rows, "filed": report.filed, "unmatched": report.unmatched, "already_imported": report.already_imported})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The work orders waiting for a clerk in the caller's region, oldest call first.
    pub async fn hotline_unmatched(&self, scope: &Scope) -> Result<Vec<UnmatchedOrder>, StoreError> {
        self.waiting_orders(scope, None).await
    }

    /// One work order waiting for a clerk in the caller's region (`NotFound` otherwise).
    pub async fn hotline_waiting(&self, scope: &Scope, id: i64) -> Result<UnmatchedOrder, StoreError> {
        self.waiting_orders(scope, Some(id)).await?.pop().ok_or(StoreError::NotFound)
    }

    /// Waiting work orders of the caller's region (the region's range in the query, so that the
    /// limit counts only theirs), or the one of `id`.
    async fn waiting_orders(&self, scope: &Scope, id: Option<i64>) -> Result<Vec<UnmatchedOrder>, StoreError> {
        let Scope::Region(region) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = region.subtree_range();
        self.fetch_all(
            "SELECT id, work_order, called_at, caller, address, text, kind, category, candidates, imported_by, imported_at \
             FROM hotline_unmatched WHERE request_id IS NULL AND region_code >= $1 AND region_code < $2 AND ($3 IS NULL OR id = $3) \
             ORDER BY called_at, id LIMIT 5000",
            crate::args![lo, hi, id],
        )
        .await
    }

    /// A clerk files a waiting work order on the estate it is about (an estate of their scope).
    pub async fn match_hotline(
        &self,
        actor: &Actor,
        scope: &Scope,
        id: i64,
        estate_id: i64,
        category: &Category,
    ) -> Result<(ServiceRequest, Vec<i64>), StoreError> {
        let (region, work_order, called_at, caller, phone, text): (String, String, String, String, String, String) = self
            .fetch_one(
                "SELECT region_code, work_order, called_at, caller, caller_phone, text FROM hotline_unmatched WHERE id = $1 AND request_id IS NULL",
                crate::args![id],
            )
            .await?;
        if !scope.covers_code(&region) {
            return Err(StoreError::NotFound);
        }
        let estate = self
            .get_estate(scope, estate_id)
            .await
            .map_err(|_| ValidationErrors::one("estate_id", estate_id, reason!("requests.estate_not_in_region")))?;
        let to = self.route_for(estate_id, &estate.community_code, category.unit_kind).await?;
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let called = chrono::DateTime::parse_from_rfc3339(&called_at)
            .map_or_else(|_| crate::today(), |t| (t + chrono::Duration::hours(8)).date_naive());
        let mut tx = self.begin().await?;
        let author = if caller.is_empty() { "12345热线来电" } else { caller.as_str() };
        let new = NewRequest {
            estate_id,
            dwelling_id: None,
            author,
            channel: "hotline",
            category,
            text: &text,
            suggested: Some(category.code.to_string()),
            confirmed_by: Some(actor.username.clone()),
            work_order: Some((region.as_str(), &work_order)),
            caller_phone: &phone,
            user_id: None,
            created_at: called_at.clone(),
            due: huanxin_domain::requests::due_on(cal, category.working_days, called),
            to: &to,
        };
        let (r, warnings) = insert_request(&mut tx, actor, &new).await?;
        // Taken once: of two clerks choosing together, the second finds it taken and writes nothing.
        if tx.execute("UPDATE hotline_unmatched SET request_id = $1 WHERE id = $2 AND request_id IS NULL", crate::args![r.id, id]).await?
            == 0
        {
            return Err(StoreError::Conflict(reason!("requests.changed_meanwhile")));
        }
        tx.audit(
            actor,
            Change {
                action: "match",
                entity: "hotline",
                entity_id: work_order.clone(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"request_id": r.id, "estate_id": estate_id})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((r, warnings))
    }
}
