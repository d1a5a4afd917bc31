//! Personal data found in what residents write freely (survey answers, requests): masked for anyone
//! who does not consult residents.
//!
//! What is detected, and how (plain scanning, no guessing beyond these rules):
//! - **Numbers**: any run of 7 or more digits, also when broken by spaces, dashes or dots and with a
//!   final X (mobile and landline numbers, 18-character ID numbers, bank cards); full-width digits
//!   count. The first three digits stay, the rest become `*`.
//! - **Known names**: the names the registry holds for the estate's owners and the respondents'
//!   names (two characters or more), wherever they appear; the surname stays, the rest becomes `*`.
//! - **Forms of address**: a Chinese character followed by 先生, 女士, 小姐, 阿姨, 师傅, 大爷, 大妈,
//!   奶奶 or 爷爷 (王先生, 李阿姨): the surname becomes `*`.
//!
//! A name that the registry does not hold and that is written without a form of address is not
//! found; that is why free text goes unmasked only to those who consult residents.

/// Forms of address that follow a surname.
const ADDRESS_FORMS: [&str; 9] = ["先生", "女士", "小姐", "阿姨", "师傅", "大爷", "大妈", "奶奶", "爷爷"];

/// Fewest digits in a run that is taken for a phone, ID or card number.
pub const MIN_DIGITS: usize = 7;

fn digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Masks numbers, known names and forms of address in `text` (see the module's rules).
pub fn mask_personal(text: &str, known_names: &[String]) -> String {
    let mut out = mask_numbers(text);
    let mut names: Vec<&str> = known_names.iter().map(|n| n.trim()).filter(|n| n.chars().count() >= 2).collect();
    // Longer names first, so "王小明" is masked whole before "王小" could be.
    names.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
    names.dedup();
    for name in names {
        let mut masked = String::new();
        for (i, c) in name.chars().enumerate() {
            masked.push(if i == 0 { c } else { '*' });
        }
        out = out.replace(name, &masked);
    }
    mask_forms_of_address(&out)
}

fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // A run: digits, with single separators between digits, and an X at the end (ID numbers).
        let mut j = i;
        let mut digits = 0;
        while j < chars.len() {
            if digit(chars[j]) {
                digits += 1;
                j += 1;
            } else if matches!(chars[j], ' ' | '-' | '.') && j + 1 < chars.len() && digit(chars[j + 1]) {
                j += 1;
            } else {
                break;
            }
        }
        if j < chars.len() && matches!(chars[j], 'X' | 'x') && digits >= 17 {
            j += 1;
        }
        if digits >= MIN_DIGITS {
            let mut kept = 0;
            for &c in &chars[i..j] {
                if digit(c) && kept < 3 {
                    out.push(c);
                    kept += 1;
                } else if digit(c) || matches!(c, 'X' | 'x') {
                    out.push('*');
                } else {
                    out.push(c);
                }
            }
        } else {
            out.extend(&chars[i..j]);
        }
        i = j;
    }
    out
}

fn mask_forms_of_address(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = chars.clone();
    for (i, c) in chars.iter().enumerate() {
        if !is_han(*c) {
            continue;
        }
        let rest: String = chars[i + 1..chars.len().min(i + 3)].iter().collect();
        if ADDRESS_FORMS.iter().any(|f| rest.starts_with(f)) && !ADDRESS_FORMS.iter().any(|f| f.starts_with(*c)) {
            out[i] = '*';
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phones_ids_and_names_are_masked() {
        let names = vec!["王芳".to_string(), "李建国".to_string()];
        assert_eq!(mask_personal("有事找我 13912345678", &names), "有事找我 139********");
        assert_eq!(mask_personal("电话 0595-87654321", &names), "电话 059*-********");
        assert_eq!(mask_personal("身份证350521199001011234", &[]), "身份证350***************");
        assert_eq!(mask_personal("身份证35052119900101123X", &[]), "身份证350***************");
        assert_eq!(mask_personal("问李建国和王芳", &names), "问李**和王*");
        assert_eq!(mask_personal("找张师傅或刘女士", &[]), "找*师傅或*女士");
        assert_eq!(mask_personal("１３９１２３４５６７８", &[]), "１３９********");
    }

    #[test]
    fn ordinary_text_stays() {
        assert_eq!(mask_personal("3号楼漏水，2024年修过 120 平方米", &[]), "3号楼漏水，2024年修过 120 平方米");
        assert_eq!(mask_personal("希望加装电梯", &["王".to_string()]), "希望加装电梯");
    }

    proptest! {
        #[test]
        fn no_run_of_seven_digits_survives(text in "[0-9a-z 号楼\\-]{0,40}") {
            let masked = mask_personal(&text, &[]);
            let mut run = 0;
            for c in masked.chars() {
                if c.is_ascii_digit() { run += 1; prop_assert!(run < MIN_DIGITS, "{masked}"); } else { run = 0; }
            }
            prop_assert_eq!(masked.chars().count(), text.chars().count());
        }
    }
}
