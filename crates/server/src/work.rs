//! HTTP routes of 我的工作台: what waits for the signed-in user, and for the desks that watch
//! regions, their regions one level down.

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_store::work::{Caller, MyWork, RegionsWork};

/// What waits for the signed-in user today, most pressing first (late first, then by deadline,
/// then the longest waiting), with each kind's total; the kinds follow the user's role.
#[utoipa::path(get, path = "/api/v1/work", tag = "lifecycle",
    responses((status = 200, description = "today, role, kinds: [{kind, total}], items: [{kind, id, estate_id, estate_name, project_id, what, detail, since, due_on, days_left}]")))]
pub async fn mine(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<MyWork>, ApiError> {
    let caller = Caller { role: cu.role, scope: &cu.scope, username: &cu.user.username };
    Ok(Json(st.db.my_work(&caller, crate::lifecycle::calendar()?, huanxin_store::today()).await?))
}

/// The caller's region one level down: estates, this year's plan, starts and acceptances, and
/// late approvals, schedule nodes and rectification tasks in each.
#[utoipa::path(get, path = "/api/v1/work/regions", tag = "lifecycle",
    responses((status = 200, description = "today, year, region, rows: one per region one level down"), (status = 403)))]
pub async fn regions(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<axum::response::Response, ApiError> {
    let Scope::Region(region) = &cu.scope else {
        return Err(ApiError::Forbidden(reason!("work.regions_need_region")));
    };
    // Counted from the records (a country's take seconds), so kept as "what is late" is: a few
    // seconds, dropped at once when this server records a change to anything late.
    let today = huanxin_store::today();
    let body = st
        .late
        .kept_or(format!("{today}|w{}", region.as_str()), || async {
            let work: RegionsWork = st.db.regions_work(region, today).await?;
            serde_json::to_vec(&work).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    Ok(crate::late::json(body))
}
