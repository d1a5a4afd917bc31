//! The public progress page of an estate, without sign-in, where the region publishes them: the
//! stage, what is being done, the money by payer, the photos. And the setting that turns it on.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huanxin_domain::reason;
use huanxin_store::public::PublicPage;
use serde::{Deserialize, Serialize};

/// Whether a region's estates have public progress pages.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicSetting {
    pub enabled: bool,
}

/// An estate's public page by its code (404 when its region does not publish pages).
#[utoipa::path(get, path = "/api/v1/public/estates/{code}", tag = "public", params(("code" = String, Path)),
    responses((status = 200, description = "the page"), (status = 404)))]
pub async fn page(State(st): State<AppState>, ApiPath(code): ApiPath<String>) -> Result<Json<PublicPage>, ApiError> {
    Ok(Json(st.db.public_page(&code).await?))
}

/// A photo shown on a public page.
#[utoipa::path(get, path = "/api/v1/public/estates/{code}/photos/{id}", tag = "public", params(("code" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "the image"), (status = 404)))]
pub async fn photo(State(st): State<AppState>, ApiPath((code, id)): ApiPath<(String, i64)>) -> Result<Response, ApiError> {
    let (content_type, bytes) = st.db.public_photo(&code, id).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600".to_string())], bytes).into_response())
}

/// Whether a region publishes progress pages (its own setting or the nearest enclosing one; off by default).
#[utoipa::path(get, path = "/api/v1/public-pages/{region}", tag = "public", params(("region" = String, Path)),
    responses((status = 200, body = PublicSetting), (status = 403, description = "the region is outside yours")))]
pub async fn setting(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(region): ApiPath<String>,
) -> Result<Json<PublicSetting>, ApiError> {
    let code = cu.region_in_scope(&region)?;
    Ok(Json(PublicSetting { enabled: st.db.public_pages_enabled(&code).await? }))
}

/// Turns public progress pages on or off for a region's estates.
#[utoipa::path(put, path = "/api/v1/public-pages/{region}", tag = "public", params(("region" = String, Path)),
    request_body = PublicSetting, responses((status = 200, body = PublicSetting), (status = 403)))]
pub async fn set_setting(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(region): ApiPath<String>,
    ApiJson(req): ApiJson<PublicSetting>,
) -> Result<Json<PublicSetting>, ApiError> {
    let code = cu.region_in_scope(&region)?;
    st.db.set_public_pages(&cu.actor(), &code, req.enabled).await?;
    Ok(Json(PublicSetting { enabled: st.db.public_pages_enabled(&code).await? }))
}

/// Publishing one estate's page: the choice, and that the user confirmed it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EstatePublish {
    pub enabled: bool,
    /// Publishing shows the estate's stage, works, costs and photos to anyone with the link: the
    /// user confirms it (`true`), or nothing changes.
    #[serde(default)]
    pub confirm: bool,
}

/// Whether this estate's progress page is published, and whether by its own choice or its region's default.
#[utoipa::path(get, path = "/api/v1/estates/{id}/public-page", tag = "public", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404)))]
pub async fn estate_state(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<huanxin_store::public::PublicState>, ApiError> {
    Ok(Json(st.db.estate_public_state(&cu.scope, id).await?))
}

/// Publishes or withdraws one estate's progress page (confirmed; audited).
#[utoipa::path(put, path = "/api/v1/estates/{id}/public-page", tag = "public", params(("id" = i64, Path)),
    request_body = EstatePublish, responses((status = 200, body = Object), (status = 403), (status = 422)))]
pub async fn set_estate_state(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<EstatePublish>,
) -> Result<Json<huanxin_store::public::PublicState>, ApiError> {
    if req.enabled && !req.confirm {
        return Err(ApiError::field("confirm", "false", reason!("public.confirm_publish")));
    }
    Ok(Json(st.db.set_estate_public(&cu.actor(), &cu.scope, id, req.enabled).await?))
}
