//! Projects: estates renovated together and the companies doing the work. A company account named
//! as a party is attached to every estate of the project, so that it sees exactly those.

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::projects::{PartyInput, PartyRole, ProjectInput};
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;

/// A project.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// The county the project belongs to.
    pub region_code: String,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
}

/// An estate of a project.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProjectEstate {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub status: String,
    pub households: i64,
}

/// A company in a project; the phone is masked unless the caller may see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Party {
    pub id: i64,
    pub role: String,
    pub company: String,
    pub contact: String,
    pub phone: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
}

const PROJECT_COLS: &str = "p.id, p.code, p.name, p.region_code, p.status, p.created_by, p.created_at";

impl Db {
    /// Creates a project of estates in the caller's region, all in one county.
    pub async fn create_project(&self, actor: &Actor, scope: &Scope, input: &ProjectInput) -> Result<Project, StoreError> {
        input.validate().map_err(StoreError::Invalid)?;
        let mut errors = ValidationErrors::default();
        let mut county: Option<String> = None;
        for (i, id) in input.estate_ids.iter().enumerate() {
            match self.get_estate(scope, *id).await {
                Ok(e) => {
                    // One active project per estate: its works are contracted and paid once.
                    let other: Option<(String,)> = self
                        .fetch_optional(
                            "SELECT p.code FROM project_estates pe JOIN projects p ON p.id = pe.project_id \
                             WHERE pe.estate_id = $1 AND p.status = 'active' LIMIT 1",
                            crate::args![*id],
                        )
                        .await?;
                    if let Some((code,)) = other {
                        errors.push(&format!("estate_ids[{i}]"), id, reason!("projects.estate_in_project", code = code));
                    }
                    let c = format!("{:0<12}", &e.community_code[..6.min(e.community_code.len())]);
                    match &county {
                        None => county = Some(c),
                        Some(first) if *first != c => errors.push(&format!("estate_ids[{i}]"), id, reason!("projects.other_county")),
                        Some(_) => {}
                    }
                }
                Err(StoreError::NotFound) => errors.push(&format!("estate_ids[{i}]"), id, reason!("field.no_such_estate")),
                Err(e) => return Err(e),
            }
        }
        let Some(county) = county.filter(|_| errors.is_empty()) else {
            return Err(StoreError::Invalid(errors));
        };
        let mut tx = self.begin().await?;
        let project: Project = tx
            .fetch_one(
                "INSERT INTO projects (code, name, region_code, created_by, created_at) VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, code, name, region_code, status, created_by, created_at",
                crate::args![input.code.trim(), input.name.trim(), county.as_str(), actor.username.as_str(), crate::now()],
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => StoreError::Conflict(huanxin_domain::reason!("projects.code_taken", code = input.code.trim())),
                other => other,
            })?;
        let rows = input.estate_ids.iter().map(|id| crate::args![project.id, *id]).collect();
        tx.insert_rows("project_estates", &["project_id", "estate_id"], rows, "").await?;
        tx.audit(
            actor,
            Change {
                action: "create",
                entity: "project",
                entity_id: project.id.to_string(),
                region_code: county,
                before: None,
                after: Some(serde_json::json!({"code": project.code, "name": project.name, "estate_ids": input.estate_ids})),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(project)
    }

    /// Projects the caller may see: those in their region, or those they are a party to.
    pub async fn list_projects(&self, scope: &Scope) -> Result<Vec<Project>, StoreError> {
        match scope {
            // A street's or community's desk also sees the county's projects that renew estates in its area.
            Scope::Region(rc) => {
                let (lo, hi) = rc.subtree_range();
                self.fetch_all(
                    &format!(
                        "SELECT {PROJECT_COLS} FROM projects p WHERE (p.region_code >= $1 AND p.region_code < $2) \
                         OR EXISTS (SELECT 1 FROM project_estates pe JOIN estates e ON e.id = pe.estate_id \
                                    WHERE pe.project_id = p.id AND e.community_code >= $1 AND e.community_code < $2) \
                         ORDER BY p.id DESC LIMIT 1000"
                    ),
                    crate::args![lo, hi],
                )
                .await
            }
            Scope::Attached { user_id } => {
                self.fetch_all(
                    &format!(
                        "SELECT {PROJECT_COLS} FROM projects p WHERE p.id IN (SELECT project_id FROM project_parties WHERE user_id = $1) \
                         ORDER BY p.id DESC"
                    ),
                    crate::args![*user_id],
                )
                .await
            }
        }
    }

    /// One project the caller may read: as [`Db::get_project`], and for a street's or community's
    /// desk also a project above it that renews estates in its area, with only those estates.
    /// Writes keep to [`Db::get_project`].
    pub async fn read_project(&self, scope: &Scope, id: i64) -> Result<(Project, Vec<ProjectEstate>, Vec<Party>), StoreError> {
        match self.get_project(scope, id).await {
            Err(StoreError::NotFound) => {}
            other => return other,
        }
        let Scope::Region(rc) = scope else { return Err(StoreError::NotFound) };
        let (lo, hi) = rc.subtree_range();
        let estates: Vec<ProjectEstate> = self
            .fetch_all(
                "SELECT e.id, e.code, e.name, e.status, e.households FROM project_estates pe JOIN estates e ON e.id = pe.estate_id \
                 WHERE pe.project_id = $1 AND e.community_code >= $2 AND e.community_code < $3 ORDER BY e.code",
                crate::args![id, lo, hi],
            )
            .await?;
        if estates.is_empty() {
            return Err(StoreError::NotFound);
        }
        let project: Project = self
            .fetch_optional(&format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = $1"), crate::args![id])
            .await?
            .ok_or(StoreError::NotFound)?;
        let parties = self.parties(id).await?;
        Ok((project, estates, parties))
    }

    async fn parties(&self, id: i64) -> Result<Vec<Party>, StoreError> {
        self.fetch_all(
            "SELECT pp.id, pp.role, pp.company, pp.contact, pp.phone, pp.user_id, u.username FROM project_parties pp \
             LEFT JOIN users u ON u.id = pp.user_id WHERE pp.project_id = $1 ORDER BY pp.id",
            crate::args![id],
        )
        .await
    }

    /// A project the caller may change and its estates' ids (the payment paths' two reads, without
    /// the parties [`Db::get_project`] also reads).
    pub(crate) async fn project_with_estates(&self, scope: &Scope, id: i64) -> Result<(Project, Vec<i64>), StoreError> {
        let project: Project = self
            .fetch_optional(&format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = $1"), crate::args![id])
            .await?
            .ok_or(StoreError::NotFound)?;
        if !self.sees_project(scope, &project).await? {
            return Err(StoreError::NotFound);
        }
        let estates: Vec<(i64,)> =
            self.fetch_all("SELECT estate_id FROM project_estates WHERE project_id = $1 ORDER BY estate_id", crate::args![id]).await?;
        Ok((project, estates.into_iter().map(|(e,)| e).collect()))
    }

    /// Whether `scope` covers a project: its region's, or its company's by a party.
    async fn sees_project(&self, scope: &Scope, project: &Project) -> Result<bool, StoreError> {
        Ok(match scope {
            Scope::Region(rc) => project.region_code.starts_with(rc.prefix()),
            Scope::Attached { user_id } => self
                .fetch_optional::<(i64,)>(
                    "SELECT id FROM project_parties WHERE project_id = $1 AND user_id = $2",
                    crate::args![project.id, *user_id],
                )
                .await?
                .is_some(),
        })
    }

    /// One project the caller may see, with its estates and parties.
    pub async fn get_project(&self, scope: &Scope, id: i64) -> Result<(Project, Vec<ProjectEstate>, Vec<Party>), StoreError> {
        let project: Project = self
            .fetch_optional(&format!("SELECT {PROJECT_COLS} FROM projects p WHERE p.id = $1"), crate::args![id])
            .await?
            .ok_or(StoreError::NotFound)?;
        if !self.sees_project(scope, &project).await? {
            return Err(StoreError::NotFound);
        }
        let estates = self
            .fetch_all(
                "SELECT e.id, e.code, e.name, e.status, e.households FROM project_estates pe JOIN estates e ON e.id = pe.estate_id \
                 WHERE pe.project_id = $1 ORDER BY e.code",
                crate::args![id],
            )
            .await?;
        let parties = self.parties(id).await?;
        Ok((project, estates, parties))
    }

    /// Names a company in a project; its account (of the matching role, in the caller's region) is
    /// attached to every estate of the project.
    pub async fn add_party(&self, actor: &Actor, scope: &Scope, project_id: i64, p: &PartyInput) -> Result<Party, StoreError> {
        let role: PartyRole = p.validate().map_err(StoreError::Invalid)?;
        let (project, estates, _) = self.get_project(scope, project_id).await?;
        if let Some(uid) = p.user_id {
            let user = self
                .user_by_id(uid)
                .await
                .map_err(|_| StoreError::Invalid(ValidationErrors::one("user_id", uid, reason!("projects.no_such_account"))))?;
            let in_region = matches!(scope, Scope::Region(rc) if rc.contains(&user.region()));
            if !in_region {
                return Err(StoreError::Invalid(ValidationErrors::one("user_id", uid, reason!("projects.no_such_account_in_region"))));
            }
            if user.role() != role.account_role() {
                return Err(StoreError::Invalid(ValidationErrors::one(
                    "user_id",
                    uid,
                    reason!("projects.wrong_role", role = role.as_str()),
                )));
            }
        }
        let mut tx = self.begin().await?;
        let (id,): (i64,) = tx
            .fetch_one(
                "INSERT INTO project_parties (project_id, role, company, contact, phone, user_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                crate::args![project_id, role.as_str(), p.company.trim(), p.contact.trim(), p.phone.trim(), p.user_id],
            )
            .await?;
        if let Some(uid) = p.user_id {
            for e in &estates {
                tx.execute("INSERT INTO user_estates (user_id, estate_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", crate::args![uid, e.id])
                    .await?;
            }
        }
        tx.audit(
            actor,
            Change {
                action: "add_party",
                entity: "project",
                entity_id: project_id.to_string(),
                region_code: project.region_code.clone(),
                before: None,
                after: Some(serde_json::json!({"role": role.as_str(), "company": p.company.trim(), "user_id": p.user_id})),
            },
        )
        .await?;
        tx.commit().await?;
        let (_, _, parties) = self.get_project(scope, project_id).await?;
        parties.into_iter().find(|x| x.id == id).ok_or(StoreError::NotFound)
    }
}
