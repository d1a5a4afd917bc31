//! HTTP routes of residents' access: invitation codes per dwelling (a printable sheet with QR codes,
//! or a list for sending), binding a code from the phone (throttled), and "my dwellings".

use crate::auth::{bearer_or_cookie, token_hash, ClientAddr, CurrentUser, Throttle};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huanxin_domain::access::Role;
use huanxin_domain::reason;
use huanxin_domain::residents::{self as rules, CODE_LEN, MAX_FAILED_TRIES};
use huanxin_store::residents::{BindError, Binding, MyDwelling};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Which dwellings get codes: one building, or the whole estate.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct InvitationRequest {
    pub building_id: Option<i64>,
}

/// One issued code (shown once; only its hash is kept).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub dwelling_id: i64,
    pub building_number: String,
    pub stairwell: i64,
    pub number: String,
    pub code: String,
    pub link: String,
}

/// The issued codes and when they expire.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invitations {
    pub expires_at: String,
    pub invitations: Vec<Invitation>,
}

/// Binding from the phone: the code, and who is binding (the registry tells an owner by phone or name).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BindRequest {
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
}

/// The dwelling bound and all the resident's dwellings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BindResponse {
    pub token: String,
    #[schema(value_type = Object)]
    pub bound: MyDwelling,
    #[schema(value_type = Vec<Object>)]
    pub dwellings: Vec<MyDwelling>,
}

async fn issue(st: &AppState, cu: &CurrentUser, estate_id: i64, req: &InvitationRequest) -> Result<Invitations, ApiError> {
    let lines = st.db.sheet_lines(&cu.scope, estate_id, req.building_id).await?;
    if lines.is_empty() {
        return Err(ApiError::field(
            "building_id",
            req.building_id.map(|b| b.to_string()).unwrap_or_default(),
            reason!("residents.estate_without_dwellings"),
        ));
    }
    let base = st.config.public_base();
    let invitations: Vec<Invitation> = lines
        .into_iter()
        .map(|l| {
            let mut bytes = [0u8; CODE_LEN];
            rand::thread_rng().fill_bytes(&mut bytes);
            let code = rules::code_from_bytes(&bytes);
            Invitation {
                dwelling_id: l.dwelling_id,
                building_number: l.building_number,
                stairwell: l.stairwell,
                number: l.number,
                link: format!("{base}/m/#/bind?code={code}"),
                code: rules::display_code(&code),
            }
        })
        .collect();
    let hashes: Vec<(i64, String)> =
        invitations.iter().map(|i| (i.dwelling_id, token_hash(&rules::normalize_code(&i.code).unwrap_or_default()))).collect();
    let expires_at = st.db.issue_codes(&cu.actor(), &cu.scope, estate_id, &hashes).await?;
    Ok(Invitations { expires_at, invitations })
}

/// Issues fresh codes (earlier unused ones of the same dwellings stop working) and returns them as a
/// list, e.g. for sending by SMS.
#[utoipa::path(post, path = "/api/v1/estates/{id}/invitations", tag = "residents", params(("id" = i64, Path)),
    request_body = InvitationRequest, responses((status = 200, body = Invitations), (status = 403), (status = 422)))]
pub async fn invitations(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<InvitationRequest>,
) -> Result<Json<Invitations>, ApiError> {
    Ok(Json(issue(&st, &cu, id, &req).await?))
}

/// Issues fresh codes and returns the printable sheet: ten slips per A4 page with QR codes.
#[utoipa::path(post, path = "/api/v1/estates/{id}/invitations.pdf", tag = "residents", params(("id" = i64, Path)),
    request_body = InvitationRequest, responses((status = 200, description = "PDF", content_type = "application/pdf"), (status = 503)))]
pub async fn invitations_pdf(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<InvitationRequest>,
) -> Result<Response, ApiError> {
    // The font is checked first, so a server without one issues no codes that nobody can print.
    let font = crate::pdf::font(&st.config.pdf_font)?;
    let estate = st.db.get_estate(&cu.scope, id).await?;
    let issued = issue(&st, &cu, id, &req).await?;
    let slips: Vec<crate::pdf::Slip> = issued
        .invitations
        .iter()
        .map(|i| crate::pdf::Slip {
            heading: format!("{} 居民邀请码", estate.name),
            address: crate::pdf::slip_place(&i.building_number, i.stairwell),
            dwelling: format!("{}室", i.number.trim_end_matches('室')),
            code: i.code.clone(),
            link: i.link.clone(),
        })
        .collect();
    let note = format!("微信扫码或打开链接输入邀请码；仅可使用一次，{} 前有效", issued.expires_at.get(..10).unwrap_or(""));
    let title = format!("{} 居民邀请码", estate.name);
    let bytes = tokio::task::spawn_blocking(move || crate::pdf::slips_pdf(font, &title, &note, &slips))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(crate::estates::attachment(bytes, "application/pdf", &format!("邀请码-{id}.pdf")))
}

/// Binds an invitation code from the phone. Signed in as a resident, the dwelling is added to that
/// account; otherwise a resident account is made and signed in. Failed tries are throttled per address.
#[utoipa::path(post, path = "/api/v1/residents/bind", tag = "residents", request_body = BindRequest,
    responses((status = 200, body = BindResponse), (status = 409), (status = 422), (status = 429)))]
pub async fn bind(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BindRequest>,
) -> Result<Response, ApiError> {
    let keys = [(format!("code:{}", ip), MAX_FAILED_TRIES)];
    Throttle::check(&st.db, &keys).await?;
    if req.name.trim().is_empty() || req.name.chars().count() > 50 {
        return Err(ApiError::field("name", &req.name, reason!("field.length", max = 50)));
    }
    // The phone is optional (the clerk checks the claim), but a typed one must be a mobile number.
    let phone = match req.phone.trim() {
        "" => String::new(),
        typed => rules::mobile(typed).ok_or_else(|| ApiError::field("phone", &req.phone, reason!("residents.mobile_form")))?,
    };
    let Some(code) = rules::normalize_code(&req.code) else {
        Throttle::fail(&st.db, &keys).await?;
        let actor = huanxin_store::audit::Actor { user_id: None, username: format!("anonymous@{}", ip), request_id: String::new() };
        st.db.audit_refusal(&actor, "bind_refused", "invitation_code", String::new(), String::new(), "not a code").await?;
        return Err(ApiError::field("code", &req.code, reason!("residents.code_form", code_len = CODE_LEN)));
    };
    let signed_in = signed_in_resident(&st, &headers).await?;
    let username = new_resident_name();
    // A new resident's session is stored in the binding's own transaction (one commit, not two).
    let session = signed_in.is_none().then(|| crate::auth::new_session(&st, RESIDENT_SESSION_HOURS));
    let binding = Binding {
        code_hash: &token_hash(&code),
        user_id: signed_in.as_ref().map(|u| u.id),
        new_username: &username,
        name: &req.name,
        phone: &phone,
        session: session.as_ref().map(|s| (s.hash.as_str(), s.expires.as_str())),
    };
    let (bound, dwellings) = match st.db.bind_code(&binding).await {
        Ok(r) => r,
        Err(e) => {
            // Only a code that does not exist is a guess; a used or expired one was real (and a
            // phone retrying after a dropped answer must not lock its neighbours out).
            if matches!(e, BindError::Unknown) {
                Throttle::fail(&st.db, &keys).await?;
            }
            return Err(refuse_binding(&st, &ip, "invitation_code", e).await);
        }
    };
    let (token, cookie) = match session {
        Some(s) => (s.token, s.cookie),
        None => (bearer_or_cookie(&headers).unwrap_or_default(), String::new()),
    };
    answer_binding(token, cookie, bound, dwellings)
}

/// A phone asking for a one-time code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OtpRequest {
    pub phone: String,
}

/// A one-time code to spend, and the resident's name.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OtpVerify {
    pub phone: String,
    pub code: String,
    #[serde(default)]
    pub name: String,
}

/// Sends a one-time code by SMS to a mobile number registered for an owner. The answer is the same
/// whether or not the number is registered (it does not reveal who owns what); sends to one number
/// are spaced a minute apart and asks from one address are throttled.
#[utoipa::path(post, path = "/api/v1/residents/otp", tag = "residents", request_body = OtpRequest,
    responses((status = 202, description = "sent if the number is an owner's"), (status = 422), (status = 429), (status = 503)))]
pub async fn send_otp(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(req): ApiJson<OtpRequest>,
) -> Result<Response, ApiError> {
    let phone = rules::mobile(&req.phone).ok_or_else(|| ApiError::field("phone", &req.phone, reason!("residents.mobile_form")))?;
    // Every ask counts towards the address's limit, so numbers cannot be tried one after another.
    let keys = [(format!("otp:{}", ip), MAX_FAILED_TRIES * 2)];
    Throttle::check(&st.db, &keys).await?;
    Throttle::fail(&st.db, &keys).await?;
    let since = match st.db.otp_sent_at(&phone).await? {
        Some(at) => chrono::DateTime::parse_from_rfc3339(&at)
            .ok()
            .map(|t| (huanxin_store::clock::utc_now() - t.with_timezone(&chrono::Utc)).num_seconds()),
        None => None,
    };
    if !rules::may_resend(since) {
        return Err(ApiError::TooManyAttempts((rules::OTP_RESEND_SECONDS - since.unwrap_or(0)).max(1) as u64));
    }
    if !st.db.dwellings_owned_by_phone(&phone).await?.is_empty() {
        let code = rules::otp_from(rand::thread_rng().next_u32());
        st.db.store_otp(&phone, &token_hash(&code)).await?;
        st.sms.send(&phone, &format!("【焕新】您的验证码是 {code}，{} 分钟内有效。如非本人操作请忽略。", rules::OTP_VALID_MINUTES)).await?;
    }
    Ok((axum::http::StatusCode::ACCEPTED, Json(serde_json::json!({"resend_after_seconds": rules::OTP_RESEND_SECONDS}))).into_response())
}

/// Spends a one-time code: every dwelling whose registered owner has this number is bound to the
/// resident (signed in, or a new resident account that is signed in).
#[utoipa::path(post, path = "/api/v1/residents/otp/verify", tag = "residents", request_body = OtpVerify,
    responses((status = 200, body = BindResponse), (status = 409), (status = 422), (status = 429)))]
pub async fn verify_otp(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    ApiJson(req): ApiJson<OtpVerify>,
) -> Result<Response, ApiError> {
    let keys = [(format!("code:{}", ip), MAX_FAILED_TRIES)];
    Throttle::check(&st.db, &keys).await?;
    let phone = rules::mobile(&req.phone).ok_or_else(|| ApiError::field("phone", &req.phone, reason!("residents.mobile_form")))?;
    let code: String = req.code.chars().filter(|c| c.is_ascii_digit()).collect();
    if code.len() != rules::OTP_LEN {
        Throttle::fail(&st.db, &keys).await?;
        return Err(ApiError::field("code", &req.code, reason!("residents.otp_form")));
    }
    let signed_in = signed_in_resident(&st, &headers).await?;
    let username = new_resident_name();
    let name = if req.name.trim().is_empty() { format!("业主{}", &phone[7..]) } else { req.name.trim().to_string() };
    let (uid, dwellings) = match st.db.bind_by_phone(&phone, &token_hash(&code), signed_in.as_ref().map(|u| u.id), &username, &name).await {
        Ok(r) => r,
        Err(e) => {
            Throttle::fail(&st.db, &keys).await?;
            return Err(refuse_binding(&st, &ip, "phone_code", e).await);
        }
    };
    let bound = dwellings.first().cloned().ok_or(ApiError::NotFound)?;
    session_answer(&st, &headers, signed_in.is_some(), uid, bound, dwellings).await
}

async fn signed_in_resident(st: &AppState, headers: &HeaderMap) -> Result<Option<huanxin_store::accounts::User>, ApiError> {
    Ok(match bearer_or_cookie(headers) {
        Some(t) => st.db.session_user(&token_hash(&t)).await?.filter(|u| u.role == Role::Resident.as_str()),
        None => None,
    })
}

fn new_resident_name() -> String {
    let mut name_bytes = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut name_bytes);
    format!("r-{}", hex::encode(name_bytes))
}

/// Keeps a refused binding in the audit log (who tried from where, and why), then answers it.
async fn refuse_binding(st: &AppState, ip: &std::net::IpAddr, what: &str, e: BindError) -> ApiError {
    // A store failure (a busy database, a full disk) is not a refusal, and writing its audit record
    // would only wait for the same database again.
    if let BindError::Store(_) = e {
        return bind_error(e);
    }
    let actor = huanxin_store::audit::Actor { user_id: None, username: format!("anonymous@{}", ip), request_id: String::new() };
    let reason = e.to_string();
    if let Err(err) = st.db.audit_refusal(&actor, "bind_refused", what, String::new(), String::new(), &reason).await {
        tracing::warn!("cannot audit a refused binding: {err}");
    }
    bind_error(e)
}

fn bind_error(e: BindError) -> ApiError {
    match e {
        BindError::Store(s) => s.into(),
        other => ApiError::Conflict(other.reason()),
    }
}

/// How long a resident's session lasts: 30 days on their own phone.
const RESIDENT_SESSION_HOURS: i64 = 24 * 30;

/// The answer to a binding: the resident's dwellings, and a new 30-day session unless already signed in.
async fn session_answer(
    st: &AppState,
    headers: &HeaderMap,
    was_signed_in: bool,
    uid: i64,
    bound: MyDwelling,
    dwellings: Vec<MyDwelling>,
) -> Result<Response, ApiError> {
    let (token, cookie) = match (was_signed_in, bearer_or_cookie(headers)) {
        (true, Some(t)) => (t, String::new()),
        _ => crate::auth::start_session(st, uid, RESIDENT_SESSION_HOURS).await?,
    };
    answer_binding(token, cookie, bound, dwellings)
}

/// The binding's answer, with the session's cookie when one was started.
fn answer_binding(token: String, cookie: String, bound: MyDwelling, dwellings: Vec<MyDwelling>) -> Result<Response, ApiError> {
    let body = Json(BindResponse { token, bound, dwellings });
    if cookie.is_empty() {
        Ok(body.into_response())
    } else {
        Ok(([(header::SET_COOKIE, cookie)], body).into_response())
    }
}

/// The signed-in resident's dwellings.
#[utoipa::path(get, path = "/api/v1/residents/me", tag = "residents", responses((status = 200, description = "dwellings")))]
pub async fn me(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<MyDwelling>>, ApiError> {
    Ok(Json(st.db.my_dwellings(cu.user.id).await?))
}

/// Residents bound to the estate's dwellings, owners' claims to check first (phones are not shown).
#[utoipa::path(get, path = "/api/v1/estates/{id}/residents", tag = "residents", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 403), (status = 404)))]
pub async fn bound(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<huanxin_store::residents::BoundResident>>, ApiError> {
    Ok(Json(st.db.bound_residents(&cu.scope, id).await?))
}

/// A clerk's check of a bound resident against the property certificate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VerifyOwner {
    pub dwelling_id: i64,
    pub user_id: i64,
    /// The property certificate's number (不动产权证书号), as checked.
    pub certificate_no: String,
}

/// Makes a bound resident the dwelling's owner after the clerk checked the property certificate
/// (the other way to an owner's standing is the text-message code to the registered mobile).
#[utoipa::path(post, path = "/api/v1/estates/{id}/residents/verify", tag = "residents", params(("id" = i64, Path)),
    request_body = VerifyOwner, responses((status = 200, body = Object), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn verify_owner(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<VerifyOwner>,
) -> Result<Json<huanxin_store::residents::BoundResident>, ApiError> {
    let certificate = rules::check_certificate(&req.certificate_no)?;
    Ok(Json(st.db.verify_owner(&cu.actor(), &cu.scope, id, req.dwelling_id, req.user_id, &certificate).await?))
}
