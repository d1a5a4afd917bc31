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
use huanxin_domain::reason;
use huanxin_store::accounts::User;
use huanxin_store::audit::Actor;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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

/// [`hash_password`] on the blocking pool (argon2 takes tens of milliseconds of CPU).
pub async fn hash_password_off_thread(password: &str) -> Result<String, ApiError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing stopped: {e}")))?
}

/// Rejects passwords too short to be safe.
pub fn check_password_strength(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::field("password", "", reason!("auth.password_too_short")));
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

/// The client's address: the connection's, or, when the connection comes from a trusted proxy
/// (`trusted_proxies`), the nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
/// A client behind no trusted proxy cannot choose its address by sending the header.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::Internal("no connection address".into()))?;
        let proxies = trusted_proxies(&st.config.trusted_proxies);
        Ok(ClientAddr(client_ip(peer, &parts.headers, &proxies)))
    }
}

/// The trusted proxies of the setting: addresses and CIDR blocks; what does not parse is left out.
pub fn trusted_proxies(setting: &str) -> Vec<(IpAddr, u8)> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let (ip, bits) = s.split_once('/').unwrap_or((s, ""));
            let ip: IpAddr = ip.trim().parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() { max } else { bits.trim().parse::<u8>().ok().filter(|b| *b <= max)? };
            Some((ip, bits))
        })
        .collect()
}

fn in_block(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The client of a connection from `peer` carrying `headers`, given the trusted proxies.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[(IpAddr, u8)]) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|b| in_block(ip, *b));
    if !trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded.into_iter().rev().find(|ip| !trusted(*ip)).unwrap_or(peer)
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
            Err(ApiError::Forbidden(reason!("auth.may_not", role = self.role.as_str(), permission = p.as_code())))
        }
    }

    /// A region whose settings (menu, checklists) the user may read: their own, one within it, or
    /// one enclosing it (the rules it inherits); another county's is refused (403). Users attached
    /// to estates read by the region of their account (their county).
    pub fn region_readable(&self, region: &str) -> Result<huanxin_domain::regions::RegionCode, ApiError> {
        use huanxin_domain::regions::RegionCode;
        let code = RegionCode::parse(region).map_err(|e| ApiError::field("region", region, e))?;
        let own = RegionCode::parse(&self.user.region_code).map_err(|e| ApiError::Internal(format!("account region: {e}")))?;
        if own.contains(&code) || code.contains(&own) {
            Ok(code)
        } else {
            Err(ApiError::Forbidden(reason!("field.region_outside", region = region)))
        }
    }

    /// The region a path names, refused (403) unless it lies within the user's region; users
    /// attached to estates have no region of their own.
    pub fn region_in_scope(&self, region: &str) -> Result<huanxin_domain::regions::RegionCode, ApiError> {
        let code = huanxin_domain::regions::RegionCode::parse(region).map_err(|e| ApiError::field("region", region, e))?;
        if self.scope.covers(&code) {
            Ok(code)
        } else {
            Err(ApiError::Forbidden(reason!("field.region_outside", region = region)))
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

/// True while the session of `hash` is open and still `user_id`'s (a long-lived stream asks now
/// and then: a sign-out or a disabled account ends it). A database that does not answer keeps it.
pub(crate) async fn still_signed_in(st: &AppState, hash: &str, user_id: i64) -> bool {
    match st.db.session_user(hash).await {
        Ok(found) => found.is_some_and(|u| u.id == user_id),
        Err(_) => true,
    }
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

    /// Forgets every session (another server's changes may have been missed).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    /// Forgets every session of one user (password changed, account changed).
    pub fn forget_user(&self, user_id: i64) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, (u, _)| u.id != user_id);
        }
    }
}

/// Failed tries are kept in the database per key (see the store's `throttle_*`), so a restart or
/// another server shares them. Each key has its free tries; after them it waits, doubling.
pub struct Throttle;

/// Free wrong passwords for one account from one address, and for one address over all accounts.
const FREE_PER_ACCOUNT_AND_ADDRESS: u32 = 3;
const FREE_PER_ADDRESS: u32 = 20;

impl Throttle {
    /// Refuses (429 with the wait) while any of the keys waits.
    pub(crate) async fn check(db: &huanxin_store::Db, keys: &[(String, u32)]) -> Result<(), ApiError> {
        for (k, _) in keys {
            let wait = db.throttle_wait(k).await?;
            if wait > 0 {
                return Err(ApiError::TooManyAttempts(wait));
            }
        }
        Ok(())
    }

    /// Counts a failed try against every key.
    pub(crate) async fn fail(db: &huanxin_store::Db, keys: &[(String, u32)]) -> Result<(), ApiError> {
        for (k, free) in keys {
            db.throttle_fail(k, *free).await?;
        }
        Ok(())
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
    /// An administrator (another account) set the password: the user should set their own.
    pub must_set_password: bool,
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
        must_set_password: role != Role::Resident
            && !u.password_set_by.is_empty()
            && u.password_set_by != u.username
            && st.db.user_by_name(&u.password_set_by).await.ok().flatten().is_some(),
    }
}

/// Signs in with user name and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 429)))]
pub async fn login(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // Throttled per account and address, so a stranger elsewhere cannot lock the county admin out,
    // and per address over all accounts, so one address cannot try many.
    let user_key = format!("login:{}|{ip}", req.username.trim().to_lowercase());
    let keys = [(user_key.clone(), FREE_PER_ACCOUNT_AND_ADDRESS), (format!("login:{ip}"), FREE_PER_ADDRESS)];
    Throttle::check(&st.db, &keys).await?;
    let user = st.db.user_by_name(req.username.trim()).await?;
    // Spend the same time on an unknown name as on a real check, so timing does not reveal which
    // names exist; argon2 runs on the blocking pool, not an async worker.
    let (active, stored) = match &user {
        Some(u) => (u.active, u.password_hash.clone()),
        None => (false, st.dummy_hash.to_string()),
    };
    let password = req.password.clone();
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|e| ApiError::Internal(format!("password check stopped: {e}")))?;
    let ok = user.is_some() && active && matches;
    let Some(user) = user.filter(|_| ok) else {
        Throttle::fail(&st.db, &keys).await?;
        return Err(ApiError::WrongCredentials);
    };
    st.db.throttle_clear(&user_key).await?;
    let (token, cookie) = start_session(&st, user.id, st.config.session_hours).await?;
    let body = LoginResponse { token, user: me_of(&st, &user).await };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// A session about to start: the token (for API use), the hash stored, when it ends, and the
/// cookie that carries it.
pub(crate) struct NewSession {
    pub token: String,
    pub hash: String,
    pub expires: String,
    pub cookie: String,
}

/// Makes a session of `hours`, to be stored with [`huanxin_store::Db::create_session`] or inside
/// the transaction that creates its user (a binding).
pub(crate) fn new_session(st: &AppState, hours: i64) -> NewSession {
    let (token, hash) = new_token();
    let expires = (huanxin_store::clock::utc_now() + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{}", hours * 3600, secure(st));
    NewSession { token, hash, expires, cookie }
}

/// Starts a session of `hours` for a user: the token (for API use) and the cookie that carries it.
pub(crate) async fn start_session(st: &AppState, user_id: i64, hours: i64) -> Result<(String, String), ApiError> {
    let s = new_session(st, hours);
    st.db.create_session(&s.hash, user_id, "web", &s.expires).await?;
    Ok((s.token, s.cookie))
}

/// The cookie's `Secure` attribute when the server is reached over HTTPS.
fn secure(st: &AppState) -> &'static str {
    if st.config.behind_https {
        "; Secure"
    } else {
        ""
    }
}

/// Signs out: the session ends and the cookie is cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(t) = bearer_or_cookie(&headers) {
        let hash = token_hash(&t);
        st.db.delete_session(&hash).await?;
        crate::cluster::announce(&st, crate::cluster::Change::SessionEnded(hash.clone()));
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{}", secure(&st));
    Ok(([(header::SET_COOKIE, cookie)], axum::http::StatusCode::NO_CONTENT).into_response())
}

/// A user's own new password, with the one in use.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct OwnPassword {
    pub current: String,
    pub password: String,
}

/// Sets one's own password (then every session of the account ends: sign in again). Until they do,
/// an account whose password an administrator set is not that administrator's second pair of eyes.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = OwnPassword,
    responses((status = 204), (status = 403), (status = 422)))]
pub async fn change_own_password(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<OwnPassword>,
) -> Result<axum::http::StatusCode, ApiError> {
    if cu.role == huanxin_domain::access::Role::Resident {
        return Err(ApiError::Forbidden(reason!("auth.residents_sign_in_by_code")));
    }
    let stored = st.db.user_by_id(cu.user.id).await?.password_hash;
    let current = req.current.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &stored))
        .await
        .map_err(|e| ApiError::Internal(format!("password check stopped: {e}")))?;
    if !ok {
        return Err(ApiError::field("current", "", reason!("auth.wrong_current_password")));
    }
    check_password_strength(&req.password)?;
    if req.password == req.current {
        return Err(ApiError::field("password", "", reason!("auth.password_unchanged")));
    }
    let hash = hash_password_off_thread(&req.password).await?;
    st.db.set_password(&cu.actor(), cu.user.id, &hash).await?;
    crate::cluster::announce(&st, crate::cluster::Change::AccountChanged(cu.user.id));
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The signed-in user, their role, region and permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401)))]
pub async fn me(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Json<Me> {
    Json(me_of(&st, &cu.user).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_named_only_by_a_trusted_proxy() {
        let proxies = trusted_proxies("127.0.0.1, 10.0.0.0/8, nonsense");
        assert_eq!(proxies.len(), 2);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.1.2.3".parse().unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From a trusted proxy: the nearest address that is not a proxy (the first is the client's word only).
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &proxies), ip("203.0.113.9"));
        // From anyone else the header means nothing.
        assert_eq!(client_ip(ip("192.0.2.5"), &h, &proxies), ip("192.0.2.5"));
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &proxies), ip("127.0.0.1"));
    }
}
