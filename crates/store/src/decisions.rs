//! Owners' decisions (表决): regional rule sets, decisions with their electorate fixed when set up,
//! ballots appended to a hash chain (one per dwelling, under the decision's row lock), the tally,
//! closing with the result, and verifying the chain. The rules are `huanxin_domain::decisions`.

use crate::audit::{Actor, Change};
use crate::db::{Db, Engine};
use crate::error::StoreError;
use crate::group_commit::{GroupCommit, Steps};
use huanxin_domain::access::Scope;
use huanxin_domain::chain;
use huanxin_domain::decisions::{
    self as rules, BallotRefusal, Channel, Choice, Count, Counts, Elector, Matter, RegisteredOwner, RuleSet, Tally, ValidDecision,
    VoteScope,
};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// A decision as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Decision {
    pub id: i64,
    pub estate_id: i64,
    pub title: String,
    pub matter: String,
    pub scope_kind: String,
    pub building_id: Option<i64>,
    pub stairwell: Option<i64>,
    pub opens_at: String,
    pub closes_at: String,
    pub on_scheme: bool,
    pub rules_json: String,
    pub ballot_count: i64,
    pub head_hash: String,
    pub closed_at: Option<String>,
    pub passed: Option<bool>,
    pub created_by: String,
    pub created_at: String,
    /// Fen the owners are asked to allow from the maintenance fund (a decision to use it).
    pub amount: Option<i64>,
}

const DECISION_COLS: &str = "id, estate_id, title, matter, scope_kind, building_id, stairwell, opens_at, closes_at, on_scheme, \
    rules_json, ballot_count, head_hash, closed_at, passed, created_by, created_at, amount";

/// One ballot as the staff's list shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BallotRow {
    pub seq: i64,
    pub dwelling_id: i64,
    pub building_number: String,
    pub dwelling_number: String,
    pub choice: String,
    pub channel: String,
    pub voter: String,
    pub proxy_document_id: Option<i64>,
    pub cast_by: String,
    pub at: String,
    pub hash: String,
}

/// A ballot as recorded: its place in the chain and its hash (the voter's receipt).
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub decision_id: i64,
    pub dwelling_id: i64,
    pub seq: i64,
    pub choice: Choice,
    pub at: String,
    pub hash: String,
}

/// A ballot to cast.
#[derive(Debug, Clone)]
pub struct BallotInput {
    pub dwelling_id: i64,
    pub choice: Choice,
    pub channel: Channel,
    /// The name signed (paper) or the resident's name (online).
    pub voter: String,
    /// Whether the caller is a registered owner of the dwelling (staff entering paper: true).
    pub is_owner: bool,
    pub by_proxy: bool,
    pub proxy_document_id: Option<i64>,
}

/// Why a ballot was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum BallotError {
    #[error(transparent)]
    Refused(#[from] BallotRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of walking a decision's ballot chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub decision_id: i64,
    pub ballots: i64,
    pub intact: bool,
    /// Where it first breaks, and why.
    pub broken_at: Option<chain::Break>,
    pub head_hash: String,
}

/// The canonical text a ballot's hash covers.
fn ballot_text(decision_id: i64, seq: i64, b: &StoredBallot) -> String {
    format!(
        "{decision_id}|{seq}|{}|{}|{}|{}|{}|{}|{}|{}",
        b.dwelling_id,
        b.choice,
        b.channel,
        b.voter,
        b.proxy_document_id.map(|d| d.to_string()).unwrap_or_default(),
        b.owner_key,
        b.cast_by,
        b.at
    )
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct StoredBallot {
    seq: i64,
    dwelling_id: i64,
    choice: String,
    channel: String,
    voter: String,
    proxy_document_id: Option<i64>,
    owner_key: String,
    cast_by: String,
    at: String,
    prev_hash: String,
    hash: String,
}

#[derive(sqlx::FromRow)]
struct ElectorRow {
    dwelling_id: i64,
    area: i64,
    owner_key: String,
}

const COUNT_COLS: &str =
    "electorate_area, electorate_owners, agree_area, agree_owners, disagree_area, disagree_owners, abstain_area, abstain_owners, ballot_count";

#[derive(sqlx::FromRow)]
struct CountsRow {
    electorate_area: i64,
    electorate_owners: i64,
    agree_area: i64,
    agree_owners: i64,
    disagree_area: i64,
    disagree_owners: i64,
    abstain_area: i64,
    abstain_owners: i64,
    ballot_count: i64,
}

/// The chain's head and the running counts, as the decision records them.
#[derive(sqlx::FromRow)]
struct HeadAndCounts {
    head_hash: String,
    #[sqlx(flatten)]
    counts: CountsRow,
}

impl CountsRow {
    fn counts(&self) -> Counts {
        Counts {
            electorate: Count { area: self.electorate_area, owners: self.electorate_owners },
            agree: Count { area: self.agree_area, owners: self.agree_owners },
            disagree: Count { area: self.disagree_area, owners: self.disagree_owners },
            abstain: Count { area: self.abstain_area, owners: self.abstain_owners },
            ballots: self.ballot_count,
        }
    }
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Config(format!("a stored time {s} cannot be read: {e}")))
}

/// The ballot writer: ballots of every decision, grouped into shared commits.
pub(crate) type BallotWriter = Arc<GroupCommit<BallotWrite, Result<Receipt, BallotRefusal>>>;

/// Where a ballot's time goes in the writer, for the profile (`huanxin-bench profile-ballot`).
pub static BALLOT_STEPS: Steps = Steps::new(&[
    "group: write lock and BEGIN",
    "group: COMMIT (flush to disk)",
    "decision row under its lock (once per group)",
    "checks: electors, earlier ballots of the group's dwellings (one statement)",
    "domain checks and hashes",
    "insert the group's ballots (one statement)",
    "update head and running counts (one statement)",
]);

/// A ballot handed to the writer, with what was read of its decision beforehand.
pub(crate) struct BallotWrite {
    decision_id: i64,
    opens_at: chrono::DateTime<chrono::Utc>,
    closes_at: chrono::DateTime<chrono::Utc>,
    cast_by: String,
    input: BallotInput,
}

/// What the ballot's checks read of one dwelling: its owner's key and area as an elector, a ballot
/// already cast for it, and the choice of its owner's first ballot.
#[derive(sqlx::FromRow)]
struct BallotFacts {
    dwelling_id: i64,
    owner_key: String,
    area: i64,
    already: Option<String>,
    head_choice: Option<String>,
}

/// Appends the ballots of one group inside the writer's transaction, in the order they arrived.
/// For each decision of the group: its row is read under its lock (PostgreSQL: `FOR UPDATE`;
/// SQLite: the write lock), the facts of all its ballots' dwellings in one statement, the domain
/// checks each ballot against those facts and the group's earlier ballots, and the accepted ones
/// are inserted in one statement, the chain's new head and the running counts in one more. So a
/// group costs four statements per decision whatever its size. A refusal writes nothing.
fn append_ballots<'a>(
    tx: &'a mut crate::db::Tx,
    group: &'a [BallotWrite],
) -> crate::group_commit::Applied<'a, Vec<Result<Receipt, BallotRefusal>>> {
    Box::pin(async move {
        let mut answers: Vec<Option<Result<Receipt, BallotRefusal>>> = group.iter().map(|_| None).collect();
        let mut decisions: Vec<(i64, Vec<usize>)> = Vec::new();
        for (i, w) in group.iter().enumerate() {
            match decisions.iter_mut().find(|(d, _)| *d == w.decision_id) {
                Some((_, members)) => members.push(i),
                None => decisions.push((w.decision_id, vec![i])),
            }
        }
        for (decision_id, members) in decisions {
            for (i, receipt) in append_to_decision(tx, decision_id, group, &members).await? {
                if let Some(slot) = answers.get_mut(i) {
                    *slot = Some(receipt);
                }
            }
        }
        answers.into_iter().map(|a| a.ok_or_else(|| StoreError::Config("a ballot of the group was not answered".into()))).collect()
    })
}

/// The ballots `members` (indexes into `group`) of one decision; see [`append_ballots`].
async fn append_to_decision(
    tx: &mut crate::db::Tx,
    decision_id: i64,
    group: &[BallotWrite],
    members: &[usize],
) -> Result<Vec<(usize, Result<Receipt, BallotRefusal>)>, StoreError> {
    let t = std::time::Instant::now();
    let lock = match tx.engine() {
        Engine::Postgres => "SELECT ballot_count, head_hash, closed_at FROM decisions WHERE id = $1 FOR UPDATE",
        Engine::Sqlite => "SELECT ballot_count, head_hash, closed_at FROM decisions WHERE id = $1",
    };
    let (mut count, mut head, closed_at): (i64, String, Option<String>) = tx.fetch_one(lock, crate::args![decision_id]).await?;
    let closed_at = closed_at.as_deref().map(parse_time).transpose()?;
    BALLOT_STEPS.add(2, t);

    let t = std::time::Instant::now();
    let mut dwellings: Vec<i64> = members.iter().filter_map(|&i| group.get(i)).map(|w| w.input.dwelling_id).collect();
    dwellings.sort_unstable();
    dwellings.dedup();
    let mut args = crate::args![decision_id];
    args.extend(dwellings.iter().map(|&d| crate::Arg::from(d)));
    let list = (0..dwellings.len()).map(|k| format!("${}", k + 2)).collect::<Vec<_>>().join(",");
    let facts: Vec<BallotFacts> = tx
        .fetch_all(
            &format!(
                "SELECT e.dwelling_id, e.owner_key, e.area, \
                 (SELECT b.channel FROM ballots b WHERE b.decision_id = $1 AND b.dwelling_id = e.dwelling_id) AS already, \
                 (SELECT h.choice FROM ballots h WHERE h.decision_id = $1 AND h.owner_key = e.owner_key ORDER BY h.seq LIMIT 1) AS head_choice \
                 FROM decision_electors e WHERE e.decision_id = $1 AND e.dwelling_id IN ({list})"
            ),
            args,
        )
        .await?;
    let facts: HashMap<i64, rules::DwellingFacts> = facts
        .into_iter()
        .map(|f| {
            let fact = rules::DwellingFacts {
                owner_key: f.owner_key,
                area: f.area,
                already: f.already.as_deref().and_then(Channel::parse),
                head_choice: f.head_choice.as_deref().and_then(Choice::parse),
            };
            (f.dwelling_id, fact)
        })
        .collect();
    BALLOT_STEPS.add(3, t);

    let t = std::time::Instant::now();
    let now = crate::clock::utc_now();
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let writes: Vec<&BallotWrite> = members.iter().filter_map(|&i| group.get(i)).collect();
    let ballots: Vec<rules::GroupBallot> = writes
        .iter()
        .map(|w| rules::GroupBallot {
            dwelling_id: w.input.dwelling_id,
            choice: w.input.choice,
            channel: w.input.channel,
            opens_at: w.opens_at,
            // A decision closed early by staff takes no more ballots.
            closes_at: closed_at.map_or(w.closes_at, |c| c.min(w.closes_at)),
            is_owner: w.input.is_owner,
            by_proxy: w.input.by_proxy,
            proxy_attached: w.input.proxy_document_id.is_some(),
        })
        .collect();
    let (verdicts, added) = rules::admit_group(now, &facts, &ballots);
    let mut rows = Vec::new();
    let mut answers = Vec::with_capacity(members.len());
    for ((&i, w), verdict) in members.iter().zip(&writes).zip(verdicts) {
        let b = &w.input;
        let owner_key = match verdict {
            Ok(admitted) => admitted,
            Err(refusal) => {
                answers.push((i, Err(refusal)));
                continue;
            }
        };
        count += 1;
        let mut stored = StoredBallot {
            seq: count,
            dwelling_id: b.dwelling_id,
            choice: b.choice.as_str().to_string(),
            channel: b.channel.as_str().to_string(),
            voter: b.voter.trim().to_string(),
            proxy_document_id: b.proxy_document_id,
            owner_key,
            cast_by: w.cast_by.clone(),
            at: at.clone(),
            prev_hash: head.clone(),
            hash: String::new(),
        };
        stored.hash = chain::link(&head, &ballot_text(decision_id, count, &stored));
        head = stored.hash.clone();
        answers.push((
            i,
            Ok(Receipt {
                decision_id,
                dwelling_id: b.dwelling_id,
                seq: count,
                choice: b.choice,
                at: at.clone(),
                hash: stored.hash.clone(),
            }),
        ));
        rows.push(crate::args![
            decision_id,
            stored.seq,
            stored.dwelling_id,
            stored.choice,
            stored.channel,
            stored.voter,
            stored.proxy_document_id,
            stored.owner_key,
            stored.cast_by,
            stored.at,
            stored.prev_hash,
            stored.hash
        ]);
    }
    BALLOT_STEPS.add(4, t);
    if rows.is_empty() {
        return Ok(answers);
    }

    let t = std::time::Instant::now();
    tx.insert_many(
        "ballots",
        &[
            "decision_id",
            "seq",
            "dwelling_id",
            "choice",
            "channel",
            "voter",
            "proxy_document_id",
            "owner_key",
            "cast_by",
            "at",
            "prev_hash",
            "hash",
        ],
        rows,
    )
    .await?;
    BALLOT_STEPS.add(5, t);
    let t = std::time::Instant::now();
    tx.execute(
        "UPDATE decisions SET ballot_count = $1, head_hash = $2, \
         agree_area = agree_area + $3, agree_owners = agree_owners + $4, \
         disagree_area = disagree_area + $5, disagree_owners = disagree_owners + $6, \
         abstain_area = abstain_area + $7, abstain_owners = abstain_owners + $8 WHERE id = $9",
        crate::args![
            count,
            head.as_str(),
            added.agree.area,
            added.agree.owners,
            added.disagree.area,
            added.disagree.owners,
            added.abstain.area,
            added.abstain.owners,
            decision_id
        ],
    )
    .await?;
    BALLOT_STEPS.add(6, t);
    Ok(answers)
}

impl Decision {
    /// The rule set fixed when the decision was set up.
    pub fn rules(&self) -> Result<RuleSet, StoreError> {
        serde_json::from_str(&self.rules_json).map_err(|e| StoreError::Config(format!("decision {} rules: {e}", self.id)))
    }

    /// The matter decided.
    pub fn matter(&self) -> Result<Matter, StoreError> {
        Matter::parse(&self.matter).ok_or_else(|| StoreError::Config(format!("decision {} has an unknown matter", self.id)))
    }
}

impl Db {
    /// The rule set that applies in a region: its own or the nearest enclosing region's, else the national rule.
    pub async fn decision_rules_for(&self, region: &RegionCode) -> Result<RuleSet, StoreError> {
        let rows: Vec<(String, String)> = self.settings_in_force("region_code, rules_json", "decision_rules", region, "").await?;
        match rows.last() {
            Some((code, json)) => serde_json::from_str(json).map_err(|e| StoreError::Config(format!("rules of {code}: {e}"))),
            None => Ok(RuleSet::national()),
        }
    }

    /// Sets a region's own rule set (checked by the caller with `RuleSet::validate`).
    pub async fn set_decision_rules(&self, actor: &Actor, region: &RegionCode, set: &RuleSet) -> Result<(), StoreError> {
        let before = self.decision_rules_for(region).await?;
        let json = serde_json::to_string(set).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM decision_rules WHERE region_code = $1", crate::args![region.as_str()]).await?;
        tx.execute(
            "INSERT INTO decision_rules (region_code, rules_json, updated_at) VALUES ($1, $2, $3)",
            crate::args![region.as_str(), json.as_str(), crate::now()],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "decision_rules",
                entity_id: region.as_str().to_string(),
                region_code: region.as_str().to_string(),
                before: serde_json::to_value(before).ok(),
                after: serde_json::to_value(set).ok(),
            },
        )
        .await?;
        tx.commit().await
    }

    /// Sets up a decision: its electorate (dwellings in scope, their areas and owners as the law
    /// counts heads) is fixed now, so later registry edits cannot move the count.
    pub async fn create_decision(&self, actor: &Actor, scope: &Scope, estate_id: i64, d: &ValidDecision) -> Result<Decision, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let region = RegionCode::parse(&estate.community_code).map_err(|e| StoreError::Config(e.to_string()))?;
        let rule_set = self.decision_rules_for(&region).await?;
        let (kind, building_id, stairwell) = match d.scope {
            VoteScope::Estate => ("estate", None, None),
            VoteScope::Building { building_id } => ("building", Some(building_id), None),
            VoteScope::Stairwell { building_id, stairwell } => ("stairwell", Some(building_id), Some(stairwell)),
        };
        // Owners vote on a scheme they can read: one issued for the notices, not the desk's draft.
        if d.on_scheme {
            let issued = self
                .scalar("SELECT COUNT(*) FROM scheme_versions WHERE estate_id = $1 AND version_no > 0", crate::args![estate_id])
                .await?;
            if issued == 0 {
                return Err(huanxin_domain::ValidationErrors::one("on_scheme", "true", reason!("decisions.no_issued_scheme")).into());
            }
        }
        if let Some(b) = building_id {
            let n = self.scalar("SELECT COUNT(*) FROM buildings WHERE id = $1 AND estate_id = $2", crate::args![b, estate_id]).await?;
            if n == 0 {
                return Err(huanxin_domain::ValidationErrors::one("building_id", b, reason!("field.not_building_estate")).into());
            }
        }
        let dwellings: Vec<(i64, i64, i64, i64)> = self
            .fetch_all(
                "SELECT id, building_id, stairwell, exclusive_area FROM dwellings WHERE estate_id = $1 ORDER BY id",
                crate::args![estate_id],
            )
            .await?;
        let owners: Vec<(i64, String, String)> = self
            .fetch_all(
                "SELECT o.dwelling_id, o.name, o.phone FROM dwelling_owners o JOIN dwellings d ON d.id = o.dwelling_id WHERE d.estate_id = $1",
                crate::args![estate_id],
            )
            .await?;
        let mut by_dwelling: HashMap<i64, Vec<RegisteredOwner>> = HashMap::new();
        for (dw, name, phone) in owners {
            by_dwelling.entry(dw).or_default().push(RegisteredOwner { name, phone });
        }
        let electors: Vec<Elector> = dwellings
            .iter()
            .filter(|(_, b, s, _)| d.scope.covers(*b, *s))
            .map(|(id, _, _, area)| Elector {
                dwelling_id: *id,
                area: *area,
                owner_key: rules::owner_key(*id, by_dwelling.get(id).map(Vec::as_slice).unwrap_or(&[])),
            })
            .collect();
        if electors.is_empty() {
            return Err(huanxin_domain::ValidationErrors::one("scope", kind, reason!("decisions.empty_electorate")).into());
        }
        let rules_json = serde_json::to_string(&rule_set).map_err(|e| StoreError::Config(e.to_string()))?;
        let electorate = Counts::of_electorate(&electors);
        let mut tx = self.begin().await?;
        let decision: Decision = tx
            .fetch_one(
                &format!(
                    "INSERT INTO decisions (estate_id, title, matter, scope_kind, building_id, stairwell, opens_at, closes_at, on_scheme, \
                     rules_json, head_hash, created_by, created_at, amount, electorate_area, electorate_owners) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING {DECISION_COLS}"
                ),
                crate::args![
                    estate_id,
                    d.title.as_str(),
                    d.matter.as_str(),
                    kind,
                    building_id,
                    stairwell,
                    d.opens_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    d.closes_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    d.on_scheme,
                    rules_json.as_str(),
                    chain::GENESIS,
                    actor.username.as_str(),
                    crate::now(),
                    d.amount.map(|f| f.0),
                    electorate.electorate.area,
                    electorate.electorate.owners
                ],
            )
            .await?;
        let rows = electors.iter().map(|e| crate::args![decision.id, e.dwelling_id, e.area, e.owner_key.as_str()]).collect();
        tx.execute_with_rows(
            &[("decision_id", "BIGINT"), ("dwelling_id", "BIGINT"), ("area", "BIGINT"), ("owner_key", "TEXT")],
            rows,
            "INSERT INTO decision_electors (decision_id, dwelling_id, area, owner_key) SELECT decision_id, dwelling_id, area, owner_key FROM huanxin_src",
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "decision",
                entity_id: decision.id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::json!({"title": d.title, "matter": d.matter.as_str(), "scope": kind, "electors": electors.len()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// An estate's decisions, newest first.
    pub async fn decisions_of(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Decision>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        self.fetch_all(&format!("SELECT {DECISION_COLS} FROM decisions WHERE estate_id = $1 ORDER BY id DESC"), crate::args![estate_id])
            .await
    }

    /// One decision, if its estate is in scope.
    pub async fn decision(&self, scope: &Scope, id: i64) -> Result<Decision, StoreError> {
        // One statement (the scope as a condition on the decision's estate): it is read with every ballot.
        let mut args = crate::args![id];
        let sc = crate::estates::scope_clause(scope, &mut args);
        self.fetch_one(
            &format!(
                "SELECT {DECISION_COLS} FROM decisions WHERE id = $1 AND EXISTS (SELECT 1 FROM estates e WHERE e.id = decisions.estate_id AND {sc})"
            ),
            args,
        )
        .await
    }

    /// The count so far (or final), from the decision's running counts (one row, however many ballots).
    pub async fn tally(&self, d: &Decision) -> Result<Tally, StoreError> {
        Ok(self.running_counts(d.id).await?.tally(&d.rules()?, d.matter()?))
    }

    /// The running counts kept with each ballot.
    async fn running_counts(&self, decision_id: i64) -> Result<Counts, StoreError> {
        let row: CountsRow =
            self.fetch_one(&format!("SELECT {COUNT_COLS} FROM decisions WHERE id = $1"), crate::args![decision_id]).await?;
        Ok(row.counts())
    }

    /// Casts one ballot: the decision is found in the caller's scope first, then the ballot goes to
    /// the ballot writer, which checks it against the window, the electorate, the dwelling's and the
    /// owner's earlier ballots under the decision's lock, appends it to the chain and answers only
    /// after its group's commit (see [`crate::group_commit`]).
    pub async fn cast_ballot(&self, actor: &Actor, scope: &Scope, decision_id: i64, b: &BallotInput) -> Result<Receipt, BallotError> {
        let d = self.decision(scope, decision_id).await?;
        let write = BallotWrite {
            decision_id,
            opens_at: parse_time(&d.opens_at)?,
            closes_at: parse_time(&d.closes_at)?,
            cast_by: actor.username.clone(),
            input: b.clone(),
        };
        let writer = crate::group_commit::running(&self.ballot_writer, || {
            GroupCommit::start(self.without_writers(), append_ballots, &BALLOT_STEPS)
        })?;
        Ok(writer.submit(write).await??)
    }

    /// Records a refused ballot in the audit log (the ballot chain holds only ballots that count).
    pub async fn audit_refused_ballot(&self, actor: &Actor, decision_id: i64, dwelling_id: i64, reason: &str) -> Result<(), StoreError> {
        let region: Option<(String,)> = self
            .fetch_optional(
                "SELECT e.community_code FROM decisions d JOIN estates e ON e.id = d.estate_id WHERE d.id = $1",
                crate::args![decision_id],
            )
            .await?;
        let mut tx = self.begin().await?;
        tx.audit(
            actor,
            Change {
                action: "ballot_refused",
                entity: "decision",
                entity_id: decision_id.to_string(),
                region_code: region.map(|(r,)| r).unwrap_or_default(),
                before: None,
                after: Some(serde_json::json!({"dwelling_id": dwelling_id, "reason": reason})),
            },
        )
        .await?;
        tx.commit().await
    }

    /// The ballots of a decision in the order cast, for staff whose scope holds the estate.
    /// The dwellings that have voted on a decision (not how): a grid worker's doors done.
    pub async fn voted_dwellings(&self, decision_id: i64) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = self
            .fetch_all("SELECT DISTINCT dwelling_id FROM ballots WHERE decision_id = $1 ORDER BY dwelling_id", crate::args![decision_id])
            .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    pub async fn ballots(&self, scope: &Scope, decision_id: i64) -> Result<Vec<BallotRow>, StoreError> {
        self.decision(scope, decision_id).await?;
        self.fetch_all(
            "SELECT b.seq, b.dwelling_id, bl.number AS building_number, dw.number AS dwelling_number, b.choice, b.channel, b.voter, \
             b.proxy_document_id, b.cast_by, b.at, b.hash FROM ballots b JOIN dwellings dw ON dw.id = b.dwelling_id \
             JOIN buildings bl ON bl.id = dw.building_id WHERE b.decision_id = $1 ORDER BY b.seq",
            crate::args![decision_id],
        )
        .await
    }

    /// Walks a decision's ballot chain from the first link and compares its end with the head the
    /// decision recorded, so a changed, removed, reordered or truncated ballot shows.
    pub async fn verify_ballots(&self, decision: crate::reach::DecisionInScope) -> Result<Verification, StoreError> {
        let decision_id = decision.id();
        // One snapshot: a ballot landing meanwhile must not look like a break.
        let mut tx = self.begin_snapshot().await?;
        let recorded: HeadAndCounts =
            tx.fetch_one(&format!("SELECT head_hash, {COUNT_COLS} FROM decisions WHERE id = $1"), crate::args![decision_id]).await?;
        let (running, head) = (recorded.counts, recorded.head_hash);
        let count = running.ballot_count;
        let rows: Vec<StoredBallot> = tx
            .fetch_all(
                "SELECT seq, dwelling_id, choice, channel, voter, proxy_document_id, owner_key, cast_by, at, prev_hash, hash \
                 FROM ballots WHERE decision_id = $1 ORDER BY seq",
                crate::args![decision_id],
            )
            .await?;
        let electors: Vec<ElectorRow> = tx
            .fetch_all("SELECT dwelling_id, area, owner_key FROM decision_electors WHERE decision_id = $1", crate::args![decision_id])
            .await?;
        tx.commit().await?;
        let texts: Vec<String> = rows.iter().map(|r| ballot_text(decision_id, r.seq, r)).collect();
        let walked = chain::verify(rows.iter().zip(&texts).map(|(r, t)| (r.seq, t.as_str(), r.prev_hash.as_str(), r.hash.as_str())));
        let last = rows.last().map(|r| r.hash.clone()).unwrap_or_else(|| chain::GENESIS.to_string());
        let broken_at = match walked {
            Err(b) => Some(b),
            Ok(n) if n != count || last != head => Some(chain::Break {
                seq: n.min(count) + 1,
                reason: format!("the decision recorded {count} ballots ending in {head:.12}…, the chain has {n} ending in {last:.12}…"),
            }),
            Ok(_) => {
                // The running counts a tally reads must be what the chain's ballots count to.
                let electors: Vec<Elector> =
                    electors.into_iter().map(|e| Elector { dwelling_id: e.dwelling_id, area: e.area, owner_key: e.owner_key }).collect();
                let ballots: Vec<(i64, Choice)> =
                    rows.iter().filter_map(|r| Choice::parse(&r.choice).map(|c| (r.dwelling_id, c))).collect();
                let (running, recounted) = (running.counts(), rules::recount(&electors, &ballots));
                (running != recounted).then(|| chain::Break {
                    seq: count + 1,
                    reason: format!("the running counts {running:?} differ from the ballots' recount {recounted:?}"),
                })
            }
        };
        Ok(Verification { decision_id, ballots: rows.len() as i64, intact: broken_at.is_none(), broken_at, head_hash: head })
    }

    /// Every decision's id, for verifying all chains.
    pub async fn decision_ids(&self) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<(i64,)> = self.fetch_all("SELECT id FROM decisions ORDER BY id", vec![]).await?;
        Ok(ids.into_iter().map(|(i,)| i).collect())
    }

    /// Closes a decision once its window has ended and records the result; refused before the end.
    pub async fn close_decision(&self, actor: &Actor, scope: &Scope, id: i64) -> Result<(Decision, Tally), StoreError> {
        let d = self.decision(scope, id).await?;
        if d.closed_at.is_some() {
            return Err(StoreError::Conflict(reason!("decisions.already_closed")));
        }
        if crate::clock::utc_now() < parse_time(&d.closes_at)? {
            return Err(StoreError::Conflict(reason!("decisions.still_running", closes_at = d.closes_at)));
        }
        let verified = self.verify_ballots(crate::reach::DecisionInScope::trusted(d.id)).await?;
        if let Some(b) = verified.broken_at {
            return Err(StoreError::Conflict(reason!("decisions.chain_broken", seq = b.seq, reason = b.reason)));
        }
        let t = self.tally(&d).await?;
        let estate = self.get_estate(scope, d.estate_id).await?;
        let result = serde_json::to_string(&t).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE decisions SET closed_at = $1, result_json = $2, passed = $3 WHERE id = $4 AND closed_at IS NULL",
                crate::args![crate::now(), result.as_str(), t.passed, id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("decisions.changed_meanwhile")));
        }
        tx.audit(
            actor,
            Change {
                action: "close",
                entity: "decision",
                entity_id: id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: serde_json::to_value(&t).ok(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((self.decision(scope, id).await?, t))
    }

    /// Has the owners' consent to the estate's scheme passed (a closed decision on the scheme, taken
    /// by the whole estate: a stairwell's lift vote is not the estate's decision on its scheme)?
    pub async fn scheme_decision_passed(&self, estate_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .scalar(
                "SELECT COUNT(*) FROM decisions WHERE estate_id = $1 AND on_scheme = $2 AND passed = $2 AND scope_kind = 'estate'",
                crate::args![estate_id, true],
            )
            .await?
            > 0)
    }

    /// The dwellings (and their electorate keys) through which a resident may vote in a decision.
    pub async fn my_ballots(&self, user_id: i64, decision_id: i64) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        self.fetch_all(
            "SELECT r.dwelling_id, r.standing, b.choice FROM resident_dwellings r \
             JOIN decision_electors e ON e.decision_id = $2 AND e.dwelling_id = r.dwelling_id \
             LEFT JOIN ballots b ON b.decision_id = $2 AND b.dwelling_id = r.dwelling_id WHERE r.user_id = $1 ORDER BY r.dwelling_id",
            crate::args![user_id, decision_id],
        )
        .await
    }
}
