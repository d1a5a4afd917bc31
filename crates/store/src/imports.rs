//! Registry imports (estates, buildings, dwellings), streamed chunk by chunk through one
//! transaction. Each chunk is checked against the regions, the user's scope and what is stored,
//! and written while the caller reads the next one, so a large file neither waits for all its
//! rows to be read nor holds them all in memory. The first problem stops the writing; later rows
//! are still checked so that the report is complete, and the transaction then rolls back:
//! nothing is half-written.

use crate::audit::{Actor, Change};
use crate::db::{Arg, Db, Tx};
use crate::error::StoreError;
use crate::estates::{
    estate_json, estate_texts, record_args, record_texts, Estate, FieldChange, ImportSummary, RowError, ESTATE_COLS, MAX_REPORTED_CHANGES,
    WRITE_COLS,
};
use huanxin_domain::access::Scope;
use huanxin_domain::estates::{BuildingRecord, DwellingRecord, EstateRecord};
use huanxin_domain::reason;
use std::collections::HashMap;

/// Rows a caller should hand over per chunk: large enough for few round trips, small enough to
/// keep memory flat.
pub const IMPORT_CHUNK: usize = 20_000;

/// Problems listed in an import's report; a file wrong on every row would otherwise give a report as
/// long as itself. The rest are counted in a last line.
pub const MAX_REPORTED_PROBLEMS: usize = 1_000;

/// What a file imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Estates,
    Buildings,
    Dwellings,
}

impl ImportKind {
    fn table(self) -> &'static str {
        match self {
            ImportKind::Estates => "estates",
            ImportKind::Buildings => "buildings",
            ImportKind::Dwellings => "dwellings",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            ImportKind::Estates => "estate",
            ImportKind::Buildings => "building",
            ImportKind::Dwellings => "dwelling",
        }
    }
}

/// An import under way: its transaction, the problems found so far and what was written.
pub struct Import {
    tx: Tx,
    kind: ImportKind,
    actor: Actor,
    scope: Scope,
    source: String,
    check_only: bool,
    errors: Vec<RowError>,
    /// Problems found beyond those reported.
    unreported: usize,
    /// Index statements to run at the end (indexes dropped for a bulk load).
    rebuild: Vec<String>,
    /// Rows in the table when the import began.
    rows_before: i64,
    /// Dwellings: the highest id before the import; rows above it were written by this import.
    id_before: i64,
    /// Rows handed over (checked or written).
    rows: usize,
    summary: ImportSummary,
    now: String,
    /// First row of each key in this file, to report repeats.
    seen_estates: HashMap<String, usize>,
    seen_buildings: HashMap<(String, String), usize>,
    seen_dwellings: HashMap<(i64, String), usize>,
    /// Dwellings in an import of several files: buildings of earlier files and of this one.
    buildings_of_earlier_files: std::collections::HashSet<i64>,
    buildings_of_this_file: std::collections::HashSet<i64>,
    /// Estates: the state of the estates that were updated, and every code, for the audit record.
    replaced: Vec<serde_json::Value>,
    /// Estates the import changed: their statistics are recomputed when it commits.
    updated_ids: Vec<i64>,
    codes: Vec<String>,
    /// The files of an import of several, in order; problems name the one being read.
    files: Vec<String>,
    /// The stored columns the file being read has (`None`: all). A column the file leaves out is
    /// never written over on a record already stored: only an empty cell in a present column clears.
    present: Option<std::collections::HashSet<String>>,
}

/// `ON CONFLICT (key) DO UPDATE SET …` for the columns given, or `DO NOTHING` when there are none.
fn upsert_tail(key: &str, set: Vec<String>) -> String {
    if set.is_empty() {
        format!("ON CONFLICT ({key}) DO NOTHING")
    } else {
        format!("ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", "))
    }
}

fn row_error(row: usize, column: &str, value: &str, reason: huanxin_domain::Reason) -> RowError {
    RowError::new(row, column, value, reason)
}

impl Db {
    /// Begins an import of about `expected_rows` rows. With `check_only` nothing is ever written.
    pub async fn begin_import(
        &self,
        actor: &Actor,
        scope: &Scope,
        source: &str,
        kind: ImportKind,
        check_only: bool,
        expected_rows: usize,
    ) -> Result<Import, StoreError> {
        let mut tx = self.begin().await?;
        if tx.engine() == crate::db::Engine::Postgres {
            // The lookups of later chunks run against a table this import is filling: plans made
            // for the table as it was (a scan of a few hundred rows) must not be reused for it.
            tx.execute("SET LOCAL plan_cache_mode = force_custom_plan", vec![]).await?;
        }
        let table = kind.table();
        let rows_before = tx.scalar(&format!("SELECT COUNT(*) FROM {table}"), vec![]).await?;
        let id_before = tx.scalar(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), vec![]).await?;
        let mut rebuild = Vec::new();
        if !check_only {
            rebuild = tx.bulk_load_begin(table, expected_rows).await?;
            // Into an empty table no owners are replaced, so the owners' indexes may go as well;
            // otherwise (a bulk load into a filled table) only their foreign key.
            if kind == ImportKind::Dwellings && rows_before == 0 {
                rebuild.extend(tx.bulk_load_begin("dwelling_owners", expected_rows).await?);
            } else if kind == ImportKind::Dwellings && !rebuild.is_empty() {
                rebuild.extend(tx.drop_foreign_keys("dwelling_owners").await?);
            }
        }
        Ok(Import {
            tx,
            kind,
            actor: actor.clone(),
            scope: scope.clone(),
            source: source.to_string(),
            check_only,
            errors: Vec::new(),
            unreported: 0,
            rebuild,
            rows_before,
            id_before,
            rows: 0,
            summary: ImportSummary::default(),
            now: crate::now(),
            seen_estates: HashMap::new(),
            seen_buildings: HashMap::new(),
            seen_dwellings: HashMap::new(),
            buildings_of_earlier_files: std::collections::HashSet::new(),
            buildings_of_this_file: std::collections::HashSet::new(),
            replaced: Vec::new(),
            updated_ids: Vec::new(),
            codes: Vec::new(),
            files: Vec::new(),
            present: None,
        })
    }

    /// Imports estates all-or-nothing: new codes are created, known codes updated.
    pub async fn import_estates(
        &self,
        actor: &Actor,
        scope: &Scope,
        source: &str,
        check_only: bool,
        rows: &[(usize, EstateRecord)],
    ) -> Result<ImportSummary, Vec<RowError>> {
        let mut import = self.begin_import(actor, scope, source, ImportKind::Estates, check_only, rows.len()).await.map_err(internal)?;
        for chunk in rows.chunks(IMPORT_CHUNK) {
            import.add_estates(chunk).await.map_err(internal)?;
        }
        import.finish().await
    }

    /// Imports buildings all-or-nothing, by estate code and building number (known ones are updated).
    pub async fn import_buildings(
        &self,
        actor: &Actor,
        scope: &Scope,
        source: &str,
        check_only: bool,
        rows: &[(usize, String, BuildingRecord)],
    ) -> Result<ImportSummary, Vec<RowError>> {
        let mut import = self.begin_import(actor, scope, source, ImportKind::Buildings, check_only, rows.len()).await.map_err(internal)?;
        for chunk in rows.chunks(IMPORT_CHUNK) {
            import.add_buildings(chunk).await.map_err(internal)?;
        }
        import.finish().await
    }

    /// Imports dwellings and their owners all-or-nothing, by estate code, building number and dwelling number.
    pub async fn import_dwellings(
        &self,
        actor: &Actor,
        scope: &Scope,
        source: &str,
        check_only: bool,
        rows: &[(usize, String, String, DwellingRecord)],
    ) -> Result<ImportSummary, Vec<RowError>> {
        let mut import = self.begin_import(actor, scope, source, ImportKind::Dwellings, check_only, rows.len()).await.map_err(internal)?;
        for chunk in rows.chunks(IMPORT_CHUNK) {
            import.add_dwellings(chunk).await.map_err(internal)?;
        }
        import.finish().await
    }
}

/// A storage failure, reported as a problem of the whole file (the import is one transaction, so
/// nothing of it was kept).
pub fn internal(e: StoreError) -> Vec<RowError> {
    let reason = match e {
        // Two imports of the same rows at once: the second meets the first's keys.
        StoreError::Duplicate(_) => reason!("imports.written_meanwhile"),
        StoreError::Busy(_) => reason!("imports.database_busy"),
        e => reason!("server.internal_detail", detail = e),
    };
    vec![row_error(0, "", "", reason)]
}

impl Import {
    /// Starts the next file of an import of several: the problems found from now on name it.
    pub fn next_file(&mut self, name: &str) {
        self.files.push(name.to_string());
        // Repeats within a file are found in memory; repeats of an earlier file by the database
        // (see `add_dwellings`), so memory stays that of one file however many are imported.
        self.seen_dwellings.clear();
        let this_file = std::mem::take(&mut self.buildings_of_this_file);
        self.buildings_of_earlier_files.extend(this_file);
    }

    /// Names the stored columns the file being read has (`None`: every column, as from the API).
    /// For dwellings, `owners` stands for the owners' names and shares, `owner_phones` for their phones.
    pub fn only_columns(&mut self, columns: Option<Vec<String>>) {
        self.present = columns.map(|c| c.into_iter().collect());
    }

    /// Whether the file being read has this stored column.
    fn has(&self, column: &str) -> bool {
        self.present.as_ref().is_none_or(|p| p.contains(column))
    }

    /// The `SET` list of an upsert: the columns the file has, of those given.
    fn update_set(&self, columns: &[&str]) -> Vec<String> {
        columns.iter().filter(|c| self.has(c)).map(|c| format!("{c} = excluded.{c}")).collect()
    }

    /// Records problems the caller found while reading rows; from now on nothing is written.
    pub fn reject(&mut self, errors: Vec<RowError>) {
        for e in errors {
            self.problem(e);
        }
    }

    /// Notes one problem; past [`MAX_REPORTED_PROBLEMS`] they are only counted.
    fn problem(&mut self, mut e: RowError) {
        if let Some(file) = self.files.last() {
            e.file.clone_from(file);
        }
        if self.errors.len() < MAX_REPORTED_PROBLEMS {
            self.errors.push(e);
        } else {
            self.unreported += 1;
        }
    }

    /// Whether any problem was found so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Rows handed over so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn writing(&self) -> bool {
        !self.check_only && self.errors.is_empty()
    }

    /// Checks a chunk of estates and, while all is well, writes it.
    pub async fn add_estates(&mut self, rows: &[(usize, EstateRecord)]) -> Result<(), StoreError> {
        self.rows += rows.len();
        let mut communities: Vec<String> = rows.iter().map(|(_, r)| r.community_code.as_str().to_string()).collect();
        communities.sort();
        communities.dedup();
        let unknown = self.tx.unknown_regions(&communities).await?;
        let mut existing: HashMap<String, Estate> = HashMap::new();
        if self.rows_before > 0 {
            let codes: Vec<&str> = rows.iter().map(|(_, r)| r.code.as_str()).collect();
            for chunk in codes.chunks(500) {
                let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                let found: Vec<Estate> = self
                    .tx
                    .fetch_all(
                        &format!("SELECT {ESTATE_COLS} FROM estates e WHERE e.code IN ({})", ph.join(",")),
                        chunk.iter().map(|c| Arg::from(*c)).collect(),
                    )
                    .await?;
                existing.extend(found.into_iter().map(|e| (e.code.clone(), e)));
            }
        }
        for (row, r) in rows {
            if let Some(first) = self.seen_estates.insert(r.code.clone(), *row) {
                self.problem(row_error(*row, "code", &r.code, reason!("imports.repeated_code", first = first)));
            }
            let cc = r.community_code.as_str();
            if unknown.contains(cc) {
                self.problem(row_error(*row, "community_code", cc, reason!("estates.not_known_community_committee")));
            } else if !&self.scope.covers_code(cc) {
                self.problem(row_error(*row, "community_code", cc, reason!("field.outside_region")));
            }
            if let Some(old) = existing.get(&r.code) {
                if !&self.scope.covers_code(&old.community_code) {
                    self.problem(row_error(*row, "code", &r.code, reason!("imports.estate_outside_region")));
                }
            }
        }
        let updated = rows.iter().filter(|(_, r)| existing.contains_key(&r.code)).count();
        self.summary.updated += updated;
        // What the update changes, field by field, as the report (and the dry run) shows it.
        let cols: Vec<&str> = WRITE_COLS.split(", ").map(str::trim).collect();
        for (row, r) in rows {
            let Some(old) = existing.get(&r.code) else { continue };
            let (before, after) = (estate_texts(old), record_texts(r));
            for (i, col) in cols.iter().enumerate().skip(1) {
                if self.has(col) && before[i] != after[i] {
                    if self.summary.changes.len() < MAX_REPORTED_CHANGES {
                        self.summary.changes.push(FieldChange {
                            row: *row,
                            key: r.code.clone(),
                            field: (*col).to_string(),
                            from: before[i].clone(),
                            to: after[i].clone(),
                        });
                    } else {
                        self.summary.changes_unreported += 1;
                    }
                }
            }
        }
        self.summary.created += rows.len() - updated;
        if !self.writing() {
            return Ok(());
        }
        let values: Vec<Vec<Arg>> = rows
            .iter()
            .map(|(_, r)| {
                let mut a = record_args(r);
                a.push(self.now.clone().into());
                a.push(self.now.clone().into());
                a
            })
            .collect();
        let updates = self.update_set(&cols[1..]);
        let mut all = cols.clone();
        all.extend(["created_at", "updated_at"]);
        // A chunk of new codes only (the usual first load) needs no conflict clause.
        let tail = if existing.is_empty() {
            String::new()
        } else {
            let mut set = updates;
            set.push("updated_at = excluded.updated_at".into());
            format!("ON CONFLICT (code) DO UPDATE SET {}", set.join(", "))
        };
        self.tx.insert_rows("estates", &all, values, &tail).await?;
        self.replaced.extend(rows.iter().filter_map(|(_, r)| existing.get(&r.code)).map(estate_json));
        self.updated_ids.extend(rows.iter().filter_map(|(_, r)| existing.get(&r.code)).map(|e| e.id));
        self.codes.extend(rows.iter().map(|(_, r)| r.code.clone()));
        Ok(())
    }

    /// Checks a chunk of buildings (estate code, record) and, while all is well, writes it.
    pub async fn add_buildings(&mut self, rows: &[(usize, String, BuildingRecord)]) -> Result<(), StoreError> {
        self.rows += rows.len();
        let estates = estate_ids_by_code(&mut self.tx, &self.scope, rows.iter().map(|r| r.1.as_str()).collect()).await?;
        for (row, code, b) in rows {
            if !estates.contains_key(code) {
                self.problem(row_error(*row, "estate_code", code, reason!("imports.no_estate_with_code")));
            }
            if let Some(first) = self.seen_buildings.insert((code.clone(), b.number.clone()), *row) {
                self.problem(row_error(*row, "number", &b.number, reason!("imports.repeated_building", first = first)));
            }
        }
        if !self.writing() {
            return Ok(());
        }
        let values: Vec<Vec<Arg>> = rows
            .iter()
            .filter_map(|(_, code, b)| {
                let id = estates.get(code)?.0;
                Some(crate::args![id, b.number.as_str(), b.floors, b.stairwells, b.has_lift, b.structure.as_str(), b.build_year])
            })
            .collect();
        self.tx
            .insert_rows(
                "buildings",
                &["estate_id", "number", "floors", "stairwells", "has_lift", "structure", "build_year"],
                values,
                // Into a table that was empty every row is new.
                &if self.rows_before == 0 {
                    String::new()
                } else {
                    upsert_tail("estate_id, number", self.update_set(&["floors", "stairwells", "has_lift", "structure", "build_year"]))
                },
            )
            .await?;
        Ok(())
    }

    /// Checks a chunk of dwellings (estate code, building number, record) and, while all is well,
    /// writes them with their owners (the owners of a dwelling already stored are replaced).
    pub async fn add_dwellings(&mut self, rows: &[(usize, String, String, DwellingRecord)]) -> Result<(), StoreError> {
        self.rows += rows.len();
        let estates = estate_ids_by_code(&mut self.tx, &self.scope, rows.iter().map(|r| r.1.as_str()).collect()).await?;
        let mut buildings: HashMap<(i64, String), i64> = HashMap::new();
        let ids: Vec<i64> = estates.values().map(|v| v.0).collect();
        for chunk in ids.chunks(500) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let found: Vec<(i64, i64, String)> = self
                .tx
                .fetch_all(&format!("SELECT id, estate_id, number FROM buildings WHERE estate_id IN ({})", list.join(",")), vec![])
                .await?;
            buildings.extend(found.into_iter().map(|(id, e, n)| ((e, n), id)));
        }
        let mut resolved = Vec::with_capacity(rows.len());
        for (row, code, bnum, d) in rows {
            let Some((estate_id, _)) = estates.get(code) else {
                self.problem(row_error(*row, "estate_code", code, reason!("imports.no_estate_with_code")));
                continue;
            };
            let Some(building_id) = buildings.get(&(*estate_id, bnum.clone())) else {
                self.problem(row_error(*row, "building_number", bnum, reason!("imports.no_such_building")));
                continue;
            };
            if let Some(first) = self.seen_dwellings.insert((*building_id, d.number.clone()), *row) {
                self.problem(row_error(*row, "number", &d.number, reason!("imports.repeated_dwelling", first = first)));
            }
            resolved.push((*estate_id, *building_id, d, *row));
        }
        if self.check_only {
            return Ok(());
        }
        let keys = [("building_id", "BIGINT"), ("number", "TEXT")];
        // Dwellings of these buildings already in the table: stored before the import (their
        // owners are replaced) or, in an import of several files, written from an earlier file
        // (a repeat). Read by building (a few thousand index ranges) rather than dwelling by dwelling.
        // Only buildings an earlier file also had can hold a repeat (usually none: files tend to
        // be split by estate).
        let mut check: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
        for (_, b, _, _) in &resolved {
            if self.rows_before > 0 || self.buildings_of_earlier_files.contains(b) {
                check.insert(*b);
            }
            if !self.files.is_empty() {
                self.buildings_of_this_file.insert(*b);
            }
        }
        let mut stored: Vec<Vec<Arg>> = Vec::new();
        // Owners are replaced as a group; a file that has them without their phones keeps each
        // stored owner's phone (by name) instead of wiping it.
        let keep_phones = self.has("owners") && !self.has("owner_phones");
        let mut kept_phones: HashMap<(i64, String, String), String> = HashMap::new();
        if !check.is_empty() {
            let bids: Vec<String> = check.iter().map(i64::to_string).collect();
            // The table's statistics are those of before the import: without this PostgreSQL may
            // scan the whole growing table for every chunk instead of reading the key's index.
            let pg = self.tx.engine() == crate::db::Engine::Postgres;
            if pg {
                self.tx.execute("SET LOCAL enable_seqscan = off", vec![]).await?;
            }
            let found: Result<Vec<(i64, i64, String)>, StoreError> = self
                .tx
                .fetch_all(&format!("SELECT id, building_id, number FROM dwellings WHERE building_id IN ({})", bids.join(",")), vec![])
                .await;
            let phones: Result<Vec<(i64, String, String, String)>, StoreError> = if keep_phones {
                self.tx
                    .fetch_all(
                        &format!(
                            "SELECT d.building_id, d.number, o.name, o.phone FROM dwellings d JOIN dwelling_owners o ON o.dwelling_id = d.id \
                             WHERE d.building_id IN ({}) AND o.phone <> ''",
                            bids.join(",")
                        ),
                        vec![],
                    )
                    .await
            } else {
                Ok(Vec::new())
            };
            if pg {
                self.tx.execute("RESET enable_seqscan", vec![]).await?;
            }
            kept_phones.extend(phones?.into_iter().map(|(b, n, name, phone)| ((b, n, name), phone)));
            let found = found?;
            let found: HashMap<(i64, String), i64> = found.into_iter().map(|(id, b, n)| ((b, n), id)).collect();
            let mut repeats = Vec::new();
            for (_, b, d, row) in &resolved {
                match found.get(&(*b, d.number.clone())) {
                    Some(id) if *id > self.id_before => {
                        repeats.push(row_error(*row, "number", &d.number, reason!("imports.repeated_dwelling_across_files")))
                    }
                    Some(_) => stored.push(crate::args![*b, d.number.as_str()]),
                    None => {}
                }
            }
            for e in repeats {
                self.problem(e);
            }
        }
        if !self.writing() {
            return Ok(());
        }
        // Without the owners' columns, the owners stay as they are (new dwellings get none).
        let with_owners = self.has("owners");
        if !stored.is_empty() && with_owners {
            self.tx
                .execute_with_rows(
                    &keys,
                    stored,
                    "DELETE FROM dwelling_owners WHERE dwelling_id IN (SELECT d.id FROM huanxin_src s \
                     JOIN dwellings d ON d.building_id = s.building_id AND d.number = s.number)",
                )
                .await?;
        }
        // Every row new on PostgreSQL: ids are taken from the table's own sequence first, so that the
        // owners go in by COPY with their dwelling's id instead of being joined back to it by key.
        if self.rows_before == 0 && self.tx.engine() == crate::db::Engine::Postgres {
            return self.copy_new_dwellings(&resolved, with_owners).await;
        }
        let values: Vec<Vec<Arg>> = resolved.iter().map(|(e, b, d, _)| dwelling_args(*e, *b, d)).collect();
        self.tx
            .insert_rows(
                "dwellings",
                &DWELLING_COLUMNS[1..],
                values,
                &if self.rows_before == 0 {
                    String::new()
                } else {
                    upsert_tail(
                        "building_id, number",
                        self.update_set(&["stairwell", "floor", "exclusive_area", "occupancy", "residents_60_plus"]),
                    )
                },
            )
            .await?;
        // Owners find their dwelling by its key inside the engine: no ids travel back and forth.
        let owner_rows: Vec<Vec<Arg>> = resolved
            .iter()
            .filter(|_| with_owners)
            .flat_map(|(_, b, d, _)| d.owners.iter().map(move |(name, phone, share)| (*b, d.number.as_str(), name, phone, *share)))
            .enumerate()
            .map(|(i, (b, number, name, phone, share))| {
                // Looked up (one key made) only where a stored phone may be kept.
                let kept = (keep_phones && phone.is_empty()).then(|| kept_phones.get(&(b, number.to_string(), name.clone()))).flatten();
                let phone = kept.map_or(phone.as_str(), String::as_str);
                crate::args![b, number, name.as_str(), phone, share, i64::try_from(i).unwrap_or(i64::MAX)]
            })
            .collect();
        self.tx
            .execute_with_rows(
                &[keys[0], keys[1], ("name", "TEXT"), ("phone", "TEXT"), ("share_bp", "BIGINT"), ("ord", "BIGINT")],
                owner_rows,
                // In file order, so that co-owners keep the order they were listed in.
                "INSERT INTO dwelling_owners (dwelling_id, name, phone, share_bp) SELECT d.id, s.name, s.phone, s.share_bp \
                 FROM huanxin_src s JOIN dwellings d ON d.building_id = s.building_id AND d.number = s.number ORDER BY s.ord",
            )
            .await?;
        Ok(())
    }

    /// PostgreSQL, into a table that was empty: the dwellings with ids drawn from the table's
    /// sequence (safe beside other writers), then their owners with those ids, both by COPY.
    async fn copy_new_dwellings(&mut self, resolved: &[(i64, i64, &DwellingRecord, usize)], with_owners: bool) -> Result<(), StoreError> {
        let n = i64::try_from(resolved.len()).unwrap_or(i64::MAX);
        let ids: Vec<(i64,)> = self
            .tx
            .fetch_all("SELECT nextval(pg_get_serial_sequence('dwellings', 'id')) FROM generate_series(1, $1)", crate::args![n])
            .await?;
        if ids.len() != resolved.len() {
            return Err(StoreError::Config("the dwellings' sequence gave fewer ids than asked".into()));
        }
        let values: Vec<Vec<Arg>> = resolved
            .iter()
            .zip(&ids)
            .map(|((e, b, d, _), (id,))| {
                let mut row = vec![Arg::from(*id)];
                row.extend(dwelling_args(*e, *b, d));
                row
            })
            .collect();
        self.tx.insert_rows("dwellings", &DWELLING_COLUMNS, values, "").await?;
        if !with_owners {
            return Ok(());
        }
        // In file order, so that co-owners keep the order they were listed in.
        let owners: Vec<Vec<Arg>> = resolved
            .iter()
            .zip(&ids)
            .flat_map(|((_, _, d, _), (id,))| {
                d.owners.iter().map(move |(name, phone, share)| crate::args![*id, name.as_str(), phone.as_str(), *share])
            })
            .collect();
        self.tx.insert_rows("dwelling_owners", &["dwelling_id", "name", "phone", "share_bp"], owners, "").await?;
        Ok(())
    }

    /// Ends the import: with any problem (or when only checking) it rolls back and returns the
    /// problems by row; otherwise it rebuilds dropped indexes, records the audit and commits.
    pub async fn finish(mut self) -> Result<ImportSummary, Vec<RowError>> {
        if !self.errors.is_empty() {
            let mut errors = std::mem::take(&mut self.errors);
            let files = std::mem::take(&mut self.files);
            errors.sort_by_key(|e| (files.iter().position(|f| *f == e.file), e.row));
            if self.unreported > 0 {
                errors.push(row_error(0, "", "", reason!("imports.more_problems", unreported = self.unreported)));
            }
            return Err(errors);
        }
        if self.check_only {
            return Ok(self.summary);
        }
        self.commit().await.map_err(internal)
    }

    async fn commit(mut self) -> Result<ImportSummary, StoreError> {
        let table = self.kind.table();
        self.tx.rebuild_indexes(table, std::mem::take(&mut self.rebuild)).await?;
        let summary = if self.kind == ImportKind::Estates {
            self.summary.clone()
        } else {
            // Into a table that was empty every row written is new (a row another writer added
            // meanwhile is not counted as this import's); otherwise what the table gained.
            let created = if self.rows_before == 0 {
                self.rows
            } else {
                let after = self.tx.scalar(&format!("SELECT COUNT(*) FROM {table}"), vec![]).await?;
                usize::try_from(after - self.rows_before).unwrap_or(0)
            };
            ImportSummary { created, updated: self.rows.saturating_sub(created), ..Default::default() }
        };
        let region = match &self.scope {
            Scope::Region(rc) => rc.as_str().to_string(),
            Scope::Attached { .. } => String::new(),
        };
        let mut after = serde_json::json!({"created": summary.created, "updated": summary.updated});
        if self.kind == ImportKind::Estates {
            after["codes"] = serde_json::json!(self.codes);
        }
        // Only estates that count somewhere can count differently now (households, region…).
        for chunk in std::mem::take(&mut self.updated_ids).chunks(500) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let counted: Vec<(i64,)> = self
                .tx
                .fetch_all(
                    &format!("SELECT DISTINCT subject_id FROM stat_parts WHERE subject = 'estate' AND subject_id IN ({})", ph.join(",")),
                    chunk.iter().map(|id| Arg::from(*id)).collect(),
                )
                .await?;
            let ids: Vec<i64> = counted.into_iter().map(|(id,)| id).collect();
            self.tx.refresh_estates_statistics(&ids).await?;
        }
        let before = std::mem::take(&mut self.replaced);
        self.tx
            .audit(
                &self.actor,
                Change {
                    action: "import",
                    entity: self.kind.entity(),
                    entity_id: self.source.clone(),
                    region_code: region,
                    before: if before.is_empty() { None } else { Some(serde_json::Value::Array(before)) },
                    after: Some(after),
                },
            )
            .await?;
        self.tx.commit().await?;
        Ok(summary)
    }
}

/// The dwellings' stored columns, id first.
const DWELLING_COLUMNS: [&str; 9] =
    ["id", "estate_id", "building_id", "stairwell", "floor", "number", "exclusive_area", "occupancy", "residents_60_plus"];

/// A dwelling's values for [`DWELLING_COLUMNS`] after the id.
fn dwelling_args(estate_id: i64, building_id: i64, d: &DwellingRecord) -> Vec<Arg> {
    crate::args![
        estate_id,
        building_id,
        d.stairwell,
        d.floor,
        d.number.as_str(),
        d.exclusive_area.hundredths(),
        d.occupancy.as_str(),
        d.residents_60_plus
    ]
}

/// Estate ids and communities by code, only for estates in scope.
async fn estate_ids_by_code(tx: &mut Tx, scope: &Scope, mut codes: Vec<&str>) -> Result<HashMap<String, (i64, String)>, StoreError> {
    codes.sort_unstable();
    codes.dedup();
    let mut out = HashMap::new();
    for chunk in codes.chunks(500) {
        // By code alone (the unique index), then the scope in memory: with a region condition
        // in the query PostgreSQL may scan the whole region and test every row against the list.
        let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let found: Vec<(i64, String, String)> = tx
            .fetch_all(
                &format!("SELECT e.id, e.code, e.community_code FROM estates e WHERE e.code IN ({})", ph.join(",")),
                chunk.iter().map(|c| Arg::from(*c)).collect(),
            )
            .await?;
        out.extend(found.into_iter().filter(|(_, _, cc)| scope.covers_code(cc)).map(|(id, code, cc)| (code, (id, cc))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_import_says_why_in_words_a_user_can_act_on() {
        let code = |e: StoreError| internal(e).remove(0).code;
        assert_eq!(code(StoreError::Duplicate("duplicate key value violates unique constraint".into())), "imports.written_meanwhile");
        assert_eq!(code(StoreError::Busy("database is locked".into())), "imports.database_busy");
        assert_eq!(code(StoreError::Config("x".into())), "server.internal_detail");
    }
}
