//! The OpenAPI 3.1 document of the API, and a plain docs page rendered from it (works offline).

use axum::response::Html;
use axum::Json;
use utoipa::OpenApi;

/// The API description, collected from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(title = "Huanxin (焕新) API", description = "Old-estate renewal: registry, accounts, audit, map, the estate's life and its assessment. Errors are application/problem+json."),
    paths(
        crate::health,
        crate::monitoring::live,
        crate::monitoring::ready,
        crate::auth::change_own_password, crate::auth::login, crate::auth::logout, crate::auth::me,
        crate::regions::get_region, crate::regions::children, crate::regions::subtree,
        crate::estates::list, crate::estates::summary, crate::estates::get_one, crate::estates::create, crate::estates::update,
        crate::estates::buildings, crate::estates::create_building, crate::estates::reveal_contact, crate::estates::reveal_owners, crate::estates::dwellings, crate::estates::export_xlsx,
        crate::estates::import, crate::estates::template_xlsx, crate::estates::template_csv,
        crate::accounts::roles, crate::accounts::people, crate::accounts::list, crate::accounts::create, crate::accounts::set_password, crate::accounts::attach_estate,
        crate::audit::list,
        crate::map::tile, crate::map::config,
        crate::lifecycle::show, crate::lifecycle::step, crate::lifecycle::assessment, crate::lifecycle::save_assessment,
        crate::lifecycle::deadline,
        crate::ranking::create, crate::ranking::list, crate::ranking::get_one, crate::ranking::export_xlsx,
        crate::plans::create, crate::plans::list, crate::plans::get_one, crate::plans::add_estates, crate::plans::carry_over,
        crate::projects::create, crate::projects::list, crate::projects::get_one, crate::projects::add_party,
        crate::projects::approval, crate::projects::start_approval, crate::projects::finish_step, crate::projects::late,
        crate::schemes::menu, crate::schemes::set_menu_item, crate::schemes::show, crate::schemes::save_draft, crate::schemes::issue,
        crate::schemes::version, crate::schemes::diff, crate::schemes::export_xlsx, crate::schemes::export_pdf,
        crate::lifecycle::acceptance, crate::lifecycle::open_acceptance, crate::lifecycle::sign_acceptance,
        crate::lifecycle::representative_candidates, crate::lifecycle::set_representatives,
        crate::lifecycle::review, crate::lifecycle::hold_review, crate::lifecycle::close_task, crate::lifecycle::rectification_summary,
        crate::archive::show, crate::archive::file_document, crate::archive::file, crate::archive::export_zip,
        crate::construction::permit_exception, crate::construction::show, crate::construction::add_node, crate::construction::report_progress, crate::construction::inspect,
        crate::construction::request_change, crate::construction::deliver_change, crate::construction::project_progress,
        crate::late::overview, crate::statistics::page, crate::statistics::months, crate::statistics::counted, crate::statistics::export_xlsx, crate::statistics::places, crate::statistics::chart_xlsx, crate::statistics::subsidy_split, crate::reports::forms, crate::reports::show, crate::reports::save, crate::reports::export_xlsx, crate::reports::filings, crate::reports::awaiting, crate::reports::submit, crate::reports::review, crate::reports::correct, crate::reports::set_deadline, crate::evaluation::scheme, crate::evaluation::set_scheme, crate::evaluation::list, crate::evaluation::export_xlsx, crate::evaluation::show, crate::evaluation::documents, crate::evaluation::save, crate::evaluation::submit, crate::evaluation::review, crate::work::mine, crate::work::regions, crate::requests::region, crate::construction::write_log, crate::construction::record_material, crate::lifecycle::add_evidence,
        crate::lifecycle::checklist, crate::lifecycle::set_checklist_item,
        crate::decisions::rules, crate::decisions::set_rules, crate::decisions::list, crate::decisions::create, crate::decisions::show,
        crate::decisions::cast, crate::decisions::ballots, crate::decisions::verify, crate::decisions::close, crate::decisions::scheme,
        crate::notices::list, crate::notices::scheme, crate::notices::post_notice, crate::notices::comment, crate::notices::answer,
        crate::residents::invitations, crate::residents::invitations_pdf, crate::residents::bind, crate::residents::me, crate::residents::send_otp, crate::residents::verify_otp,
        crate::residents::bound, crate::residents::verify_owner,
        crate::surveys::list, crate::surveys::create, crate::surveys::show, crate::surveys::answer, crate::surveys::photos,
        crate::surveys::results, crate::surveys::export_xlsx,
        crate::public::estate_state, crate::public::set_estate_state, crate::public::page, crate::public::photo, crate::public::setting, crate::public::set_setting,
        crate::archive::checklist, crate::archive::set_line, crate::archive::photos,
        crate::requests::file, crate::requests::list, crate::requests::mine, crate::requests::handle, crate::requests::rate, crate::requests::categories, crate::requests::set_category, crate::requests::reset_category, crate::requests::suggest_category, crate::requests::show, crate::requests::give_back, crate::requests::transfer, crate::requests::merge, crate::requests::confirm_category, crate::requests::callback, crate::requests::units, crate::requests::create_unit, crate::requests::add_member, crate::requests::warnings, crate::requests::acknowledge_warning, crate::requests::hotspots, crate::requests::hotline::import, crate::requests::hotline::unmatched, crate::requests::hotline::match_order, crate::requests::digest::export_xlsx, crate::requests::open311::clients, crate::requests::open311::create_client, crate::requests::open311::revoke_client, crate::grids::list, crate::grids::save, crate::grids::import, crate::grids::set_people, crate::grids::coverage, crate::grids::patrols, crate::grids::workload, crate::alarms::devices, crate::alarms::register, crate::alarms::alarms, crate::alarms::board, crate::alarms::map, crate::alarms::show, crate::alarms::acknowledge, crate::alarms::clear, crate::alarms::close, crate::alarms::device, crate::alarms::telemetry, crate::alarms::ingest_status, crate::alarms::dead_letters, crate::alarms::snapshot, crate::alarms::feed, crate::alarms::notifications, crate::alarms::chains, crate::alarms::set_chain, crate::alarms::add_photos, crate::alarms::photos, crate::alarms::photo, crate::alarms::response, crate::alarms::import::import, crate::alarms::import::template, crate::alarms::estate_rules, crate::alarms::set_estate_rules, crate::alarms::set_region_rules, crate::alarms::camera::receive, crate::grids::opinion_round, crate::grids::checklist, crate::grids::round, crate::grids::record_patrol, crate::grids::mediations, crate::grids::record_mediation, crate::grids::agreement,
        crate::funds::list, crate::funds::create, crate::funds::set_contract, crate::funds::project, crate::funds::request,
        crate::funds::approve, crate::funds::reverse, crate::funds::verify, crate::funds::disbursements, crate::funds::export_xlsx,
        crate::funds::payment_bases, crate::funds::payable_allocations, crate::funds::verify_job, crate::funds::start_verify, crate::funds::plans::plan, crate::funds::plans::set_plan, crate::funds::plans::contributions, crate::funds::plans::contribute,
        crate::funds::plans::project_reconciliation, crate::funds::plans::region_reconciliation, crate::funds::plans::estate,
        crate::funds::reports::report, crate::funds::reports::by_source, crate::funds::reports::report_xlsx, crate::funds::upkeep::show, crate::funds::upkeep::credit,
        crate::funds::upkeep::spend, crate::funds::upkeep::approve, crate::funds::upkeep::refuse, crate::chains::latest,
    ),
    components(schemas(crate::auth::LoginRequest, crate::auth::LoginResponse, crate::auth::Me, crate::estates::EstateView,
        crate::estates::EstatePage, crate::estates::ImportResult, crate::accounts::CreateUser, crate::accounts::NewPassword,
        crate::accounts::Attach, crate::lifecycle::StepRequest, crate::lifecycle::Lifecycle, crate::lifecycle::AssessmentPage,
        crate::lifecycle::AssessmentRequest, crate::ranking::RankingRequest, crate::ranking::RankingPage,
        crate::plans::PlanRequest, crate::plans::PlanPage, crate::plans::AddEstates, crate::projects::ProjectPage,
        crate::projects::StartApproval, crate::projects::FinishStep, crate::projects::LateSteps, crate::schemes::MenuPage,
        crate::schemes::DraftRequest, crate::schemes::IssueRequest, crate::schemes::SchemeDiff, crate::lifecycle::OpenAcceptance, crate::lifecycle::SignRequest,
        crate::lifecycle::ReviewRequest, crate::lifecycle::CloseTask,
        crate::construction::InspectionRequest, crate::construction::ChangeText, crate::lifecycle::ChecklistPage,
        crate::statistics::ChartData, crate::reports::SaveRequest, crate::reports::ReviewRequest, crate::reports::CorrectRequest, crate::reports::DeadlineRequest, crate::evaluation::SchemeRequest, crate::evaluation::ScoresRequest, crate::evaluation::SubmitRequest)),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))));
        document_common_errors(openapi);
    }
}

/// Adds the errors every operation can answer with, as the router and the error mapping give them,
/// where a handler's own annotation does not already say them: 401 and 403 behind sign-in (the
/// permission guard and the region check), 404 for a path naming something (outside the caller's
/// region is "not found" too), 422 for parameters or a body that do not parse or validate, 413
/// for a body over the upload limit, 507 and 503 for a write the disk or the database refused.
fn document_common_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let public: std::collections::HashSet<(String, String)> =
        crate::api_routes().into_iter().filter(|r| r.public).map(|r| (r.method.to_lowercase(), format!("/api/v1{}", r.path))).collect();
    let problem = |what: &str| {
        ResponseBuilder::new()
            .description(format!("{what} (application/problem+json: type, title, status, code, params, detail, errors[field, value, code, params, reason]; codes and their wording in crates/domain/src/reasons.json)"))
            .content("application/problem+json", ContentBuilder::new().build())
            .build()
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let ops = [("get", item.get.as_mut()), ("post", item.post.as_mut()), ("put", item.put.as_mut()), ("delete", item.delete.as_mut())];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let mut add = |code: &str, what: &str| {
                op.responses.responses.entry(code.to_string()).or_insert_with(|| problem(what).into());
            };
            let write = method != "get";
            let open = public.contains(&(method.to_string(), path.clone()));
            if !open {
                add("401", "not signed in, or the session ended");
                add("403", "the role may not do this, or the region is not the caller's");
            }
            add("400", "the request cannot be read (not JSON, a path segment of the wrong type, bad encoding)");
            if path.contains('{') {
                add("404", "no such record, or not in the caller's region");
            }
            if path.contains('{') || write || op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                add("422", "a parameter or the body is missing, malformed or invalid; `errors` names each field");
            }
            if write {
                add("413", "the body is larger than the upload limit");
                add("507", "the disk is full: nothing was saved");
                add("503", "the database is not answering: nothing was saved");
            }
            // Routes open to anyone ask for no credentials (the document's default asks for one).
            if open {
                op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::default()]);
            }
        }
    }
}

/// The OpenAPI document.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A readable page of every operation, its parameters and responses, from the same document.
pub async fn docs_page() -> Html<String> {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut body = String::from(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><title>焕新 API 文档</title>\
         <style>body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;max-width:960px;margin:2em auto;color:#222}\
         .op{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}.m{font-weight:bold;text-transform:uppercase;\
         display:inline-block;width:4em}code{background:#f4f4f4;padding:0 .3em}</style>\
         <h1>焕新 Huanxin API</h1><p>机器可读文档 / Machine-readable: <a href=/api/openapi.json>/api/openapi.json</a> (OpenAPI 3.1). \
         认证 / Auth: <code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /api/v1/auth/login</code>, or the session cookie.</p>",
    );
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let summary = op.get("summary").or_else(|| op.get("description")).and_then(|s| s.as_str()).unwrap_or("");
                body.push_str(&format!(
                    "<div class=op><span class=m>{}</span> <code>{}</code><p>{}</p>",
                    esc(method),
                    esc(path),
                    esc(summary)
                ));
                if let Some(params) = op.get("parameters").and_then(|p| p.as_array()) {
                    let names: Vec<String> = params
                        .iter()
                        .map(|p| {
                            format!("<code>{}</code> ({})", esc(p["name"].as_str().unwrap_or("")), esc(p["in"].as_str().unwrap_or("")))
                        })
                        .collect();
                    body.push_str(&format!("<p>参数 Parameters: {}</p>", names.join(", ")));
                }
                if let Some(res) = op.get("responses").and_then(|r| r.as_object()) {
                    let codes: Vec<&str> = res.keys().map(String::as_str).collect();
                    body.push_str(&format!("<p>响应 Responses: {}</p>", codes.join(", ")));
                }
                body.push_str("</div>");
            }
        }
    }
    Html(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The document and the router agree route for route, path parameters are declared as path
    /// parameters (and query parameters as query), and every operation documents its errors.
    #[test]
    fn the_document_tells_the_truth_about_the_router() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = BTreeSet::new();
        let mut problems = Vec::new();
        for (path, ops) in paths {
            let in_path: BTreeSet<&str> = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            for (method, op) in ops.as_object().unwrap() {
                documented.insert((method.to_uppercase(), path.clone()));
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let declared: BTreeSet<&str> = params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
                if declared != in_path {
                    problems.push(format!("{method} {path}: path parameters {declared:?}, the path has {in_path:?}"));
                }
                let responses = op["responses"].as_object().unwrap();
                if !responses.keys().any(|c| c.starts_with('4') || c.starts_with('5')) {
                    problems.push(format!("{method} {path}: no error documented"));
                }
            }
        }
        // OpenAPI 3.1 has no array-form `items` (a tuple in 3.0): such a schema is invalid (schemathesis
        // refused `paid_by_source` once the browser tests had made a project with payments).
        fn tuples(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        if k == "items" && x.is_array() {
                            out.push(format!("{at}/items is a tuple"));
                        }
                        tuples(x, &format!("{at}/{k}"), out);
                    }
                }
                serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| tuples(x, &format!("{at}/{i}"), out)),
                _ => {}
            }
        }
        tuples(&doc, "", &mut problems);
        let routed: BTreeSet<(String, String)> =
            crate::api_routes().into_iter().map(|r| (r.method.to_string(), format!("/api/v1{}", r.path))).collect();
        for r in routed.difference(&documented) {
            problems.push(format!("routed but not documented: {} {}", r.0, r.1));
        }
        for d in documented.difference(&routed).filter(|d| d.1.starts_with("/api/v1/")) {
            problems.push(format!("documented but not routed: {} {}", d.0, d.1));
        }
        assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    }
}
