//! Every `reason!` in the source names a code of the catalogue with exactly the parameters its
//! sentences use, and the catalogue holds no code the source does not use: a new refusal cannot
//! reach a user untranslated, and a renamed parameter cannot leave a `{hole}` in a sentence.

use huanxin_domain::reasons::{catalogue, slots};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The characters of a text that lie outside string literals, with their byte offsets.
fn outside_strings(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let (mut in_str, mut escaped) = (false, false);
    text.char_indices().filter(move |&(_, c)| {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            false
        } else if c == '"' {
            in_str = true;
            false
        } else {
            true
        }
    })
}

/// The code and parameter names of every `reason!(...)` in a text.
fn uses(text: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("reason!(") {
        let body = &rest[at + "reason!(".len()..];
        let mut depth = 1usize;
        let mut end = body.len();
        for (i, c) in outside_strings(body) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &body[..end];
        rest = &body[end..];
        let Some(code) = args.trim_start().strip_prefix('"').and_then(|s| s.split('"').next()) else {
            continue; // the macro's own definition
        };
        // Top-level `name = value` pairs.
        let mut names = BTreeSet::new();
        let (mut depth, mut start) = (0usize, 0usize);
        let mut parts = Vec::new();
        for (i, c) in outside_strings(args) {
            match c {
                '(' | '[' | '{' | '<' => depth += 1,
                ')' | ']' | '}' | '>' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(&args[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&args[start..]);
        for p in parts.iter().skip(1) {
            if let Some((name, _)) = p.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                    names.insert(name.to_string());
                }
            }
        }
        out.push((code.to_string(), names));
    }
    out
}

fn walk(dir: &Path, found: &mut Vec<(String, String, BTreeSet<String>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("reason_codes.rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (code, names) in uses(&text) {
                found.push((path.display().to_string(), code, names));
            }
        }
    }
}

#[test]
fn every_reason_in_the_source_is_in_the_catalogue_with_its_parameters() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    walk(&crates, &mut found);
    assert!(found.len() > 300, "the scan found only {} reasons; is it looking in the right place?", found.len());
    let cat = catalogue();
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for (file, code, names) in &found {
        // The catalogue's own test of an unknown code.
        if code.starts_with("nowhere.") {
            continue;
        }
        used.insert(code.clone());
        match cat.reasons.get(code) {
            None => problems.push(format!("{file}: {code} is not in reasons.json")),
            Some(w) => {
                let wanted: BTreeSet<String> = slots(&w.en).into_iter().collect();
                if &wanted != names {
                    problems.push(format!("{file}: {code} is given {names:?} but its sentence names {wanted:?}"));
                }
            }
        }
    }
    for code in cat.reasons.keys() {
        if !used.contains(code) {
            problems.push(format!("reasons.json: {code} is used nowhere"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_term_list_a_sentence_names_exists() {
    let cat = catalogue();
    let mut missing = BTreeMap::new();
    for (code, w) in &cat.reasons {
        for (sentence, lists) in [(&w.zh, &cat.terms), (&w.en, &cat.terms_en)] {
            for slot in sentence.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                if let Some((_, terms)) = slot.split_once('|') {
                    if !lists.contains_key(terms) {
                        missing.insert(code.clone(), terms.to_string());
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "sentences name term lists that do not exist: {missing:?}");
}

#[test]
fn the_scan_reads_names_and_skips_values() {
    let found = uses(r#"x(reason!("nowhere.a", min = f(1, 2), max = "a, b = c")); reason!("nowhere.c")"#);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0, "nowhere.a");
    assert_eq!(found[0].1, BTreeSet::from(["min".to_string(), "max".to_string()]));
    assert!(found[1].1.is_empty());
}
