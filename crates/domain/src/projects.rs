//! Projects (项目): one or more estates renovated together, and the parties that do the work.

use crate::access::Role;
use crate::estates::valid_phone;
use crate::reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A project as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectInput {
    pub code: String,
    pub name: String,
    pub estate_ids: Vec<i64>,
}

/// Most estates one project may hold (a block renovated together, 片区改造).
pub const MAX_PROJECT_ESTATES: usize = 200;

impl ProjectInput {
    /// Checks every field; names each problem.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut e = ValidationErrors::default();
        let code = self.code.trim();
        if code.is_empty() || code.chars().count() > 40 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            e.push("code", code, reason!("projects.code_form"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            e.push("name", name, reason!("field.length", max = 100));
        }
        if self.estate_ids.is_empty() || self.estate_ids.len() > MAX_PROJECT_ESTATES {
            e.push("estate_ids", self.estate_ids.len(), reason!("projects.estate_count", max_project_estates = MAX_PROJECT_ESTATES));
        }
        let mut seen = HashSet::new();
        for (i, id) in self.estate_ids.iter().enumerate() {
            if !seen.insert(*id) {
                e.push(&format!("estate_ids[{i}]"), id, reason!("field.listed_twice"));
            }
        }
        e.into_result(())
    }
}

/// The parts a company plays in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    Designer,
    Contractor,
    Supervisor,
}

impl PartyRole {
    /// Parses the API code.
    pub fn parse(s: &str) -> Option<PartyRole> {
        match s {
            "designer" => Some(PartyRole::Designer),
            "contractor" => Some(PartyRole::Contractor),
            "supervisor" => Some(PartyRole::Supervisor),
            _ => None,
        }
    }

    /// The API and storage code.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyRole::Designer => "designer",
            PartyRole::Contractor => "contractor",
            PartyRole::Supervisor => "supervisor",
        }
    }

    /// The account role a company's user must have to act for it.
    pub fn account_role(self) -> Role {
        match self {
            PartyRole::Designer => Role::Designer,
            PartyRole::Contractor => Role::Contractor,
            PartyRole::Supervisor => Role::Supervisor,
        }
    }
}

/// A party as submitted: the company, its contact, and optionally the account that acts for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartyInput {
    pub role: String,
    pub company: String,
    pub contact: String,
    pub phone: String,
    pub user_id: Option<i64>,
}

impl PartyInput {
    /// Checks every field; gives the role.
    pub fn validate(&self) -> Result<PartyRole, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let role = PartyRole::parse(self.role.trim());
        if role.is_none() {
            e.push("role", &self.role, reason!("projects.party_kind"));
        }
        if self.company.trim().is_empty() || self.company.chars().count() > 100 {
            e.push("company", &self.company, reason!("field.length", max = 100));
        }
        if self.contact.chars().count() > 50 {
            e.push("contact", &self.contact, reason!("field.at_most_chars", max = 50));
        }
        if !self.phone.trim().is_empty() && !valid_phone(self.phone.trim()) {
            e.push("phone", &self.phone, reason!("field.phone_form"));
        }
        match (e.into_result(()), role) {
            (Ok(()), Some(r)) => Ok(r),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(ValidationErrors::one("role", &self.role, reason!("projects.party_kind"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_names_each_bad_field() {
        let p = ProjectInput { code: "bad code!".into(), name: String::new(), estate_ids: vec![1, 1] };
        let fields: Vec<String> = p.validate().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["code", "name", "estate_ids[1]"]);
        assert!(ProjectInput { code: "HA-2026-01".into(), name: "螺城片区".into(), estate_ids: vec![1, 2] }.validate().is_ok());
        assert!(ProjectInput { code: "X".into(), name: "n".into(), estate_ids: vec![] }.validate().is_err());
    }

    #[test]
    fn a_party_needs_a_known_role_and_a_real_phone() {
        let ok = PartyInput {
            role: "contractor".into(),
            company: "惠安建工".into(),
            contact: "王工".into(),
            phone: "13812345678".into(),
            user_id: None,
        };
        assert_eq!(ok.validate(), Ok(PartyRole::Contractor));
        let bad = PartyInput { role: "painter".into(), company: String::new(), phone: "123".into(), ..ok };
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["role", "company", "phone"]);
        assert_eq!(PartyRole::Supervisor.account_role(), Role::Supervisor);
    }
}
