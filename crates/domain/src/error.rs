//! Validation errors that name the field (and, for imports, the row) they concern.

use crate::reasons::Reason;
use serde::Serialize;
use std::collections::BTreeMap;

/// One rejected value: which field, what was given and why it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's API name (for imports, the column's header is added by the importer).
    pub field: String,
    /// The value as given, shortened, for the error table.
    pub value: String,
    /// Why it is refused: the stable code (see `reasons.json`).
    pub code: String,
    /// The values the reason names.
    pub params: BTreeMap<String, String>,
    /// Why it is refused, in plain English words.
    pub reason: String,
}

impl FieldError {
    /// A problem with a field, the value shortened for the error table.
    pub fn new(field: &str, value: impl ToString, reason: Reason) -> FieldError {
        let mut value = value.to_string();
        if value.chars().count() > 60 {
            value = value.chars().take(60).collect::<String>() + "…";
        }
        FieldError {
            field: field.to_string(),
            value,
            code: reason.code.to_string(),
            params: reason.params_map(),
            reason: reason.to_string(),
        }
    }
}

/// All the problems found in one input, so a user can fix them in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// Records one problem with a field.
    pub fn push(&mut self, field: &str, value: impl ToString, reason: Reason) {
        self.0.push(FieldError::new(field, value, reason));
    }

    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no problem was recorded, else the problems.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// A single-problem error.
    pub fn one(field: &str, value: impl ToString, reason: Reason) -> Self {
        let mut e = Self::default();
        e.push(field, value, reason);
        e
    }
}
