//! Escalation's storage (issue 17 §4): an estate's chains, the alarms with a step due, who a tier
//! is on an estate, every notification sent, photos of the response and the response figures.
//! A step is claimed by one conditional update of `alarms.escalated_step`, so that when several
//! servers look at once exactly one of them sends it.

use crate::audit::{Actor, Change};
use crate::{Db, StoreError};
use huanxin_domain::access::Scope;
use huanxin_domain::alarms::escalation::{self as rules, ChainStep, Response, ResponseFigures, Tier};
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::routing::{self, UnitKind};
use huanxin_domain::{reason, ValidationErrors};
use serde::Serialize;
use std::collections::BTreeMap;

/// An estate's chain for an alarm type (`*`: every type without a chain of its own).
#[derive(Debug, Clone, Serialize)]
pub struct EstateChain {
    pub alarm_type: String,
    pub steps: Vec<ChainStep>,
    /// Who set it (none for the default chain).
    pub set_by: Option<String>,
    pub set_at: Option<String>,
}

/// An active alarm whose chain may have a step due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Escalating {
    pub id: i64,
    pub estate_id: i64,
    pub alarm_type: String,
    pub severity: String,
    pub first_at: String,
    /// The last step sent (-1: none yet).
    pub escalated_step: i64,
    pub estate_name: String,
    pub community_code: String,
    pub place: String,
}

/// Someone a step tells.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recipient {
    pub user_id: i64,
    pub display_name: String,
    pub phone: String,
}

/// One notification as it went out (or did not).
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub alarm_id: i64,
    pub step: i64,
    pub tier: Tier,
    /// `sms`, `webhook` or `feed`.
    pub channel: &'static str,
    /// A person's name with a masked number, a unit or the webhook's host.
    pub recipient: String,
    pub user_id: Option<i64>,
    /// `sent`, `failed` or `nobody` (the tier has nobody on this estate).
    pub status: &'static str,
    pub detail: String,
}

/// A notification of an alarm's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notification {
    pub id: i64,
    pub step: i64,
    pub tier: String,
    pub channel: String,
    pub recipient: String,
    pub status: String,
    pub detail: String,
    pub at: String,
}

/// A photo of the response to an alarm.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlarmPhoto {
    pub sha256: String,
    pub content_type: String,
    pub added_by: String,
    pub added_at: String,
}

/// Response figures of one unit or estate.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRow {
    /// `estate` or `unit` (the people who acknowledged, by the unit they work for).
    pub by: String,
    pub id: i64,
    pub name: String,
    pub figures: ResponseFigures,
}

/// An alarm's times with its estate and the unit of who acknowledged it.
#[derive(sqlx::FromRow)]
struct ResponseSource {
    estate_id: i64,
    estate: String,
    first: String,
    ack: Option<String>,
    cleared: Option<String>,
    unit_id: Option<i64>,
    unit: Option<String>,
}

/// Most photos one alarm keeps.
pub const MAX_PHOTOS: usize = 9;

/// The wildcard alarm type of a chain.
pub const EVERY_TYPE: &str = "*";

fn parse_ms(at: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at).ok().map(|t| t.timestamp_millis())
}

impl Db {
    /// An estate's chains as set (the default one listed as `*` when none is set for every type).
    pub async fn alarm_chains(&self, scope: &Scope, estate_id: i64) -> Result<Vec<EstateChain>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let rows: Vec<(String, String, String, String)> = self
            .fetch_all(
                "SELECT alarm_type, steps, set_by, set_at FROM alarm_chains WHERE estate_id = $1 ORDER BY alarm_type",
                crate::args![estate_id],
            )
            .await?;
        let mut out: Vec<EstateChain> = rows
            .into_iter()
            .filter_map(|(alarm_type, steps, by, at)| {
                let steps = serde_json::from_str(&steps).ok()?;
                Some(EstateChain { alarm_type, steps, set_by: Some(by), set_at: Some(at) })
            })
            .collect();
        if !out.iter().any(|c| c.alarm_type == EVERY_TYPE) {
            out.insert(0, EstateChain { alarm_type: EVERY_TYPE.into(), steps: rules::default_chain(), set_by: None, set_at: None });
        }
        Ok(out)
    }

    /// Sets an estate's chain for an alarm type (`*` for every type), checked first.
    pub async fn set_alarm_chain(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        alarm_type: &str,
        steps: &[ChainStep],
    ) -> Result<Vec<EstateChain>, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        rules::validate(steps)?;
        let json = serde_json::to_string(steps).map_err(|e| StoreError::Config(e.to_string()))?;
        let now = crate::now();
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO alarm_chains (estate_id, alarm_type, steps, set_by, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (estate_id, alarm_type) DO UPDATE SET steps = excluded.steps, set_by = excluded.set_by, set_at = excluded.set_at",
            crate::args![estate_id, alarm_type, json.as_str(), actor.username.as_str(), now.as_str()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set_alarm_chain",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"alarm_type": alarm_type, "steps": steps})),
            },
        )
        .await?;
        tx.commit().await?;
        self.alarm_chains(scope, estate_id).await
    }

    /// The chain that applies to an alarm: the estate's for its type, else its `*`, else the default.
    pub async fn chain_for(&self, estate_id: i64, alarm_type: &str) -> Result<Vec<ChainStep>, StoreError> {
        let rows: Vec<(String, String)> = self
            .fetch_all(
                "SELECT alarm_type, steps FROM alarm_chains WHERE estate_id = $1 AND alarm_type IN ($2, '*')",
                crate::args![estate_id, alarm_type],
            )
            .await?;
        let pick = rows.iter().find(|(t, _)| t == alarm_type).or_else(|| rows.iter().find(|(t, _)| t == EVERY_TYPE));
        Ok(pick.and_then(|(_, s)| serde_json::from_str(s).ok()).unwrap_or_else(rules::default_chain))
    }

    /// Active alarms with a step due at `now` (RFC 3339; at most 1,000, the longest due first).
    pub async fn escalating_alarms(&self, now: &str) -> Result<Vec<Escalating>, StoreError> {
        self.fetch_all(
            "SELECT a.id, a.estate_id, a.alarm_type, a.severity, a.first_at, a.escalated_step, e.name AS estate_name, \
             e.community_code, d.place FROM alarms a JOIN estates e ON e.id = a.estate_id JOIN devices d ON d.id = a.device_id \
             WHERE a.escalate_at <= $1 AND a.state = 'active' ORDER BY a.escalate_at, a.id LIMIT 1000",
            crate::args![now],
        )
        .await
    }

    /// Claims the steps after `sent` up to `to` of an alarm still active, with when the next is
    /// due (none at the chain's end): true for the one caller that moved it (the others, and an
    /// alarm acknowledged meanwhile, get false).
    pub async fn claim_escalation(&self, alarm_id: i64, sent: i64, to: i64, next_at: Option<&str>) -> Result<bool, StoreError> {
        Ok(self
            .execute(
                "UPDATE alarms SET escalated_step = $3, escalate_at = $4 WHERE id = $1 AND escalated_step = $2 AND state = 'active'",
                crate::args![alarm_id, sent, to, next_at.map(str::to_string)],
            )
            .await?
            == 1)
    }

    /// Who a tier is on an estate, with the unit's name: the property company's staff attached
    /// to it, its grid's workers, the community's, street's or county's staff.
    pub async fn tier_recipients(&self, estate_id: i64, community: &str, tier: Tier) -> Result<(String, Vec<Recipient>), StoreError> {
        const USER: &str = "u.id AS user_id, u.display_name, u.phone";
        let code = RegionCode::parse(community).map_err(|_| StoreError::Config(format!("estate {estate_id} has a bad community code")))?;
        let office = |kind: UnitKind| routing::office_region(kind, &code).map(|r| r.as_str().to_string());
        let (unit, people) = match tier {
            Tier::Property => {
                let unit = self.unit_for(estate_id, community, UnitKind::Property).await?;
                let people: Vec<Recipient> = self
                    .fetch_all(
                        &format!(
                            "SELECT {USER} FROM users u JOIN user_estates ue ON ue.user_id = u.id \
                             WHERE ue.estate_id = $1 AND u.role = 'property_company' AND u.active ORDER BY u.id"
                        ),
                        crate::args![estate_id],
                    )
                    .await?;
                (unit.map(|t| t.name).unwrap_or_default(), people)
            }
            Tier::GridWorker => {
                let rows: Vec<(String, i64, String, String)> = self
                    .fetch_all(
                        "SELECT g.name, u.id, u.display_name, u.phone FROM grid_estates ge JOIN grids g ON g.id = ge.grid_id \
                         JOIN grid_workers gw ON gw.grid_id = g.id JOIN users u ON u.id = gw.user_id WHERE ge.estate_id = $1 AND u.active \
                         ORDER BY u.id",
                        crate::args![estate_id],
                    )
                    .await?;
                let name = rows.first().map(|r| r.0.clone()).unwrap_or_default();
                (name, rows.into_iter().map(|(_, user_id, display_name, phone)| Recipient { user_id, display_name, phone }).collect())
            }
            Tier::Community | Tier::Street | Tier::County => {
                let (kind, roles) = match tier {
                    Tier::Community => (UnitKind::Community, "'community_staff'"),
                    Tier::Street => (UnitKind::Street, "'street_staff'"),
                    _ => (UnitKind::Bureau, "'county_admin', 'county_staff'"),
                };
                let Some(region) = office(kind) else { return Ok((String::new(), vec![])) };
                let name = self.region_names(std::slice::from_ref(&region)).await?.remove(&region).unwrap_or_default();
                let people = self
                    .fetch_all(
                        &format!("SELECT {USER} FROM users u WHERE u.region_code = $1 AND u.role IN ({roles}) AND u.active ORDER BY u.id"),
                        crate::args![region.as_str()],
                    )
                    .await?;
                (name, people)
            }
        };
        Ok((unit, people))
    }

    /// Logs notifications as they went out.
    pub async fn log_notifications(&self, sent: &[NewNotification]) -> Result<(), StoreError> {
        if sent.is_empty() {
            return Ok(());
        }
        let now = crate::now();
        let mut tx = self.begin().await?;
        for n in sent {
            tx.execute(
                "INSERT INTO alarm_notifications (alarm_id, step, tier, channel, recipient, user_id, status, detail, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                crate::args![
                    n.alarm_id,
                    n.step,
                    n.tier.as_str(),
                    n.channel,
                    n.recipient.chars().take(200).collect::<String>(),
                    n.user_id,
                    n.status,
                    n.detail.chars().take(300).collect::<String>(),
                    now.as_str()
                ],
            )
            .await?;
        }
        tx.commit().await
    }

    /// An alarm's notifications, in order (the alarm in scope).
    pub async fn alarm_notifications(&self, scope: &Scope, alarm_id: i64) -> Result<Vec<Notification>, StoreError> {
        self.alarm(scope, alarm_id).await?;
        self.fetch_all(
            "SELECT id, step, tier, channel, recipient, status, detail, at FROM alarm_notifications WHERE alarm_id = $1 ORDER BY id",
            crate::args![alarm_id],
        )
        .await
    }

    /// Adds the responder's photos to an alarm in scope (kept once each).
    pub async fn add_alarm_photos(
        &self,
        actor: &Actor,
        scope: &Scope,
        alarm_id: i64,
        photos: Vec<(Vec<u8>, &'static str)>,
    ) -> Result<Vec<AlarmPhoto>, StoreError> {
        let alarm = self.alarm(scope, alarm_id).await?;
        if alarm.state == "closed" {
            return Err(StoreError::Conflict(reason!("alarms.photo_closed")));
        }
        let had = self.scalar("SELECT COUNT(*) FROM alarm_photos WHERE alarm_id = $1", crate::args![alarm_id]).await?;
        if had as usize + photos.len() > MAX_PHOTOS {
            return Err(ValidationErrors::one("photos", photos.len(), reason!("alarms.photo_limit", max = MAX_PHOTOS)).into());
        }
        let region: (String,) = self.fetch_one("SELECT community_code FROM estates WHERE id = $1", crate::args![alarm.estate_id]).await?;
        let now = crate::now();
        let photos: Vec<(crate::Upload, &str)> = photos.into_iter().map(|(bytes, mime)| (crate::Upload::from(bytes), mime)).collect();
        for (upload, _) in &photos {
            self.stage_file(upload).await?;
        }
        let mut tx = self.begin().await?;
        tx.audit(
            actor,
            Change {
                action: "add_photos",
                entity: "alarm",
                entity_id: alarm_id.to_string(),
                region_code: region.0,
                before: None,
                after: Some(serde_json::json!({"photos": photos.len()})),
            },
        )
        .await?;
        for (upload, mime) in photos {
            let sha = tx.put_file(upload, mime).await?;
            tx.execute(
                "INSERT INTO alarm_photos (alarm_id, sha256, content_type, added_by, added_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (alarm_id, sha256) DO NOTHING",
                crate::args![alarm_id, sha.as_str(), mime, actor.username.as_str(), now.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        self.alarm_photos(scope, alarm_id).await
    }

    /// An alarm's photos (the alarm in scope).
    pub async fn alarm_photos(&self, scope: &Scope, alarm_id: i64) -> Result<Vec<AlarmPhoto>, StoreError> {
        self.alarm(scope, alarm_id).await?;
        self.fetch_all(
            "SELECT sha256, content_type, added_by, added_at FROM alarm_photos WHERE alarm_id = $1 ORDER BY added_at, sha256",
            crate::args![alarm_id],
        )
        .await
    }

    /// One photo of an alarm in scope.
    pub async fn alarm_photo(&self, scope: &Scope, alarm_id: i64, sha: &str) -> Result<(String, Vec<u8>), StoreError> {
        self.alarm(scope, alarm_id).await?;
        let (mime,): (String,) = self
            .fetch_optional(
                "SELECT f.content_type FROM alarm_photos p JOIN files f ON f.sha256 = p.sha256 WHERE p.alarm_id = $1 AND p.sha256 = $2",
                crate::args![alarm_id, sha],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((mime, self.file_content(sha).await?))
    }

    /// Response figures of the alarms in scope raised since `since` (RFC 3339): per estate, and
    /// per unit of the people who acknowledged them; "in time" is within `within_minutes`.
    pub async fn alarm_response(&self, scope: &Scope, since: &str, within_minutes: i64) -> Result<Vec<ResponseRow>, StoreError> {
        let mut args = vec![];
        let cond = crate::estates::scope_clause(scope, &mut args);
        args.push(since.into());
        let rows: Vec<ResponseSource> = self
            .fetch_all(
                &format!(
                    "SELECT a.estate_id, e.name AS estate, a.first_at AS first, a.acknowledged_at AS ack, a.cleared_at AS cleared, \
                     ru.id AS unit_id, ru.name AS unit FROM alarms a \
                     JOIN estates e ON e.id = a.estate_id LEFT JOIN users u ON u.username = a.acknowledged_by \
                     LEFT JOIN unit_members m ON m.user_id = u.id LEFT JOIN request_units ru ON ru.id = m.unit_id \
                     WHERE {cond} AND a.first_at >= ${} ORDER BY a.id LIMIT 200000",
                    args.len()
                ),
                args,
            )
            .await?;
        let mut estates: BTreeMap<(i64, String), Vec<Response>> = BTreeMap::new();
        let mut units: BTreeMap<(i64, String), Vec<Response>> = BTreeMap::new();
        for ResponseSource { estate_id, estate, first, ack, cleared, unit_id, unit } in rows {
            let Some(raised_ms) = parse_ms(&first) else { continue };
            let r = Response {
                raised_ms,
                acknowledged_ms: ack.as_deref().and_then(parse_ms),
                cleared_ms: cleared.as_deref().and_then(parse_ms),
            };
            estates.entry((estate_id, estate)).or_default().push(r);
            if let (Some(id), Some(name)) = (unit_id, unit) {
                units.entry((id, name)).or_default().push(r);
            }
        }
        let row = |by: &str, ((id, name), v): ((i64, String), Vec<Response>)| ResponseRow {
            by: by.into(),
            id,
            name,
            figures: rules::response_figures(&v, within_minutes),
        };
        Ok(units.into_iter().map(|e| row("unit", e)).chain(estates.into_iter().map(|e| row("estate", e))).collect())
    }
}
