//! Acceptance (竣工验收) of an estate's renovation: opened with the parties who must sign, signed by
//! each party's own accounts in the system, complete when every required party agreed. The rules
//! are `huanxin_domain::acceptance`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::acceptance::{self as rules, Signatory};
use huanxin_domain::access::{Role, Scope};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// One party's signature.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Signature {
    pub signatory: String,
    pub username: String,
    pub agree: bool,
    pub note: String,
    pub signed_at: String,
}

/// A residents' representative named on the acceptance.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Representative {
    pub user_id: i64,
    pub name: String,
    /// `owners` (业主推选) or `community` (社区推荐).
    pub chosen_by: String,
    pub added_by: String,
    pub added_at: String,
}

/// A resident's account that could represent the residents: bound to a dwelling of the estate (or
/// attached to it), with how.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Candidate {
    pub user_id: i64,
    pub name: String,
    /// Building and dwelling number, empty for an account attached to the estate as a whole.
    pub dwelling: String,
    /// `owner`, `resident`, or empty when attached.
    pub standing: String,
}

/// An estate's acceptance: who must sign, who did, what is missing.
#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    pub id: i64,
    pub estate_id: i64,
    pub required: Vec<String>,
    /// The only accounts that sign for the residents.
    pub representatives: Vec<Representative>,
    pub opened_by: String,
    pub opened_at: String,
    pub signatures: Vec<Signature>,
    /// Required parties without an agreeing signature.
    pub missing: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct AcceptanceRow {
    id: i64,
    required: String,
    opened_by: String,
    opened_at: String,
}

fn parse_required(s: &str) -> Vec<Signatory> {
    s.split(',').filter_map(Signatory::parse).collect()
}

impl Db {
    /// The acceptance of an estate in scope, if one was opened.
    pub async fn acceptance(&self, scope: &Scope, estate_id: i64) -> Result<Option<Acceptance>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.acceptance_of(estate_id).await
    }

    async fn acceptance_of(&self, estate_id: i64) -> Result<Option<Acceptance>, StoreError> {
        let Some(row) = self
            .fetch_optional::<AcceptanceRow>(
                "SELECT id, required, opened_by, opened_at FROM acceptances WHERE estate_id = $1",
                crate::args![estate_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let signatures: Vec<Signature> = self
            .fetch_all(
                "SELECT signatory, username, agree, note, signed_at FROM acceptance_signatures WHERE acceptance_id = $1 ORDER BY id",
                crate::args![row.id],
            )
            .await?;
        let representatives: Vec<Representative> = self
            .fetch_all(
                "SELECT user_id, name, chosen_by, added_by, added_at FROM acceptance_representatives WHERE acceptance_id = $1 ORDER BY added_at, user_id",
                crate::args![row.id],
            )
            .await?;
        let required = parse_required(&row.required);
        let agreed: Vec<Signatory> = signatures.iter().filter(|s| s.agree).filter_map(|s| Signatory::parse(&s.signatory)).collect();
        Ok(Some(Acceptance {
            id: row.id,
            estate_id,
            required: required.iter().map(|s| s.as_str().to_string()).collect(),
            representatives,
            opened_by: row.opened_by,
            opened_at: row.opened_at,
            signatures,
            missing: rules::missing(&required, &agreed).iter().map(|s| s.as_str().to_string()).collect(),
        }))
    }

    /// Opens the acceptance of an estate with the parties who must sign (one per estate).
    pub async fn open_acceptance(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        signatories: &[String],
    ) -> Result<Acceptance, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let status = huanxin_domain::estates::EstateStatus::parse(&estate.status)
            .ok_or_else(|| StoreError::Config(format!("estate {estate_id} has an unknown status")))?;
        rules::may_open(status).map_err(StoreError::Conflict)?;
        let required = rules::required(signatories).map_err(StoreError::Invalid)?;
        if self.acceptance_of(estate_id).await?.is_some() {
            return Err(StoreError::Conflict(reason!("acceptance.already_open")));
        }
        let codes: Vec<&str> = required.iter().map(|s| s.as_str()).collect();
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO acceptances (estate_id, required, opened_by, opened_at) VALUES ($1, $2, $3, $4)",
            crate::args![estate_id, codes.join(","), actor.username.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "open",
                entity: "acceptance",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"required": codes})),
            },
        )
        .await?;
        tx.commit().await?;
        self.acceptance_of(estate_id).await?.ok_or(StoreError::NotFound)
    }

    /// Signs (or re-signs) for a party: the account's role must be that party's, the party must be
    /// required, and the estate in the account's scope. Disagreeing is recorded and leaves the party missing.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_acceptance(
        &self,
        actor: &Actor,
        role: Role,
        scope: &Scope,
        estate_id: i64,
        signatory: Signatory,
        agree: bool,
        note: &str,
    ) -> Result<Acceptance, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let acceptance = self.acceptance_of(estate_id).await?.ok_or_else(|| StoreError::Conflict(reason!("acceptance.not_open")))?;
        if !acceptance.required.iter().any(|r| r == signatory.as_str()) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "signatory",
                signatory.as_str(),
                reason!("acceptance.party_not_required"),
            )));
        }
        if !signatory.may_be_signed_by(role) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "signatory",
                signatory.as_str(),
                reason!("acceptance.role_cannot_sign"),
            )));
        }
        let user_id = actor.user_id.ok_or(StoreError::NotFound)?;
        let named: Vec<i64> = acceptance.representatives.iter().map(|r| r.user_id).collect();
        if !rules::may_sign(signatory, role, user_id, &named) {
            return Err(StoreError::Invalid(ValidationErrors::one(
                "signatory",
                signatory.as_str(),
                reason!("acceptance.only_named_representatives"),
            )));
        }
        if note.chars().count() > 500 {
            return Err(StoreError::Invalid(ValidationErrors::one("note", note, reason!("field.at_most_chars", max = 500))));
        }
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO acceptance_signatures (acceptance_id, signatory, user_id, username, agree, note, signed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (acceptance_id, signatory, user_id) DO UPDATE SET \
             agree = excluded.agree, note = excluded.note, signed_at = excluded.signed_at",
            crate::args![acceptance.id, signatory.as_str(), user_id, actor.username.as_str(), agree, note.trim(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "sign",
                entity: "acceptance",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"signatory": signatory.as_str(), "agree": agree, "note": note.trim()})),
            },
        )
        .await?;
        tx.commit().await?;
        self.acceptance_of(estate_id).await?.ok_or(StoreError::NotFound)
    }

    /// Residents' accounts of an estate in scope that may be named representatives.
    pub async fn representative_candidates(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Candidate>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            "SELECT u.id AS user_id, u.display_name AS name, b.number || '-' || d.number AS dwelling, rd.standing AS standing \
             FROM resident_dwellings rd JOIN users u ON u.id = rd.user_id JOIN dwellings d ON d.id = rd.dwelling_id \
             JOIN buildings b ON b.id = d.building_id WHERE d.estate_id = $1 AND u.active \
             UNION SELECT u.id, u.display_name, '', '' FROM user_estates ue JOIN users u ON u.id = ue.user_id \
             WHERE ue.estate_id = $1 AND u.role = 'resident' AND u.active AND NOT EXISTS (SELECT 1 FROM resident_dwellings r \
             JOIN dwellings d2 ON d2.id = r.dwelling_id WHERE r.user_id = u.id AND d2.estate_id = $1) ORDER BY 2, 3",
            crate::args![estate_id],
        )
        .await
    }

    /// Names the residents' representatives of an open acceptance (replacing those named before);
    /// each must be a resident's account of the estate. Signatures already given by someone no
    /// longer named stop counting.
    pub async fn set_representatives(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        chosen: &[(i64, String)],
    ) -> Result<Acceptance, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let acceptance = self.acceptance_of(estate_id).await?.ok_or_else(|| StoreError::Conflict(reason!("acceptance.not_open")))?;
        let candidates = self.representative_candidates(scope, estate_id).await?;
        let mut errs = ValidationErrors::default();
        let mut rows = Vec::new();
        for (i, (user_id, chosen_by)) in chosen.iter().enumerate() {
            if let Err(e) = rules::check_chosen_by(&format!("representatives[{i}].chosen_by"), chosen_by) {
                errs.0.extend(e.0);
            }
            match candidates.iter().find(|c| c.user_id == *user_id) {
                Some(c) if !rows.iter().any(|(id, _, _): &(i64, String, String)| id == user_id) => {
                    rows.push((*user_id, c.name.clone(), chosen_by.trim().to_string()))
                }
                Some(_) => errs.push(&format!("representatives[{i}].user_id"), user_id, reason!("field.listed_twice")),
                None => errs.push(&format!("representatives[{i}].user_id"), user_id, reason!("acceptance.not_resident_of_estate")),
            }
        }
        if !errs.is_empty() {
            return Err(StoreError::Invalid(errs));
        }
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM acceptance_representatives WHERE acceptance_id = $1", crate::args![acceptance.id]).await?;
        let now = crate::now();
        for (user_id, name, chosen_by) in &rows {
            tx.execute(
                "INSERT INTO acceptance_representatives (acceptance_id, user_id, name, chosen_by, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6)",
                crate::args![acceptance.id, *user_id, name.as_str(), chosen_by.as_str(), actor.username.as_str(), now.as_str()],
            )
            .await?;
        }
        // A residents' signature counts only while its signer is named.
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        tx.execute(
            &format!(
                "DELETE FROM acceptance_signatures WHERE acceptance_id = $1 AND signatory = 'residents'{}",
                if ids.is_empty() {
                    String::new()
                } else {
                    format!(" AND user_id NOT IN ({})", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
                }
            ),
            crate::args![acceptance.id],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "name_representatives",
                entity: "acceptance",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code,
                before: Some(serde_json::json!(acceptance.representatives.iter().map(|r| r.user_id).collect::<Vec<_>>())),
                after: Some(serde_json::json!(rows
                    .iter()
                    .map(|r| serde_json::json!({"user_id": r.0, "name": r.1, "chosen_by": r.2}))
                    .collect::<Vec<_>>())),
            },
        )
        .await?;
        tx.commit().await?;
        self.acceptance_of(estate_id).await?.ok_or(StoreError::NotFound)
    }

    /// The parties still to sign (the lifecycle's `missing_signatures`); all of them before the acceptance opens.
    pub(crate) async fn missing_signatures(&self, estate_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(match self.acceptance_of(estate_id).await? {
            Some(a) => a.missing,
            None => Signatory::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        })
    }
}
