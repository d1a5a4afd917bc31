//! HTTP routes of public notices (公示): post one, read an estate's notices, file an objection or
//! opinion while it is on the board, answer each one.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::access::{Permission, Role};
use huanxin_domain::calendar::WorkCalendar;
use huanxin_domain::notices::{self as rules, NoticeInput};
use huanxin_domain::reason;
use huanxin_store::notices::{Comment, Notice};
use serde::Deserialize;

/// An objection or opinion. Staff entering one from paper give the resident's name as `author`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommentRequest {
    /// `objection` or `opinion`.
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub author: String,
}

/// Staff's answer to a comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AnswerRequest {
    pub answer: String,
}

/// An estate's notices, newest first, with comments and answers.
#[utoipa::path(get, path = "/api/v1/estates/{id}/notices", tag = "notices", params(("id" = i64, Path)),
    responses((status = 200, description = "notices"), (status = 404)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Notice>>, ApiError> {
    let mut notices = st.db.notices_of(&cu.scope, id).await?;
    // Residents read every objection and answer, but not who else objected.
    if cu.role == Role::Resident {
        for c in notices.iter_mut().flat_map(|n| n.comments.iter_mut()) {
            if c.user_id != Some(cu.user.id) {
                c.author = "居民".into();
            }
        }
    }
    Ok(Json(notices))
}

/// The scheme version a notice puts on the board, with what each of a resident's households is
/// asked to contribute; `null` for a notice of something else.
#[utoipa::path(get, path = "/api/v1/notices/{id}/scheme", tag = "notices", params(("id" = i64, Path)),
    responses((status = 200, description = "the scheme, or null"), (status = 404)))]
pub async fn scheme(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Option<huanxin_store::schemes::OwnerScheme>>, ApiError> {
    let n = st.db.notice(&cu.scope, id).await?;
    Ok(Json(crate::schemes::for_notice(&st, &cu, &n).await?))
}

/// Posts a notice for a period in working days (official calendar); a scheme's round 2 only after round 1 has ended.
#[utoipa::path(post, path = "/api/v1/estates/{id}/notices", tag = "notices", params(("id" = i64, Path)),
    request_body = Object, responses((status = 200, description = "the notice"), (status = 403), (status = 422)))]
pub async fn post_notice(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NoticeInput>,
) -> Result<Json<Notice>, ApiError> {
    let reached = st.db.estate_in_scope(&cu.scope, id).await?;
    let cal = WorkCalendar::shipped_once().map_err(|e| ApiError::Internal(e.to_string()))?;
    let history = st.db.notice_history(reached).await?;
    let valid = input.validate(huanxin_store::today(), cal, history)?;
    Ok(Json(st.db.post_notice(&cu.actor(), &cu.scope, id, &valid).await?))
}

/// Files an objection or opinion while the notice is on the board (409 before or after).
#[utoipa::path(post, path = "/api/v1/notices/{id}/comments", tag = "notices", params(("id" = i64, Path)),
    request_body = CommentRequest, responses((status = 200, description = "the comment"), (status = 409), (status = 422)))]
pub async fn comment(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CommentRequest>,
) -> Result<Json<Comment>, ApiError> {
    if !matches!(req.kind.as_str(), "objection" | "opinion") {
        return Err(ApiError::field("kind", &req.kind, reason!("notices.comment_kind")));
    }
    let text = rules::check_text("text", &req.text)?;
    // Residents speak for themselves; staff who consult residents enter one handed in on paper under
    // its author's name. Nobody else objects: a company or a grid worker under their own name would
    // show to residents as a resident.
    let author = if cu.role == Role::Resident {
        cu.user.display_name.clone()
    } else {
        cu.require(Permission::ConsultResidents).map_err(|_| ApiError::Forbidden(reason!("notices.residents_only")))?;
        let author = req.author.trim();
        if author.is_empty() || author.chars().count() > 64 {
            return Err(ApiError::field("author", author, reason!("notices.paper_author_required")));
        }
        author.to_string()
    };
    Ok(Json(st.db.comment_on_notice(&cu.actor(), &cu.scope, id, &req.kind, &text, &author).await?))
}

/// Answers a comment (once).
#[utoipa::path(post, path = "/api/v1/notice-comments/{id}/answer", tag = "notices", params(("id" = i64, Path)),
    request_body = AnswerRequest, responses((status = 200, description = "the comment with its answer"), (status = 409), (status = 422)))]
pub async fn answer(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> Result<Json<Comment>, ApiError> {
    let text = rules::check_text("answer", &req.answer)?;
    Ok(Json(st.db.answer_comment(&cu.actor(), &cu.scope, id, &text).await?))
}
