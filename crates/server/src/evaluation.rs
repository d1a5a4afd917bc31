//! HTTP routes of performance evaluation (issue 15, part 5): a region's scheme for a year, the
//! evaluation sheet of a region below (computed indicators from the records, scored ones with
//! evidence and comment), self-evaluation, review by the level above, grades, ranking and xlsx.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::estates::{attachment, XLSX};
use crate::statistics::known_region;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::access::Scope;
use huanxin_domain::evaluation::{self as rules, Given, Line, Scheme, Scorer, Source};
use huanxin_domain::reason;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::statistics::Period;
use huanxin_domain::ValidationErrors;
use huanxin_store::evaluation::{Evaluation, EvidenceDocument};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which year (and region).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct YearQuery {
    pub year: i32,
    /// The region evaluated (defaults to the caller's own).
    pub region: Option<String>,
}

fn year_of(y: i32) -> Result<i64, ApiError> {
    if (2019..=2100).contains(&y) {
        Ok(i64::from(y))
    } else {
        Err(ApiError::Invalid(ValidationErrors::one("year", y, reason!("statistics.year_range"))))
    }
}

fn own(cu: &CurrentUser) -> Result<&RegionCode, ApiError> {
    match &cu.scope {
        Scope::Region(r) => Ok(r),
        Scope::Attached { .. } => Err(ApiError::Forbidden(reason!("statistics.staff_only"))),
    }
}

/// The region that evaluates `region`: the one above it.
fn evaluator_of(region: &RegionCode) -> Option<RegionCode> {
    if *region == RegionCode::country() {
        return None;
    }
    Some(region.ancestors().pop().unwrap_or_else(RegionCode::country))
}

/// A scheme and whether the region set it (else the template is shown).
#[derive(Debug, Serialize)]
pub struct SchemePage {
    pub region_code: String,
    pub year: i64,
    pub set: bool,
    pub scheme: Scheme,
}

/// The caller's region's scheme for a year (the Jiangxi template until it sets one).
#[utoipa::path(get, path = "/api/v1/evaluations/scheme", tag = "evaluation", params(YearQuery), responses((status = 200), (status = 422)))]
pub async fn scheme(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> Result<Json<SchemePage>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    let year = year_of(q.year)?;
    let set = st.db.evaluation_scheme(&region, year).await?;
    Ok(Json(SchemePage {
        region_code: region.as_str().into(),
        year,
        set: set.is_some(),
        scheme: set.unwrap_or_else(rules::jiangxi_template),
    }))
}

/// A scheme to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SchemeRequest {
    pub year: i32,
    /// Dimensions, indicators and grades; the Jiangxi template when absent.
    #[schema(value_type = Option<Object>)]
    pub scheme: Option<Scheme>,
}

/// Sets the caller's region's scheme for a year (its administrator).
#[utoipa::path(put, path = "/api/v1/evaluations/scheme", tag = "evaluation", request_body = SchemeRequest,
    responses((status = 200), (status = 409), (status = 422)))]
pub async fn set_scheme(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<SchemeRequest>,
) -> Result<Json<SchemePage>, ApiError> {
    let region = own(&cu)?.clone();
    let year = year_of(req.year)?;
    let scheme = req.scheme.unwrap_or_else(rules::jiangxi_template);
    st.db.set_evaluation_scheme(&cu.actor(), &region, year, &scheme).await?;
    Ok(Json(SchemePage { region_code: region.as_str().into(), year, set: true, scheme }))
}

/// What each computed indicator reads for a region and year, in basis points.
async fn rates(st: &AppState, region: &RegionCode, year: i64) -> Result<BTreeMap<Source, Option<i64>>, ApiError> {
    let y = i32::try_from(year).unwrap_or(2019);
    let this = st.db.statistics(region, &Period::Year(y)).await?;
    let last = st.db.statistics(region, &Period::Year(y - 1)).await?;
    let rate = |f: &huanxin_store::statistics::Figures, code: &str| f.rates.iter().find(|r| r.code == code).and_then(|r| r.bp);
    let funds = st.db.funds_report(&Scope::Region(RegionCode::country()), region, year, &st.allocated).await?;
    let central = funds.by_source.iter().find(|r| r.key == "central").filter(|r| r.allocated > 0).map(|r| r.paid * 10_000 / r.allocated);
    Ok([
        (Source::StartRate, rate(&this, "start_rate_estates")),
        (Source::LastYearCompletion, rate(&last, "completion_rate_estates")),
        (Source::CentralDisbursement, central),
        (Source::ContributionRate, rate(&this, "contribution_rate")),
        (Source::Satisfaction, rate(&this, "satisfaction_rate")),
        (Source::RectificationClosure, rate(&this, "rectification_closure_rate")),
    ]
    .into_iter()
    .collect())
}

/// A region's evaluation sheet.
#[derive(Debug, Serialize)]
pub struct Sheet {
    pub region_code: String,
    pub region_name: String,
    pub evaluator_code: String,
    pub year: i64,
    pub status: String,
    pub lines: Vec<Line>,
    /// Hundredths of a point.
    pub total: i64,
    pub grade: rules::Grade,
    pub grade_zh: &'static str,
    pub evaluation: Option<Evaluation>,
    pub may_score: bool,
    pub may_submit: bool,
    pub may_review: bool,
    /// The archive documents the scores cite (each opens at `/api/v1/documents/{id}/file`).
    pub documents: Vec<EvidenceDocument>,
}

/// Every archive document cited in `scores`.
fn cited<'a>(scores: impl IntoIterator<Item = &'a Given>) -> Vec<i64> {
    let mut ids: Vec<i64> = scores.into_iter().flat_map(|g| g.documents.iter().copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each indicator's cited documents once each, in order.
fn deduped(mut scores: BTreeMap<String, Given>) -> BTreeMap<String, Given> {
    for g in scores.values_mut() {
        g.documents.sort_unstable();
        g.documents.dedup();
    }
    scores
}

/// Refuses, by the indicator, a cited document that is not in the archive of an estate of `region`.
async fn check_cited(st: &AppState, region: &RegionCode, scores: &BTreeMap<String, Given>) -> Result<(), ApiError> {
    let found: std::collections::HashSet<i64> =
        st.db.evidence_documents(region, &cited(scores.values())).await?.into_iter().map(|d| d.id).collect();
    let mut problems = ValidationErrors::default();
    for (code, g) in scores {
        for id in g.documents.iter().filter(|id| !found.contains(id)) {
            problems.push(&format!("scores.{code}.documents"), id, reason!("evaluation.evidence_not_found"));
        }
    }
    if problems.0.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(problems))
    }
}

async fn sheet(st: &AppState, cu: &CurrentUser, region: &RegionCode, year: i64) -> Result<Sheet, ApiError> {
    let Some(evaluator) = evaluator_of(region) else {
        return Err(ApiError::Invalid(ValidationErrors::one("region", region.as_str(), reason!("evaluation.not_below"))));
    };
    // Until the level above publishes its scheme, the sheet says so (status `no_scheme`, no lines).
    let scheme = st.db.evaluation_scheme(&evaluator, year).await?;
    let e = st.db.evaluation(region, year).await?;
    let own_scores = e.as_ref().map(Evaluation::own).unwrap_or_default();
    let reviewed = e.as_ref().map(Evaluation::reviewed).unwrap_or_default();
    let (lines, total, grades) = match &scheme {
        Some(scheme) => {
            let (lines, total) = rules::lines(scheme, &rates(st, region, year).await?, &own_scores, &reviewed);
            (lines, total, scheme.grades)
        }
        None => (vec![], 0, rules::DEFAULT_GRADES),
    };
    let grade = rules::grade(total, &grades);
    let status = match (&scheme, &e) {
        (None, _) => "no_scheme".to_string(),
        (Some(_), e) => e.as_ref().map_or("missing".to_string(), |e| e.status.clone()),
    };
    let mine = own(cu)?;
    let documents = st.db.evidence_documents(region, &cited(own_scores.values().chain(reviewed.values()))).await?;
    let name = st.db.region_names(&[region.as_str().to_string()]).await?.remove(region.as_str()).unwrap_or_else(|| region.as_str().into());
    Ok(Sheet {
        region_code: region.as_str().into(),
        region_name: name,
        evaluator_code: evaluator.as_str().into(),
        year,
        may_score: mine == region && matches!(status.as_str(), "missing" | "draft"),
        may_submit: mine == region && status == "draft",
        may_review: *mine == evaluator && status == "submitted",
        status,
        lines,
        total,
        grade,
        grade_zh: grade.zh(),
        evaluation: e,
        documents,
    })
}

/// A region's evaluation sheet for a year: the caller's own, or a region one level below it.
#[utoipa::path(get, path = "/api/v1/evaluations/sheet", tag = "evaluation", params(YearQuery), responses((status = 200), (status = 409), (status = 422)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> Result<Json<Sheet>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    Ok(Json(sheet(&st, &cu, &region, year_of(q.year)?).await?))
}

/// Which region's archive to search for evidence.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentsQuery {
    /// The region scored (defaults to the caller's own).
    pub region: Option<String>,
    /// Part of a document's title or its estate's name.
    #[serde(default)]
    pub q: String,
}

/// Documents of the archives of a region's estates to cite as evidence (newest first, at most 50).
#[utoipa::path(get, path = "/api/v1/evaluations/documents", tag = "evaluation", params(DocumentsQuery),
    responses((status = 200, description = "[{id, title, section, kind, estate_id, estate_name, uploaded_at}]"), (status = 422)))]
pub async fn documents(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<DocumentsQuery>,
) -> Result<Json<Vec<EvidenceDocument>>, ApiError> {
    let region = known_region(&st, &cu, q.region.as_deref()).await?;
    if q.q.chars().count() > 60 {
        return Err(ApiError::Invalid(ValidationErrors::one("q", q.q.chars().count(), reason!("field.at_most_chars", max = 60))));
    }
    Ok(Json(st.db.region_documents(&region, &q.q).await?))
}

/// Scores given.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScoresRequest {
    pub year: i32,
    /// The region reviewed (a review only).
    pub region: Option<String>,
    /// By indicator code: points in hundredths, evidence, comment.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub scores: BTreeMap<String, Given>,
}

/// The region that evaluates `region` and its scheme for `year` (refused when there is no level
/// above, or it has not published one).
async fn parent_scheme(st: &AppState, region: &RegionCode, year: i64) -> Result<(RegionCode, Scheme), ApiError> {
    let evaluator = evaluator_of(region)
        .ok_or_else(|| ApiError::Invalid(ValidationErrors::one("region", region.as_str(), reason!("evaluation.not_below"))))?;
    let scheme =
        st.db.evaluation_scheme(&evaluator, year).await?.ok_or(ApiError::Conflict(reason!("evaluation.no_scheme", year = year)))?;
    Ok((evaluator, scheme))
}

/// The caller's region scores itself (scored indicators; computed ones it may only annotate).
#[utoipa::path(put, path = "/api/v1/evaluations/sheet", tag = "evaluation", request_body = ScoresRequest,
    responses((status = 200), (status = 409), (status = 422)))]
pub async fn save(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<ScoresRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let region = own(&cu)?.clone();
    let year = year_of(req.year)?;
    let scores = deduped(req.scores);
    let (evaluator, scheme) = parent_scheme(&st, &region, year).await?;
    rules::check_given(&scheme, &scores, Scorer::Own).map_err(ApiError::Invalid)?;
    check_cited(&st, &region, &scores).await?;
    st.db.save_own_scores(&cu.actor(), &evaluator, &region, year, &scores).await?;
    Ok(Json(sheet(&st, &cu, &region, year).await?))
}

/// Which year to submit.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SubmitRequest {
    pub year: i32,
}

/// Submits the caller's region's self-evaluation to the level above.
#[utoipa::path(post, path = "/api/v1/evaluations/submit", tag = "evaluation", request_body = SubmitRequest,
    responses((status = 200), (status = 409)))]
pub async fn submit(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<SubmitRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let region = own(&cu)?.clone();
    let year = year_of(req.year)?;
    let (_, scheme) = parent_scheme(&st, &region, year).await?;
    let Some(e) = st.db.evaluation(&region, year).await? else { return Err(ApiError::Conflict(reason!("evaluation.nothing_to_submit"))) };
    // Every scored indicator scored, each within the scheme as it stands now (it may have changed
    // under the draft).
    let own_scores = e.own();
    let mut problems = match rules::check_given(&scheme, &own_scores, Scorer::Own) {
        Ok(()) => ValidationErrors::default(),
        Err(p) => p,
    };
    for code in rules::unscored(&scheme, &own_scores) {
        problems.push(&format!("scores.{code}.points"), "", reason!("evaluation.unscored"));
    }
    if !problems.0.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    st.db.submit_evaluation(&cu.actor(), &region, year).await?;
    Ok(Json(sheet(&st, &cu, &region, year).await?))
}

/// The level above reviews a region's self-evaluation: its scores stand over the region's; the
/// total and grade are fixed.
#[utoipa::path(post, path = "/api/v1/evaluations/review", tag = "evaluation", request_body = ScoresRequest,
    responses((status = 200), (status = 409), (status = 422)))]
pub async fn review(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(req): ApiJson<ScoresRequest>,
) -> Result<Json<Sheet>, ApiError> {
    let region = known_region(&st, &cu, req.region.as_deref()).await?;
    let year = year_of(req.year)?;
    if evaluator_of(&region).as_ref() != Some(own(&cu)?) {
        return Err(ApiError::Invalid(ValidationErrors::one("region", region.as_str(), reason!("evaluation.not_below"))));
    }
    let before = sheet(&st, &cu, &region, year).await?;
    if !before.may_review {
        return Err(ApiError::Conflict(reason!("evaluation.not_submitted")));
    }
    let scheme = st.db.evaluation_scheme(own(&cu)?, year).await?.ok_or(ApiError::Conflict(reason!("evaluation.no_scheme", year = year)))?;
    let scores = deduped(req.scores);
    rules::check_given(&scheme, &scores, Scorer::Reviewer).map_err(ApiError::Invalid)?;
    check_cited(&st, &region, &scores).await?;
    let own_scores = before.evaluation.as_ref().map(Evaluation::own).unwrap_or_default();
    let (_, total) = rules::lines(&scheme, &rates(&st, &region, year).await?, &own_scores, &scores);
    let grade = rules::grade(total, &scheme.grades);
    st.db.review_evaluation(&cu.actor(), &region, year, &scores, total, grade.zh()).await?;
    Ok(Json(sheet(&st, &cu, &region, year).await?))
}

/// One region below in the ranking.
#[derive(Debug, Serialize)]
pub struct Ranked {
    pub rank: usize,
    pub region_code: String,
    pub region_name: String,
    pub status: String,
    /// Hundredths of a point: the reviewed total, else what the sheet adds up to now.
    pub total: i64,
    pub grade: rules::Grade,
    pub grade_zh: &'static str,
}

async fn ranking(st: &AppState, cu: &CurrentUser, year: i64) -> Result<Vec<Ranked>, ApiError> {
    let mine = own(cu)?.clone();
    let mut out = Vec::new();
    for (code, name) in st.db.regions_below_with_estates(&mine).await? {
        let rc = RegionCode::parse(&code).map_err(|_| ApiError::Internal(format!("stored region {code}")))?;
        let s = sheet(st, cu, &rc, year).await?;
        out.push(Ranked {
            rank: 0,
            region_code: code,
            region_name: name,
            status: s.status,
            total: s.total,
            grade: s.grade,
            grade_zh: s.grade_zh,
        });
    }
    out.sort_by(|a, b| b.total.cmp(&a.total).then(a.region_code.cmp(&b.region_code)));
    for (i, r) in out.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(out)
}

/// Which year's ranking (always of the regions one level below the caller's own).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    pub year: i32,
}

/// The regions one level below the caller's, ranked by their totals, with status and grade.
#[utoipa::path(get, path = "/api/v1/evaluations", tag = "evaluation", params(RankingQuery), responses((status = 200), (status = 409), (status = 422)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RankingQuery>,
) -> Result<Json<Vec<Ranked>>, ApiError> {
    Ok(Json(ranking(&st, &cu, year_of(q.year)?).await?))
}

/// The ranking as xlsx.
#[utoipa::path(get, path = "/api/v1/evaluations/export.xlsx", tag = "evaluation", params(RankingQuery), responses((status = 200, description = "xlsx")))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiQuery(q): ApiQuery<RankingQuery>,
) -> Result<Response, ApiError> {
    let year = year_of(q.year)?;
    let rows: Vec<Vec<String>> = ranking(&st, &cu, year)
        .await?
        .into_iter()
        .map(|r| {
            vec![
                r.rank.to_string(),
                r.region_code,
                r.region_name,
                format!("{:.2}", r.total as f64 / 100.0),
                r.grade_zh.into(),
                rules::status_zh(&r.status).to_string(),
            ]
        })
        .collect();
    let bytes = crate::tabular::write_xlsx("绩效评价", &["排名", "区划代码", "地区", "得分", "等级", "状态"], &rows)?;
    Ok(attachment(bytes, XLSX, &format!("绩效评价-{year}.xlsx")))
}
