//! Open311 GeoReport v2 (issue 16, part 6): the open standard civic apps speak, mapped onto our
//! requests. Services are the leaves of the category tree; a request's status is `open` until it
//! is answered; places are found by a point (the nearest estate within [`NEAR_METRES`]), an
//! estate's code (`address_id`) or an address matched as the hotline's are.

use super::categories::{Category, Tree};
use super::Status;
use crate::geo::metres_between;
use crate::{reason, Reason};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

/// The specification this endpoint follows, as discovery names it.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

/// A point names an estate when the estate's own point is at most this far (metres).
pub const NEAR_METRES: f64 = 300.0;

/// Requests a GET lists at most at once (`page_size`), and by default.
pub const MAX_PAGE_SIZE: u32 = 500;
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A GET's window (`start_date` to `end_date`) spans at most this many days, as the spec says.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// How a response is written: by the path's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// Splits `requests.json` into its name and format; `None` for another suffix.
pub fn split_format(file: &str) -> Option<(&str, Format)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let format = match ext.to_ascii_lowercase().as_str() {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    (!stem.is_empty()).then_some((stem, format))
}

/// Our status as Open311 has it: open until answered, closed once answered or closed.
pub fn status_of(status: Status) -> &'static str {
    match status {
        Status::Submitted | Status::InProgress | Status::Returned => "open",
        Status::Resolved | Status::Closed => "closed",
    }
}

/// The statuses of ours an Open311 status means.
pub fn statuses_for(open311: &str) -> Option<&'static [Status]> {
    match open311.trim() {
        "open" => Some(&[Status::Submitted, Status::InProgress, Status::Returned]),
        "closed" => Some(&[Status::Resolved, Status::Closed]),
        _ => None,
    }
}

/// What the status notes say of our status, in both languages.
pub fn status_note(status: Status) -> &'static str {
    match status {
        Status::Submitted => "已受理，待办理 (received)",
        Status::InProgress => "办理中 (in progress)",
        Status::Returned => "退回重新派单 (being routed again)",
        Status::Resolved => "已答复，待回访 (answered, callback due)",
        Status::Closed => "已办结 (closed)",
    }
}

/// An attribute a service asks for beyond the description (a service definition's attribute).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub code: &'static str,
    /// `string` or `singlevaluelist`.
    pub datatype: &'static str,
    pub required: bool,
    pub description: &'static str,
    pub order: u32,
    /// The keys a list allows, with their names.
    pub values: &'static [(&'static str, &'static str)],
}

const BUILDING: Attribute = Attribute {
    code: "building",
    datatype: "string",
    required: false,
    description: "楼栋、单元或门牌 (building, entrance or door)",
    order: 1,
    values: &[],
};

const REACH: Attribute = Attribute {
    code: "reach",
    datatype: "singlevaluelist",
    required: false,
    description: "影响范围 (how far it reaches)",
    order: 2,
    values: &[("home", "仅本户 (one home)"), ("building", "整栋楼 (a whole building)"), ("estate", "整个小区 (the whole estate)")],
};

/// The attributes of a service: the building for every one, and how far it reaches for repairs
/// and hazards (a whole building without water is more urgent than one tap).
pub fn attributes(service: &Category) -> Vec<Attribute> {
    let mut all = vec![BUILDING];
    let group = service.parent.as_deref().unwrap_or(&service.code);
    if group == "repair" || group == "safety" {
        all.push(REACH);
    }
    all
}

/// A field refused: its name and why.
pub type Refused = (String, Reason);

/// An attribute kept: its code and value.
pub type Kept = (&'static str, String);

/// The attribute values longest accepted, in characters.
pub const ATTRIBUTE_MAX_CHARS: usize = 64;

/// Checks the attributes given for a service (`attribute[code]=value`); each problem names its
/// field. The values kept are returned in the definition's order, with a list's value named.
pub fn check_attributes(service: &Category, given: &[(String, String)]) -> Result<Vec<Kept>, Refused> {
    let defined = attributes(service);
    for (code, value) in given {
        let field = format!("attribute[{code}]");
        let Some(a) = defined.iter().find(|a| a.code == code) else {
            return Err((field, reason!("open311.unknown_attribute", service = service.code)));
        };
        if value.chars().count() > ATTRIBUTE_MAX_CHARS {
            return Err((field, reason!("field.at_most_chars", max = ATTRIBUTE_MAX_CHARS)));
        }
        if !a.values.is_empty() && !value.trim().is_empty() && !a.values.iter().any(|(k, _)| *k == value.trim()) {
            let keys: Vec<&str> = a.values.iter().map(|(k, _)| *k).collect();
            return Err((field, reason!("open311.not_a_value", values = keys.join(", "))));
        }
    }
    let mut kept = Vec::new();
    for a in &defined {
        let value = given.iter().find(|(c, _)| c == a.code).map(|(_, v)| v.trim()).unwrap_or("");
        if value.is_empty() {
            if a.required {
                return Err((format!("attribute[{}]", a.code), reason!("field.required")));
            }
            continue;
        }
        let shown = a.values.iter().find(|(k, _)| *k == value).map_or(value, |(_, name)| name);
        kept.push((a.code, shown.to_string()));
    }
    Ok(kept)
}

/// The line added to a request's text so that the desk reads the attributes with it.
pub fn attribute_line(kept: &[Kept]) -> String {
    if kept.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = kept
        .iter()
        .map(|(code, v)| {
            let label = if *code == "building" { "楼栋" } else { "影响范围" };
            let v = v.split_once(" (").map_or(v.as_str(), |(zh, _)| zh);
            format!("{label}：{v}")
        })
        .collect();
    format!("（{}）", parts.join("；"))
}

/// The service a code names: a leaf of the tree.
pub fn service<'a>(tree: &'a Tree, code: &str) -> Option<&'a Category> {
    tree.leaf(code)
}

/// The services offered: every leaf of the jurisdiction's tree in use, with its group's name.
pub fn services(tree: &Tree) -> impl Iterator<Item = (&Category, &str)> {
    tree.leaves().map(|c| {
        let group = c.parent.as_deref().and_then(|p| tree.category(p)).unwrap_or(c);
        (c, group.zh.as_str())
    })
}

/// Beijing time, the offset dates are written with (checked when compiling).
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(o) => o,
    None => panic!("UTC+8 is a valid offset"),
};

/// Beijing time, the offset dates are written with.
pub fn beijing() -> FixedOffset {
    BEIJING
}

/// Reads a date as GeoReport writes them (W3C: `2026-11-02T08:15:00+08:00` or `…Z`); a date or
/// a time without offset is taken as Beijing time.
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    beijing().from_local_datetime(&local).single()
}

/// A stored UTC time (`2026-11-02T00:15:00.000Z`) as Beijing time with its offset.
pub fn to_beijing(stored: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(stored).ok()?;
    Some(t.with_timezone(&beijing()).format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

/// The end of a due day, Beijing time: when the request is expected to be answered.
pub fn expected(due_on: &str) -> Option<String> {
    let day = NaiveDate::parse_from_str(due_on, "%Y-%m-%d").ok()?;
    Some(format!("{day}T23:59:59+08:00"))
}

/// The estate nearest to a point among `(id, lon, lat)`, when within [`NEAR_METRES`].
pub fn nearest_estate(estates: &[(i64, f64, f64)], lon: f64, lat: f64) -> Option<i64> {
    estates
        .iter()
        .map(|&(id, elon, elat)| (id, metres_between((lon, lat), (elon, elat))))
        .filter(|(_, m)| *m <= NEAR_METRES)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

/// Reads a latitude and longitude given as text; each problem names its field.
pub fn check_point(lat: &str, long: &str) -> Result<Option<(f64, f64)>, Refused> {
    let (lat, long) = (lat.trim(), long.trim());
    if lat.is_empty() && long.is_empty() {
        return Ok(None);
    }
    let read = |field: &str, v: &str, max: f64| -> Result<f64, Refused> {
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() && x.abs() <= max => Ok(x),
            _ if v.is_empty() => Err((field.to_string(), reason!("open311.point_half"))),
            _ => Err((field.to_string(), reason!("open311.bad_coordinate", max = max))),
        }
    };
    let lat = read("lat", lat, 90.0)?;
    let lon = read("long", long, 180.0)?;
    Ok(Some((lon, lat)))
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and line breaks, and U+FFFE and U+FFFF, are not
            // allowed in XML 1.0.
            c if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_come_from_the_suffix() {
        assert_eq!(split_format("requests.json"), Some(("requests", Format::Json)));
        assert_eq!(split_format("services.XML"), Some(("services", Format::Xml)));
        assert_eq!(split_format("repair.water.json"), Some(("repair.water", Format::Json)));
        assert_eq!(split_format("requests"), None);
        assert_eq!(split_format("requests.html"), None);
        assert_eq!(split_format(".json"), None);
    }

    #[test]
    fn open_until_answered() {
        let open: Vec<Status> = Status::ALL.into_iter().filter(|s| status_of(*s) == "open").collect();
        assert_eq!(open, vec![Status::Submitted, Status::InProgress, Status::Returned]);
        for s in Status::ALL {
            assert!(statuses_for(status_of(s)).is_some_and(|all| all.contains(&s)), "{s:?}");
        }
        assert_eq!(statuses_for("pending"), None);
    }

    #[test]
    fn attributes_are_checked_by_the_definition() {
        let tree = Tree::national();
        let water = service(&tree, "repair.water").unwrap();
        let kept = check_attributes(water, &[("building".into(), " 3栋2单元 ".into()), ("reach".into(), "building".into())]).unwrap();
        assert_eq!(kept, vec![("building", "3栋2单元".to_string()), ("reach", "整栋楼 (a whole building)".to_string())]);
        assert_eq!(attribute_line(&kept), "（楼栋：3栋2单元；影响范围：整栋楼）");
        let (field, r) = check_attributes(water, &[("reach".into(), "street".into())]).unwrap_err();
        assert_eq!((field.as_str(), r.code), ("attribute[reach]", "open311.not_a_value"));
        let noise = service(&tree, "environment.noise").unwrap();
        let (field, r) = check_attributes(noise, &[("reach".into(), "home".into())]).unwrap_err();
        assert_eq!((field.as_str(), r.code), ("attribute[reach]", "open311.unknown_attribute"));
        assert_eq!(check_attributes(noise, &[]).unwrap(), vec![]);
        assert!(service(&tree, "repair").is_none(), "a group with kinds is no service");
        assert_eq!(services(&tree).count(), tree.leaves().count());
    }

    #[test]
    fn dates_read_with_their_offset_and_beijing_without() {
        let z = parse_datetime("2026-11-02T00:15:00Z").unwrap();
        let b = parse_datetime("2026-11-02T08:15:00+08:00").unwrap();
        assert_eq!(z, b);
        assert_eq!(parse_datetime("2026-11-02T08:15:00").unwrap(), b);
        assert_eq!(parse_datetime("2026-11-02").unwrap(), parse_datetime("2026-11-01T16:00:00Z").unwrap());
        assert!(parse_datetime("yesterday").is_none());
        assert_eq!(to_beijing("2026-11-02T00:15:00.000Z").as_deref(), Some("2026-11-02T08:15:00+08:00"));
        assert_eq!(expected("2026-11-05").as_deref(), Some("2026-11-05T23:59:59+08:00"));
    }

    #[test]
    fn the_nearest_estate_within_reach() {
        // 0.001° of latitude is about 111 m.
        let estates = [(1, 118.8, 25.03), (2, 118.8, 25.032)];
        assert_eq!(nearest_estate(&estates, 118.8, 25.0305), Some(1));
        assert_eq!(nearest_estate(&estates, 118.8, 25.0316), Some(2));
        assert_eq!(nearest_estate(&estates, 118.8, 25.02), None, "a kilometre away is no estate's");
        assert!((metres_between((118.8, 25.03), (118.8, 25.031)) - 111.2).abs() < 0.5);
    }

    #[test]
    fn points_name_their_bad_half() {
        assert_eq!(check_point("", "").unwrap(), None);
        assert_eq!(check_point("25.03", "118.8").unwrap(), Some((118.8, 25.03)));
        assert_eq!(check_point("25.03", "").unwrap_err().0, "long");
        assert_eq!(check_point("95", "118.8").unwrap_err().0, "lat");
        assert_eq!(check_point("NaN", "118.8").unwrap_err().0, "lat");
        assert_eq!(check_point("25", "east").unwrap_err().0, "long");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup(s in "(\\PC|[\u{0}-\u{1f}\u{fffe}\u{ffff}]){0,40}") {
            let e = xml_escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
            let allowed = |c: char| (c as u32 >= 0x20 || matches!(c, '\t' | '\n' | '\r')) && !matches!(c as u32, 0xFFFE | 0xFFFF);
            prop_assert!(e.chars().all(allowed), "not allowed in XML: {:?}", e);
        }

        #[test]
        fn distance_is_symmetric_and_nonnegative(a in 73.0f64..135.0, b in 4.0f64..53.0, c in 73.0f64..135.0, d in 4.0f64..53.0) {
            let x = metres_between((a, b), (c, d));
            prop_assert!(x >= 0.0);
            prop_assert!((x - metres_between((c, d), (a, b))).abs() < 1e-6);
        }
    }
}
