//! Acceptance (竣工验收): who must sign before an estate's renovation counts as accepted, who may
//! sign for whom, and what is still missing. Residents' representatives sign too (广安).

use crate::access::Role;
use crate::reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// A party whose signature the acceptance needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signatory {
    Contractor,
    Supervisor,
    Designer,
    /// The housing bureau (county).
    Bureau,
    Street,
    Community,
    /// Residents' representatives.
    Residents,
}

impl Signatory {
    /// Every signatory, in the order the acceptance record lists them.
    pub const ALL: [Signatory; 7] = [
        Signatory::Contractor,
        Signatory::Supervisor,
        Signatory::Designer,
        Signatory::Bureau,
        Signatory::Street,
        Signatory::Community,
        Signatory::Residents,
    ];

    /// Those no acceptance may leave out: who built it, who supervised it, who pays for it, who lives there.
    pub const MANDATORY: [Signatory; 4] = [Signatory::Contractor, Signatory::Supervisor, Signatory::Bureau, Signatory::Residents];

    /// The API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Signatory::Contractor => "contractor",
            Signatory::Supervisor => "supervisor",
            Signatory::Designer => "designer",
            Signatory::Bureau => "bureau",
            Signatory::Street => "street",
            Signatory::Community => "community",
            Signatory::Residents => "residents",
        }
    }

    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            Signatory::Contractor => "施工单位",
            Signatory::Supervisor => "监理单位",
            Signatory::Designer => "设计单位",
            Signatory::Bureau => "住建部门",
            Signatory::Street => "街道",
            Signatory::Community => "社区",
            Signatory::Residents => "居民代表",
        }
    }

    /// Parses the API code.
    pub fn parse(s: &str) -> Option<Signatory> {
        Signatory::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// May an account with this role sign for this party?
    pub fn may_be_signed_by(self, role: Role) -> bool {
        match self {
            Signatory::Contractor => role == Role::Contractor,
            Signatory::Supervisor => role == Role::Supervisor,
            Signatory::Designer => role == Role::Designer,
            Signatory::Bureau => matches!(role, Role::CountyAdmin | Role::CountyStaff),
            Signatory::Street => role == Role::StreetStaff,
            Signatory::Community => role == Role::CommunityStaff,
            Signatory::Residents => role == Role::Resident,
        }
    }
}

/// An acceptance is opened for works being built or just completed (施工中, 已竣工), not for an
/// estate still being surveyed, planned or decided on.
pub fn may_open(status: crate::estates::EstateStatus) -> Result<(), crate::Reason> {
    use crate::estates::EstateStatus::{Completed, InConstruction};
    if matches!(status, InConstruction | Completed) {
        Ok(())
    } else {
        Err(reason!("acceptance.not_built_yet", stage = status.zh()))
    }
}

/// Checks the list of required signatories given when an acceptance is opened (empty: all of them).
pub fn required(codes: &[String]) -> Result<Vec<Signatory>, ValidationErrors> {
    if codes.is_empty() {
        return Ok(Signatory::ALL.to_vec());
    }
    let mut e = ValidationErrors::default();
    let mut out = Vec::new();
    for (i, c) in codes.iter().enumerate() {
        match Signatory::parse(c) {
            None => e.push(&format!("signatories[{i}]"), c, reason!("acceptance.not_signatory")),
            Some(s) if out.contains(&s) => e.push(&format!("signatories[{i}]"), c, reason!("field.listed_twice")),
            Some(s) => out.push(s),
        }
    }
    for m in Signatory::MANDATORY {
        if !out.contains(&m) {
            e.push("signatories", m.as_str(), reason!("acceptance.signs_every_acceptance"));
        }
    }
    out.sort();
    e.into_result(out)
}

/// Who chose a residents' representative.
pub const CHOSEN_BY: [&str; 2] = ["owners", "community"];

/// Checks who chose a representative: the owners (业主推选) or the community (社区推荐).
pub fn check_chosen_by(field: &str, v: &str) -> Result<(), ValidationErrors> {
    if CHOSEN_BY.contains(&v.trim()) {
        Ok(())
    } else {
        Err(ValidationErrors::one(field, v, reason!("acceptance.owners_or_community")))
    }
}

/// May this account sign for the party? Every party by its role; the residents only by the
/// representatives named on the acceptance (a resident's account alone says nothing of who the
/// owners chose).
pub fn may_sign(signatory: Signatory, role: Role, user_id: i64, representatives: &[i64]) -> bool {
    signatory.may_be_signed_by(role) && (signatory != Signatory::Residents || representatives.contains(&user_id))
}

/// The most a signature's note holds.
pub const MAX_NOTE_CHARS: usize = 500;

/// A signature's note: a party that does not accept says what is wrong (found by the new user's
/// trial: an empty "not accepted" replaced a signature and told nobody why).
pub fn check_signature(agree: bool, note: &str) -> Result<(), ValidationErrors> {
    let chars = note.trim().chars().count();
    if !agree && chars == 0 {
        return Err(ValidationErrors::one("note", "", reason!("acceptance.objection_needs_note")));
    }
    if chars > MAX_NOTE_CHARS {
        return Err(ValidationErrors::one("note", "…", reason!("field.at_most_chars", max = MAX_NOTE_CHARS)));
    }
    Ok(())
}

/// Naming the residents' representatives names at least one (an empty list is a form sent blank).
pub fn check_representatives(count: usize) -> Result<(), ValidationErrors> {
    if count == 0 {
        return Err(ValidationErrors::one("representatives", "", reason!("acceptance.representatives_required")));
    }
    Ok(())
}

/// The required parties without an agreeing signature, in record order.
pub fn missing(required: &[Signatory], agreed: &[Signatory]) -> Vec<Signatory> {
    required.iter().copied().filter(|r| !agreed.contains(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acceptance_is_opened_for_works_built_or_being_built() {
        use crate::estates::EstateStatus;
        let open: Vec<EstateStatus> = EstateStatus::ALL.into_iter().filter(|s| may_open(*s).is_ok()).collect();
        assert_eq!(open, [EstateStatus::InConstruction, EstateStatus::Completed]);
        assert_eq!(may_open(EstateStatus::Surveyed).unwrap_err().params, [("stage", "已普查".to_string())]);
    }
    use proptest::prelude::*;

    #[test]
    fn a_refusal_says_why_and_someone_is_named() {
        assert!(check_signature(true, "").is_ok());
        assert!(check_signature(false, "楼道扶手未装").is_ok());
        assert_eq!(check_signature(false, "  ").unwrap_err().0[0].code, "acceptance.objection_needs_note");
        assert!(check_signature(true, &"字".repeat(MAX_NOTE_CHARS + 1)).is_err());
        assert!(check_representatives(0).is_err() && check_representatives(1).is_ok());
    }

    #[test]
    fn only_named_representatives_sign_for_the_residents() {
        assert!(may_sign(Signatory::Residents, Role::Resident, 7, &[7, 9]));
        assert!(!may_sign(Signatory::Residents, Role::Resident, 8, &[7, 9]));
        assert!(!may_sign(Signatory::Residents, Role::CountyStaff, 7, &[7]));
        assert!(may_sign(Signatory::Contractor, Role::Contractor, 3, &[]));
        assert!(check_chosen_by("chosen_by", "owners").is_ok() && check_chosen_by("chosen_by", "me").is_err());
    }

    #[test]
    fn the_default_is_everyone_and_the_mandatory_cannot_be_left_out() {
        assert_eq!(required(&[]).unwrap().len(), 7);
        let codes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(required(&codes(&["residents", "bureau", "supervisor", "contractor"])).unwrap(), Signatory::MANDATORY.to_vec());
        let e = required(&codes(&["contractor", "painter", "contractor"])).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["signatories[1]", "signatories[2]", "signatories", "signatories", "signatories"]);
    }

    #[test]
    fn each_party_is_signed_by_its_own_role() {
        assert!(Signatory::Residents.may_be_signed_by(Role::Resident));
        assert!(!Signatory::Residents.may_be_signed_by(Role::CommunityStaff));
        assert!(Signatory::Bureau.may_be_signed_by(Role::CountyStaff));
        assert!(!Signatory::Bureau.may_be_signed_by(Role::Contractor));
        assert!(!Signatory::Contractor.may_be_signed_by(Role::Supervisor));
    }

    proptest! {
        #[test]
        fn nothing_is_missing_exactly_when_every_required_party_agreed(
            req in prop::sample::subsequence(Signatory::ALL.to_vec(), 0..=7),
            agreed in prop::sample::subsequence(Signatory::ALL.to_vec(), 0..=7),
        ) {
            let m = missing(&req, &agreed);
            prop_assert_eq!(m.is_empty(), req.iter().all(|r| agreed.contains(r)));
            prop_assert!(m.iter().all(|x| req.contains(x) && !agreed.contains(x)));
        }
    }
}
