//! Rule overrides (issue 17 §3): a region or an estate changes a device kind's rules for itself
//! and everything below it, the nearest place winning field by field
//! (`alarms::rules::override_places`). The ingest holds them all in memory and reloads them when
//! they change; a camera's event reads its device's.

use crate::audit::{Actor, Change};
use crate::{Db, StoreError};
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::rules::{self, override_places, Rules, RulesOverride};
use huanxin_domain::alarms::DeviceKind;
use huanxin_domain::regions::RegionCode;
use serde::Serialize;
use std::collections::HashMap;

/// Every override, by place and kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides(HashMap<(String, String), RulesOverride>);

impl Overrides {
    /// A device's rules: its kind's national rules with the overrides of the places above it.
    pub fn rules_for(&self, kind: DeviceKind, community: &str, estate_id: i64) -> Rules {
        let Ok(community) = RegionCode::parse(community) else { return rules::defaults(kind) };
        let places = override_places(&community, estate_id);
        Rules::effective(kind, places.iter().filter_map(|p| self.0.get(&(p.clone(), kind.as_str().to_string()))))
    }
}

/// An override as set, with who set it.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideRow {
    /// A region's code or `estate:{id}`.
    pub place: String,
    pub rules: RulesOverride,
    pub set_by: String,
    pub set_at: String,
}

/// A kind's rules as they apply at a place, and the overrides that made them.
#[derive(Debug, Clone, Serialize)]
pub struct KindRules {
    pub kind: String,
    pub rules: Rules,
    /// Outermost first.
    pub overrides: Vec<OverrideRow>,
}

impl Db {
    /// Every override (a small table: a few per region).
    pub async fn rule_overrides(&self) -> Result<Overrides, StoreError> {
        let rows: Vec<(String, String, String)> =
            self.fetch_all("SELECT place, device_kind, rules FROM alarm_rule_overrides", vec![]).await?;
        Ok(Overrides(rows.into_iter().filter_map(|(p, k, r)| serde_json::from_str(&r).ok().map(|o: RulesOverride| ((p, k), o))).collect()))
    }

    /// A cheap sign that the overrides changed: how many and the newest time set.
    pub async fn rule_overrides_stamp(&self) -> Result<(i64, Option<String>), StoreError> {
        self.fetch_one("SELECT COUNT(*), MAX(set_at) FROM alarm_rule_overrides", vec![]).await
    }

    /// Sets a place's override of a kind's rules, checked first (an empty one puts the place back
    /// to the rules of the places above it). The place is a region in scope or an estate in scope.
    pub async fn set_rule_override(
        &self,
        actor: &Actor,
        scope: &Scope,
        place: &str,
        kind: DeviceKind,
        o: &RulesOverride,
    ) -> Result<(), StoreError> {
        // Kept under the place's one spelling (a region's 12 digits), or it would never be found.
        let (place, region_code) = match place.strip_prefix("estate:") {
            Some(id) => {
                let id: i64 = id.parse().map_err(|_| StoreError::NotFound)?;
                (rules::estate_place(id), self.get_estate(scope, id).await?.community_code)
            }
            None => {
                let region = RegionCode::parse(place).map_err(|_| StoreError::NotFound)?;
                if !scope.covers(&region) {
                    return Err(StoreError::NotFound);
                }
                (region.as_str().to_string(), region.as_str().to_string())
            }
        };
        let place = place.as_str();
        rules::validate_override(kind, o)?;
        let json = serde_json::to_string(o).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO alarm_rule_overrides (place, device_kind, rules, set_by, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (place, device_kind) DO UPDATE SET rules = excluded.rules, set_by = excluded.set_by, set_at = excluded.set_at",
            crate::args![place, kind.as_str(), json.as_str(), actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set_alarm_rules",
                entity: "alarm_rules",
                entity_id: format!("{place}/{}", kind.as_str()),
                region_code,
                before: None,
                after: Some(serde_json::json!(o)),
            },
        )
        .await?;
        tx.commit().await
    }

    /// Every kind's rules on an estate in scope, with the overrides that made them.
    pub async fn estate_rules(&self, scope: &Scope, estate_id: i64) -> Result<Vec<KindRules>, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let community = RegionCode::parse(&estate.community_code).map_err(|_| StoreError::Config("a bad community code".into()))?;
        let places = override_places(&community, estate_id);
        let mut args = vec![];
        let list: Vec<String> = places
            .iter()
            .map(|p| {
                args.push(p.as_str().into());
                format!("${}", args.len())
            })
            .collect();
        let rows: Vec<(String, String, String, String, String)> = self
            .fetch_all(
                &format!("SELECT place, device_kind, rules, set_by, set_at FROM alarm_rule_overrides WHERE place IN ({})", list.join(", ")),
                args,
            )
            .await?;
        Ok(DeviceKind::ALL
            .into_iter()
            .map(|kind| {
                let overrides: Vec<OverrideRow> = places
                    .iter()
                    .filter_map(|p| rows.iter().find(|r| &r.0 == p && r.1 == kind.as_str()))
                    .filter_map(|(place, _, r, by, at)| {
                        Some(OverrideRow {
                            place: place.clone(),
                            rules: serde_json::from_str(r).ok()?,
                            set_by: by.clone(),
                            set_at: at.clone(),
                        })
                    })
                    .collect();
                KindRules { kind: kind.as_str().into(), rules: Rules::effective(kind, overrides.iter().map(|o| &o.rules)), overrides }
            })
            .collect())
    }
}
