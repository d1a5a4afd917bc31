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
                    "SELECT code, category, name, unit, unit_price_fen, payer, active FROM menu_items WHERE region_code = $1 ORDER BY code",
                    crate::args![code],
                )
                .await?;
            levels.push(
                rows.into_iter()
                    .filter_map(|r| {
                        Some(MenuItem {
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
    pub async fn set_menu_item(&self, actor: &Actor, scope: &Scope, region: &str, item: &MenuItem) -> Result<(), StoreError> {
        let rc = region_in_scope(scope, region, "region")?;
        let mut tx = self.begin().await?;
        let now = crate::now();
        tx.execute(
            "INSERT INTO menu_items (region_code, code, category, name, unit, unit_price_fen, payer, active, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (region_code, code) DO UPDATE SET \
             category = excluded.category, name = excluded.name, unit = excluded.unit, unit_price_fen = excluded.unit_price_fen, \
             payer = excluded.payer, active = excluded.active, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            crate::args![
                rc.as_str(),
                item.code.as_str(),
                item.category.as_str(),
                item.name.as_str(),
                item.unit.as_str(),
                item.unit_price_fen,
                item.payer.as_str(),
                item.active,
                actor.username.as_str(),
                now
            ],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "menu_item",
                entity_id: format!("{}/{}", rc.as_str(), item.code),
                region_code: rc.as_str().to_string(),
                before: None,
                after: Some(serde_json::to_value(item).unwrap_or_default()),
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
