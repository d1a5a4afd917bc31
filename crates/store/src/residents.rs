//! Residents' access: invitation codes per dwelling (only their hashes are kept), binding a code to a
//! resident account, and the dwellings a resident holds. The rules are `huanxin_domain::residents`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::group_commit::{GroupCommit, Steps};
use huanxin_domain::access::Scope;
use huanxin_domain::decisions::RegisteredOwner;
use huanxin_domain::reason;
use huanxin_domain::residents as rules;
use serde::Serialize;
use std::collections::HashMap;

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

/// A resident bound to a dwelling of an estate, as the desk that consults residents sees them:
/// whether they claim to be its owner, and whether and how that was verified.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BoundResident {
    pub user_id: i64,
    pub name: String,
    pub dwelling_id: i64,
    pub building_number: String,
    pub number: String,
    pub standing: String,
    /// What they typed at binding matches a registered owner: check the certificate.
    pub claims_owner: bool,
    /// `sms`, `certificate`, or empty while unverified.
    pub verified_how: String,
    pub verified_by: String,
    pub verified_at: String,
    pub certificate_no: String,
    pub bound_at: String,
}

const BOUND_COLS: &str = "rd.user_id, u.display_name AS name, rd.dwelling_id, b.number AS building_number, d.number, rd.standing, \
    rd.claims_owner, rd.verified_how, rd.verified_by, rd.verified_at, rd.certificate_no, rd.bound_at \
    FROM resident_dwellings rd JOIN users u ON u.id = rd.user_id JOIN dwellings d ON d.id = rd.dwelling_id \
    JOIN buildings b ON b.id = d.building_id";

/// Why a code did not bind.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{}", huanxin_domain::reason!("residents.code_invalid"))]
    Unknown,
    #[error("{}", huanxin_domain::reason!("residents.code_used"))]
    Used,
    #[error("{}", huanxin_domain::reason!("residents.code_expired", date = .0))]
    Expired(String),
    #[error("{}", huanxin_domain::reason!("residents.otp_void"))]
    OtpVoid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BindError {
    /// The refusal's stable code (a store failure has none of its own).
    pub fn reason(&self) -> huanxin_domain::Reason {
        match self {
            BindError::Unknown => huanxin_domain::reason!("residents.code_invalid"),
            BindError::Used => huanxin_domain::reason!("residents.code_used"),
            BindError::Expired(date) => huanxin_domain::reason!("residents.code_expired", date = date),
            BindError::OtpVoid => huanxin_domain::reason!("residents.otp_void"),
            BindError::Store(_) => huanxin_domain::reason!("server.internal"),
        }
    }
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
            (crate::clock::utc_now() + chrono::Duration::days(rules::CODE_VALID_DAYS)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
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

    /// Binds a dwelling with an invitation code: checks the code, then hands the writing (the
    /// code spent, the resident's account and session, the dwelling attached, the audit) to the
    /// bind writer, which groups bindings arriving together into one commit. Answers the dwelling
    /// bound and all the resident's dwellings.
    pub async fn bind_code(&self, b: &Binding<'_>) -> Result<(MyDwelling, Vec<MyDwelling>), BindError> {
        let row: Option<(i64, String, Option<String>, i64, String)> = self
            .fetch_optional(
                "SELECT c.dwelling_id, c.expires_at, c.used_at, e.id, e.community_code FROM invitation_codes c \
                 JOIN dwellings d ON d.id = c.dwelling_id JOIN estates e ON e.id = d.estate_id WHERE c.code_hash = $1",
                crate::args![b.code_hash],
            )
            .await?;
        let Some((dwelling_id, expires_at, used_at, estate_id, community)) = row else { return Err(BindError::Unknown) };
        if used_at.is_some() {
            return Err(BindError::Used);
        }
        if expires_at < crate::now() {
            return Err(BindError::Expired(expires_at.get(..10).unwrap_or(&expires_at).to_string()));
        }
        let owners: Vec<(String, String)> =
            self.fetch_all("SELECT name, phone FROM dwelling_owners WHERE dwelling_id = $1", crate::args![dwelling_id]).await?;
        let owners: Vec<RegisteredOwner> = owners.into_iter().map(|(name, phone)| RegisteredOwner { name, phone }).collect();
        let write = BindWrite {
            code_hash: b.code_hash.to_string(),
            user_id: b.user_id,
            new_username: b.new_username.to_string(),
            name: b.name.to_string(),
            phone: b.phone.to_string(),
            community,
            estate_id,
            dwelling_id,
            // What was typed is a claim for the clerk, never an owner's standing.
            claims_owner: rules::claims_owner(b.name, b.phone, &owners),
            session: b.session.map(|(h, e)| (h.to_string(), e.to_string())),
        };
        let writer =
            crate::group_commit::running(&self.bind_writer, || GroupCommit::start(self.without_writers(), write_binding, &BIND_STEPS))?;
        let uid = writer.submit(write).await??;
        let mine = self.my_dwellings(uid).await?;
        let bound = mine.iter().find(|d| d.dwelling_id == dwelling_id).cloned().ok_or(StoreError::NotFound)?;
        Ok((bound, mine))
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

    /// When the last one-time code went to this phone, if one is pending.
    pub async fn otp_sent_at(&self, phone: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = self.fetch_optional("SELECT sent_at FROM phone_codes WHERE phone = $1", crate::args![phone]).await?;
        Ok(row.map(|(s,)| s))
    }

    /// The dwellings whose registered owners have this mobile number.
    pub async fn dwellings_owned_by_phone(&self, phone: &str) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<(i64,)> = self
            .fetch_all("SELECT DISTINCT dwelling_id FROM dwelling_owners WHERE phone = $1 ORDER BY dwelling_id", crate::args![phone])
            .await?;
        Ok(ids.into_iter().map(|(i,)| i).collect())
    }

    /// Keeps a fresh one-time code (its hash) for a phone, replacing any earlier one.
    pub async fn store_otp(&self, phone: &str, code_hash: &str) -> Result<(), StoreError> {
        let now = crate::clock::utc_now();
        let expires = (now + chrono::Duration::minutes(rules::OTP_VALID_MINUTES)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM phone_codes WHERE phone = $1", crate::args![phone]).await?;
        tx.execute(
            "INSERT INTO phone_codes (phone, code_hash, sent_at, expires_at) VALUES ($1, $2, $3, $4)",
            crate::args![phone, code_hash, crate::now(), expires],
        )
        .await?;
        tx.commit().await
    }

    /// Spends a one-time code: right and in time, it is removed and every dwelling the phone owns is
    /// bound to the resident (`user_id`, or a new account `new_username`); wrong, a try is counted and
    /// after the last try the code is void.
    pub async fn bind_by_phone(
        &self,
        phone: &str,
        code_hash: &str,
        user_id: Option<i64>,
        new_username: &str,
        name: &str,
    ) -> Result<(i64, Vec<MyDwelling>), BindError> {
        let row: Option<(String, String, i64)> =
            self.fetch_optional("SELECT code_hash, expires_at, tries FROM phone_codes WHERE phone = $1", crate::args![phone]).await?;
        let Some((stored, expires_at, tries)) = row else { return Err(BindError::OtpVoid) };
        if expires_at < crate::now() || tries >= rules::OTP_MAX_TRIES {
            self.execute("DELETE FROM phone_codes WHERE phone = $1", crate::args![phone]).await?;
            return Err(BindError::OtpVoid);
        }
        if stored != code_hash {
            self.execute("UPDATE phone_codes SET tries = tries + 1 WHERE phone = $1", crate::args![phone]).await?;
            return Err(BindError::Unknown);
        }
        let owned: Vec<(i64, i64, String)> = self
            .fetch_all(
                "SELECT DISTINCT o.dwelling_id, e.id, e.community_code FROM dwelling_owners o JOIN dwellings d ON d.id = o.dwelling_id \
                 JOIN estates e ON e.id = d.estate_id WHERE o.phone = $1 ORDER BY o.dwelling_id",
                crate::args![phone],
            )
            .await?;
        let Some((_, _, community)) = owned.first().cloned() else { return Err(BindError::Unknown) };
        let write = PhoneBindWrite {
            phone: phone.to_string(),
            code_hash: code_hash.to_string(),
            user_id,
            new_username: new_username.to_string(),
            name: name.to_string(),
            community,
            owned: owned.into_iter().map(|(d, e, _)| (d, e)).collect(),
        };
        let writer = crate::group_commit::running(&self.phone_bind_writer, || {
            GroupCommit::start(self.without_writers(), write_phone_bindings, &PHONE_BIND_STEPS)
        })?;
        let uid = writer.submit(write).await??;
        Ok((uid, self.my_dwellings(uid).await?))
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

/// The writer of bindings by text-message code, grouped into shared commits as bindings by
/// invitation code are (a vote's closing night brings many at once).
pub(crate) type PhoneBindWriter = std::sync::Arc<GroupCommit<PhoneBindWrite, Result<i64, BindError>>>;

/// Where a binding by text message spends its writing time.
pub static PHONE_BIND_STEPS: Steps =
    Steps::new(&["group: write lock and BEGIN", "group: COMMIT (flush to disk)", "one binding by text message's statements"]);

/// A binding by text-message code, checked beforehand: the code is right and in time, and these
/// are the dwellings (and their estates) whose registered owners have the phone.
pub(crate) struct PhoneBindWrite {
    phone: String,
    code_hash: String,
    user_id: Option<i64>,
    new_username: String,
    name: String,
    community: String,
    owned: Vec<(i64, i64)>,
}

/// Writes each binding of the group in turn inside the writer's transaction: the code is spent
/// conditionally (sent twice at once, it binds once; the other hears "used" and writes nothing),
/// the account made when new, every owned dwelling attached as the owner's, verified by text
/// message, and the audit record.
fn write_phone_bindings<'a>(
    tx: &'a mut crate::db::Tx,
    group: &'a [PhoneBindWrite],
) -> crate::group_commit::Applied<'a, Vec<Result<i64, BindError>>> {
    Box::pin(async move {
        let mut answers = Vec::with_capacity(group.len());
        for w in group {
            let t = std::time::Instant::now();
            let taken = tx
                .execute(
                    "DELETE FROM phone_codes WHERE phone = $1 AND code_hash = $2",
                    crate::args![w.phone.as_str(), w.code_hash.as_str()],
                )
                .await?;
            if taken == 0 {
                answers.push(Err(BindError::Used));
                continue;
            }
            let uid = resident_account(tx, w.user_id, &w.new_username, &w.name, &w.phone, &w.community).await?;
            for (dwelling, estate) in &w.owned {
                attach_dwelling(tx, uid, *dwelling, *estate, "owner", false).await?;
                tx.execute(
                    "UPDATE resident_dwellings SET verified_how = $1, verified_by = $2, verified_at = $3 WHERE user_id = $4 AND dwelling_id = $5",
                    crate::args![rules::VERIFIED_BY_SMS, huanxin_domain::estates::mask_phone(&w.phone), crate::now(), uid, *dwelling],
                )
                .await?;
            }
            let actor = Actor { user_id: Some(uid), username: w.new_username.clone(), request_id: String::new() };
            tx.audit(
                &actor,
                Change {
                    action: "bind_by_phone",
                    entity: "user",
                    entity_id: uid.to_string(),
                    region_code: w.community.clone(),
                    before: None,
                    after: Some(serde_json::json!({"dwellings": w.owned.iter().map(|o| o.0).collect::<Vec<_>>()})),
                },
            )
            .await?;
            PHONE_BIND_STEPS.add(2, t);
            answers.push(Ok(uid));
        }
        Ok(answers)
    })
}

/// The resident's account: `user_id` when signed in, else a new resident account (no password; the
/// phone keeps a session).
async fn resident_account(
    tx: &mut crate::db::Tx,
    user_id: Option<i64>,
    new_username: &str,
    name: &str,
    phone: &str,
    community: &str,
) -> Result<i64, StoreError> {
    if let Some(u) = user_id {
        return Ok(u);
    }
    let (id,): (i64,) = tx
        .fetch_one(
            "INSERT INTO users (username, display_name, password_hash, role, region_code, phone, created_at) \
             VALUES ($1, $2, '!', 'resident', $3, $4, $5) RETURNING id",
            crate::args![new_username, name.trim(), community, phone.trim(), crate::now()],
        )
        .await?;
    Ok(id)
}

impl Db {
    /// Residents bound to the dwellings of an estate in scope, claims to check first.
    pub async fn bound_residents(&self, scope: &Scope, estate_id: i64) -> Result<Vec<BoundResident>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(
            &format!(
                "SELECT {BOUND_COLS} WHERE d.estate_id = $1 ORDER BY rd.claims_owner DESC, rd.standing DESC, b.number, d.number LIMIT 5000"
            ),
            crate::args![estate_id],
        )
        .await
    }

    /// A clerk's check of the property certificate makes a bound resident the dwelling's owner
    /// (recorded: who, when, which certificate; audited).
    pub async fn verify_owner(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_id: i64,
        dwelling_id: i64,
        user_id: i64,
        certificate_no: &str,
    ) -> Result<BoundResident, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let select = format!("SELECT {BOUND_COLS} WHERE d.estate_id = $1 AND rd.dwelling_id = $2 AND rd.user_id = $3");
        let before: BoundResident =
            self.fetch_optional(&select, crate::args![estate_id, dwelling_id, user_id]).await?.ok_or(StoreError::NotFound)?;
        if before.standing == "owner" {
            return Err(StoreError::Conflict(reason!("residents.already_owner", verified_how = before.verified_how)));
        }
        let mut tx = self.begin().await?;
        tx.execute(
            "UPDATE resident_dwellings SET standing = 'owner', verified_how = $1, verified_by = $2, verified_at = $3, certificate_no = $4 \
             WHERE user_id = $5 AND dwelling_id = $6",
            crate::args![rules::VERIFIED_BY_CERTIFICATE, actor.username.as_str(), crate::now(), certificate_no, user_id, dwelling_id],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "verify_owner",
                entity: "dwelling",
                entity_id: dwelling_id.to_string(),
                region_code: estate.community_code,
                before: Some(serde_json::json!({"user_id": user_id, "standing": before.standing})),
                after: Some(serde_json::json!({"user_id": user_id, "standing": "owner", "certificate_no": certificate_no})),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_optional(&select, crate::args![estate_id, dwelling_id, user_id]).await?.ok_or(StoreError::NotFound)
    }
}

/// Binds a dwelling to a resident with a standing (and whether they claim to own it), and lets
/// them see its estate.
async fn attach_dwelling(
    tx: &mut crate::db::Tx,
    uid: i64,
    dwelling_id: i64,
    estate_id: i64,
    standing: &str,
    claims_owner: bool,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM resident_dwellings WHERE user_id = $1 AND dwelling_id = $2", crate::args![uid, dwelling_id]).await?;
    tx.execute(
        "INSERT INTO resident_dwellings (user_id, dwelling_id, standing, bound_at, claims_owner) VALUES ($1, $2, $3, $4, $5)",
        crate::args![uid, dwelling_id, standing, crate::now(), claims_owner],
    )
    .await?;
    tx.execute("INSERT INTO user_estates (user_id, estate_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", crate::args![uid, estate_id])
        .await?;
    Ok(())
}

/// A binding asked for with an invitation code.
pub struct Binding<'a> {
    pub code_hash: &'a str,
    /// The resident already signed in, or none for a new account named `new_username`.
    pub user_id: Option<i64>,
    pub new_username: &'a str,
    /// What the resident typed (a claim, checked by the clerk).
    pub name: &'a str,
    pub phone: &'a str,
    /// A new account's session (token hash, expiry), stored in the binding's own transaction.
    pub session: Option<(&'a str, &'a str)>,
}

/// The bind writer: bindings by invitation code, grouped into shared commits.
pub(crate) type BindWriter = std::sync::Arc<GroupCommit<BindWrite, Result<i64, BindError>>>;

/// Where a binding's writing time goes (the group's BEGIN and COMMIT, then the binding itself).
pub static BIND_STEPS: Steps = Steps::new(&["group: write lock and BEGIN", "group: COMMIT (flush to disk)", "one binding's statements"]);

/// What the bind writer writes for one binding, read and checked beforehand.
pub(crate) struct BindWrite {
    code_hash: String,
    user_id: Option<i64>,
    new_username: String,
    name: String,
    phone: String,
    community: String,
    estate_id: i64,
    dwelling_id: i64,
    claims_owner: bool,
    session: Option<(String, String)>,
}

/// Writes the bindings of one group inside the writer's transaction, each step for the whole group
/// in one statement: the codes are spent conditionally (a code binds once even when two phones
/// send it at once: the first in the group takes it, the other hears "used" and writes nothing),
/// then the new accounts, who spent each code, the dwellings attached, the sessions and the audit.
fn write_binding<'a>(tx: &'a mut crate::db::Tx, group: &'a [BindWrite]) -> crate::group_commit::Applied<'a, Vec<Result<i64, BindError>>> {
    Box::pin(async move {
        let t = std::time::Instant::now();
        let now = crate::now();
        let mut hashes: Vec<&str> = group.iter().map(|w| w.code_hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let mut args = crate::args![now.as_str()];
        args.extend(hashes.iter().map(|&h| crate::Arg::from(h)));
        let taken: Vec<(String,)> = tx
            .fetch_all(
                &format!(
                    "UPDATE invitation_codes SET used_at = $1 WHERE used_at IS NULL AND code_hash IN ({}) RETURNING code_hash",
                    placeholders_from(2, hashes.len())
                ),
                args,
            )
            .await?;
        let mut free: std::collections::HashSet<String> = taken.into_iter().map(|(h,)| h).collect();
        let won: Vec<bool> = group.iter().map(|w| free.remove(&w.code_hash)).collect();
        let bound: Vec<&BindWrite> = group.iter().zip(&won).filter(|(_, won)| **won).map(|(w, _)| w).collect();

        // New accounts (no password; the phone keeps a session).
        let new: Vec<&&BindWrite> = bound.iter().filter(|w| w.user_id.is_none()).collect();
        let mut made: HashMap<String, i64> = HashMap::new();
        if !new.is_empty() {
            let args = new
                .iter()
                .flat_map(|w| crate::args![w.new_username.as_str(), w.name.trim(), w.community.as_str(), w.phone.trim(), now.as_str()])
                .collect();
            let rows: Vec<(i64, String)> = tx
                .fetch_all(
                    &format!(
                        "INSERT INTO users (username, display_name, region_code, phone, created_at, password_hash, role) VALUES {} \
                         RETURNING id, username",
                        (0..new.len())
                            .map(|k| format!("(${},${},${},${},${},'!','resident')", 5 * k + 1, 5 * k + 2, 5 * k + 3, 5 * k + 4, 5 * k + 5))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    args,
                )
                .await?;
            made = rows.into_iter().map(|(id, name)| (name, id)).collect();
        }
        let mut uids = Vec::with_capacity(bound.len());
        for w in &bound {
            let uid = match w.user_id {
                Some(u) => u,
                None => *made.get(&w.new_username).ok_or_else(|| StoreError::Config(format!("account {} was not made", w.new_username)))?,
            };
            uids.push(uid);
        }
        if !bound.is_empty() {
            write_bound(tx, &bound, &uids, &now).await?;
        }
        BIND_STEPS.add(2, t);
        // `uids` follows `bound`, which is `group` where the code was won.
        let mut next_uid = uids.into_iter();
        let answers = won.iter().map(|&won| if won { next_uid.next().ok_or(BindError::Used) } else { Err(BindError::Used) }).collect();
        Ok(answers)
    })
}

/// The rest of a group's bindings, once its codes are spent and its accounts made: who spent each
/// code, the dwellings attached (replacing a signed-in resident's earlier binding of the same
/// dwelling), the estates they may see, the new sessions and the audit records.
async fn write_bound(tx: &mut crate::db::Tx, bound: &[&BindWrite], uids: &[i64], now: &str) -> Result<(), StoreError> {
    let spent = bound.iter().zip(uids).flat_map(|(w, uid)| crate::args![w.code_hash.as_str(), *uid]).collect();
    tx.execute(
        &format!(
            "WITH spent(code_hash, used_by) AS (VALUES {}) \
             UPDATE invitation_codes SET used_by = spent.used_by FROM spent WHERE invitation_codes.code_hash = spent.code_hash",
            crate::db::values_placeholders(bound.len(), 2)
        ),
        spent,
    )
    .await?;
    for (w, uid) in bound.iter().zip(uids) {
        if w.user_id.is_some() {
            tx.execute("DELETE FROM resident_dwellings WHERE user_id = $1 AND dwelling_id = $2", crate::args![*uid, w.dwelling_id]).await?;
        }
    }
    let standing = "resident";
    let attached = bound.iter().zip(uids).map(|(w, uid)| crate::args![*uid, w.dwelling_id, standing, now, w.claims_owner]).collect();
    tx.insert_many("resident_dwellings", &["user_id", "dwelling_id", "standing", "bound_at", "claims_owner"], attached).await?;
    let mut estates: Vec<(i64, i64)> = bound.iter().zip(uids).map(|(w, uid)| (*uid, w.estate_id)).collect();
    estates.sort_unstable();
    estates.dedup();
    let args = estates.iter().flat_map(|(u, e)| crate::args![*u, *e]).collect();
    tx.execute(
        &format!(
            "INSERT INTO user_estates (user_id, estate_id) VALUES {} ON CONFLICT DO NOTHING",
            crate::db::values_placeholders(estates.len(), 2)
        ),
        args,
    )
    .await?;
    let sessions = bound
        .iter()
        .zip(uids)
        .filter_map(|(w, uid)| w.session.as_ref().map(|(hash, expires)| crate::args![hash.as_str(), *uid, "web", now, expires.as_str()]))
        .collect();
    tx.insert_many("sessions", &["token_hash", "user_id", "kind", "created_at", "expires_at"], sessions).await?;
    let records = bound
        .iter()
        .zip(uids)
        .map(|(w, uid)| {
            let actor = Actor { user_id: Some(*uid), username: w.new_username.clone(), request_id: String::new() };
            let change = Change {
                action: "bind",
                entity: "dwelling",
                entity_id: w.dwelling_id.to_string(),
                region_code: w.community.clone(),
                before: None,
                after: Some(serde_json::json!({"user_id": uid, "standing": standing, "claims_owner": w.claims_owner})),
            };
            (actor, change)
        })
        .collect();
    tx.audit_many(records).await
}

/// `$from,$from+1,…`: `n` numbered placeholders.
fn placeholders_from(from: usize, n: usize) -> String {
    (from..from + n).map(|k| format!("${k}")).collect::<Vec<_>>().join(",")
}
