//! HTTP routes of needs and satisfaction surveys: set one up, answer it from the phone or from
//! paper, file photos, read the results (demand list, by building, conflicts) and export them.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::tabular::Sheet;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use huanxin_domain::access::{Permission, Role};
use huanxin_domain::reason;
use huanxin_domain::surveys::{self as rules, Answers, QuestionKind, Results, SurveyInput};
use huanxin_store::archive::Document;
use huanxin_store::surveys::Survey;
use serde::{Deserialize, Serialize};

/// One household's answers: residents name one of their dwellings; staff entering a paper form
/// name the dwelling and who filled it in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AnswerRequest {
    pub dwelling_id: i64,
    #[serde(default)]
    pub respondent: String,
    #[schema(value_type = Object)]
    pub answers: Answers,
}

/// A survey and, for a resident, which of their dwellings have answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SurveyPage {
    #[schema(value_type = Object)]
    pub survey: Survey,
    pub answered_dwellings: Vec<i64>,
}

/// Results with the survey they count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultsPage {
    #[schema(value_type = Object)]
    pub survey: Survey,
    #[schema(value_type = Object)]
    pub results: Results,
}

/// An estate's surveys, newest first.
#[utoipa::path(get, path = "/api/v1/estates/{id}/surveys", tag = "surveys", params(("id" = i64, Path)),
    responses((status = 200, description = "surveys"), (status = 404)))]
pub async fn list(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Survey>>, ApiError> {
    Ok(Json(st.db.surveys_of(&cu.scope, id).await?))
}

/// Sets up a survey: questions (single, multiple, rating, ranking, text, photo), dates, anonymous or named.
#[utoipa::path(post, path = "/api/v1/estates/{id}/surveys", tag = "surveys", params(("id" = i64, Path)),
    request_body = Object, responses((status = 201, description = "the survey"), (status = 403), (status = 422)))]
pub async fn create(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<SurveyInput>,
) -> Result<(StatusCode, Json<Survey>), ApiError> {
    let valid = input.validate(huanxin_store::today())?;
    Ok((StatusCode::CREATED, Json(st.db.create_survey(&cu.actor(), &cu.scope, id, &valid).await?)))
}

/// One survey with its questions.
#[utoipa::path(get, path = "/api/v1/surveys/{id}", tag = "surveys", params(("id" = i64, Path)),
    responses((status = 200, body = SurveyPage), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SurveyPage>, ApiError> {
    let survey = st.db.survey(&cu.scope, id).await?;
    let reached = st.db.survey_in_scope(&cu.scope, id).await?;
    let mut answered_dwellings = Vec::new();
    // A grid worker going door to door sees which households of their grid answered (not what).
    if cu.role == Role::GridWorker && !survey.anonymous && st.db.works_on_estate(cu.user.id, survey.estate_id).await? {
        answered_dwellings = st.db.answered_dwellings(reached).await?;
    }
    if cu.role == Role::Resident {
        for d in st.db.my_dwellings(cu.user.id).await? {
            if d.estate_id == survey.estate_id && st.db.has_answered(reached, d.dwelling_id).await? {
                answered_dwellings.push(d.dwelling_id);
            }
        }
    }
    Ok(Json(SurveyPage { survey, answered_dwellings }))
}

/// Records one household's answers, checked question by question (each problem names
/// `answers.<question>`); one per dwelling unless the survey allows more.
#[utoipa::path(post, path = "/api/v1/surveys/{id}/answers", tag = "surveys", params(("id" = i64, Path)),
    request_body = AnswerRequest, responses((status = 201, description = "recorded"), (status = 403), (status = 409), (status = 422)))]
pub async fn answer(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let survey = st.db.survey(&cu.scope, id).await?;
    let (respondent, channel) = if cu.role == Role::Resident {
        if st.db.is_owner_of(cu.user.id, req.dwelling_id).await?.is_none() {
            return Err(ApiError::Forbidden(reason!("field.not_your_dwelling")));
        }
        (cu.user.display_name.clone(), "online")
    } else {
        crate::grids::may_collect(&st, &cu, survey.estate_id).await?;
        (req.respondent.trim().to_string(), "paper")
    };
    let photos = st.db.survey_photo_ids(st.db.survey_in_scope(&cu.scope, id).await?).await?;
    let answers = match rules::check_answers(&survey.questions, &req.answers, &photos) {
        Ok(a) => a,
        Err(e) => {
            let reason = e.0.iter().map(|f| format!("{}: {}", f.field, f.reason)).collect::<Vec<_>>().join("; ");
            st.db.audit_refusal(&cu.actor(), "answer_refused", "survey", id.to_string(), String::new(), &reason).await?;
            return Err(e.into());
        }
    };
    // Anonymous surveys keep no name with the answer.
    let respondent = if survey.anonymous { String::new() } else { respondent };
    let answer_id = st.db.answer_survey(&cu.actor(), &cu.scope, id, req.dwelling_id, &respondent, channel, &answers).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"id": answer_id}))))
}

/// Files photos for a survey's photo questions (answer with the returned document ids).
#[utoipa::path(post, path = "/api/v1/surveys/{id}/photos", tag = "surveys", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "files `photos` (1 to 5 jpg, png or webp)"),
    responses((status = 201, description = "the documents"), (status = 409), (status = 413), (status = 422)))]
pub async fn photos(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    crate::error::ApiMultipart(multipart): crate::error::ApiMultipart,
) -> Result<(StatusCode, Json<Vec<Document>>), ApiError> {
    if cu.role != Role::Resident {
        cu.require(Permission::ConsultResidents)?;
    }
    let (_, files) = crate::construction::read_form(multipart).await?;
    Ok((StatusCode::CREATED, Json(st.db.add_survey_photos(&cu.actor(), &cu.scope, id, files).await?)))
}

/// The counts: the demand list (share of households), each question by building, ratings,
/// rankings (Borda), conflicts over shared spaces, willingness.
#[utoipa::path(get, path = "/api/v1/surveys/{id}/results", tag = "surveys", params(("id" = i64, Path)),
    responses((status = 200, body = ResultsPage), (status = 404)))]
pub async fn results(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ResultsPage>, ApiError> {
    // A grid worker is told which doors answered an open named survey of their grid: with the
    // running counts too, each door's answer would show from one answer to the next. Until it
    // closes, its results are the desks'.
    if cu.role == Role::GridWorker {
        let survey = st.db.survey(&cu.scope, id).await?;
        if survey.open && !survey.anonymous && st.db.works_on_estate(cu.user.id, survey.estate_id).await? {
            return Err(ApiError::Forbidden(reason!("grids.results_at_desk")));
        }
    }
    let (survey, mut results) = st.db.survey_results(&cu.scope, id).await?;
    if !cu.role.allows(Permission::ReadResidentsAnswers) {
        let names = st.db.known_names(survey.estate_id).await?;
        for q in &mut results.questions {
            for t in &mut q.texts {
                *t = huanxin_domain::privacy::mask_personal(t, &names);
            }
        }
    }
    Ok(Json(ResultsPage { survey, results }))
}

fn pct(bp: i64) -> String {
    format!("{:.1}", bp as f64 / 100.0)
}

/// The results as a workbook: the demand list, each question by building, conflicts, and every
/// answer (without dwelling or name for an anonymous survey).
#[utoipa::path(get, path = "/api/v1/surveys/{id}/export.xlsx", tag = "surveys", params(("id" = i64, Path)),
    responses((status = 200, description = "xlsx", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn export_xlsx(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    cu.require(Permission::ReadResidentsAnswers)?;
    let bytes = survey_xlsx(&st.db, &cu.scope, id, true).await?;
    Ok(crate::estates::attachment(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("问需结果-{id}.xlsx"),
    ))
}

/// The results workbook of a survey (also put into the archive's zip).
/// `answers`: with the sheet of every answer (dwelling, name, free text), only for those who may
/// read residents' answers.
pub(crate) async fn survey_xlsx(
    db: &huanxin_store::Db,
    scope: &huanxin_domain::access::Scope,
    id: i64,
    answers_sheet: bool,
) -> Result<Vec<u8>, ApiError> {
    let (survey, results) = db.survey_results(scope, id).await?;
    let (_, answers) = db.survey_answers(scope, id).await?;
    let demand: Vec<Vec<String>> = results
        .demand_list
        .iter()
        .enumerate()
        .map(|(i, (q, o, n, share))| vec![(i + 1).to_string(), q.clone(), o.clone(), n.to_string(), pct(*share)])
        .collect();
    let mut buildings: Vec<String> = answers.iter().map(|a| a.building_number.clone()).collect();
    buildings.sort();
    buildings.dedup();
    let mut by_building = Vec::new();
    for q in &results.questions {
        for o in &q.options {
            let mut row = vec![q.text.clone(), o.option.clone(), o.count.to_string()];
            row.extend(buildings.iter().map(|b| o.by_building.get(b).copied().unwrap_or(0).to_string()));
            by_building.push(row);
        }
        if let Some(avg) = q.average_x100 {
            by_building.push(vec![q.text.clone(), "平均分".into(), format!("{:.2}", avg as f64 / 100.0)]);
        }
    }
    let conflicts: Vec<Vec<String>> = results
        .conflicts
        .iter()
        .map(|c| {
            vec![
                c.space.clone(),
                c.first.clone(),
                c.first_count.to_string(),
                c.second.clone(),
                c.second_count.to_string(),
                c.buildings.join("、"),
            ]
        })
        .collect();
    let question_heads: Vec<String> = survey.questions.iter().map(|q| q.text.clone()).collect();
    let answer_rows: Vec<Vec<String>> = answers
        .iter()
        .map(|a| {
            let parsed: Answers = serde_json::from_str(&a.answers_json).unwrap_or_default();
            let place = if survey.anonymous {
                a.building_number.clone()
            } else {
                format!("{}-{}-{}", a.building_number, a.stairwell, a.dwelling_number)
            };
            let mut row = vec![
                place,
                if survey.anonymous { String::new() } else { a.respondent.clone() },
                a.channel.clone(),
                a.at.get(..10).unwrap_or("").into(),
            ];
            row.extend(survey.questions.iter().map(|q| readable(q, parsed.get(&q.id))));
            row
        })
        .collect();
    let mut answer_headers = vec!["房屋", "填写人", "方式", "日期"];
    answer_headers.extend(question_heads.iter().map(String::as_str));
    let mut building_headers = vec!["问题", "选项", "合计"];
    building_headers.extend(buildings.iter().map(String::as_str));
    let mut sheets = vec![
        Sheet { name: "需求清单", headers: &["序号", "问题", "需求", "户数", "占总户数(%)"], rows: &demand },
        Sheet { name: "分楼栋", headers: &building_headers, rows: &by_building },
        Sheet {
            name: "空间冲突", headers: &["空间", "需求一", "户数", "需求二", "户数", "主要楼栋"], rows: &conflicts
        },
    ];
    if answers_sheet {
        sheets.push(Sheet { name: "答卷", headers: &answer_headers, rows: &answer_rows });
    }
    crate::tabular::write_xlsx_sheets(&sheets)
}

/// An answer as a person reads it: option names instead of numbers.
fn readable(q: &huanxin_domain::surveys::Question, v: Option<&serde_json::Value>) -> String {
    let Some(v) = v else { return String::new() };
    let name = |x: &serde_json::Value| x.as_u64().and_then(|i| q.options.get(i as usize)).cloned().unwrap_or_default();
    match q.kind {
        Some(QuestionKind::Single) => name(v),
        Some(QuestionKind::Multiple | QuestionKind::Ranking) => {
            v.as_array().map(|a| a.iter().map(name).collect::<Vec<_>>().join("、")).unwrap_or_default()
        }
        Some(QuestionKind::Text) => v.as_str().unwrap_or_default().to_string(),
        Some(QuestionKind::Photo) => format!("照片 #{v}"),
        _ => v.to_string(),
    }
}
