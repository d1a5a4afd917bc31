//! A region's changes to the request category tree (issue 16): kept per region and laid on the
//! national tree, the nearest region winning.

use crate::audit::{Actor, Change};
use crate::{Db, StoreError};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::categories::{CategorySetting, Tree};
use huanxin_domain::requests::routing::UnitKind;
use huanxin_domain::ValidationErrors;

type SettingRow = (String, String, Option<String>, Option<String>, Option<i64>, Option<String>, bool);

fn setting_of(row: SettingRow) -> (String, CategorySetting) {
    let (region, code, zh, en, days, unit, retired) = row;
    let working_days = days.and_then(|d| u32::try_from(d).ok());
    (region, CategorySetting { code, zh, en, working_days, unit_kind: unit.as_deref().and_then(UnitKind::parse), retired })
}

impl Db {
    async fn category_settings(&self, region: &RegionCode) -> Result<Vec<(String, CategorySetting)>, StoreError> {
        let rows: Vec<SettingRow> = self
            .settings_in_force(
                "region_code, code, zh, en, working_days, unit_kind, retired",
                "request_category_settings",
                region,
                "set_at, code",
            )
            .await?;
        Ok(rows.into_iter().map(setting_of).collect())
    }

    /// The category tree in force in a region: the national tree with the changes of the regions
    /// enclosing it and its own, the nearest last.
    pub async fn category_tree(&self, region: &RegionCode) -> Result<Tree, StoreError> {
        let settings = self.category_settings(region).await?;
        Ok(Tree::with_settings(settings.iter().map(|(r, s)| (r.as_str(), s))))
    }

    /// The category tree in force where a community lies (a community code, or any code whose
    /// region is read from its digits, such as a county's 6).
    pub async fn category_tree_at(&self, community: &str) -> Result<Tree, StoreError> {
        let code = RegionCode::parse(community).map_err(|e| StoreError::Config(e.to_string()))?;
        self.category_tree(&code).await
    }

    /// Sets a region's change to one category, replacing its earlier one for that code: checked
    /// against the tree in force there without it, so that a group keeps a kind in use.
    /// Returns the region's tree as it now stands.
    pub async fn set_category(&self, actor: &Actor, region: &RegionCode, input: &CategorySetting) -> Result<Tree, StoreError> {
        let code = input.code.trim();
        let settings = self.category_settings(region).await?;
        let before = settings.iter().find(|(r, s)| r == region.as_str() && s.code == code).map(|(_, s)| s.clone());
        let others = settings.iter().filter(|(r, s)| !(r == region.as_str() && s.code == code));
        let setting = Tree::with_settings(others.map(|(r, s)| (r.as_str(), s))).check(input).map_err(StoreError::Invalid)?;
        let mut tx = self.begin().await?;
        tx.execute(
            "DELETE FROM request_category_settings WHERE region_code = $1 AND code = $2",
            crate::args![region.as_str(), setting.code.as_str()],
        )
        .await?;
        tx.execute(
            "INSERT INTO request_category_settings (region_code, code, zh, en, working_days, unit_kind, retired, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            crate::args![
                region.as_str(),
                setting.code.as_str(),
                setting.zh.clone(),
                setting.en.clone(),
                setting.working_days.map(i64::from),
                setting.unit_kind.map(|k| k.as_str().to_string()),
                setting.retired,
                actor.username.as_str(),
                crate::now()
            ],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "request_category",
                entity_id: setting.code.clone(),
                region_code: region.as_str().to_string(),
                before: before.and_then(|b| serde_json::to_value(b).ok()),
                after: serde_json::to_value(&setting).ok(),
            },
        )
        .await?;
        tx.commit().await?;
        self.category_tree(region).await
    }

    /// Takes back a region's change to one category: the regions above decide again. A kind of
    /// the region's own that requests were filed under is retired instead, never taken away.
    pub async fn reset_category(&self, actor: &Actor, region: &RegionCode, code: &str) -> Result<Tree, StoreError> {
        let code = code.trim();
        let settings = self.category_settings(region).await?;
        let Some((_, before)) = settings.iter().find(|(r, s)| r == region.as_str() && s.code == code) else {
            return Err(StoreError::Invalid(ValidationErrors::one("code", code, reason!("requests.category_not_set"))));
        };
        let above = Tree::with_settings(settings.iter().filter(|(r, _)| r != region.as_str()).map(|(r, s)| (r.as_str(), s)));
        if above.category(code).is_none() {
            let (low, high) = region.subtree_range();
            let filed = self
                .scalar(
                    "SELECT COUNT(*) FROM service_requests r JOIN estates e ON e.id = r.estate_id \
                     WHERE r.category = $1 AND e.community_code >= $2 AND e.community_code < $3",
                    crate::args![code, low, high],
                )
                .await?;
            if filed > 0 {
                return Err(StoreError::Conflict(reason!("requests.category_in_use", count = filed)));
            }
        }
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM request_category_settings WHERE region_code = $1 AND code = $2", crate::args![region.as_str(), code])
            .await?;
        tx.audit(
            actor,
            Change {
                action: "reset",
                entity: "request_category",
                entity_id: code.to_string(),
                region_code: region.as_str().to_string(),
                before: serde_json::to_value(before).ok(),
                after: None,
            },
        )
        .await?;
        tx.commit().await?;
        self.category_tree(region).await
    }
}
