//! Public notices (公示) of an estate and the objections and opinions filed against them, each with
//! staff's answer. The rules are `huanxin_domain::notices`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::today;
use huanxin_domain::access::Scope;
use huanxin_domain::notices::{self as rules, NoticeHistory, NoticeState, ValidNotice};
use huanxin_domain::reason;
use serde::Serialize;

/// A notice with where it stands today and its comments.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notice {
    pub id: i64,
    pub estate_id: i64,
    pub title: String,
    pub body: String,
    pub round: i64,
    pub scheme_version: Option<i64>,
    pub starts_on: String,
    pub ends_on: String,
    pub working_days: i64,
    pub posted_by: String,
    pub created_at: String,
    #[sqlx(skip)]
    pub state: Option<NoticeState>,
    #[sqlx(skip)]
    pub comments: Vec<Comment>,
}

/// An objection or opinion and its answer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Comment {
    pub id: i64,
    pub notice_id: i64,
    pub kind: String,
    pub text: String,
    pub author: String,
    pub at: String,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub answered_at: Option<String>,
    /// The resident account that filed it (not shown; used to show residents only their own names).
    #[serde(skip)]
    pub user_id: Option<i64>,
}

const NOTICE_COLS: &str = "id, estate_id, title, body, round, scheme_version, starts_on, ends_on, working_days, posted_by, created_at";
const COMMENT_COLS: &str = "id, notice_id, kind, text, author, at, answer, answered_by, answered_at, user_id";

fn date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl Notice {
    fn with_state(mut self) -> Notice {
        self.state = match (date(&self.starts_on), date(&self.ends_on)) {
            (Some(s), Some(e)) => Some(rules::state(s, e, today())),
            _ => None,
        };
        self
    }
}

impl Db {
    /// What earlier notices of the estate's scheme say, for posting the next round.
    pub async fn notice_history(&self, estate: crate::reach::EstateInScope) -> Result<NoticeHistory, StoreError> {
        let estate_id = estate.id();
        let ended = self
            .scalar(
                "SELECT COUNT(*) FROM notices WHERE estate_id = $1 AND round = 1 AND ends_on < $2",
                crate::args![estate_id, today().to_string()],
            )
            .await?;
        Ok(NoticeHistory { round_1_ended: ended > 0 })
    }

    /// How many rounds of the scheme's notice have ended, in order (the lifecycle's `notice_1`/`notice_2`).
    pub async fn notices_closed(&self, estate_id: i64) -> Result<u8, StoreError> {
        let t = today().to_string();
        let r1 = self
            .scalar("SELECT COUNT(*) FROM notices WHERE estate_id = $1 AND round = 1 AND ends_on < $2", crate::args![estate_id, t.as_str()])
            .await?;
        let r2 = self
            .scalar("SELECT COUNT(*) FROM notices WHERE estate_id = $1 AND round = 2 AND ends_on < $2", crate::args![estate_id, t.as_str()])
            .await?;
        Ok(match (r1 > 0, r2 > 0) {
            (true, true) => 2,
            (true, false) => 1,
            _ => 0,
        })
    }

    /// Posts a notice; a scheme's notice names one of the estate's scheme versions.
    pub async fn post_notice(&self, actor: &Actor, scope: &Scope, estate_id: i64, n: &ValidNotice) -> Result<Notice, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        if let Some(v) = n.scheme_version {
            // Version 0 is the draft, which may still change: a notice shows an issued version.
            let found = self
                .scalar(
                    "SELECT COUNT(*) FROM scheme_versions WHERE estate_id = $1 AND version_no = $2 AND version_no > 0",
                    crate::args![estate_id, v],
                )
                .await?;
            if found == 0 {
                return Err(huanxin_domain::ValidationErrors::one("scheme_version", v, reason!("notices.not_a_scheme_version")).into());
            }
        }
        let mut tx = self.begin().await?;
        let notice: Notice = tx
            .fetch_one(
                &format!(
                    "INSERT INTO notices (estate_id, title, body, round, scheme_version, starts_on, ends_on, working_days, posted_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {NOTICE_COLS}"
                ),
                crate::args![
                    estate_id,
                    n.title.as_str(),
                    n.body.as_str(),
                    n.round,
                    n.scheme_version,
                    n.starts_on.to_string(),
                    n.ends_on.to_string(),
                    n.working_days as i64,
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "post",
                entity: "notice",
                entity_id: notice.id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"title": n.title, "round": n.round, "starts_on": n.starts_on, "ends_on": n.ends_on})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(notice.with_state())
    }

    /// An estate's notices, newest first, with their comments.
    pub async fn notices_of(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Notice>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let notices: Vec<Notice> = self
            .fetch_all(&format!("SELECT {NOTICE_COLS} FROM notices WHERE estate_id = $1 ORDER BY id DESC"), crate::args![estate_id])
            .await?;
        let comments: Vec<Comment> = self
            .fetch_all(
                &format!(
                    "SELECT {} FROM notice_comments c WHERE c.notice_id IN (SELECT id FROM notices WHERE estate_id = $1) ORDER BY c.id",
                    COMMENT_COLS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
                ),
                crate::args![estate_id],
            )
            .await?;
        Ok(notices
            .into_iter()
            .map(|n| {
                let mut n = n.with_state();
                n.comments = comments.iter().filter(|c| c.notice_id == n.id).cloned().collect();
                n
            })
            .collect())
    }

    /// One notice, if its estate is in scope.
    pub async fn notice(&self, scope: &Scope, id: i64) -> Result<Notice, StoreError> {
        let n: Notice = self.fetch_one(&format!("SELECT {NOTICE_COLS} FROM notices WHERE id = $1"), crate::args![id]).await?;
        self.get_estate(scope, n.estate_id).await?;
        Ok(n.with_state())
    }

    /// Files an objection or opinion while the notice is on the board.
    pub async fn comment_on_notice(
        &self,
        actor: &Actor,
        scope: &Scope,
        id: i64,
        kind: &str,
        text: &str,
        author: &str,
    ) -> Result<Comment, StoreError> {
        let n = self.notice(scope, id).await?;
        if !n.state.map(rules::may_object).unwrap_or(false) {
            return Err(StoreError::Conflict(reason!("notices.outside_period", starts_on = n.starts_on, ends_on = n.ends_on)));
        }
        let estate = self.get_estate(scope, n.estate_id).await?;
        let mut tx = self.begin().await?;
        let c: Comment = tx
            .fetch_one(
                &format!("INSERT INTO notice_comments (notice_id, kind, text, author, user_id, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COMMENT_COLS}"),
                crate::args![id, kind, text, author, actor.user_id, crate::now()],
            )
            .await?;
        tx.audit(
            actor,
            Change {
                action: "comment",
                entity: "notice",
                entity_id: id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"kind": kind, "comment_id": c.id})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// Answers a comment once; the answer is what residents see beside their objection.
    pub async fn answer_comment(&self, actor: &Actor, scope: &Scope, comment_id: i64, answer: &str) -> Result<Comment, StoreError> {
        let c: Comment =
            self.fetch_one(&format!("SELECT {COMMENT_COLS} FROM notice_comments WHERE id = $1"), crate::args![comment_id]).await?;
        let n = self.notice(scope, c.notice_id).await?;
        let estate = self.get_estate(scope, n.estate_id).await?;
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                "UPDATE notice_comments SET answer = $1, answered_by = $2, answered_at = $3 WHERE id = $4 AND answer IS NULL",
                crate::args![answer, actor.username.as_str(), crate::now(), comment_id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict(reason!("notices.already_answered")));
        }
        tx.audit(
            actor,
            Change {
                action: "answer",
                entity: "notice_comment",
                entity_id: comment_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"answer": answer})),
            },
        )
        .await?;
        tx.commit().await?;
        self.fetch_one(&format!("SELECT {COMMENT_COLS} FROM notice_comments WHERE id = $1"), crate::args![comment_id]).await
    }
}
