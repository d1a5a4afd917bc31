//! Administrative regions (行政区划): 12-digit statistical codes and the levels they encode.

use crate::reason;
use crate::reasons::Reason;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The level of a region in the hierarchy, from the country down to the community committee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The whole country (the ministry's scope); code `000000000000`.
    Country = 0,
    /// 省级.
    Province = 1,
    /// 地级.
    City = 2,
    /// 县级.
    County = 3,
    /// 乡级: street office or township.
    Street = 4,
    /// 村级: community committee (社区居委会).
    Community = 5,
}

impl Level {
    /// Number of leading digits that identify a region of this level.
    pub fn prefix_len(self) -> usize {
        match self {
            Level::Country => 0,
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Street => 9,
            Level::Community => 12,
        }
    }

    /// The level from its number (0..=5).
    pub fn from_number(n: i64) -> Option<Level> {
        [Level::Country, Level::Province, Level::City, Level::County, Level::Street, Level::Community]
            .get(usize::try_from(n).ok()?)
            .copied()
    }
}

/// A valid 12-digit region code; the country is all zeros.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

/// The code of the whole country, the root of every scope.
pub const COUNTRY: &str = "000000000000";

impl RegionCode {
    /// Parses a code; shorter official forms (2, 4, 6 or 9 digits) are padded with zeros.
    pub fn parse(text: &str) -> Result<RegionCode, Reason> {
        let t = text.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(reason!("regions.code_form", t = t));
        }
        if ![2, 4, 6, 9, 12].contains(&t.len()) {
            return Err(reason!("regions.code_length", t = t, value = t.len()));
        }
        Ok(RegionCode(format!("{t:0<12}")))
    }

    /// The country's code.
    pub fn country() -> RegionCode {
        RegionCode(COUNTRY.to_string())
    }

    /// The code as 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level the code's trailing zeros say.
    pub fn level(&self) -> Level {
        let s = self.0.as_bytes();
        let zero = |from: usize| s[from..].iter().all(|&b| b == b'0');
        if zero(0) {
            Level::Country
        } else if zero(2) {
            Level::Province
        } else if zero(4) {
            Level::City
        } else if zero(6) {
            Level::County
        } else if zero(9) {
            Level::Street
        } else {
            Level::Community
        }
    }

    /// The significant digits: every code in this region's subtree starts with them.
    pub fn prefix(&self) -> &str {
        &self.0[..self.level().prefix_len()]
    }

    /// The half-open range `[low, high)` of codes in this region's subtree, for an indexed range scan.
    pub fn subtree_range(&self) -> (String, String) {
        let p = self.prefix();
        // ':' sorts right after '9', so every digit string starting with p is below p + ":".
        (p.to_string(), format!("{p}:"))
    }

    /// True when `other` lies in this region's subtree (a region contains itself).
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(self.prefix())
    }

    /// The region one level below this one that holds `other` (none when `other` is not below it).
    pub fn child_containing(&self, other: &RegionCode) -> Option<RegionCode> {
        let next = Level::from_number(self.level() as i64 + 1)?;
        if !self.contains(other) || other.level() < next {
            return None;
        }
        Some(RegionCode(format!("{:0<12}", &other.0[..next.prefix_len()])))
    }

    /// The codes of the regions above this one, nearest last, derived from the code's digits.
    pub fn ancestors(&self) -> Vec<RegionCode> {
        let lvl = self.level() as usize;
        [2usize, 4, 6, 9].iter().take(lvl.saturating_sub(1)).map(|&n| RegionCode(format!("{:0<12}", &self.0[..n]))).collect()
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RegionCode {
    type Error = Reason;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RegionCode::parse(&s)
    }
}

impl From<RegionCode> for String {
    fn from(c: RegionCode) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn levels_and_prefixes() {
        let c = RegionCode::parse("350521100001").unwrap();
        assert_eq!(c.level(), Level::Community);
        assert_eq!(RegionCode::parse("350521").unwrap().level(), Level::County);
        assert_eq!(RegionCode::parse("35").unwrap().prefix(), "35");
        assert_eq!(RegionCode::parse("350521100").unwrap().level(), Level::Street);
        assert_eq!(RegionCode::country().level(), Level::Country);
        let county = RegionCode::parse("350521").unwrap();
        assert!(county.contains(&c));
        assert!(!RegionCode::parse("350502").unwrap().contains(&c));
        assert!(RegionCode::country().contains(&c));
        assert_eq!(
            c.ancestors().iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>(),
            ["350000000000", "350500000000", "350521000000", "350521100000"]
        );
        let city = RegionCode::parse("3505").unwrap();
        assert_eq!(city.child_containing(&c), Some(county.clone()));
        assert_eq!(county.child_containing(&c).map(|r| r.as_str().to_string()), Some("350521100000".to_string()));
        assert_eq!(county.child_containing(&county), None);
        assert_eq!(RegionCode::parse("350502").unwrap().child_containing(&c), None);
        assert!(RegionCode::parse("3505x1").is_err());
        assert!(RegionCode::parse("350").is_err());
    }

    proptest! {
        #[test]
        fn range_matches_contains(a in "[0-9]{12}", b in "[0-9]{12}") {
            let a = RegionCode::parse(&a).unwrap();
            let b = RegionCode::parse(&b).unwrap();
            let (lo, hi) = a.subtree_range();
            let in_range = b.as_str() >= lo.as_str() && b.as_str() < hi.as_str();
            prop_assert_eq!(in_range, a.contains(&b));
        }
    }
}
