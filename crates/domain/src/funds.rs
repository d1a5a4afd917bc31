//! Funds (资金): money in integer fen, the sources that pay, allocations handed down level by level
//! with what they may pay for (专款专用), disbursements checked against allocation, earmark and
//! contract, and a double-entry ledger whose balances are derived from its entries, never stored.

use crate::reason;
use crate::reasons::Reason;
use crate::regions::RegionCode;
use crate::schemes::Category;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An amount of money in fen (分), never negative once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Fen(pub i64);

impl Fen {
    /// Reads yuan as people write them ("1,234.5", "1234.56", "12万" is not taken): at most two
    /// decimals, not negative, below a trillion yuan.
    pub fn parse_yuan(s: &str) -> Result<Fen, Reason> {
        let t: String = s.trim().chars().filter(|c| *c != ',' && *c != '，' && !c.is_whitespace()).collect();
        if t.is_empty() {
            return Err(reason!("field.required"));
        }
        if t.starts_with('-') {
            return Err(reason!("estates.not_negative"));
        }
        let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
        if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(reason!("funds.not_amount_yuan"));
        }
        if frac.len() > 2 {
            return Err(reason!("funds.fraction_of_fen"));
        }
        if whole.len() > 12 {
            return Err(reason!("funds.too_large"));
        }
        let whole: i64 = whole.parse().map_err(|_| reason!("funds.not_amount_yuan"))?;
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        Ok(Fen(whole * 100 + frac))
    }

    /// The amount as yuan with two decimals.
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }

    /// Adds without overflow (amounts are far below i64's range; an overflow is a bug, refused).
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
}

/// Who pays: the sources of POLICY §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Central,
    Provincial,
    Local,
    SpecialBonds,
    Utility,
    Residents,
    SocialCapital,
    BankCredit,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 8] = [
        Source::Central,
        Source::Provincial,
        Source::Local,
        Source::SpecialBonds,
        Source::Utility,
        Source::Residents,
        Source::SocialCapital,
        Source::BankCredit,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Central => "central",
            Source::Provincial => "provincial",
            Source::Local => "local",
            Source::SpecialBonds => "special_bonds",
            Source::Utility => "utility",
            Source::Residents => "residents",
            Source::SocialCapital => "social_capital",
            Source::BankCredit => "bank_credit",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// Its name in reports.
    pub fn zh(self) -> &'static str {
        match self {
            Source::Central => "中央补助资金",
            Source::Provincial => "省级补助资金",
            Source::Local => "市县财政资金",
            Source::SpecialBonds => "地方政府专项债券",
            Source::Utility => "专营单位出资",
            Source::Residents => "居民出资",
            Source::SocialCapital => "社会资本",
            Source::BankCredit => "银行信贷",
        }
    }
}

/// An account of the ledger: where money sits or goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Account {
    /// Money promised by a source (the source's side of an allocation).
    Source { source: Source },
    /// Money allocated and not yet paid out.
    Allocation { id: i64 },
    /// Money paid to a contractor or supplier for a project.
    Paid { project_id: i64 },
    /// An estate's maintenance fund (维修资金).
    Upkeep { estate_id: i64 },
    /// Money owners put into their estate's fund: deposits and public revenue (parking, advertising).
    Revenue { estate_id: i64 },
    /// Money spent from an estate's maintenance fund.
    UpkeepSpent { estate_id: i64 },
}

impl Account {
    /// The account's code in storage (`source:central`, `allocation:12`, `paid:5`, `upkeep:3`).
    pub fn code(&self) -> String {
        match self {
            Account::Source { source } => format!("source:{}", source.as_str()),
            Account::Allocation { id } => format!("allocation:{id}"),
            Account::Paid { project_id } => format!("paid:{project_id}"),
            Account::Upkeep { estate_id } => format!("upkeep:{estate_id}"),
            Account::Revenue { estate_id } => format!("revenue:{estate_id}"),
            Account::UpkeepSpent { estate_id } => format!("upkeep_spent:{estate_id}"),
        }
    }

    /// Reads an account's code back.
    pub fn parse(code: &str) -> Option<Account> {
        let (kind, v) = code.split_once(':')?;
        let id = || v.parse::<i64>().ok();
        Some(match kind {
            "source" => Account::Source { source: Source::parse(v)? },
            "allocation" => Account::Allocation { id: id()? },
            "paid" => Account::Paid { project_id: id()? },
            "upkeep" => Account::Upkeep { estate_id: id()? },
            "revenue" => Account::Revenue { estate_id: id()? },
            "upkeep_spent" => Account::UpkeepSpent { estate_id: id()? },
            _ => return None,
        })
    }
}

/// One ledger movement: `amount` leaves `credit` and arrives in `debit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub debit: Account,
    pub credit: Account,
    pub amount: Fen,
}

/// Balances by account, derived from the entries: debits add, credits subtract.
pub fn balances<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> BTreeMap<Account, i64> {
    let mut b: BTreeMap<Account, i64> = BTreeMap::new();
    for e in entries {
        *b.entry(e.debit.clone()).or_default() += e.amount.0;
        *b.entry(e.credit.clone()).or_default() -= e.amount.0;
    }
    b
}

/// A correction is the reversing entry, never an edit.
pub fn reversal(e: &Entry) -> Entry {
    Entry { debit: e.credit.clone(), credit: e.debit.clone(), amount: e.amount }
}

/// The allocation an entry funded (money into it from a source, a residents' contribution, or a
/// parent allocation); reversing such an entry lowers what the allocation was given.
pub fn funded_allocation(e: &Entry) -> Option<i64> {
    match (&e.debit, &e.credit) {
        (Account::Allocation { id }, Account::Source { .. } | Account::Allocation { .. }) => Some(*id),
        _ => None,
    }
}

/// May an entry be reversed, given what its debit account holds now? Money that has moved on
/// (an allocation already paid out, say) cannot be taken back from an account that no longer has it;
/// sources and revenue are where money comes from and may run below zero.
pub fn check_reversal(e: &Entry, debit_balance: Fen) -> Result<(), Refusal> {
    let holds_money = !matches!(e.debit, Account::Source { .. } | Account::Revenue { .. });
    if holds_money && debit_balance < e.amount {
        return Err(Refusal::ReversalOverdraws { account: e.debit.code(), left: debit_balance.yuan(), asked: e.amount.yuan() });
    }
    Ok(())
}

/// What an allocation may pay for: item categories of the scheme (empty: any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earmark {
    pub categories: Vec<Category>,
    /// Projects it may pay (empty: any project under the region it was given to).
    pub projects: Vec<i64>,
}

impl Earmark {
    /// May this earmark pay for a category in a project?
    pub fn allows(&self, category: Category, project_id: i64) -> bool {
        (self.categories.is_empty() || self.categories.contains(&category))
            && (self.projects.is_empty() || self.projects.contains(&project_id))
    }
}

/// Why money may not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotPositive,
    Overspend {
        left: String,
        asked: String,
    },
    ExceedsParent {
        left: String,
    },
    Earmarked {
        category: &'static str,
        project: i64,
    },
    ExceedsContract {
        left: String,
        asked: String,
    },
    OutsideRegion,
    ProjectClosed,
    BasisNotMet(Reason),
    NeedsDecision,
    DecisionUnfit(Reason),
    ReversalOverdraws {
        account: String,
        left: String,
        asked: String,
    },
    UpkeepShort {
        left: String,
        asked: String,
    },
    BeyondDecision {
        allowed: String,
        spent: String,
        asked: String,
    },
    /// `did` and `now` are codes of the two acts (`requested`/`approve`, `entered`/`reverse`).
    SameHands {
        who: String,
        did: &'static str,
        now: &'static str,
    },
    PasswordKeptBy {
        who: String,
        other: String,
    },
    /// The account still signs in with a password someone else set (who therefore knows it).
    PasswordNotOwn {
        who: String,
    },
}

crate::refusal_display!(Refusal);

impl Refusal {
    /// The refusal's stable code and parameters.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::NotPositive => reason!("funds.not_positive"),
            Refusal::Overspend { left, asked } => reason!("funds.overspend", left = left, asked = asked),
            Refusal::ExceedsParent { left } => reason!("funds.exceeds_parent", left = left),
            Refusal::Earmarked { category, project } => reason!("funds.earmarked", category = category, project = project),
            Refusal::ExceedsContract { left, asked } => reason!("funds.exceeds_contract", left = left, asked = asked),
            Refusal::OutsideRegion => reason!("funds.outside_region"),
            Refusal::ProjectClosed => reason!("funds.project_closed"),
            Refusal::BasisNotMet(r) | Refusal::DecisionUnfit(r) => r.clone(),
            Refusal::NeedsDecision => reason!("funds.needs_decision"),
            Refusal::ReversalOverdraws { account, left, asked } => {
                reason!("funds.reversal_overdraws", account = account, left = left, asked = asked)
            }
            Refusal::UpkeepShort { left, asked } => reason!("funds.upkeep_short", left = left, asked = asked),
            Refusal::BeyondDecision { allowed, spent, asked } => {
                reason!("funds.beyond_decision", allowed = allowed, spent = spent, asked = asked)
            }
            Refusal::SameHands { who, did, now: _ } if *did == "entered" => reason!("funds.same_hands_reverse", who = who),
            Refusal::SameHands { who, .. } => reason!("funds.same_hands_approve", who = who),
            Refusal::PasswordKeptBy { who, other } => reason!("funds.password_kept_by", who = who, other = other),
            Refusal::PasswordNotOwn { who } => reason!("funds.password_not_own", who = who),
        }
    }
}

/// Are two accounts two pairs of eyes? Not the same account, and neither ever set the other's
/// password: whoever set it knew it, and could have "chosen" the user's own password too (found by
/// the attacker's trial), so the mark never fades. `*_setters` are everyone who could know that
/// account's password: who ever set it, who set theirs, and so on up the chain (the store follows
/// it). Names compare trimmed, without case.
pub fn independent_hands(first: &str, first_setters: &[&str], second: &str, second_setters: &[&str]) -> bool {
    let same = |a: &str, b: &str| !a.trim().is_empty() && a.trim().eq_ignore_ascii_case(b.trim());
    !same(first, second) && !first_setters.iter().any(|s| same(s, second)) && !second_setters.iter().any(|s| same(s, first))
}

/// Four eyes on money (POLICY, DESIGN "Lessons"): the one who asked for a payment never approves
/// it, and the one who entered a movement never reverses it. Accounts are compared by user name
/// (what the records keep), trimmed and without regard to case.
pub fn check_four_eyes(first: &str, second: &str, did: &'static str, now: &'static str) -> Result<(), Refusal> {
    if first.trim().eq_ignore_ascii_case(second.trim()) {
        return Err(Refusal::SameHands { who: second.trim().to_string(), did, now });
    }
    Ok(())
}

/// What is known when a payment is asked for.
#[derive(Debug, Clone)]
pub struct PaymentContext {
    pub allocation_left: Fen,
    pub earmark: Earmark,
    pub contract_left: Fen,
    pub project_open: bool,
    /// The project lies in the region the allocation was given to.
    pub project_in_region: bool,
}

/// May `amount` be paid from the allocation for `category` in `project_id`?
pub fn check_payment(ctx: &PaymentContext, project_id: i64, category: Category, amount: Fen) -> Result<(), Refusal> {
    if amount.0 <= 0 {
        return Err(Refusal::NotPositive);
    }
    if !ctx.project_open {
        return Err(Refusal::ProjectClosed);
    }
    // Money given to a region is for that region's projects (专款专用 applies to places too).
    if !ctx.project_in_region {
        return Err(Refusal::OutsideRegion);
    }
    if !ctx.earmark.allows(category, project_id) {
        return Err(Refusal::Earmarked { category: category.as_str(), project: project_id });
    }
    if amount > ctx.allocation_left {
        return Err(Refusal::Overspend { left: ctx.allocation_left.yuan(), asked: amount.yuan() });
    }
    if amount > ctx.contract_left {
        return Err(Refusal::ExceedsContract { left: ctx.contract_left.yuan(), asked: amount.yuan() });
    }
    Ok(())
}

/// May a child allocation of `amount` be cut from a parent with `parent_left` unallocated?
pub fn check_sub_allocation(parent_left: Fen, amount: Fen) -> Result<(), Refusal> {
    if amount.0 <= 0 {
        return Err(Refusal::NotPositive);
    }
    if amount > parent_left {
        return Err(Refusal::ExceedsParent { left: parent_left.yuan() });
    }
    Ok(())
}

/// Money goes down the ladder a level at a time, from the region it came to: a region gives what
/// was given to it (a parent allocation of its own region, or a new one from a source) to itself
/// or to a region one level down, never below a county (streets and communities pay no projects).
/// Errors name the field: `parent_id` for another region's money, else the region given to.
pub fn may_give(own: &RegionCode, parent_region: Option<&RegionCode>, to: &RegionCode) -> Result<(), (&'static str, crate::Reason)> {
    if let Some(p) = parent_region {
        if p != own {
            return Err(("parent_id", reason!("funds.not_yours")));
        }
    }
    if to.level() > crate::regions::Level::County {
        return Err(("region_code", reason!("funds.below_county")));
    }
    if to != own && own.child_containing(to).as_ref() != Some(to) {
        return Err(("region_code", reason!("funds.one_level_down")));
    }
    Ok(())
}

/// The earmark and year a child allocation takes from its parent: it may narrow the parent's
/// earmark (fewer categories, fewer projects) but never widen it, an empty list inherits the
/// parent's, and the budget year is the parent's. A residents' pool (`parent_pool_of`) is never cut
/// from: residents' money pays only the project it was given for.
pub fn child_earmark(
    parent: &Earmark,
    parent_year: i64,
    parent_pool_of: Option<i64>,
    child: &Earmark,
    child_year: i64,
) -> Result<Earmark, ValidationErrors> {
    let mut e = ValidationErrors::default();
    if parent_pool_of.is_some() {
        e.push("parent_id", "", reason!("funds.pool_not_cut"));
        return Err(e);
    }
    if child_year != parent_year {
        e.push("year", child_year, reason!("funds.parent_year", year = parent_year));
    }
    let categories = if child.categories.is_empty() {
        parent.categories.clone()
    } else {
        if !parent.categories.is_empty() {
            for (i, c) in child.categories.iter().enumerate() {
                if !parent.categories.contains(c) {
                    e.push(&format!("categories[{i}]"), c.as_str(), reason!("funds.earmark_wider"));
                }
            }
        }
        child.categories.clone()
    };
    let projects = if child.projects.is_empty() {
        parent.projects.clone()
    } else {
        if !parent.projects.is_empty() {
            for (i, p) in child.projects.iter().enumerate() {
                if !parent.projects.contains(p) {
                    e.push(&format!("projects[{i}]"), p, reason!("funds.earmark_wider"));
                }
            }
        }
        child.projects.clone()
    };
    e.into_result(Earmark { categories, projects })
}

/// The canonical text of a ledger entry for its hash (`chain::link`).
pub fn entry_text(seq: i64, debit: &str, credit: &str, amount: i64, memo: &str, at: &str) -> String {
    format!("{seq}|{debit}|{credit}|{amount}|{memo}|{at}")
}

/// Every column of an entry that a balance or a report reads, besides those of [`entry_text`].
#[derive(Debug, Clone, Copy)]
pub struct EntryContext<'a> {
    pub source: &'a str,
    pub project_id: Option<i64>,
    pub estate_id: Option<i64>,
    pub reverses: Option<i64>,
    pub entered_by: &'a str,
}

/// The text hashed for an entry written from migration 28 on (version 2): [`entry_text`] and its
/// context, so that changing an entry's source, project, estate, reversal or author breaks the
/// chain too. The version is part of the text: relabelling an entry as version 1 breaks it as well.
pub fn entry_text_v2(seq: i64, debit: &str, credit: &str, amount: i64, memo: &str, at: &str, c: &EntryContext<'_>) -> String {
    let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "v2|{}|{}|{}|{}|{}|{}",
        entry_text(seq, debit, credit, amount, memo, at),
        c.source,
        id(c.project_id),
        id(c.estate_id),
        id(c.reverses),
        c.entered_by
    )
}

/// An allocation as asked for: from a source (top level) or cut from a parent allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocationInput {
    pub parent_id: Option<i64>,
    /// The region it is given to (a county, say, or the project's county).
    pub region_code: String,
    /// The source (top level only; a child keeps its parent's).
    pub source: String,
    pub year: i64,
    pub purpose: String,
    /// Yuan, at most two decimals.
    pub amount: String,
    /// Scheme categories it may pay for (empty: any).
    pub categories: Vec<String>,
    /// Projects it may pay (empty: any in its region).
    pub projects: Vec<i64>,
}

/// An allocation checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAllocation {
    pub source: Option<Source>,
    pub amount: Fen,
    pub earmark: Earmark,
}

impl AllocationInput {
    /// Checks the fields (each problem named).
    pub fn validate(&self) -> Result<ValidAllocation, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let source = Source::parse(&self.source);
        if self.parent_id.is_none() && source.is_none() {
            e.push("source", &self.source, reason!("funds.source_kind"));
        }
        if !(2000..=2100).contains(&self.year) {
            e.push("year", self.year, reason!("field.year_form"));
        }
        if self.purpose.trim().is_empty() || self.purpose.chars().count() > 200 {
            e.push("purpose", &self.purpose, reason!("field.length", max = 200));
        }
        let amount = amount_field("amount", &self.amount, &mut e);
        let mut categories = Vec::new();
        for (i, c) in self.categories.iter().enumerate() {
            match Category::parse(c) {
                Some(c) => categories.push(c),
                None => e.push(&format!("categories[{i}]"), c, reason!("field.category_kind")),
            }
        }
        match amount {
            Some(amount) if e.is_empty() => {
                Ok(ValidAllocation { source, amount, earmark: Earmark { categories, projects: self.projects.clone() } })
            }
            _ => Err(e),
        }
    }
}

/// Checks an amount field given in yuan.
pub fn amount_field(field: &str, yuan: &str, errors: &mut ValidationErrors) -> Option<Fen> {
    match Fen::parse_yuan(yuan) {
        Ok(f) if f.0 > 0 => Some(f),
        Ok(_) => {
            errors.push(field, yuan, reason!("field.more_than_0"));
            None
        }
        Err(reason) => {
            errors.push(field, yuan, reason);
            None
        }
    }
}

/// What a disbursement pays for: a finished schedule node (milestone) or a passed inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Basis {
    /// A schedule node of one of the project's estates, finished.
    Milestone { node_id: i64 },
    /// An inspection at one of the project's estates, passed.
    Inspection { inspection_id: i64 },
}

impl Basis {
    /// Reads `milestone:12` or `inspection:5`.
    pub fn parse(s: &str) -> Option<Basis> {
        let (kind, id) = s.trim().split_once(':')?;
        let id: i64 = id.trim().parse().ok().filter(|i| *i > 0)?;
        match kind {
            "milestone" => Some(Basis::Milestone { node_id: id }),
            "inspection" => Some(Basis::Inspection { inspection_id: id }),
            _ => None,
        }
    }

    /// The code used in storage and the API.
    pub fn code(self) -> String {
        match self {
            Basis::Milestone { node_id } => format!("milestone:{node_id}"),
            Basis::Inspection { inspection_id } => format!("inspection:{inspection_id}"),
        }
    }
}

/// What storage found about a payment's basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasisFacts {
    /// The node or inspection belongs to one of the project's estates.
    pub in_project: bool,
    /// The node is finished (100 %) or the inspection passed.
    pub met: bool,
}

/// Is a payment's basis met?
pub fn check_basis(basis: Basis, facts: Option<BasisFacts>) -> Result<(), Refusal> {
    let (kind, id) = match basis {
        Basis::Milestone { node_id } => ("schedule node", node_id),
        Basis::Inspection { inspection_id } => ("inspection", inspection_id),
    };
    match facts {
        None => Err(Refusal::BasisNotMet(reason!("funds.basis_missing", kind = kind, id = id))),
        Some(f) if !f.in_project => Err(Refusal::BasisNotMet(reason!("funds.basis_elsewhere", kind = kind, id = id))),
        Some(f) if !f.met => Err(Refusal::BasisNotMet(match basis {
            Basis::Milestone { .. } => reason!("funds.basis_node_unfinished", kind = kind, id = id),
            Basis::Inspection { .. } => reason!("funds.basis_inspection_failed", kind = kind, id = id),
        })),
        Some(_) => Ok(()),
    }
}

/// A line of a project's co-funding plan (政府补一点、市场筹一点、居民拿一点) as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanLineInput {
    /// Who pays (a source code).
    pub source: String,
    /// The scheme category it pays for: basic, improvement, upgrading, or empty for any.
    pub category: String,
    /// What it pays for, in words (a scheme item, "电梯", "供水管网").
    pub item: String,
    /// Yuan, at most two decimals.
    pub amount: String,
    /// A reward subsidy (以奖代补) from a government source to the utility companies that pay for their own networks.
    pub reward: bool,
}

/// A plan line checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    pub source: Source,
    pub category: Option<Category>,
    pub item: String,
    pub amount: Fen,
    pub reward: bool,
}

/// The government's own sources (the ones that may pay a reward subsidy).
pub fn is_government(s: Source) -> bool {
    matches!(s, Source::Central | Source::Provincial | Source::Local | Source::SpecialBonds)
}

/// Checks a whole plan (each problem named `lines[i].field`): rewards come from a government source
/// and never exceed what the utility companies pay themselves.
pub fn validate_plan(lines: &[PlanLineInput]) -> Result<Vec<PlanLine>, ValidationErrors> {
    let mut e = ValidationErrors::default();
    if lines.len() > 500 {
        e.push("lines", lines.len(), reason!("funds.too_many_lines"));
        return Err(e);
    }
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        let source = Source::parse(&l.source);
        if source.is_none() {
            e.push(&f("source"), &l.source, reason!("funds.source_kind"));
        }
        let category = if l.category.trim().is_empty() { Ok(None) } else { Category::parse(&l.category).map(Some).ok_or(()) };
        if category.is_err() {
            e.push(&f("category"), &l.category, reason!("funds.category_kind"));
        }
        if l.item.chars().count() > 100 {
            e.push(&f("item"), &l.item, reason!("field.at_most_chars", max = 100));
        }
        let amount = amount_field(&f("amount"), &l.amount, &mut e);
        if let (Some(s), true) = (source, l.reward) {
            if !is_government(s) {
                e.push(&f("source"), &l.source, reason!("funds.reward_source_kind"));
            }
        }
        if let (Some(source), Ok(category), Some(amount)) = (source, category, amount) {
            out.push(PlanLine { source, category, item: l.item.trim().to_string(), amount, reward: l.reward });
        }
    }
    let utility: i64 = out.iter().filter(|l| l.source == Source::Utility && !l.reward).map(|l| l.amount.0).sum();
    let rewards: i64 = out.iter().filter(|l| l.reward).map(|l| l.amount.0).sum();
    if rewards > utility {
        e.push("lines", Fen(rewards).yuan(), reason!("funds.reward_exceeds_utility", fen = Fen(utility).yuan()));
    }
    e.into_result(out)
}

/// How a resident's contribution is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    Cash,
    /// From the dwelling's share of the maintenance fund (维修资金).
    MaintenanceFund,
    /// Housing provident fund (住房公积金).
    ProvidentFund,
    BankCredit,
}

impl PayMethod {
    /// Every method.
    pub const ALL: [PayMethod; 4] = [PayMethod::Cash, PayMethod::MaintenanceFund, PayMethod::ProvidentFund, PayMethod::BankCredit];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PayMethod::Cash => "cash",
            PayMethod::MaintenanceFund => "maintenance_fund",
            PayMethod::ProvidentFund => "provident_fund",
            PayMethod::BankCredit => "bank_credit",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<PayMethod> {
        PayMethod::ALL.into_iter().find(|m| m.as_str() == s.trim())
    }
}

/// A resident contribution as typed: one dwelling's, or one building's together (a lift, say).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContributionInput {
    pub estate_id: i64,
    pub dwelling_id: Option<i64>,
    pub building_id: Option<i64>,
    /// For a building's contribution: how many of its households took part.
    pub households: Option<i64>,
    /// Yuan, at most two decimals.
    pub amount: String,
    /// cash, maintenance_fund, provident_fund or bank_credit.
    pub method: String,
    /// What it pays for ("加装电梯").
    pub purpose: String,
    /// The day received (YYYY-MM-DD).
    pub paid_on: String,
}

/// A contribution checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidContribution {
    pub amount: Fen,
    pub method: PayMethod,
    /// Households it stands for (1 for a dwelling).
    pub households: i64,
    pub paid_on: chrono::NaiveDate,
}

impl ContributionInput {
    /// Checks the fields (each problem named); exactly one of dwelling and building.
    pub fn validate(&self) -> Result<ValidContribution, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let households = match (self.dwelling_id, self.building_id) {
            (Some(_), None) => 1,
            (None, Some(_)) => match self.households {
                Some(h) if (1..=10_000).contains(&h) => h,
                _ => {
                    e.push("households", self.households.unwrap_or(0), reason!("funds.households_required"));
                    0
                }
            },
            _ => {
                e.push("dwelling_id", self.dwelling_id.unwrap_or(0), reason!("funds.dwelling_or_building"));
                0
            }
        };
        let amount = amount_field("amount", &self.amount, &mut e);
        let method = PayMethod::parse(&self.method);
        if method.is_none() {
            e.push("method", &self.method, reason!("funds.pay_method_kind"));
        }
        if self.purpose.chars().count() > 100 {
            e.push("purpose", &self.purpose, reason!("field.at_most_chars", max = 100));
        }
        let paid_on = chrono::NaiveDate::parse_from_str(self.paid_on.trim(), "%Y-%m-%d").ok();
        if paid_on.is_none() {
            e.push("paid_on", &self.paid_on, reason!("field.date"));
        }
        match (amount, method, paid_on) {
            (Some(amount), Some(method), Some(paid_on)) if e.is_empty() => Ok(ValidContribution { amount, method, households, paid_on }),
            _ => Err(e),
        }
    }
}

/// How many of the households took part, and the share (0–100, one decimal).
pub fn participation(households: i64, contributed: i64) -> (i64, i64, f64) {
    let contributed = contributed.clamp(0, households.max(0));
    let pct = if households > 0 { (contributed as f64 * 1000.0 / households as f64).round() / 10.0 } else { 0.0 };
    (households, contributed, pct)
}

/// A project's (or a region's) money as planned, allocated and paid, by source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FundsPicture {
    /// The plan's shares by source (rewards not included).
    pub planned: BTreeMap<Source, i64>,
    /// Reward subsidies planned, by government source.
    pub rewards: BTreeMap<Source, i64>,
    /// Allocations that name it, by source (residents' contributions arrive as their own allocation).
    pub allocated: BTreeMap<Source, i64>,
    /// Paid out, by source.
    pub paid: BTreeMap<Source, i64>,
    /// The contract sum, when recorded.
    pub contract: Option<i64>,
    /// The schemes' estimate, when there is one.
    pub estimate: Option<i64>,
}

/// One difference between plan, allocation and payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs: plan_vs_estimate, plan_vs_contract, under_allocated, over_allocated, paid_over_plan, paid_unplanned,
    /// paid_over_allocated.
    pub kind: &'static str,
    pub source: Option<Source>,
    /// What was expected, fen.
    pub expected: i64,
    /// What is there, fen.
    pub actual: i64,
}

/// Every difference between plan, allocation and payment (empty when they agree).
pub fn reconcile(p: &FundsPicture) -> Vec<Difference> {
    let mut out = Vec::new();
    let plan_total: i64 = p.planned.values().sum();
    if let Some(est) = p.estimate {
        if est != plan_total {
            out.push(Difference { kind: "plan_vs_estimate", source: None, expected: est, actual: plan_total });
        }
    }
    if let Some(c) = p.contract {
        if c > plan_total {
            out.push(Difference { kind: "plan_vs_contract", source: None, expected: c, actual: plan_total });
        }
    }
    for s in Source::ALL {
        let planned = p.planned.get(&s).copied().unwrap_or(0) + p.rewards.get(&s).copied().unwrap_or(0);
        let arrived = p.allocated.get(&s).copied().unwrap_or(0);
        let paid = p.paid.get(&s).copied().unwrap_or(0);
        if arrived < planned {
            out.push(Difference { kind: "under_allocated", source: Some(s), expected: planned, actual: arrived });
        } else if arrived > planned {
            out.push(Difference { kind: "over_allocated", source: Some(s), expected: planned, actual: arrived });
        }
        if planned == 0 && paid > 0 {
            out.push(Difference { kind: "paid_unplanned", source: Some(s), expected: 0, actual: paid });
        } else if paid > planned {
            out.push(Difference { kind: "paid_over_plan", source: Some(s), expected: planned, actual: paid });
        }
        if paid > arrived {
            out.push(Difference { kind: "paid_over_allocated", source: Some(s), expected: arrived, actual: paid });
        }
    }
    out
}

/// The row of `region`'s funds report a payment from money allocated to `paying` counts in: the
/// region one level down that holds `paying`, or `region` itself for money given to it directly
/// (or from outside it). A county's project paid from its city's money counts at the city.
pub fn paid_at(region: &RegionCode, paying: &RegionCode) -> RegionCode {
    region.child_containing(paying).unwrap_or_else(|| region.clone())
}

/// Paid as a share of allocated (0–100+, one decimal); none when nothing was allocated.
pub fn disbursement_rate(paid: i64, allocated: i64) -> Option<f64> {
    (allocated > 0).then(|| (paid as f64 * 1000.0 / allocated as f64).round() / 10.0)
}

/// Public revenue and deposits credited to an estate's maintenance fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevenueKind {
    /// Owners' deposits (维修资金缴存).
    Deposit,
    /// Parking fees on common land (停车收益).
    Parking,
    /// Advertising space (广告收益).
    Advertising,
    Other,
}

impl RevenueKind {
    /// Every kind.
    pub const ALL: [RevenueKind; 4] = [RevenueKind::Deposit, RevenueKind::Parking, RevenueKind::Advertising, RevenueKind::Other];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RevenueKind::Deposit => "deposit",
            RevenueKind::Parking => "parking",
            RevenueKind::Advertising => "advertising",
            RevenueKind::Other => "other",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<RevenueKind> {
        RevenueKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// What storage found about the owners' decision named for an upkeep spending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionFacts {
    pub same_estate: bool,
    /// Its matter is using the maintenance fund.
    pub on_the_fund: bool,
    /// Closed and passed.
    pub passed: bool,
    /// What the owners allowed to be spent under it (none: no amount was put to the vote).
    pub allowed: Option<Fen>,
    /// What was spent under it already.
    pub spent: Fen,
}

/// May `amount` be spent from a maintenance fund holding `balance`? The owners decide its use
/// (Civil Code Art. 278); an emergency repair may be paid first (and is shown as such).
pub fn check_upkeep_spending(balance: Fen, amount: Fen, emergency: bool, decision: Option<DecisionFacts>) -> Result<(), Refusal> {
    if amount.0 <= 0 {
        return Err(Refusal::NotPositive);
    }
    match decision {
        None if !emergency => return Err(Refusal::NeedsDecision),
        Some(d) if !d.same_estate => return Err(Refusal::DecisionUnfit(reason!("funds.decision_other_estate"))),
        Some(d) if !d.on_the_fund => return Err(Refusal::DecisionUnfit(reason!("funds.decision_not_fund"))),
        Some(d) if !d.passed => return Err(Refusal::DecisionUnfit(reason!("funds.decision_not_passed"))),
        Some(DecisionFacts { allowed: Some(allowed), spent, .. }) if spent.0 + amount.0 > allowed.0 => {
            return Err(Refusal::BeyondDecision { allowed: allowed.yuan(), spent: spent.yuan(), asked: amount.yuan() })
        }
        _ => {}
    }
    if amount > balance {
        return Err(Refusal::UpkeepShort { left: balance.yuan(), asked: amount.yuan() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_counts_at_the_row_below_the_region_that_holds_its_paying_region() {
        let code = |c: &str| RegionCode::parse(c).unwrap();
        let (province, city, county) = (code("350000000000"), code("350500000000"), code("350521000000"));
        assert_eq!(paid_at(&province, &county), city);
        assert_eq!(paid_at(&city, &county), county);
        assert_eq!(paid_at(&city, &city), city, "given to the city directly");
        assert_eq!(paid_at(&county, &province), county, "from outside the region asked for");
        assert_eq!(paid_at(&RegionCode::country(), &county), province);
    }

    #[test]
    fn money_goes_down_a_level_at_a_time_from_the_region_it_came_to() {
        let rc = |c: &str| RegionCode::parse(c).unwrap();
        let (country, fujian, quanzhou, hui_an) = (rc("000000000000"), rc("350000000000"), rc("350500000000"), rc("350521000000"));
        assert!(may_give(&country, None, &fujian).is_ok(), "the ministry to a province");
        assert!(may_give(&fujian, Some(&fujian), &quanzhou).is_ok(), "the province passes on what came to it");
        assert!(may_give(&hui_an, Some(&hui_an), &hui_an).is_ok(), "a county keeps a share for its projects");
        assert_eq!(may_give(&country, None, &hui_an).unwrap_err().1.code, "funds.one_level_down");
        assert_eq!(may_give(&fujian, Some(&quanzhou), &hui_an).unwrap_err().0, "parent_id", "the city's money is the city's to pass on");
        assert_eq!(may_give(&hui_an, None, &rc("350521100000")).unwrap_err().1.code, "funds.below_county");
    }

    #[test]
    fn a_child_allocation_narrows_its_parents_earmark_never_widens_it() {
        use Category::*;
        let parent = Earmark { categories: vec![Basic], projects: vec![47] };
        let inherited = child_earmark(&parent, 2024, None, &Earmark::default(), 2024).unwrap();
        assert_eq!(inherited, parent, "an empty earmark takes the parent's");
        let e = child_earmark(&parent, 2024, None, &Earmark { categories: vec![Upgrading], projects: vec![1] }, 2000).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["year", "categories[0]", "projects[0]"]);
        let open = Earmark::default();
        let narrowed = child_earmark(&open, 2024, None, &Earmark { categories: vec![Basic], projects: vec![] }, 2024).unwrap();
        assert_eq!(narrowed.categories, vec![Basic], "an open parent may be narrowed");
        assert_eq!(child_earmark(&open, 2024, Some(3), &open, 2024).unwrap_err().0[0].code, "funds.pool_not_cut");
    }

    #[test]
    fn version_two_covers_the_context() {
        let c = EntryContext { source: "central", project_id: Some(3), estate_id: None, reverses: None, entered_by: "county_staff" };
        let t = entry_text_v2(1, "allocation:1", "source:central", 100, "拨付", "2026-01-01T00:00:00Z", &c);
        assert!(t.starts_with("v2|1|allocation:1|"));
        let other = EntryContext { source: "local", ..c };
        assert_ne!(t, entry_text_v2(1, "allocation:1", "source:central", 100, "拨付", "2026-01-01T00:00:00Z", &other));
        let by = EntryContext { entered_by: "someone", ..c };
        assert_ne!(t, entry_text_v2(1, "allocation:1", "source:central", 100, "拨付", "2026-01-01T00:00:00Z", &by));
    }

    #[test]
    fn an_account_whose_password_its_colleague_set_is_not_a_second_pair_of_eyes() {
        assert!(independent_hands("county_admin", &["system"], "county_staff", &[]));
        assert!(!independent_hands("county_admin", &["system"], "sock2", &["county_admin"]), "the admin made sock2's password");
        assert!(!independent_hands("sock2", &["county_admin"], "county_admin", &["system"]));
        assert!(!independent_hands("sock2", &["city_admin", "County_Admin "], "county_admin", &[]), "once is enough");
        assert!(!independent_hands("a", &[], "A ", &[]));
        assert!(independent_hands("a", &[""], "b", &[]));
    }

    #[test]
    fn the_one_who_asks_never_approves() {
        assert!(check_four_eyes("county_staff", "county_admin", "asked for", "approve").is_ok());
        assert!(matches!(check_four_eyes("county_staff", " County_Staff", "asked for", "approve"), Err(Refusal::SameHands { .. })));
    }
    use proptest::prelude::*;

    #[test]
    fn amounts_in_yuan_become_whole_fen() {
        assert_eq!(Fen::parse_yuan("1,234.5"), Ok(Fen(123_450)));
        assert_eq!(Fen::parse_yuan("0.01"), Ok(Fen(1)));
        assert_eq!(Fen::parse_yuan("12"), Ok(Fen(1_200)));
        assert_eq!(Fen::parse_yuan("1.005").unwrap_err(), "has a fraction of a fen (more than two decimals)");
        assert_eq!(Fen::parse_yuan("-5").unwrap_err(), "must not be negative");
        assert!(Fen::parse_yuan("12万").is_err());
        assert_eq!(Fen(123_450).yuan(), "1234.50");
    }

    #[test]
    fn payments_are_checked_against_allocation_earmark_and_contract() {
        let ctx = PaymentContext {
            allocation_left: Fen(100_000),
            earmark: Earmark { categories: vec![Category::Basic], projects: vec![] },
            contract_left: Fen(80_000),
            project_open: true,
            project_in_region: true,
        };
        assert!(check_payment(&ctx, 1, Category::Basic, Fen(50_000)).is_ok());
        assert_eq!(check_payment(&ctx, 1, Category::Basic, Fen(0)), Err(Refusal::NotPositive));
        assert!(matches!(check_payment(&ctx, 1, Category::Upgrading, Fen(1)), Err(Refusal::Earmarked { .. })));
        assert!(matches!(check_payment(&ctx, 1, Category::Basic, Fen(100_001)), Err(Refusal::Overspend { .. })));
        assert!(matches!(check_payment(&ctx, 1, Category::Basic, Fen(90_000)), Err(Refusal::ExceedsContract { .. })));
        let closed = PaymentContext { project_open: false, ..ctx.clone() };
        assert_eq!(check_payment(&closed, 1, Category::Basic, Fen(1)), Err(Refusal::ProjectClosed));
        let elsewhere = PaymentContext { project_in_region: false, ..ctx };
        assert_eq!(check_payment(&elsewhere, 1, Category::Basic, Fen(1)), Err(Refusal::OutsideRegion));
        assert!(matches!(check_sub_allocation(Fen(10), Fen(11)), Err(Refusal::ExceedsParent { .. })));
    }

    #[test]
    fn a_reversal_never_takes_money_an_account_no_longer_holds() {
        let allocated =
            Entry { debit: Account::Allocation { id: 1 }, credit: Account::Source { source: Source::Central }, amount: Fen(100) };
        assert!(check_reversal(&allocated, Fen(100)).is_ok());
        assert!(matches!(check_reversal(&allocated, Fen(99)), Err(Refusal::ReversalOverdraws { .. })));
        let paid = Entry { debit: Account::Paid { project_id: 1 }, credit: Account::Allocation { id: 1 }, amount: Fen(100) };
        assert!(check_reversal(&paid, Fen(100)).is_ok());
        let refund = reversal(&allocated);
        assert!(check_reversal(&refund, Fen(-5)).is_ok());
    }

    #[test]
    fn money_into_an_allocation_is_its_funding() {
        let from_source =
            Entry { debit: Account::Allocation { id: 2 }, credit: Account::Source { source: Source::Residents }, amount: Fen(1) };
        let from_parent = Entry { debit: Account::Allocation { id: 3 }, credit: Account::Allocation { id: 2 }, amount: Fen(1) };
        let paid = Entry { debit: Account::Paid { project_id: 1 }, credit: Account::Allocation { id: 3 }, amount: Fen(1) };
        assert_eq!(funded_allocation(&from_source), Some(2));
        assert_eq!(funded_allocation(&from_parent), Some(3));
        assert_eq!(funded_allocation(&paid), None);
        assert_eq!(funded_allocation(&reversal(&paid)), None, "a payment taken back is not new funding");
    }

    #[test]
    fn accounts_read_back_from_their_codes() {
        for a in [
            Account::Source { source: Source::SpecialBonds },
            Account::Allocation { id: 3 },
            Account::Paid { project_id: 4 },
            Account::Upkeep { estate_id: 5 },
            Account::Revenue { estate_id: 6 },
            Account::UpkeepSpent { estate_id: 7 },
        ] {
            assert_eq!(Account::parse(&a.code()), Some(a));
        }
        assert_eq!(Account::parse("paid:x"), None);
        assert_eq!(Account::parse("nowhere:1"), None);
    }

    #[test]
    fn a_payment_needs_a_finished_milestone_or_a_passed_inspection_of_its_project() {
        let m = Basis::parse("milestone:12").unwrap();
        assert_eq!(m, Basis::Milestone { node_id: 12 });
        assert_eq!(Basis::parse(&m.code()), Some(m));
        assert_eq!(Basis::parse("advance:1"), None);
        assert_eq!(Basis::parse("inspection:0"), None);
        assert!(check_basis(m, Some(BasisFacts { in_project: true, met: true })).is_ok());
        assert_eq!(
            check_basis(m, Some(BasisFacts { in_project: true, met: false })).unwrap_err().to_string(),
            "the payment's basis is not met: schedule node 12 is not finished"
        );
        let i = Basis::Inspection { inspection_id: 5 };
        assert!(check_basis(i, Some(BasisFacts { in_project: true, met: false })).unwrap_err().to_string().contains("did not pass"));
        assert!(check_basis(i, Some(BasisFacts { in_project: false, met: true })).unwrap_err().to_string().contains("not in this project"));
        assert!(check_basis(i, None).unwrap_err().to_string().contains("does not exist"));
    }

    fn line(source: &str, amount: &str, reward: bool) -> PlanLineInput {
        PlanLineInput { source: source.into(), amount: amount.into(), reward, ..Default::default() }
    }

    #[test]
    fn a_plan_names_each_bad_line_and_keeps_rewards_within_what_utilities_pay() {
        let ok = validate_plan(&[line("central", "100", false), line("utility", "50", false), line("local", "20", true)]).unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[2].amount, Fen(2_000));
        let e = validate_plan(&[line("nobody", "1", false), PlanLineInput { category: "gold".into(), ..line("local", "-1", false) }])
            .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["lines[0].source", "lines[1].category", "lines[1].amount"]);
        let e = validate_plan(&[line("residents", "10", true)]).unwrap_err();
        assert_eq!(e.0[0].field, "lines[0].source");
        let e = validate_plan(&[line("utility", "10", false), line("local", "10.01", true)]).unwrap_err();
        assert_eq!(e.0[0].field, "lines");
    }

    #[test]
    fn a_contribution_is_one_dwellings_or_one_buildings_with_its_households() {
        let c = ContributionInput {
            estate_id: 1,
            dwelling_id: Some(4),
            amount: "3000".into(),
            method: "provident_fund".into(),
            paid_on: "2026-05-01".into(),
            ..Default::default()
        };
        let v = c.validate().unwrap();
        assert_eq!((v.amount, v.method, v.households), (Fen(300_000), PayMethod::ProvidentFund, 1));
        let lift = ContributionInput { dwelling_id: None, building_id: Some(2), households: Some(11), ..c.clone() };
        assert_eq!(lift.validate().unwrap().households, 11);
        let e = ContributionInput { building_id: Some(2), households: None, ..c.clone() }.validate().unwrap_err();
        assert_eq!(e.0[0].field, "dwelling_id");
        let e = ContributionInput {
            dwelling_id: None,
            building_id: Some(2),
            households: None,
            method: "gold".into(),
            paid_on: "May".into(),
            ..c
        }
        .validate()
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["households", "method", "paid_on"]);
        assert_eq!(participation(28, 26), (28, 26, 92.9));
        assert_eq!(participation(0, 0).2, 0.0);
        assert_eq!(participation(10, 12).1, 10);
    }

    #[test]
    fn reconciliation_lists_every_difference_between_plan_allocation_and_payment() {
        let p = FundsPicture {
            planned: BTreeMap::from([(Source::Central, 1_000), (Source::Utility, 300), (Source::Residents, 200)]),
            rewards: BTreeMap::from([(Source::Local, 100)]),
            allocated: BTreeMap::from([(Source::Central, 800), (Source::Utility, 300), (Source::Local, 100), (Source::Residents, 200)]),
            paid: BTreeMap::from([(Source::Central, 900), (Source::SocialCapital, 50)]),
            contract: Some(1_600),
            estimate: Some(1_500),
        };
        let d = reconcile(&p);
        let kinds: Vec<(&str, Option<Source>)> = d.iter().map(|x| (x.kind, x.source)).collect();
        assert_eq!(
            kinds,
            [
                ("plan_vs_contract", None),
                ("under_allocated", Some(Source::Central)),
                ("paid_over_allocated", Some(Source::Central)),
                ("paid_unplanned", Some(Source::SocialCapital)),
                ("paid_over_allocated", Some(Source::SocialCapital)),
            ]
        );
        assert_eq!((d[1].expected, d[1].actual), (1_000, 800));
        assert_eq!(disbursement_rate(1, 3), Some(33.3));
        assert_eq!(disbursement_rate(5, 0), None);
    }

    #[test]
    fn upkeep_spending_needs_a_passed_decision_on_the_fund_unless_an_emergency() {
        let good = DecisionFacts { same_estate: true, on_the_fund: true, passed: true, allowed: None, spent: Fen(0) };
        assert!(check_upkeep_spending(Fen(100), Fen(100), false, Some(good)).is_ok());
        assert_eq!(check_upkeep_spending(Fen(100), Fen(50), false, None), Err(Refusal::NeedsDecision));
        assert!(check_upkeep_spending(Fen(100), Fen(50), true, None).is_ok());
        assert!(matches!(check_upkeep_spending(Fen(100), Fen(101), true, None), Err(Refusal::UpkeepShort { .. })));
        for (facts, why) in [
            (DecisionFacts { same_estate: false, ..good }, "another estate"),
            (DecisionFacts { on_the_fund: false, ..good }, "not about using"),
            (DecisionFacts { passed: false, ..good }, "not passed"),
        ] {
            assert!(check_upkeep_spending(Fen(100), Fen(1), true, Some(facts)).unwrap_err().to_string().contains(why));
        }
        // What the owners allowed bounds everything spent under their decision.
        let priced = DecisionFacts { allowed: Some(Fen(60)), spent: Fen(40), ..good };
        assert!(check_upkeep_spending(Fen(100), Fen(20), false, Some(priced)).is_ok());
        assert_eq!(
            check_upkeep_spending(Fen(100), Fen(21), false, Some(priced)),
            Err(Refusal::BeyondDecision { allowed: "0.60".into(), spent: "0.40".into(), asked: "0.21".into() })
        );
    }

    fn account() -> impl Strategy<Value = Account> {
        prop_oneof![
            (0usize..8).prop_map(|i| Account::Source { source: Source::ALL[i] }),
            (1i64..5).prop_map(|id| Account::Allocation { id }),
            (1i64..4).prop_map(|project_id| Account::Paid { project_id }),
            (1i64..3).prop_map(|estate_id| Account::Upkeep { estate_id }),
            (1i64..3).prop_map(|estate_id| Account::Revenue { estate_id }),
            (1i64..3).prop_map(|estate_id| Account::UpkeepSpent { estate_id }),
        ]
    }

    proptest! {
        /// The books always balance, every balance is the sum of its entries, and a reversal undoes its entry.
        #[test]
        fn books_balance(entries in proptest::collection::vec((account(), account(), 1i64..10_000_000), 0..80)) {
            let entries: Vec<Entry> = entries.into_iter().map(|(d, c, a)| Entry { debit: d, credit: c, amount: Fen(a) }).collect();
            let b = balances(&entries);
            prop_assert_eq!(b.values().sum::<i64>(), 0);
            for (acct, bal) in &b {
                let by_hand: i64 = entries.iter().map(|e| (if &e.debit == acct { e.amount.0 } else { 0 }) - (if &e.credit == acct { e.amount.0 } else { 0 })).sum();
                prop_assert_eq!(*bal, by_hand);
            }
            let mut with_reversals = entries.clone();
            with_reversals.extend(entries.iter().map(reversal));
            prop_assert!(balances(&with_reversals).values().all(|v| *v == 0));
        }

        /// No sequence of checked payments takes an allocation below zero.
        #[test]
        fn payments_never_overspend(budget in 0i64..1_000_000, asks in proptest::collection::vec(1i64..300_000, 0..40)) {
            let mut left = Fen(budget);
            for a in asks {
                let ctx = PaymentContext { allocation_left: left, earmark: Earmark::default(), contract_left: Fen(i64::MAX / 4), project_open: true, project_in_region: true };
                if check_payment(&ctx, 1, Category::Basic, Fen(a)).is_ok() {
                    left = Fen(left.0 - a);
                }
                prop_assert!(left.0 >= 0);
            }
        }

        /// No sequence of checked payments breaks an earmark or overspends the allocation or the contract.
        #[test]
        fn payments_keep_to_earmark_allocation_and_contract(
            budget in 0i64..1_000_000,
            contract in 0i64..1_000_000,
            categories in proptest::collection::vec(0usize..3, 0..3),
            projects in proptest::collection::vec(1i64..4, 0..3),
            asks in proptest::collection::vec((1i64..300_000, 0usize..3, 1i64..4), 0..40),
        ) {
            let cats = [Category::Basic, Category::Improvement, Category::Upgrading];
            let earmark = Earmark { categories: categories.iter().map(|i| cats[*i]).collect(), projects };
            let (mut left, mut paid) = (budget, BTreeMap::<i64, i64>::new());
            for (a, c, project) in asks {
                let done = paid.get(&project).copied().unwrap_or(0);
                let ctx = PaymentContext { allocation_left: Fen(left), earmark: earmark.clone(), contract_left: Fen(contract - done), project_open: true, project_in_region: true };
                if check_payment(&ctx, project, cats[c], Fen(a)).is_ok() {
                    prop_assert!(earmark.allows(cats[c], project));
                    left -= a;
                    *paid.entry(project).or_default() += a;
                }
                prop_assert!(left >= 0);
                prop_assert!(paid.values().all(|p| *p <= contract));
            }
        }

        /// When plan, allocation, payment and estimate agree source by source, there is nothing to reconcile;
        /// moving one source's allocation away from its plan is always reported.
        #[test]
        fn agreeing_books_reconcile_and_a_gap_is_found(shares in proptest::collection::vec(1i64..1_000_000, 8), moved in 0usize..8, by in 1i64..1000) {
            let by_source: BTreeMap<Source, i64> = Source::ALL.iter().copied().zip(shares).collect();
            let p = FundsPicture {
                planned: by_source.clone(),
                allocated: by_source.clone(),
                paid: by_source.clone(),
                estimate: Some(by_source.values().sum()),
                ..Default::default()
            };
            prop_assert!(reconcile(&p).is_empty());
            let s = Source::ALL[moved];
            let mut q = p.clone();
            *q.allocated.entry(s).or_default() -= by;
            prop_assert!(reconcile(&q).iter().any(|d| d.kind == "under_allocated" && d.source == Some(s)));
        }

        /// Any amount of yuan with up to two decimals reads back as itself.
        #[test]
        fn yuan_round_trips(fen in 0i64..100_000_000_000) {
            prop_assert_eq!(Fen::parse_yuan(&Fen(fen).yuan()), Ok(Fen(fen)));
        }
    }
}
