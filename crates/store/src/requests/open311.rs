//! Open311 GeoReport v2 storage: the client applications (an api_key each, for one jurisdiction),
//! the requests they file (the same inbox, routing and warnings as any other) and the public
//! listing of a jurisdiction's requests. The mapping rules are `domain::requests::open311`.

use super::{insert_request, NewRequest, ServiceRequest};
use crate::audit::{Actor, Change};
use crate::db::{Arg, Db};
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::categories::Category;
use huanxin_domain::requests::hotline::Place;
use serde::Serialize;

/// A client application allowed to file requests in a jurisdiction.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Open311Client {
    pub id: i64,
    /// The jurisdiction: the region its requests must lie in.
    pub region_code: String,
    pub name: String,
    /// The key's last four characters, to tell keys apart (the key itself is kept only hashed).
    pub key_hint: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<String>,
    /// How many requests it has filed.
    pub requests: i64,
}

const CLIENT_COLS: &str = "c.id, c.region_code, c.name, c.key_hint, c.created_by, c.created_at, c.revoked_by, c.revoked_at, \
    (SELECT COUNT(*) FROM service_requests r WHERE r.open311_client = c.id) AS requests";

/// An estate as Open311 places requests: by point, code or address.
#[derive(Debug, Clone)]
pub struct Open311Place {
    pub place: Place,
    pub code: String,
    pub community: String,
    pub point: Option<(f64, f64)>,
}

/// A request about to be filed through Open311, its estate found and category chosen.
pub struct Open311Filing<'a> {
    pub client_id: i64,
    pub estate_id: i64,
    pub community: &'a str,
    pub category: &'a Category,
    pub author: &'a str,
    pub phone: &'a str,
    pub text: &'a str,
    /// The model's likeliest category for the description, when it had one.
    pub suggested: Option<String>,
    pub media_url: &'a str,
    pub point: Option<(f64, f64)>,
    pub token: &'a str,
}

/// A request as the public listing shows it: no names or phones, its text only when it came
/// through Open311.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Open311Row {
    pub id: i64,
    pub status: String,
    pub category: String,
    pub channel: String,
    pub text: String,
    pub answer: String,
    pub unit_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub due_on: String,
    pub media_url: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub estate_code: String,
    pub estate_name: String,
    pub estate_address: String,
    pub estate_lon: Option<f64>,
    pub estate_lat: Option<f64>,
    pub open311_client: Option<i64>,
    pub open311_token: Option<String>,
}

/// Which requests a GET lists.
#[derive(Debug, Clone, Default)]
pub struct Open311Query {
    /// When given, these and nothing else (the spec: it overrides the other filters).
    pub ids: Vec<i64>,
    pub categories: Vec<String>,
    pub statuses: Vec<&'static str>,
    /// Filed at or after, and before: UTC as stored.
    pub from: String,
    pub to: String,
    pub limit: u32,
    pub offset: u64,
}

fn marks(args: &mut Vec<Arg>, values: impl IntoIterator<Item = Arg>) -> String {
    let mut m = Vec::new();
    for v in values {
        args.push(v);
        m.push(format!("${}", args.len()));
    }
    m.join(", ")
}

impl Db {
    /// The client applications registered in the caller's region.
    pub async fn open311_clients(&self, scope: &Scope) -> Result<Vec<Open311Client>, StoreError> {
        let Scope::Region(region) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = region.subtree_range();
        self.fetch_all(
            &format!("SELECT {CLIENT_COLS} FROM open311_clients c WHERE c.region_code >= $1 AND c.region_code < $2 ORDER BY c.id"),
            crate::args![lo, hi],
        )
        .await
    }

    /// Registers a client application for a jurisdiction in the caller's region; the key is kept
    /// hashed.
    pub async fn create_open311_client(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &RegionCode,
        name: &str,
        key_hash: &str,
        key_hint: &str,
    ) -> Result<Open311Client, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(huanxin_domain::ValidationErrors::one("region_code", region.as_str(), reason!("field.outside_region")).into());
        }
        if self.scalar("SELECT COUNT(*) FROM regions WHERE code = $1", crate::args![region.as_str()]).await? == 0 {
            return Err(
                huanxin_domain::ValidationErrors::one("region_code", region.as_str(), reason!("open311.no_such_jurisdiction")).into()
            );
        }
        let taken = self
            .scalar(
                "SELECT COUNT(*) FROM open311_clients WHERE region_code = $1 AND name = $2 AND revoked_at IS NULL",
                crate::args![region.as_str(), name],
            )
            .await?;
        if taken > 0 {
            return Err(huanxin_domain::ValidationErrors::one("name", name, reason!("open311.name_taken")).into());
        }
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO open311_clients (region_code, name, key_hash, key_hint, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                crate::args![region.as_str(), name, key_hash, key_hint, actor.username.as_str(), crate::now()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "open311_client",
                entity_id: id.to_string(),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"name": name, "key_hint": key_hint})),
            },
        )
        .await?;
        tx.commit().await?;
        self.open311_client(scope, id).await
    }

    /// One client application of the caller's region.
    pub async fn open311_client(&self, scope: &Scope, id: i64) -> Result<Open311Client, StoreError> {
        let c: Option<Open311Client> =
            self.fetch_optional(&format!("SELECT {CLIENT_COLS} FROM open311_clients c WHERE c.id = $1"), crate::args![id]).await?;
        c.filter(|c| scope.covers_code(&c.region_code)).ok_or(StoreError::NotFound)
    }

    /// Revokes a client's key: from now on it files nothing. Its requests stay.
    pub async fn revoke_open311_client(&self, actor: &Actor, scope: &Scope, id: i64) -> Result<Open311Client, StoreError> {
        let c = self.open311_client(scope, id).await?;
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE open311_clients SET revoked_by = $1, revoked_at = $2 WHERE id = $3 AND revoked_at IS NULL",
                crate::args![actor.username.as_str(), crate::now(), id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("open311.already_revoked")));
        }
        tx.audit(
            actor,
            Change {
                action: "revoke",
                entity: "open311_client",
                entity_id: id.to_string(),
                region_code: c.region_code.clone(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.open311_client(scope, id).await
    }

    /// The client a key's hash belongs to: `(id, jurisdiction, name, revoked)`.
    pub async fn open311_client_by_key(&self, key_hash: &str) -> Result<Option<(i64, String, String, bool)>, StoreError> {
        self.fetch_optional(
            "SELECT id, region_code, name, revoked_at IS NOT NULL FROM open311_clients WHERE key_hash = $1",
            crate::args![key_hash],
        )
        .await
    }

    /// True when the region is one of ours.
    pub async fn region_exists(&self, region: &RegionCode) -> Result<bool, StoreError> {
        Ok(self.scalar("SELECT COUNT(*) FROM regions WHERE code = $1", crate::args![region.as_str()]).await? > 0)
    }

    /// The estates of a jurisdiction as Open311 places requests.
    pub async fn open311_places(&self, region: &RegionCode) -> Result<Vec<Open311Place>, StoreError> {
        let mut args = Vec::new();
        let wh = crate::estates::scope_clause(&Scope::Region(region.clone()), &mut args);
        type Row = (i64, String, String, String, String, String, Option<f64>, Option<f64>);
        let rows: Vec<Row> = self
            .fetch_all(
                &format!("SELECT e.id, e.code, e.name, e.aliases, e.address, e.community_code, e.lon, e.lat FROM estates e WHERE {wh}"),
                args,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, code, name, aliases, address, community, lon, lat)| Open311Place {
                place: Place {
                    id,
                    name,
                    aliases: aliases.split('、').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect(),
                    address,
                },
                code,
                community,
                point: lon.zip(lat),
            })
            .collect())
    }

    /// Files a request from a client application: routed, dated and warned about as any other, in
    /// one transaction with its token and the audit entry.
    pub async fn file_open311(&self, actor: &Actor, f: &Open311Filing<'_>) -> Result<(ServiceRequest, Vec<i64>), StoreError> {
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        let due = huanxin_domain::requests::due_on(cal, f.category.working_days, crate::today());
        let to = self.route_for(f.estate_id, f.community, f.category.unit_kind).await?;
        let mut tx = self.begin().await?;
        let new = NewRequest {
            estate_id: f.estate_id,
            dwelling_id: None,
            author: f.author,
            channel: "open311",
            category: f.category,
            text: f.text,
            suggested: f.suggested.clone(),
            confirmed_by: None,
            work_order: None,
            caller_phone: f.phone,
            user_id: None,
            created_at: crate::now(),
            due,
            to: &to,
        };
        let (r, warnings) = insert_request(&mut tx, actor, &new).await?;
        tx.execute(
            "UPDATE service_requests SET open311_client = $1, open311_token = $2, media_url = $3, lon = $4, lat = $5 WHERE id = $6",
            crate::args![f.client_id, f.token, f.media_url, f.point.map(|p| p.0), f.point.map(|p| p.1), r.id],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "file",
                entity: "service_request",
                entity_id: r.id.to_string(),
                region_code: f.community.to_string(),
                before: None,
                after: Some(serde_json::json!({"category": f.category.code, "channel": "open311", "unit": to.name, "client": f.client_id})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((r, warnings))
    }

    /// A jurisdiction's requests as GeoReport lists them, newest first.
    pub async fn open311_requests(&self, region: &RegionCode, q: &Open311Query) -> Result<Vec<Open311Row>, StoreError> {
        let mut args = Vec::new();
        // A county (or a place in one) is read off the county's index, newest first; above a county
        // the time's index serves, the region checked on each estate.
        let mut wh = Vec::new();
        if region.level() >= huanxin_domain::regions::Level::County {
            args.push(region.as_str().get(..6).unwrap_or("").into());
            wh.push(format!("r.county_code = ${}", args.len()));
        }
        if region.level() != huanxin_domain::regions::Level::County {
            wh.push(crate::estates::scope_clause(&Scope::Region(region.clone()), &mut args));
        }
        // A neighbours' dispute is listed only when filed here: at a small estate its kind and day
        // alone could name the neighbours.
        wh.push("(r.channel = 'open311' OR r.category <> 'dispute')".to_string());
        if !q.ids.is_empty() {
            wh.push(format!("r.id IN ({})", marks(&mut args, q.ids.iter().map(|&i| Arg::from(i)))));
        } else {
            args.push(q.from.as_str().into());
            wh.push(format!("r.created_at >= ${}", args.len()));
            args.push(q.to.as_str().into());
            wh.push(format!("r.created_at < ${}", args.len()));
            if !q.categories.is_empty() {
                wh.push(format!("r.category IN ({})", marks(&mut args, q.categories.iter().map(|c| Arg::from(c.as_str())))));
            }
            if !q.statuses.is_empty() {
                wh.push(format!("r.status IN ({})", marks(&mut args, q.statuses.iter().map(|&s| Arg::from(s)))));
            }
        }
        args.push(i64::from(q.limit).into());
        let limit = args.len();
        args.push(i64::try_from(q.offset).unwrap_or(i64::MAX).into());
        let offset = args.len();
        self.fetch_all(
            &format!(
                "SELECT r.id, r.status, r.category, r.channel, r.text, r.answer, r.unit_name, r.created_at, \
                 COALESCE(r.closed_at, r.resolved_at, r.handled_at, r.created_at) AS updated_at, r.due_on, r.media_url, r.lon, r.lat, \
                 e.code AS estate_code, e.name AS estate_name, e.address AS estate_address, e.lon AS estate_lon, e.lat AS estate_lat, \
                 r.open311_client, r.open311_token \
                 FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE {} \
                 ORDER BY r.created_at DESC, r.id DESC LIMIT ${limit} OFFSET ${offset}",
                wh.join(" AND ")
            ),
            args,
        )
        .await
    }

    /// The request a token was given for, in a jurisdiction.
    pub async fn open311_token(&self, region: &RegionCode, token: &str) -> Result<Option<i64>, StoreError> {
        let mut args = Vec::new();
        let wh = crate::estates::scope_clause(&Scope::Region(region.clone()), &mut args);
        args.push(token.into());
        let found: Option<(i64,)> = self
            .fetch_optional(
                &format!(
                    "SELECT r.id FROM service_requests r JOIN estates e ON e.id = r.estate_id WHERE {wh} AND r.open311_token = ${}",
                    args.len()
                ),
                args,
            )
            .await?;
        Ok(found.map(|(id,)| id))
    }
}
