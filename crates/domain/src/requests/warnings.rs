//! Early warnings from requests (分析研判、预警, issue 16 part 4): a danger named in a request's
//! text at once, and an estate whose requests of one kind pile up in a week (a threshold) or rise
//! well above their own usual rate (a surge).

use serde::Serialize;

/// Words that name a danger to life: a request holding one warns the responsible people at once.
pub const DANGER_WORDS: &[&str] = &[
    "燃气味",
    "煤气味",
    "天然气味",
    "液化气味",
    "漏气",
    "起火",
    "着火",
    "失火",
    "冒烟",
    "浓烟",
    "火苗",
    "爆炸",
    "坍塌",
    "倒塌",
    "塌陷",
    "塌了",
    "漏电",
    "触电",
    "电线冒火",
    "电线起火",
];

/// Requests of one kind in one estate within 7 days that warn whatever the estate's past.
pub const THRESHOLD_7D: i64 = 5;
/// A surge needs at least this many requests in 7 days ...
pub const SURGE_MIN_7D: i64 = 3;
/// ... and at least this many times the estate's weekly rate over the 90 days before them.
pub const SURGE_FACTOR: f64 = 3.0;
/// Days of the baseline before the week looked at.
pub const BASELINE_DAYS: i64 = 90;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The text names a danger.
    Danger,
    /// [`THRESHOLD_7D`] or more of one kind in 7 days.
    Threshold,
    /// Well above the estate's own rate of the 90 days before.
    Surge,
}

impl WarningKind {
    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::Danger => "danger",
            WarningKind::Threshold => "threshold",
            WarningKind::Surge => "surge",
        }
    }
}

/// The first danger word in a text, if any.
pub fn danger_word(text: &str) -> Option<&'static str> {
    DANGER_WORDS.iter().copied().find(|w| text.contains(w))
}

/// The warning an estate's count of one kind calls for: `recent` requests in the last 7 days (the
/// new one included), `before` in the [`BASELINE_DAYS`] before those 7. A threshold first; a
/// surge when the week holds at least [`SURGE_MIN_7D`] and at least [`SURGE_FACTOR`] times the
/// weekly rate of the baseline.
pub fn pile_up(recent: i64, before: i64) -> Option<WarningKind> {
    if recent >= THRESHOLD_7D {
        return Some(WarningKind::Threshold);
    }
    let weekly = before as f64 * 7.0 / BASELINE_DAYS as f64;
    (recent >= SURGE_MIN_7D && recent as f64 >= SURGE_FACTOR * weekly).then_some(WarningKind::Surge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dangers_are_named_and_piles_up_are_told_from_the_usual() {
        assert_eq!(danger_word("2单元楼道一股煤气味"), Some("煤气味"));
        assert_eq!(danger_word("配电箱冒烟了"), Some("冒烟"));
        assert_eq!(danger_word("燃气表需要更换电池"), None, "gas without a danger");
        assert_eq!(pile_up(5, 0), Some(WarningKind::Threshold));
        assert_eq!(pile_up(3, 0), Some(WarningKind::Surge), "three in a week where there were none");
        assert_eq!(pile_up(3, 39), None, "39 in 90 days is 3 a week: three is the usual");
        assert_eq!(pile_up(4, 5), Some(WarningKind::Surge), "5 in 90 days is under one a week");
        assert_eq!(pile_up(2, 0), None, "two is no pattern");
    }

    proptest! {
        /// More requests this week never lift a warning; a longer usual rate never causes a surge.
        #[test]
        fn warnings_are_monotone(recent in 0i64..20, before in 0i64..200) {
            if pile_up(recent, before).is_some() {
                prop_assert!(pile_up(recent + 1, before).is_some());
            }
            if pile_up(recent, before + 1) == Some(WarningKind::Surge) {
                prop_assert!(pile_up(recent, before).is_some());
            }
            prop_assert!(recent >= SURGE_MIN_7D || pile_up(recent, before).is_none());
        }
    }
}
