//! Residents' access: invitation codes per dwelling (only their hashes are kept), binding a code to a
//! resident account, and the dwellings a resident holds. The rules are `huanxin_domain::residents`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::decisions::RegisteredOwner;
use huanxin_domain::residents::{self as rules, Standing};
use serde::Serialize;

/// A dwelling for the invitation sheet: where it is, so the printed slip can be cut and delivered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SheetLine {
    pub dwelling_id: i64,
    pub building_number: String,
    pub stairwell: i64,
    pub floor: i64,
    pub number: String,
}

/// One dwelling a resident holds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MyDwelling {
    pub dwelling_id: i64,
    pub estate_id: i64,
    pub estate_name: String,
    pub building_number: String,
    pub stairwell: i64,
    pub number: String,
    pub standing: String,
}

/// Why a code did not bind.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("the code is not valid")]
    Unknown,
    #[error("the code has already been used")]
    Used,
    #[error("the code expired on {0}; ask the community for a new one")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Db {
    /// Dwellings of an estate (or one building) for an invitation sheet, in walking order.
    pub async fn sheet_lines(&self, scope: &Scope, estate_id: i64, building_id: Option<i64>) -> Result<Vec<SheetLine>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            "SELECT d.id AS dwelling_id, b.number AS building_number, d.stairwell, d.floor, d.number FROM dwellings d \
             JOIN buildings b ON b.id = d.building_id WHERE d.estate_id = $1 AND ($2 IS NULL OR d.building_id = $2) \
             ORDER BY b.number, d.stairwell, d.floor, d.number",
            crate::args![estate_id, building_id],
        )
        .await
    }

    /// Stores fresh codes (as hashes) for dwellings; earlier unused codes of those dwellings stop working,
    /// so a reprinted sheet replaces the old one.
    pub async fn issue_codes(&self, actor: &Actor, scope: &Scope, estate_id: i64, codes: &[(i64, String)]) -> Result<String, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let expires =
            (chrono::Utc::now() + chrono::Duration::days(rules::CODE_VALID_DAYS)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let now = crate::now();
        let mut tx = self.begin().await?;
        let ids = codes.iter().map(|(d, _)| crate::args![*d]).collect();
        tx.execute_with_rows(
            &[("dwelling_id", "BIGINT")],
            ids,
            "DELETE FROM invitation_codes WHERE used_at IS NULL AND dwelling_id IN (SELECT dwelling_id FROM huanxin_src)",
        )
        .await?;
        let rows = codes.iter().map(|(d, h)| crate::args![h.as_str(), *d, now.as_str(), expires.as_str()]).collect();
        tx.execute_with_rows(
            &[("code_hash", "TEXT"), ("dwelling_id", "BIGINT"), ("created_at", "TEXT"), ("expires_at", "TEXT")],
            rows,
            "INSERT INTO invitation_codes (code_hash, dwelling_id, created_at, expires_at) SELECT code_hash, dwelling_id, created_at, expires_at FROM huanxin_src",
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "issue_codes",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"dwellings": codes.len(), "expires_at": expires})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(expires)
    }

    /// Binds a code to a resident: to `user_id` if signed in as a resident, else to a new resident account
    /// named `new_username`. Returns the user id and the dwelling bound with the standing found.
    pub async fn bind_code(
        &self,
        code_hash: &str,
        user_id: Option<i64>,
        new_username: &str,
        name: &str,
        phone: &str,
    ) -> Result<(i64, MyDwelling), BindError> {
        let row: Option<(i64, String, Option<String>)> = self
            .fetch_optional("SELECT dwelling_id, expires_at, used_at FROM invitation_codes WHERE code_hash = $1", crate::args![code_hash])
            .await?;
        let Some((dwelling_id, expires_at, used_at)) = row else { return Err(BindError::Unknown) };
        if used_at.is_some() {
            return Err(BindError::Used);
        }
        if expires_at < crate::now() {
            return Err(BindError::Expired(expires_at.get(..10).unwrap_or(&expires_at).to_string()));
        }
        let (estate_id, community): (i64, String) = self
            .fetch_one(
                "SELECT e.id, e.community_code FROM dwellings d JOIN estates e ON e.id = d.estate_id WHERE d.id = $1",
                crate::args![dwelling_id],
            )
            .await?;
        let owners: Vec<(String, String)> =
            self.fetch_all("SELECT name, phone FROM dwelling_owners WHERE dwelling_id = $1", crate::args![dwelling_id]).await?;
        let owners: Vec<RegisteredOwner> = owners.into_iter().map(|(name, phone)| RegisteredOwner { name, phone }).collect();
        let standing = match rules::standing(name, phone, &owners) {
            Standing::Owner => "owner",
            Standing::Resident => "resident",
        };
        let now = crate::now();
        let mut tx = self.begin().await?;
        // Marking the code used first, conditionally, makes a code bind once even when two phones try at once.
        let taken = tx
            .execute(
                "UPDATE invitation_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
                crate::args![now.as_str(), code_hash],
            )
            .await?;
        if taken == 0 {
            return Err(BindError::Used);
        }
        let uid = match user_id {
            Some(u) => u,
            None => {
                let (id,): (i64,) = tx
                    .fetch_one(
                        "INSERT INTO users (username, display_name, password_hash, role, region_code, phone, created_at) \
                         VALUES ($1, $2, '!', 'resident', $3, $4, $5) RETURNING id",
                        crate::args![new_username, name.trim(), community.as_str(), phone.trim(), now.as_str()],
                    )
                    .await?;
                id
            }
        };
        tx.execute("UPDATE invitation_codes SET used_by = $1 WHERE code_hash = $2", crate::args![uid, code_hash]).await?;
        tx.execute("DELETE FROM resident_dwellings WHERE user_id = $1 AND dwelling_id = $2", crate::args![uid, dwelling_id]).await?;
        tx.execute(
            "INSERT INTO resident_dwellings (user_id, dwelling_id, standing, bound_at) VALUES ($1, $2, $3, $4)",
            crate::args![uid, dwelling_id, standing, now.as_str()],
        )
        .await?;
        let attached =
            tx.scalar("SELECT COUNT(*) FROM user_estates WHERE user_id = $1 AND estate_id = $2", crate::args![uid, estate_id]).await?;
        if attached == 0 {
            tx.execute("INSERT INTO user_estates (user_id, estate_id) VALUES ($1, $2)", crate::args![uid, estate_id]).await?;
        }
        let actor = Actor { user_id: Some(uid), username: new_username.to_string(), request_id: String::new() };
        tx.audit(
            &actor,
            Change {
                action: "bind",
                entity: "dwelling",
                entity_id: dwelling_id.to_string(),
                region_code: community,
                before: None,
                after: Some(serde_json::json!({"user_id": uid, "standing": standing})),
            },
        )
        .await?;
        tx.commit().await?;
        let mine = self.my_dwellings(uid).await?.into_iter().find(|d| d.dwelling_id == dwelling_id).ok_or(StoreError::NotFound)?;
        Ok((uid, mine))
    }

    /// The dwellings a resident holds.
    pub async fn my_dwellings(&self, user_id: i64) -> Result<Vec<MyDwelling>, StoreError> {
        self.fetch_all(
            "SELECT r.dwelling_id, e.id AS estate_id, e.name AS estate_name, b.number AS building_number, d.stairwell, d.number, r.standing \
             FROM resident_dwellings r JOIN dwellings d ON d.id = r.dwelling_id JOIN buildings b ON b.id = d.building_id \
             JOIN estates e ON e.id = d.estate_id WHERE r.user_id = $1 ORDER BY e.name, b.number, d.number",
            crate::args![user_id],
        )
        .await
    }

    /// Is the user bound to the dwelling as its owner?
    pub async fn is_owner_of(&self, user_id: i64, dwelling_id: i64) -> Result<Option<bool>, StoreError> {
        let row: Option<(String,)> = self
            .fetch_optional(
                "SELECT standing FROM resident_dwellings WHERE user_id = $1 AND dwelling_id = $2",
                crate::args![user_id, dwelling_id],
            )
            .await?;
        Ok(row.map(|(s,)| s == "owner"))
    }
}
