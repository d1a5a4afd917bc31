//! Ranking candidate estates for the annual plan (先体检再改造): a weighted, explainable priority.
//! Each factor is scaled to 0–100 across the candidates (lowest to highest), then weighted; the
//! assessment's need score is already on a scale of 0–100 and counts as it is.

use crate::reason;
use serde::{Deserialize, Serialize};

/// What is known about one candidate estate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub estate_id: i64,
    pub build_year: i64,
    /// The need score of its latest finished assessment (hundredths, 0–10,000), if any.
    pub assessment_score: Option<i64>,
    pub households: i64,
    /// Dwellings registered, and those with a resident aged 60 or more.
    pub dwellings: i64,
    pub dwellings_with_elderly: i64,
    /// Share of households willing to renovate (hundredths of a percent), once surveys exist.
    pub willingness: Option<i64>,
}

/// How much each factor counts; zero leaves a factor out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    /// Older estates first.
    pub age: u32,
    /// Hazards and missing facilities found by the assessment.
    pub assessment: u32,
    /// More households helped.
    pub households: u32,
    /// Share of dwellings with residents aged 60+.
    pub elderly: u32,
    /// Residents' willingness (from the needs survey).
    pub willingness: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { age: 25, assessment: 35, households: 15, elderly: 15, willingness: 10 }
    }
}

impl Weights {
    /// Refuses weights that cannot rank anything.
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut e = crate::ValidationErrors::default();
        for (name, w) in [
            ("weights.age", self.age),
            ("weights.assessment", self.assessment),
            ("weights.households", self.households),
            ("weights.elderly", self.elderly),
            ("weights.willingness", self.willingness),
        ] {
            if w > 100 {
                e.push(name, w, reason!("field.between", min = 0, max = 100));
            }
        }
        if self.age + self.assessment + self.households + self.elderly + self.willingness == 0 {
            e.push("weights", 0, reason!("ranking.weights_zero"));
        }
        e.into_result(())
    }
}

/// One factor of one estate: its raw value and its scaled points (0–10,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Factor {
    pub value: i64,
    pub scaled: i64,
}

/// An estate's place in the ranking, with the factors that put it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    pub estate_id: i64,
    pub position: u32,
    /// Weighted priority, 0–10,000 (hundredths of a point out of 100).
    pub priority: i64,
    /// Whether the estate has a finished assessment. One without is not scored 0 for it: its
    /// priority leaves the assessment out, and it is placed after every assessed estate.
    pub assessed: bool,
    pub age: Factor,
    pub assessment: Factor,
    pub households: Factor,
    pub elderly: Factor,
    pub willingness: Factor,
}

/// Scales values to 0–10,000 between the lowest and the highest (all equal: all 0).
fn scale(values: &[i64]) -> Vec<i64> {
    let lo = values.iter().copied().min().unwrap_or(0);
    let hi = values.iter().copied().max().unwrap_or(0);
    values.iter().map(|v| if hi > lo { (v - lo) * 10_000 / (hi - lo) } else { 0 }).collect()
}

/// Ranks candidates in `year`.
///
/// Assessment first (先体检再改造): estates with a finished assessment come first, in order of
/// priority; estates without one follow, marked not assessed, in order of a priority that leaves
/// the assessment out (the other weights share its part) rather than counting it as 0. The
/// assessment's need score counts as it is (0–100 on the checklist's own scale): stretching it
/// between the few assessed estates would turn a small difference into a large one, and one
/// assessed estate into 0. Missing willingness counts as the lowest;
/// a factor no candidate has (willingness before any survey) drops out. Ties go to the lower estate
/// id, so the order is the same every time.
pub fn rank(candidates: &[Candidate], w: &Weights, year: i64) -> Vec<Ranked> {
    let age: Vec<i64> = candidates.iter().map(|c| (year - c.build_year).max(0)).collect();
    let households: Vec<i64> = candidates.iter().map(|c| c.households.max(0)).collect();
    let elderly: Vec<i64> = candidates
        .iter()
        .map(|c| if c.dwellings > 0 { c.dwellings_with_elderly.clamp(0, c.dwellings) * 10_000 / c.dwellings } else { 0 })
        .collect();
    let willingness: Vec<i64> = candidates.iter().map(|c| c.willingness.unwrap_or(0)).collect();
    let has_willingness = candidates.iter().any(|c| c.willingness.is_some());
    // The need score, 0–10,000, as the checklist gives it.
    let assessment: Vec<Factor> = candidates
        .iter()
        .map(|c| match c.assessment_score {
            Some(v) => Factor { value: v, scaled: v.clamp(0, 10_000) },
            None => Factor { value: 0, scaled: 0 },
        })
        .collect();
    let others =
        [i64::from(w.age), i64::from(w.households), i64::from(w.elderly), if has_willingness { i64::from(w.willingness) } else { 0 }];
    let scaled = [scale(&age), scale(&households), scale(&elderly), scale(&willingness)];
    let mut out: Vec<Ranked> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let assessed = c.assessment_score.is_some();
            let assessment_weight = if assessed { i64::from(w.assessment) } else { 0 };
            let total: i64 = others.iter().sum::<i64>() + assessment_weight;
            let sum: i64 = (0..4).map(|k| others[k] * scaled[k][i]).sum::<i64>() + assessment_weight * assessment[i].scaled;
            let f = |k: usize, raw: &[i64]| Factor { value: raw[i], scaled: scaled[k][i] };
            Ranked {
                estate_id: c.estate_id,
                position: 0,
                priority: if total > 0 { sum / total } else { 0 },
                assessed,
                age: f(0, &age),
                assessment: assessment[i],
                households: f(1, &households),
                elderly: f(2, &elderly),
                willingness: f(3, &willingness),
            }
        })
        .collect();
    out.sort_by(|a, b| b.assessed.cmp(&a.assessed).then(b.priority.cmp(&a.priority)).then(a.estate_id.cmp(&b.estate_id)));
    for (i, r) in out.iter_mut().enumerate() {
        r.position = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cand(id: i64, year: i64, score: Option<i64>, households: i64, elderly: i64) -> Candidate {
        Candidate {
            estate_id: id,
            build_year: year,
            assessment_score: score,
            households,
            dwellings: 100,
            dwellings_with_elderly: elderly,
            willingness: None,
        }
    }

    #[test]
    fn older_worse_and_larger_estates_come_first() {
        let c = vec![cand(1, 1998, Some(2000), 100, 10), cand(2, 1982, Some(6000), 400, 50), cand(3, 1990, None, 200, 30)];
        let r = rank(&c, &Weights::default(), 2026);
        // Estate 3 is not assessed: after every assessed estate, though older than estate 1.
        assert_eq!(r.iter().map(|x| x.estate_id).collect::<Vec<_>>(), [2, 1, 3]);
        assert_eq!(r[0].position, 1);
        // Estate 2 tops age, households and elderly (100 each) and has a need score of 60;
        // willingness (no survey yet) drops out: (25·100 + 35·60 + 15·100 + 15·100) / 90.
        assert_eq!(r[0].priority, (25 * 10_000 + 35 * 6_000 + 15 * 10_000 + 15 * 10_000) / 90);
        assert_eq!(r[0].assessment, Factor { value: 6_000, scaled: 6_000 }, "the need score counts as it is");
        assert_eq!(r[1].age.value, 28);
        assert_eq!(r[2].elderly.value, 3000);
        assert!(r[0].assessed && r[1].assessed && !r[2].assessed);
    }

    #[test]
    fn one_assessed_estate_keeps_its_need_score() {
        let c = vec![cand(1, 1990, Some(4_500), 100, 10), cand(2, 1980, None, 200, 20)];
        let r = rank(&c, &Weights { age: 0, households: 0, elderly: 0, willingness: 0, assessment: 100 }, 2026);
        assert_eq!((r[0].estate_id, r[0].priority), (1, 4_500), "not stretched to 0 as the lowest of one");
    }

    #[test]
    fn an_unassessed_estate_is_not_scored_zero_for_it() {
        // Estate 3 has no assessment. Its priority leaves the assessment out: age, households
        // and elderly share the weight (age 25, households 15, elderly 15 of 55).
        let c = vec![cand(1, 1998, Some(2000), 100, 10), cand(2, 1982, Some(6000), 400, 50), cand(3, 1990, None, 200, 30)];
        let r = rank(&c, &Weights::default(), 2026);
        let three = r.iter().find(|x| x.estate_id == 3).unwrap();
        assert_eq!(three.assessment, Factor { value: 0, scaled: 0 });
        // Age 36 of 28..44 = 5000, households 200 of 100..400 = 3333, elderly 30 of 10..50 = 5000.
        assert_eq!(three.priority, (25 * 5000 + 15 * 3333 + 15 * 5000) / 55);
        // Its priority does not depend on how much the assessment weighs.
        let heavier = rank(&c, &Weights { assessment: 90, ..Weights::default() }, 2026);
        assert_eq!(heavier.iter().find(|x| x.estate_id == 3).unwrap().priority, three.priority);
    }

    #[test]
    fn weights_are_checked() {
        assert!(Weights { age: 0, assessment: 0, households: 0, elderly: 0, willingness: 0 }.validate().is_err());
        assert!(Weights { age: 101, ..Weights::default() }.validate().is_err());
        assert!(Weights::default().validate().is_ok());
    }

    fn any_candidate() -> impl Strategy<Value = Candidate> {
        (1i64..10_000, 1950i64..2026, proptest::option::of(0i64..=10_000), 0i64..3000, 0i64..200, 0i64..200).prop_map(
            |(id, year, score, households, dwellings, elderly)| Candidate {
                estate_id: id,
                build_year: year,
                assessment_score: score,
                households,
                dwellings,
                dwellings_with_elderly: elderly,
                willingness: None,
            },
        )
    }

    proptest! {
        #[test]
        fn positions_run_from_one_and_priorities_fall(cands in proptest::collection::vec(any_candidate(), 0..40)) {
            let r = rank(&cands, &Weights::default(), 2026);
            prop_assert_eq!(r.len(), cands.len());
            for (i, x) in r.iter().enumerate() {
                prop_assert_eq!(x.position as usize, i + 1);
                prop_assert!((0..=10_000).contains(&x.priority));
                if i > 0 && r[i - 1].assessed == x.assessed {
                    prop_assert!(r[i - 1].priority >= x.priority);
                }
            }
        }

        /// An estate at least as old, as bad, as large and as elderly as another never ranks below it.
        #[test]
        fn a_dominating_estate_ranks_at_least_as_high(mut a in any_candidate(), b in any_candidate(), rest in proptest::collection::vec(any_candidate(), 0..10)) {
            a.build_year = a.build_year.min(b.build_year);
            a.assessment_score = Some(a.assessment_score.unwrap_or(0).max(b.assessment_score.unwrap_or(0)));
            a.households = a.households.max(b.households);
            a.dwellings = b.dwellings;
            a.dwellings_with_elderly = a.dwellings_with_elderly.max(b.dwellings_with_elderly);
            a.estate_id = 100_000;
            let mut b = b;
            b.estate_id = 100_001;
            let mut all = rest;
            all.push(a.clone());
            all.push(b.clone());
            let r = rank(&all, &Weights::default(), 2026);
            let pa = r.iter().find(|x| x.estate_id == a.estate_id).map(|x| x.position);
            let pb = r.iter().find(|x| x.estate_id == b.estate_id).map(|x| x.position);
            prop_assert!(pa <= pb, "{pa:?} > {pb:?}");
        }

        /// Every assessed estate comes before every estate without an assessment.
        #[test]
        fn assessed_estates_come_first(mut cands in proptest::collection::vec(any_candidate(), 0..40)) {
            for (i, c) in cands.iter_mut().enumerate() {
                c.estate_id = i64::try_from(i).unwrap_or(0);
            }
            let r = rank(&cands, &Weights::default(), 2026);
            let first_unassessed = r.iter().position(|x| !x.assessed).unwrap_or(r.len());
            prop_assert!(r[first_unassessed..].iter().all(|x| !x.assessed));
            for x in &r {
                let c = cands.iter().find(|c| c.estate_id == x.estate_id);
                prop_assert_eq!(c.map(|c| c.assessment_score.is_some()), Some(x.assessed));
            }
        }
    }
}
