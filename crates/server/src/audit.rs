//! The audit log over HTTP: browse and filter every change in the caller's region.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_store::audit::AuditFilter;

/// Audit records in the caller's region, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("entity" = Option<String>, Query), ("entity_id" = Option<String>, Query), ("username" = Option<String>, Query),
           ("action" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("page" = Option<i64>, Query), ("per_page" = Option<i64>, Query)),
    responses((status = 200), (status = 403)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (items, total) = st.db.audit_list(&cu.scope, &f).await?;
    Ok(Json(serde_json::json!({"items": items, "total": total})))
}
