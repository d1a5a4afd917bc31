//! Funds (资金): money in integer fen, the sources that pay, allocations handed down level by level
//! with what they may pay for (专款专用), disbursements checked against allocation, earmark and
//! contract, and a double-entry ledger whose balances are derived from its entries, never stored.

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
    pub fn parse_yuan(s: &str) -> Result<Fen, String> {
        let t: String = s.trim().chars().filter(|c| *c != ',' && *c != '，' && !c.is_whitespace()).collect();
        if t.is_empty() {
            return Err("is required".into());
        }
        if t.starts_with('-') {
            return Err("must not be negative".into());
        }
        let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
        if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err("is not an amount in yuan".into());
        }
        if frac.len() > 2 {
            return Err("has a fraction of a fen (more than two decimals)".into());
        }
        if whole.len() > 12 {
            return Err("is more than a trillion yuan".into());
        }
        let whole: i64 = whole.parse().map_err(|_| "is not an amount in yuan".to_string())?;
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
}

impl Account {
    /// The account's code in storage (`source:central`, `allocation:12`, `paid:5`, `upkeep:3`).
    pub fn code(&self) -> String {
        match self {
            Account::Source { source } => format!("source:{}", source.as_str()),
            Account::Allocation { id } => format!("allocation:{id}"),
            Account::Paid { project_id } => format!("paid:{project_id}"),
            Account::Upkeep { estate_id } => format!("upkeep:{estate_id}"),
        }
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the amount must be more than 0")]
    NotPositive,
    #[error("only {left} yuan of the allocation is left; {asked} yuan would overspend it")]
    Overspend { left: String, asked: String },
    #[error("more than what is left of the parent allocation ({left} yuan)")]
    ExceedsParent { left: String },
    #[error("this allocation may not pay for {what}")]
    Earmarked { what: String },
    #[error("the contract has {left} yuan left to pay; {asked} yuan is more")]
    ExceedsContract { left: String, asked: String },
    #[error("the project is closed")]
    ProjectClosed,
}

/// What is known when a payment is asked for.
#[derive(Debug, Clone)]
pub struct PaymentContext {
    pub allocation_left: Fen,
    pub earmark: Earmark,
    pub contract_left: Fen,
    pub project_open: bool,
}

/// May `amount` be paid from the allocation for `category` in `project_id`?
pub fn check_payment(ctx: &PaymentContext, project_id: i64, category: Category, amount: Fen) -> Result<(), Refusal> {
    if amount.0 <= 0 {
        return Err(Refusal::NotPositive);
    }
    if !ctx.project_open {
        return Err(Refusal::ProjectClosed);
    }
    if !ctx.earmark.allows(category, project_id) {
        return Err(Refusal::Earmarked { what: format!("{} in project {project_id}", category.as_str()) });
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

/// The canonical text of a ledger entry for its hash (`chain::link`).
pub fn entry_text(seq: i64, debit: &str, credit: &str, amount: i64, memo: &str, at: &str) -> String {
    format!("{seq}|{debit}|{credit}|{amount}|{memo}|{at}")
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
            e.push(
                "source",
                &self.source,
                "must be one of central, provincial, local, special_bonds, utility, residents, social_capital, bank_credit",
            );
        }
        if !(2000..=2100).contains(&self.year) {
            e.push("year", self.year, "must be a year from 2000 to 2100");
        }
        if self.purpose.trim().is_empty() || self.purpose.chars().count() > 200 {
            e.push("purpose", &self.purpose, "must have 1 to 200 characters");
        }
        let amount = amount_field("amount", &self.amount, &mut e);
        let mut categories = Vec::new();
        for (i, c) in self.categories.iter().enumerate() {
            match Category::parse(c) {
                Some(c) => categories.push(c),
                None => e.push(&format!("categories[{i}]"), c, "must be basic, improvement or upgrading"),
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
            errors.push(field, yuan, "must be more than 0");
            None
        }
        Err(reason) => {
            errors.push(field, yuan, reason);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        };
        assert!(check_payment(&ctx, 1, Category::Basic, Fen(50_000)).is_ok());
        assert_eq!(check_payment(&ctx, 1, Category::Basic, Fen(0)), Err(Refusal::NotPositive));
        assert!(matches!(check_payment(&ctx, 1, Category::Upgrading, Fen(1)), Err(Refusal::Earmarked { .. })));
        assert!(matches!(check_payment(&ctx, 1, Category::Basic, Fen(100_001)), Err(Refusal::Overspend { .. })));
        assert!(matches!(check_payment(&ctx, 1, Category::Basic, Fen(90_000)), Err(Refusal::ExceedsContract { .. })));
        let closed = PaymentContext { project_open: false, ..ctx };
        assert_eq!(check_payment(&closed, 1, Category::Basic, Fen(1)), Err(Refusal::ProjectClosed));
        assert!(matches!(check_sub_allocation(Fen(10), Fen(11)), Err(Refusal::ExceedsParent { .. })));
    }

    fn account() -> impl Strategy<Value = Account> {
        prop_oneof![
            (0usize..8).prop_map(|i| Account::Source { source: Source::ALL[i] }),
            (1i64..5).prop_map(|id| Account::Allocation { id }),
            (1i64..4).prop_map(|project_id| Account::Paid { project_id }),
            (1i64..3).prop_map(|estate_id| Account::Upkeep { estate_id }),
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
                let ctx = PaymentContext { allocation_left: left, earmark: Earmark::default(), contract_left: Fen(i64::MAX / 4), project_open: true };
                if check_payment(&ctx, 1, Category::Basic, Fen(a)).is_ok() {
                    left = Fen(left.0 - a);
                }
                prop_assert!(left.0 >= 0);
            }
        }

        /// Any amount of yuan with up to two decimals reads back as itself.
        #[test]
        fn yuan_round_trips(fen in 0i64..100_000_000_000) {
            prop_assert_eq!(Fen::parse_yuan(&Fen(fen).yuan()), Ok(Fen(fen)));
        }
    }
}
