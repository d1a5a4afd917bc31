//! Why something is refused, as a stable code with named parameters.
//!
//! Every refusal the system gives (a field's problem, a step refused, a permission missing) is a
//! [`Reason`]: a code such as `notice.start_in_past` and its parameters. The wording lives in one
//! catalogue, `reasons.json` next to this file, in English and Chinese; the API sends the code, the
//! parameters and the English sentence, the web and the CLI show the sentence in the user's
//! language from the same catalogue. A test checks that every code used in the source is in the
//! catalogue with both wordings and the same parameters, and that the catalogue holds no unused code.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::LazyLock;

/// A refusal: its stable code and the values its sentence names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The stable code, `area.what` (e.g. `notice.start_in_past`).
    pub code: &'static str,
    /// Named values, in the order given.
    pub params: Vec<(&'static str, String)>,
}

/// Builds a [`Reason`]: `reason!("funds.overspend", left = l, asked = a)`.
#[macro_export]
macro_rules! reason {
    ($code:literal $(, $name:ident = $value:expr)* $(,)?) => {
        $crate::reasons::Reason { code: $code, params: vec![$((stringify!($name), ($value).to_string())),*] }
    };
}

/// Gives a refusal type with a `reason()` method its `Display` (the English sentence) and `Error`.
#[macro_export]
macro_rules! refusal_display {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.reason(), f)
            }
        }
        impl ::std::error::Error for $t {}
    };
}

/// A language the catalogue speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Chinese when the locale (e.g. `LANG=zh_CN.UTF-8`) says so, else English.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Wording {
    pub en: String,
    pub zh: String,
}

/// The catalogue: every code's wording, and the terms a parameter may be translated by
/// (`{missing|party}` in a sentence names the `party` terms).
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    pub reasons: BTreeMap<String, Wording>,
    /// Chinese names of the values a parameter may hold (`party`, `role`, `status`, …).
    #[serde(default)]
    pub terms: BTreeMap<String, BTreeMap<String, String>>,
    /// The same in English (a value without one is shown as it is).
    #[serde(default)]
    pub terms_en: BTreeMap<String, BTreeMap<String, String>>,
}

impl Catalogue {
    /// The term lists of a language.
    pub fn terms_of(&self, lang: Lang) -> &BTreeMap<String, BTreeMap<String, String>> {
        if lang == Lang::Zh {
            &self.terms
        } else {
            &self.terms_en
        }
    }
}

/// The catalogue's source, as the web also reads it.
pub const CATALOGUE_JSON: &str = include_str!("reasons.json");

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    // The file is part of the build and checked by a test; a broken one shows codes, not a crash.
    serde_json::from_str(CATALOGUE_JSON).unwrap_or(Catalogue {
        reasons: BTreeMap::new(),
        terms: BTreeMap::new(),
        terms_en: BTreeMap::new(),
    })
});

/// The catalogue as loaded.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

impl Reason {
    /// A reason without parameters.
    pub const fn plain(code: &'static str) -> Reason {
        Reason { code, params: Vec::new() }
    }

    /// The value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The parameters as a map, for the API.
    pub fn params_map(&self) -> BTreeMap<String, String> {
        self.params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// The sentence in a language; an unknown code shows itself and its parameters.
    pub fn text(&self, lang: Lang) -> String {
        let cat = catalogue();
        match cat.reasons.get(self.code) {
            Some(w) => render(if lang == Lang::Zh { &w.zh } else { &w.en }, &self.params, lang, cat.terms_of(lang)),
            None => {
                let ps: Vec<String> = self.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                if ps.is_empty() {
                    self.code.to_string()
                } else {
                    format!("{} ({})", self.code, ps.join(", "))
                }
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

/// Compares the English sentence (for tests and callers that still match text).
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.text(Lang::En) == *other
    }
}

impl std::error::Error for Reason {}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Reason", 3)?;
        st.serialize_field("code", self.code)?;
        st.serialize_field("params", &self.params_map())?;
        st.serialize_field("reason", &self.text(Lang::En))?;
        st.end()
    }
}

/// Fills `{name}` and `{name|terms}` in a sentence. A `terms` filter names the value (or each of a
/// comma-separated list of values) by the language's term list; a value it lacks is shown as is.
pub fn render(template: &str, params: &[(&str, String)], lang: Lang, terms: &BTreeMap<String, BTreeMap<String, String>>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let slot = &after[..close];
        let (name, filter) = match slot.split_once('|') {
            Some((n, f)) => (n, Some(f)),
            None => (slot, None),
        };
        match params.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => match filter.and_then(|f| terms.get(f)) {
                Some(dict) => {
                    let parts: Vec<&str> = value.split(", ").collect();
                    let named: Vec<&str> = parts.iter().map(|p| dict.get(*p).map(String::as_str).unwrap_or(p)).collect();
                    out.push_str(&named.join(if lang == Lang::Zh { "、" } else { ", " }));
                }
                None => out.push_str(value),
            },
            None => {
                out.push('{');
                out.push_str(slot);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The parameter names a sentence uses, filters aside.
pub fn slots(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = after[..close].split('|').next().unwrap_or_default().to_string();
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[close + 1..];
    }
    names
}

/// Codes whose sentences disagree between the languages about which parameters they name.
pub fn mismatched_slots() -> Vec<String> {
    let mut bad = Vec::new();
    for (code, w) in &catalogue().reasons {
        let mut en = slots(&w.en);
        let mut zh = slots(&w.zh);
        en.sort();
        zh.sort();
        if en != zh {
            bad.push(code.clone());
        }
    }
    bad
}

/// A refusal already sent as code and parameters (a field error, an import row) in a language;
/// `fallback` (its English sentence) when the code is unknown.
pub fn localized(code: &str, params: &BTreeMap<String, String>, fallback: &str, lang: Lang) -> String {
    let cat = catalogue();
    match cat.reasons.get(code) {
        Some(w) => {
            let ps: Vec<(&str, String)> = params.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            render(if lang == Lang::Zh { &w.zh } else { &w.en }, &ps, lang, cat.terms_of(lang))
        }
        None => fallback.to_string(),
    }
}

/// Lookup of a code's wording, for tests and tools.
pub fn wording(code: &str) -> Option<&'static Wording> {
    catalogue().reasons.get(code)
}

/// All codes, for tools.
pub fn codes() -> HashMap<&'static str, &'static Wording> {
    catalogue().reasons.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_both_languages_name_the_same_parameters() {
        let cat: Catalogue = serde_json::from_str(CATALOGUE_JSON).expect("reasons.json parses");
        assert!(!cat.reasons.is_empty());
        assert_eq!(mismatched_slots(), Vec::<String>::new());
        for (code, w) in &cat.reasons {
            assert!(!w.en.trim().is_empty() && !w.zh.trim().is_empty(), "{code} lacks a wording");
            let mut parts = code.split('.');
            assert!(parts.next().is_some_and(|a| !a.is_empty()) && parts.next().is_some(), "{code} is not area.what");
        }
    }

    #[test]
    fn a_sentence_is_filled_in_either_language() {
        let r = reason!("field.between", min = 1, max = 9);
        assert_eq!(r.text(Lang::En), "must be between 1 and 9");
        assert_eq!(r.text(Lang::Zh), "应在 1 到 9 之间");
        assert_eq!(r.param("max"), Some("9"));
    }

    #[test]
    fn terms_name_each_value_of_a_list_in_the_language() {
        let mut terms = BTreeMap::new();
        terms.insert("party".to_string(), BTreeMap::from([("contractor".to_string(), "施工单位".to_string())]));
        let ps = [("missing", "contractor, street".to_string())];
        assert_eq!(render("尚未签字：{missing|party}", &ps, Lang::Zh, &terms), "尚未签字：施工单位、street");
        assert_eq!(render("not signed by: {missing|party}", &ps, Lang::En, &BTreeMap::new()), "not signed by: contractor, street");
        let r = reason!("lifecycle.out_of_order", to = "in_construction", from = "assessed", next = "ranked");
        assert_eq!(r.text(Lang::En), "in construction cannot follow assessed: the next step is ranked");
        assert_eq!(r.text(Lang::Zh), "已体检 之后不能直接到 施工中：下一步是 已排序");
    }

    #[test]
    fn an_unknown_code_shows_itself() {
        let r = reason!("nowhere.nothing", n = 3);
        assert_eq!(r.text(Lang::Zh), "nowhere.nothing (n=3)");
    }
}
