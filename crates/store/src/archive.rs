//! One archive per estate: documents filed per section with their files, and the completeness of
//! each section against the checklist (`huanxin_domain::archive`).

use crate::audit::{Actor, Change};
use crate::db::Db;
use crate::error::StoreError;
use huanxin_domain::access::Scope;
use huanxin_domain::archive::{self as rules, ArchiveLine, LineChange, Section, SectionCompleteness, SystemRecord};
use huanxin_domain::estates::EstateStatus;
use huanxin_domain::reason;
use huanxin_domain::ValidationErrors;
use serde::Serialize;
use std::collections::HashSet;

/// A filed document (its file is read separately).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Document {
    pub id: i64,
    pub estate_id: i64,
    pub section: String,
    pub kind: String,
    pub title: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
    /// The site log whose photo this is.
    pub site_log_id: Option<i64>,
    /// The rectification task this is evidence for.
    pub rectification_id: Option<i64>,
    /// The building and assessment item a photo shows.
    pub building_id: Option<i64>,
    pub item_code: Option<String>,
}

/// A section of an estate's archive: its completeness and its documents.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveSection {
    #[serde(flatten)]
    pub completeness: SectionCompleteness,
    /// Records Huanxin holds that file lines of this section.
    pub records: Vec<SystemRecord>,
    pub documents: Vec<Document>,
}

/// An estate's whole archive.
#[derive(Debug, Clone, Serialize)]
pub struct Archive {
    pub estate_id: i64,
    pub status: String,
    /// Required lines present over the sections due, in basis points.
    pub overall_bp: i64,
    pub sections: Vec<ArchiveSection>,
    /// The checklist in force for the estate (its region's changes applied).
    pub checklist: Vec<ArchiveLine>,
    /// The sections the caller may file documents in (set by the HTTP layer, by role).
    #[serde(default)]
    pub may_file: Vec<String>,
}

/// A document to file, as uploaded.
#[derive(Debug, Clone, Default)]
pub struct NewDocument<'a> {
    pub section: &'a str,
    pub kind: &'a str,
    pub title: &'a str,
    pub file_name: &'a str,
    pub content: crate::Upload,
    /// For a photo of an assessment finding: the building (of this estate) and the item's code.
    pub building_id: Option<i64>,
    pub item_code: Option<&'a str>,
    /// The checklist in force for the estate (its region's); `None`: the national one.
    pub lines: Option<&'a [ArchiveLine]>,
}

/// What a document is attached to besides its estate and section.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AttachedTo {
    pub site_log_id: Option<i64>,
    pub rectification_id: Option<i64>,
    pub survey_id: Option<i64>,
}

/// A document that passed its checks, ready to insert.
pub(crate) struct CheckedDocument {
    section: Section,
    kind: String,
    title: String,
    file_name: String,
    mime: &'static str,
    content: crate::Upload,
    building_id: Option<i64>,
    item_code: Option<String>,
}

pub(crate) const DOC_COLS: &str = "id, estate_id, section, kind, title, file_name, content_type, size, sha256, uploaded_by, uploaded_at, \
    site_log_id, rectification_id, building_id, item_code";

/// Checks a document's section, kind, title, file and assessment reference, naming each problem
/// under `field` prefixed by `prefix` (e.g. `photos[2].`).
pub(crate) fn check_document(doc: NewDocument<'_>, prefix: &str, problems: &mut ValidationErrors) -> Option<CheckedDocument> {
    let before = problems.0.len();
    let section = Section::parse(doc.section);
    match section {
        None => problems.push(&format!("{prefix}section"), doc.section, reason!("archive.not_section_archive")),
        Some(s) if !doc.lines.map_or_else(|| rules::kind_fits(s, doc.kind.trim()), |l| rules::kind_fits_lines(l, s, doc.kind.trim())) => {
            problems.push(&format!("{prefix}kind"), doc.kind, reason!("archive.not_kind_document_filed_section"))
        }
        Some(_) => {}
    }
    let title = if doc.title.trim().is_empty() { doc.file_name.trim() } else { doc.title.trim() };
    if title.is_empty() || title.chars().count() > 200 {
        problems.push(&format!("{prefix}title"), title, reason!("field.length", max = 200));
    }
    if doc.file_name.trim().chars().count() > 200 {
        problems.push(&format!("{prefix}file"), doc.file_name, reason!("archive.file_name_too_long"));
    }
    let item_code = doc.item_code.map(str::trim).filter(|c| !c.is_empty());
    if let Some(code) = item_code {
        if code.len() > 40 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            problems.push(&format!("{prefix}item_code"), code, reason!("archive.not_assessment_item_code"));
        }
    }
    let file_type = rules::check_file(doc.file_name.trim(), &doc.content.head)
        .map_err(|reason| problems.push(&format!("{prefix}file"), doc.file_name, reason))
        .ok();
    let (Some(section), Some(file_type), true) = (section, file_type, problems.0.len() == before) else {
        return None;
    };
    Some(CheckedDocument {
        section,
        kind: doc.kind.trim().to_string(),
        title: title.to_string(),
        file_name: doc.file_name.trim().to_string(),
        mime: file_type.mime,
        content: doc.content,
        building_id: doc.building_id,
        item_code: item_code.map(str::to_string),
    })
}

/// Checks photos (jpg, png, webp only) to be filed under `section`/`kind` with one title, each
/// problem named `photos[i].…`; returns those that passed.
pub(crate) fn check_photos(
    photos: Vec<(String, Vec<u8>)>,
    section: &str,
    kind: &str,
    title: &str,
    problems: &mut ValidationErrors,
) -> Vec<CheckedDocument> {
    let mut checked = Vec::new();
    for (i, (name, content)) in photos.into_iter().enumerate() {
        let doc = NewDocument { section, kind, title, file_name: &name, content: content.into(), ..Default::default() };
        match check_document(doc, &format!("photos[{i}]."), problems) {
            Some(c) if c.mime.starts_with("image/") => checked.push(c),
            Some(_) => problems.push(&format!("photos[{i}].file"), &name, reason!("archive.photo_jpg_png_or_webp")),
            None => {}
        }
    }
    checked
}

impl Db {
    /// Writes checked documents' files to the file store ahead of their transaction.
    pub(crate) async fn stage_documents<'a>(&self, docs: impl IntoIterator<Item = &'a CheckedDocument>) -> Result<(), StoreError> {
        for d in docs {
            self.stage_file(&d.content).await?;
        }
        Ok(())
    }
}

impl crate::db::Tx {
    /// Stores a checked document's file (once per SHA-256) and the document; returns it.
    pub(crate) async fn insert_document(
        &mut self,
        actor: &Actor,
        estate_id: i64,
        doc: CheckedDocument,
        attached: AttachedTo,
    ) -> Result<Document, StoreError> {
        let size = i64::try_from(doc.content.size).unwrap_or(i64::MAX);
        let sha256 = self.put_file(doc.content, doc.mime).await?;
        let (id,): (i64,) = self
            .fetch_one(
                "INSERT INTO documents (estate_id, section, kind, title, file_name, content_type, size, sha256, uploaded_by, uploaded_at, \
                 site_log_id, rectification_id, building_id, item_code, survey_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                crate::args![
                    estate_id,
                    doc.section.as_str(),
                    doc.kind,
                    doc.title,
                    doc.file_name,
                    doc.mime,
                    size,
                    sha256.as_str(),
                    actor.username.as_str(),
                    crate::now(),
                    attached.site_log_id,
                    attached.rectification_id,
                    doc.building_id,
                    doc.item_code,
                    attached.survey_id
                ],
            )
            .await?;
        self.fetch_one(&format!("SELECT {DOC_COLS} FROM documents WHERE id = $1"), crate::args![id]).await
    }
}

impl Db {
    /// The records Huanxin holds for an estate that file checklist lines.
    async fn system_records(&self, estate_id: i64) -> Result<HashSet<SystemRecord>, StoreError> {
        let mut out = HashSet::new();
        let id = crate::args![estate_id];
        if self.scalar("SELECT COUNT(*) FROM assessments WHERE estate_id = $1 AND status = 'finished'", id.clone()).await? > 0 {
            out.insert(SystemRecord::Assessment);
        }
        if self.scalar("SELECT COUNT(*) FROM scheme_versions WHERE estate_id = $1 AND stage = 'final'", id.clone()).await? > 0 {
            out.insert(SystemRecord::FinalScheme);
        }
        if self.scalar("SELECT COUNT(*) FROM acceptances WHERE estate_id = $1", id.clone()).await? > 0
            && self.missing_signatures(estate_id).await?.is_empty()
        {
            out.insert(SystemRecord::Acceptance);
        }
        if self.scalar("SELECT COUNT(*) FROM reviews WHERE estate_id = $1", id.clone()).await? > 0 {
            out.insert(SystemRecord::Review);
        }
        let answered =
            "SELECT COUNT(*) FROM survey_answers a JOIN surveys s ON s.id = a.survey_id WHERE s.estate_id = $1 AND s.purpose = 'needs'";
        if self.scalar(answered, id.clone()).await? > 0 {
            out.insert(SystemRecord::NeedsSurvey);
        }
        let ended = self
            .scalar(
                "SELECT COUNT(*) FROM notices WHERE estate_id = $1 AND round > 0 AND ends_on < $2",
                crate::args![estate_id, crate::today().to_string()],
            )
            .await?;
        let unanswered = self
            .scalar(
                "SELECT COUNT(*) FROM notice_comments c JOIN notices n ON n.id = c.notice_id WHERE n.estate_id = $1 AND c.answer IS NULL",
                id.clone(),
            )
            .await?;
        if ended > 0 && unanswered == 0 {
            out.insert(SystemRecord::Opinions);
        }
        if self
            .scalar(
                "SELECT COUNT(*) FROM decisions WHERE estate_id = $1 AND on_scheme = $2 AND closed_at IS NOT NULL",
                crate::args![estate_id, true],
            )
            .await?
            > 0
        {
            out.insert(SystemRecord::VoteResult);
        }
        Ok(out)
    }

    /// The archive checklist in force in a region: the national lines with the changes of the
    /// country, its province, city, county, street and community, in that order.
    pub async fn archive_lines_for(&self, region: &huanxin_domain::regions::RegionCode) -> Result<Vec<ArchiveLine>, StoreError> {
        let rows: Vec<(String, String, String, String, bool, bool)> = self
            .settings_in_force("section, kind, name_zh, name_en, required, active", "archive_lines", region, "updated_at, kind")
            .await?;
        let changes: Vec<LineChange> = rows
            .into_iter()
            .map(|(section, kind, name_zh, name_en, required, active)| LineChange { section, kind, name_zh, name_en, required, active })
            .collect();
        Ok(rules::lines_in_force(&changes))
    }

    /// Records a region's change to one archive checklist line (checked with `LineChange::validate`).
    pub async fn set_archive_line(
        &self,
        actor: &Actor,
        region: &huanxin_domain::regions::RegionCode,
        change: &LineChange,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            "DELETE FROM archive_lines WHERE region_code = $1 AND section = $2 AND kind = $3",
            crate::args![region.as_str(), change.section.as_str(), change.kind.trim()],
        )
        .await?;
        tx.execute(
            "INSERT INTO archive_lines (region_code, section, kind, name_zh, name_en, required, active, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            crate::args![
                region.as_str(),
                change.section.as_str(),
                change.kind.trim(),
                change.name_zh.trim(),
                change.name_en.trim(),
                change.required,
                change.active,
                crate::now()
            ],
        )
        .await?;
        tx.audit(
            actor,
            Change {
                action: "set",
                entity: "archive_line",
                entity_id: format!("{}/{}", change.section, change.kind),
                region_code: region.as_str().to_string(),
                before: None,
                after: serde_json::to_value(change).ok(),
            },
        )
        .await?;
        tx.commit().await
    }

    /// An estate's archive: every section with its completeness and documents.
    pub async fn archive(&self, scope: &Scope, estate_id: i64) -> Result<Archive, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let status = EstateStatus::parse(&estate.status)
            .ok_or_else(|| StoreError::Config(format!("estate {estate_id} has an unknown status {}", estate.status)))?;
        let documents: Vec<Document> =
            self.fetch_all(&format!("SELECT {DOC_COLS} FROM documents WHERE estate_id = $1 ORDER BY id"), crate::args![estate_id]).await?;
        let records = self.system_records(estate_id).await?;
        let filed: HashSet<(Section, String)> =
            documents.iter().filter_map(|d| Some((Section::parse(&d.section)?, d.kind.clone()))).collect();
        let region = huanxin_domain::regions::RegionCode::parse(&estate.community_code).map_err(|e| StoreError::Config(e.to_string()))?;
        let lines = self.archive_lines_for(&region).await?;
        let completeness = rules::completeness_with(status, &lines, &filed, &records);
        let overall_bp = rules::overall_bp(&completeness);
        let sections = completeness
            .into_iter()
            .map(|c| {
                let section = c.section;
                ArchiveSection {
                    records: lines
                        .iter()
                        .filter(|i| i.section == section)
                        .filter_map(|i| i.record)
                        .filter(|r| records.contains(r))
                        .collect(),
                    documents: documents.iter().filter(|d| d.section == section.as_str()).cloned().collect(),
                    completeness: c,
                }
            })
            .collect();
        Ok(Archive { estate_id, status: estate.status, overall_bp, sections, checklist: lines, may_file: Vec::new() })
    }

    /// Files a document in an estate's archive after checking its section, kind, title and that the
    /// file is what its name claims. The file's content is kept once however often it is filed.
    pub async fn file_document(&self, actor: &Actor, scope: &Scope, estate_id: i64, doc: NewDocument<'_>) -> Result<Document, StoreError> {
        let estate = self.get_estate(scope, estate_id).await?;
        let mut problems = ValidationErrors::default();
        if let Some(b) = doc.building_id {
            if self.scalar("SELECT COUNT(*) FROM buildings WHERE id = $1 AND estate_id = $2", crate::args![b, estate_id]).await? == 0 {
                problems.push("building_id", b, reason!("field.not_building_estate"));
            }
        }
        let region = huanxin_domain::regions::RegionCode::parse(&estate.community_code).map_err(|e| StoreError::Config(e.to_string()))?;
        let lines = self.archive_lines_for(&region).await?;
        let checked = check_document(NewDocument { lines: Some(&lines), ..doc }, "", &mut problems);
        let (Some(checked), true) = (checked, problems.is_empty()) else {
            return Err(StoreError::Invalid(problems));
        };
        self.stage_documents([&checked]).await?;
        let mut tx = self.begin().await?;
        let document = tx.insert_document(actor, estate_id, checked, AttachedTo::default()).await?;
        tx.audit(
            actor,
            Change {
                action: "file_document",
                entity: "estate",
                entity_id: estate_id.to_string(),
                region_code: estate.community_code.clone(),
                before: None,
                after: Some(serde_json::to_value(&document).unwrap_or_default()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(document)
    }

    /// A document in scope (its file is opened by its `sha256`).
    pub async fn document_in_scope(&self, scope: &Scope, document_id: i64) -> Result<Document, StoreError> {
        let doc: Document = self.fetch_one(&format!("SELECT {DOC_COLS} FROM documents WHERE id = $1"), crate::args![document_id]).await?;
        self.get_estate(scope, doc.estate_id).await?;
        Ok(doc)
    }
}
