//! Hash chains for append-only records (ballots now, the ledger later): each record's hash covers
//! the one before, so a changed, removed or reordered record shows when the chain is walked again.

use sha2::{Digest, Sha256};

/// The hash before the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of a record given its predecessor's hash and its canonical text.
pub fn link(prev_hash: &str, record: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(record.as_bytes());
    hex::encode(h.finalize())
}

/// Where a walked chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Break {
    /// The position (from 1) of the first record that does not fit.
    pub seq: i64,
    pub reason: String,
}

/// Walks records (seq, canonical text, prev_hash stored, hash stored) in order and returns the first
/// break, if any: a gap in the numbering, a link to the wrong predecessor, or a hash that does not
/// match the record's text.
pub fn verify<'a>(records: impl IntoIterator<Item = (i64, &'a str, &'a str, &'a str)>) -> Result<i64, Break> {
    let mut expected_prev = GENESIS.to_string();
    let mut n = 0i64;
    for (seq, text, prev, hash) in records {
        n += 1;
        if seq != n {
            return Err(Break { seq: n, reason: format!("record {n} is missing (found {seq})") });
        }
        if prev != expected_prev {
            return Err(Break { seq, reason: "does not link to the record before it".into() });
        }
        if link(prev, text) != hash {
            return Err(Break { seq, reason: "its contents do not match its hash (changed after it was written)".into() });
        }
        expected_prev = hash.to_string();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(texts: &[String]) -> Vec<(i64, String, String, String)> {
        let mut prev = GENESIS.to_string();
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let h = link(&prev, t);
                let r = (i as i64 + 1, t.clone(), prev.clone(), h.clone());
                prev = h;
                r
            })
            .collect()
    }

    fn walk(rs: &[(i64, String, String, String)]) -> Result<i64, Break> {
        verify(rs.iter().map(|(s, t, p, h)| (*s, t.as_str(), p.as_str(), h.as_str())))
    }

    proptest! {
        /// Whatever a damaged database holds (any numbers, any text where hashes belong), the walk
        /// answers with a count or a break, never a panic.
        #[test]
        fn any_stored_rows_are_walked_without_panic(rows in proptest::collection::vec((any::<i64>(), "\\PC{0,30}", "\\PC{0,70}", "\\PC{0,70}"), 0..20)) {
            let result = verify(rows.iter().map(|(s, t, p, h)| (*s, t.as_str(), p.as_str(), h.as_str())));
            if rows.is_empty() {
                prop_assert_eq!(result, Ok(0));
            }
        }

        /// An intact chain verifies; changing any one record's text, or dropping one, is found at that record.
        #[test]
        fn tampering_is_found_where_it_happened(texts in proptest::collection::vec("[a-z0-9|]{1,20}", 1..30), pick in any::<prop::sample::Index>()) {
            let rs = build(&texts);
            prop_assert_eq!(walk(&rs), Ok(rs.len() as i64));
            let i = pick.index(rs.len());
            let mut changed = rs.clone();
            changed[i].1.push('x');
            prop_assert_eq!(walk(&changed).unwrap_err().seq, i as i64 + 1);
            let mut dropped = rs.clone();
            dropped.remove(i);
            if i < dropped.len() {
                prop_assert_eq!(walk(&dropped).unwrap_err().seq, i as i64 + 1);
            }
        }
    }
}
