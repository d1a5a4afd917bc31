//! Needs surveys (问需) and satisfaction surveys: the questionnaire, checking one household's answer,
//! and the results — the demand list by building, charts' counts, conflicts where one space has
//! competing wishes, and the willingness that feeds the ranking.

use crate::reason;
use crate::ValidationErrors;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Single,
    Multiple,
    /// 1 to `max_rating`.
    Rating,
    /// Every option in order of preference.
    Ranking,
    Text,
    /// A photo filed in the archive; the answer is its document id.
    Photo,
}

/// What a question's answers feed outside the survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feeds {
    /// Willing to renovate: the share choosing the first option feeds the ranking.
    WillingToRenovate,
    /// Willing to contribute money: the share choosing the first option.
    WillingToContribute,
}

/// One question.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Question {
    /// Short id, unique in the survey (e.g. `q1`).
    pub id: String,
    pub kind: Option<QuestionKind>,
    pub text: String,
    pub options: Vec<String>,
    pub required: bool,
    /// Highest rating (3 to 10) for rating questions.
    pub max_rating: Option<i64>,
    /// A shared space the options compete for (e.g. "楼下空地"): results flag a conflict when
    /// two options are both wanted by many.
    pub space: Option<String>,
    pub feeds: Option<Feeds>,
}

/// A survey as set up by staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SurveyInput {
    pub title: String,
    /// `needs` (问需), `satisfaction` (after acceptance or review) or `opinion` (a grid's opinion
    /// round, 征求意见, collected door to door by its grid workers).
    pub purpose: String,
    pub questions: Vec<Question>,
    /// Answers are not linked to who gave them in results and exports.
    pub anonymous: bool,
    /// More than one answer per dwelling (e.g. each resident); default one per dwelling.
    pub many_per_dwelling: bool,
    /// YYYY-MM-DD, China's dates, inclusive.
    pub opens_on: String,
    pub closes_on: String,
}

/// A survey checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSurvey {
    pub input: SurveyInput,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
}

/// Most questions in a survey, options in a question, characters in a free-text answer.
pub const MAX_QUESTIONS: usize = 50;
pub const MAX_OPTIONS: usize = 20;
pub const MAX_TEXT: usize = 2_000;

impl SurveyInput {
    /// Checks the questionnaire: every field named by its place (`questions[2].options`).
    pub fn validate(&self, today: NaiveDate) -> Result<ValidSurvey, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            e.push("title", &self.title, reason!("field.length", max = 200));
        }
        if !matches!(self.purpose.as_str(), "needs" | "satisfaction" | "opinion") {
            e.push("purpose", &self.purpose, reason!("surveys.purpose_kind"));
        }
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            e.push("questions", self.questions.len(), reason!("surveys.question_count", max_questions = MAX_QUESTIONS));
        }
        let mut ids = HashSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let f = |name: &str| format!("questions[{i}].{name}");
            let id_ok = !q.id.is_empty() && q.id.len() <= 20 && q.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !id_ok {
                e.push(&f("id"), &q.id, reason!("surveys.question_id_form"));
            } else if !ids.insert(q.id.as_str()) {
                e.push(&f("id"), &q.id, reason!("surveys.id_taken"));
            }
            if q.text.trim().is_empty() || q.text.chars().count() > 500 {
                e.push(&f("text"), &q.text, reason!("field.length", max = 500));
            }
            let Some(kind) = q.kind else {
                e.push(&f("kind"), "", reason!("surveys.question_kind"));
                continue;
            };
            let choice = matches!(kind, QuestionKind::Single | QuestionKind::Multiple | QuestionKind::Ranking);
            if choice {
                if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
                    e.push(&f("options"), q.options.len(), reason!("surveys.option_count", max_options = MAX_OPTIONS));
                } else if q.options.iter().any(|o| o.trim().is_empty() || o.chars().count() > 100) {
                    e.push(&f("options"), "", reason!("surveys.option_length"));
                } else if q.options.iter().collect::<HashSet<_>>().len() != q.options.len() {
                    e.push(&f("options"), "", reason!("surveys.options_differ"));
                }
            } else if !q.options.is_empty() {
                e.push(&f("options"), q.options.len(), reason!("surveys.options_for_choice_only"));
            }
            match (kind, q.max_rating) {
                (QuestionKind::Rating, Some(m)) if (3..=10).contains(&m) => {}
                (QuestionKind::Rating, m) => {
                    e.push(&f("max_rating"), m.map(|m| m.to_string()).unwrap_or_default(), reason!("surveys.rating_range"))
                }
                (_, Some(m)) => e.push(&f("max_rating"), m, reason!("surveys.max_rating_for_rating_only")),
                _ => {}
            }
            if q.space.is_some() && !matches!(kind, QuestionKind::Single | QuestionKind::Multiple) {
                e.push(&f("space"), q.space.clone().unwrap_or_default(), reason!("surveys.space_for_choice_only"));
            }
            if q.feeds.is_some() && kind != QuestionKind::Single {
                e.push(&f("feeds"), "", reason!("surveys.willingness_form"));
            }
        }
        let date = |field: &str, s: &str, e: &mut ValidationErrors| match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                e.push(field, s, reason!("field.date"));
                None
            }
        };
        let opens_on = date("opens_on", &self.opens_on, &mut e);
        let closes_on = date("closes_on", &self.closes_on, &mut e);
        if let (Some(o), Some(c)) = (opens_on, closes_on) {
            if c < o {
                e.push("closes_on", &self.closes_on, reason!("surveys.closes_before_opens"));
            } else if c < today {
                e.push("closes_on", &self.closes_on, reason!("field.not_past"));
            } else if (c - o).num_days() > 180 {
                e.push("closes_on", &self.closes_on, reason!("surveys.too_long"));
            }
        }
        match (opens_on, closes_on) {
            (Some(opens_on), Some(closes_on)) if e.is_empty() => {
                let mut input = self.clone();
                input.title = title.to_string();
                Ok(ValidSurvey { input, opens_on, closes_on })
            }
            _ => Err(e),
        }
    }
}

/// Is a survey taking answers on `today`?
pub fn is_open(opens_on: NaiveDate, closes_on: NaiveDate, today: NaiveDate) -> bool {
    opens_on <= today && today <= closes_on
}

/// One household's answer, checked: question id → value (an option index, indices, a rating, an
/// order of indices, text, or a photo's document id).
pub type Answers = BTreeMap<String, serde_json::Value>;

/// Checks answers against the questions, naming `answers.<id>` for each problem; unknown questions
/// are refused. Photo answers must be among `photos` (the documents this survey filed).
pub fn check_answers(questions: &[Question], answers: &Answers, photos: &HashSet<i64>) -> Result<Answers, ValidationErrors> {
    let mut e = ValidationErrors::default();
    let by_id: HashMap<&str, &Question> = questions.iter().map(|q| (q.id.as_str(), q)).collect();
    for id in answers.keys() {
        if !by_id.contains_key(id.as_str()) {
            e.push(&format!("answers.{id}"), id, reason!("surveys.unknown_question"));
        }
    }
    let mut out = Answers::new();
    for q in questions {
        let field = format!("answers.{}", q.id);
        let v =
            answers.get(&q.id).filter(|v| !v.is_null() && v.as_str() != Some("") && v.as_array().map(|a| !a.is_empty()).unwrap_or(true));
        let Some(v) = v else {
            if q.required {
                e.push(&field, "", reason!("field.required"));
            }
            continue;
        };
        let n = q.options.len() as u64;
        let index = |x: &serde_json::Value| x.as_u64().filter(|i| *i < n);
        let ok = match q.kind {
            Some(QuestionKind::Single) => index(v).is_some(),
            Some(QuestionKind::Multiple) => v.as_array().is_some_and(|a| {
                let idx: Vec<u64> = a.iter().filter_map(index).collect();
                idx.len() == a.len() && idx.iter().collect::<HashSet<_>>().len() == idx.len()
            }),
            Some(QuestionKind::Rating) => v.as_i64().is_some_and(|r| r >= 1 && r <= q.max_rating.unwrap_or(5)),
            Some(QuestionKind::Ranking) => v.as_array().is_some_and(|a| {
                let idx: HashSet<u64> = a.iter().filter_map(index).collect();
                a.len() as u64 == n && idx.len() as u64 == n
            }),
            Some(QuestionKind::Text) => v.as_str().is_some_and(|s| s.trim().chars().count() <= MAX_TEXT),
            Some(QuestionKind::Photo) => v.as_i64().is_some_and(|d| photos.contains(&d)),
            None => false,
        };
        if ok {
            out.insert(q.id.clone(), v.clone());
        } else {
            let reason = match q.kind {
                Some(QuestionKind::Single) => reason!("surveys.answer_one_option"),
                Some(QuestionKind::Multiple) => reason!("surveys.answer_options"),
                Some(QuestionKind::Rating) => reason!("surveys.answer_rating", max = q.max_rating.unwrap_or(5)),
                Some(QuestionKind::Ranking) => reason!("surveys.answer_ranking"),
                Some(QuestionKind::Text) => reason!("field.at_most_chars", max = MAX_TEXT),
                Some(QuestionKind::Photo) => reason!("surveys.answer_photo"),
                None => reason!("surveys.cannot_be_answered"),
            };
            e.push(&field, v.to_string().chars().take(40).collect::<String>(), reason);
        }
    }
    e.into_result(out)
}

/// One answer as counted: the building it came from and what was said.
#[derive(Debug, Clone)]
pub struct Response {
    pub building: String,
    pub answers: Answers,
}

/// The count of one option, overall and by building, with its share of households.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OptionCount {
    pub option: String,
    pub count: i64,
    /// Of the households of the estate, in basis points.
    pub share_of_households_bp: i64,
    /// Of those who answered the question, in basis points.
    pub share_of_answers_bp: i64,
    pub by_building: BTreeMap<String, i64>,
}

/// Results of one question.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuestionResult {
    pub id: String,
    pub text: String,
    pub kind: QuestionKind,
    pub answered: i64,
    /// Choice questions: per option. Ranking: per option, `count` is its Borda score.
    pub options: Vec<OptionCount>,
    /// Rating: the average in hundredths and the count per rating.
    pub average_x100: Option<i64>,
    pub histogram: Vec<i64>,
    /// Text: the answers (photo: document ids as text).
    pub texts: Vec<String>,
}

/// Two wishes for one space that both have wide support (e.g. parking against a play area).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Conflict {
    pub question: String,
    pub space: String,
    pub first: String,
    pub first_count: i64,
    pub second: String,
    pub second_count: i64,
    /// Where it is sharpest: the building whose answers are most evenly split.
    pub buildings: Vec<String>,
}

/// Everything the results page shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Results {
    pub respondents: i64,
    pub households: i64,
    pub response_rate_bp: i64,
    pub questions: Vec<QuestionResult>,
    /// Options of every choice question asked of needs, most wanted first (需求清单).
    pub demand_list: Vec<(String, String, i64, i64)>,
    pub conflicts: Vec<Conflict>,
    /// Share choosing "yes" to the willingness questions, in basis points.
    pub willing_to_renovate_bp: Option<i64>,
    pub willing_to_contribute_bp: Option<i64>,
}

fn bp(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        part * 10_000 / whole
    }
}

/// A conflict needs each of the two options wanted by at least this share of those answering...
pub const CONFLICT_MIN_BP: i64 = 2_500;
/// ...and the second within this many points of the first.
pub const CONFLICT_GAP_BP: i64 = 2_000;

/// Counts the answers of a survey of an estate with `households` households.
pub fn results(questions: &[Question], responses: &[Response], households: i64) -> Results {
    let respondents = responses.len() as i64;
    let mut out = Vec::new();
    let mut conflicts = Vec::new();
    let mut demand = Vec::new();
    let (mut willing_r, mut willing_c) = (None, None);
    for q in questions {
        let Some(kind) = q.kind else { continue };
        let given: Vec<(&str, &serde_json::Value)> =
            responses.iter().filter_map(|r| r.answers.get(&q.id).map(|v| (r.building.as_str(), v))).collect();
        let answered = given.len() as i64;
        let mut res = QuestionResult {
            id: q.id.clone(),
            text: q.text.clone(),
            kind,
            answered,
            options: vec![],
            average_x100: None,
            histogram: vec![],
            texts: vec![],
        };
        match kind {
            QuestionKind::Single | QuestionKind::Multiple | QuestionKind::Ranking => {
                let n = q.options.len();
                let mut counts = vec![0i64; n];
                let mut by_building = vec![BTreeMap::<String, i64>::new(); n];
                for (b, v) in &given {
                    let picks: Vec<(usize, i64)> = match kind {
                        QuestionKind::Single => v.as_u64().map(|i| vec![(i as usize, 1)]).unwrap_or_default(),
                        QuestionKind::Multiple => {
                            v.as_array().map(|a| a.iter().filter_map(|x| x.as_u64()).map(|i| (i as usize, 1)).collect()).unwrap_or_default()
                        }
                        // Borda: first of n gets n-1 points, last 0.
                        _ => v
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .enumerate()
                                    .filter_map(|(pos, x)| x.as_u64().map(|i| (i as usize, (n - 1 - pos.min(n - 1)) as i64)))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    };
                    for (i, w) in picks {
                        if i < n {
                            counts[i] += w;
                            *by_building[i].entry(b.to_string()).or_default() += w;
                        }
                    }
                }
                res.options = q
                    .options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| OptionCount {
                        option: o.clone(),
                        count: counts[i],
                        share_of_households_bp: if kind == QuestionKind::Ranking { 0 } else { bp(counts[i], households) },
                        share_of_answers_bp: if kind == QuestionKind::Ranking { 0 } else { bp(counts[i], answered) },
                        by_building: by_building[i].clone(),
                    })
                    .collect();
                if kind != QuestionKind::Ranking && q.feeds.is_none() {
                    for o in &res.options {
                        demand.push((q.text.clone(), o.option.clone(), o.count, o.share_of_households_bp));
                    }
                }
                match q.feeds {
                    Some(Feeds::WillingToRenovate) => willing_r = Some(bp(counts.first().copied().unwrap_or(0), answered)),
                    Some(Feeds::WillingToContribute) => willing_c = Some(bp(counts.first().copied().unwrap_or(0), answered)),
                    None => {}
                }
                if let (Some(space), true) = (&q.space, kind != QuestionKind::Ranking) {
                    if let Some(c) = conflict(q, space, &res.options, answered) {
                        conflicts.push(c);
                    }
                }
            }
            QuestionKind::Rating => {
                let max = q.max_rating.unwrap_or(5).clamp(1, 10) as usize;
                let mut hist = vec![0i64; max];
                let mut sum = 0i64;
                for (_, v) in &given {
                    if let Some(r) = v.as_i64().filter(|r| *r >= 1 && *r as usize <= max) {
                        hist[r as usize - 1] += 1;
                        sum += r;
                    }
                }
                res.average_x100 = (answered > 0).then(|| sum * 100 / answered);
                res.histogram = hist;
            }
            QuestionKind::Text | QuestionKind::Photo => {
                res.texts = given.iter().map(|(_, v)| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect();
            }
        }
        out.push(res);
    }
    demand.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    Results {
        respondents,
        households,
        response_rate_bp: bp(respondents, households),
        questions: out,
        demand_list: demand,
        conflicts,
        willing_to_renovate_bp: willing_r,
        willing_to_contribute_bp: willing_c,
    }
}

/// The top two wishes for a space conflict when both are wanted by at least a quarter of those
/// answering and the second is within 20 points of the first.
fn conflict(q: &Question, space: &str, options: &[OptionCount], answered: i64) -> Option<Conflict> {
    let mut sorted: Vec<&OptionCount> = options.iter().collect();
    sorted.sort_by_key(|o| std::cmp::Reverse(o.count));
    let (a, b) = (sorted.first()?, sorted.get(1)?);
    let (sa, sb) = (bp(a.count, answered), bp(b.count, answered));
    if sb < CONFLICT_MIN_BP || sa - sb > CONFLICT_GAP_BP {
        return None;
    }
    // Buildings where both wishes have support, most evenly split first.
    let mut buildings: Vec<(String, i64)> = a
        .by_building
        .iter()
        .filter_map(|(bname, ca)| b.by_building.get(bname).map(|cb| (bname.clone(), (ca - cb).abs() - ca.min(cb))))
        .collect();
    buildings.sort_by(|x, y| x.1.cmp(&y.1).then_with(|| x.0.cmp(&y.0)));
    Some(Conflict {
        question: q.id.clone(),
        space: space.to_string(),
        first: a.option.clone(),
        first_count: a.count,
        second: b.option.clone(),
        second_count: b.count,
        buildings: buildings.into_iter().map(|(b, _)| b).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn q(id: &str, kind: QuestionKind, options: &[&str]) -> Question {
        Question {
            id: id.into(),
            kind: Some(kind),
            text: format!("问题{id}"),
            options: options.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn sample() -> Vec<Question> {
        vec![
            Question { required: true, feeds: Some(Feeds::WillingToRenovate), ..q("will", QuestionKind::Single, &["愿意", "不愿意"]) },
            Question {
                space: Some("楼下空地".into()), ..q("space", QuestionKind::Single, &["停车位", "儿童游乐场", "菜地"])
            },
            q("needs", QuestionKind::Multiple, &["加装电梯", "外墙保温", "雨污分流"]),
            Question { max_rating: Some(5), ..q("sat", QuestionKind::Rating, &[]) },
            q("order", QuestionKind::Ranking, &["道路", "绿化", "照明"]),
            q("say", QuestionKind::Text, &[]),
        ]
    }

    fn answers(v: serde_json::Value) -> Answers {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_questionnaire_names_its_bad_fields() {
        let bad = SurveyInput {
            title: "".into(),
            purpose: "fun".into(),
            questions: vec![
                q("a", QuestionKind::Single, &["只有一个"]),
                Question { max_rating: Some(11), ..q("a", QuestionKind::Rating, &[]) },
            ],
            opens_on: "2026-12-01".into(),
            closes_on: "2026-11-30".into(),
            ..Default::default()
        };
        let fields: Vec<String> = bad.validate(d("2026-11-23")).unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["title", "purpose", "questions[0].options", "questions[1].id", "questions[1].max_rating", "closes_on"]);
        let good = SurveyInput {
            title: "问需".into(),
            purpose: "needs".into(),
            questions: sample(),
            opens_on: "2026-11-23".into(),
            closes_on: "2026-12-23".into(),
            ..Default::default()
        };
        assert!(good.validate(d("2026-11-23")).is_ok());
    }

    #[test]
    fn answers_are_checked_question_by_question() {
        let qs = sample();
        let photos = HashSet::new();
        let ok = answers(json!({"will": 0, "space": 2, "needs": [0, 2], "sat": 4, "order": [2, 0, 1], "say": "希望修路"}));
        assert!(check_answers(&qs, &ok, &photos).is_ok());
        let bad = answers(json!({"space": 3, "needs": [0, 0], "sat": 6, "order": [0, 1], "extra": 1}));
        let fields: Vec<String> = check_answers(&qs, &bad, &photos).unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["answers.extra", "answers.will", "answers.space", "answers.needs", "answers.sat", "answers.order"]);
    }

    #[test]
    fn results_count_by_building_and_find_the_contested_space() {
        let qs = sample();
        let r = |b: &str, v: serde_json::Value| Response { building: b.into(), answers: answers(v) };
        let responses = vec![
            r("1号楼", json!({"will": 0, "space": 0, "needs": [0], "sat": 5, "order": [0, 1, 2]})),
            r("1号楼", json!({"will": 0, "space": 1, "needs": [0, 1], "sat": 3, "order": [1, 0, 2]})),
            r("2号楼", json!({"will": 1, "space": 0, "needs": [2], "sat": 4, "order": [0, 2, 1]})),
            r("2号楼", json!({"will": 0, "space": 1, "needs": [0], "order": [0, 1, 2], "say": "菜地别动"})),
        ];
        let res = results(&qs, &responses, 10);
        assert_eq!((res.respondents, res.response_rate_bp), (4, 4_000));
        assert_eq!(res.willing_to_renovate_bp, Some(7_500));
        let needs = &res.questions[2].options[0];
        assert_eq!((needs.option.as_str(), needs.count, needs.share_of_households_bp), ("加装电梯", 3, 3_000));
        assert_eq!(needs.by_building.get("1号楼"), Some(&2));
        assert_eq!(res.questions[3].average_x100, Some(400));
        assert_eq!(res.questions[3].histogram, vec![0, 0, 1, 1, 1]);
        // Borda over three options: 道路 first three times, second once.
        assert_eq!(res.questions[4].options[0].count, 2 + 2 + 1 + 2);
        assert_eq!(res.conflicts.len(), 1);
        let c = &res.conflicts[0];
        assert_eq!((c.space.as_str(), c.first_count, c.second_count), ("楼下空地", 2, 2));
        assert_eq!(res.demand_list[0].1, "加装电梯");
        assert_eq!(res.questions[5].texts, vec!["菜地别动".to_string()]);
    }

    proptest! {
        /// Counts never exceed the answers, the shares never exceed the whole, and every single-choice
        /// answer is counted exactly once.
        #[test]
        fn counts_add_up(picks in proptest::collection::vec((0u64..3, 0usize..4), 0..80), households in 1i64..200) {
            let qs = vec![q("s", QuestionKind::Single, &["a", "b", "c"])];
            let responses: Vec<Response> = picks.iter().map(|(p, b)| Response { building: format!("{b}号楼"), answers: answers(json!({"s": p})) }).collect();
            let res = results(&qs, &responses, households);
            let total: i64 = res.questions[0].options.iter().map(|o| o.count).sum();
            prop_assert_eq!(total, picks.len() as i64);
            for o in &res.questions[0].options {
                prop_assert_eq!(o.by_building.values().sum::<i64>(), o.count);
                prop_assert!(o.share_of_answers_bp <= 10_000);
            }
        }
    }
}
