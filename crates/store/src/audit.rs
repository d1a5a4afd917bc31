//! The audit log: who changed what, when, with the record before and after. Written in the same
//! transaction as the change, so a change without its audit record cannot exist.

use crate::db::{Arg, Db, Tx};
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use serde::{Deserialize, Serialize};

/// Who is acting, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: String,
    pub request_id: String,
}

impl Actor {
    /// The command line acting on its own (imports, demo data, user administration).
    pub fn system(what: &str) -> Actor {
        Actor { user_id: None, username: format!("system:{what}"), request_id: String::new() }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub user_id: Option<i64>,
    pub username: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub region_code: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: String,
}

/// Filters for browsing the log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub username: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 lower bound (inclusive).
    pub from: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    pub to: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// What one change did, to be recorded.
pub struct Change<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: String,
    pub region_code: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Tx {
    /// Writes one audit record inside this transaction.
    pub async fn audit(&mut self, actor: &Actor, c: Change<'_>) -> Result<(), StoreError> {
        self.audit_many(vec![(actor.clone(), c)]).await
    }

    /// Writes several audit records inside this transaction, in one statement.
    pub async fn audit_many(&mut self, records: Vec<(Actor, Change<'_>)>) -> Result<(), StoreError> {
        let at = crate::now();
        let rows = records
            .into_iter()
            .map(|(actor, c)| {
                crate::args![
                    at.as_str(),
                    actor.user_id,
                    actor.username,
                    c.action,
                    c.entity,
                    c.entity_id,
                    c.region_code,
                    c.before.map(|v| v.to_string()),
                    c.after.map(|v| v.to_string()),
                    actor.request_id
                ]
            })
            .collect();
        self.insert_many(
            "audit_log",
            &["at", "user_id", "username", "action", "entity", "entity_id", "region_code", "before_json", "after_json", "request_id"],
            rows,
        )
        .await?;
        Ok(())
    }
}

impl Db {
    /// Records that someone read personal data unmasked (PIPL: every such read is audited).
    pub async fn audit_read(
        &self,
        actor: &Actor,
        entity: &str,
        entity_id: String,
        region_code: String,
        what: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.audit(actor, Change { action: "read_personal_data", entity, entity_id, region_code, before: None, after: Some(what) }).await?;
        tx.commit().await
    }

    /// Records a refused attempt (a forged or reused code, an answer to an unknown question...):
    /// nothing changed, but the attempt is kept.
    pub async fn audit_refusal(
        &self,
        actor: &Actor,
        action: &str,
        entity: &str,
        entity_id: String,
        region_code: String,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.audit(
            actor,
            Change { action, entity, entity_id, region_code, before: None, after: Some(serde_json::json!({"refused": reason})) },
        )
        .await?;
        tx.commit().await
    }

    /// Audit records in a scope, newest first (by time, then by order of writing), with the total count for paging.
    pub async fn audit_list(&self, scope: &Scope, f: &AuditFilter) -> Result<(Vec<AuditRecord>, i64), StoreError> {
        let mut wh = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let p = |args: &mut Vec<Arg>, v: Arg| {
            args.push(v);
            format!("${}", args.len())
        };
        match scope {
            Scope::Region(rc) => {
                let (lo, hi) = rc.subtree_range();
                let a = p(&mut args, lo.into());
                let b = p(&mut args, hi.into());
                wh.push(format!("region_code >= {a} AND region_code < {b}"));
            }
            Scope::Attached { user_id } => {
                let a = p(&mut args, (*user_id).into());
                wh.push(format!("user_id = {a}"));
            }
        }
        for (col, v) in [("entity", &f.entity), ("entity_id", &f.entity_id), ("action", &f.action)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                let a = p(&mut args, v.into());
                wh.push(format!("{col} = {a}"));
            }
        }
        // Staff are known by name at the desk: the filter takes an account or a staff member's name
        // (never a resident's, which would confirm who a named person is).
        if let Some(v) = f.username.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            let a = p(&mut args, v.into());
            wh.push(format!("(username = {a} OR user_id IN (SELECT id FROM users WHERE display_name = {a} AND role <> 'resident'))"));
        }
        if let Some(from) = f.from.as_ref().filter(|v| !v.is_empty()) {
            let a = p(&mut args, from.into());
            wh.push(format!("at >= {a}"));
        }
        if let Some(to) = f.to.as_ref().filter(|v| !v.is_empty()) {
            let a = p(&mut args, to.into());
            wh.push(format!("at < {a}"));
        }
        let where_sql = wh.join(" AND ");
        let total = self.scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE {where_sql}"), args.clone()).await?;
        let per_page = f.per_page.unwrap_or(50).clamp(1, 500);
        let page = f.page.unwrap_or(1).max(1);
        let lim = p(&mut args, per_page.into());
        let off = p(&mut args, ((page - 1).saturating_mul(per_page)).into());
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT id, at, user_id, username, action, entity, entity_id, region_code, before_json, after_json, request_id \
                     FROM audit_log WHERE {where_sql} ORDER BY at DESC, id DESC LIMIT {lim} OFFSET {off}"
                ),
                args,
            )
            .await?;
        Ok((rows, total))
    }
}
