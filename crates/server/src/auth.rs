//! Accounts at the door: passwords, sessions and tokens, login throttling, and the one layer that
//! every API route passes through to learn who is calling, what they may do and where.

use crate::error::{ApiError, ApiJson};
use crate::AppState;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huanxin_domain::access::{scope_for, Permission, Role, Scope};
use huanxin_store::accounts::User;
use huanxin_store::audit::Actor;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hx_session";

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// Checks a password against a stored hash; a damaged hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// Rejects passwords too short to be safe.
pub fn check_password_strength(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::field("password", "", "must have at least 8 characters"));
    }
    Ok(())
}

/// A fresh random token (shown once) and the hash stored for it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// What is stored for a token: its SHA-256, so a leaked database holds no usable session.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The signed-in user of a request, with their role and scope.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub role: Role,
    pub scope: Scope,
    pub request_id: String,
}

impl CurrentUser {
    /// The user as an actor for the audit log.
    pub fn actor(&self) -> Actor {
        Actor { user_id: Some(self.user.id), username: self.user.username.clone(), request_id: self.request_id.clone() }
    }

    /// Refuses unless the role has the permission.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("{} may not {:?}", self.role.as_str(), p)))
        }
    }
}

pub(crate) fn bearer_or_cookie(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The layer every protected route passes through: it finds the user from the bearer token or the
/// session cookie, derives their scope, and refuses the request if there is none.
pub async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = bearer_or_cookie(req.headers()).ok_or(ApiError::Unauthenticated)?;
    let hash = token_hash(&token);
    let user = match st.sessions.get(&hash) {
        Some(u) => u,
        None => {
            let u = st.db.session_user(&hash).await?.ok_or(ApiError::Unauthenticated)?;
            st.sessions.put(hash, u.clone());
            u
        }
    };
    let role = user.role();
    let scope = scope_for(role, &user.region(), user.id).map_err(ApiError::Forbidden)?;
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    req.extensions_mut().insert(CurrentUser { user, role, scope, request_id });
    Ok(next.run(req).await)
}

/// A route layer that requires one permission of the signed-in user.
pub async fn require_permission(State(p): State<Permission>, req: Request, next: Next) -> Result<Response, ApiError> {
    let user = req.extensions().get::<CurrentUser>().ok_or(ApiError::Unauthenticated)?;
    user.require(p)?;
    Ok(next.run(req).await)
}

/// Signed-in users by session token hash, read from the database at most every few seconds per
/// session: a list request then costs one query instead of two. Signing out or changing a
/// password through this server drops entries at once; elsewhere (the CLI, another server on the
/// same PostgreSQL) it takes effect within [`SESSION_CACHE_TTL`].
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, (User, Instant)>>,
}

/// How long a session read from the database is trusted without reading it again.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(10);

impl SessionCache {
    fn get(&self, hash: &str) -> Option<User> {
        let map = self.entries.lock().ok()?;
        let (user, at) = map.get(hash)?;
        (at.elapsed() < SESSION_CACHE_TTL).then(|| user.clone())
    }

    fn put(&self, hash: String, user: User) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 50_000 {
                map.retain(|_, (_, at)| at.elapsed() < SESSION_CACHE_TTL);
            }
            map.insert(hash, (user, Instant::now()));
        }
    }

    /// Forgets one session (sign-out).
    pub fn forget(&self, hash: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(hash);
        }
    }

    /// Forgets every session of one user (password changed, account changed).
    pub fn forget_user(&self, user_id: i64) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, (u, _)| u.id != user_id);
        }
    }
}

/// Counts failed logins per user name and per address; too many in the window lock them out for a while.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_PER_USER: u32 = 5;
const MAX_PER_ADDRESS: u32 = 20;

impl LoginThrottle {
    pub(crate) fn check(&self, keys: &[(String, u32)]) -> Result<(), ApiError> {
        let map = self.failures.lock().map_err(|_| ApiError::Internal("throttle lock".into()))?;
        for (k, max) in keys {
            if let Some((n, since)) = map.get(k) {
                let age = since.elapsed();
                if *n >= *max && age < WINDOW {
                    return Err(ApiError::TooManyAttempts((WINDOW - age).as_secs().max(1)));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn fail(&self, keys: &[(String, u32)]) {
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 100_000 {
                map.retain(|_, (_, since)| since.elapsed() < WINDOW);
            }
            for (k, _) in keys {
                let e = map.entry(k.clone()).or_insert((0, Instant::now()));
                if e.1.elapsed() >= WINDOW {
                    *e = (0, Instant::now());
                }
                e.0 += 1;
            }
        }
    }

    fn succeed(&self, user_key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(user_key);
        }
    }
}

/// Sign-in request.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The signed-in user as the API shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub region_code: String,
    pub region_name: String,
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
}

/// Sign-in answer: the token for API use (the web gets the same as an HTTP-only cookie).
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: Me,
}

async fn me_of(st: &AppState, u: &User) -> Me {
    let role = u.role();
    let region_name = match huanxin_domain::regions::RegionCode::parse(&u.region_code) {
        Ok(rc) => st.db.region(&rc).await.map(|r| r.name).unwrap_or_default(),
        Err(_) => String::new(),
    };
    Me {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role.clone(),
        region_code: u.region_code.clone(),
        region_name,
        permissions: Permission::ALL.into_iter().filter(|p| role.allows(*p)).collect(),
    }
}

/// Signs in with user name and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 429)))]
pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let user_key = format!("u:{}", req.username.trim().to_lowercase());
    let keys = [(user_key.clone(), MAX_PER_USER), (format!("a:{}", addr.ip()), MAX_PER_ADDRESS)];
    st.throttle.check(&keys)?;
    let user = st.db.user_by_name(req.username.trim()).await?;
    let ok = match &user {
        Some(u) => u.active && verify_password(&req.password, &u.password_hash),
        None => {
            // Spend the same time as a real check, so timing does not reveal which names exist.
            let _ = verify_password(&req.password, &st.dummy_hash);
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        st.throttle.fail(&keys);
        return Err(ApiError::Unauthenticated);
    };
    st.throttle.succeed(&user_key);
    let (token, cookie) = start_session(&st, user.id, st.config.session_hours).await?;
    let body = LoginResponse { token, user: me_of(&st, &user).await };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Starts a session of `hours` for a user: the token (for API use) and the cookie that carries it.
pub(crate) async fn start_session(st: &AppState, user_id: i64, hours: i64) -> Result<(String, String), ApiError> {
    let (token, hash) = new_token();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    st.db.create_session(&hash, user_id, "web", &expires).await?;
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}", hours * 3600);
    Ok((token, cookie))
}

/// Signs out: the session ends and the cookie is cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(t) = bearer_or_cookie(&headers) {
        let hash = token_hash(&t);
        st.db.delete_session(&hash).await?;
        st.sessions.forget(&hash);
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], axum::http::StatusCode::NO_CONTENT).into_response())
}

/// The signed-in user, their role, region and permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401)))]
pub async fn me(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Json<Me> {
    Json(me_of(&st, &cu.user).await)
}
