//! HTTP routes of the estate's archive (一小区一档案): its sections and completeness, filing a
//! document, reading a file, and the whole archive as a zip with an index.

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use huanxin_domain::archive::{Section, OTHER};
use huanxin_domain::reason;
use huanxin_store::archive::{Archive, Document, NewDocument};
use serde::Serialize;
use std::io::{Seek, SeekFrom, Write};

/// An estate's archive: each section's completeness against the checklist and its documents.
#[utoipa::path(get, path = "/api/v1/estates/{id}/archive", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, description = "sections with completeness, records and documents"), (status = 404)))]
pub async fn show(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Archive>, ApiError> {
    refuse_residents(&cu)?;
    let mut archive = st.db.archive(&cu.scope, id).await?;
    archive.may_file = sections_of(cu.role).into_iter().map(str::to_string).collect();
    Ok(Json(archive))
}

/// The sections `role` files documents in, in the order of the estate's life.
fn sections_of(role: huanxin_domain::access::Role) -> Vec<&'static str> {
    Section::ALL.iter().filter(|s| huanxin_domain::archive::may_file(role, **s)).map(|s| s.as_str()).collect()
}

/// Refuses a section the caller's role does not file in (a contractor filing the owners' vote).
fn refuse_section(cu: &CurrentUser, section: &str) -> Result<(), ApiError> {
    match Section::parse(section) {
        Some(s) if !huanxin_domain::archive::may_file(cu.role, s) => {
            Err(ApiError::Forbidden(reason!("archive.section_not_yours", section = s.as_str(), sections = sections_of(cu.role).join(", "))))
        }
        _ => Ok(()),
    }
}

/// The archive holds contracts, proxies' scans and signatures: residents see the progress photos
/// only (`/estates/{id}/photos`).
fn refuse_residents(cu: &CurrentUser) -> Result<(), ApiError> {
    if cu.role == huanxin_domain::access::Role::Resident {
        return Err(ApiError::Forbidden(reason!("archive.residents_see_photos_only")));
    }
    Ok(())
}

/// Kinds of photo that show an estate's progress to its residents and the public.
pub const PROGRESS_PHOTOS: [&str; 3] = ["photos_before", "photos_during", "photos_after"];

/// The estate's progress photos (before, during, after), newest first.
#[utoipa::path(get, path = "/api/v1/estates/{id}/photos", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, description = "document ids"), (status = 404)))]
pub async fn photos(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<i64>>, ApiError> {
    st.db.get_estate(&cu.scope, id).await?;
    let ids: Vec<(i64,)> = st
        .db
        .fetch_all(
            "SELECT id FROM documents WHERE estate_id = $1 AND content_type LIKE 'image/%' \
             AND kind IN ('photos_before', 'photos_during', 'photos_after') ORDER BY id DESC LIMIT 24",
            huanxin_store::args![id],
        )
        .await?;
    Ok(Json(ids.into_iter().map(|(i,)| i).collect()))
}

/// Files a document or photo in a section of the estate's archive. The file must be what its name
/// says (jpg, png, webp, pdf, xlsx, docx), checked from its content.
#[utoipa::path(post, path = "/api/v1/estates/{id}/archive", tag = "archive", params(("id" = i64, Path)),
    request_body(content_type = "multipart/form-data", description = "fields `section`, `kind`, `title` (optional), `file`, and for a photo of an assessment finding `building_id` and `item_code`"),
    responses((status = 201, description = "the filed document"), (status = 400, description = "a form the server cannot read"), (status = 404), (status = 408, description = "the body arrived too slowly or stopped"), (status = 413), (status = 422, description = "names the field"), (status = 429, description = "this account already runs two uploads"), (status = 503, description = "the server runs max_uploads uploads, or the file store is down")))]
pub async fn file_document(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<Document>), ApiError> {
    // The estate first: another county's estate costs no byte of the body.
    st.db.get_estate(&cu.scope, id).await?;
    // Each upload holds a connection and up to max_file_mb of disk while it runs.
    let _slot = st.uploads.take(cu.user.id).map_err(|full| full.into_api(st.config.max_uploads))?;
    // Whatever spelling of the path reached here, the body is cut off at max_file_mb (the
    // default limit is off for this route), at a framing the parser would buffer without end, or
    // at too slow a pace.
    let limit = st.config.max_file_mb as u64 * 1024 * 1024;
    let (req, watch) = crate::uploads::watch_body(req, limit);
    let broken = |e: axum::extract::multipart::MultipartError| match watch.refusal() {
        Some(refusal) => refusal.into_api(st.config.max_file_mb),
        None => crate::estates::multipart_error(&e),
    };
    let crate::error::ApiMultipart(mut multipart) =
        <crate::error::ApiMultipart as axum::extract::FromRequest<AppState>>::from_request(req, &st).await?;
    let (mut section, mut kind, mut title, mut building, mut item_code) =
        (String::new(), String::new(), String::new(), String::new(), String::new());
    let mut file: Option<(String, huanxin_store::Upload)> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        let field_name = field.name().unwrap_or_default().to_string();
        match field_name.as_str() {
            "file" => {
                let name = field.file_name().unwrap_or("upload").to_string();
                // A chunk at a time: hashed as it comes, kept in a temporary file when large.
                let mut receiving = huanxin_store::Receiving::new(&st.config.data_dir.join("uploads"), limit);
                let mut type_checked = false;
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    receiving.push(&chunk).await.map_err(|e| match e {
                        huanxin_store::ReceiveError::TooLarge(_) => {
                            ApiError::TooLarge(reason!("server.upload_too_large", limit = st.config.max_file_mb))
                        }
                        huanxin_store::ReceiveError::Store(e) => e.into(),
                    })?;
                    // A file that is not what its name says is refused once its first bytes are
                    // in (the same check as when it is filed), not after the whole of it.
                    if !type_checked && receiving.head().len() >= huanxin_store::files::HEAD_BYTES {
                        type_checked = true;
                        huanxin_domain::archive::check_file(name.trim(), receiving.head())
                            .map_err(|reason| ApiError::field("file", &name, reason))?;
                    }
                }
                file = Some((name, receiving.finish().await?));
            }
            name @ ("section" | "kind" | "title" | "building_id" | "item_code") => {
                let value = short_text(field, broken).await?;
                match name {
                    "section" => {
                        // Before the file: a section not the caller's costs no byte of it.
                        refuse_section(&cu, &value)?;
                        section = value
                    }
                    "kind" => kind = value,
                    "building_id" => building = value,
                    "item_code" => item_code = value,
                    _ => title = value,
                }
            }
            _ => {}
        }
    }
    let (file_name, content) = file.ok_or_else(|| ApiError::field("file", "", reason!("field.file_missing")))?;
    refuse_section(&cu, &section)?;
    let kind = if kind.trim().is_empty() { OTHER.to_string() } else { kind };
    let building_id = match building.trim() {
        "" => None,
        b => Some(b.parse::<i64>().map_err(|_| ApiError::field("building_id", b, reason!("archive.not_building_id")))?),
    };
    let doc = NewDocument {
        section: &section,
        kind: &kind,
        title: &title,
        file_name: &file_name,
        content,
        building_id,
        item_code: Some(item_code.as_str()),
        lines: None,
    };
    let doc = st.db.file_document(&cu.actor(), &cu.scope, id, doc).await?;
    Ok((StatusCode::CREATED, Json(doc)))
}

/// Whether a request files an archive document (`POST /api/v1/estates/{id}/archive`), whose
/// body may be as large as `max_file_mb`.
pub fn is_document_upload(method: &axum::http::Method, path: &str) -> bool {
    let estate = path.strip_prefix("/api/v1/estates/").and_then(|rest| rest.strip_suffix("/archive"));
    method == axum::http::Method::POST && estate.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// A form field's text, refused past 64 KiB (the body around it may be gigabytes).
async fn short_text(
    mut field: axum::extract::multipart::Field<'_>,
    broken: impl Fn(axum::extract::multipart::MultipartError) -> ApiError,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(&broken)? {
        if bytes.len() + chunk.len() > 64 * 1024 {
            let name = field.name().unwrap_or_default().to_string();
            return Err(ApiError::field(&name, "", reason!("field.length", max = 65536)));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes).map_err(|_| ApiError::BadRequest(reason!("estates.upload_unreadable", body_text = "not UTF-8")))?;
    // As in JSON bodies: a NUL cannot be stored (PostgreSQL refuses it), nor other control characters shown.
    if crate::error::has_control_characters(&text) {
        let name = field.name().unwrap_or_default().to_string();
        let shown: String = text.chars().take(40).filter(|c| !c.is_control()).collect();
        return Err(ApiError::field(&name, shown, reason!("request.control_characters")));
    }
    Ok(text)
}

/// A filed document's file, shown in the browser (pictures, PDF) or downloaded with `?download=1`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/file", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, description = "the file"), (status = 404)))]
pub async fn file(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let doc = st.db.document_in_scope(&cu.scope, id).await?;
    if cu.role == huanxin_domain::access::Role::Resident
        && !(doc.content_type.starts_with("image/") && PROGRESS_PHOTOS.contains(&doc.kind.as_str()))
    {
        return Err(ApiError::Forbidden(reason!("archive.residents_see_photos_only")));
    }
    // Streamed from the file store, a range at a time when asked (a drawing of hundreds of MB is
    // never whole in memory).
    // The document's size is its file's (kept once by SHA-256, never changed).
    let size = u64::try_from(doc.size).unwrap_or(0);
    let asked = huanxin_domain::archive::byte_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size);
    let range = match asked {
        Some(Err(())) => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, [(header::CONTENT_RANGE, format!("bytes */{size}"))]).into_response());
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let opened = st.db.open_file(&doc.sha256, range.clone()).await?;
    let mut res = Response::new(axum::body::Body::from_stream(opened.body));
    let h = res.headers_mut();
    let value =
        |s: String| axum::http::HeaderValue::from_str(&s).unwrap_or(axum::http::HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, value(doc.content_type.clone()));
    h.insert(header::CONTENT_LENGTH, value((opened.range.end - opened.range.start).to_string()));
    h.insert(header::ACCEPT_RANGES, axum::http::HeaderValue::from_static("bytes"));
    // Stored files never change (kept by their SHA-256).
    h.insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private, max-age=86400, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    if query.as_deref().is_some_and(|q| q.contains("download=1")) {
        h.insert(header::CONTENT_DISPOSITION, value(crate::estates::disposition(&doc.file_name)));
    }
    if range.is_some() {
        h.insert(header::CONTENT_RANGE, value(format!("bytes {}-{}/{}", opened.range.start, opened.range.end - 1, opened.size)));
        *res.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(res)
}

/// A name safe as one part of a path inside the zip.
fn path_part(s: &str) -> String {
    let cleaned: String = s.chars().map(|c| if c == '/' || c == '\\' || c.is_control() || c == ':' { '_' } else { c }).collect();
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.chars().take(120).collect()
    }
}

/// What the zip's writer is sent: a file begun (its path; whether to compress it, as photos, PDF
/// and office files are compressed already; whether it is over 4 GiB), then its bytes, a part at
/// a time.
enum Entry {
    Begin(String, bool, bool),
    Bytes(bytes::Bytes),
}

/// The estate's whole archive as a zip: one folder per section with its files, the records Huanxin
/// keeps (the scheme, the acceptance with its signatures, the review and its tasks) as xlsx, and an
/// index (档案目录.xlsx) listing every file and what each section still lacks. Each document is copied
/// from the file store a part at a time into an unlinked temporary file in `data_dir/uploads`,
/// which is then streamed, so neither a large document nor the archive sits in memory.
#[utoipa::path(get, path = "/api/v1/estates/{id}/archive/export.zip", tag = "archive", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/zip"), (status = 404)))]
pub async fn export_zip(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    refuse_residents(&cu)?;
    let estate = st.db.get_estate(&cu.scope, id).await?;
    let archive = st.db.archive(&cu.scope, id).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Entry>(2);
    let spool = st.config.data_dir.join("uploads");
    let writer = tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
        std::fs::create_dir_all(&spool).map_err(|e| e.to_string())?;
        // Unlinked from the start: the open handle keeps it until the response is sent, then it is gone.
        let file = tempfile::tempfile_in(&spool).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipWriter::new(file);
        while let Some(entry) = receiver.blocking_recv() {
            match entry {
                Entry::Begin(name, compress, large) => {
                    let method = if compress { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
                    let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(large);
                    zip.start_file(name, options).map_err(|e| e.to_string())?;
                }
                Entry::Bytes(bytes) => zip.write_all(&bytes).map_err(|e| e.to_string())?,
            }
        }
        let mut file = zip.finish().map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        Ok(file)
    });
    let stopped = || ApiError::Internal("the archive writer stopped".into());
    let send = |(path, content, compress): (String, Vec<u8>, bool)| {
        let sender = sender.clone();
        async move {
            sender.send(Entry::Begin(path, compress, false)).await.map_err(|_| stopped())?;
            sender.send(Entry::Bytes(content.into())).await.map_err(|_| stopped())
        }
    };

    let mut index: Vec<Vec<String>> = Vec::new();
    let lines = archive.checklist.clone();
    let line_name = move |section: Section, kind: &str| -> String {
        lines.iter().find(|l| l.section == section && l.kind == kind).map(|l| l.name_zh.clone()).unwrap_or_else(|| "其他".into())
    };
    let line_name_for_index = line_name.clone();
    let mut add_index = |section: Section, kind: &str, title: &str, path: &str, size: i64, by: &str, at: &str, sha: &str| {
        let kind_name = line_name_for_index(section, kind);
        index.push(vec![
            (index.len() + 1).to_string(),
            section.label_zh().to_string(),
            kind_name.to_string(),
            title.to_string(),
            path.to_string(),
            size.to_string(),
            by.to_string(),
            at.get(..19).unwrap_or(at).replace('T', " "),
            sha.to_string(),
        ]);
    };

    // Records Huanxin keeps, generated as they stand now.
    let scheme = st.db.scheme(&cu.scope, id).await?;
    if let Some(v) = scheme.issued.iter().max_by_key(|v| v.version_no) {
        let (bytes, name) = crate::schemes::scheme_xlsx(&st.db, &cu.scope, id, v.version_no).await?;
        let path = format!("{}/{}", Section::Scheme.label_zh(), path_part(&name));
        add_index(Section::Scheme, "design_scheme", "改造方案（系统生成）", &path, bytes.len() as i64, &v.saved_by, &v.saved_at, "");
        send((path, bytes, true)).await?;
    }
    if let Some(a) = st.db.acceptance(&cu.scope, id).await? {
        let rows: Vec<Vec<String>> = a
            .signatures
            .iter()
            .map(|s| {
                vec![
                    s.signatory.clone(),
                    s.username.clone(),
                    if s.agree { "同意" } else { "不同意" }.to_string(),
                    s.note.clone(),
                    s.signed_at.replace('T', " "),
                ]
            })
            .chain(a.missing.iter().map(|m| vec![m.clone(), String::new(), "未签".to_string(), String::new(), String::new()]))
            .collect();
        let bytes = crate::tabular::write_xlsx("竣工验收记录", &["签署方", "账号", "意见", "说明", "签署时间"], &rows)?;
        let path = format!("{}/竣工验收记录.xlsx", Section::Acceptance.label_zh());
        add_index(
            Section::Acceptance,
            "acceptance_record",
            "竣工验收记录（系统生成）",
            &path,
            bytes.len() as i64,
            &a.opened_by,
            &a.opened_at,
            "",
        );
        send((path, bytes, true)).await?;
    }
    let review = st.db.review(&cu.scope, id).await?;
    if let Some(r) = &review.review {
        let mut rows =
            vec![vec!["回头看".to_string(), r.held_on.clone(), r.held_by.clone(), r.summary.clone(), String::new(), String::new()]];
        rows.extend(review.tasks.iter().map(|t| {
            vec![
                if t.supervised { "整改（挂牌督办）" } else { "整改" }.to_string(),
                t.deadline.clone(),
                t.owner.clone(),
                t.finding.clone(),
                t.closed_at
                    .clone()
                    .map(|c| format!("{} 由 {} 销号", c.get(..10).unwrap_or(&c), t.closed_by.clone().unwrap_or_default()))
                    .unwrap_or_else(|| "未销号".into()),
                t.closing_note.clone(),
            ]
        }));
        let bytes = crate::tabular::write_xlsx("回头看与整改", &["类型", "日期/期限", "负责人", "内容", "状态", "销号说明"], &rows)?;
        let path = format!("{}/回头看与整改.xlsx", Section::Review.label_zh());
        add_index(Section::Review, "review_report", "回头看与整改（系统生成）", &path, bytes.len() as i64, &r.held_by, &r.held_on, "");
        send((path, bytes, true)).await?;
    }

    // Residents' voice: survey results, notices with their comments and answers, decisions with their
    // ballots. Answers and ballots one by one only for those who may read them elsewhere.
    let may_read_answers = cu.role.allows(huanxin_domain::access::Permission::ReadResidentsAnswers);
    for survey in st.db.surveys_of(&cu.scope, id).await?.into_iter().filter(|s| s.answers > 0) {
        let bytes = crate::surveys::survey_xlsx(&st.db, &cu.scope, survey.id, may_read_answers).await?;
        let path = format!("{}/问需结果-{}.xlsx", Section::Plan.label_zh(), survey.id);
        add_index(
            Section::Plan,
            "needs_survey",
            &format!("{}（系统生成）", survey.title),
            &path,
            bytes.len() as i64,
            &survey.created_by,
            &survey.created_at,
            "",
        );
        send((path, bytes, true)).await?;
    }
    let notices = st.db.notices_of(&cu.scope, id).await?;
    if !notices.is_empty() {
        let mut rows = Vec::new();
        for n in notices.iter().rev() {
            rows.push(vec![
                n.title.clone(),
                format!("{} 至 {}（{} 个工作日）", n.starts_on, n.ends_on, n.working_days),
                n.scheme_version.map(|v| format!("v{v}")).unwrap_or_default(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            for c in &n.comments {
                rows.push(vec![
                    String::new(),
                    c.at.get(..10).unwrap_or("").to_string(),
                    if c.kind == "objection" { "异议" } else { "意见" }.to_string(),
                    c.text.clone(),
                    c.answer.clone().unwrap_or_else(|| "未答复".into()),
                    c.answered_by.clone().unwrap_or_default(),
                ]);
            }
        }
        let bytes = crate::tabular::write_xlsx("公示与意见", &["公示", "时间", "版本/类别", "意见", "答复", "答复人"], &rows)?;
        let path = format!("{}/公示与意见.xlsx", Section::Notice.label_zh());
        let first = &notices[notices.len() - 1];
        add_index(
            Section::Notice,
            "opinions",
            "公示与居民意见答复（系统生成）",
            &path,
            bytes.len() as i64,
            &first.posted_by,
            &first.created_at,
            "",
        );
        send((path, bytes, true)).await?;
    }
    for d in st.db.decisions_of(&cu.scope, id).await? {
        let t = st.db.tally(&d).await?;
        let m2 = |a: i64| format!("{:.2}", a as f64 / 100.0);
        let summary = vec![
            vec!["表决事项".into(), d.title.clone()],
            vec!["事项类别".into(), d.matter.clone()],
            vec!["范围".into(), d.scope_kind.clone()],
            vec!["表决时间".into(), format!("{} 至 {}", d.opens_at, d.closes_at)],
            vec!["总专有面积(㎡) / 业主人数".into(), format!("{} / {}", m2(t.electorate.area), t.electorate.owners)],
            vec!["参与表决面积(㎡) / 人数".into(), format!("{} / {}", m2(t.participating.area), t.participating.owners)],
            vec!["同意面积(㎡) / 人数".into(), format!("{} / {}", m2(t.agree.area), t.agree.owners)],
            vec!["反对面积(㎡) / 人数".into(), format!("{} / {}", m2(t.disagree.area), t.disagree.owners)],
            vec!["弃权面积(㎡) / 人数".into(), format!("{} / {}", m2(t.abstain.area), t.abstain.owners)],
            vec![
                "结果".into(),
                match (d.closed_at.is_some(), t.passed) {
                    (false, _) => "未截止".into(),
                    (true, true) => "通过".into(),
                    (true, false) => "未通过".into(),
                },
            ],
            vec!["选票数 / 末张哈希".into(), format!("{} / {}", d.ballot_count, d.head_hash)],
        ];
        let ballots: Vec<Vec<String>> = if may_read_answers {
            st.db
                .ballots(&cu.scope, d.id)
                .await?
                .into_iter()
                .map(|b| vec![b.seq.to_string(), format!("{}-{}", b.building_number, b.dwelling_number), b.choice, b.channel, b.at, b.hash])
                .collect()
        } else {
            Vec::new()
        };
        let mut sheets = vec![crate::tabular::Sheet { name: "表决结果", headers: &["项目", "内容"], rows: &summary }];
        if may_read_answers {
            sheets.push(crate::tabular::Sheet {
                name: "选票", headers: &["序号", "房屋", "意见", "方式", "时间", "哈希"], rows: &ballots
            });
        }
        let bytes = crate::tabular::write_xlsx_sheets(&sheets)?;
        let path = format!("{}/表决-{}.xlsx", Section::Decision.label_zh(), d.id);
        add_index(
            Section::Decision,
            "vote_result",
            &format!("{}（系统生成）", d.title),
            &path,
            bytes.len() as i64,
            &d.created_by,
            &d.created_at,
            "",
        );
        send((path, bytes, true)).await?;
    }

    // Every filed document, a part at a time from the file store.
    for s in &archive.sections {
        for d in &s.documents {
            let mut opened = st.db.open_file(&d.sha256, None).await?;
            let path = format!("{}/{:04}-{}", s.completeness.section.label_zh(), d.id, path_part(&d.file_name));
            add_index(s.completeness.section, &d.kind, &d.title, &path, d.size, &d.uploaded_by, &d.uploaded_at, &d.sha256);
            sender.send(Entry::Begin(path, false, d.size >= i64::from(u32::MAX))).await.map_err(|_| stopped())?;
            while let Some(part) = futures_util::StreamExt::next(&mut opened.body).await {
                sender.send(Entry::Bytes(part?)).await.map_err(|_| stopped())?;
            }
        }
    }

    // The index, then what each section still lacks.
    index.push(vec![]);
    index.push(vec!["".into(), "完整性".into(), format!("{:.1}%", archive.overall_bp as f64 / 100.0)]);
    for s in &archive.sections {
        let missing: Vec<String> = s.completeness.missing.iter().map(|k| line_name(s.completeness.section, k)).collect();
        index.push(vec![
            String::new(),
            s.completeness.section.label_zh().to_string(),
            if s.completeness.due { "应归档" } else { "未到阶段" }.to_string(),
            format!("{}/{}", s.completeness.present, s.completeness.required),
            if missing.is_empty() { String::new() } else { format!("缺：{}", missing.join("、")) },
        ]);
    }
    let headers = ["序号", "阶段", "类别", "标题", "文件", "大小(字节)", "归档人", "归档时间", "SHA-256"];
    let bytes = crate::tabular::write_xlsx("档案目录", &headers, &index)?;
    send(("档案目录.xlsx".into(), bytes, true)).await?;
    drop(sender);

    let file = writer.await.map_err(|e| ApiError::Internal(e.to_string()))?.map_err(ApiError::Internal)?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let name = format!("档案-{}-{}.zip", estate.code, estate.name);
    Ok((
        [(header::CONTENT_TYPE, "application/zip".to_string()), (header::CONTENT_DISPOSITION, crate::estates::disposition(&name))],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The archive checklist in force in a region (the national lines with every enclosing region's changes).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchiveChecklistPage {
    pub region_code: String,
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<huanxin_domain::archive::ArchiveLine>,
    #[schema(value_type = Vec<Object>)]
    pub national: Vec<huanxin_domain::archive::ArchiveLine>,
}

/// Which region's checklist to show.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveChecklistQuery {
    /// A region code; the caller's own region when absent.
    pub region: Option<String>,
}

/// The archive checklist in force in a region.
#[utoipa::path(get, path = "/api/v1/archive-checklist", tag = "archive", params(ArchiveChecklistQuery),
    responses((status = 200, body = ArchiveChecklistPage)))]
pub async fn checklist(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    crate::error::ApiQuery(q): crate::error::ApiQuery<ArchiveChecklistQuery>,
) -> Result<Json<ArchiveChecklistPage>, ApiError> {
    let region = q.region.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| cu.user.region_code.clone());
    let rc = cu.region_readable(&region)?;
    Ok(Json(ArchiveChecklistPage {
        region_code: rc.as_str().to_string(),
        lines: st.db.archive_lines_for(&rc).await?,
        national: huanxin_domain::archive::CHECKLIST.iter().map(huanxin_domain::archive::ArchiveLine::from).collect(),
    }))
}

/// A region's change to one archive checklist line: rename, required or not, switched off, or its own line.
#[utoipa::path(put, path = "/api/v1/archive-checklist/{region}", tag = "archive", params(("region" = String, Path)),
    request_body(content = Object, description = "section, kind, name_zh, name_en, required, active"),
    responses((status = 200, body = ArchiveChecklistPage), (status = 403), (status = 422)))]
pub async fn set_line(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(region): ApiPath<String>,
    ApiJson(change): ApiJson<huanxin_domain::archive::LineChange>,
) -> Result<Json<ArchiveChecklistPage>, ApiError> {
    let rc = huanxin_domain::regions::RegionCode::parse(&region).map_err(|e| ApiError::field("region", &region, e))?;
    match &cu.scope {
        huanxin_domain::access::Scope::Region(r) if r.contains(&rc) => {}
        _ => return Err(ApiError::Forbidden(reason!("field.region_outside", region = region))),
    }
    change.validate()?;
    st.db.set_archive_line(&cu.actor(), &rc, &change).await?;
    checklist(State(st), Extension(cu), crate::error::ApiQuery(ArchiveChecklistQuery { region: Some(region) })).await
}
