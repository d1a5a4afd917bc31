//! Statistics kept as the records change (issue 15, `huanxin_domain::statistics`).
//!
//! Every estate's parts (what it adds to each indicator and period) are kept in `stat_parts`,
//! every project's investment by source and month likewise; `stat_totals` holds the sum of the
//! parts for every region from the country down to the community. Both move in the same
//! transaction as the change that moves them: an estate's parts are recomputed from its records
//! ([`Tx::refresh_estate_statistics`], called wherever a fact it counts is written) and the totals
//! of its six regions moved by the difference. A country's figure is then a few rows read, and it
//! includes a change the moment that change commits. [`Db::rebuild_statistics`] recomputes all of
//! it from the records, and [`Db::statistics_disagreements`] compares, as verify-ledger does.

use crate::db::{Db, Tx};
use crate::error::StoreError;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::statistics::{self as rules, EstateFacts, Period};
use serde::Serialize;
use std::collections::BTreeMap;

/// Parts keyed by (indicator, period key).
type Parts = BTreeMap<(&'static str, String), i64>;

/// The regions a part is counted in: the country, then each level down to `code` itself.
pub(crate) fn chain(code: &str) -> Vec<(String, String)> {
    let Ok(rc) = RegionCode::parse(code) else { return vec![] };
    let mut codes = vec![RegionCode::country().as_str().to_string()];
    codes.extend(rc.ancestors().iter().map(|a| a.as_str().to_string()));
    if rc != RegionCode::country() {
        codes.push(rc.as_str().to_string());
    }
    // A city without counties (东莞, 中山, 嘉峪关, 儋州) is its own county: counted once.
    codes.dedup();
    let mut out = Vec::with_capacity(codes.len());
    let mut parent = String::new();
    for c in codes {
        out.push((c.clone(), parent));
        parent = c;
    }
    out
}

/// The stored code of an indicator (the static one from the domain's list).
fn known(code: &str) -> Option<&'static str> {
    rules::indicator(code).map(|i| i.code)
}

/// An estate's own figures and the dates statistics read, in one row.
#[derive(sqlx::FromRow)]
struct EstateHead {
    id: i64,
    community_code: String,
    households: i64,
    building_count: i64,
    floor_area: i64,
    plan_year: Option<i64>,
    started: Option<String>,
    completed: Option<String>,
    contributions: i64,
}

/// Moves of the kept totals: (region, its parent, indicator, period) → amount, in key order.
type Moves = BTreeMap<(String, String, &'static str, String), i64>;

/// Adds `diff`, counted in `region`, to the moves of `region` and of every region above it.
/// Each month also moves its year's and the programme's kept totals ([`rules::rollups`]).
fn add_moves(moves: &mut Moves, region: &str, diff: &Parts, sign: i64) {
    for (code, parent) in chain(region) {
        for ((i, p), v) in diff {
            for key in std::iter::once(p.clone()).chain(rules::rollups(p)) {
                *moves.entry((code.clone(), parent.clone(), i, key)).or_insert(0) += sign * v;
            }
        }
    }
}

impl Tx {
    /// Recomputes estate `estate_id`'s parts from its records and moves its regions' totals by the
    /// difference. Call it in the transaction of any write that changes what it counts.
    pub(crate) async fn refresh_estate_statistics(&mut self, estate_id: i64) -> Result<(), StoreError> {
        self.refresh_estates_statistics(&[estate_id]).await
    }

    /// The same for several estates, their totals moved in one statement (rows in key order, so
    /// that two transactions lock shared rows of a region in the same order on PostgreSQL).
    pub(crate) async fn refresh_estates_statistics(&mut self, estate_ids: &[i64]) -> Result<(), StoreError> {
        let mut ids = estate_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        // Two transactions refreshing one estate would both read its old parts and both move the
        // totals: on PostgreSQL the estates' rows are locked first (in id order), and the reads
        // after the lock see what the other committed. SQLite has one writer at a time.
        if self.engine() == crate::db::Engine::Postgres && !ids.is_empty() {
            for chunk in ids.chunks(1000) {
                let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                let sql = format!("SELECT id FROM estates WHERE id IN ({}) ORDER BY id FOR UPDATE", marks.join(", "));
                let _: Vec<(i64,)> = self.fetch_all(&sql, chunk.iter().map(|i| crate::Arg::from(*i)).collect()).await?;
            }
        }
        let mut moves = Moves::new();
        self.estates_parts(&ids, &mut moves).await?;
        self.move_totals(moves).await
    }

    /// Rewrites the parts of estates `ids` from their records, adding what that moves to `moves`.
    async fn estates_parts(&mut self, ids: &[i64], moves: &mut Moves) -> Result<(), StoreError> {
        // A few statements per batch of estates, not per estate: a rebuild reads a country's.
        for chunk in ids.chunks(500) {
            let facts = self.estates_facts(chunk).await?;
            let new: Vec<(i64, String, Parts)> = facts.into_iter().map(|(id, (region, f))| (id, region, rules::parts(&f))).collect();
            self.replace_parts("estate", new, moves).await?;
        }
        Ok(())
    }

    /// Replaces subjects' parts (id, region, new parts), adding what that changes to `moves`.
    async fn replace_parts(&mut self, subject: &str, new: Vec<(i64, String, Parts)>, moves: &mut Moves) -> Result<(), StoreError> {
        if new.is_empty() {
            return Ok(());
        }
        let (marks, mut args) = in_list(new.iter().map(|(id, _, _)| *id), 2);
        args.insert(0, subject.into());
        let kept: Vec<(i64, String, String, String, i64)> = self
            .fetch_all(
                &format!("SELECT subject_id, region_code, indicator, period, value FROM stat_parts WHERE subject = $1 AND subject_id IN ({marks})"),
                args,
            )
            .await?;
        let mut old_rows: BTreeMap<i64, Vec<(String, String, String, i64)>> = BTreeMap::new();
        for (id, r, i, p, v) in kept {
            old_rows.entry(id).or_default().push((r, i, p, v));
        }
        let (mut rewritten, mut rows) = (Vec::new(), Vec::new());
        for (id, region, new) in new {
            let kept = old_rows.remove(&id).unwrap_or_default();
            let moved_from = kept.iter().map(|r| r.0.clone()).find(|r| *r != region);
            let old: Parts = kept.into_iter().filter_map(|(_, i, p, v)| Some(((known(&i)?, p), v))).collect();
            let diff = rules::difference(&old, &new);
            if diff.is_empty() && moved_from.is_none() {
                continue;
            }
            match moved_from {
                // Moved to another community: its old regions lose all it gave, its new ones gain it all.
                Some(from) => {
                    add_moves(moves, &from, &old, -1);
                    add_moves(moves, &region, &new, 1);
                }
                None => add_moves(moves, &region, &diff, 1),
            }
            rows.extend(new.iter().map(|((i, p), v)| crate::args![subject, id, region.as_str(), *i, p.as_str(), *v]));
            rewritten.push(id);
        }
        if rewritten.is_empty() {
            return Ok(());
        }
        let (marks, mut args) = in_list(rewritten.iter().copied(), 2);
        args.insert(0, subject.into());
        self.execute(&format!("DELETE FROM stat_parts WHERE subject = $1 AND subject_id IN ({marks})"), args).await?;
        self.insert_many("stat_parts", &["subject", "subject_id", "region_code", "indicator", "period", "value"], rows).await?;
        Ok(())
    }

    /// Adds `delta` to one part of a subject (a project's investment) and to its regions' totals.
    pub(crate) async fn add_part(
        &mut self,
        subject: &str,
        id: i64,
        region: &str,
        indicator: &'static str,
        period: &str,
        delta: i64,
    ) -> Result<(), StoreError> {
        if delta == 0 {
            return Ok(());
        }
        self.execute(
            "INSERT INTO stat_parts (subject, subject_id, region_code, indicator, period, value) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (subject, subject_id, indicator, period) DO UPDATE SET value = stat_parts.value + excluded.value",
            crate::args![subject, id, region, indicator, period, delta],
        )
        .await?;
        let mut diff = Parts::new();
        diff.insert((indicator, period.to_string()), delta);
        let mut moves = Moves::new();
        add_moves(&mut moves, region, &diff, 1);
        self.move_totals(moves).await
    }

    /// Applies `moves` to the kept totals in one statement (a chunk at a time for very many).
    async fn move_totals(&mut self, moves: Moves) -> Result<(), StoreError> {
        let args: Vec<Vec<crate::Arg>> =
            moves.into_iter().filter(|(_, v)| *v != 0).map(|((c, parent, i, p), v)| crate::args![c, parent, i, p, v]).collect();
        for (sql, args) in crate::db::multi_row_inserts(
            "stat_totals",
            &["region_code", "parent_code", "indicator", "period", "value"],
            args,
            "ON CONFLICT (region_code, indicator, period) DO UPDATE SET value = stat_totals.value + excluded.value",
        ) {
            self.execute(&sql, args).await?;
        }
        Ok(())
    }

    /// Writes subjects' parts as new rows (the rebuild: no parts are kept for them yet).
    async fn insert_new_parts(&mut self, subject: &str, new: Vec<(i64, String, Parts)>) -> Result<(), StoreError> {
        let rows: Vec<Vec<crate::Arg>> = new
            .iter()
            .flat_map(|(id, region, parts)| {
                parts.iter().map(move |((i, p), v)| crate::args![subject, *id, region.as_str(), *i, p.as_str(), *v])
            })
            .collect();
        self.insert_rows("stat_parts", &["subject", "subject_id", "region_code", "indicator", "period", "value"], rows, "").await?;
        Ok(())
    }

    /// Fills the (empty) kept totals from the parts: each level of the region ladder summed in
    /// one statement, then the year and programme rollups. A region counts in every level whose
    /// own digits are not all zero (so a city without counties counts once, as [`chain`] says);
    /// its parent is the code cut at the level above, which is that same nearest region.
    async fn sum_totals_from_parts(&mut self) -> Result<(), StoreError> {
        if self.engine() == crate::db::Engine::Postgres {
            // Millions of parts grouped at once: sorted in memory rather than in files.
            self.execute("SET LOCAL work_mem = '256MB'", vec![]).await?;
        }
        let country = RegionCode::country();
        self.execute(
            "INSERT INTO stat_totals (region_code, parent_code, indicator, period, value) \
             SELECT $1, '', indicator, period, CAST(SUM(value) AS BIGINT) FROM stat_parts GROUP BY indicator, period",
            crate::args![country.as_str()],
        )
        .await?;
        let cut = |n: usize| format!("SUBSTR(region_code, 1, {n}) || '{}'", "0".repeat(12 - n));
        for (above, here) in [(0usize, 2usize), (2, 4), (4, 6), (6, 9), (9, 12)] {
            let parent = if above == 0 { format!("'{}'", country.as_str()) } else { cut(above) };
            let code = if here == 12 { "region_code".to_string() } else { cut(here) };
            self.execute(
                &format!(
                    "INSERT INTO stat_totals (region_code, parent_code, indicator, period, value) \
                     SELECT code, parent, indicator, period, CAST(SUM(value) AS BIGINT) FROM \
                     (SELECT {code} AS code, {parent} AS parent, indicator, period, value FROM stat_parts \
                     WHERE SUBSTR(region_code, {from}, {len}) <> '{zeros}') p GROUP BY code, parent, indicator, period",
                    from = above + 1,
                    len = here - above,
                    zeros = "0".repeat(here - above),
                ),
                vec![],
            )
            .await?;
        }
        let rollups = crate::migrations::dialect(self.engine(), crate::migrations::V39);
        crate::db::Db::raw_batch(self, &rollups).await
    }

    /// What each estate's records say, as statistics count it, by estate id (none for an estate
    /// that is gone), in four statements for the whole batch.
    async fn estates_facts(&mut self, ids: &[i64]) -> Result<BTreeMap<i64, (String, EstateFacts)>, StoreError> {
        let (marks, args) = in_list(ids.iter().copied(), 1);
        let heads: Vec<EstateHead> = self
            .fetch_all(
                &format!(
                    "SELECT e.id, e.community_code, e.households, e.building_count, e.floor_area, \
                     (SELECT MIN(year) FROM plan_estates WHERE estate_id = e.id) AS plan_year, \
                     (SELECT MIN(at) FROM estate_events WHERE estate_id = e.id AND to_status = 'in_construction') AS started, \
                     (SELECT MIN(at) FROM estate_events WHERE estate_id = e.id AND to_status = 'accepted') AS completed, \
                     (SELECT COUNT(*) FROM contributions c WHERE c.estate_id = e.id AND c.amount > 0 AND c.reversed_by IS NULL) AS contributions \
                     FROM estates e WHERE e.id IN ({marks})"
                ),
                args.clone(),
            )
            .await?;
        let final_lines: Vec<(i64, String, String, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT v.estate_id, si.menu_code, si.unit, CAST(SUM(si.quantity_hundredths) AS BIGINT) FROM scheme_items si \
                     JOIN scheme_versions v ON v.id = si.version_id WHERE v.estate_id IN ({marks}) \
                     AND v.id = (SELECT v2.id FROM scheme_versions v2 WHERE v2.estate_id = v.estate_id AND v2.stage = 'final' ORDER BY v2.version_no DESC LIMIT 1) \
                     GROUP BY v.estate_id, si.menu_code, si.unit ORDER BY v.estate_id, si.menu_code, si.unit"
                ),
                args.clone(),
            )
            .await?;
        let findings: Vec<(i64, String, bool)> = self
            .fetch_all(
                &format!(
                    "SELECT estate_id, created_at, closed_at IS NOT NULL FROM rectifications WHERE estate_id IN ({marks}) ORDER BY id"
                ),
                args.clone(),
            )
            .await?;
        let answers: Vec<(i64, String, String, String)> = self
            .fetch_all(
                &format!(
                    "SELECT s.estate_id, s.questions_json, a.answers_json, a.at FROM survey_answers a JOIN surveys s ON s.id = a.survey_id \
                     WHERE s.estate_id IN ({marks}) AND s.purpose = 'satisfaction' ORDER BY a.id"
                ),
                args,
            )
            .await?;
        let mappings = self.regional_mappings(heads.iter().map(|h| h.community_code.as_str())).await?;
        let mut out: BTreeMap<i64, (String, EstateFacts)> = heads
            .into_iter()
            .map(|h| {
                let facts = EstateFacts {
                    households: h.households,
                    buildings: h.building_count,
                    floor_area: h.floor_area,
                    plan_year: h.plan_year.and_then(|y| i32::try_from(y).ok()),
                    started_on: h.started.as_deref().and_then(rules::china_day),
                    completed_on: h.completed.as_deref().and_then(rules::china_day),
                    contributed: h.contributions > 0,
                    mapping: mappings.get(&h.community_code).cloned().unwrap_or_default(),
                    ..EstateFacts::default()
                };
                (h.id, (h.community_code, facts))
            })
            .collect();
        for (id, code, unit, quantity) in final_lines {
            if let Some((_, f)) = out.get_mut(&id) {
                f.final_lines.push((code, unit, quantity));
            }
        }
        for (id, at, closed) in findings {
            if let (Some((_, f)), Some(day)) = (out.get_mut(&id), rules::china_day(&at)) {
                f.findings.push((day, closed));
            }
        }
        let mut questions: BTreeMap<String, Vec<huanxin_domain::surveys::Question>> = BTreeMap::new();
        for (id, q, a, at) in answers {
            let qs = questions.entry(q.clone()).or_insert_with(|| serde_json::from_str(&q).unwrap_or_default());
            let answered: huanxin_domain::surveys::Answers = serde_json::from_str(&a).unwrap_or_default();
            if let (Some((_, f)), Some(s), Some(day)) = (out.get_mut(&id), rules::satisfaction_of(qs, &answered), rules::china_day(&at)) {
                f.satisfaction.push((day, s));
            }
        }
        Ok(out)
    }
}

impl Tx {
    /// Where the menu in force in each of `communities` maps an item to another indicator than the
    /// national mapping, read from the menu items of every region enclosing them, in one statement.
    async fn regional_mappings<'a>(
        &mut self,
        communities: impl Iterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, BTreeMap<String, Option<&'static str>>>, StoreError> {
        let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in communities {
            if let Ok(rc) = RegionCode::parse(c) {
                chains.entry(c.to_string()).or_insert_with(|| crate::regions::enclosing_regions(&rc));
            }
        }
        let regions: std::collections::BTreeSet<&String> = chains.values().flatten().collect();
        if regions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let args: Vec<crate::Arg> = regions.iter().map(|r| crate::Arg::from(r.as_str())).collect();
        let marks: Vec<String> = (1..=args.len()).map(|k| format!("${k}")).collect();
        let rows: Vec<(String, String, Option<String>)> = self
            .fetch_all(
                &format!(
                    "SELECT region_code, code, indicator FROM menu_items WHERE region_code IN ({}) ORDER BY region_code, code",
                    marks.join(", ")
                ),
                args,
            )
            .await?;
        if rows.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut by_region: BTreeMap<&str, rules::MappingLevel> = BTreeMap::new();
        for (region, code, indicator) in &rows {
            by_region.entry(region.as_str()).or_default().push((code.clone(), indicator.clone()));
        }
        Ok(chains
            .into_iter()
            .map(|(community, chain)| {
                let levels: Vec<rules::MappingLevel> = chain.iter().filter_map(|r| by_region.get(r.as_str()).cloned()).collect();
                (community, rules::regional_mapping(&levels))
            })
            .collect())
    }
}

/// `$first, $first+1, …` for `ids`, and the ids as arguments.
fn in_list(ids: impl Iterator<Item = i64>, first: usize) -> (String, Vec<crate::Arg>) {
    let args: Vec<crate::Arg> = ids.map(crate::Arg::from).collect();
    let marks: Vec<String> = (0..args.len()).map(|k| format!("${}", first + k)).collect();
    (marks.join(", "), args)
}

/// Where a region lies on the dashboard's map.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub region_code: String,
    pub name: String,
    pub lon: f64,
    pub lat: f64,
    /// The estates its position is the mean of.
    pub estates: i64,
}

/// One figure: the indicator, its value in the period, the same period a year before.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub code: &'static str,
    pub value: i64,
    pub year_before: Option<i64>,
}

/// One rate, in basis points (hundredths of a percent), with what it divides.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub bp: Option<i64>,
    pub part: &'static str,
    pub whole: &'static str,
}

/// A region's figures for a period.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub region_code: String,
    pub region_name: String,
    pub period: String,
    pub figures: Vec<Figure>,
    pub rates: Vec<Rate>,
}

/// A region one level down, with its figures (indicator code → value).
#[derive(Debug, Clone, Serialize)]
pub struct ChildFigures {
    pub region_code: String,
    pub region_name: String,
    pub values: BTreeMap<&'static str, i64>,
}

/// One estate or project counted in a figure, with what it adds.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Counted {
    pub subject: String,
    pub id: i64,
    pub code: String,
    pub name: String,
    pub region_code: String,
    pub value: i64,
}

/// The condition on `period` (column `col`) that reads the kept totals of `period`, with its
/// arguments numbered from `first`: exact keys (a year's rollup, a plan year, the programme's)
/// and, for a quarter or a month, its range of month keys.
fn period_filter(col: &str, period: &Period, first: usize) -> (String, Vec<crate::Arg>) {
    let keys = period.total_keys();
    let marks: Vec<String> = (0..keys.exact.len()).map(|k| format!("${}", first + k)).collect();
    let mut sql = format!("({col} IN ({})", marks.join(", "));
    let mut args: Vec<crate::Arg> = keys.exact.iter().map(|k| crate::Arg::from(k.as_str())).collect();
    if let Some((m0, m1)) = keys.months {
        let n = first + args.len();
        sql.push_str(&format!(" OR (LENGTH({col}) = 7 AND {col} >= ${n} AND {col} <= ${})", n + 1));
        args.push(m0.into());
        args.push(m1.into());
    }
    sql.push(')');
    (sql, args)
}

impl Db {
    /// The figures of `region` for `period`, each with the same period a year before, and the rates.
    pub async fn statistics(&self, region: &RegionCode, period: &Period) -> Result<Figures, StoreError> {
        let now = self.totals_by_indicator(region, period).await?;
        let before = match period.year_before() {
            Some(p) => Some(self.totals_by_indicator(region, &p).await?),
            None => None,
        };
        let figures = rules::INDICATORS
            .iter()
            .map(|i| Figure {
                code: i.code,
                value: now.get(i.code).copied().unwrap_or(0),
                year_before: before.as_ref().map(|b| b.get(i.code).copied().unwrap_or(0)),
            })
            .collect();
        let rates = rules::RATES
            .iter()
            .map(|(code, zh, en, part, whole)| Rate {
                code,
                zh,
                en,
                bp: rules::rate_bp(now.get(part).copied().unwrap_or(0), now.get(whole).copied().unwrap_or(0)),
                part,
                whole,
            })
            .collect();
        let region_name = self.region_name(region.as_str()).await?;
        Ok(Figures { region_code: region.as_str().into(), region_name, period: period.code(), figures, rates })
    }

    async fn totals_by_indicator(&self, region: &RegionCode, period: &Period) -> Result<BTreeMap<&'static str, i64>, StoreError> {
        let (filter, mut args) = period_filter("period", period, 2);
        args.insert(0, region.as_str().into());
        let rows: Vec<(String, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT indicator, CAST(SUM(value) AS BIGINT) FROM stat_totals WHERE region_code = $1 AND {filter} GROUP BY indicator"
                ),
                args,
            )
            .await?;
        Ok(rows.into_iter().filter_map(|(i, v)| Some((known(&i)?, v))).collect())
    }

    /// The figures of each region one level below `region` that has any, by name.
    pub async fn statistics_children(&self, region: &RegionCode, period: &Period) -> Result<Vec<ChildFigures>, StoreError> {
        let (filter, mut args) = period_filter("t.period", period, 2);
        args.insert(0, region.as_str().into());
        // Names from the kept ones, not joined: PostgreSQL would hash the whole regions table for
        // a few dozen rows (160 ms for the country's page).
        let rows: Vec<(String, String, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT t.region_code, t.indicator, CAST(SUM(t.value) AS BIGINT) FROM stat_totals t \
                     WHERE t.parent_code = $1 AND {filter} GROUP BY t.region_code, t.indicator"
                ),
                args,
            )
            .await?;
        let mut codes: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        codes.sort_unstable();
        codes.dedup();
        let names = self.region_names(&codes).await?;
        let mut out: BTreeMap<String, ChildFigures> = BTreeMap::new();
        for (code, indicator, value) in rows {
            let Some(i) = known(&indicator) else { continue };
            let child = out.entry(code.clone()).or_insert_with(|| ChildFigures {
                region_name: names.get(&code).cloned().unwrap_or_else(|| code.clone()),
                region_code: code,
                values: BTreeMap::new(),
            });
            child.values.insert(i, value);
        }
        let mut list: Vec<ChildFigures> = out.into_values().collect();
        list.sort_by(|a, b| a.region_code.cmp(&b.region_code));
        Ok(list)
    }

    /// Where the regions one level down lie: the mean position of their estates with coordinates,
    /// and how many estates that is (the dashboard's map places its circles there).
    pub async fn statistics_places(&self, region: &RegionCode) -> Result<Vec<Place>, StoreError> {
        let Some(next) = huanxin_domain::regions::Level::from_number(region.level() as i64 + 1) else { return Ok(vec![]) };
        let (lo, hi) = region.subtree_range();
        let rows: Vec<(String, f64, f64, i64)> = self
            .fetch_all(
                &format!(
                    "SELECT SUBSTR(community_code, 1, {n}), AVG(lon), AVG(lat), COUNT(*) FROM estates \
                     WHERE community_code >= $1 AND community_code < $2 AND lon IS NOT NULL AND lat IS NOT NULL \
                     GROUP BY SUBSTR(community_code, 1, {n}) ORDER BY 1",
                    n = next.prefix_len()
                ),
                crate::args![lo, hi],
            )
            .await?;
        let codes: Vec<String> = rows.iter().map(|r| format!("{:0<12}", r.0)).collect();
        let names = self.region_names(&codes).await?;
        Ok(rows
            .into_iter()
            .zip(codes)
            .map(|((_, lon, lat, estates), code)| Place {
                name: names.get(&code).cloned().unwrap_or_else(|| code.clone()),
                region_code: code,
                lon,
                lat,
                estates,
            })
            .collect())
    }

    /// Month by month in `year`: each monthly indicator's value in `region`.
    pub async fn statistics_by_month(
        &self,
        region: &RegionCode,
        year: i32,
    ) -> Result<Vec<(String, BTreeMap<&'static str, i64>)>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .fetch_all(
                "SELECT period, indicator, value FROM stat_totals WHERE region_code = $1 AND LENGTH(period) = 7 \
                 AND period >= $2 AND period <= $3 ORDER BY period",
                crate::args![region.as_str(), format!("{year:04}-01"), format!("{year:04}-12")],
            )
            .await?;
        let mut months: BTreeMap<String, BTreeMap<&'static str, i64>> =
            (1..=12).map(|m| (format!("{year:04}-{m:02}"), BTreeMap::new())).collect();
        for (p, i, v) in rows {
            if let (Some(i), Some(m)) = (known(&i), months.get_mut(&p)) {
                m.insert(i, v);
            }
        }
        Ok(months.into_iter().collect())
    }

    /// The estates (or projects, for investment) counted in one figure, the largest part first
    /// (then by id): at most `limit`, with how many there are.
    pub async fn statistics_counted(
        &self,
        region: &RegionCode,
        period: &Period,
        indicator: &str,
        limit: i64,
    ) -> Result<(Vec<Counted>, i64), StoreError> {
        let dated = rules::indicator(indicator).map(|i| i.dated).ok_or(StoreError::NotFound)?;
        let (k0, k1) = period.keys_for(dated);
        let (lo, hi) = region.subtree_range();
        let len = if dated == rules::Dated::Month { 7 } else { 4 };
        let wh = "p.indicator = $1 AND LENGTH(p.period) = $2 AND p.period >= $3 AND p.period <= $4 AND p.region_code >= $5 AND p.region_code < $6";
        let args = crate::args![indicator, len, k0, k1, lo, hi];
        let total = self
            .scalar(
                &format!("SELECT COUNT(DISTINCT p.subject || ':' || CAST(p.subject_id AS TEXT)) FROM stat_parts p WHERE {wh}"),
                args.clone(),
            )
            .await?;
        let mut args = args;
        args.push(limit.into());
        // The parts are summed and cut to `limit` first, names joined to those alone: a country's
        // figure counts tens of thousands of estates.
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT c.subject, c.subject_id AS id, COALESCE(e.code, pr.code, '') AS code, COALESCE(e.name, pr.name, '') AS name, \
                     c.region_code, c.value FROM (SELECT p.subject, p.subject_id, p.region_code, CAST(SUM(p.value) AS BIGINT) AS value \
                     FROM stat_parts p WHERE {wh} GROUP BY p.subject, p.subject_id, p.region_code \
                     ORDER BY 4 DESC, 1, 2 LIMIT $7) c \
                     LEFT JOIN estates e ON c.subject = 'estate' AND e.id = c.subject_id \
                     LEFT JOIN projects pr ON c.subject = 'project' AND pr.id = c.subject_id \
                     ORDER BY c.value DESC, c.subject, c.subject_id"
                ),
                args,
            )
            .await?;
        Ok((rows, total))
    }

    /// A region's name (its code when unknown).
    async fn region_name(&self, code: &str) -> Result<String, StoreError> {
        if code == RegionCode::country().as_str() {
            return Ok("全国".into());
        }
        // From the kept names: a dashboard asks on every page.
        Ok(self.region_names(&[code.to_string()]).await?.remove(code).unwrap_or_else(|| code.into()))
    }

    /// Recomputes every part and total from the records (after a restore, or to check the kept ones).
    ///
    /// The parts are computed batch by batch and written as new rows (COPY on PostgreSQL); the
    /// totals are then summed from the parts in the database, one statement per level of the
    /// region ladder, and the year and programme rollups from those (as migration 39 does).
    /// Moving the totals part by part, as a change does, wrote tens of millions of upserts.
    pub async fn rebuild_statistics(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM stat_parts", vec![]).await?;
        tx.execute("DELETE FROM stat_totals", vec![]).await?;
        tx.commit().await?;
        let ids: Vec<(i64,)> = self.fetch_all("SELECT id FROM estates ORDER BY id", vec![]).await?;
        for batch in ids.chunks(4000) {
            let mut tx = self.begin().await?;
            for chunk in batch.chunks(500) {
                let ids: Vec<i64> = chunk.iter().map(|(id,)| *id).collect();
                let facts = tx.estates_facts(&ids).await?;
                let rows = facts.into_iter().map(|(id, (region, f))| (id, region, rules::parts(&f))).collect();
                tx.insert_new_parts("estate", rows).await?;
            }
            tx.commit().await?;
        }
        // Investment: every payment to a project by source, summed by the hour (UTC) it was
        // entered, which gives China's month without reading each entry (reversals subtract).
        let paid: Vec<(i64, String, String, String, i64)> = self
            .fetch_all(
                "SELECT p.id, p.region_code, l.source, substr(l.at, 1, 13), \
                 CAST(SUM(CASE WHEN l.debit = 'paid:' || CAST(p.id AS TEXT) THEN l.amount ELSE -l.amount END) AS BIGINT) \
                 FROM ledger_entries l JOIN projects p ON p.id = l.project_id \
                 WHERE l.debit = 'paid:' || CAST(p.id AS TEXT) OR l.credit = 'paid:' || CAST(p.id AS TEXT) \
                 GROUP BY p.id, p.region_code, l.source, substr(l.at, 1, 13)",
                vec![],
            )
            .await?;
        let mut projects: BTreeMap<(i64, String), Parts> = BTreeMap::new();
        for (project, region, source, hour, amount) in paid {
            let (Some(i), Some(day)) = (rules::investment_indicator(&source), rules::china_day(&format!("{hour}:00:00Z"))) else {
                continue;
            };
            *projects.entry((project, region)).or_default().entry((i, rules::month_key(day))).or_insert(0) += amount;
        }
        let rows: Vec<(i64, String, Parts)> = projects
            .into_iter()
            .map(|((project, region), mut parts)| {
                parts.retain(|_, v| *v != 0);
                (project, region, parts)
            })
            .collect();
        let mut tx = self.begin().await?;
        for chunk in rows.chunks(4000) {
            tx.insert_new_parts("project", chunk.to_vec()).await?;
        }
        tx.sum_totals_from_parts().await?;
        tx.commit().await?;
        if self.engine() == crate::db::Engine::Postgres {
            // Fresh tables of millions of rows: the planner learns their shape, and the visibility
            // map lets "why?" read its covering index alone, now rather than at autovacuum.
            self.execute("VACUUM (ANALYZE) stat_parts", vec![]).await?;
            self.execute("VACUUM (ANALYZE) stat_totals", vec![]).await?;
        }
        Ok(())
    }

    /// Kept totals that differ from the sum of the kept parts: (region, indicator, period, kept, summed).
    /// Empty when the totals are sound.
    pub async fn statistics_disagreements(&self) -> Result<Vec<(String, String, String, i64, i64)>, StoreError> {
        let parts: Vec<(String, String, String, i64)> =
            self.fetch_all("SELECT region_code, indicator, period, value FROM stat_parts", vec![]).await?;
        let mut summed: BTreeMap<(String, String, String), i64> = BTreeMap::new();
        for (region, i, p, v) in parts {
            for (code, _) in chain(&region) {
                for key in std::iter::once(p.clone()).chain(rules::rollups(&p)) {
                    *summed.entry((code.clone(), i.clone(), key)).or_insert(0) += v;
                }
            }
        }
        let kept: Vec<(String, String, String, i64)> =
            self.fetch_all("SELECT region_code, indicator, period, value FROM stat_totals", vec![]).await?;
        let mut out = Vec::new();
        for (r, i, p, v) in kept {
            let s = summed.remove(&(r.clone(), i.clone(), p.clone())).unwrap_or(0);
            if s != v {
                out.push((r, i, p, v, s));
            }
        }
        out.extend(summed.into_iter().filter(|(_, s)| *s != 0).map(|((r, i, p), s)| (r, i, p, 0, s)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[test]
    fn a_community_counts_in_six_regions_each_under_its_parent() {
        let c = chain("350521101001");
        let codes: Vec<&str> = c.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["000000000000", "350000000000", "350500000000", "350521000000", "350521101000", "350521101001"]);
        assert_eq!(c[0].1, "", "the country has no parent");
        assert!(c.windows(2).all(|w| w[1].1 == w[0].0), "each under the one before");
        assert_eq!(chain("350521000000").len(), 4, "a county project counts in four");
        assert!(chain("garbage").is_empty());
    }

    #[test]
    fn a_city_without_counties_counts_once() {
        let c = chain("441900003001");
        let codes: Vec<&str> = c.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["000000000000", "440000000000", "441900000000", "441900003000", "441900003001"]);
        assert!(c.windows(2).all(|w| w[1].1 == w[0].0 && w[1].0 != w[0].0), "each under the one before, none twice");
    }
}
