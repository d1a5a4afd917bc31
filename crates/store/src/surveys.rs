//! Needs and satisfaction surveys of an estate: the questionnaire, answers per dwelling (from the
//! phone or entered from paper), photos filed in the archive, and the counts. The rules are
//! `huanxin_domain::surveys`.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use crate::today;
use huanxin_domain::access::Scope;
use huanxin_domain::reason;
use huanxin_domain::surveys::{self as rules, Answers, Question, Response, Results, ValidSurvey};
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// A survey as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Survey {
    pub id: i64,
    pub estate_id: i64,
    pub title: String,
    pub purpose: String,
    #[serde(skip)]
    pub questions_json: String,
    pub anonymous: bool,
    pub many_per_dwelling: bool,
    pub opens_on: String,
    pub closes_on: String,
    pub created_by: String,
    pub created_at: String,
    #[sqlx(skip)]
    pub questions: Vec<Question>,
    #[sqlx(skip)]
    pub open: bool,
    #[sqlx(skip)]
    pub answers: i64,
}

/// One answer as the export lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AnswerRow {
    pub id: i64,
    pub building_number: String,
    pub stairwell: i64,
    pub dwelling_number: String,
    pub respondent: String,
    pub channel: String,
    pub answers_json: String,
    pub at: String,
}

const SURVEY_COLS: &str =
    "id, estate_id, title, purpose, questions_json, anonymous, many_per_dwelling, opens_on, closes_on, created_by, created_at";

fn date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl Survey {
    fn filled(mut self, answers: i64) -> Result<Survey, StoreError> {
        self.questions =
            serde_json::from_str(&self.questions_json).map_err(|e| StoreError::Config(format!("survey {} questions: {e}", self.id)))?;
        self.open = match (date(&self.opens_on), date(&self.closes_on)) {
            (Some(o), Some(c)) => rules::is_open(o, c, today()),
            _ => false,
        };
        self.answers = answers;
        Ok(self)
    }
}

impl Db {
    /// The names of people the registry and the surveys know at an estate (owners, respondents,
    /// residents' accounts): what free text is searched for before others read it.
    pub async fn known_names(&self, estate_id: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = self
            .fetch_all(
                "SELECT o.name FROM dwelling_owners o JOIN dwellings d ON d.id = o.dwelling_id WHERE d.estate_id = $1 \
                 UNION SELECT a.respondent FROM survey_answers a JOIN surveys s ON s.id = a.survey_id WHERE s.estate_id = $1",
                crate::args![estate_id],
            )
            .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Sets up a survey of an estate.
    pub async fn create_survey(&self, actor: &Actor, scope: &Scope, estate_id: i64, s: &ValidSurvey) -> Result<Survey, StoreError> {
        let mut made = self.create_surveys(actor, scope, &[estate_id], s).await?;
        made.pop().ok_or(StoreError::NotFound)
    }

    /// The same survey on each of several estates in scope (a grid's opinion round), all or none.
    pub async fn create_surveys(
        &self,
        actor: &Actor,
        scope: &Scope,
        estate_ids: &[i64],
        s: &ValidSurvey,
    ) -> Result<Vec<Survey>, StoreError> {
        let mut estates = Vec::new();
        for id in estate_ids {
            estates.push(self.get_estate(scope, *id).await?);
        }
        let questions = serde_json::to_string(&s.input.questions).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut tx = self.begin().await?;
        let mut made = Vec::new();
        for estate in estates {
            let estate_id = estate.id;
            let survey: Survey = tx
            .fetch_one(
                &format!(
                    "INSERT INTO surveys (estate_id, title, purpose, questions_json, anonymous, many_per_dwelling, opens_on, closes_on, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {SURVEY_COLS}"
                ),
                crate::args![
                    estate_id,
                    s.input.title.as_str(),
                    s.input.purpose.as_str(),
                    questions.as_str(),
                    s.input.anonymous,
                    s.input.many_per_dwelling,
                    s.opens_on.to_string(),
                    s.closes_on.to_string(),
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await?;
            tx.audit(
                actor,
                Change {
                    action: "create",
                    entity: "survey",
                    entity_id: survey.id.to_string(),
                    region_code: estate.community_code,
                    before: None,
                    after: Some(serde_json::json!({"title": s.input.title, "questions": s.input.questions.len()})),
                },
            )
            .await?;
            made.push(survey.filled(0)?);
        }
        tx.commit().await?;
        Ok(made)
    }

    /// The dwellings that answered a survey: a grid worker's doors still to knock on.
    pub async fn answered_dwellings(&self, survey: crate::reach::SurveyInScope) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = self
            .fetch_all(
                "SELECT DISTINCT dwelling_id FROM survey_answers WHERE survey_id = $1 ORDER BY dwelling_id",
                crate::args![survey.id()],
            )
            .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// An estate's surveys, newest first, with how many answered.
    pub async fn surveys_of(&self, scope: &Scope, estate_id: i64) -> Result<Vec<Survey>, StoreError> {
        self.get_estate(scope, estate_id).await?;
        let rows: Vec<Survey> = self
            .fetch_all(&format!("SELECT {SURVEY_COLS} FROM surveys WHERE estate_id = $1 ORDER BY id DESC"), crate::args![estate_id])
            .await?;
        let counts: Vec<(i64, i64)> = self
            .fetch_all(
                "SELECT a.survey_id, COUNT(*) FROM survey_answers a JOIN surveys s ON s.id = a.survey_id WHERE s.estate_id = $1 GROUP BY a.survey_id",
                crate::args![estate_id],
            )
            .await?;
        let counts: HashMap<i64, i64> = counts.into_iter().collect();
        rows.into_iter()
            .map(|s| {
                let n = counts.get(&s.id).copied().unwrap_or(0);
                s.filled(n)
            })
            .collect()
    }

    /// One survey, if its estate is in scope.
    pub async fn survey(&self, scope: &Scope, id: i64) -> Result<Survey, StoreError> {
        let s: Survey = self.fetch_one(&format!("SELECT {SURVEY_COLS} FROM surveys WHERE id = $1"), crate::args![id]).await?;
        self.get_estate(scope, s.estate_id).await?;
        let n = self.scalar("SELECT COUNT(*) FROM survey_answers WHERE survey_id = $1", crate::args![id]).await?;
        s.filled(n)
    }

    /// The photos filed for a survey (the only documents a photo answer may name).
    pub async fn survey_photo_ids(&self, survey: crate::reach::SurveyInScope) -> Result<HashSet<i64>, StoreError> {
        let survey_id = survey.id();
        let ids: Vec<(i64,)> = self.fetch_all("SELECT id FROM documents WHERE survey_id = $1", crate::args![survey_id]).await?;
        Ok(ids.into_iter().map(|(i,)| i).collect())
    }

    /// Files photos for a survey's photo questions in the archive (plan: residents' needs survey).
    pub async fn add_survey_photos(
        &self,
        actor: &Actor,
        scope: &Scope,
        survey_id: i64,
        photos: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<crate::archive::Document>, StoreError> {
        let survey = self.survey(scope, survey_id).await?;
        if !survey.open {
            return Err(StoreError::Conflict(reason!("surveys.outside_period", opens_on = survey.opens_on, closes_on = survey.closes_on)));
        }
        let mut problems = ValidationErrors::default();
        if photos.is_empty() || photos.len() > 5 {
            problems.push("photos", photos.len(), reason!("surveys.photo_count"));
        }
        let title = format!("问需照片：{}", survey.title);
        let checked = crate::archive::check_photos(photos, "plan", "needs_survey", &title, &mut problems);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let estate = self.get_estate(scope, survey.estate_id).await?;
        self.stage_documents(&checked).await?;
        let mut tx = self.begin().await?;
        let mut docs = Vec::new();
        for c in checked {
            let attached = crate::archive::AttachedTo { survey_id: Some(survey_id), ..Default::default() };
            docs.push(tx.insert_document(actor, survey.estate_id, c, attached).await?);
        }
        tx.audit(
            actor,
            Change {
                action: "add_photos",
                entity: "survey",
                entity_id: survey_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"documents": docs.iter().map(|d| d.id).collect::<Vec<_>>()})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(docs)
    }

    /// Records one household's answers (already checked against the questions). One per dwelling
    /// unless the survey allows more; refused outside its dates.
    #[allow(clippy::too_many_arguments)]
    pub async fn answer_survey(
        &self,
        actor: &Actor,
        scope: &Scope,
        survey_id: i64,
        dwelling_id: i64,
        respondent: &str,
        channel: &str,
        answers: &Answers,
    ) -> Result<i64, StoreError> {
        let survey = self.survey(scope, survey_id).await?;
        if !survey.open {
            return Err(StoreError::Conflict(reason!("surveys.outside_period", opens_on = survey.opens_on, closes_on = survey.closes_on)));
        }
        let in_estate = self
            .scalar("SELECT COUNT(*) FROM dwellings WHERE id = $1 AND estate_id = $2", crate::args![dwelling_id, survey.estate_id])
            .await?;
        if in_estate == 0 {
            return Err(ValidationErrors::one("dwelling_id", dwelling_id, reason!("field.not_dwelling_estate")).into());
        }
        let json = serde_json::to_string(answers).map_err(|e| StoreError::Config(e.to_string()))?;
        let one_key = (!survey.many_per_dwelling).then_some(dwelling_id);
        let estate = self.get_estate(scope, survey.estate_id).await?;
        let mut tx = self.begin().await?;
        let inserted: Result<(i64,), StoreError> = tx
            .fetch_one(
                "INSERT INTO survey_answers (survey_id, dwelling_id, one_key, user_id, respondent, channel, answers_json, entered_by, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                crate::args![
                    survey_id,
                    dwelling_id,
                    one_key,
                    actor.user_id,
                    respondent,
                    channel,
                    json.as_str(),
                    actor.username.as_str(),
                    crate::now()
                ],
            )
            .await;
        let (id,) = match inserted {
            Err(StoreError::Duplicate(_)) => return Err(StoreError::Conflict(reason!("surveys.already_answered"))),
            other => other?,
        };
        if survey.purpose == "satisfaction" {
            tx.refresh_estate_statistics(survey.estate_id).await?;
        }
        tx.audit(
            actor,
            Change {
                action: "answer",
                entity: "survey",
                entity_id: survey_id.to_string(),
                region_code: estate.community_code,
                before: None,
                after: Some(serde_json::json!({"answer_id": id, "channel": channel})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Has this dwelling answered the survey?
    pub async fn has_answered(&self, survey: crate::reach::SurveyInScope, dwelling_id: i64) -> Result<bool, StoreError> {
        let survey_id = survey.id();
        Ok(self
            .scalar("SELECT COUNT(*) FROM survey_answers WHERE survey_id = $1 AND dwelling_id = $2", crate::args![survey_id, dwelling_id])
            .await?
            > 0)
    }

    /// The answers of a survey with where they came from, oldest first.
    pub async fn survey_answers(&self, scope: &Scope, survey_id: i64) -> Result<(Survey, Vec<AnswerRow>), StoreError> {
        let survey = self.survey(scope, survey_id).await?;
        let rows = self
            .fetch_all(
                "SELECT a.id, b.number AS building_number, d.stairwell, d.number AS dwelling_number, a.respondent, a.channel, a.answers_json, a.at \
                 FROM survey_answers a JOIN dwellings d ON d.id = a.dwelling_id JOIN buildings b ON b.id = d.building_id \
                 WHERE a.survey_id = $1 ORDER BY a.id",
                crate::args![survey_id],
            )
            .await?;
        Ok((survey, rows))
    }

    /// The counts of a survey: demand list, by building, conflicts, willingness.
    pub async fn survey_results(&self, scope: &Scope, survey_id: i64) -> Result<(Survey, Results), StoreError> {
        let (survey, rows) = self.survey_answers(scope, survey_id).await?;
        let households = self
            .scalar(
                "SELECT CASE WHEN e.households > 0 THEN e.households ELSE (SELECT COUNT(*) FROM dwellings d WHERE d.estate_id = e.id) END \
                 FROM estates e WHERE e.id = $1",
                crate::args![survey.estate_id],
            )
            .await?;
        let responses: Vec<Response> = rows
            .iter()
            .filter_map(|r| {
                serde_json::from_str(&r.answers_json).ok().map(|answers| Response { building: r.building_number.clone(), answers })
            })
            .collect();
        let results = rules::results(&survey.questions, &responses, households);
        Ok((survey, results))
    }

    /// Willingness to renovate (basis points) from each estate's latest needs survey that asked it,
    /// for the ranking.
    pub async fn willingness_of(&self, estate_ids: &[i64]) -> Result<HashMap<i64, i64>, StoreError> {
        let mut out = HashMap::new();
        if estate_ids.is_empty() {
            return Ok(out);
        }
        let surveys: Vec<(i64, i64)> = self
            .fetch_all(
                "SELECT estate_id, MAX(id) FROM surveys WHERE purpose = 'needs' AND questions_json LIKE '%willing_to_renovate%' GROUP BY estate_id",
                vec![],
            )
            .await?;
        let wanted: HashSet<i64> = estate_ids.iter().copied().collect();
        let everywhere = Scope::Region(huanxin_domain::regions::RegionCode::country());
        for (estate, survey) in surveys.into_iter().filter(|(e, _)| wanted.contains(e)) {
            let (_, results) = self.survey_results(&everywhere, survey).await?;
            // Willing to renovate, and where the survey asked it, to contribute as well: the two count alike.
            let w = match (results.willing_to_renovate_bp, results.willing_to_contribute_bp) {
                (Some(r), Some(c)) => Some((r + c) / 2),
                (r, _) => r,
            };
            if let Some(w) = w.filter(|_| results.respondents > 0) {
                out.insert(estate, w);
            }
        }
        Ok(out)
    }
}
