//! Reading and writing tables: xlsx and csv (UTF-8 or GBK/GB18030, as Chinese Excel writes),
//! with problems reported by row and column. Used by imports, templates and exports.

use crate::error::ApiError;
use calamine::{Data, Reader, Xlsx};
use huanxin_domain::reason;
use huanxin_domain::sheets;
use huanxin_store::estates::RowError;
use rust_xlsxwriter::{Format, Workbook};
use std::io::Cursor;

/// One column of an import or export: its API key, Chinese header and an example value.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub key: &'static str,
    pub header: &'static str,
    pub required: bool,
    pub example: &'static str,
}

/// A table read from a file: the data rows with their row numbers as the user sees them.
#[derive(Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
    pub blank_rows_skipped: usize,
    /// The sheet read (xlsx), when the workbook has several.
    pub sheet: String,
    /// Title rows above the header and 合计 rows below the data, passed over.
    pub skipped: Vec<SkippedRow>,
}

impl Table {
    /// Maps each known column key to its position; unknown headers and missing required ones are errors.
    pub fn column_positions(&self, columns: &[Column]) -> Result<Vec<Option<usize>>, Vec<RowError>> {
        column_positions(&self.headers, columns)
    }
}

/// A row the reader passed over, and why ("title row" above the header, "total row" below the data).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SkippedRow {
    /// The file, when several are imported together.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    pub row: usize,
    pub reason: String,
    /// What the row's first filled cell says.
    pub value: String,
}

impl SkippedRow {
    fn new(row: usize, reason: &str, cells: &[String]) -> Self {
        let value = cells.iter().find(|c| !c.trim().is_empty()).cloned().unwrap_or_default();
        SkippedRow { file: String::new(), row, reason: reason.into(), value: value.chars().take(60).collect() }
    }
}

/// True when `header` names one of `columns` (by its header in any common spelling, or its key).
fn names_a_column(header: &str, columns: &[Column]) -> bool {
    let key = sheets::header_key(header);
    columns.iter().any(|c| sheets::header_key(c.header) == key || c.key == header.trim())
}

/// Where the header row is among `first_rows` (title rows above it are passed over).
fn locate_header(first_rows: &[Vec<String>], columns: &[Column]) -> usize {
    sheets::header_row(first_rows, |h| names_a_column(h, columns))
}

/// Maps each known column key to its position in `headers`. Headers match in their common
/// spellings (full- or half-width brackets, spaces, line breaks, a unit suffix, synonyms such as
/// 总户数 for 户数); 序号 and 备注 columns are passed over; unknown headers, a column given twice and
/// missing required ones are errors.
pub fn column_positions(headers: &[String], columns: &[Column]) -> Result<Vec<Option<usize>>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut positions = vec![None; columns.len()];
    let keys: Vec<String> = columns.iter().map(|c| sheets::header_key(c.header)).collect();
    let header_error = |h: &str, reason: huanxin_domain::Reason| RowError::new(0, h, h, reason);
    for (i, h) in headers.iter().enumerate() {
        if h.trim().is_empty() || sheets::is_ignored_header(h) {
            continue;
        }
        let key = sheets::header_key(h);
        match columns.iter().zip(&keys).position(|(c, k)| *k == key || c.key == h.trim()) {
            Some(k) if positions[k].is_some() => {
                errors.push(header_error(h, reason!("tabular.repeated_column", column = columns[k].header)))
            }
            Some(k) => positions[k] = Some(i),
            None => errors.push(header_error(
                h,
                reason!("tabular.unknown_column", expected = columns.iter().map(|c| c.header).collect::<Vec<_>>().join("、")),
            )),
        }
    }
    for (c, p) in columns.iter().zip(&positions) {
        if c.required && p.is_none() {
            errors.push(RowError::new(0, c.header, "", reason!("tabular.required_column_missing")));
        }
    }
    if errors.is_empty() {
        Ok(positions)
    } else {
        Err(errors)
    }
}

/// Gives header problems the header's row number as the user sees it.
fn at_header_row(mut errors: Vec<RowError>, row: usize) -> Vec<RowError> {
    for e in errors.iter_mut().filter(|e| e.row == 0) {
        e.row = row;
    }
    errors
}

fn is_blank(row: &[String]) -> bool {
    row.iter().all(|c| c.trim().is_empty())
}

/// Reads a whole CSV file (for small files; imports stream with [`CsvRows`]).
pub fn read_csv(bytes: &[u8], columns: &[Column]) -> Result<Table, ApiError> {
    let (headers, mut rows) = CsvRows::open(bytes.to_vec(), columns)?;
    let mut table = Table { headers, ..Default::default() };
    for row in rows.by_ref() {
        table.rows.push(row?);
    }
    table.blank_rows_skipped = rows.blank_rows_skipped;
    table.skipped = rows.skipped;
    Ok(table)
}

/// CSV text from bytes: UTF-16 (with a byte-order mark, as Excel's "Unicode text" saves), UTF-8
/// with or without a mark, else GB18030 (GBK, as Chinese Excel saves CSV).
fn csv_text(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(b"\xFF\xFE") {
        return encoding_rs::UTF_16LE.decode(&bytes[2..]).0.into_owned().into_bytes();
    }
    if bytes.starts_with(b"\xFE\xFF") {
        return encoding_rs::UTF_16BE.decode(&bytes[2..]).0.into_owned().into_bytes();
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return rest.to_vec();
    }
    match std::str::from_utf8(&bytes) {
        Ok(_) => bytes,
        Err(_) => encoding_rs::GB18030.decode(&bytes).0.into_owned().into_bytes(),
    }
}

/// The separator of CSV text: comma, semicolon or tab, whichever most of the first lines use.
fn csv_separator(text: &[u8]) -> u8 {
    let head = &text[..text.len().min(64 * 1024)];
    let lines: Vec<&[u8]> = head.split(|b| *b == b'\n').take(sheets::HEADER_SEARCH_ROWS + 2).collect();
    let score = |sep: u8| {
        let with = lines.iter().filter(|l| l.contains(&sep)).count();
        let total: usize = lines.iter().map(|l| l.iter().filter(|b| **b == sep).count()).sum();
        (with, total)
    };
    [b',', b';', b'\t'].into_iter().max_by_key(|sep| (score(*sep), *sep == b',')).unwrap_or(b',')
}

/// The data rows of a CSV file, read one at a time (blank rows skipped and counted), so that an
/// import of millions of rows keeps only the rows it is working on in memory.
pub struct CsvRows {
    reader: csv::Reader<Cursor<Vec<u8>>>,
    record: csv::StringRecord,
    index: usize,
    /// Rows read ahead while looking for the header.
    ahead: std::collections::VecDeque<(usize, Vec<String>)>,
    /// Blank rows passed over so far.
    pub blank_rows_skipped: usize,
    /// Title and 合计 rows passed over so far.
    pub skipped: Vec<SkippedRow>,
    /// A 合计 row was read: what follows is the sheet's foot.
    below_total: bool,
}

impl CsvRows {
    /// Opens CSV bytes (see [`csv_text`] for encodings; comma, semicolon or tab separated) and
    /// finds the header row among the first rows, passing over title rows above it.
    pub fn open(bytes: Vec<u8>, columns: &[Column]) -> Result<(Vec<String>, CsvRows), ApiError> {
        let text = csv_text(bytes);
        let separator = csv_separator(&text);
        let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(separator).from_reader(Cursor::new(text));
        let mut rows = CsvRows {
            reader,
            record: csv::StringRecord::new(),
            index: 0,
            ahead: Default::default(),
            blank_rows_skipped: 0,
            skipped: Vec::new(),
            below_total: false,
        };
        let mut first = Vec::new();
        while first.len() < sheets::HEADER_SEARCH_ROWS {
            match rows.read()? {
                Some(cells) => first.push((rows.index, cells)),
                None => break,
            }
        }
        let cells: Vec<Vec<String>> = first.iter().map(|(_, c)| c.clone()).collect();
        if cells.iter().all(|c| is_blank(c)) {
            return Err(ApiError::field("file", "", reason!("field.file_empty")));
        }
        let at = locate_header(&cells, columns);
        let mut first = first.into_iter();
        for (row, cells) in first.by_ref().take(at) {
            if !is_blank(&cells) {
                rows.skipped.push(SkippedRow::new(row, "title row", &cells));
            }
        }
        let (header_row, headers) = first.next().unwrap_or_default();
        column_positions(&headers, columns).map_err(|e| ApiError::ImportRejected(at_header_row(e, header_row)))?;
        rows.ahead.extend(first);
        Ok((headers, rows))
    }

    fn read(&mut self) -> Result<Option<Vec<String>>, ApiError> {
        self.index += 1;
        match self.reader.read_record(&mut self.record) {
            // The same limit as a sheet's: a row of a million cells is refused, not matched header by header.
            Ok(true) if self.record.len() > MAX_COLUMNS => Err(ApiError::field(
                "file",
                "",
                reason!("tabular.row_too_wide", index = self.index, record = self.record.len(), max_columns = MAX_COLUMNS),
            )),
            Ok(true) => Ok(Some(self.record.iter().map(|s| s.trim().to_string()).collect())),
            Ok(false) => Ok(None),
            Err(e) => {
                Err(ApiError::ImportRejected(vec![RowError::new(self.index, "", "", reason!("tabular.csv_row_unreadable", detail = e))]))
            }
        }
    }
}

impl Iterator for CsvRows {
    /// The row number as the user sees it (header is row 1) and the trimmed cells.
    type Item = Result<(usize, Vec<String>), ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = match self.ahead.pop_front() {
                Some(row) => Ok(Some(row)),
                None => self.read().map(|cells| cells.map(|c| (self.index, c))),
            };
            match next {
                Ok(Some((_, cells))) if is_blank(&cells) => self.blank_rows_skipped += 1,
                Ok(Some((row, cells))) if sheets::is_total_row(&cells) => {
                    self.skipped.push(SkippedRow::new(row, "total row", &cells));
                    self.below_total = true;
                }
                Ok(Some((row, cells))) if self.below_total || sheets::is_footer_row(&cells) => {
                    self.skipped.push(SkippedRow::new(row, "footer row", &cells))
                }
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => {
            if *b {
                "是".into()
            } else {
                "否".into()
            }
        }
        // A date alone, or with its time when the cell has one (a hotline call's hour matters).
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(|d| {
                if d.time() == chrono::NaiveTime::MIN {
                    d.format("%Y-%m-%d").to_string()
                } else {
                    d.format("%Y-%m-%d %H:%M:%S").to_string()
                }
            })
            .unwrap_or_else(|| dt.to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#ERROR {e:?}"),
    }
}

fn col_name(mut c: usize) -> String {
    let mut s = String::new();
    c += 1;
    while c > 0 {
        let r = (c - 1) % 26;
        s.insert(0, (b'A' + r as u8) as char);
        c = (c - 1) / 26;
    }
    s
}

/// Most columns, data rows and filled cells a sheet may have. A sheet is read as a stream of its
/// filled cells, never as the rectangle they span: one value in A1 and one in XFD1048576 once made
/// the reader allocate the whole sheet (hundreds of GiB) and stopped the server.
pub const MAX_COLUMNS: usize = 200;
pub const MAX_ROWS: usize = 1_000_000;
pub const MAX_CELLS: usize = 5_000_000;

/// One sheet's filled cells by row, its merged ranges and its formulas without a value.
struct RawSheet {
    name: String,
    rows: std::collections::BTreeMap<u32, Vec<(u32, String)>>,
    width: usize,
    merged: Vec<((u32, u32), (u32, u32))>,
    formula_errors: Vec<RowError>,
}

impl RawSheet {
    /// The first rows as cells, for finding the header.
    fn first_rows(&self) -> Vec<(u32, Vec<String>)> {
        self.rows.iter().take(sheets::HEADER_SEARCH_ROWS).map(|(r, filled)| (*r, self.line(filled))).collect()
    }

    /// A row's cells up to its last filled one (not the sheet's widest row: 200k rows of one cell
    /// under a wide header would otherwise take a gigabyte); readers treat cells past the end as empty.
    fn line(&self, filled: &[(u32, String)]) -> Vec<String> {
        let width = filled.iter().map(|(c, _)| *c as usize + 1).max().unwrap_or(0).min(self.width);
        let mut line = vec![String::new(); width];
        for (col, text) in filled {
            line[*col as usize] = text.clone();
        }
        line
    }

    /// The table below the header at `header` (a 0-based sheet row): merged cells and formulas
    /// without a value there are refused by cell, title rows above and 合计 rows below passed over.
    fn into_table(self, header: u32) -> Result<Table, ApiError> {
        let mut errors: Vec<RowError> = self.formula_errors.iter().filter(|e| e.row > header as usize).cloned().collect();
        for &((r0, c0), (r1, c1)) in self.merged.iter().filter(|(_, end)| end.0 >= header) {
            errors.push(RowError::new(
                r0 as usize + 1,
                &col_name(c0 as usize),
                &format!("{}{}:{}{}", col_name(c0 as usize), r0 + 1, col_name(c1 as usize), r1 + 1),
                reason!("tabular.merged_cells"),
            ));
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            return Err(ApiError::ImportRejected(errors));
        }
        let mut table = Table { sheet: self.name.clone(), ..Default::default() };
        let (mut last_row, mut below_total): (Option<u32>, bool) = (None, false);
        for (row, filled) in &self.rows {
            let line = self.line(filled);
            if *row < header {
                table.skipped.push(SkippedRow::new(*row as usize + 1, "title row", &line));
                continue;
            }
            if *row == header {
                table.headers = line;
            } else {
                // Rows with nothing in them between filled ones are blank rows.
                table.blank_rows_skipped += last_row.map(|l| (row - l - 1) as usize).unwrap_or(0);
                if sheets::is_total_row(&line) {
                    table.skipped.push(SkippedRow::new(*row as usize + 1, "total row", &line));
                    below_total = true;
                } else if below_total || sheets::is_footer_row(&line) {
                    // Under the 合计 row come sign-offs and notes (审核人：…), not estates.
                    table.skipped.push(SkippedRow::new(*row as usize + 1, "footer row", &line));
                } else {
                    table.rows.push((*row as usize + 1, line));
                }
            }
            last_row = Some(*row);
        }
        Ok(table)
    }
}

/// Reads one sheet as a stream of its filled cells, refusing it past [`MAX_COLUMNS`],
/// [`MAX_ROWS`] or [`MAX_CELLS`].
fn read_sheet(wb: &mut Xlsx<Cursor<&[u8]>>, sheet: &str) -> Result<RawSheet, ApiError> {
    let merged = wb.merge_cells_by_sheet_name(sheet).map(|m| m.into_iter().map(|d| (d.start, d.end)).collect()).unwrap_or_default();
    let too_big = |what: String| ApiError::field("file", sheet, reason!("tabular.sheet_too_large", what = what));
    let unreadable = |e: calamine::XlsxError| ApiError::field("file", "", reason!("tabular.chosen_sheet_unreadable", sheet = sheet, e = e));
    let mut reader = wb.worksheet_cells_reader(sheet).map_err(unreadable)?;
    // Filled cells by row; rows arrive in order in a well-formed file, but a map takes any order.
    let mut raw = RawSheet { name: sheet.to_string(), rows: Default::default(), width: 0, merged, formula_errors: Vec::new() };
    let mut cells = 0usize;
    while let Some(cell) = reader.next_cell_with_formula().map_err(unreadable)? {
        let (row, col) = cell.pos;
        let text = cell_text(&Data::from(cell.value));
        if cell.formula.as_deref().is_some_and(|f| !f.is_empty()) && text.is_empty() {
            raw.formula_errors.push(RowError::new(
                row as usize + 1,
                &col_name(col as usize),
                &format!("={}", cell.formula.unwrap_or_default()),
                reason!("tabular.formula_without_value"),
            ));
            continue;
        }
        if text.is_empty() {
            continue;
        }
        if col as usize >= MAX_COLUMNS {
            return Err(too_big(format!("a value in column {} (at most {MAX_COLUMNS} columns)", col_name(col as usize))));
        }
        cells += 1;
        if cells > MAX_CELLS {
            return Err(too_big(format!("more than {MAX_CELLS} filled cells")));
        }
        raw.width = raw.width.max(col as usize + 1);
        // The header row and MAX_ROWS data rows.
        if !raw.rows.contains_key(&row) && raw.rows.len() > MAX_ROWS {
            return Err(too_big(format!("more than {MAX_ROWS} rows")));
        }
        raw.rows.entry(row).or_default().push((col, text));
    }
    Ok(raw)
}

/// Reads the sheet of an xlsx file that holds the import: the one named by `sheet`, else the
/// first whose header (below any title rows) has the import's columns, so that an instructions
/// sheet in front is passed over. Merged cells and formulas without a value below the header are
/// refused by cell, since their meaning per row is ambiguous; blank rows are skipped and counted.
/// A sheet over [`MAX_COLUMNS`], [`MAX_ROWS`] or [`MAX_CELLS`] is refused with the limit it broke.
pub fn read_xlsx(bytes: &[u8], columns: &[Column], sheet: Option<&str>) -> Result<Table, ApiError> {
    check_xlsx_parts(bytes)?;
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ApiError::field("file", "", reason!("tabular.xlsx_unreadable", e = e)))?;
    let names = wb.sheet_names();
    choose_sheet(&names, columns, sheet, |name| read_sheet(&mut wb, name))
}

/// The most one part of an xlsx may unpack to, and all of them together: a 20-MiB upload of a
/// real registry unpacks to well under this, while a crafted one (a gigabyte string, 80 million
/// empty shared strings) took the server to 10 GB.
pub const MAX_XLSX_PART: u64 = 64 << 20;
pub const MAX_XLSX_UNPACKED: u64 = 160 << 20;

/// Unpacks each part of an xlsx once, counting, before the workbook reader is given it: a part
/// past [`MAX_XLSX_PART`] or a whole past [`MAX_XLSX_UNPACKED`] is refused. Counted, not taken
/// from the sizes the archive declares, which a crafted file can understate.
fn check_xlsx_parts(bytes: &[u8]) -> Result<(), ApiError> {
    check_xlsx_parts_within(bytes, MAX_XLSX_PART, MAX_XLSX_UNPACKED)
}

fn check_xlsx_parts_within(bytes: &[u8], max_part: u64, max_total: u64) -> Result<(), ApiError> {
    let unreadable = |e: String| ApiError::field("file", "", reason!("tabular.xlsx_unreadable", e = e));
    let too_big = |what: String| ApiError::field("file", "", reason!("tabular.xlsx_unpacks_too_large", what = what));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(e.to_string()))?;
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| unreadable(e.to_string()))?;
        let name = part.name().map(|n| n.chars().take(100).collect::<String>()).unwrap_or_default();
        if part.size() > max_part {
            return Err(too_big(format!("{name}: {} MiB (at most {} MiB)", part.size() >> 20, max_part >> 20)));
        }
        let unpacked = std::io::copy(&mut std::io::Read::take(&mut part, max_part + 1), &mut std::io::sink())
            .map_err(|e| unreadable(e.to_string()))?;
        if unpacked > max_part {
            return Err(too_big(format!("{name}: over {} MiB", max_part >> 20)));
        }
        total += unpacked;
        if total > max_total {
            return Err(too_big(format!("over {} MiB in all", max_total >> 20)));
        }
    }
    Ok(())
}

/// Reads a legacy .xls workbook (Excel 97–2003, as WPS and older offices still save) as
/// [`read_xlsx`] reads an xlsx. Every cell position is checked before the xls library reads the
/// file, since it builds each sheet as the rectangle its cells span.
pub fn read_xls(bytes: &[u8], columns: &[Column], sheet: Option<&str>) -> Result<Table, ApiError> {
    check_xls_extent(bytes)?;
    let mut wb =
        calamine::Xls::new(Cursor::new(bytes)).map_err(|e| ApiError::field("file", "", reason!("tabular.xls_unreadable", e = e)))?;
    let names = wb.sheet_names();
    choose_sheet(&names, columns, sheet, |name| {
        let range =
            wb.worksheet_range(name).map_err(|e| ApiError::field("file", "", reason!("tabular.sheet_unreadable", name = name, e = e)))?;
        let merged = wb.merge_cells_by_sheet_name(name).unwrap_or_default().into_iter().map(|d| (d.start, d.end)).collect();
        let mut raw = RawSheet { name: name.to_string(), rows: Default::default(), width: 0, merged, formula_errors: Vec::new() };
        let (r0, c0) = range.start().unwrap_or((0, 0));
        for (r, c, value) in range.used_cells() {
            let text = cell_text(value);
            if text.is_empty() {
                continue;
            }
            let (row, col) = (r0 + r as u32, c0 + c as u32);
            raw.width = raw.width.max(col as usize + 1);
            raw.rows.entry(row).or_default().push((col, text));
        }
        Ok(raw)
    })
}

/// The sheet named `wanted`, else the first of `names` whose header has the import's columns.
fn choose_sheet(
    names: &[String],
    columns: &[Column],
    wanted: Option<&str>,
    mut read: impl FnMut(&str) -> Result<RawSheet, ApiError>,
) -> Result<Table, ApiError> {
    let candidates = match wanted.map(str::trim).filter(|s| !s.is_empty()) {
        Some(wanted) if names.iter().any(|n| n == wanted) => vec![wanted.to_string()],
        Some(wanted) => {
            return Err(ApiError::field("sheet", wanted, reason!("tabular.no_such_sheet", names = names.join("、"))));
        }
        None => names.to_vec(),
    };
    // When no sheet fits, the problems of the sheet that came nearest (most known columns) are
    // the ones to show: a data sheet missing one column, not the instructions sheet in front of it.
    let mut nearest: Option<(usize, ApiError)> = None;
    for name in &candidates {
        let raw = read(name)?;
        let first = raw.first_rows();
        if first.is_empty() {
            continue;
        }
        let lines: Vec<Vec<String>> = first.iter().map(|(_, l)| l.clone()).collect();
        let (header, headers) = first[locate_header(&lines, columns)].clone();
        match column_positions(&headers, columns) {
            Ok(_) => return raw.into_table(header),
            Err(e) => {
                let known = headers.iter().filter(|h| names_a_column(h, columns)).count();
                if nearest.as_ref().is_none_or(|(best, _)| known > *best) {
                    nearest = Some((known, ApiError::ImportRejected(at_header_row(e, header as usize + 1))));
                }
            }
        }
    }
    match nearest.map(|(_, e)| e) {
        Some(ApiError::ImportRejected(mut rows)) if candidates.len() > 1 => {
            rows.push(RowError::new(0, "", &candidates.join("、"), reason!("tabular.no_sheet_fits")));
            Err(ApiError::ImportRejected(rows))
        }
        Some(problem) => Err(problem),
        None => Err(ApiError::field("file", "", reason!("tabular.sheet_empty"))),
    }
}

/// True when the bytes are an OLE compound file, as a legacy .xls workbook is.
pub fn is_xls(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// Most sheets a legacy workbook may list (the library builds every one of them).
pub const MAX_XLS_SHEETS: usize = 64;

/// Refuses a legacy workbook whose cells, or whose declared dimensions, span more than
/// [`MAX_COLUMNS`] columns or [`MAX_CELLS`] cells, before the xls library allocates them.
/// Records are read from the start of the stream and from where each sheet is said to begin,
/// as the library reads them: every sheet entry counts, two entries naming the same place
/// included (the library builds each), and a workbook listing more than [`MAX_XLS_SHEETS`] is
/// refused rather than partly checked.
fn check_xls_extent(bytes: &[u8]) -> Result<(), ApiError> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| ApiError::field("file", "", reason!("tabular.xls_unreadable", e = e));
    let mut cf = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(unreadable)?;
    let name = ["/Workbook", "/Book"]
        .into_iter()
        .find(|n| cf.is_stream(n))
        .ok_or_else(|| ApiError::field("file", "", reason!("tabular.xls_not_a_workbook")))?;
    let mut data = Vec::new();
    cf.open_stream(name).map_err(unreadable)?.take(bytes.len() as u64 + 1).read_to_end(&mut data).map_err(unreadable)?;
    let too_big = |what: String| ApiError::field("file", "", reason!("tabular.sheet_too_large", what = what));
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map(|x| u16::from_le_bytes([x[0], x[1]]) as u64);
    let u32_at = |b: &[u8], i: usize| b.get(i..i + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as u64);
    let mut starts = vec![0usize];
    let (mut at, mut total) = (0, 0u64);
    while at < starts.len() {
        let (mut pos, mut rows, mut cols, mut depth) = (starts[at], (u64::MAX, 0u64), (u64::MAX, 0u64), 0);
        at += 1;
        while pos + 4 <= data.len() {
            let kind = u16_at(&data, pos).unwrap_or(0);
            let len = u16_at(&data, pos + 2).unwrap_or(0) as usize;
            let body = &data[pos + 4..(pos + 4 + len).min(data.len())];
            pos += 4 + len;
            let (row, first_col, last_col) = match kind {
                // BOF and EOF: a substream (a sheet, or a chart inside one) begins or ends.
                0x0809 => {
                    depth += 1;
                    continue;
                }
                0x000A if depth <= 1 => break,
                0x000A => {
                    depth -= 1;
                    continue;
                }
                // BOUNDSHEET: where a sheet's records begin.
                0x0085 => {
                    if let Some(p) = u32_at(body, 0) {
                        if starts.len() > MAX_XLS_SHEETS {
                            return Err(too_big(format!("it lists more than {MAX_XLS_SHEETS} sheets")));
                        }
                        starts.push(p as usize);
                    }
                    continue;
                }
                // DIMENSIONS: the library reserves room for the rectangle it declares.
                0x0200 => {
                    let (rf, rl, cf, cl) = if body.len() >= 14 {
                        (u32_at(body, 0), u32_at(body, 4), u16_at(body, 8), u16_at(body, 10))
                    } else {
                        (u16_at(body, 0), u16_at(body, 2), u16_at(body, 4), u16_at(body, 6))
                    };
                    let (rf, rl, cf, cl) = (rf.unwrap_or(0), rl.unwrap_or(0), cf.unwrap_or(0), cl.unwrap_or(0));
                    let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
                    if rl >= 1
                        && (rl - 1 < rf || cl > MAX_COLUMNS as u64 || (rl - rf).saturating_mul(cl.saturating_sub(cf)) > MAX_CELLS as u64)
                    {
                        return Err(too_big(format!("it declares rows {rf}–{rl} and columns {cf}–{cl}")));
                    }
                    continue;
                }
                // Cells: row and column first.
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x0006 | 0x027E | 0x00FD | 0x0201 => {
                    let (r, c) = (u16_at(body, 0).unwrap_or(0), u16_at(body, 2).unwrap_or(0));
                    (r, c, c)
                }
                // MULRK and MULBLANK: a row, its first column, and the last column at the end.
                0x00BD | 0x00BE => {
                    let last = body.len().checked_sub(2).and_then(|i| u16_at(body, i)).unwrap_or(0);
                    (u16_at(body, 0).unwrap_or(0), u16_at(body, 2).unwrap_or(0), last)
                }
                _ => continue,
            };
            if last_col.max(first_col) >= MAX_COLUMNS as u64 {
                return Err(too_big(format!(
                    "a value in column {} (at most {MAX_COLUMNS} columns)",
                    col_name(last_col.max(first_col) as usize)
                )));
            }
            rows = (rows.0.min(row), rows.1.max(row));
            cols = (cols.0.min(first_col.min(last_col)), cols.1.max(last_col.max(first_col)));
            if (rows.1 - rows.0 + 1).saturating_mul(cols.1 - cols.0 + 1) > MAX_CELLS as u64 {
                return Err(too_big(format!("its cells span more than {MAX_CELLS} cells")));
            }
        }
        // The library holds every sheet's rectangle at once.
        if rows.0 <= rows.1 {
            total += (rows.1 - rows.0 + 1) * (cols.1 - cols.0 + 1);
            if total > 2 * MAX_CELLS as u64 {
                return Err(too_big(format!("its sheets span more than {} cells together", 2 * MAX_CELLS)));
            }
        }
    }
    Ok(())
}

/// True when the bytes are a zip archive (xlsx is one).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Builds an xlsx workbook with one sheet: a bold header row, then the rows, columns sized to fit.
pub fn write_xlsx(sheet_name: &str, headers: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, ApiError> {
    write_xlsx_sheets(&[Sheet { name: sheet_name, headers, rows }])
}

/// One sheet of a workbook.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub headers: &'a [&'a str],
    pub rows: &'a [Vec<String>],
}

/// Builds an xlsx workbook of several sheets, each laid out as [`write_xlsx`] lays out one.
pub fn write_xlsx_sheets(sheets: &[Sheet<'_>]) -> Result<Vec<u8>, ApiError> {
    let xerr = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(format!("xlsx: {e}"));
    let mut wb = Workbook::new();
    for sheet in sheets {
        let (headers, rows) = (sheet.headers, sheet.rows);
        let ws = wb.add_worksheet();
        ws.set_name(sheet.name).map_err(xerr)?;
        let bold = Format::new().set_bold().set_background_color("#E8F3FF");
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold).map_err(xerr)?;
            let widest = rows.iter().take(200).map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0)).max().unwrap_or(0);
            let width = (h.chars().count() * 2).max(widest + 2).clamp(8, 60);
            ws.set_column_width(c as u16, width as f64).map_err(xerr)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (rr, cc) = ((r + 1) as u32, c as u16);
                // Numbers stay numbers so Excel can sum them; codes and phones stay text.
                match as_number(v) {
                    Some(n) => ws.write_number(rr, cc, n).map_err(xerr)?,
                    None => ws.write_string(rr, cc, v).map_err(xerr)?,
                };
            }
        }
        ws.set_freeze_panes(1, 0).map_err(xerr)?;
    }
    wb.save_to_buffer().map_err(xerr)
}

/// A cell's text as a number for a workbook: figures such as `0`, `0.50` or `-3.2` are numbers;
/// codes with a leading zero (`0101`), whole numbers of 11 digits or more (phones, region codes)
/// and anything else that does not read as a plain decimal stay text.
fn as_number(v: &str) -> Option<f64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let plain =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') && digits.bytes().filter(|b| *b == b'.').count() <= 1;
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !plain || leading_zero || (!digits.contains('.') && digits.len() >= 11) || digits.starts_with('.') || digits.ends_with('.') {
        return None;
    }
    v.parse().ok()
}

/// A template workbook: headers, one example row, and a notes sheet naming required columns.
pub fn template_xlsx(sheet_name: &str, columns: &[Column]) -> Result<Vec<u8>, ApiError> {
    let headers: Vec<&str> = columns.iter().map(|c| c.header).collect();
    let example: Vec<String> = columns.iter().map(|c| c.example.to_string()).collect();
    write_xlsx(sheet_name, &headers, &[example])
}

/// A template CSV (UTF-8 with BOM, so Excel opens it in the right encoding).
pub fn template_csv(columns: &[Column]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let _ = w.write_record(columns.iter().map(|c| c.header));
    let _ = w.write_record(columns.iter().map(|c| c.example));
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_numbers_and_codes_stay_text() {
        for (v, n) in [
            ("0", Some(0.0)),
            ("0.50", Some(0.5)),
            ("120", Some(120.0)),
            ("-3.2", Some(-3.2)),
            ("92.86", Some(92.86)),
            ("2500000000.00", Some(2_500_000_000.0)),
        ] {
            assert_eq!(as_number(v), n, "{v}");
        }
        for v in ["0101", "350521000000", "13900000000", "", "-", "1e5", "NaN", "inf", "1.2.3", ".5", "5.", "HA-1", " 5"] {
            assert_eq!(as_number(v), None, "{v}");
        }
    }

    const COLS: &[Column] = &[
        Column { key: "code", header: "小区编码", required: true, example: "" },
        Column { key: "name", header: "小区名称", required: false, example: "" },
        Column { key: "community_code", header: "社区代码", required: false, example: "" },
        Column { key: "build_year", header: "建成年份", required: false, example: "" },
        Column { key: "households", header: "户数", required: false, example: "" },
        Column { key: "floor_area_m2", header: "建筑面积(㎡)", required: false, example: "" },
    ];

    fn rejected(result: Result<Table, ApiError>) -> Vec<RowError> {
        match result {
            Err(ApiError::ImportRejected(rows)) => rows,
            other => panic!("expected a rejection by row, got {other:?}"),
        }
    }

    #[test]
    fn a_far_corner_is_refused_without_reading_the_sheet_as_a_rectangle() {
        for (row, col) in [(1_048_575u32, 16_383u16), (1_999, 16_383), (5, MAX_COLUMNS as u16)] {
            let mut wb = Workbook::new();
            let ws = wb.add_worksheet();
            ws.write_string(0, 0, "小区编码").unwrap();
            ws.write_string(row, col, "x").unwrap();
            let bytes = wb.save_to_buffer().unwrap();
            match read_xlsx(&bytes, COLS, None) {
                Err(ApiError::Invalid(v)) => assert!(v.0[0].reason.contains("at most 200 columns"), "{:?}", v.0),
                other => panic!("{row},{col}: {other:?}"),
            }
        }
        // Far down but within the limits: read, with the gap counted as blank rows.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "小区编码").unwrap();
        ws.write_string(99_999, 0, "HA-1").unwrap();
        let t = read_xlsx(&wb.save_to_buffer().unwrap(), COLS, None).unwrap();
        assert_eq!((t.rows.len(), t.rows[0].0, t.blank_rows_skipped), (1, 100_000, 99_998));
    }

    #[test]
    fn gbk_csv_is_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode("小区名称,小区编码\n螺城小区,HA-1\n");
        let t = read_csv(&gbk, COLS).unwrap();
        assert_eq!(t.headers, ["小区名称", "小区编码"]);
        assert_eq!(t.rows[0].1, ["螺城小区", "HA-1"]);
        assert_eq!(t.rows[0].0, 2);
    }

    #[test]
    fn blank_rows_are_skipped_and_counted() {
        let t = read_csv("小区编码,户数\n1,2\n,\n3,4\n".as_bytes(), COLS).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].0, 4);
        assert_eq!(t.blank_rows_skipped, 1);
    }

    #[test]
    fn xlsx_round_trip_and_column_names() {
        let bytes = write_xlsx("s", &["小区编码", "户数"], &[vec!["HA-1".into(), "120".into()]]).unwrap();
        let t = read_xlsx(&bytes, COLS, None).unwrap();
        assert_eq!(t.headers, ["小区编码", "户数"]);
        assert_eq!(t.rows[0].1, ["HA-1", "120"]);
        assert_eq!(col_name(0), "A");
        assert_eq!(col_name(27), "AB");
    }

    #[test]
    fn merged_cells_below_the_header_are_refused_by_cell() {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "小区编码").unwrap();
        ws.merge_range(1, 0, 3, 0, "HA-1", &Format::new()).unwrap();
        let rows = rejected(read_xlsx(&wb.save_to_buffer().unwrap(), COLS, None));
        assert_eq!((rows[0].row, rows[0].value.as_str()), (2, "A2:A4"));
    }

    /// A county sheet as it comes: a merged title, a 填报单位 line, a 序号 column, headers with
    /// units, line breaks and full-width brackets, and a 合计 row under the data.
    fn county_sheet(ws: &mut rust_xlsxwriter::Worksheet) {
        ws.merge_range(0, 0, 0, 5, "惠安县2025年城镇老旧小区改造摸底表", &Format::new()).unwrap();
        ws.write_string(1, 0, "填报单位：螺城镇").unwrap();
        for (c, h) in ["序号", "小区编码", "小区\n名称", "建成年份（年）", "总户数（户）", "建筑面积（平方米）"].iter().enumerate()
        {
            ws.write_string(2, c as u16, *h).unwrap();
        }
        ws.write_number(3, 0, 1).unwrap();
        ws.write_string(3, 1, "HA-1").unwrap();
        ws.write_string(3, 2, "螺城花园").unwrap();
        ws.write_string(3, 3, "1995年").unwrap();
        ws.write_string(3, 4, "1,208").unwrap();
        ws.write_number(3, 5, 15600.5).unwrap();
        ws.write_string(4, 0, "合计").unwrap();
        ws.write_number(4, 4, 1208).unwrap();
    }

    #[test]
    fn a_county_sheet_is_read_past_its_title_and_total_rows() {
        let mut wb = Workbook::new();
        county_sheet(wb.add_worksheet());
        let t = read_xlsx(&wb.save_to_buffer().unwrap(), COLS, None).unwrap();
        let positions = t.column_positions(COLS).unwrap();
        assert_eq!(positions, [Some(1), Some(2), None, Some(3), Some(4), Some(5)], "序号 passed over, every variant matched");
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].0, 4, "row numbers stay as the clerk sees them");
        let skipped: Vec<(usize, &str)> = t.skipped.iter().map(|s| (s.row, s.reason.as_str())).collect();
        assert_eq!(skipped, [(1, "title row"), (2, "title row"), (5, "total row")]);
    }

    #[test]
    fn the_sheet_with_the_columns_is_chosen_and_a_named_one_must_exist() {
        let mut wb = Workbook::new();
        let notes = wb.add_worksheet().set_name("填表说明").unwrap();
        notes.write_string(0, 0, "每个小区一行；建成年份填四位数字。").unwrap();
        notes.write_string(1, 0, "社区代码为 12 位。").unwrap();
        county_sheet(wb.add_worksheet().set_name("小区").unwrap());
        let bytes = wb.save_to_buffer().unwrap();
        let t = read_xlsx(&bytes, COLS, None).unwrap();
        assert_eq!((t.sheet.as_str(), t.rows.len()), ("小区", 1));
        assert_eq!(read_xlsx(&bytes, COLS, Some("小区")).unwrap().rows.len(), 1);
        match read_xlsx(&bytes, COLS, Some("Sheet9")) {
            Err(ApiError::Invalid(v)) => {
                assert_eq!(v.0[0].field, "sheet");
                assert!(v.0[0].reason.contains("填表说明、小区"), "{:?}", v.0);
            }
            other => panic!("{other:?}"),
        }
        // The instructions sheet chosen by name: its header problems, at its header row.
        let rows = rejected(read_xlsx(&bytes, COLS, Some("填表说明")));
        assert!(rows.iter().any(|r| r.reason == "required column is missing" && r.column == "小区编码"), "{rows:?}");
    }

    #[test]
    fn sign_offs_under_the_total_are_passed_over_and_the_nearest_sheet_is_named() {
        // Found by the new user's trial: 审核人/填表人 under 合计 stopped the whole import.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        county_sheet(ws);
        ws.write_string(6, 0, "审核人：张三").unwrap();
        ws.write_string(6, 3, "填表人：李四").unwrap();
        ws.write_string(7, 0, "2026年3月1日").unwrap();
        let t = read_xlsx(&wb.save_to_buffer().unwrap(), COLS, None).unwrap();
        assert_eq!(t.rows.len(), 1);
        let skipped: Vec<(usize, &str)> = t.skipped.iter().map(|s| (s.row, s.reason.as_str())).collect();
        assert_eq!(skipped, [(1, "title row"), (2, "title row"), (5, "total row"), (7, "footer row"), (8, "footer row")]);
        let t = read_csv("小区编码,户数\nHA-1,12\n审核人：张三,\n".as_bytes(), COLS).unwrap();
        assert_eq!((t.rows.len(), t.skipped[0].reason.as_str()), (1, "footer row"), "a sign-off without a total row");
        // A data sheet missing its required column behind an instructions sheet: its problem is the one shown.
        let mut wb = Workbook::new();
        wb.add_worksheet().set_name("填表说明").unwrap().write_string(0, 0, "每个小区一行").unwrap();
        let data = wb.add_worksheet().set_name("摸底表").unwrap();
        for (c, h) in ["小区名称", "建成年份", "户数"].iter().enumerate() {
            data.write_string(0, c as u16, *h).unwrap();
        }
        data.write_string(1, 0, "螺城花园").unwrap();
        let rows = rejected(read_xlsx(&wb.save_to_buffer().unwrap(), COLS, None));
        assert_eq!((rows[0].column.as_str(), rows[0].reason.as_str()), ("小区编码", "required column is missing"), "{rows:?}");
        assert!(!rows.iter().any(|r| r.column.contains("每个小区")), "not the instructions sheet's: {rows:?}");
    }

    #[test]
    fn a_column_given_twice_is_refused() {
        let rows = rejected(read_csv("小区编码,户数,总户数\nHA-1,1,2\n".as_bytes(), COLS));
        assert_eq!((rows[0].row, rows[0].column.as_str()), (1, "总户数"));
        assert!(rows[0].reason.starts_with("repeats the column 户数"), "{rows:?}");
    }

    #[test]
    fn csv_separated_by_semicolons_or_tabs_in_utf16_with_a_title_row() {
        let text = "惠安县老旧小区清单\n小区编码;小区名称;户数\nHA-1;螺城花园;120\nHA-2;\"粮站;宿舍\";64\n合计;;184\n";
        let t = read_csv(text.as_bytes(), COLS).unwrap();
        assert_eq!(t.rows.iter().map(|r| r.1[1].as_str()).collect::<Vec<_>>(), ["螺城花园", "粮站;宿舍"]);
        assert_eq!(t.skipped.iter().map(|s| (s.row, s.reason.as_str())).collect::<Vec<_>>(), [(1, "title row"), (5, "total row")]);
        // Excel's "Unicode text": UTF-16 little-endian with a byte-order mark, tab separated.
        let tabbed = "小区编码\t户数\r\nHA-1\t120\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(tabbed.encode_utf16().flat_map(u16::to_le_bytes));
        let t = read_csv(&utf16, COLS).unwrap();
        assert_eq!(
            (t.headers.clone(), t.rows[0].1.clone()),
            (vec!["小区编码".to_string(), "户数".into()], vec!["HA-1".to_string(), "120".into()])
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend(tabbed.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(read_csv(&be, COLS).unwrap().rows[0].1, ["HA-1", "120"]);
    }

    const LEGACY: &[u8] = include_bytes!("../tests/fixtures/county-legacy.xls");

    #[test]
    fn a_legacy_xls_workbook_is_read_like_an_xlsx() {
        assert!(is_xls(LEGACY));
        let t = read_xls(LEGACY, COLS, None).unwrap();
        assert_eq!(t.sheet, "小区清单", "the instructions sheet in front is passed over");
        let positions = t.column_positions(COLS).unwrap();
        let cell = |row: usize, key: usize| t.rows[row].1[positions[key].unwrap()].clone();
        assert_eq!(t.rows.len(), 2);
        assert_eq!((cell(0, 0), cell(0, 3), cell(0, 4)), ("XLS-1".into(), "1992".into(), "64".into()));
        assert_eq!((cell(1, 3), cell(1, 4)), ("1996年".into(), "1,208".into()));
        assert_eq!(t.skipped.iter().map(|s| (s.row, s.reason.as_str())).collect::<Vec<_>>(), [(1, "title row"), (5, "total row")]);
    }

    #[test]
    fn an_xlsx_that_unpacks_past_the_limits_is_refused_by_counting() {
        // A part of 4,000 bytes packs to a few dozen: counted as it unpacks, whatever the archive declares.
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, size) in [("xl/sharedStrings.xml", 4_000), ("xl/workbook.xml", 500)] {
            out.start_file(name, deflated).unwrap();
            std::io::Write::write_all(&mut out, &vec![b' '; size]).unwrap();
        }
        let bytes = out.finish().unwrap().into_inner();
        assert!(bytes.len() < 1_000);
        assert!(check_xlsx_parts_within(&bytes, 5_000, 10_000).is_ok());
        let one = check_xlsx_parts_within(&bytes, 3_999, 10_000).unwrap_err();
        assert!(format!("{one:?}").contains("xl/sharedStrings.xml"), "{one:?}");
        let all = check_xlsx_parts_within(&bytes, 5_000, 4_200).unwrap_err();
        assert!(format!("{all:?}").contains("in all"), "{all:?}");
    }

    #[test]
    fn a_crafted_xls_is_refused_before_it_is_read() {
        // A cell record moved to column 16000, then a sheet declaring 4 billion rows.
        let patch = |find: &[u8], at: usize, with: &[u8]| {
            let mut bytes = LEGACY.to_vec();
            let i = bytes.windows(find.len()).position(|w| w == find).expect("record in the fixture");
            bytes[i + at..i + at + with.len()].copy_from_slice(with);
            bytes
        };
        let far_cell = patch(&[0xFD, 0x00, 0x0A, 0x00, 0x02, 0x00, 0x01, 0x00], 6, &16_000u16.to_le_bytes());
        let far_rows = patch(&[0x00, 0x02, 0x0E, 0x00], 8, &u32::MAX.to_le_bytes());
        for bytes in [far_cell, far_rows] {
            match read_xls(&bytes, COLS, None) {
                Err(ApiError::Invalid(v)) => assert!(v.0[0].reason.starts_with("the sheet is too large"), "{:?}", v.0),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(read_xls(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1garbage", COLS, None), Err(ApiError::Invalid(_))));
        // Found by the attacker's trial: a thousand empty sheets in front of one whose cells span
        // 65536 x 65536 (past a cap on sheets checked), and one 25,000 x 200 sheet listed eight
        // times (each entry is built): both refused before the library reads them.
        for (name, bytes) in [
            ("many sheets", &include_bytes!("../tests/fixtures/crafted-many-sheets.xls")[..]),
            ("one sheet listed eight times", &include_bytes!("../tests/fixtures/crafted-repeated-sheet.xls")[..]),
        ] {
            match read_xls(bytes, COLS, None) {
                Err(ApiError::Invalid(v)) => assert!(v.0[0].reason.starts_with("the sheet is too large"), "{name}: {:?}", v.0),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// Cases per fuzz property: a few dozen in every test run, as many as asked for a long run
    /// (`HUANXIN_FUZZ_CASES=100000 cargo test -p huanxin-server fuzz_`).
    fn fuzz_config() -> proptest::test_runner::Config {
        let cases = std::env::var("HUANXIN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48);
        proptest::test_runner::Config { cases, failure_persistence: None, ..Default::default() }
    }

    /// A reader's answer to hostile input: a result either way, or a panic the import turns into
    /// "not a readable file" (the xlsx library panics on some crafted files). What must never
    /// happen is an abort, a hang or memory beyond the sheet limits, which would stop this test.
    fn survives<T>(read: impl FnOnce() -> Result<T, ApiError> + std::panic::UnwindSafe) {
        let _ = std::panic::catch_unwind(read);
    }

    /// An xlsx whose first sheet's XML is `edit`ed, zipped again.
    fn xlsx_with_sheet_xml(edit: impl Fn(String) -> String) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut wb = Workbook::new();
        county_sheet(wb.add_worksheet());
        let plain = wb.save_to_buffer().unwrap();
        let mut zin = zip::ZipArchive::new(Cursor::new(plain)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..zin.len() {
            let mut f = zin.by_index(i).unwrap();
            let name = f.name().unwrap_or_default().to_string();
            let mut body = Vec::new();
            f.read_to_end(&mut body).unwrap();
            if name == "xl/worksheets/sheet1.xml" {
                body = edit(String::from_utf8(body).unwrap()).into_bytes();
            }
            out.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            out.write_all(&body).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    proptest::proptest! {
        #![proptest_config(fuzz_config())]

        /// Cell references, values and bytes of a real sheet changed at random.
        #[test]
        fn fuzz_xlsx_sheets(refs in proptest::collection::vec("[A-Z]{1,4}[0-9]{1,8}", 1..6),
                            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                            at in 0usize..4000) {
            let bytes = xlsx_with_sheet_xml(|xml| {
                let mut xml = xml;
                for (i, r) in refs.iter().enumerate() {
                    xml = xml.replacen(&format!("r=\"{}\"", ["B4", "C4", "D4", "E4", "A5", "F4"][i % 6]), &format!("r=\"{r}\""), 1);
                }
                let mut b = xml.into_bytes();
                let at = at.min(b.len());
                b.splice(at..at, noise.iter().copied());
                String::from_utf8_lossy(&b).into_owned()
            });
            survives(|| read_xlsx(&bytes, COLS, None));
        }

        /// A legacy workbook with bytes overwritten at random (the container is not compressed, so
        /// the changes reach the records).
        #[test]
        fn fuzz_xls_records(changes in proptest::collection::vec((0usize..LEGACY.len(), proptest::prelude::any::<u8>()), 1..24)) {
            let mut bytes = LEGACY.to_vec();
            for (at, b) in &changes {
                bytes[*at] = *b;
            }
            survives(|| read_xls(&bytes, COLS, None));
        }

        /// Any bytes as CSV, with and without the byte-order marks the reader looks for.
        #[test]
        fn fuzz_csv(prefix in proptest::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xFF\xFE", b"\xFE\xFF"]),
                    body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut bytes = prefix.to_vec();
            bytes.extend(body);
            // CSV is read by our own code around the csv crate: no panic is acceptable here.
            let _ = read_csv(&bytes, COLS);
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(read_xlsx(b"PK\x03\x04garbage", COLS, None), Err(ApiError::Invalid(_))));
    }
}
