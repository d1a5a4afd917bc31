//! The renovation menu in force in each region, and each estate's scheme: the working draft, the
//! versions issued for the two notice rounds and as final, their estimates and differences.
//! The rules are `huanxin_domain::schemes`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::plans::region_in_scope;
use crate::regions::enclosing_regions;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::schemes::{self as rules, Category, Estimate, MenuItem, Payer, SchemeItem, SchemeItemInput, Stage};
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::HashSet;

/// One saved version of a scheme (version 0 is the working draft).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SchemeVersion {
    pub id: i64,
    pub version_no: i64,
    pub stage: String,
    pub total_fen: i64,
    pub items: i64,
    pub saved_by: String,
    pub saved_at: String,
}

/// A version with its lines and estimate.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeSheet {
    pub version: Option<SchemeVersion>,
    pub items: Vec<SchemeItem>,
    pub estimate: Estimate,
}

/// An estate's scheme: the draft being worked on and every version issued, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct Scheme {
    pub estate_id: i64,
    pub draft: SchemeSheet,
    pub issued: Vec<SchemeVersion>,
}

#[derive(sqlx::FromRow)]
struct MenuRow {
    code: String,
    category: String,
    name: String,
    unit: String,
    unit_price_fen: i64,
    payer: String,
    active: bool,
    indicator: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    menu_code: String,
    category: String,
    name: String,
    unit: String,
    building_id: Option<i64>,
    quantity_hundredths: i64,
    unit_price_fen: i64,
    payer: String,
    note: String,
}

const VERSION_COLS: &str = "id, version_no, stage, total_fen, items, saved_by, saved_at";

impl Db {
    /// The menu in force in a region (a community gets its county's, city's and province's changes).
    pub async fn menu_for(&self, region: &RegionCode) -> Result<Vec<MenuItem>, StoreError> {
        let mut levels = Vec::new();
        for code in enclosing_regions(region) {
            let rows: Vec<MenuRow> = self
                .fetch_all(
                    "SELECT code, category, name, unit, unit_price_fen, payer, active, indicator FROM menu_items WHERE region_code = $1 ORDER BY code",
                    crate::args![code],
                )
                .await?;
            levels.push(
                rows.into_iter()
                    .filter_map(|r| {
                        let indicator = match r.indicator {
                            None => huanxin_domain::statistics::mapped_indicator(&r.code).map(String::from),
                            Some(i) if i.is_empty() => None,
                            Some(i) => Some(i),
                        };
                        Some(MenuItem {
                            indicator,
                            code: r.code,
                            category: Category::parse(&r.category)?,
                            name: r.name,
                            unit: r.unit,
                            unit_price_fen: r.unit_price_fen,
                            payer: Payer::parse(&r.payer)?,
                            active: r.active,
                        })
                    })
                    .collect(),
            );
        }
        Ok(rules::effective_menu(&levels))
    }

    /// Sets a region's own version of a menu item (a new code adds an item; `active = false` takes one off).
    /// With `keep_indicator` the item counts in the indicator in force for its code; when the
    /// indicator changes, the statistics of the region's estates whose final scheme has the item
    /// are recomputed in the same transaction.
    pub async fn set_menu_item(
        &self,
        actor: &Actor,
        scope: &Scope,
        region: &str,
        item: &MenuItem,
        keep_indicator: bool,
    ) -> Result<(), StoreError> {
        let rc = region_in_scope(scope, region, "region")?;
        let current = self.menu_for(&rc).await?.into_iter().find(|m| m.code == item.code);
        let mut item = item.clone();
        if keep_indicator {
            item.indicator = current.as_ref().and_then(|m| m.indicator.clone());
        }
        if let Some(i) = item.indicator.as_deref() {
            if !huanxin_domain::statistics::unit_fits(i, &item.unit) {
                return Err(StoreError::Invalid(ValidationErrors::one("unit", &item.unit, reason!("schemes.indicator_unit"))));
            }
        }
        let mut tx = self.begin().await?;
        let now = crate::now();
        // Kept as it stands in the row (not as read before this transaction), so that a change
        // of price made at the same time as a change of indicator does not undo it.
        tx.execute(
            "INSERT INTO menu_items (region_code, code, category, name, unit, unit_price_fen, payer, active, indicator, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (region_code, code) DO UPDATE SET \
             category = excluded.category, name = excluded.name, unit = excluded.unit, unit_price_fen = excluded.unit_price_fen, \
             payer = excluded.payer, active = excluded.active, \
             indicator = CASE WHEN $12 THEN menu_items.indicator ELSE excluded.indicator END, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            crate::args![
                rc.as_str(),
                item.code.as_str(),
                item.category.as_str(),
                item.name.as_str(),
                item.unit.as_str(),
                item.unit_price_fen,
                item.payer.as_str(),
                item.active,
                item.indicator.as_deref().unwrap_or(""),
                actor.username.as_str(),
                now,
                keep_indicator
            ],
        )
        .await?;
        // An indicator named is counted from the records again in this transaction: the estates'
        // parts then read the mapping as this transaction (after any other that wrote it) sees it.
        if !keep_indicator {
            let (low, high) = rc.subtree_range();
            let estates: Vec<(i64,)> = tx
                .fetch_all(
                    "SELECT DISTINCT v.estate_id FROM scheme_versions v JOIN scheme_items si ON si.version_id = v.id \
                     JOIN estates e ON e.id = v.estate_id \
                     WHERE v.stage = 'final' AND si.menu_code = $1 AND e.community_code >= $2 AND e.community_code < $3",
                    crate::args![item.code.as_str(), low, high],
                )
                .await?;
            let ids: Vec<i64> = estates.into_iter().map(|(id,)| id).collect();
            tx.refresh_estates_statistics(&ids).await?;
        }
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "menu_item",
                entity_id: format!("{}/{}", rc.as_str(), item.code),
                region_code: rc.as_str().to_string(),
                before: current.and_then(|c| serde_json::to_value(c).ok()),
                after: Some(serde_json::to_value(&item).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await
    }

    /// An estate's scheme: its draft with estimate, and the versions issued so far.
    pub async fn scheme(&self, scope: &Scope, estate_id: i64) -> Result<Scheme, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let versions: Vec<SchemeVersion> = self
            .fetch_all(
                &format!("SELECT {VERSION_COLS} FROM scheme_versions WHERE estate_id = $1 ORDER BY version_no"),
                crate::args![estate_id],
            )
            .await?;
        let draft_version = versions.iter().find(|v| v.version_no == 0).cloned();
        let items = match &draft_version {
            Some(v) => self.scheme_items(v.id).await?,
            None => Vec::new(),
        };
        let estimate = rules::estimate(&items);
        Ok(Scheme {
            estate_id,
            draft: SchemeSheet { version: draft_version, items, estimate },
            issued: versions.into_iter().filter(|v| v.version_no > 0).collect(),
        })
    }

    /// One version of an estate's scheme (0 = the draft) with its lines and estimate.
    pub async fn scheme_version(&self, scope: &Scope, estate_id: i64, version_no: i64) -> Result<SchemeSheet, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let version: Option<SchemeVersion> = self
            .fetch_optional(
                &format!("SELECT {VERSION_COLS} FROM scheme_versions WHERE estate_id = $1 AND version_no = $2"),
                crate::args![estate_id, version_no],
            )
            .await?;
        let items = match &version {
            Some(v) => self.scheme_items(v.id).await?,
            None if version_no == 0 => Vec::new(),
            None => return Err(StoreError::NotFound),
        };
        let estimate = rules::estimate(&items);
        Ok(SchemeSheet { version, items, estimate })
    }

    async fn scheme_items(&self, version_id: i64) -> Result<Vec<SchemeItem>, StoreError> {
        let rows: Vec<ItemRow> = self
            .fetch_all(
                "SELECT menu_code, category, name, unit, building_id, quantity_hundredths, unit_price_fen, payer, note \
                 FROM scheme_items WHERE version_id = $1 ORDER BY id",
                crate::args![version_id],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SchemeItem {
                menu_code: r.menu_code,
                category: Category::parse(&r.category).unwrap_or(Category::Basic),
                name: r.name,
                unit: r.unit,
                building_id: r.building_id,
                quantity_hundredths: r.quantity_hundredths,
                unit_price_fen: r.unit_price_fen,
                payer: Payer::parse(&r.payer).unwrap_or(Payer::Government),
                note: r.note,
            })
            .collect())
    }

    /// Replaces the lines of an estate's draft, checked against the menu in force in its community
    /// and its buildings.
    pub async fn save_scheme_draft(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        input: &[SchemeItemInput],
    ) -> Result<Scheme, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        if self.scheme_is_final(estate_id).await? {
            return Err(StoreError::Conflict(reason!("schemes.final_is_frozen")));
        }
        let community = RegionCode::parse(&estate.community_code)
            .map_err(|e| StoreError::Invalid(ValidationErrors::one("community_code", &estate.community_code, e)))?;
        let menu = self.menu_for(&community).await?;
        let buildings: Vec<(i64,)> = self.fetch_all("SELECT id FROM buildings WHERE estate_id = $1", crate::args![estate_id]).await?;
        let buildings: HashSet<i64> = buildings.into_iter().map(|b| b.0).collect();
        let items = rules::validate_items(input, &menu, &buildings).map_err(StoreError::Invalid)?;
        let before = self.scheme_version(scope, estate_id, 0).await?.items;
        let mut tx = self.begin().await?;
        let now = crate::now();
        let est = rules::estimate(&items);
        let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let version_id: i64 = tx
            .scalar(
                "INSERT INTO scheme_versions (estate_id, version_no, stage, total_fen, items, saved_by, saved_at) \
                 VALUES ($1, 0, 'draft', $2, $3, $4, $5) ON CONFLICT (estate_id, version_no) DO UPDATE SET \
                 total_fen = excluded.total_fen, items = excluded.items, saved_by = excluded.saved_by, saved_at = excluded.saved_at \
                 RETURNING id",
                crate::args![estate_id, est.total_fen, count, actor.username.as_str(), now],
            )
            .await?;
        tx.execute("DELETE FROM scheme_items WHERE version_id = $1", crate::args![version_id]).await?;
        copy_items(&mut tx, version_id, &items).await?;
        let changes = rules::diff(&before, &items);
        tx.audit(
            actor,
            Change {
                action: "save_draft",
                entity: "scheme",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"total_fen": est.total_fen, "items": items.len(), "changes": changes})),
            },
        )
        .await?;
        tx.commit().await?;
        self.scheme(scope, estate_id).await
    }

    async fn scheme_is_final(&self, estate_id: i64) -> Result<bool, StoreError> {
        let n =
            self.scalar("SELECT COUNT(*) FROM scheme_versions WHERE estate_id = $1 AND stage = 'final'", crate::args![estate_id]).await?;
        Ok(n > 0)
    }

    /// Issues the draft as the next version (notice round 1 or 2, or final): a frozen copy.
    pub async fn issue_scheme(&self, actor: &Actor, scope: &Scope, estate_id: i64, stage: Stage) -> Result<SchemeVersion, StoreError> {
        let scheme = self.scheme(scope, estate_id).await?;
        let issued: Vec<Stage> = scheme.issued.iter().filter_map(|v| Stage::parse(&v.stage)).collect();
        rules::may_issue(&issued, stage, scheme.draft.items.len()).map_err(StoreError::Conflict)?;
        let estate = self.get_estate(scope, estate_id).await?;
        let mut tx = self.begin().await?;
        let next = tx.scalar("SELECT MAX(version_no) FROM scheme_versions WHERE estate_id = $1", crate::args![estate_id]).await? + 1;
        let items = &scheme.draft.items;
        let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let version: SchemeVersion = tx
            .fetch_one(
                &format!(
                    "INSERT INTO scheme_versions (estate_id, version_no, stage, total_fen, items, saved_by, saved_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {VERSION_COLS}"
                ),
                crate::args![
                    estate_id,
                    next,
                    stage.as_str(),
                    scheme.draft.estimate.total_fen,
                    count,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        copy_items(&mut tx, version.id, items).await?;
        if stage == Stage::Final {
            tx.refresh_estate_statistics(estate_id).await?;
        }
        tx.audit(
            actor,
            Change {
                action: "issue",
                entity: "scheme",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"version_no": next, "stage": stage.as_str(), "total_fen": scheme.draft.estimate.total_fen})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Whether an estate has a scheme with at least one line (the lifecycle's `scheme_drafted`).
    pub(crate) async fn has_scheme(&self, estate_id: i64) -> Result<bool, StoreError> {
        let n = self.scalar("SELECT COALESCE(MAX(items), 0) FROM scheme_versions WHERE estate_id = $1", crate::args![estate_id]).await?;
        Ok(n > 0)
    }
}

async fn copy_items(tx: &mut crate::Tx, version_id: i64, items: &[SchemeItem]) -> Result<(), StoreError> {
    let rows = items
        .iter()
        .map(|i| {
            crate::args![
                version_id,
                i.menu_code.as_str(),
                i.category.as_str(),
                i.name.as_str(),
                i.unit.as_str(),
                i.building_id,
                i.quantity_hundredths,
                i.unit_price_fen,
                i.payer.as_str(),
                i.note.as_str()
            ]
        })
        .collect();
    tx.insert_rows(
        "scheme_items",
        &["version_id", "menu_code", "category", "name", "unit", "building_id", "quantity_hundredths", "unit_price_fen", "payer", "note"],
        rows,
        "",
    )
    .await?;
    Ok(())
}

/// What an owner decides on: the version of the scheme noticed or put to the vote, its lines
/// (those of one building for a building's or a stairwell's vote), its estimate, and what each
/// of the caller's households is asked to contribute.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerScheme {
    pub estate_id: i64,
    pub version_no: i64,
    pub stage: String,
    pub saved_at: String,
    /// The building a building's or a stairwell's vote concerns (its lines only).
    pub building_id: Option<i64>,
    pub lines: Vec<OwnerLine>,
    pub estimate: Estimate,
    /// The caller's own households among those concerned (none for staff).
    pub households: Vec<OwnerHousehold>,
}

/// One line of the scheme, with its place in words and its cost.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerLine {
    #[serde(flatten)]
    pub item: SchemeItem,
    /// The building's number, or none for the whole estate.
    pub building_number: Option<String>,
    pub cost_fen: i64,
}

/// One of the caller's households and its share of the residents' part.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerHousehold {
    pub dwelling_id: i64,
    pub building_id: i64,
    pub building_number: String,
    pub stairwell: i64,
    pub number: String,
    /// Floor area in hundredths of m².
    pub area: i64,
    pub share: rules::HouseholdShare,
}

/// Which part of an estate a vote concerns, for the scheme shown with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concerned {
    Estate,
    Building(i64),
    Stairwell(i64, i64),
}

#[derive(sqlx::FromRow)]
struct AreaRow {
    id: i64,
    building_id: i64,
    building_number: String,
    stairwell: i64,
    number: String,
    exclusive_area: i64,
}

impl Db {
    /// The newest issued version of an estate's scheme saved by `at` (what a vote opened then is
    /// about), or the newest issued version if none was yet.
    pub async fn scheme_version_at(&self, estate_id: i64, at: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = self
            .fetch_optional(
                "SELECT version_no FROM scheme_versions WHERE estate_id = $1 AND version_no > 0 \
                 ORDER BY CASE WHEN saved_at <= $2 THEN 0 ELSE 1 END, version_no DESC LIMIT 1",
                crate::args![estate_id, at],
            )
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// An issued version of an estate's scheme as its owners decide on it; `households` are the
    /// caller's own dwellings (only those in the estate and concerned count).
    pub async fn owner_scheme(
        &self,
        scope: &Scope,
        estate_id: i64,
        version_no: i64,
        concerned: Concerned,
        households: &[i64],
    ) -> Result<OwnerScheme, StoreError> {
        if version_no <= 0 {
            return Err(StoreError::NotFound);
        }
        let sheet = self.scheme_version(scope, estate_id, version_no).await?;
        let version = sheet.version.ok_or(StoreError::NotFound)?;
        let dwellings: Vec<AreaRow> = self
            .fetch_all(
                "SELECT d.id, d.building_id, b.number AS building_number, d.stairwell, d.number, d.exclusive_area \
                 FROM dwellings d JOIN buildings b ON b.id = d.building_id WHERE d.estate_id = $1",
                crate::args![estate_id],
            )
            .await?;
        let buildings: std::collections::HashMap<i64, String> = self
            .fetch_all::<(i64, String)>("SELECT id, number FROM buildings WHERE estate_id = $1", crate::args![estate_id])
            .await?
            .into_iter()
            .collect();
        let in_scope = |d: &AreaRow| match concerned {
            Concerned::Estate => true,
            Concerned::Building(b) => d.building_id == b,
            Concerned::Stairwell(b, s) => d.building_id == b && d.stairwell == s,
        };
        let building_id = match concerned {
            Concerned::Estate => None,
            Concerned::Building(b) | Concerned::Stairwell(b, _) => Some(b),
        };
        // A building's vote is about that building's lines only.
        let items: Vec<SchemeItem> = sheet.items.into_iter().filter(|i| building_id.is_none() || i.building_id == building_id).collect();
        let estate_area: i64 = dwellings.iter().map(|d| d.exclusive_area).sum();
        let mine: Vec<OwnerHousehold> = dwellings
            .iter()
            .filter(|d| households.contains(&d.id) && in_scope(d))
            .map(|d| {
                let building_area: i64 = dwellings
                    .iter()
                    .filter(|o| o.building_id == d.building_id && (building_id.is_none() || in_scope(o)))
                    .map(|o| o.exclusive_area)
                    .sum();
                let base = rules::AreaBase { dwelling: d.exclusive_area, estate: estate_area, building: building_area };
                OwnerHousehold {
                    dwelling_id: d.id,
                    building_id: d.building_id,
                    building_number: d.building_number.clone(),
                    stairwell: d.stairwell,
                    number: d.number.clone(),
                    area: d.exclusive_area,
                    share: rules::household_share(&items, d.building_id, &base),
                }
            })
            .collect();
        let estimate = rules::estimate(&items);
        let lines = items
            .into_iter()
            .map(|item| OwnerLine {
                building_number: item.building_id.and_then(|b| buildings.get(&b).cloned()),
                cost_fen: item.cost_fen(),
                item,
            })
            .collect();
        Ok(OwnerScheme {
            estate_id,
            version_no: version.version_no,
            stage: version.stage,
            saved_at: version.saved_at,
            building_id,
            lines,
            estimate,
            households: mine,
        })
    }
}
