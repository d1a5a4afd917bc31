//! Residents' access: per-dwelling invitation codes printed on a sheet per building, bound once from
//! a phone; and whether the person binding is a registered owner.

use crate::decisions::RegisteredOwner;
use crate::reason;
use serde::Serialize;

/// The letters of a code: no 0/O, 1/I/L, so a code read off paper is typed right.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a code: 31^10 ≈ 8×10^14, far beyond guessing at the throttled rate.
pub const CODE_LEN: usize = 10;
/// Days a printed code stays valid.
pub const CODE_VALID_DAYS: i64 = 60;
/// Failed tries from one address within the window before further tries are refused.
pub const MAX_FAILED_TRIES: u32 = 10;

/// A code from random bytes (one byte per character; the modulo bias over 31 letters is immaterial
/// at this length).
pub fn code_from_bytes(bytes: &[u8; CODE_LEN]) -> String {
    bytes.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect()
}

/// A code as typed (spaces, dashes, lower case, O for 0 ...) in its canonical form, or `None` if it
/// cannot be a code.
pub fn normalize_code(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    (s.len() == CODE_LEN && s.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(s)
}

/// A code shown in groups for reading aloud and printing: ABCDE-FGHJK.
pub fn display_code(code: &str) -> String {
    if code.len() == CODE_LEN {
        format!("{}-{}", &code[..5], &code[5..])
    } else {
        code.to_string()
    }
}

/// Who the person binding is, as far as the registry can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Owner,
    Resident,
}

/// Does what a person typed at binding match a registered owner of the dwelling (their phone, or
/// for an owner registered without one, their name)? This is only a claim, shown to the clerk who
/// checks the property certificate: what a resident types never gives them an owner's standing
/// (and the vote). Standing as an owner comes from the text-message code to the registered mobile
/// or from a clerk's check against the certificate.
pub fn claims_owner(name: &str, phone: &str, owners: &[RegisteredOwner]) -> bool {
    let digits = |s: &str| s.chars().filter(|c| c.is_ascii_digit()).collect::<String>();
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    let (p, n) = (digits(phone), squash(name));
    owners.iter().any(|o| {
        let op = digits(&o.phone);
        (!p.is_empty() && !op.is_empty() && op == p) || (op.is_empty() && !n.is_empty() && squash(&o.name) == n)
    })
}

/// How an owner's standing was verified.
pub const VERIFIED_BY_SMS: &str = "sms";
pub const VERIFIED_BY_CERTIFICATE: &str = "certificate";

/// Checks the property certificate number a clerk records (不动产权证书号 / 房产证号): 4 to 60
/// characters on one line.
pub fn check_certificate(number: &str) -> Result<String, crate::ValidationErrors> {
    let n = number.trim();
    if n.chars().count() < 4 || n.chars().count() > 60 || n.chars().any(char::is_control) {
        return Err(crate::ValidationErrors::one("certificate_no", number, reason!("residents.certificate_required")));
    }
    Ok(n.to_string())
}

/// Digits of a phone one-time code, minutes it stays valid, wrong tries before it is void, and
/// seconds before another may be sent to the same number.
pub const OTP_LEN: usize = 6;
pub const OTP_VALID_MINUTES: i64 = 10;
pub const OTP_MAX_TRIES: i64 = 5;
pub const OTP_RESEND_SECONDS: i64 = 60;

/// A mainland mobile number as digits (`+86`, spaces and dashes dropped), or `None` if it is not one.
pub fn mobile(typed: &str) -> Option<String> {
    let digits: String = typed.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.strip_prefix("86").filter(|d| d.len() == 11).map(str::to_string).unwrap_or(digits);
    (digits.len() == 11 && digits.starts_with('1') && matches!(digits.as_bytes()[1], b'3'..=b'9')).then_some(digits)
}

/// A one-time code from a random number: six digits, leading zeros kept.
pub fn otp_from(n: u32) -> String {
    format!("{:06}", n % 1_000_000)
}

/// May another code be sent, `seconds_since_last` after the previous one?
pub fn may_resend(seconds_since_last: Option<i64>) -> bool {
    seconds_since_last.is_none_or(|s| s >= OTP_RESEND_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_codes_are_forgiving() {
        let code = code_from_bytes(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 30]);
        assert_eq!(code, "23456789AZ");
        assert_eq!(normalize_code("23456-789az"), Some(code.clone()));
        assert_eq!(normalize_code("2345 6789 A"), None);
        assert_eq!(normalize_code("0OOOOOOOOO"), None, "0 is not in the alphabet");
        assert_eq!(display_code(&code), "23456-789AZ");
    }

    #[test]
    fn claims_match_by_phone_then_name() {
        let owners = vec![
            RegisteredOwner { name: "王芳".into(), phone: "13900001111".into() },
            RegisteredOwner { name: "王 强".into(), phone: String::new() },
        ];
        assert!(claims_owner("王芳", "139-0000-1111", &owners));
        assert!(!claims_owner("王芳", "13700000000", &owners), "a name alone does not claim a phone-registered owner");
        assert!(claims_owner("王强", "", &owners));
        assert!(!claims_owner("", "", &owners));
        assert!(check_certificate("闽(2019)惠安县不动产权第0012345号").is_ok());
        assert!(check_certificate(" 12 ").is_err());
    }

    #[test]
    fn phones_and_one_time_codes() {
        assert_eq!(mobile("+86 139-0000-1111"), Some("13900001111".into()));
        assert_eq!(mobile("12900001111"), None);
        assert_eq!(mobile("0595-1234567"), None);
        assert_eq!(otp_from(42), "000042");
        assert_eq!(otp_from(4_294_967_295), "967295");
        assert!(may_resend(None) && may_resend(Some(60)) && !may_resend(Some(59)));
    }

    proptest! {
        #[test]
        fn every_generated_code_normalizes_to_itself(bytes in any::<[u8; CODE_LEN]>()) {
            let c = code_from_bytes(&bytes);
            prop_assert_eq!(normalize_code(&display_code(&c).to_lowercase()), Some(c));
        }
    }
}
