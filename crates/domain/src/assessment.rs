//! Assessment (体检): a checklist of building and estate conditions (POLICY §6), the findings of
//! one estate's assessment, and its need score with the breakdown that explains it.

use crate::error::ValidationErrors;
use crate::reason;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Whether an item is checked once per building or once for the estate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Building,
    Estate,
}

impl Level {
    /// The storage code.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Building => "building",
            Level::Estate => "estate",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "building" => Some(Level::Building),
            "estate" => Some(Level::Estate),
            _ => None,
        }
    }
}

/// One line of the checklist: a hazard or a shortfall, and how much it weighs in the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub code: String,
    pub level: Level,
    pub label_zh: String,
    pub label_en: String,
    /// Relative weight, 1 to 100.
    pub weight: u32,
}

/// A region's version of one checklist line, as submitted (a new code adds a line; `active = false`
/// drops the line in the region).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChecklistInput {
    pub level: String,
    pub label_zh: String,
    pub label_en: String,
    pub weight: u32,
    pub active: bool,
}

impl ChecklistInput {
    /// Checks the line under `code`: a code of letters, digits and `_`, a level, a Chinese label,
    /// a weight from 1 to 100.
    pub fn validate(&self, code: &str) -> Result<(ChecklistItem, bool), crate::ValidationErrors> {
        let mut e = crate::ValidationErrors::default();
        let code = code.trim();
        if code.is_empty() || code.len() > 40 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            e.push("code", code, reason!("assessment.item_code_form"));
        }
        let level = Level::parse(self.level.trim());
        if level.is_none() {
            e.push("level", &self.level, reason!("assessment.building_or_estate"));
        }
        let zh = self.label_zh.trim();
        if zh.is_empty() || zh.chars().count() > 100 {
            e.push("label_zh", zh, reason!("field.length", max = 100));
        }
        if self.label_en.chars().count() > 100 {
            e.push("label_en", &self.label_en, reason!("field.at_most_chars", max = 100));
        }
        if !(1..=100).contains(&self.weight) {
            e.push("weight", self.weight, reason!("field.between", min = 1, max = 100));
        }
        let item = ChecklistItem {
            code: code.to_string(),
            level: level.unwrap_or(Level::Estate),
            label_zh: zh.to_string(),
            label_en: self.label_en.trim().to_string(),
            weight: self.weight,
        };
        e.into_result((item, self.active))
    }
}

/// The national default checklist (城市体检, 建科〔2023〕75号, housing and estate levels).
pub fn national_checklist() -> Vec<ChecklistItem> {
    let b = Level::Building;
    let e = Level::Estate;
    [
        ("structural_hazard", b, "房屋结构安全隐患", "Structural safety hazard", 15),
        ("gas_hazard", b, "燃气安全隐患", "Gas safety hazard", 12),
        ("stairwell_hazard", b, "楼道安全隐患", "Stairwell hazard", 6),
        ("envelope_hazard", b, "围护结构安全隐患(外墙、屋面)", "Envelope hazard (walls, roof)", 8),
        ("incomplete_facilities", b, "存在设施不全的住宅", "Dwellings without full facilities", 6),
        ("damaged_pipes", b, "管线管道破损", "Damaged pipes and lines", 8),
        ("needs_ageing_retrofit", b, "需适老化改造(加装电梯、扶手)", "Needs elderly-friendly retrofit (lift, handrails)", 6),
        ("needs_energy_retrofit", b, "需节能改造", "Needs energy retrofit", 4),
        ("needs_digital_retrofit", b, "需数字化改造", "Needs digital retrofit", 2),
        ("no_elderly_care", e, "缺少养老服务设施", "No elderly care facility", 4),
        ("no_infant_care", e, "缺少托育服务设施", "No infant care facility", 3),
        ("no_kindergarten", e, "缺少幼儿园", "No kindergarten", 3),
        ("no_public_space", e, "缺少公共活动场地", "No public activity space", 3),
        ("parking_shortfall", e, "停车位不足", "Parking shortfall", 4),
        ("ev_charger_shortfall", e, "充电桩不足", "EV charger shortfall", 3),
        ("no_ebike_charging", e, "无电动自行车充电设施", "No e-bike charging", 4),
        ("substandard_footpaths", e, "步行道不达标", "Substandard footpaths", 3),
        ("no_property_management", e, "无物业管理", "No property management", 4),
        ("needs_smart_upgrade", e, "需智慧化改造", "Needs smart upgrade", 2),
    ]
    .into_iter()
    .map(|(code, level, zh, en, weight)| ChecklistItem { code: code.into(), level, label_zh: zh.into(), label_en: en.into(), weight })
    .collect()
}

/// One observation: the item is present (the hazard or shortfall was found) in a building or the estate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub item: String,
    /// The building, for building-level items.
    pub building_id: Option<i64>,
    pub present: bool,
    #[serde(default)]
    pub note: String,
}

/// How one checklist item contributed to the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreLine {
    pub item: String,
    pub label_zh: String,
    pub weight: u32,
    /// Buildings where it was found (building items) or 1/0 (estate items).
    pub found: u32,
    /// Buildings checked for it (building items) or 1 (estate items).
    pub of: u32,
    /// Points out of 100, in hundredths.
    pub points: i64,
}

/// An estate's need score: 0 (nothing found) to 100 (everything found everywhere), in hundredths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub total: i64,
    pub lines: Vec<ScoreLine>,
}

/// Checks findings against the checklist and the estate's buildings: every item known, building
/// items tied to one of the estate's buildings, estate items not, no item recorded twice.
pub fn validate_findings(checklist: &[ChecklistItem], buildings: &[i64], findings: &[Finding]) -> Result<(), ValidationErrors> {
    let items: HashMap<&str, Level> = checklist.iter().map(|i| (i.code.as_str(), i.level)).collect();
    let known: HashSet<i64> = buildings.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut errors = ValidationErrors::default();
    for (n, f) in findings.iter().enumerate() {
        let field = format!("findings[{n}]");
        match (items.get(f.item.as_str()), f.building_id) {
            (None, _) => errors.push(&format!("{field}.item"), &f.item, reason!("assessment.not_item_checklist")),
            (Some(Level::Building), None) => errors.push(&format!("{field}.building_id"), "", reason!("assessment.required_building_item")),
            (Some(Level::Building), Some(b)) if !known.contains(&b) => {
                errors.push(&format!("{field}.building_id"), b.to_string(), reason!("field.not_building_estate"))
            }
            (Some(Level::Estate), Some(b)) => {
                errors.push(&format!("{field}.building_id"), b.to_string(), reason!("assessment.empty_estate_item"))
            }
            _ => {}
        }
        if !seen.insert((f.item.clone(), f.building_id)) {
            errors.push(&format!("{field}.item"), &f.item, reason!("assessment.recorded_twice_same_place"));
        }
        if f.note.chars().count() > 500 {
            errors.push(&format!("{field}.note"), "", reason!("field.at_most_chars", max = 500));
        }
    }
    errors.into_result(())
}

/// Scores findings: each item weighs its weight; a building item counts by the share of buildings
/// where it was found; the total is the sum over the sum of all weights, out of 100.
pub fn score(checklist: &[ChecklistItem], buildings: &[i64], findings: &[Finding]) -> Score {
    let total_weight: i64 = checklist.iter().map(|i| i64::from(i.weight)).sum();
    let n_buildings = u32::try_from(buildings.len()).unwrap_or(u32::MAX);
    let mut lines = Vec::with_capacity(checklist.len());
    let mut weighted = 0i64; // in weight × 10,000ths
    for item in checklist {
        let (found, of) = match item.level {
            Level::Building => {
                let places: HashSet<i64> =
                    findings.iter().filter(|f| f.item == item.code && f.present).filter_map(|f| f.building_id).collect();
                (u32::try_from(places.len()).unwrap_or(u32::MAX), n_buildings)
            }
            Level::Estate => (u32::from(findings.iter().any(|f| f.item == item.code && f.present && f.building_id.is_none())), 1),
        };
        let share = if of == 0 { 0 } else { i64::from(found.min(of)) * 10_000 / i64::from(of) };
        let contribution = i64::from(item.weight) * share;
        weighted += contribution;
        let points = if total_weight == 0 { 0 } else { contribution / total_weight };
        lines.push(ScoreLine { item: item.code.clone(), label_zh: item.label_zh.clone(), weight: item.weight, found, of, points });
    }
    let total = if total_weight == 0 { 0 } else { weighted / total_weight };
    Score { total, lines }
}

#[cfg(test)]
mod checklist_input_tests {
    use super::*;

    #[test]
    fn a_regional_line_is_checked_field_by_field() {
        let ok =
            ChecklistInput { level: "building".into(), label_zh: "外墙空鼓".into(), weight: 8, active: true, ..Default::default() };
        let (item, active) = ok.validate("wall_hollow").unwrap();
        assert_eq!((item.level, item.weight, active), (Level::Building, 8, true));
        let bad = ChecklistInput { level: "street".into(), weight: 0, ..Default::default() };
        let fields: Vec<String> = bad.validate("bad code").unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["code", "level", "label_zh", "weight"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn found(item: &str, b: Option<i64>) -> Finding {
        Finding { item: item.into(), building_id: b, present: true, note: String::new() }
    }

    #[test]
    fn nothing_found_scores_zero_everything_found_scores_100() {
        let list = national_checklist();
        assert_eq!(score(&list, &[1, 2], &[]).total, 0);
        let all: Vec<Finding> = list
            .iter()
            .flat_map(|i| match i.level {
                Level::Building => vec![found(&i.code, Some(1)), found(&i.code, Some(2))],
                Level::Estate => vec![found(&i.code, None)],
            })
            .collect();
        assert_eq!(score(&list, &[1, 2], &all).total, 10_000);
    }

    #[test]
    fn a_building_item_counts_by_its_share_of_buildings() {
        let list = vec![
            ChecklistItem { code: "gas".into(), level: Level::Building, label_zh: "燃气".into(), label_en: "gas".into(), weight: 3 },
            ChecklistItem { code: "park".into(), level: Level::Estate, label_zh: "停车".into(), label_en: "parking".into(), weight: 1 },
        ];
        // Gas in 1 of 4 buildings: 3 × 25% = 0.75 of 4 weight = 18.75 points; parking adds 25.
        let s = score(&list, &[1, 2, 3, 4], &[found("gas", Some(2)), found("park", None)]);
        assert_eq!(s.total, 4375);
        assert_eq!(s.lines[0].found, 1);
        assert_eq!(s.lines[0].points, 1875);
        assert_eq!(s.lines[1].points, 2500);
    }

    #[test]
    fn bad_findings_are_named() {
        let list = national_checklist();
        let bad = vec![
            found("no_such_item", None),
            found("gas_hazard", None),
            found("gas_hazard", Some(99)),
            found("parking_shortfall", Some(1)),
            found("no_kindergarten", None),
            found("no_kindergarten", None),
        ];
        let e = validate_findings(&list, &[1], &bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["findings[0].item", "findings[1].building_id", "findings[2].building_id", "findings[3].building_id", "findings[5].item"]
        );
    }

    proptest! {
        #[test]
        fn the_score_stays_within_bounds_and_equals_its_lines(
            picks in proptest::collection::vec((0usize..19, proptest::option::of(0i64..6), any::<bool>()), 0..80),
            n_buildings in 0i64..6,
        ) {
            let list = national_checklist();
            let buildings: Vec<i64> = (0..n_buildings).collect();
            let findings: Vec<Finding> = picks
                .into_iter()
                .map(|(i, b, present)| Finding { item: list[i].code.clone(), building_id: b, present, note: String::new() })
                .collect();
            let s = score(&list, &buildings, &findings);
            prop_assert!((0..=10_000).contains(&s.total));
            let sum: i64 = s.lines.iter().map(|l| l.points).sum();
            // Each line is rounded down on its own: the sum may trail the total by under one hundredth per line.
            prop_assert!(s.total - sum >= 0 && s.total - sum < s.lines.len() as i64);
        }
    }
}
