//! Performance evaluation (绩效评价, issue 15 part 5, POLICY §5): a region's scheme for a year —
//! dimensions of indicators whose weights sum to 100 — scores the regions one level down. An
//! indicator is computed from the records where it can be (full marks at the target, none at the
//! floor, linear between) or scored by an evaluator with evidence and a comment. The region scores
//! itself first, the level above reviews; the total gives the grade.

use crate::reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a computed indicator reads: a rate in basis points for the evaluated region and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Estates of this year's plan started / planned.
    StartRate,
    /// Estates of last year's plan completed / planned.
    LastYearCompletion,
    /// Central subsidy paid / allocated to the region, up to the year's end.
    CentralDisbursement,
    /// Planned estates with residents' money / planned (this year's plan).
    ContributionRate,
    /// Satisfied answers / answers in the year.
    Satisfaction,
    /// Review findings closed / found in the year.
    RectificationClosure,
}

/// How an indicator is scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// From the records: full marks at `target_bp` or above, none at `floor_bp` or below.
    Computed { source: Source, target_bp: i64, floor_bp: i64 },
    /// By the evaluator, from 0 to the weight, with evidence and a comment.
    Scored,
}

/// One indicator of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicator {
    pub code: String,
    pub name: String,
    /// Points, all weights of a scheme summing to 100.
    pub weight: i64,
    pub rule: Rule,
}

/// A first-level dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub indicators: Vec<Indicator>,
}

/// The lower bounds of the grades, in points: 优秀 above `excellent`, 良好 from `good`, 合格 from
/// `pass`, 差 below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grades {
    pub excellent: i64,
    pub good: i64,
    pub pass: i64,
}

/// POLICY §5: 优秀 > 95, 良好 85–95, 合格 75–85, 差 < 75.
pub const DEFAULT_GRADES: Grades = Grades { excellent: 95, good: 85, pass: 75 };

/// An evaluation scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheme {
    pub dimensions: Vec<Dimension>,
    #[serde(default = "default_grades")]
    pub grades: Grades,
}

fn default_grades() -> Grades {
    DEFAULT_GRADES
}

/// A grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Good,
    Pass,
    Poor,
}

impl Grade {
    /// The grade's name in Chinese.
    pub fn zh(self) -> &'static str {
        match self {
            Grade::Excellent => "优秀",
            Grade::Good => "良好",
            Grade::Pass => "合格",
            Grade::Poor => "差",
        }
    }
}

/// The grade of a total in hundredths of a point.
pub fn grade(total_hundredths: i64, g: &Grades) -> Grade {
    if total_hundredths > g.excellent * 100 {
        Grade::Excellent
    } else if total_hundredths >= g.good * 100 {
        Grade::Good
    } else if total_hundredths >= g.pass * 100 {
        Grade::Pass
    } else {
        Grade::Poor
    }
}

/// The Chinese name of an evaluation's status, for workbooks (the code itself when unknown).
pub fn status_zh(status: &str) -> &str {
    match status {
        "no_scheme" => "无方案",
        "missing" => "未自评",
        "draft" => "自评中",
        "submitted" => "待复核",
        "reviewed" => "已复核",
        other => other,
    }
}

/// Points of a computed indicator (hundredths of a point) for a rate in basis points; none when
/// there was nothing to count (the evaluator scores it then).
pub fn computed_points(weight: i64, target_bp: i64, floor_bp: i64, rate_bp: Option<i64>) -> Option<i64> {
    let r = rate_bp?;
    let full = weight * 100;
    if r >= target_bp {
        return Some(full);
    }
    if r <= floor_bp || target_bp <= floor_bp {
        return Some(0);
    }
    // Linear between floor and target, rounded down (no float in a published score).
    Some(full * (r - floor_bp) / (target_bp - floor_bp))
}

fn computed(code: &str, name: &str, weight: i64, source: Source, target_bp: i64, floor_bp: i64) -> Indicator {
    Indicator { code: code.into(), name: name.into(), weight, rule: Rule::Computed { source, target_bp, floor_bp } }
}

fn scored(code: &str, name: &str, weight: i64) -> Indicator {
    Indicator { code: code.into(), name: name.into(), weight, rule: Rule::Scored }
}

/// Jiangxi's 5 dimensions and 18 indicators (绩效评价办法（试行）, 2022). The weights were not
/// published: these are a default for a region to change.
pub fn jiangxi_template() -> Scheme {
    use Source::*;
    let dim = |name: &str, indicators: Vec<Indicator>| Dimension { name: name.into(), indicators };
    Scheme {
        dimensions: vec![
            dim(
                "年度目标任务完成情况",
                vec![
                    computed("starts", "当年改造任务开工", 10, StartRate, 10_000, 6_000),
                    computed("last_year_completion", "上年改造计划完工", 10, LastYearCompletion, 10_000, 6_000),
                    computed("central_subsidy", "中央补助资金使用", 10, CentralDisbursement, 10_000, 5_000),
                ],
            ),
            dim(
                "改造内容设置情况",
                vec![
                    scored("urgent_needs", "解决居民急难愁盼问题", 5),
                    scored("blocks", "片区化改造", 5),
                    scored("surroundings", "盘活利用周边资源", 5),
                ],
            ),
            dim(
                "工作机制建立情况",
                vec![
                    scored("mechanisms", "统筹协调工作机制", 4),
                    scored("reserve_pool", "项目储备库建设", 4),
                    scored("mobilisation", "发动居民参与", 5),
                    scored("quality_safety", "工程质量安全管理", 5),
                    scored("utility_handover", "专营设施移交", 3),
                    scored("approvals", "审批流程优化", 4),
                ],
            ),
            dim(
                "多渠道筹措资金情况",
                vec![
                    scored("market", "引入市场化运作", 5),
                    computed("fund_raising", "居民合理出资", 5, ContributionRate, 8_000, 2_000),
                    scored("local_subsidy", "地方财政补助", 5),
                ],
            ),
            dim(
                "综合评价",
                vec![
                    computed("satisfaction", "居民满意度", 8, Satisfaction, 9_500, 7_500),
                    computed("rectification", "上级检查发现问题整改", 5, RectificationClosure, 10_000, 8_000),
                    scored("commendations", "获得表扬激励", 2),
                ],
            ),
        ],
        grades: DEFAULT_GRADES,
    }
}

/// Most dimensions and indicators a scheme may have.
pub const MAX_DIMENSIONS: usize = 10;
pub const MAX_INDICATORS: usize = 60;

/// Checks a scheme: names, unique indicator codes, weights from 1 that sum to 100, thresholds
/// within 0–100 % with the floor below the target, grades in order.
pub fn validate(s: &Scheme) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    if s.dimensions.is_empty() || s.dimensions.len() > MAX_DIMENSIONS {
        e.push("dimensions", s.dimensions.len(), reason!("evaluation.dimension_count", max = MAX_DIMENSIONS));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut sum = 0;
    let mut count = 0;
    for (d, dim) in s.dimensions.iter().enumerate() {
        if dim.name.trim().is_empty() || dim.name.chars().count() > 50 {
            e.push(&format!("dimensions[{d}].name"), &dim.name, reason!("evaluation.name"));
        }
        if dim.indicators.is_empty() {
            e.push(&format!("dimensions[{d}].indicators"), 0, reason!("evaluation.indicator_count", max = MAX_INDICATORS));
        }
        for (i, ind) in dim.indicators.iter().enumerate() {
            count += 1;
            let f = |x: &str| format!("dimensions[{d}].indicators[{i}].{x}");
            let code_ok = !ind.code.is_empty()
                && ind.code.len() <= 40
                && ind.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !code_ok {
                e.push(&f("code"), &ind.code, reason!("evaluation.code_form"));
            } else if !seen.insert(ind.code.clone()) {
                e.push(&f("code"), &ind.code, reason!("evaluation.code_taken"));
            }
            if ind.name.trim().is_empty() || ind.name.chars().count() > 50 {
                e.push(&f("name"), &ind.name, reason!("evaluation.name"));
            }
            if !(1..=100).contains(&ind.weight) {
                e.push(&f("weight"), ind.weight, reason!("evaluation.weight_range"));
            }
            sum += ind.weight.clamp(0, 100);
            if let Rule::Computed { target_bp, floor_bp, .. } = ind.rule {
                if !(0..=10_000).contains(&target_bp) || !(0..=10_000).contains(&floor_bp) || floor_bp >= target_bp {
                    e.push(&f("rule"), format!("{floor_bp}–{target_bp}"), reason!("evaluation.thresholds"));
                }
            }
        }
    }
    if count == 0 || count > MAX_INDICATORS {
        e.push("dimensions", count, reason!("evaluation.indicator_count", max = MAX_INDICATORS));
    }
    if sum != 100 {
        e.push("weights", sum, reason!("evaluation.weights_sum", sum = sum));
    }
    let g = s.grades;
    if !(0 < g.pass && g.pass < g.good && g.good < g.excellent && g.excellent <= 100) {
        e.push("grades", format!("{}/{}/{}", g.excellent, g.good, g.pass), reason!("evaluation.grades_order"));
    }
    if e.0.is_empty() {
        Ok(())
    } else {
        Err(e)
    }
}

/// One scored indicator's points (hundredths) with its evidence and comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Given {
    pub points: i64,
    /// Evidence in words (a document's name and number, a page).
    #[serde(default)]
    pub evidence: String,
    /// Evidence from the archive: documents filed for estates of the region scored.
    #[serde(default)]
    pub documents: Vec<i64>,
    #[serde(default)]
    pub comment: String,
}

/// Most archive documents one indicator's score may cite.
pub const MAX_EVIDENCE_DOCUMENTS: usize = 10;

/// Who gives scores: the region itself, or the level above reviewing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    Own,
    Reviewer,
}

/// Checks scores given to a scheme's indicators: every key one of its indicators, points from 0
/// to the weight, a comment for points below full marks, evidence at most 200 characters. A
/// region does not score what the records compute; a reviewer may override it, with a comment.
pub fn check_given(s: &Scheme, given: &BTreeMap<String, Given>, by: Scorer) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    let indicators: BTreeMap<&str, &Indicator> = s.dimensions.iter().flat_map(|d| &d.indicators).map(|i| (i.code.as_str(), i)).collect();
    for (code, g) in given {
        let f = |x: &str| format!("scores.{}.{x}", code.chars().take(40).collect::<String>());
        let Some(ind) = indicators.get(code.as_str()) else {
            e.push(&f("code"), code, reason!("evaluation.unknown_indicator"));
            continue;
        };
        let w = &ind.weight;
        if let Rule::Computed { .. } = ind.rule {
            if by == Scorer::Own {
                e.push(&f("points"), g.points, reason!("evaluation.computed_from_records"));
                continue;
            }
            if g.comment.trim().is_empty() {
                e.push(&f("comment"), "", reason!("evaluation.comment_required"));
            }
        }
        if !(0..=w * 100).contains(&g.points) {
            e.push(&f("points"), g.points, reason!("evaluation.points_range", max = w));
        }
        if g.points < w * 100 && g.comment.trim().is_empty() {
            e.push(&f("comment"), "", reason!("evaluation.comment_required"));
        }
        if g.comment.chars().count() > 500 {
            e.push(&f("comment"), g.comment.chars().count(), reason!("field.at_most_chars", max = 500));
        }
        if g.evidence.chars().count() > 200 {
            e.push(&f("evidence"), g.evidence.chars().count(), reason!("field.at_most_chars", max = 200));
        }
        if g.documents.len() > MAX_EVIDENCE_DOCUMENTS {
            e.push(&f("documents"), g.documents.len(), reason!("field.at_most", max = MAX_EVIDENCE_DOCUMENTS));
        }
    }
    if e.0.is_empty() {
        Ok(())
    } else {
        Err(e)
    }
}

/// The scored indicators a region has not scored: its evaluation is not submitted without them.
pub fn unscored(s: &Scheme, own: &BTreeMap<String, Given>) -> Vec<String> {
    s.dimensions
        .iter()
        .flat_map(|d| &d.indicators)
        .filter(|i| i.rule == Rule::Scored && !own.contains_key(&i.code))
        .map(|i| i.code.clone())
        .collect()
}

/// One indicator's line of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub dimension: String,
    pub code: String,
    pub name: String,
    pub weight: i64,
    /// `computed` or `scored`.
    pub kind: &'static str,
    /// The rate read, for a computed indicator.
    pub rate_bp: Option<i64>,
    /// Points from the records (hundredths), for a computed indicator with something to count.
    pub computed: Option<i64>,
    /// The region's own score and the reviewer's, where given.
    pub own: Option<Given>,
    pub reviewed: Option<Given>,
    /// What counts: the reviewer's, else the region's own, else the computed points, else 0.
    pub points: i64,
}

/// The lines and total (hundredths of a point) of an evaluation.
pub fn lines(
    s: &Scheme,
    rates: &BTreeMap<Source, Option<i64>>,
    own: &BTreeMap<String, Given>,
    reviewed: &BTreeMap<String, Given>,
) -> (Vec<Line>, i64) {
    let mut out = Vec::new();
    for d in &s.dimensions {
        for i in &d.indicators {
            let (kind, rate_bp, computed) = match i.rule {
                Rule::Computed { source, target_bp, floor_bp } => {
                    let r = rates.get(&source).copied().flatten();
                    ("computed", r, computed_points(i.weight, target_bp, floor_bp, r))
                }
                Rule::Scored => ("scored", None, None),
            };
            let (o, r) = (own.get(&i.code).cloned(), reviewed.get(&i.code).cloned());
            // A region scores only what the records do not compute; whatever was stored, a line
            // counts from 0 to its weight (a scheme changed under a draft cannot lift a total past 100).
            let own_points = o.as_ref().filter(|_| kind == "scored").map(|g| g.points);
            let points = r.as_ref().map(|g| g.points).or(own_points).or(computed).unwrap_or(0).clamp(0, i.weight * 100);
            out.push(Line {
                dimension: d.name.clone(),
                code: i.code.clone(),
                name: i.name.clone(),
                weight: i.weight,
                kind,
                rate_bp,
                computed,
                own: o,
                reviewed: r,
                points,
            });
        }
    }
    let total = out.iter().map(|l| l.points).sum();
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_status_has_a_chinese_name() {
        for (code, zh) in
            [("no_scheme", "无方案"), ("missing", "未自评"), ("draft", "自评中"), ("submitted", "待复核"), ("reviewed", "已复核")]
        {
            assert_eq!(status_zh(code), zh);
        }
        assert_eq!(status_zh("other"), "other", "an unknown code shows as itself");
    }

    #[test]
    fn the_template_has_five_dimensions_eighteen_indicators_and_sums_to_100() {
        let t = jiangxi_template();
        assert_eq!(t.dimensions.len(), 5);
        assert_eq!(t.dimensions.iter().map(|d| d.indicators.len()).sum::<usize>(), 18);
        assert_eq!(validate(&t), Ok(()));
    }

    #[test]
    fn grades_at_their_bounds() {
        let g = DEFAULT_GRADES;
        assert_eq!(grade(9501, &g), Grade::Excellent);
        assert_eq!(grade(9500, &g), Grade::Good, "95 is 良好: 优秀 is above 95");
        assert_eq!(grade(8500, &g), Grade::Good);
        assert_eq!(grade(8499, &g), Grade::Pass);
        assert_eq!(grade(7500, &g), Grade::Pass);
        assert_eq!(grade(7499, &g), Grade::Poor);
    }

    #[test]
    fn computed_points_are_linear_between_floor_and_target() {
        assert_eq!(computed_points(10, 10_000, 6_000, Some(10_000)), Some(1000));
        assert_eq!(computed_points(10, 10_000, 6_000, Some(8_000)), Some(500));
        assert_eq!(computed_points(10, 10_000, 6_000, Some(6_000)), Some(0));
        assert_eq!(computed_points(10, 10_000, 6_000, Some(3_000)), Some(0));
        assert_eq!(computed_points(8, 9_500, 7_500, Some(9_230)), Some(692), "Hui'an's 92.3 %: 8 × 1730/2000");
        assert_eq!(computed_points(10, 10_000, 6_000, None), None);
    }

    #[test]
    fn a_scheme_that_does_not_add_up_is_named() {
        let mut s = jiangxi_template();
        s.dimensions[0].indicators[0].weight = 11;
        s.dimensions[1].indicators[0].code = "starts".into();
        s.dimensions[2].indicators[0].rule = Rule::Computed { source: Source::StartRate, target_bp: 5000, floor_bp: 6000 };
        s.grades.good = 99;
        let e = validate(&s).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["dimensions[1].indicators[0].code", "dimensions[2].indicators[0].rule", "weights", "grades"]);
    }

    #[test]
    fn scores_are_within_the_weight_and_below_full_marks_say_why() {
        let s = jiangxi_template();
        let given: BTreeMap<String, Given> = [
            ("blocks".to_string(), Given { points: 600, comment: "x".into(), ..Default::default() }),
            ("mechanisms".to_string(), Given { points: 300, comment: " ".into(), ..Default::default() }),
            ("nope".to_string(), Given::default()),
            ("market".to_string(), Given { points: 500, evidence: "文件 12".into(), ..Default::default() }),
        ]
        .into_iter()
        .collect();
        let e = check_given(&s, &given, Scorer::Own).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["scores.blocks.points", "scores.mechanisms.comment", "scores.nope.code"]);
    }

    #[test]
    fn a_region_does_not_score_what_the_records_compute_and_a_stale_score_counts_to_its_weight() {
        let mut s = jiangxi_template();
        let own: BTreeMap<String, Given> = [("starts".to_string(), Given { points: 1000, ..Default::default() })].into_iter().collect();
        assert_eq!(check_given(&s, &own, Scorer::Own).unwrap_err().0[0].field, "scores.starts.points");
        assert_eq!(
            check_given(&s, &own, Scorer::Reviewer).unwrap_err().0[0].field,
            "scores.starts.comment",
            "a reviewer overrides, saying why"
        );
        let blocks: BTreeMap<String, Given> = [("blocks".to_string(), Given { points: 500, ..Default::default() })].into_iter().collect();
        s.dimensions[1].indicators[1].weight = 1;
        let (l, _) = lines(&s, &BTreeMap::new(), &blocks, &BTreeMap::new());
        assert_eq!(l.iter().find(|x| x.code == "blocks").unwrap().points, 100, "a weight cut under a draft caps the stored score");
        assert_eq!(unscored(&jiangxi_template(), &blocks).len(), 11);
        s.dimensions.push(Dimension { name: "空".into(), indicators: vec![] });
        assert!(validate(&s).unwrap_err().0.iter().any(|e| e.field == "dimensions[5].indicators"));
    }

    #[test]
    fn the_reviewer_overrides_the_region_which_overrides_the_records() {
        let s = jiangxi_template();
        let rates: BTreeMap<Source, Option<i64>> =
            [(Source::StartRate, Some(10_000)), (Source::Satisfaction, Some(9_230))].into_iter().collect();
        let own: BTreeMap<String, Given> = [("blocks".to_string(), Given { points: 500, ..Default::default() })].into_iter().collect();
        let rev: BTreeMap<String, Given> =
            [("blocks".to_string(), Given { points: 300, comment: "只完成一个片区".into(), ..Default::default() })].into_iter().collect();
        let (l, total) = lines(&s, &rates, &own, &rev);
        let get = |c: &str| l.iter().find(|x| x.code == c).unwrap().points;
        assert_eq!((get("starts"), get("satisfaction"), get("blocks"), get("mechanisms")), (1000, 692, 300, 0));
        assert_eq!(total, 1000 + 692 + 300);
    }

    proptest! {
        /// Whatever the rates and scores, a total stays within 0 and 100 points.
        #[test]
        fn totals_stay_within_100(rates in proptest::collection::vec(proptest::option::of(0i64..=10_000), 6), pts in proptest::collection::vec(0i64..=1000, 18)) {
            let s = jiangxi_template();
            let sources = [Source::StartRate, Source::LastYearCompletion, Source::CentralDisbursement, Source::ContributionRate, Source::Satisfaction, Source::RectificationClosure];
            let rates: BTreeMap<Source, Option<i64>> = sources.into_iter().zip(rates).collect();
            let codes: Vec<(String, i64)> = s.dimensions.iter().flat_map(|d| &d.indicators).map(|i| (i.code.clone(), i.weight)).collect();
            let own: BTreeMap<String, Given> = codes.iter().zip(&pts).map(|((c, w), p)| (c.clone(), Given { points: p.min(&(w * 100)).to_owned(), comment: "x".into(), ..Default::default() })).collect();
            let own: BTreeMap<String, Given> = own.into_iter().filter(|(c, _)| s.dimensions.iter().flat_map(|d| &d.indicators).any(|i| &i.code == c && i.rule == Rule::Scored)).collect();
            prop_assert_eq!(check_given(&s, &own, Scorer::Own), Ok(()));
            let (_, total) = lines(&s, &rates, &own, &BTreeMap::new());
            prop_assert!((0..=10_000).contains(&total));
        }
    }
}
