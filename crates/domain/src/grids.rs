//! Grid management (网格化管理, issue 16, part 5): a community's estates divided into grids, each
//! with its grid workers and a responsible person; a weekly hazard check (巡查) of every estate of
//! a grid on the phone, item by item, with photos and the position; a hazard found becomes a
//! request routed like any other; dispute mediation records; the coverage of the week and each
//! worker's workload.

use crate::{reason, ValidationErrors};
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// One item of the weekly hazard check, and the request category a hazard of it is filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckItem {
    pub code: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub category: &'static str,
}

const fn item(code: &'static str, zh: &'static str, en: &'static str, category: &'static str) -> CheckItem {
    CheckItem { code, zh, en, category }
}

/// The weekly hazard check of an estate (seed 002, 广安: 每周隐患排查), in the order walked.
pub const WEEKLY_CHECK: &[CheckItem] = &[
    item("fire_passage", "消防通道畅通", "Fire passages clear", "safety.fire_passage"),
    item("ebike", "无电动车入户、飞线充电", "No e-bikes charged indoors or by hanging cables", "safety.ebike_indoor"),
    item("gas", "燃气管线无异味、无破损", "Gas pipes without smell or damage", "safety.gas_smell"),
    item("corridor", "楼道无杂物堆放", "Stairwells free of clutter", "environment.sanitation"),
    item("facade", "外墙、屋面无脱落渗漏", "Walls and roofs without falling parts or leaks", "repair.roof_leak"),
    item("lift", "电梯运行正常", "Lifts running", "repair.lift"),
    item("drainage", "排水通畅", "Drains flowing", "repair.drainage"),
    item("lighting", "公共照明完好", "Common lighting working", "repair.power"),
];

/// The item with this code.
pub fn check_item(code: &str) -> Option<&'static CheckItem> {
    WEEKLY_CHECK.iter().find(|i| i.code == code)
}

/// A position further than this from the estate's own point is marked on the patrol (not
/// refused: a phone indoors may be far off).
pub const PATROL_NEAR_METRES: f64 = 500.0;

/// The Monday of a day's week: patrols are planned and counted by the week.
pub fn week_of(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// One item as the worker found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemResult {
    pub code: String,
    /// `true`: as it should be; `false`: a hazard.
    pub ok: bool,
    pub note: String,
}

/// A patrol as recorded from the phone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PatrolInput {
    pub estate_id: i64,
    pub items: Vec<ItemResult>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub note: String,
}

/// A hazard a patrol found: the item and what the worker wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub item: &'static CheckItem,
    pub note: String,
}

impl Hazard {
    /// The text of the request it files.
    pub fn request_text(&self) -> String {
        let note = self.note.trim();
        if note.is_empty() {
            format!("网格巡查发现隐患（检查项：{}）", self.item.zh)
        } else {
            format!("网格巡查发现隐患（检查项：{}）：{note}", self.item.zh)
        }
    }
}

impl PatrolInput {
    /// Checks that every item of the check is answered once, a hazard says what was found, and
    /// the position (when given) is a place; returns the hazards.
    pub fn validate(&self) -> Result<Vec<Hazard>, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let mut hazards = Vec::new();
        for (i, r) in self.items.iter().enumerate() {
            let Some(item) = check_item(&r.code) else {
                e.push(&format!("items[{i}].code"), &r.code, reason!("grids.unknown_item"));
                continue;
            };
            if self.items.iter().filter(|x| x.code == r.code).count() > 1 {
                e.push(&format!("items[{i}].code"), &r.code, reason!("grids.item_twice"));
            }
            if r.note.chars().count() > 500 {
                e.push(&format!("items[{i}].note"), r.note.chars().count(), reason!("field.at_most_chars", max = 500));
            }
            if !r.ok {
                if r.note.trim().is_empty() {
                    e.push(&format!("items[{i}].note"), "", reason!("grids.hazard_note"));
                }
                hazards.push(Hazard { item, note: r.note.trim().to_string() });
            }
        }
        for item in WEEKLY_CHECK {
            if !self.items.iter().any(|r| r.code == item.code) {
                e.push("items", item.code, reason!("grids.item_missing", item = item.zh));
            }
        }
        match (self.lon, self.lat) {
            (None, None) => {}
            (Some(lon), Some(lat)) if lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0 => {}
            _ => e.push("lon", format!("{:?},{:?}", self.lon, self.lat), reason!("grids.position")),
        }
        if self.note.chars().count() > 1_000 {
            e.push("note", self.note.chars().count(), reason!("field.at_most_chars", max = 1000));
        }
        if e.is_empty() {
            Ok(hazards)
        } else {
            Err(e)
        }
    }
}

/// A polygon: its outer ring, then its holes; each ring `(lon, lat)` points.
pub type Polygon = Vec<Vec<(f64, f64)>>;

/// True when the point lies inside the ring (even-odd rule; a point on an edge may go either way).
fn in_ring(ring: &[(f64, f64)], (x, y): (f64, f64)) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = ring[i];
        let (xj, yj) = ring[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// True when the point lies in one of the polygons (inside its outer ring, outside its holes).
pub fn contains(polygons: &[Polygon], point: (f64, f64)) -> bool {
    polygons.iter().any(|p| p.first().is_some_and(|outer| in_ring(outer, point)) && !p.iter().skip(1).any(|hole| in_ring(hole, point)))
}

/// A grid read from a GeoJSON feature.
#[derive(Debug, Clone, PartialEq)]
pub struct GridFeature {
    /// The feature's number in the file, from 1.
    pub number: usize,
    pub code: String,
    pub name: String,
    /// The community it belongs to, when the properties say (`community_code` or 社区代码).
    pub community: String,
    pub polygons: Vec<Polygon>,
    /// The geometry as given, kept to draw.
    pub geometry: serde_json::Value,
}

fn ring_of(v: &serde_json::Value) -> Option<Vec<(f64, f64)>> {
    v.as_array()?
        .iter()
        .map(|p| {
            let (x, y) = (p.get(0)?.as_f64()?, p.get(1)?.as_f64()?);
            (x.abs() <= 180.0 && y.abs() <= 90.0).then_some((x, y))
        })
        .collect()
}

fn polygon_of(v: &serde_json::Value) -> Option<Polygon> {
    let rings: Option<Polygon> = v.as_array()?.iter().map(ring_of).collect();
    rings.filter(|r| !r.is_empty() && r.iter().all(|ring| ring.len() >= 4))
}

fn text(props: &serde_json::Map<String, serde_json::Value>, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| props.get(*k))
        .map(|v| match v {
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// The most grids one file may hold.
pub const MAX_FEATURES: usize = 2_000;

/// The most points one grid's boundary may have.
pub const MAX_POINTS: usize = 20_000;

/// The first and last days a week may be asked for (a date far off is a mistake, not a week).
pub fn week_in_range(day: NaiveDate) -> bool {
    (2000..=2100).contains(&day.year())
}

/// Reads grids from a GeoJSON FeatureCollection: each feature a Polygon or MultiPolygon with a
/// name (`name` or 网格名称) and a code (`code` or 网格编码; its number when absent). Every problem
/// is named by its feature; none is half read.
pub fn read_geojson(bytes: &[u8]) -> Result<Vec<GridFeature>, ValidationErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ValidationErrors::one("file", "", reason!("estates.not_valid_geojson", e = e)))?;
    let Some(features) = v.get("features").and_then(|f| f.as_array()) else {
        return Err(ValidationErrors::one("file", "", reason!("estates.geojson_not_collection")));
    };
    if features.len() > MAX_FEATURES {
        return Err(ValidationErrors::one("file", features.len(), reason!("grids.too_many", max = MAX_FEATURES)));
    }
    let mut e = ValidationErrors::default();
    let mut out: Vec<GridFeature> = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let number = i + 1;
        let at = format!("features[{number}]");
        let props = f.get("properties").and_then(|p| p.as_object()).cloned().unwrap_or_default();
        let name = text(&props, &["name", "网格名称", "名称"]);
        if name.is_empty() || name.chars().count() > 64 {
            e.push(&format!("{at}.name"), &name, reason!("field.length", max = 64));
        }
        let mut code = text(&props, &["code", "网格编码", "编码"]);
        if code.is_empty() {
            code = format!("G{number:03}");
        }
        if code.chars().count() > 32 {
            e.push(&format!("{at}.code"), &code, reason!("field.at_most_chars", max = 32));
        } else if codes.contains(&code) {
            e.push(&format!("{at}.code"), &code, reason!("grids.code_twice"));
        }
        codes.push(code.clone());
        let community = text(&props, &["community_code", "社区代码", "community"]);
        let geometry = f.get("geometry").cloned().unwrap_or(serde_json::Value::Null);
        let coordinates = geometry.get("coordinates");
        let polygons = match geometry.get("type").and_then(|t| t.as_str()) {
            Some("Polygon") => coordinates.and_then(polygon_of).map(|p| vec![p]),
            Some("MultiPolygon") => coordinates.and_then(|c| c.as_array()).and_then(|ps| ps.iter().map(polygon_of).collect()),
            _ => None,
        };
        let points: usize = polygons.iter().flatten().flatten().map(Vec::len).sum();
        if points > MAX_POINTS {
            e.push(&format!("{at}.geometry"), points, reason!("grids.boundary_too_large", max = MAX_POINTS));
            continue;
        }
        match polygons {
            // Kept as its type and coordinates only: nothing else the file carried.
            Some(polygons) if !polygons.is_empty() => {
                let geometry = serde_json::json!({"type": geometry.get("type"), "coordinates": coordinates});
                out.push(GridFeature { number, code, name, community, polygons, geometry })
            }
            _ => e.push(&format!("{at}.geometry"), geometry.get("type").and_then(|t| t.as_str()).unwrap_or(""), reason!("grids.geometry")),
        }
    }
    if e.is_empty() {
        Ok(out)
    } else {
        Err(e)
    }
}

/// A worker's patrols and hazards over some weeks, as the workload table shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Workload {
    /// Estate-weeks planned: the estates of the worker's grids times the weeks.
    pub planned: i64,
    /// Estate-weeks the worker patrolled.
    pub done: i64,
    pub patrols: i64,
    pub hazards: i64,
    /// Requests the worker's hazards filed that were answered by their due day, and of those due.
    pub answered_on_time: i64,
    pub answers_due: i64,
}

impl Workload {
    /// The share of planned estate-weeks done, in per cent (100 when nothing was planned).
    pub fn patrol_rate(&self) -> f64 {
        if self.planned == 0 {
            100.0
        } else {
            (self.done.min(self.planned) as f64 * 100.0 / self.planned as f64 * 10.0).round() / 10.0
        }
    }

    /// The share of the hazards' requests answered on time, in per cent (none due: 100).
    pub fn on_time_rate(&self) -> f64 {
        if self.answers_due == 0 {
            100.0
        } else {
            (self.answered_on_time as f64 * 100.0 / self.answers_due as f64 * 10.0).round() / 10.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_ok() -> Vec<ItemResult> {
        WEEKLY_CHECK.iter().map(|i| ItemResult { code: i.code.into(), ok: true, note: String::new() }).collect()
    }

    #[test]
    fn a_patrol_answers_every_item_once_and_names_its_hazards() {
        let mut p = PatrolInput { estate_id: 1, items: all_ok(), ..Default::default() };
        assert_eq!(p.validate().unwrap(), vec![]);
        p.items[2].ok = false;
        let e = p.validate().unwrap_err();
        assert_eq!(e.0[0].field, "items[2].note", "a hazard says what was found");
        p.items[2].note = "3号楼燃气表处有异味".into();
        let hazards = p.validate().unwrap();
        assert_eq!(hazards.len(), 1);
        assert_eq!(hazards[0].item.category, "safety.gas_smell");
        assert_eq!(hazards[0].request_text(), "网格巡查发现隐患（检查项：燃气管线无异味、无破损）：3号楼燃气表处有异味");
        p.items.pop();
        assert_eq!(p.validate().unwrap_err().0[0].field, "items");
        p.items = all_ok();
        p.items.push(ItemResult { code: "gas".into(), ok: true, note: String::new() });
        assert!(p.validate().unwrap_err().0.iter().any(|f| f.code == "grids.item_twice"));
        p.items = all_ok();
        p.lon = Some(118.8);
        assert_eq!(p.validate().unwrap_err().0[0].field, "lon", "half a position");
        p.lat = Some(25.03);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn weeks_start_on_monday() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(week_of(d("2026-12-06")), d("2026-11-30"), "a Sunday");
        assert_eq!(week_of(d("2026-11-30")), d("2026-11-30"));
        assert_eq!(week_of(d("2026-12-01")), d("2026-11-30"));
    }

    #[test]
    fn points_in_polygons_with_holes() {
        let square = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)];
        let hole = vec![(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)];
        let p = vec![vec![square, hole]];
        assert!(contains(&p, (1.0, 1.0)));
        assert!(!contains(&p, (5.0, 5.0)), "in the hole");
        assert!(!contains(&p, (11.0, 5.0)));
    }

    #[test]
    fn geojson_grids_are_read_whole_or_refused_by_feature() {
        let good = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"一网格","code":"W1"},"geometry":{"type":"Polygon","coordinates":[[[118,25],[119,25],[119,26],[118,25]]]}},
            {"type":"Feature","properties":{"网格名称":"二网格"},"geometry":{"type":"MultiPolygon","coordinates":[[[[118,25],[119,25],[119,26],[118,25]]]]}}]}"#;
        let grids = read_geojson(good.as_bytes()).unwrap();
        assert_eq!(grids.iter().map(|g| (g.code.as_str(), g.name.as_str())).collect::<Vec<_>>(), [("W1", "一网格"), ("G002", "二网格")]);
        assert!(contains(&grids[0].polygons, (118.9, 25.5)));
        let bad = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"code":"W1"},"geometry":{"type":"Point","coordinates":[118,25]}},
            {"type":"Feature","properties":{"name":"x","code":"W1"},"geometry":{"type":"Polygon","coordinates":[[["118","25"],[119,25],[119,26],[118,25]]]}}]}"#;
        let e = read_geojson(bad.as_bytes()).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["features[1].name", "features[1].geometry", "features[2].code", "features[2].geometry"]);
        assert_eq!(read_geojson(b"[1,2]").unwrap_err().0[0].field, "file");
    }

    #[test]
    fn rates_are_shares_of_what_was_due() {
        let w = Workload { planned: 8, done: 6, answered_on_time: 1, answers_due: 3, ..Default::default() };
        assert_eq!((w.patrol_rate(), w.on_time_rate()), (75.0, 33.3));
        assert_eq!(Workload::default().patrol_rate(), 100.0);
    }

    proptest! {
        #[test]
        fn reading_any_json_never_panics(s in "\\PC{0,200}") {
            let _ = read_geojson(s.as_bytes());
        }

        #[test]
        fn a_point_inside_a_box_is_inside(x in 0.01f64..9.99, y in 0.01f64..9.99) {
            let square = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)];
            prop_assert!(contains(&[vec![square.clone()]], (x, y)));
            prop_assert!(!contains(&[vec![square]], (x + 10.0, y)));
        }
    }
}
