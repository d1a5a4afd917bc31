//! Funds reports: for a region up to the end of a year, what was allocated into it and what its
//! projects were paid, by source and by the regions one level down, with the disbursement rate of
//! each; and the year's payments month by month (Beijing months) with the rate reached at the end of each month.

use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::funds::{self as rules, Source};
use huanxin_domain::regions::RegionCode;
use serde::Serialize;
use std::collections::BTreeMap;

/// Allocated and paid for one source or region, with the rate (paid as a share of allocated).
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    /// A source code, or a region code.
    pub key: String,
    /// The region's name (empty for a source).
    pub name: String,
    pub allocated: i64,
    pub paid: i64,
    pub rate_pct: Option<f64>,
}

/// What was paid in one month, by source.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRow {
    /// `2026-03`.
    pub month: String,
    pub by_source: BTreeMap<String, i64>,
    pub total: i64,
    /// Paid up to the end of this month as a share of what was allocated up to the year.
    pub cumulative_rate_pct: Option<f64>,
}

/// A region's funds report for a year (amounts are to the end of the year unless named otherwise).
#[derive(Debug, Clone, Serialize)]
pub struct FundsReport {
    pub region_code: String,
    pub year: i64,
    /// Allocated into the region for this year or earlier years.
    pub allocated: i64,
    pub allocated_in_year: i64,
    /// Paid to its projects up to the end of the year.
    pub paid: i64,
    pub paid_in_year: i64,
    pub rate_pct: Option<f64>,
    pub by_source: Vec<RateRow>,
    /// The regions one level down (and the region itself, for what was given to it directly).
    pub by_region: Vec<RateRow>,
    pub by_month: Vec<MonthRow>,
}

/// The Beijing month (`2026-03`) of a UTC day, the next day's when the entry was at 16:00 UTC or later.
fn beijing_month(utc_day: &str, late: bool) -> String {
    match chrono::NaiveDate::parse_from_str(utc_day, "%Y-%m-%d") {
        Ok(d) if late => (d + chrono::Duration::days(1)).format("%Y-%m").to_string(),
        Ok(d) => d.format("%Y-%m").to_string(),
        Err(_) => utc_day.get(..7).unwrap_or_default().to_string(),
    }
}

fn row(key: String, name: String, allocated: i64, paid: i64) -> RateRow {
    RateRow { key, name, allocated, paid, rate_pct: rules::disbursement_rate(paid, allocated) }
}

/// A region's funds by source up to the end of a year: what the dashboards show, read from kept
/// totals (no walk over the ledger at any scale).
#[derive(Debug, Clone, Serialize)]
pub struct FundsBySource {
    pub region_code: String,
    pub year: i64,
    pub allocated: i64,
    pub paid: i64,
    pub rate_pct: Option<f64>,
    pub by_source: Vec<RateRow>,
}

/// Allocated sums by source per (region, year), each with the ledger's length when it was read:
/// a country's sum reads every allocation, and it changes only with the ledger.
#[derive(Default)]
pub struct AllocatedCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, i64), KeptAllocated>>,
}

/// The ledger's length when allocated sums were read, and the sums by source.
type KeptAllocated = (i64, BTreeMap<String, i64>);

impl AllocatedCache {
    fn get(&self, key: &(String, i64), ledger_entries: i64) -> Option<BTreeMap<String, i64>> {
        let map = self.entries.lock().ok()?;
        map.get(key).filter(|(n, _)| *n == ledger_entries).map(|(_, a)| a.clone())
    }

    fn put(&self, key: (String, i64), ledger_entries: i64, allocated: BTreeMap<String, i64>) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(key, (ledger_entries, allocated));
        }
    }
}

impl Db {
    /// Allocated into a region (for the year or before, not handed on inside it) and paid to its
    /// projects up to the year's end, by source. The same figures as [`Db::funds_report`]'s
    /// `by_source`; the payments come from the investment totals kept by statistics (each year's
    /// rollup), the allocations from their table (thousands of rows, not millions).
    pub async fn funds_by_source(
        &self,
        scope: &Scope,
        region: &RegionCode,
        year: i64,
        cache: &AllocatedCache,
    ) -> Result<FundsBySource, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        // Every change to an allocation appends to the ledger in the same transaction, so sums
        // read after the ledger held `entries` entries hold while it still does (on any server).
        let entries = self.scalar("SELECT entries FROM ledger_head WHERE id = 1", vec![]).await?;
        let key = (region.as_str().to_string(), year);
        let allocated = match cache.get(&key, entries) {
            Some(a) => a,
            None => {
                let a = self.allocated_by_source(region, year).await?;
                cache.put(key, entries, a.clone());
                a
            }
        };
        let paid: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT indicator, CAST(SUM(value) AS BIGINT) FROM stat_totals WHERE region_code = $1 AND indicator LIKE 'invest_%' \
                 AND LENGTH(period) = 7 AND SUBSTR(period, 6, 2) = '00' AND period <= $2 GROUP BY indicator",
                crate::args![region.as_str(), format!("{year:04}-00")],
            )
            .await?;
        let paid: BTreeMap<String, i64> = paid.into_iter().filter_map(|(i, v)| Some((i.strip_prefix("invest_")?.to_string(), v))).collect();
        let by_source: Vec<RateRow> = Source::ALL
            .iter()
            .filter_map(|s| {
                let (a, p) = (allocated.get(s.as_str()).copied(), paid.get(s.as_str()).copied());
                (a.is_some() || p.is_some()).then(|| row(s.as_str().to_string(), String::new(), a.unwrap_or(0), p.unwrap_or(0)))
            })
            .collect();
        let (allocated, paid): (i64, i64) = (by_source.iter().map(|r| r.allocated).sum(), by_source.iter().map(|r| r.paid).sum());
        Ok(FundsBySource {
            region_code: region.as_str().to_string(),
            year,
            allocated,
            paid,
            rate_pct: rules::disbursement_rate(paid, allocated),
            by_source,
        })
    }

    /// Allocated into a region for `year` or before, by source (not what was handed on inside it).
    async fn allocated_by_source(&self, region: &RegionCode, year: i64) -> Result<BTreeMap<String, i64>, StoreError> {
        let (lo, hi) = region.subtree_range();
        let rows: Vec<(String, i64)> = self
            .fetch_all(
                "SELECT a.source, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND a.year <= $3 AND (up.id IS NULL OR up.region_code < $1 OR up.region_code >= $2) \
                 GROUP BY a.source",
                crate::args![lo.as_str(), hi.as_str(), year],
            )
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The funds report of a region for a year: allocations that came into the region for the year or
    /// before (not those handed on inside it) against what its projects were paid up to the year's end.
    pub async fn funds_report(&self, scope: &Scope, region: &RegionCode, year: i64) -> Result<FundsReport, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        let (lo, hi) = region.subtree_range();
        let allocations: Vec<(String, String, i64, i64)> = self
            .fetch_all(
                "SELECT a.region_code, a.source, a.year, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND a.year <= $3 AND (up.id IS NULL OR up.region_code < $1 OR up.region_code >= $2) \
                 GROUP BY a.region_code, a.source, a.year",
                crate::args![lo.as_str(), hi.as_str(), year],
            )
            .await?;
        // By the region one level down, money received is what came into that region's subtree (from
        // outside the region asked for, or handed on to it by a level inside it) less what it handed on
        // to another row: the rows add up to what came in, and a city's row is what it kept.
        let moves: Vec<(String, Option<String>, i64)> = self
            .fetch_all(
                "SELECT a.region_code, up.region_code, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND a.year <= $3 GROUP BY a.region_code, up.region_code",
                crate::args![lo.as_str(), hi.as_str(), year],
            )
            .await?;
        // Months are Beijing months (UTC+8): a day's entries from 16:00 UTC on belong to the next day.
        let (from, to) = (format!("{year}-01"), format!("{year}-12-31T16:00:00.000Z"));
        // Each payment with the region of the allocation it was paid from: a region's rate is what it
        // paid of what it received (a county's project paid from the city's money counts at the city).
        let payments: Vec<(String, i64, String, String, i64)> = self
            .fetch_all(
                "SELECT SUBSTR(e.at, 1, 10) AS day, CAST(CASE WHEN SUBSTR(e.at, 12, 2) >= '16' THEN 1 ELSE 0 END AS BIGINT) AS late, e.source, \
                 COALESCE(al.region_code, p.region_code), \
                 CAST(SUM(CASE WHEN e.debit LIKE 'paid:%' THEN e.amount ELSE -e.amount END) AS BIGINT) \
                 FROM projects p JOIN ledger_entries e ON e.project_id = p.id \
                 LEFT JOIN allocations al ON al.id = CAST(CASE WHEN e.debit LIKE 'paid:%' AND e.credit LIKE 'allocation:%' THEN SUBSTR(e.credit, 12) \
                 WHEN e.credit LIKE 'paid:%' AND e.debit LIKE 'allocation:%' THEN SUBSTR(e.debit, 12) END AS BIGINT) \
                 WHERE p.region_code >= $1 AND p.region_code < $2 AND e.at < $3 \
                 AND (e.debit LIKE 'paid:%' OR e.credit LIKE 'paid:%') \
                 GROUP BY 1, 2, 3, 4",
                crate::args![lo.as_str(), hi.as_str(), to.as_str()],
            )
            .await?;
        let child_of = |code: &str| -> String {
            RegionCode::parse(code)
                .ok()
                .and_then(|c| region.child_containing(&c))
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| region.as_str().to_string())
        };
        // (allocated, paid) by source and by the region one level down.
        let mut src: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut reg: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut months: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let (mut allocated_in_year, mut paid_before) = (0, 0);
        for (_, source, y, fen) in allocations {
            src.entry(source).or_default().0 += fen;
            if y == year {
                allocated_in_year += fen;
            }
        }
        let inside = |code: &str| code >= lo.as_str() && code < hi.as_str();
        for (code, from, fen) in moves {
            let to = child_of(&code);
            match from.filter(|f| inside(f)).map(|f| child_of(&f)) {
                // Handed on between two rows: the giver's row keeps less.
                Some(giver) if giver != to => {
                    reg.entry(giver).or_default().0 -= fen;
                    reg.entry(to).or_default().0 += fen;
                }
                // Cut within one row: that row's money, counted once already.
                Some(_) => {}
                None => reg.entry(to).or_default().0 += fen,
            }
        }
        for (day, late, source, code, fen) in payments {
            let month = beijing_month(&day, late == 1);
            src.entry(source.clone()).or_default().1 += fen;
            reg.entry(child_of(&code)).or_default().1 += fen;
            if month >= from {
                *months.entry(month).or_default().entry(source).or_default() += fen;
            } else {
                paid_before += fen;
            }
        }
        let names = self.region_names(&reg.keys().cloned().collect::<Vec<_>>()).await?;
        let allocated: i64 = src.values().map(|v| v.0).sum();
        let paid: i64 = src.values().map(|v| v.1).sum();
        let by_source = Source::ALL
            .iter()
            .filter_map(|s| src.get(s.as_str()).map(|(a, p)| row(s.as_str().to_string(), String::new(), *a, *p)))
            .collect();
        let by_region =
            reg.into_iter().map(|(code, (a, p))| row(code.clone(), names.get(&code).cloned().unwrap_or_default(), a, p)).collect();
        let mut cumulative = paid_before;
        let by_month = months
            .into_iter()
            .map(|(month, by_source)| {
                let total = by_source.values().sum();
                cumulative += total;
                MonthRow { month, by_source, total, cumulative_rate_pct: rules::disbursement_rate(cumulative, allocated) }
            })
            .collect();
        Ok(FundsReport {
            region_code: region.as_str().to_string(),
            year,
            allocated,
            allocated_in_year,
            paid,
            paid_in_year: paid - paid_before,
            rate_pct: rules::disbursement_rate(paid, allocated),
            by_source,
            by_region,
            by_month,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::beijing_month;

    #[test]
    fn an_entry_late_in_the_utc_day_falls_in_the_next_beijing_day() {
        assert_eq!(beijing_month("2026-03-31", true), "2026-04");
        assert_eq!(beijing_month("2026-03-31", false), "2026-03");
        assert_eq!(beijing_month("2025-12-31", true), "2026-01");
        assert_eq!(beijing_month("2026-03-15", true), "2026-03");
    }
}
