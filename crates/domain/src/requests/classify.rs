//! Suggesting a request's category from its text (issue 16). The features are the text's words
//! as jieba segments them, its Chinese characters and its pairs of adjacent ones (which catch
//! words the dictionary splits, and typos); each counted once per text. The model is multinomial naive
//! Bayes over labelled examples: small, trained in milliseconds, retrained when staff correct a
//! suggestion, and its confidence is the posterior probability of the suggested category.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The labelled examples the shipped model learns from (category, text), kept in the repository.
pub const TRAIN_TSV: &str = include_str!("../../data/requests/train.tsv");
/// Labelled examples kept apart from training, for measuring accuracy only.
pub const HELDOUT_TSV: &str = include_str!("../../data/requests/heldout.tsv");

/// Additive smoothing of the word counts.
const ALPHA: f64 = 0.3;

static JIEBA: LazyLock<jieba_rs::Jieba> = LazyLock::new(jieba_rs::Jieba::new);

/// The model trained on [`TRAIN_TSV`] (built once, on first use).
pub static SHIPPED: LazyLock<Classifier> =
    LazyLock::new(|| Classifier::train(parse_examples(TRAIN_TSV).unwrap_or_default().iter().map(|(c, t)| (c.as_str(), t.as_str()))));

/// Words that say nothing of the category.
const STOP: &[&str] = &[
    "的", "了", "在", "是", "我", "我们", "有", "和", "也", "都", "就", "还", "很", "把", "被", "给", "让", "说", "这", "那", "这个",
    "那个", "一个", "一下", "没有", "不", "吗", "呢", "吧", "啊", "呀", "您", "你", "他", "她", "它", "请", "要", "已经", "现在", "一直",
    "可以", "能", "会", "到", "从", "对", "与",
];

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// The features of a text: its words (digits as `#`), its Chinese characters (`~` marked) and
/// its pairs of adjacent ones (`^` marked), each once.
pub fn features(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in JIEBA.cut(text, true) {
        let w = w.trim();
        if w.is_empty() || STOP.contains(&w) || !w.chars().any(|c| is_han(c) || c.is_ascii_alphanumeric()) {
            continue;
        }
        let w: String = w.chars().map(|c| if c.is_ascii_digit() { '#' } else { c.to_ascii_lowercase() }).collect();
        out.push(w);
    }
    let chars: Vec<char> = text.chars().collect();
    // Single characters too: a short text (漏气, 停电) says much in one or two of them.
    out.extend(chars.iter().filter(|c| is_han(**c)).map(|c| format!("~{c}")));
    for pair in chars.windows(2) {
        if is_han(pair[0]) && is_han(pair[1]) {
            out.push(format!("^{}{}", pair[0], pair[1]));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A suggested category and how sure the model is (0 to 1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    pub code: String,
    pub confidence: f64,
}

/// Naive Bayes over features: per category the texts seen and each feature's count.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    classes: Vec<String>,
    texts: Vec<f64>,
    features: Vec<f64>,
    counts: HashMap<String, Vec<f64>>,
}

impl Classifier {
    /// A model learnt from (category, text) examples.
    pub fn train<'a>(examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Classifier {
        let mut c = Classifier::default();
        for (code, text) in examples {
            c.learn(code, text);
        }
        c
    }

    /// Learns one more example (a clerk's correction, say).
    pub fn learn(&mut self, code: &str, text: &str) {
        let k = match self.classes.iter().position(|c| c == code) {
            Some(k) => k,
            None => {
                self.classes.push(code.to_string());
                self.texts.push(0.0);
                self.features.push(0.0);
                for v in self.counts.values_mut() {
                    v.push(0.0);
                }
                self.classes.len() - 1
            }
        };
        self.texts[k] += 1.0;
        let n = self.classes.len();
        for f in features(text) {
            self.counts.entry(f).or_insert_with(|| vec![0.0; n])[k] += 1.0;
            self.features[k] += 1.0;
        }
    }

    /// The categories it knows.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Every known category with its probability for `text`, the likeliest first (empty for a
    /// model that learnt nothing, or a text with nothing it has seen).
    pub fn suggest(&self, text: &str) -> Vec<Suggestion> {
        self.suggest_with(&Classifier::default(), text)
    }

    /// [`Classifier::suggest`] with `local`'s examples counted as if learnt too: a region's
    /// corrections layered on the shared model, without copying it.
    pub fn suggest_with(&self, local: &Classifier, text: &str) -> Vec<Suggestion> {
        let mut classes: Vec<String> = self.classes.clone();
        classes.extend(local.classes.iter().filter(|c| !self.classes.contains(c)).cloned());
        if classes.is_empty() {
            return vec![];
        }
        let at = |m: &Classifier, c: &String| m.classes.iter().position(|x| x == c);
        let (mine, theirs): (Vec<Option<usize>>, Vec<Option<usize>>) = classes.iter().map(|c| (at(self, c), at(local, c))).unzip();
        let sum = |a: &[f64], b: &[f64], k: usize| mine[k].map_or(0.0, |i| a[i]) + theirs[k].map_or(0.0, |i| b[i]);
        let texts: Vec<f64> = (0..classes.len()).map(|k| sum(&self.texts, &local.texts, k)).collect();
        let words: Vec<f64> = (0..classes.len()).map(|k| sum(&self.features, &local.features, k)).collect();
        let all: f64 = texts.iter().sum();
        let vocabulary = (self.counts.len() + local.counts.keys().filter(|f| !self.counts.contains_key(*f)).count()) as f64 + 1.0;
        // A class with no text yet has no prior: it is never suggested.
        let mut scores: Vec<f64> = texts.iter().map(|t| if *t > 0.0 { (t / all).ln() } else { f64::NEG_INFINITY }).collect();
        let mut known = false;
        let none: Vec<f64> = Vec::new();
        for f in features(text) {
            let (a, b) = (self.counts.get(&f), local.counts.get(&f));
            // A feature no example had says nothing to tell the categories apart.
            if a.is_none() && b.is_none() {
                continue;
            }
            known = true;
            let (a, b) = (a.unwrap_or(&none), b.unwrap_or(&none));
            for (k, score) in scores.iter_mut().enumerate() {
                let seen =
                    mine[k].and_then(|i| a.get(i)).copied().unwrap_or(0.0) + theirs[k].and_then(|i| b.get(i)).copied().unwrap_or(0.0);
                *score += ((seen + ALPHA) / (words[k] + ALPHA * vocabulary)).ln();
            }
        }
        // Nothing the model has seen (emoji, English, zero-width marks): the priors alone are no suggestion.
        if !known {
            return vec![];
        }
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut out: Vec<Suggestion> =
            classes.into_iter().zip(weights).map(|(code, w)| Suggestion { code, confidence: w / total }).collect();
        out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then_with(|| a.code.cmp(&b.code)));
        out
    }
}

/// True when a correction may teach the model: never one that takes a text away from a danger
/// the model saw in it (a wrong "safety" suggestion costs a visit; a missed one can cost lives).
pub fn may_learn(suggested: &str, corrected: &str) -> bool {
    suggested != corrected && (corrected.starts_with("safety") || !suggested.starts_with("safety"))
}

/// Reads labelled examples: a header line `category<TAB>text`, then one example per line. A line
/// without a category and a text is named by its number.
pub fn parse_examples(tsv: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('\t') {
            Some((c, t)) if !c.trim().is_empty() && !t.trim().is_empty() => out.push((c.trim().to_string(), t.trim().to_string())),
            _ => return Err(format!("line {}: expected a category, a tab and a text", n + 1)),
        }
    }
    Ok(out)
}

/// Top-1 accuracy of `model` on labelled examples, and how many there were.
pub fn accuracy(model: &Classifier, examples: &[(String, String)]) -> (f64, usize) {
    let right = examples.iter().filter(|(c, t)| model.suggest(t).first().is_some_and(|s| &s.code == c)).count();
    (right as f64 / examples.len().max(1) as f64, examples.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::categories;
    use proptest::prelude::*;

    #[test]
    fn the_shipped_examples_are_leaves_of_the_tree_and_apart() {
        let train = parse_examples(TRAIN_TSV).unwrap();
        let heldout = parse_examples(HELDOUT_TSV).unwrap();
        let leaves: Vec<&str> = categories::leaves().map(|l| l.code).collect();
        for (c, t) in train.iter().chain(&heldout) {
            assert!(leaves.contains(&c.as_str()), "{c}: {t}");
        }
        for l in &leaves {
            assert!(train.iter().filter(|(c, _)| c == l).count() >= 20, "{l} has examples to learn from");
            assert!(heldout.iter().filter(|(c, _)| c == l).count() >= 10, "{l} is measured");
        }
        let seen: std::collections::HashSet<&str> = train.iter().map(|(_, t)| t.as_str()).collect();
        assert!(heldout.iter().all(|(_, t)| !seen.contains(t.as_str())), "no held-out text was learnt");
    }

    #[test]
    fn a_local_layer_counts_as_learnt_and_dangers_are_never_unlearnt() {
        let text = "单元门口的路灯杆歪了快倒了";
        let mut learnt = SHIPPED.clone();
        learnt.learn("safety.fire_passage", text);
        let mut local = Classifier::default();
        local.learn("safety.fire_passage", text);
        let (a, b) = (learnt.suggest(text), SHIPPED.suggest_with(&local, text));
        assert_eq!(a[0].code, b[0].code);
        assert!((a[0].confidence - b[0].confidence).abs() < 1e-9, "{a:?} {b:?}");
        assert_eq!(SHIPPED.suggest_with(&Classifier::default(), text), SHIPPED.suggest(text));
        assert!(!may_learn("safety.gas_smell", "environment.greening"));
        assert!(may_learn("environment.greening", "safety.gas_smell"));
        assert!(!may_learn("property", "property"));
    }

    #[test]
    fn a_danger_is_told_from_a_repair() {
        let gas = SHIPPED.suggest("楼道里一股煤气味，很浓，怕是哪里漏气了");
        assert_eq!(gas[0].code, "safety.gas_smell", "{gas:?}");
        let lift = SHIPPED.suggest("3号楼电梯又停了，老人上不去");
        assert_eq!(lift[0].code, "repair.lift", "{lift:?}");
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(
            parse_examples("category\ttext\nrepair.water\t停水了\nno tab here\n"),
            Err("line 3: expected a category, a tab and a text".into())
        );
        assert_eq!(Classifier::default().suggest("停水"), vec![]);
        assert_eq!(SHIPPED.suggest("\u{200b}\u{feff} 🙂 hello"), vec![], "nothing it has seen: no suggestion");
    }

    #[test]
    fn a_correction_is_learnt() {
        let text = "小区东门的石墩子挡住了救护车";
        let mut model = Classifier::train([("repair.water", "停水三天了"), ("safety.fire_passage", "车堵住消防通道")]);
        let before = model.suggest(text).iter().find(|s| s.code == "safety.fire_passage").unwrap().confidence;
        model.learn("safety.fire_passage", text);
        let after = model.suggest(text).iter().find(|s| s.code == "safety.fire_passage").unwrap().confidence;
        assert!(after > before, "{before} -> {after}");
    }

    proptest! {
        /// The confidences are probabilities: each in [0, 1], summing to 1, the likeliest first.
        #[test]
        fn confidences_are_probabilities(text in "\\PC{0,60}") {
            let s = SHIPPED.suggest(&text);
            if s.is_empty() {
                prop_assert!(features(&text).iter().all(|f| !SHIPPED.counts.contains_key(f)), "no suggestion only for nothing seen");
                return Ok(());
            }
            prop_assert_eq!(s.len(), SHIPPED.classes().len());
            let sum: f64 = s.iter().map(|x| x.confidence).sum();
            prop_assert!((sum - 1.0).abs() < 1e-9);
            prop_assert!(s.windows(2).all(|w| w[0].confidence >= w[1].confidence));
            prop_assert!(s.iter().all(|x| (0.0..=1.0).contains(&x.confidence)));
        }
    }
}
