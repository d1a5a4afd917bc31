//! Acceptance (竣工验收) of an estate's renovation: opened with the parties who must sign, signed by
//! each party's own accounts in the system, complete when every required party agreed. The rules
//! are `huanxin_domain::acceptance`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::acceptance::{self as rules, Signatory};
use huanxin_domain::access::{Role, Scope};
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

/// An estate's acceptance: who must sign, who did, what is missing.
#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    pub id: i64,
    pub estate_id: i64,
    pub required: Vec<String>,
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
        let required = parse_required(&row.required);
        let agreed: Vec<Signatory> = signatures.iter().filter(|s| s.agree).filter_map(|s| Signatory::parse(&s.signatory)).collect();
        Ok(Some(Acceptance {
            id: row.id,
            estate_id,
            required: required.iter().map(|s| s.as_str().to_string()).collect(),
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
        let required = rules::required(signatories).map_err(StoreError::Invalid)?;
        if self.acceptance_of(estate_id).await?.is_some() {
            return Err(StoreError::Conflict("the acceptance of this estate is already open".into()));
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
        let acceptance =
            self.acceptance_of(estate_id).await?.ok_or_else(|| StoreError::Conflict("the acceptance of this estate is not open".into()))?;
        if !acceptance.required.iter().any(|r| r == signatory.as_str()) {
            return Err(StoreError::Invalid(ValidationErrors::one("signatory", signatory.as_str(), "is not required for this acceptance")));
        }
        if !signatory.may_be_signed_by(role) {
            return Err(StoreError::Invalid(ValidationErrors::one("signatory", signatory.as_str(), "cannot be signed for by your role")));
        }
        if note.chars().count() > 500 {
            return Err(StoreError::Invalid(ValidationErrors::one("note", note, "must be at most 500 characters")));
        }
        let user_id = actor.user_id.ok_or(StoreError::NotFound)?;
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

    /// The parties still to sign (the lifecycle's `missing_signatures`); all of them before the acceptance opens.
    pub(crate) async fn missing_signatures(&self, estate_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(match self.acceptance_of(estate_id).await? {
            Some(a) => a.missing,
            None => Signatory::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        })
    }
}
