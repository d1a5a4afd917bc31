//! Open311 GeoReport v2 at `/open311/v2/`: discovery, services and their definitions, requests
//! filed by client applications (an api_key each, for one jurisdiction: a region code) and the
//! public listing of a jurisdiction's requests, in JSON or XML by the path's suffix. Errors are the
//! spec's list of code and description. The keys are issued by a county administrator at
//! `/api/v1/open311/clients` (the routes at the end).

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use huanxin_domain::access::Permission;
use huanxin_domain::reason;
use huanxin_domain::reasons::Lang;
use huanxin_domain::regions::RegionCode;
use huanxin_domain::requests::categories::Tree;
use huanxin_domain::requests::hotline::{match_address, AddressMatch};
use huanxin_domain::requests::open311::{self as rules, Format};
use huanxin_domain::requests::Status;
use huanxin_domain::Reason;
use huanxin_store::audit::Actor;
use huanxin_store::requests::open311::{Open311Client, Open311Filing, Open311Query, Open311Row};
use huanxin_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The routes, mounted at `/open311/v2` without a session: a client proves itself by its api_key.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{file}", get(top).post(post_request))
        .route("/services/{file}", get(definition))
        .route("/requests/{file}", get(one_request))
        .route("/tokens/{file}", get(token))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// A refusal as the spec writes it: the HTTP status and a description naming the field.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    description: String,
    format: Format,
}

fn described(field: &str, r: &Reason) -> String {
    let zh = r.text(Lang::Zh);
    let en = r.text(Lang::En);
    if field.is_empty() {
        format!("{zh} ({en})")
    } else {
        format!("{field}: {zh} ({en})")
    }
}

fn fail(format: Format, status: StatusCode, field: &str, r: Reason) -> Failure {
    Failure { status, description: described(field, &r), format }
}

fn bad(format: Format, field: &str, r: Reason) -> Failure {
    fail(format, StatusCode::BAD_REQUEST, field, r)
}

impl Failure {
    fn from_api(format: Format, e: ApiError) -> Failure {
        let status = match e.status_code() {
            // The spec answers bad input with 400, not 422.
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => StatusCode::BAD_REQUEST,
            s => s,
        };
        let description = match &e {
            ApiError::Invalid(v) => v.0.iter().map(|f| format!("{}: {}", f.field, f.reason)).collect::<Vec<_>>().join("; "),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "open311: internal error");
                described("", &e.reason())
            }
            other => described("", &other.reason()),
        };
        Failure { status, description, format }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!([{"code": self.status.as_u16(), "description": self.description}]);
        write(self.format, self.status, "errors", "error", &body)
    }
}

/// Writes a body in the format asked: JSON as it is, or XML under `root` with each list's items
/// named by `item` at the top and by the list's singular below (`attributes` → `attribute`).
fn write(format: Format, status: StatusCode, root: &str, item: &str, body: &Value) -> Response {
    match format {
        Format::Json => (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(),
        Format::Xml => {
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            element(&mut xml, root, body, item);
            (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
        }
    }
}

fn element(out: &mut String, name: &str, v: &Value, item: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match v {
        Value::Null => {}
        Value::String(s) => out.push_str(&rules::xml_escape(s)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) => {
            for i in items {
                element(out, item, i, "item");
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let singular = k.strip_suffix('s').unwrap_or("item");
                element(out, k, x, singular);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The most parameters a call may carry (the spec's are about twenty, and each service has two
/// attributes): more is refused before they are read, so that no call costs more than a few.
const MAX_PARAMS: usize = 64;

/// The largest Open311 body read (a form of text fields; pictures come as `media_url`).
pub const MAX_BODY: usize = 64 * 1024;

/// The parameters of a call: the query's and the form body's (the body's first), each name's
/// first value; `attribute[code]` ones apart.
struct Params {
    values: HashMap<String, String>,
    attributes: Vec<(String, String)>,
}

impl Params {
    /// Reads at most [`MAX_PARAMS`] pairs: a call with more is refused before any is kept.
    fn read(format: Format, query: Option<&str>, body: &[u8]) -> Result<Params, Failure> {
        let mut p = Params { values: HashMap::new(), attributes: Vec::new() };
        let pairs = form_urlencoded::parse(body).chain(form_urlencoded::parse(query.unwrap_or("").as_bytes()));
        for (n, (k, v)) in pairs.enumerate() {
            if n >= MAX_PARAMS {
                return Err(bad(format, "", reason!("open311.too_many_params", max = MAX_PARAMS)));
            }
            if let Some(code) = k.strip_prefix("attribute[").and_then(|c| c.strip_suffix(']')) {
                if !p.attributes.iter().any(|(c, _)| c == code) {
                    p.attributes.push((code.to_string(), v.into_owned()));
                }
            } else {
                p.values.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
        Ok(p)
    }

    fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", |v| v.trim())
    }
}

fn format_of(file: &str, stem: &str) -> Result<Format, Failure> {
    match rules::split_format(file) {
        Some((s, f)) if s == stem => Ok(f),
        Some((_, f)) => Err(fail(f, StatusCode::NOT_FOUND, "", reason!("request.not_found"))),
        None => Err(fail(Format::Json, StatusCode::NOT_FOUND, "", reason!("open311.format"))),
    }
}

/// The jurisdiction a call names, required (this endpoint serves every region) and ours.
async fn jurisdiction(st: &AppState, format: Format, p: &Params) -> Result<RegionCode, Failure> {
    let given = p.get("jurisdiction_id");
    if given.is_empty() {
        return Err(bad(format, "jurisdiction_id", reason!("open311.jurisdiction_required")));
    }
    let region = RegionCode::parse(given).map_err(|r| bad(format, "jurisdiction_id", r))?;
    // Ours: a region this server keeps, and one its counties lie in or under.
    let served = match st.config.region_selection() {
        huanxin_store::regions::RegionSelection::All => true,
        huanxin_store::regions::RegionSelection::Counties(counties) => {
            counties.iter().filter_map(|c| RegionCode::parse(c).ok()).any(|c| c.contains(&region) || region.contains(&c))
        }
    };
    if !served || !st.db.region_exists(&region).await.map_err(|e| Failure::from_api(format, e.into()))? {
        return Err(fail(format, StatusCode::NOT_FOUND, "jurisdiction_id", reason!("open311.no_such_jurisdiction")));
    }
    Ok(region)
}

fn base(st: &AppState) -> String {
    format!("{}/open311/v2", st.config.public_base())
}

/// `discovery`, `services` or `requests` (GET), by the path's name.
async fn top(State(st): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Result<Response, Failure> {
    let (stem, format) =
        rules::split_format(&file).ok_or_else(|| fail(Format::Json, StatusCode::NOT_FOUND, "", reason!("open311.format")))?;
    let p = Params::read(format, q.as_deref(), b"")?;
    match stem {
        "discovery" => Ok(discovery(&st, format)),
        "services" => {
            let region = jurisdiction(&st, format, &p).await?;
            let tree = tree_of(&st, format, &region).await?;
            Ok(write(format, StatusCode::OK, "services", "service", &services(&tree)))
        }
        "requests" => {
            let region = jurisdiction(&st, format, &p).await?;
            let tree = tree_of(&st, format, &region).await?;
            let query = list_query(format, &p, &tree)?;
            let rows = st.db.open311_requests(&region, &query).await.map_err(|e| Failure::from_api(format, e.into()))?;
            let listed = rows.iter().map(|r| request_json(r, &tree)).collect();
            Ok(write(format, StatusCode::OK, "service_requests", "request", &Value::Array(listed)))
        }
        _ => Err(fail(format, StatusCode::NOT_FOUND, "", reason!("request.not_found"))),
    }
}

/// The category tree in force in a jurisdiction: its services.
async fn tree_of(st: &AppState, format: Format, region: &RegionCode) -> Result<Tree, Failure> {
    st.db.category_tree(region).await.map_err(|e| Failure::from_api(format, e.into()))
}

fn discovery(st: &AppState, format: Format) -> Response {
    let changeset = "2026-12-06T00:00:00+08:00";
    let body = json!({
        "changeset": changeset,
        "contact": "所在县（市、区）住房和城乡建设局 (the county housing bureau)",
        "key_service": "api_key 由县（市、区）管理员在焕新“民生接待”页签发 (a county administrator issues api_keys on the requests page)",
        "endpoints": [{
            "specification": rules::SPECIFICATION,
            "url": base(st),
            "changeset": changeset,
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    });
    write(format, StatusCode::OK, "discovery", "discovery", &body)
}

fn services(tree: &Tree) -> Value {
    Value::Array(
        rules::services(tree)
            .map(|(c, group)| {
                json!({
                    "service_code": c.code,
                    "service_name": c.zh,
                    "description": if c.working_days == 0 {
                        format!("{} ({})，当日答复 (answered the same day)", c.zh, c.en)
                    } else {
                        format!("{} ({})，{} 个工作日内答复 (answered within {} working days)", c.zh, c.en, c.working_days, c.working_days)
                    },
                    "metadata": true,
                    "type": "realtime",
                    "keywords": c.en,
                    "group": group,
                })
            })
            .collect(),
    )
}

/// `services/{code}.json`: a service's attributes.
async fn definition(State(st): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Result<Response, Failure> {
    let (code, format) =
        rules::split_format(&file).ok_or_else(|| fail(Format::Json, StatusCode::NOT_FOUND, "", reason!("open311.format")))?;
    let region = jurisdiction(&st, format, &Params::read(format, q.as_deref(), b"")?).await?;
    let tree = tree_of(&st, format, &region).await?;
    let service =
        rules::service(&tree, code).ok_or_else(|| fail(format, StatusCode::NOT_FOUND, "service_code", reason!("open311.no_service")))?;
    let attributes: Vec<Value> = rules::attributes(service)
        .into_iter()
        .map(|a| {
            json!({
                "variable": true,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": if a.values.is_empty() { format!("最多 {} 字 (at most {} characters)", rules::ATTRIBUTE_MAX_CHARS, rules::ATTRIBUTE_MAX_CHARS) } else { String::new() },
                "order": a.order,
                "description": a.description,
                "values": a.values.iter().map(|(k, n)| json!({"key": k, "name": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(write(
        format,
        StatusCode::OK,
        "service_definition",
        "service_definition",
        &json!({"service_code": service.code, "attributes": attributes}),
    ))
}

fn utc_stored(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a GET's filters; each problem names its parameter.
fn list_query(format: Format, p: &Params, tree: &Tree) -> Result<Open311Query, Failure> {
    let mut q = Open311Query { limit: rules::DEFAULT_PAGE_SIZE, ..Default::default() };
    for id in p.get("service_request_id").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = id.parse::<i64>().map_err(|_| bad(format, "service_request_id", reason!("open311.not_an_id", value = id)))?;
        q.ids.push(id);
    }
    if q.ids.len() > rules::MAX_PAGE_SIZE as usize {
        return Err(bad(format, "service_request_id", reason!("open311.too_many", max = rules::MAX_PAGE_SIZE)));
    }
    for code in p.get("service_code").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // A retired service still lists the requests filed under it before.
        let c = tree.category(code).filter(|c| c.leaf).ok_or_else(|| bad(format, "service_code", reason!("requests.category_kind")))?;
        q.categories.push(c.code.clone());
    }
    for s in p.get("status").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ours = rules::statuses_for(s).ok_or_else(|| bad(format, "status", reason!("open311.status_kind")))?;
        q.statuses.extend(ours.iter().map(|s| s.as_str()));
    }
    let date = |name: &str| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, Failure> {
        let v = p.get(name);
        if v.is_empty() {
            return Ok(None);
        }
        rules::parse_datetime(v).map(Some).ok_or_else(|| bad(format, name, reason!("open311.date_form")))
    };
    let window = chrono::Duration::days(rules::MAX_WINDOW_DAYS);
    let (start, end) = match (date("start_date")?, date("end_date")?) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + window),
        (None, Some(e)) => (e - window, e),
        (None, None) => {
            let now = chrono::Utc::now().with_timezone(&rules::beijing());
            (now - window, now)
        }
    };
    if end < start {
        return Err(bad(format, "end_date", reason!("open311.end_before_start")));
    }
    if end - start > window {
        return Err(bad(format, "end_date", reason!("open311.window", days = rules::MAX_WINDOW_DAYS)));
    }
    q.from = utc_stored(start);
    // The end is inclusive to the second.
    q.to = utc_stored(end + chrono::Duration::seconds(1));
    let number = |name: &str, max: u32| -> Result<Option<u32>, Failure> {
        let v = p.get(name);
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
            _ => Err(bad(format, name, reason!("field.between", min = 1, max = max))),
        }
    };
    if let Some(n) = number("page_size", rules::MAX_PAGE_SIZE)? {
        q.limit = n;
    }
    if let Some(page) = number("page", 100_000)? {
        q.offset = u64::from(page - 1) * u64::from(q.limit);
    }
    if !q.ids.is_empty() {
        q.limit = rules::MAX_PAGE_SIZE;
        q.offset = 0;
    }
    Ok(q)
}

/// A request as GeoReport lists it: names and phones never; the description, the answer and the
/// picture only for one filed through Open311 (the rest came from residents who did not publish).
fn request_json(r: &Open311Row, tree: &Tree) -> Value {
    let status = Status::parse(&r.status).unwrap_or(Status::Submitted);
    let published = r.channel == "open311";
    let point = r.lon.zip(r.lat).or(r.estate_lon.zip(r.estate_lat));
    let mut notes = rules::status_note(status).to_string();
    if published && !r.answer.is_empty() {
        notes = format!("{notes}：{}", r.answer);
    }
    json!({
        "service_request_id": r.id.to_string(),
        "status": rules::status_of(status),
        "status_notes": notes,
        "service_name": tree.zh(&r.category),
        "service_code": r.category,
        "description": if published { r.text.as_str() } else { "" },
        "agency_responsible": r.unit_name,
        "service_notice": "",
        "requested_datetime": rules::to_beijing(&r.created_at),
        "updated_datetime": rules::to_beijing(&r.updated_at),
        "expected_datetime": rules::expected(&r.due_on),
        "address": format!("{} {}", r.estate_name, r.estate_address).trim().to_string(),
        "address_id": r.estate_code,
        "zipcode": "",
        "lat": point.map(|p| p.1),
        "long": point.map(|p| p.0),
        "media_url": if published { r.media_url.as_str() } else { "" },
    })
}

/// `requests/{id}.json`: one request of the jurisdiction.
async fn one_request(State(st): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Result<Response, Failure> {
    let (id, format) =
        rules::split_format(&file).ok_or_else(|| fail(Format::Json, StatusCode::NOT_FOUND, "", reason!("open311.format")))?;
    let p = Params::read(format, q.as_deref(), b"")?;
    let region = jurisdiction(&st, format, &p).await?;
    let id = id
        .parse::<i64>()
        .map_err(|_| fail(format, StatusCode::NOT_FOUND, "service_request_id", reason!("open311.not_an_id", value = id)))?;
    let query = Open311Query { ids: vec![id], limit: 1, ..Default::default() };
    let rows = st.db.open311_requests(&region, &query).await.map_err(|e| Failure::from_api(format, e.into()))?;
    if rows.is_empty() {
        return Err(fail(format, StatusCode::NOT_FOUND, "service_request_id", reason!("request.not_found")));
    }
    let tree = tree_of(&st, format, &region).await?;
    Ok(write(format, StatusCode::OK, "service_requests", "request", &Value::Array(rows.iter().map(|r| request_json(r, &tree)).collect())))
}

/// `tokens/{token}.json`: the request a token was given for.
async fn token(State(st): State<AppState>, Path(file): Path<String>, RawQuery(q): RawQuery) -> Result<Response, Failure> {
    let (token, format) =
        rules::split_format(&file).ok_or_else(|| fail(Format::Json, StatusCode::NOT_FOUND, "", reason!("open311.format")))?;
    let region = jurisdiction(&st, format, &Params::read(format, q.as_deref(), b"")?).await?;
    let id = st.db.open311_token(&region, token).await.map_err(|e| Failure::from_api(format, e.into()))?;
    let id = id.ok_or_else(|| fail(format, StatusCode::NOT_FOUND, "token", reason!("request.not_found")))?;
    Ok(write(format, StatusCode::OK, "service_requests", "request", &json!([{"service_request_id": id.to_string(), "token": token}])))
}

/// A key's hash, as kept.
fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Checks a text's length and that it holds no control characters (line breaks only where a text
/// may have lines), as the JSON API does.
fn length(format: Format, field: &str, value: &str, max: usize) -> Result<(), Failure> {
    let n = value.chars().count();
    if n > max {
        return Err(bad(format, field, reason!("field.at_most_chars", max = max)));
    }
    let lines = field == "description";
    if value.chars().any(|c| (c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t'))) || matches!(c, '\u{FFFE}' | '\u{FFFF}')) {
        return Err(bad(format, field, reason!("request.control_characters")));
    }
    Ok(())
}

/// `POST requests.json`: a client application files a request, form-encoded as the spec has it.
async fn post_request(
    State(st): State<AppState>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let format = format_of(&file, "requests")?;
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body: &[u8] = if form.is_empty() || form.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        &body
    } else {
        return Err(fail(format, StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type", reason!("open311.form_only")));
    };
    let p = Params::read(format, q.as_deref(), body)?;
    let store = |e: StoreError| Failure::from_api(format, e.into());

    // Who: a client's key, and a jurisdiction within its own.
    let key = p.get("api_key");
    if key.is_empty() {
        return Err(fail(format, StatusCode::FORBIDDEN, "api_key", reason!("open311.api_key")));
    }
    let Some((client_id, client_region, client_name, revoked)) = st.db.open311_client_by_key(&key_hash(key)).await.map_err(store)? else {
        return Err(fail(format, StatusCode::FORBIDDEN, "api_key", reason!("open311.api_key")));
    };
    if revoked {
        return Err(fail(format, StatusCode::FORBIDDEN, "api_key", reason!("open311.api_key_revoked")));
    }
    let client_region = RegionCode::parse(&client_region).map_err(|r| fail(format, StatusCode::INTERNAL_SERVER_ERROR, "", r))?;
    let region = if p.get("jurisdiction_id").is_empty() { client_region.clone() } else { jurisdiction(&st, format, &p).await? };
    if !client_region.contains(&region) {
        return Err(fail(
            format,
            StatusCode::FORBIDDEN,
            "jurisdiction_id",
            reason!("open311.outside_key", region = client_region.as_str()),
        ));
    }

    // What.
    let code = p.get("service_code");
    if code.is_empty() {
        return Err(bad(format, "service_code", reason!("field.required")));
    }
    let tree = st.db.category_tree(&region).await.map_err(store)?;
    let service =
        rules::service(&tree, code).ok_or_else(|| bad(format, "service_code", huanxin_domain::requests::category_refusal(&tree, code)))?;
    for (code, value) in &p.attributes {
        length(format, &format!("attribute[{code}]"), value, rules::ATTRIBUTE_MAX_CHARS)?;
    }
    let kept = rules::check_attributes(service, &p.attributes).map_err(|(field, r)| bad(format, &field, r))?;
    let description = p.get("description");
    length(format, "description", description, 2_000)?;
    let name = format!("{}{}", p.get("last_name"), p.get("first_name"));
    length(format, "first_name", &name, 64)?;
    let phone = p.get("phone");
    length(format, "phone", phone, 32)?;
    if !phone.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
        return Err(bad(format, "phone", reason!("field.phone_form")));
    }
    let media_url = p.get("media_url");
    length(format, "media_url", media_url, 1_000)?;
    let web = reqwest::Url::parse(media_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !(media_url.is_empty() || (web && !media_url.contains(char::is_whitespace))) {
        return Err(bad(format, "media_url", reason!("open311.media_url")));
    }
    let point = rules::check_point(p.get("lat"), p.get("long")).map_err(|(field, r)| bad(format, &field, r))?;

    // Where: an estate's code, else a point, else an address.
    let places = st.db.open311_places(&region).await.map_err(store)?;
    let (address_id, address) = (p.get("address_id"), p.get("address_string"));
    length(format, "address_string", address, 200)?;
    let found = if !address_id.is_empty() {
        places.iter().find(|e| e.code == address_id).ok_or_else(|| bad(format, "address_id", reason!("open311.no_estate_code")))?
    } else if let Some((lon, lat)) = point {
        let points: Vec<(i64, f64, f64)> = places.iter().filter_map(|e| e.point.map(|(x, y)| (e.place.id, x, y))).collect();
        let id = rules::nearest_estate(&points, lon, lat)
            .ok_or_else(|| bad(format, "lat", reason!("open311.no_estate_near", metres = rules::NEAR_METRES)))?;
        places
            .iter()
            .find(|e| e.place.id == id)
            .ok_or_else(|| bad(format, "lat", reason!("open311.no_estate_near", metres = rules::NEAR_METRES)))?
    } else if !address.is_empty() {
        let only: Vec<_> = places.iter().map(|e| e.place.clone()).collect();
        match match_address(&only, address) {
            AddressMatch::One(id) => places
                .iter()
                .find(|e| e.place.id == id)
                .ok_or_else(|| bad(format, "address_string", reason!("open311.no_estate_address")))?,
            AddressMatch::Several(ids) => {
                let names: Vec<&str> = places.iter().filter(|e| ids.contains(&e.place.id)).take(5).map(|e| e.place.name.as_str()).collect();
                return Err(bad(format, "address_string", reason!("open311.several_estates", names = names.join("、"))));
            }
            AddressMatch::None => return Err(bad(format, "address_string", reason!("open311.no_estate_address"))),
        }
    } else {
        return Err(bad(format, "lat", reason!("open311.place_required")));
    };

    // Filed under the tree where the estate lies: a kind retired there is refused, its own kinds,
    // working days and first unit hold.
    let here = st.db.category_tree_at(&found.community).await.map_err(store)?;
    let service = here.leaf(code).ok_or_else(|| bad(format, "service_code", huanxin_domain::requests::category_refusal(&here, code)))?;
    let mut text = if description.is_empty() { service.zh.to_string() } else { description.to_string() };
    text.push_str(&rules::attribute_line(&kept));
    // The model reads the description too, so that a desk sees where it disagrees with the app.
    let county = super::county_of(found.community.as_str());
    let suggested = if description.is_empty() {
        None
    } else {
        st.classifier
            .suggest(&st, county.as_deref(), description)
            .await
            .map_err(|e| Failure::from_api(format, e))?
            .first()
            .map(|s| s.code.clone())
    };
    // The app stays named beside the person, so that a desk knows where to answer.
    let author = if name.is_empty() { format!("Open311 · {client_name}") } else { format!("{name}（{client_name}）") };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let actor = Actor { user_id: None, username: format!("open311:{client_id}"), request_id: String::new() };
    let filing = Open311Filing {
        client_id,
        estate_id: found.place.id,
        community: &found.community,
        category: service,
        author: &author,
        phone,
        text: &text,
        suggested,
        media_url,
        point,
        token: &token,
    };
    let (r, warnings) = st.db.file_open311(&actor, &filing).await.map_err(store)?;
    for w in warnings {
        super::notify_warning(&st, w);
    }
    let body = json!([{"service_request_id": r.id.to_string(), "token": token, "service_notice": format!("{}：{}", r.unit_name, rules::status_note(Status::Submitted)), "account_id": Value::Null}]);
    Ok(write(format, StatusCode::CREATED, "service_requests", "request", &body))
}

/// A new client application: its name and jurisdiction (the caller's region by default).
#[derive(Debug, Deserialize)]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub region_code: String,
}

/// The client applications of the caller's region (keys shown only by their last characters).
#[utoipa::path(get, path = "/api/v1/open311/clients", tag = "requests", responses((status = 200, description = "clients"), (status = 403)))]
pub async fn clients(State(st): State<AppState>, Extension(cu): Extension<CurrentUser>) -> Result<Json<Vec<Open311Client>>, ApiError> {
    cu.require(Permission::ManageUsers)?;
    Ok(Json(st.db.open311_clients(&cu.scope).await?))
}

/// Issues an api_key for a client application in the caller's region: shown this once.
#[utoipa::path(post, path = "/api/v1/open311/clients", tag = "requests", request_body = Object,
    responses((status = 201, description = "the client, with its api_key shown once"), (status = 403), (status = 422)))]
pub async fn create_client(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiJson(input): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    cu.require(Permission::ManageUsers)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::field("name", name, reason!("field.length", max = 64)));
    }
    let region = if input.region_code.trim().is_empty() {
        match &cu.scope {
            huanxin_domain::access::Scope::Region(r) => r.clone(),
            _ => return Err(ApiError::Forbidden(reason!("requests.not_your_unit", unit = "open311"))),
        }
    } else {
        RegionCode::parse(&input.region_code).map_err(|r| ApiError::field("region_code", &input.region_code, r))?
    };
    let key = crate::random_key();
    let hint = key[key.len() - 4..].to_string();
    let client = st.db.create_open311_client(&cu.actor(), &cu.scope, &region, name, &key_hash(&key), &hint).await?;
    let mut v = serde_json::to_value(&client).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert("api_key".into(), Value::String(key));
    }
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes a client's api_key: it files nothing more; its requests stay.
#[utoipa::path(post, path = "/api/v1/open311/clients/{id}/revoke", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, description = "the client, revoked"), (status = 403), (status = 404), (status = 409)))]
pub async fn revoke_client(
    State(st): State<AppState>,
    Extension(cu): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Open311Client>, ApiError> {
    cu.require(Permission::ManageUsers)?;
    Ok(Json(st.db.revoke_open311_client(&cu.actor(), &cu.scope, id).await?))
}
