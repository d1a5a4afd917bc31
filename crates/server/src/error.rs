//! The HTTP error type: every failure becomes an `application/problem+json` body naming the field.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use huanxin_domain::{reason, FieldError, Reason, ValidationErrors};
use huanxin_store::estates::RowError;
use huanxin_store::StoreError;
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything a handler can fail with; mapped to a status code in one place, [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("sign in first")]
    Unauthenticated,
    /// A sign-in with a wrong name or password (never told apart).
    #[error("wrong user name or password")]
    WrongCredentials,
    #[error("your role may not do this: {0}")]
    Forbidden(Reason),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(Reason),
    #[error("{0}")]
    BadRequest(Reason),
    #[error("invalid input")]
    Invalid(ValidationErrors),
    #[error("the file has errors; nothing was imported")]
    ImportRejected(Vec<RowError>),
    #[error("{0}")]
    TooLarge(Reason),
    /// A body that arrived too slowly, or stopped arriving.
    #[error("{0}")]
    TooSlow(Reason),
    #[error("too many attempts; try again in {0} seconds")]
    TooManyAttempts(u64),
    #[error("{0}")]
    TooMany(Reason),
    #[error("internal error")]
    Internal(String),
    /// Something this server lacks (e.g. a font for PDF); the message says what to install.
    #[error("{0}")]
    Unavailable(Reason),
    /// The server's disk is full (or cannot be written): nothing of the change was saved.
    #[error("磁盘已满，本次修改未保存，请联系管理员清理服务器磁盘后重试 (the server's disk is full: nothing of this change was saved)")]
    DiskFull,
    /// The database is held by someone else for now: nothing was saved, try again shortly.
    #[error("服务器正忙，本次修改未保存，请稍后重试 (the database is busy: nothing of this change was saved; try again)")]
    Busy,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    /// The stable code of what went wrong (see `reasons.json`); field errors carry their own.
    code: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, String>,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rows: Vec<RowError>,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated | ApiError::WrongCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::ImportRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyAttempts(_) | ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// A single-field validation error.
    pub fn field(field: &str, value: impl ToString, reason: Reason) -> ApiError {
        ApiError::Invalid(ValidationErrors::one(field, value, reason))
    }

    /// The problem's stable code and parameters.
    pub fn reason(&self) -> Reason {
        match self {
            ApiError::Unauthenticated => reason!("auth.sign_in_first"),
            ApiError::WrongCredentials => reason!("auth.wrong_credentials"),
            ApiError::Forbidden(r) => reason!("auth.forbidden", why = r),
            ApiError::NotFound => reason!("request.not_found"),
            ApiError::Conflict(r)
            | ApiError::BadRequest(r)
            | ApiError::TooLarge(r)
            | ApiError::TooSlow(r)
            | ApiError::Unavailable(r)
            | ApiError::TooMany(r) => r.clone(),
            ApiError::Invalid(_) => reason!("request.invalid"),
            ApiError::ImportRejected(_) => reason!("import.rejected"),
            ApiError::TooManyAttempts(secs) => reason!("auth.too_many_attempts", seconds = secs),
            ApiError::Internal(_) => reason!("server.internal"),
            ApiError::DiskFull => reason!("server.disk_full"),
            ApiError::Busy => reason!("server.busy"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error");
        }
        let (errors, rows) = match &self {
            ApiError::Invalid(v) => (v.0.clone(), vec![]),
            ApiError::ImportRejected(r) => (vec![], r.clone()),
            _ => (vec![], vec![]),
        };
        let detail = match &self {
            ApiError::Invalid(v) => v.0.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "),
            other => other.to_string(),
        };
        let reason = match &self {
            // A forbidden call names the rule it broke; the wrapper adds nothing a user needs.
            ApiError::Forbidden(r) => r.clone(),
            other => other.reason(),
        };
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("error"),
            status: status.as_u16(),
            code: reason.code,
            params: reason.params_map(),
            detail,
            errors,
            rows,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (status, [(header::CONTENT_TYPE, "application/problem+json")], json).into_response();
        let retry_after = match self {
            ApiError::TooManyAttempts(secs) => Some(secs),
            ApiError::Busy => Some(1),
            _ => None,
        };
        if let Some(v) = retry_after.and_then(|secs| secs.to_string().parse().ok()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Duplicate(m) => ApiError::Conflict(reason!("store.duplicate", what = m)),
            StoreError::Conflict(r) => ApiError::Conflict(r),
            StoreError::MissingReference(m) => ApiError::field("reference", "", reason!("store.missing_reference", what = m)),
            StoreError::Invalid(v) => ApiError::Invalid(v),
            StoreError::DiskFull(m) => {
                tracing::error!(error = %m, "a write failed: disk full or I/O error");
                ApiError::DiskFull
            }
            StoreError::Busy(m) => {
                tracing::warn!(error = %m, "a write found the database busy");
                ApiError::Busy
            }
            StoreError::FileStore(m) => {
                tracing::error!(error = %m, "the file store cannot be reached");
                ApiError::Unavailable(reason!("files.unreachable"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<huanxin_store::alarms::AlarmError> for ApiError {
    fn from(e: huanxin_store::alarms::AlarmError) -> Self {
        match e {
            huanxin_store::alarms::AlarmError::Refused(r) => ApiError::Conflict(r.reason()),
            huanxin_store::alarms::AlarmError::Store(e) => e.into(),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let text = r.body_text();
        match r {
            JsonRejection::JsonDataError(_) => {
                // axum reports the path of the failing field: "…target type: build_year: invalid type…".
                let detail = text.split_once("target type: ").map(|(_, d)| d.to_string()).unwrap_or(text);
                match detail.split_once(": ") {
                    // A form left empty sends null: that is a missing value, not a type puzzle.
                    Some((field, why)) if !field.contains(' ') && why.starts_with("invalid type: null") => {
                        ApiError::field(field, "", reason!("field.required"))
                    }
                    Some((field, why)) if !field.contains(' ') => ApiError::field(field, "", reason!("request.json_field", detail = why)),
                    _ => ApiError::field("body", "", reason!("request.json_field", detail = detail)),
                }
            }
            JsonRejection::BytesRejection(_) => ApiError::TooLarge(reason!("request.too_large", detail = text)),
            _ => ApiError::BadRequest(reason!("request.bad_json", detail = text)),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let detail = text.split_once("query string: ").map(|(_, d)| d.to_string()).unwrap_or(text);
        match detail.split_once(": ") {
            Some((field, why)) if !field.contains(' ') => ApiError::field(field, "", reason!("request.query_field", detail = why)),
            _ => ApiError::field("query", "", reason!("request.query_field", detail = detail)),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest(reason!("request.bad_path", detail = r.body_text()))
    }
}

/// JSON body extractor whose rejections are problem+json naming the field. Every text in the body
/// is checked before the handler sees it: no control characters (line breaks and tabs aside) and
/// at most [`MAX_TEXT_CHARS`] characters, so no field anywhere takes a NUL or ten megabytes.
pub struct ApiJson<T>(pub T);

/// The longest text any JSON field takes (a notice's body); shorter limits are the fields' own.
pub const MAX_TEXT_CHARS: usize = 20_000;

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().ends_with("json")));
        if !is_json {
            return Err(ApiError::BadRequest(reason!("request.json_required")));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::TooLarge(reason!("request.too_large", detail = r.body_text())))?;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let mut errs = ValidationErrors::default();
            check_texts(&v, &mut String::new(), &mut errs);
            if !errs.is_empty() {
                return Err(ApiError::Invalid(errs));
            }
        }
        axum::Json::<T>::from_bytes(&bytes).map(|axum::Json(t)| ApiJson(t)).map_err(ApiError::from)
    }
}

/// Whether a text has characters that cannot be stored (a NUL: PostgreSQL refuses it) or shown
/// (other control characters); line ends and tabs are allowed.
pub(crate) fn has_control_characters(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Walks a JSON value and names every text with control characters or over the length limit.
fn check_texts(v: &serde_json::Value, path: &mut String, errs: &mut ValidationErrors) {
    match v {
        serde_json::Value::String(s) => {
            let field = if path.is_empty() { "body" } else { path.as_str() };
            if has_control_characters(s) {
                errs.push(field, s.chars().take(40).filter(|c| !c.is_control()).collect::<String>(), reason!("request.control_characters"));
            } else if s.chars().count() > MAX_TEXT_CHARS {
                errs.push(field, "…", reason!("request.text_too_long", max_text_chars = MAX_TEXT_CHARS));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_texts(item, path, errs);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                check_texts(item, path, errs);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Query string extractor whose rejections are problem+json naming the parameter.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path extractor whose rejections are problem+json.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Multipart form extractor whose rejections (not a form, no boundary) are problem+json.
pub struct ApiMultipart(pub axum::extract::Multipart);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(ApiMultipart)
            .map_err(|r| ApiError::field("body", "", reason!("request.form_required", body_text = r.body_text())))
    }
}
