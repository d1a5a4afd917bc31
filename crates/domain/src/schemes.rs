//! Schemes (改造方案) drawn from the renovation menu (改造内容清单, 国办发〔2020〕23号): items with
//! quantities and unit prices for an estate and for each of its buildings (一区一策, 一楼一策), the
//! cost estimate by category and by expected payer, versions through the two public-notice rounds
//! to the final scheme (两上两下), and what changed between two versions.

use crate::reason;
use crate::reasons::Reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The three national categories of the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 基础类: safety and basic living.
    Basic,
    /// 完善类: convenience.
    Improvement,
    /// 提升类: services.
    Upgrading,
}

impl Category {
    /// Every category, in menu order.
    pub const ALL: [Category; 3] = [Category::Basic, Category::Improvement, Category::Upgrading];

    /// The API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Basic => "basic",
            Category::Improvement => "improvement",
            Category::Upgrading => "upgrading",
        }
    }

    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            Category::Basic => "基础类",
            Category::Improvement => "完善类",
            Category::Upgrading => "提升类",
        }
    }

    /// Parses the API code or the Chinese name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s.trim() || c.zh() == s.trim())
    }
}

/// Who is expected to pay for an item (政府补一点、市场筹一点、居民拿一点).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    /// 政府: government budgets and central subsidies.
    Government,
    /// 管线单位: water, power, gas and telecom companies for their own networks.
    Utility,
    /// 居民: owners' contributions and maintenance funds.
    Residents,
    /// 社会资本: companies that operate the facility afterwards.
    Enterprise,
}

impl Payer {
    /// Every payer.
    pub const ALL: [Payer; 4] = [Payer::Government, Payer::Utility, Payer::Residents, Payer::Enterprise];

    /// The API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Payer::Government => "government",
            Payer::Utility => "utility",
            Payer::Residents => "residents",
            Payer::Enterprise => "enterprise",
        }
    }

    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            Payer::Government => "政府",
            Payer::Utility => "管线单位",
            Payer::Residents => "居民",
            Payer::Enterprise => "社会资本",
        }
    }

    /// Parses the API code or the Chinese name.
    pub fn parse(s: &str) -> Option<Payer> {
        Payer::ALL.into_iter().find(|p| p.as_str() == s.trim() || p.zh() == s.trim())
    }
}

/// Units a menu item may be counted in.
pub const UNITS: [&str; 15] = ["m", "m²", "m³", "部", "个", "处", "套", "户", "栋", "项", "台", "根", "盏", "座", "樘"];

/// One entry of the menu: what can be done, in which unit, at what reference price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuItem {
    pub code: String,
    pub category: Category,
    pub name: String,
    pub unit: String,
    /// Reference unit price in fen (分).
    pub unit_price_fen: i64,
    pub payer: Payer,
    /// False when a region has taken the item off its menu.
    pub active: bool,
    /// The statistical indicator its quantities count in once accepted (none: counted nowhere).
    #[serde(default)]
    pub indicator: Option<String>,
}

/// The national menu as preloaded: code, category, name, unit, reference unit price in yuan, payer.
/// Prices are typical county figures for a first estimate; each region sets its own.
pub const NATIONAL_MENU: &[(&str, Category, &str, &str, i64, Payer)] = {
    use Category::*;
    use Payer::*;
    &[
        ("B01", Basic, "供水管网改造", "m", 260, Utility),
        ("B02", Basic, "雨污分流改造", "m", 420, Government),
        ("B03", Basic, "供电线路及设施改造", "户", 1800, Utility),
        ("B04", Basic, "弱电线路规整（架空线缆入地）", "m", 180, Utility),
        ("B05", Basic, "小区道路修缮", "m²", 150, Government),
        ("B06", Basic, "燃气管道改造", "户", 2200, Utility),
        ("B07", Basic, "供热管网改造", "m", 380, Utility),
        ("B08", Basic, "消防设施改造", "处", 12000, Government),
        ("B09", Basic, "安防监控设施", "个", 3500, Government),
        ("B10", Basic, "垃圾分类设施", "处", 8000, Government),
        ("B11", Basic, "光纤入户与移动通信覆盖", "户", 300, Utility),
        ("B12", Basic, "屋面防水修缮", "m²", 120, Government),
        ("B13", Basic, "外墙修缮", "m²", 160, Government),
        ("B14", Basic, "楼道等公共部位维修", "个", 6000, Government),
        ("I01", Improvement, "拆除违法建设", "m²", 80, Government),
        ("I02", Improvement, "绿化提升", "m²", 90, Government),
        ("I03", Improvement, "照明设施", "盏", 2500, Government),
        ("I04", Improvement, "适老化改造（扶手、折叠座椅）", "个", 4000, Government),
        ("I05", Improvement, "无障碍坡道", "处", 6000, Government),
        ("I06", Improvement, "停车位施划与停车设施", "个", 3000, Enterprise),
        ("I07", Improvement, "电动汽车、电动自行车充电设施", "个", 1500, Enterprise),
        ("I08", Improvement, "智能快件箱、信报箱", "台", 5000, Enterprise),
        ("I09", Improvement, "文化休闲与健身设施", "处", 30000, Government),
        ("I10", Improvement, "物业用房", "m²", 2500, Government),
        ("I11", Improvement, "建筑节能改造", "m²", 200, Government),
        ("I12", Improvement, "加装电梯", "部", 550000, Residents),
        ("U01", Upgrading, "社区综合服务设施", "m²", 3000, Government),
        ("U02", Upgrading, "卫生服务站", "m²", 3000, Government),
        ("U03", Upgrading, "幼儿园", "m²", 3500, Government),
        ("U04", Upgrading, "智慧安防与周界感知", "套", 80000, Government),
        ("U05", Upgrading, "养老服务设施", "m²", 3000, Enterprise),
        ("U06", Upgrading, "托育设施", "m²", 3000, Enterprise),
        ("U07", Upgrading, "助餐设施", "处", 150000, Enterprise),
        ("U08", Upgrading, "家政保洁服务点", "处", 50000, Enterprise),
        ("U09", Upgrading, "便民市场、便利店", "处", 80000, Enterprise),
        ("U10", Upgrading, "邮政快递末端网点", "处", 40000, Enterprise),
    ]
};

/// The national menu as items.
pub fn national_menu() -> Vec<MenuItem> {
    NATIONAL_MENU
        .iter()
        .map(|(code, category, name, unit, yuan, payer)| MenuItem {
            code: (*code).into(),
            category: *category,
            name: (*name).into(),
            unit: (*unit).into(),
            unit_price_fen: yuan * 100,
            payer: *payer,
            active: true,
            indicator: crate::statistics::mapped_indicator(code).map(String::from),
        })
        .collect()
}

/// The menu in force in a region: the national items, then each level's changes from the
/// province down (the most specific region wins for a code); items taken off are kept, marked.
pub fn effective_menu(levels: &[Vec<MenuItem>]) -> Vec<MenuItem> {
    let mut menu: Vec<MenuItem> = national_menu();
    for level in levels {
        for item in level {
            match menu.iter_mut().find(|m| m.code == item.code) {
                Some(m) => *m = item.clone(),
                None => menu.push(item.clone()),
            }
        }
    }
    menu.sort_by(|a, b| (a.category, &a.code).cmp(&(b.category, &b.code)));
    menu
}

/// Most a unit price may be: 100 million yuan, in fen.
pub const MAX_UNIT_PRICE_FEN: i64 = 10_000_000_000;
/// Most a quantity may be, in hundredths of a unit (one million units).
pub const MAX_QUANTITY_HUNDREDTHS: i64 = 100_000_000;

/// A region's change to a menu item, as submitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MenuItemInput {
    pub category: String,
    pub name: String,
    pub unit: String,
    pub unit_price_fen: i64,
    pub payer: String,
    pub active: Option<bool>,
    /// The indicator its quantities count in: a code, empty for none; absent keeps the one in force.
    pub indicator: Option<String>,
}

impl MenuItemInput {
    /// Checks every field; names each problem.
    pub fn validate(&self, code: &str) -> Result<MenuItem, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let code = code.trim();
        if code.is_empty() || code.len() > 12 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            e.push("code", code, reason!("schemes.item_code_form"));
        }
        let category = Category::parse(&self.category);
        if category.is_none() {
            e.push("category", &self.category, reason!("field.category_kind"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            e.push("name", name, reason!("field.length", max = 60));
        }
        if !UNITS.contains(&self.unit.trim()) {
            e.push("unit", &self.unit, reason!("schemes.unit_kind", units = UNITS.join(" ")));
        }
        if !(0..=MAX_UNIT_PRICE_FEN).contains(&self.unit_price_fen) {
            e.push("unit_price_fen", self.unit_price_fen, reason!("schemes.amount_range"));
        }
        let payer = Payer::parse(&self.payer);
        if payer.is_none() {
            e.push("payer", &self.payer, reason!("schemes.payer_kind"));
        }
        let indicator = self.indicator.as_deref().map(str::trim).filter(|i| !i.is_empty());
        if let Some(code) = indicator {
            match crate::statistics::mappable(code) {
                None => {
                    e.push("indicator", code, reason!("schemes.indicator_kind", indicators = crate::statistics::mappable_codes().join(" ")))
                }
                // Pipelines are kept in km, lifts as lifts: the item's unit must be the indicator's.
                Some(i) if !crate::statistics::unit_fits(i.code, &self.unit) => {
                    e.push("indicator", code, reason!("schemes.indicator_unit"))
                }
                Some(_) => {}
            }
        }
        let (Some(category), Some(payer)) = (category, payer) else {
            return Err(e);
        };
        e.into_result(MenuItem {
            code: code.to_string(),
            category,
            name: name.to_string(),
            unit: self.unit.trim().to_string(),
            unit_price_fen: self.unit_price_fen,
            payer,
            active: self.active.unwrap_or(true),
            indicator: indicator.map(String::from),
        })
    }
}

/// One line of a scheme as submitted: a menu item for the estate (no building) or one building.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchemeItemInput {
    pub menu_code: String,
    pub building_id: Option<i64>,
    /// Quantity in the item's unit (two decimals kept).
    pub quantity: f64,
    /// Unit price in fen; the menu's when absent.
    pub unit_price_fen: Option<i64>,
    /// Expected payer; the menu's when absent.
    pub payer: Option<String>,
    pub note: String,
}

/// A scheme line as kept: the menu item copied in, so a later menu change does not rewrite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeItem {
    pub menu_code: String,
    pub category: Category,
    pub name: String,
    pub unit: String,
    pub building_id: Option<i64>,
    pub quantity_hundredths: i64,
    pub unit_price_fen: i64,
    pub payer: Payer,
    pub note: String,
}

impl SchemeItem {
    /// The line's cost in fen: quantity × unit price, rounded to the nearest fen (halves up).
    pub fn cost_fen(&self) -> i64 {
        line_cost_fen(self.quantity_hundredths, self.unit_price_fen)
    }
}

/// quantity (hundredths) × price (fen) in fen, rounded half up; saturates instead of overflowing.
pub fn line_cost_fen(quantity_hundredths: i64, unit_price_fen: i64) -> i64 {
    let product = i128::from(quantity_hundredths) * i128::from(unit_price_fen);
    let rounded = (product + 50).div_euclid(100);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Most lines one scheme version may have.
pub const MAX_SCHEME_ITEMS: usize = 2_000;

/// Checks scheme lines against the menu in force and the estate's buildings; names each problem
/// by its line (`items[3].quantity`). The same menu item twice for the same place is refused.
pub fn validate_items(items: &[SchemeItemInput], menu: &[MenuItem], buildings: &HashSet<i64>) -> Result<Vec<SchemeItem>, ValidationErrors> {
    let mut e = ValidationErrors::default();
    if items.len() > MAX_SCHEME_ITEMS {
        e.push("items", items.len(), reason!("schemes.too_many_lines", max_scheme_items = MAX_SCHEME_ITEMS));
        return Err(e);
    }
    let by_code: HashMap<&str, &MenuItem> = menu.iter().map(|m| (m.code.as_str(), m)).collect();
    let mut seen = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let f = |name: &str| format!("items[{i}].{name}");
        let code = it.menu_code.trim();
        let menu_item = by_code.get(code).copied();
        match menu_item {
            None => e.push(&f("menu_code"), code, reason!("schemes.not_on_menu")),
            Some(m) if !m.active => e.push(&f("menu_code"), code, reason!("schemes.off_menu")),
            Some(_) => {}
        }
        if let Some(b) = it.building_id {
            if !buildings.contains(&b) {
                e.push(&f("building_id"), b, reason!("field.not_building_estate"));
            }
        }
        let quantity = if it.quantity.is_finite() { (it.quantity * 100.0).round() } else { -1.0 };
        if quantity <= 0.0 || quantity > MAX_QUANTITY_HUNDREDTHS as f64 {
            e.push(&f("quantity"), it.quantity, reason!("field.positive_up_to_million"));
        }
        let price = it.unit_price_fen.or(menu_item.map(|m| m.unit_price_fen)).unwrap_or(0);
        if !(0..=MAX_UNIT_PRICE_FEN).contains(&price) {
            e.push(&f("unit_price_fen"), price, reason!("schemes.amount_range"));
        }
        let payer = match &it.payer {
            Some(p) if !p.trim().is_empty() => Payer::parse(p).or_else(|| {
                e.push(&f("payer"), p, reason!("schemes.payer_kind"));
                None
            }),
            _ => menu_item.map(|m| m.payer),
        };
        if it.note.chars().count() > 200 {
            e.push(&f("note"), &it.note, reason!("field.at_most_chars", max = 200));
        }
        if let Some(first) = seen.insert((code.to_string(), it.building_id), i) {
            e.push(&f("menu_code"), code, reason!("schemes.repeated_line", first = first));
        }
        if let (Some(m), Some(payer)) = (menu_item, payer) {
            out.push(SchemeItem {
                menu_code: m.code.clone(),
                category: m.category,
                name: m.name.clone(),
                unit: m.unit.clone(),
                building_id: it.building_id,
                quantity_hundredths: quantity as i64,
                unit_price_fen: price,
                payer,
                note: it.note.trim().to_string(),
            });
        }
    }
    e.into_result(out)
}

/// The cost estimate of a scheme: the total, and the same total split three ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub total_fen: i64,
    pub by_category: BTreeMap<Category, i64>,
    pub by_payer: BTreeMap<Payer, i64>,
    /// By building id; 0 for lines that concern the whole estate.
    pub by_building: BTreeMap<i64, i64>,
}

/// Adds up the lines' costs.
pub fn estimate(items: &[SchemeItem]) -> Estimate {
    let mut est = Estimate::default();
    for it in items {
        let c = it.cost_fen();
        est.total_fen = est.total_fen.saturating_add(c);
        *est.by_category.entry(it.category).or_default() += c;
        *est.by_payer.entry(it.payer).or_default() += c;
        *est.by_building.entry(it.building_id.unwrap_or(0)).or_default() += c;
    }
    est
}

/// The floor areas that share residents' costs with one household (hundredths of m²).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaBase {
    /// The household's own dwelling.
    pub dwelling: i64,
    /// Every dwelling of the estate: shares the lines for the whole estate.
    pub estate: i64,
    /// Every dwelling of the household's building (or of the stairwell a lift is added to):
    /// shares that building's lines.
    pub building: i64,
}

/// What one household is asked to contribute to the residents' part of a scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HouseholdShare {
    /// Its part of the residents' lines for the whole estate, in fen.
    pub estate_fen: i64,
    /// Its part of the residents' lines for its own building, in fen.
    pub building_fen: i64,
    pub total_fen: i64,
}

/// The residents' part of a scheme that falls on one household, shared by floor area (as the
/// Civil Code counts owners' votes, and as maintenance funds are drawn): lines for the whole estate
/// across every dwelling of the estate, lines for the household's building across that building
/// (or its stairwell, for a lift). Lines other payers carry and other buildings' lines do not
/// count. Each part is rounded to the fen, halves up.
pub fn household_share(items: &[SchemeItem], building_id: i64, base: &AreaBase) -> HouseholdShare {
    let residents = |place: Option<i64>| -> i64 {
        items.iter().filter(|i| i.payer == Payer::Residents && i.building_id == place).map(SchemeItem::cost_fen).sum()
    };
    let part = |cost: i64, of: i64| -> i64 {
        if of <= 0 || base.dwelling <= 0 {
            return 0;
        }
        let exact = i128::from(cost) * i128::from(base.dwelling.min(of));
        i64::try_from((exact * 2 + i128::from(of)) / (2 * i128::from(of))).unwrap_or(i64::MAX)
    };
    let estate_fen = part(residents(None), base.estate);
    let building_fen = part(residents(Some(building_id)), base.building);
    HouseholdShare { estate_fen, building_fen, total_fen: estate_fen.saturating_add(building_fen) }
}

/// The versions a scheme goes through (两上两下): the working draft, the version posted in each
/// notice round, and the final one put to the owners' vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Draft,
    Notice1,
    Notice2,
    Final,
}

impl Stage {
    /// The API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Draft => "draft",
            Stage::Notice1 => "notice_1",
            Stage::Notice2 => "notice_2",
            Stage::Final => "final",
        }
    }

    /// Parses the API code.
    pub fn parse(s: &str) -> Option<Stage> {
        [Stage::Draft, Stage::Notice1, Stage::Notice2, Stage::Final].into_iter().find(|x| x.as_str() == s.trim())
    }
}

/// May the draft be issued as `stage`, given the stages issued so far (oldest first)? Rounds go in
/// order; a round may be issued again after a revision; nothing follows the final version.
pub fn may_issue(issued: &[Stage], stage: Stage, draft_items: usize) -> Result<(), Reason> {
    if stage == Stage::Draft {
        return Err(reason!("schemes.draft_not_issued"));
    }
    if draft_items == 0 {
        return Err(reason!("schemes.draft_empty"));
    }
    let last = issued.last().copied().unwrap_or(Stage::Draft);
    if last == Stage::Final {
        return Err(reason!("schemes.scheme_final"));
    }
    let next = match last {
        Stage::Draft => Stage::Notice1,
        Stage::Notice1 => Stage::Notice2,
        _ => Stage::Final,
    };
    if stage == next || (stage == last && stage != Stage::Final) {
        Ok(())
    } else {
        Err(reason!("schemes.stage_order", value = last.as_str(), next = next.as_str()))
    }
}

/// How one line differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LineChange {
    Added { item: SchemeItem },
    Removed { item: SchemeItem },
    Changed { before: SchemeItem, after: SchemeItem, fields: Vec<String> },
}

/// The lines that differ between `old` and `new`, matched by menu item and building, in the
/// order of `new` (then the removed ones).
pub fn diff(old: &[SchemeItem], new: &[SchemeItem]) -> Vec<LineChange> {
    let key = |i: &SchemeItem| (i.menu_code.clone(), i.building_id);
    let before: HashMap<_, &SchemeItem> = old.iter().map(|i| (key(i), i)).collect();
    let after_keys: HashSet<_> = new.iter().map(key).collect();
    let mut out = Vec::new();
    for n in new {
        match before.get(&key(n)) {
            None => out.push(LineChange::Added { item: n.clone() }),
            Some(o) => {
                let mut fields = Vec::new();
                if o.quantity_hundredths != n.quantity_hundredths {
                    fields.push("quantity".to_string());
                }
                if o.unit_price_fen != n.unit_price_fen {
                    fields.push("unit_price_fen".to_string());
                }
                if o.payer != n.payer {
                    fields.push("payer".to_string());
                }
                if o.note != n.note {
                    fields.push("note".to_string());
                }
                if !fields.is_empty() {
                    out.push(LineChange::Changed { before: (*o).clone(), after: n.clone(), fields });
                }
            }
        }
    }
    out.extend(old.iter().filter(|o| !after_keys.contains(&key(o))).map(|o| LineChange::Removed { item: o.clone() }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(code: &str, building: Option<i64>, quantity: f64) -> SchemeItemInput {
        SchemeItemInput { menu_code: code.into(), building_id: building, quantity, ..Default::default() }
    }

    #[test]
    fn national_menu_has_the_three_categories_and_known_units() {
        let menu = national_menu();
        for c in Category::ALL {
            assert!(menu.iter().filter(|m| m.category == c).count() >= 10, "{c:?}");
        }
        assert!(menu.iter().all(|m| UNITS.contains(&m.unit.as_str())));
        let codes: HashSet<_> = menu.iter().map(|m| &m.code).collect();
        assert_eq!(codes.len(), menu.len(), "codes are unique");
        assert!(menu.iter().any(|m| m.name == "加装电梯" && m.unit == "部"));
    }

    #[test]
    fn the_most_specific_region_wins_and_adds_its_own_items() {
        let mut lift = national_menu().into_iter().find(|m| m.code == "I12").unwrap();
        lift.unit_price_fen = 48_000_000;
        let mut county_lift = lift.clone();
        county_lift.unit_price_fen = 45_000_000;
        let safety = MenuItem {
            code: "S01".into(),
            category: Category::Basic,
            name: "房屋安全隐患整治".into(),
            unit: "栋".into(),
            unit_price_fen: 2_000_000,
            payer: Payer::Government,
            active: true,
            indicator: None,
        };
        let menu = effective_menu(&[vec![lift], vec![county_lift, safety]]);
        assert_eq!(menu.iter().find(|m| m.code == "I12").unwrap().unit_price_fen, 45_000_000);
        assert!(menu.iter().any(|m| m.code == "S01"));
        assert_eq!(menu.len(), NATIONAL_MENU.len() + 1);
    }

    #[test]
    fn lines_are_checked_against_menu_buildings_and_each_other() {
        let mut menu = national_menu();
        menu.iter_mut().find(|m| m.code == "U09").unwrap().active = false;
        let buildings: HashSet<i64> = [10, 11].into();
        let ok =
            validate_items(&[input("B13", Some(10), 1200.5), input("B13", Some(11), 900.0), input("I12", None, 2.0)], &menu, &buildings)
                .unwrap();
        assert_eq!(ok[0].quantity_hundredths, 120_050);
        assert_eq!(ok[0].unit_price_fen, 16_000);
        assert_eq!(ok[2].payer, Payer::Residents);
        let bad = validate_items(
            &[
                input("X99", None, 1.0),
                input("B13", Some(99), 1.0),
                input("B12", None, 0.0),
                input("B12", None, -3.0),
                input("U09", None, 1.0),
                SchemeItemInput { payer: Some("nobody".into()), ..input("B01", None, 1.0) },
                input("B05", None, f64::NAN),
            ],
            &menu,
            &buildings,
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"items[0].menu_code"));
        assert!(fields.contains(&"items[1].building_id"));
        assert!(fields.contains(&"items[2].quantity"));
        assert!(fields.contains(&"items[3].menu_code"), "B12 twice for the estate: {fields:?}");
        assert!(fields.contains(&"items[4].menu_code"));
        assert!(fields.contains(&"items[5].payer"));
        assert!(fields.contains(&"items[6].quantity"));
    }

    #[test]
    fn costs_round_to_the_fen() {
        // 0.35 m² at 1.01 yuan = 0.3535 yuan -> 35 fen; 0.05 × 0.10 yuan = 0.005 yuan -> 1 fen (half up).
        assert_eq!(line_cost_fen(35, 101), 35);
        assert_eq!(line_cost_fen(5, 10), 1);
        assert_eq!(line_cost_fen(200, 55_000_000), 110_000_000);
        assert_eq!(line_cost_fen(MAX_QUANTITY_HUNDREDTHS, MAX_UNIT_PRICE_FEN), 10_000_000_000_000_000);
    }

    #[test]
    fn issuing_follows_the_two_notice_rounds() {
        use Stage::*;
        assert!(may_issue(&[], Notice1, 3).is_ok());
        assert!(may_issue(&[], Notice1, 0).is_err(), "an empty draft is not posted");
        assert!(may_issue(&[], Final, 3).is_err());
        assert!(may_issue(&[Notice1], Notice1, 3).is_ok(), "a round may be posted again after revision");
        assert!(may_issue(&[Notice1], Notice2, 3).is_ok());
        assert!(may_issue(&[Notice1, Notice2], Final, 3).is_ok());
        assert_eq!(may_issue(&[Notice1, Notice2, Final], Final, 3).unwrap_err(), "the scheme is final");
        assert!(may_issue(&[Notice1], Draft, 3).is_err());
    }

    #[test]
    fn diff_names_added_removed_and_changed_lines() {
        let menu = national_menu();
        let none = HashSet::new();
        let old = validate_items(&[input("B12", None, 100.0), input("B13", None, 50.0)], &menu, &none).unwrap();
        let new = validate_items(&[input("B12", None, 120.0), input("I02", None, 300.0)], &menu, &none).unwrap();
        let d = diff(&old, &new);
        assert_eq!(d.len(), 3);
        assert!(matches!(&d[0], LineChange::Changed { fields, .. } if fields == &["quantity"]));
        assert!(matches!(&d[1], LineChange::Added { item } if item.menu_code == "I02"));
        assert!(matches!(&d[2], LineChange::Removed { item } if item.menu_code == "B13"));
        assert!(diff(&new, &new).is_empty());
    }

    fn arb_item() -> impl Strategy<Value = SchemeItem> {
        (0..NATIONAL_MENU.len(), prop::option::of(1i64..5), 1i64..MAX_QUANTITY_HUNDREDTHS, 0i64..1_000_000_000, 0usize..4).prop_map(
            |(m, building_id, q, price, payer)| {
                let (code, category, name, unit, _, _) = NATIONAL_MENU[m];
                SchemeItem {
                    menu_code: code.into(),
                    category,
                    name: name.into(),
                    unit: unit.into(),
                    building_id,
                    quantity_hundredths: q,
                    unit_price_fen: price,
                    payer: Payer::ALL[payer],
                    note: String::new(),
                }
            },
        )
    }

    fn line(code: &str, building: Option<i64>, fen: i64, payer: Payer) -> SchemeItem {
        SchemeItem {
            menu_code: code.into(),
            category: Category::Basic,
            name: code.into(),
            unit: "项".into(),
            building_id: building,
            quantity_hundredths: 100,
            unit_price_fen: fen,
            payer,
            note: String::new(),
        }
    }

    #[test]
    fn a_household_pays_its_area_s_part_of_the_residents_lines_only() {
        // A lift for building 7 (residents, 450,000 yuan), stairwell repairs for the estate
        // (residents, 12,000 yuan), walls (government) and building 8's lift (not this household's).
        let items = vec![
            line("I12", Some(7), 45_000_000, Payer::Residents),
            line("B14", None, 1_200_000, Payer::Residents),
            line("B13", Some(7), 9_000_000, Payer::Government),
            line("I12", Some(8), 45_000_000, Payer::Residents),
        ];
        // 90 m² of an estate of 6,000 m², in a stairwell of 1,800 m².
        let share = household_share(&items, 7, &AreaBase { dwelling: 9_000, estate: 600_000, building: 180_000 });
        assert_eq!(share.estate_fen, 18_000, "12,000 yuan × 90 / 6,000 = 180 yuan");
        assert_eq!(share.building_fen, 2_250_000, "450,000 yuan × 90 / 1,800 = 22,500 yuan");
        assert_eq!(share.total_fen, 2_268_000);
        assert_eq!(household_share(&items, 7, &AreaBase { dwelling: 0, estate: 600_000, building: 180_000 }), HouseholdShare::default());
        assert_eq!(household_share(&items, 9, &AreaBase { dwelling: 9_000, estate: 600_000, building: 0 }).building_fen, 0);
    }

    proptest! {
        /// Shared among every dwelling, the households' parts add up to the residents' lines
        /// within a fen per household and part (rounding).
        #[test]
        fn households_shares_add_up_to_the_residents_part(
            items in prop::collection::vec(arb_item(), 0..20),
            areas in prop::collection::vec((1i64..4, 1i64..50_000), 1..60),
        ) {
            let items: Vec<SchemeItem> = items.into_iter().map(|mut i| { i.building_id = i.building_id.map(|b| b % 3 + 1); i }).collect();
            let estate: i64 = areas.iter().map(|a| a.1).sum();
            let building = |b: i64| areas.iter().filter(|a| a.0 == b).map(|a| a.1).sum::<i64>();
            let total: i64 = areas.iter().map(|(b, a)| household_share(&items, *b, &AreaBase { dwelling: *a, estate, building: building(*b) }).total_fen).sum();
            let owed: i64 = items.iter().filter(|i| i.payer == Payer::Residents)
                .filter(|i| i.building_id.is_none_or(|b| building(b) > 0))
                .map(SchemeItem::cost_fen).sum();
            let slack = 2 * i64::try_from(areas.len()).unwrap_or(0);
            prop_assert!((total - owed).abs() <= slack, "{} vs {}", total, owed);
        }

        #[test]
        fn a_larger_home_never_pays_less(items in prop::collection::vec(arb_item(), 0..20), a in 1i64..20_000, more in 0i64..20_000) {
            let base = |d: i64| AreaBase { dwelling: d, estate: 1_000_000, building: 100_000 };
            let b = items.first().and_then(|i| i.building_id).unwrap_or(1);
            prop_assert!(household_share(&items, b, &base(a + more)).total_fen >= household_share(&items, b, &base(a)).total_fen);
        }

        #[test]
        fn the_splits_add_up_to_the_total(items in prop::collection::vec(arb_item(), 0..40)) {
            let est = estimate(&items);
            prop_assert_eq!(est.by_category.values().sum::<i64>(), est.total_fen);
            prop_assert_eq!(est.by_payer.values().sum::<i64>(), est.total_fen);
            prop_assert_eq!(est.by_building.values().sum::<i64>(), est.total_fen);
            prop_assert_eq!(items.iter().map(SchemeItem::cost_fen).sum::<i64>(), est.total_fen);
        }

        #[test]
        fn a_line_costs_within_half_a_fen_of_the_exact_product(q in 1i64..MAX_QUANTITY_HUNDREDTHS, p in 0i64..MAX_UNIT_PRICE_FEN) {
            let exact = i128::from(q) * i128::from(p);
            let cost = i128::from(line_cost_fen(q, p)) * 100;
            prop_assert!((cost - exact).abs() <= 50);
        }

        #[test]
        fn diff_of_a_version_with_itself_is_empty(items in prop::collection::vec(arb_item(), 0..20)) {
            let same_lines = diff(&items, &items).iter().all(|c| !matches!(c, LineChange::Added { .. } | LineChange::Removed { .. }));
            prop_assert!(same_lines);
        }
    }
}
