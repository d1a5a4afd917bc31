//! The public progress page of an estate (no sign-in): whether its region publishes one, and what it
//! shows — the stage and its dates, what is being done, the money by payer, the photos. Nothing
//! personal: no names, no accounts, no dwellings.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::schemes::Estimate;
use serde::Serialize;

/// One line of what is being done.
#[derive(Debug, Clone, Serialize)]
pub struct PublicItem {
    pub name: String,
    pub category: String,
    pub quantity: String,
    pub unit: String,
    pub place: String,
}

/// A step of the estate's life with its day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PublicStep {
    pub to_status: String,
    pub at: String,
}

/// The public page.
#[derive(Debug, Clone, Serialize)]
pub struct PublicPage {
    pub code: String,
    pub name: String,
    pub address: String,
    pub build_year: i64,
    pub households: i64,
    pub status: String,
    pub steps: Vec<PublicStep>,
    /// The scheme version shown (the latest issued), if any.
    pub scheme_stage: Option<String>,
    pub items: Vec<PublicItem>,
    pub estimate: Estimate,
    /// Photo document ids (before, during, after), newest first.
    pub photos: Vec<i64>,
}

/// Whether an estate's progress page is published, and why: its own choice, else its region's
/// default (the nearest enclosing setting), else off.
#[derive(Debug, Clone, Serialize)]
pub struct PublicState {
    pub enabled: bool,
    /// `estate`, `region` or `default`.
    pub source: String,
    /// What the region's default is, shown beside the estate's own choice.
    pub region_default: bool,
}

/// The largest photo a public page shows (it is read whole to strip where and when it was taken).
pub const PUBLIC_PHOTO_BYTES: i64 = 10 * 1024 * 1024;

impl Db {
    /// Whether the estate's page is published (its own choice over its region's default).
    pub async fn public_state(&self, estate_id: i64, community: &RegionCode) -> Result<PublicState, StoreError> {
        let rows: Vec<(String, bool)> = self.settings_in_force("region_code, enabled", "public_pages", community, "").await?;
        let region_default = rows.last().is_some_and(|(_, enabled)| *enabled);
        let own: Option<(bool,)> =
            self.fetch_optional("SELECT enabled FROM estate_public_pages WHERE estate_id = $1", crate::args![estate_id]).await?;
        Ok(match own {
            Some((enabled,)) => PublicState { enabled, source: "estate".into(), region_default },
            None => {
                PublicState { enabled: region_default, source: if rows.is_empty() { "default" } else { "region" }.into(), region_default }
            }
        })
    }

    /// The publishing state of an estate in scope.
    pub async fn estate_public_state(&self, scope: &Scope, estate_id: i64) -> Result<PublicState, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let community = RegionCode::parse(&estate.community_code).map_err(|e| StoreError::Config(e.to_string()))?;
        self.public_state(estate_id, &community).await
    }

    /// Publishes (or withdraws) one estate's progress page, whatever its region's default; audited.
    pub async fn set_estate_public(&self, actor: &Actor, scope: &Scope, estate_id: i64, enabled: bool) -> Result<PublicState, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let before = self.estate_public_state(scope, estate_id).await?;
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO estate_public_pages (estate_id, enabled, set_by, set_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (estate_id) DO UPDATE SET enabled = excluded.enabled, set_by = excluded.set_by, set_at = excluded.set_at",
            crate::args![estate_id, enabled, actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "estate_public_page",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: Some(serde_json::json!({"enabled": before.enabled, "source": before.source})),
                after: Some(serde_json::json!({"enabled": enabled})),
            },
        )
        .await?;
        tx.commit().await?;
        self.estate_public_state(scope, estate_id).await
    }

    /// Does the region (the nearest enclosing setting) publish progress pages?
    pub async fn public_pages_enabled(&self, region: &RegionCode) -> Result<bool, StoreError> {
        let rows: Vec<(String, bool)> = self.settings_in_force("region_code, enabled", "public_pages", region, "").await?;
        Ok(rows.last().is_some_and(|(_, enabled)| *enabled))
    }

    /// Turns public progress pages on or off for a region's estates.
    pub async fn set_public_pages(&self, actor: &Actor, region: &RegionCode, enabled: bool) -> Result<(), StoreError> {
        let before = self.public_pages_enabled(region).await?;
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM public_pages WHERE region_code = $1", crate::args![region.as_str()]).await?;
        tx.execute(
            "INSERT INTO public_pages (region_code, enabled, updated_at) VALUES ($1, $2, $3)",
            crate::args![region.as_str(), enabled, crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "public_pages",
                entity_id: region.as_str().to_string(),
                region_code: region.as_str().to_string(),
                before: Some(serde_json::json!({"enabled": before})),
                after: Some(serde_json::json!({"enabled": enabled})),
            },
        )
        .await?;
        tx.commit().await
    }

    /// The public page of the estate with this code, if its region publishes one (else not found).
    pub async fn public_page(&self, code: &str) -> Result<PublicPage, StoreError> {
        let row: Option<(i64, String, String, String, i64, i64, String)> = self
            .fetch_optional(
                "SELECT id, name, address, community_code, build_year, households, status FROM estates WHERE code = $1",
                crate::args![code],
            )
            .await?;
        let Some((id, name, address, community, build_year, households, status)) = row else { return Err(StoreError::NotFound) };
        let region = RegionCode::parse(&community).map_err(|e| StoreError::Config(e.to_string()))?;
        if !self.public_state(id, &region).await?.enabled {
            return Err(StoreError::NotFound);
        }
        let steps: Vec<PublicStep> =
            self.fetch_all("SELECT to_status, at FROM estate_events WHERE estate_id = $1 ORDER BY id", crate::args![id]).await?;
        let everywhere = Scope::Region(RegionCode::country());
        let scheme = self.scheme(&everywhere, id).await?;
        // Only what was issued (posted for notice or final) is public; a draft is the desk's.
        let (scheme_stage, sheet) = match scheme.issued.last() {
            Some(v) => (Some(v.stage.clone()), Some(self.scheme_version(&everywhere, id, v.version_no).await?)),
            None => (None, None),
        };
        let buildings: Vec<(i64, String)> =
            self.fetch_all("SELECT id, number FROM buildings WHERE estate_id = $1", crate::args![id]).await?;
        let items = sheet
            .iter()
            .flat_map(|s| s.items.iter())
            .map(|i| PublicItem {
                name: i.name.clone(),
                category: i.category.as_str().to_string(),
                quantity: format!("{:.2}", i.quantity_hundredths as f64 / 100.0).trim_end_matches('0').trim_end_matches('.').to_string(),
                unit: i.unit.clone(),
                place: i.building_id.and_then(|b| buildings.iter().find(|x| x.0 == b).map(|x| x.1.clone())).unwrap_or_default(),
            })
            .collect();
        // Photos up to PUBLIC_PHOTO_BYTES: each is read whole to strip its metadata before it is
        // shown to anyone, so a scan of hundreds of MB is never offered to the public.
        let photos: Vec<(i64,)> = self
            .fetch_all(
                "SELECT id FROM documents WHERE estate_id = $1 AND content_type LIKE 'image/%' \
                 AND section IN ('assessment', 'construction', 'acceptance') AND kind IN ('photos_before', 'photos_during', 'photos_after') \
                 AND size <= $2 ORDER BY id DESC LIMIT 24",
                crate::args![id, PUBLIC_PHOTO_BYTES],
            )
            .await?;
        Ok(PublicPage {
            code: code.to_string(),
            name,
            address,
            build_year,
            households,
            status,
            steps,
            scheme_stage,
            items,
            estimate: sheet.map(|s| s.estimate).unwrap_or_default(),
            photos: photos.into_iter().map(|(p,)| p).collect(),
        })
    }

    /// A photo of a public page: only a listed photo of a published estate (so at most
    /// [`PUBLIC_PHOTO_BYTES`]).
    pub async fn public_photo(&self, code: &str, document_id: i64) -> Result<(String, Vec<u8>), StoreError> {
        let page = self.public_page(code).await?;
        if !page.photos.contains(&document_id) {
            return Err(StoreError::NotFound);
        }
        let (content_type, sha): (String, String) =
            self.fetch_one("SELECT content_type, sha256 FROM documents WHERE id = $1", crate::args![document_id]).await?;
        let bytes = self.file_content(&sha).await?;
        // Where and when the camera was (EXIF GPS) never leaves with a public photo.
        let clean = huanxin_domain::photos::strip_metadata(&bytes).ok_or(StoreError::NotFound)?;
        Ok((content_type, clean))
    }
}
