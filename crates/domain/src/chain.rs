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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A chain's end as published: which chain (`ledger`, `ballots:17`), how many records it held and
/// the hash of the last, with the server's signature over the day and these three.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub chain: String,
    pub records: i64,
    pub hash: String,
    /// HMAC-SHA256 (hex) of `date|chain|records|hash` under the server's key: a copy kept elsewhere
    /// can be told from one written later, and each head can be handed out alone.
    pub signature: String,
}

/// The heads of every chain as published on one day (a file under the data folder, and an answer
/// of the API): deleting the tail of a chain and rewriting its head shows against an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedHeads {
    /// The day in China, YYYY-MM-DD.
    pub date: String,
    pub heads: Vec<Head>,
}

fn head_mac(key: &[u8], date: &str, chain: &str, records: i64, hash: &str) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{date}|{chain}|{records}|{hash}").as_bytes());
    mac
}

impl Head {
    /// The head of `chain` at `records` records ending in `hash`, signed for `date` with `key`.
    pub fn signed(key: &[u8], date: &str, chain: &str, records: i64, hash: &str) -> Head {
        use hmac::Mac;
        let signature = hex::encode(head_mac(key, date, chain, records, hash).finalize().into_bytes());
        Head { chain: chain.to_string(), records, hash: hash.to_string(), signature }
    }

    /// True when the signature is this server's for `date` and these figures.
    pub fn signature_holds(&self, key: &[u8], date: &str) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(&self.signature) else { return false };
        head_mac(key, date, &self.chain, self.records, &self.hash).verify_slice(&given).is_ok()
    }
}

/// Checks a chain as it stands against a head published earlier: it must still hold at least
/// that many records, and its record at that position must still carry that hash (`hash_now`:
/// the hash stored there today, `None` when the record is gone).
pub fn check_head(published: &Head, records_now: i64, hash_now: Option<&str>) -> Result<(), String> {
    if published.records == 0 {
        return Ok(());
    }
    if records_now < published.records {
        return Err(format!("{} held {} records when published, it holds {records_now} now", published.chain, published.records));
    }
    match hash_now {
        Some(h) if h == published.hash => Ok(()),
        Some(_) => Err(format!("record {} of {} has another hash than when it was published", published.records, published.chain)),
        None => Err(format!("record {} of {} is gone", published.records, published.chain)),
    }
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

    #[test]
    fn published_heads_are_signed_and_catch_a_shortened_or_rewritten_chain() {
        let key = b"server key";
        let h = Head::signed(key, "2026-12-02", "ledger", 10, "abc");
        assert!(h.signature_holds(key, "2026-12-02"));
        assert!(!h.signature_holds(key, "2026-12-03"), "another day");
        assert!(!h.signature_holds(b"another key", "2026-12-02"));
        assert!(!Head { records: 11, ..h.clone() }.signature_holds(key, "2026-12-02"), "a changed count");
        assert!(!Head { signature: "zz".into(), ..h.clone() }.signature_holds(key, "2026-12-02"));
        assert_eq!(check_head(&h, 10, Some("abc")), Ok(()));
        assert_eq!(check_head(&h, 12, Some("abc")), Ok(()), "grown since");
        assert!(check_head(&h, 9, None).unwrap_err().to_string().contains("held 10 records"), "the tail deleted");
        assert!(check_head(&h, 10, Some("abd")).unwrap_err().to_string().contains("another hash"), "the head rewritten");
        assert!(check_head(&h, 12, None).unwrap_err().to_string().contains("gone"));
        assert_eq!(check_head(&Head::signed(key, "d", "ballots:1", 0, GENESIS), 0, None), Ok(()), "an empty chain");
    }

    proptest! {
        /// A chain rebuilt after its tail was cut (records deleted, then new ones written on top)
        /// never passes a head published before the cut.
        #[test]
        fn a_rebuilt_tail_never_matches_an_earlier_head(texts in proptest::collection::vec("[a-z0-9]{1,12}", 2..20), cut in 1usize..20, extra in proptest::collection::vec("[A-Z]{1,12}", 0..20)) {
            let rs = build(&texts);
            let published = Head::signed(b"k", "2026-12-02", "ledger", rs.len() as i64, &rs.last().unwrap().3);
            let keep = texts.len() - cut.min(texts.len() - 1);
            let mut rebuilt: Vec<String> = texts[..keep].to_vec();
            rebuilt.extend(extra.iter().cloned());
            let rs2 = build(&rebuilt);
            let at = rs2.get(published.records as usize - 1).map(|r| r.3.as_str());
            let same = rebuilt.len() >= texts.len() && rebuilt[..texts.len()] == texts[..];
            prop_assert_eq!(check_head(&published, rs2.len() as i64, at).is_ok(), same);
        }

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
