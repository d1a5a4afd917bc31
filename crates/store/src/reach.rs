//! Proof that a record lies in the caller's scope.
//!
//! Queries that read a record by its id without a scope of their own (an estate's lifecycle
//! facts, a decision's ballot chain, a survey's photos) take one of these instead of a bare id.
//! They are made only here, by a scoped lookup ([`Db::estate_in_scope`] and the like), so a
//! handler that forgot the scope check does not compile: the class "read by id, scope checked
//! by hand before (or not)" is closed for these queries.

use crate::{Db, StoreError};
use huanxin_domain::access::Scope;

/// An estate the caller's scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstateInScope(i64);

/// An owners' decision the caller's scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionInScope(i64);

/// A survey the caller's scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyInScope(i64);

impl EstateInScope {
    /// The estate's id.
    pub fn id(self) -> i64 {
        self.0
    }

    /// For the store's own work on an estate it has already reached.
    pub(crate) fn trusted(id: i64) -> Self {
        EstateInScope(id)
    }
}

impl DecisionInScope {
    /// The decision's id.
    pub fn id(self) -> i64 {
        self.0
    }

    /// For the store's own work (closing a vote, checking a backup) on a decision it has reached.
    pub(crate) fn trusted(id: i64) -> Self {
        DecisionInScope(id)
    }
}

impl SurveyInScope {
    /// The survey's id.
    pub fn id(self) -> i64 {
        self.0
    }
}

impl Db {
    /// The estate, if the scope reaches it (else not found).
    pub async fn estate_in_scope(&self, scope: &Scope, id: i64) -> Result<EstateInScope, StoreError> {
        self.get_estate(scope, id).await.map(|e| EstateInScope(e.id))
    }

    /// The estate and the proof that the scope reaches it, in one lookup.
    pub async fn reach_estate(&self, scope: &Scope, id: i64) -> Result<(crate::estates::Estate, EstateInScope), StoreError> {
        let e = self.get_estate(scope, id).await?;
        let reached = EstateInScope(e.id);
        Ok((e, reached))
    }

    /// The decision, if the scope reaches it (else not found).
    pub async fn decision_in_scope(&self, scope: &Scope, id: i64) -> Result<DecisionInScope, StoreError> {
        self.decision(scope, id).await.map(|d| DecisionInScope(d.id))
    }

    /// The survey, if the scope reaches it (else not found).
    pub async fn survey_in_scope(&self, scope: &Scope, id: i64) -> Result<SurveyInScope, StoreError> {
        self.survey(scope, id).await.map(|s| SurveyInScope(s.id))
    }
}
