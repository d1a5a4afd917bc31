//! The hash chains as they stand (the funds ledger and each decision's ballots), for publishing
//! their heads and checking them against heads published earlier.

use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;

/// A chain's name, record count and last hash.
pub type ChainEnd = (String, i64, String);

impl Db {
    /// The end of the ledger and of every decision's ballot chain, in that order.
    pub async fn chain_ends(&self) -> Result<Vec<ChainEnd>, StoreError> {
        let (entries, hash): (i64, String) = self.fetch_one("SELECT entries, hash FROM ledger_head WHERE id = 1", vec![]).await?;
        let mut ends = vec![("ledger".to_string(), entries, hash)];
        let ballots: Vec<(i64, i64, String)> =
            self.fetch_all("SELECT id, ballot_count, head_hash FROM decisions ORDER BY id", vec![]).await?;
        ends.extend(ballots.into_iter().map(|(id, n, h)| (format!("ballots:{id}"), n, h)));
        Ok(ends)
    }

    /// How far a chain reaches now (its last record's number) and the hash stored at record `seq`
    /// (if it is there).
    /// An unknown chain name holds nothing.
    pub async fn chain_record(&self, chain: &str, seq: i64) -> Result<(i64, Option<String>), StoreError> {
        let hash = |rows: Option<(String,)>| rows.map(|(h,)| h);
        if chain == "ledger" {
            // The last number held, from the key's index (a count would read 10 million rows).
            let n = self.scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM ledger_entries", vec![]).await?;
            let at = self.fetch_optional("SELECT hash FROM ledger_entries WHERE seq = $1", crate::args![seq]).await?;
            return Ok((n, hash(at)));
        }
        let Some(id) = chain.strip_prefix("ballots:").and_then(|id| id.parse::<i64>().ok()) else {
            return Ok((0, None));
        };
        let n = self.scalar("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM ballots WHERE decision_id = $1", crate::args![id]).await?;
        let at = self.fetch_optional("SELECT hash FROM ballots WHERE decision_id = $1 AND seq = $2", crate::args![id, seq]).await?;
        Ok((n, hash(at)))
    }

    /// True when `scope` may see the chain: the ledger for everyone who reads funds, a decision's
    /// ballots for those who see its estate.
    pub async fn chain_in_scope(&self, scope: &Scope, chain: &str) -> Result<bool, StoreError> {
        if chain == "ledger" {
            return Ok(true);
        }
        let Some(id) = chain.strip_prefix("ballots:").and_then(|id| id.parse::<i64>().ok()) else { return Ok(false) };
        let estate: Option<(i64,)> = self.fetch_optional("SELECT estate_id FROM decisions WHERE id = $1", crate::args![id]).await?;
        match estate {
            Some((estate_id,)) => match self.get_estate(scope, estate_id).await {
                Ok(_) => Ok(true),
                Err(StoreError::NotFound) => Ok(false),
                Err(e) => Err(e),
            },
            None => Ok(false),
        }
    }
}
