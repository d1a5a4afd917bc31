//! The registry: estates (小区), buildings (楼栋) and dwellings (房屋), validated before storage.

use crate::error::ValidationErrors;
use crate::geo;
use crate::reason;
use crate::reasons::Reason;
use crate::regions::{Level, RegionCode};
use crate::units::Area;
use serde::{Deserialize, Serialize};

/// Earliest build year accepted; older dates are almost always typing errors.
pub const MIN_BUILD_YEAR: i64 = 1900;

/// The national rule: estates built before 2001 qualify (国办发〔2020〕23号); configurable.
pub const DEFAULT_ELIGIBLE_BEFORE_YEAR: i64 = 2001;

/// True when an estate built in `build_year` qualifies under a rule admitting years before `before_year`.
pub fn is_eligible(build_year: i64, before_year: i64) -> bool {
    build_year < before_year
}

/// Where an estate stands in its renewal (DESIGN.md, "The life of one estate"); ordered as the life goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstateStatus {
    Surveyed,
    Assessed,
    Ranked,
    InPlan,
    SchemeDrafted,
    Notice1,
    Notice2,
    Decided,
    Approved,
    InConstruction,
    Completed,
    Accepted,
    Reviewed,
    InUpkeep,
}

impl EstateStatus {
    /// Every status in lifecycle order.
    pub const ALL: [EstateStatus; 14] = [
        EstateStatus::Surveyed,
        EstateStatus::Assessed,
        EstateStatus::Ranked,
        EstateStatus::InPlan,
        EstateStatus::SchemeDrafted,
        EstateStatus::Notice1,
        EstateStatus::Notice2,
        EstateStatus::Decided,
        EstateStatus::Approved,
        EstateStatus::InConstruction,
        EstateStatus::Completed,
        EstateStatus::Accepted,
        EstateStatus::Reviewed,
        EstateStatus::InUpkeep,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EstateStatus::Surveyed => "surveyed",
            EstateStatus::Assessed => "assessed",
            EstateStatus::Ranked => "ranked",
            EstateStatus::InPlan => "in_plan",
            EstateStatus::SchemeDrafted => "scheme_drafted",
            EstateStatus::Notice1 => "notice_1",
            EstateStatus::Notice2 => "notice_2",
            EstateStatus::Decided => "decided",
            EstateStatus::Approved => "approved",
            EstateStatus::InConstruction => "in_construction",
            EstateStatus::Completed => "completed",
            EstateStatus::Accepted => "accepted",
            EstateStatus::Reviewed => "reviewed",
            EstateStatus::InUpkeep => "in_upkeep",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<EstateStatus> {
        Self::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// The Chinese name, as the pages and exported sheets show it.
    pub fn zh(self) -> &'static str {
        match self {
            EstateStatus::Surveyed => "已普查",
            EstateStatus::Assessed => "已体检",
            EstateStatus::Ranked => "已排序",
            EstateStatus::InPlan => "列入计划",
            EstateStatus::SchemeDrafted => "方案编制",
            EstateStatus::Notice1 => "一轮公示完成",
            EstateStatus::Notice2 => "二轮公示完成",
            EstateStatus::Decided => "已表决",
            EstateStatus::Approved => "已审批",
            EstateStatus::InConstruction => "施工中",
            EstateStatus::Completed => "已竣工",
            EstateStatus::Accepted => "已验收",
            EstateStatus::Reviewed => "已回头看",
            EstateStatus::InUpkeep => "长效管理",
        }
    }

    /// The Chinese name of a stored status code (the code itself if unknown).
    pub fn zh_of(code: &str) -> String {
        EstateStatus::parse(code).map_or_else(|| code.to_string(), |s| s.zh().to_string())
    }
}

/// Ownership types found in old estates; the Chinese labels are what import files carry.
pub const OWNERSHIP_TYPES: [(&str, &str); 6] = [
    ("commercial", "商品房"),
    ("reformed", "房改房"),
    ("work_unit", "单位自管"),
    ("public_direct", "直管公房"),
    ("resettlement", "安置房"),
    ("mixed", "混合产权"),
];

/// Property management situations; an estate without any is 失管.
pub const MANAGEMENT_STATUSES: [(&str, &str); 4] =
    [("professional", "专业物业"), ("self_managed", "居民自治"), ("community_managed", "社区托管"), ("none", "无物业")];

/// Building structures.
pub const STRUCTURES: [(&str, &str); 5] =
    [("brick_concrete", "砖混"), ("frame", "框架"), ("shear_wall", "剪力墙"), ("brick_wood", "砖木"), ("other", "其他")];

/// How a dwelling is used.
pub const OCCUPANCIES: [(&str, &str); 4] = [("owner", "自住"), ("rented", "出租"), ("vacant", "空置"), ("other", "其他")];

/// Accepts either the code or the Chinese label of a choice list; returns the code.
pub fn choice(list: &[(&'static str, &'static str)], given: &str) -> Option<&'static str> {
    let g = given.trim();
    list.iter().find(|(code, label)| *code == g || *label == g).map(|(code, _)| *code)
}

fn choice_names(list: &[(&str, &str)]) -> String {
    list.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("、")
}

/// Coordinates as the user gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    /// WGS-84 / CGCS2000 (GPS, Tianditu); stored as is.
    #[default]
    Wgs84,
    /// GCJ-02 (Amap, Tencent pickers); converted on the way in.
    Gcj02,
}

/// An estate as submitted by a form, the API or an import row, before validation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EstateInput {
    pub code: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub address: String,
    pub community_code: String,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub datum: Datum,
    /// Optional outline as a GeoJSON Polygon geometry.
    pub outline: Option<serde_json::Value>,
    pub build_year: Option<i64>,
    pub building_count: Option<i64>,
    pub households: Option<i64>,
    /// Floor area in m² (at most two decimals).
    pub floor_area_m2: Option<f64>,
    pub ownership_type: String,
    pub management_status: String,
    pub has_owners_committee: bool,
    pub person_in_charge: String,
    pub phone: String,
}

/// A validated estate, ready to store: every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EstateRecord {
    pub code: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub address: String,
    pub community_code: RegionCode,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub outline: Option<String>,
    pub build_year: i64,
    pub building_count: i64,
    pub households: i64,
    pub floor_area: Area,
    pub ownership_type: String,
    pub management_status: String,
    pub has_owners_committee: bool,
    pub person_in_charge: String,
    pub phone: String,
}

/// Checks a phone number: mainland mobile (11 digits from 1) or a landline with area code.
pub fn valid_phone(p: &str) -> bool {
    let d: String = p.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    (d.len() == 11 && d.starts_with('1')) || (d.starts_with('0') && (10..=12).contains(&d.len()))
}

/// Masks a phone number for lists and exports (PIPL): `138****5678`.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

fn check_len(errs: &mut ValidationErrors, field: &str, v: &str, max: usize, required: bool) {
    if required && v.trim().is_empty() {
        errs.push(field, v, reason!("field.required"));
    } else if v.chars().count() > max {
        errs.push(field, v, reason!("estates.too_long", max = max));
    }
}

fn check_count(errs: &mut ValidationErrors, field: &str, v: Option<i64>, max: i64) -> i64 {
    match v {
        None => 0,
        Some(n) if n < 0 => {
            errs.push(field, n, reason!("estates.not_negative"));
            0
        }
        Some(n) if n > max => {
            errs.push(field, n, reason!("estates.implausible", max = max));
            0
        }
        Some(n) => n,
    }
}

/// Checks a GeoJSON Polygon or MultiPolygon (an estate in several parts, as counties' GIS exports
/// have them): closed rings of at least four [lon, lat] positions inside China.
pub fn validate_outline(v: &serde_json::Value) -> Result<String, Reason> {
    let coordinates = v.get("coordinates").and_then(|c| c.as_array()).ok_or(reason!("estates.has_no_coordinates"))?;
    match v.get("type").and_then(|t| t.as_str()) {
        Some("Polygon") => {
            let positions: usize = coordinates.iter().filter_map(|r| r.as_array()).map(|r| r.len()).sum();
            if positions > MAX_OUTLINE_POSITIONS {
                return Err(reason!("estates.outline_too_detailed", positions = positions, max_outline_positions = MAX_OUTLINE_POSITIONS));
            }
            check_rings(coordinates)?
        }
        Some("MultiPolygon") => {
            if coordinates.is_empty() {
                return Err(reason!("estates.has_no_polygons"));
            }
            let positions: usize = coordinates
                .iter()
                .filter_map(|p| p.as_array())
                .flat_map(|rings| rings.iter().filter_map(|r| r.as_array()).map(|r| r.len()))
                .sum();
            if positions > MAX_OUTLINE_POSITIONS {
                return Err(reason!("estates.outline_too_detailed", positions = positions, max_outline_positions = MAX_OUTLINE_POSITIONS));
            }
            for polygon in coordinates {
                check_rings(polygon.as_array().ok_or(reason!("estates.polygon_not_list_rings"))?)?;
            }
        }
        _ => return Err(reason!("estates.outline_kind")),
    }
    Ok(v.to_string())
}

/// Most positions an outline may have: an estate's boundary needs dozens; 100,000 parts sent with
/// every list page would not do (found by the attacker's trial).
pub const MAX_OUTLINE_POSITIONS: usize = 10_000;

/// Checks the rings of one polygon.
fn check_rings(rings: &[serde_json::Value]) -> Result<(), Reason> {
    if rings.is_empty() {
        return Err(reason!("estates.has_no_rings"));
    }
    for ring in rings {
        let pts = ring.as_array().ok_or(reason!("estates.ring_not_list_positions"))?;
        if pts.len() < 4 {
            return Err(reason!("estates.ring_needs_least_four_positions"));
        }
        let mut parsed = Vec::with_capacity(pts.len());
        for p in pts {
            let lon = p.get(0).and_then(|x| x.as_f64()).ok_or(reason!("estates.position_not_lon_lat"))?;
            let lat = p.get(1).and_then(|x| x.as_f64()).ok_or(reason!("estates.position_not_lon_lat"))?;
            if !geo::in_china(lon, lat) {
                return Err(reason!("estates.position_outside_china", lon = lon, lat = lat));
            }
            parsed.push((lon, lat));
        }
        if parsed.first() != parsed.last() {
            return Err(reason!("estates.ring_end_where_starts"));
        }
    }
    Ok(())
}

impl EstateInput {
    /// Validates every field, collecting all problems; `current_year` bounds the build year.
    pub fn validate(&self, current_year: i64) -> Result<EstateRecord, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let code = self.code.trim().to_string();
        check_len(&mut errs, "code", &code, 40, true);
        if code.chars().any(|c| c.is_whitespace()) {
            errs.push("code", &code, reason!("estates.not_contain_spaces"));
        }
        check_len(&mut errs, "name", &self.name, 100, true);
        check_len(&mut errs, "address", &self.address, 200, false);
        check_len(&mut errs, "person_in_charge", &self.person_in_charge, 50, false);
        if self.aliases.len() > 10 {
            errs.push("aliases", self.aliases.len(), reason!("estates.too_many_aliases"));
        }
        for a in &self.aliases {
            check_len(&mut errs, "aliases", a, 100, false);
        }
        let community = match RegionCode::parse(&self.community_code) {
            Ok(c) if c.level() == Level::Community => Some(c),
            Ok(c) => {
                errs.push("community_code", &c, reason!("estates.community_code_form"));
                None
            }
            Err(e) => {
                errs.push("community_code", &self.community_code, e);
                None
            }
        };
        let (lon, lat) = match (self.lon, self.lat) {
            (None, None) => (None, None),
            (Some(lon), Some(lat)) => {
                if !lon.is_finite() || !lat.is_finite() || !geo::in_china(lon, lat) {
                    errs.push("lon", format!("{lon}, {lat}"), reason!("estates.point_outside_china"));
                    (None, None)
                } else if self.datum == Datum::Gcj02 {
                    let (a, b) = geo::gcj02_to_wgs84(lon, lat);
                    (Some(a), Some(b))
                } else {
                    (Some(lon), Some(lat))
                }
            }
            (Some(_), None) => {
                errs.push("lat", "", reason!("estates.required_when_lon_given"));
                (None, None)
            }
            (None, Some(_)) => {
                errs.push("lon", "", reason!("estates.required_when_lat_given"));
                (None, None)
            }
        };
        let outline = match &self.outline {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match validate_outline(v) {
                Ok(s) => Some(s),
                Err(e) => {
                    errs.push("outline", v, e);
                    None
                }
            },
        };
        let build_year = match self.build_year {
            None => {
                errs.push("build_year", "", reason!("field.required"));
                0
            }
            Some(y) if y < MIN_BUILD_YEAR || y > current_year => {
                errs.push("build_year", y, reason!("field.between", min = MIN_BUILD_YEAR, max = current_year));
                0
            }
            Some(y) => y,
        };
        let building_count = check_count(&mut errs, "building_count", self.building_count, 2_000);
        let households = check_count(&mut errs, "households", self.households, 100_000);
        let floor_area = match self.floor_area_m2 {
            None => Area::default(),
            Some(a) => Area::from_m2_f64(a).unwrap_or_else(|e| {
                errs.push("floor_area_m2", a, e);
                Area::default()
            }),
        };
        let ownership_type = if self.ownership_type.trim().is_empty() {
            String::new()
        } else {
            choice(&OWNERSHIP_TYPES, &self.ownership_type).map(str::to_string).unwrap_or_else(|| {
                errs.push("ownership_type", &self.ownership_type, reason!("estates.one", choice_names = choice_names(&OWNERSHIP_TYPES)));
                String::new()
            })
        };
        let management_status = if self.management_status.trim().is_empty() {
            "none".to_string()
        } else {
            choice(&MANAGEMENT_STATUSES, &self.management_status).map(str::to_string).unwrap_or_else(|| {
                errs.push(
                    "management_status",
                    &self.management_status,
                    reason!("estates.one", choice_names = choice_names(&MANAGEMENT_STATUSES)),
                );
                String::new()
            })
        };
        let phone = self.phone.trim().to_string();
        if !phone.is_empty() && !valid_phone(&phone) {
            errs.push("phone", &phone, reason!("field.phone_form"));
        }
        let record = EstateRecord {
            code,
            name: self.name.trim().to_string(),
            aliases: self.aliases.iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect(),
            address: self.address.trim().to_string(),
            community_code: community.unwrap_or_else(RegionCode::country),
            lon,
            lat,
            outline,
            build_year,
            building_count,
            households,
            floor_area,
            ownership_type,
            management_status,
            has_owners_committee: self.has_owners_committee,
            person_in_charge: self.person_in_charge.trim().to_string(),
            phone,
        };
        errs.into_result(record)
    }
}

/// A building as submitted, before validation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BuildingInput {
    /// The estate's code (imports) — the API takes the estate from the URL.
    pub estate_code: String,
    /// 楼号, e.g. `3号楼`; unique within the estate.
    pub number: String,
    pub floors: Option<i64>,
    pub stairwells: Option<i64>,
    pub has_lift: bool,
    pub structure: String,
    pub build_year: Option<i64>,
}

/// A validated building.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildingRecord {
    pub number: String,
    pub floors: i64,
    pub stairwells: i64,
    pub has_lift: bool,
    pub structure: String,
    pub build_year: Option<i64>,
}

impl BuildingInput {
    /// Validates every field, collecting all problems.
    pub fn validate(&self, current_year: i64) -> Result<BuildingRecord, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_len(&mut errs, "number", &self.number, 40, true);
        let floors = match self.floors {
            Some(f) if (1..=100).contains(&f) => f,
            Some(f) => {
                errs.push("floors", f, reason!("field.between", min = 1, max = 100));
                0
            }
            None => {
                errs.push("floors", "", reason!("field.required"));
                0
            }
        };
        let stairwells = match self.stairwells {
            None => 1,
            Some(s) if (1..=30).contains(&s) => s,
            Some(s) => {
                errs.push("stairwells", s, reason!("field.between", min = 1, max = 30));
                0
            }
        };
        let structure = if self.structure.trim().is_empty() {
            "other".to_string()
        } else {
            choice(&STRUCTURES, &self.structure).map(str::to_string).unwrap_or_else(|| {
                errs.push("structure", &self.structure, reason!("estates.one", choice_names = choice_names(&STRUCTURES)));
                String::new()
            })
        };
        if let Some(y) = self.build_year {
            if y < MIN_BUILD_YEAR || y > current_year {
                errs.push("build_year", y, reason!("field.between", min = MIN_BUILD_YEAR, max = current_year));
            }
        }
        let rec = BuildingRecord {
            number: self.number.trim().to_string(),
            floors,
            stairwells,
            has_lift: self.has_lift,
            structure,
            build_year: self.build_year,
        };
        errs.into_result(rec)
    }
}

/// One owner of a dwelling with a share in basis points (10000 = sole owner).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct OwnerInput {
    pub name: String,
    pub phone: String,
    pub share_bp: Option<i64>,
}

/// A dwelling as submitted, before validation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DwellingInput {
    pub estate_code: String,
    pub building_number: String,
    pub stairwell: Option<i64>,
    pub floor: Option<i64>,
    /// 室号, e.g. `301`; unique within the building.
    pub number: String,
    pub exclusive_area_m2: Option<f64>,
    pub owners: Vec<OwnerInput>,
    pub occupancy: String,
    pub residents_60_plus: Option<i64>,
}

/// A validated dwelling; owners' shares add up to 10000 basis points.
#[derive(Debug, Clone, PartialEq)]
pub struct DwellingRecord {
    pub stairwell: i64,
    pub floor: i64,
    pub number: String,
    pub exclusive_area: Area,
    pub owners: Vec<(String, String, i64)>,
    pub occupancy: String,
    pub residents_60_plus: i64,
}

impl DwellingInput {
    /// Validates every field; owners without shares split the whole equally.
    pub fn validate(&self) -> Result<DwellingRecord, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_len(&mut errs, "number", &self.number, 20, true);
        let stairwell = match self.stairwell {
            None => 1,
            Some(s) if (1..=30).contains(&s) => s,
            Some(s) => {
                errs.push("stairwell", s, reason!("field.between", min = 1, max = 30));
                1
            }
        };
        let floor = match self.floor {
            Some(f) if (-5..=100).contains(&f) && f != 0 => f,
            Some(f) => {
                errs.push("floor", f, reason!("estates.floor_range"));
                1
            }
            None => {
                errs.push("floor", "", reason!("field.required"));
                1
            }
        };
        let exclusive_area = match self.exclusive_area_m2 {
            None => {
                errs.push("exclusive_area_m2", "", reason!("estates.area_required"));
                Area::default()
            }
            Some(a) => match Area::from_m2_f64(a) {
                Ok(area) if area.hundredths() == 0 => {
                    errs.push("exclusive_area_m2", a, reason!("field.more_than_0"));
                    area
                }
                Ok(area) if area.hundredths() > 2_000_000 => {
                    errs.push("exclusive_area_m2", a, reason!("estates.dwelling_area_implausible"));
                    area
                }
                Ok(area) => area,
                Err(e) => {
                    errs.push("exclusive_area_m2", a, e);
                    Area::default()
                }
            },
        };
        let mut owners = Vec::new();
        let named: Vec<&OwnerInput> = self.owners.iter().filter(|o| !o.name.trim().is_empty()).collect();
        if !named.is_empty() {
            let given: Vec<Option<i64>> = named.iter().map(|o| o.share_bp).collect();
            let shares: Vec<i64> = if given.iter().all(Option::is_none) {
                let n = named.len() as i64;
                (0..n).map(|i| 10_000 / n + i64::from(i < 10_000 % n)).collect()
            } else if given.iter().all(Option::is_some) {
                given.iter().map(|s| s.unwrap_or(0)).collect()
            } else {
                errs.push("owners", named.len(), reason!("estates.shares_all_or_none"));
                vec![0; named.len()]
            };
            if shares.iter().any(|&s| s <= 0) || shares.iter().sum::<i64>() != 10_000 {
                errs.push("owners", format!("{shares:?}"), reason!("estates.shares_sum"));
            }
            for (o, s) in named.iter().zip(shares) {
                check_len(&mut errs, "owners", &o.name, 50, true);
                let phone = o.phone.trim().to_string();
                if !phone.is_empty() && !valid_phone(&phone) {
                    errs.push("owners", &phone, reason!("estates.owner_phone_form"));
                }
                owners.push((o.name.trim().to_string(), phone, s));
            }
        }
        let occupancy = if self.occupancy.trim().is_empty() {
            "owner".to_string()
        } else {
            choice(&OCCUPANCIES, &self.occupancy).map(str::to_string).unwrap_or_else(|| {
                errs.push("occupancy", &self.occupancy, reason!("estates.one", choice_names = choice_names(&OCCUPANCIES)));
                String::new()
            })
        };
        let residents_60_plus = check_count(&mut errs, "residents_60_plus", self.residents_60_plus, 20);
        let rec = DwellingRecord {
            stairwell,
            floor,
            number: self.number.trim().to_string(),
            exclusive_area,
            owners,
            occupancy,
            residents_60_plus,
        };
        errs.into_result(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> EstateInput {
        EstateInput {
            code: "HA-001".into(),
            name: "螺城小区".into(),
            community_code: "350521100001".into(),
            lon: Some(118.8),
            lat: Some(25.03),
            build_year: Some(1995),
            households: Some(120),
            floor_area_m2: Some(9800.5),
            ownership_type: "房改房".into(),
            phone: "13800138000".into(),
            ..Default::default()
        }
    }

    #[test]
    fn valid_estate_passes_and_maps_labels() {
        let r = good().validate(2026).unwrap();
        assert_eq!(r.ownership_type, "reformed");
        assert_eq!(r.management_status, "none");
        assert_eq!(r.floor_area.hundredths(), 980_050);
    }

    #[test]
    fn every_problem_is_named() {
        let mut e = good();
        e.name = " ".into();
        e.community_code = "350521".into();
        e.build_year = Some(2090);
        e.households = Some(-3);
        e.phone = "12345".into();
        e.ownership_type = "别墅".into();
        let errs = e.validate(2026).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["name", "community_code", "build_year", "households", "ownership_type", "phone"]);
    }

    #[test]
    fn gcj02_input_is_converted() {
        let mut e = good();
        e.datum = Datum::Gcj02;
        let r = e.validate(2026).unwrap();
        assert!(r.lon.unwrap() < 118.8);
    }

    #[test]
    fn eligibility_follows_the_cutoff() {
        assert!(is_eligible(2000, DEFAULT_ELIGIBLE_BEFORE_YEAR));
        assert!(!is_eligible(2001, DEFAULT_ELIGIBLE_BEFORE_YEAR));
        assert!(is_eligible(2005, 2006));
    }

    #[test]
    fn owners_split_equally_and_must_add_up() {
        let mut d = DwellingInput {
            number: "301".into(),
            floor: Some(3),
            exclusive_area_m2: Some(65.5),
            owners: vec![
                OwnerInput { name: "张三".into(), ..Default::default() },
                OwnerInput { name: "李四".into(), ..Default::default() },
                OwnerInput { name: "王五".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        let r = d.validate().unwrap();
        assert_eq!(r.owners.iter().map(|o| o.2).sum::<i64>(), 10_000);
        d.owners[0].share_bp = Some(5000);
        assert!(d.validate().is_err());
        d.exclusive_area_m2 = Some(0.0);
        d.owners.clear();
        assert_eq!(d.validate().unwrap_err().0[0].field, "exclusive_area_m2");
    }

    #[test]
    fn phones_are_checked_and_masked() {
        assert!(valid_phone("13800138000"));
        assert!(valid_phone("0595-87123456"));
        assert!(!valid_phone("23800138000"));
        assert_eq!(mask_phone("13800138000"), "138****8000");
    }

    #[test]
    fn outline_must_be_a_closed_polygon() {
        let ok = serde_json::json!({"type":"Polygon","coordinates":[[[118.8,25.0],[118.81,25.0],[118.81,25.01],[118.8,25.0]]]});
        assert!(validate_outline(&ok).is_ok());
        let open = serde_json::json!({"type":"Polygon","coordinates":[[[118.8,25.0],[118.81,25.0],[118.81,25.01],[118.8,25.02]]]});
        assert!(validate_outline(&open).is_err());
        assert!(validate_outline(&serde_json::json!({"type":"Point","coordinates":[1,2]})).is_err());
        let ring = serde_json::json!([[118.8, 25.0], [118.81, 25.0], [118.81, 25.01], [118.8, 25.0]]);
        let multi = serde_json::json!({"type":"MultiPolygon","coordinates":[[ring], [ring]]});
        assert!(validate_outline(&multi).is_ok());
        let broken = serde_json::json!({"type":"MultiPolygon","coordinates":[[ring], [[[118.8,25.0]]]]});
        assert!(validate_outline(&broken).is_err(), "every part is checked");
        let many = serde_json::json!({"type":"MultiPolygon","coordinates": vec![serde_json::json!([ring]); 2_501]});
        assert!(validate_outline(&many).unwrap_err().to_string().contains("at most 10000"));
    }
}
