//! HTTP routes of owners' decisions (表决): the rule set of a region, decisions of an estate, ballots
//! (online by owners, on paper by staff), live turnout, closing with the result, and the chain check.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use huanxin_domain::access::Role;
use huanxin_domain::decisions::{Channel, Choice, DecisionInput, RuleSet, Tally};
use huanxin_domain::reason;
use huanxin_store::decisions::{BallotError, BallotInput, BallotRow, Decision, Receipt, Verification};
use serde::{Deserialize, Serialize};

/// A decision with its count so far (or its result once closed), and for a resident the dwellings
/// through which they may vote and how each voted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionPage {
    #[schema(value_type = Object)]
    pub decision: Decision,
    #[schema(value_type = Object)]
    pub rules: RuleSet,
    #[schema(value_type = Object)]
    pub tally: Tally,
    /// Open, upcoming or closed, as of now.
    pub state: String,
    #[schema(value_type = Vec<Object>)]
    pub mine: Vec<MyVote>,
    /// For a grid worker going door to door in their grid: the dwellings that have voted (not how).
    pub voted_dwellings: Vec<i64>,
}

/// One of a resident's dwellings in a decision.
#[derive(Debug, Serialize)]
pub struct MyVote {
    pub dwelling_id: i64,
    pub is_owner: bool,
    pub choice: Option<String>,
}

/// A ballot as sent: residents send `dwelling_id` and `choice`; staff entering paper add `voter`
/// and, for a proxy, `by_proxy` and the archived scan of the written authorisation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BallotRequest {
    pub dwelling_id: i64,
    pub choice: String,
    #[serde(default)]
    pub voter: String,
    #[serde(default)]
    pub by_proxy: bool,
    pub proxy_document_id: Option<i64>,
}

fn state_of(d: &Decision) -> String {
    let now = huanxin_store::now();
    if d.closed_at.is_some() || now >= d.closes_at {
        "closed".into()
    } else if now < d.opens_at {
        "upcoming".into()
    } else {
        "open".into()
    }
}

impl From<BallotError> for ApiError {
    fn from(e: BallotError) -> Self {
        match e {
            BallotError::Refused(r) => ApiError::Conflict(r.reason()),
            BallotError::Store(s) => s.into(),
        }
    }
}

/// The rule set that applies in a region (its own, an enclosing region's, or the national rule).
#[utoipa::path(get, path = "/api/v1/decision-rules/{region}", tag = "decisions", params(("region" = String, Path)),
    responses((status = 200, description = "the rule set"), (status = 403, description = "the region is outside yours")))]
pub async fn rules(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(region): ApiPath<String>,
) -> Result<Json<RuleSet>, ApiError> {
    let region = cu.region_in_scope(&region)?;
    Ok(Json(st.db.decision_rules_for(&region).await?))
}

/// Sets a region's own rule set: stricter than the national rule is allowed, laxer is refused (422).
#[utoipa::path(put, path = "/api/v1/decision-rules/{region}", tag = "decisions", params(("region" = String, Path)),
    responses((status = 200, description = "the rule set now in force"), (status = 403), (status = 422)))]
pub async fn set_rules(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(region): ApiPath<String>,
    ApiJson(set): ApiJson<RuleSet>,
) -> Result<Json<RuleSet>, ApiError> {
    let code = cu.region_in_scope(&region)?;
    set.validate()?;
    st.db.set_decision_rules(&cu.actor(), &code, &set).await?;
    Ok(Json(st.db.decision_rules_for(&code).await?))
}

/// An estate's decisions, newest first.
#[utoipa::path(get, path = "/api/v1/estates/{id}/decisions", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, description = "decisions"), (status = 404)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Decision>>, ApiError> {
    Ok(Json(st.db.decisions_of(&cu.scope, id).await?))
}

/// Sets up a decision: matter, scope (estate, building or stairwell) and voting window; the
/// electorate is fixed from the registry now.
#[utoipa::path(post, path = "/api/v1/estates/{id}/decisions", tag = "decisions", params(("id" = i64, Path)),
    request_body = Object, responses((status = 200, description = "the decision"), (status = 403), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<DecisionPage>, ApiError> {
    let valid = input.validate(huanxin_store::clock::utc_now())?;
    let d = st.db.create_decision(&cu.actor(), &cu.scope, id, &valid).await?;
    page(&st, &cu, d).await.map(Json)
}

async fn page(st: &AppState, cu: &CurrentUser, decision: Decision) -> Result<DecisionPage, ApiError> {
    let tally = st.db.tally(&decision).await?;
    let rules = decision.rules()?;
    let mine = if cu.role == Role::Resident {
        st.db
            .my_ballots(cu.user.id, decision.id)
            .await?
            .into_iter()
            // How the dwelling voted is the owner's: a tenant of it learns only that it has voted.
            .map(|(dwelling_id, standing, choice)| {
                let is_owner = standing == "owner";
                let choice = match choice {
                    Some(c) if is_owner => Some(c),
                    Some(_) => Some("voted".to_string()),
                    None => None,
                };
                MyVote { dwelling_id, is_owner, choice }
            })
            .collect()
    } else {
        vec![]
    };
    let mut tally = tally;
    let state = state_of(&decision);
    let voted_dwellings = if cu.role == Role::GridWorker && st.db.works_on_estate(cu.user.id, decision.estate_id).await? {
        // Which doors voted, but then not the running split: the two together would tell
        // each door's choice from one ballot to the next.
        if state != "closed" {
            (tally.agree, tally.disagree, tally.abstain) = Default::default();
        }
        st.db.voted_dwellings(decision.id).await?
    } else {
        vec![]
    };
    Ok(DecisionPage { state, decision, rules, tally, mine, voted_dwellings })
}

/// One decision with its live turnout (area and heads) or its result.
#[utoipa::path(get, path = "/api/v1/decisions/{id}", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, body = DecisionPage), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DecisionPage>, ApiError> {
    let d = st.db.decision(&cu.scope, id).await?;
    page(&st, &cu, d).await.map(Json)
}

/// The scheme a decision is about (its version at the vote's opening; a building's or a
/// stairwell's vote shows that building's lines), with what each of a resident's households is
/// asked to contribute; `null` for a vote on another matter.
#[utoipa::path(get, path = "/api/v1/decisions/{id}/scheme", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, description = "the scheme, or null"), (status = 404)))]
pub async fn scheme(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Option<huanxin_store::schemes::OwnerScheme>>, ApiError> {
    let d = st.db.decision(&cu.scope, id).await?;
    Ok(Json(crate::schemes::for_decision(&st, &cu, &d).await?))
}

/// Casts a ballot. A resident votes online for a dwelling they are bound to as owner; staff who
/// consult residents enter paper ballots (with a proxy's scanned authorisation where one signed).
/// Refusals (409) name the reason and are audited; nothing is recorded.
#[utoipa::path(post, path = "/api/v1/decisions/{id}/ballots", tag = "decisions", params(("id" = i64, Path)),
    request_body = BallotRequest, responses((status = 200, description = "the receipt"), (status = 403), (status = 409), (status = 422)))]
pub async fn cast(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<BallotRequest>,
) -> Result<Json<Receipt>, ApiError> {
    let choice = Choice::parse(&req.choice).ok_or_else(|| ApiError::field("choice", &req.choice, reason!("decisions.choice_kind")))?;
    let input = if cu.role == Role::Resident {
        let is_owner = st.db.is_owner_of(cu.user.id, req.dwelling_id).await?;
        let Some(is_owner) = is_owner else {
            return Err(ApiError::Forbidden(reason!("field.not_your_dwelling")));
        };
        BallotInput {
            dwelling_id: req.dwelling_id,
            choice,
            channel: Channel::Online,
            voter: cu.user.display_name.clone(),
            is_owner,
            by_proxy: false,
            proxy_document_id: None,
        }
    } else {
        crate::grids::may_collect(&st, &cu, st.db.decision(&cu.scope, id).await?.estate_id).await?;
        // A proxy's signed authorisation is scanned and filed at the desk, which then enters the ballot.
        if cu.role == Role::GridWorker && (req.by_proxy || req.proxy_document_id.is_some()) {
            return Err(ApiError::Forbidden(reason!("grids.proxy_at_desk")));
        }
        if req.voter.trim().is_empty() {
            return Err(ApiError::field("voter", "", reason!("decisions.paper_voter_required")));
        }
        // A signer's name (or an owner and their proxy), not a document.
        if req.voter.trim().chars().count() > 50 {
            return Err(ApiError::field("voter", &req.voter, reason!("field.length", max = 50)));
        }
        if let Some(doc) = req.proxy_document_id {
            let d = st.db.decision(&cu.scope, id).await?;
            let n = st
                .db
                .scalar("SELECT COUNT(*) FROM documents WHERE id = $1 AND estate_id = $2", huanxin_store::args![doc, d.estate_id])
                .await?;
            if n == 0 {
                return Err(ApiError::field("proxy_document_id", doc, reason!("decisions.proxy_not_in_archive")));
            }
        }
        BallotInput {
            dwelling_id: req.dwelling_id,
            choice,
            channel: Channel::Paper,
            voter: req.voter.clone(),
            is_owner: true,
            by_proxy: req.by_proxy,
            proxy_document_id: req.proxy_document_id,
        }
    };
    match st.db.cast_ballot(&cu.actor(), &cu.scope, id, &input).await {
        Ok(r) => Ok(Json(r)),
        Err(BallotError::Refused(r)) => {
            st.db.audit_refused_ballot(&cu.actor(), id, req.dwelling_id, &r.to_string()).await?;
            Err(ApiError::Conflict(r.reason()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The ballots in the order cast (dwelling, choice, channel, hash): for staff who run the vote.
#[utoipa::path(get, path = "/api/v1/decisions/{id}/ballots", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, description = "ballots"), (status = 403), (status = 404)))]
pub async fn ballots(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<BallotRow>>, ApiError> {
    Ok(Json(st.db.ballots(&cu.scope, id).await?))
}

/// Walks the ballot chain and says whether it is intact, and if not where it breaks.
#[utoipa::path(get, path = "/api/v1/decisions/{id}/verify", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, description = "the check"), (status = 404)))]
pub async fn verify(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Verification>, ApiError> {
    let reached = st.db.decision_in_scope(&cu.scope, id).await?;
    let mut v = st.db.verify_ballots(reached).await?;
    let chain = format!("ballots:{id}");
    if v.intact {
        if let Some(d) = crate::chains::check_published(&st.db, &st.config, |c| c == chain).await?.into_iter().next() {
            v.intact = false;
            v.broken_at = Some(huanxin_domain::chain::Break { seq: d.records, reason: d.problem });
        }
    }
    Ok(Json(v))
}

/// Closes a decision after its window and records the result (409 before the window ends).
#[utoipa::path(post, path = "/api/v1/decisions/{id}/close", tag = "decisions", params(("id" = i64, Path)),
    responses((status = 200, body = DecisionPage), (status = 409)))]
pub async fn close(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DecisionPage>, ApiError> {
    let (d, _) = st.db.close_decision(&cu.actor(), &cu.scope, id).await?;
    page(&st, &cu, d).await.map(Json)
}
