//! One archive per estate (一小区一档案): every document and photo filed against the section of the
//! estate's life it belongs to, a completeness checklist per section, and the check that an
//! uploaded file is what its name claims.

use crate::estates::EstateStatus;
use crate::reason;
use crate::reasons::Reason;
use crate::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A section of the archive, one per part of the estate's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Assessment,
    Plan,
    Scheme,
    Notice,
    Decision,
    Construction,
    Acceptance,
    Review,
}

impl Section {
    /// Every section, in the order of the estate's life.
    pub const ALL: [Section; 8] = [
        Section::Assessment,
        Section::Plan,
        Section::Scheme,
        Section::Notice,
        Section::Decision,
        Section::Construction,
        Section::Acceptance,
        Section::Review,
    ];

    /// The code used in storage and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Assessment => "assessment",
            Section::Plan => "plan",
            Section::Scheme => "scheme",
            Section::Notice => "notice",
            Section::Decision => "decision",
            Section::Construction => "construction",
            Section::Acceptance => "acceptance",
            Section::Review => "review",
        }
    }

    /// Parses the storage code.
    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.iter().copied().find(|x| x.as_str() == s.trim())
    }

    /// The Chinese name, used for folder names in the exported archive.
    pub fn label_zh(self) -> &'static str {
        match self {
            Section::Assessment => "01-体检评估",
            Section::Plan => "02-计划立项",
            Section::Scheme => "03-方案设计",
            Section::Notice => "04-方案公示",
            Section::Decision => "05-业主表决",
            Section::Construction => "06-施工监理",
            Section::Acceptance => "07-竣工验收",
            Section::Review => "08-回头看",
        }
    }

    /// The stage from which the section's documents are expected: before it they cannot exist yet.
    pub fn due_from(self) -> EstateStatus {
        match self {
            Section::Assessment => EstateStatus::Assessed,
            Section::Plan => EstateStatus::Approved,
            Section::Scheme | Section::Notice | Section::Decision => EstateStatus::Decided,
            Section::Construction => EstateStatus::Completed,
            Section::Acceptance => EstateStatus::Accepted,
            Section::Review => EstateStatus::Reviewed,
        }
    }
}

/// A record Huanxin keeps itself, which files a checklist item without an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemRecord {
    /// The assessment with its score.
    Assessment,
    /// The final version of the scheme.
    FinalScheme,
    /// The acceptance with every required signature.
    Acceptance,
    /// The six-month review.
    Review,
    /// A needs survey with answers.
    NeedsSurvey,
    /// A scheme notice that has ended with every objection and opinion answered.
    Opinions,
    /// A closed owners' decision on the scheme.
    VoteResult,
}

/// One line of the completeness checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    pub section: Section,
    /// Document kind code.
    pub kind: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    pub required: bool,
    /// Filed by this record when Huanxin holds it.
    pub record: Option<SystemRecord>,
}

const fn item(
    section: Section,
    kind: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    required: bool,
    record: Option<SystemRecord>,
) -> ChecklistItem {
    ChecklistItem { section, kind, name_zh, name_en, required, record }
}

/// Kind code of documents that fit no other line of a section.
pub const OTHER: &str = "other";

/// The national default checklist, drawn from the practice in POLICY §8 (滨州's one archive per
/// estate, five checkpoints, residents' signatures, two rounds of notice, review within six months).
pub const CHECKLIST: &[ChecklistItem] = &[
    item(Section::Assessment, "assessment_report", "体检报告", "Assessment report", true, Some(SystemRecord::Assessment)),
    item(Section::Assessment, "photos_before", "改造前照片", "Photos before renewal", true, None),
    item(Section::Plan, "project_approval", "立项批复", "Project approval", true, None),
    item(Section::Plan, "needs_survey", "居民需求调查", "Residents' needs survey", false, Some(SystemRecord::NeedsSurvey)),
    item(Section::Scheme, "design_scheme", "设计方案（定稿）", "Final design scheme", true, Some(SystemRecord::FinalScheme)),
    item(Section::Scheme, "drawings", "施工图", "Construction drawings", true, None),
    item(Section::Notice, "notice_round_1", "第一轮公示照片", "Notice round 1, posted copy", true, None),
    item(Section::Notice, "notice_round_2", "第二轮公示照片", "Notice round 2, posted copy", true, None),
    item(Section::Notice, "opinions", "居民意见及答复", "Residents' opinions and answers", false, Some(SystemRecord::Opinions)),
    item(Section::Decision, "vote_result", "业主表决结果", "Owners' vote result", true, Some(SystemRecord::VoteResult)),
    item(Section::Construction, "contract", "施工合同", "Construction contract", true, None),
    item(Section::Construction, "supervision_log", "监理日志", "Supervision log", true, None),
    item(Section::Construction, "material_entry", "材料进场记录", "Material entry records", true, None),
    item(Section::Construction, "photos_during", "施工过程照片", "Photos during works", true, None),
    item(Section::Construction, "design_change", "设计变更", "Design changes", false, None),
    item(Section::Acceptance, "acceptance_record", "竣工验收记录", "Acceptance record", true, Some(SystemRecord::Acceptance)),
    item(Section::Acceptance, "photos_after", "改造后照片", "Photos after renewal", true, None),
    item(Section::Review, "review_report", "回头看报告", "Review report", true, Some(SystemRecord::Review)),
    item(Section::Review, "rectification_evidence", "整改佐证照片", "Rectification evidence", false, None),
];

/// A checklist line as in force in a region: the national lines with the region's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveLine {
    pub section: Section,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub required: bool,
    /// Filed by this record when Huanxin holds it.
    pub record: Option<SystemRecord>,
    /// A line of the national checklist (a region may rename it, make it optional or switch it off).
    pub national: bool,
}

impl From<&ChecklistItem> for ArchiveLine {
    fn from(i: &ChecklistItem) -> Self {
        ArchiveLine {
            section: i.section,
            kind: i.kind.to_string(),
            name_zh: i.name_zh.to_string(),
            name_en: i.name_en.to_string(),
            required: i.required,
            record: i.record,
            national: true,
        }
    }
}

/// A region's change to one line: rename it, make it required or not, switch it off, or add a line
/// of its own (e.g. a province's "施工安全许可").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LineChange {
    pub section: String,
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
    pub required: bool,
    pub active: bool,
}

impl LineChange {
    /// Checks a change: a known section, a kind code of letters, digits and `_` (not `other`), a name.
    pub fn validate(&self) -> Result<Section, ValidationErrors> {
        let mut e = ValidationErrors::default();
        let section = Section::parse(&self.section);
        if section.is_none() {
            e.push("section", &self.section, reason!("archive.not_section_archive"));
        }
        let kind = self.kind.trim();
        if kind.is_empty()
            || kind.len() > 40
            || kind == OTHER
            || !kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            e.push("kind", &self.kind, reason!("archive.kind_form"));
        }
        if self.active && (self.name_zh.trim().is_empty() || self.name_zh.chars().count() > 100) {
            e.push("name_zh", &self.name_zh, reason!("field.length", max = 100));
        }
        match section {
            Some(s) if e.is_empty() => Ok(s),
            _ => Err(e),
        }
    }
}

/// The lines in force after applying regions' changes, broadest region first: a change to an
/// existing line replaces its name and whether it is required (or removes it when switched off); a
/// change to an unknown kind adds the region's own line. Records keep filing their lines.
pub fn lines_in_force(changes: &[LineChange]) -> Vec<ArchiveLine> {
    let mut lines: Vec<ArchiveLine> = CHECKLIST.iter().map(ArchiveLine::from).collect();
    for c in changes {
        let Some(section) = Section::parse(&c.section) else { continue };
        let kind = c.kind.trim();
        let national = CHECKLIST.iter().find(|i| i.section == section && i.kind == kind);
        let pos = lines.iter().position(|l| l.section == section && l.kind == kind);
        match (c.active, pos) {
            (false, Some(p)) => {
                lines.remove(p);
            }
            (false, None) => {}
            (true, Some(p)) => {
                let l = &mut lines[p];
                l.name_zh = c.name_zh.trim().to_string();
                l.name_en = if c.name_en.trim().is_empty() { l.name_en.clone() } else { c.name_en.trim().to_string() };
                l.required = c.required;
            }
            (true, None) => {
                // A line switched off higher up and back on here comes back as it was nationally.
                let mut l = national.map(ArchiveLine::from).unwrap_or(ArchiveLine {
                    section,
                    kind: kind.to_string(),
                    name_zh: String::new(),
                    name_en: String::new(),
                    required: false,
                    record: None,
                    national: false,
                });
                l.name_zh = c.name_zh.trim().to_string();
                if !c.name_en.trim().is_empty() {
                    l.name_en = c.name_en.trim().to_string();
                } else if l.name_en.is_empty() {
                    l.name_en = l.name_zh.clone();
                }
                l.required = c.required;
                // Keep the section's lines together, in the national order first.
                let after = lines.iter().rposition(|x| x.section == section).map(|i| i + 1).unwrap_or(lines.len());
                lines.insert(after, l);
            }
        }
    }
    lines
}

/// True when documents of `kind` may be filed in `section` under `lines`: a line of it, or `other`.
pub fn kind_fits_lines(lines: &[ArchiveLine], section: Section, kind: &str) -> bool {
    kind == OTHER || lines.iter().any(|l| l.section == section && l.kind == kind)
}

/// The checklist line of a kind within a section, or `None` for `other` and unknown kinds.
pub fn checklist_item(section: Section, kind: &str) -> Option<&'static ChecklistItem> {
    CHECKLIST.iter().find(|i| i.section == section && i.kind == kind)
}

/// True when documents of `kind` may be filed in `section`: a checklist line of it, or `other`.
pub fn kind_fits(section: Section, kind: &str) -> bool {
    kind == OTHER || checklist_item(section, kind).is_some()
}

/// How complete one section is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionCompleteness {
    pub section: Section,
    /// The estate has reached the stage from which the section is expected.
    pub due: bool,
    pub required: usize,
    pub present: usize,
    /// Required kinds neither uploaded nor filed by a record.
    pub missing: Vec<String>,
}

/// The archive's completeness per section: a required line counts as present when a document of
/// its kind was filed in its section, or when the record that files it exists.
pub fn completeness(status: EstateStatus, filed: &HashSet<(Section, String)>, records: &HashSet<SystemRecord>) -> Vec<SectionCompleteness> {
    let national: Vec<ArchiveLine> = CHECKLIST.iter().map(ArchiveLine::from).collect();
    completeness_with(status, &national, filed, records)
}

/// [`completeness`] against the lines in force in a region.
pub fn completeness_with(
    status: EstateStatus,
    lines: &[ArchiveLine],
    filed: &HashSet<(Section, String)>,
    records: &HashSet<SystemRecord>,
) -> Vec<SectionCompleteness> {
    Section::ALL
        .iter()
        .map(|&section| {
            let lines: Vec<&ArchiveLine> = lines.iter().filter(|i| i.section == section && i.required).collect();
            let missing: Vec<String> = lines
                .iter()
                .filter(|i| !filed.contains(&(section, i.kind.clone())) && !i.record.is_some_and(|r| records.contains(&r)))
                .map(|i| i.kind.clone())
                .collect();
            SectionCompleteness {
                section,
                due: status >= section.due_from(),
                required: lines.len(),
                present: lines.len() - missing.len(),
                missing,
            }
        })
        .collect()
}

/// The share of required lines present over the sections that are due, in basis points (10000 when
/// nothing is due yet).
pub fn overall_bp(sections: &[SectionCompleteness]) -> i64 {
    let (required, present) = sections.iter().filter(|s| s.due).fold((0usize, 0usize), |(r, p), s| (r + s.required, p + s.present));
    if required == 0 {
        return 10_000;
    }
    i64::try_from(present * 10_000 / required).unwrap_or(10_000)
}

/// What kind of file an upload is, found from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileType {
    pub mime: &'static str,
    pub extension: &'static str,
    pub is_image: bool,
}

/// Whether `role` may file documents in `section`: the companies file what is theirs (the designer
/// the scheme and design changes during construction, the contractor and the supervisor
/// construction and acceptance); the project's approvals, notices and the owners' vote are the
/// desks' to file, so that no company can make those lines count as complete.
pub fn may_file(role: crate::access::Role, section: Section) -> bool {
    use crate::access::Role;
    match role {
        Role::Designer => matches!(section, Section::Scheme | Section::Construction),
        Role::Contractor | Role::Supervisor => matches!(section, Section::Construction | Section::Acceptance),
        _ => role.allows(crate::access::Permission::FileDocuments),
    }
}

/// Files the archive takes: photos, PDF, and the office files of a bureau.
const ACCEPTED: &[(&str, &str, bool)] = &[
    ("jpg", "image/jpeg", true),
    ("png", "image/png", true),
    ("webp", "image/webp", true),
    ("pdf", "application/pdf", false),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", false),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", false),
];

/// Checks that a file's content is one the archive takes and matches the extension of its name;
/// the refusal says what was claimed and what was found.
pub fn check_file(file_name: &str, bytes: &[u8]) -> Result<FileType, Reason> {
    if bytes.is_empty() {
        return Err(reason!("field.file_empty"));
    }
    let claimed = file_name.rsplit_once('.').map(|(_, e)| e.to_lowercase()).unwrap_or_default();
    let claimed = if claimed == "jpeg" { "jpg".to_string() } else { claimed };
    let accepted_list = || ACCEPTED.iter().map(|a| a.0).collect::<Vec<_>>().join(", ");
    let Some(&(ext, mime, is_image)) = ACCEPTED.iter().find(|a| a.0 == claimed) else {
        return Err(reason!("archive.extension_not_taken", claimed = claimed, accepted_list = accepted_list()));
    };
    let found = infer::get(bytes);
    match found {
        Some(t) if t.mime_type() == mime => Ok(FileType { mime, extension: ext, is_image }),
        Some(t) => Err(reason!("archive.content_differs", ext = ext, mime_type = t.mime_type())),
        None => Err(reason!("archive.content_not_type", ext = ext, ext2 = ext)),
    }
}

/// The bytes an HTTP `Range` header asks of a file of `size` bytes (`bytes=a-b`, `bytes=a-`,
/// `bytes=-n`; one range): `None` when there is no such header or it is not one we serve (the
/// whole file is sent), `Some(Err(()))` when it lies wholly past the end (416).
pub fn byte_range(header: Option<&str>, size: u64) -> Option<Result<std::ops::Range<u64>, ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        size.saturating_sub(n)..size
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            size
        } else {
            let last = b.parse::<u64>().ok()?;
            // A last byte before the first is no range at all: the whole file is sent.
            if last < start {
                return None;
            }
            last.saturating_add(1).min(size)
        };
        start..end
    };
    Some(if range.start < range.end { Ok(range) } else { Err(()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

    #[test]
    fn companies_file_only_their_own_sections() {
        use crate::access::Role;
        let sections = |role: Role| Section::ALL.iter().copied().filter(|s| may_file(role, *s)).collect::<Vec<_>>();
        assert_eq!(sections(Role::Contractor), vec![Section::Construction, Section::Acceptance]);
        assert_eq!(sections(Role::Supervisor), vec![Section::Construction, Section::Acceptance]);
        assert_eq!(sections(Role::Designer), vec![Section::Scheme, Section::Construction]);
        assert_eq!(sections(Role::CountyStaff), Section::ALL.to_vec());
        assert!(sections(Role::Resident).is_empty() && sections(Role::PropertyCompany).is_empty());
        // Only roles that may file at all may file somewhere.
        for role in Role::ALL {
            assert!(sections(role).is_empty() || role.allows(crate::access::Permission::FileDocuments), "{role:?}");
        }
    }

    #[test]
    fn regions_rename_relax_drop_and_add_lines() {
        let change = |section: &str, kind: &str, name: &str, required: bool, active: bool| LineChange {
            section: section.into(),
            kind: kind.into(),
            name_zh: name.into(),
            required,
            active,
            ..Default::default()
        };
        let province = [
            change("construction", "supervision_log", "监理日志（电子）", false, true),
            change("plan", "safety_permit", "施工安全许可", true, true),
        ];
        let county = [change("notice", "notice_round_2", "", false, false), change("plan", "safety_permit", "施工安全许可证", true, true)];
        let lines = lines_in_force(&[province.to_vec(), county.to_vec()].concat());
        let find = |k: &str| lines.iter().find(|l| l.kind == k);
        assert_eq!(find("supervision_log").map(|l| (l.name_zh.as_str(), l.required)), Some(("监理日志（电子）", false)));
        assert!(find("notice_round_2").is_none(), "switched off by the county");
        let own = find("safety_permit").unwrap();
        assert_eq!((own.name_zh.as_str(), own.required, own.national), ("施工安全许可证", true, false));
        let plan_lines: Vec<&str> = lines.iter().filter(|l| l.section == Section::Plan).map(|l| l.kind.as_str()).collect();
        assert_eq!(plan_lines, ["project_approval", "needs_survey", "safety_permit"], "a region's line follows its section's");
        assert!(kind_fits_lines(&lines, Section::Plan, "safety_permit") && !kind_fits_lines(&lines, Section::Notice, "notice_round_2"));
        let plan = completeness_with(EstateStatus::Approved, &lines, &HashSet::new(), &HashSet::new());
        assert_eq!(plan[1].missing, vec!["project_approval".to_string(), "safety_permit".to_string()]);
        assert!(change("plan", "other", "x", true, true).validate().is_err());
        assert!(change("plan", "Safety", "x", true, true).validate().is_err());
        assert_eq!(change("plan", "safety_permit", "施工安全许可", true, true).validate(), Ok(Section::Plan));
    }

    #[test]
    fn files_must_be_what_their_names_claim() {
        assert_eq!(check_file("site.PNG", PNG).map(|t| t.mime), Ok("image/png"));
        assert!(check_file("site.png", PNG).is_ok_and(|t| t.is_image));
        assert_eq!(check_file("report.pdf", PDF).map(|t| t.extension), Ok("pdf"));
        let e = check_file("photo.jpg", PNG).unwrap_err().to_string();
        assert!(e.contains(".jpg") && e.contains("a PNG picture"), "{e}");
        let e = check_file("photo.png", b"just some text, not a picture").unwrap_err().to_string();
        assert!(e.contains("not a png"), "{e}");
        assert!(check_file("tool.exe", b"MZ\x90\x00").unwrap_err().to_string().contains("not taken"));
        assert!(check_file("noext", PNG).is_err());
        assert_eq!(check_file("empty.png", b""), Err(reason!("field.file_empty")));
    }

    #[test]
    fn a_section_is_complete_by_uploads_or_by_records() {
        let mut filed = HashSet::new();
        let mut records = HashSet::new();
        let before = completeness(EstateStatus::Surveyed, &filed, &records);
        assert!(before.iter().all(|s| !s.due));
        assert_eq!(overall_bp(&before), 10_000);

        let assessed = completeness(EstateStatus::Assessed, &filed, &records);
        let a = &assessed[0];
        assert!(a.due && a.required == 2 && a.present == 0);
        assert_eq!(a.missing, vec!["assessment_report", "photos_before"]);
        assert_eq!(overall_bp(&assessed), 0);

        records.insert(SystemRecord::Assessment);
        filed.insert((Section::Assessment, "photos_before".to_string()));
        // A document filed in the wrong section does not count.
        filed.insert((Section::Plan, "drawings".to_string()));
        let done = completeness(EstateStatus::Approved, &filed, &records);
        assert_eq!(done[0].present, 2);
        assert!(done[0].missing.is_empty());
        assert!(done[1].due && done[1].present == 0);
        assert!(done[2].due && !done[5].due);
        // Due: assessment 2 of 2, plan 0 of 1, scheme 0 of 2, notice 0 of 2, decision 0 of 1.
        assert_eq!(overall_bp(&done), 2_500);
    }

    #[test]
    fn every_required_line_is_due_at_some_stage_and_kinds_are_unique() {
        let all = completeness(EstateStatus::InUpkeep, &HashSet::new(), &HashSet::new());
        assert!(all.iter().all(|s| s.due && s.required > 0));
        let mut seen = HashSet::new();
        assert!(CHECKLIST.iter().all(|i| seen.insert((i.section, i.kind))));
        assert!(kind_fits(Section::Notice, "notice_round_1") && kind_fits(Section::Notice, OTHER));
        assert!(!kind_fits(Section::Plan, "notice_round_1"));
    }

    #[test]
    fn byte_ranges_read_as_http_means_them() {
        assert_eq!(byte_range(None, 100), None);
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Some(Ok(0..10)));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Some(Ok(90..100)));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Some(Ok(90..100)));
        assert_eq!(byte_range(Some("bytes=95-200"), 100), Some(Ok(95..100)));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=-0"), 100), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=5-2"), 100), None);
        assert_eq!(byte_range(Some("bytes=999-1000"), 100), Some(Err(())), "wholly past the end: 416, not the whole file");
        assert_eq!(byte_range(Some("bytes=100-100"), 100), Some(Err(())));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(byte_range(Some("items=0-1"), 100), None);
        assert_eq!(byte_range(Some("bytes=x-1"), 100), None);
    }

    proptest::proptest! {
        #[test]
        fn a_served_range_lies_within_the_file(a in 0u64..1000, b in 0u64..1000, size in 0u64..1000, form in 0u8..3) {
            let h = match form { 0 => format!("bytes={a}-{b}"), 1 => format!("bytes={a}-"), _ => format!("bytes=-{b}") };
            if let Some(Ok(r)) = byte_range(Some(&h), size) {
                proptest::prop_assert!(r.start < r.end && r.end <= size);
            }
        }
    }
}
