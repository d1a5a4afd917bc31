//! User administration over HTTP: list, create, reset passwords, attach company accounts to estates.

use crate::auth::{check_password_strength, hash_password_off_thread, CurrentUser};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huanxin_domain::access::{can_manage_user, can_reset_password, scope_for, Role, Scope};
use huanxin_domain::estates::{mask_phone, valid_phone};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::ValidationErrors;
use huanxin_store::accounts::{NewUser, User};
use serde::Deserialize;

/// The roles, their levels, and whether the caller may create an account of each in their own
/// region (forms offer only those).
#[utoipa::path(get, path = "/api/v1/auth/roles", tag = "users", responses((status = 200)))]
pub async fn roles(Extension(cu): Extension<CurrentUser>) -> Json<Vec<serde_json::Value>> {
    let region = RegionCode::parse(&cu.user.region_code).ok();
    Json(
        Role::ALL
            .iter()
            .map(|r| {
                let may_create = region.as_ref().is_some_and(|rc| can_manage_user(cu.role, rc, *r, rc));
                serde_json::json!({"role": r.as_str(), "level": r.level(), "may_create": may_create})
            })
            .collect(),
    )
}

fn view(u: &User) -> serde_json::Value {
    serde_json::json!({"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
        "region_code": u.region_code, "phone": mask_phone(&u.phone), "active": u.active, "created_at": u.created_at})
}

/// Users in the administrator's region.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200), (status = 403)))]
pub async fn list(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let users = st.db.list_users(&cu.scope).await?;
    Ok(Json(users.iter().map(view).collect()))
}

/// The longest name an account shows.
pub const MAX_DISPLAY_NAME: usize = 64;

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub password: String,
    pub role: String,
    pub region_code: String,
    #[serde(default)]
    pub phone: String,
}

/// Creates an account with a role at or below the administrator's, inside their region.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201), (status = 403), (status = 409), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    let mut errs = ValidationErrors::default();
    let username = req.username.trim().to_string();
    if username.len() < 3 || username.len() > 40 || !username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        errs.push("username", &username, reason!("accounts.username_form"));
    }
    if req.display_name.trim().chars().count() > MAX_DISPLAY_NAME || req.display_name.contains(['\n', '\r', '\t']) {
        errs.push("display_name", &req.display_name, reason!("accounts.display_name_form", max_display_name = MAX_DISPLAY_NAME));
    }
    let role = Role::parse(&req.role);
    if role.is_none() {
        errs.push("role", &req.role, reason!("accounts.not_known_role"));
    }
    let region = RegionCode::parse(&req.region_code).map_err(|e| errs.push("region_code", &req.region_code, e)).ok();
    if !req.phone.trim().is_empty() && !valid_phone(&req.phone) {
        errs.push("phone", &req.phone, reason!("field.phone_form"));
    }
    if let Err(ApiError::Invalid(v)) = check_password_strength(&req.password) {
        errs.0.extend(v.0);
    }
    let (Some(role), Some(region)) = (role, region) else {
        return Err(ApiError::Invalid(errs));
    };
    if let Err(e) = scope_for(role, &region, 0) {
        errs.push("region_code", region.as_str(), e);
    }
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    if !can_manage_user(cu.role, &cu.user.region(), role, &region) {
        return Err(ApiError::Forbidden(reason!(
            "accounts.may_not_create",
            role = cu.role.as_str(),
            role2 = role.as_str(),
            region = region
        )));
    }
    let new = NewUser {
        username: username.clone(),
        display_name: if req.display_name.trim().is_empty() { username } else { req.display_name.trim().to_string() },
        password_hash: hash_password_off_thread(&req.password).await?,
        role,
        region,
        phone: req.phone.trim().to_string(),
    };
    let u = st.db.create_user(&cu.actor(), &new).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view(&u))).into_response())
}

async fn managed_user(st: &AppState, cu: &CurrentUser, id: i64) -> Result<User, ApiError> {
    let target = st.db.user_by_id(id).await?;
    let visible = match &cu.scope {
        Scope::Region(rc) => rc.contains(&target.region()),
        Scope::Attached { .. } => false,
    };
    if !visible {
        return Err(ApiError::NotFound);
    }
    if !can_manage_user(cu.role, &cu.user.region(), target.role(), &target.region()) {
        return Err(ApiError::Forbidden(reason!("accounts.above_your_role")));
    }
    Ok(target)
}

/// A new password.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    pub password: String,
}

/// Sets a user's password and ends their sessions.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = i64, Path)), request_body = NewPassword,
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub async fn set_password(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewPassword>,
) -> Result<axum::http::StatusCode, ApiError> {
    let target = managed_user(&st, &cu, id).await?;
    can_reset_password(cu.role, &cu.user.region(), target.role(), &target.region()).map_err(ApiError::Forbidden)?;
    check_password_strength(&req.password)?;
    st.db.set_password(&cu.actor(), target.id, &hash_password_off_thread(&req.password).await?).await?;
    crate::cluster::announce(&st, crate::cluster::Change::AccountChanged(target.id));
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// An estate to attach an account to.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Attach {
    pub estate_id: i64,
}

/// Attaches a company or resident account to an estate in the administrator's region.
#[utoipa::path(post, path = "/api/v1/users/{id}/estates", tag = "users", params(("id" = i64, Path)), request_body = Attach,
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub async fn attach_estate(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Attach>,
) -> Result<axum::http::StatusCode, ApiError> {
    let target = managed_user(&st, &cu, id).await?;
    if !target.role().is_attachment_scoped() {
        return Err(ApiError::field("role", &target.role, reason!("accounts.only_companies_attached")));
    }
    st.db
        .get_estate(&cu.scope, req.estate_id)
        .await
        .map_err(|_| ApiError::field("estate_id", req.estate_id, reason!("field.no_such_estate")))?;
    st.db.attach_user_to_estate(&cu.actor(), target.id, req.estate_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Usernames to name.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Comma-separated usernames (at most 200).
    pub usernames: String,
}

/// The names that accounts show, for the usernames records carry (who wrote, signed, answered):
/// accounts of the caller's line of regions only; residents show as 居民 except to the desks that
/// consult residents.
#[utoipa::path(get, path = "/api/v1/people", tag = "users", params(PeopleQuery), responses((status = 200), (status = 422)))]
pub async fn people(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiQuery(q): crate::error::ApiQuery<PeopleQuery>,
) -> Result<Json<Vec<huanxin_store::accounts::Person>>, ApiError> {
    let mut usernames: Vec<String> = q.usernames.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    usernames.sort();
    usernames.dedup();
    if usernames.len() > 200 {
        return Err(ApiError::field("usernames", usernames.len(), reason!("field.at_most", max = 200)));
    }
    let region = RegionCode::parse(&cu.user.region_code).map_err(|e| ApiError::field("region_code", &cu.user.region_code, e))?;
    let residents_by_name = cu.role.allows(huanxin_domain::access::Permission::ConsultResidents);
    Ok(Json(st.db.display_names(&region, &usernames, residents_by_name).await?))
}
