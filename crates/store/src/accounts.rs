//! Users, their sessions and tokens, and what company and resident accounts are attached to.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::{Role, Scope};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use serde::Serialize;

/// An account as others see it on the records it signed.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub username: String,
    pub display_name: String,
    pub role: String,
}

/// A user as stored (the password hash never leaves the store except for verification).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub region_code: String,
    pub phone: String,
    pub active: bool,
    pub created_at: String,
    /// Who last set the password: the user's own name once they chose it, else the administrator's.
    pub password_set_by: String,
}

impl User {
    /// The parsed role; unknown roles (from a newer version) are treated as residents, the least.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Resident)
    }

    /// The parsed region; a damaged code falls back to an empty scope's community.
    pub fn region(&self) -> RegionCode {
        RegionCode::parse(&self.region_code).unwrap_or_else(|_| RegionCode::parse("999999999999").unwrap_or_else(|_| RegionCode::country()))
    }
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub region: RegionCode,
    pub phone: String,
}

const USER_COLS: &str = "id, username, display_name, password_hash, role, region_code, phone, active, created_at, password_set_by";

fn user_json(u: &User) -> serde_json::Value {
    serde_json::json!({"username": u.username, "display_name": u.display_name, "role": u.role,
        "region_code": u.region_code, "active": u.active})
}

impl Db {
    /// Seconds a key must still wait after failed tries (0: it may try now).
    pub async fn throttle_wait(&self, key: &str) -> Result<u64, StoreError> {
        let row: Option<(String,)> = self.fetch_optional("SELECT blocked_until FROM throttle WHERE key = $1", crate::args![key]).await?;
        let Some((until,)) = row else { return Ok(0) };
        let until = chrono::DateTime::parse_from_rfc3339(&until).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default();
        let ms = (until - crate::clock::utc_now()).num_milliseconds();
        Ok(if ms <= 0 { 0 } else { (ms as u64).div_ceil(1000) })
    }

    /// Counts a failed try of a key and sets how long it waits (`free` tries cost nothing; a day
    /// without failures starts the count again).
    pub async fn throttle_fail(&self, key: &str, free: u32) -> Result<(), StoreError> {
        let now = crate::clock::utc_now();
        let stale = (now - chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut tx = self.begin().await?;
        tx.execute(
            "INSERT INTO throttle (key, failures, last_at, blocked_until) VALUES ($1, 1, $2, $2) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN throttle.last_at < $3 THEN 1 ELSE throttle.failures + 1 END, last_at = $2",
            crate::args![key, at.as_str(), stale.as_str()],
        )
        .await?;
        let failures = tx.scalar("SELECT failures FROM throttle WHERE key = $1", crate::args![key]).await?;
        let wait = huanxin_domain::access::backoff_seconds(u32::try_from(failures).unwrap_or(u32::MAX), free);
        let until = (now + chrono::Duration::seconds(wait as i64)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        tx.execute("UPDATE throttle SET blocked_until = $1 WHERE key = $2", crate::args![until.as_str(), key]).await?;
        tx.commit().await
    }

    /// Forgets a key's failed tries (the right password was given).
    pub async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM throttle WHERE key = $1", crate::args![key]).await?;
        Ok(())
    }

    /// Creates a user; the username must be new.
    pub async fn create_user(&self, actor: &Actor, u: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.begin().await?;
        let id = tx
            .scalar(
                "INSERT INTO users (username, display_name, password_hash, role, region_code, phone, active, created_at, password_set_by, password_setters) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                crate::args![
                    u.username.as_str(),
                    u.display_name.as_str(),
                    u.password_hash.as_str(),
                    u.role.as_str(),
                    u.region.as_str(),
                    u.phone.as_str(),
                    true,
                    crate::now(),
                    actor.username.as_str()
                ],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(huanxin_domain::reason!("accounts.username_taken", username = u.username)),
                StoreError::MissingReference(_) => {
                    StoreError::Invalid(huanxin_domain::ValidationErrors::one("region_code", u.region.as_str(), reason!("accounts.not_known_region")))
                }
                e => e,
            })?;
        let user: User = tx.fetch_one(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), crate::args![id]).await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "user",
                entity_id: id.to_string(),
                region_code: u.region.as_str().to_string(),
                before: None,
                after: Some(user_json(&user)),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A user by name.
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.fetch_optional(&format!("SELECT {USER_COLS} FROM users WHERE username = $1"), crate::args![username]).await
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: i64) -> Result<User, StoreError> {
        self.fetch_one(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), crate::args![id]).await
    }

    /// Users whose region lies in the scope's subtree, by name.
    pub async fn list_users(&self, scope: &Scope) -> Result<Vec<User>, StoreError> {
        match scope {
            Scope::Region(rc) => {
                let (lo, hi) = rc.subtree_range();
                self.fetch_all(
                    &format!("SELECT {USER_COLS} FROM users WHERE region_code >= $1 AND region_code < $2 ORDER BY username"),
                    crate::args![lo, hi],
                )
                .await
            }
            Scope::Attached { user_id } => {
                self.fetch_all(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), crate::args![*user_id]).await
            }
        }
    }

    /// The names accounts show, for usernames the records carry (who wrote a log, signed, answered).
    /// Only accounts of the caller's line of regions (above or below it) are named; residents show
    /// as 居民 unless the caller's desk consults residents (and sees their names anyway).
    pub async fn display_names(
        &self,
        caller_region: &RegionCode,
        usernames: &[String],
        residents_by_name: bool,
    ) -> Result<Vec<Person>, StoreError> {
        let mut out = Vec::new();
        for chunk in usernames.chunks(100) {
            let marks = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let rows: Vec<(String, String, String, String)> = self
                .fetch_all(
                    &format!("SELECT username, display_name, role, region_code FROM users WHERE username IN ({marks})"),
                    chunk.iter().map(|u| crate::Arg::from(u.as_str())).collect(),
                )
                .await?;
            for (username, display_name, role, region) in rows {
                let Ok(region) = RegionCode::parse(&region) else { continue };
                if !(caller_region.contains(&region) || region.contains(caller_region)) {
                    continue;
                }
                let display_name = if role == Role::Resident.as_str() && !residents_by_name { "居民".to_string() } else { display_name };
                out.push(Person { username, display_name, role });
            }
        }
        Ok(out)
    }

    /// Replaces a user's password hash and ends their sessions.
    pub async fn set_password(&self, actor: &Actor, user_id: i64, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let user: User = tx.fetch_one(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"), crate::args![user_id]).await?;
        tx.execute(
            "UPDATE users SET password_hash = $1, password_set_by = $2 WHERE id = $3",
            crate::args![hash, actor.username.as_str(), user_id],
        )
        .await?;
        // A colleague who sets it joins the account's setters for good; the user's own change adds nobody.
        if actor.username != user.username {
            let (setters,): (String,) = tx.fetch_one("SELECT password_setters FROM users WHERE id = $1", crate::args![user_id]).await?;
            if !setters.split(',').any(|s| s.eq_ignore_ascii_case(&actor.username)) {
                let joined = if setters.is_empty() { actor.username.clone() } else { format!("{setters},{}", actor.username) };
                tx.execute("UPDATE users SET password_setters = $1 WHERE id = $2", crate::args![joined, user_id]).await?;
            }
        }
        tx.execute("DELETE FROM sessions WHERE user_id = $1", crate::args![user_id]).await?;
        tx.audit(
            actor,
            Change {
                action: "set_password",
                entity: "user",
                entity_id: user_id.to_string(),
                region_code: user.region_code.clone(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// Why two accounts are not two pairs of eyes on money, if they are not: one ever set the
    /// other's password (`domain::funds::independent_hands`), or either still signs in with a
    /// password another person set (that person knows it: an administrator who creates two
    /// accounts would otherwise ask with one and approve with the other).
    pub async fn hands_refusal(&self, first: &str, second: &str) -> Result<Option<huanxin_domain::funds::Refusal>, StoreError> {
        use huanxin_domain::funds::Refusal;
        // Both accounts in one statement (this runs on every approval).
        let rows: Vec<(String, String, String)> = self
            .fetch_all(
                "SELECT username, password_setters, password_set_by FROM users WHERE username IN ($1, $2)",
                crate::args![first, second],
            )
            .await?;
        let of = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| (r.1.clone(), r.2.clone())).unwrap_or_default();
        let ((a, a_by), (b, b_by)) = (of(first), of(second));
        let (a_all, b_all) = (self.knowers(&a).await?, self.knowers(&b).await?);
        let (a_list, b_list): (Vec<&str>, Vec<&str>) =
            (a_all.iter().map(String::as_str).collect(), b_all.iter().map(String::as_str).collect());
        if !huanxin_domain::funds::independent_hands(first, &a_list, second, &b_list) {
            return Ok(Some(Refusal::PasswordKeptBy { who: second.to_string(), other: first.to_string() }));
        }
        for (name, set_by) in [(first, a_by), (second, b_by)] {
            // Set by the installation itself (`system:…`) or by the user: their own.
            if !set_by.is_empty() && set_by != name && self.user_by_name(&set_by).await?.is_some() {
                return Ok(Some(Refusal::PasswordNotOwn { who: name.to_string() }));
            }
        }
        Ok(None)
    }

    /// Everyone who could know an account's password, from those who set it (`setters`, as kept):
    /// they, whoever set theirs, and so on up the chain (the attacker's trial: an administrator
    /// created an account, used it to create another, and approved with that one). At most
    /// [`KNOWER_ROUNDS`] steps up; the installation's own `system:` jobs end a chain.
    async fn knowers(&self, setters: &str) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut all: std::collections::BTreeSet<String> =
            setters.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let mut next: Vec<String> = all.iter().filter(|s| !s.starts_with("system:")).cloned().collect();
        for _ in 0..KNOWER_ROUNDS {
            if next.is_empty() {
                break;
            }
            let placeholders: Vec<String> = (1..=next.len()).map(|i| format!("${i}")).collect();
            let rows: Vec<(String,)> = self
                .fetch_all(
                    &format!("SELECT password_setters FROM users WHERE username IN ({})", placeholders.join(", ")),
                    next.iter().map(|n| crate::Arg::from(n.as_str())).collect(),
                )
                .await?;
            next = rows
                .iter()
                .flat_map(|(s,)| s.split(',').map(str::trim).filter(|s| !s.is_empty() && !s.starts_with("system:")))
                .filter(|s| all.insert(s.to_string()))
                .map(String::from)
                .collect();
        }
        Ok(all)
    }

    /// Records a session (web cookie or API token) by the hash of its secret.
    pub async fn create_session(&self, token_hash: &str, user_id: i64, kind: &str, expires_at: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            crate::args![token_hash, user_id, kind, crate::now(), expires_at],
        )
        .await?;
        Ok(())
    }

    /// The active user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        self.fetch_optional(
            "SELECT u.id, u.username, u.display_name, u.password_hash, u.role, u.region_code, u.phone, u.active, u.created_at, u.password_set_by \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active",
            crate::args![token_hash, crate::now()],
        )
        .await
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM sessions WHERE token_hash = $1", crate::args![token_hash]).await?;
        Ok(())
    }

    /// Attaches a company or resident account to an estate, so that it may see it.
    pub async fn attach_user_to_estate(&self, actor: &Actor, user_id: i64, estate_id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let region: String =
            tx.fetch_one::<(String,)>("SELECT community_code FROM estates WHERE id = $1", crate::args![estate_id]).await?.0;
        tx.execute(
            "INSERT INTO user_estates (user_id, estate_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            crate::args![user_id, estate_id],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "attach",
                entity: "user",
                entity_id: user_id.to_string(),
                region_code: region,
                before: None,
                after: Some(serde_json::json!({ "estate_id": estate_id })),
            },
        )
        .await?;
        tx.commit().await
    }
}

/// How many steps up a chain of password setters [`Db::knowers`] follows.
const KNOWER_ROUNDS: usize = 8;
