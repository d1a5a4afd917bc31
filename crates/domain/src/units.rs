//! Quantities with fixed precision: areas in hundredths of a square metre (DESIGN.md conventions).

use crate::reason;
use crate::reasons::Reason;
use serde::{Deserialize, Serialize};

/// An area in hundredths of a square metre; never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Area(i64);

/// Largest area accepted anywhere (100 km²): catches unit mix-ups such as mm² for m².
pub const MAX_AREA_HUNDREDTHS: i64 = 100_000_000 * 100;

impl Area {
    /// The area from hundredths of m², refused when negative or absurdly large.
    pub fn from_hundredths(h: i64) -> Result<Area, Reason> {
        if h < 0 {
            return Err(reason!("estates.not_negative"));
        }
        if h > MAX_AREA_HUNDREDTHS {
            return Err(reason!("units.implausible_area"));
        }
        Ok(Area(h))
    }

    /// Parses a decimal number of m² such as `65`, `65.5` or `65.25` exactly, without floating point.
    pub fn parse_m2(text: &str) -> Result<Area, Reason> {
        let t = text.trim().trim_end_matches("㎡").trim_end_matches("m²").trim();
        if t.is_empty() {
            return Err(reason!("units.empty"));
        }
        if t.starts_with('-') {
            return Err(reason!("estates.not_negative"));
        }
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f),
            None => (t, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !(frac.is_empty() || digits(frac)) {
            return Err(reason!("units.not_an_area", text = text));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 {
            return Err(reason!("units.fraction_too_fine"));
        }
        let w: i64 = whole.parse().map_err(|_| reason!("units.too_large"))?;
        let f: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().unwrap_or(0) };
        let h = w.checked_mul(100).and_then(|v| v.checked_add(f)).ok_or(reason!("units.too_large"))?;
        Area::from_hundredths(h)
    }

    /// Converts a JSON number of m²; refused when it is not finite or has more than two decimals.
    pub fn from_m2_f64(m2: f64) -> Result<Area, Reason> {
        if !m2.is_finite() {
            return Err(reason!("field.not_number"));
        }
        let h = (m2 * 100.0).round();
        if ((m2 * 100.0) - h).abs() > 1e-6 {
            return Err(reason!("units.fraction_too_fine"));
        }
        if h.abs() > (MAX_AREA_HUNDREDTHS as f64) * 10.0 {
            return Err(reason!("units.implausible_area"));
        }
        Area::from_hundredths(h as i64)
    }

    /// Hundredths of m², as stored.
    pub fn hundredths(self) -> i64 {
        self.0
    }

    /// Square metres, for display.
    pub fn m2(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(Area::parse_m2("65").unwrap().hundredths(), 6500);
        assert_eq!(Area::parse_m2("65.5").unwrap().hundredths(), 6550);
        assert_eq!(Area::parse_m2(" 65.25㎡").unwrap().hundredths(), 6525);
        assert_eq!(Area::parse_m2("0.10").unwrap().hundredths(), 10);
        assert!(Area::parse_m2("-1").is_err());
        assert!(Area::parse_m2("1.234").is_err());
        assert!(Area::parse_m2("abc").is_err());
        assert!(Area::parse_m2("1e5").is_err());
        assert!(Area::parse_m2("").is_err());
        assert!(Area::parse_m2("99999999999999999999").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips(h in 0i64..MAX_AREA_HUNDREDTHS) {
            let text = format!("{}.{:02}", h / 100, h % 100);
            prop_assert_eq!(Area::parse_m2(&text).unwrap().hundredths(), h);
            prop_assert_eq!(Area::from_m2_f64(Area(h).m2()).unwrap().hundredths(), h);
        }
    }
}
