//! HTTP routes of the upkeep accounts: an estate's maintenance fund, money credited to it and spent from it.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use huanxin_domain::funds::{amount_field, RevenueKind};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use huanxin_store::funds::upkeep::{Spending, UpkeepAccount};
use serde::Deserialize;

/// Money credited to a maintenance fund.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreditRequest {
    /// deposit, parking, advertising or other.
    pub kind: String,
    /// Yuan, at most two decimals.
    pub amount: String,
    pub memo: String,
}

/// Money spent from a maintenance fund.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SpendRequest {
    /// Yuan, at most two decimals.
    pub amount: String,
    /// What it pays for.
    pub memo: String,
    pub payee: String,
    /// The owners' passed decision on using the fund.
    pub decision_id: Option<i64>,
    /// An emergency repair, paid before the owners decide.
    #[serde(default)]
    pub emergency: bool,
}

fn text_field(e: &mut ValidationErrors, field: &str, value: &str) {
    if value.trim().is_empty() || value.chars().count() > 200 {
        e.push(field, value, reason!("field.length", max = 200));
    }
}

/// An estate's maintenance fund: balance (from the ledger) and movements.
#[utoipa::path(get, path = "/api/v1/estates/{id}/upkeep", tag = "funds", params(("id" = i64, Path)), responses((status = 200, description = "the account")))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UpkeepAccount>, ApiError> {
    Ok(Json(st.db.upkeep(&cu.scope, id).await?))
}

/// Credits a deposit or public revenue (parking, advertising) to the fund.
#[utoipa::path(post, path = "/api/v1/estates/{id}/upkeep/credits", tag = "funds", params(("id" = i64, Path)), request_body = CreditRequest,
    responses((status = 201, description = "the account"), (status = 422)))]
pub async fn credit(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CreditRequest>,
) -> Result<(StatusCode, Json<UpkeepAccount>), ApiError> {
    let mut e = ValidationErrors::default();
    let kind = RevenueKind::parse(&req.kind);
    if kind.is_none() {
        e.push("kind", &req.kind, reason!("upkeep.revenue_kind"));
    }
    let amount = amount_field("amount", &req.amount, &mut e);
    text_field(&mut e, "memo", &req.memo);
    let (Some(kind), Some(amount), true) = (kind, amount, e.is_empty()) else { return Err(ApiError::Invalid(e)) };
    Ok((StatusCode::CREATED, Json(st.db.credit_upkeep(&cu.actor(), &cu.scope, id, kind, amount, req.memo.trim()).await?)))
}

/// Asks for a spending from the fund; a colleague approves it before it is paid (four eyes).
/// Refused at once (409, naming why) without the owners' passed decision on using the fund (unless
/// an emergency repair) or beyond its balance.
#[utoipa::path(post, path = "/api/v1/estates/{id}/upkeep/spendings", tag = "funds", params(("id" = i64, Path)), request_body = SpendRequest,
    responses((status = 201, description = "the account, with the spending waiting for approval"), (status = 409), (status = 422)))]
pub async fn spend(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SpendRequest>,
) -> Result<(StatusCode, Json<UpkeepAccount>), ApiError> {
    let mut e = ValidationErrors::default();
    let amount = amount_field("amount", &req.amount, &mut e);
    text_field(&mut e, "memo", &req.memo);
    text_field(&mut e, "payee", &req.payee);
    let (Some(amount), true) = (amount, e.is_empty()) else { return Err(ApiError::Invalid(e)) };
    let s = Spending { amount, memo: &req.memo, payee: &req.payee, decision_id: req.decision_id, emergency: req.emergency };
    Ok((StatusCode::CREATED, Json(st.db.request_upkeep_spending(&cu.actor(), &cu.scope, id, &s).await?)))
}

/// A decision on a spending asked for: a note is optional when approving, required when refusing.
#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
pub struct SpendingDecision {
    #[serde(default)]
    pub note: String,
}

/// Approves a spending a colleague asked for: written to the ledger, checked again against the
/// balance and the owners' decision. The one who asked (or whose password they set) may not.
#[utoipa::path(post, path = "/api/v1/upkeep-requests/{id}/approve", tag = "funds", params(("id" = i64, Path)), request_body = SpendingDecision,
    responses((status = 200, description = "the account"), (status = 404), (status = 409, description = "same hands, already decided, or no longer covered")))]
pub async fn approve(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SpendingDecision>,
) -> Result<Json<UpkeepAccount>, ApiError> {
    Ok(Json(st.db.decide_upkeep_spending(&cu.actor(), &cu.scope, id, true, &req.note).await?))
}

/// Refuses a spending asked for (the one who asked may withdraw it this way), saying why.
#[utoipa::path(post, path = "/api/v1/upkeep-requests/{id}/refuse", tag = "funds", params(("id" = i64, Path)), request_body = SpendingDecision,
    responses((status = 200, description = "the account"), (status = 404), (status = 409), (status = 422)))]
pub async fn refuse(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SpendingDecision>,
) -> Result<Json<UpkeepAccount>, ApiError> {
    Ok(Json(st.db.decide_upkeep_spending(&cu.actor(), &cu.scope, id, false, &req.note).await?))
}
