//! The registry in storage: estates, buildings, dwellings and owners, always read through a scope.

use crate::audit::{Actor, Change};
use crate::db::{Arg, Db};
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::estates::{BuildingRecord, EstateRecord, EstateStatus};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An estate as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Estate {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// Aliases joined by `、`.
    pub aliases: String,
    pub address: String,
    pub community_code: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub outline: Option<String>,
    pub build_year: i64,
    pub building_count: i64,
    pub households: i64,
    /// Hundredths of m².
    pub floor_area: i64,
    pub ownership_type: String,
    pub management_status: String,
    pub has_owners_committee: bool,
    pub person_in_charge: String,
    pub phone: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) const ESTATE_COLS: &str =
    "e.id, e.code, e.name, e.aliases, e.address, e.community_code, e.lon, e.lat, e.outline, e.build_year, \
    e.building_count, e.households, e.floor_area, e.ownership_type, e.management_status, e.has_owners_committee, \
    e.person_in_charge, e.phone, e.status, e.created_at, e.updated_at";

/// A building as stored, with the number of dwellings registered in it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Building {
    pub id: i64,
    pub estate_id: i64,
    pub number: String,
    pub floors: i64,
    pub stairwells: i64,
    pub has_lift: bool,
    pub structure: String,
    pub build_year: Option<i64>,
    pub dwelling_count: i64,
}

/// A dwelling as stored, with its owners.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Dwelling {
    pub id: i64,
    pub estate_id: i64,
    pub building_id: i64,
    pub building_number: String,
    pub stairwell: i64,
    pub floor: i64,
    pub number: String,
    /// Hundredths of m².
    pub exclusive_area: i64,
    pub occupancy: String,
    pub residents_60_plus: i64,
    #[sqlx(skip)]
    pub owners: Vec<Owner>,
}

/// One owner of a dwelling.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Owner {
    #[serde(skip)]
    pub dwelling_id: i64,
    pub name: String,
    pub phone: String,
    pub share_bp: i64,
}

/// Filters, sorting and paging for the estate list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EstateFilter {
    /// Only estates in this region's subtree (intersected with the caller's scope).
    pub region: Option<String>,
    pub build_year_from: Option<i64>,
    pub build_year_to: Option<i64>,
    /// Only eligible (`true`) or ineligible (`false`) estates under the configured rule.
    pub eligible: Option<bool>,
    /// One stage code, or several separated by commas.
    pub status: Option<String>,
    /// Free text on name, aliases and address.
    pub q: Option<String>,
    /// One of: name, code, build_year, households, floor_area, updated_at; `-` before it for descending.
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Totals over an estate list, for the list's header and the dashboard.
#[derive(Debug, Clone, Serialize, Default, sqlx::FromRow)]
pub struct EstateTotals {
    pub estates: i64,
    pub households: i64,
    pub buildings: i64,
    pub floor_area: i64,
    pub eligible: i64,
}

/// A point for the map.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MapPoint {
    pub id: i64,
    pub community_code: String,
    pub lon: f64,
    pub lat: f64,
    pub build_year: i64,
    pub status: String,
}

/// One rejected import row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowError {
    /// The file, when several are imported together.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// The row number as the user sees it in the file (header is row 1).
    pub row: usize,
    pub column: String,
    pub value: String,
    /// Why it is refused: the stable code (see `reasons.json`).
    pub code: String,
    /// The values the reason names.
    pub params: std::collections::BTreeMap<String, String>,
    /// Why it is refused, in plain English words.
    pub reason: String,
}

impl RowError {
    /// A refused cell (row 0: the header or the file as a whole).
    pub fn new(row: usize, column: &str, value: &str, reason: huanxin_domain::Reason) -> RowError {
        fn clipped(text: &str) -> String {
            const MAX: usize = 200;
            if text.chars().count() <= MAX {
                return text.to_string();
            }
            text.chars().take(MAX).chain(std::iter::once('…')).collect()
        }
        RowError {
            file: String::new(),
            row,
            // Bounded: a crafted file's megabyte cell is named, not sent back whole.
            column: clipped(column),
            value: clipped(value),
            code: reason.code.to_string(),
            params: reason.params_map(),
            reason: reason.to_string(),
        }
    }

    /// A field's problem placed at a row and column.
    pub fn from_field(row: usize, column: String, e: huanxin_domain::FieldError) -> RowError {
        RowError { file: String::new(), row, column, value: e.value, code: e.code, params: e.params, reason: e.reason }
    }
}

/// Rows an export reads at a time.
const EXPORT_PAGE: i64 = 2000;

/// An estate's value in a sort column, to page after it.
fn sort_value(e: &Estate, col: &str) -> Arg {
    match col {
        "name" => e.name.clone().into(),
        "code" => e.code.clone().into(),
        "build_year" => e.build_year.into(),
        "households" => e.households.into(),
        "floor_area" => e.floor_area.into(),
        "updated_at" => e.updated_at.clone().into(),
        "building_count" => e.building_count.into(),
        _ => e.id.into(),
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    /// Every field an update changes, from → to (estates; the first [`MAX_REPORTED_CHANGES`]).
    pub changes: Vec<FieldChange>,
    /// Changes beyond those listed.
    pub changes_unreported: usize,
}

/// Most changed fields listed in an import's report.
pub const MAX_REPORTED_CHANGES: usize = 1000;

/// One field an import changes on a record that was already stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub row: usize,
    /// The record's key (an estate's code).
    pub key: String,
    /// The stored column.
    pub field: String,
    pub from: String,
    pub to: String,
}

fn yes_no(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}

fn coordinate(c: Option<f64>) -> String {
    c.map(|v| format!("{v:.6}")).unwrap_or_default()
}

/// An estate's written fields as text, in [`WRITE_COLS`] order (for the import's from → to report).
pub(crate) fn estate_texts(e: &Estate) -> [String; 17] {
    [
        e.code.clone(),
        e.name.clone(),
        e.aliases.clone(),
        e.address.clone(),
        e.community_code.clone(),
        coordinate(e.lon),
        coordinate(e.lat),
        e.outline.clone().unwrap_or_default(),
        e.build_year.to_string(),
        e.building_count.to_string(),
        e.households.to_string(),
        format!("{:.2}", e.floor_area as f64 / 100.0),
        e.ownership_type.clone(),
        e.management_status.clone(),
        yes_no(e.has_owners_committee),
        e.person_in_charge.clone(),
        e.phone.clone(),
    ]
}

/// A record's fields as text, in [`WRITE_COLS`] order.
pub(crate) fn record_texts(r: &EstateRecord) -> [String; 17] {
    [
        r.code.clone(),
        r.name.clone(),
        r.aliases.join("、"),
        r.address.clone(),
        r.community_code.as_str().to_string(),
        coordinate(r.lon),
        coordinate(r.lat),
        r.outline.clone().unwrap_or_default(),
        r.build_year.to_string(),
        r.building_count.to_string(),
        r.households.to_string(),
        format!("{:.2}", r.floor_area.hundredths() as f64 / 100.0),
        r.ownership_type.clone(),
        r.management_status.clone(),
        yes_no(r.has_owners_committee),
        r.person_in_charge.clone(),
        r.phone.clone(),
    ]
}

/// Appends the scope condition on an estate alias (`e`), binding its values into `args`.
pub(crate) fn scope_clause(scope: &Scope, args: &mut Vec<Arg>) -> String {
    match scope {
        // The whole country: no condition, so the planner may use any index.
        Scope::Region(rc) if rc.prefix().is_empty() => "1 = 1".to_string(),
        Scope::Region(rc) => {
            let (lo, hi) = rc.subtree_range();
            args.push(lo.into());
            args.push(hi.into());
            format!("e.community_code >= ${} AND e.community_code < ${}", args.len() - 1, args.len())
        }
        Scope::Attached { user_id } => {
            args.push((*user_id).into());
            format!("e.id IN (SELECT estate_id FROM user_estates WHERE user_id = ${})", args.len())
        }
    }
}

pub(crate) fn estate_json(e: &Estate) -> serde_json::Value {
    serde_json::to_value(e).unwrap_or(serde_json::Value::Null)
}

pub(crate) fn record_args(r: &EstateRecord) -> Vec<Arg> {
    crate::args![
        r.code.as_str(),
        r.name.as_str(),
        r.aliases.join("、"),
        r.address.as_str(),
        r.community_code.as_str(),
        r.lon,
        r.lat,
        r.outline.clone(),
        r.build_year,
        r.building_count,
        r.households,
        r.floor_area.hundredths(),
        r.ownership_type.as_str(),
        r.management_status.as_str(),
        r.has_owners_committee,
        r.person_in_charge.as_str(),
        r.phone.as_str()
    ]
}

pub(crate) const WRITE_COLS: &str =
    "code, name, aliases, address, community_code, lon, lat, outline, build_year, building_count, households, \
    floor_area, ownership_type, management_status, has_owners_committee, person_in_charge, phone";

fn unknown_community(r: &EstateRecord) -> StoreError {
    StoreError::Invalid(ValidationErrors::one(
        "community_code",
        r.community_code.as_str(),
        reason!("estates.not_known_community_committee"),
    ))
}

impl Db {
    /// A page of estates in scope matching the filter, with the totals over all matches.
    /// The WHERE clause (on alias `e`) and its arguments for a filter in scope, and the sort column
    /// and direction: shared by the list and the export.
    fn estate_where(scope: &Scope, f: &EstateFilter, eligible_before: i64) -> Result<(String, Vec<Arg>, &'static str, bool), StoreError> {
        let mut args = Vec::new();
        let mut wh = vec![scope_clause(scope, &mut args)];
        if let Some(region) = f.region.as_ref().filter(|r| !r.is_empty()) {
            let rc = huanxin_domain::regions::RegionCode::parse(region)
                .map_err(|e| StoreError::Invalid(ValidationErrors::one("region", region, e)))?;
            let (lo, hi) = rc.subtree_range();
            args.push(lo.into());
            args.push(hi.into());
            wh.push(format!("e.community_code >= ${} AND e.community_code < ${}", args.len() - 1, args.len()));
        }
        let (col, desc) = match f.sort.as_deref().unwrap_or("") {
            s if s.starts_with('-') => (&s[1..], true),
            s => (s, false),
        };
        let col: &'static str = match col {
            "name" => "name",
            "code" => "code",
            "build_year" => "build_year",
            "households" => "households",
            "floor_area" => "floor_area",
            "updated_at" => "updated_at",
            "building_count" => "building_count",
            _ => "id",
        };
        // The build-year index serves a country-wide list sorted by build year. Otherwise a region's
        // index narrows better, or the sort column's index gives the page in order; both planners
        // pick the build-year range instead and sort every match, so a unary plus (an expression,
        // not the bare column) keeps them off that index.
        let regional = !matches!(scope, Scope::Region(rc) if rc.prefix().is_empty()) || f.region.as_ref().is_some_and(|r| !r.is_empty());
        let year = if regional || col != "build_year" { "+e.build_year" } else { "e.build_year" };
        if let Some(y) = f.build_year_from {
            args.push(y.into());
            wh.push(format!("{year} >= ${}", args.len()));
        }
        if let Some(y) = f.build_year_to {
            args.push(y.into());
            wh.push(format!("{year} <= ${}", args.len()));
        }
        if let Some(el) = f.eligible {
            args.push(eligible_before.into());
            wh.push(format!("{year} {} ${}", if el { "<" } else { ">=" }, args.len()));
        }
        // One stage, or several separated by commas (the plan's picker asks for the candidates' three).
        // Each a known stage (an unknown one is refused, not matched to nothing, and no free text
        // reaches the totals cache's key).
        if let Some(s) = f.status.as_ref().filter(|s| !s.trim().is_empty()) {
            let mut placeholders = Vec::new();
            for one in s.split(',').map(str::trim) {
                let known = EstateStatus::parse(one).filter(|_| placeholders.len() < EstateStatus::ALL.len());
                let Some(known) = known else {
                    return Err(StoreError::Invalid(ValidationErrors::one(
                        "status",
                        one.chars().take(40).collect::<String>(),
                        reason!("estates.unknown_stage"),
                    )));
                };
                args.push(known.as_str().into());
                placeholders.push(format!("${}", args.len()));
            }
            wh.push(format!("e.status IN ({})", placeholders.join(", ")));
        }
        if let Some(q) = f.q.as_ref().map(|q| q.trim()).filter(|q| !q.is_empty()) {
            if q.chars().count() > MAX_SEARCH_CHARS {
                return Err(StoreError::Invalid(ValidationErrors::one(
                    "q",
                    q.chars().count(),
                    reason!("field.at_most_chars", max = MAX_SEARCH_CHARS),
                )));
            }
            let pattern = format!("%{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            args.push(pattern.into());
            let n = args.len();
            wh.push(format!(
                "(LOWER(e.name) LIKE ${n} ESCAPE '\\' OR LOWER(e.aliases) LIKE ${n} ESCAPE '\\' OR LOWER(e.address) LIKE ${n} ESCAPE '\\' OR LOWER(e.code) LIKE ${n} ESCAPE '\\')"
            ));
        }
        Ok((wh.join(" AND "), args, col, desc))
    }

    pub async fn list_estates(
        &self,
        scope: &Scope,
        f: &EstateFilter,
        eligible_before: i64,
        totals_cache: Option<&TotalsCache>,
    ) -> Result<(Vec<Estate>, EstateTotals), StoreError> {
        let (where_sql, mut args, col, desc) = Self::estate_where(scope, f, eligible_before)?;

        let totals = match totals_cache {
            Some(c) => match c.get(&where_sql, &args) {
                Some(t) => t,
                None => {
                    // One computation per query at a time: concurrent requests for the same new
                    // query wait for it instead of all scanning the registry at once.
                    let slot = c.slot(&where_sql, &args);
                    let _computing = slot.lock().await;
                    match c.get(&where_sql, &args) {
                        Some(t) => t,
                        None => {
                            let t = self.estate_totals(&where_sql, args.clone(), eligible_before).await?;
                            c.put(&where_sql, &args, t.clone());
                            t
                        }
                    }
                }
            },
            None => self.estate_totals(&where_sql, args.clone(), eligible_before).await?,
        };
        let per_page = f.per_page.unwrap_or(20).clamp(1, 500);
        let page = f.page.unwrap_or(1).max(1);
        args.push(per_page.into());
        args.push(((page - 1).saturating_mul(per_page)).into());
        // Pick the page's ids first, so that sorting can run on an index without reading the wide
        // rows; then read only those rows. The id breaks ties in the same direction, which lets an
        // index on the sort column serve the order directly.
        let dir = if desc { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {ESTATE_COLS} FROM estates e WHERE e.id IN (SELECT e.id FROM estates e WHERE {where_sql} \
             ORDER BY e.{col} {dir}, e.id {dir} LIMIT ${} OFFSET ${}) ORDER BY e.{col} {dir}, e.id {dir}",
            args.len() - 1,
            args.len()
        );
        let rows = self.fetch_all(&sql, args).await?;
        Ok((rows, totals))
    }

    /// Totals over every estate matching a WHERE clause (on alias `e`).
    async fn estate_totals(&self, where_sql: &str, mut totals_args: Vec<Arg>, eligible_before: i64) -> Result<EstateTotals, StoreError> {
        totals_args.push(eligible_before.into());
        self.fetch_one(
            &format!(
                "SELECT COUNT(*) AS estates, CAST(COALESCE(SUM(e.households), 0) AS BIGINT) AS households, \
                     CAST(COALESCE(SUM(e.building_count), 0) AS BIGINT) AS buildings, \
                     CAST(COALESCE(SUM(e.floor_area), 0) AS BIGINT) AS floor_area, \
                     CAST(COALESCE(SUM(CASE WHEN e.build_year < ${} THEN 1 ELSE 0 END), 0) AS BIGINT) AS eligible \
                     FROM estates e WHERE {where_sql}",
                totals_args.len()
            ),
            totals_args,
        )
        .await
    }

    /// All estates matching a filter (for exports), capped at `limit`.
    pub async fn export_estates(
        &self,
        scope: &Scope,
        f: &EstateFilter,
        eligible_before: i64,
        limit: i64,
    ) -> Result<Vec<Estate>, StoreError> {
        // Pages by key (the last row's sort value and id), never by OFFSET: each page costs the
        // same however deep the export is (by OFFSET the whole export was quadratic), and no
        // totals are counted on the way.
        let (where_sql, args, col, desc) = Self::estate_where(scope, f, eligible_before)?;
        let (dir, cmp) = if desc { ("DESC", "<") } else { ("ASC", ">") };
        let mut out: Vec<Estate> = Vec::new();
        while (out.len() as i64) < limit {
            let mut page_args = args.clone();
            let after = match out.last() {
                Some(last) => {
                    page_args.push(sort_value(last, col));
                    page_args.push(last.id.into());
                    format!(" AND (e.{col}, e.id) {cmp} (${}, ${})", page_args.len() - 1, page_args.len())
                }
                None => String::new(),
            };
            page_args.push(EXPORT_PAGE.into());
            let sql = format!(
                "SELECT {ESTATE_COLS} FROM estates e WHERE {where_sql}{after} ORDER BY e.{col} {dir}, e.id {dir} LIMIT ${}",
                page_args.len()
            );
            let rows: Vec<Estate> = self.fetch_all(&sql, page_args).await?;
            let n = rows.len() as i64;
            out.extend(rows);
            if n < EXPORT_PAGE {
                break;
            }
        }
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// One estate, if it is in scope (an estate outside the scope is simply not found).
    pub async fn get_estate(&self, scope: &Scope, id: i64) -> Result<Estate, StoreError> {
        let mut args = crate::args![id];
        let sc = scope_clause(scope, &mut args);
        self.fetch_one(&format!("SELECT {ESTATE_COLS} FROM estates e WHERE e.id = $1 AND {sc}"), args).await
    }

    /// Creates an estate in scope.
    pub async fn create_estate(&self, actor: &Actor, scope: &Scope, r: &EstateRecord) -> Result<Estate, StoreError> {
        if !scope.covers_code(r.community_code.as_str()) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "community_code",
                r.community_code.as_str(),
                reason!("field.outside_region"),
            )));
        }
        let mut tx = self.begin().await?;
        let now = crate::now();
        let mut args = record_args(r);
        args.push(now.clone().into());
        args.push(now.into());
        let id = tx
            .scalar(
                &format!(
                    "INSERT INTO estates ({WRITE_COLS}, created_at, updated_at) VALUES \
                     ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) RETURNING id"
                ),
                args,
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("estates.code_taken", code = r.code)),
                StoreError::MissingReference(_) => unknown_community(r),
                e => e,
            })?;
        let created = tx.fetch_one::<Estate>(&format!("SELECT {ESTATE_COLS} FROM estates e WHERE e.id = $1"), crate::args![id]).await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "estate",
                entity_id: id.to_string(),
                region_code: created.community_code.clone(),
                before: None,
                after: Some(estate_json(&created)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Replaces an estate's registry fields; both the old and the new community must be in scope.
    pub async fn update_estate(&self, actor: &Actor, scope: &Scope, id: i64, r: &EstateRecord) -> Result<Estate, StoreError> {
        let before = self.get_estate(scope, id).await?;
        if !scope.covers_code(&before.community_code) || !scope.covers_code(r.community_code.as_str()) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "community_code",
                r.community_code.as_str(),
                reason!("field.outside_region"),
            )));
        }
        let mut tx = self.begin().await?;
        let mut args = record_args(r);
        args.push(crate::now().into());
        args.push(id.into());
        let sets: Vec<String> = WRITE_COLS.split(", ").enumerate().map(|(i, c)| format!("{} = ${}", c.trim(), i + 1)).collect();
        tx.execute(&format!("UPDATE estates SET {}, updated_at = $18 WHERE id = $19", sets.join(", ")), args).await.map_err(
            |e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("estates.code_taken", code = r.code)),
                StoreError::MissingReference(_) => unknown_community(r),
                e => e,
            },
        )?;
        let after = tx.fetch_one::<Estate>(&format!("SELECT {ESTATE_COLS} FROM estates e WHERE e.id = $1"), crate::args![id]).await?;
        tx.refresh_estate_statistics(id).await?;
        tx.audit(
            actor,
            Change {
                action: "update",
                entity: "estate",
                entity_id: id.to_string(),
                region_code: after.community_code.clone(),
                before: Some(estate_json(&before)),
                after: Some(estate_json(&after)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Points of all located estates, for the map's tile cache (scoping happens when tiles are cut).
    pub async fn map_points(&self) -> Result<Vec<MapPoint>, StoreError> {
        self.fetch_all(
            "SELECT id, community_code, lon, lat, build_year, status FROM estates WHERE lon IS NOT NULL AND lat IS NOT NULL",
            vec![],
        )
        .await
    }

    /// How many estates there are and when the last one changed: a cheap sign that the map's points
    /// changed (every write to an estate sets `updated_at`).
    pub async fn map_stamp(&self) -> Result<(i64, Option<String>), StoreError> {
        self.fetch_one("SELECT COUNT(*), MAX(updated_at) FROM estates", vec![]).await
    }

    /// Ids of the estates a company or resident account is attached to.
    pub async fn attached_estate_ids(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = self.fetch_all("SELECT estate_id FROM user_estates WHERE user_id = $1", crate::args![user_id]).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Counts of estates by status and by build decade in scope, for the dashboard.
    pub async fn estate_breakdown(&self, scope: &Scope) -> Result<(Vec<(String, i64)>, Vec<(i64, i64)>), StoreError> {
        let mut args = Vec::new();
        let sc = scope_clause(scope, &mut args);
        let by_status: Vec<(String, i64)> = self
            .fetch_all(&format!("SELECT e.status, COUNT(*) FROM estates e WHERE {sc} GROUP BY e.status ORDER BY e.status"), args.clone())
            .await?;
        let by_decade: Vec<(i64, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT CAST((e.build_year / 10) * 10 AS BIGINT) AS decade, COUNT(*) FROM estates e WHERE {sc} \
                     GROUP BY (e.build_year / 10) * 10 ORDER BY decade"
                ),
                args,
            )
            .await?;
        Ok((by_status, by_decade))
    }

    /// Buildings of an estate in scope, with their dwelling counts.
    pub async fn list_buildings(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Building>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            "SELECT b.id, b.estate_id, b.number, b.floors, b.stairwells, b.has_lift, b.structure, b.build_year, \
             (SELECT COUNT(*) FROM dwellings d WHERE d.building_id = b.id) AS dwelling_count \
             FROM buildings b WHERE b.estate_id = $1 ORDER BY LENGTH(b.number), b.number",
            crate::args![estate_id],
        )
        .await
    }

    /// Adds a building to an estate in scope.
    pub async fn create_building(&self, actor: &Actor, scope: &Scope, estate_id: i64, b: &BuildingRecord) -> Result<Building, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let mut tx = self.begin().await?;
        let id = tx
            .scalar(
                "INSERT INTO buildings (estate_id, number, floors, stairwells, has_lift, structure, build_year) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                crate::args![estate_id, b.number.as_str(), b.floors, b.stairwells, b.has_lift, b.structure.as_str(), b.build_year],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(reason!("estates.building_taken", number = b.number)),
                e => e,
            })?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "building",
                entity_id: id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"estate_id": estate_id, "number": b.number, "floors": b.floors})),
            },
        )
        .await?;
        tx.commit().await?;
        let all = self.list_buildings(scope, estate_id).await?;
        all.into_iter().find(|x| x.id == id).ok_or(StoreError::NotFound)
    }

    /// A page of an estate's dwellings (optionally one building's), with owners.
    pub async fn list_dwellings(
        &self,
        scope: &Scope,
        estate_id: i64,
        building_id: Option<i64>,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<Dwelling>, i64), StoreError> {
        self.get_estate(scope, estate_id).await?;
        let per_page = per_page.clamp(1, 1000);
        let page = page.max(1);
        let b = building_id.unwrap_or(-1);
        let total = self
            .scalar(
                "SELECT COUNT(*) FROM dwellings d WHERE d.estate_id = $1 AND ($2 < 0 OR d.building_id = $2)",
                crate::args![estate_id, b],
            )
            .await?;
        let mut rows: Vec<Dwelling> = self
            .fetch_all(
                "SELECT d.id, d.estate_id, d.building_id, b.number AS building_number, d.stairwell, d.floor, d.number, \
                 d.exclusive_area, d.occupancy, d.residents_60_plus FROM dwellings d JOIN buildings b ON b.id = d.building_id \
                 WHERE d.estate_id = $1 AND ($2 < 0 OR d.building_id = $2) \
                 ORDER BY LENGTH(b.number), b.number, d.stairwell, d.floor, d.number LIMIT $3 OFFSET $4",
                crate::args![estate_id, b, per_page, (page - 1) * per_page],
            )
            .await?;
        if !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|d| d.id.to_string()).collect();
            let owners: Vec<Owner> = self
                .fetch_all(
                    &format!(
                        "SELECT dwelling_id, name, phone, share_bp FROM dwelling_owners WHERE dwelling_id IN ({}) ORDER BY id",
                        ids.join(",")
                    ),
                    vec![],
                )
                .await?;
            let mut by: HashMap<i64, Vec<Owner>> = HashMap::new();
            for o in owners {
                by.entry(o.dwelling_id).or_default().push(o);
            }
            for d in &mut rows {
                d.owners = by.remove(&d.id).unwrap_or_default();
            }
        }
        Ok((rows, total))
    }

    /// The owners of a dwelling of an estate (the caller has checked the estate is in scope).
    pub async fn dwelling_owners(&self, estate: crate::reach::EstateInScope, dwelling_id: i64) -> Result<Vec<Owner>, StoreError> {
        let estate_id = estate.id();
        let found =
            self.scalar("SELECT COUNT(*) FROM dwellings WHERE id = $1 AND estate_id = $2", crate::args![dwelling_id, estate_id]).await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        self.fetch_all(
            "SELECT dwelling_id, name, phone, share_bp FROM dwelling_owners WHERE dwelling_id = $1 ORDER BY id",
            crate::args![dwelling_id],
        )
        .await
    }
}

/// Recent list totals by query, so that paging through a large region does not re-aggregate it on
/// every page. Entries live a short while and are dropped at once when the registry changes.
#[derive(Default)]
pub struct TotalsCache {
    entries: std::sync::Mutex<HashMap<String, (std::time::Instant, EstateTotals)>>,
    computing: std::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

/// How long cached totals are trusted when nothing was written through this server.
const TOTALS_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl TotalsCache {
    fn key(where_sql: &str, args: &[Arg]) -> String {
        format!("{where_sql}|{args:?}")
    }

    fn get(&self, where_sql: &str, args: &[Arg]) -> Option<EstateTotals> {
        let map = self.entries.lock().ok()?;
        let (at, t) = map.get(&Self::key(where_sql, args))?;
        (at.elapsed() < TOTALS_TTL).then(|| t.clone())
    }

    /// The lock that one computation of this query's totals holds.
    fn slot(&self, where_sql: &str, args: &[Arg]) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        match self.computing.lock() {
            Ok(mut map) => {
                if map.len() > 1_000 {
                    map.retain(|_, m| std::sync::Arc::strong_count(m) > 1);
                }
                map.entry(Self::key(where_sql, args)).or_default().clone()
            }
            Err(_) => std::sync::Arc::default(),
        }
    }

    fn put(&self, where_sql: &str, args: &[Arg], t: EstateTotals) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(Self::key(where_sql, args), (std::time::Instant::now(), t));
        }
    }

    /// Forgets everything (after a change to estates).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

/// One estate as the demo builder picks it: id, code, name, community and build year.
#[derive(Debug, Clone, sqlx::FromRow)]
struct DemoEstateRow {
    id: i64,
    code: String,
    name: String,
    community_code: String,
    build_year: i64,
}

impl Db {
    /// The estates of a region (codes starting with `prefix`), in id order, for the demo builder.
    pub async fn estates_for_demo(&self, prefix: &str) -> Result<Vec<(i64, String, String, String, i64)>, StoreError> {
        let rows: Vec<DemoEstateRow> = self
            .fetch_all(
                "SELECT id, code, name, community_code, COALESCE(build_year, 0) AS build_year FROM estates \
                 WHERE community_code LIKE $1 ORDER BY id",
                crate::args![format!("{prefix}%")],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.code, r.name, r.community_code, r.build_year)).collect())
    }
}

/// The longest search text an estate list takes (a name, an alias, part of an address).
const MAX_SEARCH_CHARS: usize = 100;
