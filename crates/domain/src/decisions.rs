//! Owners' decisions (表决) under Civil Code Art. 278: the matters, the thresholds (national rule by
//! default, a region's own rule set where it has one), who is in the electorate, whether a ballot may
//! be cast, and the tally. Area is in hundredths of m² (DESIGN.md), so every comparison is exact.

use crate::funds::Fen;
use crate::reason;
use crate::ValidationErrors;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The nine matters of Art. 278.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matter {
    AssemblyRules,
    ManagementCovenant,
    OwnersCommittee,
    PropertyManager,
    UseMaintenanceFund,
    RaiseMaintenanceFund,
    /// 改建、重建, which includes adding a lift.
    Renovate,
    ChangeUseOfCommonParts,
    Other,
}

impl Matter {
    /// Every matter, in the order of the article.
    pub const ALL: [Matter; 9] = [
        Matter::AssemblyRules,
        Matter::ManagementCovenant,
        Matter::OwnersCommittee,
        Matter::PropertyManager,
        Matter::UseMaintenanceFund,
        Matter::RaiseMaintenanceFund,
        Matter::Renovate,
        Matter::ChangeUseOfCommonParts,
        Matter::Other,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Matter::AssemblyRules => "assembly_rules",
            Matter::ManagementCovenant => "management_covenant",
            Matter::OwnersCommittee => "owners_committee",
            Matter::PropertyManager => "property_manager",
            Matter::UseMaintenanceFund => "use_maintenance_fund",
            Matter::RaiseMaintenanceFund => "raise_maintenance_fund",
            Matter::Renovate => "renovate",
            Matter::ChangeUseOfCommonParts => "change_use_of_common_parts",
            Matter::Other => "other",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Matter> {
        Matter::ALL.iter().copied().find(|m| m.as_str() == s.trim())
    }
}

/// A share of a whole: met at `num/den` exactly when `strict` is false (以上), only above it when true (过半).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    pub num: i64,
    pub den: i64,
    pub strict: bool,
}

impl Threshold {
    /// "at least num/den".
    pub const fn at_least(num: i64, den: i64) -> Threshold {
        Threshold { num, den, strict: false }
    }

    /// "more than num/den".
    pub const fn more_than(num: i64, den: i64) -> Threshold {
        Threshold { num, den, strict: true }
    }

    /// Is `part` of `whole` enough? Nothing is enough of an empty whole.
    pub fn met(&self, part: i64, whole: i64) -> bool {
        if whole <= 0 {
            return false;
        }
        let (l, r) = (part as i128 * self.den as i128, whole as i128 * self.num as i128);
        if self.strict {
            l > r
        } else {
            l >= r
        }
    }

    fn check(&self, field: &str, errors: &mut ValidationErrors) {
        if self.den <= 0 || self.num <= 0 || self.num > self.den {
            errors.push(field, format!("{}/{}", self.num, self.den), reason!("decisions.share_form"));
        } else if self.strict && self.num == self.den {
            errors.push(field, format!("{}/{}", self.num, self.den), reason!("decisions.threshold_above_whole"));
        }
    }
}

/// The thresholds a decision is counted by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// A name for the published result, e.g. "民法典第二百七十八条".
    pub name: String,
    /// Who must take part, of all exclusive area and of all owners.
    pub quorum: Threshold,
    /// Approval, of the participating area and owners, for the special matters.
    pub special: Threshold,
    /// Approval for every other matter.
    pub ordinary: Threshold,
    /// The matters that need `special`.
    pub special_matters: Vec<Matter>,
}

impl RuleSet {
    /// The national rule (Civil Code Art. 278, in force 2021-01-01).
    pub fn national() -> RuleSet {
        RuleSet {
            name: "民法典第二百七十八条".into(),
            quorum: Threshold::at_least(2, 3),
            special: Threshold::at_least(3, 4),
            ordinary: Threshold::more_than(1, 2),
            special_matters: vec![Matter::RaiseMaintenanceFund, Matter::Renovate, Matter::ChangeUseOfCommonParts],
        }
    }

    /// The approval threshold for a matter.
    pub fn approval_for(&self, matter: Matter) -> Threshold {
        if self.special_matters.contains(&matter) {
            self.special
        } else {
            self.ordinary
        }
    }

    /// Checks a rule set entered by a region. A region may be stricter than the law but never laxer,
    /// since a decision taken below the national thresholds would not bind the owners.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut e = ValidationErrors::default();
        if self.name.trim().is_empty() {
            e.push("name", "", reason!("decisions.not_empty"));
        }
        self.quorum.check("quorum", &mut e);
        self.special.check("special", &mut e);
        self.ordinary.check("ordinary", &mut e);
        if e.is_empty() {
            let law = RuleSet::national();
            for (field, ours, theirs) in
                [("quorum", self.quorum, law.quorum), ("special", self.special, law.special), ("ordinary", self.ordinary, law.ordinary)]
            {
                if !at_least_as_strict(ours, theirs) {
                    e.push(
                        field,
                        format!("{}/{}", ours.num, ours.den),
                        reason!("decisions.laxer_than_law", num = theirs.num, den = theirs.den),
                    );
                }
            }
            for m in &law.special_matters {
                if !self.special_matters.contains(m) {
                    e.push("special_matters", m.as_str(), reason!("decisions.special_threshold_required"));
                }
            }
        }
        e.into_result(())
    }
}

/// Does every share that meets `ours` also meet `theirs`?
fn at_least_as_strict(ours: Threshold, theirs: Threshold) -> bool {
    let (a, b) = (ours.num as i128 * theirs.den as i128, theirs.num as i128 * ours.den as i128);
    a > b || (a == b && (ours.strict || !theirs.strict))
}

/// What a decision covers: a lift is decided by its building or stairwell (本幢/本单元).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VoteScope {
    Estate,
    Building { building_id: i64 },
    Stairwell { building_id: i64, stairwell: i64 },
}

impl VoteScope {
    /// Is a dwelling in this building and stairwell inside the scope?
    pub fn covers(&self, building_id: i64, stairwell: i64) -> bool {
        match *self {
            VoteScope::Estate => true,
            VoteScope::Building { building_id: b } => b == building_id,
            VoteScope::Stairwell { building_id: b, stairwell: s } => b == building_id && s == stairwell,
        }
    }
}

/// One dwelling of the electorate: its exclusive area and who holds the vote for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elector {
    pub dwelling_id: i64,
    /// Exclusive area in hundredths of m².
    pub area: i64,
    /// The owner as the law counts heads (see [`owner_key`]).
    pub owner_key: String,
}

/// A registered owner of a dwelling, as the registry has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredOwner {
    pub name: String,
    pub phone: String,
}

/// Who holds one vote: co-owners of one dwelling together (one vote), and the same person or
/// group across dwellings once (one head, with the sum of the areas). A person is known by phone
/// where the registry has one, else by name; a dwelling with no registered owner is its own head.
pub fn owner_key(dwelling_id: i64, owners: &[RegisteredOwner]) -> String {
    let mut people: Vec<String> = owners
        .iter()
        .map(|o| {
            let phone: String = o.phone.chars().filter(|c| c.is_ascii_digit()).collect();
            if phone.is_empty() {
                format!("n:{}", o.name.split_whitespace().collect::<String>())
            } else {
                format!("p:{phone}")
            }
        })
        .filter(|k| k != "n:")
        .collect();
    people.sort();
    people.dedup();
    if people.is_empty() {
        format!("d:{dwelling_id}")
    } else {
        people.join("+")
    }
}

/// A ballot's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Agree,
    Disagree,
    Abstain,
}

impl Choice {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Agree => "agree",
            Choice::Disagree => "disagree",
            Choice::Abstain => "abstain",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Choice> {
        [Choice::Agree, Choice::Disagree, Choice::Abstain].into_iter().find(|c| c.as_str() == s.trim())
    }
}

/// How a ballot reached the count: never both for one dwelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Online,
    Paper,
}

impl Channel {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Paper => "paper",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Online, Channel::Paper].into_iter().find(|c| c.as_str() == s.trim())
    }
}

/// Area and heads of one part of the count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Hundredths of m².
    pub area: i64,
    pub owners: i64,
}

/// The result of counting: the whole electorate, who took part and how, and whether it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub electorate: Count,
    pub participating: Count,
    pub agree: Count,
    pub disagree: Count,
    pub abstain: Count,
    pub ballots: i64,
    pub quorum_met: bool,
    pub approval: Threshold,
    pub passed: bool,
}

/// The running counts of a decision: its electorate, and each choice's area and heads so far.
/// Kept with every ballot (under the decision's lock) so that a tally reads one row instead of
/// recounting the ballots; [`tally`] counts the same way from the ballots themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub electorate: Count,
    pub agree: Count,
    pub disagree: Count,
    pub abstain: Count,
    /// Ballots counted (one per dwelling of the electorate).
    pub ballots: i64,
}

impl Counts {
    /// The counts of a fixed electorate before any ballot: its area, and its owners counted once each.
    pub fn of_electorate(electors: &[Elector]) -> Counts {
        let owners: std::collections::HashSet<&str> = electors.iter().map(|e| e.owner_key.as_str()).collect();
        let area = electors.iter().map(|e| e.area).sum();
        Counts { electorate: Count { area, owners: owners.len() as i64 }, ..Counts::default() }
    }

    /// Counts one ballot that [`check_ballot`] let through: the dwelling's area under its choice,
    /// and the owner's head when this is the owner's first ballot in the decision.
    pub fn add(&mut self, choice: Choice, area: i64, first_of_owner: bool) {
        let part = match choice {
            Choice::Agree => &mut self.agree,
            Choice::Disagree => &mut self.disagree,
            Choice::Abstain => &mut self.abstain,
        };
        part.area += area;
        if first_of_owner {
            part.owners += 1;
        }
        self.ballots += 1;
    }

    /// Whether the counts carry the decision under the rules.
    pub fn tally(&self, rules: &RuleSet, matter: Matter) -> Tally {
        let (agree, disagree, abstain) = (self.agree, self.disagree, self.abstain);
        let participating =
            Count { area: agree.area + disagree.area + abstain.area, owners: agree.owners + disagree.owners + abstain.owners };
        let electorate = self.electorate;
        let quorum_met = rules.quorum.met(participating.area, electorate.area) && rules.quorum.met(participating.owners, electorate.owners);
        let approval = rules.approval_for(matter);
        let passed = quorum_met && approval.met(agree.area, participating.area) && approval.met(agree.owners, participating.owners);
        Tally { electorate, participating, agree, disagree, abstain, ballots: self.ballots, quorum_met, approval, passed }
    }
}

/// Counts ballots (dwelling, choice) in the order cast against the electorate. Area counts by each
/// dwelling's own ballot; an owner's head counts once, by their first ballot ([`check_ballot`] keeps
/// later ones the same). Ballots for dwellings outside the electorate are not counted.
pub fn tally(electors: &[Elector], ballots: &[(i64, Choice)], rules: &RuleSet, matter: Matter) -> Tally {
    recount(electors, ballots).tally(rules, matter)
}

/// The counts of a decision from its ballots in the order cast (what the running counts must equal).
pub fn recount(electors: &[Elector], ballots: &[(i64, Choice)]) -> Counts {
    let by_dwelling: HashMap<i64, &Elector> = electors.iter().map(|e| (e.dwelling_id, e)).collect();
    let mut counts = Counts::of_electorate(electors);
    let mut heads_seen: std::collections::HashSet<&str> = std::collections::HashSet::with_capacity(electors.len());
    let mut seen = std::collections::HashSet::with_capacity(ballots.len());
    for (dwelling, choice) in ballots {
        let Some(e) = by_dwelling.get(dwelling) else { continue };
        if !seen.insert(*dwelling) {
            continue;
        }
        counts.add(*choice, e.area, heads_seen.insert(e.owner_key.as_str()));
    }
    counts
}

/// Why a ballot is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BallotRefusal {
    NotOpen(String),
    Closed(String),
    NotInElectorate,
    AlreadyVoted(&'static str),
    NotOwner,
    OwnerVotedOtherwise(&'static str),
    ProxyMissing,
}

crate::refusal_display!(BallotRefusal);

impl BallotRefusal {
    /// The refusal's stable code and parameters.
    pub fn reason(&self) -> crate::Reason {
        match self {
            BallotRefusal::NotOpen(at) => crate::reason!("decisions.not_open", opens_at = at),
            BallotRefusal::Closed(at) => crate::reason!("decisions.closed_at", closes_at = at),
            BallotRefusal::NotInElectorate => crate::reason!("decisions.not_in_electorate"),
            BallotRefusal::AlreadyVoted(channel) => crate::reason!("decisions.already_voted", channel = channel),
            BallotRefusal::NotOwner => crate::reason!("decisions.not_owner"),
            BallotRefusal::OwnerVotedOtherwise(choice) => crate::reason!("decisions.owner_voted_otherwise", choice = choice),
            BallotRefusal::ProxyMissing => crate::reason!("decisions.proxy_missing"),
        }
    }
}

/// What is known when a ballot arrives.
#[derive(Debug, Clone)]
pub struct BallotContext {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub in_electorate: bool,
    /// The channel of a ballot already cast for this dwelling.
    pub already: Option<Channel>,
    /// The caller is a registered owner of the dwelling (always true for staff entering paper).
    pub is_owner: bool,
    /// The choice this owner's head already gave for another dwelling.
    pub head_choice: Option<Choice>,
    /// A proxy votes (委托投票) and the scanned authorisation is attached.
    pub by_proxy: bool,
    pub proxy_attached: bool,
}

/// May this ballot be cast? One ballot per dwelling, inside the window, by an owner, one choice per owner.
pub fn check_ballot(ctx: &BallotContext, choice: Choice) -> Result<(), BallotRefusal> {
    if ctx.now < ctx.opens_at {
        return Err(BallotRefusal::NotOpen(ctx.opens_at.to_rfc3339()));
    }
    if ctx.now >= ctx.closes_at {
        return Err(BallotRefusal::Closed(ctx.closes_at.to_rfc3339()));
    }
    if !ctx.in_electorate {
        return Err(BallotRefusal::NotInElectorate);
    }
    if let Some(c) = ctx.already {
        return Err(BallotRefusal::AlreadyVoted(c.as_str()));
    }
    if !ctx.is_owner {
        return Err(BallotRefusal::NotOwner);
    }
    if ctx.by_proxy && !ctx.proxy_attached {
        return Err(BallotRefusal::ProxyMissing);
    }
    match ctx.head_choice {
        Some(c) if c != choice => Err(BallotRefusal::OwnerVotedOtherwise(c.as_str())),
        _ => Ok(()),
    }
}

/// What was read of a dwelling before a group of ballots was written: the dwelling as an elector
/// (its owner's key and area) and the decision's earlier ballots (the dwelling's, and the choice
/// of its owner's first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DwellingFacts {
    pub owner_key: String,
    pub area: i64,
    pub already: Option<Channel>,
    pub head_choice: Option<Choice>,
}

/// One ballot of a group, with what [`check_ballot`] needs besides the dwelling's facts.
#[derive(Debug, Clone)]
pub struct GroupBallot {
    pub dwelling_id: i64,
    pub choice: Choice,
    pub channel: Channel,
    pub opens_at: DateTime<Utc>,
    /// The window's end, or the moment staff closed the decision if earlier.
    pub closes_at: DateTime<Utc>,
    pub is_owner: bool,
    pub by_proxy: bool,
    pub proxy_attached: bool,
}

/// Decides a group of ballots for one decision, in the order they arrived, against the facts read
/// before the group (`facts` holds only the dwellings of the electorate): each ballot also sees
/// the group's earlier ones, so the answers and counts are those of casting them one by one. Gives
/// each ballot's verdict (when admitted, its owner's key, which the chain records) and what the admitted
/// ballots add to the running counts.
pub fn admit_group(
    now: DateTime<Utc>,
    facts: &HashMap<i64, DwellingFacts>,
    ballots: &[GroupBallot],
) -> (Vec<Result<String, BallotRefusal>>, Counts) {
    let mut cast_now: HashMap<i64, Channel> = HashMap::new();
    let mut first_choice_now: HashMap<&str, Choice> = HashMap::new();
    let mut added = Counts::default();
    let mut verdicts = Vec::with_capacity(ballots.len());
    for b in ballots {
        let fact = facts.get(&b.dwelling_id);
        let head_choice = fact.and_then(|f| first_choice_now.get(f.owner_key.as_str()).copied().or(f.head_choice));
        let ctx = BallotContext {
            opens_at: b.opens_at,
            closes_at: b.closes_at,
            now,
            in_electorate: fact.is_some(),
            already: cast_now.get(&b.dwelling_id).copied().or_else(|| fact.and_then(|f| f.already)),
            is_owner: b.is_owner,
            head_choice,
            by_proxy: b.by_proxy,
            proxy_attached: b.proxy_attached,
        };
        let verdict = match (check_ballot(&ctx, b.choice), fact) {
            (Err(refusal), _) => Err(refusal),
            (Ok(()), None) => Err(BallotRefusal::NotInElectorate),
            (Ok(()), Some(f)) => {
                cast_now.insert(b.dwelling_id, b.channel);
                first_choice_now.entry(f.owner_key.as_str()).or_insert(b.choice);
                added.add(b.choice, f.area, head_choice.is_none());
                Ok(f.owner_key.clone())
            }
        };
        verdicts.push(verdict);
    }
    (verdicts, added)
}

/// A decision as asked for by staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionInput {
    pub title: String,
    /// A [`Matter`] code.
    pub matter: String,
    /// `estate`, `building` or `stairwell`.
    pub scope: String,
    pub building_id: Option<i64>,
    pub stairwell: Option<i64>,
    /// RFC 3339.
    pub opens_at: String,
    pub closes_at: String,
    /// The decision is the owners' consent to the estate's scheme (the lifecycle's `decided` step).
    pub on_scheme: bool,
    /// Yuan the owners are asked to allow from the maintenance fund (a decision to use it only;
    /// empty: no limit is put to the vote).
    pub amount: Option<String>,
}

/// A decision checked and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDecision {
    pub title: String,
    pub matter: Matter,
    pub scope: VoteScope,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub on_scheme: bool,
    /// What the owners allow to be spent from the maintenance fund under this decision.
    pub amount: Option<Fen>,
}

/// Shortest window of the owners' vote on their estate's scheme, in hours.
pub const MIN_SCHEME_WINDOW_HOURS: i64 = 72;

/// Longest voting window, in days.
pub const MAX_WINDOW_DAYS: i64 = 90;

impl DecisionInput {
    /// Checks every field against `now`; the window must close after it opens and after now.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<ValidDecision, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = self.title.trim().to_string();
        if title.is_empty() || title.chars().count() > 200 {
            e.push("title", &self.title, reason!("field.length", max = 200));
        }
        let matter = Matter::parse(&self.matter);
        if matter.is_none() {
            e.push("matter", &self.matter, reason!("decisions.matter_kind"));
        }
        let scope = match (self.scope.trim(), self.building_id, self.stairwell) {
            ("estate" | "", _, _) => Some(VoteScope::Estate),
            ("building", Some(b), _) => Some(VoteScope::Building { building_id: b }),
            ("stairwell", Some(b), Some(s)) if s >= 1 => Some(VoteScope::Stairwell { building_id: b, stairwell: s }),
            ("building" | "stairwell", None, _) => {
                e.push("building_id", "", reason!("decisions.building_required"));
                None
            }
            ("stairwell", _, _) => {
                e.push("stairwell", self.stairwell.map(|s| s.to_string()).unwrap_or_default(), reason!("decisions.stairwell_form"));
                None
            }
            (other, _, _) => {
                e.push("scope", other, reason!("decisions.scope_kind"));
                None
            }
        };
        let time = |field: &str, s: &str, e: &mut ValidationErrors| match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                e.push(field, s, reason!("decisions.datetime_form"));
                None
            }
        };
        let opens_at = time("opens_at", &self.opens_at, &mut e);
        let closes_at = time("closes_at", &self.closes_at, &mut e);
        if let (Some(o), Some(c)) = (opens_at, closes_at) {
            if c <= o {
                e.push("closes_at", &self.closes_at, reason!("decisions.closes_after_opens"));
            } else if c <= now {
                e.push("closes_at", &self.closes_at, reason!("decisions.future"));
            } else if (c - o).num_days() > MAX_WINDOW_DAYS {
                e.push("closes_at", &self.closes_at, reason!("decisions.window_too_long", max_window_days = MAX_WINDOW_DAYS));
            }
        }
        if self.on_scheme && matter != Some(Matter::Renovate) {
            e.push("on_scheme", "true", reason!("decisions.scheme_is_renovation"));
        }
        // The estate's consent to its scheme is asked of the whole estate, for long enough to be heard.
        if self.on_scheme && self.scope.trim() != "estate" {
            e.push("scope", &self.scope, reason!("decisions.scheme_whole_estate"));
        }
        if let (true, Ok(o), Ok(c)) =
            (self.on_scheme, DateTime::parse_from_rfc3339(self.opens_at.trim()), DateTime::parse_from_rfc3339(self.closes_at.trim()))
        {
            // Counted from now when the window is set to have opened earlier: owners get the hours
            // only from the moment they can vote, so a backdated start cannot shorten them.
            if (c.with_timezone(&Utc) - o.with_timezone(&Utc).max(now)).num_hours() < MIN_SCHEME_WINDOW_HOURS {
                e.push(
                    "closes_at",
                    &self.closes_at,
                    reason!("decisions.scheme_window_too_short", min_scheme_window_hours = MIN_SCHEME_WINDOW_HOURS),
                );
            }
        }
        let amount = match self.amount.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) if matter.is_some() && matter != Some(Matter::UseMaintenanceFund) => {
                e.push("amount", a, reason!("decisions.amount_only_for_fund"));
                None
            }
            Some(a) => match Fen::parse_yuan(a) {
                Ok(f) if f.0 > 0 => Some(f),
                Ok(_) => {
                    e.push("amount", a, reason!("field.more_than_0"));
                    None
                }
                Err(reason) => {
                    e.push("amount", a, reason);
                    None
                }
            },
        };
        match (matter, scope, opens_at, closes_at) {
            (Some(matter), Some(scope), Some(opens_at), Some(closes_at)) if e.is_empty() => {
                Ok(ValidDecision { title, matter, scope, opens_at, closes_at, on_scheme: self.on_scheme, amount })
            }
            _ => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn el(id: i64, area: i64, key: &str) -> Elector {
        Elector { dwelling_id: id, area, owner_key: key.to_string() }
    }

    #[test]
    fn thresholds_at_the_exact_boundary() {
        assert!(Threshold::at_least(2, 3).met(2, 3));
        assert!(!Threshold::at_least(2, 3).met(199, 300));
        assert!(!Threshold::more_than(1, 2).met(1, 2));
        assert!(Threshold::more_than(1, 2).met(51, 100));
        assert!(Threshold::at_least(3, 4).met(3, 4));
        assert!(!Threshold::at_least(1, 2).met(0, 0));
    }

    #[test]
    fn a_lift_needs_three_quarters_of_the_participants() {
        // Four owners of 100 m² each; all vote; three agree: exactly 3/4 of area and heads.
        let electors: Vec<_> = (1..=4).map(|i| el(i, 10_000, &format!("p:{i}"))).collect();
        let ballots = vec![(1, Choice::Agree), (2, Choice::Agree), (3, Choice::Agree), (4, Choice::Disagree)];
        let t = tally(&electors, &ballots, &RuleSet::national(), Matter::Renovate);
        assert!(t.quorum_met && t.passed, "{t:?}");
        // The same count fails if one agreeing owner abstains instead: 2/4 < 3/4.
        let ballots = vec![(1, Choice::Agree), (2, Choice::Agree), (3, Choice::Abstain), (4, Choice::Disagree)];
        assert!(!tally(&electors, &ballots, &RuleSet::national(), Matter::Renovate).passed);
        // An ordinary matter needs more than half: 2 of 4 is not more than half.
        assert!(!tally(&electors, &ballots, &RuleSet::national(), Matter::PropertyManager).passed);
    }

    #[test]
    fn quorum_counts_area_and_heads() {
        // One owner holds three dwellings: 3 heads in all, not 5.
        let electors = vec![el(1, 10_000, "p:a"), el(2, 10_000, "p:a"), el(3, 10_000, "p:a"), el(4, 10_000, "p:b"), el(5, 10_000, "p:c")];
        let t = tally(&electors, &[(1, Choice::Agree), (2, Choice::Agree), (3, Choice::Agree)], &RuleSet::national(), Matter::Other);
        assert_eq!(t.electorate, Count { area: 50_000, owners: 3 });
        assert_eq!(t.participating, Count { area: 30_000, owners: 1 });
        assert!(!t.quorum_met, "3/5 of area and 1/3 of heads is short of 2/3");
        let t = tally(
            &electors,
            &[(1, Choice::Agree), (2, Choice::Agree), (3, Choice::Agree), (4, Choice::Disagree)],
            &RuleSet::national(),
            Matter::Other,
        );
        assert!(t.quorum_met);
        assert_eq!(t.agree, Count { area: 30_000, owners: 1 });
        assert!(!t.passed, "area 3/4 agrees but heads are 1 of 2: not more than half");
    }

    #[test]
    fn co_owners_hold_one_vote() {
        let a = RegisteredOwner { name: "张三".into(), phone: "138 0000 0001".into() };
        let b = RegisteredOwner { name: "李 四".into(), phone: String::new() };
        assert_eq!(owner_key(1, &[a.clone(), b.clone()]), owner_key(2, &[b.clone(), a.clone()]));
        assert_eq!(owner_key(1, std::slice::from_ref(&a)), "p:13800000001");
        assert_eq!(owner_key(1, &[b]), "n:李四");
        assert_eq!(owner_key(7, &[]), "d:7");
    }

    #[test]
    fn ballots_refused_with_reasons() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T19:00:00+08:00").unwrap().with_timezone(&Utc);
        let ctx = BallotContext {
            opens_at: t0,
            closes_at: t0 + chrono::Duration::hours(3),
            now: t0 + chrono::Duration::minutes(5),
            in_electorate: true,
            already: None,
            is_owner: true,
            head_choice: None,
            by_proxy: false,
            proxy_attached: false,
        };
        assert!(check_ballot(&ctx, Choice::Agree).is_ok());
        let late = BallotContext { now: t0 + chrono::Duration::hours(3), ..ctx.clone() };
        assert!(matches!(check_ballot(&late, Choice::Agree), Err(BallotRefusal::Closed(_))));
        let twice = BallotContext { already: Some(Channel::Paper), ..ctx.clone() };
        assert_eq!(check_ballot(&twice, Choice::Agree).unwrap_err().to_string(), "this dwelling has already voted (paper)");
        assert_eq!(check_ballot(&BallotContext { is_owner: false, ..ctx.clone() }, Choice::Agree), Err(BallotRefusal::NotOwner));
        let other = BallotContext { head_choice: Some(Choice::Disagree), ..ctx.clone() };
        assert!(check_ballot(&other, Choice::Agree).is_err());
        assert!(check_ballot(&other, Choice::Disagree).is_ok());
        let proxy = BallotContext { by_proxy: true, ..ctx };
        assert_eq!(check_ballot(&proxy, Choice::Agree), Err(BallotRefusal::ProxyMissing));
    }

    #[test]
    fn regions_may_be_stricter_never_laxer() {
        assert!(RuleSet::national().validate().is_ok());
        let stricter = RuleSet { ordinary: Threshold::at_least(2, 3), ..RuleSet::national() };
        assert!(stricter.validate().is_ok());
        let laxer = RuleSet { quorum: Threshold::at_least(1, 2), ..RuleSet::national() };
        assert_eq!(laxer.validate().unwrap_err().0[0].field, "quorum");
        let half = RuleSet { ordinary: Threshold::at_least(1, 2), ..RuleSet::national() };
        assert!(half.validate().is_err(), "'at least half' is laxer than 'more than half'");
        let missing = RuleSet { special_matters: vec![Matter::Renovate], ..RuleSet::national() };
        assert!(missing.validate().is_err());
    }

    #[test]
    fn decision_input_names_bad_fields() {
        let now = Utc::now();
        let e = DecisionInput { title: "加装电梯".into(), matter: "lift".into(), scope: "stairwell".into(), ..Default::default() }
            .validate(now)
            .unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["matter", "building_id", "opens_at", "closes_at"]);
        let ok = DecisionInput {
            title: "加装电梯".into(),
            matter: "renovate".into(),
            scope: "stairwell".into(),
            building_id: Some(3),
            stairwell: Some(2),
            opens_at: (now - chrono::Duration::hours(1)).to_rfc3339(),
            closes_at: (now + chrono::Duration::days(7)).to_rfc3339(),
            on_scheme: false,
            amount: None,
        };
        assert_eq!(ok.validate(now).unwrap().scope, VoteScope::Stairwell { building_id: 3, stairwell: 2 });
        // Only a decision to use the maintenance fund puts an amount to the vote, and a real one.
        let priced = DecisionInput { amount: Some("3,000.00".into()), ..ok.clone() };
        assert_eq!(priced.validate(now).unwrap_err().0[0].field, "amount");
        let fund = DecisionInput { matter: "use_maintenance_fund".into(), ..priced };
        assert_eq!(fund.validate(now).unwrap().amount, Some(Fen(300_000)));
        for bad in ["0", "1.001", "-5", "三千"] {
            let e = DecisionInput { amount: Some(bad.into()), ..fund.clone() }.validate(now).unwrap_err();
            assert_eq!(e.0[0].field, "amount", "{bad}");
        }
        let ended = DecisionInput { closes_at: (now - chrono::Duration::minutes(1)).to_rfc3339(), ..ok.clone() };
        assert_eq!(ended.validate(now).unwrap_err().0[0].field, "closes_at");
        // The estate's vote on its scheme gets its 72 hours from the moment owners can vote: a start
        // set 73 hours back with the close 2 minutes ahead is refused, 72 hours ahead is not.
        let scheme = DecisionInput { scope: "estate".into(), building_id: None, stairwell: None, on_scheme: true, ..ok };
        let backdated = DecisionInput {
            opens_at: (now - chrono::Duration::hours(73)).to_rfc3339(),
            closes_at: (now + chrono::Duration::minutes(2)).to_rfc3339(),
            ..scheme.clone()
        };
        assert_eq!(backdated.validate(now).unwrap_err().0[0].field, "closes_at");
        let heard = DecisionInput { closes_at: (now + chrono::Duration::hours(73)).to_rfc3339(), ..backdated };
        assert!(heard.validate(now).is_ok());
    }

    /// The reference count, written the long way: group dwellings by owner, decide each owner's
    /// choice from their first ballot, and compare with fractions as rationals.
    fn reference(electors: &[Elector], ballots: &[(i64, Choice)], rules: &RuleSet, matter: Matter) -> (bool, bool) {
        let mut owners: Vec<String> = electors.iter().map(|e| e.owner_key.clone()).collect();
        owners.sort();
        owners.dedup();
        let total_area: i64 = electors.iter().map(|e| e.area).sum();
        let mut voted: Vec<(i64, Choice)> = Vec::new();
        for b in ballots {
            if electors.iter().any(|e| e.dwelling_id == b.0) && !voted.iter().any(|v| v.0 == b.0) {
                voted.push(*b);
            }
        }
        let area_of = |d: i64| electors.iter().find(|e| e.dwelling_id == d).map(|e| e.area).unwrap_or(0);
        let key_of = |d: i64| electors.iter().find(|e| e.dwelling_id == d).map(|e| e.owner_key.clone()).unwrap_or_default();
        let part_area: i64 = voted.iter().map(|v| area_of(v.0)).sum();
        let agree_area: i64 = voted.iter().filter(|v| v.1 == Choice::Agree).map(|v| area_of(v.0)).sum();
        let mut head_first: Vec<(String, Choice)> = Vec::new();
        for v in &voted {
            let k = key_of(v.0);
            if !head_first.iter().any(|h| h.0 == k) {
                head_first.push((k, v.1));
            }
        }
        let part_heads = head_first.len() as f64;
        let agree_heads = head_first.iter().filter(|h| h.1 == Choice::Agree).count() as f64;
        let ge = |a: f64, b: f64, t: Threshold| {
            let (a, b) = (a * t.den as f64, b * t.num as f64);
            if t.strict {
                a > b
            } else {
                a >= b
            }
        };
        let quorum =
            total_area > 0 && ge(part_area as f64, total_area as f64, rules.quorum) && ge(part_heads, owners.len() as f64, rules.quorum);
        let t = rules.approval_for(matter);
        let passed = quorum && part_area > 0 && ge(agree_area as f64, part_area as f64, t) && ge(agree_heads, part_heads, t);
        (quorum, passed)
    }

    fn choice() -> impl Strategy<Value = Choice> {
        prop_oneof![Just(Choice::Agree), Just(Choice::Disagree), Just(Choice::Abstain)]
    }

    proptest! {
        /// The tally agrees with the long-hand count on random electorates with shared owners,
        /// abstentions, missing and repeated ballots, and areas chosen to land on the boundaries.
        #[test]
        fn tally_matches_the_reference(
            dwellings in proptest::collection::vec((prop_oneof![Just(6_000i64), Just(9_000), 1..20_000i64], 0..12usize), 1..40),
            votes in proptest::collection::vec((0..45i64, choice()), 0..60),
            matter in (0..9usize).prop_map(|i| Matter::ALL[i]),
            strict_rules in any::<bool>(),
        ) {
            let electors: Vec<Elector> = dwellings.iter().enumerate()
                .map(|(i, (area, owner))| Elector { dwelling_id: i as i64, area: *area, owner_key: format!("o{owner}") })
                .collect();
            // An owner's later ballots carry their first choice, as check_ballot enforces.
            let mut first: HashMap<String, Choice> = HashMap::new();
            let ballots: Vec<(i64, Choice)> = votes.iter().map(|(d, c)| {
                let key = electors.iter().find(|e| e.dwelling_id == *d).map(|e| e.owner_key.clone()).unwrap_or_default();
                (*d, *first.entry(key).or_insert(*c))
            }).collect();
            let rules = if strict_rules {
                RuleSet { name: "stricter".into(), ordinary: Threshold::at_least(2, 3), ..RuleSet::national() }
            } else { RuleSet::national() };
            let t = tally(&electors, &ballots, &rules, matter);
            let (quorum, passed) = reference(&electors, &ballots, &rules, matter);
            prop_assert_eq!(t.quorum_met, quorum);
            prop_assert_eq!(t.passed, passed);
            prop_assert_eq!(t.participating.area, t.agree.area + t.disagree.area + t.abstain.area);
            prop_assert!(t.participating.area <= t.electorate.area);
            prop_assert!(t.participating.owners <= t.electorate.owners);
        }

        /// The running counts, kept ballot by ballot as the store keeps them (check_ballot decides,
        /// `add` counts with "first of owner" from the owner's earlier ballot), equal the recount.
        #[test]
        fn running_counts_equal_the_recount(
            dwellings in proptest::collection::vec((1..20_000i64, 0..8usize), 1..30),
            votes in proptest::collection::vec((0..35i64, choice()), 0..80),
        ) {
            let electors: Vec<Elector> = dwellings.iter().enumerate()
                .map(|(i, (area, owner))| Elector { dwelling_id: i as i64, area: *area, owner_key: format!("o{owner}") })
                .collect();
            let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
            let mut running = Counts::of_electorate(&electors);
            let mut cast: Vec<(i64, Choice)> = Vec::new();
            let mut firsts: HashMap<String, Choice> = HashMap::new();
            for (d, c) in &votes {
                let elector = electors.iter().find(|e| e.dwelling_id == *d);
                let ctx = BallotContext {
                    opens_at: t0, closes_at: t0 + chrono::Duration::days(1), now: t0 + chrono::Duration::hours(1),
                    in_electorate: elector.is_some(),
                    already: cast.iter().any(|(x, _)| x == d).then_some(Channel::Online),
                    is_owner: true,
                    head_choice: elector.and_then(|e| firsts.get(&e.owner_key).copied()),
                    by_proxy: false, proxy_attached: false,
                };
                if check_ballot(&ctx, *c).is_ok() {
                    let e = elector.unwrap();
                    running.add(*c, e.area, ctx.head_choice.is_none());
                    firsts.entry(e.owner_key.clone()).or_insert(*c);
                    cast.push((*d, *c));
                }
            }
            prop_assert_eq!(running, recount(&electors, &cast));
        }

        /// A group decided at once (facts read before it, `admit_group`) answers and counts as the
        /// same ballots cast one by one, whatever the cut into groups: repeats of a dwelling, an
        /// owner of several dwellings choosing differently, dwellings outside the electorate.
        #[test]
        fn a_group_admits_as_one_by_one(
            dwellings in proptest::collection::vec((1..20_000i64, 0..6usize), 1..20),
            votes in proptest::collection::vec((0..24i64, choice(), any::<bool>()), 0..60),
            cuts in proptest::collection::vec(1..9usize, 1..20),
        ) {
            let electors: Vec<Elector> = dwellings.iter().enumerate()
                .map(|(i, (area, owner))| Elector { dwelling_id: i as i64, area: *area, owner_key: format!("o{owner}") })
                .collect();
            let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
            let ballots: Vec<GroupBallot> = votes.iter().map(|(d, c, paper)| GroupBallot {
                dwelling_id: *d, choice: *c, channel: if *paper { Channel::Paper } else { Channel::Online },
                opens_at: t0, closes_at: t0 + chrono::Duration::days(1), is_owner: true, by_proxy: false, proxy_attached: false,
            }).collect();
            // What the store reads before a group, from the ballots written so far.
            let read = |written: &[(i64, Choice, Channel)]| -> HashMap<i64, DwellingFacts> {
                electors.iter().map(|e| (e.dwelling_id, DwellingFacts {
                    owner_key: e.owner_key.clone(),
                    area: e.area,
                    already: written.iter().find(|(d, _, _)| *d == e.dwelling_id).map(|(_, _, ch)| *ch),
                    head_choice: written.iter()
                        .find(|(d, _, _)| electors.iter().any(|o| o.dwelling_id == *d && o.owner_key == e.owner_key))
                        .map(|(_, c, _)| *c),
                })).collect()
            };
            let now = t0 + chrono::Duration::hours(1);
            let run = |sizes: &mut dyn Iterator<Item = usize>| {
                let (mut written, mut verdicts, mut counts) = (Vec::new(), Vec::new(), Counts::of_electorate(&electors));
                let mut rest = &ballots[..];
                while !rest.is_empty() {
                    let (group, after) = rest.split_at(sizes.next().unwrap_or(1).min(rest.len()));
                    let (v, added) = admit_group(now, &read(&written), group);
                    for (b, ok) in group.iter().zip(&v) {
                        if ok.is_ok() { written.push((b.dwelling_id, b.choice, b.channel)); }
                    }
                    for part in [(&mut counts.agree, added.agree), (&mut counts.disagree, added.disagree), (&mut counts.abstain, added.abstain)] {
                        part.0.area += part.1.area;
                        part.0.owners += part.1.owners;
                    }
                    counts.ballots += added.ballots;
                    verdicts.extend(v);
                    rest = after;
                }
                (written, verdicts, counts)
            };
            let (one_by_one, verdicts_alone, counts_alone) = run(&mut std::iter::repeat(1));
            let (grouped, verdicts_grouped, counts_grouped) = run(&mut cuts.iter().copied().cycle());
            prop_assert_eq!(&verdicts_grouped, &verdicts_alone);
            prop_assert_eq!(&grouped, &one_by_one);
            prop_assert_eq!(counts_grouped, counts_alone);
            let cast: Vec<(i64, Choice)> = grouped.iter().map(|(d, c, _)| (*d, *c)).collect();
            prop_assert_eq!(counts_grouped, recount(&electors, &cast));
        }

        /// Exact boundary: n of d heads and areas agreeing passes at_least(n, d) and fails more_than(n, d).
        #[test]
        fn exact_boundaries(d in 2i64..12, n_raw in 1i64..12, area in 1i64..50_000) {
            let n = n_raw.min(d);
            let electors: Vec<Elector> = (0..d).map(|i| el(i, area, &format!("o{i}"))).collect();
            let ballots: Vec<(i64, Choice)> = (0..d).map(|i| (i, if i < n { Choice::Agree } else { Choice::Disagree })).collect();
            let at_least = RuleSet { ordinary: Threshold::at_least(n, d), quorum: Threshold::at_least(1, 1), special_matters: vec![], ..RuleSet::national() };
            prop_assert!(tally(&electors, &ballots, &at_least, Matter::Other).passed);
            if n < d {
                let more = RuleSet { ordinary: Threshold::more_than(n, d), ..at_least };
                prop_assert!(!tally(&electors, &ballots, &more, Matter::Other).passed);
            }
        }
    }
}
