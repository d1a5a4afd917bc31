//! Reading and writing tables: xlsx and csv (UTF-8 or GBK/GB18030, as Chinese Excel writes),
//! with problems reported by row and column. Used by imports, templates and exports.

use crate::error::ApiError;
use calamine::{Data, Reader, Xlsx};
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
}

impl Table {
    /// Maps each known column key to its position; unknown headers and missing required ones are errors.
    pub fn column_positions(&self, columns: &[Column]) -> Result<Vec<Option<usize>>, Vec<RowError>> {
        column_positions(&self.headers, columns)
    }
}

/// Maps each known column key to its position in `headers`; unknown headers and missing required ones are errors.
pub fn column_positions(headers: &[String], columns: &[Column]) -> Result<Vec<Option<usize>>, Vec<RowError>> {
    let mut errors = Vec::new();
    let norm = |s: &str| s.trim().replace(['（', '）'], "").replace(['(', ')'], "").to_lowercase();
    let mut positions = vec![None; columns.len()];
    for (i, h) in headers.iter().enumerate() {
        if h.trim().is_empty() {
            continue;
        }
        match columns.iter().position(|c| norm(c.header) == norm(h) || c.key == h.trim()) {
            Some(k) => positions[k] = Some(i),
            None => errors.push(RowError {
                file: String::new(),
                row: 1,
                column: h.clone(),
                value: h.clone(),
                reason: format!("unknown column; expected one of: {}", columns.iter().map(|c| c.header).collect::<Vec<_>>().join("、")),
            }),
        }
    }
    for (c, p) in columns.iter().zip(&positions) {
        if c.required && p.is_none() {
            errors.push(RowError {
                file: String::new(),
                row: 1,
                column: c.header.into(),
                value: String::new(),
                reason: "required column is missing".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(positions)
    } else {
        Err(errors)
    }
}

fn is_blank(row: &[String]) -> bool {
    row.iter().all(|c| c.trim().is_empty())
}

/// Reads a whole CSV file (for small files; imports stream with [`CsvRows`]).
pub fn read_csv(bytes: &[u8]) -> Result<Table, ApiError> {
    let (headers, mut rows) = CsvRows::open(bytes.to_vec())?;
    let mut table = Table { headers, ..Default::default() };
    for row in rows.by_ref() {
        table.rows.push(row?);
    }
    table.blank_rows_skipped = rows.blank_rows_skipped;
    Ok(table)
}

/// The data rows of a CSV file, read one at a time (blank rows skipped and counted), so that an
/// import of millions of rows keeps only the rows it is working on in memory.
pub struct CsvRows {
    reader: csv::Reader<Cursor<Vec<u8>>>,
    record: csv::StringRecord,
    index: usize,
    /// Blank rows passed over so far.
    pub blank_rows_skipped: usize,
}

impl CsvRows {
    /// Opens CSV bytes (UTF-8 with or without BOM, else GB18030) and reads the header row.
    pub fn open(bytes: Vec<u8>) -> Result<(Vec<String>, CsvRows), ApiError> {
        let bom = bytes.starts_with(b"\xEF\xBB\xBF");
        let mut cursor = match std::str::from_utf8(&bytes) {
            Ok(_) => Cursor::new(bytes),
            Err(_) => Cursor::new(encoding_rs::GB18030.decode(&bytes).0.into_owned().into_bytes()),
        };
        if bom {
            cursor.set_position(3);
        }
        let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(cursor);
        let mut rows = CsvRows { reader, record: csv::StringRecord::new(), index: 0, blank_rows_skipped: 0 };
        let headers = match rows.read()? {
            Some(cells) => cells,
            None => return Err(ApiError::field("file", "", "the file is empty")),
        };
        Ok((headers, rows))
    }

    fn read(&mut self) -> Result<Option<Vec<String>>, ApiError> {
        self.index += 1;
        match self.reader.read_record(&mut self.record) {
            Ok(true) => Ok(Some(self.record.iter().map(|s| s.trim().to_string()).collect())),
            Ok(false) => Ok(None),
            Err(e) => Err(ApiError::ImportRejected(vec![RowError {
                file: String::new(),
                row: self.index,
                column: String::new(),
                value: String::new(),
                reason: format!("not a readable CSV row: {e}"),
            }])),
        }
    }
}

impl Iterator for CsvRows {
    /// The row number as the user sees it (header is row 1) and the trimmed cells.
    type Item = Result<(usize, Vec<String>), ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.read() {
                Ok(Some(cells)) if is_blank(&cells) => self.blank_rows_skipped += 1,
                Ok(Some(cells)) => return Some(Ok((self.index, cells))),
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
        Data::DateTime(dt) => dt.as_datetime().map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| dt.to_string()),
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

/// Reads the first sheet of an xlsx file. Merged cells and formulas without a value are refused
/// by cell, since their meaning per row is ambiguous; blank rows are skipped and counted. A sheet
/// over [`MAX_COLUMNS`], [`MAX_ROWS`] or [`MAX_CELLS`] is refused with the limit it broke.
pub fn read_xlsx(bytes: &[u8]) -> Result<Table, ApiError> {
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| ApiError::field("file", "", format!("not a readable xlsx file: {e}")))?;
    let sheet = wb.sheet_names().first().cloned().ok_or_else(|| ApiError::field("file", "", "the workbook has no sheets"))?;
    let mut errors = Vec::new();
    if let Ok(merged) = wb.merge_cells_by_sheet_name(&sheet) {
        for dim in merged {
            let (r0, c0) = dim.start;
            let (r1, c1) = dim.end;
            errors.push(RowError {
                file: String::new(),
                row: r0 as usize + 1,
                column: col_name(c0 as usize),
                value: format!("{}{}:{}{}", col_name(c0 as usize), r0 + 1, col_name(c1 as usize), r1 + 1),
                reason: "merged cells are not allowed: unmerge them and fill in every row".into(),
            });
        }
    }
    let too_big =
        |what: String| ApiError::field("file", &sheet, format!("the sheet is too large: {what}; split it into several files or use csv"));
    let mut reader =
        wb.worksheet_cells_reader(&sheet).map_err(|e| ApiError::field("file", "", format!("sheet '{sheet}' unreadable: {e}")))?;
    // Filled cells by row; rows arrive in order in a well-formed file, but a map takes any order.
    let mut rows: std::collections::BTreeMap<u32, Vec<(u32, String)>> = std::collections::BTreeMap::new();
    let (mut cells, mut width) = (0usize, 0usize);
    while let Some(cell) =
        reader.next_cell_with_formula().map_err(|e| ApiError::field("file", "", format!("sheet '{sheet}' unreadable: {e}")))?
    {
        let (row, col) = cell.pos;
        let text = cell_text(&Data::from(cell.value));
        if cell.formula.as_deref().is_some_and(|f| !f.is_empty()) && text.is_empty() {
            errors.push(RowError {
                file: String::new(),
                row: row as usize + 1,
                column: col_name(col as usize),
                value: format!("={}", cell.formula.unwrap_or_default()),
                reason: "a formula without a computed value: open the file in Excel and save it, or paste values".into(),
            });
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
        width = width.max(col as usize + 1);
        // The header row and MAX_ROWS data rows.
        if !rows.contains_key(&row) && rows.len() > MAX_ROWS {
            return Err(too_big(format!("more than {MAX_ROWS} rows")));
        }
        rows.entry(row).or_default().push((col, text));
    }
    if !errors.is_empty() {
        return Err(ApiError::ImportRejected(errors));
    }
    let mut table = Table::default();
    let mut last_row: Option<u32> = None;
    for (row, filled) in rows {
        let mut line = vec![String::new(); width];
        for (col, text) in filled {
            line[col as usize] = text;
        }
        if table.headers.is_empty() {
            table.headers = line;
        } else {
            // Rows with nothing in them between filled ones are blank rows.
            table.blank_rows_skipped += last_row.map(|l| (row - l - 1) as usize).unwrap_or(0);
            table.rows.push((row as usize + 1, line));
        }
        last_row = Some(row);
    }
    if table.headers.is_empty() {
        return Err(ApiError::field("file", "", "the sheet is empty"));
    }
    Ok(table)
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
                match v.parse::<f64>() {
                    Ok(n) if !v.starts_with('0') && v.len() < 12 && !v.is_empty() => ws.write_number(rr, cc, n).map_err(xerr)?,
                    _ => ws.write_string(rr, cc, v).map_err(xerr)?,
                };
            }
        }
        ws.set_freeze_panes(1, 0).map_err(xerr)?;
    }
    wb.save_to_buffer().map_err(xerr)
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
    fn a_far_corner_is_refused_without_reading_the_sheet_as_a_rectangle() {
        for (row, col) in [(1_048_575u32, 16_383u16), (1_999, 16_383), (5, MAX_COLUMNS as u16)] {
            let mut wb = Workbook::new();
            let ws = wb.add_worksheet();
            ws.write_string(0, 0, "小区编码").unwrap();
            ws.write_string(row, col, "x").unwrap();
            let bytes = wb.save_to_buffer().unwrap();
            match read_xlsx(&bytes) {
                Err(ApiError::Invalid(v)) => assert!(v.0[0].reason.contains("at most 200 columns"), "{:?}", v.0),
                other => panic!("{row},{col}: {other:?}"),
            }
        }
        // Far down but within the limits: read, with the gap counted as blank rows.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "小区编码").unwrap();
        ws.write_string(99_999, 0, "HA-1").unwrap();
        let t = read_xlsx(&wb.save_to_buffer().unwrap()).unwrap();
        assert_eq!((t.rows.len(), t.rows[0].0, t.blank_rows_skipped), (1, 100_000, 99_998));
    }

    #[test]
    fn gbk_csv_is_decoded() {
        let (gbk, _, _) = encoding_rs::GBK.encode("小区名称,建成年份\n螺城小区,1995\n");
        let t = read_csv(&gbk).unwrap();
        assert_eq!(t.headers, ["小区名称", "建成年份"]);
        assert_eq!(t.rows[0].1, ["螺城小区", "1995"]);
        assert_eq!(t.rows[0].0, 2);
    }

    #[test]
    fn blank_rows_are_skipped_and_counted() {
        let t = read_csv("a,b\n1,2\n,\n3,4\n".as_bytes()).unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].0, 4);
        assert_eq!(t.blank_rows_skipped, 1);
    }

    #[test]
    fn xlsx_round_trip_and_column_names() {
        let bytes = write_xlsx("s", &["小区编码", "户数"], &[vec!["HA-1".into(), "120".into()]]).unwrap();
        let t = read_xlsx(&bytes).unwrap();
        assert_eq!(t.headers, ["小区编码", "户数"]);
        assert_eq!(t.rows[0].1, ["HA-1", "120"]);
        assert_eq!(col_name(0), "A");
        assert_eq!(col_name(27), "AB");
    }

    #[test]
    fn merged_cells_are_refused_by_cell() {
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "小区编码").unwrap();
        ws.merge_range(1, 0, 3, 0, "HA-1", &Format::new()).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        match read_xlsx(&bytes) {
            Err(ApiError::ImportRejected(rows)) => {
                assert_eq!(rows[0].row, 2);
                assert_eq!(rows[0].value, "A2:A4");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(read_xlsx(b"PK\x03\x04garbage"), Err(ApiError::Invalid(_))));
    }
}
