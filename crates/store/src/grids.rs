//! Grids (网格) of a community's estates, their workers and responsible person, the weekly hazard
//! check (patrols) with photos filed in the estate's archive and hazards filed as requests, dispute
//! mediation records, the week's coverage and each worker's workload. The rules are
//! `huanxin_domain::grids`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::requests::{insert_request, NewRequest};
use huanxin_domain::access::Scope;
use huanxin_domain::grids::{self as rules, GridFeature, Hazard, PatrolInput, Workload};
use huanxin_domain::reason;
use huanxin_domain::regions::{Level, RegionCode};
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// A grid as listed: its estates, workers and this week's patrols.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Grid {
    pub id: i64,
    /// The community it belongs to.
    pub region_code: String,
    pub code: String,
    pub name: String,
    /// Its boundary (a GeoJSON geometry), when drawn or imported.
    pub boundary: Option<String>,
    /// The responsible person's display name.
    pub leader: Option<String>,
    pub estates: i64,
    /// The grid workers' display names, joined by 、.
    pub workers: String,
    /// Their user names, joined by commas (to edit them).
    pub worker_usernames: String,
    /// The responsible person's user name.
    pub leader_username: Option<String>,
    /// Estates of the grid patrolled this week.
    pub patrolled: i64,
}

const GRID_COLS: &str = "g.id, g.region_code, g.code, g.name, g.boundary, \
    (SELECT u.display_name FROM users u WHERE u.id = g.leader_user_id) AS leader, \
    (SELECT COUNT(*) FROM grid_estates ge WHERE ge.grid_id = g.id) AS estates, \
    COALESCE((SELECT STRING_AGG(u.display_name, '、') FROM grid_workers w JOIN users u ON u.id = w.user_id WHERE w.grid_id = g.id), '') AS workers, \
    COALESCE((SELECT STRING_AGG(u.username, ',') FROM grid_workers w JOIN users u ON u.id = w.user_id WHERE w.grid_id = g.id), '') AS worker_usernames, \
    (SELECT u.username FROM users u WHERE u.id = g.leader_user_id) AS leader_username, \
    (SELECT COUNT(DISTINCT p.estate_id) FROM patrols p JOIN grid_estates pe ON pe.estate_id = p.estate_id AND pe.grid_id = g.id WHERE p.week = $1) AS patrolled";

/// A grid drawn by hand: its community, code, name, boundary (optional) and estates.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct GridInput {
    pub region_code: String,
    pub code: String,
    pub name: String,
    pub boundary: Option<serde_json::Value>,
    pub estate_ids: Vec<i64>,
}

/// What a GeoJSON import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GridImport {
    pub grids: usize,
    /// Estates whose point lies in a grid, now in it.
    pub estates: usize,
    /// Estates of the communities without a point on the map: none of them could be placed.
    pub without_point: usize,
    /// Estates taken from another grid they were in.
    pub moved: usize,
}

/// An estate on a worker's round: where it is and whether it was patrolled this week.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RoundEstate {
    pub grid_id: i64,
    pub grid_name: String,
    pub estate_id: i64,
    pub name: String,
    pub address: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// When it was last patrolled by anyone (UTC), if ever.
    pub last_patrol: Option<String>,
    /// Patrols of it this week.
    pub this_week: i64,
}

/// A patrol as recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Patrol {
    pub id: i64,
    pub grid_id: i64,
    pub estate_id: i64,
    pub estate_name: String,
    pub worker: String,
    pub week: String,
    pub at: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// Metres from the estate's point, when both are known.
    pub distance_m: Option<f64>,
    /// The items as answered (JSON).
    pub items: String,
    pub hazards: i64,
    pub note: String,
    /// The archive documents of its photos, as ids joined by commas.
    pub photos: String,
}

/// The week's coverage of one estate in a grid.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Coverage {
    pub estate_id: i64,
    pub name: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub grid_id: i64,
    pub grid_name: String,
    pub patrols: i64,
    pub hazards: i64,
}

/// A grid worker's workload over the last weeks.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerLoad {
    pub username: String,
    pub display_name: String,
    pub grids: String,
    #[serde(flatten)]
    pub load: Workload,
    pub patrol_rate: f64,
    pub on_time_rate: f64,
}

/// A dispute mediation record (纠纷调解).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Mediation {
    pub id: i64,
    pub estate_id: i64,
    pub held_on: String,
    pub parties: String,
    pub issue: String,
    /// `agreed`, `not_agreed` or `referred`.
    pub outcome: String,
    pub agreement: String,
    /// The signed agreement's file name, when one was kept (read through the mediation, not the
    /// archive: it names the parties, which the estate's companies must not read).
    pub agreement_file: Option<String>,
    pub mediator: String,
    pub created_at: String,
}

/// A mediation as entered.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct MediationInput {
    pub held_on: String,
    pub parties: String,
    pub issue: String,
    pub outcome: String,
    pub agreement: String,
}

impl MediationInput {
    /// Checks the day (not in the future), parties, issue and outcome.
    pub fn validate(&self, today: chrono::NaiveDate) -> Result<chrono::NaiveDate, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let day =
            chrono::NaiveDate::parse_from_str(self.held_on.trim(), "%Y-%m-%d").ok().filter(|d| *d <= today && rules::week_in_range(*d));
        if day.is_none() {
            e.push("held_on", &self.held_on, reason!("field.date"));
        }
        for (field, value, max) in [("parties", &self.parties, 200), ("issue", &self.issue, 2000)] {
            if value.trim().is_empty() || value.chars().count() > max {
                e.push(field, value.chars().take(40).collect::<String>(), reason!("field.length", max = max));
            }
        }
        for (field, value) in [("parties", &self.parties), ("issue", &self.issue), ("agreement", &self.agreement)] {
            if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
                e.push(
                    field,
                    value.chars().filter(|c| !c.is_control()).take(40).collect::<String>(),
                    reason!("request.control_characters"),
                );
            }
        }
        if !["agreed", "not_agreed", "referred"].contains(&self.outcome.as_str()) {
            e.push("outcome", &self.outcome, reason!("grids.outcome"));
        }
        if self.agreement.chars().count() > 2000 {
            e.push("agreement", self.agreement.chars().count(), reason!("field.at_most_chars", max = 2000));
        }
        match day {
            Some(d) if e.is_empty() => Ok(d),
            _ => Err(e),
        }
    }
}

fn this_week() -> String {
    rules::week_of(crate::today()).to_string()
}

fn community_of(scope: &Scope, code: &str) -> Result<RegionCode, StoreError> {
    let region = RegionCode::parse(code).map_err(|r| ValidationErrors::one("region_code", code, r))?;
    if region.level() != Level::Community {
        return Err(ValidationErrors::one("region_code", code, reason!("grids.not_community")).into());
    }
    if !scope.covers_code(region.as_str()) {
        return Err(ValidationErrors::one("region_code", code, reason!("field.outside_region")).into());
    }
    Ok(region)
}

impl Db {
    /// The grids of the caller's region, by community and code.
    pub async fn grids(&self, scope: &Scope) -> Result<Vec<Grid>, StoreError> {
        let Scope::Region(region) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = region.subtree_range();
        self.fetch_all(
            &format!("SELECT {GRID_COLS} FROM grids g WHERE g.region_code >= $2 AND g.region_code < $3 ORDER BY g.region_code, g.code"),
            crate::args![this_week(), lo, hi],
        )
        .await
    }

    /// One grid of the caller's region.
    pub async fn grid(&self, scope: &Scope, id: i64) -> Result<Grid, StoreError> {
        let g: Option<Grid> =
            self.fetch_optional(&format!("SELECT {GRID_COLS} FROM grids g WHERE g.id = $2"), crate::args![this_week(), id]).await?;
        g.filter(|g| scope.covers_code(&g.region_code)).ok_or(StoreError::NotFound)
    }

    /// Creates or redraws a grid of a community (by its code), with the estates it covers (each
    /// estate in one grid: one taken from another grid moves).
    pub async fn save_grid(&self, actor: &Actor, scope: &Scope, input: &GridInput) -> Result<Grid, StoreError> {
        let region = community_of(scope, &input.region_code)?;
        let mut e = ValidationErrors::default();
        if input.name.trim().is_empty() || input.name.trim().chars().count() > 64 {
            e.push("name", input.name.trim(), reason!("field.length", max = 64));
        }
        if input.code.trim().is_empty() || input.code.trim().chars().count() > 32 {
            e.push("code", input.code.trim(), reason!("field.length", max = 32));
        }
        let boundary = match &input.boundary {
            None | Some(serde_json::Value::Null) => None,
            Some(g) => {
                let wrapped = serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"}, "geometry": g}]});
                match rules::read_geojson(wrapped.to_string().as_bytes()) {
                    Ok(read) => read.first().map(|f| f.geometry.to_string()),
                    Err(_) => {
                        e.push("boundary", "", reason!("grids.geometry"));
                        None
                    }
                }
            }
        };
        for &id in &input.estate_ids {
            let (lo, hi) = region.subtree_range();
            if self
                .scalar(
                    "SELECT COUNT(*) FROM estates WHERE id = $1 AND community_code >= $2 AND community_code < $3",
                    crate::args![id, lo, hi],
                )
                .await?
                == 0
            {
                e.push("estate_ids", id, reason!("grids.estate_elsewhere"));
            }
        }
        if !e.is_empty() {
            return Err(e.into());
        }
        let mut tx = self.begin().await?;
        let id = upsert_grid(&mut tx, actor, region.as_str(), input.code.trim(), input.name.trim(), boundary, &input.estate_ids).await?;
        tx.audit(
            actor,
            Change {
                action: "save",
                entity: "grid",
                entity_id: id.to_string(),
                region_code: region.as_str().to_string(),
                before: None,
                after: Some(serde_json::json!({"code": input.code.trim(), "name": input.name.trim(), "estates": input.estate_ids})),
            },
        )
        .await?;
        tx.commit().await?;
        self.grid(scope, id).await
    }

    /// Imports grids from GeoJSON features into the caller's region: each grid's community from its
    /// properties, or `community` for all; each estate of that community whose point lies inside
    /// joins it. All or nothing.
    pub async fn import_grids(
        &self,
        actor: &Actor,
        scope: &Scope,
        community: Option<&str>,
        features: &[GridFeature],
    ) -> Result<GridImport, StoreError> {
        let mut e = ValidationErrors::default();
        let mut plan = Vec::new();
        for f in features {
            let code = if f.community.is_empty() { community.unwrap_or("") } else { f.community.as_str() };
            match community_of(scope, code) {
                Ok(region) => plan.push((f, region)),
                Err(StoreError::Invalid(v)) => {
                    for x in v.0 {
                        e.push(&format!("features[{}].community_code", f.number), &x.value, reason!("grids.not_community"));
                    }
                }
                Err(other) => return Err(other),
            }
        }
        if !e.is_empty() {
            return Err(e.into());
        }
        let mut report = GridImport { grids: plan.len(), ..Default::default() };
        let mut inputs = Vec::new();
        // Which feature placed each estate: grids must not overlap.
        let mut placed: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        let mut counted: Vec<String> = Vec::new();
        for (f, region) in &plan {
            let (lo, hi) = region.subtree_range();
            type Row = (i64, String, Option<f64>, Option<f64>, Option<String>, Option<String>);
            let estates: Vec<Row> = self
                .fetch_all(
                    "SELECT e.id, e.name, e.lon, e.lat, g.region_code, g.code FROM estates e LEFT JOIN grid_estates ge ON ge.estate_id = e.id \
                     LEFT JOIN grids g ON g.id = ge.grid_id WHERE e.community_code >= $1 AND e.community_code < $2",
                    crate::args![lo, hi],
                )
                .await?;
            let mut inside = Vec::new();
            for (id, name, lon, lat, in_region, in_code) in &estates {
                if !lon.zip(*lat).is_some_and(|p| rules::contains(&f.polygons, p)) {
                    continue;
                }
                if let Some(other) = placed.insert(*id, f.number) {
                    e.push(&format!("features[{}].geometry", f.number), name, reason!("grids.estate_in_two", estate = name, other = other));
                }
                let here = in_region.as_deref() == Some(region.as_str()) && in_code.as_deref() == Some(f.code.as_str());
                report.moved += usize::from(in_code.is_some() && !here);
                inside.push(*id);
            }
            if !counted.iter().any(|c| c == region.as_str()) {
                counted.push(region.as_str().to_string());
                report.without_point += estates.iter().filter(|(_, _, lon, lat, _, _)| lon.is_none() || lat.is_none()).count();
            }
            report.estates += inside.len();
            inputs.push(GridInput {
                region_code: region.as_str().to_string(),
                code: f.code.clone(),
                name: f.name.clone(),
                boundary: Some(f.geometry.clone()),
                estate_ids: inside,
            });
        }
        if !e.is_empty() {
            return Err(e.into());
        }
        // One transaction: a grid is saved with its estates or the file not at all.
        let mut tx = self.begin().await?;
        for input in &inputs {
            let boundary = input.boundary.as_ref().map(|b| b.to_string());
            upsert_grid(&mut tx, actor, &input.region_code, &input.code, &input.name, boundary, &input.estate_ids).await?;
        }
        let region = match scope {
            Scope::Region(r) => r.as_str().to_string(),
            Scope::Attached { .. } => String::new(),
        };
        tx.audit(
            actor,
            Change {
                action: "import",
                entity: "grid",
                entity_id: String::new(),
                region_code: region,
                before: None,
                after: Some(serde_json::json!({"grids": report.grids, "estates": report.estates})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Sets a grid's workers (grid worker accounts of its community) and its responsible person
    /// (a worker or a staff member of the community or above, by user name; empty for none).
    pub async fn set_grid_people(
        &self,
        actor: &Actor,
        scope: &Scope,
        id: i64,
        workers: &[String],
        leader: &str,
    ) -> Result<Grid, StoreError> {
        let grid = self.grid(scope, id).await?;
        let mut e = ValidationErrors::default();
        let mut ids = Vec::new();
        for (i, name) in workers.iter().enumerate() {
            let found: Option<(i64, String, String)> = self
                .fetch_optional("SELECT id, role, region_code FROM users WHERE username = $1 AND active = TRUE", crate::args![name.trim()])
                .await?;
            match found {
                // A name given twice counts once.
                Some((uid, _, _)) if ids.contains(&uid) => {}
                Some((uid, role, region)) if role == "grid_worker" && region == grid.region_code => ids.push(uid),
                _ => e.push(&format!("workers[{i}]"), name, reason!("grids.not_grid_worker", user = name)),
            }
        }
        let leader_id = if leader.trim().is_empty() {
            None
        } else {
            let found: Option<(i64, String, String)> = self
                .fetch_optional(
                    "SELECT id, role, region_code FROM users WHERE username = $1 AND active = TRUE",
                    crate::args![leader.trim()],
                )
                .await?;
            match found {
                // The responsible person is a grid worker or a government desk, working at the
                // grid's community or above it, in the caller's region.
                Some((uid, role, region))
                    if huanxin_domain::access::Role::parse(&role).and_then(|r| r.level()).is_some()
                        && scope.covers_code(&region)
                        && RegionCode::parse(&region)
                            .ok()
                            .zip(RegionCode::parse(&grid.region_code).ok())
                            .is_some_and(|(r, g)| r.contains(&g)) =>
                {
                    Some(uid)
                }
                _ => {
                    e.push("leader", leader, reason!("grids.not_leader", user = leader));
                    None
                }
            }
        };
        if !e.is_empty() {
            return Err(e.into());
        }
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM grid_workers WHERE grid_id = $1", crate::args![id]).await?;
        for uid in &ids {
            tx.execute("INSERT INTO grid_workers (grid_id, user_id) VALUES ($1, $2)", crate::args![id, *uid]).await?;
        }
        tx.execute("UPDATE grids SET leader_user_id = $1 WHERE id = $2", crate::args![leader_id, id]).await?;
        tx.audit(
            actor,
            Change {
                action: "set_people",
                entity: "grid",
                entity_id: id.to_string(),
                region_code: grid.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"workers": workers, "leader": leader})),
            },
        )
        .await?;
        tx.commit().await?;
        self.grid(scope, id).await
    }

    /// True when the estate is in a grid the user works in (door-to-door forms and ballots).
    pub async fn works_on_estate(&self, user_id: i64, estate_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .scalar(
                "SELECT COUNT(*) FROM grid_workers w JOIN grid_estates ge ON ge.grid_id = w.grid_id WHERE w.user_id = $1 AND ge.estate_id = $2",
                crate::args![user_id, estate_id],
            )
            .await?
            > 0)
    }

    /// The estates of a grid in scope, for an opinion round on each.
    pub async fn grid_estate_ids(&self, scope: &Scope, grid_id: i64) -> Result<Vec<i64>, StoreError> {
        self.grid(scope, grid_id).await?;
        let rows: Vec<(i64,)> =
            self.fetch_all("SELECT estate_id FROM grid_estates WHERE grid_id = $1 ORDER BY estate_id", crate::args![grid_id]).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The estates of a worker's grids, the ones not yet patrolled this week first.
    pub async fn my_round(&self, user_id: i64) -> Result<Vec<RoundEstate>, StoreError> {
        self.fetch_all(
            "SELECT g.id AS grid_id, g.name AS grid_name, e.id AS estate_id, e.name, e.address, e.lon, e.lat, \
             (SELECT MAX(p.at) FROM patrols p WHERE p.estate_id = e.id) AS last_patrol, \
             (SELECT COUNT(*) FROM patrols p WHERE p.estate_id = e.id AND p.week = $2) AS this_week \
             FROM grid_workers w JOIN grids g ON g.id = w.grid_id JOIN grid_estates ge ON ge.grid_id = g.id JOIN estates e ON e.id = ge.estate_id \
             WHERE w.user_id = $1 ORDER BY this_week, g.code, e.name",
            crate::args![user_id, this_week()],
        )
        .await
    }

    /// Records a grid worker's patrol of an estate of one of their grids: the items, the position,
    /// photos filed in the estate's archive, and each hazard filed as a request (channel `patrol`)
    /// routed like any other; all in one transaction. Returns the patrol and the warnings raised.
    pub async fn record_patrol(
        &self,
        actor: &Actor,
        user_id: i64,
        worker: &str,
        input: &PatrolInput,
        hazards: &[Hazard],
        photos: Vec<(String, Vec<u8>)>,
    ) -> Result<(Patrol, Vec<i64>), StoreError> {
        let found: Option<(i64, String, Option<f64>, Option<f64>)> = self
            .fetch_optional(
                "SELECT g.id, e.community_code, e.lon, e.lat FROM grid_workers w JOIN grid_estates ge ON ge.grid_id = w.grid_id \
                 JOIN grids g ON g.id = w.grid_id JOIN estates e ON e.id = ge.estate_id WHERE w.user_id = $1 AND ge.estate_id = $2",
                crate::args![user_id, input.estate_id],
            )
            .await?;
        let Some((grid_id, community, elon, elat)) = found else {
            return Err(ValidationErrors::one("estate_id", input.estate_id, reason!("grids.not_your_grid")).into());
        };
        let mut problems = ValidationErrors::default();
        if photos.len() > 9 {
            problems.push("photos", photos.len(), reason!("construction.too_many_log_photos"));
        }
        let day = crate::today();
        let title = format!("网格巡查 {day}");
        let checked = crate::archive::check_photos(photos, "review", "other", &title, &mut problems);
        if !problems.is_empty() {
            return Err(problems.into());
        }
        let distance = input.lon.zip(input.lat).zip(elon.zip(elat)).map(|(a, b)| huanxin_domain::geo::metres_between(a, b));
        let cal = huanxin_domain::calendar::WorkCalendar::shipped_once().map_err(|e| StoreError::Config(e.to_string()))?;
        // The checklist's categories as the place's tree has them (its working days and unit),
        // retired there or not: the checklist is the same everywhere.
        let tree = self.category_tree_at(&community).await?;
        let mut routes = Vec::new();
        for h in hazards {
            let category = tree.category(h.item.category).ok_or_else(|| StoreError::Config(format!("no category {}", h.item.category)))?;
            routes.push((h, category, self.route_for(input.estate_id, &community, category.unit_kind).await?));
        }
        let items = serde_json::to_string(&input.items).map_err(|e| StoreError::Config(e.to_string()))?;
        self.stage_documents(&checked).await?;
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO patrols (grid_id, estate_id, user_id, week, at, lon, lat, distance_m, items, hazards, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                crate::args![
                    grid_id,
                    input.estate_id,
                    user_id,
                    rules::week_of(day).to_string(),
                    crate::now(),
                    input.lon,
                    input.lat,
                    distance,
                    items,
                    hazards.len() as i64,
                    input.note.trim()
                ],
            )
            .await?;
        let mut docs = Vec::new();
        for c in checked {
            docs.push(tx.insert_document(actor, input.estate_id, c, Default::default()).await?.id);
        }
        let photo_ids = docs.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        tx.execute("UPDATE patrols SET photos = $1 WHERE id = $2", crate::args![photo_ids, id]).await?;
        let mut warnings = Vec::new();
        for (h, category, to) in &routes {
            let text = h.request_text();
            let new = NewRequest {
                estate_id: input.estate_id,
                dwelling_id: None,
                author: worker,
                channel: "patrol",
                category,
                text: &text,
                suggested: None,
                // The worker chose the item, and so the category.
                confirmed_by: Some(actor.username.clone()),
                work_order: None,
                caller_phone: "",
                user_id: None,
                created_at: crate::now(),
                due: huanxin_domain::requests::due_on(cal, category.working_days, day),
                to,
            };
            let (r, w) = insert_request(&mut tx, actor, &new).await?;
            tx.execute("UPDATE service_requests SET patrol_id = $1 WHERE id = $2", crate::args![id, r.id]).await?;
            warnings.extend(w);
        }
        tx.audit(
            actor,
            Change {
                action: "patrol",
                entity: "estate",
                entity_id: input.estate_id.to_string(),
                region_code: community,
                before: None,
                after: Some(serde_json::json!({"patrol": id, "hazards": hazards.len(), "photos": docs.len()})),
            },
        )
        .await?;
        tx.commit().await?;
        let p: Patrol = self.fetch_one(&format!("{PATROL_SELECT} WHERE p.id = $1"), crate::args![id]).await?;
        Ok((p, warnings))
    }

    /// The patrols of the caller's region in a week (this week when none), newest first.
    pub async fn patrols(&self, scope: &Scope, week: Option<chrono::NaiveDate>) -> Result<Vec<Patrol>, StoreError> {
        let mut args = crate::args![week.map(rules::week_of).unwrap_or_else(|| rules::week_of(crate::today())).to_string()];
        let wh = crate::estates::scope_clause(scope, &mut args);
        self.fetch_all(&format!("{PATROL_SELECT} WHERE p.week = $1 AND {wh} ORDER BY p.at DESC LIMIT 2000"), args).await
    }

    /// The estates of the region's grids with their patrols in a week: the coverage map.
    pub async fn grid_coverage(&self, scope: &Scope, week: chrono::NaiveDate) -> Result<Vec<Coverage>, StoreError> {
        let mut args = crate::args![rules::week_of(week).to_string()];
        let wh = crate::estates::scope_clause(scope, &mut args);
        self.fetch_all(
            &format!(
                "SELECT e.id AS estate_id, e.name, e.lon, e.lat, g.id AS grid_id, g.name AS grid_name, \
                 (SELECT COUNT(*) FROM patrols p WHERE p.estate_id = e.id AND p.week = $1) AS patrols, \
                 CAST(COALESCE((SELECT SUM(p.hazards) FROM patrols p WHERE p.estate_id = e.id AND p.week = $1), 0) AS BIGINT) AS hazards \
                 FROM grid_estates ge JOIN grids g ON g.id = ge.grid_id JOIN estates e ON e.id = ge.estate_id WHERE {wh} ORDER BY patrols, g.code, e.name"
            ),
            args,
        )
        .await
    }

    /// Each grid worker of the region: estate-weeks planned and patrolled over the last `weeks`
    /// weeks (this one included), hazards found, and their requests answered on time.
    pub async fn grid_workload(&self, scope: &Scope, weeks: u32) -> Result<Vec<WorkerLoad>, StoreError> {
        let Scope::Region(region) = scope else { return Ok(Vec::new()) };
        let (lo, hi) = region.subtree_range();
        let weeks = weeks.clamp(1, 26);
        let first = (rules::week_of(crate::today()) - chrono::Duration::weeks(i64::from(weeks) - 1)).to_string();
        type Row = (i64, String, String, String, i64);
        let people: Vec<Row> = self
            .fetch_all(
                "SELECT u.id, u.username, u.display_name, STRING_AGG(g.name, '、') AS grids, \
                 (SELECT COUNT(*) FROM grid_estates ge JOIN grid_workers w2 ON w2.grid_id = ge.grid_id WHERE w2.user_id = u.id) AS estates \
                 FROM grid_workers w JOIN users u ON u.id = w.user_id JOIN grids g ON g.id = w.grid_id \
                 WHERE g.region_code >= $1 AND g.region_code < $2 GROUP BY u.id, u.username, u.display_name ORDER BY u.username",
                crate::args![lo, hi],
            )
            .await?;
        let today = crate::today().to_string();
        let mut out = Vec::new();
        for (uid, username, display_name, grids, estates) in people {
            let (done, patrols, hazards): (i64, i64, i64) = self
                .fetch_one(
                    "SELECT COUNT(DISTINCT CAST(estate_id AS TEXT) || '-' || week), COUNT(*), CAST(COALESCE(SUM(hazards), 0) AS BIGINT) FROM patrols WHERE user_id = $1 AND week >= $2",
                    crate::args![uid, first.as_str()],
                )
                .await?;
            // Answered on time: by the due day (the answer's UTC date, a few hours kinder at night).
            let (on_time, due): (i64, i64) = self
                .fetch_one(
                    "SELECT CAST(COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL AND SUBSTR(r.resolved_at, 1, 10) <= r.due_on THEN 1 ELSE 0 END), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL OR r.due_on < $3 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM service_requests r JOIN patrols p ON p.id = r.patrol_id WHERE p.user_id = $1 AND p.week >= $2",
                    crate::args![uid, first.as_str(), today.as_str()],
                )
                .await?;
            let load =
                Workload { planned: estates * i64::from(weeks), done, patrols, hazards, answered_on_time: on_time, answers_due: due };
            out.push(WorkerLoad {
                username,
                display_name,
                grids,
                patrol_rate: load.patrol_rate(),
                on_time_rate: load.on_time_rate(),
                load,
            });
        }
        Ok(out)
    }

    /// Records a dispute mediation at an estate in scope, with the signed agreement filed in its
    /// archive when given.
    pub async fn record_mediation(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        input: &MediationInput,
        agreement: Option<(String, Vec<u8>)>,
    ) -> Result<Mediation, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let mut problems = ValidationErrors::default();
        let day = match input.validate(crate::today()) {
            Ok(d) => Some(d),
            Err(v) => {
                problems.0.extend(v.0);
                None
            }
        };
        // The signed agreement is kept with the mediation, not in the estate's archive: it names
        // the parties, and every company attached to the estate reads the archive.
        let file = match agreement {
            Some((name, content)) => match huanxin_domain::archive::check_file(name.trim(), &content) {
                Ok(t) if name.trim().chars().count() <= 200 => Some((name.trim().to_string(), t.mime, crate::Upload::from(content))),
                Ok(_) => {
                    problems.push("agreement_file", &name, reason!("archive.file_name_too_long"));
                    None
                }
                Err(r) => {
                    problems.push("agreement_file", &name, r);
                    None
                }
            },
            None => None,
        };
        let (Some(day), true) = (day, problems.is_empty()) else {
            return Err(problems.into());
        };
        if let Some((_, _, content)) = &file {
            self.stage_file(content).await?;
        }
        let mut tx = self.begin().await?;
        let sha = match &file {
            Some((_, mime, content)) => Some(tx.put_file(content.clone(), mime).await?),
            None => None,
        };
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO mediations (estate_id, held_on, parties, issue, outcome, agreement, agreement_sha256, agreement_type, agreement_name, \
                 mediator, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                crate::args![
                    estate_id,
                    day.to_string(),
                    input.parties.trim(),
                    input.issue.trim(),
                    input.outcome.as_str(),
                    input.agreement.trim(),
                    sha.clone(),
                    file.as_ref().map(|f| f.1.to_string()),
                    file.as_ref().map(|f| f.0.clone()),
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "mediation",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"mediation": id, "outcome": input.outcome, "agreement_file": sha})),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_one(&format!("SELECT {MEDIATION_COLS} FROM mediations WHERE id = $1"), crate::args![id]).await
    }

    /// A mediation's signed agreement: its name, type and bytes.
    pub async fn mediation_agreement(&self, scope: &Scope, estate_id: i64, id: i64) -> Result<(String, String, Vec<u8>), StoreError> {
        self.get_estate(scope, estate_id).await?;
        let found: Option<(String, String, String)> = self
            .fetch_optional(
                "SELECT m.agreement_name, m.agreement_type, m.agreement_sha256 FROM mediations m \
                 WHERE m.id = $1 AND m.estate_id = $2 AND m.agreement_sha256 IS NOT NULL",
                crate::args![id, estate_id],
            )
            .await?;
        let (name, mime, sha) = found.ok_or(StoreError::NotFound)?;
        Ok((name, mime, self.file_content(&sha).await?))
    }

    /// An estate's mediation records, newest first.
    pub async fn mediations(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Mediation>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            &format!("SELECT {MEDIATION_COLS} FROM mediations WHERE estate_id = $1 ORDER BY held_on DESC, id DESC"),
            crate::args![estate_id],
        )
        .await
    }
}

/// Writes a grid by its community and code (new, or redrawn with its estates replaced); each estate
/// leaves the grid it was in. Returns the grid's id.
async fn upsert_grid(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    region: &str,
    code: &str,
    name: &str,
    boundary: Option<String>,
    estates: &[i64],
) -> Result<i64, StoreError> {
    let existing: Option<(i64,)> =
        tx.fetch_optional("SELECT id FROM grids WHERE region_code = $1 AND code = $2", crate::args![region, code]).await?;
    let id = match existing {
        Some((id,)) => {
            tx.execute("UPDATE grids SET name = $1, boundary = $2 WHERE id = $3", crate::args![name, boundary, id]).await?;
            tx.execute("DELETE FROM grid_estates WHERE grid_id = $1", crate::args![id]).await?;
            id
        }
        None => {
            let (id,): (i64,) = tx
                .fetch_one(
                    "INSERT INTO grids (region_code, code, name, boundary, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    crate::args![region, code, name, boundary, actor.username.as_str(), crate::now()],
                )
                .await?;
            id
        }
    };
    for &estate in estates {
        tx.execute("DELETE FROM grid_estates WHERE estate_id = $1", crate::args![estate]).await?;
        tx.execute("INSERT INTO grid_estates (grid_id, estate_id) VALUES ($1, $2)", crate::args![id, estate]).await?;
    }
    Ok(id)
}

const MEDIATION_COLS: &str =
    "id, estate_id, held_on, parties, issue, outcome, agreement, agreement_name AS agreement_file, mediator, created_at";

const PATROL_SELECT: &str = "SELECT p.id, p.grid_id, p.estate_id, e.name AS estate_name, u.display_name AS worker, p.week, p.at, p.lon, p.lat, \
    p.distance_m, p.items, p.hazards, p.note, p.photos FROM patrols p JOIN estates e ON e.id = p.estate_id JOIN users u ON u.id = p.user_id";
