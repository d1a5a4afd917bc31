//! County spreadsheets as clerks make them: headers in their many spellings, title rows above the
//! header, 合计 rows below the data, and numbers and years as Excel and people write them. Pure
//! text rules; the xlsx, csv and GeoJSON readers live in the server.

use crate::reason;
use crate::reasons::Reason;
use chrono::{Datelike, Duration, NaiveDate};

/// Full-width ASCII (`１９９５`, `（`, `，`, `．`, `Ａ`) as half-width, the ideographic space as a space.
pub fn half_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Header spellings counties use for the same column, each mapped to the name our templates use.
const HEADER_SYNONYMS: &[(&str, &[&str])] = &[
    ("小区名称", &["小区名", "小区"]),
    ("小区编码", &["小区代码", "小区编号"]),
    ("社区代码", &["社区编码", "社区居委会代码", "居委会代码"]),
    ("建成年份", &["建成年代", "建成时间", "建设年份", "建设年代", "竣工年份", "建成年度"]),
    ("楼栋数", &["栋数", "楼幢数", "幢数", "楼栋数量"]),
    ("户数", &["总户数", "住户数", "居民户数"]),
    ("建筑面积", &["总建筑面积", "面积"]),
    ("负责人", &["联系人"]),
    ("联系电话", &["电话", "联系方式", "手机"]),
    ("楼号", &["楼栋号", "栋号", "幢号", "楼栋"]),
    ("室号", &["房号", "房间号"]),
    ("业主", &["业主姓名", "产权人"]),
    ("业主电话", &["业主联系电话", "业主手机"]),
    ("层数", &["楼层数", "总层数"]),
];

/// The units a header may name after its column (建成年份（年）, 建筑面积（㎡）): the units the
/// template's columns are in, and nothing that would scale the values (万平方米, 千户, 万元).
const HEADER_UNITS: &[&str] = &["年", "户", "栋", "幢", "层", "个", "人", "套", "间", "元", "平方米", "平米", "㎡", "m2", "m²", "%"];

/// Headers that carry nothing to import and are passed over: a row counter and remarks.
const IGNORED_HEADERS: &[&str] = &["序号", "备注", "说明"];

/// The comparable form of a header: half-width, without spaces or line breaks, without a
/// bracketed or slashed unit (建成年份（年）, 建筑面积（平方米）, 建筑面积/㎡ → the bare name), and
/// spelled as our template spells it (总户数 → 户数).
pub fn header_key(header: &str) -> String {
    let mut s: String = half_width(header).chars().filter(|c| !c.is_whitespace()).collect();
    // Only the units our columns are in are dropped: 建筑面积（万平方米） or 户数（千户） keep their
    // bracket, match no column and are refused, instead of being read as m² or households.
    if let Some(open) = s.find(['(', '[', '【']) {
        let unit = s[open..].trim_start_matches(['(', '[', '【']).trim_end_matches([')', ']', '】']).to_lowercase();
        if open > 0 && HEADER_UNITS.contains(&unit.as_str()) {
            s.truncate(open);
        }
    }
    if let Some(slash) = s.find('/') {
        if slash > 0 && HEADER_UNITS.contains(&s[slash + 1..].to_lowercase().as_str()) {
            s.truncate(slash);
        }
    }
    for unit in ["平方米", "㎡", "m²", "m2"] {
        if let Some(bare) = s.strip_suffix(unit) {
            if !bare.is_empty() {
                s = bare.to_string();
            }
        }
    }
    let s = s.to_lowercase();
    HEADER_SYNONYMS.iter().find(|(_, variants)| variants.contains(&s.as_str())).map(|(name, _)| name.to_string()).unwrap_or(s)
}

/// True for a header whose column is passed over (序号, 备注).
pub fn is_ignored_header(header: &str) -> bool {
    let key = header_key(header);
    IGNORED_HEADERS.contains(&key.as_str())
}

/// Where the header row is among the first rows of a sheet: the first row with at least two
/// known headers (title rows above it are passed over), else the first row with anything in it.
/// `known` says whether a header names a column of the import.
pub fn header_row(first_rows: &[Vec<String>], known: impl Fn(&str) -> bool) -> usize {
    first_rows
        .iter()
        .position(|row| row.iter().filter(|c| !c.trim().is_empty() && known(c)).count() >= 2)
        .or_else(|| first_rows.iter().position(|row| row.iter().any(|c| !c.trim().is_empty())))
        .unwrap_or(0)
}

/// How many rows from the top are searched for the header.
pub const HEADER_SEARCH_ROWS: usize = 10;

/// True for a 合计 / 小计 / 总计 row: its first filled cell says so (a sum below the data, not an estate).
pub fn is_total_row(cells: &[String]) -> bool {
    let Some(first) = cells.iter().find(|c| !c.trim().is_empty()) else {
        return false;
    };
    let t: String = half_width(first).chars().filter(|c| !c.is_whitespace()).collect();
    ["合计", "小计", "总计", "总合计"].iter().any(|w| t == *w || t.starts_with(&format!("{w}:")) || t.starts_with(&format!("{w}(")))
        || t.eq_ignore_ascii_case("total")
}

/// True for a sign-off or note line at the foot of a sheet: every filled cell is a label with a
/// colon such as 审核人：张三, 填表人：李四, 填报日期：2026年3月1日, 联系电话：…, or a 说明/备注/注 line.
pub fn is_footer_row(cells: &[String]) -> bool {
    const LABELS: &[&str] =
        &["审核", "填表", "填报", "制表", "复核", "签字", "签章", "盖章", "日期", "负责人", "联系人", "联系电话", "说明", "备注", "注"];
    let filled: Vec<String> =
        cells.iter().map(|c| half_width(c).chars().filter(|c| !c.is_whitespace()).collect::<String>()).filter(|c| !c.is_empty()).collect();
    !filled.is_empty()
        && filled
            .iter()
            .all(|c| c.split_once(':').is_some_and(|(label, _)| LABELS.iter().any(|l| label.starts_with(l)) && label.chars().count() <= 8))
}

/// Units a clerk may write after a number; removed before reading it.
const UNITS: &[&str] = &["平方米", "㎡", "m²", "m2", "户", "栋", "幢", "层", "个", "人", "套", "间", "元", "年"];

/// The number a cell holds as a clerk writes it: `15,600.5`, `１２０`, `120户`, `65.5㎡`.
pub fn parse_number(text: &str) -> Result<f64, Reason> {
    let mut t: String = half_width(text).chars().filter(|c| !c.is_whitespace()).collect();
    for unit in UNITS {
        if let Some(bare) = t.strip_suffix(unit) {
            t = bare.to_string();
            break;
        }
    }
    let plain = if thousands_grouped(&t) { t.replace(',', "") } else { t.clone() };
    match plain.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(reason!("field.not_number")),
    }
}

/// True when the commas of `t` group thousands (`15,600.5`), not separate values (`1,2`).
fn thousands_grouped(t: &str) -> bool {
    let int_part = t.split('.').next().unwrap_or("").trim_start_matches('-');
    let groups: Vec<&str> = int_part.split(',').collect();
    groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
}

/// A whole number as a clerk writes it: `180`, `180户`, `１８０`, `1,200`, and `180.0` (how a
/// number cell reads back from some workbooks); `12.5` is refused.
pub fn parse_whole(text: &str) -> Result<i64, Reason> {
    let v = parse_number(text).map_err(|_| reason!("sheets.not_whole_number"))?;
    if v.fract() != 0.0 || v.abs() > 9.0e15 {
        return Err(reason!("sheets.not_whole_number"));
    }
    Ok(v as i64)
}

/// Excel serial dates read as a year: 1927-05-18 (10000) … 2100-12-31. Smaller numbers are more
/// likely a mistyped year (`199`) than a date.
const EXCEL_SERIALS: std::ops::RangeInclusive<f64> = 10_000.0..=73_415.0;

/// A year as it appears in county sheets: `1995`, `1995年`, `１９９５`, `1995.0`, a date
/// (`1995-06-01`, `1995/6/1`, `1995年6月`, `1995.06`) or an Excel date serial (`34851`).
pub fn parse_year(text: &str) -> Result<i64, Reason> {
    let t: String = half_width(text).chars().filter(|c| !c.is_whitespace()).collect();
    let digits_lead: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &t[digits_lead.len()..];
    if digits_lead.len() == 4 {
        let year: i64 = digits_lead.parse().map_err(|_| reason!("sheets.not_year"))?;
        let ok_rest = rest.is_empty()
            || rest == "年"
            || rest.starts_with("年")
            || rest.starts_with('-')
            || rest.starts_with('/')
            || (rest.starts_with('.') && rest[1..].chars().all(|c| c.is_ascii_digit()));
        if ok_rest {
            return Ok(year);
        }
        return Err(reason!("sheets.not_year"));
    }
    // A serial date: Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
    if let Ok(serial) = t.parse::<f64>() {
        if EXCEL_SERIALS.contains(&serial) && serial.fract() == 0.0 {
            let base = NaiveDate::from_ymd_opt(1899, 12, 30).ok_or(reason!("sheets.not_year"))?;
            let date = base + Duration::days(serial as i64);
            return Ok(date.year() as i64);
        }
    }
    Err(reason!("sheets.not_year"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_variants_read_as_the_template_names() {
        for (variant, name) in [
            ("建成年份（年）", "建成年份"),
            ("建成年份(年)", "建成年份"),
            (" 建成\n年份 ", "建成年份"),
            ("建筑面积（平方米）", "建筑面积"),
            ("建筑面积(㎡)", "建筑面积"),
            ("建筑面积/㎡", "建筑面积"),
            ("建筑面积m²", "建筑面积"),
            ("总户数（户）", "户数"),
            ("小区名", "小区名称"),
            ("份额(%)", "份额"),
            ("ＣＯＤＥ", "code"),
            ("建筑面积(M2)", "建筑面积"),
        ] {
            assert_eq!(header_key(variant), name, "{variant}");
        }
        // A unit that scales the values keeps its header from matching (found by the attacker's trial).
        for scaled in ["建筑面积（万平方米）", "户数（千户）", "建筑面积/万㎡", "总户数(万户)"] {
            assert!(!["建筑面积", "户数"].contains(&header_key(scaled).as_str()), "{scaled} → {}", header_key(scaled));
        }
        assert!(is_ignored_header("序 号"));
        assert!(!is_ignored_header("小区名称"));
    }

    #[test]
    fn the_header_is_found_below_title_rows() {
        let rows = vec![
            vec!["惠安县2025年城镇老旧小区改造项目汇总表".to_string(), String::new()],
            vec!["填报单位：惠安县住建局".to_string()],
            vec!["序号".into(), "小区名称".into(), "建成年份（年）".into()],
        ];
        let known = |h: &str| ["小区名称", "建成年份"].contains(&header_key(h).as_str());
        assert_eq!(header_row(&rows, known), 2);
        assert_eq!(header_row(&rows[2..], known), 0);
        // Nothing known: the first filled row, where the unknown columns are then named.
        assert_eq!(header_row(&[vec![String::new()], vec!["甲".into(), "乙".into()]], known), 1);
    }

    #[test]
    fn total_rows_are_recognised() {
        let row = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_total_row(&row(&["", "合计", "", "1234"])));
        assert!(is_total_row(&row(&["小 计"])));
        assert!(is_total_row(&row(&["总计（12个小区）"])));
        assert!(!is_total_row(&row(&["HA-1", "合计小区"])));
        assert!(!is_total_row(&row(&["", ""])));
    }

    #[test]
    fn footer_lines_are_recognised() {
        let row = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_footer_row(&row(&["审核人：张三", "", "填表人：李四"])));
        assert!(is_footer_row(&row(&["填报日期: 2026年3月1日"])));
        assert!(is_footer_row(&row(&["注：面积以不动产登记为准"])));
        assert!(!is_footer_row(&row(&["HA-1", "审核人：张三"])), "an estate's row");
        assert!(!is_footer_row(&row(&["螺城花园"])));
        assert!(!is_footer_row(&row(&["", ""])));
    }

    #[test]
    fn numbers_as_clerks_write_them() {
        assert_eq!(parse_number("15,600.5"), Ok(15600.5));
        assert_eq!(parse_number("１２０"), Ok(120.0));
        assert_eq!(parse_number("65.5㎡"), Ok(65.5));
        assert_eq!(parse_number("65.5 平方米"), Ok(65.5));
        assert!(parse_number("1,2").is_err());
        assert!(parse_number("abc").is_err());
        assert!(parse_number("NaN").is_err());
        assert_eq!(parse_whole("180户"), Ok(180));
        assert_eq!(parse_whole("1,200"), Ok(1200));
        assert_eq!(parse_whole("180.0"), Ok(180));
        assert!(parse_whole("12.5").is_err());
    }

    #[test]
    fn years_as_county_sheets_hold_them() {
        for (text, year) in [
            ("1995", 1995),
            ("1995年", 1995),
            ("１９９５", 1995),
            ("1995.0", 1995),
            ("1995-06-01", 1995),
            ("1995/6/1", 1995),
            ("1995年6月", 1995),
            ("1995.06", 1995),
            ("34851", 1995),
            ("10000", 1927),
        ] {
            assert_eq!(parse_year(text), Ok(year), "{text}");
        }
        for bad in ["95年", "一九九五", "1995abc", "", "199", "1.5", "73416"] {
            assert!(parse_year(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn readers_never_panic(s in "\\PC{0,24}") {
            let _ = parse_year(&s);
            let _ = parse_whole(&s);
            let _ = parse_number(&s);
            let _ = header_key(&s);
            let _ = is_total_row(std::slice::from_ref(&s));
        }

        #[test]
        fn a_year_reads_back_in_every_spelling(y in 1800i64..2100) {
            prop_assert_eq!(parse_year(&y.to_string()), Ok(y));
            prop_assert_eq!(parse_year(&format!("{y}年")), Ok(y));
            prop_assert_eq!(parse_year(&format!("{y}.0")), Ok(y));
            prop_assert_eq!(parse_year(&half_to_full(&y.to_string())), Ok(y));
        }

        #[test]
        fn grouped_thousands_read_as_the_number(n in 0u64..10_000_000_000) {
            let plain = n.to_string();
            let mut grouped = String::new();
            for (i, c) in plain.chars().enumerate() {
                if i > 0 && (plain.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            prop_assert_eq!(parse_whole(&grouped), Ok(n as i64));
        }
    }

    fn half_to_full(s: &str) -> String {
        s.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)).collect()
    }
}
