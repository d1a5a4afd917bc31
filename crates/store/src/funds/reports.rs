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
    /// The region's or the source's name.
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

/// Allocation sums per (region, year), each with the ledger's length when it was read: a
/// country's sums read every allocation, and they change only with the ledger.
#[derive(Default)]
pub struct AllocatedCache {
    /// By source (the cockpit's panel).
    by_source: KeptByLedger<BTreeMap<String, i64>>,
    /// What the funds report reads (by region, source and year; and what each level handed on).
    report: KeptByLedger<ReportAllocations>,
}

/// What a funds report reads of the allocations: sums by (region, source, year), and by (region,
/// the region of the allocation it was cut from).
type ReportAllocations = (Vec<(String, String, i64, i64)>, Vec<(String, Option<String>, i64)>);

/// Values by (region, year), each with the ledger's length when it was read.
struct KeptByLedger<V> {
    entries: std::sync::Mutex<std::collections::HashMap<(String, i64), (i64, V)>>,
}

impl<V> Default for KeptByLedger<V> {
    fn default() -> Self {
        KeptByLedger { entries: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }
}

impl<V: Clone> KeptByLedger<V> {
    /// The value kept for `key` if the ledger still has the length it had when it was read.
    fn get(&self, key: &(String, i64), ledger_entries: i64) -> Option<V> {
        let map = self.entries.lock().ok()?;
        map.get(key).filter(|(n, _)| *n == ledger_entries).map(|(_, v)| v.clone())
    }

    fn put(&self, key: (String, i64), ledger_entries: i64, value: V) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 1_000 {
                map.clear();
            }
            map.insert(key, (ledger_entries, value));
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
        let allocated = match cache.by_source.get(&key, entries) {
            Some(a) => a,
            None => {
                let a = self.allocated_by_source(region, year).await?;
                cache.by_source.put(key, entries, a.clone());
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
                (a.is_some() || p.is_some()).then(|| row(s.as_str().to_string(), s.zh().to_string(), a.unwrap_or(0), p.unwrap_or(0)))
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

    /// The allocations a funds report reads, summed (see [`ReportAllocations`]).
    async fn report_allocations(&self, lo: &str, hi: &str, year: i64) -> Result<ReportAllocations, StoreError> {
        let allocations: Vec<(String, String, i64, i64)> = self
            .fetch_all(
                "SELECT a.region_code, a.source, a.year, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND a.year <= $3 AND (up.id IS NULL OR up.region_code < $1 OR up.region_code >= $2) \
                 GROUP BY a.region_code, a.source, a.year",
                crate::args![lo, hi, year],
            )
            .await?;
        // By the region one level down, money received is what came into that region's subtree (from
        // outside the region asked for, or handed on to it by a level inside it) less what it handed on
        // to another row: the rows add up to what came in, and a city's row is what it kept.
        let moves: Vec<(String, Option<String>, i64)> = self
            .fetch_all(
                "SELECT a.region_code, up.region_code, CAST(SUM(a.amount) AS BIGINT) FROM allocations a LEFT JOIN allocations up ON up.id = a.parent_id \
                 WHERE a.region_code >= $1 AND a.region_code < $2 AND a.year <= $3 GROUP BY a.region_code, up.region_code",
                crate::args![lo, hi, year],
            )
            .await?;
        Ok((allocations, moves))
    }

    /// The funds report of a region for a year: allocations that came into the region for the year or
    /// before (not those handed on inside it) against what its projects were paid up to the year's end.
    /// The allocations' sums are kept in `cache` until the ledger grows (every change to an
    /// allocation appends to it in the same transaction).
    pub async fn funds_report(
        &self,
        scope: &Scope,
        region: &RegionCode,
        year: i64,
        cache: &AllocatedCache,
    ) -> Result<FundsReport, StoreError> {
        if !scope.covers_code(region.as_str()) {
            return Err(StoreError::NotFound);
        }
        let (lo, hi) = region.subtree_range();
        let entries = self.scalar("SELECT entries FROM ledger_head WHERE id = 1", vec![]).await?;
        let key = (region.as_str().to_string(), year);
        let (allocations, moves) = match cache.report.get(&key, entries) {
            Some(sums) => sums,
            None => {
                let sums = self.report_allocations(&lo, &hi, year).await?;
                cache.report.put(key, entries, sums.clone());
                sums
            }
        };

        // What its projects were paid, kept with each payment by the report's row, source and
        // Beijing month (migration 42): a few thousand rows for the country.
        let from = format!("{year}-01");
        let payments: Vec<(String, String, String, i64)> = self
            .fetch_all(
                "SELECT paid_at, source, month, amount FROM funds_paid WHERE region_code = $1 AND month <= $2",
                crate::args![region.as_str(), format!("{year}-12")],
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
        for (at, source, month, fen) in payments {
            src.entry(source.clone()).or_default().1 += fen;
            reg.entry(at).or_default().1 += fen;
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
            .filter_map(|s| src.get(s.as_str()).map(|(a, p)| row(s.as_str().to_string(), s.zh().to_string(), *a, *p)))
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

/// One payment's place in the kept funds figures: the paid project's region, the region of the
/// allocation it was paid from (the project's own when none), its source and its Beijing month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaidRow {
    pub project_region: String,
    pub paying_region: String,
    pub source: String,
    pub month: String,
}

/// Moves of the kept funds figures: (region, report row, source, month) → amount.
type PaidMoves = BTreeMap<(String, String, String, String), i64>;

/// What payments move: each counts in every region from the country down to its project's, at
/// the row [`rules::paid_at`] names.
fn paid_moves(rows: &[(PaidRow, i64)]) -> PaidMoves {
    let mut moves = PaidMoves::new();
    for (row, amount) in rows {
        let paying = RegionCode::parse(&row.paying_region).ok();
        for (region, _) in crate::statistics::chain(&row.project_region) {
            let at = match (RegionCode::parse(&region), &paying) {
                (Ok(r), Some(p)) => rules::paid_at(&r, p).as_str().to_string(),
                _ => region.clone(),
            };
            *moves.entry((region, at, row.source.clone(), row.month.clone())).or_insert(0) += amount;
        }
    }
    moves.retain(|_, v| *v != 0);
    moves
}

impl crate::db::Tx {
    /// Moves the kept funds figures by `rows` (payments, reversals negative), in the payment's transaction.
    pub(crate) async fn keep_funds_paid(&mut self, rows: &[(PaidRow, i64)]) -> Result<(), StoreError> {
        let moves: Vec<_> = paid_moves(rows).into_iter().collect();
        for chunk in moves.chunks(500) {
            let mut values = Vec::with_capacity(chunk.len());
            let mut args: Vec<crate::Arg> = Vec::with_capacity(chunk.len() * 5);
            for (k, ((region, at, source, month), amount)) in chunk.iter().enumerate() {
                let n = k * 5;
                values.push(format!("(${}, ${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4, n + 5));
                args.extend([region.as_str().into(), at.as_str().into(), source.as_str().into(), month.as_str().into(), (*amount).into()]);
            }
            self.execute(
                &format!(
                    "INSERT INTO funds_paid (region_code, paid_at, source, month, amount) VALUES {} \
                     ON CONFLICT (region_code, month, paid_at, source) DO UPDATE SET amount = funds_paid.amount + excluded.amount",
                    values.join(", ")
                ),
                args,
            )
            .await?;
        }
        Ok(())
    }
}

impl Db {
    /// Every payment to a project in the ledger, summed by project region, paying region, source
    /// and the hour (UTC) it was entered, which gives the Beijing month without reading each entry.
    async fn paid_from_ledger(&self) -> Result<Vec<(PaidRow, i64)>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = self
            .fetch_all(
                "SELECT p.region_code, COALESCE(al.region_code, p.region_code), e.source, SUBSTR(e.at, 1, 13), \
                 CAST(SUM(CASE WHEN e.debit = 'paid:' || CAST(p.id AS TEXT) THEN e.amount ELSE -e.amount END) AS BIGINT) \
                 FROM ledger_entries e JOIN projects p ON p.id = e.project_id \
                 LEFT JOIN allocations al ON al.id = CAST(CASE WHEN e.credit LIKE 'allocation:%' THEN SUBSTR(e.credit, 12) \
                 WHEN e.debit LIKE 'allocation:%' THEN SUBSTR(e.debit, 12) END AS BIGINT) \
                 WHERE e.debit = 'paid:' || CAST(p.id AS TEXT) OR e.credit = 'paid:' || CAST(p.id AS TEXT) \
                 GROUP BY 1, 2, 3, 4",
                vec![],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(project_region, paying_region, source, hour, amount)| {
                let day = huanxin_domain::statistics::china_day(&format!("{hour}:00:00Z"))?;
                let month = huanxin_domain::statistics::month_key(day);
                Some((PaidRow { project_region, paying_region, source, month }, amount))
            })
            .collect())
    }

    /// Recomputes the kept funds figures from the ledger (after migration 42, a restore or a bulk load).
    pub async fn rebuild_funds_paid(&self) -> Result<(), StoreError> {
        let rows = self.paid_from_ledger().await?;
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM funds_paid", vec![]).await?;
        tx.keep_funds_paid(&rows).await?;
        tx.commit().await
    }

    /// Kept funds figures that differ from the ledger: (region, row, source, month, kept, from the
    /// ledger). Empty when they are sound.
    pub async fn funds_paid_disagreements(&self) -> Result<Vec<(String, String, String, String, i64, i64)>, StoreError> {
        let mut summed = paid_moves(&self.paid_from_ledger().await?);
        let kept: Vec<(String, String, String, String, i64)> =
            self.fetch_all("SELECT region_code, paid_at, source, month, amount FROM funds_paid", vec![]).await?;
        let mut out = Vec::new();
        for (region, at, source, month, amount) in kept {
            let s = summed.remove(&(region.clone(), at.clone(), source.clone(), month.clone())).unwrap_or(0);
            if s != amount {
                out.push((region, at, source, month, amount, s));
            }
        }
        out.extend(summed.into_iter().map(|((r, a, s, m), v)| (r, a, s, m, 0, v)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{paid_moves, PaidRow};

    #[test]
    fn a_payment_from_the_citys_money_counts_at_the_city_in_the_province_and_the_country() {
        let row = |paying: &str, amount: i64| {
            (
                PaidRow {
                    project_region: "350521000000".into(),
                    paying_region: paying.into(),
                    source: "central".into(),
                    month: "2026-03".into(),
                },
                amount,
            )
        };
        let moves = paid_moves(&[row("350500000000", 700), row("350521000000", 300), row("350521000000", -300)]);
        let got: Vec<(&str, &str, i64)> = moves.iter().map(|((r, a, _, _), v)| (r.as_str(), a.as_str(), *v)).collect();
        assert_eq!(
            got,
            [
                ("000000000000", "350000000000", 700),
                ("350000000000", "350500000000", 700),
                ("350500000000", "350500000000", 700),
                ("350521000000", "350521000000", 700),
            ],
            "the county's own payment and its reversal cancel out"
        );
    }
}
